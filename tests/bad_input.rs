//! The bad-input corpus: malformed mod_dirguard directives, each refused by a real `apache2 -t`
//! with a normal exit (1, never a signal), Apache's "Syntax error on line N of FILE" pointing at
//! the offending line, and a message naming the token and what is accepted.

mod common;
use common::Apache;

/// (configuration text, what the error must say)
const CASES: &[(&str, &str)] = &[
    // DirGuardRequire: keys
    ("DirGuardRequire", "needs a directory path"),
    ("DirGuardRequire /x acess=rw", "unknown key 'acess' in 'acess=rw'; accepted keys: access, owner, group, mode, min-free, min-inodes"),
    ("DirGuardRequire /x ACCESS=rw", "unknown key 'ACCESS'"),
    ("DirGuardRequire /x access", "'access' is not key=value"),
    ("DirGuardRequire /x =rw", "unknown key '' in '=rw'"),
    ("DirGuardRequire /x access=r access=rw", "'access' is given twice"),
    ("DirGuardRequire /x mode=0755 mode=0750", "'mode' is given twice"),
    // values
    ("DirGuardRequire /x access=", "'access=' needs a value"),
    ("DirGuardRequire /x access=write", "access='write' is not one of none, r, rw"),
    ("DirGuardRequire /x access=R", "access='R' is not one of none, r, rw"),
    ("DirGuardRequire /x mode=0855", "mode='0855' is not an octal mode"),
    ("DirGuardRequire /x mode=17777", "mode='17777' is not an octal mode"),
    ("DirGuardRequire /x mode=75", "mode='75' is not an octal mode"),
    ("DirGuardRequire /x mode=0o755", "mode='0o755' is not an octal mode"),
    ("DirGuardRequire /x mode=-755", "mode='-755' is not an octal mode"),
    ("DirGuardRequire /x owner=no-such-user-dg", "owner='no-such-user-dg': no such user"),
    ("DirGuardRequire /x owner=#abc", "owner='#abc' is not a valid #number"),
    ("DirGuardRequire /x owner=#4294967295", "owner='#4294967295' is not a valid #number"),
    ("DirGuardRequire /x owner=#99999999999", "owner='#99999999999' is not a valid #number"),
    ("DirGuardRequire /x group=no-such-group-dg", "group='no-such-group-dg': no such group"),
    ("DirGuardRequire /x group=#-1", "group='#-1' is not a valid #number"),
    ("DirGuardRequire /x min-free=lots", "min-free='lots' is not a size"),
    ("DirGuardRequire /x min-free=10X", "min-free='10X' is not a size"),
    ("DirGuardRequire /x min-free=99999999999T", "min-free='99999999999T' is not a size"),
    ("DirGuardRequire /x min-free=1.5G", "min-free='1.5G' is not a size"),
    ("DirGuardRequire /x min-free=-1", "min-free='-1' is not a size"),
    ("DirGuardRequire /x min-inodes=1e6", "min-inodes='1e6' is not a whole number"),
    ("DirGuardRequire /x min-inodes=99999999999999999999999", "min-inodes='99999999999999999999999' is too large"),
    // paths
    ("DirGuardRequire /x/../etc", "contains '..'"),
    ("<Location /app>\nDirGuardRequire data\n</Location>", "relative path 'data' has no base directory inside <Location>"),
    ("<DirectoryMatch \"^/srv\">\nDirGuardRequire data\n</DirectoryMatch>", "no base directory inside <DirectoryMatch>"),
    ("<Directory ~ \"^/srv\">\nDirGuardRequire data\n</Directory>", "no base directory inside <Directory ~ regex>"),
    ("<Directory /srv/*>\nDirGuardRequire data\n</Directory>", "no base directory inside a wildcard <Directory>"),
    ("<Files x.cgi>\nDirGuardRequire data\n</Files>", "no base directory inside <Files>"),
    // contexts
    ("<VirtualHost 127.0.0.1:1>\nDirGuardStartup fail\n</VirtualHost>", "cannot occur within <VirtualHost> section"),
    ("<Directory />\nDirGuardRepair create\n</Directory>", "DirGuardRepair not allowed in <Directory> context"),
    ("<Location />\nDirGuardInterval 5\n</Location>", "DirGuardInterval not allowed in <Location> context"),
    // server directives
    ("DirGuardStartup sometimes", "DirGuardStartup: 'sometimes' is not one of warn, fail, off"),
    ("DirGuardStartup", "DirGuardStartup takes one argument"),
    ("DirGuardStartup warn fail", "DirGuardStartup takes one argument"),
    ("DirGuardRepair always", "DirGuardRepair: 'always' is not one of off, create, enforce"),
    ("DirGuardInterval -1", "DirGuardInterval: '-1' is not a number of seconds from 0 (off) to 86400"),
    ("DirGuardInterval 86401", "'86401' is not a number of seconds"),
    ("DirGuardInterval 5s", "'5s' is not a number of seconds"),
    ("DirGuardCheckTimeout 0", "DirGuardCheckTimeout: '0' is not a number of seconds from 0.1 to 300"),
    ("DirGuardCheckTimeout 3s", "'3s' is not a number of seconds"),
    ("DirGuardCheckTimeout 301", "'301' is not a number of seconds"),
    ("<VirtualHost 127.0.0.1:1>\nDirGuardCheckTimeout 2\n</VirtualHost>", "cannot occur within <VirtualHost> section"),
    // request-time directives
    ("DirGuardExplain", "DirGuardExplain needs an argument"),
    ("DirGuardExplain 6xx", "DirGuardExplain: '6xx' is not a status"),
    ("DirGuardExplain 200", "DirGuardExplain: '200' is not a status"),
    ("DirGuardExplain off 5xx", "'off' cannot be combined with statuses"),
    ("DirGuardOnFailure 502", "DirGuardOnFailure: '502' is not one of continue, 503"),
    ("DirGuardRetryAfter 0", "DirGuardRetryAfter: '0' is not a number of seconds from 1 to 86400"),
    ("DirGuardRetryAfter 1e3", "'1e3' is not a number of seconds"),
    ("DirGuardStatusView everything", "DirGuardStatusView: 'everything' is not one of vhost, all"),
    ("DirGuardSafeMethods", "DirGuardSafeMethods: name at least one method (or none)"),
    ("DirGuardSafeMethods GET PO/ST", "DirGuardSafeMethods: 'PO/ST' is not an HTTP method name"),
    ("DirGuardSafeMethods GET none", "'none' is not an HTTP method name (a token such as GET or PROPFIND), or none alone"),
    // the application's identity
    ("DirGuardUser no-such-user-dg", "DirGuardUser: 'no-such-user-dg' is not a user in the user database (a name, or #UID)"),
    ("DirGuardUser root no-such-group-dg", "DirGuardUser: 'no-such-group-dg' is not a group in the group database"),
    ("DirGuardUser", "DirGuardUser takes 1-2 arguments"),
    ("DirGuardUser a b c", "DirGuardUser takes 1-2 arguments"),
    ("DirGuardPhpFpmPools pool.d/*.conf", "DirGuardPhpFpmPools: 'pool.d/*.conf' is not an absolute path or pattern"),
    ("<VirtualHost 127.0.0.1:1>\nDirGuardPhpFpmPools /etc/x\n</VirtualHost>", "cannot occur within <VirtualHost> section"),
];

fn check(config: &str, expected: &str) {
    let mut a = Apache::new("bad");
    a.config(config);
    let (code, out) = a.configtest_code();
    assert_eq!(
        code,
        Some(1),
        "{config:?} must be refused with exit 1 (not accepted, not a crash):\n{out}"
    );
    let text = std::fs::read_to_string(&a.conf).unwrap();
    let line = text
        .lines()
        .position(|l| l.contains("DirGuard"))
        .expect("the directive is in the file")
        + 1;
    assert!(
        out.contains(&format!(
            "Syntax error on line {line} of {}",
            a.conf.display()
        )),
        "{config:?}: file and line {line} expected in:\n{out}"
    );
    assert!(
        out.contains(expected),
        "{config:?}: expected '{expected}' in:\n{out}"
    );
}

#[test]
fn every_malformed_directive_is_refused_with_file_line_and_reason() {
    assert!(CASES.len() >= 40, "the corpus keeps at least 40 cases");
    for (config, expected) in CASES {
        check(config, expected);
    }
}

#[test]
fn huge_values_are_refused_without_echoing_them_whole() {
    let mode = format!("DirGuardRequire /x mode={}", "7".repeat(10_000));
    check(&mode, "is too long (at most 256 bytes)");
    let path = format!("DirGuardRequire /{}", "a".repeat(5000));
    check(&path, "paths are limited to 4095 bytes (PATH_MAX)");
    let status = format!("DirGuardExplain {}", "9".repeat(5000));
    check(&status, "... (5000 bytes)' is not a status");
    let mut a = Apache::new("huge-echo");
    a.config(&mode);
    let (_, out) = a.configtest_code();
    assert!(
        out.len() < 2000,
        "the error stays short: {} bytes",
        out.len()
    );
}

#[test]
fn odd_bytes_in_options_are_refused_and_shown_escaped() {
    // The message escapes the byte itself (\x7f: printable wherever it lands, stderr included);
    // Apache escapes the backslash once more in its syntax-error output.
    check(
        "DirGuardRequire /x acc\u{7f}ess=rw",
        "unknown key 'acc\\\\x7fess'",
    );
    check("DirGuardRequire /x owner=r\u{f6}\u{f6}t", "no such user");
}
