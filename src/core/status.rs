//! The status report in three forms: HTML for people, JSON (schema in docs/status-json.md) and
//! Prometheus text exposition format 0.0.4. Pure functions of a snapshot.

use super::fault::{CauseLabel, FaultKind};
use super::messages::{self, Line, Severity};
use super::shared::{DirRecord, Health, Totals};
use super::spec::RequiredDir;
use super::text::format_utc;
use std::collections::{BTreeMap, HashSet};
use std::fmt::Write;
use std::sync::Arc;

pub const JSON_SCHEMA_ID: &str = "mod_dirguard/status/1";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Format {
    Html,
    Json,
    Prometheus,
    /// A provisioning format or the checklist (`core::export`).
    Export(super::export::Export),
}

/// The format asked for by `format=` in a query string; HTML when absent, None when unknown.
pub fn format_of(query: Option<&[u8]>) -> Option<Format> {
    let Some(query) = query else {
        return Some(Format::Html);
    };
    let value = query
        .split(|b| *b == b'&')
        .find_map(|kv| kv.strip_prefix(b"format="));
    match value {
        None | Some(b"html") => Some(Format::Html),
        Some(b"json") => Some(Format::Json),
        Some(b"prometheus") => Some(Format::Prometheus),
        Some(other) => super::export::Export::by_name(other).map(Format::Export),
    }
}

/// Which requirements a status page shows (`DirGuardStatusView`). A page a customer enables with
/// `SetHandler` in an `.htaccess` must not show another virtual host's paths, faults and fix
/// commands (which name users), so the narrow view is the default and the full one can only be
/// chosen in the server's own configuration.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum View {
    /// The requirements of the virtual host serving the page: its own declarations and the main
    /// server's (which Apache applies to every virtual host).
    #[default]
    Vhost,
    /// Every virtual host's requirements, as fleet monitoring needs.
    All,
}

impl View {
    /// The directive's keywords, in the order of `View::from_index`.
    pub const KEYWORDS: [&'static str; 2] = ["vhost", "all"];

    pub fn from_index(i: usize) -> Option<View> {
        [View::Vhost, View::All].get(i).copied()
    }

    /// `DirGuardStatusView vhost|all` (case-insensitive).
    pub fn parse(arg: &str) -> Result<View, String> {
        let value = arg.to_ascii_lowercase();
        View::KEYWORDS
            .iter()
            .position(|k| *k == value)
            .and_then(View::from_index)
            .ok_or_else(|| {
                format!(
                    "DirGuardStatusView: '{}' is not one of {}",
                    super::text::shown(value.as_bytes()),
                    View::KEYWORDS.join(", ")
                )
            })
    }
}

/// The requirements a page shows and their records, in the monitor's order. `dirs` and `records`
/// are the monitor's (index i of one describes index i of the other); `visible` holds the
/// declarations of the serving virtual host and of the main server. They are matched by
/// identity, not by path: another host declaring the same path has its own origin, scope and
/// owner, and those are its own business.
pub fn select_view(
    view: View,
    dirs: &[Arc<RequiredDir>],
    records: Vec<DirRecord>,
    visible: &[Arc<RequiredDir>],
) -> (Vec<Arc<RequiredDir>>, Vec<DirRecord>) {
    let rows = dirs.iter().cloned().zip(records);
    match view {
        View::All => rows.unzip(),
        View::Vhost => {
            let shown: HashSet<*const RequiredDir> = visible.iter().map(Arc::as_ptr).collect();
            rows.filter(|(d, _)| shown.contains(&Arc::as_ptr(d)))
                .unzip()
        }
    }
}

pub struct Snapshot<'a> {
    /// What `dirs` was selected by (the HTML page says so).
    pub view: View,
    pub dirs: &'a [Arc<RequiredDir>],
    pub records: &'a [DirRecord],
    pub totals: &'a Totals,
    /// (final status, cause label, count) of explained responses.
    pub explained: &'a [(u16, CauseLabel, u64)],
    pub now_unix_s: u64,
}

/// DG01401: a status page asked for while there is no shared state (DG01304 said why).
pub fn unavailable_line() -> Line {
    Line {
        severity: Severity::Error,
        tag: messages::STATUS_UNAVAILABLE,
        text: "the status page has no shared state to show (see DG01304 at startup)".to_owned(),
    }
}

fn path_text(dir: &RequiredDir) -> String {
    dir.path.to_string_lossy().into_owned()
}

impl Snapshot<'_> {
    /// Row indices: failing first, then unknown, then healthy; configuration order within.
    fn order(&self) -> Vec<usize> {
        let rank = |h: Health| match h {
            Health::Failing => 0,
            Health::Unknown => 1,
            Health::Healthy => 2,
        };
        let mut idx: Vec<usize> = (0..self.records.len().min(self.dirs.len())).collect();
        idx.sort_by_key(|&i| rank(self.records[i].health));
        idx
    }

    fn count(&self, h: Health) -> usize {
        self.records.iter().filter(|r| r.health == h).count()
    }

    fn last_audit(&self) -> Option<u64> {
        (self.totals.last_audit_unix_us > 0).then_some(self.totals.last_audit_unix_us / 1_000_000)
    }
}

pub fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn json_opt_u64(v: Option<u64>) -> String {
    v.map(|n| n.to_string()).unwrap_or_else(|| "null".into())
}

pub fn render_json(s: &Snapshot<'_>) -> String {
    let mut o = String::with_capacity(256 + s.dirs.len() * 256);
    let _ = write!(
        o,
        "{{\"schema\":{},\"generated_at\":{},\"interval_seconds\":{},\"audits_total\":{},\"repairs_total\":{},\"last_audit\":",
        json_string(JSON_SCHEMA_ID),
        json_string(&format_utc(s.now_unix_s)),
        s.totals.interval.secs(),
        s.totals.audits_total,
        s.totals.repairs_total
    );
    match s.last_audit() {
        Some(at) => {
            let _ = write!(
                o,
                "{{\"at\":{},\"duration_seconds\":{}}}",
                json_string(&format_utc(at)),
                s.totals.last_audit_duration_us as f64 / 1e6
            );
        }
        None => o.push_str("null"),
    }
    let _ = write!(
        o,
        ",\"totals\":{{\"directories\":{},\"healthy\":{},\"failing\":{},\"unknown\":{}}},\"explained\":[{}],\"directories\":[",
        s.dirs.len(),
        s.count(Health::Healthy),
        s.count(Health::Failing),
        s.count(Health::Unknown),
        s.explained
            .iter()
            .map(|(status, cause, count)| format!(
                "{{\"status\":{status},\"cause\":{},\"count\":{count}}}",
                json_string(cause.name())
            ))
            .collect::<Vec<_>>()
            .join(",")
    );
    for (n, i) in s.order().into_iter().enumerate() {
        let (d, r) = (&s.dirs[i], &s.records[i]);
        if n > 0 {
            o.push(',');
        }
        let _ = write!(
            o,
            "{{\"path\":{},\"scope\":{},\"declared_at\":{},\"access\":{},\"state\":{},\"since\":{},\"fault\":",
            json_string(&path_text(d)),
            json_string(&d.scope),
            json_string(&d.origin.to_string()),
            json_string(d.access.keyword()),
            json_string(r.health.keyword()),
            if r.health == Health::Unknown { "null".into() } else { json_string(&format_utc(r.since_unix_s)) }
        );
        if r.health == Health::Failing {
            let _ = write!(
                o,
                "{{\"kinds\":[{}],\"count\":{},\"message\":{},\"fix\":{}}}",
                FaultKind::in_mask(r.kinds)
                    .map(|k| json_string(k.name()))
                    .collect::<Vec<_>>()
                    .join(","),
                r.fault_count,
                json_string(&r.what),
                json_string(&r.fix)
            );
        } else {
            o.push_str("null");
        }
        let _ = write!(
            o,
            ",\"free_bytes\":{},\"free_inodes\":{},\"min_free_bytes\":{},\"min_inodes\":{}}}",
            json_opt_u64(r.free_bytes),
            json_opt_u64(r.free_inodes),
            json_opt_u64(d.min_free),
            json_opt_u64(d.min_inodes)
        );
    }
    o.push_str("]}\n");
    o
}

fn label(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// Free bytes, free inodes and the largest declared min-free of one path.
type FsFigures = (Option<u64>, Option<u64>, Option<u64>);

/// A per-path gauge: metric name, help text, and which of the figures it shows.
type PathGauge = (&'static str, &'static str, fn(&FsFigures) -> Option<u64>);

fn family(o: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// Prometheus text exposition format 0.0.4. A path declared more than once is one series per
/// (path, scope) for health (the worse state wins) and one per path for the filesystem figures.
pub fn render_prometheus(s: &Snapshot<'_>) -> String {
    let mut o = String::with_capacity(512 + s.dirs.len() * 160);
    let mut healthy: BTreeMap<(String, String), (u8, u64)> = BTreeMap::new();
    let mut free: BTreeMap<String, FsFigures> = BTreeMap::new();
    for (d, r) in s.dirs.iter().zip(s.records) {
        let path = path_text(d);
        if r.health != Health::Unknown {
            let v = (u8::from(r.health == Health::Healthy), r.since_unix_s);
            healthy
                .entry((path.clone(), d.scope.clone()))
                .and_modify(|e| *e = (*e).min(v))
                .or_insert(v);
        }
        let e = free.entry(path).or_insert((None, None, None));
        e.0 = e.0.or(r.free_bytes);
        e.1 = e.1.or(r.free_inodes);
        e.2 = match (e.2, d.min_free) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }
    family(
        &mut o,
        "dirguard_directory_healthy",
        "gauge",
        "Whether a required directory passes all its declared checks (1) or not (0).",
    );
    for ((path, scope), (v, _)) in &healthy {
        let _ = writeln!(
            o,
            "dirguard_directory_healthy{{path=\"{}\",scope=\"{}\"}} {v}",
            label(path),
            label(scope)
        );
    }
    family(
        &mut o,
        "dirguard_directory_state_since_timestamp_seconds",
        "gauge",
        "When the directory entered its current state, healthy or failing (Unix time).",
    );
    for ((path, scope), (_, since)) in &healthy {
        let _ = writeln!(
            o,
            "dirguard_directory_state_since_timestamp_seconds{{path=\"{}\",scope=\"{}\"}} {since}",
            label(path),
            label(scope)
        );
    }
    // The three per-path filesystem gauges: (name, help, which figure).
    let per_path: [PathGauge; 3] = [
        (
            "dirguard_directory_free_bytes",
            "Bytes available to non-root users on the filesystem holding the directory.",
            |f| f.0,
        ),
        (
            "dirguard_directory_free_inodes",
            "Inodes available to non-root users on the filesystem holding the directory.",
            |f| f.1,
        ),
        (
            "dirguard_directory_min_free_bytes",
            "The declared min-free of the directory, in bytes.",
            |f| f.2,
        ),
    ];
    for (name, help, figure) in per_path {
        family(&mut o, name, "gauge", help);
        for (path, figures) in &free {
            if let Some(v) = figure(figures) {
                let _ = writeln!(o, "{name}{{path=\"{}\"}} {v}", label(path));
            }
        }
    }
    family(
        &mut o,
        "dirguard_explained_responses_total",
        "counter",
        "Responses explained in the error log, by final status and cause (a fault kind, or none).",
    );
    for (status, cause, count) in s.explained {
        let _ = writeln!(
            o,
            "dirguard_explained_responses_total{{cause=\"{}\",status=\"{status}\"}} {count}",
            cause.name()
        );
    }
    family(
        &mut o,
        "dirguard_audits_total",
        "counter",
        "Audits of the required directories since the server (re)started.",
    );
    let _ = writeln!(o, "dirguard_audits_total {}", s.totals.audits_total);
    family(&mut o, "dirguard_repairs_total", "counter", "Repair actions (directories created, owners or modes corrected) since the server (re)started.");
    let _ = writeln!(o, "dirguard_repairs_total {}", s.totals.repairs_total);
    family(
        &mut o,
        "dirguard_audit_duration_seconds",
        "gauge",
        "How long the last audit took.",
    );
    let _ = writeln!(
        o,
        "dirguard_audit_duration_seconds {}",
        s.totals.last_audit_duration_us as f64 / 1e6
    );
    family(
        &mut o,
        "dirguard_last_audit_timestamp_seconds",
        "gauge",
        "When the last audit finished (Unix time).",
    );
    let _ = writeln!(
        o,
        "dirguard_last_audit_timestamp_seconds {}",
        s.totals.last_audit_unix_us as f64 / 1e6
    );
    family(
        &mut o,
        "dirguard_audit_interval_seconds",
        "gauge",
        "The configured DirGuardInterval (0: no live monitoring).",
    );
    let _ = writeln!(
        o,
        "dirguard_audit_interval_seconds {}",
        s.totals.interval.secs()
    );
    o
}

pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

pub fn render_html(s: &Snapshot<'_>) -> String {
    let mut o = String::with_capacity(2048 + s.dirs.len() * 300);
    let failing = s.count(Health::Failing);
    o.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>mod_dirguard status</title>\n<style>\nbody{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse;width:100%}\nth,td{border:1px solid #ccc;padding:.3em .5em;text-align:left;vertical-align:top}\nth{background:#eee}tr.failing td{background:#fde8e8}tr.unknown td{background:#f4f4f4}\ncode{font-size:90%;word-break:break-all}\n</style></head><body>\n<h1>mod_dirguard status</h1>\n");
    let _ = writeln!(
        o,
        "<p><strong>{}</strong> required directories: <strong>{failing} failing</strong>, {} healthy, {} not yet audited.</p>",
        s.dirs.len(),
        s.count(Health::Healthy),
        s.count(Health::Unknown)
    );
    let last = s
        .last_audit()
        .map(format_utc)
        .unwrap_or_else(|| "never".into());
    let _ = writeln!(
        o,
        "<p>Last audit: {} ({:.1} ms); audits: {}; repairs: {}; interval: {}; page generated {}.</p>",
        html_escape(&last),
        s.totals.last_audit_duration_us as f64 / 1000.0,
        s.totals.audits_total,
        s.totals.repairs_total,
        if s.totals.interval.is_off() { "live monitoring off".to_owned() } else { format!("{} s", s.totals.interval.secs()) },
        format_utc(s.now_unix_s)
    );
    if s.view == View::Vhost {
        o.push_str("<p>Requirements of this virtual host and the server-wide ones only; other virtual hosts are not shown here (<code>DirGuardStatusView vhost</code>).</p>\n");
    }
    o.push_str("<table>\n<tr><th>path</th><th>declared</th><th>access</th><th>state</th><th>since</th><th>fault</th><th>fix</th></tr>\n");
    for i in s.order() {
        let (d, r) = (&s.dirs[i], &s.records[i]);
        let since = if r.health == Health::Unknown {
            String::new()
        } else {
            format_utc(r.since_unix_s)
        };
        let fault = match r.fault_count {
            0 => String::new(),
            1 => r.what.clone(),
            n => format!("{} (and {} more; see the error log)", r.what, n - 1),
        };
        let _ = writeln!(
            o,
            "<tr class=\"{}\"><td><code>{}</code></td><td>{}<br><small>{}</small></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
            r.health.keyword(),
            html_escape(&path_text(d)),
            html_escape(&d.origin.to_string()),
            html_escape(&d.scope),
            d.access.keyword(),
            r.health.keyword(),
            since,
            html_escape(&fault),
            html_escape(&r.fix)
        );
    }
    o.push_str("</table>\n");
    if !s.explained.is_empty() {
        o.push_str("<h2>Explained responses</h2>\n<table>\n<tr><th>status</th><th>cause</th><th>responses</th></tr>\n");
        for (status, cause, count) in s.explained {
            let _ = writeln!(
                o,
                "<tr><td>{status}</td><td>{}</td><td>{count}</td></tr>",
                cause.name()
            );
        }
        o.push_str("</table>\n");
    }
    o.push_str("<p>Also as <a href=\"?format=json\">JSON</a> and <a href=\"?format=prometheus\">Prometheus metrics</a>.</p>\n</body></html>\n");
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::spec::{Access, Origin};

    fn sample() -> (Vec<Arc<RequiredDir>>, Vec<DirRecord>, Totals) {
        let mut odd = RequiredDir::new(
            "/srv/a\"b\\c\nd<e>",
            Access::ReadWrite,
            Origin {
                file: "x.conf".into(),
                line: 2,
            },
        );
        odd.min_free = Some(100);
        let dirs = vec![
            Arc::new(RequiredDir::new(
                "/srv/ok",
                Access::Read,
                Origin {
                    file: "x.conf".into(),
                    line: 1,
                },
            )),
            Arc::new(odd),
        ];
        let records = vec![
            DirRecord {
                health: Health::Healthy,
                since_unix_s: 10,
                free_bytes: Some(5),
                free_inodes: Some(6),
                ..DirRecord::default()
            },
            DirRecord {
                health: Health::Failing,
                kinds: 1,
                fault_count: 1,
                since_unix_s: 20,
                what: "is missing".into(),
                fix: "install -d '/srv/x'".into(),
                ..DirRecord::default()
            },
        ];
        let totals = Totals {
            interval: crate::core::settings::Interval::from_secs(5),
            audits_total: 3,
            repairs_total: 0,
            last_audit_unix_us: 30_000_000,
            last_audit_duration_us: 1500,
        };
        (dirs, records, totals)
    }

    #[test]
    fn a_page_without_shared_state_points_to_the_startup_line_that_says_why() {
        let line = unavailable_line();
        assert_eq!(
            (line.severity, line.tag, line.text.as_str()),
            (
                Severity::Error,
                messages::STATUS_UNAVAILABLE,
                "the status page has no shared state to show (see DG01304 at startup)"
            )
        );
    }

    #[test]
    fn format_comes_from_the_query_string() {
        assert_eq!(format_of(None), Some(Format::Html));
        assert_eq!(format_of(Some(b"format=json")), Some(Format::Json));
        assert_eq!(
            format_of(Some(b"x=1&format=prometheus")),
            Some(Format::Prometheus)
        );
        assert_eq!(format_of(Some(b"format=xml")), None);
    }

    #[test]
    fn json_lists_failing_first_and_escapes_paths() {
        let (dirs, records, totals) = sample();
        let s = Snapshot {
            view: View::All,
            dirs: &dirs,
            records: &records,
            totals: &totals,
            explained: &[(500, CauseLabel::Kind(FaultKind::Missing), 3)],
            now_unix_s: 40,
        };
        let j = render_json(&s);
        let failing_at = j.find("\"state\":\"failing\"").unwrap();
        let healthy_at = j.find("\"state\":\"healthy\"").unwrap();
        assert!(failing_at < healthy_at);
        assert!(j.contains(r#""path":"/srv/a\"b\\c\nd<e>""#), "{j}");
        assert!(j.contains(r#""fault":{"kinds":["missing"],"count":1,"message":"is missing","fix":"install -d '/srv/x'"}"#), "{j}");
        assert!(
            j.contains(r#""last_audit":{"at":"1970-01-01T00:00:30Z","duration_seconds":0.0015}"#),
            "{j}"
        );
    }

    #[test]
    fn prometheus_labels_are_escaped_and_families_typed() {
        let (dirs, records, totals) = sample();
        let s = Snapshot {
            view: View::All,
            dirs: &dirs,
            records: &records,
            totals: &totals,
            explained: &[(500, CauseLabel::Kind(FaultKind::Missing), 3)],
            now_unix_s: 40,
        };
        let p = render_prometheus(&s);
        assert!(
            p.contains(
                "dirguard_directory_healthy{path=\"/srv/a\\\"b\\\\c\\nd<e>\",scope=\"server\"} 0\n"
            ),
            "{p}"
        );
        assert!(p.contains("dirguard_directory_healthy{path=\"/srv/ok\",scope=\"server\"} 1\n"));
        assert!(p.contains("# TYPE dirguard_audits_total counter\ndirguard_audits_total 3\n"));
        assert!(
            p.contains("dirguard_explained_responses_total{cause=\"missing\",status=\"500\"} 3\n"),
            "{p}"
        );
        assert!(
            p.contains("dirguard_directory_min_free_bytes{path=\"/srv/a\\\"b\\\\c\\nd<e>\"} 100\n")
        );
        assert!(p.lines().all(|l| !l.is_empty()));
    }

    #[test]
    fn html_escapes_everything_it_shows() {
        let (dirs, records, totals) = sample();
        let s = Snapshot {
            view: View::All,
            dirs: &dirs,
            records: &records,
            totals: &totals,
            explained: &[(500, CauseLabel::Kind(FaultKind::Missing), 3)],
            now_unix_s: 40,
        };
        let h = render_html(&s);
        assert!(h.contains("/srv/a&quot;b\\c\nd&lt;e&gt;"));
        assert!(!h.contains("<e>"));
        assert!(h.contains("<strong>1 failing</strong>"));
    }

    fn declared(path: &str, line: u32, scope: &str) -> Arc<RequiredDir> {
        let mut d = RequiredDir::new(
            path,
            Access::ReadWrite,
            Origin {
                file: "sites.conf".into(),
                line,
            },
        );
        d.scope = scope.into();
        Arc::new(d)
    }

    fn failing(fix: &str) -> DirRecord {
        DirRecord {
            health: Health::Failing,
            kinds: 1,
            fault_count: 1,
            since_unix_s: 20,
            what: "is missing".into(),
            fix: fix.into(),
            ..DirRecord::default()
        }
    }

    /// The monitor's view of a shared server: one server-wide requirement, one of host A, one of
    /// host B, and host B declaring host A's path too (same path, its own declaration).
    fn shared_hosting() -> (Vec<Arc<RequiredDir>>, Vec<DirRecord>) {
        let dirs = vec![
            declared("/srv/shared", 1, "server"),
            declared("/srv/a/uploads", 3, "<VirtualHost a:80>"),
            declared("/srv/secret-customer/uploads", 7, "<VirtualHost b:80>"),
            declared("/srv/a/uploads", 8, "<VirtualHost b:80>"),
        ];
        let records = vec![
            DirRecord {
                health: Health::Healthy,
                since_unix_s: 10,
                ..DirRecord::default()
            },
            failing("install -d -o alice '/srv/a/uploads'"),
            failing("install -d -o bob '/srv/secret-customer/uploads'"),
            failing("install -d -o bob '/srv/a/uploads'"),
        ];
        (dirs, records)
    }

    #[test]
    fn the_vhost_view_shows_only_the_hosts_own_and_the_server_wide_requirements() {
        let (dirs, records) = shared_hosting();
        let visible = vec![dirs[0].clone(), dirs[1].clone()];
        let (shown, recs) = select_view(View::Vhost, &dirs, records, &visible);
        assert_eq!(shown.len(), 2);
        assert!(Arc::ptr_eq(&shown[0], &dirs[0]) && Arc::ptr_eq(&shown[1], &dirs[1]));
        // Each record stays with its directory.
        assert_eq!(recs[0].health, Health::Healthy);
        assert_eq!(recs[1].fix, "install -d -o alice '/srv/a/uploads'");
    }

    #[test]
    fn the_same_path_declared_by_another_host_is_not_shown_as_this_hosts() {
        let (dirs, records) = shared_hosting();
        let (shown, recs) = select_view(View::Vhost, &dirs, records, &[dirs[1].clone()]);
        assert_eq!(shown.len(), 1);
        assert_eq!(shown[0].origin.line, 3);
        assert!(!recs[0].fix.contains("bob"));
    }

    #[test]
    fn the_all_view_shows_every_requirement_in_order() {
        let (dirs, records) = shared_hosting();
        let (shown, recs) = select_view(View::All, &dirs, records.clone(), &[]);
        assert_eq!(shown.len(), dirs.len());
        assert!(shown.iter().zip(&dirs).all(|(a, b)| Arc::ptr_eq(a, b)));
        assert_eq!(recs, records);
        let (none, _) = select_view(View::Vhost, &dirs, records, &[]);
        assert!(none.is_empty());
    }

    #[test]
    fn no_format_of_the_vhost_view_names_another_host_and_totals_count_what_is_shown() {
        let (dirs, records) = shared_hosting();
        let visible = vec![dirs[0].clone(), dirs[1].clone()];
        let (shown, recs) = select_view(View::Vhost, &dirs, records, &visible);
        let totals = Totals::default();
        let s = Snapshot {
            view: View::Vhost,
            dirs: &shown,
            records: &recs,
            totals: &totals,
            explained: &[(500, CauseLabel::Kind(FaultKind::Missing), 3)],
            now_unix_s: 40,
        };
        let (json, prom, html) = (render_json(&s), render_prometheus(&s), render_html(&s));
        for out in [&json, &prom, &html] {
            assert!(
                !out.contains("secret-customer") && !out.contains("bob"),
                "{out}"
            );
            assert!(!out.contains("<VirtualHost b:80>") && !out.contains("sites.conf:8"));
        }
        assert!(
            json.contains(r#""totals":{"directories":2,"healthy":1,"failing":1,"unknown":0}"#),
            "{json}"
        );
        assert!(
            html.contains("<strong>2</strong> required directories"),
            "{html}"
        );
        assert!(html.contains("DirGuardStatusView vhost"));
        assert!(prom.contains("dirguard_directory_healthy{path=\"/srv/a/uploads\",scope=\"<VirtualHost a:80>\"} 0\n"), "{prom}");
    }

    #[test]
    fn the_view_keywords_match_their_variants() {
        assert_eq!(View::default(), View::Vhost);
        assert_eq!(View::from_index(0), Some(View::Vhost));
        assert_eq!(View::from_index(1), Some(View::All));
        assert_eq!(View::from_index(2), None);
        assert_eq!(View::KEYWORDS, ["vhost", "all"]);
        assert_eq!(View::parse("ALL"), Ok(View::All));
        assert_eq!(
            View::parse("everything"),
            Err("DirGuardStatusView: 'everything' is not one of vhost, all".to_owned())
        );
    }
}
