//! Application presets: for a handful of well-known PHP applications, the files that identify an
//! installation and the directories the application's own documentation says must exist or be
//! writable by the user it runs as. Pure data and detection logic: `detect` never touches the
//! filesystem itself, the caller decides where and when a path is looked at (see docs/apps.md).

use super::spec::Access;
use std::path::{Path, PathBuf};

/// One directory an application needs, relative to the application's root.
#[derive(Debug)]
pub struct PresetDir {
    /// Relative to the application's root, `/`-separated, no `..`: `wp-content/uploads`.
    pub rel: &'static str,
    /// What the application's user needs: `Read` (r-x) or `ReadWrite` (rwx).
    pub access: Access,
    /// The application creates it itself when missing (WordPress creates uploads on the first
    /// upload, if wp-content is writable). Then "missing" is healthy as long as the application's
    /// user can create it.
    pub on_demand: bool,
    /// One short sentence: what breaks without it (shown in log lines).
    pub why: &'static str,
}

/// An application the module recognises, and what it needs.
#[derive(Debug)]
pub struct Preset {
    /// Lowercase keyword used in configuration (`DirGuardApps wordpress`).
    pub name: &'static str,
    /// As the application spells its name: `WordPress`.
    pub title: &'static str,
    /// Files (relative to the application's root) that must all exist for the application to be
    /// detected; the first one is the one lines name.
    pub signature: &'static [&'static str],
    /// When the served directory is a sub-directory of the application's root (Laravel and
    /// Symfony serve `public/`, Magento can serve `pub/`): the names of such served
    /// sub-directories, so that detection also looks at the parent.
    pub served_subdirs: &'static [&'static str],
    /// The directories it needs.
    pub dirs: &'static [PresetDir],
    /// The application's own documentation of these directories (cited in docs/apps.md).
    pub source: &'static str,
}

const fn dir(rel: &'static str, access: Access, on_demand: bool, why: &'static str) -> PresetDir {
    PresetDir {
        rel,
        access,
        on_demand,
        why,
    }
}

use Access::{Read, ReadWrite};

/// Every preset, in the order detection reports them. Each directory, its access and whether it
/// is created on demand are justified in docs/apps.md from the application's own documentation.
static PRESETS: &[Preset] = &[
    Preset {
        name: "wordpress",
        title: "WordPress",
        signature: &["wp-login.php", "wp-includes/version.php"],
        served_subdirs: &[],
        dirs: &[
            dir(
                "wp-content",
                Read,
                false,
                "WordPress loads themes and plugins from it and creates uploads in it.",
            ),
            dir(
                "wp-content/uploads",
                ReadWrite,
                true,
                "Media uploads fail without it (\"Unable to create directory\").",
            ),
        ],
        source: "https://developer.wordpress.org/advanced-administration/security/hardening/#file-permissions",
    },
    Preset {
        name: "drupal",
        title: "Drupal",
        signature: &["core/lib/Drupal.php", "core/includes/bootstrap.inc"],
        served_subdirs: &[],
        dirs: &[dir(
            "sites/default/files",
            ReadWrite,
            false,
            "Drupal stores uploaded files and aggregated CSS/JS there; pages lose their styles and uploads fail.",
        )],
        source: "https://git.drupalcode.org/project/drupal/-/blob/11.x/core/INSTALL.txt",
    },
    Preset {
        name: "nextcloud",
        title: "Nextcloud",
        signature: &["lib/versioncheck.php", "occ"],
        served_subdirs: &[],
        dirs: &[
            dir(
                "config",
                ReadWrite,
                false,
                "Nextcloud refuses to serve (\"Cannot write into config directory\") unless config_is_read_only is set.",
            ),
            dir("apps", Read, false, "Nextcloud's shipped apps are loaded from it."),
        ],
        source: "https://docs.nextcloud.com/server/latest/admin_manual/installation/installation_wizard.html#setting-strong-directory-permissions",
    },
    Preset {
        name: "laravel",
        title: "Laravel",
        signature: &["artisan", "bootstrap/app.php"],
        served_subdirs: &["public"],
        dirs: &[
            dir(
                "storage",
                ReadWrite,
                false,
                "Laravel writes logs, compiled views, sessions and file caches under it.",
            ),
            dir(
                "storage/framework/views",
                ReadWrite,
                false,
                "Blade views cannot be compiled (\"Please provide a valid cache path\").",
            ),
            dir(
                "storage/logs",
                ReadWrite,
                true,
                "Laravel cannot write its log, so errors go unrecorded.",
            ),
            dir(
                "bootstrap/cache",
                ReadWrite,
                false,
                "Laravel cannot write its route, config and service caches.",
            ),
        ],
        source: "https://laravel.com/docs/deployment#directory-permissions",
    },
    Preset {
        name: "symfony",
        title: "Symfony",
        signature: &["bin/console", "config/bundles.php"],
        served_subdirs: &["public"],
        dirs: &[
            dir(
                "var/cache",
                Read,
                true,
                "The compiled container is read from it; Symfony builds it there when it is missing.",
            ),
            dir(
                "var/log",
                ReadWrite,
                true,
                "Log files cannot be written, so errors go unrecorded.",
            ),
        ],
        source: "https://symfony.com/doc/current/setup/file_permissions.html",
    },
    Preset {
        name: "joomla",
        title: "Joomla",
        signature: &["administrator/manifests/files/joomla.xml", "api/includes/app.php"],
        served_subdirs: &[],
        dirs: &[
            dir(
                "administrator/cache",
                ReadWrite,
                true,
                "Joomla caches its class map and cached pages there.",
            ),
            dir(
                "administrator/logs",
                ReadWrite,
                true,
                "Joomla cannot write its log files.",
            ),
            dir(
                "tmp",
                ReadWrite,
                false,
                "Installing and updating Joomla and its extensions fails.",
            ),
            dir(
                "images",
                ReadWrite,
                false,
                "The Media Manager cannot store uploaded images.",
            ),
        ],
        source: "https://manual.joomla.org/docs/general-concepts/cache/caching-views-modules",
    },
    Preset {
        name: "mediawiki",
        title: "MediaWiki",
        signature: &["includes/Defines.php", "load.php", "api.php"],
        served_subdirs: &[],
        dirs: &[dir(
            "images",
            Read,
            false,
            "Uploaded files and their thumbnails are stored and served from it.",
        )],
        source: "https://www.mediawiki.org/wiki/Manual:Configuring_file_uploads",
    },
    Preset {
        name: "magento",
        title: "Magento",
        signature: &["bin/magento", "app/etc/di.xml"],
        served_subdirs: &["pub"],
        dirs: &[
            dir(
                "var",
                ReadWrite,
                false,
                "Magento writes its cache, sessions, logs and reports under it.",
            ),
            dir(
                "pub/media",
                ReadWrite,
                false,
                "Product images and other uploads cannot be stored.",
            ),
            dir(
                "pub/static",
                Read,
                false,
                "Deployed CSS, JavaScript and images are served from it.",
            ),
            dir(
                "generated",
                Read,
                false,
                "Magento loads its generated classes from it.",
            ),
            dir(
                "app/etc",
                Read,
                false,
                "Magento reads env.php and config.php from it.",
            ),
        ],
        source: "https://experienceleague.adobe.com/en/docs/commerce-operations/configuration-guide/deployment/file-system-permissions",
    },
];

/// Every preset, in detection order.
pub fn all() -> &'static [Preset] {
    PRESETS
}

/// The preset with this keyword, compared case-insensitively.
pub fn by_name(name: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|p| p.name.eq_ignore_ascii_case(name))
}

/// The keywords, for error messages ("known: wordpress, drupal, …").
pub fn names() -> Vec<&'static str> {
    PRESETS.iter().map(|p| p.name).collect()
}

/// What detection found under one served directory.
#[derive(Debug)]
pub struct Detected {
    pub preset: &'static Preset,
    /// The application's root: the served directory, or its parent when the served directory is
    /// one of the preset's `served_subdirs`.
    pub root: PathBuf,
    /// The preset's first signature file under `root`.
    pub signature: PathBuf,
}

/// Detection for one served directory. `exists(path)` says whether a file exists; it is the only
/// way this looks at the filesystem. Looks at `served` itself and, when `served`'s last component
/// is one of a preset's `served_subdirs`, at its parent. At most one `Detected` per (root,
/// preset), in the order of `all()`, `served` before its parent; a preset's signature files are
/// asked in order and asking stops at the first missing one.
pub fn detect(served: &Path, exists: &mut dyn FnMut(&Path) -> bool) -> Vec<Detected> {
    let last = served.file_name();
    let parent = served.parent().filter(|p| !p.as_os_str().is_empty());
    let mut found: Vec<Detected> = Vec::new();
    for preset in PRESETS {
        let from_parent = match (last, parent) {
            (Some(last), Some(parent)) if preset.served_subdirs.iter().any(|s| last == *s) => {
                Some(parent)
            }
            _ => None,
        };
        for root in std::iter::once(served).chain(from_parent) {
            if found
                .iter()
                .any(|d| std::ptr::eq(d.preset, preset) && d.root == root)
            {
                continue;
            }
            if preset.signature.iter().all(|file| exists(&root.join(file))) {
                found.push(Detected {
                    preset,
                    root: root.to_path_buf(),
                    signature: root.join(preset.signature[0]),
                });
            }
        }
    }
    found
}

/// The checklist of a preset's directories as a Markdown table (docs/wordpress.md carries
/// WordPress's, and a test checks that it is exactly this): directory, access, owner, mode,
/// whether the application creates it, and why.
pub fn checklist(p: &Preset) -> String {
    let mut out = String::from(
        "| directory | access | owner and group | mode | created by the application | why |\n\
         |---|---|---|---|---|---|\n",
    );
    for d in p.dirs {
        let (access, owner) = match d.access {
            Access::ReadWrite => ("read, write, search (`rw`)", "the user PHP runs as"),
            _ => (
                "read and search (`r`)",
                "root (readable by the user PHP runs as)",
            ),
        };
        out.push_str(&format!(
            "| `{}` | {access} | {owner} | 0755 | {} | {} |\n",
            d.rel,
            if d.on_demand {
                "yes, when it needs it, if its parent is writable for it"
            } else {
                "no"
            },
            d.why.replace('|', "\\|")
        ));
    }
    out
}

#[cfg(test)]
mod tests {

    #[test]
    fn the_wordpress_checklist_in_the_docs_is_the_presets() {
        let doc = include_str!("../../docs/wordpress.md");
        let table = checklist(by_name("wordpress").unwrap());
        assert!(
            doc.contains(&table),
            "docs/wordpress.md differs from the WordPress preset; its table must read:\n{table}"
        );
    }
    use super::*;
    use std::collections::BTreeSet;
    use std::path::Component;

    /// A fake filesystem: the files that exist, and every path asked about.
    struct Fake {
        files: BTreeSet<PathBuf>,
        asked: Vec<PathBuf>,
    }

    impl Fake {
        fn new<I: IntoIterator<Item = S>, S: AsRef<Path>>(files: I) -> Fake {
            Fake {
                files: files
                    .into_iter()
                    .map(|f| f.as_ref().to_path_buf())
                    .collect(),
                asked: Vec::new(),
            }
        }

        /// `root`'s files, each relative path joined to it.
        fn under(root: &str, rels: &[&str]) -> Fake {
            Fake::new(rels.iter().map(|r| Path::new(root).join(r)))
        }

        fn detect(&mut self, served: &str) -> Vec<(&'static str, PathBuf, PathBuf)> {
            let files = &self.files;
            let asked = &mut self.asked;
            let mut exists = |p: &Path| {
                asked.push(p.to_path_buf());
                files.contains(p)
            };
            detect(Path::new(served), &mut exists)
                .into_iter()
                .map(|d| (d.preset.name, d.root, d.signature))
                .collect()
        }

        fn names(&mut self, served: &str) -> Vec<&'static str> {
            self.detect(served).into_iter().map(|d| d.0).collect()
        }
    }

    // Realistic trees (the files that matter for telling applications apart), relative to the
    // project's root. Paths under a prefix below are joined to the tree's root in each test.
    const WORDPRESS: &[&str] = &[
        "index.php",
        "wp-login.php",
        "wp-load.php",
        "wp-config.php",
        "wp-includes/version.php",
        "wp-admin/index.php",
        "wp-content/index.php",
    ];
    const DRUPAL_TARBALL: &[&str] = &[
        "index.php",
        "autoload.php",
        "composer.json",
        "core/lib/Drupal.php",
        "core/includes/bootstrap.inc",
        "core/INSTALL.txt",
        "sites/default/settings.php",
        "vendor/autoload.php",
        "vendor/symfony/console/Application.php",
    ];
    /// Drupal's recommended-project: the Drupal root is `web/`, vendor/ sits beside it.
    const DRUPAL_RECOMMENDED: &[&str] = &[
        "composer.json",
        "vendor/autoload.php",
        "vendor/bin/drush",
        "vendor/symfony/console/Application.php",
        "config/sync/.htaccess",
        "web/index.php",
        "web/autoload.php",
        "web/core/lib/Drupal.php",
        "web/core/includes/bootstrap.inc",
        "web/sites/default/settings.php",
    ];
    const NEXTCLOUD: &[&str] = &[
        "index.php",
        "occ",
        "status.php",
        "remote.php",
        "version.php",
        "lib/versioncheck.php",
        "lib/base.php",
        "config/config.php",
        "apps/files/appinfo/info.xml",
    ];
    const LARAVEL: &[&str] = &[
        "artisan",
        "composer.json",
        "bootstrap/app.php",
        "config/app.php",
        "public/index.php",
        "routes/web.php",
        "vendor/autoload.php",
        "vendor/symfony/console/Application.php",
        "vendor/laravel/framework/src/Illuminate/Foundation/Application.php",
    ];
    const SYMFONY: &[&str] = &[
        "composer.json",
        "bin/console",
        "config/bundles.php",
        "config/packages/framework.yaml",
        "src/Kernel.php",
        "public/index.php",
        "vendor/autoload.php",
        "vendor/symfony/console/Application.php",
    ];
    const JOOMLA: &[&str] = &[
        "index.php",
        "configuration.php",
        "includes/app.php",
        "includes/defines.php",
        "administrator/index.php",
        "administrator/manifests/files/joomla.xml",
        "api/index.php",
        "api/includes/app.php",
        "libraries/src/Version.php",
    ];
    const MEDIAWIKI: &[&str] = &[
        "index.php",
        "api.php",
        "load.php",
        "rest.php",
        "LocalSettings.php",
        "includes/Defines.php",
        "images/README",
    ];
    const MAGENTO: &[&str] = &[
        "index.php",
        "composer.json",
        "bin/magento",
        "app/bootstrap.php",
        "app/etc/di.xml",
        "app/etc/env.php",
        "pub/index.php",
        "pub/static.php",
        "vendor/symfony/console/Application.php",
    ];

    fn preset(name: &str) -> &'static Preset {
        by_name(name).unwrap_or_else(|| panic!("no preset {name}"))
    }

    #[test]
    fn each_app_is_detected_from_its_signature() {
        for p in all() {
            let mut fake = Fake::under("/srv/app", p.signature);
            let got = fake.detect("/srv/app");
            assert_eq!(got.len(), 1, "{}: {got:?}", p.name);
            assert_eq!(got[0].0, p.name);
            assert_eq!(got[0].1, Path::new("/srv/app"));
            assert_eq!(got[0].2, Path::new("/srv/app").join(p.signature[0]));
        }
    }

    #[test]
    fn each_realistic_tree_is_exactly_its_app() {
        let cases: &[(&str, &[&str], &str, &str, &str)] = &[
            // (app, tree under /srv/x, served directory, expected root, expected signature)
            (
                "wordpress",
                WORDPRESS,
                "/srv/x",
                "/srv/x",
                "/srv/x/wp-login.php",
            ),
            (
                "drupal",
                DRUPAL_TARBALL,
                "/srv/x",
                "/srv/x",
                "/srv/x/core/lib/Drupal.php",
            ),
            (
                "drupal",
                DRUPAL_RECOMMENDED,
                "/srv/x/web",
                "/srv/x/web",
                "/srv/x/web/core/lib/Drupal.php",
            ),
            (
                "nextcloud",
                NEXTCLOUD,
                "/srv/x",
                "/srv/x",
                "/srv/x/lib/versioncheck.php",
            ),
            (
                "laravel",
                LARAVEL,
                "/srv/x/public",
                "/srv/x",
                "/srv/x/artisan",
            ),
            ("laravel", LARAVEL, "/srv/x", "/srv/x", "/srv/x/artisan"),
            (
                "symfony",
                SYMFONY,
                "/srv/x/public",
                "/srv/x",
                "/srv/x/bin/console",
            ),
            ("symfony", SYMFONY, "/srv/x", "/srv/x", "/srv/x/bin/console"),
            (
                "joomla",
                JOOMLA,
                "/srv/x",
                "/srv/x",
                "/srv/x/administrator/manifests/files/joomla.xml",
            ),
            (
                "mediawiki",
                MEDIAWIKI,
                "/srv/x",
                "/srv/x",
                "/srv/x/includes/Defines.php",
            ),
            (
                "magento",
                MAGENTO,
                "/srv/x/pub",
                "/srv/x",
                "/srv/x/bin/magento",
            ),
            ("magento", MAGENTO, "/srv/x", "/srv/x", "/srv/x/bin/magento"),
        ];
        for (app, tree, served, root, signature) in cases {
            let mut fake = Fake::under("/srv/x", tree);
            let got = fake.detect(served);
            assert_eq!(
                got,
                vec![(*app, PathBuf::from(root), PathBuf::from(signature))],
                "{app} served at {served}"
            );
        }
    }

    #[test]
    fn laravel_is_found_from_its_public_directory() {
        let mut fake = Fake::under(
            "/srv/app",
            &["artisan", "bootstrap/app.php", "public/index.php"],
        );
        let got = fake.detect("/srv/app/public");
        assert_eq!(
            got,
            vec![(
                "laravel",
                PathBuf::from("/srv/app"),
                PathBuf::from("/srv/app/artisan")
            )]
        );
        // A trailing slash names the same directory.
        let mut fake = Fake::under("/srv/app", &["artisan", "bootstrap/app.php"]);
        assert_eq!(fake.names("/srv/app/public/"), vec!["laravel"]);
    }

    #[test]
    fn a_served_subdirectory_of_another_name_does_not_look_at_the_parent() {
        // Laravel serves public/, not web/ or html/ (and the name is compared exactly).
        for served in ["/srv/app/web", "/srv/app/html", "/srv/app/Public"] {
            let mut fake = Fake::under("/srv/app", &["artisan", "bootstrap/app.php"]);
            assert!(fake.names(served).is_empty(), "{served}");
            assert!(
                fake.asked.iter().all(|p| p.starts_with(served)),
                "{served}: asked {:?}",
                fake.asked
            );
        }
        // Magento's pub/ makes only Magento look up, so a Laravel above it is not found.
        let mut fake = Fake::under("/srv/app", &["artisan", "bootstrap/app.php"]);
        assert!(fake.names("/srv/app/pub").is_empty());
        let above: Vec<&PathBuf> = fake
            .asked
            .iter()
            .filter(|p| !p.starts_with("/srv/app/pub"))
            .collect();
        assert_eq!(above, vec![&PathBuf::from("/srv/app/bin/magento")]);
    }

    #[test]
    fn a_partial_signature_detects_nothing() {
        for p in all() {
            assert!(
                p.signature.len() >= 2,
                "{}: one file is too weak a signature",
                p.name
            );
            for missing in 0..p.signature.len() {
                let files: Vec<&str> = p
                    .signature
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| *i != missing)
                    .map(|(_, f)| *f)
                    .collect();
                let mut fake = Fake::under("/srv/app", &files);
                assert!(
                    fake.names("/srv/app").is_empty(),
                    "{} detected without {}",
                    p.name,
                    p.signature[missing]
                );
            }
        }
    }

    #[test]
    fn no_false_positive_between_apps() {
        // A Symfony application is not Laravel, from the root or from public/.
        let mut fake = Fake::under("/srv/x", SYMFONY);
        assert_eq!(fake.names("/srv/x/public"), vec!["symfony"]);
        assert_eq!(fake.names("/srv/x"), vec!["symfony"]);
        // A Laravel application (which ships Symfony's components in vendor/) is not Symfony.
        let mut fake = Fake::under("/srv/x", LARAVEL);
        assert_eq!(fake.names("/srv/x/public"), vec!["laravel"]);
        // Drupal's recommended-project: found in web/ (the Drupal root), nothing at the project
        // root, and Symfony's components in vendor/ do not make it a Symfony application.
        let mut fake = Fake::under("/srv/x", DRUPAL_RECOMMENDED);
        assert_eq!(fake.names("/srv/x/web"), vec!["drupal"]);
        assert!(fake.names("/srv/x").is_empty());
        // Magento (a Symfony-console CLI, served from pub/) is only Magento.
        let mut fake = Fake::under("/srv/x", MAGENTO);
        assert_eq!(fake.names("/srv/x/pub"), vec!["magento"]);
        // Joomla's includes/defines.php is not MediaWiki's includes/Defines.php, and MediaWiki's
        // api.php is not Joomla's API application.
        let mut fake = Fake::under("/srv/x", JOOMLA);
        assert_eq!(fake.names("/srv/x"), vec!["joomla"]);
        let mut fake = Fake::under("/srv/x", MEDIAWIKI);
        assert_eq!(fake.names("/srv/x"), vec!["mediawiki"]);
        // Every realistic tree, served from its root, is at most its own application.
        let trees: &[(&str, &[&str])] = &[
            ("wordpress", WORDPRESS),
            ("drupal", DRUPAL_TARBALL),
            ("nextcloud", NEXTCLOUD),
            ("laravel", LARAVEL),
            ("symfony", SYMFONY),
            ("joomla", JOOMLA),
            ("mediawiki", MEDIAWIKI),
            ("magento", MAGENTO),
        ];
        for (app, tree) in trees {
            let mut fake = Fake::under("/srv/x", tree);
            assert_eq!(fake.names("/srv/x"), vec![*app]);
        }
    }

    #[test]
    fn detection_only_looks_through_exists() {
        // Paths that exist nowhere: only the fake says they do.
        let root = "/nonexistent-dirguard-apps-test/site";
        let mut fake = Fake::under(root, WORDPRESS);
        assert_eq!(fake.names(root), vec!["wordpress"]);
        // Every path asked is a file under the served directory (or its parent for presets that
        // look there), never the directory itself.
        let served = "/nonexistent-dirguard-apps-test/app/public";
        let mut fake = Fake::new(Vec::<PathBuf>::new());
        assert!(fake.names(served).is_empty());
        let parent = Path::new(served).parent().unwrap();
        for p in &fake.asked {
            assert!(
                p.starts_with(parent) && p != Path::new(served) && p != parent,
                "{p:?}"
            );
        }
        // Nothing exists: each preset asks for its first signature file only, at the served
        // directory, plus once at the parent for those that serve public/.
        let expected = all().len()
            + all()
                .iter()
                .filter(|p| p.served_subdirs.contains(&"public"))
                .count();
        assert_eq!(fake.asked.len(), expected, "{:?}", fake.asked);
    }

    #[test]
    fn order_is_deterministic_and_each_root_preset_pair_is_reported_once() {
        // A WordPress in the served directory, a Laravel above it: the preset order decides.
        let mut files: Vec<PathBuf> = WORDPRESS
            .iter()
            .map(|f| Path::new("/srv/x/public").join(f))
            .collect();
        files.extend(LARAVEL.iter().map(|f| Path::new("/srv/x").join(f)));
        let mut fake = Fake::new(&files);
        let first = fake.detect("/srv/x/public");
        assert_eq!(
            first,
            vec![
                (
                    "wordpress",
                    PathBuf::from("/srv/x/public"),
                    PathBuf::from("/srv/x/public/wp-login.php")
                ),
                (
                    "laravel",
                    PathBuf::from("/srv/x"),
                    PathBuf::from("/srv/x/artisan")
                ),
            ]
        );
        assert_eq!(fake.detect("/srv/x/public"), first);
        // Every preset's files at once: each preset once, in all()'s order.
        let everything: Vec<&str> = all()
            .iter()
            .flat_map(|p| p.signature.iter().copied())
            .collect();
        let mut fake = Fake::under("/srv/y", &everything);
        assert_eq!(fake.names("/srv/y"), names());
    }

    #[test]
    fn odd_served_paths_do_not_panic() {
        for served in ["/", "", "public", ".", "..", "/public"] {
            let mut fake = Fake::new(Vec::<PathBuf>::new());
            assert!(fake.names(served).is_empty(), "{served:?}");
        }
        // A relative served directory named public has no parent to look at.
        let mut fake = Fake::new(["artisan", "bootstrap/app.php"]);
        assert!(fake.names("public").is_empty());
        // At the filesystem root, public/'s parent is '/'.
        let mut fake = Fake::new(["/artisan", "/bootstrap/app.php"]);
        assert_eq!(fake.names("/public"), vec!["laravel"]);
    }

    #[test]
    fn by_name_is_case_insensitive() {
        for name in ["wordpress", "WordPress", "WORDPRESS", "wOrDpReSs"] {
            assert_eq!(by_name(name).map(|p| p.title), Some("WordPress"), "{name}");
        }
        assert_eq!(by_name("Magento").map(|p| p.name), Some("magento"));
        assert!(by_name("").is_none());
        assert!(by_name("word press").is_none());
        assert!(by_name("wordpress ").is_none());
        assert!(by_name("typo3").is_none());
        for p in all() {
            assert!(std::ptr::eq(by_name(&p.name.to_uppercase()).unwrap(), p));
        }
    }

    #[test]
    fn names_are_the_documented_keywords_in_order() {
        assert_eq!(
            names(),
            vec![
                "wordpress",
                "drupal",
                "nextcloud",
                "laravel",
                "symfony",
                "joomla",
                "mediawiki",
                "magento"
            ]
        );
    }

    fn is_clean_relative(rel: &str) -> bool {
        !rel.is_empty()
            && !rel.ends_with('/')
            && !rel.contains("//")
            && Path::new(rel)
                .components()
                .all(|c| matches!(c, Component::Normal(_)))
    }

    #[test]
    fn preset_data_is_well_formed() {
        let mut seen = BTreeSet::new();
        for p in all() {
            assert!(seen.insert(p.name), "duplicate preset {}", p.name);
            assert!(
                !p.name.is_empty() && p.name.bytes().all(|b| b.is_ascii_lowercase()),
                "{}",
                p.name
            );
            assert!(!p.title.is_empty());
            assert!(p.source.starts_with("https://"), "{}: {}", p.name, p.source);
            assert!(!p.signature.is_empty());
            for f in p.signature {
                assert!(is_clean_relative(f), "{}: signature {f:?}", p.name);
            }
            for s in p.served_subdirs {
                assert!(
                    is_clean_relative(s) && !s.contains('/'),
                    "{}: {s:?}",
                    p.name
                );
            }
            assert!(!p.dirs.is_empty() && p.dirs.len() <= 5, "{}", p.name);
            let mut rels = BTreeSet::new();
            for d in p.dirs {
                assert!(is_clean_relative(d.rel), "{}: {:?}", p.name, d.rel);
                assert!(rels.insert(d.rel), "{}: {} twice", p.name, d.rel);
                assert!(
                    d.access != Access::None,
                    "{}: {} checks nothing",
                    p.name,
                    d.rel
                );
                assert!(
                    d.why.ends_with('.') && d.why.len() < 120 && !d.why.contains('\n'),
                    "{}: {}: {:?}",
                    p.name,
                    d.rel,
                    d.why
                );
                // A signature file is never a required directory.
                assert!(!p.signature.contains(&d.rel), "{}: {}", p.name, d.rel);
            }
        }
    }

    #[test]
    fn the_documented_choices_hold() {
        // The access and on-demand choices docs/apps.md justifies; a change here is a change
        // there.
        let table: &[(&str, &str, Access, bool)] = &[
            ("wordpress", "wp-content", Read, false),
            ("wordpress", "wp-content/uploads", ReadWrite, true),
            ("drupal", "sites/default/files", ReadWrite, false),
            ("nextcloud", "config", ReadWrite, false),
            ("nextcloud", "apps", Read, false),
            ("laravel", "storage", ReadWrite, false),
            ("laravel", "storage/framework/views", ReadWrite, false),
            ("laravel", "storage/logs", ReadWrite, true),
            ("laravel", "bootstrap/cache", ReadWrite, false),
            ("symfony", "var/cache", Read, true),
            ("symfony", "var/log", ReadWrite, true),
            ("joomla", "administrator/cache", ReadWrite, true),
            ("joomla", "administrator/logs", ReadWrite, true),
            ("joomla", "tmp", ReadWrite, false),
            ("joomla", "images", ReadWrite, false),
            ("mediawiki", "images", Read, false),
            ("magento", "var", ReadWrite, false),
            ("magento", "pub/media", ReadWrite, false),
            ("magento", "pub/static", Read, false),
            ("magento", "generated", Read, false),
            ("magento", "app/etc", Read, false),
        ];
        let total: usize = all().iter().map(|p| p.dirs.len()).sum();
        assert_eq!(total, table.len());
        for (app, rel, access, on_demand) in table {
            let d = preset(app)
                .dirs
                .iter()
                .find(|d| d.rel == *rel)
                .unwrap_or_else(|| panic!("{app}: no {rel}"));
            assert_eq!(
                (d.access, d.on_demand),
                (*access, *on_demand),
                "{app}: {rel}"
            );
        }
        assert_eq!(preset("laravel").served_subdirs, &["public"]);
        assert_eq!(preset("symfony").served_subdirs, &["public"]);
        assert_eq!(preset("magento").served_subdirs, &["pub"]);
        assert!(preset("drupal").served_subdirs.is_empty());
    }
}
