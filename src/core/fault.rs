//! The faults a required directory can have, and for each the log text and the one shell
//! command (`fix:`) that resolves exactly that fault when run as root.

use super::bounded::Stall;
use super::identity::Identity;
use super::messages::{self, Tag};
use super::permission::{self, Class, Ownership, Verdict, W, X};
use super::spec::{Access, RequiredDir};
use super::text::{escape_log, human_bytes, quote_path, ShellCommand};
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Nothing at the path; `first_missing` is the highest component that does not exist.
    Missing {
        first_missing: PathBuf,
        errno: i32,
    },
    /// Missing, and the application that creates it when it needs it cannot: the nearest
    /// existing ancestor does not grant its user write and search.
    NotCreatable {
        first_missing: PathBuf,
        ancestor: PathBuf,
        own: Ownership,
        has_acl: bool,
        named: Option<u8>,
        verdict: Verdict,
    },
    /// A symlink whose target does not exist.
    DanglingSymlink {
        target: PathBuf,
    },
    /// Something other than a directory is at the path.
    NotADirectory {
        found: &'static str,
    },
    /// The server user cannot search (enter) an ancestor.
    AncestorBlocked {
        ancestor: PathBuf,
        own: Ownership,
        has_acl: bool,
        named: Option<u8>,
        verdict: Verdict,
    },
    /// The server user lacks the declared access on the directory itself.
    AccessDenied {
        own: Ownership,
        has_acl: bool,
        named: Option<u8>,
        verdict: Verdict,
    },
    Owner {
        found: u32,
    },
    Group {
        found: u32,
    },
    Mode {
        found: u32,
    },
    ReadOnly {
        mount: PathBuf,
    },
    LowSpace {
        available: u64,
        required: u64,
        mount: PathBuf,
    },
    LowInodes {
        available: u64,
        required: u64,
        mount: PathBuf,
    },
    /// A system call needed for the check failed (other than "does not exist").
    Uninspectable {
        what: PathBuf,
        call: &'static str,
        errno: i32,
    },
    /// A call of the check did not return within `DirGuardCheckTimeout`: its filesystem does
    /// not answer (a dead NFS server, a stopped FUSE daemon).
    NotAnswering {
        stall: Stall,
    },
}

/// The kinds of fault, in the order of their tags (DG01101 …). Each kind carries its stable name
/// (status pages, metrics, `dirguard-cause` notes), its tag and its bit in a kinds mask.
///
/// The discriminant is the kind's bit position in `DirRecord::kinds` and its counter among the
/// explained responses in shared memory: never renumber a kind, only add new ones at the end.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum FaultKind {
    Missing = 0,
    DanglingSymlink = 1,
    NotADirectory = 2,
    AncestorBlocked = 3,
    AccessDenied = 4,
    Owner = 5,
    Group = 6,
    Mode = 7,
    ReadOnly = 8,
    LowSpace = 9,
    LowInodes = 10,
    Uninspectable = 11,
    NotAnswering = 12,
}

impl FaultKind {
    /// Every kind, in tag order.
    pub const ALL: [FaultKind; 13] = [
        FaultKind::Missing,
        FaultKind::DanglingSymlink,
        FaultKind::NotADirectory,
        FaultKind::AncestorBlocked,
        FaultKind::AccessDenied,
        FaultKind::Owner,
        FaultKind::Group,
        FaultKind::Mode,
        FaultKind::ReadOnly,
        FaultKind::LowSpace,
        FaultKind::LowInodes,
        FaultKind::Uninspectable,
        FaultKind::NotAnswering,
    ];

    /// The stable name: status pages, metric labels, notes.
    pub const fn name(self) -> &'static str {
        match self {
            FaultKind::Missing => "missing",
            FaultKind::DanglingSymlink => "dangling-symlink",
            FaultKind::NotADirectory => "not-a-directory",
            FaultKind::AncestorBlocked => "ancestor-blocked",
            FaultKind::AccessDenied => "access-denied",
            FaultKind::Owner => "owner",
            FaultKind::Group => "group",
            FaultKind::Mode => "mode",
            FaultKind::ReadOnly => "read-only",
            FaultKind::LowSpace => "low-space",
            FaultKind::LowInodes => "low-inodes",
            FaultKind::Uninspectable => "uninspectable",
            FaultKind::NotAnswering => "not-answering",
        }
    }

    /// The tag of the lines that report a fault of this kind.
    pub const fn tag(self) -> Tag {
        match self {
            FaultKind::Missing => messages::FAULT_MISSING,
            FaultKind::DanglingSymlink => messages::FAULT_DANGLING_SYMLINK,
            FaultKind::NotADirectory => messages::FAULT_NOT_A_DIRECTORY,
            FaultKind::AncestorBlocked => messages::FAULT_ANCESTOR_BLOCKED,
            FaultKind::AccessDenied => messages::FAULT_ACCESS_DENIED,
            FaultKind::Owner => messages::FAULT_OWNER,
            FaultKind::Group => messages::FAULT_GROUP,
            FaultKind::Mode => messages::FAULT_MODE,
            FaultKind::ReadOnly => messages::FAULT_READ_ONLY,
            FaultKind::LowSpace => messages::FAULT_LOW_SPACE,
            FaultKind::LowInodes => messages::FAULT_LOW_INODES,
            FaultKind::Uninspectable => messages::FAULT_UNINSPECTABLE,
            FaultKind::NotAnswering => messages::FAULT_NOT_ANSWERING,
        }
    }

    /// This kind's bit in a mask of kinds (`DirRecord::kinds`, in shared memory).
    pub const fn bit(self) -> u16 {
        1 << self as u16
    }

    /// The kinds in a mask, in tag order.
    pub fn in_mask(mask: u16) -> impl Iterator<Item = FaultKind> {
        FaultKind::ALL
            .into_iter()
            .filter(move |k| mask & k.bit() != 0)
    }

    /// The first kind in a mask (tag order), as status pages and notes name a directory's fault.
    pub fn first_in(mask: u16) -> Option<FaultKind> {
        FaultKind::in_mask(mask).next()
    }
}

impl std::fmt::Display for FaultKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What an explained response is counted under in metrics: its cause's fault kind, or none.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CauseLabel {
    Kind(FaultKind),
    /// Nothing on the filesystem explains it (metric label "none").
    Nothing,
}

impl CauseLabel {
    /// How many labels there are: one counter each in shared memory.
    pub const COUNT: usize = FaultKind::ALL.len() + 1;

    /// The metric label.
    pub const fn name(self) -> &'static str {
        match self {
            CauseLabel::Kind(k) => k.name(),
            CauseLabel::Nothing => "none",
        }
    }

    /// The label's counter among `COUNT` in shared memory: a kind's own position, then none.
    pub const fn index(self) -> usize {
        match self {
            CauseLabel::Kind(k) => k as usize,
            CauseLabel::Nothing => FaultKind::ALL.len(),
        }
    }

    /// The label of counter `i` (inverse of `index`).
    pub fn from_index(i: usize) -> Option<CauseLabel> {
        match FaultKind::ALL.get(i) {
            Some(k) => Some(CauseLabel::Kind(*k)),
            None => (i == FaultKind::ALL.len()).then_some(CauseLabel::Nothing),
        }
    }

    /// The label of a directory whose faults are `mask`: its first kind, or none.
    pub fn of_mask(mask: u16) -> CauseLabel {
        FaultKind::first_in(mask).map_or(CauseLabel::Nothing, CauseLabel::Kind)
    }
}

impl From<FaultKind> for CauseLabel {
    fn from(kind: FaultKind) -> CauseLabel {
        CauseLabel::Kind(kind)
    }
}

/// What to create for a missing directory: used by the `install -d` fix and by repair, so the
/// command and the repair always agree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreationTarget {
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
    /// Names for the command line; `None` leaves `install`'s default (root).
    pub owner_name: Option<String>,
    pub group_name: Option<String>,
}

/// An owner or group for a new directory: its id, and its name for commands (None = root).
type Who = (u32, Option<String>);

/// The owner, group and mode a missing directory should get: the declared ones, else for `rw`
/// the server User/Group, else root:root; widened to the server user only when the result would
/// otherwise deny the declared access. Mode defaults to 0755.
pub fn creation_target(dir: &RequiredDir, id: &Identity) -> CreationTarget {
    let id = dir.checked_for(id);
    let mode = dir.mode.unwrap_or(0o755);
    let user = (id.uid, Some(id.user.clone()));
    let group = (id.gid, Some(id.group.clone()));
    let root = (0, None);
    let declared_owner = dir.owner.as_ref().map(|p| (p.id, Some(p.name.clone())));
    let declared_group = dir.group.as_ref().map(|p| (p.id, Some(p.name.clone())));
    let candidates: Vec<(Who, Who)> = if dir.access == Access::ReadWrite {
        vec![(user.clone(), group.clone())]
    } else {
        vec![
            (root.clone(), root.clone()),
            (root.clone(), group.clone()),
            (user.clone(), group.clone()),
        ]
    };
    let chosen = candidates
        .iter()
        .map(|(o, g)| {
            (
                declared_owner.clone().unwrap_or_else(|| o.clone()),
                declared_group.clone().unwrap_or_else(|| g.clone()),
            )
        })
        .find(|(o, g)| {
            let own = Ownership {
                uid: o.0,
                gid: g.0,
                mode,
            };
            permission::check(id, &own, None, dir.access.bits()).allowed
        })
        .unwrap_or_else(|| {
            (
                declared_owner.clone().unwrap_or(user),
                declared_group.clone().unwrap_or(group),
            )
        });
    CreationTarget {
        uid: chosen.0 .0,
        gid: chosen.1 .0,
        mode,
        owner_name: chosen.0 .1,
        group_name: chosen.1 .1,
    }
}

/// `install -d -m MODE [-o OWNER] [-g GROUP] 'PATH'`: creates missing parents as root 0755.
pub fn install_command(dir: &RequiredDir, id: &Identity, path: &Path) -> ShellCommand {
    let t = creation_target(dir, id);
    let mut cmd = ShellCommand::new("install")
        .arg("-d")
        .arg("-m")
        .arg(format!("{:04o}", t.mode));
    if let Some(o) = &t.owner_name {
        cmd = cmd.arg("-o").arg(o);
    }
    if let Some(g) = &t.group_name {
        cmd = cmd.arg("-g").arg(g);
    }
    cmd.path(path)
}

pub fn errno_text(errno: i32) -> String {
    let text = std::io::Error::from_raw_os_error(errno).to_string();
    // std appends " (os error N)"; Apache's lines show strerror text alone.
    match text.find(" (os error") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

fn describe_ownership(own: &Ownership) -> String {
    let user = name_or_id(super::identity::user_name_of(own.uid), own.uid);
    let group = name_or_id(super::identity::group_name_of(own.gid), own.gid);
    format!("owner {user}, group {group}, mode {:04o}", own.mode)
}

/// A user or group name from the system's database as log text (escaped), or `#ID`.
fn name_or_id(name: Option<String>, id: u32) -> String {
    name.map_or_else(|| format!("#{id}"), |n| escape_log(n.as_bytes()))
}

/// The command that grants `bits` to the server user on `path`, chosen by the class that denied:
/// `chmod` on the owner or group bits, `chmod o+` for reading through "other", and a named-user
/// ACL entry where an ACL decides or where "other" would need write (never world-writable).
pub(crate) fn grant_command(
    path: &Path,
    id: &Identity,
    verdict: &Verdict,
    has_acl: bool,
    named: Option<u8>,
    wanted: u8,
) -> ShellCommand {
    let missing = permission::letters(verdict.missing);
    let chmod = |class: &str| {
        ShellCommand::new("chmod")
            .arg(format!("{class}+{missing}"))
            .path(path)
    };
    match verdict.class {
        Class::Owner => chmod("u"),
        Class::Group if !has_acl => chmod("g"),
        Class::Other if !has_acl && verdict.missing & W == 0 => chmod("o"),
        _ => {
            let perms = permission::letters(named.unwrap_or(0) | wanted);
            ShellCommand::new("setfacl")
                .arg("-m")
                .arg(format!("u:{}:{perms}", id.user))
                .path(path)
        }
    }
}

impl Fault {
    pub fn kind(&self) -> FaultKind {
        match self {
            Fault::Missing { .. } | Fault::NotCreatable { .. } => FaultKind::Missing,
            Fault::DanglingSymlink { .. } => FaultKind::DanglingSymlink,
            Fault::NotADirectory { .. } => FaultKind::NotADirectory,
            Fault::AncestorBlocked { .. } => FaultKind::AncestorBlocked,
            Fault::AccessDenied { .. } => FaultKind::AccessDenied,
            Fault::Owner { .. } => FaultKind::Owner,
            Fault::Group { .. } => FaultKind::Group,
            Fault::Mode { .. } => FaultKind::Mode,
            Fault::ReadOnly { .. } => FaultKind::ReadOnly,
            Fault::LowSpace { .. } => FaultKind::LowSpace,
            Fault::LowInodes { .. } => FaultKind::LowInodes,
            Fault::Uninspectable { .. } => FaultKind::Uninspectable,
            Fault::NotAnswering { .. } => FaultKind::NotAnswering,
        }
    }

    pub fn tag(&self) -> Tag {
        self.kind().tag()
    }

    /// What is wrong, expected against found.
    pub fn what(&self, dir: &RequiredDir) -> String {
        match self {
            Fault::Missing { first_missing, errno } if first_missing != &dir.path => format!(
                "is missing ({}; already '{}' does not exist)",
                errno_text(*errno),
                quote_inner(first_missing)
            ),
            Fault::Missing { errno, .. } => format!("is missing ({})", errno_text(*errno)),
            Fault::NotCreatable { first_missing, ancestor, own, has_acl, verdict, .. } => format!(
                "is missing{}, and the application cannot create it when it needs it: {} ({}{}) does not grant it write and search (missing {} for the {} class)",
                if first_missing != &dir.path {
                    format!(" (already '{}' does not exist)", quote_inner(first_missing))
                } else {
                    String::new()
                },
                quote_path(ancestor.as_os_str()),
                describe_ownership(own),
                if *has_acl { ", with an ACL" } else { "" },
                permission::letters(verdict.missing),
                class_name(verdict.class)
            ),
            Fault::DanglingSymlink { target } => format!(
                "is a dangling symbolic link (its target {} does not exist)",
                quote_path(target.as_os_str())
            ),
            Fault::NotADirectory { found } => format!("is not a directory (found: {found})"),
            Fault::AncestorBlocked { ancestor, own, verdict, .. } => format!(
                "cannot be reached: the server user cannot enter {} ({}; missing {} for the {} class)",
                quote_path(ancestor.as_os_str()),
                describe_ownership(own),
                permission::letters(verdict.missing),
                class_name(verdict.class)
            ),
            Fault::AccessDenied { own, verdict, has_acl, .. } => format!(
                "does not grant access={} ({}{}; missing {} for the {} class)",
                dir.access.keyword(),
                describe_ownership(own),
                if *has_acl { ", with an ACL" } else { "" },
                permission::letters(verdict.missing),
                class_name(verdict.class)
            ),
            Fault::Owner { found } => format!(
                "has the wrong owner (expected {}, found {})",
                escape_log(dir.owner.as_ref().map_or(b"?", |p| p.name.as_bytes())),
                name_or_id(super::identity::user_name_of(*found), *found)
            ),
            Fault::Group { found } => format!(
                "has the wrong group (expected {}, found {})",
                escape_log(dir.group.as_ref().map_or(b"?", |p| p.name.as_bytes())),
                name_or_id(super::identity::group_name_of(*found), *found)
            ),
            Fault::Mode { found } => format!(
                "has the wrong mode (expected {:04o}, found {:04o})",
                dir.mode.unwrap_or(0),
                found
            ),
            Fault::ReadOnly { mount } => format!(
                "is on a read-only filesystem (mounted at {}) but access=rw is required",
                quote_path(mount.as_os_str())
            ),
            Fault::LowSpace { available, required, mount } => format!(
                "has too little free space ({} available to non-root users, min-free {}; filesystem mounted at {})",
                human_bytes(*available),
                human_bytes(*required),
                quote_path(mount.as_os_str())
            ),
            Fault::LowInodes { available, required, mount } => format!(
                "has too few free inodes ({available} available, min-inodes {required}; filesystem mounted at {})",
                quote_path(mount.as_os_str())
            ),
            Fault::Uninspectable { what, call, errno } => format!(
                "cannot be checked: {call}({}) failed: {}",
                quote_path(what.as_os_str()),
                errno_text(*errno)
            ),
            Fault::NotAnswering { stall } => format!(
                "does not answer: {}({}) has not returned within {:.1} s (called at {}); {}",
                stall.call,
                quote_path(stall.path.as_os_str()),
                stall.waited.as_secs_f64(),
                super::text::format_utc(stall.since_unix_s),
                match &stall.mount {
                    Some(m) => format!(
                        "the filesystem mounted at {} ({} from {}) is not answering",
                        quote_path(m.point.as_os_str()),
                        escape_log(m.fstype.as_bytes()),
                        escape_log(m.source.as_bytes())
                    ),
                    None => "its filesystem is not answering".to_owned(),
                }
            ),
        }
    }

    /// One shell command that resolves exactly this fault when run as root; where no command can
    /// (a full disk), what to do instead. Every command is a [`ShellCommand`], so what Apache
    /// writes into its log is the command itself, pasteable whatever bytes the path holds.
    pub fn fix(&self, dir: &RequiredDir, id: &Identity) -> String {
        let id = dir.checked_for(id);
        let p = dir.path.as_path();
        let name = |who: &Option<super::spec::Principal>| {
            who.as_ref().map_or("?", |w| w.name.as_str()).to_owned()
        };
        match self {
            Fault::Missing { .. } | Fault::NotCreatable { .. } => {
                install_command(dir, id, p).render()
            }
            Fault::DanglingSymlink { target } => install_command(dir, id, target).render(),
            Fault::NotADirectory { .. } => {
                let mut aside = p.as_os_str().to_owned();
                aside.push(".dirguard-moved");
                ShellCommand::new("mv")
                    .arg("--")
                    .path(p)
                    .path(aside)
                    .and(install_command(dir, id, p))
                    .render()
            }
            Fault::AncestorBlocked {
                ancestor,
                verdict,
                has_acl,
                named,
                ..
            } => grant_command(ancestor, id, verdict, *has_acl, *named, X).render(),
            Fault::AccessDenied {
                verdict,
                has_acl,
                named,
                ..
            } => grant_command(p, id, verdict, *has_acl, *named, dir.access.bits()).render(),
            Fault::Owner { .. } => ShellCommand::new("chown")
                .arg(name(&dir.owner))
                .path(p)
                .render(),
            Fault::Group { .. } => ShellCommand::new("chgrp")
                .arg(name(&dir.group))
                .path(p)
                .render(),
            Fault::Mode { .. } => ShellCommand::new("chmod")
                .arg(format!("{:04o}", dir.mode.unwrap_or(0)))
                .path(p)
                .render(),
            Fault::ReadOnly { mount } => ShellCommand::new("mount")
                .arg("-o")
                .arg("remount,rw")
                .path(mount)
                .render(),
            Fault::LowSpace {
                available,
                required,
                mount,
            } => format!(
                "free at least {} on the filesystem mounted at {} or grow it (see: {})",
                human_bytes(required.saturating_sub(*available)),
                quote_path(mount.as_os_str()),
                ShellCommand::new("df").arg("-h").path(p)
            ),
            Fault::LowInodes {
                available,
                required,
                mount,
            } => format!(
                "delete at least {} files on the filesystem mounted at {} or grow it (see: {})",
                required.saturating_sub(*available),
                quote_path(mount.as_os_str()),
                ShellCommand::new("df").arg("-i").path(p)
            ),
            Fault::Uninspectable { .. } => format!(
                "find the cause with: {}",
                ShellCommand::new("namei").arg("-l").path(p)
            ),
            Fault::NotAnswering { stall } => {
                let scope = quote_path(stall.scope().as_os_str());
                let umount = ShellCommand::new("umount").arg("-l").path(stall.scope());
                format!(
                    "bring back the server or daemon behind the filesystem mounted at {scope} (or unmount it: {umount}); no request waits on it, and every audit retries it"
                )
            }
        }
    }

    /// The whole log line after the tag: path, what is wrong, for whom (the identity checked
    /// and where it came from), where declared, fix.
    pub fn render(&self, dir: &RequiredDir, id: &Identity) -> String {
        format!(
            "{} {} {}; for {}; {}; fix: {}",
            dir.noun(),
            quote_path(dir.path.as_os_str()),
            self.what(dir),
            dir.checked_for(id).whose(),
            dir.provenance(),
            self.fix(dir, id)
        )
    }
}

fn quote_inner(p: &Path) -> String {
    let q = quote_path(p.as_os_str());
    q.trim_start_matches('$').trim_matches('\'').to_owned()
}

fn class_name(class: Class) -> &'static str {
    match class {
        Class::Root => "root",
        Class::Owner => "owner",
        Class::NamedUser => "named-user ACL",
        Class::Group => "group",
        Class::Other => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::spec::{Origin, Principal};

    /// Names, tags, bits and counters are what status pages, alert rules and the shared memory of
    /// a running server rely on: each kind keeps its own.
    #[test]
    fn every_fault_kind_has_its_own_name_tag_bit_and_label() {
        let expected = [
            ("missing", 1101),
            ("dangling-symlink", 1102),
            ("not-a-directory", 1103),
            ("ancestor-blocked", 1104),
            ("access-denied", 1105),
            ("owner", 1106),
            ("group", 1107),
            ("mode", 1108),
            ("read-only", 1109),
            ("low-space", 1110),
            ("low-inodes", 1111),
            ("uninspectable", 1112),
            ("not-answering", 1113),
        ];
        let mut mask = 0u16;
        for (i, (kind, (name, tag))) in FaultKind::ALL.iter().zip(expected).enumerate() {
            assert_eq!((kind.name(), kind.tag()), (name, Tag(tag)));
            assert_eq!(kind.bit(), 1 << i, "{name}");
            assert_eq!(mask & kind.bit(), 0, "{name}: bit shared");
            mask |= kind.bit();
            let label = CauseLabel::from(*kind);
            assert_eq!((label.name(), label.index()), (name, i));
            assert_eq!(CauseLabel::from_index(i), Some(label));
        }
        assert_eq!(CauseLabel::Nothing.name(), "none");
        assert_eq!(CauseLabel::from_index(13), Some(CauseLabel::Nothing));
        assert_eq!(CauseLabel::from_index(14), None);
        assert_eq!(CauseLabel::COUNT, 14);
    }

    #[test]
    fn a_kinds_mask_lists_its_kinds_in_tag_order() {
        let mask = FaultKind::Mode.bit() | FaultKind::Missing.bit() | FaultKind::NotAnswering.bit();
        assert_eq!(
            FaultKind::in_mask(mask).collect::<Vec<_>>(),
            [FaultKind::Missing, FaultKind::Mode, FaultKind::NotAnswering]
        );
        assert_eq!(FaultKind::first_in(mask), Some(FaultKind::Missing));
        assert_eq!(
            CauseLabel::of_mask(mask),
            CauseLabel::Kind(FaultKind::Missing)
        );
        assert_eq!(CauseLabel::of_mask(0), CauseLabel::Nothing);
        assert_eq!(FaultKind::LowSpace.to_string(), "low-space");
        let fault = Fault::ReadOnly {
            mount: "/srv".into(),
        };
        assert_eq!(
            (fault.kind(), fault.tag()),
            (FaultKind::ReadOnly, messages::FAULT_READ_ONLY)
        );
    }

    fn dir(path: &str, access: Access) -> RequiredDir {
        let origin = Origin {
            file: "/etc/apache2/sites-enabled/wp.conf".into(),
            line: 12,
        };
        RequiredDir::new(path, access, origin)
    }

    /// Found by the fix_command fuzz target: names were written raw into the line.
    #[test]
    fn names_with_odd_bytes_are_escaped_in_the_line_and_carried_in_base64_in_the_fix() {
        let mut d = dir("/srv/a\nb", Access::ReadWrite);
        d.owner = Some(Principal {
            id: 0,
            name: "ev\u{1b}[1mil".into(),
        });
        let id = Identity {
            user: "w\u{e9}b".into(),
            ..Identity::www_data()
        };
        let line = Fault::Owner { found: 0 }.render(&d, &id);
        assert!(line.bytes().all(|b| (0x20..0x7f).contains(&b)), "{line:?}");
        assert!(line.contains("expected ev\\x1b[1mil"), "{line}");
        assert!(line.contains("User w\\xc3\\xa9b (uid 33)"), "{line}");
        // The fix carries the name and the path in base64 (they hold an ESC and a newline, which
        // Apache's log escaping would turn into backslash sequences a shell reads otherwise).
        assert!(
            line.ends_with("fix: echo ZXYbWzFtaWwAL3Nydi9hCmIA | base64 -d | xargs -0 chown"),
            "{line}"
        );
    }

    /// Apache's error log doubles backslashes and writes other bytes as `\xhh`: a fix for a path
    /// with a quote has no backslash (`'"'"'`), and one for a path with other bytes carries them
    /// in base64, so the line in the log file is the command itself.
    #[test]
    fn fixes_for_awkward_paths_survive_the_error_log_unchanged() {
        let www = Identity::www_data();
        let d = dir("/srv/it's/uploads", Access::ReadWrite);
        let missing = Fault::Missing {
            first_missing: d.path.clone(),
            errno: libc::ENOENT,
        };
        assert_eq!(
            missing.fix(&d, &www),
            "install -d -m 0755 -o www-data -g www-data '/srv/it'\"'\"'s/uploads'"
        );
        let d = dir("/srv/caf\u{e9}/uploads", Access::ReadWrite);
        let moved = Fault::NotADirectory {
            found: "a regular file",
        };
        assert_eq!(
            moved.fix(&d, &www),
            "echo L3Nydi9jYWbDqS91cGxvYWRzAC9zcnYvY2Fmw6kvdXBsb2Fkcy5kaXJndWFyZC1tb3ZlZAA= | base64 -d | xargs -0 mv -- \
             && echo L3Nydi9jYWbDqS91cGxvYWRzAA== | base64 -d | xargs -0 install -d -m 0755 -o www-data -g www-data"
        );
    }

    #[test]
    fn missing_rw_directory_is_installed_for_the_server_user() {
        let d = dir("/var/www/html/wp-content/uploads", Access::ReadWrite);
        let f = Fault::Missing {
            first_missing: d.path.clone(),
            errno: libc::ENOENT,
        };
        assert_eq!(
            f.render(&d, &Identity::www_data()),
            "required directory '/var/www/html/wp-content/uploads' is missing (No such file or directory); \
             for User www-data (uid 33), Group www-data (gid 33), the server's User and Group; declared at /etc/apache2/sites-enabled/wp.conf:12; \
             fix: install -d -m 0755 -o www-data -g www-data '/var/www/html/wp-content/uploads'"
        );
    }

    #[test]
    fn a_requirement_of_an_application_with_its_own_user_is_checked_and_fixed_for_it() {
        let d = dir("/srv/wp/wp-content/uploads", Access::ReadWrite);
        let pool = Identity {
            uid: 998,
            gid: 997,
            groups: vec![997],
            user: "wpapp".into(),
            group: "wpapp".into(),
            origin: "PHP-FPM pool 'wp' (/etc/php/8.2/fpm/pool.d/wp.conf:4)".into(),
        };
        let _ = d.who.set(std::sync::Arc::new(pool));
        let f = Fault::Missing {
            first_missing: d.path.clone(),
            errno: libc::ENOENT,
        };
        assert_eq!(
            f.render(&d, &Identity::www_data()),
            "required directory '/srv/wp/wp-content/uploads' is missing (No such file or directory); \
             for User wpapp (uid 998), Group wpapp (gid 997), PHP-FPM pool 'wp' (/etc/php/8.2/fpm/pool.d/wp.conf:4); \
             declared at /etc/apache2/sites-enabled/wp.conf:12; \
             fix: install -d -m 0755 -o wpapp -g wpapp '/srv/wp/wp-content/uploads'"
        );
        assert_eq!(creation_target(&d, &Identity::www_data()).uid, 998);
    }

    #[test]
    fn missing_read_only_directory_stays_root_owned_unless_that_denies_access() {
        let d = dir("/srv/static", Access::Read);
        assert_eq!(
            install_command(&d, &Identity::www_data(), &d.path).render(),
            "install -d -m 0755 '/srv/static'"
        );
        let mut tight = dir("/srv/static", Access::Read);
        tight.mode = Some(0o750);
        assert_eq!(
            install_command(&tight, &Identity::www_data(), &tight.path).render(),
            "install -d -m 0750 -g www-data '/srv/static'"
        );
    }

    #[test]
    fn declared_owner_group_and_mode_go_into_the_install_command() {
        let mut d = dir("/srv/up", Access::ReadWrite);
        d.owner = Some(Principal {
            id: 0,
            name: "root".into(),
        });
        d.group = Some(Principal {
            id: 33,
            name: "www-data".into(),
        });
        d.mode = Some(0o2775);
        assert_eq!(
            install_command(&d, &Identity::www_data(), &d.path).render(),
            "install -d -m 2775 -o root -g www-data '/srv/up'"
        );
    }

    #[test]
    fn blocked_ancestor_fix_uses_the_denying_class() {
        let d = dir("/srv/site/uploads", Access::Read);
        let own = Ownership {
            uid: 0,
            gid: 0,
            mode: 0o750,
        };
        let verdict = permission::check(&Identity::www_data(), &own, None, X);
        let f = Fault::AncestorBlocked {
            ancestor: "/srv/site".into(),
            own,
            has_acl: false,
            named: None,
            verdict,
        };
        assert_eq!(f.fix(&d, &Identity::www_data()), "chmod o+x '/srv/site'");
        assert!(f.what(&d).contains("cannot enter '/srv/site' (owner root, group root, mode 0750; missing x for the other class)"));
    }

    #[test]
    fn write_for_other_is_granted_by_acl_never_world_writable() {
        let d = dir("/srv/up", Access::ReadWrite);
        let own = Ownership {
            uid: 0,
            gid: 0,
            mode: 0o755,
        };
        let verdict = permission::check(&Identity::www_data(), &own, None, d.access.bits());
        let f = Fault::AccessDenied {
            own,
            has_acl: false,
            named: None,
            verdict,
        };
        assert_eq!(
            f.fix(&d, &Identity::www_data()),
            "setfacl -m u:www-data:rwx '/srv/up'"
        );
    }

    #[test]
    fn full_disk_says_what_to_do_after_fix() {
        let mut d = dir("/srv/up", Access::ReadWrite);
        d.min_free = Some(1 << 30);
        let f = Fault::LowSpace {
            available: 1 << 20,
            required: 1 << 30,
            mount: "/srv".into(),
        };
        assert!(f
            .fix(&d, &Identity::www_data())
            .starts_with("free at least 1023.0 MiB on the filesystem mounted at '/srv'"));
    }
}
