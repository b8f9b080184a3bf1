//! Small conversions between C strings and Rust used by the glue.

use crate::ffi;
use std::ffi::{CStr, CString};
use std::os::raw::c_char;

/// The bytes of a C string, or None for null.
///
/// # Safety
/// `p` is null or points to a NUL-terminated string that outlives the returned slice.
pub unsafe fn cstr_bytes<'a>(p: *const c_char) -> Option<&'a [u8]> {
    // SAFETY: guaranteed by the caller (a NUL-terminated string alive for 'a).
    (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_bytes())
}

/// Copies an error message into `pool` (where Apache expects a directive's error string).
///
/// # Safety
/// `pool` must be live (for a directive's error, `cmd->pool`: S6).
pub unsafe fn pool_error(pool: *mut ffi::apr_pool_t, msg: &str) -> *const c_char {
    let c = CString::new(msg.replace('\0', "\\0")).unwrap_or_default();
    // SAFETY: apr_pstrdup copies the NUL-terminated string into the live pool.
    unsafe { ffi::apr_pstrdup(pool, c.as_ptr()) }
}
