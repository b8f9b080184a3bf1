//! Every log line and `fix:` command built for a path made of arbitrary bytes (everything but NUL,
//! which no path can hold). The line must be printable ASCII (no newline can start a forged line,
//! no escape sequence reaches a terminal) and each command must split, under shell rules, into
//! exactly the intended words with the path decoded byte for byte: no expansion, no second
//! command, whatever the path holds (quotes, `$`, backticks, newlines, invalid UTF-8).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mod_dirguard::core::fault::Fault;
use mod_dirguard::core::identity::Identity;
use mod_dirguard::core::permission::{Class, Ownership, Verdict};
use mod_dirguard::core::spec::{Access, Origin, Principal, RequiredDir};
use mod_dirguard_fuzz::{printable, shell_words, Token};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// The command's words and its number of `&&` operators.
fn words(cmd: &str) -> (Vec<Vec<u8>>, usize) {
    let tokens = shell_words(cmd).unwrap_or_else(|e| panic!("unsafe command {cmd:?}: {e}"));
    let ands = tokens.iter().filter(|t| **t == Token::And).count();
    let words = tokens
        .into_iter()
        .filter_map(|t| match t {
            Token::Word(w) => Some(w),
            Token::And => None,
        })
        .collect();
    (words, ands)
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
    ];
    for fault in &faults {
        let line = fault.render(&dir, &id);
        assert!(
            printable(&line),
            "log line is not printable ASCII: {line:?}"
        );
        let fix = fault.fix(&dir, &id);
        if matches!(fault, Fault::LowSpace { .. } | Fault::LowInodes { .. }) {
            continue; // advice in words, not a command
        }
        let (argv, ands) = words(&fix);
        // The path is one argument, byte for byte (for setfacl's u:NAME:rw the name is separate).
        assert!(
            argv.iter().any(|w| w == &bytes),
            "path not one exact word in {fix:?}"
        );
        // Exactly one command, or two joined by && for the move-aside fix.
        assert_eq!(
            ands,
            usize::from(matches!(fault, Fault::NotADirectory { .. })),
            "{fix:?}"
        );
    }
});
