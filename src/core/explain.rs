//! Request-time diagnosis: which final statuses to explain, the probable filesystem cause of a
//! failed response (failing in-scope required directories first, then the path of the requested
//! file), and how the explanation reads.

use super::bounded::{self, Progress, Stall};
use super::evaluator::{file_kind, Evaluator};
use super::fault::{grant_command, CauseLabel, Fault, FaultKind};
use super::identity::Identity;
use super::messages::{self, Severity, Tag};
use super::permission::{self, Ownership, R, X};
use super::records::{quoted, Lazy, Millis};
use super::spec::{Access, Origin, RequiredDir};
use super::text::{quote_path, ShellCommand};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Final statuses to explain, as a bit set over 0..640.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExplainSet {
    bits: [u64; 10],
}

impl Default for ExplainSet {
    /// `DirGuardExplain 5xx`
    fn default() -> ExplainSet {
        let mut set = ExplainSet::off();
        set.add_range(500, 599);
        set
    }
}

impl ExplainSet {
    pub fn off() -> ExplainSet {
        ExplainSet { bits: [0; 10] }
    }

    fn add_range(&mut self, from: u16, to: u16) {
        for s in from..=to {
            self.bits[s as usize / 64] |= 1 << (s % 64);
        }
    }

    /// Whether the default set (`DirGuardExplain 5xx`) holds `status`, without building it.
    pub fn default_contains(status: i32) -> bool {
        (500..600).contains(&status)
    }

    pub fn contains(&self, status: i32) -> bool {
        (0..640).contains(&status) && self.bits[status as usize / 64] & (1 << (status % 64)) != 0
    }

    /// `off`, or any of `4xx`, `5xx` and single statuses from 400 to 599.
    pub fn parse(args: &[&str]) -> Result<ExplainSet, String> {
        let usage =
            "accepted: off, or any of 4xx, 5xx and statuses from 400 to 599 (e.g. 5xx 403 404)";
        if args.is_empty() {
            return Err(format!("DirGuardExplain needs an argument; {usage}"));
        }
        if args.len() == 1 && args[0].eq_ignore_ascii_case("off") {
            return Ok(ExplainSet::off());
        }
        let mut set = ExplainSet::off();
        for a in args {
            match a.to_ascii_lowercase().as_str() {
                "4xx" => set.add_range(400, 499),
                "5xx" => set.add_range(500, 599),
                "off" => {
                    return Err(format!(
                        "DirGuardExplain: 'off' cannot be combined with statuses; {usage}"
                    ))
                }
                other => {
                    let status: u16 = other
                        .parse()
                        .ok()
                        .filter(|s| (400..=599).contains(s) && other.len() == 3)
                        .ok_or_else(|| {
                            format!(
                                "DirGuardExplain: '{}' is not a status; {usage}",
                                super::text::shown(a.as_bytes())
                            )
                        })?;
                    set.add_range(status, status);
                }
            }
        }
        Ok(set)
    }
}

/// `DirGuardOnFailure`
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnFailure {
    Continue,
    Unavailable,
}

impl OnFailure {
    pub fn parse(arg: &str) -> Result<OnFailure, String> {
        match arg.to_ascii_lowercase().as_str() {
            "continue" => Ok(OnFailure::Continue),
            "503" => Ok(OnFailure::Unavailable),
            _ => Err(format!(
                "DirGuardOnFailure: '{}' is not one of continue, 503",
                super::text::shown(arg.as_bytes())
            )),
        }
    }
}

/// `DirGuardSafeMethods`: the methods that only read. While a required directory with
/// `access=rw` is failing, `DirGuardOnFailure 503` lets these through (readers keep the site)
/// and answers 503 to every other method (the uploads, edits and deletions that need the
/// directory); a failing requirement with `access=r` or `none` answers 503 to every method.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SafeMethods(Vec<Vec<u8>>);

/// RFC 9110's safe methods Apache serves, and WebDAV's PROPFIND (it reads properties).
pub const DEFAULT_SAFE_METHODS: [&str; 5] = ["GET", "HEAD", "OPTIONS", "TRACE", "PROPFIND"];

impl SafeMethods {
    /// `DirGuardSafeMethods METHOD…` or `none` (every method needs what is failing). Method
    /// names are case-sensitive HTTP tokens, as Apache compares them.
    pub fn parse(args: &[&str]) -> Result<SafeMethods, String> {
        if args.is_empty() {
            return Err("DirGuardSafeMethods: name at least one method (or none)".into());
        }
        if args.len() == 1 && args[0].eq_ignore_ascii_case("none") {
            return Ok(SafeMethods(Vec::new()));
        }
        let token = |a: &str| {
            !a.is_empty()
                && a.len() <= 64
                && a.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
        };
        let mut methods = Vec::new();
        for a in args {
            if !token(a) || a.eq_ignore_ascii_case("none") {
                return Err(format!(
                    "DirGuardSafeMethods: '{}' is not an HTTP method name (a token such as GET or PROPFIND), or none alone",
                    super::text::shown(a.as_bytes())
                ));
            }
            if !methods.iter().any(|m: &Vec<u8>| m == a.as_bytes()) {
                methods.push(a.as_bytes().to_vec());
            }
        }
        Ok(SafeMethods(methods))
    }

    /// Whether `method` only reads, with this set, or the default one when `set` is None.
    pub fn contains(set: Option<&SafeMethods>, method: &[u8]) -> bool {
        match set {
            Some(s) => s.0.iter().any(|m| m == method),
            None => DEFAULT_SAFE_METHODS.iter().any(|m| m.as_bytes() == method),
        }
    }
}

/// Whether a failing requirement of `access` makes `DirGuardOnFailure 503` answer a request
/// with `method`: a directory the application writes into is needed by the methods that
/// write; one it reads is needed by every request.
pub fn gates(access: super::spec::Access, method: &[u8], safe: Option<&SafeMethods>) -> bool {
    access != super::spec::Access::ReadWrite || !SafeMethods::contains(safe, method)
}

/// The `Retry-After` of a `DirGuardOnFailure 503` answer without `DirGuardRetryAfter`.
pub const DEFAULT_RETRY_AFTER_S: u32 = 30;

/// The `Retry-After` seconds of a 503 answer: the configured ones, else the default.
pub fn retry_after_s(configured: Option<u32>) -> u32 {
    configured.unwrap_or(DEFAULT_RETRY_AFTER_S)
}

/// `DirGuardRetryAfter SECONDS` (1 to 86400).
pub fn parse_retry_after(arg: &str) -> Result<u32, String> {
    arg.parse::<u32>()
        .ok()
        .filter(|s| (1..=86_400).contains(s) && arg.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| {
            format!(
                "DirGuardRetryAfter: '{}' is not a number of seconds from 1 to 86400",
                super::text::shown(arg.as_bytes())
            )
        })
}

/// The probable cause of a failed response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cause {
    /// An in-scope required directory has a fault (`dir` indexes the in-scope list).
    Required { dir: usize, fault: Fault },
    /// A component of the requested file's path does not exist.
    MissingComponent { component: PathBuf, file: PathBuf },
    /// The server user cannot enter a directory on the way to the requested file.
    BlockedComponent { fault: Fault, file: PathBuf },
    /// The server user cannot read the requested file (or list the requested directory).
    Unreadable {
        file: PathBuf,
        own: Ownership,
        has_acl: bool,
        named: Option<u8>,
        verdict: permission::Verdict,
        wanted: u8,
        kind: &'static str,
    },
    /// The requested file's own filesystem does not answer.
    FileNotAnswering { file: PathBuf, stall: Stall },
    /// The request's own error line gives a reason that is not a filesystem one (an invalid
    /// response header, a rewrite loop, a proxy backend that is down): that line is the cause.
    OtherLine {
        tag: String,
        module: String,
        summary: String,
    },
    /// Nothing on the filesystem explains it.
    Nothing,
}

/// Identifies a cause for storm control (one full line per cause per second): the line that
/// reports it (a 503 answer and an explanation are limited apart), the kind of the cause and the
/// path it is about. 0 is never a key (it marks a free slot in shared memory).
pub fn storm_key(line: Tag, label: CauseLabel, path: &Path) -> u64 {
    // FNV-1a over the tag, the label and the path bytes.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let head = line.0.to_le_bytes();
    for b in head
        .iter()
        .chain(&[label.index() as u8])
        .chain(path.as_os_str().as_bytes())
    {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h.max(1)
}

impl Cause {
    /// The cause's label in metrics: the kind of its fault, or none.
    pub fn label(&self) -> CauseLabel {
        match self {
            Cause::Required { fault, .. } | Cause::BlockedComponent { fault, .. } => {
                fault.kind().into()
            }
            Cause::MissingComponent { .. } => FaultKind::Missing.into(),
            Cause::Unreadable { .. } => FaultKind::AccessDenied.into(),
            Cause::FileNotAnswering { .. } => FaultKind::NotAnswering.into(),
            Cause::Nothing | Cause::OtherLine { .. } => CauseLabel::Nothing,
        }
    }

    /// Identifies the cause for storm control: its kind and the path it is about.
    pub fn key(&self, in_scope: &[&RequiredDir]) -> u64 {
        let path: &Path = match self {
            Cause::Required { dir, .. } => in_scope
                .get(*dir)
                .map(|d| d.path.as_path())
                .unwrap_or(Path::new("")),
            Cause::MissingComponent { component, .. } => component,
            Cause::BlockedComponent {
                fault: Fault::AncestorBlocked { ancestor, .. },
                ..
            } => ancestor,
            Cause::BlockedComponent { file, .. } | Cause::Unreadable { file, .. } => file,
            Cause::FileNotAnswering { stall, .. } => stall.scope(),
            Cause::OtherLine { tag, .. } => Path::new(tag.as_str()),
            Cause::Nothing => Path::new(""),
        };
        storm_key(messages::EXPLAIN_CAUSE, self.label(), path)
    }

    /// An explanation is an error, a response nothing explains a warning.
    pub fn severity(&self) -> Severity {
        match self {
            Cause::Nothing | Cause::OtherLine { .. } => Severity::Warning,
            _ => Severity::Error,
        }
    }

    pub fn tag(&self) -> Tag {
        match self {
            Cause::Nothing | Cause::OtherLine { .. } => messages::EXPLAIN_NO_CAUSE,
            _ => messages::EXPLAIN_CAUSE,
        }
    }

    /// A short form for `r->notes` (`dirguard-cause`, for access logs): kind and path.
    pub fn note(&self, in_scope: &[&RequiredDir]) -> String {
        let label = self.label().name();
        match self {
            Cause::Required { dir, .. } => format!(
                "{label}:{}",
                in_scope
                    .get(*dir)
                    .map(|d| d.path.to_string_lossy().into_owned())
                    .unwrap_or_default()
            ),
            Cause::MissingComponent { component, .. } => {
                format!("missing:{}", component.to_string_lossy())
            }
            Cause::BlockedComponent {
                fault: Fault::AncestorBlocked { ancestor, .. },
                ..
            } => format!("ancestor-blocked:{}", ancestor.to_string_lossy()),
            Cause::BlockedComponent { file, .. } => {
                format!("ancestor-blocked:{}", file.to_string_lossy())
            }
            Cause::Unreadable { file, .. } => format!("access-denied:{}", file.to_string_lossy()),
            Cause::FileNotAnswering { stall, .. } => {
                format!("not-answering:{}", stall.scope().to_string_lossy())
            }
            Cause::OtherLine { tag, .. } => format!("line:{tag}"),
            Cause::Nothing => "none".to_owned(),
        }
    }

    /// "probable cause: …; fix: …", or the plain statement that nothing was found.
    pub fn render(&self, in_scope: &[&RequiredDir], id: &Identity) -> String {
        let synthetic = |p: &Path| RequiredDir::new(p, Access::Read, Origin::default());
        match self {
            Cause::Required { dir, fault } => match in_scope.get(*dir) {
                Some(d) => format!("probable cause: {}", fault.render(d, id)),
                None => "probable cause: a failing required directory".to_owned(),
            },
            Cause::MissingComponent { component, file } if component == file => format!(
                "probable cause: the requested file {} does not exist; fix: restore it, or correct the configuration that maps this URL to it",
                quote_path(file.as_os_str())
            ),
            Cause::MissingComponent { component, file } => format!(
                "probable cause: {} does not exist (on the way to the requested file {}); fix: {}",
                quote_path(component.as_os_str()),
                quote_path(file.as_os_str()),
                ShellCommand::new("install")
                    .arg("-d")
                    .arg("-m")
                    .arg("0755")
                    .path(component)
            ),
            Cause::BlockedComponent { fault, file } => {
                let d = synthetic(file);
                let subject = match fault {
                    Fault::AncestorBlocked { ancestor, .. } if ancestor == file => {
                        "the requested directory"
                    }
                    _ => "the requested file",
                };
                format!(
                    "probable cause: {subject} {} {}; for {}; fix: {}",
                    quote_path(file.as_os_str()),
                    fault.what(&d),
                    id.whose(),
                    fault.fix(&d, id)
                )
            }
            Cause::Unreadable { file, own, has_acl, named, verdict, wanted, kind } => format!(
                "probable cause: the requested file {} ({kind}, owner {}, group {}, mode {:04o}{}) cannot be read by {}; fix: {}",
                quote_path(file.as_os_str()),
                super::identity::user_name_of(own.uid).unwrap_or_else(|| format!("#{}", own.uid)),
                super::identity::group_name_of(own.gid).unwrap_or_else(|| format!("#{}", own.gid)),
                own.mode,
                if *has_acl { ", with an ACL" } else { "" },
                id.whose(),
                grant_command(file, id, verdict, *has_acl, *named, *wanted)
            ),
            Cause::FileNotAnswering { file, stall } => format!(
                "probable cause: the requested file {} {}; for {}; fix: {}",
                quote_path(file.as_os_str()),
                Fault::NotAnswering {
                    stall: stall.clone()
                }
                .what(&synthetic(file)),
                id.whose(),
                Fault::NotAnswering {
                    stall: stall.clone()
                }
                .fix(&synthetic(file), id)
            ),
            Cause::OtherLine { tag, module, summary } => format!(
                "no filesystem cause: this request's own error line {}(from {}) says: {}; see that line (same log id)",
                if tag.is_empty() { String::new() } else { format!("{tag} ") },
                super::text::escape_log(module.as_bytes()),
                super::text::escape_log(summary.as_bytes())
            ),
            Cause::Nothing => format!(
                "no filesystem cause found (the required directories in scope pass their checks and the requested file's path is usable by {}); see the other lines with this log id",
                id.whose()
            ),
        }
    }
}

/// How long a request's explanation waits for its fresh check at most. A filesystem that does
/// not answer within it is recorded as stalled, and no later request touches it again while it
/// stays so (`core::bounded`).
pub const EXPLAIN_WAIT: Duration = Duration::from_millis(250);

/// What a request's explanation adds about a directory whose filesystem does not answer: the
/// state the live audits last saw, since when.
pub fn last_known(health: &str, since_unix_s: u64) -> String {
    if since_unix_s == 0 {
        return format!(" (not checked now; last known state: {health})");
    }
    format!(
        " (not checked now; last known state: {health} since {})",
        super::text::format_utc(since_unix_s)
    )
}

/// One clue from an error line Apache logged for the request (`core::clues`), with the line's
/// tag and the module that logged it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    pub module: String,
    pub tag: String,
    pub clue: super::clues::Clue,
}

/// How many clues one request keeps at most (bounded work per failing request).
pub const MAX_SEEN: usize = 8;

/// Operations that create or write: the directory they act in must grant write and search.
const WRITES: &[&str] = &[
    "file_put_contents",
    "fopen",
    "fwrite",
    "touch",
    "copy",
    "rename",
    "move_uploaded_file",
    "mkdir",
    "tempnam",
    "create",
    "write",
    "session_start",
    "unlink",
    "rmdir",
    "symlink",
    "link",
];

/// The directory a path clue is about, as a requirement to check: the directory the
/// operation acts in (the path's parent; for opendir, the path itself), `access=rw` for an
/// operation that writes and `r` otherwise, so a check only confirms what the operation needs.
pub fn clue_requirement(seen: &Seen) -> Option<RequiredDir> {
    let super::clues::Clue::Path {
        path,
        reason,
        operation,
    } = &seen.clue
    else {
        return None;
    };
    let op = operation.as_deref().unwrap_or("");
    let dir = if op == "opendir" || op == "scandir" {
        path.clone()
    } else {
        path.parent()?.to_path_buf()
    };
    if !dir.is_absolute() {
        return None;
    }
    let writes = WRITES.contains(&op)
        || matches!(
            reason,
            super::clues::FsReason::ReadOnly
                | super::clues::FsReason::NoSpace
                | super::clues::FsReason::QuotaExceeded
        );
    // Reading a file needs search on its directory; listing a directory needs read too.
    let lists = dir == *path;
    let access = if writes {
        Access::ReadWrite
    } else if lists {
        Access::Read
    } else {
        Access::Search
    };
    let mut d = RequiredDir::new(dir, access, Origin::default());
    if *reason == super::clues::FsReason::NoSpace {
        d.min_free = Some(1);
    }
    d.provenance = super::spec::Provenance::Line {
        tag: seen.tag.clone(),
        module: seen.module.clone(),
        what: format!(
            "{}{} {}",
            if op.is_empty() { "" } else { op },
            if op.is_empty() { "" } else { " of" },
            super::text::quote_path(path.as_os_str())
        ),
    };
    Some(d)
}

/// Whether a handler serves the file Apache mapped the request to (so a missing file is a
/// cause): the default handler, CGI, PHP (mod_php or a FastCGI server). A handler that serves
/// no file (server-status, a proxy to a URL, a module's own) has no file to blame.
pub fn serves_file(handler: Option<&[u8]>) -> bool {
    let Some(h) = handler else {
        return true;
    };
    h == b"default-handler"
        || h.ends_with(b"-script")
        || h.windows(3).any(|w| w == b"php")
        || h.starts_with(b"proxy:unix:")
        || (h.starts_with(b"proxy:fcgi:") || h == b"proxy-server")
        || h.starts_with(b"text/")
}

/// The explanation of a failed response, with what the request's own error lines said
/// (`seen`): a path a line names whose check confirms a fault is the cause (checked as the
/// application's identity); otherwise a line that gives another reason is the cause; only
/// then the required directories in scope and the requested file (this last only when its
/// handler serves it). Never names a path its check finds nothing wrong with.
#[allow(clippy::too_many_arguments)]
pub fn diagnose_request(
    in_scope: &[Arc<RequiredDir>],
    filename: Option<&Path>,
    handler_serves_file: bool,
    status: i32,
    id: &Identity,
    wait: Duration,
    seen: &[Seen],
) -> (Cause, Option<Vec<Arc<RequiredDir>>>) {
    let from_lines: Vec<Arc<RequiredDir>> =
        seen.iter()
            .filter_map(clue_requirement)
            .fold(Vec::new(), |mut v, d| {
                if !v.iter().any(|x: &Arc<RequiredDir>| x.path == d.path) {
                    v.push(Arc::new(d));
                }
                v
            });
    if !from_lines.is_empty() {
        // A line's path inside a required directory in scope: that requirement says more
        // (where it was declared, its owner and mode), so it is checked first.
        let holding: Vec<Arc<RequiredDir>> = in_scope
            .iter()
            .filter(|r| from_lines.iter().any(|l| l.path.starts_with(&r.path)))
            .cloned()
            .collect();
        if !holding.is_empty() {
            if let cause @ Cause::Required { .. } =
                diagnose_bounded(&holding, None, status, id, wait)
            {
                return (cause, Some(holding));
            }
        }
        let cause = diagnose_bounded(&from_lines, None, status, id, wait);
        if matches!(cause, Cause::Required { .. }) {
            log::debug!("a path named by this request's error lines is confirmed by its check");
            return (cause, Some(from_lines));
        }
        log::debug!("the paths this request's error lines name pass their checks: not a cause");
    }
    if let Some(other) = seen.iter().find_map(|s| match &s.clue {
        super::clues::Clue::Other { tag, summary } => Some(Cause::OtherLine {
            tag: if tag.is_empty() {
                s.tag.clone()
            } else {
                tag.clone()
            },
            module: s.module.clone(),
            summary: summary.clone(),
        }),
        _ => None,
    }) {
        return (other, None);
    }
    let file = filename.filter(|_| handler_serves_file);
    (diagnose_bounded(in_scope, file, status, id, wait), None)
}

/// The request path's diagnosis: never waits on a filesystem that does not answer. A required
/// directory or a requested file on a filesystem already known to be stalled is not touched
/// (its cause is that); the rest is checked fresh on a worker for at most `wait`.
pub fn diagnose_bounded(
    in_scope: &[Arc<RequiredDir>],
    filename: Option<&Path>,
    status: i32,
    id: &Identity,
    wait: Duration,
) -> Cause {
    let stalls = bounded::stalls();
    let file = filename.filter(|f| f.is_absolute()).map(Path::to_path_buf);
    let client_error = (400..500).contains(&status);
    log::debug!(
        "status {status}, requested file {}; {} required director{} in scope{}; {}",
        Lazy(|f| match &file {
            Some(file) => write!(f, "{}", quoted(file)),
            None => f.write_str("none"),
        }),
        in_scope.len(),
        if in_scope.len() == 1 { "y" } else { "ies" },
        Lazy(|f| {
            for (n, dir) in in_scope.iter().enumerate() {
                write!(
                    f,
                    "{}{}",
                    if n == 0 { ": " } else { ", " },
                    quoted(&dir.path)
                )?;
            }
            Ok(())
        }),
        if client_error {
            "a client error: the requested file's path first, unless it lies in a failing required directory"
        } else {
            "a server error: the required directories first, then the requested file's path"
        }
    );
    // A stalled required directory is failing without another call: for a server error it is
    // the probable cause; for a client error when the requested file lies inside it.
    for (i, dir) in in_scope.iter().enumerate() {
        if let Some(stall) = stalls.covering(&dir.path) {
            let about_file = file.as_ref().is_some_and(|f| f.starts_with(&dir.path));
            log::debug!(
                "{}: its filesystem does not answer ({} of {} still pending): {}",
                quoted(&dir.path),
                stall.call,
                quoted(&stall.path),
                if !client_error || about_file {
                    "the cause, taken from the stall without a check"
                } else {
                    "not the cause of a client error about a file outside it"
                }
            );
            if !client_error || about_file {
                return Cause::Required {
                    dir: i,
                    fault: Fault::NotAnswering { stall },
                };
            }
        }
    }
    let checkable: Vec<usize> = (0..in_scope.len())
        .filter(|&i| stalls.covering(&in_scope[i].path).is_none())
        .collect();
    let file_stall = file.as_ref().and_then(|f| stalls.covering(f));
    let job_dirs: Vec<Arc<RequiredDir>> = checkable.iter().map(|&i| in_scope[i].clone()).collect();
    let job_file = if file_stall.is_some() {
        None
    } else {
        file.clone()
    };
    let job_id = id.clone();
    let lead = job_dirs
        .first()
        .map(|d| d.path.clone())
        .or_else(|| job_file.clone())
        .unwrap_or_default();
    log::debug!(
        "checking {} of {} required directories{} fresh, for at most {}{}",
        checkable.len(),
        in_scope.len(),
        if job_file.is_some() {
            " and the requested file's path"
        } else {
            ""
        },
        Millis(wait),
        if file_stall.is_some() {
            "; the requested file's filesystem does not answer"
        } else {
            ""
        }
    );
    let result = bounded::run_one(lead, wait, stalls, move |progress| {
        let refs: Vec<&RequiredDir> = job_dirs.iter().map(Arc::as_ref).collect();
        diagnose_with(&refs, job_file.as_deref(), status, &job_id, Some(progress))
    });
    log::debug!(
        "{}",
        Lazy(|f| {
            match &result {
            Ok(Some(Cause::Nothing)) if file_stall.is_some() => f.write_str(
                "the fresh check found nothing; the cause is the requested file's filesystem, which does not answer"
            ),
            Ok(Some(cause)) => {
                let refs: Vec<&RequiredDir> =
                    checkable.iter().map(|&i| in_scope[i].as_ref()).collect();
                write!(
                    f,
                    "cause chosen by the fresh check: {} ({})",
                    super::text::escape_log(cause.note(&refs).as_bytes()),
                    match cause {
                        Cause::Required { .. } => "a failing required directory in scope, the first in configuration order",
                        Cause::Nothing => "nothing fails in scope or on the requested file's path",
                        _ => "found on the requested file's path",
                    }
                )
            }
            Ok(None) => f.write_str("the fresh check panicked (DG00002 says where): no cause from it"),
            Err(stall) => write!(
                f,
                "the fresh check did not return within {}: {} of {} does not answer, which is the cause",
                Millis(wait),
                stall.call,
                quoted(&stall.path)
            ),
        }
        })
    );
    match result {
        // Indices of the fresh check are into `checkable`.
        Ok(Some(Cause::Required { dir, fault })) => Cause::Required {
            dir: checkable[dir],
            fault,
        },
        Ok(Some(Cause::Nothing)) | Ok(None) => match (file_stall, file) {
            (Some(stall), Some(file)) => Cause::FileNotAnswering { file, stall },
            _ => Cause::Nothing,
        },
        Ok(Some(cause)) => cause,
        Err(stall) => {
            let stall = *stall;
            match in_scope.iter().position(|d| {
                stall.covers(&d.path)
                    || d.path.starts_with(&stall.path)
                    || stall.path.starts_with(&d.path)
            }) {
                Some(dir) => Cause::Required {
                    dir,
                    fault: Fault::NotAnswering { stall },
                },
                None => Cause::FileNotAnswering {
                    file: file.unwrap_or_else(|| stall.path.clone()),
                    stall,
                },
            }
        }
    }
}

/// Finds the probable cause: a fresh check of the in-scope required directories, then the path
/// of the requested file.
pub fn diagnose(
    in_scope: &[&RequiredDir],
    filename: Option<&Path>,
    status: i32,
    id: &Identity,
) -> Cause {
    diagnose_with(in_scope, filename, status, id, None)
}

fn diagnose_with(
    in_scope: &[&RequiredDir],
    filename: Option<&Path>,
    status: i32,
    id: &Identity,
    progress: Option<&Progress>,
) -> Cause {
    let mut evaluator = Evaluator::new(id);
    if let Some(p) = progress {
        evaluator = evaluator.with_progress(p);
    }
    let file = filename.filter(|f| f.is_absolute());
    // Which comes first: for a client error (4xx) about the requested file, the file's own path
    // (a 404 for a file that does not exist is about that file, not about an unrelated failing
    // directory), unless the file lies inside a failing required directory; for a server error
    // (5xx) the application may have failed on any required directory, so those first.
    let contains_file = |d: &RequiredDir| file.is_some_and(|f| f.starts_with(&d.path));
    let failing = |evaluator: &mut Evaluator, only_containing: bool| {
        in_scope.iter().enumerate().find_map(|(i, dir)| {
            if only_containing && !contains_file(dir) {
                return None;
            }
            // A requirement of an application with its own identity is checked for it.
            let dir_id = dir.checked_for(id);
            let fault = if dir_id.same_credentials(id) {
                evaluator.evaluate(dir).into_iter().next()?
            } else {
                let mut own = Evaluator::new(dir_id);
                if let Some(p) = progress {
                    own = own.with_progress(p);
                }
                own.evaluate(dir).into_iter().next()?
            };
            Some(Cause::Required { dir: i, fault })
        })
    };
    if !(400..500).contains(&status) {
        if let Some(cause) = failing(&mut evaluator, false) {
            return cause;
        }
        return file.map_or(Cause::Nothing, |f| diagnose_file(&mut evaluator, f, id));
    }
    if let Some(cause) = failing(&mut evaluator, true) {
        return cause;
    }
    match file.map(|f| diagnose_file(&mut evaluator, f, id)) {
        Some(Cause::Nothing) | None => failing(&mut evaluator, false).unwrap_or(Cause::Nothing),
        Some(cause) => cause,
    }
}

/// The cause found on the requested file's own path: a component the user cannot enter, a
/// missing component, or the file itself unreadable.
fn diagnose_file(evaluator: &mut Evaluator, file: &Path, id: &Identity) -> Cause {
    // Apache's walk leaves r->filename at the directory it could not enter ("…/private/"):
    // normalise it so that directory is named as such.
    let file: PathBuf = file.components().collect();
    let file = file.as_path();
    if let Some(fault) = evaluator.blocked_ancestor(file, false) {
        return Cause::BlockedComponent {
            fault,
            file: file.to_path_buf(),
        };
    }
    evaluator.enter("stat", file);
    let md = match std::fs::metadata(file) {
        Ok(md) => md,
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR)) => {
            return Cause::MissingComponent {
                component: evaluator.first_missing(file),
                file: file.to_path_buf(),
            }
        }
        Err(_) => return Cause::Nothing,
    };
    let own = Ownership {
        uid: md.uid(),
        gid: md.gid(),
        mode: md.mode() & 0o7777,
    };
    let acl = evaluator.acl(file, &md);
    if md.is_dir() {
        // A directory must first be entered (x) to serve anything below it; listing (r) second.
        let verdict = permission::check(id, &own, acl.as_ref(), X);
        if !verdict.allowed {
            let fault = Fault::AncestorBlocked {
                ancestor: file.to_path_buf(),
                own,
                has_acl: acl.is_some(),
                named: acl.as_ref().and_then(|a| a.named_user(id.uid)),
                verdict,
            };
            return Cause::BlockedComponent {
                fault,
                file: file.to_path_buf(),
            };
        }
    }
    let wanted = if md.is_dir() { R | X } else { R };
    let verdict = permission::check(id, &own, acl.as_ref(), wanted);
    if !verdict.allowed {
        return Cause::Unreadable {
            file: file.to_path_buf(),
            own,
            has_acl: acl.is_some(),
            named: acl.as_ref().and_then(|a| a.named_user(id.uid)),
            verdict,
            wanted,
            kind: file_kind(&md),
        };
    }
    Cause::Nothing
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_failing_writable_directory_gates_only_the_methods_that_write() {
        use crate::core::spec::Access;
        for m in ["POST", "PUT", "PATCH", "DELETE", "MKCOL", "MOVE", "get"] {
            assert!(gates(Access::ReadWrite, m.as_bytes(), None), "{m}");
        }
        for m in DEFAULT_SAFE_METHODS {
            assert!(!gates(Access::ReadWrite, m.as_bytes(), None), "{m}");
            assert!(gates(Access::Read, m.as_bytes(), None), "{m}");
            assert!(gates(Access::None, m.as_bytes(), None), "{m}");
        }
        let only_get = SafeMethods::parse(&["GET", "GET"]).unwrap();
        assert!(!gates(Access::ReadWrite, b"GET", Some(&only_get)));
        assert!(gates(Access::ReadWrite, b"HEAD", Some(&only_get)));
        let none = SafeMethods::parse(&["none"]).unwrap();
        assert!(gates(Access::ReadWrite, b"GET", Some(&none)));
        assert!(SafeMethods::parse(&[]).is_err());
        let bad = SafeMethods::parse(&["GET", "PO ST"]).unwrap_err();
        assert!(bad.contains("'PO ST' is not an HTTP method name"), "{bad}");
        assert!(SafeMethods::parse(&["none", "GET"]).is_err());
    }

    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn explain_sets_parse_classes_and_single_statuses() {
        let set = ExplainSet::parse(&["5xx", "403", "404"]).unwrap();
        assert!(set.contains(500) && set.contains(599) && set.contains(403) && set.contains(404));
        assert!(
            !set.contains(200) && !set.contains(401) && !set.contains(-1) && !set.contains(1000)
        );
        assert!(ExplainSet::default().contains(503) && !ExplainSet::default().contains(404));
        for status in [-1, 0, 200, 404, 499, 500, 503, 599, 600, 1000] {
            assert_eq!(
                ExplainSet::default_contains(status),
                ExplainSet::default().contains(status),
                "{status}"
            );
        }
        assert!(!ExplainSet::parse(&["off"]).unwrap().contains(500));
        for bad in [&["6xx"][..], &["200"], &["off", "5xx"], &["40"], &[]] {
            assert!(ExplainSet::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn on_failure_and_retry_after_parse_strictly() {
        assert_eq!(OnFailure::parse("503").unwrap(), OnFailure::Unavailable);
        assert_eq!(OnFailure::parse("Continue").unwrap(), OnFailure::Continue);
        assert!(OnFailure::parse("502").is_err());
        assert_eq!(parse_retry_after("30").unwrap(), 30);
        assert!(parse_retry_after("0").is_err() && parse_retry_after("+5").is_err());
    }

    #[test]
    fn a_failing_required_directory_comes_first() {
        let base = std::env::temp_dir().join(format!("dirguard-explain-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(&base).unwrap();
        let d = RequiredDir::new(
            base.join("uploads"),
            Access::ReadWrite,
            Origin {
                file: "e.conf".into(),
                line: 4,
            },
        );
        let id = Identity::current_process();
        let cause = diagnose(&[&d], Some(&base.join("cgi/upload.cgi")), 500, &id);
        assert!(
            matches!(
                cause,
                Cause::Required {
                    dir: 0,
                    fault: Fault::Missing { .. }
                }
            ),
            "{cause:?}"
        );
        let text = cause.render(&[&d], &id);
        assert!(
            text.starts_with("probable cause: required directory")
                && text.contains("declared at e.conf:4"),
            "{text}"
        );
        assert_eq!(
            cause.note(&[&d]),
            format!("missing:{}", base.join("uploads").display())
        );
        // A 404 for a file outside the failing directory is about that file; one inside it is
        // about the directory.
        let cause = diagnose(&[&d], Some(&base.join("cgi/upload.cgi")), 404, &id);
        assert!(
            matches!(&cause, Cause::MissingComponent { component, .. } if component == &base.join("cgi")),
            "{cause:?}"
        );
        let cause = diagnose(&[&d], Some(&base.join("uploads/a.jpg")), 404, &id);
        assert!(matches!(cause, Cause::Required { dir: 0, .. }), "{cause:?}");
        // A 4xx with nothing wrong on the file's path still names a failing directory in scope.
        let cause = diagnose(&[&d], Some(&base), 403, &id);
        assert!(matches!(cause, Cause::Required { dir: 0, .. }), "{cause:?}");
        // Without required directories, the file's path is walked.
        let cause = diagnose(&[], Some(&base.join("cgi/upload.cgi")), 500, &id);
        assert_eq!(
            cause,
            Cause::MissingComponent {
                component: base.join("cgi"),
                file: base.join("cgi/upload.cgi")
            }
        );
    }

    #[test]
    fn an_unreadable_file_is_named_with_owner_and_mode() {
        let base =
            std::env::temp_dir().join(format!("dirguard-explain-file-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(&base).unwrap();
        std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o755)).unwrap();
        let f = base.join("secret.php");
        std::fs::write(&f, b"<?php").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
        let me = Identity::current_process();
        if me.uid == 33 {
            return;
        }
        // www-data is not the owner (the test runs as someone else).
        let cause = diagnose(&[], Some(&f), 403, &Identity::www_data());
        let Cause::Unreadable { .. } = &cause else {
            panic!("{cause:?}")
        };
        let text = cause.render(&[], &Identity::www_data());
        assert!(
            text.contains("cannot be read by User www-data")
                && text.ends_with(&format!("fix: chmod o+r '{}'", f.display())),
            "{text}"
        );
        assert_eq!(cause.label(), CauseLabel::Kind(FaultKind::AccessDenied));
    }

    /// The `fix:` of an explanation is a command Apache's log escaping leaves unchanged.
    #[test]
    fn fixes_for_missing_components_survive_the_error_log() {
        let www = Identity::www_data();
        let quoted = Cause::MissingComponent {
            component: "/srv/it's".into(),
            file: "/srv/it's/a.php".into(),
        };
        assert!(
            quoted
                .render(&[], &www)
                .ends_with("fix: install -d -m 0755 '/srv/it'\"'\"'s'"),
            "{}",
            quoted.render(&[], &www)
        );
        let newline = Cause::MissingComponent {
            component: "/srv/new\nline".into(),
            file: "/srv/new\nline/a.php".into(),
        };
        let text = newline.render(&[], &www);
        assert!(
            text.ends_with(
                "fix: echo L3Nydi9uZXcKbGluZQA= | base64 -d | xargs -0 install -d -m 0755"
            ),
            "{text}"
        );
    }

    #[test]
    fn nothing_found_is_said_plainly() {
        let id = Identity::current_process();
        let cause = diagnose(&[], Some(Path::new("/")), 500, &id);
        assert_eq!(cause, Cause::Nothing);
        assert!(cause
            .render(&[], &id)
            .starts_with("no filesystem cause found"));
        assert_eq!(cause.tag(), messages::EXPLAIN_NO_CAUSE);
    }

    #[test]
    fn storm_keys_separate_causes_by_kind_and_path() {
        let a = RequiredDir::new("/a", Access::Read, Origin::default());
        let b = RequiredDir::new("/b", Access::Read, Origin::default());
        let missing = Fault::Missing {
            first_missing: "/a".into(),
            errno: 2,
        };
        let ka = Cause::Required {
            dir: 0,
            fault: missing.clone(),
        }
        .key(&[&a, &b]);
        let kb = Cause::Required {
            dir: 1,
            fault: missing,
        }
        .key(&[&a, &b]);
        assert_ne!(ka, kb);
        assert_ne!(ka, 0);
    }

    /// One key function serves explanations and 503 answers: the same cause of the same line is
    /// one key; another line, kind or path is another.
    #[test]
    fn one_storm_key_for_every_line_by_line_kind_and_path() {
        let d = RequiredDir::new("/srv/up", Access::Read, Origin::default());
        let missing = Cause::Required {
            dir: 0,
            fault: Fault::Missing {
                first_missing: "/srv/up".into(),
                errno: 2,
            },
        };
        let label = CauseLabel::Kind(FaultKind::Missing);
        let up = Path::new("/srv/up");
        assert_eq!(
            missing.key(&[&d]),
            storm_key(messages::EXPLAIN_CAUSE, label, up)
        );
        let answer = storm_key(messages::EXPLAIN_UNAVAILABLE, label, up);
        assert_ne!(answer, missing.key(&[&d]));
        assert_ne!(
            answer,
            storm_key(
                messages::EXPLAIN_UNAVAILABLE,
                CauseLabel::Kind(FaultKind::Mode),
                up
            )
        );
        assert_ne!(
            answer,
            storm_key(messages::EXPLAIN_UNAVAILABLE, label, Path::new("/srv/u"))
        );
        assert_ne!(
            storm_key(messages::EXPLAIN_CAUSE, CauseLabel::Nothing, Path::new("")),
            0
        );
    }

    #[test]
    fn a_503_without_a_configured_retry_after_says_30_seconds() {
        assert_eq!(retry_after_s(None), 30);
        assert_eq!(retry_after_s(Some(120)), 120);
    }
}
