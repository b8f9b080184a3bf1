//! Debian's stock configuration layout, as `a2enmod dirguard` users run it: a copy of
//! /etc/apache2 (apache2.conf with its `<Directory />`, `<Directory /usr/share>`,
//! `<Directory /var/www/>` sections, mods-enabled, conf-enabled, the 000-default virtual host),
//! with ten requirements in a global `<Directory>` block in conf-enabled. Every virtual host
//! inherits that block, yet one declaration is one requirement: checked, logged, counted and
//! listed once, and every status format agrees.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

struct Stock {
    root: PathBuf,
    port: u16,
    running: bool,
}

impl Stock {
    fn env(&self, cmd: &mut Command) {
        let r = self.root.display().to_string();
        cmd.env("APACHE_CONFDIR", &r)
            .env("APACHE_RUN_USER", "www-data")
            .env("APACHE_RUN_GROUP", "www-data")
            .env("APACHE_PID_FILE", format!("{r}/run/apache2.pid"))
            .env("APACHE_RUN_DIR", format!("{r}/run"))
            .env("APACHE_LOCK_DIR", format!("{r}/run"))
            .env("APACHE_LOG_DIR", format!("{r}/log"))
            .env("LANG", "C");
    }

    fn apache(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(common::apache2());
        self.env(&mut cmd);
        cmd.arg("-d")
            .arg(&self.root)
            .arg("-f")
            .arg(self.root.join("apache2.conf"))
            .args(args);
        cmd.output().unwrap()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.root.join("log/error.log")).unwrap_or_default()
    }

    fn lines_with(&self, needle: &str) -> Vec<String> {
        self.log()
            .lines()
            .filter(|l| l.contains(needle))
            .map(str::to_owned)
            .collect()
    }

    fn get(&self, path: &str) -> (u16, String) {
        let request = format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n");
        let (status, resp) = common::http(self.port, &request);
        (status, common::body_of(&resp))
    }

    fn wait_for(&self, needle: &str, n: usize) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let lines = self.lines_with(needle);
            if lines.len() >= n || Instant::now() > deadline {
                return lines;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Stock {
    fn drop(&mut self) {
        if self.running {
            let _ = self.apache(&["-k", "stop"]);
            std::thread::sleep(Duration::from_millis(500));
        }
        let unexpected: Vec<String> = self
            .log()
            .lines()
            .filter(|l| {
                [":error]", ":crit]", ":alert]", ":emerg]"]
                    .iter()
                    .any(|t| l.contains(t))
            })
            .filter(|l| !["DG01101", "DG01301"].iter().any(|t| l.contains(t)))
            .map(str::to_owned)
            .collect();
        if !std::thread::panicking() {
            assert!(
                unexpected.is_empty(),
                "unexpected error lines: {unexpected:#?}"
            );
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn copy_tree(from: &Path, to: &Path) {
    let ok = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "cp -a {} {}", from.display(), to.display());
}

/// A copy of /etc/apache2 on a test port, under the MPM of this test run, with a site directory
/// of its own and the module enabled with `module_conf` in conf-enabled/dirguard.conf.
fn stock(name: &str, site: &Path, module_conf: &str) -> Stock {
    let root = std::env::temp_dir().join(format!("dirguard-debian-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    copy_tree(Path::new("/etc/apache2"), &root);
    for d in ["run", "log"] {
        common::mkdir(&root.join(d), 0o755);
    }
    let port = common::free_port();
    std::fs::write(
        root.join("ports.conf"),
        format!("Listen 127.0.0.1:{port}\n"),
    )
    .unwrap();
    let vhost = std::fs::read_to_string(root.join("sites-available/000-default.conf")).unwrap();
    let vhost = vhost
        .replace("<VirtualHost *:80>", &format!("<VirtualHost *:{port}>"))
        .replace("/var/www/html", &site.display().to_string());
    let _ = std::fs::remove_file(root.join("sites-enabled/000-default.conf"));
    std::fs::write(root.join("sites-enabled/000-default.conf"), vhost).unwrap();
    // This run's MPM, and no PHP (libapache2-mod-php may have switched the system to prefork).
    for entry in std::fs::read_dir(root.join("mods-enabled")).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        // mpm_*: this run's MPM below; php*: mod_php needs prefork; dirguard.*: the module is
        // loaded by the test's own conf-enabled/dirguard.conf (tests/package.rs enables the
        // packaged one in the system's Apache for a few seconds).
        if name.starts_with("mpm_") || name.starts_with("php") || name.starts_with("dirguard.") {
            std::fs::remove_file(root.join("mods-enabled").join(&name)).unwrap();
        }
    }
    let mpm = common::mpm();
    for ext in ["load", "conf"] {
        let src = PathBuf::from(format!("/etc/apache2/mods-available/mpm_{mpm}.{ext}"));
        if src.exists() {
            std::os::unix::fs::symlink(&src, root.join(format!("mods-enabled/mpm_{mpm}.{ext}")))
                .unwrap();
        }
    }
    let conf = format!(
        "LoadModule dirguard_module {}\n{module_conf}",
        common::module_path().display()
    );
    std::fs::write(root.join("conf-enabled/dirguard.conf"), conf).unwrap();
    Stock {
        root,
        port,
        running: false,
    }
}

#[test]
fn in_debians_stock_layout_one_declaration_is_one_requirement_in_every_output() {
    require_root!("apache2 as root with Debian's envvars");
    if !Path::new("/etc/apache2/apache2.conf").exists() {
        eprintln!("SKIPPED: no /etc/apache2 to copy");
        return;
    }
    let site = std::env::temp_dir().join(format!("dirguard-debian-site-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&site);
    common::mkdir(&site, 0o755);
    std::fs::write(site.join("index.html"), "hello\n").unwrap();
    common::sh(&format!("chmod 0644 '{}/index.html'", site.display()));
    let dirs: Vec<PathBuf> = (1..=10).map(|i| site.join(format!("d{i}"))).collect();
    for (i, d) in dirs.iter().enumerate() {
        if i != 2 {
            common::mkdir(d, 0o755);
        }
    }
    // Ten requirements in a global <Directory>; only what is declared (no presets, nothing
    // derived: the zero-configuration test below covers those).
    let mut conf = format!(
        "DirGuardApps off\nDirGuardDerive off\nDirGuardInterval 1\n<Directory {}>\n    Require all granted\n",
        site.display()
    );
    for d in &dirs {
        conf.push_str(&format!("    DirGuardRequire {} access=r\n", d.display()));
    }
    conf.push_str(
        "</Directory>\n<Location /dirguard-status>\n    SetHandler dirguard-status\n    \
         DirGuardStatusView all\n    Require local\n</Location>\n",
    );
    let mut s = stock("declared", &site, &conf);

    let out = s.apache(&["-t"]);
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(text.matches("DG01101").count(), 1, "{text}");
    assert!(
        text.contains("checked 10 required directories") && text.contains("1 failing"),
        "{text}"
    );

    let out = s.apache(&["-k", "start"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    s.running = true;
    let up = s.wait_for("resuming normal operations", 1);
    assert_eq!(up.len(), 1, "{}", s.log());
    assert_eq!(s.lines_with("DG01101").len(), 1, "{}", s.log());
    let summary = s.lines_with("DG01120");
    assert!(
        summary.len() == 1
            && summary[0].contains("checked 10 required directories")
            && summary[0].contains("1 failing, 1 fault"),
        "{summary:?}"
    );
    assert_eq!(s.get("/index.html").0, 200);

    // Every format lists ten directories, one failing.
    let (status, json) = s.get("/dirguard-status?format=json");
    assert_eq!(status, 200, "{json}");
    assert!(
        json.contains("\"totals\":{\"directories\":10,\"healthy\":9,\"failing\":1,\"unknown\":0}"),
        "{json}"
    );
    assert_eq!(json.matches("\"declared_at\"").count(), 10, "{json}");
    let (_, metrics) = s.get("/dirguard-status?format=prometheus");
    let healthy: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("dirguard_directory_healthy{"))
        .collect();
    assert_eq!(healthy.len(), 10, "{metrics}");
    assert_eq!(healthy.iter().filter(|l| l.ends_with(" 0")).count(), 1);
    let (_, html) = s.get("/dirguard-status");
    for d in &dirs {
        assert_eq!(
            html.matches(&format!("{}<", d.display())).count(),
            1,
            "{} in {html}",
            d.display()
        );
    }

    // A fault that appears while serving is logged once, and its recovery once.
    std::fs::remove_dir(&dirs[4]).unwrap();
    let failing = s.wait_for("DG01301", 1);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(s.lines_with("DG01301").len(), 1, "{}", s.log());
    assert!(failing[0].contains("/d5'"), "{}", failing[0]);
    common::mkdir(&dirs[4], 0o755);
    s.wait_for("DG01302", 1);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(s.lines_with("DG01302").len(), 1, "{}", s.log());
    drop(s);
    let _ = std::fs::remove_dir_all(&site);
}

/// `a2enmod dirguard` on Debian's stock configuration, nothing else: what Apache's own
/// configuration implies (the DocumentRoot, the Alias and ScriptAlias targets, the log, pid and
/// lock directories) is required and checked, and a healthy stock server gets no warning at all,
/// from `apache2 -t`, at start, or while serving. `-t -D DUMP_DIRGUARD` lists each requirement
/// with its origin and verdict.
#[test]
fn debians_stock_configuration_with_the_module_alone_has_no_warning() {
    require_root!("apache2 as root with Debian's envvars");
    if !Path::new("/etc/apache2/apache2.conf").exists() {
        eprintln!("SKIPPED: no /etc/apache2 to copy");
        return;
    }
    let site =
        std::env::temp_dir().join(format!("dirguard-debian-zero-site-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&site);
    common::mkdir(&site, 0o755);
    std::fs::write(site.join("index.html"), "hello\n").unwrap();
    common::sh(&format!("chmod 0644 '{}/index.html'", site.display()));
    // The site lives outside /var/www: Apache needs to be told it may serve it (no
    // mod_dirguard directive).
    let grant = format!(
        "<Directory {}>\n    Require all granted\n</Directory>\n",
        site.display()
    );
    let mut s = stock("zero", &site, &grant);
    let warnings = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| l.contains("dirguard") || l.contains("DG0"))
            .filter(|l| {
                [
                    ":warn]", ":error]", ":crit]", ":alert]", ":emerg]", "DG0110", "DG0111",
                ]
                .iter()
                .any(|t| l.contains(t))
            })
            .map(str::to_owned)
            .collect()
    };

    let out = s.apache(&["-t"]);
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{text}");
    assert!(warnings(&text).is_empty(), "{text}");

    let out = s.apache(&["-t", "-D", "DUMP_DIRGUARD"]);
    let dump = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{dump}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let root = s.root.display().to_string();
    for (path, origin) in [
        (
            site.display().to_string(),
            "derived from DocumentRoot at ".to_owned(),
        ),
        (
            format!("{root}/log"),
            "derived from ErrorLog at ".to_owned(),
        ),
        (format!("{root}/run"), "derived from PidFile at ".to_owned()),
        (
            "/usr/share/apache2/icons".to_owned(),
            "derived from Alias at ".to_owned(),
        ),
    ] {
        let entry = dump
            .split("\n'")
            .find(|e| e.starts_with(&format!("{path}'")))
            .unwrap_or_else(|| panic!("{path} in the dump:\n{dump}"));
        assert!(
            entry.contains(&origin) && entry.contains("now: healthy"),
            "{entry}"
        );
    }
    assert!(!dump.contains("FAILING"), "{dump}");

    let out = s.apache(&["-k", "start"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    s.running = true;
    assert_eq!(
        s.wait_for("resuming normal operations", 1).len(),
        1,
        "{}",
        s.log()
    );
    assert_eq!(s.get("/index.html").0, 200);
    std::thread::sleep(Duration::from_millis(500));
    let summary = s.lines_with("DG01120");
    assert!(
        summary.len() == 1 && summary[0].contains(": 0 failing"),
        "{}",
        s.log()
    );
    assert!(warnings(&s.log()).is_empty(), "{}", s.log());
    drop(s);
    let _ = std::fs::remove_dir_all(&site);
}
