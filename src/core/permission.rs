//! Decides whether an identity may read, write or search a directory, as the kernel would:
//! owner, named-user, group (owning, named, supplementary) and other classes, with POSIX ACLs
//! and their mask. Used instead of `access(2)` because the parent runs as root.

use super::identity::Identity;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

pub const R: u8 = 4;
pub const W: u8 = 2;
pub const X: u8 = 1;

/// Ownership and permission bits of a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ownership {
    pub uid: u32,
    pub gid: u32,
    /// Permission bits including setuid/setgid/sticky (`st_mode & 0o7777`).
    pub mode: u32,
}

/// One entry of a POSIX access ACL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AclEntry {
    UserObj(u8),
    User(u32, u8),
    GroupObj(u8),
    Group(u32, u8),
    Mask(u8),
    Other(u8),
}

/// An extended access ACL (the kernel's `system.posix_acl_access` attribute).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Acl {
    pub entries: Vec<AclEntry>,
}

/// Which class of the permission check applied to the identity: it decides which command fixes
/// a denial (`chmod u+…`, `chmod g+…`, `setfacl -m u:…`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    Root,
    Owner,
    NamedUser,
    Group,
    Other,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub allowed: bool,
    pub class: Class,
    /// The wanted bits the applying entry lacks (0 when allowed).
    pub missing: u8,
}

impl Acl {
    /// Parses the xattr value: a little-endian u32 version (2), then 8-byte entries of
    /// tag (u16), perm (u16), id (u32).
    pub fn parse(raw: &[u8]) -> Option<Acl> {
        if raw.len() < 4 || (raw.len() - 4) % 8 != 0 {
            return None;
        }
        if u32::from_le_bytes(raw[0..4].try_into().ok()?) != 2 {
            return None;
        }
        let mut entries = Vec::with_capacity((raw.len() - 4) / 8);
        for chunk in raw[4..].chunks_exact(8) {
            let tag = u16::from_le_bytes([chunk[0], chunk[1]]);
            let perm = (u16::from_le_bytes([chunk[2], chunk[3]]) & 7) as u8;
            let id = u32::from_le_bytes([chunk[4], chunk[5], chunk[6], chunk[7]]);
            entries.push(match tag {
                0x01 => AclEntry::UserObj(perm),
                0x02 => AclEntry::User(id, perm),
                0x04 => AclEntry::GroupObj(perm),
                0x08 => AclEntry::Group(id, perm),
                0x10 => AclEntry::Mask(perm),
                0x20 => AclEntry::Other(perm),
                _ => return None,
            });
        }
        Some(Acl { entries })
    }

    /// Reads the access ACL of `path` without following a final symlink; `None` when the file has
    /// no extended ACL or the filesystem has none.
    pub fn read(path: &Path) -> Option<Acl> {
        let cpath = CString::new(path.as_os_str().as_bytes()).ok()?;
        let name = c"system.posix_acl_access";
        let mut buf = [0u8; 512];
        // SAFETY: both strings are NUL-terminated; the buffer is valid for `buf.len()` bytes.
        let n = unsafe {
            libc::lgetxattr(
                cpath.as_ptr(),
                name.as_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        };
        if n > 0 {
            return Acl::parse(&buf[..n as usize]);
        }
        if n < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ERANGE) {
            // More than 63 entries: ask for the size, then read it all.
            // SAFETY: a null buffer with size 0 only queries the length.
            let size =
                unsafe { libc::lgetxattr(cpath.as_ptr(), name.as_ptr(), std::ptr::null_mut(), 0) };
            if size > 0 {
                let mut big = vec![0u8; size as usize];
                // SAFETY: `big` is valid for `big.len()` bytes.
                let n = unsafe {
                    libc::lgetxattr(
                        cpath.as_ptr(),
                        name.as_ptr(),
                        big.as_mut_ptr().cast(),
                        big.len(),
                    )
                };
                if n > 0 {
                    return Acl::parse(&big[..n as usize]);
                }
            }
        }
        None
    }

    pub fn named_user(&self, uid: u32) -> Option<u8> {
        self.entries.iter().find_map(|e| match e {
            AclEntry::User(id, p) if *id == uid => Some(*p),
            _ => None,
        })
    }

    fn mask(&self) -> Option<u8> {
        self.entries.iter().find_map(|e| match e {
            AclEntry::Mask(p) => Some(*p),
            _ => None,
        })
    }
}

/// The kernel's access decision for `wanted` (a combination of R, W, X).
pub fn check(id: &Identity, own: &Ownership, acl: Option<&Acl>, wanted: u8) -> Verdict {
    let verdict = |class, granted: u8| Verdict {
        allowed: granted & wanted == wanted,
        class,
        missing: wanted & !granted,
    };
    if id.is_root() {
        // Root passes DAC checks on directories (CAP_DAC_OVERRIDE); x needs one x bit on files
        // only, and these are directories.
        return verdict(Class::Root, 7);
    }
    let bits = |shift: u32| ((own.mode >> shift) & 7) as u8;
    if id.uid == own.uid {
        return verdict(Class::Owner, bits(6));
    }
    let Some(acl) = acl else {
        if id.in_group(own.gid) {
            return verdict(Class::Group, bits(3));
        }
        return verdict(Class::Other, bits(0));
    };
    let mask = acl.mask().unwrap_or(7);
    if let Some(perm) = acl.named_user(id.uid) {
        return verdict(Class::NamedUser, perm & mask);
    }
    // Group class: allowed if any matching group entry grants everything wanted; otherwise
    // denied, even when "other" would have granted it.
    let mut matched = false;
    let mut best = 0u8;
    for entry in &acl.entries {
        let perm = match entry {
            AclEntry::GroupObj(p) if id.in_group(own.gid) => *p,
            AclEntry::Group(g, p) if id.in_group(*g) => *p,
            _ => continue,
        };
        matched = true;
        let effective = perm & mask;
        if effective & wanted == wanted {
            return verdict(Class::Group, effective);
        }
        best |= effective;
    }
    if matched {
        return Verdict {
            allowed: false,
            class: Class::Group,
            missing: wanted & !best,
        };
    }
    let other = acl
        .entries
        .iter()
        .find_map(|e| match e {
            AclEntry::Other(p) => Some(*p),
            _ => None,
        })
        .unwrap_or(0);
    verdict(Class::Other, other)
}

/// "rwx"-style letters for a set of bits, in r, w, x order.
pub fn letters(bits: u8) -> String {
    let mut s = String::new();
    if bits & R != 0 {
        s.push('r');
    }
    if bits & W != 0 {
        s.push('w');
    }
    if bits & X != 0 {
        s.push('x');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// www-data with the supplementary group 1001.
    fn www() -> Identity {
        Identity {
            groups: vec![33, 1001],
            ..Identity::www_data()
        }
    }

    fn own(uid: u32, gid: u32, mode: u32) -> Ownership {
        Ownership { uid, gid, mode }
    }

    #[test]
    fn owner_group_and_other_classes_follow_the_mode_bits() {
        let id = www();
        assert!(check(&id, &own(33, 0, 0o700), None, R | W | X).allowed);
        let v = check(&id, &own(0, 0, 0o750), None, X);
        assert_eq!((v.allowed, v.class, v.missing), (false, Class::Other, X));
        // A supplementary group grants group access: no false alarm.
        let v = check(&id, &own(0, 1001, 0o2775), None, R | W | X);
        assert_eq!((v.allowed, v.class), (true, Class::Group));
        // The owner class applies even when "other" would allow more.
        let v = check(&id, &own(33, 0, 0o077), None, R);
        assert_eq!((v.allowed, v.class), (false, Class::Owner));
    }

    #[test]
    fn root_may_do_anything_with_directories() {
        let root = Identity::for_server_user(Some("root"), 0, 0);
        assert!(check(&root, &own(1, 1, 0), None, R | W | X).allowed);
    }

    fn raw_acl(entries: &[(u16, u16, u32)]) -> Vec<u8> {
        let mut v = 2u32.to_le_bytes().to_vec();
        for (tag, perm, id) in entries {
            v.extend_from_slice(&tag.to_le_bytes());
            v.extend_from_slice(&perm.to_le_bytes());
            v.extend_from_slice(&id.to_le_bytes());
        }
        v
    }

    #[test]
    fn acl_named_user_is_limited_by_the_mask() {
        let acl = Acl::parse(&raw_acl(&[
            (0x01, 7, u32::MAX),
            (0x02, 7, 33),
            (0x04, 5, u32::MAX),
            (0x10, 5, u32::MAX),
            (0x20, 0, u32::MAX),
        ]))
        .unwrap();
        let v = check(&www(), &own(0, 0, 0o750), Some(&acl), R | W | X);
        assert_eq!(
            (v.allowed, v.class, v.missing),
            (false, Class::NamedUser, W)
        );
        assert!(check(&www(), &own(0, 0, 0o750), Some(&acl), R | X).allowed);
    }

    #[test]
    fn acl_group_entries_deny_rather_than_fall_through_to_other() {
        let acl = Acl::parse(&raw_acl(&[
            (0x01, 7, u32::MAX),
            (0x04, 5, u32::MAX),
            (0x08, 1, 1001),
            (0x10, 7, u32::MAX),
            (0x20, 7, u32::MAX),
        ]))
        .unwrap();
        let v = check(&www(), &own(0, 0, 0o757), Some(&acl), R | W);
        assert_eq!((v.allowed, v.class), (false, Class::Group));
        assert!(check(&www(), &own(0, 0, 0o757), Some(&acl), X).allowed);
    }

    #[test]
    fn malformed_acl_values_are_rejected() {
        assert_eq!(Acl::parse(&[1, 0, 0, 0]), None);
        assert_eq!(Acl::parse(&[2, 0, 0, 0, 1]), None);
        assert_eq!(Acl::parse(&raw_acl(&[(0x40, 7, 0)])), None);
    }

    #[test]
    fn letters_are_in_rwx_order() {
        assert_eq!(letters(R | X), "rx");
        assert_eq!(letters(W), "w");
    }
}
