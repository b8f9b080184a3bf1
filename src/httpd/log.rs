//! The bridge into Apache's error log. Every line goes through `ap_log_error_`/`ap_log_rerror_`
//! with this module's index (so `LogLevel dirguard:debug` and `[dirguard:error]` work), the text
//! always behind a "%s" format, and the level checked before anything is formatted. The core's
//! `log` crate records (its reasoning, DG00007) take the same way, to the sink of the hook that
//! called into the core (`scope`), filtered first by the highest level configured (`configure`).

use crate::core::messages::{self, Severity, Tag};
use crate::core::records;
use crate::ffi;
use std::cell::Cell;
use std::ffi::CString;
use std::os::raw::c_int;
use std::panic::Location;

/// Where a line goes.
#[derive(Clone, Copy)]
pub enum Sink {
    /// A server's error log; before the logs are open, stderr (never syslog).
    Server(*const ffi::server_rec),
    /// A request's error log, with its client and log id.
    #[cfg_attr(not(feature = "test-panic"), allow(dead_code))]
    Request(*const ffi::request_rec),
    /// Bare startup text on stderr (`apache2 -t`, refusal to start): no timestamp or level.
    Startup,
}

fn module_index() -> c_int {
    super::module::index()
}

/// The main server, or null before Apache has one.
pub fn main_server() -> *const ffi::server_rec {
    // SAFETY: ap_server_conf is written by the main thread while reading the config and only
    // read afterwards (S8); a plain load of the pointer value.
    unsafe { *std::ptr::addr_of!(ffi::ap_server_conf) }
}

/// Like APLOG_MODULE_IS_LEVEL. Apache always writes notice lines ("startup notices"); ours
/// follow that convention unless `LogLevel dirguard:LEVEL` sets this module's own level below
/// notice, so `LogLevel dirguard:error` silences them as an administrator expects.
pub fn enabled(sink: Sink, sev: Severity) -> bool {
    if sev < Severity::Notice {
        return true;
    }
    let idx = module_index();
    // SAFETY: the pointers come from Apache and are valid for the duration of the hook that
    // logs (S6); the log configuration is only read.
    let logconf: *const ffi::ap_logconf = unsafe {
        match sink {
            Sink::Server(s) if !s.is_null() => &raw const (*s).log,
            Sink::Request(r) if !r.is_null() => {
                if !(*r).log.is_null() {
                    (*r).log
                } else {
                    &raw const (*(*r).server).log
                }
            }
            _ => return true,
        }
    };
    // SAFETY: logconf points into a live server or request (above, S6); module_levels, when
    // not null, has one entry per loaded module, indexed by module_index (S7).
    let (own, level) = unsafe {
        let own = if idx >= 0 && !(*logconf).module_levels.is_null() {
            let l = *(*logconf).module_levels.add(idx as usize);
            (l >= 0).then_some(l as c_int)
        } else {
            None
        };
        (own, (*logconf).level)
    };
    match (sev, own) {
        (Severity::Notice, None) => true,
        (_, Some(own)) => own >= sev as c_int,
        (_, None) => level >= sev as c_int,
    }
}

/// Writes one tagged line. The text is escaped by Apache itself (control bytes, backslashes
/// and non-ASCII become escapes), so a path can never forge a line.
#[track_caller]
pub fn write(sink: Sink, sev: Severity, tag: Tag, text: &str) {
    if !enabled(sink, sev) {
        return;
    }
    let loc = Location::caller();
    emit(sink, sev as c_int, &tag.line(text), loc.file(), loc.line());
}

/// Hands one formatted line to Apache at `level` (an APLOG_* value, flags allowed).
fn emit(sink: Sink, level: c_int, line: &str, file: &str, line_no: u32) {
    let msg = CString::new(line.replace('\0', "\\0")).unwrap_or_default();
    let file = CString::new(file).unwrap_or_default();
    let line_no = line_no as c_int;
    let idx = module_index();
    // Requests log through ap_log_rerror_ (client, log id, per-request level). Everything else
    // through ap_log_error_ against a server whose error log is open; otherwise against null,
    // which means stderr (a server_rec without error_log would send the line to syslog).
    if let Sink::Request(r) = sink {
        if !r.is_null() {
            // SAFETY: NUL-terminated strings that outlive the call; a literal "%s" consuming
            // exactly one string argument; r is the live request of the current hook (S6).
            unsafe {
                ffi::ap_log_rerror_(
                    file.as_ptr(),
                    line_no,
                    idx,
                    level,
                    0,
                    r,
                    c"%s".as_ptr(),
                    msg.as_ptr(),
                )
            };
            return;
        }
    }
    let (server, level) = match sink {
        Sink::Server(s) if has_error_log(s) => (s, level),
        Sink::Startup => (std::ptr::null(), level | ffi::APLOG_STARTUP as c_int),
        _ => (std::ptr::null(), level),
    };
    // SAFETY: as above (S6 for the server); a null server is allowed and means stderr.
    unsafe {
        ffi::ap_log_error_(
            file.as_ptr(),
            line_no,
            idx,
            level,
            0,
            server,
            c"%s".as_ptr(),
            msg.as_ptr(),
        )
    };
}

fn has_error_log(s: *const ffi::server_rec) -> bool {
    // SAFETY: a live server_rec from Apache (S6); error_log is only read.
    !s.is_null() && unsafe { !(*s).error_log.is_null() }
}

// The `log` crate's records (`log::debug!` … in the core: the module's reasoning, see
// docs/design.md "Logging") go where the hook that called into the core logs: the request
// during an explanation, the server during startup. Worker and watchdog threads have no scope
// and log to the main server.

thread_local! {
    /// This thread's sink while a hook calls into the core (`scope`). A `Cell` of a `Copy` value
    /// has no destructor: touching it registers nothing with glibc, so unlike a worker's pin it
    /// never keeps the DSO mapped (S5), and the pointer in it lives only as long as its hook.
    static CURRENT: Cell<Option<Sink>> = const { Cell::new(None) };
}

/// While alive, this thread's `log` records go to its sink; dropped at the end of the hook (or
/// while a panic unwinds through it), it restores the sink that was there before.
#[must_use = "records go to the sink only while the scope is alive"]
pub struct Scope {
    previous: Option<Sink>,
}

/// Sends this thread's `log` records to `sink` until the returned scope is dropped.
pub fn scope(sink: Sink) -> Scope {
    Scope {
        previous: CURRENT.with(|c| c.replace(Some(sink))),
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.previous));
    }
}

/// Where this thread's records go: its scope's sink, else the main server. Bare startup text
/// has no level, so records there go to the main server too (its error log is stderr until
/// the logs are opened, with the levels of the configuration: `apache2 -t` shows them).
fn current_sink() -> Sink {
    match CURRENT.with(Cell::get) {
        Some(Sink::Startup) | None => Sink::Server(main_server()),
        Some(sink) => sink,
    }
}

/// This module's effective level (an APLOG_* value) in one log configuration:
/// `LogLevel dirguard:LEVEL` if set there, else its general level.
///
/// # Safety
/// `logconf` points to a live log configuration of this generation (S6), whose `module_levels`
/// is null or indexed by module_index (S7).
unsafe fn module_level(logconf: *const ffi::ap_logconf, idx: c_int) -> c_int {
    let conf = &*logconf;
    if idx >= 0 && !conf.module_levels.is_null() {
        let own = *conf.module_levels.add(idx as usize);
        if own >= 0 {
            return c_int::from(own);
        }
    }
    conf.level
}

/// Whether a record at `level` is wanted where `sink` logs.
fn record_enabled(sink: Sink, level: c_int) -> bool {
    // SAFETY: the pointers come from Apache and are live for the hook that set the sink (S6),
    // or are the main server of this generation (S8); the log configuration is only read.
    unsafe {
        let logconf: *const ffi::ap_logconf = match sink {
            Sink::Request(r) if !r.is_null() => {
                if !(*r).log.is_null() {
                    (*r).log
                } else {
                    &raw const (*(*r).server).log
                }
            }
            Sink::Server(s) if !s.is_null() => &raw const (*s).log,
            _ => return false,
        };
        module_level(logconf, module_index()) >= level
    }
}

struct ApacheLogger;

static LOGGER: ApacheLogger = ApacheLogger;

impl log::Log for ApacheLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        let level = records::apache_level(metadata.level(), metadata.target());
        record_enabled(current_sink(), c_int::from(level))
    }

    fn log(&self, record: &log::Record<'_>) {
        let sink = current_sink();
        let level = c_int::from(records::apache_level(record.level(), record.target()));
        if !record_enabled(sink, level) {
            return;
        }
        let line = messages::UNTAGGED.line(&records::text(record));
        emit(
            sink,
            level,
            &line,
            record.file().unwrap_or("?"),
            record.line().unwrap_or(0),
        );
    }

    fn flush(&self) {}
}

/// Installs the bridge, at every load of the DSO. A DSO that stayed mapped across the reload
/// (a thread-local with a destructor pins it, S5) keeps its statics: the logger is then already
/// set, and it is this same one, which is fine. The filter stays where `configure` put it.
pub fn install() {
    let _ = log::set_logger(&LOGGER);
}

/// Closes the filter when the configuration generation ends (a pool value whose drop is a
/// cleanup of `pconf`): a thread that outlives it (an abandoned worker, S5) then logs nothing
/// against a main server that is being freed, until the next generation is configured.
struct CloseFilter;

impl Drop for CloseFilter {
    fn drop(&mut self) {
        log::set_max_level(log::LevelFilter::Off);
    }
}

/// Sets the `log` crate's filter to the highest level this module is given anywhere in the
/// configuration (`LogLevel` of the main server, of every virtual host, and of every
/// `<Directory>`, `<Location>`, `<Files>` and `<If>` section): a record below it is one relaxed
/// atomic load and a compare, with nothing formatted. Run at check_config and post_config of
/// every pass, so `apache2 -t`, the start and every restart each see their own configuration;
/// closed again when `pconf` is cleared.
pub fn configure(main: *const ffi::server_rec, pconf: *mut ffi::apr_pool_t) {
    // SAFETY: pconf is the live configuration pool of the hook (S6; S1: its cleanups run
    // before mod_so unloads this DSO).
    unsafe { super::pool::alloc(pconf, CloseFilter) };
    let idx = module_index();
    let mut levels = Vec::new();
    let mut s = main;
    while !s.is_null() {
        // SAFETY: Apache's list of servers of this generation, complete from check_config on
        // (S6); each core configuration and section vector it holds is only read.
        unsafe {
            levels.push(module_level(&raw const (*s).log, idx));
            section_levels((*s).lookup_defaults, idx, &mut levels);
            let core = core_config((*s).module_config).cast::<ffi::core_server_config>();
            if let Some(core) = core.as_ref() {
                for v in sections(core.sec_dir).chain(sections(core.sec_url)) {
                    section_levels(v, idx, &mut levels);
                }
            }
            s = (*s).next;
        }
    }
    log::set_max_level(records::max_filter(levels));
}

/// The core module's entry of a configuration vector (core is always module 0,
/// `AP_CORE_MODULE_INDEX`).
///
/// # Safety
/// `v` is null or a live configuration vector (S6).
unsafe fn core_config(v: *const ffi::ap_conf_vector_t) -> *const std::os::raw::c_void {
    if v.is_null() {
        return std::ptr::null();
    }
    *v.cast::<*const std::os::raw::c_void>()
}

/// The section vectors of an array (`sec_dir`, `sec_url`, `sec_file`, `sec_if`).
///
/// # Safety
/// `a` is null or a live APR array of `ap_conf_vector_t *`, which outlives the iterator.
unsafe fn sections(
    a: *const ffi::apr_array_header_t,
) -> impl Iterator<Item = *const ffi::ap_conf_vector_t> {
    let (elts, n) = match a.as_ref() {
        Some(a) if !a.elts.is_null() => (
            a.elts.cast::<*const ffi::ap_conf_vector_t>().cast_const(),
            a.nelts.max(0) as usize,
        ),
        _ => (std::ptr::null(), 0),
    };
    // SAFETY: the array holds n pointers (the caller's contract).
    (0..n).map(move |i| unsafe { *elts.add(i) })
}

/// The levels of one section's `LogLevel` and of the sections nested in it.
///
/// # Safety
/// `v` is null or a live per-directory configuration vector (S6).
unsafe fn section_levels(v: *const ffi::ap_conf_vector_t, idx: c_int, levels: &mut Vec<c_int>) {
    let Some(dir) = core_config(v).cast::<ffi::core_dir_config>().as_ref() else {
        return;
    };
    if !dir.log.is_null() {
        levels.push(module_level(dir.log, idx));
    }
    for nested in sections(dir.sec_file).chain(sections(dir.sec_if)) {
        section_levels(nested, idx, levels);
    }
}
