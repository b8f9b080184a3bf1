//! Clues in a request's own error lines: which absolute path a line says could not be used, and
//! why (a [`Clue::Path`]), or that the line gives a reason that is not a filesystem one (a
//! [`Clue::Other`], so an explanation can point at that line instead of blaming a directory).
//!
//! The input is what Apache hands its `error_log` hook: the message text only (no date, level or
//! client), with the error-log escaping of `ap_escape_errorlog_item` applied (control bytes and
//! bytes outside printable ASCII as `\xHH`, `\n` for a newline, `\\` for a backslash). The text is
//! unescaped before it is read, so a relayed multi-line stderr splits into its lines and a path
//! with non-ASCII bytes comes back as those bytes.
//!
//! Recognised, by Apache tag (formats copied from httpd 2.4.x, `server/` and `modules/`):
//!
//! - core: AH00128 (not found), AH00132 (permission), AH00035 (search permission on a component;
//!   the path in `(filesystem path '…')`), AH00036 (walk failed: reason from the status),
//!   AH00032/AH00037 (symlink not allowed or target not accessible), AH00529 (`.htaccess`
//!   unreadable: the file, then its directory), AH01276 (no DirectoryIndex in a directory).
//! - mod_cgi/mod_cgid, in both the 2.4.60+ `stderr from SCRIPT: MESSAGE` shape and the earlier
//!   `MESSAGE: SCRIPT` one: AH01215 (the script's stderr, read like any relayed program output,
//!   the script's own path never taken for the cause), AH02811/AH01264 (script not found),
//!   AH03194/AH01267 (not executable), AH02812/AH01265 (a directory), AH01222/AH01223/AH01226/
//!   AH01227 (spawn failed), AH01241 and APR's `exec of '…' failed`.
//! - mod_proxy: AH02454 (connect to a Unix domain socket failed: the socket's path).
//! - mod_proxy_fcgi: AH01071 `Got error '…'` (PHP-FPM's stderr: each `PHP message: ` part read
//!   as a PHP message, and FPM's own `Unable to open primary script: PATH (REASON)`).
//! - Non-filesystem reasons ([`Clue::Other`]): AH00124/AH00125 (LimitInternalRecursion), AH02430
//!   (invalid response header), AH01630/AH01797 (authz), AH02596 and the untagged `exceeded
//!   maximum length` of mod_rewrite, AH00669/AH10160/AH00670 (mod_rewrite), AH01114/AH01079/
//!   AH00957/AH00959/AH00940/AH00941/AH02453/AH01102/AH01110/AH00898/AH01097/AH01144 (proxy),
//!   AH01067/AH01068/AH01069/AH01070/AH01072/AH01073/AH01074/AH01075 (FastCGI),
//!   AH02809/AH01262 (ExecCGI off), the untagged script-header lines of `util_script.c`
//!   (malformed header, invalid status, timeout), `.htaccess` syntax errors, suEXEC policy
//!   violations, FPM's `Primary script unknown`, PHP's open_basedir, memory_limit and
//!   max_execution_time, and `Too many open files` / `Cannot allocate memory` anywhere.
//!
//! In any other line (a PHP message under mod_php, PHP-FPM's relayed messages, a CGI's stderr):
//! a strerror text (glibc, musl, dash, Node's lowercase) anchors a clue, and the path is found
//! around it in the shape the writer uses: PHP's `func(PATH): [Failed to open stream: ]REASON`
//! (two paths for `rename(A,B)`), `open(PATH, O_RDWR) failed: REASON (N)` (sessions),
//! `Unable to create file PATH because REASON` (touch), `PATH (REASON)` (FPM, Java),
//! `PATH: REASON` with the path quoted (`'…'`, `"…"`, `‘…’`) or bare (shells, coreutils, Perl,
//! Go), Python's `[Errno N] REASON: 'PATH'`, Node's `REASON, OP 'PATH'`, Ruby's
//! `REASON @ rb_sysopen - PATH`. Also without a strerror: PHP's `Failed opening required 'PATH'`,
//! `Unable to move 'A' to 'B'`, the session save path of a failed session read or write, and
//! WordPress's `Unable to create directory PATH.` when it is absolute.
//!
//! Never taken for a cause: the script location of a PHP message (`in FILE on line N`,
//! `in FILE:N`) or of a Perl die (`at FILE line N.`), a CGI script's path in AH01215, relative
//! paths, URLs (including `//host/…`), paths longer than [`MAX_PATH`] or holding a NUL.
//!
//! Work is bounded: only the first [`MAX_TEXT`] bytes of a line are read, and a line yields at
//! most [`MAX_CLUES`] clues.

use super::text::shown;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// Bytes of a line read at most.
pub const MAX_TEXT: usize = 8 * 1024;
/// Clues returned for one line at most.
pub const MAX_CLUES: usize = 4;
/// Longest path taken (PATH_MAX).
pub const MAX_PATH: usize = 4096;
/// strerror texts examined per line at most (each costs a look around it).
const MAX_ANCHORS: usize = 32;

/// Why a path failed, as the line says it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FsReason {
    /// ENOENT (also dash's `Directory nonexistent`, `No such file`).
    NotFound,
    /// EACCES, and EPERM (`Operation not permitted`).
    PermissionDenied,
    /// EROFS.
    ReadOnly,
    /// ENOSPC.
    NoSpace,
    /// ENOTDIR.
    NotADirectory,
    /// EDQUOT.
    QuotaExceeded,
    /// ELOOP.
    TooManyLinks,
    /// EISDIR.
    IsADirectory,
    /// The line names the path but gives no reason, or one not listed above (EEXIST, EIO,
    /// ENAMETOOLONG, ESTALE, ENOTCONN of a dead FUSE mount, ENOEXEC…).
    Other,
}

impl FsReason {
    /// The reason for an errno value (APR's status for a system error is the errno itself);
    /// `None` for success and for values that are no filesystem reason.
    pub fn from_errno(errno: i32) -> Option<FsReason> {
        Some(match errno {
            libc::ENOENT => FsReason::NotFound,
            libc::EACCES | libc::EPERM => FsReason::PermissionDenied,
            libc::EROFS => FsReason::ReadOnly,
            libc::ENOSPC => FsReason::NoSpace,
            libc::ENOTDIR => FsReason::NotADirectory,
            libc::EDQUOT => FsReason::QuotaExceeded,
            libc::ELOOP => FsReason::TooManyLinks,
            libc::EISDIR => FsReason::IsADirectory,
            libc::EEXIST | libc::EIO | libc::ENAMETOOLONG | libc::ESTALE | libc::ENOTCONN => {
                FsReason::Other
            }
            _ => return None,
        })
    }
}

/// What one error line says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Clue {
    /// An absolute filesystem path the line says could not be used, and why.
    Path {
        path: PathBuf,
        reason: FsReason,
        /// What was attempted on the path when the line says ("mkdir", "file_put_contents",
        /// "fopen", "open", "stat", "search", "exec", "connect", "create", "touch"…).
        operation: Option<String>,
    },
    /// The line gives a reason that is not a filesystem one: Apache's tag (empty when the line
    /// has none) and a short summary (printable ASCII), e.g. ("AH02430", "response header with
    /// invalid characters"), ("AH00124", "internal redirect loop (LimitInternalRecursion)"),
    /// ("AH01114", "proxy backend connection failed").
    Other { tag: String, summary: String },
}

/// Whether a line is the module's own (`DGnnnnn: …`): never read, so no clue ever comes from
/// an explanation the module wrote itself.
pub fn is_own(text: &[u8]) -> bool {
    let t = trim_start(text);
    t.len() >= 8 && t.starts_with(b"DG") && t[2..7].iter().all(u8::is_ascii_digit) && t[7] == b':'
}

/// Clues in one error line: `module` is the module that logged it ("proxy_fcgi", "php", "core",
/// "cgi", "cgid", "rewrite", "proxy", "http", …), `tag` Apache's AHnnnnn if the line has one
/// (when `None` and the text starts with `AHnnnnn: `, the tag is taken from there), `text` the
/// message after the tag. Reads no more than [`MAX_TEXT`] bytes; returns at most [`MAX_CLUES`].
pub fn clues(module: &str, tag: Option<&str>, text: &[u8]) -> Vec<Clue> {
    clues_with_status(module, tag, 0, text)
}

/// [`clues`] with the line's APR status (`ap_errorlog_info.status`, 0 for none): the reason for
/// lines whose text names a path without saying why (AH00036, AH00529, AH02454, AH01241, the
/// AH0122x spawn failures), and a better one than the text's default for AH00132. A text that
/// starts with the status the way the log file shows it (`(13)Permission denied: …`) gives it
/// too.
pub fn clues_with_status(module: &str, tag: Option<&str>, status: i32, text: &[u8]) -> Vec<Clue> {
    let text = &text[..text.len().min(MAX_TEXT)];
    let given = tag.map(|t| t.trim().trim_end_matches(':')).unwrap_or("");
    if is_own(text) || given.starts_with("DG") {
        return Vec::new();
    }
    let raw = unescape(text);
    let (mut tag, mut body) = (given.to_string(), &raw[..]);
    if tag.is_empty() {
        if let Some((t, rest)) = split_tag(body) {
            if t.starts_with("DG") {
                return Vec::new();
            }
            tag = t;
            body = rest;
        }
    }
    let (status, body) = match split_status(body) {
        Some((n, rest)) => (n, rest),
        None => (status, body),
    };
    let mut found = Found {
        tag,
        clues: Vec::new(),
        anchors: MAX_ANCHORS,
    };
    let fallback = FsReason::from_errno(status);
    if !apache_line(&mut found, body, fallback) {
        let relayed = relayed(module, &found.tag, body);
        for segment in segments(relayed) {
            if found.full() {
                break;
            }
            message(&mut found, segment);
        }
    }
    found.clues
}

// ---------------------------------------------------------------------------------------------
// Collecting.

struct Found {
    tag: String,
    clues: Vec<Clue>,
    /// strerror texts still to examine.
    anchors: usize,
}

impl Found {
    fn full(&self) -> bool {
        self.clues.len() >= MAX_CLUES
    }

    /// Adds a path clue if `path` is an acceptable absolute path not already named.
    fn path(&mut self, path: &[u8], reason: FsReason, operation: Option<&str>) {
        if self.full() || !valid_path(path) {
            return;
        }
        let path = PathBuf::from(OsStr::from_bytes(path));
        let named = self
            .clues
            .iter()
            .any(|c| matches!(c, Clue::Path { path: p, .. } if *p == path));
        if !named {
            self.clues.push(Clue::Path {
                path,
                reason,
                operation: operation.map(str::to_string),
            });
        }
    }

    fn other(&mut self, summary: String) {
        if self.full() {
            return;
        }
        let named = self
            .clues
            .iter()
            .any(|c| matches!(c, Clue::Other { summary: s, .. } if *s == summary));
        if !named {
            self.clues.push(Clue::Other {
                tag: self.tag.clone(),
                summary,
            });
        }
    }
}

fn valid_path(p: &[u8]) -> bool {
    !p.is_empty()
        && p.len() <= MAX_PATH
        && p[0] == b'/'
        && !p.starts_with(b"//")
        && !p.iter().any(|&b| b == 0 || b == b'\n' || b == b'\r')
}

// ---------------------------------------------------------------------------------------------
// Apache's own lines.

/// Lines Apache itself writes in a known shape; true when the tag (or, untagged, the text) is
/// one of them, whether or not it gave a clue.
fn apache_line(f: &mut Found, t: &[u8], status: Option<FsReason>) -> bool {
    use FsReason::*;
    let tag = f.tag.clone();
    match tag.as_str() {
        "AH00128" => {
            if let Some(p) = strip_prefix_ci(t, b"File does not exist: ") {
                f.path(p, NotFound, Some("stat"));
            }
        }
        "AH00132" => {
            if let Some(p) = strip_prefix_ci(t, b"file permissions deny server access: ") {
                f.path(p, status.unwrap_or(PermissionDenied), Some("open"));
            }
        }
        "AH00035" => {
            if let Some(p) = between(t, b"(filesystem path '", b"') because ") {
                f.path(p, PermissionDenied, Some("search"));
            }
        }
        "AH00036" => {
            if let Some(p) = between_last(t, b"(filesystem path '", b"')") {
                f.path(p, status.unwrap_or(Other), Some("stat"));
            }
        }
        "AH00032" | "AH00037" => {
            if let Some(p) = strip_prefix_ci(
                t,
                b"Symbolic link not allowed or link target not accessible: ",
            ) {
                f.path(p, Other, Some("symlink"));
            }
        }
        "AH00529" => {
            if let Some(i) = find(t, b" pcfg_openfile: ") {
                let reason = status.unwrap_or(PermissionDenied);
                f.path(&t[..i], reason, Some("open"));
                if let Some(d) = between_last(&t[i..], b"that '", b"' is executable") {
                    f.path(d, reason, Some("search"));
                }
            }
        }
        "AH01276" => {
            if let Some(p) = between(
                t,
                b"Cannot serve directory ",
                b": No matching DirectoryIndex",
            ) {
                f.path(p, NotFound, Some("DirectoryIndex"));
            }
        }
        "AH02454" => {
            if let Some(rest) = after(t, b"attempt to connect to Unix domain socket ") {
                let end = rfind(rest, b" (").unwrap_or(rest.len());
                f.path(&rest[..end], status.unwrap_or(Other), Some("connect"));
            }
        }
        "AH02811" | "AH01264" => {
            if let Some(p) = script_of(t) {
                f.path(p, NotFound, Some("stat"));
            }
        }
        "AH03194" | "AH01267" => {
            if let Some(p) = script_of(t) {
                f.path(p, PermissionDenied, Some("exec"));
            }
        }
        "AH02812" | "AH01265" => {
            if let Some(p) = script_of(t) {
                f.path(p, IsADirectory, Some("exec"));
            }
        }
        "AH01222" | "AH01223" | "AH01226" | "AH01227" => {
            if let Some(i) = rfind(t, b": /") {
                f.path(&t[i + 2..], status.unwrap_or(Other), Some("exec"));
            }
        }
        "AH01241" => exec_failed(f, t, status),
        "" => return untagged_apache(f, t),
        _ => match other_summary(&tag) {
            Some(summary) => f.other(summary.to_string()),
            None => return false,
        },
    }
    true
}

/// Apache tags whose line gives a non-filesystem reason.
fn other_summary(tag: &str) -> Option<&'static str> {
    Some(match tag {
        "AH00124" => "internal redirect loop (LimitInternalRecursion)",
        "AH00125" => "subrequest nesting too deep (LimitInternalRecursion)",
        "AH02430" => "response header with invalid characters",
        "AH01630" | "AH01797" => "client denied by server configuration (authz)",
        "AH02596" => "mod_rewrite: too many rounds of a RewriteRule with the [N] flag",
        "AH00669" | "AH10160" => "mod_rewrite: proxy rule without mod_proxy enabled",
        "AH00670" => {
            "mod_rewrite: RewriteRule forbidden as FollowSymLinks and SymLinksIfOwnerMatch are off"
        }
        "AH01114" => "proxy backend connection failed",
        "AH01079" => "FastCGI backend connection failed",
        "AH00957" => "proxy: attempt to connect to the backend failed",
        "AH00959" => "proxy worker disabled after a failed connection",
        "AH00940" => "proxy worker disabled (in its retry interval)",
        "AH00941" => "proxy: failed to acquire a backend connection",
        "AH02453" => "proxy: error creating a Unix domain socket",
        "AH01102" => "error reading status line from the proxy backend",
        "AH01110" => "error reading the response from the proxy backend",
        "AH00898" => "error from the proxy backend",
        "AH01097" => "passing the request body to the proxy backend failed",
        "AH01144" => "no proxy protocol handler for the URL (proxy submodule not loaded?)",
        "AH01067" => "FastCGI protocol error (failed to read a record header)",
        "AH01068" => "FastCGI protocol error (bogus version)",
        "AH01069" => "FastCGI protocol error (bogus request id)",
        "AH01072" => "FastCGI protocol error (bogus record type)",
        "AH01070" => "FastCGI script sent malformed response headers",
        "AH01073" | "AH01074" => "writing the request to the FastCGI backend failed",
        "AH01075" => "error dispatching the request to the FastCGI backend",
        "AH02809" | "AH01262" => "Options ExecCGI is off in this directory",
        _ => return None,
    })
}

/// Untagged lines written by Apache itself (util_script.c, mod_rewrite, .htaccess parsing).
fn untagged_apache(f: &mut Found, t: &[u8]) -> bool {
    if t.starts_with(b"RewriteRule '") && find(t, b"' exceeded maximum length").is_some() {
        f.other("mod_rewrite: rewritten filename exceeded maximum length (rewrite loop)".into());
    } else if t.starts_with(b"malformed header from script '") {
        f.other("script sent a malformed response header".into());
    } else if t.starts_with(b"Invalid status line from script '") {
        f.other("script sent an invalid Status header".into());
    } else if t.starts_with(b"Script timed out before returning headers: ") {
        f.other("script timed out before returning headers".into());
    } else if let Some((file, error)) = htaccess_error(t) {
        f.other(format!("error in {}: {}", shown(file), shown(error)));
    } else {
        return false;
    }
    true
}

/// `/srv/www/.htaccess: Invalid command 'X', perhaps misspelled…` (config.c, logged untagged).
fn htaccess_error(t: &[u8]) -> Option<(&[u8], &[u8])> {
    if !t.starts_with(b"/") {
        return None;
    }
    let i = find(t, b": ")?;
    let file = &t[..i];
    let base = &file[rfind(file, b"/").map_or(0, |j| j + 1)..];
    (base.starts_with(b".ht") && !base.contains(&b' ')).then_some((file, &t[i + 2..]))
}

/// The script's path in a `log_scripterror` line: `stderr from SCRIPT: MESSAGE` (2.4.60+) or
/// `MESSAGE: SCRIPT` (earlier).
fn script_of(t: &[u8]) -> Option<&[u8]> {
    if let Some(rest) = t.strip_prefix(b"stderr from ") {
        return Some(&rest[..find(rest, b": ").unwrap_or(rest.len())]);
    }
    rfind(t, b": /").map(|i| &t[i + 2..])
}

/// The text a line relays from another program: PHP-FPM's stderr in AH01071, a CGI script's
/// stderr in AH01215 (without the script's own path); otherwise the text itself.
fn relayed<'a>(module: &str, tag: &str, t: &'a [u8]) -> &'a [u8] {
    if tag == "AH01071" || t.starts_with(b"Got error '") {
        if let Some(rest) = t.strip_prefix(b"Got error '") {
            return rest.strip_suffix(b"'").unwrap_or(rest);
        }
    }
    let cgi = tag == "AH01215" || ((module == "cgi" || module == "cgid") && tag.is_empty());
    if cgi {
        if let Some(rest) = t.strip_prefix(b"stderr from ") {
            return match find(rest, b": ") {
                Some(i) => &rest[i + 2..],
                None => b"",
            };
        }
        if tag == "AH01215" {
            if let Some(i) = rfind(t, b": /") {
                return &t[..i];
            }
        }
    }
    t
}

// ---------------------------------------------------------------------------------------------
// Relayed messages: PHP, shells, coreutils, Perl, Python, Node…

/// Splits relayed output into messages: at line ends, and at each `PHP message: ` (FPM joins
/// messages with `\n` or `; `).
fn segments(t: &[u8]) -> impl Iterator<Item = &[u8]> {
    t.split(|&b| b == b'\n' || b == b'\r').flat_map(|line| {
        let mut parts = Vec::new();
        let mut rest = line;
        while let Some(i) = find(rest, b"PHP message: ") {
            parts.push(&rest[..i]);
            rest = &rest[i + b"PHP message: ".len()..];
        }
        parts.push(rest);
        parts.into_iter().filter_map(|p| {
            let p = trim(p);
            let p = trim(p.strip_suffix(b";").unwrap_or(p));
            (!p.is_empty()).then_some(p)
        })
    })
}

/// One message: its PHP level prefix and script location are cut, then the shapes that need no
/// strerror, then every strerror in it.
fn message(f: &mut Found, m: &[u8]) {
    let m = cut_location(strip_php_level(m));
    shapes(f, m);
    let mut i = 0;
    while i < m.len() && !f.full() && f.anchors > 0 {
        match strerror_at(m, i) {
            Some((len, cause)) => {
                f.anchors -= 1;
                anchored(f, m, i, i + len, cause);
                i += len;
            }
            None => i += 1,
        }
    }
}

/// `PHP Warning:  …`, `PHP Fatal error:  …` → the message.
fn strip_php_level(m: &[u8]) -> &[u8] {
    let Some(rest) = m.strip_prefix(b"PHP ") else {
        return m;
    };
    let head = &rest[..rest.len().min(40)];
    match head.iter().position(|&b| b == b':') {
        Some(i)
            if head[..i]
                .iter()
                .all(|b| b.is_ascii_alphabetic() || *b == b' ') =>
        {
            trim_start(&rest[i + 1..])
        }
        _ => m,
    }
}

/// Cuts the location of the code that reported the error: PHP's ` in FILE on line N` and
/// ` in FILE:N`, Perl's ` at FILE line N.` (that file is the script, not the cause).
fn cut_location(m: &[u8]) -> &[u8] {
    let digits = |b: &[u8]| !b.is_empty() && b.iter().all(u8::is_ascii_digit);
    let mut m = trim(m);
    let on_line = rfind(m, b" on line ")
        .filter(|&i| digits(&m[i + 9..]))
        .and_then(|i| rfind(&m[..i], b" in "));
    if let Some(j) = on_line {
        m = &m[..j];
    } else if let Some(j) = rfind(m, b" in /") {
        let loc = &m[j + 4..];
        if rfind(loc, b":").is_some_and(|k| digits(&loc[k + 1..])) {
            m = &m[..j];
        }
    }
    if let Some(j) = rfind(m, b" at /") {
        if let Some(k) = find(&m[j..], b" line ") {
            if m.get(j + k + 6).is_some_and(u8::is_ascii_digit) {
                m = &m[..j];
            }
        }
    }
    m
}

/// Shapes that name a path (or a non-filesystem reason) without a strerror.
fn shapes(f: &mut Found, m: &[u8]) {
    use FsReason::Other;
    // main.c: "Failed opening required '%s' (include_path='%s')" (E_COMPILE_ERROR, or PHP 8's
    // Error), "Failed opening '%s' for inclusion (include_path='%s')".
    if let Some(rest) = after(m, b"Failed opening required '") {
        let end = find(rest, b"' (include_path").or_else(|| rfind(rest, b"'"));
        if let Some(end) = end {
            f.path(&rest[..end], Other, Some("require"));
        }
    } else if let Some(rest) = after(m, b"Failed opening '") {
        if let Some(end) = find(rest, b"' for inclusion") {
            f.path(&rest[..end], Other, Some("include"));
        }
    }
    // move_uploaded_file(): Unable to move "%s" to "%s" (PHP 8; '%s' before).
    let moves: [(&[u8], &[u8]); 2] = [
        (b"Unable to move \"", b"\" to \""),
        (b"Unable to move '", b"' to '"),
    ];
    for (open, mid) in moves {
        if let Some(rest) = after(m, open) {
            if let Some(i) = find(rest, mid) {
                let dest = &rest[i + mid.len()..];
                let dest = dest.strip_suffix(&mid[..1]).unwrap_or(dest);
                f.path(dest, Other, Some("move_uploaded_file"));
            }
        }
    }
    // fopen_wrappers.c: "open_basedir restriction in effect. File(%s) is not within the
    // allowed path(s): (%s)".
    if let Some(p) = between(
        m,
        b"open_basedir restriction in effect. File(",
        b") is not within",
    ) {
        f.other(format!(
            "PHP open_basedir restriction: {} is outside the allowed paths",
            shown(p)
        ));
    }
    // ext/session: the save path of a failed write, read or start ("N;MODE;/path" allowed).
    let save_path = between_last(
        m,
        b"Please verify that the current setting of session.save_path is correct (",
        b")",
    )
    .filter(|_| find(m, b"session data (files)").is_some())
    .map(|p| (p, "session write"))
    .or_else(|| {
        between_last(m, b"Failed to read session data: files (path: ", b")")
            .map(|p| (p, "session read"))
    })
    .or_else(|| {
        between_last(
            m,
            b"Failed to initialize storage module: files (path: ",
            b")",
        )
        .map(|p| (p, "session start"))
    });
    if let Some((p, op)) = save_path {
        let p = &p[rfind(p, b";").map_or(0, |i| i + 1)..];
        f.path(p, Other, Some(op));
    }
    // APR: "exec of '%s' failed" (mod_cgi's child: "(13)Permission denied: exec of …";
    // mod_cgid's: "error spawning CGI child: exec of … failed (Permission denied)").
    if find(m, b"exec of '").is_some() {
        exec_failed(f, m, None);
    }
    if find(m, b"Primary script unknown").is_some() {
        f.other("PHP-FPM: primary script unknown (SCRIPT_FILENAME not found by FPM)".into());
    }
    if find(m, b"Allowed memory size of ").is_some() && find(m, b" exhausted").is_some() {
        f.other("PHP memory_limit exhausted".into());
    }
    if find(m, b"Maximum execution time of ").is_some() {
        f.other("PHP max_execution_time exceeded".into());
    }
    if find(m, b"suexec policy violation").is_some() {
        f.other("suEXEC policy violation (see the suexec log)".into());
    }
    // WordPress: "Unable to create directory %s. Is its parent directory writable by the
    // server?" (relative to ABSPATH in recent versions: then no clue).
    if let Some(p) = between(
        m,
        b"Unable to create directory ",
        b". Is its parent directory writable",
    ) {
        f.path(p, Other, Some("mkdir"));
    }
}

/// APR's `exec of 'PATH' failed`, with its reason before (`(13)Permission denied: `), after
/// (` (Permission denied)`) or from the status.
fn exec_failed(f: &mut Found, m: &[u8], status: Option<FsReason>) {
    let Some(start) = find(m, b"exec of '") else {
        return;
    };
    let rest = &m[start + 9..];
    let Some(end) = find(rest, b"' failed") else {
        return;
    };
    let before = split_status(m).and_then(|(n, _)| FsReason::from_errno(n));
    let after = between(&rest[end..], b"failed (", b")").and_then(|r| match strerror_at(r, 0) {
        Some((len, Cause::Fs(reason))) if len == r.len() => Some(reason),
        _ => None,
    });
    let reason = before.or(after).or(status).unwrap_or(FsReason::Other);
    f.path(&rest[..end], reason, Some("exec"));
}

/// What a strerror text means.
#[derive(Clone, Copy)]
enum Cause {
    Fs(FsReason),
    NotFs(&'static str),
}

/// strerror texts (glibc, musl, dash), matched ignoring ASCII case (Node writes them in lower
/// case); where two start at the same place the longer is taken.
const STRERRORS: &[(&str, Cause)] = {
    use Cause::{Fs, NotFs};
    use FsReason::*;
    &[
        ("No such file or directory", Fs(NotFound)),
        ("No such file", Fs(NotFound)),
        ("Directory nonexistent", Fs(NotFound)),
        ("nonexistent directory", Fs(NotFound)),
        ("Permission denied", Fs(PermissionDenied)),
        ("Operation not permitted", Fs(PermissionDenied)),
        ("Read-only file system", Fs(ReadOnly)),
        ("No space left on device", Fs(NoSpace)),
        ("Not a directory", Fs(NotADirectory)),
        ("Disk quota exceeded", Fs(QuotaExceeded)),
        ("Quota exceeded", Fs(QuotaExceeded)),
        ("Too many levels of symbolic links", Fs(TooManyLinks)),
        ("Symbolic link loop", Fs(TooManyLinks)),
        ("Is a directory", Fs(IsADirectory)),
        ("File exists", Fs(Other)),
        ("Directory not empty", Fs(Other)),
        ("File name too long", Fs(Other)),
        ("Filename too long", Fs(Other)),
        ("Input/output error", Fs(Other)),
        ("I/O error", Fs(Other)),
        ("Stale file handle", Fs(Other)),
        ("Stale NFS file handle", Fs(Other)),
        ("Transport endpoint is not connected", Fs(Other)),
        ("Text file busy", Fs(Other)),
        ("Exec format error", Fs(Other)),
        (
            "Too many open files in system",
            NotFs("too many open files in the system (ENFILE)"),
        ),
        ("Too many open files", NotFs("too many open files (EMFILE)")),
        ("Cannot allocate memory", NotFs("out of memory (ENOMEM)")),
        ("Out of memory", NotFs("out of memory (ENOMEM)")),
    ]
};

/// The longest strerror text starting at `i`, on word boundaries.
fn strerror_at(m: &[u8], i: usize) -> Option<(usize, Cause)> {
    if i >= m.len() || (i > 0 && m[i - 1].is_ascii_alphanumeric()) {
        return None;
    }
    let first = m[i].to_ascii_lowercase();
    let mut best: Option<(usize, Cause)> = None;
    for &(text, cause) in STRERRORS {
        let t = text.as_bytes();
        if t[0].to_ascii_lowercase() != first || m.len() - i < t.len() {
            continue;
        }
        let end = i + t.len();
        if m[i..end].eq_ignore_ascii_case(t)
            && !m.get(end).is_some_and(u8::is_ascii_alphanumeric)
            && best.is_none_or(|(len, _)| t.len() > len)
        {
            best = Some((t.len(), cause));
        }
    }
    best
}

/// The path(s) a strerror at `m[s..e]` is about, in the shapes programs write.
fn anchored(f: &mut Found, m: &[u8], s: usize, e: usize, cause: Cause) {
    let reason = match cause {
        Cause::Fs(r) => r,
        Cause::NotFs(summary) => return f.other(summary.to_string()),
    };
    let pre = &m[..s];
    let post = &m[e..];

    // Python: "[Errno 13] Permission denied: '/x'" (and " -> '/y'" for a second filename).
    if pre.ends_with(b"] ") && rfind(pre, b"[Errno ").is_some() {
        if let Some(rest) = post.strip_prefix(b": ") {
            if let Some((p, used)) = quoted_at_start(rest) {
                f.path(p, reason, None);
                if let Some(rest) = rest[used..].strip_prefix(b" -> ") {
                    if let Some((p2, _)) = quoted_at_start(rest) {
                        f.path(p2, reason, None);
                    }
                }
            }
        }
        return;
    }
    // Node: "EACCES: permission denied, open '/x'".
    if let Some(rest) = post.strip_prefix(b", ") {
        let w = rest
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
            .count();
        if w > 0 {
            if let Some((p, _)) = rest[w..].strip_prefix(b" ").and_then(quoted_at_start) {
                let op = String::from_utf8_lossy(&rest[..w]).into_owned();
                return f.path(p, reason, Some(&op));
            }
        }
    }
    // Ruby: "Permission denied @ rb_sysopen - /x".
    if let Some(rest) = post.strip_prefix(b" @ ") {
        if let Some(i) = find(rest, b" - ") {
            let op = if find(&rest[..i], b"mkdir").is_some() {
                "mkdir"
            } else {
                "open"
            };
            return f.path(trim(&rest[i + 3..]), reason, Some(op));
        }
    }
    // PHP sessions: "open(%s, O_RDWR) failed: %s (%d)"; "opendir(%s) failed: %s (%d)".
    if let Some(p) = pre.strip_suffix(b" failed: ").filter(|p| p.ends_with(b")")) {
        if let Some((func, args)) = call_at_end(p) {
            let path = &args[..rfind(args, b", O_").unwrap_or(args.len())];
            let op = String::from_utf8_lossy(func).into_owned();
            return f.path(path, reason, Some(&op));
        }
    }
    // PHP touch(): "Unable to create file %s because %s".
    if let Some(p) = pre.strip_suffix(b" because ") {
        if let Some(path) = after(p, b"Unable to create file ") {
            return f.path(path, reason, Some("touch"));
        }
    }
    // FPM: "Unable to open primary script: %s (%s)"; Java: "/x (Permission denied)".
    if post.starts_with(b")") {
        if let Some(p) = pre.strip_suffix(b" (") {
            let (path, op) = match after(p, b"primary script: ") {
                Some(path) => (path, Some("open")),
                None => (&p[rfind(p, b": ").map_or(0, |i| i + 2)..], None),
            };
            if path.starts_with(b"/") {
                return f.path(path, reason, op);
            }
        }
    }
    // PHP docref: "func(/x): [Failed to open stream: ]Permission denied", "rename(/a,/b): …",
    // "mkdir(): …" (no path), old "func(/x) [function.func]: …".
    let mut p = pre;
    for caption in [
        &b"Failed to open stream: "[..],
        b"Failed to open directory: ",
        b"failed to open dir: ",
        b"Failed to create stream: ",
    ] {
        if p.len() >= caption.len() && p[p.len() - caption.len()..].eq_ignore_ascii_case(caption) {
            p = &p[..p.len() - caption.len()];
            break;
        }
    }
    let mut docref = p.strip_suffix(b": ");
    if let Some(d) = docref.filter(|d| d.ends_with(b"]")) {
        if let Some(i) = rfind(d, b" [") {
            docref = Some(&d[..i]);
        }
    }
    if let Some(call) = docref.filter(|d| d.ends_with(b")")) {
        if let Some((func, args)) = call_at_end(call) {
            let op = String::from_utf8_lossy(func).into_owned();
            if args.starts_with(b"/") {
                let mut rest = args;
                loop {
                    match find(&rest[1..], b",/") {
                        Some(i) => {
                            f.path(&rest[..i + 1], reason, Some(&op));
                            rest = &rest[i + 2..];
                        }
                        None => break f.path(rest, reason, Some(&op)),
                    }
                }
            }
            return;
        }
    }
    // "PATH: REASON": shells, coreutils, Perl, Go, rsync, Monolog's "The stream or file
    // "PATH" could not be opened…: Failed to open stream: REASON".
    let Some(before) = p.strip_suffix(b": ").or_else(|| p.strip_suffix(b":")) else {
        return;
    };
    // The words before the path say what was attempted (the path's own words do not).
    // The words around the path say what was attempted (the path's own words do not).
    let verbs = |start: usize, end: usize| {
        let head = &before[..start];
        program(m)
            .or_else(|| operation(&head[rfind(head, b": ").map_or(0, |i| i + 2)..]))
            .or_else(|| operation(&before[end..]))
    };
    if let Some((path, start)) = quoted_at_end(before) {
        return f.path(path, reason, verbs(start, before.len()));
    }
    let (token, start) = bare_at_end(before);
    if token.starts_with(b"/") {
        return f.path(token, reason, verbs(start, before.len()));
    }
    let clause = rfind(before, b": ").map_or(0, |i| i + 2);
    if let Some((path, start, end)) = path_in_clause(&before[clause..]) {
        f.path(path, reason, verbs(clause + start, clause + end));
    }
}

/// The last function call at the end of `b` (`name(args)`): the name and the arguments.
fn call_at_end(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let close = b.len().checked_sub(1).filter(|&i| b[i] == b')')?;
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b':' || c == b'\\';
    let open = (1..close)
        .rev()
        .find(|&j| b[j] == b'(' && ident(b[j - 1]))?;
    let start = b[..open]
        .iter()
        .rposition(|&c| !ident(c))
        .map_or(0, |i| i + 1);
    Some((&b[start..open], &b[open + 1..close]))
}

/// An absolute path elsewhere in the clause before `: REASON`, and where it starts and ends: quoted
/// anywhere (Monolog's `"…" could not be opened in append mode`, rsync's `mkdir "…" failed`), or
/// bare when only `for WORD[S]` follows it (Perl's `Can't open /x for writing`).
fn path_in_clause(clause: &[u8]) -> Option<(&[u8], usize, usize)> {
    let skip = clause.len().saturating_sub(MAX_PATH + 256);
    let clause = &clause[skip..];
    let mut last = None;
    let mut i = 0;
    while i < clause.len() {
        let opened = QUOTES.iter().find_map(|(open, close)| {
            let inner = clause[i..].strip_prefix(*open)?;
            if !inner.starts_with(b"/") {
                return None;
            }
            find(inner, close).map(|end| (&inner[..end], i, open.len() + end + close.len()))
        });
        match opened {
            Some((path, start, used)) => {
                last = Some((path, skip + start, skip + start + used));
                i = start + used;
            }
            None => i += 1,
        }
    }
    if last.is_some() {
        return last;
    }
    let mut words = Vec::new();
    let mut start = None;
    for (j, b) in clause
        .iter()
        .copied()
        .enumerate()
        .chain([(clause.len(), b' ')])
    {
        match (b.is_ascii_whitespace(), start) {
            (false, None) => start = Some(j),
            (true, Some(s)) => {
                words.push((&clause[s..j], s));
                start = None;
            }
            _ => {}
        }
    }
    let at = words.iter().rposition(|(w, _)| w.starts_with(b"/"))?;
    let tail = &words[at + 1..];
    let for_words = (2..=3).contains(&tail.len()) && tail[0].0 == &b"for"[..];
    let (word, start) = words[at];
    for_words.then(|| {
        (
            strip_punctuation(word),
            skip + start,
            skip + start + word.len(),
        )
    })
}

/// What the clause says was attempted.
/// The program a message comes from when it is a coreutils-style `PROGRAM: …`.
fn program(m: &[u8]) -> Option<&'static str> {
    const PROGRAMS: &[&str] = &[
        "mkdir", "touch", "cp", "mv", "rm", "rmdir", "ln", "install", "chmod", "chown", "tee",
        "cat", "ls", "stat",
    ];
    let i = find(m, b": ")?;
    PROGRAMS.iter().find(|p| m[..i] == *p.as_bytes()).copied()
}

/// What the words of a clause say was attempted (a word counts where it starts a word:
/// "opened" is "open", "already" is no "read").
fn operation(clause: &[u8]) -> Option<&'static str> {
    let c = clause.to_ascii_lowercase();
    const WORDS: &[(&str, &str)] = &[
        ("create directory", "mkdir"),
        ("mkdir", "mkdir"),
        ("opendir", "opendir"),
        ("create", "create"),
        ("open", "open"),
        ("write", "write"),
        ("read", "read"),
        ("remove", "unlink"),
        ("unlink", "unlink"),
        ("rename", "rename"),
        ("move", "rename"),
        ("stat", "stat"),
        ("exec", "exec"),
    ];
    let starts_word = |w: &[u8]| {
        c.windows(w.len())
            .enumerate()
            .any(|(i, x)| x == w && (i == 0 || !c[i - 1].is_ascii_alphanumeric()))
    };
    WORDS
        .iter()
        .find(|(w, _)| starts_word(w.as_bytes()))
        .map(|&(_, op)| op)
}

// ---------------------------------------------------------------------------------------------
// Quotes, tokens, escapes.

/// Opening and closing quotes: ASCII, GNU's old `…', and the curly ones coreutils writes in a
/// UTF-8 locale.
const QUOTES: &[(&[u8], &[u8])] = &[
    (b"'", b"'"),
    (b"\"", b"\""),
    (b"`", b"'"),
    ("\u{2018}".as_bytes(), "\u{2019}".as_bytes()),
    ("\u{201c}".as_bytes(), "\u{201d}".as_bytes()),
];

/// A quoted text at the start of `b`: the text and the bytes used.
fn quoted_at_start(b: &[u8]) -> Option<(&[u8], usize)> {
    QUOTES.iter().find_map(|(open, close)| {
        let rest = b.strip_prefix(*open)?;
        let end = find(rest, close)?;
        Some((&rest[..end], open.len() + end + close.len()))
    })
}

/// A quoted text at the very end of `b`: the text and where its opening quote starts.
fn quoted_at_end(b: &[u8]) -> Option<(&[u8], usize)> {
    QUOTES
        .iter()
        .filter_map(|(open, close)| {
            let inner = b.strip_suffix(*close)?;
            let start = rfind(inner, open)?;
            Some((&inner[start + open.len()..], start))
        })
        .max_by_key(|&(_, start)| start)
}

/// The whitespace-separated token at the end of `b`, and where it starts.
fn bare_at_end(b: &[u8]) -> (&[u8], usize) {
    let start = b
        .iter()
        .rposition(|&c| c.is_ascii_whitespace() || c == b'=' || c == b'<')
        .map_or(0, |i| i + 1);
    (strip_punctuation(&b[start..]), start)
}

/// A bare path's trailing punctuation (and a closing bracket it does not open).
fn strip_punctuation(mut p: &[u8]) -> &[u8] {
    while let Some(&last) = p.last() {
        let unbalanced = |open: u8| {
            p.iter().filter(|&&c| c == last).count() > p.iter().filter(|&&c| c == open).count()
        };
        let strip = match last {
            b'.' | b',' | b';' | b':' | b'!' | b'?' | b'\'' | b'"' | b'`' => p.len() > 1,
            b')' => unbalanced(b'('),
            b']' => unbalanced(b'['),
            b'}' => unbalanced(b'{'),
            b'>' => unbalanced(b'<'),
            _ => false,
        };
        if !strip {
            break;
        }
        p = &p[..p.len() - 1];
    }
    p
}

/// Undoes Apache's error-log escaping (`ap_escape_errorlog_item`): `\xHH`, `\\`, `\n`, `\r`,
/// `\t`, `\b`, `\v`. Anything else is kept as written.
fn unescape(t: &[u8]) -> Vec<u8> {
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(t.len());
    let mut i = 0;
    while i < t.len() {
        if t[i] == b'\\' && i + 1 < t.len() {
            let decoded = match t[i + 1] {
                b'\\' => Some((b'\\', 2)),
                b'n' => Some((b'\n', 2)),
                b'r' => Some((b'\r', 2)),
                b't' => Some((b'\t', 2)),
                b'b' => Some((0x08, 2)),
                b'v' => Some((0x0b, 2)),
                b'x' if i + 3 < t.len() => hex(t[i + 2])
                    .zip(hex(t[i + 3]))
                    .map(|(h, l)| (h << 4 | l, 4)),
                _ => None,
            };
            if let Some((byte, used)) = decoded {
                out.push(byte);
                i += used;
                continue;
            }
        }
        out.push(t[i]);
        i += 1;
    }
    out
}

/// `AHnnnnn: rest` → the tag and the rest.
fn split_tag(t: &[u8]) -> Option<(String, &[u8])> {
    let t = trim_start(t);
    let ok = t.len() >= 9
        && (t.starts_with(b"AH") || t.starts_with(b"DG"))
        && t[2..7].iter().all(u8::is_ascii_digit)
        && t[7] == b':';
    ok.then(|| {
        (
            String::from_utf8_lossy(&t[..7]).into_owned(),
            trim_start(&t[8..]),
        )
    })
}

/// `(13)Permission denied: rest` (APR's status as the log file shows it) → 13 and the rest.
fn split_status(t: &[u8]) -> Option<(i32, &[u8])> {
    let rest = t.strip_prefix(b"(")?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || digits > 6 || rest.get(digits) != Some(&b')') {
        return None;
    }
    let n = std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()?;
    let after = &rest[digits + 1..];
    let i = find(after, b": ")?;
    Some((n, &after[i + 2..]))
}

// ---------------------------------------------------------------------------------------------
// Byte-string helpers.

fn find(h: &[u8], n: &[u8]) -> Option<usize> {
    if n.is_empty() || h.len() < n.len() {
        return None;
    }
    h.windows(n.len()).position(|w| w == n)
}

fn rfind(h: &[u8], n: &[u8]) -> Option<usize> {
    if n.is_empty() || h.len() < n.len() {
        return None;
    }
    h.windows(n.len()).rposition(|w| w == n)
}

/// What follows the first `n` in `h`.
fn after<'a>(h: &'a [u8], n: &[u8]) -> Option<&'a [u8]> {
    find(h, n).map(|i| &h[i + n.len()..])
}

/// What lies between the first `open` and the first `close` after it.
fn between<'a>(h: &'a [u8], open: &[u8], close: &[u8]) -> Option<&'a [u8]> {
    let rest = after(h, open)?;
    find(rest, close).map(|i| &rest[..i])
}

/// What lies between the first `open` and the last `close` after it.
fn between_last<'a>(h: &'a [u8], open: &[u8], close: &[u8]) -> Option<&'a [u8]> {
    let rest = after(h, open)?;
    rfind(rest, close).map(|i| &rest[..i])
}

fn strip_prefix_ci<'a>(h: &'a [u8], p: &[u8]) -> Option<&'a [u8]> {
    (h.len() >= p.len() && h[..p.len()].eq_ignore_ascii_case(p)).then(|| &h[p.len()..])
}

fn trim_start(b: &[u8]) -> &[u8] {
    let i = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    &b[i..]
}

fn trim(b: &[u8]) -> &[u8] {
    let b = trim_start(b);
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(0, |i| i + 1);
    &b[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};
    use FsReason::*;

    /// An expected clue: a path (reason, operation), a non-filesystem reason (tag, summary), or
    /// one whose summary starts with the given text.
    #[derive(Debug)]
    enum E {
        P(&'static str, FsReason, Option<&'static str>),
        O(&'static str, &'static str),
        Os(&'static str, &'static str),
    }
    use E::{Os, O, P};

    /// Lines in the shape Apache hands its error_log hook (message after the tag, with the
    /// error log's escaping: `\n`, `\xHH`), with the clues each must give (none for negatives).
    #[rustfmt::skip]
    const CORPUS: &[(&str, Option<&str>, &str, &[E])] = &[
        // ---- Apache core (server/core.c, server/request.c, server/config.c)
        ("core", Some("AH00128"), "File does not exist: /srv/www/site/favicon.ico",
            &[P("/srv/www/site/favicon.ico", NotFound, Some("stat"))]),
        ("core", Some("AH00132"), "file permissions deny server access: /srv/www/site/index.html",
            &[P("/srv/www/site/index.html", PermissionDenied, Some("open"))]),
        // The URI is no path: only the one in "(filesystem path '…')".
        ("core", Some("AH00035"), "access to /private/report.html denied (filesystem path '/srv/www/site/private') because search permissions are missing on a component of the path",
            &[P("/srv/www/site/private", PermissionDenied, Some("search"))]),
        ("core", Some("AH00036"), "access to /app/current/index.php failed (filesystem path '/srv/www/app/current')",
            &[P("/srv/www/app/current", Other, Some("stat"))]),
        ("core", Some("AH00037"), "Symbolic link not allowed or link target not accessible: /srv/www/site/current",
            &[P("/srv/www/site/current", Other, Some("symlink"))]),
        ("core", Some("AH00529"), "/srv/www/site/.htaccess pcfg_openfile: unable to check htaccess file, ensure it is readable and that '/srv/www/site/' is executable",
            &[P("/srv/www/site/.htaccess", PermissionDenied, Some("open")),
              P("/srv/www/site", PermissionDenied, Some("search"))]),
        ("autoindex", Some("AH01276"), "Cannot serve directory /srv/www/site/: No matching DirectoryIndex (index.php,index.html) found, and server-generated directory index forbidden by Options directive",
            &[P("/srv/www/site", NotFound, Some("DirectoryIndex"))]),
        // The tag may still be in the text.
        ("core", None, "AH00128: File does not exist: /srv/www/site/robots.txt",
            &[P("/srv/www/site/robots.txt", NotFound, Some("stat"))]),
        ("core", None, "/srv/www/site/.htaccess: Invalid command 'RewriteEngine', perhaps misspelled or defined by a module not included in the server configuration",
            &[Os("", "error in /srv/www/site/.htaccess: Invalid command 'RewriteEngine'")]),

        // ---- Non-filesystem reasons
        ("authz_core", Some("AH01630"), "client denied by server configuration: /srv/www/site/private",
            &[O("AH01630", "client denied by server configuration (authz)")]),
        ("core", Some("AH00124"), "Request exceeded the limit of 10 internal redirects due to probable configuration error. Use 'LimitInternalRecursion' to increase the limit if necessary. Use 'LogLevel debug' to get a backtrace.",
            &[O("AH00124", "internal redirect loop (LimitInternalRecursion)")]),
        ("http", Some("AH02430"), "Response header 'X-Debug' value of '/srv/x\\x01' contains invalid characters, aborting request",
            &[O("AH02430", "response header with invalid characters")]),
        ("rewrite", None, "RewriteRule '^(.*)$' and URI '/index.php/index.php/index.php' exceeded maximum length (16380)",
            &[O("", "mod_rewrite: rewritten filename exceeded maximum length (rewrite loop)")]),
        ("rewrite", Some("AH02596"), "RewriteRule '^/(.*)' and URI '/a' exceeded maximum number of rounds (10000) via the [N] flag",
            &[O("AH02596", "mod_rewrite: too many rounds of a RewriteRule with the [N] flag")]),
        ("cgi", None, "malformed header from script 'report.cgi': Bad header: Hello world",
            &[O("", "script sent a malformed response header")]),
        ("cgi", None, "End of script output before headers: report.cgi", &[]),

        // ---- mod_proxy, mod_proxy_http, mod_proxy_fcgi
        ("proxy_http", Some("AH01114"), "HTTP: failed to make connection to backend: 127.0.0.1",
            &[O("AH01114", "proxy backend connection failed")]),
        ("proxy", Some("AH00957"), "FCGI: attempt to connect to 127.0.0.1:9000 (localhost:9000) failed",
            &[O("AH00957", "proxy: attempt to connect to the backend failed")]),
        ("proxy", Some("AH02454"), "FCGI: attempt to connect to Unix domain socket /run/php/php8.2-fpm.sock (localhost:8000) failed",
            &[P("/run/php/php8.2-fpm.sock", Other, Some("connect"))]),
        ("proxy_fcgi", Some("AH01079"), "failed to make connection to backend: httpd-UDS",
            &[O("AH01079", "FastCGI backend connection failed")]),
        ("proxy_fcgi", Some("AH01067"), "Failed to read FastCGI header",
            &[O("AH01067", "FastCGI protocol error (failed to read a record header)")]),
        ("proxy_http", Some("AH01102"), "error reading status line from remote server 127.0.0.1:8080",
            &[O("AH01102", "error reading status line from the proxy backend")]),

        // ---- PHP-FPM's stderr relayed by mod_proxy_fcgi (AH01071)
        ("proxy_fcgi", Some("AH01071"), "Got error 'PHP message: PHP Warning:  file_put_contents(/srv/wp/wp-content/cache/page.html): Failed to open stream: Permission denied in /srv/wp/wp-content/plugins/cache/cache.php on line 88'",
            &[P("/srv/wp/wp-content/cache/page.html", PermissionDenied, Some("file_put_contents"))]),
        // Two messages: mkdir() names no path (and its script location is no cause).
        ("proxy_fcgi", Some("AH01071"), "Got error 'PHP message: PHP Warning:  mkdir(): Permission denied in /srv/wp/wp-includes/functions.php on line 2065\\nPHP message: PHP Warning:  fopen(/srv/wp/wp-content/uploads/2026/12/a.png): Failed to open stream: No such file or directory in /srv/wp/wp-admin/includes/file.php on line 900'",
            &[P("/srv/wp/wp-content/uploads/2026/12/a.png", NotFound, Some("fopen"))]),
        ("proxy_fcgi", Some("AH01071"), "Got error 'PHP message: PHP Warning:  session_start(): open(/var/lib/php/sessions/sess_abc123, O_RDWR) failed: Permission denied (13) in /srv/app/index.php on line 3; PHP message: PHP Warning:  session_start(): Failed to read session data: files (path: /var/lib/php/sessions) in /srv/app/index.php on line 3'",
            &[P("/var/lib/php/sessions/sess_abc123", PermissionDenied, Some("open")),
              P("/var/lib/php/sessions", Other, Some("session read"))]),
        // The warning and the fatal error name the same file: one clue.
        ("proxy_fcgi", Some("AH01071"), "Got error 'PHP message: PHP Warning:  require_once(/srv/app/config/local.php): Failed to open stream: No such file or directory in /srv/app/bootstrap.php on line 4\\nPHP message: PHP Fatal error:  Uncaught Error: Failed opening required '/srv/app/config/local.php' (include_path='.:/usr/share/php') in /srv/app/bootstrap.php:4\\nStack trace:\\n#0 {main}\\n  thrown in /srv/app/bootstrap.php on line 4'",
            &[P("/srv/app/config/local.php", NotFound, Some("require_once"))]),
        ("proxy_fcgi", Some("AH01071"), "Got error 'Primary script unknown'",
            &[O("AH01071", "PHP-FPM: primary script unknown (SCRIPT_FILENAME not found by FPM)")]),
        ("proxy_fcgi", Some("AH01071"), "Got error 'Unable to open primary script: /srv/www/site/index.php (Permission denied)'",
            &[P("/srv/www/site/index.php", PermissionDenied, Some("open"))]),
        ("proxy_fcgi", Some("AH01071"), "Got error 'PHP message: PHP Fatal error:  Uncaught Exception: Database connection failed in /srv/app/db.php:12\\nStack trace:\\n#0 /srv/app/index.php(5): connect()\\n#1 {main}\\n  thrown in /srv/app/db.php on line 12'",
            &[]),
        // Monolog (Laravel): the quoted path before "could not be opened".
        ("proxy_fcgi", Some("AH01071"), "Got error 'PHP message: PHP Fatal error:  Uncaught UnexpectedValueException: The stream or file \"/srv/app/storage/logs/laravel.log\" could not be opened in append mode: Failed to open stream: Permission denied in /srv/app/vendor/monolog/monolog/src/Monolog/Handler/StreamHandler.php:146'",
            &[P("/srv/app/storage/logs/laravel.log", PermissionDenied, Some("open"))]),

        // ---- mod_php ("php", "php7")
        ("php", None, "PHP Warning:  mkdir(): Permission denied in /srv/wp/wp-includes/functions.php on line 2065", &[]),
        ("php", None, "PHP Warning:  mkdir(): No such file or directory in /srv/wp/wp-includes/functions.php on line 2065", &[]),
        ("php", None, "PHP Warning:  move_uploaded_file(/srv/wp/wp-content/uploads/2026/12/photo.png): Failed to open stream: Permission denied in /srv/wp/wp-admin/includes/file.php on line 932",
            &[P("/srv/wp/wp-content/uploads/2026/12/photo.png", PermissionDenied, Some("move_uploaded_file"))]),
        ("php", None, "PHP Warning:  move_uploaded_file(): Unable to move \"/tmp/phpAbC123\" to \"/srv/wp/wp-content/uploads/2026/12/photo.png\" in /srv/wp/wp-admin/includes/file.php on line 932",
            &[P("/srv/wp/wp-content/uploads/2026/12/photo.png", Other, Some("move_uploaded_file"))]),
        ("php", None, "PHP Warning:  copy(/srv/app/public/media/x.jpg): Failed to open stream: Read-only file system in /srv/app/lib/media.php on line 20",
            &[P("/srv/app/public/media/x.jpg", ReadOnly, Some("copy"))]),
        ("php", None, "PHP Warning:  touch(): Unable to create file /srv/app/var/lock because No such file or directory in /srv/app/cron.php on line 7",
            &[P("/srv/app/var/lock", NotFound, Some("touch"))]),
        ("php", None, "PHP Notice:  tempnam(): file created in the system's temporary directory in /srv/app/lib/tmp.php on line 9", &[]),
        ("php", None, "PHP Warning:  include(/srv/app/templates/header.php): Failed to open stream: No such file or directory in /srv/app/index.php on line 2",
            &[P("/srv/app/templates/header.php", NotFound, Some("include"))]),
        ("php", None, "PHP Warning:  include(): Failed opening '/srv/app/templates/header.php' for inclusion (include_path='.:/usr/share/php') in /srv/app/index.php on line 2",
            &[P("/srv/app/templates/header.php", Other, Some("include"))]),
        ("php", None, "PHP Warning:  opendir(/srv/app/cache): Failed to open directory: No such file or directory in /srv/app/lib/cache.php on line 14",
            &[P("/srv/app/cache", NotFound, Some("opendir"))]),
        ("php7", None, "PHP Warning:  fopen(/srv/app/logs/app.log): failed to open stream: No space left on device in /srv/app/lib/log.php on line 30",
            &[P("/srv/app/logs/app.log", NoSpace, Some("fopen"))]),
        ("php", None, "PHP Warning:  file_put_contents(/srv/app/data/q.json): Failed to open stream: Disk quota exceeded in /srv/app/q.php on line 5",
            &[P("/srv/app/data/q.json", QuotaExceeded, Some("file_put_contents"))]),
        ("php", None, "PHP Warning:  file_put_contents(/srv/app/data/current/q.json): Failed to open stream: Not a directory in /srv/app/q.php on line 5",
            &[P("/srv/app/data/current/q.json", NotADirectory, Some("file_put_contents"))]),
        ("php", None, "PHP Warning:  Unknown: Failed to write session data (files). Please verify that the current setting of session.save_path is correct (2;/var/lib/php/sessions) in Unknown on line 0",
            &[P("/var/lib/php/sessions", Other, Some("session write"))]),
        ("php", None, "PHP Warning:  Unknown: open(/var/lib/php/sessions/sess_x1, O_RDWR) failed: No space left on device (28) in Unknown on line 0",
            &[P("/var/lib/php/sessions/sess_x1", NoSpace, Some("open"))]),
        ("php", None, "PHP Warning:  is_writable(): open_basedir restriction in effect. File(/srv/shared/uploads) is not within the allowed path(s): (/srv/wp:/tmp) in /srv/wp/wp-includes/functions.php on line 2100",
            &[O("", "PHP open_basedir restriction: /srv/shared/uploads is outside the allowed paths")]),
        ("php", None, "PHP Fatal error:  Allowed memory size of 134217728 bytes exhausted (tried to allocate 20480 bytes) in /srv/wp/wp-includes/class-wpdb.php on line 2345",
            &[O("", "PHP memory_limit exhausted")]),
        ("php", None, "PHP Fatal error:  Uncaught UnexpectedValueException: RecursiveDirectoryIterator::__construct(/srv/app/var/cache/prod/pools): Failed to open directory: Permission denied in /srv/app/vendor/symfony/cache/Adapter/FilesystemAdapter.php:50",
            &[P("/srv/app/var/cache/prod/pools", PermissionDenied, Some("RecursiveDirectoryIterator::__construct"))]),
        ("php", None, "PHP Warning:  rename(/srv/app/tmp/x.part,/srv/app/data/x.bin): Permission denied in /srv/app/up.php on line 8",
            &[P("/srv/app/tmp/x.part", PermissionDenied, Some("rename")),
              P("/srv/app/data/x.bin", PermissionDenied, Some("rename"))]),
        ("php", None, "PHP Warning:  file_put_contents(/srv/caf\\xc3\\xa9/menu.txt): Failed to open stream: Permission denied in /srv/x.php on line 1",
            &[P("/srv/caf\u{e9}/menu.txt", PermissionDenied, Some("file_put_contents"))]),
        ("php", None, "PHP Warning:  fopen(/srv/app/x.csv): Failed to open stream: Too many open files in /srv/app/y.php on line 3",
            &[O("", "too many open files (EMFILE)")]),
        // Negatives: a URL, a relative WordPress path, an error with no path, a script location.
        ("php", None, "PHP Warning:  file_get_contents(https://api.example.com/v1/items): Failed to open stream: HTTP request failed! HTTP/1.1 500 Internal Server Error in /srv/app/api.php on line 12", &[]),
        ("php", None, "PHP Warning:  file_get_contents(//cdn.example.com/a.js): Failed to open stream: No such file or directory in /srv/app/api.php on line 12", &[]),
        ("php", None, "PHP Warning:  Unable to create directory wp-content/uploads/2026/12. Is its parent directory writable by the server? in /srv/wp/wp-admin/includes/file.php on line 10", &[]),
        ("php", None, "PHP Warning:  Unable to create directory /srv/wp/wp-content/uploads/2026/12. Is its parent directory writable by the server?",
            &[P("/srv/wp/wp-content/uploads/2026/12", Other, Some("mkdir"))]),
        ("php", None, "PHP Fatal error:  Uncaught Exception: could not save: Permission denied in /srv/app/save.php:10", &[]),
        ("php", None, "PHP Warning:  require(/srv/app/vendor/autoload.php): Failed to open stream: Too many levels of symbolic links in /srv/app/index.php on line 3",
            &[P("/srv/app/vendor/autoload.php", TooManyLinks, Some("require"))]),

        // ---- mod_cgi / mod_cgid: script stderr (AH01215), 2.4.60+ and earlier shapes
        ("cgi", Some("AH01215"), "stderr from /usr/lib/cgi-bin/report.cgi: sh: 1: cannot create /srv/reports/out/today.txt: Directory nonexistent",
            &[P("/srv/reports/out/today.txt", NotFound, Some("create"))]),
        ("cgi", Some("AH01215"), "sh: 1: cannot create /srv/reports/today.txt: Permission denied: /usr/lib/cgi-bin/report.cgi",
            &[P("/srv/reports/today.txt", PermissionDenied, Some("create"))]),
        ("cgi", Some("AH01215"), "stderr from /usr/lib/cgi-bin/read.sh: sh: 1: cannot open /srv/app/in.txt: No such file",
            &[P("/srv/app/in.txt", NotFound, Some("open"))]),
        ("cgid", Some("AH01215"), "stderr from /usr/lib/cgi-bin/mk.sh: mkdir: cannot create directory '/srv/data/2026/12': No such file or directory",
            &[P("/srv/data/2026/12", NotFound, Some("mkdir"))]),
        ("cgid", Some("AH01215"), "stderr from /usr/lib/cgi-bin/mk.sh: touch: cannot touch \\xe2\\x80\\x98/srv/data/stamp\\xe2\\x80\\x99: Permission denied",
            &[P("/srv/data/stamp", PermissionDenied, Some("touch"))]),
        ("cgi", Some("AH01215"), "stderr from /usr/lib/cgi-bin/app.py: PermissionError: [Errno 13] Permission denied: '/srv/app/data/db.sqlite'",
            &[P("/srv/app/data/db.sqlite", PermissionDenied, None)]),
        ("cgi", Some("AH01215"), "stderr from /usr/lib/cgi-bin/app.py: FileNotFoundError: [Errno 2] No such file or directory: '/srv/app/config.ini'",
            &[P("/srv/app/config.ini", NotFound, None)]),
        ("cgi", Some("AH01215"), "stderr from /usr/lib/cgi-bin/app.py: OSError: [Errno 30] Read-only file system: '/srv/app/tmp/a' -> '/srv/app/data/a'",
            &[P("/srv/app/tmp/a", ReadOnly, None), P("/srv/app/data/a", ReadOnly, None)]),
        ("cgi", Some("AH01215"), "stderr from /usr/lib/cgi-bin/app.py:   File \"/usr/lib/cgi-bin/app.py\", line 12, in <module>", &[]),
        ("cgi", Some("AH01215"), "stderr from /usr/lib/cgi-bin/app.py: OSError: [Errno 28] No space left on device", &[]),
        ("cgi", Some("AH01215"), "stderr from /usr/lib/cgi-bin/guest.pl: Can't open /srv/guestbook/entries.txt: No such file or directory at /usr/lib/cgi-bin/guest.pl line 14.",
            &[P("/srv/guestbook/entries.txt", NotFound, Some("open"))]),
        ("cgi", Some("AH01215"), "stderr from /usr/lib/cgi-bin/guest.pl: Can't open /srv/guestbook/entries.txt for writing: Permission denied at /usr/lib/cgi-bin/guest.pl line 20.",
            &[P("/srv/guestbook/entries.txt", PermissionDenied, Some("open"))]),
        ("cgi", Some("AH01215"), "stderr from /usr/lib/cgi-bin/run.sh: /usr/lib/cgi-bin/run.sh: line 3: /var/log/app/run.log: Read-only file system",
            &[P("/var/log/app/run.log", ReadOnly, None)]),
        ("cgi", Some("AH01215"), "stderr from /usr/lib/cgi-bin/x.cgi: (13)Permission denied: exec of '/usr/lib/cgi-bin/x.cgi' failed",
            &[P("/usr/lib/cgi-bin/x.cgi", PermissionDenied, Some("exec"))]),
        ("cgid", Some("AH01215"), "stderr from /usr/lib/cgi-bin/x.cgi: AH01241: error spawning CGI child: exec of '/usr/lib/cgi-bin/x.cgi' failed (No such file or directory)",
            &[P("/usr/lib/cgi-bin/x.cgi", NotFound, Some("exec"))]),
        ("cgi", Some("AH01215"), "stderr from /usr/lib/cgi-bin/app.js: Error: EACCES: permission denied, open '/srv/app/data/cache.json'",
            &[P("/srv/app/data/cache.json", PermissionDenied, Some("open"))]),
        ("cgi", Some("AH01215"), "stderr from /usr/lib/cgi-bin/app: open /srv/app/state.db: permission denied",
            &[P("/srv/app/state.db", PermissionDenied, Some("open"))]),
        ("cgi", Some("AH01215"), "stderr from /usr/lib/cgi-bin/app.rb: Errno::EACCES: Permission denied @ rb_sysopen - /srv/app/tmp/pids/x.pid",
            &[P("/srv/app/tmp/pids/x.pid", PermissionDenied, Some("open"))]),
        ("cgi", Some("AH01215"), "stderr from /usr/lib/cgi-bin/x: suexec policy violation: see suexec log for more details",
            &[O("AH01215", "suEXEC policy violation (see the suexec log)")]),
        ("cgi", Some("AH01215"), "stderr from /usr/lib/cgi-bin/x.sh: hello from the script", &[]),
        ("cgi", Some("AH02811"), "stderr from /usr/lib/cgi-bin/gone.cgi: script not found or unable to stat",
            &[P("/usr/lib/cgi-bin/gone.cgi", NotFound, Some("stat"))]),
        ("cgi", Some("AH02811"), "script not found or unable to stat: /usr/lib/cgi-bin/gone.cgi",
            &[P("/usr/lib/cgi-bin/gone.cgi", NotFound, Some("stat"))]),
        ("cgid", Some("AH01267"), "stderr from /usr/lib/cgi-bin/x.cgi: file permissions deny server execution",
            &[P("/usr/lib/cgi-bin/x.cgi", PermissionDenied, Some("exec"))]),
        ("cgi", Some("AH02809"), "stderr from /srv/www/site/x.cgi: Options ExecCGI is off in this directory",
            &[O("AH02809", "Options ExecCGI is off in this directory")]),
    ];

    /// Whether `got` is what `expected` describes.
    fn matches(got: &[Clue], expected: &[E]) -> bool {
        got.len() == expected.len()
            && got.iter().zip(expected).all(|(g, e)| match (g, e) {
                (
                    Clue::Path {
                        path,
                        reason,
                        operation,
                    },
                    E::P(p, r, o),
                ) => path == &PathBuf::from(p) && reason == r && operation.as_deref() == *o,
                (Clue::Other { tag, summary }, E::O(t, s)) => tag == t && summary == s,
                (Clue::Other { tag, summary }, E::Os(t, s)) => tag == t && summary.starts_with(s),
                _ => false,
            })
    }

    #[test]
    fn corpus_lines_give_their_clues() {
        assert!(CORPUS.len() >= 40);
        let failures: Vec<String> = CORPUS
            .iter()
            .filter_map(|(module, tag, text, expected)| {
                let got = clues(module, *tag, text.as_bytes());
                (!matches(&got, expected)).then(|| {
                    format!("{module} {tag:?} {text}\n  expected {expected:?}\n  got {got:?}")
                })
            })
            .collect();
        assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    }

    #[test]
    fn script_locations_are_never_causes() {
        for (module, tag, text, _) in CORPUS {
            for clue in clues(module, *tag, text.as_bytes()) {
                if let Clue::Path { path, .. } = clue {
                    let p = path.to_string_lossy();
                    let location = [" in {p} on line", " in {p}:", " at {p} line"];
                    for l in location {
                        assert!(!text.contains(&l.replace("{p}", &p)), "{p} in {text}");
                    }
                }
            }
        }
    }

    #[test]
    fn the_status_gives_the_reason_the_text_does_not() {
        let text = b"access to /app/index.php failed (filesystem path '/srv/www/app/current')";
        let got = clues_with_status("core", Some("AH00036"), libc::ELOOP, text);
        assert_eq!(
            got,
            [Clue::Path {
                path: "/srv/www/app/current".into(),
                reason: TooManyLinks,
                operation: Some("stat".into()),
            }]
        );
        // As the log file shows it, status first.
        let text = b"(2)No such file or directory: FCGI: attempt to connect to Unix domain socket /run/php/php-fpm.sock (*) failed";
        let got = clues("proxy", Some("AH02454"), text);
        assert_eq!(
            got,
            [Clue::Path {
                path: "/run/php/php-fpm.sock".into(),
                reason: NotFound,
                operation: Some("connect".into()),
            }]
        );
        let got = clues_with_status(
            "core",
            Some("AH00132"),
            libc::EPERM,
            b"file permissions deny server access: /srv/www/a",
        );
        assert!(matches!(
            got[..],
            [Clue::Path {
                reason: PermissionDenied,
                ..
            }]
        ));
    }

    #[test]
    fn own_lines_are_never_read() {
        assert!(is_own(
            b"DG01502: request failed: /srv/www/uploads: Permission denied"
        ));
        assert!(is_own(b"  DG00001: internal error"));
        assert!(!is_own(b"AH01502: x"));
        assert!(!is_own(b"DG0150: x"));
        assert!(!is_own(b"DG01502 x"));
        let own = b"DG01502: mkdir: cannot create directory '/srv/x': Permission denied";
        assert!(clues("dirguard", None, own).is_empty());
        assert!(clues(
            "dirguard",
            Some("DG01502"),
            b"cannot create '/srv/x': Permission denied"
        )
        .is_empty());
    }

    #[test]
    fn unacceptable_paths_are_dropped() {
        let long = format!(
            "PHP Warning:  fopen(/{}): Failed to open stream: Permission denied",
            "a".repeat(MAX_PATH)
        );
        assert!(clues("php", None, long.as_bytes()).is_empty());
        let nul = b"PHP Warning:  fopen(/srv/a\\x00b): Failed to open stream: Permission denied";
        assert!(clues("php", None, nul).is_empty());
        let relative =
            b"PHP Warning:  fopen(cache/a.txt): Failed to open stream: Permission denied";
        assert!(clues("php", None, relative).is_empty());
        // Bare paths lose their trailing punctuation.
        let bare = b"stderr from /x.sh: cat: /srv/a/b.txt.: No such file or directory";
        assert_eq!(
            clues("cgi", Some("AH01215"), bare),
            [Clue::Path {
                path: "/srv/a/b.txt".into(),
                reason: NotFound,
                operation: Some("cat".into()),
            }]
        );
    }

    #[test]
    fn only_the_first_8_kib_is_read() {
        let mut text = "x".repeat(MAX_TEXT);
        text.push_str(" cat: /srv/late: Permission denied");
        assert!(clues("cgi", Some("AH01215"), text.as_bytes()).is_empty());
    }

    fn quick(text: &[u8]) -> Vec<Clue> {
        let start = Instant::now();
        let got = clues("proxy_fcgi", Some("AH01071"), text);
        assert!(
            start.elapsed() < Duration::from_millis(500),
            "{:?}",
            start.elapsed()
        );
        assert!(got.len() <= MAX_CLUES);
        got
    }

    #[test]
    fn bounded_work_on_huge_and_hostile_lines() {
        let mib = 1 << 20;
        let mut line = b"Got error '".to_vec();
        while line.len() < mib {
            let n = line.len();
            line.extend_from_slice(
                format!("PHP message: PHP Warning:  fopen(/srv/f{n}): Failed to open stream: Permission denied in /srv/a.php on line 1\\n").as_bytes(),
            );
        }
        assert_eq!(quick(&line).len(), MAX_CLUES);
        for unit in [
            &b"\xe2\x80\x98/"[..],
            b"'/",
            b"\"/a ",
            b": ",
            b"(",
            b"a(/",
            b"Permission denied",
            b" Permission denied: ",
            b"\\x",
            b"[Errno 1] Permission denied: '",
            b"exec of '",
        ] {
            let mut hostile = unit.repeat(mib / unit.len());
            hostile.extend_from_slice(b": Permission denied");
            quick(&hostile);
            let mut hostile = unit.repeat(MAX_TEXT / unit.len() - 2);
            hostile.extend_from_slice(b": Permission denied");
            quick(&hostile);
        }
    }

    #[test]
    fn errno_values_map_to_reasons() {
        assert_eq!(FsReason::from_errno(libc::ENOENT), Some(NotFound));
        assert_eq!(FsReason::from_errno(libc::EACCES), Some(PermissionDenied));
        assert_eq!(FsReason::from_errno(libc::EROFS), Some(ReadOnly));
        assert_eq!(FsReason::from_errno(libc::ENOSPC), Some(NoSpace));
        assert_eq!(FsReason::from_errno(libc::ENOTDIR), Some(NotADirectory));
        assert_eq!(FsReason::from_errno(libc::EDQUOT), Some(QuotaExceeded));
        assert_eq!(FsReason::from_errno(libc::ELOOP), Some(TooManyLinks));
        assert_eq!(FsReason::from_errno(libc::EISDIR), Some(IsADirectory));
        assert_eq!(FsReason::from_errno(0), None);
        assert_eq!(FsReason::from_errno(libc::ECONNREFUSED), None);
    }
}
