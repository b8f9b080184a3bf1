//! Request-time diagnosis. `fixups` answers 503 before the handler when `DirGuardOnFailure 503`
//! is set and an in-scope required directory is failing (one atomic load per directory, no
//! system call); `log_transaction` explains every final status in the `DirGuardExplain` set with
//! a fresh check, under storm control, and leaves the cause in `r->notes` as `dirguard-cause`.
//! A healthy request costs a few loads and compares; it never touches the filesystem.

use super::boundary::{entry, Request};
use super::config::DirConfig;
use super::log::{self, Sink};
use crate::core::explain::{diagnose_bounded, retry_after_s, ExplainSet, OnFailure, EXPLAIN_WAIT};
use crate::core::identity::Identity;
use crate::core::messages::{Severity, Tag};
use crate::core::monitor::{unix_now, Monitor};
use crate::core::request::{
    explanation_text, explanation_without_storm_control, last_known_state, limited_line,
    RequestFacts, Unavailable,
};
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

/// What a line says about request `r` answered with `status`. Apache's request log id (`%L`) is
/// generated now if nothing asked for it yet, so the line can be matched with the request's
/// other lines.
fn facts(r: Request<'_>, status: c_int) -> RequestFacts<'_> {
    let log_id = r.log_id();
    RequestFacts {
        method: r.method(),
        uri: r.uri(),
        handler: r.handler(),
        filename: r.filename(),
        log_id,
        status,
    }
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
        let Some(dc) = r.dir_config() else {
            return ffi::DECLINED;
        };
        if dc.on_failure != Some(OnFailure::Unavailable) || !dc.has_required() {
            return ffi::DECLINED;
        }
        let Some(monitor) = monitor(r) else {
            return ffi::DECLINED;
        };
        let shared = monitor.shared();
        let failing = dc.each_required(&mut |d| match d.slot.get() {
            Some(&slot) if shared.health(slot) == Health::Failing => ControlFlow::Break((d, slot)),
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
        let dc = last.dir_config();
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
    let required: Vec<std::sync::Arc<RequiredDir>> =
        dc.map(DirConfig::required).unwrap_or_default();
    let in_scope: Vec<&RequiredDir> = required.iter().map(|a| a.as_ref()).collect();
    let filename = last
        .filename()
        .map(|b| Path::new(OsStr::from_bytes(b)).to_path_buf());
    let wait = monitor.map_or(EXPLAIN_WAIT, |m| m.check_timeout().min(EXPLAIN_WAIT));
    let cause = diagnose_bounded(&required, filename.as_deref(), status, id, wait);
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
