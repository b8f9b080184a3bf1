//! Requirements nobody declared: those Apache's own configuration implies (`DocumentRoot`,
//! `Alias` targets, `DAVLockDB`, `CacheRoot`, log and pid files…), and the served directories in
//! which an application's preset may be detected (`core::apps`). Read from the parsed
//! configuration (`core::wiring::ConfNode`); pure computation, no filesystem call.

use super::identity::Identity;
use super::spec::{path_from_bytes, Access, Origin, Provenance, RequiredDir};
use super::wiring::ConfNode;
use std::path::{Path, PathBuf};

/// `DirGuardApps`: which application presets apply in a scope.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Apps {
    Off,
    #[default]
    Detect,
    /// These presets only (by name), detected or not: pinned.
    Only(Vec<String>),
}

impl Apps {
    /// `DirGuardApps off|detect|NAME…`: names must be known presets.
    pub fn parse(args: &[&str]) -> Result<Apps, String> {
        let known = super::apps::names().join(", ");
        match args {
            [] => Err(format!(
                "DirGuardApps needs an argument: off, detect, or application names ({known})"
            )),
            [one] if one.eq_ignore_ascii_case("off") => Ok(Apps::Off),
            [one] if one.eq_ignore_ascii_case("detect") => Ok(Apps::Detect),
            names => {
                let mut out = Vec::new();
                for n in names {
                    match super::apps::by_name(n) {
                        Some(p) => out.push(p.name.to_owned()),
                        None => {
                            return Err(format!(
                                "DirGuardApps: '{}' is not a known application; known: {known} (or off, detect)",
                                super::text::shown(n.as_bytes())
                            ))
                        }
                    }
                }
                Ok(Apps::Only(out))
            }
        }
    }
}

/// A directory Apache serves, where an application may live.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Served {
    pub dir: PathBuf,
    /// The directive that serves it (`DocumentRoot`, `Alias`, `<Directory>`), its place and node.
    pub directive: String,
    pub origin: Origin,
    pub node: usize,
    pub scope: String,
    pub apps: Apps,
}

/// What the configuration implies, and where applications may be detected.
#[derive(Debug, Default)]
pub struct Derived {
    pub required: Vec<RequiredDir>,
    pub served: Vec<Served>,
}

/// The identity that opens log and pid files: Apache's parent, as root, before it switches to
/// its User.
pub fn root_identity() -> Identity {
    Identity {
        uid: 0,
        gid: 0,
        groups: vec![0],
        user: "root".into(),
        group: "root".into(),
        origin: "root (Apache's parent opens it before switching to its User)".into(),
    }
}

/// Reads the tree. `server_root` resolves relative paths; `derive_default` and `apps_default`
/// are what applies where no `DirGuardDerive`/`DirGuardApps` says otherwise.
pub fn derive(tree: &[ConfNode], server_root: &Path) -> Derived {
    let mut out = Derived::default();
    let ctx = Ctx {
        scope: "server".into(),
        derive: true,
        apps: Apps::Detect,
    };
    walk(tree, &ctx, server_root, &mut out);
    // One requirement per path and kind: Debian's two default hosts both log into
    // /var/log/apache2, and serve /var/www/html.
    let mut seen: Vec<(PathBuf, Access, bool)> = Vec::new();
    out.required.retain(|d| {
        let key = (d.path.clone(), d.access, d.who.get().is_some());
        if seen.contains(&key) {
            false
        } else {
            seen.push(key);
            true
        }
    });
    out
}

#[derive(Clone)]
struct Ctx {
    scope: String,
    derive: bool,
    apps: Apps,
}

fn settings(level: &[ConfNode], ctx: &mut Ctx) {
    for n in level {
        if n.name.starts_with('<') {
            continue;
        }
        let words = n.words();
        if n.name.eq_ignore_ascii_case("DirGuardDerive") {
            ctx.derive = !words.first().is_some_and(|w| w.eq_ignore_ascii_case("off"));
        }
        if n.name.eq_ignore_ascii_case("DirGuardApps") {
            let w: Vec<&str> = words.iter().map(String::as_str).collect();
            if let Ok(a) = Apps::parse(&w) {
                ctx.apps = a;
            }
        }
    }
}

fn walk(level: &[ConfNode], outer: &Ctx, root: &Path, out: &mut Derived) {
    let mut ctx = outer.clone();
    settings(level, &mut ctx);
    for n in level {
        let name = n.name.to_ascii_lowercase();
        let origin = Origin {
            file: n.file.clone(),
            line: n.line,
        };
        let w = n.words();
        let abs = |p: &str| -> PathBuf {
            let trimmed = p.trim_end_matches('/');
            let p = path_from_bytes(if trimmed.is_empty() {
                b"/"
            } else {
                trimmed.as_bytes()
            });
            if p.is_absolute() {
                p
            } else {
                root.join(p)
            }
        };
        match name.as_str() {
            "<virtualhost" => {
                let mut inner = ctx.clone();
                inner.scope = format!("<VirtualHost {}>", n.args.trim_end_matches('>').trim());
                walk(&n.children, &inner, root, out);
            }
            "<directory" => {
                let arg = w.first().cloned().unwrap_or_default();
                let mut inner = ctx.clone();
                settings(&n.children, &mut inner);
                if !arg.starts_with('~') && !arg.contains(['*', '?', '[']) && arg.starts_with('/') {
                    out.served.push(Served {
                        dir: abs(&arg),
                        directive: "<Directory>".into(),
                        origin: origin.clone(),
                        node: n.key,
                        scope: ctx.scope.clone(),
                        apps: inner.apps.clone(),
                    });
                }
                walk_filters(&n.children, &inner, root, out);
            }
            _ if name.starts_with('<') => {
                // <Location>, <Files>, <If>, <IfModule> (already resolved): directives inside
                // apply within the same host.
                walk_filters(&n.children, &ctx, root, out);
            }
            _ => directive(n, &name, &w, &ctx, origin, &abs, out),
        }
    }
}

/// Sections inside a host or directory: their own settings, same scope.
fn walk_filters(level: &[ConfNode], ctx: &Ctx, root: &Path, out: &mut Derived) {
    walk(level, ctx, root, out);
}

fn directive(
    n: &ConfNode,
    name: &str,
    w: &[String],
    ctx: &Ctx,
    origin: Origin,
    abs: &dyn Fn(&str) -> PathBuf,
    out: &mut Derived,
) {
    let make = |path: PathBuf, access: Access, what: &str| {
        let mut d = RequiredDir::new(path, access, origin.clone());
        d.provenance = Provenance::Derived {
            directive: what.to_owned(),
        };
        d.scope = ctx.scope.clone();
        d
    };
    let dir_of = |p: &str| abs(p).parent().map(Path::to_path_buf);
    let is_file_path = |p: &str| !p.is_empty() && !p.starts_with('|') && !p.contains(':');
    match name {
        "documentroot" if !w.is_empty() => {
            let dir = abs(&w[0]);
            out.served.push(Served {
                dir: dir.clone(),
                directive: "DocumentRoot".into(),
                origin: origin.clone(),
                node: n.key,
                scope: ctx.scope.clone(),
                apps: ctx.apps.clone(),
            });
            if ctx.derive {
                let mut d = make(dir.clone(), Access::Read, "DocumentRoot");
                d.node = n.key; // checked for the application's user where it has one
                d.serves = Some(dir);
                out.required.push(d);
            }
        }
        "alias" | "scriptalias" if w.len() >= 2 => {
            let (url, target) = (&w[0], &w[1]);
            // A target that names a file (Alias /robots.txt /srv/robots.txt) is not a
            // directory requirement; one ending in '/' or reached by a URL ending in '/' is.
            let last = target
                .trim_end_matches('/')
                .rsplit('/')
                .next()
                .unwrap_or("");
            let is_dir = target.ends_with('/') || url.ends_with('/') || !last.contains('.');
            if !is_dir {
                return;
            }
            let dir = abs(target);
            let what = if name == "alias" {
                "Alias"
            } else {
                "ScriptAlias"
            };
            out.served.push(Served {
                dir: dir.clone(),
                directive: what.into(),
                origin: origin.clone(),
                node: n.key,
                scope: ctx.scope.clone(),
                apps: ctx.apps.clone(),
            });
            if ctx.derive {
                let mut d = make(dir.clone(), Access::Read, what);
                d.node = n.key;
                d.serves = Some(dir);
                out.required.push(d);
            }
        }
        // Directories the children (Apache's User) write into.
        "davlockdb" | "cacheroot" if ctx.derive && !w.is_empty() => {
            let (dir, what) = if name == "davlockdb" {
                (dir_of(&w[0]), "DAVLockDB")
            } else {
                (Some(abs(&w[0])), "CacheRoot")
            };
            if let Some(dir) = dir {
                // node 0: the server's User, whatever the application runs as.
                out.required.push(make(dir, Access::ReadWrite, what));
            }
        }
        // Files Apache's parent opens as root.
        "pidfile" | "errorlog" | "customlog" | "transferlog" | "scriptsock"
            if ctx.derive && !w.is_empty() && is_file_path(&w[0]) =>
        {
            let what = match name {
                "pidfile" => "PidFile",
                "errorlog" => "ErrorLog",
                "customlog" => "CustomLog",
                "transferlog" => "TransferLog",
                _ => "ScriptSock",
            };
            if let Some(dir) = dir_of(&w[0]) {
                let d = make(dir, Access::ReadWrite, what);
                let _ = d.who.set(std::sync::Arc::new(root_identity()));
                out.required.push(d);
            }
        }
        "mutex" if ctx.derive => {
            // Mutex file:/run/apache2 [names…] (or default file:DIR).
            if let Some(dir) = w
                .first()
                .and_then(|m| m.split_once(':'))
                .filter(|(kind, _)| kind.eq_ignore_ascii_case("file"))
                .map(|(_, d)| abs(d))
            {
                let d = make(dir, Access::ReadWrite, "Mutex");
                let _ = d.who.set(std::sync::Arc::new(root_identity()));
                out.required.push(d);
            }
        }
        _ => {}
    }
}

/// What detection found for one served directory, as it crosses the pipe from the process that
/// looked (`detect_isolated`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    /// Index into the served directories.
    pub served: usize,
    pub preset: String,
    pub root: PathBuf,
    pub signature: PathBuf,
}

/// Detection over every served directory whose `DirGuardApps` is not `off`, with `exists` as
/// the filesystem. Pinned applications (`DirGuardApps NAME…`) apply without their signature.
pub fn detect(served: &[Served], exists: &mut dyn FnMut(&Path) -> bool) -> Vec<Found> {
    let mut found: Vec<Found> = Vec::new();
    for (i, s) in served.iter().enumerate() {
        let hits: Vec<Found> = match &s.apps {
            Apps::Off => Vec::new(),
            Apps::Detect => super::apps::detect(&s.dir, exists)
                .into_iter()
                .map(|d| Found {
                    served: i,
                    preset: d.preset.name.to_owned(),
                    root: d.root,
                    signature: d.signature,
                })
                .collect(),
            Apps::Only(names) => names
                .iter()
                .filter_map(|n| super::apps::by_name(n))
                .map(|p| {
                    let under = s
                        .dir
                        .file_name()
                        .is_some_and(|f| p.served_subdirs.iter().any(|d| f == *d));
                    Found {
                        served: i,
                        preset: p.name.to_owned(),
                        root: if under {
                            s.dir.parent().unwrap_or(&s.dir).to_path_buf()
                        } else {
                            s.dir.clone()
                        },
                        signature: PathBuf::new(),
                    }
                })
                .collect(),
        };
        for h in hits {
            if !found
                .iter()
                .any(|f| f.preset == h.preset && f.root == h.root)
            {
                found.push(h);
            }
        }
    }
    found
}

/// `detect` in a forked process (`core::isolate`): signature files are looked up there, so a
/// served directory on a filesystem that does not answer never holds up Apache's parent, which
/// waits at most `limit` (then no preset applies this generation).
pub fn detect_isolated(served: &[Served], limit: std::time::Duration) -> (Vec<Found>, Option<i32>) {
    use super::isolate::{self, Forked, Reader, Writer};
    if served.iter().all(|s| s.apps == Apps::Off) {
        return (Vec::new(), None);
    }
    let forked = isolate::run(limit, || {
        let found = detect(served, &mut |p: &Path| p.exists());
        let mut w = Writer::default();
        w.u64(found.len() as u64);
        for f in &found {
            w.u64(f.served as u64)
                .bytes(f.preset.as_bytes())
                .bytes(f.root.as_os_str().as_encoded_bytes())
                .bytes(f.signature.as_os_str().as_encoded_bytes());
        }
        w.0
    });
    let (bytes, pid) = match forked {
        Forked::Done { bytes, pid } => (bytes, pid),
        Forked::Lost { why, pid } => {
            log::warn!("application detection gave no answer ({why}); no preset applies until the next restart");
            return (Vec::new(), pid);
        }
        Forked::Failed(errno) => {
            log::warn!("application detection could not start (errno {errno}); no preset applies until the next restart");
            return (Vec::new(), None);
        }
    };
    let mut r = Reader(&bytes);
    let mut out = Vec::new();
    let path = |b: Vec<u8>| {
        PathBuf::from(<std::ffi::OsString as std::os::unix::ffi::OsStringExt>::from_vec(b))
    };
    if let Some(n) = r.u64() {
        for _ in 0..n {
            let (Some(served), Some(preset), Some(root), Some(sig)) =
                (r.u64(), r.string(), r.bytes(), r.bytes())
            else {
                break;
            };
            out.push(Found {
                served: served as usize,
                preset,
                root: path(root),
                signature: path(sig),
            });
        }
    }
    (out, pid)
}

/// The requirements of what detection found: each preset directory below its application's
/// root, labelled with the preset and the directive that serves it.
pub fn preset_requirements(served: &[Served], found: &[Found]) -> Vec<RequiredDir> {
    let mut out = Vec::new();
    for f in found {
        let (Some(s), Some(p)) = (served.get(f.served), super::apps::by_name(&f.preset)) else {
            continue;
        };
        for d in p.dirs {
            let mut r = RequiredDir::new(f.root.join(d.rel), d.access, s.origin.clone());
            r.provenance = Provenance::Preset {
                app: p.title.to_owned(),
                signature: f.signature.clone(),
            };
            r.on_demand = d.on_demand;
            r.node = s.node;
            r.scope = s.scope.clone();
            r.serves = Some(f.root.clone());
            out.push(r);
        }
    }
    out
}

/// Every requirement of a generation, one per path: a `DirGuardRequire` overrides what a preset
/// or Apache's configuration implies for its path, and a preset what is derived.
pub fn effective(
    declared: Vec<std::sync::Arc<RequiredDir>>,
    presets: Vec<RequiredDir>,
    derived: Vec<RequiredDir>,
) -> Vec<std::sync::Arc<RequiredDir>> {
    let mut all = declared;
    for d in presets.into_iter().chain(derived) {
        if !all.iter().any(|a| a.path == d.path) {
            all.push(std::sync::Arc::new(d));
        }
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, args: &str, line: u32, children: Vec<ConfNode>) -> ConfNode {
        ConfNode::at(name, args, "/etc/apache2/apache2.conf", line, children)
    }

    fn paths(d: &Derived) -> Vec<(String, &'static str, String)> {
        d.required
            .iter()
            .map(|r| {
                (
                    r.path.display().to_string(),
                    r.access.keyword(),
                    r.provenance(),
                )
            })
            .collect()
    }

    #[test]
    fn debians_stock_configuration_implies_its_directories() {
        let tree = vec![
            node("PidFile", "/run/apache2/apache2.pid", 87, vec![]),
            node("Mutex", "file:/var/lock/apache2 default", 80, vec![]),
            node("ErrorLog", "/var/log/apache2/error.log", 134, vec![]),
            node("Alias", "/icons/ \"/usr/share/apache2/icons/\"", 13, vec![]),
            node("Alias", "/robots.txt /srv/robots.txt", 14, vec![]),
            node("DAVLockDB", "/var/lock/apache2/DAVLock", 1, vec![]),
            node(
                "<VirtualHost",
                "*:80>",
                1,
                vec![
                    node("DocumentRoot", "/var/www/html", 12, vec![]),
                    node("ErrorLog", "/var/log/apache2/error.log", 20, vec![]),
                    node(
                        "CustomLog",
                        "\"|/usr/bin/rotatelogs x 86400\" combined",
                        21,
                        vec![],
                    ),
                    node("CustomLog", "logs/access.log combined", 22, vec![]),
                ],
            ),
        ];
        let d = derive(&tree, Path::new("/etc/apache2"));
        let p = paths(&d);
        assert!(p.contains(&(
            "/run/apache2".into(),
            "rw",
            "derived from PidFile at /etc/apache2/apache2.conf:87".into()
        )));
        assert!(p.iter().any(|(x, a, o)| x == "/var/lock/apache2"
            && *a == "rw"
            && o.starts_with("derived from Mutex")));
        assert!(p
            .iter()
            .any(|(x, _, o)| x == "/var/lock/apache2" && o.starts_with("derived from DAVLockDB")));
        assert!(p
            .iter()
            .any(|(x, a, _)| x == "/usr/share/apache2/icons" && *a == "r"));
        assert!(!p.iter().any(|(x, _, _)| x.contains("robots")));
        assert!(p.iter().any(|(x, _, _)| x == "/var/www/html"));
        assert!(p.iter().any(|(x, _, _)| x == "/etc/apache2/logs"), "{p:?}");
        assert_eq!(
            p.iter().filter(|(x, _, _)| x == "/var/log/apache2").count(),
            1,
            "one requirement per directory: {p:?}"
        );
        let log = d
            .required
            .iter()
            .find(|r| r.path == Path::new("/var/log/apache2"))
            .unwrap();
        assert_eq!(log.who.get().unwrap().uid, 0);
        let docroot = d
            .required
            .iter()
            .find(|r| r.path == Path::new("/var/www/html"))
            .unwrap();
        assert_eq!(docroot.scope, "<VirtualHost *:80>");
        assert!(docroot.who.get().is_none() && docroot.node != 0);
        assert_eq!(d.served.len(), 2, "{:?}", d.served);
    }

    #[test]
    fn dirguard_derive_off_and_dirguard_apps_apply_to_their_scope() {
        let tree = vec![
            node("DirGuardApps", "off", 1, vec![]),
            node(
                "<VirtualHost",
                "*:80",
                2,
                vec![
                    node("DirGuardDerive", "off", 3, vec![]),
                    node("DirGuardApps", "wordpress", 4, vec![]),
                    node("DocumentRoot", "/srv/a", 5, vec![]),
                ],
            ),
            node("DocumentRoot", "/srv/b", 6, vec![]),
        ];
        let d = derive(&tree, Path::new("/"));
        assert_eq!(paths(&d).len(), 1);
        assert_eq!(d.required[0].path, Path::new("/srv/b"));
        assert_eq!(d.served[0].apps, Apps::Only(vec!["wordpress".into()]));
        assert_eq!(d.served[1].apps, Apps::Off);
    }

    #[test]
    fn a_declaration_overrides_a_preset_or_derived_requirement_for_its_path() {
        let declared = std::sync::Arc::new(RequiredDir::new(
            "/srv/wp/wp-content/uploads",
            Access::ReadWrite,
            Origin::default(),
        ));
        let mut preset = RequiredDir::new(
            "/srv/wp/wp-content/uploads",
            Access::Read,
            Origin::default(),
        );
        preset.provenance = Provenance::Preset {
            app: "WordPress".into(),
            signature: "/srv/wp/wp-login.php".into(),
        };
        let mut other = RequiredDir::new("/srv/wp/wp-content", Access::Read, Origin::default());
        other.provenance = preset.provenance.clone();
        let mut docroot = RequiredDir::new("/srv/wp/wp-content", Access::Read, Origin::default());
        docroot.provenance = Provenance::Derived {
            directive: "DocumentRoot".into(),
        };
        let all = effective(vec![declared.clone()], vec![preset, other], vec![docroot]);
        assert_eq!(all.len(), 2);
        assert!(std::sync::Arc::ptr_eq(&all[0], &declared));
        assert!(matches!(all[1].provenance, Provenance::Preset { .. }));
    }
}
