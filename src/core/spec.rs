//! What a `DirGuardRequire` line declares, and the parser for its arguments. Parsing is strict:
//! every bad token is an error that names it and says what is accepted.

use super::identity;
use super::text::shown;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Component, Path, PathBuf};

/// What the server's User/Group must be able to do in the directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// It only has to exist as a directory.
    None,
    /// Enter only (--x): what reaching a file inside needs. Not a `DirGuardRequire` keyword;
    /// the access a path named by a request's error line is checked for when it was read.
    Search,
    /// List and enter (r-x).
    Read,
    /// Also create and delete entries (rwx).
    ReadWrite,
}

impl Access {
    pub fn keyword(self) -> &'static str {
        match self {
            Access::None => "none",
            Access::Search => "x",
            Access::Read => "r",
            Access::ReadWrite => "rw",
        }
    }

    /// The permission bits (r=4, w=2, x=1) the access needs on the directory itself.
    pub fn bits(self) -> u8 {
        match self {
            Access::None => 0,
            Access::Search => 1,
            Access::Read => 4 | 1,
            Access::ReadWrite => 4 | 2 | 1,
        }
    }
}

/// An owner or group as declared: the numeric id and the name to show and to put in commands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub id: u32,
    pub name: String,
}

/// Where a requirement was declared (file and line of the directive).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Origin {
    pub file: String,
    pub line: u32,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Escaped: a file name is text from outside, and this lands in log lines.
        let file = super::text::escape_log(self.file.as_bytes());
        write!(f, "{file}:{}", self.line)
    }
}

/// Where a requirement comes from: a `DirGuardRequire` line, a directive of Apache's own whose
/// directory must be usable (`DocumentRoot`, `DAVLockDB`…), or an application's preset.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Provenance {
    #[default]
    Declared,
    /// Derived from Apache's `directive` at the requirement's origin (file:line).
    Derived { directive: String },
    /// An application's documented directory: `app` (its title) detected by `signature` in a
    /// directory served by the directive at the requirement's origin.
    Preset { app: String, signature: PathBuf },
    /// Not a requirement of anyone's: the directory a path in this request's own error line
    /// (`tag` from `module`) is in, checked because `what` failed there.
    Line {
        tag: String,
        module: String,
        what: String,
    },
}

/// One declared directory and everything it must satisfy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequiredDir {
    pub path: PathBuf,
    pub access: Access,
    pub owner: Option<Principal>,
    pub group: Option<Principal>,
    pub mode: Option<u32>,
    pub min_free: Option<u64>,
    pub min_inodes: Option<u64>,
    pub origin: Origin,
    /// The configuration section it was declared in (`server`, `<VirtualHost *:80>`,
    /// `<Directory /var/www>`), for status pages and metric labels.
    pub scope: String,
    /// This requirement's index in the shared state, set once when the generation's monitor is
    /// built; a request reads its health with one atomic load at that index.
    pub slot: std::sync::OnceLock<usize>,
    /// The configuration node of the `DirGuardRequire` line (its address in Apache's parsed
    /// configuration tree, 0 when made otherwise): how `core::wiring` finds the sections around
    /// it.
    pub node: usize,
    /// The identity the application in this requirement's scope runs as, when it is not the
    /// server's User (`DirGuardUser`, `SuexecUserGroup`, `AssignUserID`, a PHP-FPM pool), set
    /// once per generation by `core::wiring` before any check. Checks, explanations and fixes
    /// of this requirement are made for it.
    pub who: std::sync::OnceLock<std::sync::Arc<identity::Identity>>,
    /// Declared, derived from Apache's configuration, or an application's preset.
    pub provenance: Provenance,
    /// The application creates the directory itself when it needs it (WordPress's uploads): a
    /// missing one is healthy while its user can create it (write and search on the nearest
    /// existing ancestor).
    pub on_demand: bool,
    /// For a requirement nobody declared (a preset's, or one derived from `DocumentRoot` or
    /// `Alias`): the directory whose requests need it (the application's root, the served
    /// directory). A failing request below it is explained with it in scope.
    pub serves: Option<PathBuf>,
}

impl RequiredDir {
    /// A requirement with only a path and an access (what `DirGuardRequire PATH access=…`
    /// declares); the other checks are off.
    pub fn new(path: impl Into<PathBuf>, access: Access, origin: Origin) -> RequiredDir {
        RequiredDir {
            path: path.into(),
            access,
            owner: None,
            group: None,
            mode: None,
            min_free: None,
            min_inodes: None,
            origin,
            scope: "server".to_owned(),
            slot: std::sync::OnceLock::new(),
            node: 0,
            who: std::sync::OnceLock::new(),
            provenance: Provenance::Declared,
            on_demand: false,
            serves: None,
        }
    }

    /// Where the requirement comes from, as lines say it: "declared at FILE:LINE", "derived
    /// from DocumentRoot at FILE:LINE", "preset WordPress, detected by '…/wp-login.php' in the
    /// directory served by DocumentRoot at FILE:LINE".
    pub fn provenance(&self) -> String {
        match &self.provenance {
            Provenance::Declared => format!("declared at {}", self.origin),
            Provenance::Derived { directive } => {
                format!("derived from {directive} at {}", self.origin)
            }
            Provenance::Line { tag, module, what } => format!(
                "named by this request's error line {} from {} ({})",
                if tag.is_empty() { "-" } else { tag.as_str() },
                super::text::escape_log(module.as_bytes()),
                what
            ),
            Provenance::Preset { app, signature } => format!(
                "preset {} detected by {} (served as configured at {})",
                super::text::escape_log(app.as_bytes()),
                super::text::quote_path(signature.as_os_str()),
                self.origin
            ),
        }
    }

    /// Who this requirement is checked for: its application's identity, else `server` (the
    /// server's User, or the running user).
    /// "required directory", or "directory" for one only a request's error line named.
    pub fn noun(&self) -> &'static str {
        match self.provenance {
            Provenance::Line { .. } => "directory",
            _ => "required directory",
        }
    }

    pub fn checked_for<'a>(&'a self, server: &'a identity::Identity) -> &'a identity::Identity {
        self.who.get().map_or(server, |w| w.as_ref())
    }
}

/// The directory a relative `PATH` is resolved against, or why there is none.
#[derive(Clone, Debug)]
pub enum Base<'a> {
    Dir(&'a Path),
    Unknown(&'static str),
}

const KEYS: &str = "access, owner, group, mode, min-free, min-inodes";
/// The longest key=value accepted (a user name with its key fits easily).
const MAX_OPTION: usize = 256;

/// Parses the arguments of one `DirGuardRequire` line (without the directive name).
pub fn parse_require(
    args: &[&[u8]],
    base: Base<'_>,
    origin: Origin,
) -> Result<RequiredDir, String> {
    let (raw_path, options) = match args.split_first() {
        Some((p, rest)) if !p.is_empty() => (*p, rest),
        _ => {
            return Err(format!(
                "DirGuardRequire needs a directory path, optionally followed by {KEYS} as key=value"
            ))
        }
    };
    // Bounds first, so no error message below can echo a huge token.
    if raw_path.len() >= libc::PATH_MAX as usize {
        return Err(format!(
            "DirGuardRequire: the path is {} bytes long; paths are limited to {} bytes (PATH_MAX)",
            raw_path.len(),
            libc::PATH_MAX - 1
        ));
    }
    if let Some(long) = options.iter().find(|o| o.len() > MAX_OPTION) {
        return Err(format!(
            "DirGuardRequire: option '{}' is too long (at most {MAX_OPTION} bytes)",
            shown(long)
        ));
    }
    let path = resolve_path(OsStr::from_bytes(raw_path), base)?;
    let mut spec = RequiredDir::new(path, Access::Read, origin);
    let mut seen: Vec<&str> = Vec::new();
    for token in options {
        let token = std::str::from_utf8(token).map_err(|_| {
            format!(
                "DirGuardRequire: option '{}' is not valid UTF-8",
                lossy(token)
            )
        })?;
        // Tokens as error messages show them (escaped; options are at most MAX_OPTION bytes).
        let t = shown(token.as_bytes());
        let (key, value) = token.split_once('=').ok_or_else(|| {
            format!("DirGuardRequire: '{t}' is not key=value; accepted keys: {KEYS}")
        })?;
        let known = ["access", "owner", "group", "mode", "min-free", "min-inodes"];
        let Some(key) = known.iter().find(|k| **k == key) else {
            return Err(format!(
                "DirGuardRequire: unknown key '{}' in '{t}'; accepted keys: {KEYS}",
                shown(key.as_bytes())
            ));
        };
        if seen.contains(key) {
            return Err(format!(
                "DirGuardRequire: '{key}' is given twice (at '{t}')"
            ));
        }
        seen.push(key);
        if value.is_empty() {
            return Err(format!("DirGuardRequire: '{key}=' needs a value"));
        }
        match *key {
            "access" => spec.access = parse_access(value)?,
            "owner" => spec.owner = Some(parse_owner(value)?),
            "group" => spec.group = Some(parse_group(value)?),
            "mode" => spec.mode = Some(parse_mode(value)?),
            "min-free" => spec.min_free = Some(parse_size(value)?),
            _ => spec.min_inodes = Some(parse_count(value)?),
        }
    }
    Ok(spec)
}

fn lossy(bytes: &[u8]) -> String {
    shown(bytes)
}

/// Absolute, lexically clean (no `.`, no doubled or trailing `/`), without `..`.
fn resolve_path(raw: &OsStr, base: Base<'_>) -> Result<PathBuf, String> {
    let raw_path = Path::new(raw);
    let joined = if raw_path.is_absolute() {
        raw_path.to_path_buf()
    } else {
        match base {
            Base::Dir(dir) => dir.join(raw_path),
            Base::Unknown(why) => {
                return Err(format!(
                    "DirGuardRequire: relative path '{}' has no base directory {why}; give an absolute path",
                    lossy(raw.as_bytes())
                ))
            }
        }
    };
    let mut clean = PathBuf::from("/");
    for component in joined.components() {
        match component {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(part) => clean.push(part),
            Component::ParentDir => {
                return Err(format!(
                    "DirGuardRequire: path '{}' contains '..'; write the directory without it",
                    lossy(joined.as_os_str().as_bytes())
                ))
            }
            Component::Prefix(_) => unreachable!("no path prefixes on Unix"),
        }
    }
    if clean.as_os_str().as_bytes().contains(&0) {
        return Err("DirGuardRequire: path contains a NUL byte".into());
    }
    Ok(clean)
}

fn parse_access(value: &str) -> Result<Access, String> {
    let v = shown(value.as_bytes());
    match value {
        "none" => Ok(Access::None),
        "r" => Ok(Access::Read),
        "rw" => Ok(Access::ReadWrite),
        _ => Err(format!(
            "DirGuardRequire: access='{v}' is not one of none, r, rw"
        )),
    }
}

fn parse_numeric_id(value: &str, what: &str) -> Result<Option<u32>, String> {
    let v = shown(value.as_bytes());
    match value.strip_prefix('#') {
        None => Ok(None),
        Some(digits) => digits
            .parse::<u32>()
            .ok()
            .filter(|id| *id != u32::MAX && digits.bytes().all(|b| b.is_ascii_digit()))
            .map(Some)
            .ok_or_else(|| format!("DirGuardRequire: {what}='{v}' is not a valid #number")),
    }
}

fn parse_owner(value: &str) -> Result<Principal, String> {
    let v = shown(value.as_bytes());
    if let Some(uid) = parse_numeric_id(value, "owner")? {
        let name = identity::user_name_of(uid).unwrap_or_else(|| uid.to_string());
        return Ok(Principal { id: uid, name });
    }
    identity::user_by_name(value)
        .map(|(uid, _)| Principal {
            id: uid,
            name: value.to_owned(),
        })
        .ok_or_else(|| {
            format!("DirGuardRequire: owner='{v}': no such user (give a user name or #UID)")
        })
}

fn parse_group(value: &str) -> Result<Principal, String> {
    let v = shown(value.as_bytes());
    if let Some(gid) = parse_numeric_id(value, "group")? {
        let name = identity::group_name_of(gid).unwrap_or_else(|| gid.to_string());
        return Ok(Principal { id: gid, name });
    }
    identity::group_by_name(value)
        .map(|gid| Principal {
            id: gid,
            name: value.to_owned(),
        })
        .ok_or_else(|| {
            format!("DirGuardRequire: group='{v}': no such group (give a group name or #GID)")
        })
}

fn parse_mode(value: &str) -> Result<u32, String> {
    let v = shown(value.as_bytes());
    let err = || {
        format!(
            "DirGuardRequire: mode='{v}' is not an octal mode such as 0755 or 2775 (3 or 4 octal digits, at most 7777)"
        )
    };
    let digits = if value.len() == 5 {
        value.strip_prefix('0').ok_or_else(err)?
    } else {
        value
    };
    if !(3..=4).contains(&digits.len()) || !digits.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return Err(err());
    }
    u32::from_str_radix(digits, 8).map_err(|_| err())
}

fn parse_size(value: &str) -> Result<u64, String> {
    let v = shown(value.as_bytes());
    let err = || {
        format!(
            "DirGuardRequire: min-free='{v}' is not a size: a whole number of bytes, or with K, M, G or T (powers of 1024), e.g. 500M"
        )
    };
    let (digits, shift) = match value.as_bytes().last().map(u8::to_ascii_uppercase) {
        Some(b'K') => (&value[..value.len() - 1], 10),
        Some(b'M') => (&value[..value.len() - 1], 20),
        Some(b'G') => (&value[..value.len() - 1], 30),
        Some(b'T') => (&value[..value.len() - 1], 40),
        _ => (value, 0),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err());
    }
    let n: u64 = digits.parse().map_err(|_| err())?;
    n.checked_mul(1u64 << shift).ok_or_else(err)
}

fn parse_count(value: &str) -> Result<u64, String> {
    let v = shown(value.as_bytes());
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "DirGuardRequire: min-inodes='{v}' is not a whole number"
        ));
    }
    value
        .parse()
        .map_err(|_| format!("DirGuardRequire: min-inodes='{v}' is too large"))
}

/// Converts raw bytes to a path (directive arguments arrive as bytes).
pub fn path_from_bytes(bytes: &[u8]) -> PathBuf {
    PathBuf::from(OsString::from_vec(bytes.to_vec()))
}

/// A declaration's scope as status pages and metric labels show it: the enclosing sections,
/// outermost first, as `(directive, arguments)` from the configuration tree (`<Directory`,
/// `/var/www>`), without conditional ones such as `<IfModule>`; `server` outside any.
pub fn scope_text(sections: &[(String, String)]) -> String {
    let parts: Vec<String> = sections
        .iter()
        .filter(|(name, _)| !(name.len() > 3 && name[..3].eq_ignore_ascii_case("<if")))
        .map(|(name, args)| format!("{name} {}>", args.trim().trim_end_matches('>').trim()))
        .collect();
    if parts.is_empty() {
        return "server".to_owned();
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<RequiredDir, String> {
        let bytes: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        parse_require(
            &bytes,
            Base::Dir(Path::new("/etc/apache2")),
            Origin::default(),
        )
    }

    /// Found by the directive_args fuzz target: option text was echoed raw, so a control byte
    /// reached the terminal and the log.
    #[test]
    fn errors_echo_tokens_escaped_and_bounded() {
        let long = format!("owner={}", "\u{1b}".repeat(200));
        for args in [
            vec!["/x", "\u{19}\u{13}"],
            vec!["/x", "acc\ness=rw"],
            vec!["/x", "mode=\u{1b}[2J"],
            vec!["/x", long.as_str()],
        ] {
            let e = parse(&args).unwrap_err();
            assert!(e.bytes().all(|b| (0x20..0x7f).contains(&b)), "{e:?}");
            assert!(e.len() < 1024, "{} bytes", e.len());
        }
        assert!(parse(&["/x", "\u{19}"])
            .unwrap_err()
            .contains("'\\x19' is not key=value"));
    }

    #[test]
    fn a_bare_path_means_read_access() {
        let spec = parse(&["/var/www/html/uploads"]).unwrap();
        assert_eq!(spec.path, Path::new("/var/www/html/uploads"));
        assert_eq!(spec.access, Access::Read);
        assert_eq!((spec.owner, spec.group, spec.mode), (None, None, None));
    }

    #[test]
    fn every_key_is_understood() {
        let spec = parse(&[
            "/srv/x/",
            "access=rw",
            "owner=root",
            "group=#0",
            "mode=2775",
            "min-free=1G",
            "min-inodes=1000",
        ])
        .unwrap();
        assert_eq!(spec.path, Path::new("/srv/x"));
        assert_eq!(spec.access, Access::ReadWrite);
        assert_eq!(spec.owner.unwrap().id, 0);
        assert_eq!(spec.group.unwrap().name, "root");
        assert_eq!(spec.mode, Some(0o2775));
        assert_eq!(spec.min_free, Some(1 << 30));
        assert_eq!(spec.min_inodes, Some(1000));
    }

    #[test]
    fn relative_paths_use_the_base_or_say_why_not() {
        assert_eq!(
            parse(&["./data//cache"]).unwrap().path,
            Path::new("/etc/apache2/data/cache")
        );
        let err = parse_require(
            &[b"uploads"],
            Base::Unknown("inside <DirectoryMatch>"),
            Origin::default(),
        )
        .unwrap_err();
        assert!(
            err.contains("'uploads'") && err.contains("<DirectoryMatch>"),
            "{err}"
        );
    }

    #[test]
    fn bad_input_names_the_token_and_what_is_accepted() {
        let cases: &[(&[&str], &str)] = &[
            (&[], "needs a directory path"),
            (&["/x", "acess=rw"], "unknown key 'acess'"),
            (&["/x", "rw"], "'rw' is not key=value"),
            (&["/x", "access=write"], "not one of none, r, rw"),
            (&["/x", "access=r", "access=rw"], "'access' is given twice"),
            (&["/x", "mode=0855"], "mode='0855' is not an octal mode"),
            (&["/x", "mode=17777"], "mode='17777'"),
            (&["/x", "mode=75"], "mode='75'"),
            (&["/x", "owner=no-such-user-dirguard"], "no such user"),
            (&["/x", "group=no-such-group-dirguard"], "no such group"),
            (&["/x", "owner=#abc"], "not a valid #number"),
            (&["/x", "min-free=10X"], "min-free='10X' is not a size"),
            (&["/x", "min-free=99999999999T"], "is not a size"),
            (&["/x", "min-inodes=-1"], "not a whole number"),
            (&["/x", "mode="], "'mode=' needs a value"),
            (&["/x/../etc"], "contains '..'"),
        ];
        for (args, expected) in cases {
            let err = parse(args).unwrap_err();
            assert!(err.contains(expected), "{args:?}: {err}");
        }
    }

    #[test]
    fn sizes_accept_suffixes_in_either_case() {
        assert_eq!(parse_size("512").unwrap(), 512);
        assert_eq!(parse_size("2k").unwrap(), 2048);
        assert_eq!(parse_size("3M").unwrap(), 3 << 20);
        assert_eq!(parse_size("1t").unwrap(), 1 << 40);
    }

    #[test]
    fn scopes_name_the_enclosing_sections_without_conditionals() {
        let s = |v: &[(&str, &str)]| {
            scope_text(
                &v.iter()
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .collect::<Vec<_>>(),
            )
        };
        assert_eq!(s(&[]), "server");
        assert_eq!(
            s(&[
                ("<VirtualHost", "*:80>"),
                ("<IfModule", "mod_x.c>"),
                ("<Directory", "/var/www>")
            ]),
            "<VirtualHost *:80> <Directory /var/www>"
        );
    }
}
