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
    // Other methods: 405, naming the one that works (RFC 9110 requires Allow on a 405).
    let (status, resp) =
        b.send("POST /private/status HTTP/1.0\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(status, 405, "{resp}");
    let allow = resp
        .lines()
        .find_map(|l| l.strip_prefix("Allow: "))
        .unwrap_or_default();
    assert!(allow.split(',').any(|m| m.trim() == "GET"), "{resp}");
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

/// Shared hosting: a customer with `AllowOverride FileInfo` enables the status page in an
/// .htaccess of their own. It must show their virtual host's requirements (and the server-wide
/// ones), never another customer's path, fault or fix; only the server's own configuration can
/// widen a page to every virtual host, and an .htaccess cannot.
#[test]
fn a_status_page_enabled_in_htaccess_shows_only_its_own_virtual_host() {
    let mut a = Apache::new("views");
    let root = a.dir.clone();
    let (site_a, site_b) = (root.join("site-a"), root.join("site-b"));
    let secret = root.join("secret-customer/private-uploads");
    let htaccess = |dir: &str, text: &str| {
        let d = root.join(dir);
        common::mkdir(&d, 0o755);
        std::fs::write(d.join(".htaccess"), text).unwrap();
        std::fs::set_permissions(
            d.join(".htaccess"),
            std::os::unix::fs::PermissionsExt::from_mode(0o644),
        )
        .unwrap();
    };
    htaccess("site-a/status", "SetHandler dirguard-status\n");
    htaccess("site-a/wide", "DirGuardStatusView all\n");
    htaccess("site-a/listed", "DirGuardStatusView all\n");
    htaccess("site-b/status", "SetHandler dirguard-status\n");
    a.config(&format!(
        "DirGuardRequire {htdocs} access=r\n\
         <Location /dirguard-status>\n  SetHandler dirguard-status\n  DirGuardStatusView all\n  Require local\n</Location>\n\
         <Directory {a}>\n  AllowOverride FileInfo\n</Directory>\n\
         <Directory {a}/listed>\n  AllowOverrideList DirGuardStatusView\n</Directory>\n\
         <Directory {b}>\n  AllowOverride FileInfo\n</Directory>\n\
         <VirtualHost 127.0.0.1:{port}>\n  ServerName a.test\n  DocumentRoot {a}\n  DirGuardRequire {a} access=r\n</VirtualHost>\n\
         <VirtualHost 127.0.0.1:{port}>\n  ServerName b.test\n  DocumentRoot {b}\n  DirGuardRequire {secret} access=rw owner=www-data group=www-data\n</VirtualHost>",
        htdocs = a.path("htdocs").display(),
        a = site_a.display(),
        b = site_b.display(),
        secret = secret.display(),
        port = a.port,
    ))
    .allow("DG01101")
    .allow("DirGuardStatusView not allowed here")
    .allow("DirGuardStatusView cannot occur within htaccess files")
    .start();
    let b_fix = common::fix_of(&a.lines_with("DG01101")[0]);
    assert!(
        b_fix.contains("secret-customer") && b_fix.contains("www-data"),
        "{b_fix}"
    );
    let secret = secret.display().to_string();
    let formats = ["", "?format=json", "?format=prometheus"];
    let parsed = |kind: &str, body: &str| match kind {
        "?format=json" => check_status("json", body).unwrap(),
        "?format=prometheus" => check_status("prometheus", body).unwrap(),
        _ => body.to_owned(),
    };

    // Customer A's own page: A's requirement and the server-wide one, nothing of B's.
    for f in formats {
        let (status, body) = a.get_host("a.test", &format!("/status/{f}"));
        assert_eq!(status, 200, "/status/{f}: {body}");
        parsed(f, &body);
        assert!(
            !body.contains("secret-customer")
                && !body.contains(&b_fix)
                && !body.contains("www-data"),
            "A's page {f} shows B's requirement:\n{body}"
        );
        assert!(
            body.contains(&site_a.display().to_string())
                && body.contains(&a.path("htdocs").display().to_string()),
            "A's page {f} lacks A's or the server-wide requirement:\n{body}"
        );
    }
    let (_, json) = a.get_host("a.test", "/status/?format=json");
    assert!(
        json.contains("\"totals\":{\"directories\":2,\"healthy\":2,\"failing\":0"),
        "totals count what is shown: {json}"
    );
    // Customer B's page shows B's own failing directory.
    let (status, json) = a.get_host("b.test", "/status/?format=json");
    assert_eq!(status, 200);
    assert!(
        check_status("json", &json)
            .unwrap()
            .contains(&format!("failing {secret}")),
        "{json}"
    );
    assert!(!json.contains(&site_a.display().to_string()), "{json}");

    // The administrator's page, with DirGuardStatusView all in the server configuration: all.
    for host in ["a.test", "b.test"] {
        for f in formats {
            let (status, body) = a.get_host(host, &format!("/dirguard-status{f}"));
            assert_eq!(status, 200, "{host} /dirguard-status{f}: {body}");
            let shown = parsed(f, &body);
            assert!(shown.contains(&secret), "{host} {f}:\n{body}");
        }
        let (_, json) = a.get_host(host, "/dirguard-status?format=json");
        assert!(json.contains("\"totals\":{\"directories\":3,"), "{json}");
    }

    // The full view cannot be chosen from an .htaccess: Apache refuses the directive, and so
    // does the module when an AllowOverrideList would let it through.
    let (status, body) = a.get_host("a.test", "/wide/");
    assert_eq!(status, 500, "{body}");
    assert!(!body.contains("secret-customer"));
    // Apache's own line (the module's explanation of the 500 quotes it: not counted).
    let apaches = |needle: &str| {
        a.lines_with(needle)
            .iter()
            .filter(|l| !l.contains("[dirguard:"))
            .count()
    };
    assert_eq!(
        apaches("DirGuardStatusView not allowed here"),
        1,
        "{}",
        a.log()
    );
    let (status, body) = a.get_host("a.test", "/listed/");
    assert_eq!(status, 500, "{body}");
    assert!(!body.contains("secret-customer"));
    assert_eq!(
        apaches("DirGuardStatusView cannot occur within htaccess files"),
        1,
        "{}",
        a.log()
    );
}
