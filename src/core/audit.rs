//! One pass over every required directory with a fresh evaluator: the findings and how long the
//! pass took. Startup, the live monitor and configtest all audit the same way.

use super::evaluator::{AclCache, Evaluator, FsStats};
use super::fault::Fault;
use super::identity::Identity;
use super::spec::RequiredDir;
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
    pub elapsed: Duration,
}

impl Audit {
    pub fn run(dirs: &[&RequiredDir], id: &Identity) -> Audit {
        Audit::run_with(dirs, Evaluator::new(id))
    }

    /// An audit that reuses ACLs of unchanged inodes from earlier audits (the live monitor).
    pub fn run_cached(dirs: &[&RequiredDir], id: &Identity, cache: &mut AclCache) -> Audit {
        Audit::run_with(dirs, Evaluator::with_acl_cache(id, cache))
    }

    fn run_with(dirs: &[&RequiredDir], mut evaluator: Evaluator<'_>) -> Audit {
        let start = Instant::now();
        let mut findings = Vec::new();
        let mut stats = Vec::with_capacity(dirs.len());
        for (index, dir) in dirs.iter().enumerate() {
            let evaluation = evaluator.evaluate_full(dir);
            findings.extend(
                evaluation
                    .faults
                    .into_iter()
                    .map(|fault| Finding { index, fault }),
            );
            stats.push(evaluation.fs);
        }
        Audit {
            checked: dirs.len(),
            findings,
            stats,
            elapsed: start.elapsed(),
        }
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
        format!(
            "checked {} required director{} for {}: {} failing, {} fault{} in {:.1} ms",
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
        let audit = Audit::run(&[&ok, &bad, &gone], &id);
        assert_eq!(audit.checked, 3);
        assert_eq!(audit.findings.len(), 3);
        assert_eq!(audit.failing(), 2);
        assert!(audit
            .summary(&id)
            .contains("checked 3 required directories"));
    }
}
