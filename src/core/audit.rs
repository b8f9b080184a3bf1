//! One pass over every required directory with a fresh evaluator: the findings and how long the
//! pass took. Startup, the live monitor and configtest all audit the same way.

use super::bounded::{self, Outcome, Progress};
use super::evaluator::{AclCache, Evaluation, Evaluator, FsStats, Memo};
use super::fault::Fault;
use super::identity::Identity;
use super::records::{quoted, Lazy, Millis};
use super::spec::RequiredDir;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A fault of the directory at `index` in the audited list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub index: usize,
    pub fault: Fault,
}

#[derive(Clone, Debug)]
pub struct Audit {
    pub checked: usize,
    pub findings: Vec<Finding>,
    /// Free space and inodes of each directory's filesystem (None where it does not exist).
    pub stats: Vec<Option<FsStats>>,
    /// Directories with no result: their check panicked (DG00002 names where). Their state is
    /// unknown, neither failing nor healthy.
    pub unknown: Vec<usize>,
    pub elapsed: Duration,
}

/// What a bounded audit's worker keeps from one directory to the next.
#[derive(Default)]
struct WorkerState {
    cache: AclCache,
    memo: Memo,
}

impl Audit {
    /// The audit every caller in Apache makes: on worker threads, each directory given at most
    /// `deadline` (`DirGuardCheckTimeout`), so a filesystem that does not answer costs one
    /// deadline once and then nothing while it stays hung (`core::bounded`). Its directories get
    /// a `NotAnswering` fault; a directory whose check panics is unknown. `cache` is the live
    /// monitor's ACL cache, handed back (a fresh one if the worker holding it was abandoned).
    pub fn run_bounded(
        dirs: &[Arc<RequiredDir>],
        id: &Identity,
        deadline: Duration,
        cache: AclCache,
    ) -> (Audit, AclCache) {
        let start = Instant::now();
        let shared: Arc<Vec<Arc<RequiredDir>>> = Arc::new(dirs.to_vec());
        let (worker_dirs, worker_id) = (shared.clone(), id.clone());
        let check: bounded::Check<WorkerState, Evaluation> =
            Arc::new(move |st: &mut WorkerState, progress: &Progress, i: usize| {
                // A requirement checked for its application's own identity gets an evaluator
                // of its own: what the audit learnt about ancestors is for the server's User.
                let dir_id = worker_dirs[i].checked_for(&worker_id);
                let own_identity = !dir_id.same_credentials(&worker_id);
                let memo = if own_identity {
                    Memo::default()
                } else {
                    std::mem::take(&mut st.memo)
                };
                let mut evaluator = Evaluator::with_acl_cache(dir_id, &mut st.cache)
                    .with_progress(progress)
                    .with_memo(memo);
                #[cfg(feature = "test-panic")]
                if worker_dirs[i]
                    .path
                    .as_os_str()
                    .as_encoded_bytes()
                    .ends_with(b"dirguard-test-panic-audit")
                {
                    panic!("test-panic: planted panic in the audit of a directory");
                }
                let started = log::log_enabled!(log::Level::Debug).then(Instant::now);
                let evaluation = evaluator.evaluate_full(&worker_dirs[i]);
                let memo = evaluator.into_memo();
                if !own_identity {
                    st.memo = memo;
                }
                if let Some(started) = started {
                    log::debug!(
                        "{}: checked in {}: {}",
                        quoted(&worker_dirs[i].path),
                        Millis(started.elapsed()),
                        Lazy(|f| match evaluation.faults.as_slice() {
                            [] => f.write_str("passes"),
                            faults => {
                                f.write_str("failing (")?;
                                for (n, fault) in faults.iter().enumerate() {
                                    let sep = if n == 0 { "" } else { ", " };
                                    write!(f, "{sep}{}", fault.kind().name())?;
                                }
                                f.write_str(")")
                            }
                        })
                    );
                }
                evaluation
            });
        let items: Vec<usize> = (0..dirs.len()).collect();
        let state = WorkerState {
            cache,
            memo: Memo::default(),
        };
        let (outcomes, state) = bounded::run(
            &items,
            |i| shared[i].path.clone(),
            deadline,
            bounded::stalls(),
            state,
            check,
        );
        let mut findings = Vec::new();
        let mut stats = vec![None; dirs.len()];
        let mut unknown = Vec::new();
        for (index, outcome) in outcomes {
            match outcome {
                Outcome::Done(evaluation) => {
                    findings.extend(
                        evaluation
                            .faults
                            .into_iter()
                            .map(|fault| Finding { index, fault }),
                    );
                    stats[index] = evaluation.fs;
                }
                Outcome::NotAnswering(stall) => {
                    log::debug!(
                        "{}: not answering: {} of {} did not return within {}",
                        quoted(&dirs[index].path),
                        stall.call,
                        quoted(&stall.path),
                        Millis(stall.waited)
                    );
                    findings.push(Finding {
                        index,
                        fault: Fault::NotAnswering { stall },
                    })
                }
                Outcome::Unknown => {
                    log::debug!(
                        "{}: unknown: its check panicked or no worker could start",
                        quoted(&dirs[index].path)
                    );
                    unknown.push(index)
                }
            }
        }
        let audit = Audit {
            checked: dirs.len(),
            findings,
            stats,
            unknown,
            elapsed: start.elapsed(),
        };
        log::debug!(
            "{} director{} audited in {}: {} failing, {} unknown",
            audit.checked,
            if audit.checked == 1 { "y" } else { "ies" },
            Millis(audit.elapsed),
            audit.failing(),
            audit.unknown.len()
        );
        (audit, state.cache)
    }

    /// How many directories have at least one fault.
    pub fn failing(&self) -> usize {
        let mut n = 0;
        let mut last = None;
        for f in &self.findings {
            if last != Some(f.index) {
                n += 1;
                last = Some(f.index);
            }
        }
        n
    }

    pub fn is_clean(&self) -> bool {
        self.findings.is_empty()
    }

    pub fn summary(&self, id: &Identity) -> String {
        let not_answering = self
            .findings
            .iter()
            .filter(|f| matches!(f.fault, Fault::NotAnswering { .. }))
            .count();
        let mut extra = String::new();
        if not_answering > 0 {
            extra.push_str(&format!(", {not_answering} not answering"));
        }
        if !self.unknown.is_empty() {
            extra.push_str(&format!(
                ", {} unknown (internal error, see DG00002)",
                self.unknown.len()
            ));
        }
        format!(
            "checked {} required director{} for {}: {} failing{extra}, {} fault{} in {:.1} ms",
            self.checked,
            if self.checked == 1 { "y" } else { "ies" },
            id.describe(),
            self.failing(),
            self.findings.len(),
            if self.findings.len() == 1 { "" } else { "s" },
            self.elapsed.as_secs_f64() * 1000.0
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::spec::{Access, Origin};
    use std::path::PathBuf;

    #[test]
    fn failing_counts_directories_not_faults() {
        let id = Identity::current_process();
        let base = std::env::temp_dir().join(format!("dirguard-audit-{}", std::process::id()));
        std::fs::create_dir_all(&base).unwrap();
        let mk = |p: PathBuf, mode: Option<u32>| RequiredDir {
            mode,
            min_free: Some(u64::MAX),
            ..RequiredDir::new(p, Access::Read, Origin::default())
        };
        let ok = RequiredDir {
            min_free: None,
            ..mk(base.clone(), None)
        };
        let bad = mk(base.clone(), Some(0o1));
        let gone = mk(base.join("gone"), None);
        let dirs = [ok, bad, gone].map(Arc::new);
        let (audit, _) =
            Audit::run_bounded(&dirs, &id, Duration::from_secs(5), AclCache::default());
        assert_eq!(audit.checked, 3);
        assert_eq!(audit.findings.len(), 3);
        assert_eq!(audit.failing(), 2);
        assert!(audit
            .summary(&id)
            .contains("checked 3 required directories"));
    }
}
