//! Hardening against a real Apache: repair touches nothing but what was declared, paths cannot
//! forge log lines, the module works (and says what it cannot check) when Apache runs without
//! root, and restarts under load neither fail requests nor leak.

mod common;
use common::Apache;
use std::collections::BTreeMap;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Every entry under `root`: (type, uid, gid, mode), symlinks not followed.
fn tree(root: &Path) -> BTreeMap<PathBuf, (char, u32, u32, u32)> {
    let mut out = BTreeMap::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(p) = todo.pop() {
        let Ok(m) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        let kind = if m.file_type().is_symlink() {
            'l'
        } else if m.is_dir() {
            'd'
        } else {
            'f'
        };
        out.insert(p.clone(), (kind, m.uid(), m.gid(), m.mode() & 0o7777));
        if kind == 'd' {
            for e in std::fs::read_dir(&p).unwrap() {
                todo.push(e.unwrap().path());
            }
        }
    }
    out
}

fn mkdir(p: &Path, mode: u32) {
    std::fs::create_dir_all(p).unwrap();
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn repair_changes_only_declared_directories_and_their_missing_parents() {
    require_root!("repair changes ownership");
    let mut a = Apache::new("repair-scope");
    let site = a.path("site");
    // Existing neighbours repair must not touch, with odd modes and owners to tempt it.
    mkdir(&site.join("data"), 0o700);
    mkdir(&site.join("data/sibling"), 0o711);
    std::fs::write(site.join("data/file"), "x").unwrap();
    mkdir(&site.join("drifted"), 0o777);
    mkdir(&site.join("elsewhere"), 0o755);
    common::sh(&format!(
        "chown 1234:1234 '{}'",
        site.join("elsewhere").display()
    ));
    symlink(site.join("elsewhere"), site.join("data/link")).unwrap();
    let declared = [
        site.join("data/new/deep/uploads"), // three levels missing
        site.join("drifted"),               // mode to correct
        site.join("data/link"),             // a final symlink: refused
    ];
    let before = tree(&a.dir);
    a.config(&format!(
        "DirGuardRepair enforce\n\
         DirGuardRequire {} access=rw mode=0750\n\
         DirGuardRequire {} access=r mode=0755 owner=root group=root\n\
         DirGuardRequire {} access=rw mode=0700",
        declared[0].display(),
        declared[1].display(),
        declared[2].display()
    ))
    .allow("DG01210")
    .allow("DG0110")
    .start();
    a.stop();
    let after = tree(&a.dir);
    // The server's own files (logs, pid, config) are not the module's doing.
    let own = |p: &Path| !p.starts_with(&site);
    let mut changed: Vec<&PathBuf> = after
        .iter()
        .filter(|(p, v)| !own(p) && before.get(*p) != Some(*v))
        .map(|(p, _)| p)
        .collect();
    let removed: Vec<&PathBuf> = before.keys().filter(|p| !after.contains_key(*p)).collect();
    assert!(removed.is_empty(), "repair removed {removed:?}");
    changed.sort();
    let expected: Vec<PathBuf> = vec![
        site.join("data/new"),
        site.join("data/new/deep"),
        site.join("data/new/deep/uploads"),
        site.join("drifted"),
    ];
    assert_eq!(
        changed,
        expected.iter().collect::<Vec<_>>(),
        "what repair changed"
    );
    assert_eq!(after[&site.join("drifted")].3, 0o755);
    assert_eq!(after[&site.join("data/new/deep/uploads")].3, 0o750);
    assert_eq!(
        after[&site.join("elsewhere")],
        before[&site.join("elsewhere")]
    );
    let refused = a.lines_with("DG01210");
    assert_eq!(refused.len(), 1, "{}", a.log());
    assert!(refused[0].contains("data/link"), "{}", refused[0]);
}

/// A newline, a carriage return and terminal escapes, shaped like a complete Apache line.
const FORGERY: &str =
    "x\n[Tue Nov 24 00:00:00.000000 2026] [core:emerg] [pid 1] FORGED\r\x1b[2J\x1b]0;owned\x07";

/// Every line in the log is one of Apache's own: starts with a timestamp, no control bytes.
fn assert_log_lines_are_apaches_own(log: &str) {
    for line in log.split('\n').filter(|l| !l.is_empty()) {
        assert!(
            line.starts_with('['),
            "a line not written by Apache: {line:?}"
        );
        assert!(
            !line.bytes().any(|b| b < 0x20 || b == 0x7f),
            "a control byte in {line:?}"
        );
        if line.contains("FORGED") {
            assert!(
                line.contains("[dirguard:"),
                "forged text outside our line: {line:?}"
            );
        }
    }
}

#[test]
fn paths_with_newlines_and_terminal_escapes_cannot_forge_log_lines() {
    let mut a = Apache::new("forge");
    let site = a.path("htdocs/site");
    mkdir(&site, 0o755);
    // The startup check reports the target of a dangling symlink: the attacker's name.
    let evil_target = site.join(FORGERY);
    symlink(&evil_target, site.join("uploads")).unwrap();
    a.config(&format!(
        "DirGuardRequire {}/uploads access=rw\n\
         <Location />\n  DirGuardExplain 4xx 5xx\n</Location>",
        site.display()
    ))
    .allow("DG01102")
    .allow("DG0150")
    .allow("AH00128")
    .start();
    let startup = a.lines_with("DG01102");
    assert_eq!(startup.len(), 1, "{}", a.log());
    // The fix names the target byte for byte in ASCII ($'…\x0a…'), so it still works when pasted.
    assert!(startup[0].contains("\\\\x0a[Tue Nov 24"), "{}", startup[0]);
    // A request for a name holding the same bytes (%0a, %0d, %1b decoded by Apache into
    // r->filename) is explained without breaking the line.
    let encoded: String = FORGERY
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let (status, _) = a.get(&format!("/site/{encoded}"));
    assert_eq!(status, 404);
    std::thread::sleep(std::time::Duration::from_millis(200));
    let explained = a.lines_with("DG0150");
    assert!(
        !explained.is_empty(),
        "the 404 was not explained: {}",
        a.log()
    );
    let log = std::fs::read(&a.error_log).unwrap();
    assert!(!log.contains(&0x1b), "a raw ESC reached the log");
    assert_log_lines_are_apaches_own(&String::from_utf8_lossy(&log));
    // And the status page escapes it in its own way (JSON).
    drop(a);
}

#[test]
fn without_root_the_module_checks_for_the_running_user_and_says_what_it_cannot_check() {
    require_root!("setpriv to another user needs root");
    let mut a = Apache::new("unpriv");
    let site = a.path("site");
    mkdir(&site.join("uploads"), 0o755);
    // A directory only root may enter, with a requirement below it.
    let vault = a.path("vault");
    mkdir(&vault.join("inner"), 0o755);
    a.unprivileged("www-data");
    common::sh(&format!(
        "chown root: '{0}' && chmod 0700 '{0}'",
        vault.display()
    ));
    a.config(&format!(
        "DirGuardRepair create\n\
         DirGuardRequire {site}/uploads access=rw\n\
         DirGuardRequire {site}/cache access=rw\n\
         DirGuardRequire {site}/rootonly access=r owner=root\n\
         DirGuardRequire {vault}/inner access=r\n\
         <Location /dirguard-status>\n  SetHandler dirguard-status\n</Location>",
        site = site.display(),
        vault = vault.display()
    ))
    .allow("DG01104")
    .allow("DG01101")
    .allow("DG01211")
    .allow("DG01120")
    .start();
    // Really unprivileged: the parent runs as www-data.
    let status = std::fs::read_to_string(format!("/proc/{}/status", a.pid().unwrap())).unwrap();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert!(
        uid_line.split_whitespace().skip(1).all(|u| u == "33"),
        "{uid_line}"
    );

    let notice = a.lines_with("DG00005");
    assert_eq!(notice.len(), 1, "{}", a.log());
    assert!(
        notice[0].contains("User www-data (uid 33)"),
        "{}",
        notice[0]
    );
    assert!(notice[0].contains("cannot be checked"), "{}", notice[0]);
    // What it could do: create a directory for itself.
    let cache = std::fs::metadata(site.join("cache")).expect("cache created");
    assert_eq!((cache.uid(), cache.mode() & 0o7777), (33, 0o755));
    assert_eq!(a.lines_with("DG01201").len(), 1, "{}", a.log());
    // What it could not: give a directory to root; nothing half-made is left behind.
    let failed = a.lines_with("DG01211");
    assert_eq!(failed.len(), 1, "{}", a.log());
    assert!(
        failed[0].contains("fchown") && failed[0].contains("Operation not permitted"),
        "{}",
        failed[0]
    );
    assert!(
        !site.join("rootonly").exists(),
        "a half-made directory was left"
    );
    // Below a directory it cannot enter: that directory is named, with its owner and mode.
    let blocked = a.lines_with("DG01104");
    assert_eq!(blocked.len(), 1, "{}", a.log());
    assert!(
        blocked[0].contains(&format!("cannot enter '{}'", vault.display()))
            && blocked[0].contains("owner root")
            && blocked[0].contains("mode 0700"),
        "{}",
        blocked[0]
    );
    // And it serves: pages and the status page.
    assert_eq!(a.get("/index.html").0, 200);
    let (code, body) = a.get_body("/dirguard-status?format=json");
    assert_eq!(code, 200, "{body}");
    common::check_status("json", &body).expect("valid status JSON");
}
