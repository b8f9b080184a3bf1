//! The startup self-check as a report: repair first (when enabled), then the audit, as the lines
//! an administrator reads, and whether they refuse the start. Which sink the lines go to, and
//! when in Apache's lifecycle, is the glue's call.

use super::audit::Audit;
use super::bounded;
use super::evaluator::AclCache;
use super::fault::errno_text;
use super::identity::{group_name_of, user_name_of, Identity};
use super::messages::{self, Severity};
use super::repair::{self, Action, Policy, Refusal, Stop};
use super::settings::{RepairMode, StartupMode};
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
                "configtest: repair would have {}; declared at {}",
                text, dir.origin
            ),
        }
    } else {
        Line {
            severity: Severity::Notice,
            tag,
            text: format!("{text}; declared at {}", dir.origin),
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
                    "repair of {} refused: {why}; declared at {}",
                    quote_path(dir.path.as_os_str()),
                    dir.origin
                ),
            }
        }
        Stop::Failed { call, path, errno } => Line {
            severity: Severity::Error,
            tag: messages::REPAIR_FAILED,
            text: format!(
                "repair of {} failed: {call}({}): {}; declared at {}",
                quote_path(dir.path.as_os_str()),
                quote_path(path.as_os_str()),
                errno_text(*errno),
                dir.origin
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
                            "repair of {} did not finish: its filesystem does not answer (no answer within {:.1} s); declared at {}",
                            quote_path(dir.path.as_os_str()),
                            stall.waited.as_secs_f64(),
                            dir.origin
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
        text: audit.summary(id),
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
}
