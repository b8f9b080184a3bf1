//! Oracles shared by the fuzz targets: an independent reading of the text the module produces.
//!
//! `shell_words` splits a command the way a POSIX shell (bash) would for the quoting forms the
//! module may emit: bare safe characters, `'…'`, `\'`, and `$'…'` with `\\`, `\'` and `\xHH`. Anything
//! else a shell would interpret (an unquoted `$`, backtick, `;`, `|`, glob characters, a newline,
//! a stray backslash…) is an error here, so a fuzz input that makes the module emit it fails.

/// One token of a command line: a word (decoded bytes) or the `&&` operator.
#[derive(Debug, PartialEq, Eq)]
pub enum Token {
    Word(Vec<u8>),
    And,
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
