//! A real WordPress (Debian's package, its own MariaDB, PHP through each wiring people use)
//! behind Apache with the module loaded: a healthy REST media upload works, and nothing
//! unexpected reaches the logs. See tests/common/wordpress.rs for the harness.

mod common;

use common::wordpress::{owner_of, uid_of, utc_year_month, Wiring, WordPress, PROBE_WARNING};
use common::Apache;
use std::time::Instant;

/// One healthy upload and a front page, with everything a working site shows: 201 with the
/// file where WordPress says it put it (in this month's folder of a wp-content/uploads it
/// created, owned by the user PHP runs as), its thumbnail (GD ran), Apache serving the file,
/// the front page rendered by the theme, and no PHP or MariaDB message anywhere.
fn assert_healthy(wp: &WordPress) {
    let what = format!("{} (PHP as {})", wp.wiring, wp.app_user);
    assert!(
        !wp.uploads().exists(),
        "{what}: wp-content/uploads exists before the first upload"
    );
    let before = utc_year_month();
    let r = wp.upload();
    let after = utc_year_month();
    assert_eq!(
        r.status,
        201,
        "{what}: upload\n{r}\n--- error log:\n{}\n--- php-fpm log:\n{}",
        wp.apache.log(),
        wp.fpm_log()
    );
    let file = wp.uploaded_file(&r);
    let rel = file.strip_prefix(wp.site()).unwrap().display().to_string();
    assert!(
        [&before, &after]
            .iter()
            .any(|ym| rel == format!("wp-content/uploads/{ym}/dg-test.png")),
        "{what}: uploaded to {rel}"
    );
    assert!(file.is_file(), "{what}: {} is missing", file.display());
    let thumbnail = file.with_file_name("dg-test-150x150.png");
    assert!(
        thumbnail.is_file(),
        "{what}: no thumbnail {}\n{r}",
        thumbnail.display()
    );
    let uid = uid_of(&wp.app_user);
    for p in [&wp.uploads(), &file, &thumbnail] {
        assert_eq!(owner_of(p), uid, "{what}: owner of {}", p.display());
    }

    let served = wp.get(&format!("/{rel}"));
    assert_eq!(served.status, 200, "{what}: GET /{rel}\n{served}");
    assert_eq!(served.header("Content-Type"), Some("image/png"), "{served}");

    let front = wp.get("/");
    assert_eq!(front.status, 200, "{what}: GET /\n{front}");
    assert!(
        front.body.contains("<title>dirguard test</title>")
            && front.body.contains("twentytwentythree"),
        "{what}: the front page is not the theme's\n{front}"
    );

    let php = wp.php_messages();
    assert!(php.is_empty(), "{what}: PHP said:\n{}", php.join("\n"));
    let db = wp.db_errors();
    assert!(db.is_empty(), "{what}: MariaDB said:\n{}", db.join("\n"));
}

/// Stops everything, then looks at the complete logs: no PHP message in any (php-fpm copies
/// its workers' stderr with a delay), and Apache's drop fails the test on error-log lines it
/// did not allow.
fn stop_and_check(mut wp: WordPress) {
    wp.stop();
    let php = wp.php_messages();
    assert!(
        php.is_empty(),
        "{}: PHP said:\n{}",
        wp.wiring,
        php.join("\n")
    );
}

#[test]
fn healthy_upload_is_201_under_every_wiring() {
    require_root!("WordPress runs as www-data and its own MariaDB as root");
    for wiring in Wiring::for_this_mpm() {
        let t = Instant::now();
        let mut wp = WordPress::new(Apache::new(&format!("wp-{wiring}")), wiring, "www-data");
        wp.apache.start();
        assert_healthy(&wp);
        let workers = wp.fpm_worker_uids();
        assert!(
            workers.iter().all(|&u| u == uid_of("www-data")),
            "{wiring}: pool workers run as {workers:?}"
        );

        // The checks above can see PHP's messages through this wiring: a warning PHP logs
        // reaches Apache's log, as an error line through mod_proxy_fcgi, at PHP's own level
        // under mod_php.
        let warned = wp.provoke_php_warning();
        let expected = if wiring.uses_fpm() {
            format!(
                "[proxy_fcgi:error]|AH01071: Got error 'PHP message: PHP Warning:  {PROBE_WARNING} in "
            )
        } else {
            format!("[php:warn]|PHP Warning:  {PROBE_WARNING} in ")
        };
        assert!(
            warned.len() == 1 && expected.split('|').all(|part| warned[0].contains(part)),
            "{wiring}: the probe's warning in Apache's log: {warned:?}, expected {expected}"
        );
        if wiring.uses_fpm() {
            assert!(wp.fpm_log_shows(PROBE_WARNING), "{}", wp.fpm_log());
        }

        stop_and_check(wp);
        eprintln!(
            "{wiring} under {}: healthy in {:.2} s",
            common::mpm(),
            t.elapsed().as_secs_f64()
        );
    }
}

/// The application under an identity of its own, as a hardened setup gives it: the pool runs
/// as `dgwp`, which owns wp-content and what WordPress creates there; Apache stays www-data.
#[test]
fn healthy_upload_is_201_with_php_as_its_own_user() {
    require_root!("the pool switches to the dgwp user");
    let t = Instant::now();
    let mut wp = WordPress::new(Apache::new("wp-dgwp"), Wiring::SetHandler, "dgwp");
    assert_eq!(owner_of(&wp.site().join("wp-content")), uid_of("dgwp"));
    wp.apache.start();
    let workers = wp.fpm_worker_uids();
    assert!(
        !workers.is_empty() && workers.iter().all(|&u| u == uid_of("dgwp")),
        "pool workers run as {workers:?}"
    );
    assert_healthy(&wp);
    stop_and_check(wp);
    eprintln!(
        "sethandler as dgwp under {}: healthy in {:.2} s",
        common::mpm(),
        t.elapsed().as_secs_f64()
    );
}

/// The incident, end to end, through one wiring, with PHP as `app_user`: a healthy site with
/// `wp-content/uploads` declared says nothing; with wp-content given to root and uploads
/// removed, the REST upload's 500 is explained naming the request as the client sent it
/// (`POST /wp-json/wp/v2/media`, rewritten to /index.php by WordPress's .htaccess), the script,
/// the uploads directory checked for the user PHP runs as (and where that identity came from),
/// and the log id the access log's `%L` prints; the fix taken from the log makes the next upload
/// 201. Then with `DirGuardOnFailure 503` the upload is answered 503 with Retry-After before
/// PHP runs while `GET /` stays 200.
fn incident(wiring: Wiring, app_user: &str) {
    let t = Instant::now();
    let what = format!("{wiring} (PHP as {app_user})");
    let mut wp = WordPress::new(Apache::new(&format!("wpi-{wiring}")), wiring, app_user);
    let site = wp.site().to_path_buf();
    let uploads = wp.uploads();
    // What an administrator following the checklist has: uploads made, owned by PHP's user.
    common::sh(&format!(
        "install -d -m 0755 -o {app_user} -g {app_user} '{}'",
        uploads.display()
    ));
    let access_log = wp.apache.dir.join("access.log");
    let fpm_pools = wp.fpm_config();
    wp.apache
        .config(&format!(
            "LogLevel warn dirguard:info\n\
             LogFormat \"%L \\\"%r\\\" %>s\" with_id\n\
             CustomLog {access} with_id\n\
             DirGuardInterval 1\n\
             DirGuardPhpFpmPools {pools}\n\
             <Directory {site}>\n  DirGuardRequire wp-content/uploads access=rw\n</Directory>",
            access = access_log.display(),
            pools = fpm_pools.display(),
            site = site.display()
        ))
        .allow("DG01101")
        .allow("DG01301")
        .allow("DG01502")
        .allow("DG01501");
    wp.apache.start();

    // Healthy: no warning from the module, and the upload works.
    assert_eq!(
        wp.upload().status,
        201,
        "{what}: healthy upload\n{}",
        wp.apache.log()
    );
    assert!(complaints(&wp).is_empty(), "{what}: {:?}", complaints(&wp));
    if wiring.uses_fpm() {
        let id = wp.apache.lines_with("DG00008");
        assert!(
            id.iter().any(
                |l| l.contains(&format!("is checked for User {app_user} (uid "))
                    && l.contains(&format!(
                        "from PHP-FPM pool 'site' ({}:",
                        fpm_pools.display()
                    ))
            ),
            "{what}: the pool's user is the identity\n{}",
            wp.apache.log()
        );
    }

    // The incident.
    common::sh(&format!(
        "chown root:root '{0}/wp-content' && chmod 0755 '{0}/wp-content' && rm -rf '{1}'",
        site.display(),
        uploads.display()
    ));
    let failing = wait_for(&wp, "DG01301", 1);
    assert!(failing[0].contains("FAILING"), "{failing:?}");
    let r = wp.upload();
    assert_eq!(r.status, 500, "{what}: upload during the incident\n{r}");
    let explained = wait_for(&wp, "DG01502", 1);
    let line = &explained[0];
    let script = if !wiring.uses_fpm() {
        format!("file '{}/index.php'", site.display())
    } else {
        format!("script '{}/index.php'", site.display())
    };
    assert!(
        line.contains("500 for POST /wp-json/wp/v2/media (internally POST /index.php; handler ")
            && line.contains(&script)
            && line.contains(&format!(
                "probable cause: required directory '{}' is missing",
                uploads.display()
            ))
            && line.contains(&format!("for User {app_user} (uid ")),
        "{what}: the explanation\n{line}"
    );
    if wiring.uses_fpm() {
        assert!(line.contains("from PHP-FPM pool 'site'"), "{what}: {line}");
    }
    // Its log id is the one the access log prints for that request.
    let id = line
        .split("log id ")
        .nth(1)
        .and_then(|rest| rest.split(':').next())
        .expect("a log id")
        .to_owned();
    assert_ne!(id, "-", "{line}");
    let access = std::fs::read_to_string(&access_log).unwrap();
    assert!(
        access
            .lines()
            .any(|l| l == format!("{id} \"POST /wp-json/wp/v2/media HTTP/1.0\" 500")),
        "{what}: log id {id} in the access log:\n{access}"
    );
    // The fix, as pasted from the log, makes the next upload work.
    let fix = common::fix_of(line);
    assert!(
        fix.contains(&format!("-o {app_user} -g {app_user}")),
        "{what}: {fix}"
    );
    common::sh(&fix);
    assert_eq!(
        wp.upload().status,
        201,
        "{what}: upload after the fix\n{}",
        wp.apache.log()
    );
    wait_for(&wp, "DG01302", 1);

    // Again, with DirGuardOnFailure 503: uploads wait, readers do not.
    wp.apache
        .config("DirGuardOnFailure 503\nDirGuardRetryAfter 7");
    common::sh(&format!("rm -rf '{}'", uploads.display()));
    wp.apache.graceful();
    let r = wp.upload();
    assert_eq!(
        r.status, 503,
        "{what}: upload while failing with 503 mode\n{r}"
    );
    assert_eq!(r.header("Retry-After"), Some("7"), "{r}");
    assert!(
        !r.body.contains(&site.display().to_string()),
        "no path in the answer: {r}"
    );
    let front = wp.get("/");
    assert_eq!(
        front.status, 200,
        "{what}: GET / while uploads is failing\n{front}"
    );
    let answered = wait_for(&wp, "DG01501", 1);
    assert!(
        answered[0].contains("503 for POST /wp-json/wp/v2/media (internally POST /index.php; ")
            && answered[0].contains(&script),
        "{what}: {}",
        answered[0]
    );
    common::sh(&common::fix_of(&answered[0]));
    wp.apache.graceful();
    assert_eq!(
        wp.upload().status,
        201,
        "{what}: upload after the second fix"
    );
    stop_and_check(wp);
    eprintln!(
        "incident through {what} under {}: {:.2} s",
        common::mpm(),
        t.elapsed().as_secs_f64()
    );
}

/// The module's warnings and errors so far (a healthy site has none).
fn complaints(wp: &WordPress) -> Vec<String> {
    wp.apache
        .log()
        .lines()
        .filter(|l| l.contains("[dirguard:warn]") || l.contains("[dirguard:error]"))
        .map(str::to_owned)
        .collect()
}

/// The lines with `tag`, once at least `n` are there (within 10 s).
fn wait_for(wp: &WordPress, tag: &str, n: usize) -> Vec<String> {
    let deadline = Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let lines = wp.apache.lines_with(tag);
        if lines.len() >= n {
            return lines;
        }
        assert!(
            Instant::now() < deadline,
            "no {tag} line within 10 s\n{}",
            wp.apache.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Runs `incident` for `wiring` when this MPM runs it (mod_php: prefork only; PHP-FPM: all).
fn incident_if_run_here(wiring: Wiring, app_user: &str) {
    require_root!("WordPress runs as www-data and its own MariaDB as root");
    if !Wiring::for_this_mpm().contains(&wiring) {
        eprintln!("{wiring} is not run under {}", common::mpm());
        return;
    }
    incident(wiring, app_user);
}

#[test]
fn incident_through_sethandler_php_fpm_as_www_data() {
    incident_if_run_here(Wiring::SetHandler, "www-data");
}

#[test]
fn incident_through_sethandler_php_fpm_as_its_own_user() {
    incident_if_run_here(Wiring::SetHandler, "dgwp");
}

#[test]
fn incident_through_proxypassmatch_unix_as_its_own_user() {
    incident_if_run_here(Wiring::ProxyPassMatchUnix, "dgwp");
}

#[test]
fn incident_through_proxypassmatch_tcp() {
    incident_if_run_here(Wiring::ProxyPassMatchTcp, "www-data");
}

#[test]
fn incident_through_mod_php() {
    incident_if_run_here(Wiring::ModPhp, "www-data");
}

/// Nothing but `LoadModule` (and where this machine's pool file is): the WordPress preset is
/// detected in the DocumentRoot. A fresh install (no uploads yet, wp-content writable by PHP's
/// user) gets no warning and its first upload works; with wp-content given to root and uploads
/// removed, the restart names uploads and why the application cannot create it, the upload's
/// 500 is explained naming uploads, and the fix as pasted makes the next upload work.
fn zero_configuration(wiring: Wiring, app_user: &str) {
    let t = Instant::now();
    let what = format!("{wiring} (PHP as {app_user}), zero configuration");
    let mut apache = Apache::new(&format!("wpz-{wiring}"));
    apache.zero_config();
    let mut wp = WordPress::new(apache, wiring, app_user);
    let site = wp.site().to_path_buf();
    let uploads = wp.uploads();
    if wiring.uses_fpm() {
        // This machine's pool file is the test's own, not in /etc/php/*/fpm/pool.d.
        let pools = format!("DirGuardPhpFpmPools {}", wp.fpm_config().display());
        wp.apache.config(&pools);
    }
    wp.apache
        .config("LogLevel warn dirguard:info\nDirGuardInterval 1")
        .allow("DG01101")
        .allow("DG01301")
        .allow("DG01502")
        // PHP's warning for the report script below, relayed by mod_proxy_fcgi.
        .allow("AH01071");
    wp.apache.start();
    assert!(!uploads.exists());
    assert!(complaints(&wp).is_empty(), "{what}: {:?}", complaints(&wp));
    assert_eq!(
        wp.upload().status,
        201,
        "{what}: first upload\n{}",
        wp.apache.log()
    );
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert!(complaints(&wp).is_empty(), "{what}: {:?}", complaints(&wp));

    // The incident, then a restart: the startup check names uploads.
    common::sh(&format!(
        "chown root:root '{0}/wp-content' && chmod 0755 '{0}/wp-content' && rm -rf '{1}'",
        site.display(),
        uploads.display()
    ));
    wp.apache.graceful();
    let startup = wait_for(&wp, "DG01101", 1);
    let line = &startup[0];
    assert!(
        line.contains(&format!(
            "required directory '{}' is missing, and the application cannot create it when it needs it: '{}/wp-content'",
            uploads.display(),
            site.display()
        )) && line.contains(&format!("for User {app_user} (uid "))
            && line.contains("preset WordPress detected by "),
        "{what}: {line}"
    );
    let r = wp.upload();
    assert_eq!(r.status, 500, "{what}: upload during the incident\n{r}");
    let explained = wait_for(&wp, "DG01502", 1);
    assert!(
        explained[0].contains("500 for POST /wp-json/wp/v2/media (internally POST /index.php; ")
            && explained[0].contains(&format!(
                "probable cause: required directory '{}' is missing",
                uploads.display()
            )),
        "{what}: {}",
        explained[0]
    );
    let fix = common::fix_of(&explained[0]);
    common::sh(&fix);
    assert_eq!(
        wp.upload().status,
        201,
        "{what}: upload after `{fix}`\n{}",
        wp.apache.log()
    );

    // A script of the site that writes into a directory nobody declared, which does not
    // exist, and answers 500: PHP's own warning names the path (no @), the check confirms it,
    // and the explanation names the missing directory, for PHP's user, with a working fix.
    let script = site.join("dg-report.php");
    std::fs::write(
        &script,
        "<?php\n$f = __DIR__ . '/data/reports/out.txt';\n\
         if (file_put_contents($f, 'report') === false) { http_response_code(500); echo 'failed'; exit; }\n\
         echo 'ok';\n",
    )
    .unwrap();
    common::sh(&format!("chmod 0644 '{}'", script.display()));
    let before = wait_for(&wp, "DG01502", 1).len();
    let r = wp.get("/dg-report.php");
    assert_eq!(r.status, 500, "{what}: the report script\n{r}");
    let explained = wait_for(&wp, "DG01502", before + 1);
    let line = explained.last().unwrap();
    assert!(
        line.contains(&format!(
            "probable cause: directory '{}/data/reports' is missing",
            site.display()
        )) && line.contains("named by this request's error line ")
            && line.contains(&format!("for User {app_user} (uid ")),
        "{what}: {line}"
    );
    common::sh(&common::fix_of(line));
    let r = wp.get("/dg-report.php");
    assert_eq!(
        (r.status, r.body.as_str()),
        (200, "ok"),
        "{what}: after the fix\n{r}"
    );
    // The warning was PHP's, for this test: not a message of the site.
    wp.allow_php_message("dg-report.php");
    stop_and_check(wp);
    eprintln!(
        "{what} under {}: {:.2} s",
        common::mpm(),
        t.elapsed().as_secs_f64()
    );
}

#[test]
fn zero_configuration_through_php_fpm_as_its_own_user() {
    require_root!("WordPress runs as www-data and its own MariaDB as root");
    // A ProxyPassMatch under the threaded MPMs (the wiring that skips <Directory>), Debian's
    // SetHandler under prefork.
    let wiring = if common::mpm() == "prefork" {
        Wiring::SetHandler
    } else {
        Wiring::ProxyPassMatchUnix
    };
    zero_configuration(wiring, "dgwp");
}

#[test]
fn zero_configuration_through_mod_php() {
    require_root!("WordPress runs as www-data and its own MariaDB as root");
    if !Wiring::for_this_mpm().contains(&Wiring::ModPhp) {
        eprintln!("mod_php is not run under {}", common::mpm());
        return;
    }
    zero_configuration(Wiring::ModPhp, "www-data");
}
