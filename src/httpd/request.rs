//! Request-time diagnosis. `fixups` answers 503 before the handler when `DirGuardOnFailure 503`
//! is set and an in-scope required directory is failing (one atomic load per directory, no
//! system call); `log_transaction` explains every final status in the `DirGuardExplain` set with
//! a fresh check, under storm control, and leaves the cause in `r->notes` as `dirguard-cause`.
//! A healthy request costs a few loads and compares; it never touches the filesystem.

use super::boundary::{entry, Request};
use super::config::{DirConfig, Section};
use super::log::{self, Sink};
use crate::core::clues::clues_with_status;
use crate::core::explain::{
    diagnose_request, gates, retry_after_s, serves_file, ExplainSet, OnFailure, Seen, EXPLAIN_WAIT,
    MAX_SEEN,
};
use crate::core::identity::Identity;
use crate::core::messages::{Severity, Tag};
use crate::core::monitor::{unix_now, Monitor};
use crate::core::request::{
    explanation_text, explanation_without_storm_control, fcgi_script, last_known_state,
    limited_line, RequestFacts, Unavailable,
};
use crate::core::scope::{covering, SectionPath};
use crate::core::shared::{Health, Storm};
use crate::core::spec::RequiredDir;
use crate::ffi;
use std::ffi::OsStr;
use std::ops::ControlFlow;
use std::os::raw::c_int;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

const NOTE_CAUSE: &std::ffi::CStr = c"dirguard-cause";
/// Marks a response this module answered itself (503), so it is not explained twice.
const NOTE_ANSWERED: &std::ffi::CStr = c"dirguard-answered";

/// The live monitor of this generation, held by the main server's configuration, which outlives
/// every request (`'r`).
fn monitor(r: Request<'_>) -> Option<&Monitor> {
    r.main_server()?.config()?.monitor.get().map(|m| m.as_ref())
}

/// What a line says about request `r` (the final one of its internal-redirect chain) answered
/// with `status`: the request as the client sent it, and `r`'s own target, handler and file.
/// Apache's request log id (`%L`) is generated now if nothing asked for it yet, and shared with
/// the first request, whose id the access log prints: the line can be matched with the
/// request's access log entry and its other error lines.
fn facts(r: Request<'_>, status: c_int) -> RequestFacts<'_> {
    let first = r.first();
    let log_id = r.log_id_shared_with(first);
    RequestFacts {
        received: first.the_request(),
        first_uri: first.uri(),
        method: r.method(),
        uri: r.uri(),
        handler: r.handler(),
        filename: r.filename(),
        log_id,
        status,
    }
}

/// Whether `r` was mapped to a proxy (`proxy:…`): such a request skips the directory walk.
fn is_proxied(r: Request<'_>) -> bool {
    r.filename_starts_with(b"proxy:")
}

/// The configuration in effect for `r`. For a script passed to a FastCGI server, which never
/// walks the `<Directory>` sections, the sections holding the script (`core::scope`) are merged
/// on top of the request's own configuration, as the walk would have: requirements, 503 rule
/// and explanations then apply as for mod_php or a CGI. Only asked for when something may need
/// it (a failing directory, an error status); the merge allocates in the request's pool.
fn effective_config(r: Request<'_>) -> Option<&DirConfig> {
    let own = r.dir_config();
    // `SetHandler "proxy:…"`: the request walked its sections before mod_proxy prefixed its
    // file with the handler; only ProxyPass/ProxyPassMatch (handler proxy-server) skip them.
    if r.handler().is_some_and(|h| h.starts_with(b"proxy:")) {
        return own;
    }
    let Some(script) = r.filename().and_then(fcgi_script) else {
        return own;
    };
    let main = r.main_server().and_then(|s| s.config());
    let host = r.server().config();
    let mut all: Vec<&Section> = Vec::new();
    if let Some(main) = main {
        all.extend(main.sections.iter());
    }
    if let Some(host) = host.filter(|h| !main.is_some_and(|m| std::ptr::eq(*h, m))) {
        all.extend(host.sections.iter());
    }
    let paths: Vec<&SectionPath> = all.iter().map(|s| &s.path).collect();
    let hits = covering(&paths, script.as_os_str().as_bytes());
    if hits.is_empty() {
        return own;
    }
    let pool = r.pool();
    let base: &DirConfig = match own {
        Some(dc) => dc,
        None => pool.alloc_plain(DirConfig::default()),
    };
    // SAFETY: each section's configuration lives in the configuration pool, which outlives the
    // request (S10), and is only read once the configuration is read (S4).
    let sections = hits
        .into_iter()
        .filter_map(|i| unsafe { all[i].config.as_ref() });
    Some(base.with_sections(pool, sections))
}

entry! {
    pub fn fixups(r: *mut ffi::request_rec) -> c_int
        [entry "the fixups hook", instead "the request is served as if the module were absent",
         log Sink::Request(r), fallback ffi::DECLINED]
    {
        // SAFETY: the live request of this hook (S6).
        let Some(r) = (unsafe { Request::from_raw(r) }) else {
            return ffi::DECLINED;
        };
        if r.is_subrequest() {
            return ffi::DECLINED; // subrequests never answer the client
        }
        // A request that walked its sections has the 503 rule in its configuration; a script
        // passed to a FastCGI server may find it in the sections that hold the script.
        let gated = r
            .dir_config()
            .is_some_and(|dc| dc.on_failure == Some(OnFailure::Unavailable) && dc.has_required());
        if !gated && !is_proxied(r) {
            return ffi::DECLINED;
        }
        let Some(monitor) = monitor(r) else {
            return ffi::DECLINED;
        };
        let shared = monitor.shared();
        if !shared.any_failing() {
            return ffi::DECLINED;
        }
        if r.filename_starts_with(b"redirect:") {
            // mod_rewrite in a section or .htaccess: the internal redirect it makes next is
            // the request that runs, and the one gated (with its own target and script).
            return ffi::DECLINED;
        }
        let Some(dc) = effective_config(r) else {
            return ffi::DECLINED;
        };
        if dc.on_failure != Some(OnFailure::Unavailable) {
            return ffi::DECLINED;
        }
        // A failing directory the application writes into is needed by the methods that
        // write (DirGuardSafeMethods lets the others through); one it reads, by every request.
        let method = r.method().unwrap_or_default();
        let failing = dc.each_required(&mut |d| match d.slot.get() {
            Some(&slot)
                if shared.health(slot) == Health::Failing
                    && gates(d.access, method, dc.safe_methods()) =>
            {
                ControlFlow::Break((d, slot))
            }
            _ => ControlFlow::Continue(()),
        });
        match failing {
            ControlFlow::Continue(()) => ffi::DECLINED,
            ControlFlow::Break((dir, slot)) => answer_unavailable(r, dc, monitor, dir, slot),
        }
    }
}

fn answer_unavailable(
    r: Request<'_>,
    dc: &DirConfig,
    monitor: &Monitor,
    dir: &RequiredDir,
    slot: usize,
) -> c_int {
    let retry_after_s = retry_after_s(dc.retry_after);
    r.set_err_header(c"Retry-After", &retry_after_s.to_string());
    let shared = monitor.shared();
    let record = shared.record(slot).unwrap_or_default();
    let answer = Unavailable {
        dir,
        record: &record,
        retry_after_s,
    };
    let note = answer.note();
    r.set_note(NOTE_CAUSE, &note);
    r.set_note(NOTE_ANSWERED, "503");
    let status = ffi::HTTP_SERVICE_UNAVAILABLE as c_int;
    shared.count_explained(status, answer.label());
    // r->status is not the answer yet (fixups runs before the handler): pass it.
    write_limited(
        r,
        status,
        shared.storm(answer.storm_key(), unix_now().as_secs()),
        Unavailable::SEVERITY,
        Unavailable::TAG,
        |f| answer.text(f),
        &note,
    );
    status
}

/// Writes what storm control lets through (`core::request::limited_line`).
fn write_limited(
    r: Request<'_>,
    status: c_int,
    storm: Storm,
    severity: Severity,
    tag: Tag,
    full: impl FnOnce(&RequestFacts<'_>) -> String,
    note: &str,
) {
    if let Some(line) = limited_line(storm, severity, tag, || facts(r, status), full, note) {
        log::write(Sink::Request(r.raw()), line.severity, line.tag, &line.text);
    }
}

entry! {
    pub fn log_transaction(r: *mut ffi::request_rec) -> c_int
        [entry "the log_transaction hook", instead "this response is not explained",
         log Sink::Request(r), fallback ffi::DECLINED]
    {
        // SAFETY: the live request of this hook (S6).
        let Some(r) = (unsafe { Request::from_raw(r) }) else {
            return ffi::DECLINED;
        };
        // The final response is the last of the internal-redirect chain.
        let last = r.last();
        let status = last.status();
        // Only an error status can be explained (DirGuardExplain takes 400 to 599): a proxied
        // script's sections are looked up for those alone.
        let dc = if status >= 400 && is_proxied(last) {
            effective_config(last)
        } else {
            last.dir_config()
        };
        // The default set (5xx) is a range test: nothing is built per request.
        let explained = match dc.and_then(DirConfig::explain) {
            Some(set) => set.contains(status),
            None => ExplainSet::default_contains(status),
        };
        if !explained {
            return ffi::DECLINED;
        }
        if last.has_note(NOTE_ANSWERED) || r.has_note(NOTE_ANSWERED) {
            return ffi::DECLINED;
        }
        explain(r, last, status, dc);
        ffi::DECLINED
    }
}

fn explain(orig: Request<'_>, last: Request<'_>, status: c_int, dc: Option<&DirConfig>) {
    // The core's records of this explanation go to this request's error log (its vhost's,
    // at its LogLevel), not the main server's.
    let _records = log::scope(Sink::Request(last.raw()));
    let monitor = monitor(last);
    let own_identity;
    let id: &Identity = match monitor {
        Some(m) => m.identity(),
        None => {
            own_identity = Identity::current_process();
            &own_identity
        }
    };
    // The file the handler serves: for a script passed to a FastCGI server, the script.
    let filename = last.filename().and_then(|f| {
        if f.starts_with(b"proxy:") {
            fcgi_script(f)
        } else {
            Some(Path::new(OsStr::from_bytes(f)).to_path_buf())
        }
    });
    let mut required: Vec<std::sync::Arc<RequiredDir>> =
        dc.map(DirConfig::required).unwrap_or_default();
    // What nobody declared (an application's preset, a DocumentRoot) for the directory this
    // request is served from.
    if let (Some(file), Some(implied)) = (
        &filename,
        last.main_server()
            .and_then(|s| s.config())
            .and_then(|sc| sc.implied.get()),
    ) {
        for d in implied {
            let serves = d
                .serves
                .as_deref()
                .is_some_and(|root| file.starts_with(root));
            if serves && !required.iter().any(|r| r.path == d.path) {
                required.push(d.clone());
            }
        }
    }
    // The application in this scope runs as its own identity when one of its requirements
    // says so: the requested file and the paths its lines name are checked for it too.
    let app_id: Option<std::sync::Arc<Identity>> = required
        .iter()
        .find_map(|d| d.who.get().filter(|w| w.uid != 0).cloned());
    let id: &Identity = app_id.as_deref().unwrap_or(id);
    let wait = monitor.map_or(EXPLAIN_WAIT, |m| m.check_timeout().min(EXPLAIN_WAIT));
    // What the request's own error lines said (PHP's warnings, a CGI's stderr, Apache's own).
    let seen: &[Seen] = orig.seen().map_or(&[], Vec::as_slice);
    let (cause, from_lines) = diagnose_request(
        &required,
        filename.as_deref(),
        serves_file(last.handler()),
        status,
        id,
        wait,
        seen,
    );
    // A cause a line named is reported with the directory that line was about in scope.
    let required = from_lines.unwrap_or(required);
    let in_scope: Vec<&RequiredDir> = required.iter().map(|a| a.as_ref()).collect();
    // A directory that does not answer was not checked now: say what the audits last saw.
    let last_known = monitor
        .map(|m| last_known_state(&cause, &in_scope, m.shared()))
        .unwrap_or_default();
    let note = cause.note(&in_scope);
    orig.set_note(NOTE_CAUSE, &note);
    if last.raw() != orig.raw() {
        last.set_note(NOTE_CAUSE, &note);
    }
    let Some(shared) = monitor.map(|m| m.shared()) else {
        let line = explanation_without_storm_control(
            &facts(last, status),
            &cause,
            &cause.render(&in_scope, id),
        );
        log::write(
            Sink::Request(last.raw()),
            line.severity,
            line.tag,
            &line.text,
        );
        return;
    };
    shared.count_explained(status, cause.label());
    let storm = shared.storm(cause.key(&in_scope), unix_now().as_secs());
    let full =
        |f: &RequestFacts<'_>| explanation_text(f, &cause.render(&in_scope, id), &last_known);
    let (severity, tag) = (cause.severity(), cause.tag());
    write_limited(last, status, storm, severity, tag, full, &note);
}

entry! {
    /// Reads every error line Apache logs for a request (not this module's own) for what it
    /// says about the filesystem (`core::clues`), and keeps it with the request for the
    /// explanation of its response. Costs nothing on a request that logs nothing.
    pub fn error_log(info: *const ffi::ap_errorlog_info, errstr: *const std::os::raw::c_char) -> ()
        [entry "the error_log hook", instead "this line is not read for a cause",
         log Sink::Startup, fallback ()]
    {
        // SAFETY: Apache passes the live record of the line being logged (S6).
        let Some(info) = (unsafe { info.as_ref() }) else {
            return;
        };
        if info.r.is_null() || info.module_index == super::module::index() {
            return; // not a request's, or this module's own (no reading of our own lines)
        }
        // SAFETY: the live request the line is logged for (S6), served by this thread.
        let Some(r) = (unsafe { Request::from_raw(info.r.cast_mut()) }) else {
            return;
        };
        let Some(seen) = r.owner().seen_mut() else {
            return;
        };
        if seen.len() >= MAX_SEEN {
            return; // bounded work per request
        }
        // SAFETY: errstr is the NUL-terminated message of this call; the module's name is a
        // static string of its module record.
        let (text, module) = unsafe {
            (
                super::ffi_util::cstr_bytes(errstr).unwrap_or_default(),
                super::ffi_util::cstr_bytes(ffi::ap_find_module_short_name(info.module_index))
                    .unwrap_or(b"core"),
            )
        };
        let module = String::from_utf8_lossy(module).into_owned();
        let tag = text
            .get(..7)
            .filter(|t| t.starts_with(b"AH") && t[2..].iter().all(u8::is_ascii_digit))
            .map(|t| String::from_utf8_lossy(t).into_owned())
            .unwrap_or_default();
        for clue in clues_with_status(&module, None, info.status, text) {
            if seen.len() < MAX_SEEN {
                seen.push(Seen {
                    module: module.clone(),
                    tag: tag.clone(),
                    clue,
                });
            }
        }
    }
}
