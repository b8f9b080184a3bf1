//! The Debian package in the machine's own Apache, as an administrator installs it: `make deb`,
//! `apt-get install ./libapache2-mod-dirguard_….deb`, `a2enmod dirguard`, `apache2ctl
//! configtest`, `apache2ctl start` on the stock port 80. With nothing but the module enabled it
//! derives the requirements from Apache's configuration: the startup summary (DG01120) reaches
//! /var/log/apache2/error.log and `apache2ctl -t -D DUMP_DIRGUARD` lists /var/www/html as
//! derived from DocumentRoot. Then `apache2ctl stop`, `a2dismod dirguard`, `apt-get purge`: no
//! file of the package is left, and Apache is as it was found (running or not, the same
//! mods-enabled, conf-enabled and sites-enabled, the same state in /var/lib/apache2).
//!
//! This is the only test that touches the system Apache. It holds an exclusive flock on
//! /tmp/dirguard-system-apache.lock while it does, and a Drop guard puts everything back (stops
//! what it started, purges what it installed, restarts what it stopped) when it fails.

mod common;

use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const PACKAGE: &str = "libapache2-mod-dirguard";
const APACHE2CTL: &str = "/usr/sbin/apache2ctl";
const PID_FILE: &str = "/var/run/apache2/apache2.pid";
const ERROR_LOG: &str = "/var/log/apache2/error.log";
const LOCK: &str = "/tmp/dirguard-system-apache.lock";
/// What every MPM logs (at notice, so whatever the LogLevel) once a generation is up.
const RESUMED: &str = "resuming normal operations";

/// A command with a neutral environment for the system's tools: no APACHE_* variable from the
/// caller (apache2ctl would take APACHE_CONFDIR and friends), C messages, no prompts.
fn command(program: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(program);
    cmd.args(args);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("APACHE") {
            cmd.env_remove(&k);
        }
    }
    cmd.env("LANG", "C")
        .env("LC_ALL", "C")
        .env("DEBIAN_FRONTEND", "noninteractive");
    cmd
}

fn run(program: &str, args: &[&str]) -> Output {
    command(program, args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"))
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs a command that must succeed; returns stdout and stderr together.
fn must(program: &str, args: &[&str]) -> String {
    let out = run(program, args);
    let t = text(&out);
    assert!(
        out.status.success(),
        "`{program} {}` failed ({}):\n{t}",
        args.join(" "),
        out.status
    );
    t
}

/// apt-get waits for the dpkg lock (another apt run on the machine) instead of failing.
fn apt_get(args: &[&str]) -> Output {
    let mut all = vec!["-y", "-q", "-o", "DPkg::Lock::Timeout=300"];
    all.extend_from_slice(args);
    run("apt-get", &all)
}

fn package_installed() -> bool {
    let out = run("dpkg-query", &["-W", "-f=${db:Status-Abbrev}", PACKAGE]);
    out.status.success() && String::from_utf8_lossy(&out.stdout).starts_with("ii")
}

fn package_known() -> bool {
    run("dpkg-query", &["-W", PACKAGE]).status.success()
}

/// The system Apache's parent, from Debian's pid file, if it is alive.
fn system_apache_pid() -> Option<i32> {
    let pid: i32 = std::fs::read_to_string(PID_FILE)
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok()?;
    exe.to_string_lossy().contains("apache2").then_some(pid)
}

fn wait_running() -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while system_apache_pid().is_none() {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    true
}

fn wait_stopped() -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while system_apache_pid().is_some() {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    true
}

/// Names and targets of the links in a directory such as /etc/apache2/mods-enabled.
fn links(dir: &str) -> BTreeMap<String, String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return BTreeMap::new();
    };
    entries
        .filter_map(Result::ok)
        .map(|e| {
            let target = std::fs::read_link(e.path())
                .map(|t| t.display().to_string())
                .unwrap_or_else(|_| "(not a link)".into());
            (e.file_name().to_string_lossy().into_owned(), target)
        })
        .collect()
}

/// Every path under a directory (the state apache2-maintscript-helper keeps in /var/lib/apache2).
fn tree(dir: &str) -> Vec<String> {
    let out = run("find", &[dir]);
    let mut v: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    v.sort();
    v
}

#[derive(Debug, PartialEq)]
struct State {
    running: bool,
    mods_enabled: BTreeMap<String, String>,
    conf_enabled: BTreeMap<String, String>,
    sites_enabled: BTreeMap<String, String>,
    maintscript_state: Vec<String>,
}

fn state() -> State {
    State {
        running: system_apache_pid().is_some(),
        mods_enabled: links("/etc/apache2/mods-enabled"),
        conf_enabled: links("/etc/apache2/conf-enabled"),
        sites_enabled: links("/etc/apache2/sites-enabled"),
        maintscript_state: tree("/var/lib/apache2"),
    }
}

/// Removes the empty directories that appeared in /var/lib/apache2 since `before`.
fn tidy_state_dirs(before: &[String]) {
    for path in tree("/var/lib/apache2").iter().rev() {
        if !before.contains(path) && Path::new(path).is_dir() && std::fs::remove_dir(path).is_ok() {
            eprintln!("removed {path}, empty, left by a2dismod's bookkeeping");
        }
    }
}

fn differences(before: &State, after: &State) -> String {
    fn maps(name: &str, a: &BTreeMap<String, String>, b: &BTreeMap<String, String>) -> String {
        let mut out = String::new();
        for (k, v) in a {
            if b.get(k) != Some(v) {
                out += &format!("{name}: {k} -> {v} was there, now {:?}\n", b.get(k));
            }
        }
        for (k, v) in b {
            if !a.contains_key(k) {
                out += &format!("{name}: {k} -> {v} is new\n");
            }
        }
        out
    }
    let mut out = String::new();
    if before.running != after.running {
        out += &format!("running: {} then, {} now\n", before.running, after.running);
    }
    out += &maps("mods-enabled", &before.mods_enabled, &after.mods_enabled);
    out += &maps("conf-enabled", &before.conf_enabled, &after.conf_enabled);
    out += &maps("sites-enabled", &before.sites_enabled, &after.sites_enabled);
    for p in &before.maintscript_state {
        if !after.maintscript_state.contains(p) {
            out += &format!("{p} is gone\n");
        }
    }
    for p in &after.maintscript_state {
        if !before.maintscript_state.contains(p) {
            out += &format!("{p} is new\n");
        }
    }
    out
}

fn log_len() -> u64 {
    std::fs::metadata(ERROR_LOG).map(|m| m.len()).unwrap_or(0)
}

/// What the error log gained since it was `from` bytes long (all of it if it was rotated).
fn log_since(from: u64) -> String {
    let bytes = std::fs::read(ERROR_LOG).unwrap_or_default();
    let from = if (bytes.len() as u64) < from {
        0
    } else {
        from as usize
    };
    String::from_utf8_lossy(&bytes[from..]).into_owned()
}

/// Who listens on port 80 (for the failure message).
fn port_80_listeners() -> String {
    text(&run("ss", &["-Hltnp", "sport = :80"]))
}

fn port_80_free() -> bool {
    use std::net::TcpListener;
    let in_use = |addr: &str| matches!(TcpListener::bind(addr), Err(e) if e.kind() == std::io::ErrorKind::AddrInUse);
    !in_use("0.0.0.0:80") && !in_use("[::]:80")
}

/// The .deb to install: $DIRGUARD_DEB, or what `make deb` builds now. Under `make test` the
/// module target/release holds is the one `make module` built and every other test loaded:
/// `make deb DEB_PREBUILT=1` packages it as it is (packaging and lintian alone, no cargo run;
/// a `cargo build` between two `cargo test` runs would rebuild the module twice). Run on its
/// own, the test has `make deb` build the module first.
fn build_deb() -> PathBuf {
    if let Ok(p) = std::env::var("DIRGUARD_DEB") {
        let p = PathBuf::from(p);
        assert!(p.is_file(), "DIRGUARD_DEB={} is not a file", p.display());
        return p;
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let changelog = std::fs::read_to_string(root.join("debian/changelog")).unwrap();
    let version = changelog
        .split_once('(')
        .and_then(|(_, rest)| rest.split_once(')'))
        .map(|(v, _)| v.to_owned())
        .expect("a version in debian/changelog's first line");
    assert_eq!(
        version.rsplit_once('-').map(|(upstream, _)| upstream),
        Some(env!("CARGO_PKG_VERSION")),
        "debian/changelog's version {version} is not Cargo.toml's"
    );
    let arch = must("dpkg", &["--print-architecture"]).trim().to_owned();
    let deb = root.join(format!("target/deb/{PACKAGE}_{version}_{arch}.deb"));
    let t0 = Instant::now();
    let under_make = std::env::var_os("MAKELEVEL").is_some()
        && std::env::var_os("CARGO_TARGET_DIR").is_none()
        && root.join("target/release/libmod_dirguard.so").is_file();
    let args: &[&str] = if under_make {
        &["deb", "DEB_PREBUILT=1"]
    } else {
        &["deb"]
    };
    eprintln!("make {}", args.join(" "));
    // `make deb` packages target/release's module, so no CARGO_TARGET_DIR of the caller's.
    let out = command("make", args)
        .current_dir(&root)
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("MAKEFLAGS")
        .env_remove("MFLAGS")
        .env_remove("MAKELEVEL")
        .output()
        .expect("make");
    let t = text(&out);
    assert!(out.status.success(), "make deb failed:\n{t}");
    eprintln!(
        "make deb: {:.1} s\n{}",
        t0.elapsed().as_secs_f64(),
        t.lines()
            .filter(|l| l.starts_with("make deb:") || l.starts_with("E: ") || l.starts_with("W: "))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(deb.is_file(), "make deb did not build {}", deb.display());
    deb
}

/// Puts the system Apache back as it was found, whatever happened: stops the server the test
/// started, purges the package it installed, starts again the server it stopped.
struct Guard {
    started: bool,
    installed: bool,
    stopped_original: bool,
    /// /var/lib/apache2 as found, once recorded.
    state_dirs: Option<Vec<String>>,
    _lock: File,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if self.started {
            eprintln!("cleanup: apache2ctl stop");
            let _ = run(APACHE2CTL, &["stop"]);
            if !wait_stopped() {
                eprintln!("cleanup: the system Apache did not stop");
            }
        }
        if self.installed && package_known() {
            eprintln!("cleanup: a2dismod dirguard; apt-get purge {PACKAGE}");
            let _ = run("a2dismod", &["-q", "-f", "dirguard"]);
            let out = apt_get(&["purge", PACKAGE]);
            if !out.status.success() {
                eprintln!("cleanup: apt-get purge failed:\n{}", text(&out));
            }
            if let Some(before) = &self.state_dirs {
                tidy_state_dirs(before);
            }
        }
        if self.stopped_original && system_apache_pid().is_none() {
            eprintln!("cleanup: apache2ctl start (it was running when the test began)");
            let _ = run(APACHE2CTL, &["start"]);
        }
    }
}

fn lock() -> File {
    let f = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(LOCK)
        .unwrap_or_else(|e| panic!("{LOCK}: {e}"));
    // SAFETY: flock on a descriptor this function owns; blocks until the lock is ours.
    let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) };
    assert_eq!(rc, 0, "flock {LOCK}: {}", std::io::Error::last_os_error());
    f
}

#[test]
fn the_debian_package_installs_into_the_system_apache_and_purges_without_a_trace() {
    let mpm = common::mpm();
    if mpm != "event" {
        eprintln!(
            "SKIPPED under DIRGUARD_TEST_MPM={mpm}: the system Apache has the machine's own MPM, \
             so this runs once, in the event pass of `make test`"
        );
        return;
    }
    require_root!("apt-get, a2enmod and the system Apache");
    if !Path::new(APACHE2CTL).exists() {
        eprintln!("SKIPPED: no {APACHE2CTL} (Debian's apache2 is not installed)");
        return;
    }
    let t0 = Instant::now();
    let deb = build_deb();

    let mut guard = Guard {
        started: false,
        installed: false,
        stopped_original: false,
        state_dirs: None,
        _lock: lock(),
    };
    eprintln!("holding {LOCK} after {:.1} s", t0.elapsed().as_secs_f64());

    // What the machine has before: nothing of the package, and Apache as it is.
    assert!(
        !package_known(),
        "{PACKAGE} is already installed (or not purged) on this machine: the test installs and \
         purges it itself; run `apt-get purge {PACKAGE}` first"
    );
    let contents = must(
        "bash",
        &[
            "-c",
            &format!("dpkg-deb --fsys-tarfile '{}' | tar -t", deb.display()),
        ],
    );
    let shipped: Vec<String> = contents
        .lines()
        .map(|l| l.trim_start_matches('.').trim_end_matches('/').to_owned())
        .filter(|l| !l.is_empty())
        .collect();
    let existing_before: Vec<&String> = shipped
        .iter()
        .filter(|p| Path::new(p).exists() && !Path::new(p).is_dir())
        .collect();
    assert!(
        existing_before.is_empty(),
        "files of the package exist before it is installed (`make install`?): {existing_before:?}"
    );
    let before = state();
    guard.state_dirs = Some(before.maintscript_state.clone());
    let mpms: Vec<&String> = before
        .mods_enabled
        .keys()
        .filter(|m| m.starts_with("mpm_") && m.ends_with(".load"))
        .collect();
    let php: Vec<&String> = before
        .mods_enabled
        .keys()
        .filter(|m| m.starts_with("php") && m.ends_with(".load"))
        .collect();
    eprintln!(
        "system Apache found: {}; MPM modules {mpms:?}; PHP {php:?}; {} mods-enabled entries",
        if before.running {
            "running"
        } else {
            "not running"
        },
        before.mods_enabled.len()
    );
    if before.running {
        eprintln!("apache2ctl stop (restarted at the end)");
        must(APACHE2CTL, &["stop"]);
        guard.stopped_original = true;
        assert!(wait_stopped(), "the system Apache did not stop");
    }
    assert!(
        port_80_free(),
        "port 80 is taken by another program, so the system Apache cannot start on its stock \
         port:\n{}",
        port_80_listeners()
    );

    // Install, enable, check the configuration.
    let deb_arg = deb.display().to_string();
    guard.installed = true;
    let out = apt_get(&["install", "--no-install-recommends", &deb_arg]);
    assert!(
        out.status.success(),
        "apt-get install failed:\n{}",
        text(&out)
    );
    assert!(package_installed(), "{PACKAGE} not installed after apt-get");
    let enabled_by_postinst = Path::new("/etc/apache2/mods-enabled/dirguard.load").exists();
    eprintln!(
        "apt-get install: done; the postinst (apache2-maintscript-helper) {} the module",
        if enabled_by_postinst {
            "enabled"
        } else {
            "did not enable"
        }
    );
    let out = must("a2enmod", &["dirguard"]);
    eprintln!("a2enmod dirguard: {}", out.trim());
    for ext in ["load", "conf"] {
        let link = format!("/etc/apache2/mods-enabled/dirguard.{ext}");
        let target = std::fs::read_link(&link).unwrap_or_else(|e| panic!("{link}: {e}"));
        assert_eq!(
            target,
            PathBuf::from(format!("../mods-available/dirguard.{ext}"))
        );
    }
    let load = std::fs::read_to_string("/etc/apache2/mods-available/dirguard.load").unwrap();
    assert!(
        load.contains("LoadModule dirguard_module /usr/lib/apache2/modules/mod_dirguard.so"),
        "{load}"
    );
    assert!(Path::new("/usr/lib/apache2/modules/mod_dirguard.so").is_file());
    let out = must(APACHE2CTL, &["configtest"]);
    assert!(out.contains("Syntax OK"), "{out}");
    let modules = must(APACHE2CTL, &["-M"]);
    assert!(modules.contains("dirguard_module"), "{modules}");

    // Start on port 80: the startup summary reaches the system's error log.
    let offset = log_len();
    let out = run(APACHE2CTL, &["start"]);
    guard.started = true;
    assert!(
        out.status.success(),
        "apache2ctl start failed:\n{}\nerror log:\n{}",
        text(&out),
        log_since(offset)
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while !log_since(offset).contains(RESUMED) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = log_since(offset);
    eprintln!("error.log after the start:\n{log}");
    assert!(
        log.contains(RESUMED),
        "the system Apache did not start:\n{log}"
    );
    let summary: Vec<&str> = log.lines().filter(|l| l.contains("DG01120")).collect();
    assert_eq!(
        summary.len(),
        1,
        "one DG01120 summary after the start:\n{log}"
    );
    assert!(
        summary[0].contains("required director") && summary[0].contains(": 0 failing"),
        "{}",
        summary[0]
    );
    let complaints: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("dirguard") || l.contains(" DG0"))
        .filter(|l| {
            [":warn]", ":error]", ":crit]", ":alert]", ":emerg]"]
                .iter()
                .any(|t| l.contains(t))
        })
        .collect();
    assert!(
        complaints.is_empty(),
        "the module complains about a stock server:\n{log}"
    );
    let (status, _) = common::http(80, "GET / HTTP/1.0\r\nHost: localhost\r\n\r\n");
    assert_eq!(status, 200, "GET / on the system Apache");

    let out = run(APACHE2CTL, &["-t", "-D", "DUMP_DIRGUARD"]);
    let dump = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{}", text(&out));
    let entry = dump
        .split("\n'")
        .find(|e| e.starts_with("/var/www/html'"))
        .unwrap_or_else(|| panic!("/var/www/html in the dump:\n{dump}"));
    assert!(
        entry.contains("derived from DocumentRoot") && entry.contains("now: healthy"),
        "{entry}"
    );
    eprintln!("apache2ctl -t -D DUMP_DIRGUARD:\n{dump}");

    // Stop, disable, purge: nothing of the package is left.
    must(APACHE2CTL, &["stop"]);
    assert!(wait_stopped(), "the system Apache did not stop");
    guard.started = false;
    eprintln!(
        "a2dismod dirguard: {}",
        must("a2dismod", &["dirguard"]).trim()
    );
    let listed = must("dpkg", &["-L", PACKAGE]);
    let files: Vec<&str> = listed
        .lines()
        .filter(|p| p.starts_with('/') && !Path::new(p).is_dir())
        .collect();
    assert!(
        files.contains(&"/usr/lib/apache2/modules/mod_dirguard.so")
            && files.contains(&"/etc/apache2/mods-available/dirguard.load")
            && files.contains(&"/etc/apache2/mods-available/dirguard.conf")
            && files.contains(&"/usr/share/doc/libapache2-mod-dirguard/copyright"),
        "{listed}"
    );
    let out = apt_get(&["purge", PACKAGE]);
    assert!(
        out.status.success(),
        "apt-get purge failed:\n{}",
        text(&out)
    );
    guard.installed = false;
    assert!(
        !package_known(),
        "{PACKAGE} still known to dpkg after purge"
    );
    let left: Vec<&String> = shipped
        .iter()
        .filter(|p| Path::new(p).exists())
        .filter(|p| !Path::new(p).is_dir() || p.contains(PACKAGE))
        .collect();
    assert!(left.is_empty(), "left after purge: {left:?}");
    let left: Vec<&&str> = files.iter().filter(|p| Path::new(p).exists()).collect();
    assert!(left.is_empty(), "left after purge (dpkg -L): {left:?}");
    for ext in ["load", "conf"] {
        let link = format!("/etc/apache2/mods-enabled/dirguard.{ext}");
        assert!(
            std::fs::symlink_metadata(&link).is_err(),
            "{link} left after purge"
        );
    }

    // a2dismod, as the administrator's action it is, records "disabled by admin" in
    // /var/lib/apache2/module/disabled_by_admin/ (created if new); the purge removes the record,
    // not the directory.
    tidy_state_dirs(&before.maintscript_state);

    // Apache as found.
    if guard.stopped_original {
        must(APACHE2CTL, &["start"]);
        assert!(wait_running(), "the system Apache did not start again");
        guard.stopped_original = false;
    }
    let after = state();
    assert!(
        before == after,
        "the system Apache is not as it was found:\n{}",
        differences(&before, &after)
    );
    eprintln!(
        "system Apache left as found ({}); test took {:.1} s",
        if after.running {
            "running"
        } else {
            "not running"
        },
        t0.elapsed().as_secs_f64()
    );
}
