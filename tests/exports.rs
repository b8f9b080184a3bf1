//! The requirements, exported for the tools that provision servers, proven by running those
//! tools: `systemd-tmpfiles --create --root=DIR` (systemd), `ansible-playbook -c local`
//! (Debian's ansible-core) and `puppet apply` (Debian's puppet) create the tree the exports
//! describe, after which the module's own check of the same requirements is clean; a second
//! Ansible run changes nothing; and the check modes (`ansible-playbook --check`,
//! `puppet apply --noop`) report the same drift the module reports. Paths include a quote, a
//! space, `%`, `$`, `{{ }}` and non-ASCII.

mod common;
use common::Apache;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// (path below the scratch tree, DirGuardRequire options)
const DIRS: &[(&str, &str)] = &[
    ("uploads", "access=rw"),
    ("static", "access=r group=www-data mode=0750"),
    ("it's 100% $HOME", "access=rw"),
    ("café {{x}}/cache", "access=rw mode=0770"),
];

fn config(root: &Path) -> String {
    DIRS.iter()
        .map(|(rel, opts)| format!("DirGuardRequire \"{}/{rel}\" {opts}\n", root.display()))
        .collect()
}

/// The export in `format`, from `apache2 -t -D DUMP_DIRGUARD_…`.
fn export(a: &Apache, format: &str) -> String {
    let out = a.run(&["-t", "-D", &format!("DUMP_DIRGUARD_{format}")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The paths the module's check finds failing (`apache2 -t`).
fn failing(a: &Apache) -> BTreeSet<String> {
    let (_, out) = a.configtest();
    out.lines()
        .filter(|l| l.contains("DG011") && !l.contains("DG01120"))
        .filter_map(|l| {
            let start = l.find("required directory '")? + "required directory '".len();
            let rest = &l[start..];
            Some(rest[..rest.find("' ")?].replace("'\"'\"'", "'"))
        })
        .collect()
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("the tool runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?}\n{text}");
    text
}

/// The provisioning tools do not depend on the MPM: they run once, in the event pass.
fn once() -> bool {
    let here = common::mpm() == "event";
    if !here {
        eprintln!("the provisioning tools run in the event pass only");
    }
    here
}

fn scratch(a: &Apache, name: &str) -> PathBuf {
    let p = a.path(name);
    std::fs::create_dir_all(&p).unwrap();
    common::sh(&format!("chmod 0755 '{}'", p.display()));
    p
}

#[test]
fn systemd_tmpfiles_creates_what_the_module_then_finds_clean() {
    require_root!("the tree is given to www-data");
    if !once() {
        return;
    }
    let mut a = Apache::new("tmpfiles");
    let tree = a.dir.join("tree"); // not created: the export describes it
    a.config(&config(&tree)).allow("DG01101");
    let fragment = export(&a, "TMPFILES");
    for (rel, _) in DIRS {
        assert!(fragment.contains(" 07"), "{fragment}");
        let _ = rel;
    }
    let file = a.path("dirguard.conf");
    std::fs::write(&file, &fragment).unwrap();
    // A scratch root with this machine's users and groups (tmpfiles resolves them there).
    let root = scratch(&a, "root");
    common::sh(&format!(
        "mkdir -p '{0}/etc' && cp /etc/passwd /etc/group '{0}/etc/'",
        root.display()
    ));
    run(Command::new("systemd-tmpfiles")
        .arg("--create")
        .arg(format!("--root={}", root.display()))
        .arg(&file));
    // The same requirements, re-rooted where tmpfiles made the tree: clean.
    let mut check = Apache::new("tmpfiles-check");
    let rerooted = PathBuf::from(format!("{}{}", root.display(), tree.display()));
    check.config(&config(&rerooted));
    assert_eq!(failing(&check), BTreeSet::new(), "{fragment}");
    let (_, out) = check.configtest();
    assert!(
        out.contains("checked 4 required directories") && out.contains(": 0 failing"),
        "{out}"
    );
}

fn ansible(playbook: &Path, home: &Path, check: bool) -> String {
    let mut cmd = Command::new("ansible-playbook");
    cmd.args(["-c", "local", "-i", "localhost,"])
        .arg(playbook)
        .env("ANSIBLE_HOME", home)
        .env("ANSIBLE_LOCAL_TEMP", home.join("tmp"))
        .env("ANSIBLE_NOCOLOR", "1")
        .env("LC_ALL", "C.UTF-8");
    if check {
        cmd.arg("--check");
    }
    run(&mut cmd)
}

/// "changed=N" of the play recap.
fn changed(recap: &str) -> u32 {
    recap
        .split("changed=")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(u32::MAX)
}

/// The paths of the tasks Ansible reports as changed (each task is named after its path).
fn ansible_changed(out: &str, tree: &Path) -> BTreeSet<String> {
    let mut set = BTreeSet::new();
    let mut task = String::new();
    for l in out.lines() {
        if let Some(t) = l.strip_prefix("TASK [") {
            task = t.to_owned();
        } else if l.starts_with("changed: ") {
            if let Some(p) = task.split(" (").next() {
                if p.starts_with(&tree.display().to_string()) {
                    set.insert(p.to_owned());
                }
            }
        }
    }
    set
}

#[test]
fn ansible_creates_what_the_module_then_finds_clean_and_reports_the_same_drift() {
    require_root!("the tree is given to www-data");
    if !once() {
        return;
    }
    let mut a = Apache::new("ansible");
    let tree = a.dir.join("tree");
    a.config(&config(&tree)).allow("DG01101").allow("DG01105");
    let playbook = a.path("dirguard.yml");
    std::fs::write(&playbook, export(&a, "ANSIBLE")).unwrap();
    let home = scratch(&a, "ansible-home");
    let text = std::fs::read_to_string(&playbook).unwrap();
    // ansible.builtin.file expands `$NAME` in every path: that directory is left out, and
    // says so; the module's check then finds it, and only it, missing.
    let dollar = format!("{}/it's 100% $HOME", tree.display());
    assert!(
        text.contains(&format!(
            "# left out: '{}/it'\"'\"'s 100% $HOME' holds `$NAME`",
            tree.display()
        )),
        "{text}"
    );
    let first = ansible(&playbook, &home, false);
    assert_eq!(changed(&first), 3, "{first}");
    assert_eq!(failing(&a), BTreeSet::from([dollar.clone()]));
    let second = ansible(&playbook, &home, false);
    assert_eq!(changed(&second), 0, "idempotent: {second}");
    // Drift: one directory removed, one given to root, which www-data can no longer write.
    common::sh(&format!(
        "rm -rf '{0}/static' && chown root:root '{0}/uploads'",
        tree.display()
    ));
    let mut module = failing(&a);
    module.remove(&dollar);
    let checked = ansible(&playbook, &home, true);
    assert_eq!(ansible_changed(&checked, &tree), module, "{checked}");
    assert_eq!(module.len(), 2, "{module:?}");
}

fn puppet(manifest: &Path, dir: &Path, noop: bool) -> String {
    let mut cmd = Command::new("puppet");
    cmd.arg("apply")
        .arg("--color=false")
        .arg("--detailed-exitcodes")
        .args(
            [
                "--confdir",
                "--vardir",
                "--codedir",
                "--logdir",
                "--rundir",
                "--publicdir",
            ]
            .iter()
            .zip(["conf", "var", "code", "log", "run", "public"])
            .flat_map(|(flag, sub)| [flag.to_string(), dir.join(sub).display().to_string()]),
        )
        .arg(manifest)
        .env("LC_ALL", "C.UTF-8");
    if noop {
        cmd.arg("--noop");
    }
    let out = cmd.output().expect("puppet runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // --detailed-exitcodes: 0 nothing to do, 2 changes; 1, 4, 6 failures.
    assert!(
        matches!(out.status.code(), Some(0) | Some(2)),
        "puppet apply: {:?}\n{text}",
        out.status
    );
    text
}

/// The paths of the `file` resources Puppet changed (or would change, under --noop).
fn puppet_changed(out: &str, tree: &Path) -> BTreeSet<String> {
    out.lines()
        .filter_map(|l| {
            let start = l.find("File[")? + 5;
            let rest = &l[start..];
            Some(rest[..rest.find("]/")?].to_owned())
        })
        .filter(|p| {
            p.starts_with(&tree.display().to_string()) && p.len() > tree.display().to_string().len()
        })
        .collect()
}

#[test]
fn puppet_creates_what_the_module_then_finds_clean_and_noop_reports_the_same_drift() {
    require_root!("the tree is given to www-data");
    if !once() {
        return;
    }
    let mut a = Apache::new("puppet");
    let tree = a.dir.join("tree");
    a.config(&config(&tree)).allow("DG01101").allow("DG01105");
    let manifest = a.path("dirguard.pp");
    std::fs::write(&manifest, export(&a, "PUPPET")).unwrap();
    let dir = scratch(&a, "puppet");
    let applied = puppet(&manifest, &dir, false);
    assert_eq!(failing(&a), BTreeSet::new(), "{applied}");
    // Drift: one directory removed, one given to root, which www-data can no longer write.
    common::sh(&format!(
        "rm -rf '{0}/static' && chown root:root '{0}/uploads'",
        tree.display()
    ));
    let module = failing(&a);
    let noop = puppet(&manifest, &dir, true);
    assert_eq!(puppet_changed(&noop, &tree), module, "{noop}");
    assert_eq!(module.len(), 2, "{module:?}");
}

#[test]
fn the_markdown_checklist_names_every_directory_with_its_owner_mode_and_origin() {
    let mut a = Apache::new("markdown");
    let tree = a.dir.join("tree");
    a.config(&config(&tree)).allow("DG01101");
    let md = export(&a, "MARKDOWN");
    assert!(md.starts_with("# Directories this server requires"), "{md}");
    for (rel, _) in DIRS {
        let row = md
            .lines()
            .find(|l| l.contains(&format!("{}/{} `", tree.display(), rel.replace('|', "\\|"))))
            .unwrap_or_else(|| panic!("{rel} in\n{md}"));
        assert!(row.contains("declared at "), "{row}");
    }
    assert!(md.contains("| 0750 |"), "{md}");
}

#[test]
fn a_running_server_serves_the_same_exports_on_its_status_page() {
    let mut a = Apache::new("export-page");
    let tree = a.dir.join("tree");
    a.config(&format!(
        "{}DirGuardInterval 1\n<Location /dirguard-status>\n  SetHandler dirguard-status\n  \
         DirGuardStatusView all\n  Require local\n</Location>",
        config(&tree)
    ))
    .allow("DG01101");
    let offline: Vec<(&str, String)> = ["TMPFILES", "ANSIBLE", "PUPPET", "MARKDOWN"]
        .iter()
        .map(|f| (*f, export(&a, f)))
        .collect();
    a.start();
    for (format, text) in offline {
        let (status, body) = a.get_body(&format!(
            "/dirguard-status?format={}",
            format.to_ascii_lowercase()
        ));
        assert_eq!(status, 200, "{format}: {body}");
        assert_eq!(body, text, "{format}: the page and apachectl agree");
    }
    assert_eq!(a.get_body("/dirguard-status?format=chef").0, 400);
}
