//! Turning paths and names into text that is safe where it lands: shell words a root shell can
//! paste (`fix:` commands) and log text that cannot forge a line or drive a terminal.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

/// Quotes bytes as one shell word. Printable ASCII goes in single quotes (`'\''` for a quote
/// inside); anything else (control bytes, non-ASCII, invalid UTF-8) uses bash's `$'…'` form with
/// every such byte as `\xHH`. The word is plain ASCII, so it survives log escaping, terminals
/// and copy-paste unchanged.
pub fn shell_quote(bytes: &[u8]) -> String {
    let needs_ansi_c = bytes.iter().any(|&b| !(0x20..0x7f).contains(&b));
    if !needs_ansi_c {
        let text = std::str::from_utf8(bytes).unwrap_or_default();
        let mut out = String::with_capacity(text.len() + 2);
        out.push('\'');
        for c in text.chars() {
            if c == '\'' {
                out.push_str("'\\''");
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

/// A shell word that stays bare when it is plainly safe (user and group names), quoted otherwise.
pub fn shell_word(text: &str) -> String {
    let safe = !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-+@%:,/".contains(&b));
    if safe {
        text.to_owned()
    } else {
        shell_quote(text.as_bytes())
    }
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
    use std::process::Command;

    fn bash_echo(word: &str) -> Vec<u8> {
        let out = Command::new("bash")
            .arg("-c")
            .arg(format!("printf '%s' {word}"))
            .output()
            .expect("bash runs");
        out.stdout
    }

    #[test]
    fn names_stay_bare_unless_they_need_quotes() {
        assert_eq!(shell_word("www-data"), "www-data");
        assert_eq!(shell_word("a b"), "'a b'");
        assert_eq!(shell_word(""), "''");
    }

    #[test]
    fn plain_paths_use_single_quotes() {
        assert_eq!(shell_quote(b"/var/www/html"), "'/var/www/html'");
        assert_eq!(shell_quote(b"/srv/it's"), "'/srv/it'\\''s'");
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
