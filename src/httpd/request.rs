//! Request-time diagnosis. `fixups` answers 503 before the handler when `DirGuardOnFailure 503`
//! is set and an in-scope required directory is failing (one atomic load per directory, no
//! system call); `log_transaction` explains every final status in the `DirGuardExplain` set with
//! a fresh check, under storm control, and leaves the cause in `r->notes` as `dirguard-cause`.
//! A healthy request costs a few loads and compares; it never touches the filesystem.

use super::config::{dir_config, server_config, DirConfig};
use super::ffi_util::cstr_bytes;
use super::log::{self, Sink};
use crate::core::explain::{diagnose_bounded, retry_after_s, OnFailure, EXPLAIN_WAIT};
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
use std::ffi::{CString, OsStr};
use std::os::raw::{c_char, c_int};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

const NOTE_CAUSE: &std::ffi::CStr = c"dirguard-cause";
/// Marks a response this module answered itself (503), so it is not explained twice.
const NOTE_ANSWERED: &std::ffi::CStr = c"dirguard-answered";

fn monitor<'a>() -> Option<&'a Monitor> {
    // SAFETY: the main server of this generation; its config outlives every request.
    unsafe { server_config(log::main_server()) }
        .and_then(|sc| sc.monitor.get())
        .map(|m| m.as_ref())
}

/// Sets a note on a request (copied into its pool).
fn set_note(r: *mut ffi::request_rec, name: &std::ffi::CStr, value: &str) {
    let value = CString::new(value.replace('\0', "")).unwrap_or_default();
    // SAFETY: r is live; apr_pstrdup copies into its pool, which outlives the note table.
    unsafe {
        let v = ffi::apr_pstrdup((*r).pool, value.as_ptr());
        ffi::apr_table_setn((*r).notes, name.as_ptr(), v);
    }
}

fn has_note(r: *const ffi::request_rec, name: &std::ffi::CStr) -> bool {
    // SAFETY: r is live; apr_table_get only reads.
    unsafe { !ffi::apr_table_get((*r).notes, name.as_ptr()).is_null() }
}

/// What a line says about request `r` answered with `status`. Apache's request log id (`%L`) is
/// generated now if nothing asked for it yet, so the line can be matched with the request's
/// other lines.
fn facts<'r>(r: *mut ffi::request_rec, status: c_int) -> RequestFacts<'r> {
    // SAFETY: r is live; generate_log_id writes a pool string into the field, as log.c does;
    // every field read is null or a NUL-terminated string in the request's pool, which outlives
    // the line written from it.
    unsafe {
        if (*r).log_id.is_null() {
            let mut id: *const c_char = std::ptr::null();
            ffi::ap_run_generate_log_id((*r).connection, r, &mut id);
            (*r).log_id = id;
        }
        let rr = &*r;
        RequestFacts {
            method: cstr_bytes(rr.method),
            uri: cstr_bytes(rr.uri),
            handler: cstr_bytes(rr.handler),
            filename: cstr_bytes(rr.filename),
            log_id: cstr_bytes(rr.log_id),
            status,
        }
    }
}

pub unsafe extern "C" fn fixups(r: *mut ffi::request_rec) -> c_int {
    super::guard::guard(
        "the fixups hook",
        "the request is served as if the module were absent",
        Sink::Request(r),
        ffi::DECLINED,
        || {
            // SAFETY: r is the live request of this hook.
            let rr = unsafe { &*r };
            if !rr.main.is_null() {
                return ffi::DECLINED; // subrequests never answer the client
            }
            // SAFETY: the request's per-dir vector.
            let Some(dc) = (unsafe { dir_config(rr.per_dir_config) }) else {
                return ffi::DECLINED;
            };
            if dc.on_failure != Some(OnFailure::Unavailable) || !dc.has_required() {
                return ffi::DECLINED;
            }
            let Some(monitor) = monitor() else {
                return ffi::DECLINED;
            };
            let shared = monitor.shared();
            let failing = match dc.each_required(&mut |d| match d.slot.get() {
                Some(&slot) if shared.health(slot) == Health::Failing => {
                    std::ops::ControlFlow::Break((d, slot))
                }
                _ => std::ops::ControlFlow::Continue(()),
            }) {
                std::ops::ControlFlow::Break(found) => Some(found),
                std::ops::ControlFlow::Continue(()) => None,
            };
            match failing {
                None => ffi::DECLINED,
                Some((dir, slot)) => answer_unavailable(r, dc, monitor, dir, slot),
            }
        },
    )
}

fn answer_unavailable(
    r: *mut ffi::request_rec,
    dc: &DirConfig,
    monitor: &Monitor,
    dir: &RequiredDir,
    slot: usize,
) -> c_int {
    let retry_after_s = retry_after_s(dc.retry_after);
    let retry = CString::new(retry_after_s.to_string()).unwrap_or_default();
    // SAFETY: r is live; the value is copied into its pool.
    unsafe {
        let v = ffi::apr_pstrdup((*r).pool, retry.as_ptr());
        ffi::apr_table_setn((*r).err_headers_out, c"Retry-After".as_ptr(), v);
    }
    let shared = monitor.shared();
    let record = shared.record(slot).unwrap_or_default();
    let answer = Unavailable {
        dir,
        record: &record,
        retry_after_s,
    };
    let note = answer.note();
    set_note(r, NOTE_CAUSE, &note);
    set_note(r, NOTE_ANSWERED, "503");
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
    r: *mut ffi::request_rec,
    status: c_int,
    storm: Storm,
    severity: Severity,
    tag: Tag,
    full: impl FnOnce(&RequestFacts<'_>) -> String,
    note: &str,
) {
    if let Some(line) = limited_line(storm, severity, tag, || facts(r, status), full, note) {
        log::write(Sink::Request(r), line.severity, line.tag, &line.text);
    }
}

pub unsafe extern "C" fn log_transaction(r: *mut ffi::request_rec) -> c_int {
    super::guard::guard(
        "the log_transaction hook",
        "this response is not explained",
        Sink::Request(r),
        ffi::DECLINED,
        || {
            // The final response is the last of the internal-redirect chain.
            let mut last = r;
            // SAFETY: the chain of live requests Apache built for this connection.
            unsafe {
                while !(*last).next.is_null() {
                    last = (*last).next;
                }
            }
            // SAFETY: live request.
            let (status, per_dir) = unsafe { ((*last).status, (*last).per_dir_config) };
            // SAFETY: the final request's per-dir vector.
            let dc = unsafe { dir_config(per_dir) };
            if !dc
                .and_then(|d| d.explain)
                .unwrap_or_default()
                .contains(status)
            {
                return ffi::DECLINED;
            }
            if has_note(last, NOTE_ANSWERED) || has_note(r, NOTE_ANSWERED) {
                return ffi::DECLINED;
            }
            explain(r, last, status, dc);
            ffi::DECLINED
        },
    )
}

fn explain(
    orig: *mut ffi::request_rec,
    last: *mut ffi::request_rec,
    status: c_int,
    dc: Option<&DirConfig>,
) {
    // The core's records of this explanation go to this request's error log (its vhost's,
    // at its LogLevel), not the main server's.
    let _records = log::scope(Sink::Request(last));
    let monitor = monitor();
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
    // SAFETY: live request; filename is null or NUL-terminated.
    let filename = unsafe { cstr_bytes((*last).filename) }
        .map(|b| Path::new(OsStr::from_bytes(b)).to_path_buf());
    let wait = monitor.map_or(EXPLAIN_WAIT, |m| m.check_timeout().min(EXPLAIN_WAIT));
    let cause = diagnose_bounded(&required, filename.as_deref(), status, id, wait);
    // A directory that does not answer was not checked now: say what the audits last saw.
    let last_known = monitor
        .map(|m| last_known_state(&cause, &in_scope, m.shared()))
        .unwrap_or_default();
    let note = cause.note(&in_scope);
    set_note(orig, NOTE_CAUSE, &note);
    if last != orig {
        set_note(last, NOTE_CAUSE, &note);
    }
    let Some(shared) = monitor.map(|m| m.shared()) else {
        let line = explanation_without_storm_control(
            &facts(last, status),
            &cause,
            &cause.render(&in_scope, id),
        );
        log::write(Sink::Request(last), line.severity, line.tag, &line.text);
        return;
    };
    shared.count_explained(status, cause.label());
    let storm = shared.storm(cause.key(&in_scope), unix_now().as_secs());
    let full =
        |f: &RequestFacts<'_>| explanation_text(f, &cause.render(&in_scope, id), &last_known);
    let (severity, tag) = (cause.severity(), cause.tag());
    write_limited(last, status, storm, severity, tag, full, &note);
}
