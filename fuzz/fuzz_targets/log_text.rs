//! Log-text escaping and the ACL attribute parser with arbitrary bytes. Escaped text is printable
//! ASCII, carries no unescaped `"` (Apache quotes notes and log items), and reverses to exactly
//! the input; a cut token stays bounded. An ACL from the filesystem never panics the parser.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mod_dirguard::core::permission::Acl;
use mod_dirguard::core::text::{escape_log, shell_quote, shown};
use mod_dirguard_fuzz::{printable, shell_words, unescape_log, Token};

fuzz_target!(|data: &[u8]| {
    let escaped = escape_log(data);
    assert!(printable(&escaped));
    assert_eq!(unescape_log(&escaped).as_deref(), Some(data), "{escaped:?}");
    let cut = shown(data);
    assert!(
        printable(&cut) && cut.len() <= 64 * 4 + 32,
        "{} bytes",
        cut.len()
    );
    // Any byte string except one holding NUL (no argv word can) is one shell word.
    if !data.contains(&0) {
        let q = shell_quote(data);
        assert!(printable(&q));
        assert_eq!(
            shell_words(&q).unwrap(),
            vec![Token::Word(data.to_vec())],
            "{q:?}"
        );
    }
    let _ = Acl::parse(data);
});
