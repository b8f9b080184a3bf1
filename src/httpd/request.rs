//! Request-time diagnosis. `fixups` answers 503 before the handler when `DirGuardOnFailure 503`
//! is set and an in-scope required directory is failing (one atomic load per directory, no
//! system call); `log_transaction` explains every final status in the `DirGuardExplain` set with
//! a fresh check, under storm control, and leaves the cause in `r->notes` as `dirguard-cause`.
//! A healthy request costs a few loads and compares; it never touches the filesystem.

use super::config::{dir_config, server_config, DirConfig, DEFAULT_RETRY_AFTER_S};
use super::ffi_util::cstr_bytes;
use super::log::{self, Sink};
use crate::core::explain::{diagnose_bounded, last_known, Cause, OnFailure, EXPLAIN_WAIT};
use crate::core::fault::Fault;
use crate::core::identity::Identity;
use crate::core::messages::{self, Severity};
use crate::core::monitor::{unix_now, Monitor};
use crate::core::shared::{Health, Storm};
use crate::core::spec::RequiredDir;
use crate::core::text::{format_utc, quote_path};
use crate::ffi;
use std::ffi::{CString, OsStr};
use std::os::raw::{c_char, c_int};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

const NOTE_CAUSE: &std::ffi::CStr = c"dirguard-cause";
/// Marks a response this module answered itself (503), so it is not explained twice.
const NOTE_ANSWERED: &std::ffi::CStr = c"dirguard-answered";
const MAX_URI: usize = 512;

fn monitor<'a>() -> Option<&'a Monitor> {
    // SAFETY: the main server of this generation; its config outlives every request.
    unsafe { server_config(log::main_server()) }
        .and_then(|sc| sc.monitor.get())
        .map(|m| m.as_ref())
}

fn text(p: *const c_char) -> String {
    // SAFETY: p is null or a NUL-terminated string owned by the request.
    let bytes = unsafe { cstr_bytes(p) }.unwrap_or(b"-");
    let bytes = &bytes[..bytes.len().min(MAX_URI)];
    String::from_utf8_lossy(bytes).into_owned()
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

/// Apache's request log id (`%L`), generated now if nothing asked for it yet, so this line can
/// be matched with the request's other lines.
fn log_id(r: *mut ffi::request_rec) -> String {
    // SAFETY: r is live; generate_log_id writes a pool string into the field, as log.c does.
    unsafe {
        if (*r).log_id.is_null() {
            let mut id: *const c_char = std::ptr::null();
            ffi::ap_run_generate_log_id((*r).connection, r, &mut id);
            (*r).log_id = id;
        }
        text((*r).log_id)
    }
}

fn describe_request(r: *mut ffi::request_rec, status: c_int) -> String {
    // SAFETY: r is live; the fields are NUL-terminated strings or null.
    let rr = unsafe { &*r };
    let file = match unsafe { cstr_bytes(rr.filename) } {
        Some(f) => quote_path(OsStr::from_bytes(f)),
        None => "-".into(),
    };
    format!(
        "{status} for {} {} (handler {}, file {}), log id {}",
        text(rr.method),
        text(rr.uri),
        text(rr.handler),
        file,
        log_id(r)
    )
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
            if dc.on_failure != Some(OnFailure::Unavailable) || dc.required.is_empty() {
                return ffi::DECLINED;
            }
            let Some(monitor) = monitor() else {
                return ffi::DECLINED;
            };
            let shared = monitor.shared();
            let failing = dc.required.iter().find_map(|d| {
                let slot = *d.slot.get()?;
                (shared.health(slot) == Health::Failing).then_some((d, slot))
            });
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
    let retry = dc.retry_after.unwrap_or(DEFAULT_RETRY_AFTER_S).to_string();
    let retry = CString::new(retry).unwrap_or_default();
    // SAFETY: r is live; the value is copied into its pool.
    unsafe {
        let v = ffi::apr_pstrdup((*r).pool, retry.as_ptr());
        ffi::apr_table_setn((*r).err_headers_out, c"Retry-After".as_ptr(), v);
    }
    let record = monitor.shared().record(slot).unwrap_or_default();
    let kind = crate::core::status::kind_names(record.kinds)
        .first()
        .copied()
        .unwrap_or("failing");
    let cause_index =
        (record.kinds.trailing_zeros() as usize).min(crate::core::explain::CAUSE_NONE);
    set_note(
        r,
        NOTE_CAUSE,
        &format!("{kind}:{}", dir.path.to_string_lossy()),
    );
    set_note(r, NOTE_ANSWERED, "503");
    let shared = monitor.shared();
    shared.count_explained(ffi::HTTP_SERVICE_UNAVAILABLE as c_int, cause_index);
    let key = storm_key(dir, record.kinds);
    let line = || {
        format!(
            "{} (DirGuardOnFailure 503, Retry-After {}): required directory {} {} since {}; declared at {}; fix: {}",
            describe_request(r, ffi::HTTP_SERVICE_UNAVAILABLE as c_int),
            dc.retry_after.unwrap_or(DEFAULT_RETRY_AFTER_S),
            quote_path(dir.path.as_os_str()),
            if record.what.is_empty() { "is failing".to_owned() } else { record.what.clone() },
            format_utc(record.since_unix_s),
            dir.origin,
            record.fix
        )
    };
    // r->status is not the answer yet (fixups runs before the handler): pass it.
    write_limited(
        r,
        ffi::HTTP_SERVICE_UNAVAILABLE as c_int,
        shared.storm(key, unix_now().as_secs()),
        messages::EXPLAIN_UNAVAILABLE,
        Severity::Error,
        line,
        &format!("{kind}:{}", dir.path.to_string_lossy()),
    );
    ffi::HTTP_SERVICE_UNAVAILABLE as c_int
}

fn storm_key(dir: &RequiredDir, kinds: u16) -> u64 {
    let mut h: u64 = 0x9e37_79b9_7f4a_7c15 ^ u64::from(kinds);
    for b in dir.path.as_os_str().as_bytes() {
        h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Writes the full line, a short repeat line, or nothing, as storm control decided.
fn write_limited(
    r: *mut ffi::request_rec,
    status: c_int,
    storm: Storm,
    tag: messages::Tag,
    severity: Severity,
    full: impl FnOnce() -> String,
    cause: &str,
) {
    match storm {
        Storm::Full { repeats } => {
            let mut line = full();
            if repeats > 0 {
                line.push_str(&format!(" ({repeats} more response{} with this cause since its previous full explanation)", if repeats == 1 { "" } else { "s" }));
            }
            log::write(Sink::Request(r), severity, tag, &line);
        }
        Storm::Repeat { n, log: true } => {
            log::write(
                Sink::Request(r),
                severity,
                messages::EXPLAIN_REPEATS,
                &format!(
                    "{status} for {} {}, log id {}: same cause as explained in full within the last second ({cause}); {n} repeat{} since that line (storm control: one full line per cause per second; exact counts on the status page)",
                    // SAFETY: r is live.
                    text(unsafe { (*r).method }),
                    text(unsafe { (*r).uri }),
                    log_id(r),
                    if n == 1 { "" } else { "s" }
                ),
            );
        }
        Storm::Repeat { .. } => {}
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
    let monitor = monitor();
    let own_identity;
    let id: &Identity = match monitor {
        Some(m) => m.identity(),
        None => {
            own_identity = Identity::current_process();
            &own_identity
        }
    };
    let required: &[std::sync::Arc<RequiredDir>] = dc.map(|d| d.required.as_slice()).unwrap_or(&[]);
    let in_scope: Vec<&RequiredDir> = required.iter().map(|a| a.as_ref()).collect();
    // SAFETY: live request; filename is null or NUL-terminated.
    let filename = unsafe { cstr_bytes((*last).filename) }
        .map(|b| Path::new(OsStr::from_bytes(b)).to_path_buf());
    let wait = monitor.map_or(EXPLAIN_WAIT, |m| m.check_timeout().min(EXPLAIN_WAIT));
    let cause = diagnose_bounded(required, filename.as_deref(), status, id, wait);
    // A directory that does not answer was not checked now: say what the audits last saw.
    let last_known_state = match (&cause, monitor) {
        (
            Cause::Required {
                dir,
                fault: Fault::NotAnswering { .. },
            },
            Some(m),
        ) => in_scope
            .get(*dir)
            .and_then(|d| d.slot.get())
            .and_then(|slot| m.shared().record(*slot))
            .map(|r| last_known(r.health.keyword(), r.since_unix_s))
            .unwrap_or_default(),
        _ => String::new(),
    };
    let note = cause.note(&in_scope);
    set_note(orig, NOTE_CAUSE, &note);
    if last != orig {
        set_note(last, NOTE_CAUSE, &note);
    }
    let Some(shared) = monitor.map(|m| m.shared()) else {
        log::write(
            Sink::Request(last),
            Severity::Error,
            cause.tag(),
            &format!(
                "{}: {}",
                describe_request(last, status),
                cause.render(&in_scope, id)
            ),
        );
        return;
    };
    shared.count_explained(status, cause.label_index());
    let storm = shared.storm(cause.key(&in_scope), unix_now().as_secs());
    let line = || {
        format!(
            "{}: {}{last_known_state}",
            describe_request(last, status),
            cause.render(&in_scope, id)
        )
    };
    let severity = if matches!(cause, Cause::Nothing) {
        Severity::Warning
    } else {
        Severity::Error
    };
    write_limited(last, status, storm, cause.tag(), severity, line, &note);
}
