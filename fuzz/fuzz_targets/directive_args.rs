//! The directive-argument parsers with arbitrary tokens (NUL separates tokens; inside a token
//! any byte may appear, as Apache's quoting allows). Whatever the input: no panic, an error is
//! one bounded line of printable ASCII (it is echoed to the terminal and the error log), and an
//! accepted requirement is an absolute, NUL-free path with sane limits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mod_dirguard::core::explain::{parse_retry_after, ExplainSet, OnFailure};
use mod_dirguard::core::spec::{parse_require, Base, Origin};
use mod_dirguard_fuzz::printable;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Linux's PATH_MAX: the parser refuses paths of this length or longer.
const PATH_MAX: usize = 4096;

/// A bound on any message: at most two cut tokens (`text::shown`, ≤ 280 bytes each) and words.
const MAX_ERROR: usize = 1024;

fn check_error(e: &str) {
    assert!(printable(e), "error text is not printable ASCII: {e:?}");
    assert!(e.len() <= MAX_ERROR, "error text is {} bytes", e.len());
}

fuzz_target!(|data: &[u8]| {
    let tokens: Vec<&[u8]> = data.split(|&b| b == 0).collect();
    let origin = Origin {
        file: "/etc/apache2/sites-enabled/fuzz.conf".into(),
        line: 7,
    };
    let bases = [
        Base::Dir(Path::new("/srv/www")),
        Base::Unknown("relative paths need a <Directory> section"),
    ];
    for base in bases {
        match parse_require(&tokens, base, origin.clone()) {
            Err(e) => check_error(&e),
            Ok(dir) => {
                let p = dir.path.as_os_str().as_bytes();
                assert!(p.starts_with(b"/"), "accepted a relative path {p:?}");
                assert!(!p.contains(&0));
                assert!(p.len() < PATH_MAX);
                assert!(dir.mode.is_none_or(|m| m <= 0o7777));
            }
        }
    }
    // The other directives receive text (Apache's arguments, read lossily as UTF-8).
    let words: Vec<String> = tokens
        .iter()
        .map(|t| String::from_utf8_lossy(t).into_owned())
        .collect();
    let refs: Vec<&str> = words.iter().map(String::as_str).collect();
    match ExplainSet::parse(&refs) {
        Err(e) => check_error(&e),
        Ok(set) => {
            // Only statuses from 400 to 599 can ever be selected.
            assert!(!set.contains(200) && !set.contains(399) && !set.contains(600));
        }
    }
    if let Some(first) = refs.first() {
        if let Err(e) = OnFailure::parse(first) {
            check_error(&e);
        }
        match parse_retry_after(first) {
            Err(e) => check_error(&e),
            Ok(s) => assert!((1..=86_400).contains(&s)),
        }
    }
});
