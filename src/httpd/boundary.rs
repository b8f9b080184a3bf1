//! The typed boundary between Apache and the module, in the manner of ngx-rust: every C entry
//! point is declared with `entry!`, which runs its body under the panic guard (no entry can
//! forget it), and the raw `request_rec`, `server_rec` and `apr_pool_t` pointers are wrapped
//! once into `Request<'r>`, `Server<'s>` and `Pool<'p>`, whose lifetimes are those Apache
//! guarantees: a hook's request for the duration of the hook, a server and its configuration
//! for the configuration generation (at least the hook), a pool until it is cleared. The
//! per-server and per-directory configuration trampolines are written once, generic over a
//! `Merge + Default` configuration type. Invariants S1–S10 are in docs/design.md, "Safety
//! invariants"; these lifetimes are S6.

use super::config::{DirConfig, ServerConfig};
use super::ffi_util::cstr_bytes;
use crate::ffi;
use std::ffi::{CStr, CString};
use std::marker::PhantomData;
use std::os::raw::{c_char, c_int, c_void};

/// Declares an `unsafe extern "C" fn` whose body runs under `guard::guard`: a panic is logged
/// (DG00002 where, DG00001 what happens instead) and the entry returns `fallback`.
///
/// ```ignore
/// entry! {
///     /// doc
///     pub fn fixups(r: *mut ffi::request_rec) -> c_int
///         [entry "the fixups hook", instead "the request is served as if the module were absent",
///          log Sink::Request(r), fallback ffi::DECLINED]
///     { body }
/// }
/// ```
///
/// # Safety
/// Each function it declares is an `unsafe extern "C" fn` that only Apache, APR or mod_watchdog
/// call: the caller passes what the hook's, directive's, cleanup's or callback's contract
/// promises (a request, server, `cmd_parms`, pool or registered data), live for the call (S6).
macro_rules! entry {
    (
        $(#[$meta:meta])*
        $vis:vis fn $name:ident $(<$($gen:ident : $bound:path),*>)? ($($arg:ident : $ty:ty),* $(,)?) -> $ret:ty
        [entry $what:expr, instead $instead:expr, log $sink:expr, fallback $fallback:expr]
        $body:block
    ) => {
        $(#[$meta])*
        $vis unsafe extern "C" fn $name $(<$($gen: $bound),*>)? ($($arg: $ty),*) -> $ret {
            $crate::httpd::guard::guard($what, $instead, $sink, $fallback, || -> $ret { $body })
        }
    };
}
pub(crate) use entry;

/// A request for the duration of one hook call (`'r`).
#[derive(Clone, Copy)]
pub struct Request<'r> {
    raw: *mut ffi::request_rec,
    _hook: PhantomData<&'r mut ffi::request_rec>,
}

impl<'r> Request<'r> {
    /// # Safety
    /// `r` is null or the live request Apache passed to the running hook; the value must not be
    /// kept beyond that hook (`'r`, S6).
    pub unsafe fn from_raw(r: *mut ffi::request_rec) -> Option<Request<'r>> {
        (!r.is_null()).then_some(Request {
            raw: r,
            _hook: PhantomData,
        })
    }

    pub fn raw(self) -> *mut ffi::request_rec {
        self.raw
    }

    fn rec(self) -> &'r ffi::request_rec {
        // SAFETY: a live request for 'r (from_raw's contract, S6).
        unsafe { &*self.raw }
    }

    fn text(self, p: *const c_char) -> Option<&'r [u8]> {
        // SAFETY: request strings are null or NUL-terminated in the request's pool, which
        // outlives the hook ('r, S6).
        unsafe { cstr_bytes(p) }
    }

    /// A subrequest (mod_dir's index lookup, SSI, …) never answers the client itself.
    pub fn is_subrequest(self) -> bool {
        !self.rec().main.is_null()
    }

    /// The final request of the internal-redirect chain (`ErrorDocument`, rewrites).
    pub fn last(self) -> Request<'r> {
        let mut last = self.raw;
        // SAFETY: the chain of live requests Apache built for this connection (all alive for
        // the hook that runs on the first, S6).
        unsafe {
            while !(*last).next.is_null() {
                last = (*last).next;
            }
        }
        Request {
            raw: last,
            _hook: PhantomData,
        }
    }

    pub fn status(self) -> c_int {
        self.rec().status
    }

    pub fn method(self) -> Option<&'r [u8]> {
        self.text(self.rec().method)
    }

    pub fn is_get(self) -> bool {
        self.rec().method_number == ffi::M_GET as c_int
    }

    pub fn header_only(self) -> bool {
        self.rec().header_only != 0
    }

    pub fn uri(self) -> Option<&'r [u8]> {
        self.text(self.rec().uri)
    }

    pub fn args(self) -> Option<&'r [u8]> {
        self.text(self.rec().args)
    }

    pub fn handler(self) -> Option<&'r [u8]> {
        self.text(self.rec().handler)
    }

    pub fn filename(self) -> Option<&'r [u8]> {
        self.text(self.rec().filename)
    }

    /// Whether `r->filename` starts with `prefix`, reading no further than the prefix (no
    /// strlen over the whole path): for the per-request fast path.
    pub fn filename_starts_with(self, prefix: &[u8]) -> bool {
        let p = self.rec().filename;
        if p.is_null() {
            return false;
        }
        // SAFETY: a NUL-terminated string of the request's pool ('r, S6); reading stops at the
        // first byte that differs, which is at the latest the terminating NUL.
        prefix
            .iter()
            .enumerate()
            .all(|(i, b)| unsafe { *p.add(i) } as u8 == *b)
    }

    /// The first request of the internal-redirect chain: the one the client sent, which the
    /// access log describes.
    pub fn first(self) -> Request<'r> {
        let mut first = self.raw;
        // SAFETY: the chain of live requests Apache built for this connection (S6).
        unsafe {
            while !(*first).prev.is_null() {
                first = (*first).prev;
            }
        }
        Request {
            raw: first,
            _hook: PhantomData,
        }
    }

    /// The request line as the client sent it (`%r`).
    pub fn the_request(self) -> Option<&'r [u8]> {
        self.text(self.rec().the_request)
    }

    /// Apache's request log id (`%L`) of this request, which is the one the access log prints
    /// for the whole internal-redirect chain: mod_log_config reads it from the first request
    /// (`first`) and never generates one. Generated now if no request of the chain has one yet
    /// (as server/log.c does), and shared so both requests carry the same id.
    pub fn log_id_shared_with(self, first: Request<'r>) -> Option<&'r [u8]> {
        // SAFETY: two live requests of one chain ('r, S6); generate_log_id writes a string of
        // the request's pool into the field, which is what server/log.c does; both requests
        // share the connection's pool lifetime at least as long as the hook ('r).
        unsafe {
            let (this, first) = (self.raw, first.raw);
            if (*first).log_id.is_null() {
                if (*this).log_id.is_null() {
                    let mut id: *const c_char = std::ptr::null();
                    ffi::ap_run_generate_log_id((*first).connection, first, &mut id);
                    (*first).log_id = id;
                } else {
                    (*first).log_id = (*this).log_id;
                }
            }
            if (*this).log_id.is_null() {
                (*this).log_id = (*first).log_id;
            }
        }
        self.text(self.rec().log_id)
    }

    /// The request that owns this one's lines: the first of its internal-redirect chain, of
    /// the main request when this is a subrequest.
    pub fn owner(self) -> Request<'r> {
        let mut r = self.raw;
        // SAFETY: main and prev point to live requests of the same connection (S6).
        unsafe {
            loop {
                if !(*r).main.is_null() {
                    r = (*r).main;
                } else if !(*r).prev.is_null() {
                    r = (*r).prev;
                } else {
                    break;
                }
            }
        }
        Request {
            raw: r,
            _hook: PhantomData,
        }
    }

    /// What this request's own error lines said (`core::explain::Seen`), kept in its
    /// `request_config` slot and its pool: None until a line of it was read.
    pub fn seen(self) -> Option<&'r Vec<crate::core::explain::Seen>> {
        // SAFETY: request_config is the request's per-module vector (S6); this module's entry
        // is null or a Vec made by `seen_mut` in the request's pool (S7).
        unsafe { module_config(self.rec().request_config) }
    }

    /// The request's list of what its lines said, made on first use (in its pool, dropped with
    /// it). Only the thread serving the request calls this (the error_log hook runs on it).
    pub fn seen_mut(self) -> Option<&'r mut Vec<crate::core::explain::Seen>> {
        let v = self.rec().request_config;
        if v.is_null() {
            return None;
        }
        // SAFETY: as for `seen`; one thread serves a request, so nothing else holds the entry.
        unsafe {
            let slot = v.cast::<*mut c_void>().add(super::module::index() as usize);
            if (*slot).is_null() {
                let list: &mut Vec<crate::core::explain::Seen> = self.pool().alloc(Vec::new());
                *slot = (list as *mut Vec<crate::core::explain::Seen>).cast();
            }
            (*slot).cast::<Vec<crate::core::explain::Seen>>().as_mut()
        }
    }

    /// This module's per-directory configuration for the request.
    pub fn dir_config(self) -> Option<&'r DirConfig> {
        // SAFETY: the request's per-dir vector lives as long as the request (S6) and holds our
        // DirConfig (S7), which nothing mutates any more (S4).
        unsafe { module_config(self.rec().per_dir_config) }
    }

    /// The main server of the generation (`ap_server_conf`), which outlives the request.
    pub fn main_server(self) -> Option<Server<'r>> {
        // SAFETY: ap_server_conf is set while Apache reads its configuration and only read
        // afterwards (S8); it is the live main server of the generation serving this request,
        // which outlives it (S6).
        unsafe { Server::from_raw(super::log::main_server()) }
    }

    /// The virtual host serving the request.
    pub fn server(self) -> Server<'r> {
        Server {
            raw: self.rec().server,
            _generation: PhantomData,
        }
    }

    pub fn pool(self) -> Pool<'r> {
        Pool {
            raw: self.rec().pool,
            _life: PhantomData,
        }
    }

    pub fn has_note(self, name: &CStr) -> bool {
        // SAFETY: a live request (S6); apr_table_get only reads.
        unsafe { !ffi::apr_table_get(self.rec().notes, name.as_ptr()).is_null() }
    }

    /// Sets a note (copied into the request's pool).
    pub fn set_note(self, name: &'static CStr, value: &str) {
        let v = self.pool().strdup(value);
        // SAFETY: a live request (S6); the value lives in its pool, as long as the note table.
        unsafe { ffi::apr_table_setn(self.rec().notes, name.as_ptr(), v) };
    }

    /// Sets a header also sent with error responses (copied into the request's pool).
    pub fn set_err_header(self, name: &'static CStr, value: &str) {
        let v = self.pool().strdup(value);
        // SAFETY: as for set_note (S6).
        unsafe { ffi::apr_table_setn(self.rec().err_headers_out, name.as_ptr(), v) };
    }

    pub fn set_header(self, name: &'static CStr, value: &'static CStr) {
        // SAFETY: a live request (S6); static strings outlive it.
        unsafe { ffi::apr_table_setn(self.rec().headers_out, name.as_ptr(), value.as_ptr()) };
    }

    pub fn set_content_type(self, content_type: &'static CStr) {
        // SAFETY: a live request (S6); Apache keeps the pointer, a static string.
        unsafe { ffi::ap_set_content_type(self.raw, content_type.as_ptr()) };
    }

    /// Writes the response body (Apache copies it before returning).
    pub fn write(self, body: &[u8]) {
        let len = c_int::try_from(body.len()).unwrap_or(c_int::MAX);
        // SAFETY: a live request in its handler (S6); ap_rwrite copies `len` bytes.
        unsafe { ffi::ap_rwrite(body.as_ptr().cast(), len, self.raw) };
    }

    /// Declares GET the only allowed method (the `Allow` header of a 405), as
    /// `ap_allow_standard_methods` does: both `r->allowed` and `r->allowed_methods`, from which
    /// httpd 2.4 builds the header.
    pub fn allow_only_get(self) {
        let get = 1i64 << ffi::M_GET;
        // SAFETY: a live request (S6); plain field writes.
        unsafe {
            (*self.raw).allowed |= get;
            if let Some(methods) = (*self.raw).allowed_methods.as_mut() {
                methods.method_mask |= get;
            }
        }
    }
}

/// A server (the main one or a virtual host) of the configuration generation `'s`.
#[derive(Clone, Copy)]
pub struct Server<'s> {
    raw: *const ffi::server_rec,
    _generation: PhantomData<&'s ffi::server_rec>,
}

impl<'s> Server<'s> {
    /// # Safety
    /// `s` is null or a live `server_rec` of the running configuration generation, which lasts
    /// at least `'s` (S6).
    pub unsafe fn from_raw(s: *const ffi::server_rec) -> Option<Server<'s>> {
        (!s.is_null()).then_some(Server {
            raw: s,
            _generation: PhantomData,
        })
    }

    pub fn raw(self) -> *const ffi::server_rec {
        self.raw
    }

    pub fn is(self, other: Server<'_>) -> bool {
        std::ptr::eq(self.raw, other.raw)
    }

    /// This module's configuration of the server.
    pub fn config(self) -> Option<&'s ServerConfig> {
        // SAFETY: module_config is Apache's per-module vector for this server, alive for the
        // generation ('s, S6), holding our ServerConfig (S7), only read from now on (S4).
        unsafe { module_config((*self.raw).module_config) }
    }

    /// The main server and every virtual host, in configuration order (from the main server).
    pub fn all(self) -> impl Iterator<Item = Server<'s>> {
        std::iter::successors(Some(self), |s| {
            // SAFETY: Apache's server list, alive for the generation (S6).
            unsafe { Server::from_raw((*s.raw).next) }
        })
    }
}

/// An APR pool for `'p`.
#[derive(Clone, Copy)]
pub struct Pool<'p> {
    raw: *mut ffi::apr_pool_t,
    _life: PhantomData<&'p ffi::apr_pool_t>,
}

impl<'p> Pool<'p> {
    /// # Safety
    /// `p` is a live pool that is not cleared or destroyed before `'p` ends (S6).
    pub unsafe fn from_raw(p: *mut ffi::apr_pool_t) -> Pool<'p> {
        Pool {
            raw: p,
            _life: PhantomData,
        }
    }

    pub fn raw(self) -> *mut ffi::apr_pool_t {
        self.raw
    }

    /// Moves `value` into the pool; its cleanup drops it (S1).
    pub fn alloc<T>(self, value: T) -> &'p mut T {
        // SAFETY: a live pool for 'p (from_raw's contract, S6); the cleanup runs before the
        // DSO is unloaded (S1).
        unsafe { &mut *super::pool::alloc(self.raw, value) }
    }

    /// Copies plain data into the pool, with no cleanup.
    pub fn alloc_plain<T: Copy>(self, value: T) -> &'p mut T {
        // SAFETY: a live pool for 'p (from_raw's contract, S6).
        unsafe { &mut *super::pool::alloc_plain(self.raw, value) }
    }

    /// A C copy of `text` in the pool (a NUL byte inside is dropped).
    pub fn strdup(self, text: &str) -> *const c_char {
        let c = CString::new(text.replace('\0', "")).unwrap_or_default();
        // SAFETY: a live pool (S6); apr_pstrdup copies the NUL-terminated string.
        unsafe { ffi::apr_pstrdup(self.raw, c.as_ptr()) }
    }
}

/// This module's entry in one of Apache's per-module configuration vectors.
///
/// # Safety
/// `v` is null or a live `ap_conf_vector_t` of this generation whose entry for this module is
/// null or a `T` made by this module's trampolines (S7), alive for `'a` (S6).
unsafe fn module_config<'a, T>(v: *const ffi::ap_conf_vector_t) -> Option<&'a T> {
    if v.is_null() {
        return None;
    }
    // SAFETY: a per-module vector holds one pointer per module, indexed by module_index (what
    // ap_get_module_config does, S7); the caller vouches for the entry's type and life.
    unsafe {
        (*v.cast::<*mut c_void>().add(super::module::index() as usize))
            .cast::<T>()
            .as_ref()
    }
}

/// What a merge yields: one side as it is (no allocation), or a new configuration.
pub enum Merged<'p, T> {
    Base,
    Add,
    /// Already stored in the pool by the merge itself.
    Stored(&'p T),
    New(T),
}

/// A configuration Apache creates and merges (per server or per directory).
pub trait Merge: Default + Sized + 'static {
    /// What the guard says when creating or merging fails.
    const WHAT: &'static str;
    /// `add` (the more specific) merged onto `base`, in `pool`.
    fn merge<'p>(pool: Pool<'p>, base: &'p Self, add: &'p Self) -> Merged<'p, Self>;
    /// Moves a configuration into a pool (by default with a cleanup that drops it, S1).
    fn store<'p>(pool: Pool<'p>, value: Self) -> &'p mut Self {
        pool.alloc(value)
    }
}

fn create<T: Merge>(p: *mut ffi::apr_pool_t) -> *mut c_void {
    // SAFETY: Apache passes its live configuration pool (or a request's, for .htaccess; S6).
    let pool = unsafe { Pool::from_raw(p) };
    (T::store(pool, T::default()) as *mut T).cast()
}

entry! {
    /// `create_dir_config` for any `Merge` type.
    pub fn create_dir<T: Merge>(p: *mut ffi::apr_pool_t, _dir: *mut c_char) -> *mut c_void
        [entry T::WHAT, instead "the configuration cannot be built",
         log super::log::Sink::Startup, fallback std::ptr::null_mut()]
    {
        create::<T>(p)
    }
}

entry! {
    /// `create_server_config` for any `Merge` type.
    pub fn create_server<T: Merge>(p: *mut ffi::apr_pool_t, _s: *mut ffi::server_rec) -> *mut c_void
        [entry T::WHAT, instead "the configuration cannot be built",
         log super::log::Sink::Startup, fallback std::ptr::null_mut()]
    {
        create::<T>(p)
    }
}

entry! {
    /// `merge_dir_config` / `merge_server_config` for any `Merge` type.
    pub fn merge<T: Merge>(p: *mut ffi::apr_pool_t, base: *mut c_void, add: *mut c_void) -> *mut c_void
        [entry T::WHAT, instead "the section's configuration is not merged",
         log super::log::Sink::Startup, fallback add]
    {
        // SAFETY: both were made by `create`/`merge` for this T (S7) in pools that outlive `p`
        // (S10: Apache merges into the pool of the request or generation that uses the result).
        let (b, a) = unsafe { (base.cast::<T>().as_ref(), add.cast::<T>().as_ref()) };
        let (Some(b), Some(a)) = (b, a) else {
            return if a.is_some() { add } else { base };
        };
        // SAFETY: as above: a live pool for as long as the merged result is used (S10).
        let pool = unsafe { Pool::from_raw(p) };
        match T::merge(pool, b, a) {
            Merged::Base => base,
            Merged::Add => add,
            Merged::Stored(v) => (v as *const T).cast_mut().cast(),
            Merged::New(v) => (T::store(pool, v) as *mut T).cast(),
        }
    }
}
