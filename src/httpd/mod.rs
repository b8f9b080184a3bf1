//! The thin httpd layer: the module record, directives, hooks, the log bridge and the panic
//! guard. Each piece converts Apache's types and delegates to `crate::core`.

mod boundary;
mod config;
mod conftree;
mod ffi_util;
mod guard;
mod log;
mod module;
mod monitor;
mod pool;
mod request;
mod startup;
mod status;
mod test_panic;
