//! Request-time diagnosis against a real Apache: 5xx explained with cause and fix next to
//! Apache's own line, 503 before the application fails, internal redirects and subrequests,
//! 403 explained to the component, storm control, the access-log note, and no system call added
//! to a healthy request.

mod common;
use common::Apache;
use std::time::Duration;

/// The upload handler of the demo: writes into uploads, silently exits 1 when it cannot.
fn upload_cgi(uploads: &std::path::Path) -> String {
    format!(
        "#!/bin/sh\nexec 2>/dev/null\necho data > '{}'/upload.$$ || exit 1\nprintf 'Content-Type: text/plain\\r\\n\\r\\nstored\\n'\n",
        uploads.display()
    )
}

#[test]
fn a_silent_cgi_upload_failure_is_explained_with_the_path_and_the_fix() {
    let mut a = Apache::new("cgi");
    let uploads = a.path("htdocs/uploads");
    a.cgi("upload.cgi", &upload_cgi(&uploads))
        .config(&format!("DirGuardRequire {} access=rw", uploads.display()))
        .allow("DG01101")
        .allow("DG01502")
        .allow("End of script output before headers")
        .start();
    let (status, body) = a.get_body("/cgi-bin/upload.cgi");
    assert_eq!(status, 500, "{body}");
    std::thread::sleep(Duration::from_millis(200));
    let bare = a.lines_with("End of script output before headers");
    assert_eq!(bare.len(), 1, "Apache's own line: {}", a.log());
    let explained = a.lines_with("DG01502");
    assert_eq!(explained.len(), 1, "{}", a.log());
    let line = &explained[0];
    assert!(
        line.contains("500 for GET /cgi-bin/upload.cgi (handler cgi-script"),
        "{line}"
    );
    assert!(
        line.contains(&format!(
            "probable cause: required directory '{}' is missing",
            uploads.display()
        )),
        "{line}"
    );
    assert!(line.contains("log id "), "{line}");
    let fix = common::fix_of(line);
    assert!(
        fix.starts_with("install -d -m 0755") && fix.ends_with(&format!("'{}'", uploads.display())),
        "{fix}"
    );
    // The fix makes the upload work.
    common::sh(&fix);
    if !common::is_root() {
        common::sh(&format!("chmod 0777 '{}'", uploads.display()));
    }
    assert_eq!(a.get_body("/cgi-bin/upload.cgi").0, 200);
}

#[test]
fn a_500_without_filesystem_cause_says_so_plainly() {
    let mut a = Apache::new("htaccess");
    let broken = a.path("htdocs/broken");
    std::fs::create_dir(&broken).unwrap();
    std::fs::write(broken.join(".htaccess"), "ThisIsNotADirective on\n").unwrap();
    std::fs::write(broken.join("x.html"), "x").unwrap();
    common::sh(&format!("chmod -R a+rX '{}'", broken.display()));
    a.config(&format!(
        "<Directory {}>\n  AllowOverride All\n</Directory>",
        broken.display()
    ))
    .allow("ThisIsNotADirective")
    .start();
    assert_eq!(a.get_body("/broken/x.html").0, 500);
    std::thread::sleep(Duration::from_millis(200));
    let lines = a.lines_with("DG01503");
    assert_eq!(lines.len(), 1, "{}", a.log());
    // The request's own line gives the cause (the .htaccess Apache could not read): it is
    // pointed to, and no path is blamed.
    assert!(
        lines[0].contains("[dirguard:warn]")
            && lines[0]
                .contains("no filesystem cause: this request's own error line (from core) says: ")
            && lines[0].contains("Invalid command 'ThisIsNotADirective'"),
        "{}",
        lines[0]
    );
}

#[test]
fn on_failure_503_answers_before_the_application_with_retry_after_and_no_path() {
    let mut a = Apache::new("unavailable");
    let uploads = a.path("htdocs/uploads");
    a.cgi("upload.cgi", &upload_cgi(&uploads))
        .config(&format!(
            "DirGuardRequire {} access=rw\nDirGuardOnFailure 503\nDirGuardRetryAfter 120",
            uploads.display()
        ))
        .allow("DG01101")
        .allow("DG01501")
        .start();
    std::fs::write(a.path("htdocs/index.html"), "home").unwrap();
    common::sh(&format!(
        "chmod 0644 '{}'",
        a.path("htdocs/index.html").display()
    ));
    // The upload (a method that writes) needs the failing access=rw directory: 503.
    let (status, resp) = a.request("POST", "/cgi-bin/upload.cgi");
    assert_eq!(status, 503, "{resp}");
    // Readers are not turned away: GET and HEAD are safe methods (DirGuardSafeMethods).
    assert_eq!(a.get_body("/index.html"), (200, "home".to_owned()));
    assert_eq!(a.request("HEAD", "/index.html").0, 200);
    assert!(resp.contains("Retry-After: 120"), "{resp}");
    assert!(
        !resp.contains(&a.dir.display().to_string()),
        "the response names no path: {resp}"
    );
    std::thread::sleep(Duration::from_millis(200));
    let lines = a.lines_with("DG01501");
    assert_eq!(lines.len(), 1, "{}", a.log());
    assert!(
        lines[0].contains(&format!(
            "required directory '{}' is missing",
            uploads.display()
        )),
        "{}",
        lines[0]
    );
    assert!(
        a.lines_with("DG01502").is_empty(),
        "explained once, not again as a 503: {}",
        a.log()
    );
    assert!(
        a.lines_with("End of script output").is_empty(),
        "the CGI never ran"
    );
}

#[test]
fn internal_redirects_are_explained_once_and_subrequests_never_answer_503() {
    let mut a = Apache::new("redirects");
    let uploads = a.path("htdocs/uploads");
    std::fs::write(a.path("htdocs/oops.html"), "sorry").unwrap();
    let root = a.dir.clone();
    common::sh(&format!(
        "chmod 0644 '{}'",
        a.path("htdocs/oops.html").display()
    ));
    a.cgi("upload.cgi", &upload_cgi(&uploads))
        .config(&format!(
            "LoadModule dir_module /usr/lib/apache2/modules/mod_dir.so\n\
             DirectoryIndex /strict/index.html\n\
             Alias /strict {}/htdocs\n\
             DirGuardRequire {} access=rw\n\
             ErrorDocument 500 /oops.html\n\
             <Location /strict>\n  DirGuardOnFailure 503\n  DirGuardSafeMethods none\n</Location>",
            root.display(),
            uploads.display()
        ))
        .allow("DG01101")
        .allow("DG01501")
        .allow("DG01502")
        .allow("End of script output before headers")
        .start();
    // The CGI fails, the ErrorDocument is served by an internal redirect: one explanation.
    let (status, body) = a.get_body("/cgi-bin/upload.cgi");
    assert_eq!((status, body.as_str()), (500, "sorry"));
    // GET / finds its index through a subrequest to /strict/index.html: the subrequest is in
    // the 503 scope but never answers the client.
    assert_eq!(a.get_body("/").0, 200);
    // Requested directly, /strict/ is answered 503 (no method is safe there).
    assert_eq!(a.get_body("/strict/index.html").0, 503);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(a.lines_with("DG01502").len(), 1, "{}", a.log());
    assert_eq!(a.lines_with("DG01501").len(), 1, "{}", a.log());
}

#[test]
fn a_403_from_a_missing_search_permission_names_the_component() {
    require_root!("a directory www-data cannot enter needs Apache started as root");
    let mut a = Apache::new("forbidden");
    let private = a.path("htdocs/private");
    std::fs::create_dir(&private).unwrap();
    std::fs::write(private.join("page.html"), "x").unwrap();
    common::sh(&format!("chmod 0700 '{}'", private.display()));
    a.config("DirGuardExplain 5xx 403")
        .allow("AH00035")
        .allow("AH00529")
        .allow("DG01502")
        .start();
    assert_eq!(a.get_body("/private/page.html").0, 403);
    std::thread::sleep(Duration::from_millis(200));
    let lines = a.lines_with("DG01502");
    assert_eq!(lines.len(), 1, "{}", a.log());
    let line = &lines[0];
    assert!(line.contains("403 for GET /private/page.html"), "{line}");
    assert!(
        line.contains(&format!(
            "directory '{}' does not grant access=x (owner root, group root, mode 0700; missing x for the other class)",
            private.display()
        )),
        "{line}"
    );
    let fix = common::fix_of(line);
    assert_eq!(fix, format!("chmod o+x '{}'", private.display()));
    common::sh(&fix);
    assert_eq!(a.get_body("/private/page.html").0, 200);
}

#[test]
fn a_storm_of_failures_is_bounded_in_the_log_and_exact_in_the_counts() {
    let mut a = Apache::new("storm");
    let uploads = a.path("htdocs/uploads");
    let broken = a.path("htdocs/broken");
    std::fs::create_dir(&broken).unwrap();
    std::fs::write(broken.join(".htaccess"), "ThisIsNotADirective on\n").unwrap();
    common::sh(&format!("chmod -R a+rX '{}'", broken.display()));
    a.config(&format!(
        "DirGuardRequire {} access=rw\n<Directory {}>\n  AllowOverride All\n</Directory>\n\
         <Location /dirguard-status>\n  SetHandler dirguard-status\n  Require local\n</Location>",
        uploads.display(),
        broken.display()
    ))
    .allow("DG01101")
    .allow("DG01503")
    .allow("DG01504")
    .allow("ThisIsNotADirective")
    .start();
    let requests = 2000;
    let start = std::time::Instant::now();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let port = a.port;
            std::thread::spawn(move || {
                use std::io::{Read, Write};
                for _ in 0..requests / 4 {
                    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
                    s.write_all(b"GET /broken/x HTTP/1.0\r\n\r\n").unwrap();
                    let mut resp = Vec::new();
                    s.read_to_end(&mut resp).unwrap();
                    assert!(resp.starts_with(b"HTTP/1.1 500"));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let seconds = start.elapsed().as_secs() + 1;
    std::thread::sleep(Duration::from_millis(300));
    // Each response's own line (the broken .htaccess) is its cause: the failing uploads
    // directory in scope is never blamed for it.
    assert!(a.lines_with("DG01502").is_empty(), "{}", a.log());
    let full = a.lines_with("DG01503").len() as u64;
    let short = a.lines_with("DG01504").len() as u64;
    eprintln!(
        "{requests} failing requests in ~{seconds} s: {full} full lines, {short} short lines"
    );
    assert!(
        full >= 1 && full <= seconds + 1,
        "at most one full line per second: {full}"
    );
    assert!(
        short <= (seconds + 1) * 4,
        "short lines at repeats 1, 10, 100, 1000: {short}"
    );
    let (_, metrics) = a.get_body("/dirguard-status?format=prometheus");
    let parsed = common::check_status("prometheus", &metrics).unwrap();
    assert!(
        parsed.contains(&format!(
            "dirguard_explained_responses_total{{cause=\"none\",status=\"500\"}} {requests}"
        )),
        "exact count: {parsed}"
    );
}

#[test]
fn the_cause_is_available_to_access_logs() {
    let mut a = Apache::new("note");
    let uploads = a.path("htdocs/uploads");
    let access = a.path("access.log");
    a.cgi("upload.cgi", &upload_cgi(&uploads))
        .config(&format!(
            "DirGuardRequire {} access=rw\nLogFormat \"%>s %{{dirguard-cause}}n\" dg\nCustomLog {} dg",
            uploads.display(),
            access.display()
        ))
        .allow("DG01101")
        .allow("DG01502")
        .allow("End of script output before headers")
        .start();
    a.get_body("/cgi-bin/upload.cgi");
    a.get_body("/index.html");
    a.stop();
    let log = std::fs::read_to_string(&access).unwrap();
    assert_eq!(
        log,
        format!("500 missing:{}\n200 -\n", uploads.display()),
        "{log}"
    );
}

/// File-system system calls of `requests` healthy requests against `apache2 -X`, by name.
fn fs_syscalls(a: &mut Apache, requests: usize) -> std::collections::BTreeMap<String, u64> {
    use std::process::{Command, Stdio};
    let mut server = Command::new(common::apache2())
        .arg("-X")
        .arg("-f")
        .arg(&a.conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", a.port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "apache2 -X did not answer"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    for _ in 0..5 {
        a.get_body("/index.html"); // warm up
    }
    let summary = a.path("strace.txt");
    let mut strace = Command::new("strace")
        .args(["-f", "-c", "-o"])
        .arg(&summary)
        .arg("-p")
        .arg(server.id().to_string())
        .stderr(Stdio::null())
        .spawn()
        .expect("strace runs (make deps installs it)");
    std::thread::sleep(Duration::from_millis(500));
    for _ in 0..requests {
        assert_eq!(a.get_body("/index.html").0, 200);
    }
    std::thread::sleep(Duration::from_millis(200));
    // SAFETY: signalling processes this test started.
    unsafe {
        libc::kill(strace.id() as i32, libc::SIGINT);
    }
    strace.wait().unwrap();
    // SIGINT: prefork in one-process mode does not stop on SIGTERM. Never wait forever.
    // SAFETY: as above.
    unsafe {
        libc::kill(server.id() as i32, libc::SIGINT);
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while server.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = server.kill();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    const FS: &[&str] = &[
        "stat",
        "lstat",
        "fstat",
        "newfstatat",
        "statx",
        "statfs",
        "fstatfs",
        "open",
        "openat",
        "access",
        "faccessat",
        "faccessat2",
        "getxattr",
        "lgetxattr",
        "fgetxattr",
        "readlink",
        "readlinkat",
        "getdents64",
        "mkdir",
        "mkdirat",
    ];
    let text = std::fs::read_to_string(&summary).unwrap();
    let mut counts = std::collections::BTreeMap::new();
    for line in text.lines() {
        // "% time seconds usecs/call calls [errors] syscall"
        let f: Vec<&str> = line.split_whitespace().collect();
        let (Some(name), Some(calls)) = (f.last(), f.get(3)) else {
            continue;
        };
        if FS.contains(name) && f.len() >= 5 {
            if let Ok(n) = calls.parse::<u64>() {
                counts.insert((*name).to_owned(), n);
            }
        }
    }
    counts
}

#[test]
fn a_healthy_request_makes_no_extra_filesystem_system_call() {
    if std::process::Command::new("strace")
        .arg("-V")
        .output()
        .is_err()
    {
        panic!("strace is missing: run make deps");
    }
    let requests = 50;
    let mut with = Apache::new("strace-with");
    let dirs: Vec<String> = (0..10)
        .map(|i| {
            let d = with.path(&format!("htdocs/d{i}"));
            std::fs::create_dir(&d).unwrap();
            common::sh(&format!("chmod 0777 '{}'", d.display()));
            format!("DirGuardRequire {} access=rw", d.display())
        })
        .collect();
    with.config(&format!(
        "{}\nDirGuardExplain 5xx\nDirGuardOnFailure 503\nDirGuardInterval 0",
        dirs.join("\n")
    ));
    with.configtest();
    let with_counts = fs_syscalls(&mut with, requests);
    let mut without = Apache::new("strace-without");
    without.without_module();
    without.configtest();
    let without_counts = fs_syscalls(&mut without, requests);
    eprintln!("file-system system calls for {requests} requests: with the module {with_counts:?}, without {without_counts:?}");
    assert_eq!(with_counts, without_counts);
}
