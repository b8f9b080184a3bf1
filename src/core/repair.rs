//! Symlink-safe repair, in the manner of systemd-tmpfiles: walk from `/` with `openat(…,
//! O_NOFOLLOW)`, follow an intermediate symlink only when the transition is safe, never follow
//! one at the final component, never chown/chmod through a path (only through the opened fd),
//! and create the final directory as 0700 (its creator only) so it is never looser than declared.

use super::fault::{creation_target, CreationTarget};
use super::identity::Identity;
use super::spec::RequiredDir;
use std::collections::VecDeque;
use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Component, Path, PathBuf};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// A missing parent, created as root:root 0755 (as `install -d` does).
    CreatedParent { path: PathBuf },
    Created {
        path: PathBuf,
        uid: u32,
        gid: u32,
        mode: u32,
    },
    Chowned {
        path: PathBuf,
        before: (u32, u32),
        after: (u32, u32),
    },
    Chmodded {
        path: PathBuf,
        before: u32,
        after: u32,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The declared path itself is a symlink: repair never acts through it.
    FinalSymlink {
        path: PathBuf,
    },
    /// Following `next` from a directory owned by one non-root user to something owned by
    /// another could be an attack (a user-controlled link or directory redirecting root).
    UnsafeTransition {
        from: PathBuf,
        from_uid: u32,
        next: PathBuf,
        next_uid: u32,
    },
    NotADirectory {
        path: PathBuf,
    },
    TooManySymlinks {
        path: PathBuf,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stop {
    Refused(Refusal),
    Failed {
        call: &'static str,
        path: PathBuf,
        errno: i32,
    },
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Done (or, in a dry run, what would be done), in order.
    pub actions: Vec<Action>,
    pub stop: Option<Stop>,
}

/// What to do with an existing directory's declared attributes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// Create what is missing, leave existing directories alone.
    Create,
    /// Also correct declared owner, group and mode of existing ones.
    Enforce,
}

fn errno() -> i32 {
    io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

fn c_name(name: &OsStr) -> CString {
    CString::new(name.as_bytes()).unwrap_or_default()
}

fn stat_at(dir: &OwnedFd, name: &OsStr) -> Result<libc::stat, i32> {
    let cname = c_name(name);
    // SAFETY: stat is plain data; fstatat fills it on success; fd and name are valid.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let rc = unsafe {
        libc::fstatat(
            dir.as_raw_fd(),
            cname.as_ptr(),
            &mut st,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if rc == 0 {
        Ok(st)
    } else {
        Err(errno())
    }
}

fn fstat(fd: &OwnedFd) -> Result<libc::stat, i32> {
    // SAFETY: plain data filled by the kernel for a valid fd.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } == 0 {
        Ok(st)
    } else {
        Err(errno())
    }
}

fn open_dir_at(dir: Option<&OwnedFd>, name: &OsStr) -> Result<OwnedFd, i32> {
    let cname = c_name(name);
    let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    let base = dir.map(|d| d.as_raw_fd()).unwrap_or(libc::AT_FDCWD);
    // SAFETY: valid fd (or AT_FDCWD) and NUL-terminated name.
    let fd = unsafe { libc::openat(base, cname.as_ptr(), flags) };
    if fd < 0 {
        Err(errno())
    } else {
        // SAFETY: a fresh descriptor we now own.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }
}

fn is_symlink(st: &libc::stat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFLNK
}

fn is_dir(st: &libc::stat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFDIR
}

fn fail(call: &'static str, path: &Path, errno: i32) -> Stop {
    Stop::Failed {
        call,
        path: path.to_path_buf(),
        errno,
    }
}

/// Makes `dir` exist with its declared attributes, or says why not. With `dry_run`, nothing is
/// changed and the actions say what would be done.
pub fn repair(dir: &RequiredDir, id: &Identity, policy: Policy, dry_run: bool) -> Outcome {
    let target = creation_target(dir, id);
    let mut out = Outcome::default();
    if let Err(stop) = walk(dir, &target, policy, dry_run, &mut out.actions) {
        out.stop = Some(stop);
    }
    out
}

fn walk(
    dir: &RequiredDir,
    target: &CreationTarget,
    policy: Policy,
    dry_run: bool,
    actions: &mut Vec<Action>,
) -> Result<(), Stop> {
    let mut pending: VecDeque<OsString> = components(&dir.path);
    let root = Path::new("/");
    let mut fd = open_dir_at(None, OsStr::new("/")).map_err(|e| fail("open", root, e))?;
    let mut here = PathBuf::from("/");
    let mut here_uid = fstat(&fd).map_err(|e| fail("fstat", root, e))?.st_uid;
    let mut hops = 0;

    while let Some(name) = pending.pop_front() {
        if name == ".." {
            let parent = open_dir_at(Some(&fd), &name).map_err(|e| fail("openat", &here, e))?;
            let parent_uid = fstat(&parent).map_err(|e| fail("fstat", &here, e))?.st_uid;
            let mut up = here.clone();
            up.pop();
            if here_uid != 0 && parent_uid != here_uid {
                return Err(Stop::Refused(Refusal::UnsafeTransition {
                    from: here,
                    from_uid: here_uid,
                    next: up,
                    next_uid: parent_uid,
                }));
            }
            fd = parent;
            here = up;
            here_uid = parent_uid;
            continue;
        }
        let last = pending.is_empty();
        let next = here.join(&name);
        match stat_at(&fd, &name) {
            Err(libc::ENOENT) => {
                if dry_run {
                    actions.extend(would_create(&next, &pending, target));
                    return Ok(());
                }
                return create_rest(fd, next, name, pending, target, actions);
            }
            Err(e) => return Err(fail("fstatat", &next, e)),
            Ok(st) if is_symlink(&st) => {
                if last {
                    return Err(Stop::Refused(Refusal::FinalSymlink { path: next }));
                }
                if here_uid != 0 && st.st_uid != here_uid {
                    return Err(Stop::Refused(Refusal::UnsafeTransition {
                        from: here,
                        from_uid: here_uid,
                        next,
                        next_uid: st.st_uid,
                    }));
                }
                hops += 1;
                if hops > 32 {
                    return Err(Stop::Refused(Refusal::TooManySymlinks { path: next }));
                }
                let link = read_link_at(&fd, &name).map_err(|e| fail("readlinkat", &next, e))?;
                let link_path = PathBuf::from(OsString::from_vec(link));
                for c in components_relative(&link_path).into_iter().rev() {
                    pending.push_front(c);
                }
                // From here on the link is the previous step: what it leads to must belong to
                // root or to the link's owner (a user's link may not lead root anywhere else).
                here_uid = st.st_uid;
                if link_path.is_absolute() {
                    let root_fd =
                        open_dir_at(None, OsStr::new("/")).map_err(|e| fail("open", root, e))?;
                    let root_uid = fstat(&root_fd).map_err(|e| fail("fstat", root, e))?.st_uid;
                    if here_uid != 0 && root_uid != here_uid {
                        return Err(Stop::Refused(Refusal::UnsafeTransition {
                            from: next,
                            from_uid: here_uid,
                            next: PathBuf::from("/"),
                            next_uid: root_uid,
                        }));
                    }
                    fd = root_fd;
                    here = PathBuf::from("/");
                    here_uid = root_uid;
                }
            }
            Ok(st) if is_dir(&st) => {
                if !last && here_uid != 0 && st.st_uid != here_uid {
                    return Err(Stop::Refused(Refusal::UnsafeTransition {
                        from: here,
                        from_uid: here_uid,
                        next,
                        next_uid: st.st_uid,
                    }));
                }
                let child = open_dir_at(Some(&fd), &name).map_err(|e| fail("openat", &next, e))?;
                if last {
                    if policy == Policy::Enforce {
                        enforce(&child, &next, dir, dry_run, actions)?;
                    }
                    return Ok(());
                }
                fd = child;
                here = next;
                here_uid = st.st_uid;
            }
            Ok(_) => return Err(Stop::Refused(Refusal::NotADirectory { path: next })),
        }
    }
    Ok(())
}

fn components(path: &Path) -> VecDeque<OsString> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            _ => None,
        })
        .collect()
}

fn components_relative(path: &Path) -> Vec<OsString> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some(OsString::from("..")),
            _ => None,
        })
        .collect()
}

fn read_link_at(dir: &OwnedFd, name: &OsStr) -> Result<Vec<u8>, i32> {
    let cname = c_name(name);
    let mut buf = vec![0u8; libc::PATH_MAX as usize];
    // SAFETY: buf is valid for buf.len() bytes; readlinkat does not NUL-terminate.
    let n = unsafe {
        libc::readlinkat(
            dir.as_raw_fd(),
            cname.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if n < 0 {
        return Err(errno());
    }
    buf.truncate(n as usize);
    Ok(buf)
}

fn would_create(first: &Path, rest: &VecDeque<OsString>, target: &CreationTarget) -> Vec<Action> {
    let mut path = first.to_path_buf();
    let mut out = Vec::new();
    for c in rest {
        out.push(Action::CreatedParent { path: path.clone() });
        path.push(c);
    }
    out.push(Action::Created {
        path,
        uid: target.uid,
        gid: target.gid,
        mode: target.mode,
    });
    out
}

/// Creates `name` in `fd` and everything below it still pending.
fn create_rest(
    mut fd: OwnedFd,
    mut path: PathBuf,
    mut name: OsString,
    mut pending: VecDeque<OsString>,
    target: &CreationTarget,
    actions: &mut Vec<Action>,
) -> Result<(), Stop> {
    loop {
        let last = pending.is_empty();
        let cname = c_name(&name);
        // The final directory starts as 0700 (only its creator, root or the unprivileged server
        // itself, can use it; 0 would lock out an unprivileged creator from opening it) until it
        // has its owner and mode; parents get 0755 like install -d, fixed up below against the
        // umask.
        let initial = if last { 0o700 } else { 0o755 };
        // SAFETY: valid fd and NUL-terminated name.
        if unsafe { libc::mkdirat(fd.as_raw_fd(), cname.as_ptr(), initial) } != 0 {
            return Err(fail("mkdirat", &path, errno()));
        }
        let child = open_dir_at(Some(&fd), &name).map_err(|e| ("openat", e));
        if last {
            let finished = child.and_then(|child| {
                // SAFETY: valid fd we own.
                if unsafe { libc::fchown(child.as_raw_fd(), target.uid, target.gid) } != 0 {
                    return Err(("fchown", errno()));
                }
                // SAFETY: as above.
                if unsafe { libc::fchmod(child.as_raw_fd(), target.mode) } != 0 {
                    return Err(("fchmod", errno()));
                }
                Ok(())
            });
            if let Err((call, err)) = finished {
                // Nothing half-made stays behind (say, a directory owned by the wrong user when
                // an unprivileged server cannot chown): remove the empty directory just
                // created, through the parent's fd.
                // SAFETY: valid fd and NUL-terminated name; only an empty directory is removed.
                unsafe { libc::unlinkat(fd.as_raw_fd(), cname.as_ptr(), libc::AT_REMOVEDIR) };
                return Err(fail(call, &path, err));
            }
            actions.push(Action::Created {
                path,
                uid: target.uid,
                gid: target.gid,
                mode: target.mode,
            });
            return Ok(());
        }
        let child = child.map_err(|(call, e)| fail(call, &path, e))?;
        // SAFETY: valid fd we own.
        if unsafe { libc::fchmod(child.as_raw_fd(), 0o755) } != 0 {
            return Err(fail("fchmod", &path, errno()));
        }
        actions.push(Action::CreatedParent { path: path.clone() });
        fd = child;
        name = pending.pop_front().unwrap_or_default();
        path.push(&name);
    }
}

fn enforce(
    fd: &OwnedFd,
    path: &Path,
    dir: &RequiredDir,
    dry_run: bool,
    actions: &mut Vec<Action>,
) -> Result<(), Stop> {
    let st = fstat(fd).map_err(|e| fail("fstat", path, e))?;
    let before = (st.st_uid, st.st_gid);
    let after = (
        dir.owner.as_ref().map(|o| o.id).unwrap_or(st.st_uid),
        dir.group.as_ref().map(|g| g.id).unwrap_or(st.st_gid),
    );
    if after != before {
        // SAFETY: valid fd we own; chown through the fd never follows a link.
        if !dry_run && unsafe { libc::fchown(fd.as_raw_fd(), after.0, after.1) } != 0 {
            return Err(fail("fchown", path, errno()));
        }
        actions.push(Action::Chowned {
            path: path.to_path_buf(),
            before,
            after,
        });
    }
    let mode_before = st.st_mode & 0o7777;
    if let Some(mode) = dir.mode {
        // chown may have cleared setgid: compare against what is there now.
        let now = if dry_run {
            mode_before
        } else {
            fstat(fd).map_err(|e| fail("fstat", path, e))?.st_mode & 0o7777
        };
        if now != mode {
            // SAFETY: valid fd we own.
            if !dry_run && unsafe { libc::fchmod(fd.as_raw_fd(), mode) } != 0 {
                return Err(fail("fchmod", path, errno()));
            }
        }
        if mode_before != mode {
            actions.push(Action::Chmodded {
                path: path.to_path_buf(),
                before: mode_before,
                after: mode,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::spec::{Access, Origin};
    use std::os::unix::fs::{symlink, MetadataExt};

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("dirguard-repair-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn spec(path: PathBuf, mode: Option<u32>) -> RequiredDir {
        RequiredDir {
            mode,
            ..RequiredDir::new(path, Access::Read, Origin::default())
        }
    }

    #[test]
    fn creates_missing_parents_and_the_directory_with_its_mode() {
        let base = scratch("create");
        let id = Identity::current_process();
        let d = spec(base.join("a/b"), Some(0o750));
        let out = repair(&d, &id, Policy::Create, false);
        assert_eq!(out.stop, None);
        assert_eq!(out.actions.len(), 2, "{:?}", out.actions);
        assert_eq!(
            std::fs::metadata(base.join("a")).unwrap().mode() & 0o7777,
            0o755
        );
        assert_eq!(
            std::fs::metadata(base.join("a/b")).unwrap().mode() & 0o7777,
            0o750
        );
        // A second run has nothing to do.
        assert_eq!(repair(&d, &id, Policy::Enforce, false), Outcome::default());
    }

    #[test]
    fn dry_run_changes_nothing() {
        let base = scratch("dry");
        let id = Identity::current_process();
        let out = repair(&spec(base.join("x/y"), None), &id, Policy::Create, true);
        assert_eq!(out.actions.len(), 2);
        assert!(!base.join("x").exists());
    }

    #[test]
    fn enforce_corrects_mode_drift() {
        let base = scratch("enforce");
        std::fs::create_dir(base.join("d")).unwrap();
        let id = Identity::current_process();
        let out = repair(
            &spec(base.join("d"), Some(0o700)),
            &id,
            Policy::Enforce,
            false,
        );
        assert_eq!(out.stop, None);
        assert_eq!(
            std::fs::metadata(base.join("d")).unwrap().mode() & 0o7777,
            0o700
        );
    }

    #[test]
    fn a_final_symlink_is_never_followed() {
        let base = scratch("finallink");
        std::fs::create_dir(base.join("elsewhere")).unwrap();
        symlink(base.join("elsewhere"), base.join("link")).unwrap();
        let id = Identity::current_process();
        let out = repair(
            &spec(base.join("link"), Some(0o700)),
            &id,
            Policy::Enforce,
            false,
        );
        assert!(matches!(
            out.stop,
            Some(Stop::Refused(Refusal::FinalSymlink { .. }))
        ));
        assert_ne!(
            std::fs::metadata(base.join("elsewhere")).unwrap().mode() & 0o7777,
            0o700
        );
    }

    #[test]
    fn a_file_in_the_way_is_not_replaced() {
        let base = scratch("file");
        std::fs::write(base.join("f"), b"x").unwrap();
        let id = Identity::current_process();
        let out = repair(&spec(base.join("f/sub"), None), &id, Policy::Create, false);
        assert!(matches!(
            out.stop,
            Some(Stop::Refused(Refusal::NotADirectory { .. }))
        ));
    }
}
