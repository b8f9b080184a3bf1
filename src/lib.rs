//! mod_dirguard: declare the directories a site needs, check them as the server's User at
//! startup, and explain the failures they cause.
//!
//! Three layers: `ffi` (generated bindings, the only raw declarations), `httpd` (thin glue:
//! module record, directives, hooks, log bridge, panic guard) and `core` (everything else,
//! Apache-free and unit-tested).

pub mod core;
#[cfg(all(feature = "httpd", not(test)))]
mod ffi;
#[cfg(all(feature = "httpd", not(test)))]
mod httpd;
