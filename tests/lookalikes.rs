//! Precision: failures that look like filesystem faults and are not. A required directory in
//! scope is failing throughout, and each of these responses has another cause that the
//! request's own error line names: an invalid response header from a CGI (AH02430), a rewrite
//! loop (AH00124), a proxy backend that is down (AH01114), a FastCGI handler whose server is
//! down (a handler that serves no file). None of them is blamed on the failing directory or on
//! a missing file: zero false attributions; each explanation points to the line that gives the
//! real cause. And one that *is* a filesystem fault, named only by a CGI's own stderr, is
//! explained with the directory its check confirms.

mod common;
use common::Apache;
use std::time::Duration;

#[test]
fn look_alikes_are_never_blamed_on_a_failing_directory_or_a_missing_file() {
    let mut a = Apache::new("lookalikes");
    let uploads = a.path("htdocs/uploads"); // declared, and missing: failing all along
    let docroot = a.path("htdocs");
    a.cgi(
        "badheader.cgi",
        "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\nX-Bad: a\\001b\\r\\n\\r\\nbody\\n'\n",
    )
    .config(&format!(
        "LoadModule rewrite_module /usr/lib/apache2/modules/mod_rewrite.so\n\
         LoadModule proxy_module /usr/lib/apache2/modules/mod_proxy.so\n\
         LoadModule proxy_http_module /usr/lib/apache2/modules/mod_proxy_http.so\n\
         LoadModule proxy_fcgi_module /usr/lib/apache2/modules/mod_proxy_fcgi.so\n\
         DirGuardRequire {uploads} access=rw\n\
         DirGuardExplain 5xx\n\
         ProxyPass /api http://127.0.0.1:1/\n\
         <Location /fcgi-down>\n  SetHandler \"proxy:fcgi://127.0.0.1:1\"\n</Location>\n\
         <Directory {docroot}>\n  RewriteEngine On\n  RewriteRule ^loop(.*)$ loop/x$1\n</Directory>",
        uploads = uploads.display(),
        docroot = docroot.display()
    ))
    .allow("DG01101")
    .allow("AH02430")
    .allow("AH00124")
    .allow("AH01114")
    .allow("AH00957")
    .allow("AH01079")
    .allow("AH00959")
    .start();
    let cases = [
        ("/cgi-bin/badheader.cgi", 500, "AH02430"),
        ("/loop", 500, "AH00124"),
        ("/api/x", 503, "AH01114"),
        ("/fcgi-down", 503, "AH01079"),
    ];
    for (path, status, tag) in cases {
        let before = a.log().lines().count();
        assert_eq!(a.get_body(path).0, status, "{path}\n{}", a.log());
        std::thread::sleep(Duration::from_millis(300));
        let log = a.log();
        let new: Vec<&str> = log.lines().skip(before).collect();
        assert!(
            !new.iter().any(|l| l.contains("DG01502")),
            "{path}: a cause was named for a look-alike:\n{}",
            new.join("\n")
        );
        let line = new
            .iter()
            .find(|l| l.contains("DG01503"))
            .unwrap_or_else(|| panic!("{path}: no explanation\n{}", new.join("\n")));
        assert!(
            line.contains(&format!("this request's own error line {tag} (from ")),
            "{path}: the explanation points to {tag}: {line}"
        );
        assert!(
            !line.contains("uploads") && !line.contains("does not exist"),
            "{path}: {line}"
        );
        // The explanation stays short enough for Apache's line limit, whatever the URI.
        assert!(line.len() < 4000, "{path}: {} bytes", line.len());
    }
}

#[test]
fn a_directory_a_cgis_own_stderr_names_is_explained_only_when_its_check_confirms_it() {
    if common::mpm() != "prefork" {
        // mod_cgi (prefork) relays a CGI's stderr as the request's own AH01215 lines; mod_cgid
        // (threaded MPMs) lets the script write into the error log file directly, with no
        // request to attach it to, so there is no line of the request to read.
        eprintln!("a CGI's stderr is a request's line under mod_cgi: covered by the prefork run");
        return;
    }
    let mut a = Apache::new("cgi-stderr");
    let data = a.path("data/reports");
    let present = a.path("present");
    common::mkdir(&present, 0o777);
    a.cgi(
        "report.cgi",
        &format!(
            "#!/bin/sh\nmkdir '{0}/x' 2>/dev/null; echo r > '{1}/out.txt' || exit 1\nprintf 'Content-Type: text/plain\\r\\n\\r\\nok\\n'\n",
            present.display(),
            data.display()
        ),
    )
    .cgi(
        "liar.cgi",
        &format!(
            "#!/bin/sh\necho \"cannot create {}/out.txt: Directory nonexistent\" >&2\nexit 1\n",
            present.display()
        ),
    )
    .allow("AH01215")
    .allow("End of script output before headers")
    .allow("DG01502")
    .start();
    // The shell says the directory does not exist; the check confirms it and names the first
    // missing component, with a fix that makes the script work.
    assert_eq!(a.get_body("/cgi-bin/report.cgi").0, 500);
    std::thread::sleep(Duration::from_millis(300));
    let explained = a.lines_with("DG01502");
    assert_eq!(explained.len(), 1, "{}", a.log());
    assert!(
        explained[0].contains(&format!("directory '{}' is missing", data.display()))
            && explained[0].contains("named by this request's error line AH01215 from cgi"),
        "{}",
        explained[0]
    );
    common::sh(&common::fix_of(&explained[0]));
    assert_eq!(a.get_body("/cgi-bin/report.cgi").0, 200, "{}", a.log());
    // A line naming a directory that is fine is never reported as the cause.
    assert_eq!(a.get_body("/cgi-bin/liar.cgi").0, 500);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(a.lines_with("DG01502").len(), 1, "{}", a.log());
    assert!(
        !a.log()
            .contains(&format!("directory '{}'", present.display())),
        "{}",
        a.log()
    );
}
