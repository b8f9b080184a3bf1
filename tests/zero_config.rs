//! Zero configuration: with `LoadModule` alone, each application the module knows is detected
//! by its signature files in the directory Apache serves, and what its documentation says it
//! needs is required — shown by `apachectl -t -D DUMP_DIRGUARD` with its origin; what Apache's
//! own configuration implies (`DAVLockDB`, `CacheRoot`) is named at startup when broken; and
//! `DirGuardApps` refuses an unknown application. (A real WordPress: tests/wordpress.rs.
//! Debian's stock configuration: tests/debian_layout.rs.)

mod common;
use common::Apache;

/// A preset as the test expects it: (title, served directory relative to the application's
/// root, signature files, directories the preset requires with their access).
type App = (
    &'static str,
    &'static str,
    &'static [&'static str],
    &'static [(&'static str, &'static str)],
);

const APPS: &[App] = &[
    (
        "WordPress",
        "",
        &["wp-login.php", "wp-includes/version.php"],
        &[("wp-content", "r"), ("wp-content/uploads", "rw")],
    ),
    (
        "Drupal",
        "",
        &["core/lib/Drupal.php", "core/includes/bootstrap.inc"],
        &[("sites/default/files", "rw")],
    ),
    (
        "Nextcloud",
        "",
        &["lib/versioncheck.php", "occ"],
        &[("config", "rw"), ("apps", "r")],
    ),
    (
        "Laravel",
        "public",
        &["artisan", "bootstrap/app.php"],
        &[("storage", "rw"), ("bootstrap/cache", "rw")],
    ),
    (
        "Symfony",
        "public",
        &["bin/console", "config/bundles.php"],
        &[("var/log", "rw")],
    ),
    (
        "Joomla",
        "",
        &[
            "administrator/manifests/files/joomla.xml",
            "api/includes/app.php",
        ],
        &[("tmp", "rw"), ("images", "rw")],
    ),
    (
        "MediaWiki",
        "",
        &["includes/Defines.php", "load.php", "api.php"],
        &[("images", "r")],
    ),
    (
        "Magento",
        "pub",
        &["bin/magento", "app/etc/di.xml"],
        &[("var", "rw"), ("pub/media", "rw")],
    ),
];

#[test]
fn each_application_is_detected_and_its_directories_are_dumped_with_their_origin() {
    let mut a = Apache::new("apps");
    a.zero_config();
    let mut hosts = String::new();
    let mut expected = Vec::new();
    for (i, (title, served, signature, dirs)) in APPS.iter().enumerate() {
        let root = a.path(&format!("apps/{i}"));
        for f in *signature {
            let file = root.join(f);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(&file, "").unwrap();
        }
        let docroot = if served.is_empty() {
            root.clone()
        } else {
            root.join(served)
        };
        std::fs::create_dir_all(&docroot).unwrap();
        for (rel, _) in *dirs {
            std::fs::create_dir_all(root.join(rel)).unwrap();
        }
        hosts.push_str(&format!(
            "<VirtualHost 127.0.0.1:{}>\n  ServerName app{i}.test\n  DocumentRoot {}\n</VirtualHost>\n",
            a.port,
            docroot.display()
        ));
        for (rel, access) in *dirs {
            expected.push((
                root.join(rel),
                *access,
                format!(
                    "preset {title} detected by '{}'",
                    root.join(signature[0]).display()
                ),
            ));
        }
    }
    // The trees are the administrator's, writable where the applications write.
    common::sh(&format!(
        "chmod -R a+rX '{0}/apps' && chown -R www-data '{0}/apps'",
        a.dir.display()
    ));
    a.config(&hosts);
    let out = a.run(&["-t", "-D", "DUMP_DIRGUARD"]);
    let dump = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{dump}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for (path, access, origin) in &expected {
        let entry = dump
            .split("\n'")
            .find(|e| e.starts_with(&format!("{}'", path.display())))
            .unwrap_or_else(|| panic!("{} in the dump:\n{dump}", path.display()));
        assert!(
            entry.contains(&format!("access {access},"))
                && entry.contains(origin.as_str())
                && entry.contains("now: healthy"),
            "{entry}"
        );
    }
    // And nothing of an application that is not there.
    assert!(
        !dump.contains("preset Nextcloud detected by '/nowhere"),
        "{dump}"
    );
}

#[test]
fn a_broken_davlockdb_or_cacheroot_is_named_at_startup_with_the_directive_and_a_fix() {
    require_root!("the log directories are checked for root, the lock directory for www-data");
    let mut a = Apache::new("derived");
    a.zero_config();
    let locks = a.path("locks");
    let cache = a.path("cache");
    std::fs::create_dir(&cache).unwrap();
    common::sh(&format!("chmod 0755 '{}'", cache.display()));
    a.config(&format!(
        "LoadModule dav_module /usr/lib/apache2/modules/mod_dav.so\n\
         LoadModule dav_fs_module /usr/lib/apache2/modules/mod_dav_fs.so\n\
         LoadModule cache_module /usr/lib/apache2/modules/mod_cache.so\n\
         LoadModule cache_disk_module /usr/lib/apache2/modules/mod_cache_disk.so\n\
         DAVLockDB {}/DAVLock\nCacheRoot {}\nCacheEnable disk /",
        locks.display(),
        cache.display()
    ))
    .allow("DG01101")
    .allow("DG01105")
    .allow("DG01301");
    let (ok, out) = a.configtest();
    assert!(ok, "{out}");
    let dav = out
        .lines()
        .find(|l| l.contains("DG01101"))
        .unwrap_or_else(|| panic!("DAVLockDB's directory named:\n{out}"));
    assert!(
        dav.contains(&format!(
            "required directory '{}' is missing",
            locks.display()
        )) && dav.contains("derived from DAVLockDB at ")
            && dav.contains("for User www-data"),
        "{dav}"
    );
    let cache_line = out
        .lines()
        .find(|l| l.contains("DG01105"))
        .unwrap_or_else(|| panic!("CacheRoot named:\n{out}"));
    assert!(
        cache_line.contains(&format!(
            "required directory '{}' does not grant access=rw",
            cache.display()
        )) && cache_line.contains("derived from CacheRoot at "),
        "{cache_line}"
    );
    // The fixes, as printed, make the next check clean.
    for l in [dav, cache_line] {
        common::sh(&common::fix_of(l));
    }
    let (ok, out) = a.configtest();
    assert!(
        ok && !out.contains("DG0110") && !out.contains("DG0111"),
        "{out}"
    );
}

#[test]
fn an_unknown_application_is_a_configuration_error_listing_the_known_ones() {
    let mut a = Apache::new("apps-bad");
    a.config("DirGuardApps wordpres");
    let (code, out) = a.configtest_code();
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("DirGuardApps: 'wordpres' is not a known application; known: wordpress, drupal, nextcloud, laravel, symfony, joomla, mediawiki, magento (or off, detect)"),
        "{out}"
    );
}
