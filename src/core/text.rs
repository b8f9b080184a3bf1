//! Turning paths and names into text that is safe where it lands: shell commands a root shell
//! can paste (`fix:` commands, built with [`ShellCommand`]), shell words that show a path in a
//! message, and log text that cannot forge a line or drive a terminal.

use std::ffi::OsStr;
use std::fmt;
use std::os::unix::ffi::OsStrExt;

/// Quotes bytes as one shell word, to show a path in the descriptive part of a message.
/// Printable ASCII goes in single quotes (`'"'"'` for a quote inside, no backslash); anything else (control
/// bytes, non-ASCII, invalid UTF-8) uses bash's `$'…'` form with every such byte as `\xHH`. The
/// word is plain ASCII, so it cannot break a line or drive a terminal; but Apache's error log
/// doubles its backslashes, so it is no command to paste: `fix:` commands are [`ShellCommand`]s.
pub fn shell_quote(bytes: &[u8]) -> String {
    let needs_ansi_c = bytes.iter().any(|&b| !(0x20..0x7f).contains(&b));
    if !needs_ansi_c {
        let text = std::str::from_utf8(bytes).unwrap_or_default();
        let mut out = String::with_capacity(text.len() + 2);
        out.push('\'');
        for c in text.chars() {
            if c == '\'' {
                out.push_str("'\"'\"'");
            } else {
                out.push(c);
            }
        }
        out.push('\'');
        return out;
    }
    let mut out = String::with_capacity(bytes.len() * 2 + 3);
    out.push_str("$'");
    for &b in bytes {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'\'' => out.push_str("\\'"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out.push('\'');
    out
}

/// A `fix:` command: simple commands joined by `&&`, each a program and its words, rendered once
/// into text that is printable ASCII without a backslash. Apache's error-log escaping (which
/// doubles backslashes and turns other bytes into `\xHH`) then leaves it unchanged, so the line
/// in the log file, on the `apache2 -t` terminal and on the status page is the command itself,
/// and bash runs it with every word exactly as built, whatever bytes a path or name holds
/// (anything but NUL).
///
/// A simple command whose words are all printable ASCII without a backslash is written as words:
/// safe option-like words bare, others in single quotes, with `'"'"'` for a quote inside (no
/// backslash, and no data inside double quotes, where an interactive bash would expand `!`).
/// Otherwise, from its first awkward word on, its words travel in base64 (an alphabet Apache
/// leaves alone), each followed by NUL, and the command decodes them itself; `xargs -0` appends
/// them to the words before, in order:
///
/// `echo L3Nydi9jYWbDqS91cGxvYWRzAA== | base64 -d | xargs -0 install -d -m 0755`
///
/// (No `$(…)`, which would strip a trailing newline from a path.)
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShellCommand {
    /// The simple commands, joined by `&&`; never empty, nor is any of them.
    commands: Vec<Vec<Word>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Word {
    bytes: Vec<u8>,
    /// May stand without quotes when every byte is plainly safe (options, modes, names).
    bare: bool,
}

impl Word {
    /// Survives Apache's error-log escaping unchanged: printable ASCII without a backslash.
    fn inline(&self) -> bool {
        self.bytes
            .iter()
            .all(|&b| (0x20..0x7f).contains(&b) && b != b'\\')
    }

    /// The word as shell text; only for words that are `inline`.
    fn quoted(&self) -> String {
        let text = String::from_utf8_lossy(&self.bytes);
        if self.bare && !text.is_empty() && text.bytes().all(bare_safe) {
            return text.into_owned();
        }
        format!("'{}'", text.replace('\'', "'\"'\"'"))
    }
}

/// Bytes a shell leaves alone outside quotes in an argument (no expansion, globbing, operator).
fn bare_safe(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"._-+@%:,/".contains(&b)
}

impl ShellCommand {
    /// A simple command running `program` (a word of the module's own, like `install`).
    pub fn new(program: &str) -> ShellCommand {
        ShellCommand {
            commands: vec![vec![Word {
                bytes: program.as_bytes().to_vec(),
                bare: true,
            }]],
        }
    }

    fn push(mut self, bytes: &[u8], bare: bool) -> ShellCommand {
        let word = Word {
            bytes: bytes.to_vec(),
            bare,
        };
        if let Some(last) = self.commands.last_mut() {
            last.push(word);
        }
        self
    }

    /// A word of the last simple command that stands bare when plainly safe (`-d`, `0755`,
    /// `u:www-data:rwx`, a user name) and is quoted or carried in base64 otherwise.
    pub fn arg(self, word: impl AsRef<[u8]>) -> ShellCommand {
        self.push(word.as_ref(), true)
    }

    /// A path as a word of the last simple command: always quoted (or carried in base64).
    pub fn path(self, path: impl AsRef<OsStr>) -> ShellCommand {
        self.push(path.as_ref().as_bytes(), false)
    }

    /// This command, then `next` if it succeeded (`&&`).
    pub fn and(mut self, next: ShellCommand) -> ShellCommand {
        self.commands.extend(next.commands);
        self
    }

    /// The command as one line of shell text (also what `Display` writes).
    pub fn render(&self) -> String {
        self.commands
            .iter()
            .map(|words| render_simple(words))
            .collect::<Vec<_>>()
            .join(" && ")
    }
}

impl fmt::Display for ShellCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

fn render_simple(words: &[Word]) -> String {
    let Some(first_awkward) = words.iter().position(|w| !w.inline()) else {
        return words.iter().map(Word::quoted).collect::<Vec<_>>().join(" ");
    };
    let mut stream = Vec::new();
    for w in &words[first_awkward..] {
        stream.extend_from_slice(&w.bytes);
        stream.push(0);
    }
    let mut out = format!("echo {} | base64 -d | xargs -0", base64(&stream));
    for w in &words[..first_awkward] {
        out.push(' ');
        out.push_str(&w.quoted());
    }
    out
}

/// Standard base64 (RFC 4648, with padding), as `base64 -d` reads it.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Shell word for a path.
pub fn quote_path(path: &OsStr) -> String {
    shell_quote(path.as_bytes())
}

/// Escapes text for one error-log line the way Apache's `ap_escape_logitem` does: control bytes
/// and bytes outside ASCII printable become `\xHH`, backslash and double quote are escaped, and
/// `\n`, `\r`, `\t` get their short forms. A path can then never start a forged log line.
pub fn escape_log(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        match b {
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out
}

/// A token from the configuration as an error message shows it: escaped, and cut to 64 bytes
/// with its full length when longer, so a huge value cannot flood the output. Plain ASCII, as
/// Apache escapes anything else in its messages.
pub fn shown(bytes: &[u8]) -> String {
    const MAX: usize = 64;
    if bytes.len() <= MAX {
        return escape_log(bytes);
    }
    format!("{}... ({} bytes)", escape_log(&bytes[..MAX]), bytes.len())
}

/// Formats a byte count the way administrators read `df -h`: binary units, one decimal.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// RFC 3339 UTC time (`2026-11-23T23:40:00Z`) for a count of seconds since the epoch.
pub fn format_utc(unix_s: u64) -> String {
    let days = (unix_s / 86_400) as i64;
    let secs = unix_s % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm, public domain facts).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_times_match_known_dates() {
        assert_eq!(format_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(format_utc(1_795_476_000), "2026-11-23T23:20:00Z");
    }

    use super::*;
    use std::os::unix::ffi::OsStringExt;
    use std::process::Command;

    fn bash_echo(word: &str) -> Vec<u8> {
        let out = Command::new("bash")
            .arg("-c")
            .arg(format!("printf '%s' {word}"))
            .output()
            .expect("bash runs");
        out.stdout
    }

    /// Apache's `ap_escape_errorlog_item` (server/util.c), which every line a module logs goes
    /// through, as do `apache2 -t`'s messages: `\\` doubled, `"` unchanged, `\b \n \r \t \v`
    /// short, every other byte outside printable ASCII as `\xhh`.
    pub(crate) fn apache_errorlog_escape(bytes: &[u8]) -> Vec<u8> {
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

    fn install(path: &[u8]) -> ShellCommand {
        ShellCommand::new("install")
            .arg("-d")
            .arg("-m")
            .arg("0755")
            .path(OsStr::from_bytes(path))
    }

    /// The command as it reads in the error log: Apache's escaping must leave it unchanged, and
    /// it must be printable ASCII without a backslash.
    fn as_logged(cmd: &ShellCommand) -> String {
        let text = cmd.render();
        assert!(
            text.bytes()
                .all(|b| (0x20..0x7f).contains(&b) && b != b'\\'),
            "{text:?}"
        );
        let logged = apache_errorlog_escape(text.as_bytes());
        assert_eq!(
            logged,
            text.as_bytes(),
            "Apache's escaping changed {text:?}"
        );
        String::from_utf8(logged).unwrap()
    }

    fn bash(cmd: &str) -> std::process::Output {
        let out = Command::new("bash")
            .arg("-c")
            .arg(cmd)
            .output()
            .expect("bash runs");
        assert!(
            out.status.success(),
            "{cmd:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// A fresh, empty scratch directory for one case.
    fn scratch(name: &str) -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("dirguard-paste-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Every entry below `dir` (symlinks not followed), as exact bytes.
    fn entries_below(dir: &std::path::Path) -> std::collections::BTreeSet<Vec<u8>> {
        let mut found = std::collections::BTreeSet::new();
        let mut todo = vec![dir.to_path_buf()];
        while let Some(d) = todo.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if std::fs::symlink_metadata(&p).unwrap().is_dir() {
                    todo.push(p.clone());
                }
                found.insert(p.into_os_string().into_vec());
            }
        }
        found
    }

    /// The awkward paths, each relative to a scratch directory (name, bytes).
    fn awkward_paths() -> Vec<(&'static str, Vec<u8>)> {
        // Components of 200 bytes (a name may have 255), cut to a 4000-byte path below.
        let segment: &[u8] = b"caf\xc3\xa9 it's \\ \n $(id) `id` !! \xff\xfe \x1b[2J *?[a] ~{a,b}";
        let long: Vec<u8> = (0..20)
            .map(|_| {
                segment
                    .iter()
                    .cycle()
                    .take(200)
                    .copied()
                    .collect::<Vec<u8>>()
            })
            .collect::<Vec<_>>()
            .join(&b'/');
        vec![
            ("apostrophe", b"it's/uploads".to_vec()),
            ("cafe", "caf\u{e9}/uploads".as_bytes().to_vec()),
            ("backslash", b"back\\slash/up\\".to_vec()),
            ("newline", b"new\nline/uploads".to_vec()),
            ("trailing-newline", b"uploads\n".to_vec()),
            ("trailing-newlines", b"a\n\n/b\n\n".to_vec()),
            ("subst", b"$(touch pwned)/uploads".to_vec()),
            ("backtick", b"`touch pwned`".to_vec()),
            ("bang", b"wow!!/!$/!-1".to_vec()),
            ("latin1", b"\xff\xfe-latin1".to_vec()),
            ("esc", b"x\x1b[2J\x1b]0;owned\x07\r".to_vec()),
            ("quotes", b"'\"'\"'$'\\'".to_vec()),
            ("globs", b"* ?/[ab]/~root/{a,b}".to_vec()),
            ("dash", b"-rf --/-".to_vec()),
            ("long", long),
        ]
    }

    #[test]
    fn plain_words_read_as_before() {
        assert_eq!(
            install(b"/var/www/html/wp-content/uploads").render(),
            "install -d -m 0755 '/var/www/html/wp-content/uploads'"
        );
        let names = ShellCommand::new("chown")
            .arg("www-data")
            .arg("a b")
            .arg("")
            .arg("?")
            .path("/srv/it's");
        assert_eq!(
            names.render(),
            "chown www-data 'a b' '' '?' '/srv/it'\"'\"'s'"
        );
        let both = ShellCommand::new("mv")
            .arg("--")
            .path("/a")
            .path("/b")
            .and(ShellCommand::new("true"));
        assert_eq!(both.to_string(), "mv -- '/a' '/b' && true");
    }

    #[test]
    fn base64_matches_rfc_4648() {
        let vectors = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in vectors {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
        let all: Vec<u8> = (0..=255).collect();
        let out = Command::new("bash")
            .arg("-c")
            .arg(format!("echo {} | base64 -d", base64(&all)))
            .output()
            .unwrap();
        assert_eq!(out.stdout, all);
    }

    #[test]
    fn awkward_words_travel_in_base64_from_the_first_one_on() {
        // "/srv/café/uploads" NUL, in base64.
        assert_eq!(
            install("/srv/caf\u{e9}/uploads".as_bytes()).render(),
            "echo L3Nydi9jYWbDqS91cGxvYWRzAA== | base64 -d | xargs -0 install -d -m 0755"
        );
        let cmd = ShellCommand::new("install")
            .arg("-o")
            .arg("w\u{e9}b")
            .arg("-g")
            .arg("www-data")
            .path("/srv/x");
        assert!(
            cmd.render().ends_with("| base64 -d | xargs -0 install -o"),
            "{cmd}"
        );
    }

    /// Each awkward path, pasted from the log into bash, creates exactly that directory.
    #[test]
    fn every_awkward_path_is_created_exactly_from_the_logged_command() {
        for (name, rel) in awkward_paths() {
            let base = scratch(name);
            let mut target = base.clone().into_os_string().into_vec();
            target.push(b'/');
            target.extend_from_slice(&rel);
            if name == "long" {
                target.truncate(4000);
                if let Some(last) = target.last_mut().filter(|b| **b == b'/') {
                    *last = b'x';
                }
            }
            let target = std::path::PathBuf::from(OsStr::from_bytes(&target));
            let cmd = as_logged(&install(target.as_os_str().as_bytes()));
            bash(&cmd);
            let md = std::fs::metadata(&target).unwrap_or_else(|e| {
                panic!("{name}: {} not created by {cmd}: {e}", target.display())
            });
            assert!(md.is_dir(), "{name}");
            // Nothing else appeared: only the target and its parents below the scratch dir.
            let expected: std::collections::BTreeSet<Vec<u8>> = target
                .ancestors()
                .take_while(|a| *a != base)
                .map(|a| a.as_os_str().as_bytes().to_vec())
                .collect();
            assert_eq!(entries_below(&base), expected, "{name}: {cmd}");
            assert!(!std::path::Path::new("pwned").exists());
            std::fs::remove_dir_all(&base).unwrap();
        }
    }

    /// Several awkward words and `&&`: the move-aside fix, and words after the first awkward one.
    #[test]
    fn commands_joined_by_and_keep_every_word() {
        for (name, rel) in awkward_paths().into_iter().filter(|(n, _)| *n != "long") {
            let base = scratch(&format!("and-{name}"));
            let mut p = base.clone().into_os_string();
            p.push("/");
            p.push(OsStr::from_bytes(rel.split(|&b| b == b'/').next().unwrap()));
            std::fs::write(&p, b"file").unwrap();
            let mut aside = p.clone();
            aside.push(".dirguard-moved");
            let cmd = ShellCommand::new("mv")
                .arg("--")
                .path(&p)
                .path(&aside)
                .and(install(p.as_bytes()));
            bash(&as_logged(&cmd));
            assert!(std::fs::metadata(&p).unwrap().is_dir(), "{name}: {cmd}");
            assert_eq!(std::fs::read(&aside).unwrap(), b"file", "{name}: {cmd}");
            assert_eq!(entries_below(&base).len(), 2, "{name}: {cmd}");
            std::fs::remove_dir_all(&base).unwrap();
            // Each word arrives whole, in order, awkward or not, empty included.
            let words: [&[u8]; 4] = [&rel, b"", b"plain", b"it's"];
            let cmd = ShellCommand::new("printf")
                .arg("[%s]")
                .arg(words[0])
                .arg(words[1])
                .path(OsStr::from_bytes(words[2]))
                .arg(words[3]);
            let out = bash(&as_logged(&cmd));
            let expected: Vec<u8> = words
                .iter()
                .flat_map(|w| [b"[".as_slice(), w, b"]"].concat())
                .collect();
            assert_eq!(out.stdout, expected, "{name}: {cmd}");
        }
    }

    #[test]
    fn plain_paths_use_single_quotes() {
        assert_eq!(shell_quote(b"/var/www/html"), "'/var/www/html'");
        assert_eq!(shell_quote(b"/srv/it's"), "'/srv/it'\"'\"'s'");
    }

    #[test]
    fn every_awkward_byte_round_trips_through_bash() {
        let cases: [&[u8]; 7] = [
            b"/srv/a b",
            b"/srv/$(touch /tmp/pwned)",
            b"/srv/`id`",
            b"/srv/new\nline",
            b"/srv/quote'\"",
            b"/srv/\xff\xfe-latin1",
            b"/srv/esc\x1b[31mred\\",
        ];
        for case in cases {
            let word = shell_quote(case);
            assert!(word.bytes().all(|b| (0x20..0x7f).contains(&b)), "{word}");
            assert_eq!(bash_echo(&word), case, "{word}");
        }
    }

    #[test]
    fn log_escaping_cannot_forge_a_line() {
        let escaped = escape_log(b"/srv/x\n[Mon Jan 01] [core:emerg] fake\x1b[0m\"");
        assert!(!escaped.contains('\n'));
        assert!(!escaped.contains('\x1b'));
        assert_eq!(
            escaped,
            "/srv/x\\n[Mon Jan 01] [core:emerg] fake\\x1b[0m\\\""
        );
    }

    #[test]
    fn long_tokens_are_cut_when_shown() {
        assert_eq!(shown(b"5xx"), "5xx");
        let long = vec![b'7'; 10_000];
        let s = shown(&long);
        assert!(s.len() < 100 && s.ends_with("... (10000 bytes)"), "{s}");
    }

    #[test]
    fn sizes_read_like_df() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(5 * 1024 * 1024 * 1024), "5.0 GiB");
    }
}
