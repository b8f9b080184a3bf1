//! The startup self-check as a report: repair first (when enabled), then the audit, as the lines
//! an administrator reads, and whether they refuse the start. Which sink the lines go to, and
//! when in Apache's lifecycle, is the glue's call.

use super::audit::Audit;
use super::bounded;
use super::evaluator::AclCache;
use super::fault::errno_text;
use super::identity::{group_name_of, user_name_of, Identity};
use super::isolate::{self, Forked, Reader, Writer};
use super::messages::{self, Severity, Tag};
use super::monitor::Seed;
use super::repair::{self, Action, Policy, Refusal, Stop};
use super::settings::{RepairMode, StartupMode};
use super::shared::{DirRecord, Health};
use super::spec::RequiredDir;
use super::text::quote_path;
use std::sync::Arc;
use std::time::Duration;

pub use super::messages::Line;

#[derive(Clone, Debug)]
pub struct Report {
    pub lines: Vec<Line>,
    pub audit: Audit,
    pub repairs: usize,
    /// `DirGuardStartup fail` and something fails: the last line says Apache will not start.
    pub refused: bool,
}

/// DG00005: Apache was not started as root, so the check runs as the running user.
pub fn unprivileged_line(id: &Identity) -> Line {
    Line {
        severity: Severity::Notice,
        tag: messages::UNPRIVILEGED,
        text: format!(
            "Apache runs unprivileged (not started as root, no User switch): directories are checked for the running {}; \
             what lies below a directory this user cannot enter cannot be checked (that directory is reported instead), \
             and repair cannot give a directory to another owner or group",
            id.describe()
        ),
    }
}

/// What is said about the configured User the check runs as: DG00006 when it is not a valid
/// one (uid -1), then DG00004 (debug) with its groups.
pub fn server_user_lines(id: &Identity) -> Vec<Line> {
    let mut lines = Vec::new();
    if id.uid == u32::MAX {
        lines.push(Line {
            severity: Severity::Warning,
            tag: messages::IDENTITY_UNKNOWN,
            text: "no valid User is configured (uid -1); directories are checked for uid -1, which the children cannot run as".to_owned(),
        });
    }
    lines.push(Line {
        severity: Severity::Debug,
        tag: messages::IDENTITY,
        text: format!("checking as {} with groups {:?}", id.describe(), id.groups),
    });
    lines
}

/// What the summary adds when some requirements were checked for their application's own
/// identity (`core::wiring`, DG00008 names them).
fn own_identities(dirs: &[Arc<RequiredDir>], server: &Identity) -> String {
    let mut users: Vec<&str> = Vec::new();
    let (mut n, mut root) = (0, 0);
    for d in dirs {
        let id = d.checked_for(server);
        if id.same_credentials(server) {
            continue;
        }
        if d.who.get().is_some_and(|w| w.uid == 0) {
            root += 1; // the log, pid and lock directories Apache's parent opens as root
            continue;
        }
        n += 1;
        if !users.contains(&id.user.as_str()) {
            users.push(&id.user);
        }
    }
    let mut parts = Vec::new();
    if n > 0 {
        parts.push(format!(
            "{n} of them for the application's own user: {}",
            super::text::escape_log(users.join(", ").as_bytes())
        ));
    }
    if root > 0 {
        parts.push(format!("{root} for root, which opens them"));
    }
    if parts.is_empty() {
        return String::new();
    }
    format!(" ({})", parts.join("; "))
}

/// DG01121: `DirGuardStartup fail` refuses the start.
fn refusal_line(audit: &Audit) -> Line {
    let failing = audit.failing();
    Line {
        severity: Severity::Emerg,
        tag: messages::STARTUP_REFUSED,
        text: format!(
            "DirGuardStartup fail: refusing to start, {failing} required director{} failing (see the lines above)",
            if failing == 1 { "y is" } else { "ies are" }
        ),
    }
}

/// The startup check as configured: None when it is off or nothing is declared (the module may
/// be enabled before any site uses it); otherwise the report, ending with the refusal when
/// `mode` refuses what the audit found.
pub fn check(
    mode: StartupMode,
    repair: RepairMode,
    dirs: &[Arc<RequiredDir>],
    id: &Identity,
    dry_run: bool,
    deadline: Duration,
) -> Option<Report> {
    if mode == StartupMode::Off || dirs.is_empty() {
        return None;
    }
    let mut report = run(dirs, id, repair.policy(), dry_run, deadline);
    if mode.refuses(&report.audit) {
        report.lines.push(refusal_line(&report.audit));
        report.refused = true;
    }
    Some(report)
}

/// What the startup check hands to Apache's parent: the lines to log, whether to refuse the
/// start, and the seed of the live monitor's shared state. It crosses a pipe from the process that
/// made the check (`check_isolated`), hence the encoding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub lines: Vec<Line>,
    pub refused: bool,
    /// None when the check did not finish (`STARTUP_LOST`): the directories stay unknown until
    /// the first live audit.
    pub seed: Option<Seed>,
}

impl Outcome {
    fn of(report: Report, dirs: &[Arc<RequiredDir>], id: &Identity) -> Outcome {
        let seed = Seed::of(dirs, id, &report.audit, report.repairs);
        Outcome {
            lines: report.lines,
            refused: report.refused,
            seed: Some(seed),
        }
    }

    fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.u64(u64::from(self.refused)).u64(self.lines.len() as u64);
        for l in &self.lines {
            w.u64(l.severity as u64)
                .u64(u64::from(l.tag.0))
                .bytes(l.text.as_bytes());
        }
        let none = u64::MAX;
        match &self.seed {
            None => {
                w.u64(none);
            }
            Some(seed) => {
                w.u64(seed.records.len() as u64)
                    .u64(seed.repairs as u64)
                    .u64(seed.elapsed.as_micros() as u64);
                for r in &seed.records {
                    w.u64(r.health as u64)
                        .u64(u64::from(r.kinds))
                        .u64(u64::from(r.fault_count))
                        .u64(r.since_unix_s)
                        .u64(r.free_bytes.unwrap_or(none))
                        .u64(r.free_inodes.unwrap_or(none))
                        .bytes(r.what.as_bytes())
                        .bytes(r.fix.as_bytes());
                }
            }
        }
        w.0
    }

    fn decode(bytes: &[u8]) -> Option<Outcome> {
        let mut r = Reader(bytes);
        let refused = r.u64()? != 0;
        let n = r.u64()?;
        let mut lines = Vec::new();
        for _ in 0..n {
            lines.push(Line {
                severity: Severity::from_u8(u8::try_from(r.u64()?).ok()?),
                tag: Tag(u32::try_from(r.u64()?).ok()?),
                text: r.string()?,
            });
        }
        let none = u64::MAX;
        let count = r.u64()?;
        let seed = if count == none {
            None
        } else {
            let repairs = usize::try_from(r.u64()?).ok()?;
            let elapsed = Duration::from_micros(r.u64()?);
            let mut records = Vec::new();
            for _ in 0..count {
                let opt = |v: u64| (v != none).then_some(v);
                records.push(DirRecord {
                    health: Health::from_u8(u8::try_from(r.u64()?).ok()?),
                    kinds: u16::try_from(r.u64()?).ok()?,
                    fault_count: u16::try_from(r.u64()?).ok()?,
                    since_unix_s: r.u64()?,
                    free_bytes: opt(r.u64()?),
                    free_inodes: opt(r.u64()?),
                    what: r.string()?,
                    fix: r.string()?,
                });
            }
            Some(Seed {
                records,
                repairs,
                elapsed,
            })
        };
        r.0.is_empty().then_some(Outcome {
            lines,
            refused,
            seed,
        })
    }
}

/// `check` in a forked process (`core::isolate`), so that the calling process (Apache's parent,
/// which prefork's children are forked from) creates no thread and never makes a filesystem call
/// that may not return. Waits at most for every directory's deadline plus a margin; the pid of
/// a checking process that had not exited yet is returned for the caller's MPM to reap.
pub fn check_isolated(
    mode: StartupMode,
    repair: RepairMode,
    dirs: &[Arc<RequiredDir>],
    id: &Identity,
    dry_run: bool,
    deadline: Duration,
) -> Option<(Outcome, Option<i32>)> {
    if mode == StartupMode::Off || dirs.is_empty() {
        return None;
    }
    // Every directory may wait a deadline in the audit, and with repair on in repair too.
    let rounds = if repair.policy().is_some() { 2 } else { 1 };
    let limit = deadline
        .saturating_mul(
            u32::try_from(dirs.len())
                .unwrap_or(u32::MAX)
                .saturating_mul(rounds)
                .saturating_add(1),
        )
        .min(Duration::from_secs(600))
        + Duration::from_secs(10);
    let forked = isolate::run(limit, || {
        check(mode, repair, dirs, id, dry_run, deadline)
            .map(|report| Outcome::of(report, dirs, id).encode())
            .unwrap_or_default()
    });
    match forked {
        Forked::Done { bytes, pid } => {
            let outcome = Outcome::decode(&bytes).unwrap_or_else(|| lost("its answer was garbled"));
            Some((outcome, pid))
        }
        Forked::Lost { why, pid } => Some((lost(&why), pid)),
        // No process could be made: check here, on threads, rather than not at all.
        Forked::Failed(_) => check(mode, repair, dirs, id, dry_run, deadline)
            .map(|report| (Outcome::of(report, dirs, id), None)),
    }
}

/// DG01122: the checking process gave no usable answer.
fn lost(why: &str) -> Outcome {
    Outcome {
        lines: vec![Line {
            severity: Severity::Error,
            tag: messages::STARTUP_LOST,
            text: format!(
                "the startup check did not finish ({why}); the required directories are unknown until the first live audit"
            ),
        }],
        refused: false,
        seed: None,
    }
}

fn owner_group(uid: u32, gid: u32) -> String {
    format!(
        "{}:{}",
        user_name_of(uid).unwrap_or_else(|| format!("#{uid}")),
        group_name_of(gid).unwrap_or_else(|| format!("#{gid}"))
    )
}

fn action_line(a: &Action, dir: &RequiredDir, dry_run: bool) -> Line {
    let (tag, text) = match a {
        Action::CreatedParent { path } => (
            messages::REPAIR_CREATED,
            format!(
                "created missing parent {} (before: absent; after: root:root 0755)",
                quote_path(path.as_os_str())
            ),
        ),
        Action::Created {
            path,
            uid,
            gid,
            mode,
        } => (
            messages::REPAIR_CREATED,
            format!(
                "created required directory {} (before: absent; after: {} {:04o})",
                quote_path(path.as_os_str()),
                owner_group(*uid, *gid),
                mode
            ),
        ),
        Action::Chowned {
            path,
            before,
            after,
        } => (
            messages::REPAIR_OWNERSHIP,
            format!(
                "changed owner of {} (before: {}; after: {})",
                quote_path(path.as_os_str()),
                owner_group(before.0, before.1),
                owner_group(after.0, after.1)
            ),
        ),
        Action::Chmodded {
            path,
            before,
            after,
        } => (
            messages::REPAIR_MODE,
            format!(
                "changed mode of {} (before: {before:04o}; after: {after:04o})",
                quote_path(path.as_os_str())
            ),
        ),
    };
    if dry_run {
        Line {
            severity: Severity::Notice,
            tag: messages::REPAIR_WOULD,
            text: format!(
                "configtest: repair would have {}; {}",
                text,
                dir.provenance()
            ),
        }
    } else {
        Line {
            severity: Severity::Notice,
            tag,
            text: format!("{text}; {}", dir.provenance()),
        }
    }
}

fn stop_line(stop: &Stop, dir: &RequiredDir) -> Line {
    match stop {
        Stop::Refused(r) => {
            let why = match r {
                Refusal::FinalSymlink { path } => format!(
                    "{} is a symbolic link; repair never acts through one",
                    quote_path(path.as_os_str())
                ),
                Refusal::UnsafeTransition { from, from_uid, next, next_uid } => format!(
                    "unsafe path transition from {} (owned by {}) to {} (owned by {}); a user-owned path could redirect root",
                    quote_path(from.as_os_str()),
                    user_name_of(*from_uid).unwrap_or_else(|| format!("#{from_uid}")),
                    quote_path(next.as_os_str()),
                    user_name_of(*next_uid).unwrap_or_else(|| format!("#{next_uid}"))
                ),
                Refusal::NotADirectory { path } => format!(
                    "{} is not a directory; repair never removes files",
                    quote_path(path.as_os_str())
                ),
                Refusal::TooManySymlinks { path } => format!(
                    "too many symbolic links at {}",
                    quote_path(path.as_os_str())
                ),
            };
            Line {
                severity: Severity::Warning,
                tag: messages::REPAIR_REFUSED,
                text: format!(
                    "repair of {} refused: {why}; {}",
                    quote_path(dir.path.as_os_str()),
                    dir.provenance()
                ),
            }
        }
        Stop::Failed { call, path, errno } => Line {
            severity: Severity::Error,
            tag: messages::REPAIR_FAILED,
            text: format!(
                "repair of {} failed: {call}({}): {}; {}",
                quote_path(dir.path.as_os_str()),
                quote_path(path.as_os_str()),
                errno_text(*errno),
                dir.provenance()
            ),
        },
    }
}

/// Runs repair (if `policy` is set) and the audit over `dirs` for `id`, each directory's
/// filesystem calls bounded by `deadline` (`core::bounded`): a filesystem that does not answer
/// delays the report by one deadline and is reported, never waited for. With `dry_run`
/// (configtest) nothing is changed and the lines say what repair would do.
pub fn run(
    dirs: &[Arc<RequiredDir>],
    id: &Identity,
    policy: Option<Policy>,
    dry_run: bool,
    deadline: Duration,
) -> Report {
    let mut lines = Vec::new();
    let mut repairs = 0;
    if let Some(policy) = policy {
        for dir in dirs {
            if bounded::stalls().covering(&dir.path).is_some() {
                continue; // the audit below reports it as not answering
            }
            let (job_dir, job_id) = (dir.clone(), id.clone());
            let out = bounded::run_one(dir.path.clone(), deadline, bounded::stalls(), move |_| {
                repair::repair(&job_dir, &job_id, policy, dry_run)
            });
            let out = match out {
                Ok(Some(out)) => out,
                Ok(None) => continue, // panicked: DG00002 says where; the audit still runs
                Err(stall) => {
                    lines.push(Line {
                        severity: Severity::Error,
                        tag: messages::REPAIR_FAILED,
                        text: format!(
                            "repair of {} did not finish: its filesystem does not answer (no answer within {:.1} s); {}",
                            quote_path(dir.path.as_os_str()),
                            stall.waited.as_secs_f64(),
                            dir.provenance()
                        ),
                    });
                    continue;
                }
            };
            if !dry_run {
                repairs += out.actions.len();
            }
            lines.extend(out.actions.iter().map(|a| action_line(a, dir, dry_run)));
            lines.extend(out.stop.iter().map(|s| stop_line(s, dir)));
        }
    }
    let (audit, _) = Audit::run_bounded(dirs, id, deadline, AclCache::default());
    for finding in &audit.findings {
        let dir = &dirs[finding.index];
        lines.push(Line {
            severity: Severity::Error,
            tag: finding.fault.tag(),
            text: finding.fault.render(dir, id),
        });
    }
    lines.push(Line {
        severity: Severity::Notice,
        tag: messages::STARTUP_SUMMARY,
        text: audit.summary(id) + &own_identities(dirs, id),
    });
    Report {
        lines,
        audit,
        repairs,
        refused: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::spec::{Access, Origin};
    use std::path::PathBuf;

    #[test]
    fn repair_runs_before_the_audit_so_the_audit_sees_the_result() {
        let base = std::env::temp_dir().join(format!("dirguard-startup-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(&base).unwrap();
        let id = Identity::current_process();
        let origin = Origin {
            file: "t.conf".into(),
            line: 3,
        };
        let dir = Arc::new(RequiredDir::new(
            base.join("uploads"),
            Access::ReadWrite,
            origin,
        ));
        let dirs = [dir.clone()];
        let t = Duration::from_secs(5);
        let dry = run(&dirs, &id, Some(Policy::Create), true, t);
        assert_eq!(dry.audit.findings.len(), 1);
        assert_eq!(dry.lines[0].tag, messages::REPAIR_WOULD);
        assert!(dry.lines[0].text.contains("declared at t.conf:3"));

        let real = run(&dirs, &id, Some(Policy::Create), false, t);
        assert!(real.audit.is_clean(), "{:?}", real.lines);
        assert_eq!(real.repairs, 1);
        assert_eq!(real.lines[0].tag, messages::REPAIR_CREATED);
        assert_eq!(real.lines.last().unwrap().tag, messages::STARTUP_SUMMARY);
        assert!(PathBuf::from(&dir.path).is_dir());
    }

    #[test]
    fn fail_mode_refuses_with_a_last_line_that_counts_the_failing_directories() {
        let base =
            std::env::temp_dir().join(format!("dirguard-startup-fail-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(&base).unwrap();
        let id = Identity::current_process();
        let dirs: Vec<Arc<RequiredDir>> = ["a", "b"]
            .iter()
            .map(|n| {
                Arc::new(RequiredDir::new(
                    base.join(n),
                    Access::ReadWrite,
                    Origin::default(),
                ))
            })
            .collect();
        let t = Duration::from_secs(5);
        let (fail, warn) = (StartupMode::Fail, StartupMode::Warn);
        let refused = check(fail, RepairMode::Off, &dirs, &id, false, t).unwrap();
        assert!(refused.refused);
        let last = refused.lines.last().unwrap();
        assert_eq!(
            (last.severity, last.tag, last.text.as_str()),
            (
                Severity::Emerg,
                messages::STARTUP_REFUSED,
                "DirGuardStartup fail: refusing to start, 2 required directories are failing (see the lines above)"
            )
        );
        let one = check(fail, RepairMode::Off, &dirs[..1], &id, false, t).unwrap();
        assert!(one
            .lines
            .last()
            .unwrap()
            .text
            .contains(", 1 required directory is failing"));
        let warned = check(warn, RepairMode::Off, &dirs, &id, false, t).unwrap();
        assert!(!warned.refused);
        assert_eq!(warned.lines.last().unwrap().tag, messages::STARTUP_SUMMARY);
        // Repair runs first, so what it creates no longer fails.
        let repaired = check(fail, RepairMode::Create, &dirs, &id, false, t).unwrap();
        assert!(
            !repaired.refused && repaired.audit.is_clean(),
            "{:?}",
            repaired.lines
        );
        assert!(check(StartupMode::Off, RepairMode::Off, &dirs, &id, false, t).is_none());
        assert!(check(fail, RepairMode::Off, &[], &id, false, t).is_none());
    }

    #[test]
    fn who_the_check_runs_as_is_said_at_debug_and_an_invalid_user_warned() {
        let www = Identity::www_data();
        let lines = server_user_lines(&www);
        assert_eq!(lines.len(), 1);
        assert_eq!(
            (lines[0].severity, lines[0].tag),
            (Severity::Debug, messages::IDENTITY)
        );
        assert!(
            lines[0]
                .text
                .starts_with("checking as User www-data (uid 33)"),
            "{lines:?}"
        );
        let nobody = Identity {
            uid: u32::MAX,
            ..Identity::www_data()
        };
        let lines = server_user_lines(&nobody);
        assert_eq!(lines[0].tag, messages::IDENTITY_UNKNOWN);
        assert_eq!(lines[1].tag, messages::IDENTITY);
        let note = unprivileged_line(&www);
        assert_eq!(
            (note.severity, note.tag),
            (Severity::Notice, messages::UNPRIVILEGED)
        );
        assert!(note
            .text
            .starts_with("Apache runs unprivileged (not started as root, no User switch): directories are checked for the running User www-data (uid 33)"));
    }

    #[test]
    fn the_check_in_its_own_process_gives_the_same_outcome_as_here() {
        let base =
            std::env::temp_dir().join(format!("dirguard-startup-iso-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(base.join("ok")).unwrap();
        let id = Identity::current_process();
        let origin = Origin {
            file: "t.conf".into(),
            line: 9,
        };
        let dirs = [
            Arc::new(RequiredDir::new(
                base.join("ok"),
                Access::Read,
                origin.clone(),
            )),
            Arc::new(RequiredDir::new(base.join("gone"), Access::Read, origin)),
        ];
        let t = Duration::from_secs(5);
        let (outcome, _) =
            check_isolated(StartupMode::Fail, RepairMode::Off, &dirs, &id, true, t).unwrap();
        let here = check(StartupMode::Fail, RepairMode::Off, &dirs, &id, true, t).unwrap();
        let here = Outcome::of(here, &dirs, &id);
        assert!(outcome.refused);
        let texts = |o: &Outcome| -> Vec<(Tag, String)> {
            // The summary's timing differs between two runs.
            o.lines
                .iter()
                .map(|l| (l.tag, l.text.split(" in ").next().unwrap_or("").to_owned()))
                .collect()
        };
        assert_eq!(texts(&outcome), texts(&here));
        let (a, b) = (outcome.seed.unwrap(), here.seed.unwrap());
        assert_eq!(a.records.len(), 2);
        assert_eq!(
            a.records
                .iter()
                .map(|r| (r.health, r.kinds, &r.what))
                .collect::<Vec<_>>(),
            b.records
                .iter()
                .map(|r| (r.health, r.kinds, &r.what))
                .collect::<Vec<_>>()
        );
        assert_eq!(Outcome::decode(&lost("x").encode()), Some(lost("x")));
        let full = here_encoded(&dirs, &id);
        assert!(
            Outcome::decode(&full[..full.len() - 1]).is_none(),
            "truncation is refused"
        );
    }

    fn here_encoded(dirs: &[Arc<RequiredDir>], id: &Identity) -> Vec<u8> {
        let t = Duration::from_secs(5);
        let report = check(StartupMode::Warn, RepairMode::Off, dirs, id, true, t).unwrap();
        Outcome::of(report, dirs, id).encode()
    }
}
