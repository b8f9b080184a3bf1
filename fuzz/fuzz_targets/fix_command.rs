//! Every log line and `fix:` command built for a path made of arbitrary bytes (everything but NUL,
//! which no path can hold). The line must be printable ASCII (no newline can start a forged line,
//! no escape sequence reaches a terminal). Each command must come out of Apache's error-log
//! escaping unchanged (no backslash, only printable ASCII: what the log file shows is the
//! command), and must read, under shell rules, as exactly the intended programs with the intended
//! arguments, the path and names decoded byte for byte (the base64 form decoded by the oracle
//! itself): no expansion, no other command, whatever the path holds (quotes, `$`, backticks,
//! newlines, invalid UTF-8).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mod_dirguard::core::bounded::{Mount, Stall};
use mod_dirguard::core::fault::Fault;
use mod_dirguard::core::identity::Identity;
use mod_dirguard::core::permission::{letters, Class, Ownership, Verdict, X};
use mod_dirguard::core::spec::{Access, Origin, Principal, RequiredDir};
use mod_dirguard::core::text::{human_bytes, quote_path};
use mod_dirguard_fuzz::{apache_errorlog_escape, fix_argvs, printable};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The command inside a fix's text: the fix itself, or the one its advice names. The advice
/// names the mount by `quote_path` (here the path itself), so the prose around the command is
/// known exactly, whatever the path holds.
fn command_of<'a>(fault: &Fault, fix: &'a str, path: &Path) -> &'a str {
    let shown = quote_path(path.as_os_str());
    let (prefix, suffix) = match fault {
        Fault::LowSpace {
            available,
            required,
            ..
        } => (
            format!(
                "free at least {} on the filesystem mounted at {shown} or grow it (see: ",
                human_bytes(required - available)
            ),
            ")",
        ),
        Fault::LowInodes {
            available,
            required,
            ..
        } => (
            format!(
                "delete at least {} files on the filesystem mounted at {shown} or grow it (see: ",
                required - available
            ),
            ")",
        ),
        Fault::Uninspectable { .. } => ("find the cause with: ".to_owned(), ""),
        Fault::NotAnswering { .. } => (
            format!(
                "bring back the server or daemon behind the filesystem mounted at {shown} (or unmount it: "
            ),
            "); no request waits on it, and every audit retries it",
        ),
        _ => (String::new(), ""),
    };
    fix.strip_prefix(prefix.as_str())
        .and_then(|rest| rest.strip_suffix(suffix))
        .unwrap_or_else(|| panic!("advice not as expected: {fix:?}"))
}

fn words(words: &[&[u8]]) -> Vec<Vec<u8>> {
    words.iter().map(|w| w.to_vec()).collect()
}

fuzz_target!(|data: &[u8]| {
    // First byte picks the access and the user name's shape; the rest is the path.
    let (sel, rest) = data.split_first().unwrap_or((&0, &[]));
    let raw: Vec<u8> = rest.iter().copied().filter(|&b| b != 0).collect();
    let mut bytes = b"/".to_vec();
    bytes.extend_from_slice(&raw);
    let path = PathBuf::from(OsStr::from_bytes(&bytes));
    // A user name with odd bytes too (names come from the passwd database; quote them anyway).
    let name = String::from_utf8_lossy(&raw[..raw.len().min(12)]).into_owned();
    let name = if sel & 1 == 0 {
        "www-data".to_owned()
    } else {
        name
    };
    let id = Identity {
        uid: 33,
        gid: 33,
        groups: vec![33],
        user: name.clone(),
        group: name.clone(),
        origin: "the server's User and Group".to_owned(),
    };
    let access = [Access::Read, Access::ReadWrite][(sel >> 1 & 1) as usize];
    let mut dir = RequiredDir::new(
        path.clone(),
        access,
        Origin {
            file: "/etc/x.conf".into(),
            line: 1,
        },
    );
    dir.owner = Some(Principal {
        id: 0,
        name: name.clone(),
    });
    dir.group = Some(Principal {
        id: 0,
        name: name.clone(),
    });
    dir.mode = Some(0o2770);
    let own = Ownership {
        uid: 0,
        gid: 0,
        mode: 0o700,
    };
    let classes = [Class::Owner, Class::Group, Class::Other, Class::NamedUser];
    let verdict = Verdict {
        allowed: false,
        class: classes[(sel >> 2 & 3) as usize],
        missing: 3,
    };
    let faults = [
        Fault::Missing {
            first_missing: path.clone(),
            errno: 2,
        },
        Fault::DanglingSymlink {
            target: path.clone(),
        },
        Fault::NotADirectory {
            found: "a regular file",
        },
        Fault::AncestorBlocked {
            ancestor: path.clone(),
            own,
            has_acl: sel & 16 != 0,
            named: None,
            verdict,
        },
        Fault::AccessDenied {
            own,
            has_acl: sel & 16 != 0,
            named: Some(4),
            verdict,
        },
        Fault::Owner { found: 1 },
        Fault::Group { found: 1 },
        Fault::Mode { found: 0o777 },
        Fault::ReadOnly {
            mount: path.clone(),
        },
        Fault::LowSpace {
            available: 1,
            required: 1 << 30,
            mount: path.clone(),
        },
        Fault::LowInodes {
            available: 1,
            required: 100,
            mount: path.clone(),
        },
        Fault::Uninspectable {
            what: path.clone(),
            call: "stat",
            errno: 5,
        },
        Fault::NotAnswering {
            stall: Stall {
                call: "stat",
                path: path.clone(),
                mount: Some(Mount {
                    point: path.clone(),
                    fstype: "nfs".into(),
                    source: "server:/export".into(),
                }),
                since_unix_s: 0,
                waited: Duration::from_secs(5),
            },
        },
    ];
    let p: &[u8] = &bytes;
    let n = name.as_bytes();
    let install = words(&[b"install", b"-d", b"-m", b"2770", b"-o", n, b"-g", n, p]);
    for fault in &faults {
        let line = fault.render(&dir, &id);
        assert!(
            printable(&line),
            "log line is not printable ASCII: {line:?}"
        );
        let fix = fault.fix(&dir, &id);
        let cmd = command_of(fault, &fix, &path);
        // What Apache writes into its log (and configtest onto the terminal) is the command.
        assert_eq!(
            apache_errorlog_escape(cmd.as_bytes()),
            cmd.as_bytes(),
            "Apache's log escaping changes {cmd:?}"
        );
        let argvs = fix_argvs(cmd).unwrap_or_else(|e| panic!("unsafe command {cmd:?}: {e}"));
        let expected = match fault {
            Fault::Missing { .. } | Fault::NotCreatable { .. } | Fault::DanglingSymlink { .. } => {
                vec![install.clone()]
            }
            Fault::NotADirectory { .. } => {
                let aside = [p, b".dirguard-moved"].concat();
                vec![words(&[b"mv", b"--", p, &aside]), install.clone()]
            }
            Fault::AncestorBlocked {
                verdict,
                has_acl,
                named,
                ..
            }
            | Fault::AccessDenied {
                verdict,
                has_acl,
                named,
                ..
            } => {
                // missing is w and x: chmod for the owner or group class without an ACL; for
                // "other" (never world-writable) or under an ACL, a named-user entry.
                let wanted = if matches!(fault, Fault::AncestorBlocked { .. }) {
                    X
                } else {
                    access.bits()
                };
                let perms = letters(named.unwrap_or(0) | wanted);
                match (verdict.class, has_acl) {
                    (Class::Owner, _) => vec![words(&[b"chmod", b"u+wx", p])],
                    (Class::Group, false) => vec![words(&[b"chmod", b"g+wx", p])],
                    _ => {
                        let entry = [b"u:", n, b":", perms.as_bytes()].concat();
                        vec![words(&[b"setfacl", b"-m", &entry, p])]
                    }
                }
            }
            Fault::Owner { .. } => vec![words(&[b"chown", n, p])],
            Fault::Group { .. } => vec![words(&[b"chgrp", n, p])],
            Fault::Mode { .. } => vec![words(&[b"chmod", b"2770", p])],
            Fault::ReadOnly { .. } => vec![words(&[b"mount", b"-o", b"remount,rw", p])],
            Fault::LowSpace { .. } => vec![words(&[b"df", b"-h", p])],
            Fault::LowInodes { .. } => vec![words(&[b"df", b"-i", p])],
            Fault::Uninspectable { .. } => vec![words(&[b"namei", b"-l", p])],
            Fault::NotAnswering { .. } => vec![words(&[b"umount", b"-l", p])],
        };
        assert_eq!(argvs, expected, "{cmd:?}");
    }
});
