//! Checks required directories against the filesystem for one identity. The one evaluator every
//! caller uses (startup check, later the live monitor and request-time diagnosis). An evaluator
//! caches what it learnt about ancestors, so make a fresh one for each audit.

use super::bounded::Progress;
use super::fault::Fault;
use super::identity::Identity;
use super::permission::{self, Acl, Ownership, W, X};
use super::records::{class_word, quoted, Bits, Errno, Lazy, TRACE2};
use super::spec::{Access, RequiredDir};
use std::collections::HashMap;
use std::ffi::CString;
use std::fs::Metadata;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// What a directory and all its ancestors amount to for the identity: the first (topmost) one
/// it cannot search, whether a symlink was crossed, whether the chain stopped (something missing
/// or not a directory).
#[derive(Clone, Debug, Default)]
struct Chain {
    blocked: Option<Box<Fault>>,
    crossed_symlink: bool,
    ended: bool,
}

/// What an ancestor is, and whether the identity may search it.
#[derive(Clone, Debug)]
enum Ancestor {
    Missing,
    Symlink,
    Dir { blocked: Option<Box<Fault>> },
    Other,
}

/// (device, inode)
type InodeKey = (u64, u64);
/// (ctime seconds, ctime nanoseconds)
type ChangeStamp = (i64, i64);

/// ACLs remembered across audits by (device, inode), trusted while the inode's ctime is
/// unchanged: chmod, chown and setfacl all update ctime, so an unchanged ctime means an
/// unchanged ACL. The live monitor keeps one; a one-off audit does without.
#[derive(Default)]
pub struct AclCache {
    entries: HashMap<InodeKey, (ChangeStamp, Option<Acl>)>,
}

impl AclCache {
    fn get_or_read(&mut self, path: &Path, md: &Metadata) -> Option<Acl> {
        let key = (md.dev(), md.ino());
        let stamp = (md.ctime(), md.ctime_nsec());
        if let Some((seen, acl)) = self.entries.get(&key) {
            if *seen == stamp {
                log::trace!(target: TRACE2, "ACL cache hit for {} (inode unchanged)", quoted(path));
                return acl.clone();
            }
        }
        log::trace!(
            target: TRACE2,
            "ACL cache miss for {} ({})",
            quoted(path),
            if self.entries.contains_key(&key) { "inode changed" } else { "inode not seen yet" }
        );
        let acl = Acl::read(path);
        self.entries.insert(key, (stamp, acl.clone()));
        acl
    }

    /// Forgets inodes not seen for a while, so the cache cannot grow without bound.
    pub fn trim(&mut self, max_entries: usize) {
        if self.entries.len() > max_entries {
            self.entries.clear();
        }
    }
}

/// Whether the application's user can create a missing directory it makes on demand.
enum Creatable {
    Yes,
    No(Box<Fault>),
    Unknown,
}

/// The outcome for one directory: its faults and, when it exists, its filesystem's figures.
#[derive(Clone, Debug, Default)]
pub struct Evaluation {
    pub faults: Vec<Fault>,
    pub fs: Option<FsStats>,
}

pub struct Evaluator<'a> {
    id: &'a Identity,
    acl_cache: Option<&'a mut AclCache>,
    /// Where a bounded worker says which call it is making (`core::bounded`).
    progress: Option<&'a Progress>,
    memo: Memo,
}

/// What an evaluator learnt during one audit (ancestor chains, filesystems), kept across the
/// directories of that audit; `Evaluator::with_memo` resumes with it.
#[derive(Default)]
pub struct Memo {
    /// Verdicts of whole ancestor chains by directory (raw path bytes): siblings share their
    /// parent's chain, so an audit of many directories inspects each ancestor once and looks up
    /// one chain per directory.
    chains: HashMap<Box<[u8]>, Chain>,
    /// statvfs by device: free space, inodes and read-only are per filesystem.
    filesystems: HashMap<u64, Result<FsStats, i32>>,
}

fn errno_of(e: &io::Error) -> i32 {
    e.raw_os_error().unwrap_or(libc::EIO)
}

fn ownership(md: &Metadata) -> Ownership {
    Ownership {
        uid: md.uid(),
        gid: md.gid(),
        mode: md.mode() & 0o7777,
    }
}

/// What is at a path, in the words of `ls -l` readers.
pub fn file_kind(md: &Metadata) -> &'static str {
    let t = md.file_type();
    if t.is_file() {
        "a regular file"
    } else if t.is_dir() {
        "a directory"
    } else if t.is_symlink() {
        "a symbolic link"
    } else if t.is_fifo() {
        "a named pipe"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_char_device() {
        "a character device"
    } else {
        "an unknown file type"
    }
}

/// Free space and inodes available to unprivileged users, and whether the mount is read-only.
#[derive(Clone, Copy, Debug)]
pub struct FsStats {
    pub available_bytes: u64,
    pub available_inodes: u64,
    pub read_only: bool,
}

pub fn fs_stats(path: &Path) -> Result<FsStats, i32> {
    let cpath = CString::new(path.as_os_str().as_bytes()).map_err(|_| libc::EINVAL)?;
    // SAFETY: statvfs is plain data; the kernel fills it on success. cpath is NUL-terminated.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointers for the duration of the call.
    if unsafe { libc::statvfs(cpath.as_ptr(), &mut st) } != 0 {
        return Err(errno_of(&io::Error::last_os_error()));
    }
    Ok(FsStats {
        available_bytes: (st.f_bavail as u64).saturating_mul(st.f_frsize as u64),
        available_inodes: st.f_favail as u64,
        read_only: st.f_flag & libc::ST_RDONLY != 0,
    })
}

/// The mount point of the filesystem holding `path`: the highest ancestor on the same device.
pub fn mount_point(path: &Path) -> PathBuf {
    let Ok(dev) = std::fs::metadata(path).map(|m| m.dev()) else {
        return path.to_path_buf();
    };
    let mut best = path.to_path_buf();
    for anc in path.ancestors().skip(1) {
        match std::fs::metadata(anc) {
            Ok(m) if m.dev() == dev => best = anc.to_path_buf(),
            _ => break,
        }
    }
    best
}

impl<'a> Evaluator<'a> {
    pub fn new(id: &'a Identity) -> Evaluator<'a> {
        Evaluator {
            id,
            acl_cache: None,
            progress: None,
            memo: Memo::default(),
        }
    }

    /// An evaluator that reuses ACLs from earlier audits where the inode did not change.
    pub fn with_acl_cache(id: &'a Identity, cache: &'a mut AclCache) -> Evaluator<'a> {
        Evaluator {
            id,
            acl_cache: Some(cache),
            progress: None,
            memo: Memo::default(),
        }
    }

    /// Reports each filesystem call to `progress` before making it.
    pub fn with_progress(mut self, progress: &'a Progress) -> Evaluator<'a> {
        self.progress = Some(progress);
        self
    }

    /// Resumes with what an earlier evaluator of the same audit learnt.
    pub fn with_memo(mut self, memo: Memo) -> Evaluator<'a> {
        self.memo = memo;
        self
    }

    pub fn into_memo(self) -> Memo {
        self.memo
    }

    /// Says which call is about to be made (for a worker whose call may never return).
    pub(crate) fn enter(&self, call: &'static str, path: &Path) {
        if let Some(p) = self.progress {
            p.enter(call, path);
        }
    }

    pub(crate) fn acl(&mut self, path: &Path, md: &Metadata) -> Option<Acl> {
        self.enter("getxattr", path);
        match self.acl_cache.as_deref_mut() {
            Some(cache) => cache.get_or_read(path, md),
            None => Acl::read(path),
        }
    }

    fn inspect(&mut self, path: &Path) -> Ancestor {
        self.enter("lstat", path);
        match std::fs::symlink_metadata(path) {
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR)) => {
                log::trace!("{}: lstat: {}", quoted(path), Errno(errno_of(&e)));
                Ancestor::Missing
            }
            Err(e) => {
                log::debug!("ancestor {}: lstat: {}", quoted(path), Errno(errno_of(&e)));
                Ancestor::Other
            }
            Ok(md) if md.file_type().is_symlink() => {
                log::trace!("ancestor {}: a symbolic link", quoted(path));
                Ancestor::Symlink
            }
            Ok(md) if md.is_dir() => {
                let own = ownership(&md);
                let acl = self.acl(path, &md);
                let verdict = permission::check(self.id, &own, acl.as_ref(), X);
                log::log!(
                    if verdict.allowed { log::Level::Trace } else { log::Level::Debug },
                    "ancestor {}: search (x) {} for uid {} by {} (owner uid {}, group gid {}, mode {:04o}{})",
                    quoted(path),
                    if verdict.allowed { "allowed" } else { "denied" },
                    self.id.uid,
                    class_word(verdict.class),
                    own.uid,
                    own.gid,
                    own.mode,
                    if acl.is_some() { ", with an ACL" } else { "" }
                );
                Ancestor::Dir {
                    blocked: (!verdict.allowed).then(|| {
                        Box::new(Fault::AncestorBlocked {
                            ancestor: path.to_path_buf(),
                            own,
                            has_acl: acl.is_some(),
                            named: acl.as_ref().and_then(|a| a.named_user(self.id.uid)),
                            verdict,
                        })
                    }),
                }
            }
            Ok(md) => {
                log::trace!(
                    "ancestor {}: {}, not a directory",
                    quoted(path),
                    file_kind(&md)
                );
                Ancestor::Other
            }
        }
    }

    /// The chain verdict of `dir` (itself and every ancestor), memoized.
    fn chain(&mut self, dir: &Path) -> Chain {
        if let Some(c) = self.memo.chains.get(dir.as_os_str().as_bytes()) {
            return c.clone();
        }
        let above = match dir.parent() {
            Some(parent) => self.chain(parent),
            None => Chain::default(),
        };
        let chain = if above.blocked.is_some() || above.ended {
            above
        } else {
            match self.inspect(dir) {
                Ancestor::Symlink => Chain {
                    crossed_symlink: true,
                    ..above
                },
                Ancestor::Dir { blocked: Some(f) } => Chain {
                    blocked: Some(f),
                    ..above
                },
                Ancestor::Dir { blocked: None } => above,
                Ancestor::Missing | Ancestor::Other => Chain {
                    ended: true,
                    ..above
                },
            }
        };
        self.memo
            .chains
            .insert(dir.as_os_str().as_bytes().into(), chain.clone());
        chain
    }

    /// The first ancestor of `path` (excluding `path`) the identity cannot search, among the
    /// directories on the lexical path and, where a symlink is crossed, on the resolved path.
    pub(crate) fn blocked_ancestor(&mut self, path: &Path, path_is_symlink: bool) -> Option<Fault> {
        let parent = path.parent()?;
        let lexical = self.chain(parent);
        if let Some(f) = lexical.blocked {
            return Some(*f);
        }
        if lexical.crossed_symlink || path_is_symlink {
            self.enter("realpath", path);
            let real = std::fs::canonicalize(path).ok()?;
            log::trace!(
                "{}: crosses a symbolic link; the ancestors of {} are checked too",
                quoted(path),
                quoted(&real)
            );
            return self.chain(real.parent()?).blocked.map(|f| *f);
        }
        None
    }

    fn fs_stats_cached(&mut self, path: &Path, dev: u64) -> Result<FsStats, i32> {
        if let Some(known) = self.memo.filesystems.get(&dev) {
            return *known;
        }
        self.enter("statvfs", path);
        let st = fs_stats(path);
        self.memo.filesystems.insert(dev, st);
        st
    }

    /// Every fault of one required directory, in the order an administrator would fix them.
    pub fn evaluate(&mut self, dir: &RequiredDir) -> Vec<Fault> {
        self.evaluate_full(dir).faults
    }

    /// Faults, and the filesystem figures (free space and inodes) of an existing directory.
    pub fn evaluate_full(&mut self, dir: &RequiredDir) -> Evaluation {
        let mut faults = Vec::new();
        let path = dir.path.as_path();
        self.enter("lstat", path);
        let link_md = match std::fs::symlink_metadata(path) {
            Ok(md) => md,
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR)) => {
                faults.extend(self.blocked_ancestor(path, false));
                let first_missing = self.first_missing(path);
                if dir.on_demand && faults.is_empty() {
                    // The application makes it when it needs it: healthy while its user can.
                    match self.creatable(&first_missing) {
                        Creatable::Yes => return Evaluation { faults, fs: None },
                        Creatable::No(fault) => {
                            faults.push(*fault);
                            return Evaluation { faults, fs: None };
                        }
                        Creatable::Unknown => {}
                    }
                }
                faults.push(Fault::Missing {
                    first_missing,
                    errno: errno_of(&e),
                });
                log::debug!(
                    "{}: lstat: {}: missing{}",
                    quoted(path),
                    Errno(errno_of(&e)),
                    Lazy(|f| match faults.last() {
                        Some(Fault::Missing { first_missing, .. }) if first_missing != path => {
                            write!(f, " (first missing component {})", quoted(first_missing))
                        }
                        _ => Ok(()),
                    })
                );
                return Evaluation { faults, fs: None };
            }
            Err(e) => {
                // Unprivileged (a watchdog child, or Apache run without root): EACCES means an
                // ancestor cannot be searched; name it rather than the symptom.
                if e.raw_os_error() == Some(libc::EACCES) {
                    if let Some(blocked) = self.blocked_ancestor(path, false) {
                        log::debug!(
                            "{}: lstat: {}: an ancestor cannot be searched",
                            quoted(path),
                            Errno(errno_of(&e))
                        );
                        faults.push(blocked);
                        return Evaluation { faults, fs: None };
                    }
                }
                log::debug!("{}: lstat: {}", quoted(path), Errno(errno_of(&e)));
                faults.push(Fault::Uninspectable {
                    what: path.to_path_buf(),
                    call: "lstat",
                    errno: errno_of(&e),
                });
                return Evaluation { faults, fs: None };
            }
        };
        let is_symlink = link_md.file_type().is_symlink();
        log::trace!(
            "{}: lstat: {}, owner uid {}, group gid {}, mode {:04o}",
            quoted(path),
            file_kind(&link_md),
            link_md.uid(),
            link_md.gid(),
            link_md.mode() & 0o7777
        );
        let md = if is_symlink {
            self.enter("stat", path);
            match std::fs::metadata(path) {
                Ok(md) => md,
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                    self.enter("readlink", path);
                    let link = std::fs::read_link(path).unwrap_or_default();
                    let target = path.parent().unwrap_or(Path::new("/")).join(link);
                    log::debug!(
                        "{}: stat: {}: a symbolic link to the missing {}",
                        quoted(path),
                        Errno(errno_of(&e)),
                        quoted(&target)
                    );
                    faults.push(Fault::DanglingSymlink { target });
                    return Evaluation { faults, fs: None };
                }
                Err(e) => {
                    log::debug!("{}: stat: {}", quoted(path), Errno(errno_of(&e)));
                    faults.push(Fault::Uninspectable {
                        what: path.to_path_buf(),
                        call: "stat",
                        errno: errno_of(&e),
                    });
                    return Evaluation { faults, fs: None };
                }
            }
        } else {
            link_md
        };
        if !md.is_dir() {
            log::debug!("{}: is {}, not a directory", quoted(path), file_kind(&md));
            faults.push(Fault::NotADirectory {
                found: file_kind(&md),
            });
            return Evaluation { faults, fs: None };
        }

        let blocked = self.blocked_ancestor(path, is_symlink);
        let reachable = blocked.is_none();
        if !reachable {
            log::debug!(
                "{}: an ancestor denies search; its access is not checked",
                quoted(path)
            );
        }
        faults.extend(blocked);

        let own = ownership(&md);
        if reachable && dir.access != Access::None {
            let acl = self.acl(path, &md);
            let verdict = permission::check(self.id, &own, acl.as_ref(), dir.access.bits());
            log::log!(
                if verdict.allowed { log::Level::Trace } else { log::Level::Debug },
                "{}: access {} ({}) {} for uid {} by {} (owner uid {}, group gid {}, mode {:04o}{}){}",
                quoted(path),
                dir.access.keyword(),
                Bits(dir.access.bits()),
                if verdict.allowed { "granted" } else { "denied" },
                self.id.uid,
                class_word(verdict.class),
                own.uid,
                own.gid,
                own.mode,
                if acl.is_some() { ", with an ACL" } else { "" },
                Lazy(|f| match verdict.missing {
                    0 => Ok(()),
                    m => write!(f, "; lacks {}", Bits(m)),
                })
            );
            if !verdict.allowed {
                faults.push(Fault::AccessDenied {
                    own,
                    has_acl: acl.is_some(),
                    named: acl.as_ref().and_then(|a| a.named_user(self.id.uid)),
                    verdict,
                });
            }
        }
        if let Some(owner) = &dir.owner {
            if owner.id != own.uid {
                log::debug!(
                    "{}: owner uid {}, declared {}",
                    quoted(path),
                    own.uid,
                    owner.id
                );
                faults.push(Fault::Owner { found: own.uid });
            }
        }
        if let Some(group) = &dir.group {
            if group.id != own.gid {
                log::debug!(
                    "{}: group gid {}, declared {}",
                    quoted(path),
                    own.gid,
                    group.id
                );
                faults.push(Fault::Group { found: own.gid });
            }
        }
        if let Some(mode) = dir.mode {
            if mode != own.mode {
                log::debug!(
                    "{}: mode {:04o}, declared {:04o}",
                    quoted(path),
                    own.mode,
                    mode
                );
                faults.push(Fault::Mode { found: own.mode });
            }
        }
        let fs = match self.fs_stats_cached(path, md.dev()) {
            Err(errno) => {
                log::debug!("{}: statvfs: {}", quoted(path), Errno(errno));
                if dir.access == Access::ReadWrite
                    || dir.min_free.is_some()
                    || dir.min_inodes.is_some()
                {
                    faults.push(Fault::Uninspectable {
                        what: path.to_path_buf(),
                        call: "statvfs",
                        errno,
                    });
                }
                None
            }
            Ok(st) => {
                log::trace!(
                    "{}: statvfs: {} bytes and {} inodes available{}",
                    quoted(path),
                    st.available_bytes,
                    st.available_inodes,
                    if st.read_only {
                        ", mounted read-only"
                    } else {
                        ""
                    }
                );
                if dir.access == Access::ReadWrite && st.read_only {
                    log::debug!("{}: access rw on a read-only mount", quoted(path));
                    faults.push(Fault::ReadOnly {
                        mount: self.mount_point(path),
                    });
                }
                if let Some(required) = dir.min_free {
                    if st.available_bytes < required {
                        log::debug!(
                            "{}: {} bytes available, min-free {}",
                            quoted(path),
                            st.available_bytes,
                            required
                        );
                        faults.push(Fault::LowSpace {
                            available: st.available_bytes,
                            required,
                            mount: self.mount_point(path),
                        });
                    }
                }
                if let Some(required) = dir.min_inodes {
                    if st.available_inodes < required {
                        log::debug!(
                            "{}: {} inodes available, min-inodes {}",
                            quoted(path),
                            st.available_inodes,
                            required
                        );
                        faults.push(Fault::LowInodes {
                            available: st.available_inodes,
                            required,
                            mount: self.mount_point(path),
                        });
                    }
                }
                Some(st)
            }
        };
        log::trace!(
            "{}: {}",
            quoted(path),
            Lazy(|f| match faults.len() {
                0 => f.write_str("passes every check"),
                n => write!(f, "{n} fault{}", if n == 1 { "" } else { "s" }),
            })
        );
        Evaluation { faults, fs }
    }

    /// `mount_point`, reporting its calls.
    fn mount_point(&self, path: &Path) -> PathBuf {
        self.enter("stat", path);
        mount_point(path)
    }

    /// Whether the identity can create `first_missing` (the highest missing component of a
    /// directory the application creates on demand): write and search on its parent, the
    /// nearest existing ancestor. Unknown when the parent cannot be inspected (the caller
    /// reports the directory as missing).
    fn creatable(&mut self, first_missing: &Path) -> Creatable {
        let Some(parent) = first_missing.parent() else {
            return Creatable::Unknown;
        };
        self.enter("stat", parent);
        let Ok(md) = std::fs::metadata(parent) else {
            return Creatable::Unknown;
        };
        let own = ownership(&md);
        let acl = self.acl(parent, &md);
        let verdict = permission::check(self.id, &own, acl.as_ref(), W | X);
        log::debug!(
            "{}: missing; created on demand by the application, which {} (write and search on {}: {} by {})",
            quoted(first_missing),
            if verdict.allowed { "can" } else { "cannot" },
            quoted(parent),
            if verdict.allowed { "granted" } else { "denied" },
            class_word(verdict.class)
        );
        if verdict.allowed {
            return Creatable::Yes;
        }
        Creatable::No(Box::new(Fault::NotCreatable {
            first_missing: first_missing.to_path_buf(),
            ancestor: parent.to_path_buf(),
            named: acl.as_ref().and_then(|a| a.named_user(self.id.uid)),
            has_acl: acl.is_some(),
            own,
            verdict,
        }))
    }

    pub(crate) fn first_missing(&mut self, path: &Path) -> PathBuf {
        let chain: Vec<&Path> = path.ancestors().collect();
        for p in chain.into_iter().rev() {
            if matches!(self.inspect(p), Ancestor::Missing) {
                return p.to_path_buf();
            }
        }
        path.to_path_buf()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::spec::{Origin, Principal};
    use std::os::unix::fs::{symlink, PermissionsExt};

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("dirguard-eval-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn require(path: &Path, access: Access) -> RequiredDir {
        RequiredDir::new(path, access, Origin::default())
    }

    fn me() -> Identity {
        Identity::current_process()
    }

    #[test]
    fn a_healthy_directory_has_no_fault() {
        let base = scratch("healthy");
        let id = me();
        let mut ev = Evaluator::new(&id);
        assert_eq!(ev.evaluate(&require(&base, Access::ReadWrite)), vec![]);
    }

    #[test]
    fn a_directory_made_on_demand_is_healthy_while_its_user_can_create_it() {
        let base = scratch("on-demand");
        std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o755)).unwrap();
        let content = base.join("wp-content");
        std::fs::create_dir(&content).unwrap();
        let www = Identity::www_data();
        let mut uploads = require(&content.join("uploads"), Access::ReadWrite);
        uploads.on_demand = true;
        // wp-content root's, 0755: www-data cannot create uploads; say so.
        std::fs::set_permissions(&content, std::fs::Permissions::from_mode(0o755)).unwrap();
        let faults = Evaluator::new(&www).evaluate(&uploads);
        match faults.as_slice() {
            [f @ Fault::NotCreatable { ancestor, .. }] => {
                assert_eq!(ancestor, &content);
                let text = f.what(&uploads);
                assert!(
                    text.starts_with(
                        "is missing, and the application cannot create it when it needs it: "
                    ) && text.contains("missing w for the other class"),
                    "{text}"
                );
            }
            other => panic!("{other:?}"),
        }
        // Writable for it: healthy, although missing.
        std::fs::set_permissions(&content, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert_eq!(Evaluator::new(&www).evaluate(&uploads), vec![]);
        // Not made on demand: missing is a fault whatever the parent allows.
        uploads.on_demand = false;
        assert!(matches!(
            Evaluator::new(&www).evaluate(&uploads).as_slice(),
            [Fault::Missing { .. }]
        ));
    }

    #[test]
    fn a_missing_directory_names_its_first_missing_component() {
        let base = scratch("missing");
        let id = me();
        let mut ev = Evaluator::new(&id);
        let faults = ev.evaluate(&require(&base.join("a/b/c"), Access::Read));
        assert_eq!(
            faults,
            vec![Fault::Missing {
                first_missing: base.join("a"),
                errno: libc::ENOENT
            }]
        );
    }

    #[test]
    fn dangling_symlinks_and_files_are_named_as_such() {
        let base = scratch("kinds");
        symlink("gone", base.join("link")).unwrap();
        std::fs::write(base.join("file"), b"x").unwrap();
        let id = me();
        let mut ev = Evaluator::new(&id);
        assert_eq!(
            ev.evaluate(&require(&base.join("link"), Access::Read)),
            vec![Fault::DanglingSymlink {
                target: base.join("gone")
            }]
        );
        assert_eq!(
            ev.evaluate(&require(&base.join("file"), Access::Read)),
            vec![Fault::NotADirectory {
                found: "a regular file"
            }]
        );
    }

    #[test]
    fn a_symlink_to_a_directory_is_a_directory() {
        let base = scratch("symlinked");
        std::fs::create_dir(base.join("real")).unwrap();
        symlink("real", base.join("link")).unwrap();
        let id = me();
        let mut ev = Evaluator::new(&id);
        assert_eq!(
            ev.evaluate(&require(&base.join("link"), Access::Read)),
            vec![]
        );
    }

    #[test]
    fn declared_mode_owner_and_group_are_compared_exactly() {
        let base = scratch("declared");
        std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o750)).unwrap();
        let id = me();
        let mut spec = require(&base, Access::None);
        spec.mode = Some(0o755);
        spec.owner = Some(Principal {
            id: id.uid.wrapping_add(1),
            name: "someone".into(),
        });
        spec.group = Some(Principal {
            id: id.gid,
            name: id.group.clone(),
        });
        let mut ev = Evaluator::new(&id);
        assert_eq!(
            ev.evaluate(&spec),
            vec![Fault::Owner { found: id.uid }, Fault::Mode { found: 0o750 }]
        );
    }

    #[test]
    fn impossible_space_and_inode_minimums_are_reported() {
        let base = scratch("space");
        let id = me();
        let mut spec = require(&base, Access::Read);
        spec.min_free = Some(u64::MAX);
        spec.min_inodes = Some(u64::MAX);
        let faults = Evaluator::new(&id).evaluate(&spec);
        assert_eq!(faults.len(), 2, "{faults:?}");
        assert!(matches!(faults[0], Fault::LowSpace { .. }));
        assert!(matches!(faults[1], Fault::LowInodes { .. }));
    }

    #[test]
    fn mount_point_of_a_path_is_an_ancestor_on_the_same_device() {
        let base = scratch("mount");
        let m = mount_point(&base);
        assert!(base.starts_with(&m));
    }
}
