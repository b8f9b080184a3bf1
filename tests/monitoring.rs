//! Live monitoring against a real Apache: a directory removed while serving is reported once,
//! in the log, the JSON and the metrics; its recovery once; the handler exists only where
//! configured. (Restarts under load: tests/hardening.rs.)

mod common;
use common::{check_status, Apache};
use std::time::{Duration, Instant};

const STATUS: &str =
    "<Location /dirguard-status>\n  SetHandler dirguard-status\n  Require local\n</Location>";

/// Polls the JSON status until `path` has `state`; returns how long it took.
fn wait_for_state(a: &Apache, path: &str, state: &str, limit: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let (status, body) = a.get_body("/dirguard-status?format=json");
        assert_eq!(status, 200, "{body}");
        let parsed = check_status("json", &body).unwrap_or_else(|e| panic!("invalid JSON: {e}"));
        if parsed.lines().any(|l| l == format!("{state} {path}")) {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < limit,
            "{path} not {state} after {limit:?}:\n{body}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn prometheus(a: &Apache) -> String {
    let (status, body) = a.get_body("/dirguard-status?format=prometheus");
    assert_eq!(status, 200);
    check_status("prometheus", &body).unwrap_or_else(|e| panic!("not valid exposition format: {e}"))
}

#[test]
fn uploads_removed_while_serving_is_reported_once_and_its_recovery_once() {
    let mut a = Apache::new("live");
    let up = a.path("htdocs/uploads");
    std::fs::create_dir(&up).unwrap();
    common::sh(&format!("chmod 0777 '{}'", up.display()));
    let interval = 1;
    a.config(&format!(
        "DirGuardInterval {interval}\nDirGuardRequire {} access=rw min-free=1K\n{STATUS}",
        up.display()
    ))
    .allow("DG01301")
    .start();
    let p = up.display().to_string();
    wait_for_state(&a, &p, "healthy", Duration::from_secs(3));
    let metrics = prometheus(&a);
    assert!(
        metrics.contains(&format!(
            "dirguard_directory_healthy{{path=\"{p}\",scope=\"server\"}} 1"
        )),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!(
            "dirguard_directory_min_free_bytes{{path=\"{p}\"}} 1024"
        )),
        "{metrics}"
    );
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with(&format!("dirguard_directory_free_bytes{{path=\"{p}\"}} "))),
        "{metrics}"
    );

    std::fs::remove_dir(&up).unwrap();
    let took = wait_for_state(&a, &p, "failing", Duration::from_secs(interval + 1));
    eprintln!("failing visible after {took:?} (interval {interval} s)");
    let metrics = prometheus(&a);
    assert!(
        metrics.contains(&format!(
            "dirguard_directory_healthy{{path=\"{p}\",scope=\"server\"}} 0"
        )),
        "{metrics}"
    );
    let (_, json) = a.get_body("/dirguard-status?format=json");
    assert!(
        json.contains("\"kinds\":[\"missing\"]") && json.contains("install -d -m 0755"),
        "{json}"
    );

    std::fs::create_dir(&up).unwrap();
    common::sh(&format!("chmod 0777 '{}'", up.display()));
    wait_for_state(&a, &p, "healthy", Duration::from_secs(interval + 1));
    // A few more audits: still exactly one line each.
    std::thread::sleep(Duration::from_secs(2 * interval));
    let failing = a.lines_with("DG01301");
    assert_eq!(failing.len(), 1, "{}", a.log());
    assert!(
        failing[0].contains("FAILING: required directory")
            && failing[0].contains("fix: install -d"),
        "{}",
        failing[0]
    );
    let recovered = a.lines_with("DG01302");
    assert_eq!(recovered.len(), 1, "{}", a.log());
    assert!(
        recovered[0].contains("[dirguard:notice]") && recovered[0].contains("RECOVERED"),
        "{}",
        recovered[0]
    );
    assert!(prometheus(&a).contains("dirguard_audits_total "));
}

#[test]
fn every_format_is_valid_for_its_parser_even_with_awkward_paths() {
    let mut a = Apache::new("formats");
    let odd = a.path("htdocs/we\"ird\\ <dir> & 'quotes'");
    std::fs::create_dir(&odd).unwrap();
    let gone = a.path("gone");
    a.config(&format!(
        "DirGuardRequire \"{}\"\nDirGuardRequire {} access=rw\n{STATUS}",
        odd.display()
            .to_string()
            .replace('\\', "\\\\")
            .replace('"', "\\\""),
        gone.display()
    ))
    .allow("DG01101")
    .start();
    let (status, json) = a.get_body("/dirguard-status?format=json");
    assert_eq!(status, 200);
    let parsed = check_status("json", &json).unwrap();
    assert!(
        parsed.contains(&format!("healthy {}", odd.display())),
        "{parsed}"
    );
    assert!(
        parsed.starts_with(&format!("failing {}", gone.display())),
        "failing first: {parsed}"
    );
    let metrics = prometheus(&a);
    assert!(metrics.contains("dirguard_directory_healthy"), "{metrics}");
    let (status, html) = a.get_body("/dirguard-status");
    assert_eq!(status, 200);
    assert!(
        html.contains("we&quot;ird\\ &lt;dir&gt; &amp; &#39;quotes&#39;"),
        "{html}"
    );
    assert!(!html.contains("<script"), "no JavaScript");
    let (status, _) = a.get_body("/dirguard-status?format=xml");
    assert_eq!(status, 400);
}

#[test]
fn the_status_handler_exists_only_where_configured() {
    let mut a = Apache::new("nohandler");
    let d = a.path("htdocs");
    a.config(&format!("DirGuardRequire {}", d.display()))
        .start();
    for url in [
        "/dirguard-status",
        "/dirguard-status?format=json",
        "/?format=prometheus",
    ] {
        let (status, body) = a.get_body(url);
        assert_ne!(status, 200, "{url} must not be served: {body}");
        assert!(
            !body.contains(&d.display().to_string()),
            "{url} leaks a path: {body}"
        );
    }
    let mut b = Apache::new("handler-elsewhere");
    b.config(
        "<Location /private/status>\n  SetHandler dirguard-status\n  Require local\n</Location>",
    )
    .start();
    assert_eq!(b.get_body("/private/status?format=json").0, 200);
    assert_eq!(b.get_body("/private/other").0, 404);
    assert_eq!(b.get_body("/dirguard-status").0, 404);
}

#[test]
fn with_interval_zero_the_status_shows_the_startup_check() {
    let mut a = Apache::new("interval0");
    let gone = a.path("gone");
    a.config(&format!(
        "DirGuardInterval 0\nDirGuardRequire {}\n{STATUS}",
        gone.display()
    ))
    .allow("DG01101")
    .start();
    let (_, json) = a.get_body("/dirguard-status?format=json");
    assert!(
        json.contains("\"interval_seconds\":0") && json.contains("\"audits_total\":1"),
        "{json}"
    );
    assert!(check_status("json", &json)
        .unwrap()
        .contains(&format!("failing {}", gone.display())));
    std::thread::sleep(Duration::from_millis(1500));
    let (_, json) = a.get_body("/dirguard-status?format=json");
    assert!(
        json.contains("\"audits_total\":1"),
        "no live audits: {json}"
    );
}
