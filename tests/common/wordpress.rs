//! A real WordPress for the integration tests: Debian's package copied into a private
//! directory, installed offline into a private MariaDB, served by the test's [`Apache`] through
//! one of the PHP wirings people actually use (php-fpm behind mod_proxy_fcgi three ways, or
//! mod_php under prefork).
//!
//! Everything is private to one [`WordPress`], which owns the test's [`Apache`]: its directory
//! beside Apache's (site, database, php-fpm configuration, sockets, logs), its MariaDB (unix
//! socket, no networking, its own tmpdir), its php-fpm master (unix socket or a free 127.0.0.1
//! port). Nothing of the machine's own Apache, php-fpm or MariaDB is started, stopped or
//! changed; their configuration under /etc is only read (php-fpm and mod_php read Debian's
//! php.ini, as on a real server). Dropping the [`WordPress`] stops Apache (which checks its
//! error log), php-fpm and MariaDB, in that order, and removes the directory (kept with
//! DIRGUARD_KEEP_TEST_DIRS), also when the test panics. One costs 2 to 5 s to set up (copying
//! WordPress's 2,500 files is most of it), nothing is shared, so tests may run in parallel.
//!
//! The layout is the one an administrator gives a fresh install: site files owned by root and
//! world-readable, `wp-content` owned by the application user (mode 0755) and no
//! `wp-content/uploads` yet: WordPress creates it on the first upload.
//!
//! PHP's own messages are not silenced anywhere. Under php-fpm they reach Apache's error log
//! through mod_proxy_fcgi, as error lines whatever PHP's level (`[proxy_fcgi:error] ...
//! AH01071: Got error 'PHP message: PHP Warning:  ...'`), and the pool's log
//! (catch_workers_output). Under mod_php they are Apache lines at PHP's level: `[php:warn]
//! ... PHP Warning:  ...`, `[php:error] ... PHP Fatal error:  ...`; a warning is below what the
//! [`Apache`] harness fails a test on, so [`WordPress::php_messages`] looks for all of them.
//!
//! ```ignore
//! let mut wp = WordPress::new(Apache::new("wp"), Wiring::SetHandler, "www-data");
//! wp.apache.config("...").allow("DG01101"); // the test's own configuration, if any
//! wp.apache.start();
//! let r = wp.upload();
//! assert_eq!(r.status, 201, "{r}");
//! wp.stop(); // or just drop it
//! ```
//!
//! Needs root (chown, the pool's user switch) and these Debian packages: wordpress,
//! wordpress-theme-twentytwentythree, php-fpm, libapache2-mod-php, php-mysql, php-gd,
//! mariadb-server (and php-cli, pulled in by them).

use super::{is_root, mpm, Apache};
use std::fmt;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Debian's WordPress (package `wordpress`); it symlinks into /etc/wordpress,
/// /var/lib/wordpress and /usr/share/{php,javascript}, which the copy dereferences.
const WORDPRESS: &str = "/usr/share/wordpress";
/// WordPress's default theme, packaged apart (a Recommends of `wordpress`): without it the
/// front page is an empty 200.
const THEME: &str = "/usr/share/wordpress/wp-content/themes/twentytwentythree";
const PHP_FPM: &str = "/usr/sbin/php-fpm8.2";
const PHP_CLI: &str = "/usr/bin/php";
const MOD_PHP: &str = "/usr/lib/apache2/modules/libphp8.2.so";
const MODULES: &str = "/usr/lib/apache2/modules";

/// The administrator WordPress is installed with, and the database credentials.
pub const ADMIN: &str = "admin";
const DB_NAME: &str = "wordpress";
const DB_USER: &str = "wordpress";
const DB_PASSWORD: &str = "dg-test-db";

/// The message of the warning [`WordPress::provoke_php_warning`] makes PHP log.
pub const PROBE_WARNING: &str = "dirguard-probe-warning";

/// How PHP starts the messages it logs (`PHP Warning:  ...`), whatever the SAPI.
const PHP_MESSAGES: &[&str] = &[
    "PHP Fatal error",
    "PHP Recoverable fatal error",
    "PHP Parse error",
    "PHP Warning",
    "PHP Notice",
    "PHP Deprecated",
    "PHP Strict Standards",
];

/// How PHP is wired into Apache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wiring {
    /// Debian's php8.2-fpm.conf style: `<FilesMatch "\.php$"> SetHandler
    /// "proxy:unix:SOCK|fcgi://localhost"`, a php-fpm pool on a unix socket.
    SetHandler,
    /// `ProxyPassMatch "^/(.*\.php(/.*)?)$" "unix:SOCK|fcgi://localhost/SITE/$1"`.
    ProxyPassMatchUnix,
    /// The same to a pool listening on 127.0.0.1:PORT: `fcgi://127.0.0.1:PORT/SITE/$1`.
    ProxyPassMatchTcp,
    /// mod_php (`libphp8.2.so`, not thread-safe: prefork only), PHP inside Apache's children.
    ModPhp,
}

impl Wiring {
    /// Every wiring that makes sense under the MPM of this run (DIRGUARD_TEST_MPM): the three
    /// php-fpm ones under event and worker; mod_php and, since it costs about 2 s, the
    /// SetHandler one under prefork.
    pub fn for_this_mpm() -> Vec<Wiring> {
        if mpm() == "prefork" {
            vec![Wiring::ModPhp, Wiring::SetHandler]
        } else {
            vec![
                Wiring::SetHandler,
                Wiring::ProxyPassMatchUnix,
                Wiring::ProxyPassMatchTcp,
            ]
        }
    }

    pub fn uses_fpm(self) -> bool {
        self != Wiring::ModPhp
    }

    pub fn name(self) -> &'static str {
        match self {
            Wiring::SetHandler => "sethandler",
            Wiring::ProxyPassMatchUnix => "proxypassmatch-unix",
            Wiring::ProxyPassMatchTcp => "proxypassmatch-tcp",
            Wiring::ModPhp => "modphp",
        }
    }
}

impl fmt::Display for Wiring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where a php-fpm pool listens.
#[derive(Clone, Debug)]
pub enum Listen {
    Unix(PathBuf),
    Tcp(u16),
}

/// A WordPress and the Apache serving it. Fields drop in this order: Apache first (it stops,
/// and fails the test on unexpected error-log lines; its `-k stop` rereads a configuration
/// whose DocumentRoot must still exist), then php-fpm, MariaDB, and last the directory.
pub struct WordPress {
    /// The test's Apache, configured for this site: add the test's own configuration and
    /// allowed tags, then start it.
    pub apache: Apache,
    /// The private directory holding everything below: `<apache.dir>-wordpress`.
    pub dir: PathBuf,
    /// The document root: the copy of Debian's WordPress.
    pub site: PathBuf,
    pub wiring: Wiring,
    /// The user PHP runs as (pool user; Apache's User under mod_php) and owner of wp-content.
    pub app_user: String,
    /// The administrator's application password (HTTP Basic auth on the REST API).
    pub app_password: String,
    /// How long each setup step took.
    pub timings: Vec<(&'static str, Duration)>,
    /// What [`WordPress::new`] added to Apache's configuration.
    apache_config: String,
    fpm: Option<PhpFpm>,
    db: MariaDb,
    /// PHP messages a test provoked on purpose (substrings), not counted as the site's.
    allowed_php: Vec<String>,
    _dir: RemoveOnDrop,
}

impl WordPress {
    /// A WordPress installed and ready for `apache` (its URLs name Apache's port), PHP running
    /// as `app_user` (`www-data`, or `dgwp`, a system user this creates when missing): its
    /// MariaDB and, for the php-fpm wirings, its pool running, and `apache` configured to serve
    /// it ([`WordPress::apache_config`]). Apache is not started.
    pub fn new(mut apache: Apache, wiring: Wiring, app_user: &str) -> WordPress {
        assert!(is_root(), "the WordPress harness needs root");
        for (path, package) in [
            (WORDPRESS, "wordpress"),
            (THEME, "wordpress-theme-twentytwentythree"),
            (PHP_CLI, "php-cli"),
            (PHP_FPM, "php-fpm"),
            ("/usr/sbin/mariadbd", "mariadb-server"),
        ] {
            assert!(
                Path::new(path).exists(),
                "{path} is missing: apt-get install {package}"
            );
        }
        if wiring == Wiring::ModPhp {
            assert!(
                Path::new(MOD_PHP).exists(),
                "{MOD_PHP} is missing: apt-get install libapache2-mod-php"
            );
            assert_eq!(mpm(), "prefork", "mod_php is not thread-safe: prefork only");
            assert_eq!(
                app_user, "www-data",
                "under mod_php PHP runs as Apache's User, www-data"
            );
        }
        super::ensure_user(app_user);
        let dir = PathBuf::from(format!("{}-wordpress", apache.dir.display()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let guard = RemoveOnDrop(dir.clone());
        // Apache's children and the pool's user walk through to the site and the sockets.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut timings = Vec::new();

        let t = Instant::now();
        let db = MariaDb::start(&dir);
        timings.push(("mariadb", t.elapsed()));

        let t = Instant::now();
        let site = dir.join("site");
        copy_site(&site);
        timings.push(("copy", t.elapsed()));

        write_site_config(&site, &db.socket, apache.port);
        assert_self_contained(&site);
        let t = Instant::now();
        let app_password = install(&dir, &site, &db);
        timings.push(("install", t.elapsed()));

        // As an administrator leaves a fresh install: root's files, the application user's
        // wp-content, no uploads directory yet.
        let content = site.join("wp-content");
        assert!(
            !content.join("uploads").exists(),
            "installing created wp-content/uploads"
        );
        std::os::unix::fs::chown(&content, Some(uid_of(app_user)), Some(gid_of(app_user))).unwrap();
        std::fs::set_permissions(&content, std::fs::Permissions::from_mode(0o755)).unwrap();

        let fpm = wiring.uses_fpm().then(|| {
            let t = Instant::now();
            let listen = if wiring == Wiring::ProxyPassMatchTcp {
                Listen::Tcp(super::free_port())
            } else {
                Listen::Unix(dir.join("php-fpm.sock"))
            };
            let fpm = PhpFpm::start(&dir, app_user, listen);
            timings.push(("php-fpm", t.elapsed()));
            fpm
        });
        let text = apache_config(&apache, wiring, &site, fpm.as_ref().map(|f| &f.listen));
        apache.config(&text);
        eprintln!(
            "WordPress {} ({wiring}, PHP as {app_user}) ready in {}: {}",
            dir.display(),
            fmt_ms(timings.iter().map(|(_, d)| *d).sum()),
            timings
                .iter()
                .map(|(what, d)| format!("{what} {}", fmt_ms(*d)))
                .collect::<Vec<_>>()
                .join(", ")
        );
        WordPress {
            apache,
            dir,
            site,
            wiring,
            app_user: app_user.to_owned(),
            app_password,
            timings,
            apache_config: text,
            fpm,
            db,
            allowed_php: Vec::new(),
            _dir: guard,
        }
    }

    /// What [`WordPress::new`] added to Apache's configuration: the LoadModule lines this
    /// wiring needs that the configuration did not have yet (mod_dir, mod_rewrite, and
    /// mod_proxy with mod_proxy_fcgi, or mod_php), DocumentRoot (replacing the harness's
    /// htdocs), DirectoryIndex, the site's `<Directory>` and the wiring itself.
    pub fn apache_config(&self) -> &str {
        &self.apache_config
    }

    pub fn site(&self) -> &Path {
        &self.site
    }

    /// `wp-content/uploads` (absent until the first upload).
    pub fn uploads(&self) -> PathBuf {
        self.site.join("wp-content/uploads")
    }

    /// The php-fpm configuration file holding the pool (its `[site]` section).
    pub fn fpm_config(&self) -> PathBuf {
        self.dir.join("php-fpm.conf")
    }

    /// The php-fpm pool's address (None under mod_php).
    pub fn fpm_listen(&self) -> Option<&Listen> {
        self.fpm.as_ref().map(|f| &f.listen)
    }

    /// php-fpm's log: the master's notices and, with catch_workers_output, what the workers
    /// wrote to stderr (PHP messages among it). Empty under mod_php.
    pub fn fpm_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("php-fpm.log")).unwrap_or_default()
    }

    /// Whether php-fpm's log contains `needle` within 5 s: the master copies what a worker
    /// writes to stderr (catch_workers_output) a moment after the request has been answered.
    pub fn fpm_log_shows(&self, needle: &str) -> bool {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !self.fpm_log().contains(needle) {
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        true
    }

    /// The uids the pool's workers run as (empty under mod_php).
    pub fn fpm_worker_uids(&self) -> Vec<u32> {
        let Some(fpm) = &self.fpm else {
            return Vec::new();
        };
        let master = fpm.child.id().to_string();
        let mut uids = Vec::new();
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let status = std::fs::read_to_string(entry.path().join("status")).unwrap_or_default();
            let field = |name: &str| {
                status
                    .lines()
                    .find_map(|l| l.strip_prefix(name))
                    .and_then(|v| v.split_whitespace().next())
                    .map(str::to_owned)
            };
            if field("PPid:").as_deref() == Some(master.as_str()) {
                if let Some(uid) = field("Uid:").and_then(|u| u.parse().ok()) {
                    uids.push(uid);
                }
            }
        }
        uids
    }

    /// PHP's messages (warnings, notices, errors; the probe's excepted) in Apache's error log
    /// and php-fpm's log. Under mod_php a PHP warning is a `[php:warn]` line, below the error
    /// level the [`Apache`] harness fails a test on; so look here too.
    pub fn php_messages(&self) -> Vec<String> {
        let php = |l: &&str| {
            PHP_MESSAGES.iter().any(|m| l.contains(m))
                && !l.contains(PROBE_WARNING)
                && !self.allowed_php.iter().any(|a| l.contains(a.as_str()))
        };
        let (log, fpm) = (self.apache.log(), self.fpm_log());
        log.lines()
            .filter(php)
            .chain(fpm.lines().filter(php))
            .map(str::to_owned)
            .collect()
    }

    /// PHP messages containing `needle` were provoked by the test: not the site's.
    pub fn allow_php_message(&mut self, needle: &str) {
        self.allowed_php.push(needle.to_owned());
    }

    /// The private MariaDB's `[ERROR]` lines.
    pub fn db_errors(&self) -> Vec<String> {
        self.db_log()
            .lines()
            .filter(|l| l.contains("[ERROR]"))
            .map(str::to_owned)
            .collect()
    }

    /// The private MariaDB's error log.
    pub fn db_log(&self) -> String {
        std::fs::read_to_string(self.db.dir.join("mariadb.err")).unwrap_or_default()
    }

    /// Runs SQL in the site's database as MariaDB's root; its tab-separated output.
    pub fn sql(&self, sql: &str) -> String {
        self.db.sql(DB_NAME, sql)
    }

    /// POSTs a valid 160x160 PNG (big enough for WordPress to make its 150x150 thumbnail with
    /// GD) as `dg-test.png` to the REST API, authenticated as the administrator with the
    /// application password.
    pub fn upload(&self) -> Response {
        self.upload_file("dg-test.png", "image/png", &png(160, 160))
    }

    /// POSTs `body` to /wp-json/wp/v2/media as `filename`, as a client of the REST API does.
    pub fn upload_file(&self, filename: &str, content_type: &str, body: &[u8]) -> Response {
        let auth = base64(format!("{ADMIN}:{}", self.app_password).as_bytes());
        let head = format!(
            "POST /wp-json/wp/v2/media HTTP/1.0\r\nHost: {}\r\nAuthorization: Basic {auth}\r\n\
             Content-Disposition: attachment; filename={filename}\r\n\
             Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
            self.host(),
            body.len()
        );
        request(self.apache.port, head.as_bytes(), body)
    }

    /// GET `path` with the Host header WordPress's canonical URLs carry (another host or port
    /// would be redirected).
    pub fn get(&self, path: &str) -> Response {
        let head = format!("GET {path} HTTP/1.0\r\nHost: {}\r\n\r\n", self.host());
        request(self.apache.port, head.as_bytes(), &[])
    }

    /// Apache's address, as WordPress's URLs name it.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.apache.port)
    }

    /// Makes PHP warn once, through this wiring, and returns the lines of Apache's error log
    /// that carry the warning (allowing them): a script of its own,
    /// `/dg-probe.php`, calls `trigger_error(PROBE_WARNING, E_USER_WARNING)`. Shows that PHP's
    /// messages reach Apache's log, where the harness fails a test on unexpected ones.
    pub fn provoke_php_warning(&mut self) -> Vec<String> {
        write_file(
            &self.site.join("dg-probe.php"),
            &format!(
                "<?php\ntrigger_error('{PROBE_WARNING}', E_USER_WARNING);\necho \"probed\\n\";\n"
            ),
            0o644,
        );
        self.apache.allow(PROBE_WARNING);
        let r = self.get("/dg-probe.php");
        assert_eq!(r.status, 200, "GET /dg-probe.php\n{r}");
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let lines = self.apache.lines_with(PROBE_WARNING);
            if !lines.is_empty() || Instant::now() > deadline {
                return lines;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops Apache, php-fpm (gracefully: its log then holds all its workers wrote) and
    /// MariaDB; the files stay until the drop. Idempotent.
    pub fn stop(&mut self) {
        self.apache.stop();
        if let Some(fpm) = &mut self.fpm {
            fpm.stop();
        }
        self.db.stop();
    }

    /// The file a successful upload's `source_url` names, under this site.
    pub fn uploaded_file(&self, r: &Response) -> PathBuf {
        let url = r
            .json_str("source_url")
            .unwrap_or_else(|| panic!("no source_url in the response:\n{r}"));
        let prefix = format!("http://{}/", self.host());
        let rel = url
            .strip_prefix(&prefix)
            .unwrap_or_else(|| panic!("source_url {url} is not under {prefix}"));
        self.site.join(rel)
    }
}

/// See [`WordPress::apache_config`].
fn apache_config(apache: &Apache, wiring: Wiring, site: &Path, listen: Option<&Listen>) -> String {
    let mut modules = vec![
        ("dir_module", "mod_dir.so"),
        ("rewrite_module", "mod_rewrite.so"),
    ];
    if wiring.uses_fpm() {
        modules.push(("proxy_module", "mod_proxy.so"));
        modules.push(("proxy_fcgi_module", "mod_proxy_fcgi.so"));
    } else {
        modules.push(("php_module", "libphp8.2.so"));
    }
    let mut c = String::new();
    for (id, file) in modules {
        // The harness's own base configuration loads none of these.
        if !apache.body.contains(&format!("LoadModule {id} ")) {
            c.push_str(&format!("LoadModule {id} {MODULES}/{file}\n"));
        }
    }
    let site = site.display();
    // CGIPassAuth: php-fpm gets the Authorization header (HTTP Basic auth with the
    // application password). Through <Directory> it applies to the SetHandler wiring only: a
    // ProxyPassMatch request is mapped to the backend before any <Directory>. There the header
    // reaches PHP through .htaccess's `E=HTTP_AUTHORIZATION` rule, as
    // REDIRECT_HTTP_AUTHORIZATION after the rewrite to /index.php, which WordPress reads.
    c.push_str(&format!(
        "DocumentRoot {site}\n\
         DirectoryIndex index.php index.html\n\
         <Directory {site}>\n\
         \x20   Options FollowSymLinks\n\
         \x20   AllowOverride All\n\
         \x20   Require all granted\n\
         \x20   CGIPassAuth On\n\
         </Directory>\n"
    ));
    match (wiring, listen) {
        (Wiring::SetHandler, Some(Listen::Unix(sock))) => c.push_str(&format!(
            "<FilesMatch \"\\.php$\">\n    SetHandler \"proxy:unix:{}|fcgi://localhost\"\n</FilesMatch>\n",
            sock.display()
        )),
        (Wiring::ProxyPassMatchUnix, Some(Listen::Unix(sock))) => c.push_str(&format!(
            "ProxyPassMatch \"^/(.*\\.php(/.*)?)$\" \"unix:{}|fcgi://localhost{site}/$1\"\n",
            sock.display()
        )),
        (Wiring::ProxyPassMatchTcp, Some(Listen::Tcp(port))) => c.push_str(&format!(
            "ProxyPassMatch \"^/(.*\\.php(/.*)?)$\" \"fcgi://127.0.0.1:{port}{site}/$1\"\n"
        )),
        (Wiring::ModPhp, None) => c.push_str(
            "<FilesMatch \"\\.php$\">\n    SetHandler application/x-httpd-php\n</FilesMatch>\n",
        ),
        (w, l) => unreachable!("{w} with {l:?}"),
    }
    c
}

/// Removes the directory when dropped (kept with DIRGUARD_KEEP_TEST_DIRS).
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if std::env::var_os("DIRGUARD_KEEP_TEST_DIRS").is_none() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// The site's own wp-config.php: Debian's reads /etc/wordpress/config-HOST.php.
fn write_site_config(site: &Path, db_socket: &Path, port: u16) {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let salt = |k: &str| {
        format!(
            "define('{k}', 'dirguard-{k}-{}-{nanos}');\n",
            std::process::id()
        )
    };
    let url = format!("http://127.0.0.1:{port}");
    let mut c = format!(
        "<?php\n\
         // Written by the dirguard test harness (tests/common/wordpress.rs).\n\
         define('DB_NAME', '{DB_NAME}');\n\
         define('DB_USER', '{DB_USER}');\n\
         define('DB_PASSWORD', '{DB_PASSWORD}');\n\
         define('DB_HOST', 'localhost:{sock}');\n\
         define('DB_CHARSET', 'utf8mb4');\n\
         define('DB_COLLATE', '');\n\
         $table_prefix = 'wp_';\n\
         // Application passwords need HTTPS, or a local environment.\n\
         define('WP_ENVIRONMENT_TYPE', 'local');\n\
         define('FS_METHOD', 'direct');\n\
         define('WP_HOME', '{url}');\n\
         define('WP_SITEURL', '{url}');\n\
         define('WP_DEBUG', false);\n\
         define('DISABLE_WP_CRON', true);\n\
         define('AUTOMATIC_UPDATER_DISABLED', true);\n",
        sock = db_socket.display(),
    );
    for k in [
        "AUTH_KEY",
        "SECURE_AUTH_KEY",
        "LOGGED_IN_KEY",
        "NONCE_KEY",
        "AUTH_SALT",
        "SECURE_AUTH_SALT",
        "LOGGED_IN_SALT",
        "NONCE_SALT",
    ] {
        c.push_str(&salt(k));
    }
    c.push_str(
        "if (!defined('ABSPATH')) {\n    define('ABSPATH', __DIR__ . '/');\n}\n\
         require_once ABSPATH . 'wp-settings.php';\n",
    );
    write_file(&site.join("wp-config.php"), &c, 0o644);
    // WordPress's own rules (what it writes when permalinks are saved), with the line
    // that hands the Authorization header to PHP behind FastCGI.
    write_file(
        &site.join(".htaccess"),
        "# BEGIN WordPress\n\
         <IfModule mod_rewrite.c>\n\
         RewriteEngine On\n\
         RewriteRule .* - [E=HTTP_AUTHORIZATION:%{HTTP:Authorization}]\n\
         RewriteBase /\n\
         RewriteRule ^index\\.php$ - [L]\n\
         RewriteCond %{REQUEST_FILENAME} !-f\n\
         RewriteCond %{REQUEST_FILENAME} !-d\n\
         RewriteRule . /index.php [L]\n\
         </IfModule>\n\
         # END WordPress\n",
        0o644,
    );
}

/// Installs WordPress the way its installer does, offline and without wp-cli: wp_install()
/// from PHP's CLI (as root, as an administrator running a setup script; it writes nothing
/// under the site), pretty permalinks, and an application password for the administrator,
/// which it returns.
fn install(dir: &Path, site: &Path, db: &MariaDb) -> String {
    let script = dir.join("install.php");
    write_file(
        &script,
        &format!(
            "<?php\n\
             define('WP_INSTALLING', true);\n\
             // Offline: no HTTP request leaves (wp_install probes pretty permalinks over\n\
             // HTTP) and no mail is sent (the new-site notification).\n\
             $GLOBALS['wp_filter']['pre_http_request'][10]['dirguard'] = array(\n\
             \x20   'function' => function () {{ return new WP_Error('offline', 'offline test install'); }},\n\
             \x20   'accepted_args' => 1,\n\
             );\n\
             function wp_mail() {{ return true; }}\n\
             require '{site}/wp-load.php';\n\
             require_once ABSPATH . 'wp-admin/includes/upgrade.php';\n\
             $r = wp_install('dirguard test', '{ADMIN}', 'admin@example.org', false, '', 'dg-admin-pw');\n\
             if (is_wp_error($r)) {{ fwrite(STDERR, $r->get_error_message()); exit(1); }}\n\
             update_option('permalink_structure', '/%postname%/');\n\
             list($pw, $item) = WP_Application_Passwords::create_new_application_password(\n\
             \x20   $r['user_id'], array('name' => 'dirguard'));\n\
             if (is_wp_error($pw)) {{ fwrite(STDERR, $pw->get_error_message()); exit(1); }}\n\
             echo 'application password: ', $pw, \"\\n\";\n",
            site = site.display()
        ),
        0o600,
    );
    let out = Command::new(PHP_CLI).arg(&script).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Strict: any PHP notice or warning during the install is a failure too.
    let password = stdout
        .strip_prefix("application password: ")
        .map(str::trim)
        .filter(|p| !p.is_empty() && !p.contains(char::is_whitespace));
    match password {
        Some(pw) if out.status.success() && stderr.is_empty() => pw.to_owned(),
        _ => panic!(
            "installing WordPress failed ({}):\n--- stdout:\n{stdout}\n--- stderr:\n{stderr}\n--- mariadb:\n{}",
            out.status,
            std::fs::read_to_string(db.dir.join("mariadb.err")).unwrap_or_default()
        ),
    }
}

/// An HTTP response: status, head (status line and headers) and body.
pub struct Response {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl Response {
    /// The first header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    /// The string member `key` of the JSON object the body is (a top-level member: nested
    /// objects, like an attachment's media_details sizes, have members of the same names),
    /// unescaped (`\uXXXX` is left as it is).
    pub fn json_str(&self, key: &str) -> Option<String> {
        let mut chars = self.body.chars();
        let mut depth = 0usize;
        // Whether the next string at depth 1 is a member name (after `{` or `,`).
        let mut at_name = false;
        let mut wanted = false;
        while let Some(c) = chars.next() {
            match c {
                '{' | '[' => {
                    depth += 1;
                    at_name = c == '{' && depth == 1;
                }
                '}' | ']' => depth = depth.checked_sub(1)?,
                ',' if depth == 1 => at_name = true,
                '"' => {
                    let mut s = String::new();
                    loop {
                        match chars.next()? {
                            '"' => break,
                            '\\' => match chars.next()? {
                                'u' => s.push_str("\\u"),
                                'n' => s.push('\n'),
                                't' => s.push('\t'),
                                'r' => s.push('\r'),
                                e => s.push(e),
                            },
                            c => s.push(c),
                        }
                    }
                    if depth == 1 && at_name {
                        wanted = s == key;
                        at_name = false;
                    } else if depth == 1 && wanted {
                        return Some(s);
                    }
                }
                ':' => {}
                c if c.is_whitespace() => {}
                _ if depth == 1 => wanted = false,
                _ => {}
            }
        }
        None
    }
}

impl fmt::Display for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const MAX: usize = 4000;
        let body = match self.body.char_indices().nth(MAX) {
            Some((i, _)) => format!("{}... ({} bytes)", &self.body[..i], self.body.len()),
            None => self.body.clone(),
        };
        write!(f, "{}\n\n{body}", self.head)
    }
}

/// One HTTP/1.0 request to 127.0.0.1:`port` (head ending in an empty line, then `body`);
/// status 0 when nothing answered within 60 s.
pub fn request(port: u16, head: &[u8], body: &[u8]) -> Response {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    s.write_all(head).unwrap();
    s.write_all(body).unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let raw = String::from_utf8_lossy(&raw);
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    Response {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
    }
}

/// A private MariaDB on a unix socket (no networking), data under `<dir>/db`.
struct MariaDb {
    dir: PathBuf,
    socket: PathBuf,
    child: Option<Child>,
}

impl MariaDb {
    /// The server options, shared by mariadb-install-db (which passes them on to its bootstrap
    /// server) and mariadbd: small InnoDB files, and no fsync (a test database; with them
    /// mariadb-install-db takes 4 s instead of 0.7 s here).
    const OPTIONS: &'static [&'static str] = &[
        "--skip-name-resolve",
        "--innodb-log-file-size=8M",
        "--innodb-buffer-pool-size=16M",
        "--innodb-flush-log-at-trx-commit=0",
        "--innodb-doublewrite=0",
        "--innodb-flush-method=nosync",
    ];

    fn start(dir: &Path) -> MariaDb {
        let data = dir.join("db");
        // A tmpdir of its own: at startup mariadbd deletes every `#sql*` file in its tmpdir,
        // which in a shared /tmp are the temporary tables of the other tests' servers (and
        // made a concurrent mariadb-install-db fail: "Unknown table 'mysql.tmp_user_sys'").
        let tmp = dir.join("db-tmp");
        std::fs::create_dir(&tmp).unwrap();
        let tmpdir = format!("--tmpdir={}", tmp.display());
        let out = Command::new("mariadb-install-db")
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(&tmpdir)
            .args([
                "--user=root",
                "--auth-root-authentication-method=socket",
                "--skip-test-db",
            ])
            .args(Self::OPTIONS)
            .output()
            .expect("mariadb-install-db runs (apt-get install mariadb-server)");
        assert!(
            out.status.success(),
            "mariadb-install-db failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let socket = dir.join("mariadb.sock");
        let log = std::fs::File::create(dir.join("mariadbd.out")).unwrap();
        let mut cmd = Command::new("mariadbd");
        cmd.arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(&tmpdir)
            .arg(format!("--socket={}", socket.display()))
            .arg(format!("--pid-file={}", dir.join("mariadb.pid").display()))
            .arg(format!("--log-error={}", dir.join("mariadb.err").display()))
            .args(["--skip-networking", "--user=root"])
            .args(Self::OPTIONS)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        die_with_parent(&mut cmd);
        let child = cmd.spawn().expect("mariadbd runs");
        let mut db = MariaDb {
            dir: dir.to_owned(),
            socket,
            child: Some(child),
        };
        let log = || std::fs::read_to_string(dir.join("mariadb.err")).unwrap_or_default();
        let socket = db.socket.clone();
        wait_until(
            "mariadbd accepts connections",
            Duration::from_secs(30),
            || UnixStream::connect(&socket).is_ok(),
            || db.exited().then(log),
            log,
        );
        db.sql(
            "mysql",
            &format!(
                "CREATE DATABASE {DB_NAME}; \
                 CREATE USER '{DB_USER}'@'localhost' IDENTIFIED BY '{DB_PASSWORD}'; \
                 GRANT ALL ON {DB_NAME}.* TO '{DB_USER}'@'localhost';"
            ),
        );
        db
    }

    fn exited(&mut self) -> bool {
        self.child
            .as_mut()
            .is_none_or(|c| c.try_wait().ok().flatten().is_some())
    }

    fn sql(&self, db: &str, sql: &str) -> String {
        let out = Command::new("mariadb")
            .arg("--no-defaults")
            .arg(format!("--socket={}", self.socket.display()))
            .args([
                "--user=root",
                "--batch",
                "--skip-column-names",
                db,
                "-e",
                sql,
            ])
            .output()
            .expect("the mariadb client runs");
        assert!(
            out.status.success(),
            "`{sql}` failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn stop(&mut self) {
        if let Some(child) = self.child.take() {
            terminate(child, libc::SIGTERM, Duration::from_secs(30));
        }
    }
}

impl Drop for MariaDb {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A private php-fpm master with one pool, `[site]`.
struct PhpFpm {
    listen: Listen,
    child: Child,
    stopped: bool,
}

impl PhpFpm {
    fn start(dir: &Path, user: &str, listen: Listen) -> PhpFpm {
        let conf = dir.join("php-fpm.conf");
        let log = dir.join("php-fpm.log");
        let address = match &listen {
            Listen::Unix(p) => p.display().to_string(),
            Listen::Tcp(port) => format!("127.0.0.1:{port}"),
        };
        // PHP's error_log stays unset: then php-fpm sends PHP's messages to the web server on
        // the FastCGI stderr stream, which mod_proxy_fcgi logs (AH01071), as well as to the
        // worker's stderr, which catch_workers_output copies into php-fpm.log.
        write_file(
            &conf,
            &format!(
                "[global]\n\
                 pid = {dir}/php-fpm.pid\n\
                 error_log = {log}\n\
                 daemonize = no\n\
                 systemd_interval = 0\n\
                 \n\
                 [site]\n\
                 user = {user}\n\
                 group = {user}\n\
                 listen = {address}\n\
                 listen.owner = www-data\n\
                 listen.group = www-data\n\
                 listen.mode = 0660\n\
                 pm = static\n\
                 pm.max_children = 2\n\
                 catch_workers_output = yes\n\
                 php_admin_flag[log_errors] = on\n\
                 php_admin_flag[display_errors] = off\n",
                dir = dir.display(),
                log = log.display(),
            ),
            0o644,
        );
        let out = std::fs::File::create(dir.join("php-fpm.out")).unwrap();
        let mut cmd = Command::new(PHP_FPM);
        cmd.arg("--nodaemonize")
            .arg("--fpm-config")
            .arg(&conf)
            .env_remove("NOTIFY_SOCKET")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out);
        die_with_parent(&mut cmd);
        let mut fpm = PhpFpm {
            listen,
            child: cmd.spawn().expect("php-fpm runs"),
            stopped: false,
        };
        let logs = || {
            format!(
                "{}{}",
                std::fs::read_to_string(dir.join("php-fpm.out")).unwrap_or_default(),
                std::fs::read_to_string(&log).unwrap_or_default()
            )
        };
        let listen = fpm.listen.clone();
        wait_until(
            "php-fpm accepts connections",
            Duration::from_secs(20),
            || match &listen {
                Listen::Unix(p) => UnixStream::connect(p).is_ok(),
                Listen::Tcp(port) => TcpStream::connect(("127.0.0.1", *port)).is_ok(),
            },
            || fpm.child.try_wait().ok().flatten().is_some().then(logs),
            logs,
        );
        fpm
    }

    fn stop(&mut self) {
        if !self.stopped {
            self.stopped = true;
            // SIGQUIT: graceful (workers finish their request); SIGKILL after 10 s.
            // SAFETY: the pid is our own child, not yet reaped.
            unsafe { libc::kill(self.child.id() as i32, libc::SIGQUIT) };
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if self.child.try_wait().ok().flatten().is_some() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Drop for PhpFpm {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Signals our child `how`, waits up to `patience` for it to exit, then kills it.
fn terminate(mut child: Child, how: i32, patience: Duration) {
    // SAFETY: the pid is our own child, not yet reaped.
    unsafe { libc::kill(child.id() as i32, how) };
    let deadline = Instant::now() + patience;
    while Instant::now() < deadline {
        if child.try_wait().ok().flatten().is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Has the kernel send SIGTERM to the child when the thread that started it ends, so that a
/// test binary killed outright (a CI timeout) leaves no server behind. (Drop stops it before
/// that in every other case; the thread that builds a WordPress must outlive it, as a test's
/// does.)
fn die_with_parent(cmd: &mut Command) {
    // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
}

/// Polls `ready` every 20 ms; panics with `log()` when `failed` returns Some or on timeout.
fn wait_until(
    what: &str,
    limit: Duration,
    mut ready: impl FnMut() -> bool,
    mut failed: impl FnMut() -> Option<String>,
    log: impl Fn() -> String,
) {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if ready() {
            return;
        }
        if let Some(why) = failed() {
            panic!("waiting until {what}: the process exited\n{why}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("{what}: not within {limit:?}\n{}", log());
}

/// Copies Debian's WordPress into `site`, following its symlinks (into /etc/wordpress,
/// /var/lib/wordpress, /usr/share/php, /usr/share/javascript) so that the copy is
/// self-contained, then gives it to root, readable by all.
fn copy_site(site: &Path) {
    super::sh(&format!(
        "cp -rL {WORDPRESS} '{s}' && chown -R root:root '{s}' && chmod -R u=rwX,go=rX '{s}'",
        s = site.display()
    ));
    // As in WordPress's own archive (Debian keeps this one in /var/lib/wordpress/wp-content).
    write_file(
        &site.join("wp-content/index.php"),
        "<?php\n// Silence is golden.\n",
        0o644,
    );
    let content = site.join("wp-content");
    let meta = std::fs::symlink_metadata(&content).unwrap();
    assert!(
        meta.is_dir(),
        "{} is not a real directory",
        content.display()
    );
}

/// The copy reads nothing of Debian's installation: no symlink left, no path naming
/// /etc/wordpress (Debian's wp-config.php reads config-HOST.php there), /var/lib/wordpress
/// (Debian's WP_CONTENT_DIR) or /usr/share/wordpress.
fn assert_self_contained(site: &Path) {
    let out = Command::new("find")
        .arg(site)
        .args(["-type", "l"])
        .output()
        .unwrap();
    assert!(
        out.status.success() && out.stdout.is_empty(),
        "symlinks in the copy:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = Command::new("grep")
        .args([
            "-rlE",
            "/etc/wordpress|/var/lib/wordpress|/usr/share/wordpress",
        ])
        .arg(site)
        .output()
        .unwrap();
    // grep: 1 when nothing matched.
    assert!(
        out.status.code() == Some(1),
        "the copy names Debian's installation:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn write_file(path: &Path, text: &str, mode: u32) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn id_of(user: &str, flag: &str) -> Option<u32> {
    let out = Command::new("id").args([flag, user]).output().ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

pub fn uid_of(user: &str) -> u32 {
    id_of(user, "-u").unwrap_or_else(|| panic!("no user {user}"))
}

pub fn gid_of(user: &str) -> u32 {
    id_of(user, "-g").unwrap_or_else(|| panic!("no user {user}"))
}

/// The owner uid of `path`.
pub fn owner_of(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().uid()
}

/// The current UTC year and month, as WordPress names upload folders (`2026/12`).
pub fn utc_year_month() -> String {
    // SAFETY: time and gmtime_r with valid pointers to locals.
    unsafe {
        let now = libc::time(std::ptr::null_mut());
        let mut tm: libc::tm = std::mem::zeroed();
        libc::gmtime_r(&now, &mut tm);
        format!("{:04}/{:02}", tm.tm_year + 1900, tm.tm_mon + 1)
    }
}

/// A valid `width`x`height` RGB PNG (a gradient), zlib data in stored blocks.
pub fn png(width: u32, height: u32) -> Vec<u8> {
    let mut raw = Vec::with_capacity(((width * 3 + 1) * height) as usize);
    for y in 0..height {
        raw.push(0); // filter: none
        for x in 0..width {
            raw.extend_from_slice(&[
                (x * 255 / width.max(1)) as u8,
                (y * 255 / height.max(1)) as u8,
                0x80,
            ]);
        }
    }
    let mut z = vec![0x78, 0x01];
    let mut blocks = raw.chunks(65_535).peekable();
    if blocks.peek().is_none() {
        z.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    while let Some(block) = blocks.next() {
        let len = block.len() as u16;
        z.push(u8::from(blocks.peek().is_none()));
        z.extend_from_slice(&len.to_le_bytes());
        z.extend_from_slice(&(!len).to_le_bytes());
        z.extend_from_slice(block);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in &raw {
        a = (a + u32::from(byte)) % 65_521;
        b = (b + a) % 65_521;
    }
    z.extend_from_slice(&((b << 16) | a).to_be_bytes());

    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit RGB, deflate, no filter, no interlace
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    for (kind, data) in [(&b"IHDR"[..], &ihdr[..]), (b"IDAT", &z), (b"IEND", &[])] {
        png.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let start = png.len();
        png.extend_from_slice(kind);
        png.extend_from_slice(data);
        let crc = crc32(&png[start..]);
        png.extend_from_slice(&crc.to_be_bytes());
    }
    png
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

pub fn base64(data: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn fmt_ms(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}
