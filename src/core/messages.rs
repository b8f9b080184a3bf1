//! Every message mod_dirguard can write carries one stable tag, defined here and explained in
//! docs/messages.md. Tags are never reused: a retired message keeps its number.

use std::any::Any;
use std::fmt;

/// A stable message tag, written as `DG` and five digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Tag(pub u32);

impl Tag {
    /// A log line's text as written: the tag, then the message.
    pub fn line(self, text: &str) -> String {
        format!("{self}: {text}")
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DG{:05}", self.0)
    }
}

/// Severities with the values of Apache's APLOG_* levels, so no mapping table can drift.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Severity {
    Emerg = 0,
    Alert = 1,
    Crit = 2,
    Error = 3,
    Warning = 4,
    Notice = 5,
    Info = 6,
    Debug = 7,
    Trace1 = 8,
}

impl Severity {
    pub fn from_u8(v: u8) -> Severity {
        [
            Severity::Emerg,
            Severity::Alert,
            Severity::Crit,
            Severity::Error,
            Severity::Warning,
            Severity::Notice,
            Severity::Info,
            Severity::Debug,
        ]
        .get(usize::from(v))
        .copied()
        .unwrap_or(Severity::Trace1)
    }
}

/// One line to log: the glue only passes it to Apache.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    pub severity: Severity,
    pub tag: Tag,
    pub text: String,
}

// Lifecycle and safety.
pub const PANIC_CONTAINED: Tag = Tag(1);
pub const PANIC_DETAIL: Tag = Tag(2);
// DG00003 is reserved (never used; tags are not reused).
pub const IDENTITY: Tag = Tag(4);
pub const UNPRIVILEGED: Tag = Tag(5);
pub const IDENTITY_UNKNOWN: Tag = Tag(6);
/// A requirement checked for its application's own identity, and where that came from.
pub const APP_IDENTITY: Tag = Tag(8);
/// How the application runs was found, but not as whom (no pool file, an unknown user).
pub const APP_IDENTITY_UNKNOWN: Tag = Tag(9);
/// What Apache shows (with file and line) for a directive whose handler hit an internal error;
/// the panic itself is logged as DG00002.
pub const DIRECTIVE_INTERNAL_ERROR: &std::ffi::CStr =
    c"mod_dirguard: internal error while reading this directive (see the DG00002 line in the error log)";

/// A diagnostic written through the `log` crate without a tag of its own.
pub const UNTAGGED: Tag = Tag(7);

// Startup self-check: one tag per fault kind, then the summary and the gate.
pub const FAULT_MISSING: Tag = Tag(1101);
pub const FAULT_DANGLING_SYMLINK: Tag = Tag(1102);
pub const FAULT_NOT_A_DIRECTORY: Tag = Tag(1103);
pub const FAULT_ANCESTOR_BLOCKED: Tag = Tag(1104);
pub const FAULT_ACCESS_DENIED: Tag = Tag(1105);
pub const FAULT_OWNER: Tag = Tag(1106);
pub const FAULT_GROUP: Tag = Tag(1107);
pub const FAULT_MODE: Tag = Tag(1108);
pub const FAULT_READ_ONLY: Tag = Tag(1109);
pub const FAULT_LOW_SPACE: Tag = Tag(1110);
pub const FAULT_LOW_INODES: Tag = Tag(1111);
pub const FAULT_UNINSPECTABLE: Tag = Tag(1112);
pub const FAULT_NOT_ANSWERING: Tag = Tag(1113);
pub const STARTUP_SUMMARY: Tag = Tag(1120);
pub const STARTUP_REFUSED: Tag = Tag(1121);
pub const STARTUP_LOST: Tag = Tag(1122);

// Live monitoring.
pub const MONITOR_FAILING: Tag = Tag(1301);
pub const MONITOR_RECOVERED: Tag = Tag(1302);
pub const MONITOR_STARTED: Tag = Tag(1303);
pub const MONITOR_UNAVAILABLE: Tag = Tag(1304);
pub const MONITOR_SLOW: Tag = Tag(1305);

// Status handler.
pub const STATUS_UNAVAILABLE: Tag = Tag(1401);

// Request-time diagnosis.
pub const EXPLAIN_UNAVAILABLE: Tag = Tag(1501);
pub const EXPLAIN_CAUSE: Tag = Tag(1502);
pub const EXPLAIN_NO_CAUSE: Tag = Tag(1503);
pub const EXPLAIN_REPEATS: Tag = Tag(1504);

// Repair.
pub const REPAIR_CREATED: Tag = Tag(1201);
pub const REPAIR_OWNERSHIP: Tag = Tag(1202);
pub const REPAIR_MODE: Tag = Tag(1203);
pub const REPAIR_WOULD: Tag = Tag(1204);
pub const REPAIR_REFUSED: Tag = Tag(1210);
pub const REPAIR_FAILED: Tag = Tag(1211);

/// The message a panic carried (`panic!` with a literal or a formatted text).
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".to_owned()
    }
}

/// DG00001: a panic at an `extern "C"` entry was caught; `entry` names the entry (hook or
/// directive) and `consequence` what happens instead.
pub fn panic_contained(entry: &str, consequence: &str, payload: &(dyn Any + Send)) -> Line {
    Line {
        severity: Severity::Crit,
        tag: PANIC_CONTAINED,
        text: format!(
            "internal error in {entry} contained: {}; {consequence}. Please report this with the DG00002 line above.",
            panic_message(payload)
        ),
    }
}

/// DG00002: where a panic happened (written by the panic hook, before DG00001).
pub fn panic_detail(location: Option<(&str, u32)>, payload: &(dyn Any + Send)) -> Line {
    let location = location
        .map(|(file, line)| format!("{file}:{line}"))
        .unwrap_or_else(|| "unknown location".into());
    Line {
        severity: Severity::Crit,
        tag: PANIC_DETAIL,
        text: format!("panic at {location}: {}", panic_message(payload)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_contained_panic_says_where_what_and_what_happens_instead() {
        let payload: Box<dyn Any + Send> = Box::new(format!("index {} out of range", 3));
        let line = panic_contained("the fixups hook", "the request is served", payload.as_ref());
        assert_eq!(
            (line.severity, line.tag, line.text.as_str()),
            (
                Severity::Crit,
                PANIC_CONTAINED,
                "internal error in the fixups hook contained: index 3 out of range; the request is served. Please report this with the DG00002 line above."
            )
        );
        let literal: Box<dyn Any + Send> = Box::new("boom");
        let detail = panic_detail(Some(("src/core/x.rs", 7)), literal.as_ref());
        assert_eq!(detail.tag, PANIC_DETAIL);
        assert_eq!(detail.text, "panic at src/core/x.rs:7: boom");
        let opaque: Box<dyn Any + Send> = Box::new(42u8);
        assert_eq!(
            panic_detail(None, opaque.as_ref()).text,
            "panic at unknown location: (no message)"
        );
    }

    #[test]
    fn tags_render_with_five_digits_and_own_prefix() {
        assert_eq!(PANIC_CONTAINED.to_string(), "DG00001");
        assert_eq!(FAULT_MISSING.to_string(), "DG01101");
    }
}
