//! A required directory on a filesystem that stops answering (a FUSE daemon stopped with
//! SIGSTOP, which is what a dead NFS server looks like to its clients) must never stall the
//! server: requests, the status page, `graceful` and `apache2 -t` go on as they do without the
//! module, the fault is reported once as not answering, and once as recovered when the
//! filesystem answers again.

mod common;

use common::{mpm, Apache};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A bindfs mount of a scratch directory whose daemon can be stopped and resumed. Dropping it
/// resumes the daemon and unmounts, also when the test fails.
struct HungFs {
    root: PathBuf,
    mnt: PathBuf,
    pid: i32,
}

impl HungFs {
    fn mount() -> Option<HungFs> {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let root = std::env::temp_dir().join(format!("dirguard-fuse-{}-{n}", std::process::id()));
        let (src, mnt) = (root.join("src"), root.join("mnt"));
        let _ = std::fs::remove_dir_all(&root);
        common::mkdir(&src, 0o755);
        common::mkdir(&mnt, 0o755);
        common::mkdir(&src.join("uploads"), 0o755);
        common::sh(&format!(
            "chown www-data:www-data '{}'",
            src.join("uploads").display()
        ));
        let ok = Command::new("bindfs")
            .arg(&src)
            .arg(&mnt)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("SKIPPED: bindfs cannot mount here (FUSE unavailable)");
            return None;
        }
        let out = Command::new("pgrep")
            .args(["-n", "-f"])
            .arg(format!("bindfs {} {}", src.display(), mnt.display()))
            .output()
            .unwrap();
        let pid = String::from_utf8_lossy(&out.stdout).trim().parse().ok()?;
        Some(HungFs { root, mnt, pid })
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.mnt.join(rel)
    }

    fn hang(&self) {
        // SAFETY: signalling the bindfs daemon this test started.
        assert_eq!(unsafe { libc::kill(self.pid, libc::SIGSTOP) }, 0);
    }

    fn answer(&self) {
        // SAFETY: as above.
        assert_eq!(unsafe { libc::kill(self.pid, libc::SIGCONT) }, 0);
    }
}

impl Drop for HungFs {
    fn drop(&mut self) {
        self.answer();
        let _ = Command::new("umount").arg("-l").arg(&self.mnt).status();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// A script that fails (a 500 that has nothing to do with any directory).
const FAILING_CGI: &str = "#!/bin/sh\nexit 1\n";

/// What a stream of requests got: 500s from the failing script, 200s for the static page, and
/// anything else (a timeout counts as 0), with the slowest answer.
#[derive(Debug, Default, PartialEq)]
struct Served {
    cgi_500: usize,
    static_200: usize,
    other: Vec<(String, u16)>,
    slowest: Duration,
}

/// 16 clients at once (twice the server's MaxRequestWorkers), 3 rounds each of the failing
/// script and the static page, each request given 10 s.
fn serve(a: &Apache) -> Served {
    let results: Vec<(String, u16, Duration)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..16)
            .map(|_| {
                scope.spawn(|| {
                    let mut got = Vec::new();
                    for _ in 0..3 {
                        for path in ["/cgi-bin/fail.cgi", "/index.html"] {
                            let t = Instant::now();
                            let (status, _) = a.get(path);
                            got.push((path.to_owned(), status, t.elapsed()));
                        }
                    }
                    got
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let mut served = Served::default();
    for (path, status, took) in results {
        served.slowest = served.slowest.max(took);
        match (path.as_str(), status) {
            ("/cgi-bin/fail.cgi", 500) => served.cgi_500 += 1,
            ("/index.html", 200) => served.static_200 += 1,
            _ => served.other.push((path, status)),
        }
    }
    served
}

/// `apache2 -t` under a hard limit: (finished in time, exit code, output, elapsed).
fn configtest_within(a: &Apache, limit: Duration) -> (bool, Option<i32>, String, Duration) {
    let t = Instant::now();
    let out = Command::new("timeout")
        .arg(limit.as_secs().to_string())
        .arg(common::apache2())
        .args(["-t", "-f"])
        .arg(&a.conf)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (
        out.status.code() != Some(124),
        out.status.code(),
        text,
        t.elapsed(),
    )
}

fn wait_for_lines(a: &Apache, needle: &str, n: usize, within: Duration) -> Vec<String> {
    let deadline = Instant::now() + within;
    loop {
        let lines = a.lines_with(needle);
        if lines.len() >= n || Instant::now() > deadline {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn site(a: &mut Apache, uploads: &Path) {
    a.cgi("fail.cgi", FAILING_CGI).config(&format!(
        "DirGuardRequire \"{}\" access=rw\nDirGuardInterval 1\nDirGuardCheckTimeout 1\n\
         DirGuardExplain 5xx\n\
         <Location /dirguard-status>\n  SetHandler dirguard-status\n</Location>",
        uploads.display()
    ));
}

#[test]
fn a_hung_filesystem_never_stalls_requests_restarts_or_configtest() {
    require_root!("bindfs mounts and apache2 as root");
    let Some(fs) = HungFs::mount() else {
        return;
    };
    let uploads = fs.path("uploads");

    // The same Apache without the module, for comparison: what "served as usual" means.
    let mut plain = Apache::new("hung-plain");
    plain
        .without_module()
        .cgi("fail.cgi", FAILING_CGI)
        .allow("End of script output before headers")
        .start();

    let mut a = Apache::new("hung");
    site(&mut a, &uploads);
    a.allow("End of script output before headers")
        .allow("DG01502")
        .allow("DG01504")
        .allow("DG01113")
        .allow("DG01301")
        .start();
    let parent = a.pid();
    assert_eq!(a.get("/dirguard-status?format=json").0, 200);
    assert!(a.lines_with("DG01113").is_empty(), "{}", a.log());

    fs.hang();
    let t = Instant::now();
    let with_module = serve(&a);
    let with_took = t.elapsed();
    let t = Instant::now();
    let without_module = serve(&plain);
    let without_took = t.elapsed();
    println!(
        "{} MPM, filesystem hung: with the module {with_module:?} in {with_took:?}; \
         without it {without_module:?} in {without_took:?}",
        mpm()
    );
    assert_eq!((with_module.cgi_500, with_module.static_200), (48, 48));
    assert_eq!(with_module.other, vec![]);
    assert_eq!(
        (with_module.cgi_500, with_module.static_200),
        (without_module.cgi_500, without_module.static_200)
    );
    // A request waits at most EXPLAIN_WAIT (250 ms) once per process for a filesystem that
    // stops answering, then never again; a blocked worker would show as a 10 s timeout.
    assert!(
        with_module.slowest < Duration::from_secs(3),
        "{:?}",
        with_module.slowest
    );
    let (status, body) = a.get_body("/dirguard-status?format=json");
    assert_eq!(
        status, 200,
        "the status page answers while the filesystem hangs"
    );

    // The live audit reports it once, as not answering, naming the call and the mount.
    let failing = wait_for_lines(&a, "DG01301", 1, Duration::from_secs(10));
    assert_eq!(failing.len(), 1, "{}", a.log());
    assert!(
        failing[0].contains("does not answer")
            && failing[0].contains(&format!("mounted at '{}'", fs.mnt.display()))
            && failing[0].contains("(fuse"),
        "{}",
        failing[0]
    );
    let (_, body_after) = a.get_body("/dirguard-status?format=json");
    assert!(
        body_after.contains("\"kinds\":[\"not-answering\"]"),
        "{body}\n{body_after}"
    );
    // The explanations say why without waiting on the mount.
    let explained = a.lines_with("DG01502");
    assert!(
        explained
            .iter()
            .any(|l| l.contains("does not answer") && l.contains("not checked now")),
        "{explained:?}"
    );

    // apache2 -t and graceful complete, reporting the directory as not answering.
    let (finished, code, out, took) = configtest_within(&a, Duration::from_secs(30));
    println!("configtest with the filesystem hung: {took:?}");
    assert!(finished, "apache2 -t hung:\n{out}");
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("DG01113") && out.contains("Syntax OK"),
        "{out}"
    );
    assert!(took < Duration::from_secs(10), "{took:?}");
    let t = Instant::now();
    a.graceful();
    println!("graceful with the filesystem hung: {:?}", t.elapsed());
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    let summary = a.lines_with("DG01120");
    assert!(
        summary
            .last()
            .is_some_and(|l| l.contains("1 not answering")),
        "{summary:?}"
    );
    // Every graceful with the filesystem still hung completes within one deadline (the check
    // runs in a process of its own, whose stalls end with it).
    let t = Instant::now();
    a.graceful();
    println!(
        "second graceful with the filesystem hung: {:?}",
        t.elapsed()
    );
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    let again = serve(&a);
    assert_eq!((again.cgi_500, again.static_200), (48, 48), "{again:?}");
    assert_eq!(a.get("/dirguard-status").0, 200);

    // The filesystem answers again: recovered once; everything as before.
    fs.answer();
    let recovered = wait_for_lines(&a, "DG01302", 1, Duration::from_secs(10));
    assert_eq!(recovered.len(), 1, "{}", a.log());
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(a.lines_with("DG01302").len(), 1, "{}", a.log());
    assert_eq!(a.lines_with("DG01301").len(), 1, "{}", a.log());
    let (_, healthy) = a.get_body("/dirguard-status?format=json");
    assert!(
        healthy.contains("\"failing\":0") && healthy.contains("\"state\":\"healthy\""),
        "{healthy}"
    );
    assert_eq!(a.pid(), parent, "the same parent throughout");
    let last = serve(&a);
    assert_eq!((last.cgi_500, last.static_200), (48, 48), "{last:?}");
    a.assert_no_child_crash_in_module();
    plain.assert_no_child_crash_in_module();
}
