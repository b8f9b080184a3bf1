//! A `fix:` command works pasted from where an administrator reads it: the error-log file as
//! Apache wrote it (Apache's `ap_escape_errorlog_item` doubles backslashes and writes other bytes
//! as `\xhh` in everything a module logs) and `apache2 -t`'s output, which goes through the same
//! escaping. For paths with a quote, non-ASCII bytes, a backslash and newlines, the `fix:` text is
//! taken from there byte for byte, run with `bash -c` as root, and must create exactly the
//! intended directory (its exact bytes, owner and mode) and nothing else.

mod common;
use common::{fix_of, mkdir, sh, Apache};
use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, MetadataExt};
use std::path::{Path, PathBuf};

/// Every entry below `dir` (symlinks not followed), as exact bytes.
fn entries_below(dir: &Path) -> BTreeSet<Vec<u8>> {
    let mut found = BTreeSet::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if std::fs::symlink_metadata(&p).unwrap().is_dir() {
                todo.push(p.clone());
            }
            found.insert(p.as_os_str().as_bytes().to_vec());
        }
    }
    found
}

/// The one line of `text` carrying `tag`, checked to be printable ASCII, and its `fix:` text,
/// checked to hold no backslash (Apache's escaping leaves such text unchanged).
fn fix_in(text: &[u8], tag: &str, whence: &str) -> String {
    let lines: Vec<&[u8]> = text
        .split(|&b| b == b'\n')
        .filter(|l| l.windows(tag.len()).any(|w| w == tag.as_bytes()))
        .collect();
    assert_eq!(
        lines.len(),
        1,
        "one {tag} line expected in {whence}:\n{}",
        String::from_utf8_lossy(text)
    );
    let line = lines[0];
    assert!(
        line.iter().all(|b| (0x20..0x7f).contains(b)),
        "{whence} line is not printable ASCII: {}",
        String::from_utf8_lossy(line)
    );
    let fix = fix_of(std::str::from_utf8(line).unwrap());
    assert!(!fix.contains('\\'), "{whence}: {fix}");
    eprintln!("fix from {whence}: {fix}");
    fix
}

/// Runs `fix` as root and checks that it created `target` (exact bytes) as a www-data directory
/// with mode 0755, and nothing below `site` but `target` and its missing parents; then removes
/// what it created, so the same fix can be pasted again from elsewhere.
fn paste_and_check(fix: &str, site: &Path, target: &Path, before: &BTreeSet<Vec<u8>>) {
    sh(fix);
    let md = std::fs::metadata(target)
        .unwrap_or_else(|e| panic!("{:?} not created by `{fix}`: {e}", target.as_os_str()));
    assert!(md.is_dir(), "{fix}");
    assert_eq!(
        (md.uid(), md.gid(), md.mode() & 0o7777),
        (33, 33, 0o755),
        "{fix}"
    );
    let mut expected = before.clone();
    for a in target.ancestors().take_while(|a| *a != site) {
        expected.insert(a.as_os_str().as_bytes().to_vec());
    }
    let after = entries_below(site);
    let shown = |set: &BTreeSet<Vec<u8>>| {
        set.iter()
            .map(|e| String::from_utf8_lossy(e).into_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        after,
        expected,
        "`{fix}` created something else: {:?}, expected {:?}",
        shown(&after),
        shown(&expected)
    );
    // Deepest first: each created directory is empty once its children are gone.
    let mut created: Vec<&Vec<u8>> = after.difference(before).collect();
    created.sort_by_key(|e| std::cmp::Reverse(e.len()));
    for e in created {
        std::fs::remove_dir(OsStr::from_bytes(e)).unwrap();
    }
}

/// Declares `require` (a config word naming `target`, or a symlink to it), takes the `fix:` of
/// the `tag` line from `apache2 -t`'s output, then from the error-log file of a started server,
/// and pastes each.
fn fix_works_pasted_from_configtest_and_log(
    a: &mut Apache,
    require: &str,
    target: &Path,
    tag: &str,
) -> String {
    let site = a.path("site");
    a.config(&format!("DirGuardRequire {require} access=rw"))
        .allow(tag);
    let before = entries_below(&site);

    let (ok, out) = a.configtest();
    assert!(ok, "{out}");
    let from_configtest = fix_in(out.as_bytes(), tag, "apache2 -t output");
    paste_and_check(&from_configtest, &site, target, &before);

    a.start();
    let log = std::fs::read(&a.error_log).unwrap();
    let from_log = fix_in(&log, tag, "error log");
    a.stop();
    paste_and_check(&from_log, &site, target, &before);
    assert_eq!(from_log, from_configtest);
    from_log
}

/// A new server with an empty `site/` directory (mode 0755).
fn server(name: &str) -> Apache {
    let a = Apache::new(name);
    mkdir(&a.path("site"), 0o755);
    a
}

/// A config string in double quotes: Apache's config reader turns `\\` into `\` and `\"` into `"`.
fn config_quoted(p: &Path) -> String {
    let text = std::str::from_utf8(p.as_os_str().as_bytes()).expect("UTF-8 config path");
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

#[test]
fn an_apostrophe_in_the_path() {
    require_root!("the fix installs a www-data owned directory");
    let mut a = server("pasted-apostrophe");
    let target = a.path("site/it's/uploads");
    let fix = fix_works_pasted_from_configtest_and_log(
        &mut a,
        &config_quoted(&target),
        &target,
        "DG01101",
    );
    assert!(
        fix.ends_with(&format!(
            "install -d -m 0755 -o www-data -g www-data '{}/it'\"'\"'s/uploads'",
            a.path("site").display()
        )),
        "{fix}"
    );
}

#[test]
fn non_ascii_in_the_path() {
    require_root!("the fix installs a www-data owned directory");
    let mut a = server("pasted-cafe");
    let target = a.path("site/caf\u{e9}/uploads");
    let fix = fix_works_pasted_from_configtest_and_log(
        &mut a,
        &config_quoted(&target),
        &target,
        "DG01101",
    );
    assert!(
        fix.starts_with("echo ")
            && fix.ends_with(" | base64 -d | xargs -0 install -d -m 0755 -o www-data -g www-data"),
        "{fix}"
    );
}

#[test]
fn a_backslash_in_the_path() {
    require_root!("the fix installs a www-data owned directory");
    let mut a = server("pasted-backslash");
    let target = a.path("site/back\\slash/up\\load");
    fix_works_pasted_from_configtest_and_log(&mut a, &config_quoted(&target), &target, "DG01101");
}

/// A configuration line cannot hold a newline: the requirement is a symlink whose target holds
/// it, and the fix of the dangling symlink creates that target.
#[test]
fn newlines_in_the_path() {
    require_root!("the fix installs a www-data owned directory");
    for (n, name) in [&b"new\nline/uploads"[..], b"uploads\n"].iter().enumerate() {
        let mut a = server(&format!("pasted-newline-{n}"));
        let target = a.path("site").join(OsStr::from_bytes(name));
        let link = a.path("site/link");
        symlink(&target, &link).unwrap();
        fix_works_pasted_from_configtest_and_log(
            &mut a,
            &config_quoted(&link),
            &PathBuf::from(&target),
            "DG01102",
        );
    }
}
