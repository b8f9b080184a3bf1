//! The startup self-check against a real Apache: every fault kind reported once with a `fix:`
//! that, pasted as root, makes the next start clean; the modes; configtest; repair; symlink
//! attacks; bad input.

mod common;
use common::{fix_of, mkdir, mode_of, sh, Apache, Tmpfs};
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};

/// Starts with one requirement, expects exactly one line with `tag` (and no other fault), pastes
/// its fix, restarts and expects a clean check. Returns the fault line.
fn fault_is_fixed_by_its_command(a: &mut Apache, require: &str, tag: &str) -> String {
    a.config(&format!("DirGuardRequire {require}"))
        .allow(tag)
        .start();
    let faults = a.lines_with("[dirguard:error]");
    assert_eq!(faults.len(), 1, "exactly one fault expected:\n{}", a.log());
    assert!(faults[0].contains(tag), "{}", faults[0]);
    let line = faults[0].clone();
    a.stop();
    sh(&fix_of(&line));
    let offset = a.log().len();
    a.start();
    assert!(
        a.lines_since(offset, "[dirguard:error]").is_empty(),
        "after the fix:\n{}",
        a.log()
    );
    assert!(a.lines_since(offset, "0 failing").len() == 1, "{}", a.log());
    line
}

#[test]
fn a_healthy_tree_produces_no_warning_or_error() {
    let mut a = Apache::new("healthy");
    let site = a.path("site");
    mkdir(&site.join("uploads"), 0o755);
    a.config(&format!(
        "DirGuardRequire {} access=r\nDirGuardRequire {} access=none mode=0755",
        site.display(),
        site.join("uploads").display()
    ))
    .start();
    assert!(!a.log().contains("[dirguard:warn"), "{}", a.log());
    assert_eq!(a.lines_with("DG01120").len(), 1);
    assert!(a.lines_with("DG01120")[0].contains("checked 2 required directories"));
}

#[test]
fn dangling_symlink_is_named_and_fixed_by_creating_the_target() {
    require_root!("the fix creates a directory owned by www-data");
    let mut a = Apache::new("dangling");
    let site = a.path("site");
    mkdir(&site, 0o755);
    symlink(site.join("real-uploads"), site.join("uploads")).unwrap();
    let line = fault_is_fixed_by_its_command(
        &mut a,
        &format!("{} access=rw", site.join("uploads").display()),
        "DG01102",
    );
    assert!(line.contains("is a dangling symbolic link"), "{line}");
}

#[test]
fn a_file_in_place_of_the_directory_is_named_and_moved_aside() {
    require_root!("the fix creates a directory owned by www-data");
    let mut a = Apache::new("notdir");
    let site = a.path("site");
    mkdir(&site, 0o755);
    std::fs::write(site.join("uploads"), b"oops").unwrap();
    let line = fault_is_fixed_by_its_command(
        &mut a,
        &format!("{} access=rw", site.join("uploads").display()),
        "DG01103",
    );
    assert!(
        line.contains("is not a directory (found: a regular file)"),
        "{line}"
    );
    assert!(
        site.join("uploads.dirguard-moved").is_file(),
        "nothing is lost"
    );
}

#[test]
fn an_ancestor_the_user_cannot_enter_is_named_with_owner_and_mode() {
    require_root!("evaluating for User www-data needs Apache started as root");
    let mut a = Apache::new("ancestor");
    let site = a.path("site");
    mkdir(&site.join("uploads"), 0o755);
    std::fs::set_permissions(&site, std::fs::Permissions::from_mode(0o750)).unwrap();
    let line = fault_is_fixed_by_its_command(
        &mut a,
        &format!("{}", site.join("uploads").display()),
        "DG01104",
    );
    assert!(
        line.contains(&format!(
            "cannot enter '{}' (owner root, group root, mode 0750; missing x for the other class)",
            site.display()
        )),
        "{line}"
    );
    assert!(
        line.ends_with(&format!("fix: chmod o+x '{}'", site.display())),
        "{line}"
    );
}

#[test]
fn write_access_missing_for_the_user_is_fixed_with_an_acl_not_world_write() {
    require_root!("evaluating for User www-data needs Apache started as root");
    let mut a = Apache::new("access");
    let up = a.path("uploads");
    mkdir(&up, 0o755);
    let line =
        fault_is_fixed_by_its_command(&mut a, &format!("{} access=rw", up.display()), "DG01105");
    assert!(line.contains("does not grant access=rw"), "{line}");
    assert!(line.contains("fix: setfacl -m u:www-data:rwx"), "{line}");
    assert_eq!(mode_of(&up) & 0o002, 0, "never world-writable");
}

#[test]
fn group_write_through_a_supplementary_group_of_user_is_no_false_alarm() {
    require_root!("adds www-data to a test group");
    sh("getent group dirguard-test >/dev/null || groupadd dirguard-test");
    sh("gpasswd -a www-data dirguard-test >/dev/null");
    let mut a = Apache::new("suppl");
    let up = a.path("uploads");
    mkdir(&up, 0o2775);
    sh(&format!("chgrp dirguard-test '{}'", up.display()));
    a.config(&format!("DirGuardRequire {} access=rw", up.display()))
        .start();
    let summary = a.lines_with("DG01120");
    a.stop();
    sh("gpasswd -d www-data dirguard-test >/dev/null; groupdel dirguard-test");
    assert!(summary[0].contains("0 failing"), "{}", a.log());
}

#[test]
fn acls_can_allow_and_can_deny() {
    require_root!("evaluating for User www-data needs Apache started as root");
    let mut a = Apache::new("acl");
    let allowed = a.path("allowed");
    let denied = a.path("denied");
    mkdir(&allowed, 0o750);
    mkdir(&denied, 0o755);
    sh(&format!(
        "setfacl -m u:www-data:rwx '{}'",
        allowed.display()
    ));
    // A named-user entry with no rights denies even though "other" could read.
    sh(&format!("setfacl -m u:www-data:--- '{}'", denied.display()));
    a.config(&format!("DirGuardRequire {} access=rw", allowed.display()));
    let line =
        fault_is_fixed_by_its_command(&mut a, &format!("{} access=r", denied.display()), "DG01105");
    assert!(
        line.contains("with an ACL") && line.contains("named-user ACL class"),
        "{line}"
    );
    assert!(line.contains("fix: setfacl -m u:www-data:rx"), "{line}");
}

#[test]
fn declared_owner_group_and_mode_are_each_reported_and_fixed() {
    require_root!("chown needs root");
    let mut a = Apache::new("attrs");
    let up = a.path("uploads");
    mkdir(&up, 0o700);
    a.config(&format!(
        "DirGuardRequire {} access=none owner=www-data group=www-data mode=2775",
        up.display()
    ))
    .allow("DG01106")
    .allow("DG01107")
    .allow("DG01108")
    .start();
    let faults = a.lines_with("[dirguard:error]");
    assert_eq!(faults.len(), 3, "{}", a.log());
    assert!(faults[0].contains("DG01106") && faults[0].contains("expected www-data, found root"));
    assert!(faults[1].contains("DG01107"));
    assert!(faults[2].contains("DG01108") && faults[2].contains("expected 2775, found 0700"));
    a.stop();
    for f in &faults {
        sh(&fix_of(f));
    }
    let offset = a.log().len();
    a.start();
    assert!(
        a.lines_since(offset, "[dirguard:error]").is_empty(),
        "{}",
        a.log()
    );
}

#[test]
fn a_read_only_mount_is_reported_for_rw_and_fixed_by_remount() {
    require_root!("mounting a tmpfs needs root");
    let mut a = Apache::new("readonly");
    let mnt = a.path("mnt");
    let Some(fs) = Tmpfs::mount(&mnt, "size=1m,mode=0777") else {
        return;
    };
    fs.remount("ro");
    let line =
        fault_is_fixed_by_its_command(&mut a, &format!("{} access=rw", mnt.display()), "DG01109");
    a.stop();
    assert!(
        line.contains(&format!("fix: mount -o remount,rw '{}'", mnt.display())),
        "{line}"
    );
}

#[test]
fn too_little_space_and_too_few_inodes_say_what_to_do() {
    require_root!("mounting a tmpfs needs root");
    let mut a = Apache::new("full");
    let mnt = a.path("mnt");
    let Some(_fs) = Tmpfs::mount(&mnt, "size=1m,nr_inodes=64,mode=0777") else {
        return;
    };
    a.config(&format!(
        "DirGuardRequire {} access=rw min-free=10M min-inodes=1000",
        mnt.display()
    ))
    .allow("DG01110")
    .allow("DG01111")
    .start();
    let log = a.log();
    a.stop();
    let space = log
        .lines()
        .find(|l| l.contains("DG01110"))
        .expect(&log)
        .to_owned();
    assert!(
        space.contains(
            "has too little free space (1.0 MiB available to non-root users, min-free 10.0 MiB"
        ),
        "{space}"
    );
    assert!(
        space.contains(&format!(
            "fix: free at least 9.0 MiB on the filesystem mounted at '{}'",
            mnt.display()
        )),
        "{space}"
    );
    let inodes = log
        .lines()
        .find(|l| l.contains("DG01111"))
        .expect(&log)
        .to_owned();
    assert!(inodes.contains("min-inodes 1000"), "{inodes}");
}

#[test]
fn fail_mode_refuses_to_start_with_the_faults_on_stderr_and_in_the_log() {
    let mut a = Apache::new("fail");
    let gone = a.path("gone");
    a.config(&format!(
        "DirGuardStartup fail\nDirGuardRequire {}",
        gone.display()
    ))
    .allow("DG01101")
    .allow("DG01121")
    .allow("AH00016");
    let stderr = a.try_start().expect_err("must refuse to start");
    assert!(
        stderr.contains("DG01101") && stderr.contains("DG01121"),
        "stderr: {stderr}"
    );
    let log = a.log();
    assert_eq!(log.matches("DG01101").count(), 1, "{log}");
    assert!(
        log.contains("DG01121") && log.contains("refusing to start"),
        "{log}"
    );
    assert!(
        a.pid().is_none() || unsafe { libc::kill(a.pid().unwrap(), 0) } != 0,
        "no server left running"
    );
}

#[test]
fn configtest_reports_in_every_mode_and_fails_only_in_fail_mode() {
    let mut warn = Apache::new("t-warn");
    let gone = warn.path("gone");
    warn.config(&format!("DirGuardRequire {}", gone.display()));
    let (ok, out) = warn.configtest();
    assert!(ok, "{out}");
    assert!(
        out.contains("DG01101") && out.contains("Syntax OK"),
        "{out}"
    );

    let mut fail = Apache::new("t-fail");
    let gone = fail.path("gone");
    fail.config(&format!(
        "DirGuardStartup fail\nDirGuardRequire {}",
        gone.display()
    ));
    let (ok, out) = fail.configtest();
    assert!(!ok, "{out}");
    assert!(out.contains("DG01101") && out.contains("DG01121"), "{out}");

    let mut off = Apache::new("t-off");
    let gone = off.path("gone");
    off.config(&format!(
        "DirGuardStartup off\nDirGuardRequire {}",
        gone.display()
    ));
    let (ok, out) = off.configtest();
    assert!(ok && !out.contains("DG0"), "{out}");
}

#[test]
fn off_mode_checks_nothing_at_start() {
    let mut a = Apache::new("off");
    let gone = a.path("gone");
    a.config(&format!(
        "DirGuardStartup off\nDirGuardRequire {}",
        gone.display()
    ))
    .start();
    assert!(!a.log().contains("[dirguard:"), "{}", a.log());
}

#[test]
fn repair_create_makes_the_directory_with_declared_owner_and_mode() {
    require_root!("creating a www-data owned directory needs root");
    let mut a = Apache::new("repair-create");
    let up = a.path("site/wp-content/uploads");
    a.config(&format!(
        "DirGuardRepair create\nDirGuardRequire {} access=rw mode=2775",
        up.display()
    ));
    // configtest reports what it would do and changes nothing.
    let (ok, out) = a.configtest();
    assert!(ok && out.contains("DG01204"), "{out}");
    assert!(!a.path("site").exists());
    a.start();
    let md = std::fs::metadata(&up).unwrap();
    assert_eq!((md.uid(), md.gid(), md.mode() & 0o7777), (33, 33, 0o2775));
    let parent = std::fs::metadata(a.path("site/wp-content")).unwrap();
    assert_eq!((parent.uid(), parent.mode() & 0o7777), (0, 0o755));
    let created = a.lines_with("DG01201");
    assert_eq!(
        created.len(),
        3,
        "two parents and the directory: {}",
        a.log()
    );
    assert!(
        created[2].contains("(before: absent; after: www-data:www-data 2775)"),
        "{}",
        created[2]
    );
    assert!(a.lines_with("DG01120")[0].contains("0 failing"));
    // The next restart has nothing to repair.
    let offset = a.log().len();
    a.graceful();
    assert!(a.lines_since(offset, "DG0120").is_empty(), "{}", a.log());
}

#[test]
fn repair_enforce_corrects_owner_and_mode_drift() {
    require_root!("chown needs root");
    let mut a = Apache::new("repair-enforce");
    let up = a.path("uploads");
    mkdir(&up, 0o700);
    a.config(&format!("DirGuardRepair enforce\nDirGuardRequire {} access=rw owner=www-data group=www-data mode=0750", up.display()))
        .start();
    let md = std::fs::metadata(&up).unwrap();
    assert_eq!((md.uid(), md.gid(), md.mode() & 0o7777), (33, 33, 0o750));
    assert!(
        a.lines_with("DG01202")[0].contains("(before: root:root; after: www-data:www-data)"),
        "{}",
        a.log()
    );
    assert!(
        a.lines_with("DG01203")[0].contains("(before: 0700; after: 0750)"),
        "{}",
        a.log()
    );
}

#[test]
fn repair_refuses_symlink_attacks() {
    require_root!("needs files owned by another user");
    let mut a = Apache::new("attack");
    let victim = a.path("victim");
    let attacker = a.path("attacker");
    mkdir(&victim, 0o755);
    mkdir(&attacker, 0o755);
    sh(&format!("chown nobody '{}'", attacker.display()));
    // A user's link to a root-owned directory, used as a parent ...
    symlink(&victim, attacker.join("link")).unwrap();
    sh(&format!(
        "chown -h nobody '{}'",
        attacker.join("link").display()
    ));
    // ... and as the declared directory itself.
    symlink(&victim, attacker.join("uploads")).unwrap();
    sh(&format!(
        "chown -h nobody '{}'",
        attacker.join("uploads").display()
    ));
    a.config(&format!(
        "DirGuardRepair enforce\nDirGuardRequire {} access=none\nDirGuardRequire {} access=none mode=0777",
        attacker.join("link/evil").display(),
        attacker.join("uploads").display()
    ))
    .allow("DG01101")
    .allow("DG01108")
    .start();
    let refused = a.lines_with("DG01210");
    assert_eq!(refused.len(), 2, "{}", a.log());
    assert!(
        refused[0].contains("unsafe path transition"),
        "{}",
        refused[0]
    );
    assert!(
        refused[1].contains("is a symbolic link; repair never acts through one"),
        "{}",
        refused[1]
    );
    assert!(
        !victim.join("evil").exists(),
        "nothing created through the link"
    );
    assert_eq!(
        mode_of(&victim),
        0o755,
        "the link's target was not chmod-ed"
    );
}

#[test]
fn requirements_in_virtual_hosts_and_directories_are_checked_with_relative_paths() {
    let mut a = Apache::new("scopes");
    let root = a.dir.clone();
    mkdir(&root.join("htdocs/cache"), 0o755);
    a.config(&format!(
        "DirGuardRequire htdocs access=none\n\
         <VirtualHost 127.0.0.1:{port}>\n  DirGuardRequire {root}/vhost-missing access=none\n</VirtualHost>\n\
         <Directory {root}/htdocs>\n  DirGuardRequire cache access=none\n  DirGuardRequire nocache access=none\n</Directory>",
        port = a.port,
        root = root.display()
    ))
    .allow("DG01101")
    .start();
    let missing = a.lines_with("DG01101");
    assert_eq!(missing.len(), 2, "{}", a.log());
    assert!(missing.iter().any(|l| l.contains("vhost-missing")));
    assert!(missing
        .iter()
        .any(|l| l.contains(&format!("'{}/htdocs/nocache'", root.display()))));
    assert!(a.lines_with("DG01120")[0].contains("checked 4 required directories"));
}

#[test]
fn a_path_that_cannot_be_inspected_names_the_call_and_errno() {
    let mut a = Apache::new("eloop");
    let a_link = a.path("loop-a");
    symlink(a.path("loop-b"), &a_link).unwrap();
    symlink(&a_link, a.path("loop-b")).unwrap();
    a.config(&format!("DirGuardRequire {}", a_link.display()))
        .allow("DG01112")
        .start();
    let line = &a.lines_with("DG01112")[0];
    assert!(
        line.contains("cannot be checked: stat(")
            && line.contains("Too many levels of symbolic links"),
        "{line}"
    );
    assert!(
        line.contains(&format!(
            "fix: find the cause with: namei -l '{}'",
            a_link.display()
        )),
        "{line}"
    );
}
