//! Live monitoring: audit, compare with what was last published, publish, and say what changed.
//! Each transition is reported once: FAILING for every fault that is new for a directory,
//! RECOVERED when a failing directory passes again; nothing while a state persists.
//!
//! Every child runs `run_due` on a short tick; a lease in the shared region lets exactly one of
//! them audit per interval. The child that audited last keeps the turn (its caches stay warm);
//! when it is gone another steps in within two ticks, starting from the shared truth, so
//! children coming and going (process reaping under changing load, a crash) never stop the
//! audits or repeat a transition.

use super::audit::Audit;
use super::evaluator::AclCache;
use super::identity::Identity;
use super::messages::{self, Severity};
use super::records::TRACE3;
use super::settings::Interval;
use super::shared::{DirRecord, Health, SharedState, Totals};
use super::spec::RequiredDir;
use super::startup::Line;
use super::text::{format_utc, quote_path};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Mutable state of the auditor, owned by whichever process audits.
struct Auditor {
    /// What this process last published; None until read back from the shared state (the
    /// auditing child may change, and a new one starts from the shared truth).
    published: Option<Vec<DirRecord>>,
    acl_cache: AclCache,
    totals: Totals,
}

pub struct Monitor {
    dirs: Vec<Arc<RequiredDir>>,
    id: Identity,
    shared: SharedState,
    interval: Interval,
    /// How long one directory's check may take before its filesystem counts as not answering
    /// (`DirGuardCheckTimeout`).
    check_timeout: Duration,
    /// Who this monitor audits as in the lease: its process id, or (tests) a chosen one.
    auditor_id: Option<u64>,
    auditor: Mutex<Auditor>,
}

/// What the startup check hands to the live monitor: each directory's record (in the order of
/// the monitor's directories), the repairs made and how long the check took.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seed {
    pub records: Vec<DirRecord>,
    pub repairs: usize,
    pub elapsed: Duration,
}

impl Seed {
    pub fn of(dirs: &[Arc<RequiredDir>], id: &Identity, audit: &Audit, repairs: usize) -> Seed {
        let refs: Vec<&RequiredDir> = dirs.iter().map(Arc::as_ref).collect();
        Seed {
            records: records(&refs, id, audit, &[], unix_now().as_secs()),
            repairs,
            elapsed: audit.elapsed,
        }
    }
}

/// Whether a record says its directory had these faults when last known: failing, or unknown
/// after having been failing.
fn was_failing(r: &DirRecord) -> bool {
    r.health == Health::Failing || (r.health == Health::Unknown && r.kinds != 0)
}

/// How long an auditor holds the lease at most: a child that dies mid-audit delays the next
/// audit by this much (an audit of 10,000 directories takes about 35 ms).
const LEASE_HOLD_MS: u64 = 60_000;

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Why this generation has no live monitoring (DG01304): the shared memory could not be made
/// (`apr_error` is APR's status), or mod_watchdog is missing or refused the callback.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unavailable {
    SharedMemory { bytes: usize, apr_error: i32 },
    NoWatchdog,
    WatchdogRefused { apr_error: i32 },
}

impl Unavailable {
    pub fn line(self) -> Line {
        let text = match self {
            Unavailable::SharedMemory { bytes, apr_error } => format!(
                "cannot create {bytes} bytes of shared memory for the live monitor (apr error {apr_error}); live monitoring and the status page are off"
            ),
            Unavailable::NoWatchdog => "mod_watchdog is not available, so there is no live monitoring (the startup check and the status page still work); load mod_watchdog or set DirGuardInterval 0".to_owned(),
            Unavailable::WatchdogRefused { apr_error } => format!(
                "mod_watchdog refused the live monitor (apr error {apr_error}); no live monitoring"
            ),
        };
        Line {
            severity: Severity::Error,
            tag: messages::MONITOR_UNAVAILABLE,
            text,
        }
    }
}

pub fn unix_now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// The records an audit yields, with the previous records deciding each `since`.
fn records(
    dirs: &[&RequiredDir],
    id: &Identity,
    audit: &Audit,
    prev: &[DirRecord],
    now_s: u64,
) -> Vec<DirRecord> {
    let mut out: Vec<DirRecord> = Vec::with_capacity(dirs.len());
    let mut findings = audit.findings.iter().peekable();
    for (i, dir) in dirs.iter().enumerate() {
        let mut faults = Vec::new();
        while let Some(f) = findings.next_if(|f| f.index == i) {
            faults.push(&f.fault);
        }
        let before = prev.get(i);
        if audit.unknown.contains(&i) {
            // No result (the check panicked): unknown now, remembering what was last known
            // so the transitions stay exact when it is checked again.
            out.push(DirRecord {
                health: Health::Unknown,
                ..before.cloned().unwrap_or_default()
            });
            continue;
        }
        let health = if faults.is_empty() {
            Health::Healthy
        } else {
            Health::Failing
        };
        let since = match before {
            Some(b) if b.health == health => b.since_unix_s,
            Some(b) if health == Health::Failing && was_failing(b) => b.since_unix_s,
            _ => now_s,
        };
        let stats = audit.stats.get(i).copied().flatten();
        out.push(DirRecord {
            health,
            kinds: faults.iter().fold(0, |m, f| m | f.kind().bit()),
            fault_count: faults.len().min(u16::MAX as usize) as u16,
            since_unix_s: since,
            free_bytes: stats.map(|s| s.available_bytes),
            free_inodes: stats.map(|s| s.available_inodes),
            what: faults.first().map(|f| f.what(dir)).unwrap_or_default(),
            fix: faults.first().map(|f| f.fix(dir, id)).unwrap_or_default(),
        });
    }
    out
}

impl Monitor {
    /// Starts from the startup audit (already logged by the startup check), publishing it
    /// without transition lines.
    pub fn new(
        dirs: Vec<Arc<RequiredDir>>,
        id: Identity,
        shared: SharedState,
        interval: Interval,
        check_timeout: Duration,
        startup: Option<Seed>,
    ) -> Monitor {
        for (i, d) in dirs.iter().enumerate() {
            let _ = d.slot.set(i);
        }
        let now = unix_now();
        let mut totals = Totals {
            interval,
            ..Totals::default()
        };
        let mut published = vec![DirRecord::default(); dirs.len()];
        if let Some(seed) = startup.filter(|s| s.records.len() == dirs.len()) {
            published = seed.records;
            totals.audits_total = 1;
            totals.repairs_total = seed.repairs as u64;
            totals.last_audit_unix_us = now.as_micros() as u64;
            totals.last_audit_duration_us = seed.elapsed.as_micros() as u64;
        }
        let all: Vec<(usize, DirRecord)> = published.iter().cloned().enumerate().collect();
        shared.publish(&all, &totals);
        shared.release_audit(millis(now + interval.as_duration()));
        Monitor {
            dirs,
            id,
            shared,
            interval,
            check_timeout,
            auditor_id: None,
            auditor: Mutex::new(Auditor {
                published: None,
                acl_cache: AclCache::default(),
                totals,
            }),
        }
    }

    pub fn shared(&self) -> &SharedState {
        &self.shared
    }

    pub fn dirs(&self) -> &[Arc<RequiredDir>] {
        &self.dirs
    }

    pub fn identity(&self) -> &Identity {
        &self.id
    }

    pub fn check_timeout(&self) -> Duration {
        self.check_timeout
    }

    /// Whether the directories are audited while serving: an interval, and something to audit.
    pub fn is_live(&self) -> bool {
        !self.interval.is_off() && !self.dirs.is_empty()
    }

    /// How often each child asks whether an audit is due (the watchdog's period).
    pub fn tick(&self) -> Duration {
        self.interval.tick()
    }

    /// DG01303: live monitoring runs.
    pub fn started_line(&self) -> Line {
        Line {
            severity: Severity::Info,
            tag: messages::MONITOR_STARTED,
            text: format!(
                "live monitoring of {} required directories every {} s (one audit per interval among the children)",
                self.dirs.len(),
                self.interval.secs()
            ),
        }
    }

    /// How long an auditor holds the lease at most: an audit may wait `DirGuardCheckTimeout` on
    /// every directory (each on a different filesystem that stops answering), so never less
    /// than that, plus a margin; at least `LEASE_HOLD_MS`.
    fn lease_hold_ms(&self) -> u64 {
        let worst = self.check_timeout.saturating_mul(
            u32::try_from(self.dirs.len())
                .unwrap_or(u32::MAX)
                .saturating_add(1),
        );
        millis(worst + Duration::from_secs(10)).max(LEASE_HOLD_MS)
    }

    /// Called by every child on each watchdog tick: audits when the interval has passed and no
    /// other child got there first (the shared lease); otherwise returns at once with nothing.
    pub fn run_due(&self) -> Vec<Line> {
        let start_ms = unix_now().as_millis() as u64;
        // The last auditor gets two ticks to take its turn before another child steps in.
        let grace_ms = 2 * millis(self.interval.tick());
        let me = self
            .auditor_id
            .unwrap_or_else(|| u64::from(std::process::id()));
        let Some(token) = self
            .shared
            .try_lease_audit(start_ms, self.lease_hold_ms(), me, grace_ms)
        else {
            log::trace!(target: TRACE3, "pid {me}: no audit due, or another child holds the lease");
            return Vec::new();
        };
        log::debug!("pid {me}: audit lease taken (token {token})");
        // The lease moves on to the next due time however this audit ends, a panic included.
        // Only while this lease is still the current one: a holder whose audit outlasted the
        // hold must not move its successor's lease.
        struct Release<'a> {
            shared: &'a SharedState,
            token: u64,
            next_ms: u64,
        }
        impl Drop for Release<'_> {
            fn drop(&mut self) {
                let end_ms = unix_now().as_millis() as u64;
                // Keep the cadence from the start of this audit; never schedule in the past.
                self.shared
                    .release_audit_fenced(self.token, self.next_ms.max(end_ms));
            }
        }
        let _release = Release {
            shared: &self.shared,
            token,
            next_ms: start_ms.saturating_add(millis(self.interval.as_duration())),
        };
        self.audit(Some(token))
    }

    /// One audit cycle now, whoever holds the lease (tests): the lines to log.
    pub fn run_once(&self) -> Vec<Line> {
        self.audit(None)
    }

    /// One audit cycle: returns the lines to log (transitions, and a warning when the audit
    /// took longer than the interval). With a lease `token`, publishes only while that lease is
    /// current.
    fn audit(&self, token: Option<u64>) -> Vec<Line> {
        // A panic while the lock was held left the auditor's memory behind; it is still valid
        // (every field is replaced as a whole), and the shared state is the truth anyway.
        let mut auditor = self
            .auditor
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let auditor = &mut *auditor;
        // What this process published last is the previous state only if no other child has
        // audited since; otherwise start from the shared truth.
        let mine = auditor.published.take();
        let current = self.shared.audits_total() == auditor.totals.audits_total;
        log::debug!(
            "audit starts from {}",
            if current && mine.is_some() {
                "this process's last audit"
            } else {
                "the shared state (another child audited since, or this one has not yet)"
            }
        );
        let prev = match mine.filter(|_| current) {
            Some(p) => p,
            None => match self.shared.snapshot() {
                Some((totals, recs)) => {
                    auditor.totals = totals;
                    recs
                }
                None => {
                    log::debug!("audit skipped: the shared state could not be read");
                    return Vec::new();
                }
            },
        };
        let refs: Vec<&RequiredDir> = self.dirs.iter().map(Arc::as_ref).collect();
        let mut cache = std::mem::take(&mut auditor.acl_cache);
        cache.trim(4 * refs.len() + 1024);
        let (audit, cache) = Audit::run_bounded(&self.dirs, &self.id, self.check_timeout, cache);
        auditor.acl_cache = cache;
        let now = unix_now();
        let next = records(&refs, &self.id, &audit, &prev, now.as_secs());

        let mut lines = Vec::new();
        let mut findings = audit.findings.iter().peekable();
        for (i, (before, after)) in prev.iter().zip(&next).enumerate() {
            let dir = refs[i];
            while let Some(f) = findings.next_if(|f| f.index == i) {
                let known = was_failing(before) && before.kinds & f.fault.kind().bit() != 0;
                if !known {
                    lines.push(Line {
                        severity: Severity::Error,
                        tag: messages::MONITOR_FAILING,
                        text: format!("FAILING: {}", f.fault.render(dir, &self.id)),
                    });
                }
            }
            if was_failing(before) && after.health == Health::Healthy {
                lines.push(Line {
                    severity: Severity::Notice,
                    tag: messages::MONITOR_RECOVERED,
                    text: format!(
                        "RECOVERED: required directory {} passes all its checks again (failing since {}, {} s); {}",
                        quote_path(dir.path.as_os_str()),
                        format_utc(before.since_unix_s),
                        now.as_secs().saturating_sub(before.since_unix_s),
                        dir.provenance()
                    ),
                });
            }
        }

        auditor.totals.audits_total += 1;
        auditor.totals.last_audit_unix_us = now.as_micros() as u64;
        auditor.totals.last_audit_duration_us = audit.elapsed.as_micros() as u64;
        let changed: Vec<(usize, DirRecord)> = next
            .iter()
            .enumerate()
            .filter(|(i, r)| prev.get(*i) != Some(r))
            .map(|(i, r)| (i, r.clone()))
            .collect();
        let published = match token {
            Some(t) => self.shared.publish_fenced(t, &changed, &auditor.totals),
            None => {
                self.shared.publish(&changed, &auditor.totals);
                true
            }
        };
        if !published {
            // Another child took the lease while this audit ran (it outlasted the hold): its
            // view stands, this one is dropped, and so are its lines.
            log::debug!(
                "audit result refused as stale: another child took the lease while it ran ({} transition line{} dropped)",
                lines.len(),
                if lines.len() == 1 { "" } else { "s" }
            );
            auditor.published = None;
            return Vec::new();
        }
        log::debug!(
            "audit #{} published: {} of {} records changed, {} transition line{}",
            auditor.totals.audits_total,
            changed.len(),
            next.len(),
            lines.len(),
            if lines.len() == 1 { "" } else { "s" }
        );
        // An audit that waited for a filesystem that does not answer is slow for that reason,
        // already said (DG01113); only a slow audit of answering filesystems is worth this line.
        let stalled = audit
            .findings
            .iter()
            .any(|f| matches!(f.fault, super::fault::Fault::NotAnswering { .. }));
        if !stalled
            && !auditor.totals.interval.is_off()
            && audit.elapsed >= auditor.totals.interval.as_duration()
        {
            lines.push(Line {
                severity: Severity::Warning,
                tag: messages::MONITOR_SLOW,
                text: format!(
                    "the audit of {} required directories took {:.1} s, longer than DirGuardInterval {} s; raise the interval",
                    refs.len(),
                    audit.elapsed.as_secs_f64(),
                    auditor.totals.interval.secs()
                ),
            });
        }
        auditor.published = Some(next);
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::spec::{Access, Origin};

    struct Fixture {
        _mem: Vec<u64>,
        base: std::path::PathBuf,
        monitor: Monitor,
    }

    fn fixture(name: &str, startup_audit: bool) -> Fixture {
        let base =
            std::env::temp_dir().join(format!("dirguard-monitor-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(base.join("uploads")).unwrap();
        let dir = Arc::new(RequiredDir::new(
            base.join("uploads"),
            Access::ReadWrite,
            Origin {
                file: "m.conf".into(),
                line: 7,
            },
        ));
        let id = Identity::current_process();
        let mut mem = vec![0u64; SharedState::size_for(1) / 8 + 1];
        // SAFETY: the Vec is large enough, aligned to 8 and kept in the fixture.
        let shared =
            unsafe { SharedState::init(mem.as_mut_ptr().cast(), 1, Interval::from_secs(5)) };
        let (audit, _) = Audit::run_bounded(
            std::slice::from_ref(&dir),
            &id,
            Duration::from_secs(5),
            AclCache::default(),
        );
        let seed = Seed::of(std::slice::from_ref(&dir), &id, &audit, 0);
        let monitor = Monitor::new(
            vec![dir],
            id,
            shared,
            Interval::from_secs(5),
            Duration::from_secs(5),
            startup_audit.then_some(seed),
        );
        Fixture {
            _mem: mem,
            base,
            monitor,
        }
    }

    #[test]
    fn a_removed_directory_fails_once_and_recovers_once() {
        let f = fixture("transitions", true);
        assert_eq!(
            f.monitor.run_once(),
            vec![],
            "healthy and unchanged: nothing to say"
        );
        std::fs::remove_dir(f.base.join("uploads")).unwrap();
        let lines = f.monitor.run_once();
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert_eq!(lines[0].tag, messages::MONITOR_FAILING);
        assert!(
            lines[0].text.starts_with("FAILING: required directory")
                && lines[0]
                    .text
                    .contains("declared at m.conf:7; fix: install -d"),
            "{}",
            lines[0].text
        );
        assert_eq!(f.monitor.shared().health(0), Health::Failing);
        assert_eq!(f.monitor.run_once(), vec![], "still failing: no repeat");
        std::fs::create_dir(f.base.join("uploads")).unwrap();
        let lines = f.monitor.run_once();
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert_eq!(lines[0].tag, messages::MONITOR_RECOVERED);
        assert_eq!(f.monitor.shared().health(0), Health::Healthy);
        let (totals, _) = f.monitor.shared().snapshot().unwrap();
        assert_eq!(totals.audits_total, 5);
    }

    #[test]
    fn why_there_is_no_live_monitoring_is_said_in_one_line() {
        let shm = Unavailable::SharedMemory {
            bytes: 4096,
            apr_error: 12,
        }
        .line();
        assert_eq!(
            (shm.severity, shm.tag),
            (Severity::Error, messages::MONITOR_UNAVAILABLE)
        );
        assert_eq!(
            shm.text,
            "cannot create 4096 bytes of shared memory for the live monitor (apr error 12); live monitoring and the status page are off"
        );
        assert!(Unavailable::NoWatchdog
            .line()
            .text
            .ends_with("load mod_watchdog or set DirGuardInterval 0"));
        assert_eq!(
            Unavailable::WatchdogRefused { apr_error: 3 }.line().text,
            "mod_watchdog refused the live monitor (apr error 3); no live monitoring"
        );
    }

    #[test]
    fn a_monitor_with_an_interval_and_directories_is_live() {
        let f = fixture("live", true);
        assert!(f.monitor.is_live());
        assert_eq!(f.monitor.tick(), Duration::from_secs(1));
        let line = f.monitor.started_line();
        assert_eq!(
            (line.severity, line.tag),
            (Severity::Info, messages::MONITOR_STARTED)
        );
        assert_eq!(
            line.text,
            "live monitoring of 1 required directories every 5 s (one audit per interval among the children)"
        );
    }

    /// Another child of the same generation: a copy of the monitor over the same region, with
    /// its own memory of what it published (none yet).
    fn sibling(m: &Monitor) -> Monitor {
        Monitor {
            dirs: m.dirs.clone(),
            id: m.id.clone(),
            shared: m.shared,
            interval: m.interval,
            check_timeout: m.check_timeout,
            auditor_id: Some(u64::from(std::process::id()) + 1),
            auditor: Mutex::new(Auditor {
                published: None,
                acl_cache: AclCache::default(),
                totals: Totals::default(),
            }),
        }
    }

    #[test]
    fn children_take_turns_by_lease_and_log_each_transition_once() {
        let f = fixture("lease", true);
        let (a, b) = (&f.monitor, &sibling(&f.monitor));
        let grace = 2 * millis(Interval::from_secs(5).tick());
        // Seeded at startup: the first audit is due one interval (5 s) later, for nobody sooner.
        assert_eq!(a.run_due(), vec![]);
        assert_eq!(b.run_due(), vec![]);
        assert_eq!(a.shared().audits_total(), 1, "no audit before it is due");
        // Due now: exactly one of the two audits.
        let now = || unix_now().as_millis() as u64;
        a.shared().release_audit(now());
        std::fs::remove_dir(f.base.join("uploads")).unwrap();
        let (la, lb) = (a.run_due(), b.run_due());
        assert_eq!((la.len(), lb.len()), (1, 0), "{la:?} {lb:?}");
        assert_eq!(a.shared().audits_total(), 2);
        // Due again: a keeps its turn while it lives...
        a.shared().release_audit(now());
        assert_eq!(b.run_due(), vec![]);
        assert_eq!(a.shared().audits_total(), 2, "b waits for a's grace");
        // ...and when a is gone, b steps in after the grace, from the shared state: the fault
        // is not new to it.
        a.shared().release_audit(now() - grace);
        assert_eq!(
            b.run_due(),
            vec![],
            "still failing: no repeat from another child"
        );
        assert_eq!(a.shared().audits_total(), 3);
        std::fs::create_dir(f.base.join("uploads")).unwrap();
        a.shared().release_audit(now() - grace);
        let lines = a.run_due();
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert_eq!(lines[0].tag, messages::MONITOR_RECOVERED);
        assert_eq!(a.shared().audits_total(), 4);
    }

    #[test]
    fn without_a_startup_audit_the_first_audit_reports_existing_faults() {
        let f = fixture("unseeded", false);
        assert_eq!(f.monitor.shared().health(0), Health::Unknown);
        std::fs::remove_dir(f.base.join("uploads")).unwrap();
        let lines = f.monitor.run_once();
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].tag, messages::MONITOR_FAILING);
    }
}
