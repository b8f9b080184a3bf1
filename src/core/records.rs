//! What the core's `log` records look like (`LogLevel dirguard:debug`, `dirguard:trace1`…`8`):
//! values wrapped so that a record its level filters out formats nothing, the targets that put
//! a record deeper than trace1, and the mapping of a record to Apache's level and text.
//!
//! A record never carries a tag of its own: the bridge writes it as `DG00007: AREA: text`, AREA
//! being the core module that wrote it (`evaluator`, `audit`, `bounded`, `monitor`, `explain`,
//! `identity`). Paths are shell-quoted like in every other line.

use super::permission::{Class, R, W, X};
use super::text::quote_path;
use std::fmt;
use std::path::Path;
use std::time::Duration;

/// `target:` of a `log::trace!` record that belongs at Apache's trace2 (a plain `trace!` is
/// trace1): per-inode cache hits and misses.
pub const TRACE2: &str = "dirguard::trace2";
/// `target:` of a record at trace3: what every child does on every watchdog tick.
pub const TRACE3: &str = "dirguard::trace3";

const TRACE_TARGET: &str = "dirguard::trace";

/// Apache's level (an APLOG_* value) for a record: Error→ERR (3), Warn→WARNING (4),
/// Info→INFO (6), Debug→DEBUG (7), Trace→TRACE1 (8), or TRACE2…TRACE8 (9…15) when the target
/// is `dirguard::traceN`.
pub fn apache_level(level: log::Level, target: &str) -> u8 {
    match level {
        log::Level::Error => 3,
        log::Level::Warn => 4,
        log::Level::Info => 6,
        log::Level::Debug => 7,
        log::Level::Trace => match target.strip_prefix(TRACE_TARGET).map(str::as_bytes) {
            Some(&[n @ b'2'..=b'8']) => 7 + (n - b'0'),
            _ => 8,
        },
    }
}

/// The `log` filter that lets through every record some configuration may want: the highest
/// Apache level configured for this module anywhere (`levels`, APLOG_* values; -1 for unset).
/// Below it a disabled `debug!` costs one relaxed atomic load and a compare.
pub fn max_filter(levels: impl IntoIterator<Item = i32>) -> log::LevelFilter {
    match levels.into_iter().max().unwrap_or(-1) {
        l if l >= 8 => log::LevelFilter::Trace,
        7 => log::LevelFilter::Debug,
        6 => log::LevelFilter::Info,
        4 | 5 => log::LevelFilter::Warn,
        3 => log::LevelFilter::Error,
        _ => log::LevelFilter::Off,
    }
}

/// Which part of the core wrote a record: the last component of its module path
/// (`mod_dirguard::core::evaluator` → `evaluator`).
pub fn area(module_path: Option<&str>) -> &str {
    let path = module_path.unwrap_or("");
    path.rsplit("::").next().unwrap_or(path)
}

/// The text of a record as the bridge writes it after its tag: `AREA: message`.
pub fn text(record: &log::Record<'_>) -> String {
    let area = area(record.module_path());
    if area.is_empty() {
        record.args().to_string()
    } else {
        format!("{area}: {}", record.args())
    }
}

/// A path, shell-quoted when (and only when) the record is written.
pub struct Quoted<'a>(&'a Path);

pub fn quoted(path: &Path) -> Quoted<'_> {
    Quoted(path)
}

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&quote_path(self.0.as_os_str()))
    }
}

/// An errno as strerror text, without std's " (os error N)".
pub struct Errno(pub i32);

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = std::io::Error::from_raw_os_error(self.0).to_string();
        f.write_str(text.split(" (os error").next().unwrap_or(&text))
    }
}

/// Permission bits as `ls` shows them: `rwx`, `r-x`.
pub struct Bits(pub u8);

impl fmt::Display for Bits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use fmt::Write;
        for (bit, c) in [(R, 'r'), (W, 'w'), (X, 'x')] {
            f.write_char(if self.0 & bit != 0 { c } else { '-' })?;
        }
        Ok(())
    }
}

/// The permission class that decided, in the words of chmod and setfacl.
pub fn class_word(class: Class) -> &'static str {
    match class {
        Class::Root => "root",
        Class::Owner => "the owner class",
        Class::NamedUser => "a named-user ACL entry",
        Class::Group => "the group class",
        Class::Other => "the other class",
    }
}

/// A duration in milliseconds with two decimals.
pub struct Millis(pub Duration);

impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.2} ms", self.0.as_secs_f64() * 1000.0)
    }
}

/// Anything formatted by a closure, run only when the record is written.
pub struct Lazy<F: Fn(&mut fmt::Formatter<'_>) -> fmt::Result>(pub F);

impl<F: Fn(&mut fmt::Formatter<'_>) -> fmt::Result> fmt::Display for Lazy<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (self.0)(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn levels_map_to_apache_and_targets_pick_deeper_trace_levels() {
        assert_eq!(apache_level(log::Level::Error, "x"), 3);
        assert_eq!(apache_level(log::Level::Warn, "x"), 4);
        assert_eq!(apache_level(log::Level::Info, "x"), 6);
        assert_eq!(apache_level(log::Level::Debug, TRACE3), 7);
        assert_eq!(
            apache_level(log::Level::Trace, "mod_dirguard::core::audit"),
            8
        );
        assert_eq!(apache_level(log::Level::Trace, TRACE2), 9);
        assert_eq!(apache_level(log::Level::Trace, TRACE3), 10);
        assert_eq!(apache_level(log::Level::Trace, "dirguard::trace8"), 15);
        for odd in [
            "dirguard::trace9",
            "dirguard::trace1",
            "dirguard::trace22",
            "dirguard::",
        ] {
            assert_eq!(apache_level(log::Level::Trace, odd), 8, "{odd}");
        }
    }

    #[test]
    fn the_filter_is_the_highest_configured_level() {
        assert_eq!(max_filter([4, 5, -1]), log::LevelFilter::Warn);
        assert_eq!(max_filter([4, 7]), log::LevelFilter::Debug);
        assert_eq!(max_filter([12, 4]), log::LevelFilter::Trace);
        assert_eq!(max_filter([6]), log::LevelFilter::Info);
        assert_eq!(max_filter([2, 3]), log::LevelFilter::Error);
        assert_eq!(max_filter([0, 1, 2]), log::LevelFilter::Off);
        assert_eq!(max_filter([]), log::LevelFilter::Off);
    }

    #[test]
    fn records_name_their_area_and_quote_paths() {
        assert_eq!(area(Some("mod_dirguard::core::evaluator")), "evaluator");
        assert_eq!(area(None), "");
        let p = Path::new("/srv/it's\nx");
        assert_eq!(quoted(p).to_string(), quote_path(p.as_os_str()));
        assert_eq!(Errno(libc::ENOENT).to_string(), "No such file or directory");
        assert_eq!(Bits(R | X).to_string(), "r-x");
        assert_eq!(Bits(R | W | X).to_string(), "rwx");
        assert_eq!(Millis(Duration::from_micros(1234)).to_string(), "1.23 ms");
    }

    /// Captures this thread's records (tests run on many threads at once).
    struct Capture;

    thread_local! {
        static CAPTURED: std::cell::RefCell<Vec<(u8, String)>> =
            const { std::cell::RefCell::new(Vec::new()) };
    }

    impl log::Log for Capture {
        fn enabled(&self, _: &log::Metadata<'_>) -> bool {
            true
        }
        fn log(&self, record: &log::Record<'_>) {
            let level = apache_level(record.level(), record.target());
            CAPTURED.with(|c| c.borrow_mut().push((level, text(record))));
        }
        fn flush(&self) {}
    }

    fn captured(f: impl FnOnce()) -> Vec<(u8, String)> {
        static CAPTURE: Capture = Capture;
        let _ = log::set_logger(&CAPTURE);
        log::set_max_level(log::LevelFilter::Trace);
        CAPTURED.with(|c| c.borrow_mut().clear());
        f();
        CAPTURED.with(|c| c.take())
    }

    #[test]
    fn a_missing_directory_is_explained_at_debug_and_its_walk_at_trace() {
        use crate::core::evaluator::{AclCache, Evaluator};
        use crate::core::identity::Identity;
        use crate::core::spec::{Access, Origin, RequiredDir};
        let base = std::env::temp_dir().join(format!("dirguard-records-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(&base).unwrap();
        let id = Identity::current_process();
        let gone = RequiredDir::new(base.join("a/b"), Access::Read, Origin::default());
        let here = RequiredDir::new(&base, Access::Read, Origin::default());
        let mut cache = AclCache::default();
        let got = captured(|| {
            let mut ev = Evaluator::with_acl_cache(&id, &mut cache);
            ev.evaluate(&gone);
            ev.evaluate(&here);
            ev.evaluate(&here);
        });
        let has = |level: u8, text: &str| got.iter().any(|(l, t)| *l == level && t == text);
        let q = |p: &Path| quote_path(p.as_os_str());
        assert!(
            has(
                7,
                &format!(
                    "evaluator: {}: lstat: No such file or directory: missing (first missing component {})",
                    q(&gone.path),
                    q(&base.join("a"))
                )
            ),
            "{got:#?}"
        );
        assert!(
            has(8, &format!("evaluator: {}: passes every check", q(&base))),
            "{got:#?}"
        );
        let cache_hit = format!(
            "evaluator: ACL cache hit for {} (inode unchanged)",
            q(&base)
        );
        assert!(has(9, &cache_hit), "{got:#?}");
    }

    #[test]
    fn a_call_that_does_not_return_is_recorded_with_its_stall_and_then_not_touched() {
        use crate::core::bounded::{self, Progress};
        use std::sync::mpsc;
        use std::sync::{Arc, Mutex};
        let stalls: &'static bounded::Stalls = Box::leak(Box::new(bounded::Stalls::new()));
        let (release, rx) = mpsc::channel::<()>();
        let rx = Arc::new(Mutex::new(rx));
        let check: bounded::Check<(), ()> = Arc::new(move |_: &mut (), p: &Progress, _| {
            p.enter("statvfs", Path::new("/hung/x"));
            let _ = rx.lock().map(|r| r.recv());
        });
        let run = |check: bounded::Check<(), ()>| {
            let path = |_| std::path::PathBuf::from("/hung/x");
            bounded::run(&[0], path, Duration::from_millis(50), stalls, (), check)
        };
        let first = captured(|| drop(run(check.clone())));
        assert!(
            first.iter().any(|(l, t)| *l == 7
                && t.starts_with("bounded: statvfs of '/hung/x' has not returned within 50.00 ms: worker abandoned, stall recorded for ")),
            "{first:#?}"
        );
        let again = captured(|| drop(run(check)));
        assert!(
            again.iter().any(|(l, t)| *l == 7
                && t.starts_with(
                    "bounded: '/hung/x': not touched: statvfs of '/hung/x' has not returned since "
                )),
            "{again:#?}"
        );
        release.send(()).unwrap();
    }

    #[test]
    fn wrapped_values_are_formatted_only_when_written() {
        let calls = AtomicUsize::new(0);
        let lazy = Lazy(|f: &mut fmt::Formatter<'_>| {
            calls.fetch_add(1, Ordering::Relaxed);
            f.write_str("x")
        });
        fn filtered_out(_: fmt::Arguments<'_>) {}
        filtered_out(format_args!("{lazy}"));
        assert_eq!(calls.load(Ordering::Relaxed), 0);
        assert_eq!(lazy.to_string(), "x");
        assert_eq!(calls.load(Ordering::Relaxed), 1);
    }
}
