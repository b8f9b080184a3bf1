//! Who the application in a requirement's scope runs as. Apache's `User` serves static files,
//! but the application that writes into a directory often runs as someone else: a PHP-FPM pool
//! (`user =` in its pool file), a suEXEC'd CGI (`SuexecUserGroup`), an mpm-itk host
//! (`AssignUserID`), or what the administrator says (`DirGuardUser`). This module reads
//! Apache's parsed configuration (as the glue hands it over, `ConfNode`) and the PHP-FPM pool
//! files, and finds each requirement's identity:
//!
//! 1. `DirGuardUser` in the requirement's own section or the nearest enclosing one;
//! 2. otherwise the nearest section (the requirement's own, then outwards to the server) that
//!    says how the application runs: `AssignUserID`, then `SuexecUserGroup`, then a FastCGI
//!    wiring (`SetHandler "proxy:unix:SOCKET|fcgi://…"` or `"proxy:fcgi://HOST:PORT"`,
//!    `ProxyPass`/`ProxyPassMatch` to `unix:SOCKET|fcgi://…` or `fcgi://HOST:PORT/…`) whose
//!    socket or address a pool file's `listen` names;
//! 3. otherwise a `ProxyPass`/`ProxyPassMatch` anywhere whose target path holds the
//!    requirement's directory (a `<Directory>` written outside the host that proxies it);
//! 4. otherwise the server's User.
//!
//! Sections that only filter (`<Files>`, `<FilesMatch>`, `<If>`, `<IfModule>`…) belong to the
//! section around them. Pure computation over what it is given, except the user database.

use super::identity::{self, Identity};
use super::messages::{self, Line, Severity};
use super::spec::RequiredDir;
use std::path::PathBuf;
use std::sync::Arc;

/// One directive or section of Apache's parsed configuration (`ap_directive_t`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConfNode {
    /// As written: `<VirtualHost`, `SetHandler`.
    pub name: String,
    /// The arguments as written (a section's without the closing `>`).
    pub args: String,
    pub file: String,
    pub line: u32,
    /// The node's address in Apache's tree, matched with `RequiredDir::node`.
    pub key: usize,
    pub children: Vec<ConfNode>,
}

impl ConfNode {
    /// A node as the tests build trees: its key derived from its line.
    #[cfg(test)]
    pub fn at(name: &str, args: &str, file: &str, line: u32, children: Vec<ConfNode>) -> ConfNode {
        ConfNode {
            name: name.into(),
            args: args.into(),
            file: file.into(),
            line,
            key: 1000 + line as usize,
            children,
        }
    }

    fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
    }

    /// A section whose directives apply to its own scope: identities are looked up level by
    /// level along these.
    fn is_scope(&self) -> bool {
        [
            "<VirtualHost",
            "<Directory",
            "<DirectoryMatch",
            "<Location",
            "<LocationMatch",
            "<Proxy",
            "<ProxyMatch",
        ]
        .iter()
        .any(|n| self.is(n))
    }

    fn origin(&self) -> String {
        format!(
            "{} at {}:{}",
            self.name,
            super::text::escape_log(self.file.as_bytes()),
            self.line
        )
    }

    /// Apache's argument words (`ap_getword_conf`): split on blanks, a word that starts with a
    /// double or single quote runs to the matching quote.
    pub fn words(&self) -> Vec<String> {
        let mut words = Vec::new();
        let mut chars = self.args.trim().trim_end_matches('>').chars().peekable();
        while let Some(&c) = chars.peek() {
            if c.is_whitespace() {
                chars.next();
                continue;
            }
            let mut word = String::new();
            if c == '"' || c == '\'' {
                chars.next();
                for d in chars.by_ref() {
                    if d == c {
                        break;
                    }
                    word.push(d);
                }
            } else {
                while let Some(&d) = chars.peek() {
                    if d.is_whitespace() {
                        break;
                    }
                    word.push(d);
                    chars.next();
                }
            }
            words.push(word);
        }
        words
    }
}

/// Where a PHP-FPM pool listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Listen {
    Unix(PathBuf),
    /// `host` None: every address (`listen = 9000` or `[::]:9000`).
    Tcp {
        host: Option<String>,
        port: u16,
    },
}

impl Listen {
    /// A pool file's `listen` value.
    pub fn parse(value: &str) -> Option<Listen> {
        let v = value.trim();
        if v.starts_with('/') {
            return Some(Listen::Unix(PathBuf::from(v)));
        }
        if let Ok(port) = v.parse::<u16>() {
            return Some(Listen::Tcp { host: None, port });
        }
        let (host, port) = v.rsplit_once(':')?;
        let port = port.parse::<u16>().ok()?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let any = matches!(host, "" | "*" | "0.0.0.0" | "::");
        Some(Listen::Tcp {
            host: (!any).then(|| host.to_ascii_lowercase()),
            port,
        })
    }

    /// Whether a FastCGI target Apache connects to reaches this listener.
    fn reached_by(&self, target: &Listen) -> bool {
        match (self, target) {
            (Listen::Unix(a), Listen::Unix(b)) => a == b,
            (
                Listen::Tcp { host, port },
                Listen::Tcp {
                    host: to,
                    port: to_port,
                },
            ) => {
                let local = |h: &str| matches!(h, "localhost" | "127.0.0.1" | "::1");
                port == to_port
                    && match (host, to) {
                        (None, _) => true,
                        (Some(h), Some(t)) => h == t || (local(h) && local(t)),
                        (Some(_), None) => false,
                    }
            }
            _ => false,
        }
    }

    fn describe(&self) -> String {
        match self {
            Listen::Unix(p) => super::text::quote_path(p.as_os_str()),
            Listen::Tcp { host, port } => format!("{}:{port}", host.as_deref().unwrap_or("*")),
        }
    }
}

/// One pool of a PHP-FPM pool file (`[name]` and its `user`, `group`, `listen`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FpmPool {
    pub name: String,
    pub file: String,
    /// (value, line)
    pub user: Option<(String, u32)>,
    pub group: Option<(String, u32)>,
    pub listen: Option<Listen>,
}

/// The pools of one pool file (php-fpm's ini syntax: `[pool]`, `key = value`, `;` comments;
/// `$pool` in a value is the pool's name). A `[global]` section is not a pool.
pub fn parse_pool_file(file: &str, text: &str) -> Vec<FpmPool> {
    let mut pools: Vec<FpmPool> = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with(';') || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            pools.push(FpmPool {
                name: name.trim().to_owned(),
                file: file.to_owned(),
                ..FpmPool::default()
            });
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let Some(pool) = pools.last_mut() else {
            continue;
        };
        let value = value.split(" ;").next().unwrap_or("").trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value)
            .replace("$pool", &pool.name);
        let at = (value.clone(), n as u32 + 1);
        match key.trim() {
            "user" => pool.user = Some(at),
            "group" => pool.group = Some(at),
            "listen" => pool.listen = Listen::parse(&value),
            _ => {}
        }
    }
    pools.retain(|p| !p.name.eq_ignore_ascii_case("global"));
    pools
}

/// The places distributions keep PHP-FPM pool files (Debian, then RHEL and its relatives).
pub const DEFAULT_POOL_FILES: [&str; 2] = ["/etc/php/*/fpm/pool.d/*.conf", "/etc/php-fpm.d/*.conf"];

/// Where a FastCGI wiring sends requests, and the path prefix of its target (ProxyPass*).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Wiring {
    target: Listen,
    /// The literal start of the script path the backend is given (`/srv/wp/` of
    /// `fcgi://localhost/srv/wp/$1`); None for `SetHandler` (the walked file itself).
    prefix: Option<PathBuf>,
}

/// The FastCGI backend a `proxy:`/ProxyPass URL names: `unix:SOCKET|fcgi://…` or
/// `fcgi://HOST[:PORT]/PATH`.
fn fcgi_target(url: &str) -> Option<Wiring> {
    let url = url.strip_prefix("proxy:").unwrap_or(url);
    let (socket, rest) = match url.get(..5) {
        Some(u) if u.eq_ignore_ascii_case("unix:") => {
            let (sock, rest) = url[5..].split_once('|')?;
            (Some(PathBuf::from(sock)), rest)
        }
        _ => (None, url),
    };
    if !rest.get(..7)?.eq_ignore_ascii_case("fcgi://") {
        return None;
    }
    let after = &rest[7..];
    let (authority, path) = match after.find('/') {
        Some(i) => (&after[..i], Some(&after[i..])),
        None => (after, None),
    };
    let target = match socket {
        Some(s) => Listen::Unix(s),
        None => {
            let (host, port) = match authority.rsplit_once(':') {
                Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => {
                    (h, p.parse::<u16>().ok()?)
                }
                _ => (authority, 8000), // mod_proxy_fcgi's default port
            };
            Listen::Tcp {
                host: Some(
                    host.trim_start_matches('[')
                        .trim_end_matches(']')
                        .to_ascii_lowercase(),
                ),
                port,
            }
        }
    };
    let prefix = path.map(|p| {
        let literal = p.split(['$', '?']).next().unwrap_or("");
        // Up to the last '/' of the literal part: the directory scripts are taken from.
        PathBuf::from(&literal[..literal.rfind('/').map_or(0, |i| i + 1)])
    });
    Some(Wiring { target, prefix })
}

/// The FastCGI wiring a directive sets up, if any.
fn wiring_of(node: &ConfNode) -> Option<Wiring> {
    let words = node.words();
    if node.is("SetHandler") {
        let mut w = fcgi_target(words.first()?)?;
        w.prefix = None;
        return Some(w);
    }
    if node.is("ProxyPass") || node.is("ProxyPassMatch") {
        return fcgi_target(words.get(1)?);
    }
    None
}

/// What the resolution found for one requirement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolution {
    /// The application's identity (None: the server's User).
    pub who: Option<Identity>,
    /// What was found but could not be used, for the administrator (a wiring no pool file
    /// declares, a user that does not exist): each a sentence, logged as a notice.
    pub notes: Vec<String>,
}

/// The directives that apply at one level: its own and those of the filtering sections inside
/// it (recursively), in configuration order.
fn visible<'a>(level: &'a [ConfNode], out: &mut Vec<&'a ConfNode>) {
    for n in level {
        if n.name.starts_with('<') {
            if !n.is_scope() {
                visible(&n.children, out);
            }
        } else {
            out.push(n);
        }
    }
}

/// The levels around the node `key`, innermost first (its section's directives, …, the
/// server's), with the section nodes themselves (None for the top level).
fn levels_of<'a>(
    level: &'a [ConfNode],
    section: Option<&'a ConfNode>,
    key: usize,
    path: &mut Vec<(Option<&'a ConfNode>, &'a [ConfNode])>,
) -> bool {
    path.push((section, level));
    for n in level {
        if n.key == key {
            return true;
        }
        if n.name.starts_with('<') {
            let found = if n.is_scope() {
                levels_of(&n.children, Some(n), key, path)
            } else {
                // A filtering section: its children are part of this level.
                let before = path.len();
                let f = levels_of(&n.children, section, key, path);
                if f {
                    // Keep the level as this one (drop the duplicate entry for the filter).
                    path.remove(before);
                }
                f
            };
            if found {
                return true;
            }
        }
    }
    path.pop();
    false
}

/// Resolves who each requirement is checked for. `pools` are the parsed pool files;
/// `pool_places` says where they were looked for (for the notes).
pub fn resolve(
    tree: &[ConfNode],
    dirs: &[Arc<RequiredDir>],
    pools: &[FpmPool],
    pool_places: &str,
) -> Vec<Resolution> {
    dirs.iter()
        .map(|d| resolve_one(tree, d, pools, pool_places))
        .collect()
}

fn resolve_one(
    tree: &[ConfNode],
    dir: &RequiredDir,
    pools: &[FpmPool],
    pool_places: &str,
) -> Resolution {
    let mut notes = Vec::new();
    let mut path = Vec::new();
    if dir.node == 0 || !levels_of(tree, None, dir.node, &mut path) {
        return Resolution { who: None, notes };
    }
    let levels: Vec<Vec<&ConfNode>> = path
        .iter()
        .rev()
        .map(|(_, level)| {
            let mut v = Vec::new();
            visible(level, &mut v);
            v
        })
        .collect();
    // 1. DirGuardUser, nearest first.
    for level in &levels {
        if let Some(n) = level.iter().rev().find(|n| n.is("DirGuardUser")) {
            let words = n.words();
            if let Some(who) = identity_of(
                words.first().map(String::as_str),
                words.get(1).map(String::as_str),
                format!("from {}", n.origin()),
                &mut notes,
            ) {
                return Resolution {
                    who: Some(who),
                    notes,
                };
            }
        }
    }
    // 2. How the application runs, nearest section first; then the `<Directory>` sections
    // elsewhere that hold the directory, nearest first (a requirement implied by a
    // DocumentRoot, whose PHP wiring sits in the <Directory> of that root).
    let mut all = Vec::new();
    collect_all(tree, &mut all);
    let mut holding: Vec<(usize, Vec<&ConfNode>)> = all
        .iter()
        .filter(|n| n.is("<Directory"))
        .filter_map(|n| {
            let words = n.words();
            let arg = words.first()?;
            if arg.starts_with('~') {
                return None;
            }
            let section = super::scope::SectionPath::new(arg.as_bytes());
            let mut probe = dir.path.as_os_str().as_encoded_bytes().to_vec();
            probe.push(b'/');
            section.covers(&probe).then(|| {
                let mut v = Vec::new();
                visible(&n.children, &mut v);
                (section.components(), v)
            })
        })
        .collect();
    holding.sort_by_key(|(c, _)| std::cmp::Reverse(*c));
    // Before the server's own level (the last): a section that holds the directory is more
    // specific than a directive for the whole server.
    let mut levels = levels;
    let top = levels.pop();
    levels.extend(holding.into_iter().map(|(_, v)| v));
    levels.extend(top);
    for level in &levels {
        for (directive, whose) in [
            ("AssignUserID", "mpm-itk's"),
            ("SuexecUserGroup", "suEXEC's"),
        ] {
            if let Some(n) = level.iter().rev().find(|n| n.is(directive)) {
                let w = n.words();
                if let Some(who) = identity_of(
                    w.first().map(String::as_str),
                    w.get(1).map(String::as_str),
                    format!("{whose} {}", n.origin()),
                    &mut notes,
                ) {
                    return Resolution {
                        who: Some(who),
                        notes,
                    };
                }
            }
        }
        for n in level.iter().rev() {
            if let Some(w) = wiring_of(n) {
                if let Some(who) = pool_identity(&w, n, pools, pool_places, &mut notes) {
                    return Resolution {
                        who: Some(who),
                        notes,
                    };
                }
            }
        }
    }
    // 3. A ProxyPass* elsewhere whose scripts come from the requirement's directory.
    for n in all {
        let Some(w) = wiring_of(n) else { continue };
        let Some(prefix) = &w.prefix else { continue };
        if prefix.as_os_str().len() > 1 && dir.path.starts_with(prefix) {
            if let Some(who) = pool_identity(&w, n, pools, pool_places, &mut notes) {
                return Resolution {
                    who: Some(who),
                    notes,
                };
            }
        }
    }
    Resolution { who: None, notes }
}

fn collect_all<'a>(level: &'a [ConfNode], out: &mut Vec<&'a ConfNode>) {
    for n in level {
        out.push(n);
        collect_all(&n.children, out);
    }
}

/// The identity of the pool a wiring reaches, or a note saying why there is none.
fn pool_identity(
    w: &Wiring,
    n: &ConfNode,
    pools: &[FpmPool],
    pool_places: &str,
    notes: &mut Vec<String>,
) -> Option<Identity> {
    let Some(pool) = pools
        .iter()
        .find(|p| p.listen.as_ref().is_some_and(|l| l.reached_by(&w.target)))
    else {
        notes.push(format!(
            "{} passes scripts to a FastCGI server at {}, but no PHP-FPM pool file in {pool_places} listens there; checking as the server's User (name the application's user with DirGuardUser, or point DirGuardPhpFpmPools at its pool files)",
            n.origin(),
            w.target.describe()
        ));
        return None;
    };
    let esc = |s: &str| super::text::escape_log(s.as_bytes());
    let Some((user, user_line)) = &pool.user else {
        notes.push(format!(
            "PHP-FPM pool '{}' ({}) sets no user (its master's user runs it); checking as the server's User",
            esc(&pool.name),
            esc(&pool.file)
        ));
        return None;
    };
    let origin = format!(
        "from PHP-FPM pool '{}' ({}:{user_line}), which listens on {} named by {}",
        esc(&pool.name),
        esc(&pool.file),
        w.target.describe(),
        n.origin()
    );
    identity_of(
        Some(user),
        pool.group.as_ref().map(|g| g.0.as_str()),
        origin,
        notes,
    )
}

/// A user (and group; the user's primary group when absent) by name or `#id`, with its groups.
fn identity_of(
    user: Option<&str>,
    group: Option<&str>,
    origin: String,
    notes: &mut Vec<String>,
) -> Option<Identity> {
    let user = user?;
    let esc = |s: &str| super::text::escape_log(s.as_bytes());
    let (uid, primary, name) = match user.strip_prefix('#') {
        Some(n) => {
            let uid: u32 = n.parse().ok()?;
            let name = identity::user_name_of(uid).unwrap_or_else(|| user.to_owned());
            let gid = identity::user_by_name(&name).map_or(uid, |u| u.1);
            (uid, gid, name)
        }
        None => match identity::user_by_name(user) {
            Some((uid, gid)) => (uid, gid, user.to_owned()),
            None => {
                notes.push(format!(
                    "user '{}' ({origin}) is not in the user database; checking as the server's User",
                    esc(user)
                ));
                return None;
            }
        },
    };
    let gid = match group {
        None => primary,
        Some(g) => match g.strip_prefix('#') {
            Some(n) => n.parse().ok()?,
            None => match identity::group_by_name(g) {
                Some(gid) => gid,
                None => {
                    notes.push(format!(
                        "group '{}' ({origin}) is not in the group database; checking as the server's User",
                        esc(g)
                    ));
                    return None;
                }
            },
        },
    };
    Some(Identity::for_application(&name, uid, gid, origin))
}

/// Whether any directive passes scripts to a FastCGI server (then pool files are worth reading).
pub fn mentions_fastcgi(tree: &[ConfNode]) -> bool {
    let mut all = Vec::new();
    collect_all(tree, &mut all);
    all.iter().any(|n| wiring_of(n).is_some())
}

/// The lines a resolution writes: DG00008 (info) for each requirement checked for an identity
/// of its own, DG00009 (notice) for each note, once per distinct text.
pub fn lines(dirs: &[Arc<RequiredDir>], resolutions: &[Resolution]) -> Vec<Line> {
    let mut out: Vec<Line> = Vec::new();
    for (d, r) in dirs.iter().zip(resolutions) {
        for note in &r.notes {
            if !out.iter().any(|l| &l.text == note) {
                out.push(Line {
                    severity: Severity::Notice,
                    tag: messages::APP_IDENTITY_UNKNOWN,
                    text: note.clone(),
                });
            }
        }
        if let Some(who) = &r.who {
            out.push(Line {
                severity: Severity::Info,
                tag: messages::APP_IDENTITY,
                text: format!(
                    "required directory {} ({}) is checked for {} with groups {:?}",
                    super::text::quote_path(d.path.as_os_str()),
                    d.provenance(),
                    who.whose(),
                    who.groups
                ),
            });
        }
    }
    out
}

/// Reads the pool files matching `globs` (each file read whole; unreadable ones skipped).
/// Called where Apache reads its own configuration files, before any request.
pub fn load_pools(globs: &[String]) -> Vec<FpmPool> {
    let mut pools = Vec::new();
    for g in globs {
        for file in glob_files(g) {
            if let Ok(text) = std::fs::read_to_string(&file) {
                pools.extend(parse_pool_file(&file.to_string_lossy(), &text));
            }
        }
    }
    pools
}

/// The files a shell glob names, sorted (libc glob, no tilde or brace expansion).
fn glob_files(pattern: &str) -> Vec<PathBuf> {
    let Ok(c) = std::ffi::CString::new(pattern) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    // SAFETY: glob_t is plain data; glob fills it from a NUL-terminated pattern and globfree
    // releases what glob allocated; gl_pathv holds gl_pathc valid C strings until then.
    unsafe {
        let mut g: libc::glob_t = std::mem::zeroed();
        if libc::glob(c.as_ptr(), 0, None, &mut g) == 0 {
            for i in 0..g.gl_pathc {
                let p = *g.gl_pathv.add(i);
                if !p.is_null() {
                    out.push(PathBuf::from(
                        std::ffi::OsStr::from_encoded_bytes_unchecked(
                            std::ffi::CStr::from_ptr(p).to_bytes(),
                        ),
                    ));
                }
            }
        }
        libc::globfree(&mut g);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::spec::{Access, Origin};

    fn node(name: &str, args: &str, line: u32, children: Vec<ConfNode>) -> ConfNode {
        ConfNode::at(
            name,
            args,
            "/etc/apache2/sites-enabled/wp.conf",
            line,
            children,
        )
    }

    fn req(line: u32) -> Arc<RequiredDir> {
        let mut d = RequiredDir::new(
            "/srv/wp/wp-content/uploads",
            Access::ReadWrite,
            Origin::default(),
        );
        d.node = 1000 + line as usize;
        Arc::new(d)
    }

    fn pools() -> Vec<FpmPool> {
        parse_pool_file(
            "/etc/php/8.2/fpm/pool.d/wp.conf",
            "; a pool for the blog\n[global]\nerror_log = x\n[www]\nuser = www-data\ngroup = www-data\nlisten = /run/php/php8.2-fpm.sock\n\
             [wp]\nuser = root ; who\ngroup = root\nlisten = /run/php/$pool.sock\n[tcp]\nuser = root\nlisten = 127.0.0.1:9001\n",
        )
    }

    #[test]
    fn pool_files_are_read_as_php_fpm_reads_them() {
        let p = pools();
        assert_eq!(p.len(), 3);
        assert_eq!(p[1].name, "wp");
        assert_eq!(p[1].user, Some(("root".into(), 9)));
        assert_eq!(p[1].listen, Some(Listen::Unix("/run/php/wp.sock".into())));
        assert_eq!(
            p[2].listen,
            Some(Listen::Tcp {
                host: Some("127.0.0.1".into()),
                port: 9001
            })
        );
        assert_eq!(
            Listen::parse("9000"),
            Some(Listen::Tcp {
                host: None,
                port: 9000
            })
        );
        assert_eq!(
            Listen::parse("[::]:9000"),
            Some(Listen::Tcp {
                host: None,
                port: 9000
            })
        );
    }

    #[test]
    fn every_fastcgi_wiring_names_its_backend() {
        let sh = fcgi_target("proxy:unix:/run/php/wp.sock|fcgi://localhost").unwrap();
        assert_eq!(sh.target, Listen::Unix("/run/php/wp.sock".into()));
        let ppm = fcgi_target("unix:/run/php/wp.sock|fcgi://localhost/srv/wp/$1").unwrap();
        assert_eq!(ppm.prefix, Some(PathBuf::from("/srv/wp/")));
        let tcp = fcgi_target("fcgi://127.0.0.1:9001/srv/wp/$1").unwrap();
        assert_eq!(
            tcp.target,
            Listen::Tcp {
                host: Some("127.0.0.1".into()),
                port: 9001
            }
        );
        assert!(fcgi_target("http://backend/").is_none());
        assert!(fcgi_target("application/x-httpd-php").is_none());
        assert!(Listen::Tcp {
            host: None,
            port: 9001
        }
        .reached_by(&tcp.target));
        assert!(Listen::Tcp {
            host: Some("localhost".into()),
            port: 9001
        }
        .reached_by(&tcp.target));
    }

    #[test]
    fn the_pool_behind_a_sethandler_in_a_filesmatch_of_the_directory_is_the_identity() {
        let tree = vec![node(
            "<VirtualHost",
            "*:80",
            1,
            vec![node(
                "<Directory",
                "/srv/wp",
                2,
                vec![
                    node("DirGuardRequire", "wp-content/uploads access=rw", 3, vec![]),
                    node(
                        "<FilesMatch",
                        "\\.php$",
                        4,
                        vec![node(
                            "SetHandler",
                            "\"proxy:unix:/run/php/wp.sock|fcgi://localhost\"",
                            5,
                            vec![],
                        )],
                    ),
                ],
            )],
        )];
        let r = resolve(&tree, &[req(3)], &pools(), "here");
        let who = r[0].who.as_ref().expect("the pool's user");
        assert_eq!(who.user, "root");
        assert!(
            who.origin.starts_with("from PHP-FPM pool 'wp' (/etc/php/8.2/fpm/pool.d/wp.conf:9), which listens on '/run/php/wp.sock' named by SetHandler at /etc/apache2/sites-enabled/wp.conf:5"),
            "{}",
            who.origin
        );
    }

    #[test]
    fn dirguard_user_wins_and_suexec_and_itk_are_read() {
        let body = |extra: Vec<ConfNode>| {
            let mut children = vec![node("DirGuardRequire", "x", 3, vec![])];
            children.extend(extra);
            vec![node("<VirtualHost", "*:80", 1, children)]
        };
        let origin = |nodes: Vec<ConfNode>| {
            let r = resolve(&body(nodes), &[req(3)], &[], "here");
            r[0].who
                .as_ref()
                .map(|w| w.origin.clone())
                .unwrap_or_default()
        };
        let suexec = || node("SuexecUserGroup", "root root", 4, vec![]);
        for (nodes, from) in [
            (
                vec![suexec(), node("DirGuardUser", "#0", 5, vec![])],
                "from DirGuardUser at",
            ),
            (vec![suexec()], "suEXEC's SuexecUserGroup at"),
            (
                vec![node("AssignUserID", "root root", 4, vec![])],
                "mpm-itk's AssignUserID at",
            ),
        ] {
            let o = origin(nodes);
            assert!(o.starts_with(from), "{o}");
        }
    }

    #[test]
    fn a_proxypassmatch_in_the_host_or_elsewhere_reaches_the_pool() {
        let ppm = node(
            "ProxyPassMatch",
            "\"^/(.*\\.php(/.*)?)$\" \"fcgi://127.0.0.1:9001/srv/wp/$1\"",
            9,
            vec![],
        );
        let tree = vec![
            node(
                "<Directory",
                "/srv/wp",
                2,
                vec![node("DirGuardRequire", "x", 3, vec![])],
            ),
            node("<VirtualHost", "*:80", 8, vec![ppm.clone()]),
        ];
        let r = resolve(&tree, &[req(3)], &pools(), "here");
        assert!(r[0]
            .who
            .as_ref()
            .unwrap()
            .origin
            .contains("PHP-FPM pool 'tcp'"));
        // No pool listens there: a note, and the server's User.
        let r = resolve(&tree, &[req(3)], &[], "/etc/php/*/fpm/pool.d/*.conf");
        assert_eq!(r[0].who, None);
        assert!(r[0].notes[0]
            .contains("no PHP-FPM pool file in /etc/php/*/fpm/pool.d/*.conf listens there"));
    }

    #[test]
    fn nothing_said_means_the_server_user() {
        let tree = vec![node("DirGuardRequire", "x", 3, vec![])];
        let r = resolve(&tree, &[req(3)], &pools(), "here");
        assert_eq!(
            r[0],
            Resolution {
                who: None,
                notes: vec![]
            }
        );
        let unknown = vec![
            node("DirGuardRequire", "x", 3, vec![]),
            node("SuexecUserGroup", "no-such-user-dirguard x", 4, vec![]),
        ];
        let r = resolve(&unknown, &[req(3)], &[], "here");
        assert_eq!(r[0].who, None);
        assert!(
            r[0].notes[0].contains("'no-such-user-dirguard'"),
            "{:?}",
            r[0].notes
        );
    }
}
