//! The server-wide settings: `DirGuardStartup`, `DirGuardRepair` and `DirGuardInterval`, their
//! keywords, defaults, limits and what they decide. The glue only stores what is parsed here.

use super::audit::Audit;
use super::repair::Policy;
use super::text::shown;
use std::time::Duration;

/// The value of a keyword among `accepted` (case-insensitive), or the error Apache shows.
fn keyword<T: Copy>(directive: &str, arg: &str, accepted: &[(&str, T)]) -> Result<T, String> {
    let value = arg.to_ascii_lowercase();
    accepted
        .iter()
        .find(|(word, _)| *word == value)
        .map(|(_, v)| *v)
        .ok_or_else(|| {
            let words: Vec<&str> = accepted.iter().map(|(word, _)| *word).collect();
            format!(
                "{directive}: '{}' is not one of {}",
                shown(value.as_bytes()),
                words.join(", ")
            )
        })
}

/// `DirGuardStartup`: what the startup check does with failing directories.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StartupMode {
    /// Report them and start.
    #[default]
    Warn,
    /// Report them and refuse to start (and fail `apachectl configtest`).
    Fail,
    /// No startup check.
    Off,
}

impl StartupMode {
    pub fn parse(arg: &str) -> Result<StartupMode, String> {
        keyword(
            "DirGuardStartup",
            arg,
            &[
                ("warn", StartupMode::Warn),
                ("fail", StartupMode::Fail),
                ("off", StartupMode::Off),
            ],
        )
    }

    /// Whether the check runs in the first configuration pass, while the terminal is still
    /// attached: always under configtest, and for a real start in `fail` mode, so that a refusal
    /// is printed where the administrator started Apache.
    pub fn checks_in_first_pass(self, configtest: bool) -> bool {
        configtest || self == StartupMode::Fail
    }

    /// Whether an audit with this outcome refuses the start.
    pub fn refuses(self, audit: &Audit) -> bool {
        self == StartupMode::Fail && !audit.is_clean()
    }
}

/// `DirGuardRepair`: what the startup check may change before it audits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RepairMode {
    #[default]
    Off,
    /// Create missing directories.
    Create,
    /// Create them, and correct the declared owner, group and mode.
    Enforce,
}

impl RepairMode {
    pub fn parse(arg: &str) -> Result<RepairMode, String> {
        keyword(
            "DirGuardRepair",
            arg,
            &[
                ("off", RepairMode::Off),
                ("create", RepairMode::Create),
                ("enforce", RepairMode::Enforce),
            ],
        )
    }

    /// The repair policy, or None when nothing is repaired.
    pub fn policy(self) -> Option<Policy> {
        match self {
            RepairMode::Off => None,
            RepairMode::Create => Some(Policy::Create),
            RepairMode::Enforce => Some(Policy::Enforce),
        }
    }
}

/// `DirGuardInterval`: whole seconds between live audits; 0 turns live monitoring off.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Interval(u32);

impl Default for Interval {
    fn default() -> Interval {
        Interval::DEFAULT
    }
}

impl Interval {
    pub const DEFAULT: Interval = Interval(5);
    /// One day: an audit less often than that is no live monitoring.
    pub const MAX: Interval = Interval(86_400);
    pub const OFF: Interval = Interval(0);

    /// `DirGuardInterval SECONDS`: digits only, 0 (off) to one day.
    pub fn parse(arg: &str) -> Result<Interval, String> {
        arg.parse::<u32>()
            .ok()
            .filter(|v| {
                *v <= Interval::MAX.0 && !arg.is_empty() && arg.bytes().all(|b| b.is_ascii_digit())
            })
            .map(Interval)
            .ok_or_else(|| {
                format!(
                    "DirGuardInterval: '{}' is not a number of seconds from 0 (off) to {}",
                    shown(arg.as_bytes()),
                    Interval::MAX.0
                )
            })
    }

    /// An interval as stored (shared memory, tests); `parse` is what bounds a configured one.
    pub const fn from_secs(secs: u32) -> Interval {
        Interval(secs)
    }

    pub const fn secs(self) -> u32 {
        self.0
    }

    pub fn is_off(self) -> bool {
        self.0 == 0
    }

    pub fn as_duration(self) -> Duration {
        Duration::from_secs(u64::from(self.0))
    }

    /// How often each child asks whether an audit is due: a quarter of the interval, between
    /// 100 ms and 1 s. A tick that is not due costs one atomic load.
    pub fn tick(self) -> Duration {
        Duration::from_millis(u64::from(self.0).saturating_mul(250).clamp(100, 1_000))
    }
}

/// `DirGuardUser USER [GROUP]`: both must exist (by name or `#id`), so a typo is a
/// configuration error and not a check made for nobody.
pub fn check_user_group(user: &str, group: Option<&str>) -> Result<(), String> {
    let shown = |s: &str| super::text::shown(s.as_bytes());
    let numeric = |s: &str| {
        s.strip_prefix('#')
            .is_some_and(|n| n.parse::<u32>().is_ok())
    };
    if user.is_empty() || !(numeric(user) || super::identity::user_by_name(user).is_some()) {
        return Err(format!(
            "DirGuardUser: '{}' is not a user in the user database (a name, or #UID)",
            shown(user)
        ));
    }
    if let Some(g) = group {
        if g.is_empty() || !(numeric(g) || super::identity::group_by_name(g).is_some()) {
            return Err(format!(
                "DirGuardUser: '{}' is not a group in the group database (a name, or #GID)",
                shown(g)
            ));
        }
    }
    Ok(())
}

/// `DirGuardPhpFpmPools GLOB…`: absolute shell patterns.
pub fn parse_pool_globs(args: &[String]) -> Result<Vec<String>, String> {
    if args.is_empty() {
        return Err("DirGuardPhpFpmPools: name at least one file or pattern (e.g. /etc/php/*/fpm/pool.d/*.conf)".into());
    }
    for a in args {
        if !a.starts_with('/') || a.contains('\0') {
            return Err(format!(
                "DirGuardPhpFpmPools: '{}' is not an absolute path or pattern",
                super::text::shown(a.as_bytes())
            ));
        }
    }
    Ok(args.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::audit::Finding;
    use crate::core::fault::Fault;

    #[test]
    fn modes_parse_their_keywords_in_any_case_and_default_to_warn_and_off() {
        assert_eq!(StartupMode::parse("FAIL"), Ok(StartupMode::Fail));
        assert_eq!(StartupMode::parse("off"), Ok(StartupMode::Off));
        assert_eq!(StartupMode::default(), StartupMode::Warn);
        assert_eq!(
            StartupMode::parse("Strict"),
            Err("DirGuardStartup: 'strict' is not one of warn, fail, off".to_owned())
        );
        assert_eq!(RepairMode::parse("Enforce"), Ok(RepairMode::Enforce));
        assert_eq!(RepairMode::default(), RepairMode::Off);
        assert_eq!(
            RepairMode::parse("yes"),
            Err("DirGuardRepair: 'yes' is not one of off, create, enforce".to_owned())
        );
    }

    #[test]
    fn repair_modes_map_to_policies() {
        assert_eq!(RepairMode::Off.policy(), None);
        assert_eq!(RepairMode::Create.policy(), Some(Policy::Create));
        assert_eq!(RepairMode::Enforce.policy(), Some(Policy::Enforce));
    }

    #[test]
    fn only_fail_refuses_and_only_when_something_fails() {
        let audit = |findings| Audit {
            checked: 1,
            findings,
            stats: vec![None],
            unknown: Vec::new(),
            elapsed: Duration::ZERO,
        };
        let clean = audit(Vec::new());
        let failing = audit(vec![Finding {
            index: 0,
            fault: Fault::Mode { found: 0o777 },
        }]);
        assert!(StartupMode::Fail.refuses(&failing));
        assert!(!StartupMode::Fail.refuses(&clean));
        assert!(!StartupMode::Warn.refuses(&failing));
        assert!(!StartupMode::Off.refuses(&failing));
        assert!(StartupMode::Fail.checks_in_first_pass(false));
        assert!(StartupMode::Warn.checks_in_first_pass(true));
        assert!(!StartupMode::Warn.checks_in_first_pass(false));
    }

    #[test]
    fn the_interval_is_whole_seconds_from_0_to_a_day_and_defaults_to_5() {
        assert_eq!(Interval::default().secs(), 5);
        assert_eq!(Interval::parse("0"), Ok(Interval::OFF));
        assert!(Interval::parse("0").unwrap().is_off());
        assert_eq!(Interval::parse("86400").map(Interval::secs), Ok(86_400));
        for bad in ["86401", "-1", "+5", "", "5s", " 5", "1.5"] {
            assert!(Interval::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            Interval::parse("often"),
            Err(
                "DirGuardInterval: 'often' is not a number of seconds from 0 (off) to 86400"
                    .to_owned()
            )
        );
        assert_eq!(Interval::from_secs(2).as_duration(), Duration::from_secs(2));
    }

    #[test]
    fn children_tick_four_times_per_interval_between_100_ms_and_1_s() {
        assert_eq!(Interval::OFF.tick(), Duration::from_millis(100));
        assert_eq!(Interval::from_secs(1).tick(), Duration::from_millis(250));
        assert_eq!(Interval::DEFAULT.tick(), Duration::from_secs(1));
        assert_eq!(Interval::MAX.tick(), Duration::from_secs(1));
    }
}
