//! Oracles shared by the fuzz targets: an independent reading of the text the module produces.
//!
//! `shell_words` splits a command the way a POSIX shell (bash) would for the quoting forms the
//! module may emit: bare safe characters, `'…'`, `"…"` holding nothing a shell expands inside
//! double quotes (no `$`, backtick, backslash or `!`), `\'`, `$'…'` with `\\`, `\'` and `\xHH`,
//! and the operators `&&` and `|`. Anything else a shell would interpret (an unquoted `$`,
//! backtick, `;`, glob characters, a newline, a stray backslash…) is an error here, so a fuzz
//! input that makes the module emit it fails. `fix_argvs` reads a `fix:` command down to the argv
//! of each program it runs, decoding the `echo B64 | base64 -d | xargs -0 PROGRAM …` form itself.

/// One token of a command line: a word (decoded bytes), the `&&` operator or a pipe.
#[derive(Debug, PartialEq, Eq)]
pub enum Token {
    Word(Vec<u8>),
    And,
    Pipe,
}

/// Characters a shell leaves alone outside quotes (no expansion, no globbing, no operators).
fn bare(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"._-+@%:,/=".contains(&b)
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Splits `line` into tokens, decoding quotes; `Err` names the first thing a shell would treat
/// specially that the module must never emit.
pub fn shell_words(line: &str) -> Result<Vec<Token>, String> {
    let s = line.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        if s[i] == b' ' {
            i += 1;
            continue;
        }
        if s[i..].starts_with(b"&&") && s.get(i + 2).is_none_or(|&b| b == b' ') {
            out.push(Token::And);
            i += 2;
            continue;
        }
        if s[i] == b'|' && s.get(i + 1).is_none_or(|&b| b == b' ') {
            out.push(Token::Pipe);
            i += 1;
            continue;
        }
        let mut word = Vec::new();
        while i < s.len() && s[i] != b' ' {
            match s[i] {
                b'\'' => {
                    let end = s[i + 1..]
                        .iter()
                        .position(|&b| b == b'\'')
                        .ok_or(format!("unterminated '…' at byte {i}"))?;
                    word.extend_from_slice(&s[i + 1..i + 1 + end]);
                    i += end + 2;
                }
                b'$' if s.get(i + 1) == Some(&b'\'') => {
                    i += 2;
                    loop {
                        match s.get(i) {
                            None => return Err("unterminated $'…'".into()),
                            Some(b'\'') => {
                                i += 1;
                                break;
                            }
                            Some(b'\\') => match s.get(i + 1) {
                                Some(b'\\') => {
                                    word.push(b'\\');
                                    i += 2;
                                }
                                Some(b'\'') => {
                                    word.push(b'\'');
                                    i += 2;
                                }
                                Some(b'x') => {
                                    let (h, l) = (s.get(i + 2).copied(), s.get(i + 3).copied());
                                    match (h.and_then(hex), l.and_then(hex)) {
                                        (Some(h), Some(l)) => {
                                            word.push(h << 4 | l);
                                            i += 4;
                                        }
                                        _ => {
                                            return Err(format!(
                                                "\\x without two hex digits at {i}"
                                            ))
                                        }
                                    }
                                }
                                _ => {
                                    return Err(format!(
                                        "escape a shell would read otherwise at {i}"
                                    ))
                                }
                            },
                            Some(&b) if (0x20..0x7f).contains(&b) => {
                                word.push(b);
                                i += 1;
                            }
                            Some(&b) => return Err(format!("raw byte {b:#04x} inside $'…'")),
                        }
                    }
                }
                // Double quotes around text a shell takes literally there, as in '…'"'"'…'.
                b'"' => {
                    let end = s[i + 1..]
                        .iter()
                        .position(|&b| b == b'"')
                        .ok_or(format!("unterminated \"…\" at byte {i}"))?;
                    let inner = &s[i + 1..i + 1 + end];
                    if let Some(b) = inner.iter().find(|b| b"$`\\!".contains(b)) {
                        return Err(format!("{:?} inside \"…\" at byte {i}", *b as char));
                    }
                    word.extend_from_slice(inner);
                    i += end + 2;
                }
                // A quote escaped outside quotes, as in '…'\''…'.
                b'\\' if s.get(i + 1) == Some(&b'\'') => {
                    word.push(b'\'');
                    i += 2;
                }
                b if bare(b) => {
                    word.push(b);
                    i += 1;
                }
                b => return Err(format!("unquoted {:?} at byte {i} of {line:?}", b as char)),
            }
        }
        out.push(Token::Word(word));
    }
    Ok(out)
}

/// True when every byte is printable ASCII: nothing that ends a log line or drives a terminal.
pub fn printable(text: &str) -> bool {
    text.bytes().all(|b| (0x20..0x7f).contains(&b))
}

/// Reverses `text::escape_log`; `None` when the text is not something it can produce.
pub fn unescape_log(text: &str) -> Option<Vec<u8>> {
    let s = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        if s[i] != b'\\' {
            if s[i] == b'"' || !(0x20..0x7f).contains(&s[i]) {
                return None;
            }
            out.push(s[i]);
            i += 1;
            continue;
        }
        match s.get(i + 1)? {
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'\\' => out.push(b'\\'),
            b'"' => out.push(b'"'),
            b'x' => {
                let v = hex(*s.get(i + 2)?)? << 4 | hex(*s.get(i + 3)?)?;
                out.push(v);
                i += 2;
            }
            _ => return None,
        }
        i += 2;
    }
    Some(out)
}

/// Apache's `ap_escape_errorlog_item` (server/util.c), which every line a module logs goes
/// through (also `apache2 -t`'s messages): `\\` doubled, `"` unchanged, `\b \n \r \t \v` in
/// short form, every other byte outside printable ASCII as `\xhh`.
pub fn apache_errorlog_escape(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    for &b in bytes {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x08 => out.extend_from_slice(b"\\b"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x0b => out.extend_from_slice(b"\\v"),
            0x20..=0x7e => out.push(b),
            _ => out.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
        }
    }
    out
}

/// Strict base64 (RFC 4648 alphabet, padded, canonical): `None` for anything else.
pub fn base64_decode(text: &[u8]) -> Option<Vec<u8>> {
    fn value(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    }
    if !text.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let quads = text.len() / 4;
    for (q, quad) in text.chunks(4).enumerate() {
        let pad = quad.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && q + 1 != quads) {
            return None;
        }
        let mut n = 0u32;
        for &c in &quad[..4 - pad] {
            n = n << 6 | value(c)?;
        }
        n <<= 6 * pad as u32;
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        // Bits below the last whole byte must be zero (what an encoder writes).
        if bytes[3 - pad..].iter().any(|&b| b != 0) {
            return None;
        }
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    Some(out)
}

/// The argv of every program a `fix:` command runs, in order (one per `&&`-joined command).
/// A command is either plain words, or `echo B64 | base64 -d | xargs -0 WORDS…`, whose argv is
/// WORDS followed by the NUL-terminated items the base64 decodes to. Anything else (another
/// pipeline, another operator, text a shell would expand) is an error.
pub fn fix_argvs(line: &str) -> Result<Vec<Vec<Vec<u8>>>, String> {
    let tokens = shell_words(line)?;
    let mut argvs = Vec::new();
    for command in tokens.split(|t| *t == Token::And) {
        let stages: Vec<Vec<&[u8]>> = command
            .split(|t| *t == Token::Pipe)
            .map(|stage| {
                stage
                    .iter()
                    .filter_map(|t| match t {
                        Token::Word(w) => Some(w.as_slice()),
                        _ => None,
                    })
                    .collect()
            })
            .collect();
        if stages.iter().any(Vec::is_empty) {
            return Err(format!("empty command in {line:?}"));
        }
        match stages.as_slice() {
            [words] => argvs.push(words.iter().map(|w| w.to_vec()).collect()),
            [echo, decode, xargs] => {
                let (&[b"echo", b64], &[b"base64", b"-d"]) = (echo.as_slice(), decode.as_slice())
                else {
                    return Err(format!("unexpected pipeline in {line:?}"));
                };
                let [b"xargs", b"-0", prefix @ ..] = xargs.as_slice() else {
                    return Err(format!("unexpected xargs in {line:?}"));
                };
                if prefix.is_empty() {
                    return Err(format!("xargs without a program in {line:?}"));
                }
                let stream = base64_decode(b64).ok_or(format!("bad base64 in {line:?}"))?;
                let Some(items) = stream.strip_suffix(b"\0") else {
                    return Err(format!("base64 items not NUL-terminated in {line:?}"));
                };
                let mut argv: Vec<Vec<u8>> = prefix.iter().map(|w| w.to_vec()).collect();
                argv.extend(items.split(|&b| b == 0).map(<[u8]>::to_vec));
                argvs.push(argv);
            }
            _ => return Err(format!("unexpected pipeline in {line:?}")),
        }
    }
    Ok(argvs)
}
