//! Filesystem calls that may never return. A dead NFS server or a stopped FUSE daemon blocks
//! every call below its mount; such a call cannot be cancelled, only abandoned. So every check
//! of the filesystem runs on a worker thread that says what it is doing (`Progress`), and the
//! caller waits at most a deadline. A call that has not returned by then becomes a `Stall` of
//! its filesystem, recorded for this process (`stalls()`): while it lasts, nothing below that
//! mount is touched again (no thread stacks up behind the same dead filesystem), and when the
//! abandoned call finally returns, its worker clears the stall so the next check retries.
//!
//! Why a worker never outlives the code it runs: Apache unloads and reloads this DSO at every
//! restart (in the parent, which runs the startup check). Each worker first touches a
//! thread-local with a destructor; glibc then keeps the DSO mapped until that thread has exited
//! (`__cxa_thread_atexit_impl` counts the destructors per object and `dlclose` leaves an object
//! with pending ones in place). See docs/design.md, "Safety invariants", S5.

use super::records::{quoted, Lazy, Millis};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// One filesystem call in progress: its name as `strace` shows it, and its path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    pub name: &'static str,
    pub path: PathBuf,
}

#[derive(Debug)]
struct ProgressState {
    /// The item (directory index, or 0 for a single job) the worker is on.
    item: usize,
    item_started: Instant,
    /// The call in progress, and when it started.
    call: Option<(Call, Instant)>,
}

/// What a worker is doing right now, readable by the thread that waits for it.
#[derive(Debug)]
pub struct Progress {
    state: Mutex<ProgressState>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks leaves plain data behind, still valid: recover.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Default for Progress {
    fn default() -> Progress {
        Progress {
            state: Mutex::new(ProgressState {
                item: 0,
                item_started: Instant::now(),
                call: None,
            }),
        }
    }
}

impl Progress {
    /// The worker starts on `item`.
    pub fn start_item(&self, item: usize) {
        let mut s = lock(&self.state);
        s.item = item;
        s.item_started = Instant::now();
        s.call = None;
    }

    /// The worker is about to make `name(path)`.
    pub fn enter(&self, name: &'static str, path: &Path) {
        lock(&self.state).call = Some((
            Call {
                name,
                path: path.to_path_buf(),
            },
            Instant::now(),
        ));
    }

    fn current(&self) -> (usize, Instant, Option<(Call, Instant)>) {
        let s = lock(&self.state);
        (s.item, s.item_started, s.call.clone())
    }
}

/// A filesystem that did not answer a call within the deadline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stall {
    /// The call that has not returned.
    pub call: &'static str,
    pub path: PathBuf,
    /// The mount holding `path` (from /proc/self/mountinfo, which never touches the
    /// filesystem), its type and source, when known.
    pub mount: Option<Mount>,
    /// Unix seconds when the call was made.
    pub since_unix_s: u64,
    /// The deadline it missed.
    pub waited: Duration,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    pub point: PathBuf,
    pub fstype: String,
    pub source: String,
}

impl Stall {
    /// What a stall keeps out of reach: its whole filesystem, unless that is the root one (a
    /// call stuck behind a symlink into a dead mount has a lexical path on `/`; keeping all of
    /// `/` out of reach would stop every check), then the path of the call alone.
    pub fn scope(&self) -> &Path {
        match &self.mount {
            Some(m) if m.point != Path::new("/") => &m.point,
            _ => &self.path,
        }
    }

    pub fn covers(&self, path: &Path) -> bool {
        path.starts_with(self.scope())
    }
}

struct Entry {
    stall: Stall,
    /// Set by the abandoned worker when its call has returned.
    returned: Arc<AtomicBool>,
    pid: u32,
}

/// The stalls of this process.
pub struct Stalls {
    entries: Mutex<Vec<Entry>>,
}

impl Default for Stalls {
    fn default() -> Self {
        Self::new()
    }
}

impl Stalls {
    pub const fn new() -> Stalls {
        Stalls {
            entries: Mutex::new(Vec::new()),
        }
    }

    /// The live stall whose filesystem holds `path`, if any. Stalls whose call has returned,
    /// or that a forked child inherited from its parent (the stuck thread is not in this
    /// process), are dropped here.
    pub fn covering(&self, path: &Path) -> Option<Stall> {
        let me = std::process::id();
        let mut entries = lock(&self.entries);
        entries.retain(|e| e.pid == me && !e.returned.load(Ordering::Acquire));
        entries
            .iter()
            .find(|e| e.stall.covers(path))
            .map(|e| e.stall.clone())
    }

    /// Every live stall of this process (tests).
    #[cfg(test)]
    pub fn live(&self) -> Vec<Stall> {
        let me = std::process::id();
        let mut entries = lock(&self.entries);
        entries.retain(|e| e.pid == me && !e.returned.load(Ordering::Acquire));
        entries.iter().map(|e| e.stall.clone()).collect()
    }

    fn record(&self, stall: Stall, returned: Arc<AtomicBool>) {
        lock(&self.entries).push(Entry {
            stall,
            returned,
            pid: std::process::id(),
        });
    }
}

/// The stalls of this process. A static and not pool data: it describes threads of this
/// process, not configuration, and is right across a DSO reload either way: while any stall
/// is live its thread pins the DSO (statics survive); without one, an empty registry is right.
pub fn stalls() -> &'static Stalls {
    static STALLS: Stalls = Stalls::new();
    &STALLS
}

thread_local! {
    /// Touched first by every worker: a thread-local with a destructor keeps this DSO mapped
    /// until the thread exits (see the module comment).
    static PIN: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn unix_s_at(t: Instant) -> u64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    now.saturating_sub(t.elapsed()).as_secs()
}

/// The mount holding `path`, from /proc/self/mountinfo (the longest mount point that is a
/// prefix of it by components). Reading procfs never waits on the filesystems it describes.
pub fn mount_of(path: &Path) -> Option<Mount> {
    let text = std::fs::read("/proc/self/mountinfo").ok()?;
    mount_in(&text, path)
}

fn unescape_mountinfo(field: &[u8]) -> Vec<u8> {
    // The kernel writes space, tab, newline and backslash as \ooo.
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        if field[i] == b'\\' && i + 4 <= field.len() {
            let oct = &field[i + 1..i + 4];
            if oct.iter().all(|b| (b'0'..=b'7').contains(b)) {
                out.push((oct[0] - b'0') * 64 + (oct[1] - b'0') * 8 + (oct[2] - b'0'));
                i += 4;
                continue;
            }
        }
        out.push(field[i]);
        i += 1;
    }
    out
}

fn mount_in(text: &[u8], path: &Path) -> Option<Mount> {
    use std::os::unix::ffi::OsStrExt;
    let mut best: Option<Mount> = None;
    for line in text.split(|&b| b == b'\n') {
        let fields: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
        let Some(sep) = fields.iter().position(|f| *f == b"-") else {
            continue;
        };
        if fields.len() < 5 || sep + 2 >= fields.len() {
            continue;
        }
        let point = PathBuf::from(std::ffi::OsStr::from_bytes(&unescape_mountinfo(fields[4])));
        if !path.starts_with(&point) {
            continue;
        }
        let longer = best
            .as_ref()
            .is_none_or(|b| point.as_os_str().len() >= b.point.as_os_str().len());
        if longer {
            best = Some(Mount {
                point,
                fstype: String::from_utf8_lossy(fields[sep + 1]).into_owned(),
                source: String::from_utf8_lossy(&unescape_mountinfo(fields[sep + 2])).into_owned(),
            });
        }
    }
    best
}

/// `DirGuardCheckTimeout`'s default: long enough for a busy NFS server, short enough that a
/// restart with a dead one still completes promptly.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);

/// `DirGuardCheckTimeout SECONDS`: a number of seconds from 0.1 to 300, decimals allowed
/// ("2", "0.5").
pub fn parse_timeout(arg: &str) -> Result<Duration, String> {
    let ok = !arg.is_empty()
        && arg.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && arg.bytes().filter(|&b| b == b'.').count() <= 1
        && !arg.starts_with('.')
        && !arg.ends_with('.');
    arg.parse::<f64>()
        .ok()
        .filter(|v| ok && (0.1..=300.0).contains(v))
        .map(Duration::from_secs_f64)
        .ok_or_else(|| {
            format!(
                "DirGuardCheckTimeout: '{}' is not a number of seconds from 0.1 to 300",
                super::text::shown(arg.as_bytes())
            )
        })
}

/// The check a worker runs for one item: its state (a cache), its progress, the item.
pub type Check<S, T> = Arc<dyn Fn(&mut S, &Progress, usize) -> T + Send + Sync>;

/// A worker's message to the waiting thread.
enum Msg<T> {
    /// The outcome of one item (None: the check of that item panicked).
    Item(usize, Option<T>),
    /// The worker is done; what it hands back (a cache).
    Done(Box<dyn std::any::Any + Send>),
}

/// What happened to one item of a bounded run.
#[derive(Debug)]
pub enum Outcome<T> {
    Done(T),
    /// Its filesystem did not answer (now, or still from an earlier check).
    NotAnswering(Stall),
    /// No result: its check panicked (the panic hook logged where), or no worker thread could
    /// be started.
    Unknown,
}

/// Runs `check` over `items` (indices) on worker threads, in order, giving each item at most
/// `deadline`. An item under a live stall is not touched. An item whose call does not return
/// in time becomes a new stall; the worker is abandoned and a new one continues with the items
/// after it that its filesystem does not hold. `state` is handed to the worker (a cache) and
/// back when the last worker finishes; a new one (`Default`) when a worker was abandoned.
pub fn run<S, T>(
    items: &[usize],
    path_of: impl Fn(usize) -> PathBuf,
    deadline: Duration,
    stalls: &'static Stalls,
    state: S,
    check: Check<S, T>,
) -> (Vec<(usize, Outcome<T>)>, S)
where
    S: Default + Send + 'static,
    T: Send + 'static,
{
    let mut out: Vec<(usize, Outcome<T>)> = Vec::with_capacity(items.len());
    let mut todo: Vec<usize> = Vec::with_capacity(items.len());
    for &i in items {
        match stalls.covering(&path_of(i)) {
            Some(stall) => {
                log::debug!(
                    "{}: not touched: {} of {} has not returned since {}, so nothing under {} is",
                    quoted(&path_of(i)),
                    stall.call,
                    quoted(&stall.path),
                    Lazy(|f| f.write_str(&super::text::format_utc(stall.since_unix_s))),
                    quoted(stall.scope())
                );
                out.push((i, Outcome::NotAnswering(stall)))
            }
            None => todo.push(i),
        }
    }
    let mut state = Some(state);
    while !todo.is_empty() {
        let (tx, rx) = std::sync::mpsc::channel::<Msg<T>>();
        let progress = Arc::new(Progress::default());
        let returned = Arc::new(AtomicBool::new(false));
        let abandoned = Arc::new(AtomicBool::new(false));
        let worker_items = todo.clone();
        let spawned = {
            let (progress, returned, abandoned) =
                (progress.clone(), returned.clone(), abandoned.clone());
            let check = check.clone();
            let mut st = state.take().unwrap_or_default();
            std::thread::Builder::new()
                .name("dirguard-check".into())
                .stack_size(512 * 1024)
                .spawn(move || {
                    PIN.with(|p| p.borrow_mut().clear());
                    for i in worker_items {
                        if abandoned.load(Ordering::Acquire) {
                            break;
                        }
                        progress.start_item(i);
                        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            check(&mut st, &progress, i)
                        }))
                        .ok();
                        if tx.send(Msg::Item(i, result)).is_err() {
                            break;
                        }
                    }
                    let _ = tx.send(Msg::Done(Box::new(st)));
                    if abandoned.load(Ordering::Acquire) {
                        log::debug!(
                            "an abandoned worker's call returned after {}: its stall clears, the next check retries{}",
                            Millis(progress.current().1.elapsed()),
                            Lazy(|f| match progress.current().2 {
                                Some((call, _)) => {
                                    write!(f, " (last call: {} of {})", call.name, quoted(&call.path))
                                }
                                None => Ok(()),
                            })
                        );
                    }
                    returned.store(true, Ordering::Release);
                })
        };
        if let Err(e) = &spawned {
            log::debug!(
                "no worker thread could start ({e}): {} item{} unknown",
                todo.len(),
                if todo.len() == 1 { "" } else { "s" }
            );
        }
        if spawned.is_err() {
            out.extend(todo.drain(..).map(|i| (i, Outcome::Unknown)));
            break;
        }
        let mut stalled = false;
        loop {
            let (item, started, _) = progress.current();
            let wait = (started + deadline).saturating_duration_since(Instant::now());
            match rx.recv_timeout(wait) {
                Ok(Msg::Item(i, r)) => {
                    out.push((i, r.map_or(Outcome::Unknown, Outcome::Done)));
                }
                Ok(Msg::Done(st)) => {
                    state = st.downcast::<S>().ok().map(|b| *b);
                    break;
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    let (now_item, now_started, call) = progress.current();
                    if now_item != item
                        || now_started != started
                        || now_started.elapsed() < deadline
                    {
                        continue;
                    }
                    // The current item has had its whole deadline: abandon this worker.
                    abandoned.store(true, Ordering::Release);
                    let (call, call_started) = call.unwrap_or_else(|| {
                        (
                            Call {
                                name: "stat",
                                path: path_of(now_item),
                            },
                            now_started,
                        )
                    });
                    let stall = Stall {
                        mount: mount_of(&call.path),
                        call: call.name,
                        path: call.path,
                        since_unix_s: unix_s_at(call_started),
                        waited: deadline,
                    };
                    stalls.record(stall.clone(), returned.clone());
                    log::debug!(
                        "{} of {} has not returned within {}: worker abandoned, stall recorded for {}{}",
                        stall.call,
                        quoted(&stall.path),
                        Millis(deadline),
                        quoted(stall.scope()),
                        Lazy(|f| match &stall.mount {
                            Some(m) => write!(
                                f,
                                " (mount {}, {} from {})",
                                quoted(&m.point),
                                super::text::escape_log(m.fstype.as_bytes()),
                                super::text::escape_log(m.source.as_bytes())
                            ),
                            None => f.write_str(" (mount unknown)"),
                        })
                    );
                    out.push((now_item, Outcome::NotAnswering(stall)));
                    stalled = true;
                    break;
                }
            }
        }
        // What this worker did not reach: after a stall, the items past the stalled one that
        // its filesystem does not hold go to a new worker.
        let done: std::collections::HashSet<usize> = out.iter().map(|(i, _)| *i).collect();
        let rest: Vec<usize> = todo.iter().copied().filter(|i| !done.contains(i)).collect();
        todo.clear();
        if !stalled {
            // The worker ended (or vanished) without reaching these: nothing is known of them.
            out.extend(rest.into_iter().map(|i| (i, Outcome::Unknown)));
            break;
        }
        for i in rest {
            match stalls.covering(&path_of(i)) {
                Some(stall) => out.push((i, Outcome::NotAnswering(stall))),
                None => todo.push(i),
            }
        }
    }
    out.sort_by_key(|(i, _)| *i);
    (out, state.unwrap_or_default())
}

/// Runs one job under `deadline` (a request's explanation, one repair): `Err(stall)` when it
/// did not return in time, `Ok(None)` when it panicked.
pub fn run_one<T: Send + 'static>(
    path: PathBuf,
    deadline: Duration,
    stalls: &'static Stalls,
    job: impl FnOnce(&Progress) -> T + Send + 'static,
) -> Result<Option<T>, Box<Stall>> {
    let job = Mutex::new(Some(job));
    let check: Check<(), T> = Arc::new(move |_: &mut (), p: &Progress, _| {
        let f = lock(&job).take();
        match f {
            Some(f) => f(p),
            None => panic!("a bounded job ran twice"),
        }
    });
    let (mut out, ()) = run(&[0], |_| path.clone(), deadline, stalls, (), check);
    match out.pop().map(|(_, o)| o) {
        Some(Outcome::Done(v)) => Ok(Some(v)),
        Some(Outcome::NotAnswering(stall)) => Err(Box::new(stall)),
        Some(Outcome::Unknown) | None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    fn leak() -> &'static Stalls {
        Box::leak(Box::new(Stalls::new()))
    }

    #[test]
    fn check_timeouts_parse_strictly() {
        assert_eq!(parse_timeout("2").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_timeout("0.5").unwrap(), Duration::from_millis(500));
        for bad in [
            "", "0", "0.05", "301", "-1", "1e2", "2s", ".5", "5.", "1.2.3", "nan", "inf",
        ] {
            assert!(parse_timeout(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn mountinfo_gives_the_longest_mount_point_and_unescapes_it() {
        let text = b"22 1 0:21 / / rw - ext4 /dev/vda rw\n\
                     45 22 0:40 / /srv/nfs\\040share rw,nosuid - nfs4 server:/export rw\n\
                     46 22 0:41 / /srv rw - tmpfs tmpfs rw\n";
        let m = mount_in(text, Path::new("/srv/nfs share/uploads")).unwrap();
        assert_eq!(m.point, PathBuf::from("/srv/nfs share"));
        assert_eq!(
            (m.fstype.as_str(), m.source.as_str()),
            ("nfs4", "server:/export")
        );
        assert_eq!(
            mount_in(text, Path::new("/srv/other")).unwrap().point,
            PathBuf::from("/srv")
        );
        assert_eq!(
            mount_in(text, Path::new("/srvx")).unwrap().point,
            PathBuf::from("/")
        );
    }

    /// A check that blocks on items whose path starts with /hung until released, as a call into
    /// a dead filesystem does.
    fn gate() -> (Arc<Mutex<mpsc::Receiver<()>>>, mpsc::Sender<()>) {
        let (tx, rx) = mpsc::channel::<()>();
        (Arc::new(Mutex::new(rx)), tx)
    }

    #[test]
    fn a_call_that_does_not_return_is_abandoned_and_the_rest_is_checked() {
        let stalls = leak();
        let (rx, release) = gate();
        let paths = ["/ok/a", "/hung/b", "/ok/c", "/hung/d"];
        let check: Check<u32, usize> = Arc::new(move |calls: &mut u32, p: &Progress, i| {
            *calls += 1;
            p.enter("lstat", Path::new(paths[i]));
            if paths[i].starts_with("/hung") {
                let _ = lock(&rx).recv();
            }
            i * 10
        });
        let t = Instant::now();
        let (out, _) = run(
            &[0, 1, 2, 3],
            |i| PathBuf::from(paths[i]),
            Duration::from_millis(200),
            stalls,
            0u32,
            check.clone(),
        );
        assert!(
            t.elapsed() < Duration::from_millis(1500),
            "{:?}",
            t.elapsed()
        );
        assert!(matches!(out[0], (0, Outcome::Done(0))));
        assert!(
            matches!(&out[1], (1, Outcome::NotAnswering(s)) if s.call == "lstat" && s.path == Path::new("/hung/b")),
            "{:?}",
            out[1]
        );
        assert!(matches!(out[2], (2, Outcome::Done(20))));
        // Not the whole root filesystem: /hung/d is a separate call (its own deadline).
        assert!(
            matches!(&out[3], (3, Outcome::NotAnswering(_))),
            "{:?}",
            out[3]
        );
        assert_eq!(stalls.live().len(), 2);

        // While the calls have not returned, nothing below them is touched again: no new
        // thread, no wait.
        let t = Instant::now();
        let (again, _) = run(
            &[1, 3],
            |i| PathBuf::from(paths[i]),
            Duration::from_millis(200),
            stalls,
            0u32,
            check.clone(),
        );
        assert!(t.elapsed() < Duration::from_millis(50));
        assert!(again
            .iter()
            .all(|(_, o)| matches!(o, Outcome::NotAnswering(_))));

        // The filesystem answers again: the abandoned workers clear their stalls.
        release.send(()).unwrap();
        release.send(()).unwrap();
        let t = Instant::now();
        while !stalls.live().is_empty() && t.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(stalls.live().is_empty());
    }

    #[test]
    fn a_panicking_item_is_unknown_and_the_others_are_checked() {
        let check: Check<(), usize> = Arc::new(|_: &mut (), _: &Progress, i| {
            if i == 1 {
                panic!("planted");
            }
            i
        });
        let (out, ()) = run(
            &[0, 1, 2],
            |_| PathBuf::from("/x"),
            Duration::from_secs(5),
            leak(),
            (),
            check,
        );
        assert!(matches!(out[0], (0, Outcome::Done(0))));
        assert!(matches!(out[1], (1, Outcome::Unknown)));
        assert!(matches!(out[2], (2, Outcome::Done(2))));
    }

    #[test]
    fn the_state_comes_back_from_the_worker() {
        let check: Check<Vec<usize>, ()> =
            Arc::new(|seen: &mut Vec<usize>, _: &Progress, i| seen.push(i));
        let (_, seen) = run(
            &[3, 4],
            |_| PathBuf::from("/x"),
            Duration::from_secs(5),
            leak(),
            vec![1],
            check,
        );
        assert_eq!(seen, vec![1, 3, 4]);
    }

    #[test]
    fn one_job_returns_or_becomes_a_stall() {
        let stalls = leak();
        assert_eq!(
            run_one("/x".into(), Duration::from_secs(5), stalls, |_| 7),
            Ok(Some(7))
        );
        let (tx, rx) = mpsc::channel::<()>();
        let r = run_one(
            "/y/z".into(),
            Duration::from_millis(100),
            stalls,
            move |p| {
                p.enter("statvfs", Path::new("/y/z"));
                let _ = rx.recv();
            },
        );
        let stall = r.unwrap_err();
        assert_eq!(stall.call, "statvfs");
        assert!(stalls.covering(Path::new("/y/z")).is_some());
        tx.send(()).unwrap();
    }
}
