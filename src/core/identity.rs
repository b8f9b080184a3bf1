//! Who the checks are evaluated for: the server's `User` and `Group` with the supplementary groups
//! `initgroups` will give the children, or the running process when Apache runs unprivileged.

use super::text::escape_log;
use std::ffi::{CStr, CString};

/// The origin of the server's own identity.
pub const SERVER_USER: &str = "the server's User and Group";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub uid: u32,
    pub gid: u32,
    /// Primary group first, then the supplementary groups; no duplicates.
    pub groups: Vec<u32>,
    pub user: String,
    pub group: String,
    /// Where this identity comes from, as lines say it ("the server's User and Group", "PHP-FPM
    /// pool 'wp' (…)").
    pub origin: String,
}

impl Identity {
    /// The identity Apache's children take after `setgid(gid)`, `initgroups(user, gid)`,
    /// `setuid(uid)`.
    pub fn for_server_user(user_name: Option<&str>, uid: u32, gid: u32) -> Identity {
        let user = user_name
            .filter(|n| !n.starts_with('#'))
            .map(str::to_owned)
            .or_else(|| user_name_of(uid))
            .unwrap_or_else(|| format!("#{uid}"));
        let mut groups = vec![gid];
        if let Ok(cname) = CString::new(user.as_str()) {
            groups.extend(supplementary_groups(&cname, gid));
        }
        dedup_keep_first(&mut groups);
        let id = Identity {
            uid,
            gid,
            groups,
            group: group_name_of(gid).unwrap_or_else(|| format!("#{gid}")),
            user,
            origin: SERVER_USER.to_owned(),
        };
        log::debug!(
            "{} from the server's User and Group (User {}); groups {:?}: the primary group, then the user's groups in the group database (what initgroups gives the children)",
            id.describe(),
            match user_name {
                Some(name) if name.starts_with('#') => "given as a number, name looked up",
                Some(_) => "given by name",
                None => "not named, name looked up from the uid",
            },
            id.groups
        );
        id
    }

    /// An application's own identity (`DirGuardUser`, `SuexecUserGroup`, `AssignUserID`, a
    /// PHP-FPM pool's `user`/`group`): the user with `gid` as primary group and the user's
    /// groups in the group database, which is what suEXEC, mpm-itk and php-fpm give the process
    /// (`initgroups`). `origin` says where it was found.
    pub fn for_application(user: &str, uid: u32, gid: u32, origin: String) -> Identity {
        let mut groups = vec![gid];
        if let Ok(cname) = CString::new(user) {
            groups.extend(supplementary_groups(&cname, gid));
        }
        dedup_keep_first(&mut groups);
        Identity {
            uid,
            gid,
            groups,
            user: user.to_owned(),
            group: group_name_of(gid).unwrap_or_else(|| format!("#{gid}")),
            origin,
        }
    }

    /// Whether two identities get the same answers from the kernel (their origins aside).
    pub fn same_credentials(&self, other: &Identity) -> bool {
        self.uid == other.uid && self.gid == other.gid && self.groups == other.groups
    }

    /// "User dgwp (uid 998), Group dgwp (gid 998), from PHP-FPM pool 'wp' (…)": whose access
    /// was checked and where that identity came from.
    pub fn whose(&self) -> String {
        format!(
            "{}, {}",
            self.describe(),
            escape_log(self.origin.as_bytes())
        )
    }

    /// The identity of this process (Apache started unprivileged).
    pub fn current_process() -> Identity {
        // SAFETY: these calls only read the calling process's credentials.
        let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
        let mut groups = vec![gid];
        // SAFETY: a zero-length call returns the count; the second call writes at most `n` items
        // into a buffer of exactly that length.
        unsafe {
            let n = libc::getgroups(0, std::ptr::null_mut());
            if n > 0 {
                let mut buf = vec![0 as libc::gid_t; n as usize];
                let got = libc::getgroups(n, buf.as_mut_ptr());
                if got > 0 {
                    groups.extend_from_slice(&buf[..got as usize]);
                }
            }
        }
        dedup_keep_first(&mut groups);
        let id = Identity {
            uid,
            gid,
            groups,
            user: user_name_of(uid).unwrap_or_else(|| format!("#{uid}")),
            group: group_name_of(gid).unwrap_or_else(|| format!("#{gid}")),
            origin: "the running user (Apache not started as root)".to_owned(),
        };
        log::debug!(
            "{} from this process's own credentials (Apache not started as root); groups {:?} from getgroups",
            id.describe(),
            id.groups
        );
        id
    }

    pub fn is_root(&self) -> bool {
        self.uid == 0
    }

    pub fn in_group(&self, gid: u32) -> bool {
        self.groups.contains(&gid)
    }

    /// Debian's www-data (uid and gid 33), without supplementary groups: a fixed identity for
    /// unit tests that must not depend on the machine's user database.
    #[cfg(test)]
    pub fn www_data() -> Identity {
        Identity {
            uid: 33,
            gid: 33,
            groups: vec![33],
            user: "www-data".into(),
            group: "www-data".into(),
            origin: SERVER_USER.to_owned(),
        }
    }

    /// "User www-data (uid 33), Group www-data (gid 33)" for log lines.
    pub fn describe(&self) -> String {
        format!(
            "User {} (uid {}), Group {} (gid {})",
            escape_log(self.user.as_bytes()),
            self.uid,
            escape_log(self.group.as_bytes()),
            self.gid
        )
    }
}

fn dedup_keep_first(v: &mut Vec<u32>) {
    let mut seen = Vec::with_capacity(v.len());
    v.retain(|g| {
        if seen.contains(g) {
            false
        } else {
            seen.push(*g);
            true
        }
    });
}

fn supplementary_groups(user: &CStr, gid: u32) -> Vec<u32> {
    let mut n: libc::c_int = 32;
    loop {
        let mut buf = vec![0 as libc::gid_t; n as usize];
        let mut count = n;
        // SAFETY: `buf` holds `count` entries; getgrouplist writes at most that many and updates
        // `count` to the number needed when the buffer was too small.
        let rc = unsafe { libc::getgrouplist(user.as_ptr(), gid, buf.as_mut_ptr(), &mut count) };
        if rc >= 0 {
            buf.truncate(count.max(0) as usize);
            return buf;
        }
        if count <= n || count > 65536 {
            return Vec::new();
        }
        n = count;
    }
}

/// A passwd entry: (uid, primary gid).
pub fn user_by_name(name: &str) -> Option<(u32, u32)> {
    let cname = CString::new(name).ok()?;
    lookup_passwd(|pwd, buf, len, result| {
        // SAFETY: every pointer is valid for the call and `buf` holds `len` bytes.
        unsafe { libc::getpwnam_r(cname.as_ptr(), pwd, buf, len, result) }
    })
    .map(|(uid, gid, _)| (uid, gid))
}

pub fn user_name_of(uid: u32) -> Option<String> {
    lookup_passwd(|pwd, buf, len, result| {
        // SAFETY: as above.
        unsafe { libc::getpwuid_r(uid, pwd, buf, len, result) }
    })
    .map(|(_, _, name)| name)
}

pub fn group_by_name(name: &str) -> Option<u32> {
    let cname = CString::new(name).ok()?;
    lookup_group(|grp, buf, len, result| {
        // SAFETY: every pointer is valid for the call and `buf` holds `len` bytes.
        unsafe { libc::getgrnam_r(cname.as_ptr(), grp, buf, len, result) }
    })
    .map(|(gid, _)| gid)
}

pub fn group_name_of(gid: u32) -> Option<String> {
    lookup_group(|grp, buf, len, result| {
        // SAFETY: as above.
        unsafe { libc::getgrgid_r(gid, grp, buf, len, result) }
    })
    .map(|(_, name)| name)
}

/// Runs a `getpw*_r` call, growing the buffer on ERANGE, and copies out what we keep while the
/// buffer the record points into is still alive.
fn lookup_passwd(
    call: impl Fn(*mut libc::passwd, *mut libc::c_char, usize, *mut *mut libc::passwd) -> libc::c_int,
) -> Option<(u32, u32, String)> {
    let mut size = 1024;
    while size <= 1 << 20 {
        let mut buf = vec![0 as libc::c_char; size];
        // SAFETY: passwd is plain data; all-zero is a valid value to be overwritten.
        let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let rc = call(&mut pwd, buf.as_mut_ptr(), buf.len(), &mut result);
        if rc == libc::ERANGE {
            size *= 4;
            continue;
        }
        if rc != 0 || result.is_null() {
            return None;
        }
        // SAFETY: on success pw_name points into `buf`, alive until the end of this scope.
        let name = unsafe { CStr::from_ptr(pwd.pw_name) }
            .to_string_lossy()
            .into_owned();
        return Some((pwd.pw_uid, pwd.pw_gid, name));
    }
    None
}

fn lookup_group(
    call: impl Fn(*mut libc::group, *mut libc::c_char, usize, *mut *mut libc::group) -> libc::c_int,
) -> Option<(u32, String)> {
    let mut size = 1024;
    while size <= 1 << 20 {
        let mut buf = vec![0 as libc::c_char; size];
        // SAFETY: group is plain data; all-zero is a valid value to be overwritten.
        let mut grp: libc::group = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::group = std::ptr::null_mut();
        let rc = call(&mut grp, buf.as_mut_ptr(), buf.len(), &mut result);
        if rc == libc::ERANGE {
            size *= 4;
            continue;
        }
        if rc != 0 || result.is_null() {
            return None;
        }
        // SAFETY: on success gr_name points into `buf`, alive until the end of this scope.
        let name = unsafe { CStr::from_ptr(grp.gr_name) }
            .to_string_lossy()
            .into_owned();
        return Some((grp.gr_gid, name));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_resolves_both_ways() {
        assert_eq!(user_by_name("root").map(|u| u.0), Some(0));
        assert_eq!(user_name_of(0).as_deref(), Some("root"));
        assert_eq!(group_by_name("root"), Some(0));
        assert_eq!(group_name_of(0).as_deref(), Some("root"));
    }

    #[test]
    fn unknown_names_are_none() {
        assert_eq!(user_by_name("no-such-user-dirguard"), None);
        assert_eq!(group_by_name("no-such-group-dirguard"), None);
    }

    #[test]
    fn server_identity_has_primary_group_first_without_duplicates() {
        let id = Identity::for_server_user(Some("root"), 0, 0);
        assert_eq!(id.user, "root");
        assert_eq!(id.groups.first(), Some(&0));
        let mut sorted = id.groups.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), id.groups.len());
    }

    #[test]
    fn numeric_user_names_are_resolved_for_display() {
        let id = Identity::for_server_user(Some("#0"), 0, 0);
        assert_eq!(id.user, "root");
        assert_eq!(id.describe(), "User root (uid 0), Group root (gid 0)");
    }
}
