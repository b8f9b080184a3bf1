//! Apache's parsed configuration tree (`ap_conftree`) as the core reads it
//! (`core::wiring::ConfNode`): a conversion, no decisions.

use super::ffi_util::cstr_bytes;
use crate::core::wiring::ConfNode;
use crate::ffi;

/// A copy of the tree Apache built from its configuration files for this generation. Called in
/// check_config and post_config, when the tree is complete.
pub fn read() -> Vec<ConfNode> {
    // SAFETY: ap_conftree is set while Apache reads its configuration (S8) and its nodes live in
    // the configuration pool of the generation being configured, alive through check_config and
    // post_config (S6); nothing writes them while these hooks run (one thread).
    unsafe { copy(*std::ptr::addr_of!(ffi::ap_conftree), 0) }
}

/// Deeper than any real configuration; a guard against a malformed tree.
const MAX_DEPTH: usize = 64;

/// # Safety
/// `first` is null or a node of a live configuration tree.
unsafe fn copy(first: *const ffi::ap_directive_t, depth: usize) -> Vec<ConfNode> {
    let mut out = Vec::new();
    let mut node = first;
    while !node.is_null() {
        // SAFETY: a live node (the caller's contract); its strings are NUL-terminated or null.
        unsafe {
            let text = |p| String::from_utf8_lossy(cstr_bytes(p).unwrap_or_default()).into_owned();
            out.push(ConfNode {
                name: text((*node).directive),
                args: text((*node).args),
                file: text((*node).filename),
                line: (*node).line_num.max(0) as u32,
                key: node as usize,
                children: if depth < MAX_DEPTH {
                    copy((*node).first_child, depth + 1)
                } else {
                    Vec::new()
                },
            });
            node = (*node).next;
        }
    }
    out
}
