//! Rust values owned by an APR pool: allocated in the pool, dropped by a pool cleanup. This is
//! how configuration survives exactly as long as Apache's config generation, across the double
//! config read and restarts, with no static state.

use super::boundary::entry;
use crate::ffi;
use std::os::raw::c_void;

entry! {
    /// The pool cleanup that drops a value `alloc` moved into a pool (S1).
    fn drop_value<T: Sized>(data: *mut c_void) -> ffi::apr_status_t
        [entry "a pool cleanup", instead "the value is leaked",
         log super::log::Sink::Startup, fallback ffi::APR_SUCCESS as ffi::apr_status_t]
    {
        // SAFETY: `data` is the pointer `alloc` registered, written with a valid T and dropped
        // exactly once, here, when the pool is cleared or destroyed (S1).
        unsafe { std::ptr::drop_in_place(data.cast::<T>()) };
        ffi::APR_SUCCESS as ffi::apr_status_t
    }
}

/// Moves `value` into `pool`. The pointer is valid until the pool is cleared or destroyed.
///
/// # Safety
/// `pool` must be a live APR pool: the configuration pool, or one destroyed before it (a
/// request's). Cleanups registered after LoadModule run before mod_so unloads this DSO (pool
/// cleanups run last-registered first), so `drop_value` is still mapped (S1).
pub unsafe fn alloc<T>(pool: *mut ffi::apr_pool_t, value: T) -> *mut T {
    // SAFETY: the caller guarantees a live pool.
    let ptr = unsafe { place(pool, value) };
    // SAFETY: registers a cleanup with a function of the right signature for `ptr`, still
    // mapped when the pool runs it (S1).
    unsafe {
        ffi::apr_pool_cleanup_register(
            pool,
            ptr.cast(),
            Some(drop_value::<T>),
            Some(ffi::apr_pool_cleanup_null),
        )
    };
    ptr
}

/// Copies plain data into `pool`, with no cleanup (nothing to drop). Cheaper than `alloc`: what
/// a per-request merge uses.
///
/// # Safety
/// `pool` must be a live APR pool.
pub unsafe fn alloc_plain<T: Copy>(pool: *mut ffi::apr_pool_t, value: T) -> *mut T {
    // SAFETY: the caller guarantees a live pool.
    unsafe { place(pool, value) }
}

/// Moves `value` into fresh memory of `pool` (no cleanup).
///
/// # Safety
/// `pool` must be a live APR pool.
unsafe fn place<T>(pool: *mut ffi::apr_pool_t, value: T) -> *mut T {
    const {
        assert!(
            std::mem::align_of::<T>() <= 8,
            "apr_palloc aligns to 8 bytes"
        )
    };
    // SAFETY: the caller guarantees a live pool; apr_palloc aborts on OOM rather than returning
    // null (apr's abort function), and returns memory aligned to 8.
    let ptr = unsafe { ffi::apr_palloc(pool, std::mem::size_of::<T>().max(1)) }.cast::<T>();
    if ptr.is_null() {
        std::alloc::handle_alloc_error(std::alloc::Layout::new::<T>());
    }
    // SAFETY: fresh, aligned, large enough.
    unsafe { ptr.write(value) };
    ptr
}
