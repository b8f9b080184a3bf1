//! What the module writes about one request: the facts the glue reads out of Apache's request,
//! and every line and note built from them (DG01501 answers, DG01502/DG01503 explanations,
//! DG01504 repeats, the `dirguard-cause` note), under storm control.

use super::explain::{last_known, storm_key, Cause};
use super::fault::{CauseLabel, Fault, FaultKind};
use super::messages::{self, Line, Severity, Tag};
use super::shared::{DirRecord, SharedState, Storm};
use super::spec::RequiredDir;
use super::text::{format_utc, quote_path};
use std::ffi::OsStr;
use std::os::unix::ffi::{OsStrExt, OsStringExt};

/// How many bytes of a request's method, URI, handler or log id a line shows.
const MAX_FIELD: usize = 512;

/// What Apache says about a request, as the glue found it (`None`: the field was null).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RequestFacts<'r> {
    /// The request line as the client sent it (`r->the_request`, "POST /wp-json/wp/v2/media
    /// HTTP/1.1"): what the access log's `%r` shows.
    pub received: Option<&'r [u8]>,
    /// The URI of the request as received, decoded (`r->uri` of the first request).
    pub first_uri: Option<&'r [u8]>,
    /// The final request of the internal-redirect chain: its method and URI (the internal
    /// target after a rewrite or an ErrorDocument), handler and file.
    pub method: Option<&'r [u8]>,
    pub uri: Option<&'r [u8]>,
    pub handler: Option<&'r [u8]>,
    pub filename: Option<&'r [u8]>,
    /// Apache's request log id (`%L`), the same as the access log shows for the request.
    pub log_id: Option<&'r [u8]>,
    /// The final status the line is about.
    pub status: i32,
}

/// A field as a line shows it: "-" when absent, cut at `MAX_FIELD` bytes.
fn field(value: Option<&[u8]>) -> String {
    let bytes = value.unwrap_or(b"-");
    String::from_utf8_lossy(&bytes[..bytes.len().min(MAX_FIELD)]).into_owned()
}

impl<'r> RequestFacts<'r> {
    /// The method and URI as the client sent them, from the request line; the final
    /// request's when there is no line (a request Apache could not read).
    pub fn client(&self) -> (Option<&'r [u8]>, Option<&'r [u8]>) {
        let Some(line) = self.received.filter(|l| !l.is_empty()) else {
            return (self.method, self.uri);
        };
        let mut words = line.split(|b| *b == b' ').filter(|w| !w.is_empty());
        match (words.next(), words.next()) {
            (Some(method), Some(uri)) => (Some(method), Some(uri)),
            _ => (self.method, self.uri),
        }
    }

    /// Whether the final request is not the one received (a rewrite, an ErrorDocument).
    fn redirected(&self) -> bool {
        let (method, _) = self.client();
        self.first_uri.is_some() && (self.first_uri != self.uri || method != self.method)
    }

    /// "500 for POST /wp-json/wp/v2/media (internally POST /index.php; handler proxy-server,
    /// script '/srv/wp/index.php'), log id …": the request as the client sent it (the access
    /// log's `%r`), the internal target when it differs, the handler, and the file the handler
    /// serves: for a script passed to a FastCGI server, the script's path (SCRIPT_FILENAME).
    pub fn describe(&self) -> String {
        let (method, uri) = self.client();
        let internal = if self.redirected() {
            format!("internally {} {}; ", field(self.method), field(self.uri))
        } else {
            String::new()
        };
        // What a FastCGI server is given is a script, whether the file is still a path
        // (`SetHandler "proxy:…"` before its handler ran) or already `proxy:fcgi://…`.
        let to_fastcgi = self
            .handler
            .is_some_and(|h| h.starts_with(b"proxy:") || h == b"proxy-server");
        // A file name is cut like the other fields: a rewrite loop makes it kilobytes long,
        // and the cause must still fit in Apache's line.
        let shown = |p: &[u8]| {
            let cut = &p[..p.len().min(MAX_FIELD)];
            let more = if cut.len() < p.len() { "..." } else { "" };
            format!("{}{more}", quote_path(OsStr::from_bytes(cut)))
        };
        let file = match self.filename {
            Some(f) => match fcgi_script(f) {
                Some(script) => format!("script {}", shown(script.as_os_str().as_bytes())),
                None if to_fastcgi => format!("script {}", shown(f)),
                None => format!("file {}", shown(f)),
            },
            None => "file -".into(),
        };
        format!(
            "{} for {} {} ({internal}handler {}, {file}), log id {}",
            self.status,
            field(method),
            field(uri),
            field(self.handler),
            field(self.log_id)
        )
    }
}

/// The script a FastCGI server is given (its SCRIPT_FILENAME) when Apache passes the request
/// through mod_proxy_fcgi: `r->filename` is then `proxy:fcgi://HOST[:PORT]/PATH` (ProxyPass,
/// ProxyPassMatch, `SetHandler proxy:…`), possibly still with the `unix:SOCKET|` part in front,
/// and percent-encoded. None for anything else (a file Apache serves itself, a CGI, mod_php).
pub fn fcgi_script(filename: &[u8]) -> Option<std::path::PathBuf> {
    let rest = filename.strip_prefix(b"proxy:")?;
    let rest = if rest.len() >= 5 && rest[..5].eq_ignore_ascii_case(b"unix:") {
        &rest[rest.iter().position(|b| *b == b'|')? + 1..]
    } else {
        rest
    };
    if rest.len() < 7 || !rest[..7].eq_ignore_ascii_case(b"fcgi://") {
        return None;
    }
    let after_host = &rest[7..];
    let path = &after_host[after_host.iter().position(|b| *b == b'/')?..];
    let path = match path.iter().position(|b| *b == b'?') {
        Some(q) => &path[..q],
        None => path,
    };
    let decoded = percent_decode(path);
    // php-fpm is given the path as it stands; a NUL cannot be part of one.
    if decoded.contains(&0) {
        return None;
    }
    Some(std::path::PathBuf::from(std::ffi::OsString::from_vec(
        decoded,
    )))
}

/// `%XX` decoded; anything else (a stray `%`) kept as it is.
fn percent_decode(s: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%' && i + 2 < s.len() {
            if let (Some(h), Some(l)) = (hex(s[i + 1]), hex(s[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(s[i]);
        i += 1;
    }
    out
}

/// The DG01502/DG01503 text: the request, then the cause (`Cause::render`) and what the audits
/// last knew of a directory that was not checked now (`last_known_state`).
pub fn explanation_text(facts: &RequestFacts<'_>, cause: &str, last_known: &str) -> String {
    format!("{}: {cause}{last_known}", facts.describe())
}

/// An explanation written without storm control (there is no shared state: DG01304 said why):
/// the full line, always at error level.
pub fn explanation_without_storm_control(
    facts: &RequestFacts<'_>,
    cause: &Cause,
    rendered: &str,
) -> Line {
    Line {
        severity: Severity::Error,
        tag: cause.tag(),
        text: explanation_text(facts, rendered, ""),
    }
}

/// What an explanation adds when its cause is a required directory whose filesystem does not
/// answer: the state the live audits last published for it; empty otherwise.
pub fn last_known_state(cause: &Cause, in_scope: &[&RequiredDir], shared: &SharedState) -> String {
    let Cause::Required {
        dir,
        fault: Fault::NotAnswering { .. },
    } = cause
    else {
        return String::new();
    };
    in_scope
        .get(*dir)
        .and_then(|d| d.slot.get())
        .and_then(|slot| shared.record(*slot))
        .map(|r| last_known(r.health.keyword(), r.since_unix_s))
        .unwrap_or_default()
}

/// A `DirGuardOnFailure 503` answer: the failing directory in scope, what the audits published
/// about it, and the `Retry-After` sent.
pub struct Unavailable<'a> {
    pub dir: &'a RequiredDir,
    pub record: &'a DirRecord,
    pub retry_after_s: u32,
}

impl Unavailable<'_> {
    pub const TAG: Tag = messages::EXPLAIN_UNAVAILABLE;
    pub const SEVERITY: Severity = Severity::Error;

    /// What the answer is counted under: the directory's first fault kind.
    pub fn label(&self) -> CauseLabel {
        CauseLabel::of_mask(self.record.kinds)
    }

    /// The `dirguard-cause` note: kind and path.
    pub fn note(&self) -> String {
        format!(
            "{}:{}",
            FaultKind::first_in(self.record.kinds).map_or("failing", FaultKind::name),
            self.dir.path.to_string_lossy()
        )
    }

    pub fn storm_key(&self) -> u64 {
        storm_key(Self::TAG, self.label(), &self.dir.path)
    }

    /// The DG01501 text.
    pub fn text(&self, facts: &RequestFacts<'_>) -> String {
        let r = self.record;
        format!(
            "{} (DirGuardOnFailure 503, Retry-After {}): required directory {} {} since {}; {}; fix: {}",
            facts.describe(),
            self.retry_after_s,
            quote_path(self.dir.path.as_os_str()),
            if r.what.is_empty() { "is failing" } else { &r.what },
            format_utc(r.since_unix_s),
            self.dir.provenance(),
            r.fix
        )
    }
}

/// What a full line adds when storm control held back earlier responses with the same cause.
pub fn repeats_suffix(repeats: u64) -> String {
    if repeats == 0 {
        return String::new();
    }
    format!(
        " ({repeats} more response{} with this cause since its previous full explanation)",
        if repeats == 1 { "" } else { "s" }
    )
}

/// The DG01504 text: the `n`th response with the same cause (`note`) since its full line.
pub fn repeat_text(facts: &RequestFacts<'_>, note: &str, n: u64) -> String {
    let (method, uri) = facts.client();
    format!(
        "{} for {} {}, log id {}: same cause as explained in full within the last second ({note}); {n} repeat{} since that line (storm control: one full line per cause per second; exact counts on the status page)",
        facts.status,
        field(method),
        field(uri),
        field(facts.log_id),
        if n == 1 { "" } else { "s" }
    )
}

/// The line storm control lets through for one response: the full one (`full`, with the count of
/// those held back since the previous one), a short repeat line, or nothing. `facts` is only
/// asked for when a line is written (reading a log id may make Apache generate one).
pub fn limited_line<'r>(
    storm: Storm,
    severity: Severity,
    tag: Tag,
    facts: impl FnOnce() -> RequestFacts<'r>,
    full: impl FnOnce(&RequestFacts<'r>) -> String,
    note: &str,
) -> Option<Line> {
    match storm {
        Storm::Full { repeats } => {
            let facts = facts();
            Some(Line {
                severity,
                tag,
                text: full(&facts) + &repeats_suffix(repeats),
            })
        }
        Storm::Repeat { n, log: true } => Some(Line {
            severity,
            tag: messages::EXPLAIN_REPEATS,
            text: repeat_text(&facts(), note, n),
        }),
        Storm::Repeat { log: false, .. } => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::shared::Health;
    use crate::core::spec::{Access, Origin};

    fn facts(status: i32) -> RequestFacts<'static> {
        RequestFacts {
            received: Some(b"POST /cgi-bin/upload.cgi HTTP/1.1"),
            first_uri: Some(b"/cgi-bin/upload.cgi"),
            method: Some(b"POST"),
            uri: Some(b"/cgi-bin/upload.cgi"),
            handler: Some(b"cgi-script"),
            filename: Some(b"/srv/cgi-bin/upload.cgi"),
            log_id: Some(b"yfi9dZK3Mew"),
            status,
        }
    }

    #[test]
    fn a_request_is_described_by_status_method_uri_handler_file_and_log_id() {
        assert_eq!(
            facts(500).describe(),
            "500 for POST /cgi-bin/upload.cgi (handler cgi-script, file '/srv/cgi-bin/upload.cgi'), log id yfi9dZK3Mew"
        );
        let bare = RequestFacts {
            status: 404,
            ..RequestFacts::default()
        };
        assert_eq!(bare.describe(), "404 for - - (handler -, file -), log id -");
        let long = vec![b'a'; 600];
        let odd = RequestFacts {
            received: None,
            first_uri: Some(&long),
            uri: Some(&long),
            filename: Some(b"/srv/it's"),
            ..facts(500)
        };
        let text = odd.describe();
        assert!(text.contains(&format!(" {} (", "a".repeat(512))), "{text}");
        let huge = vec![b'f'; 16 * 1024];
        let looped = RequestFacts {
            filename: Some(&huge),
            ..facts(500)
        };
        assert!(looped.describe().len() < 1200, "{}", looped.describe());
        assert!(looped.describe().contains("...), log id"));
        assert!(text.contains("file '/srv/it'\"'\"'s'"), "{text}");
        let unlimited =
            explanation_without_storm_control(&facts(500), &Cause::Nothing, "no filesystem cause");
        assert_eq!(
            (unlimited.severity, unlimited.tag),
            (Severity::Error, messages::EXPLAIN_NO_CAUSE)
        );
        assert!(unlimited
            .text
            .ends_with("log id yfi9dZK3Mew: no filesystem cause"));
        assert_eq!(
            explanation_text(&facts(500), "probable cause: x", " (not checked now)"),
            "500 for POST /cgi-bin/upload.cgi (handler cgi-script, file '/srv/cgi-bin/upload.cgi'), log id yfi9dZK3Mew: probable cause: x (not checked now)"
        );
    }

    #[test]
    fn a_rewritten_request_is_named_as_received_with_its_internal_target_and_script() {
        let wp = RequestFacts {
            received: Some(b"POST /wp-json/wp/v2/media?x=1 HTTP/1.1"),
            first_uri: Some(b"/wp-json/wp/v2/media"),
            method: Some(b"POST"),
            uri: Some(b"/index.php"),
            handler: Some(b"proxy-server"),
            filename: Some(b"proxy:unix:/run/php/wp.sock|fcgi://localhost/srv/wp%20site/index.php"),
            log_id: Some(b"abc"),
            status: 500,
        };
        assert_eq!(
            wp.describe(),
            "500 for POST /wp-json/wp/v2/media?x=1 (internally POST /index.php; handler proxy-server, \
             script '/srv/wp site/index.php'), log id abc"
        );
        assert!(repeat_text(&wp, "n", 2)
            .starts_with("500 for POST /wp-json/wp/v2/media?x=1, log id abc:"));
        // Not redirected: no internal part; a request line Apache could not split: the final
        // request's method and URI.
        let plain = RequestFacts {
            uri: Some(b"/wp-json/wp/v2/media"),
            ..wp
        };
        assert!(plain
            .describe()
            .starts_with("500 for POST /wp-json/wp/v2/media?x=1 (handler proxy-server,"));
        let garbled = RequestFacts {
            received: Some(b"GARBAGE"),
            ..plain
        };
        assert!(garbled
            .describe()
            .starts_with("500 for POST /wp-json/wp/v2/media (handler"));
    }

    #[test]
    fn the_script_of_a_fastcgi_request_is_read_from_every_form_of_proxy_filename() {
        let script = |f: &[u8]| fcgi_script(f).map(|p| p.to_string_lossy().into_owned());
        assert_eq!(
            script(b"proxy:fcgi://localhost/srv/wp/index.php").as_deref(),
            Some("/srv/wp/index.php")
        );
        assert_eq!(
            script(b"proxy:fcgi://127.0.0.1:9000/srv/wp/a.php?x=1").as_deref(),
            Some("/srv/wp/a.php")
        );
        assert_eq!(
            script(b"proxy:unix:/run/php/php8.2-fpm.sock|fcgi://localhost/srv/caf%C3%A9/i.php")
                .as_deref(),
            Some("/srv/caf\u{e9}/i.php")
        );
        assert_eq!(
            script(b"proxy:FCGI://[::1]:9000/x.php").as_deref(),
            Some("/x.php")
        );
        assert_eq!(
            script(b"proxy:fcgi://h/100%/x%zz").as_deref(),
            Some("/100%/x%zz")
        );
        assert_eq!(script(b"proxy:http://backend/x"), None);
        assert_eq!(script(b"proxy:fcgi://localhost"), None);
        assert_eq!(script(b"proxy:fcgi://h/a%00b"), None);
        assert_eq!(script(b"/srv/wp/index.php"), None);
        assert_eq!(script(b"proxy:unix:/sock"), None);
    }

    fn uploads() -> RequiredDir {
        RequiredDir::new(
            "/var/www/html/wp-content/uploads",
            Access::ReadWrite,
            Origin {
                file: "/etc/apache2/sites-enabled/wp.conf".into(),
                line: 12,
            },
        )
    }

    #[test]
    fn a_503_answer_names_the_directory_its_fault_since_when_and_the_fix() {
        let dir = uploads();
        let record = DirRecord {
            health: Health::Failing,
            kinds: FaultKind::Missing.bit() | FaultKind::Mode.bit(),
            fault_count: 2,
            since_unix_s: 0,
            what: "is missing (No such file or directory)".into(),
            fix: "install -d '/var/www/html/wp-content/uploads'".into(),
            ..DirRecord::default()
        };
        let answer = Unavailable {
            dir: &dir,
            record: &record,
            retry_after_s: 30,
        };
        let get = RequestFacts {
            received: Some(b"GET / HTTP/1.1"),
            first_uri: Some(b"/"),
            method: Some(b"GET"),
            uri: Some(b"/"),
            handler: None,
            filename: None,
            log_id: Some(b"id1"),
            status: 503,
        };
        assert_eq!(
            answer.text(&get),
            "503 for GET / (handler -, file -), log id id1 (DirGuardOnFailure 503, Retry-After 30): \
             required directory '/var/www/html/wp-content/uploads' is missing (No such file or directory) \
             since 1970-01-01T00:00:00Z; declared at /etc/apache2/sites-enabled/wp.conf:12; \
             fix: install -d '/var/www/html/wp-content/uploads'"
        );
        assert_eq!(answer.note(), "missing:/var/www/html/wp-content/uploads");
        assert_eq!(answer.label(), CauseLabel::Kind(FaultKind::Missing));
        assert_eq!(
            answer.storm_key(),
            storm_key(
                messages::EXPLAIN_UNAVAILABLE,
                CauseLabel::Kind(FaultKind::Missing),
                &dir.path
            )
        );
        // A record without text (a torn read gave up): still one plain line.
        let empty = DirRecord::default();
        let unknown = Unavailable {
            dir: &dir,
            record: &empty,
            retry_after_s: 5,
        };
        assert!(unknown.text(&get).contains("uploads' is failing since"));
        assert_eq!(unknown.note(), "failing:/var/www/html/wp-content/uploads");
        assert_eq!(unknown.label(), CauseLabel::Nothing);
    }

    #[test]
    fn storm_control_writes_the_full_line_a_repeat_line_or_nothing() {
        let full = |f: &RequestFacts<'_>| format!("{}: cause", f.describe());
        let line = limited_line(
            Storm::Full { repeats: 0 },
            Severity::Error,
            messages::EXPLAIN_CAUSE,
            || facts(500),
            full,
            "missing:/x",
        )
        .unwrap();
        assert_eq!(
            (line.tag, line.severity),
            (messages::EXPLAIN_CAUSE, Severity::Error)
        );
        assert!(
            line.text.ends_with("log id yfi9dZK3Mew: cause"),
            "{}",
            line.text
        );
        let line = limited_line(
            Storm::Full { repeats: 1 },
            Severity::Error,
            messages::EXPLAIN_CAUSE,
            || facts(500),
            full,
            "missing:/x",
        )
        .unwrap();
        assert!(line.text.ends_with(
            ": cause (1 more response with this cause since its previous full explanation)"
        ));
        assert_eq!(
            repeats_suffix(7),
            " (7 more responses with this cause since its previous full explanation)"
        );
        let line = limited_line(
            Storm::Repeat { n: 10, log: true },
            Severity::Warning,
            messages::EXPLAIN_NO_CAUSE,
            || facts(500),
            full,
            "none",
        )
        .unwrap();
        assert_eq!(
            (line.tag, line.severity),
            (messages::EXPLAIN_REPEATS, Severity::Warning)
        );
        assert_eq!(
            line.text,
            "500 for POST /cgi-bin/upload.cgi, log id yfi9dZK3Mew: same cause as explained in full within the last second (none); 10 repeats since that line (storm control: one full line per cause per second; exact counts on the status page)"
        );
        assert!(repeat_text(&facts(503), "x", 1).contains("; 1 repeat since that line"));
        let mut asked = false;
        let silent = limited_line(
            Storm::Repeat { n: 2, log: false },
            Severity::Error,
            messages::EXPLAIN_CAUSE,
            || {
                asked = true;
                facts(500)
            },
            full,
            "x",
        );
        assert_eq!(silent, None);
        assert!(
            !asked,
            "no log id is generated for a response nothing is written about"
        );
    }

    #[test]
    fn only_a_directory_that_does_not_answer_adds_its_last_known_state() {
        let dir = uploads();
        let _ = dir.slot.set(0);
        let mut mem = vec![0u64; SharedState::size_for(1) / 8 + 1];
        // SAFETY: the Vec is large enough, aligned to 8 and outlives the view.
        let shared = unsafe {
            SharedState::init(
                mem.as_mut_ptr().cast(),
                1,
                crate::core::settings::Interval::DEFAULT,
            )
        };
        let record = DirRecord {
            health: Health::Healthy,
            since_unix_s: 0,
            ..DirRecord::default()
        };
        shared.publish(&[(0, record)], &Default::default());
        let stall = crate::core::bounded::Stall {
            call: "stat",
            path: dir.path.clone(),
            mount: None,
            since_unix_s: 0,
            waited: std::time::Duration::from_millis(250),
        };
        let hung = Cause::Required {
            dir: 0,
            fault: Fault::NotAnswering { stall },
        };
        assert_eq!(
            last_known_state(&hung, &[&dir], &shared),
            " (not checked now; last known state: healthy)"
        );
        let missing = Cause::Required {
            dir: 0,
            fault: Fault::Missing {
                first_missing: dir.path.clone(),
                errno: 2,
            },
        };
        assert_eq!(last_known_state(&missing, &[&dir], &shared), "");
    }
}
