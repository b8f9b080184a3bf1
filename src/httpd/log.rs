//! The bridge into Apache's error log. Every line goes through `ap_log_error_`/`ap_log_rerror_`
//! with this module's index (so `LogLevel dirguard:debug` and `[dirguard:error]` work), the text
//! always behind a "%s" format, and the level checked before anything is formatted.

use crate::core::messages::{self, Severity, Tag};
use crate::ffi;
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
    // read afterwards; a plain load of the pointer value.
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
    // logs; the log configuration is only read.
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
    // SAFETY: logconf points into a live server or request (above); module_levels, when not
    // null, has one entry per loaded module, indexed by module_index.
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
    let line = format!("{tag}: {text}");
    let msg = CString::new(line.replace('\0', "\\0")).unwrap_or_default();
    let loc = Location::caller();
    let file = CString::new(loc.file()).unwrap_or_default();
    let line_no = loc.line() as c_int;
    let idx = module_index();
    let level = sev as c_int;
    // Requests log through ap_log_rerror_ (client, log id, per-request level). Everything else
    // through ap_log_error_ against a server whose error log is open; otherwise against null,
    // which means stderr (a server_rec without error_log would send the line to syslog).
    if let Sink::Request(r) = sink {
        if !r.is_null() {
            // SAFETY: NUL-terminated strings that outlive the call; a literal "%s" consuming
            // exactly one string argument; r is the live request of the current hook.
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
        // SAFETY: a live server_rec from Apache; error_log is only read.
        Sink::Server(s) if !s.is_null() && unsafe { !(*s).error_log.is_null() } => (s, level),
        Sink::Startup => (std::ptr::null(), level | ffi::APLOG_STARTUP as c_int),
        _ => (std::ptr::null(), level),
    };
    // SAFETY: as above; a null server is allowed and means stderr.
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

/// `log` crate records go to the main server's error log. The text must start with its tag.
struct ApacheLogger;

static LOGGER: ApacheLogger = ApacheLogger;

fn severity_of(level: log::Level) -> Severity {
    match level {
        log::Level::Error => Severity::Error,
        log::Level::Warn => Severity::Warning,
        log::Level::Info => Severity::Info,
        log::Level::Debug => Severity::Debug,
        log::Level::Trace => Severity::Trace1,
    }
}

impl log::Log for ApacheLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        enabled(Sink::Server(main_server()), severity_of(metadata.level()))
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let text = record.args().to_string();
        // Records carry their tag as "DGnnnnn: text"; split it so `write` adds it back once.
        let (tag, body) = match text.split_once(": ") {
            Some((t, b)) if t.len() == 7 && t.starts_with("DG") => (
                t[2..].parse().map(Tag).unwrap_or(messages::UNTAGGED),
                b.to_owned(),
            ),
            _ => (messages::UNTAGGED, text),
        };
        write(
            Sink::Server(main_server()),
            severity_of(record.level()),
            tag,
            &body,
        );
    }

    fn flush(&self) {}
}

/// Installs the bridge. Called at every load of the DSO; when the DSO stayed loaded across a
/// reload the logger is already ours, which is fine.
pub fn install() {
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(log::LevelFilter::Trace);
    }
}
