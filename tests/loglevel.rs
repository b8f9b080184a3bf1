//! `LogLevel dirguard:debug` (and `trace1`…`trace8`) explains the module's decisions in the
//! error log of the server it is set for, and says nothing at the default level.

mod common;
use common::Apache;
use std::time::{Duration, Instant};

/// The module's reasoning records (`log` crate records, tagged DG00007).
fn records(log: &str) -> Vec<&str> {
    log.lines().filter(|l| l.contains("DG00007")).collect()
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn debug_says_why_a_directory_fails_and_how_the_audit_went_and_the_default_level_says_nothing() {
    let mut a = Apache::new("loglevel-debug-records");
    let gone = a.path("htdocs/wp-content/uploads");
    let htdocs = a.path("htdocs");
    a.config(&format!(
        "LogLevel warn dirguard:debug\nDirGuardInterval 0\n\
         DirGuardRequire {} access=rw\nDirGuardRequire {} access=r",
        gone.display(),
        htdocs.display()
    ))
    .allow("DG01101")
    .start();
    let log = a.log();
    let debug: Vec<&str> = records(&log)
        .into_iter()
        .filter(|l| l.contains("[dirguard:debug]"))
        .collect();
    let with = |needle: &str| debug.iter().filter(|l| l.contains(needle)).count();
    // The evaluator names the failed call and the first missing component.
    let lstat = format!(
        "DG00007: evaluator: '{}': lstat: No such file or directory: missing (first missing component '{}')",
        gone.display(),
        a.path("htdocs/wp-content").display()
    );
    assert!(with(&lstat) >= 1, "{lstat}\n{log}");
    // The audit: each directory's outcome and duration, then the whole audit.
    assert!(
        with(&format!(
            "DG00007: audit: '{}': checked in ",
            gone.display()
        )) >= 1
            && with("ms: failing (missing)") >= 1,
        "{log}"
    );
    assert!(
        with(&format!(
            "DG00007: audit: '{}': checked in ",
            htdocs.display()
        )) >= 1
            && with("ms: passes") >= 1,
        "{log}"
    );
    assert!(
        with("DG00007: audit: 2 directories audited in ") >= 1
            && with(": 1 failing, 0 unknown") >= 1,
        "{log}"
    );
    // Who the checks ran as, and where that came from.
    assert!(with("DG00007: identity: User ") >= 1, "{log}");
    // Nothing deeper than debug, and every record is escaped like any other line.
    assert!(!log.contains("[dirguard:trace"), "{log}");
    assert_eq!(
        records(&log).len(),
        debug.len(),
        "records at other levels: {log}"
    );
    a.stop();

    let mut b = Apache::new("loglevel-default-records");
    let gone = b.path("htdocs/wp-content/uploads");
    b.config(&format!("DirGuardRequire {} access=rw", gone.display()))
        .allow("DG01101")
        .start();
    assert_eq!(b.lines_with("DG01101").len(), 1, "{}", b.log());
    assert!(records(&b.log()).is_empty(), "{}", b.log());
}

#[test]
fn trace_levels_add_detail_and_each_level_shows_only_its_own() {
    let mut a = Apache::new("loglevel-trace");
    let htdocs = a.path("htdocs");
    a.config(&format!(
        "LogLevel warn dirguard:trace3\nDirGuardInterval 1\nDirGuardRequire {} access=r",
        htdocs.display()
    ))
    .start();
    // trace3: every child's tick that is not due.
    wait_for("a monitor tick at trace3", || {
        a.log().contains("[dirguard:trace3]")
    });
    let log = a.log();
    // trace1: the checks that passed, with the class that decided.
    assert!(
        log.lines().any(|l| l.contains("[dirguard:trace1]")
            && l.contains(&format!(
                "DG00007: evaluator: '{}': access r (r-x) granted for uid ",
                htdocs.display()
            ))
            && l.contains(" class (owner uid ")),
        "{log}"
    );
    // trace2: the ACL cache.
    assert!(
        log.lines().any(|l| l.contains("[dirguard:trace2]")
            && l.contains(&format!(
                "DG00007: evaluator: ACL cache miss for '{}'",
                htdocs.display()
            ))),
        "{log}"
    );
    // trace3: what each child does on every watchdog tick.
    assert!(
        log.lines().any(|l| l.contains("[dirguard:trace3]")
            && l.contains(": no audit due, or another child holds the lease")),
        "{log}"
    );
    // The live monitor's audits at debug: lease, start, published.
    wait_for("a published audit", || {
        a.log().contains("DG00007: monitor: audit #2 published:")
    });
    let log = a.log();
    assert!(log.contains(": audit lease taken (token "), "{log}");
    a.stop();

    // trace1 shows trace1 and above only.
    let mut b = Apache::new("loglevel-trace1");
    let htdocs = b.path("htdocs");
    b.config(&format!(
        "LogLevel warn dirguard:trace1\nDirGuardInterval 1\nDirGuardRequire {} access=r",
        htdocs.display()
    ))
    .start();
    wait_for("an audit by the live monitor", || {
        b.log().contains("DG00007: monitor: audit #2 published:")
    });
    let log = b.log();
    assert!(log.contains("[dirguard:trace1]"), "{log}");
    assert!(
        !log.contains("[dirguard:trace2]") && !log.contains("[dirguard:trace3]"),
        "{log}"
    );
}

/// The upload handler of the demo: writes into uploads, silently exits 1 when it cannot.
fn upload_cgi(uploads: &std::path::Path) -> String {
    format!(
        "#!/bin/sh\nexec 2>/dev/null\necho data > '{}'/upload.$$ || exit 1\nprintf 'Content-Type: text/plain\\r\\n\\r\\nstored\\n'\n",
        uploads.display()
    )
}

#[test]
fn debug_in_a_virtual_host_explains_its_5xx_in_its_own_error_log_only() {
    let mut a = Apache::new("loglevel-vhost");
    let uploads = a.path("htdocs/uploads");
    let vhost_log = a.path("b-error.log");
    let port = a.port;
    a.cgi("upload.cgi", &upload_cgi(&uploads))
        .config(&format!(
            "DirGuardExplain 5xx\nDirGuardInterval 0\nDirGuardRequire {uploads} access=rw\n\
             <VirtualHost 127.0.0.1:{port}>\n  ServerName a.test\n</VirtualHost>\n\
             <VirtualHost 127.0.0.1:{port}>\n  ServerName b.test\n  ErrorLog {vhost_log}\n  LogLevel warn dirguard:debug\n</VirtualHost>",
            uploads = uploads.display(),
            vhost_log = vhost_log.display(),
        ))
        .allow("DG01101")
        .allow("DG01502")
        .allow("DG01504")
        .allow("End of script output before headers")
        .start();
    let vhost = || std::fs::read_to_string(&vhost_log).unwrap_or_default();

    let (status, body) = a.get_host("b.test", "/cgi-bin/upload.cgi");
    assert_eq!(status, 500, "{body}");
    wait_for("b.test's explanation", || vhost().contains("DG01502"));
    let log = vhost();
    let explain: Vec<&str> = records(&log)
        .into_iter()
        .filter(|l| l.contains("[dirguard:debug]") && l.contains("DG00007: explain: "))
        .collect();
    let script = a.path("cgi-bin/upload.cgi");
    let decided = |needle: &str| explain.iter().any(|l| l.contains(needle));
    // Which directories were considered, in which order, and the cause chosen.
    assert!(
        decided(&format!(
            "status 500, requested file '{}'; 1 required directory in scope: '{}'; a server error: the required directories first",
            script.display(),
            uploads.display()
        )),
        "{log}"
    );
    assert!(
        decided("checking 1 of 1 required directories and the requested file's path fresh, for at most 250.00 ms"),
        "{log}"
    );
    assert!(
        decided(&format!(
            "cause chosen by the fresh check: missing:{} (a failing required directory in scope, the first in configuration order)",
            uploads.display()
        )),
        "{log}"
    );
    // Request records carry the request's client and log id, like the DG01502 line.
    assert!(
        explain.iter().all(|l| l.contains("[client 127.0.0.1:")),
        "{log}"
    );
    // The main server runs at warn: none of the module's records there.
    assert!(records(&a.log()).is_empty(), "{}", a.log());

    // The other virtual host, at the main server's level, explains without records.
    let (status, _) = a.get_host("a.test", "/cgi-bin/upload.cgi");
    assert_eq!(status, 500);
    wait_for("a.test's explanation", || {
        a.log().contains("DG01502") || a.log().contains("DG01504")
    });
    assert!(records(&a.log()).is_empty(), "{}", a.log());
    assert_eq!(
        records(&vhost()).len(),
        records(&log).len(),
        "a.test's request logged into b.test's error log: {}",
        vhost()
    );
}

#[test]
fn debug_in_a_directory_section_explains_the_requests_there_only() {
    let mut a = Apache::new("loglevel-section");
    let uploads = a.path("htdocs/uploads");
    let cgi_bin = a.path("cgi-bin");
    a.cgi("upload.cgi", &upload_cgi(&uploads))
        .config(&format!(
            "DirGuardInterval 0\nDirGuardRequire {} access=rw\n\
             <Directory {}>\n  LogLevel warn dirguard:debug\n</Directory>",
            uploads.display(),
            cgi_bin.display()
        ))
        .allow("DG01101")
        .allow("DG01502")
        .allow("End of script output before headers")
        .start();
    // The server itself is at warn: its startup check wrote no record.
    assert!(records(&a.log()).is_empty(), "{}", a.log());
    let (status, _) = a.get("/cgi-bin/upload.cgi");
    assert_eq!(status, 500);
    wait_for("the explanation", || a.log().contains("DG01502"));
    let log = a.log();
    let got = records(&log);
    assert!(
        got.len() >= 3 && got.iter().all(|l| l.contains("DG00007: explain: ")),
        "{log}"
    );
}

/// Apache reloads the module at every restart (its statics survive when a worker thread kept
/// it mapped): each generation filters by its own configuration.
#[test]
fn each_restart_filters_by_its_own_configuration() {
    let mut a = Apache::new("loglevel-restart");
    let gone = a.path("gone");
    a.config(&format!(
        "LogLevel warn dirguard:debug\nDirGuardInterval 0\nDirGuardRequire {}",
        gone.display()
    ))
    .allow("DG01101")
    .start();
    let at_debug = records(&a.log()).len();
    assert!(at_debug > 0, "{}", a.log());
    // A later plain `LogLevel` resets every module's level.
    a.config("LogLevel warn");
    a.graceful();
    assert_eq!(a.lines_with("DG01101").len(), 2, "{}", a.log());
    assert_eq!(records(&a.log()).len(), at_debug, "{}", a.log());
    a.config("LogLevel warn dirguard:debug");
    a.restart();
    assert_eq!(a.lines_with("DG01101").len(), 3, "{}", a.log());
    assert!(records(&a.log()).len() >= 2 * at_debug, "{}", a.log());
    a.assert_no_child_crash_in_module();
}

#[test]
fn configtest_shows_the_reasoning_when_debug_is_configured() {
    let mut a = Apache::new("loglevel-configtest");
    let gone = a.path("gone");
    a.config(&format!(
        "LogLevel warn dirguard:debug\nDirGuardRequire {}",
        gone.display()
    ));
    let (ok, out) = a.configtest();
    assert!(ok, "{out}");
    assert!(
        out.contains(&format!(
            "DG00007: evaluator: '{}': lstat: No such file or directory: missing",
            gone.display()
        )),
        "{out}"
    );

    let mut b = Apache::new("loglevel-configtest-default");
    let gone = b.path("gone");
    b.config(&format!("DirGuardRequire {}", gone.display()));
    let (ok, out) = b.configtest();
    assert!(ok, "{out}");
    assert!(!out.contains("DG00007"), "{out}");
}
