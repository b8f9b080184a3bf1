//! The effective requirements as the tools that provision servers read them: a systemd
//! `tmpfiles.d` fragment, an Ansible playbook, a Puppet manifest, and a Markdown checklist for
//! people. Each directory gets the owner, group and mode its declaration says, or what its
//! `fix:` would give it (`fault::creation_target`: the application's user for `access=rw`).
//! Written once in Apache's configuration, the requirements then feed provisioning, so the two
//! cannot drift. Paths with any bytes are quoted as each format needs; a path a format cannot
//! carry (YAML and Puppet need UTF-8) is left out with a comment saying so.

use super::fault::creation_target;
use super::identity::Identity;
use super::spec::RequiredDir;
use std::os::unix::ffi::OsStrExt;
use std::sync::Arc;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Export {
    Tmpfiles,
    Ansible,
    Puppet,
    Markdown,
}

impl Export {
    pub const ALL: [Export; 4] = [
        Export::Tmpfiles,
        Export::Ansible,
        Export::Puppet,
        Export::Markdown,
    ];

    /// The `format=` value and the `-D DUMP_DIRGUARD_…` suffix.
    pub fn name(self) -> &'static str {
        match self {
            Export::Tmpfiles => "tmpfiles",
            Export::Ansible => "ansible",
            Export::Puppet => "puppet",
            Export::Markdown => "markdown",
        }
    }

    pub fn by_name(name: &[u8]) -> Option<Export> {
        Export::ALL
            .into_iter()
            .find(|e| e.name().as_bytes() == name)
    }
}

/// One directory as provisioning creates it.
struct Entry<'a> {
    dir: &'a RequiredDir,
    path: &'a [u8],
    mode: u32,
    user: String,
    group: String,
}

fn entries<'a>(dirs: &'a [Arc<RequiredDir>], server: &Identity) -> Vec<Entry<'a>> {
    let mut out: Vec<Entry<'a>> = Vec::new();
    for d in dirs {
        let t = creation_target(d, server);
        let name = |n: &Option<String>, id: u32| match n {
            Some(n) => n.clone(),
            None if id == 0 => "root".to_owned(),
            None => id.to_string(),
        };
        let path = d.path.as_os_str().as_bytes();
        if out.iter().any(|e| e.path == path) {
            continue;
        }
        out.push(Entry {
            dir: d,
            path,
            mode: t.mode,
            user: name(&t.owner_name, t.uid),
            group: name(&t.group_name, t.gid),
        });
    }
    out
}

/// The export of `dirs` (the effective requirements, `core::derive::effective`).
pub fn render(format: Export, dirs: &[Arc<RequiredDir>], server: &Identity) -> String {
    let e = entries(dirs, server);
    match format {
        Export::Tmpfiles => tmpfiles(&e),
        Export::Ansible => ansible(&e),
        Export::Puppet => puppet(&e),
        Export::Markdown => markdown(&e, server),
    }
}

fn header(comment: &str) -> String {
    format!(
        "{comment} mod_dirguard: the directories this Apache configuration requires (declared,\n\
         {comment} derived from the configuration, and detected applications' presets).\n\
         {comment} Generated; edit Apache's configuration, not this file.\n"
    )
}

/// systemd-tmpfiles: `d PATH MODE USER GROUP -`, a path double-quoted when it needs it (a
/// backslash before `"` and `\\`), `%` doubled (tmpfiles expands specifiers). tmpfiles reads
/// UTF-8 text, and systemd 252 keeps no `\\x` escape: a path with a control byte or one that
/// is not UTF-8 is left out with a comment.
fn tmpfiles(e: &[Entry<'_>]) -> String {
    let mut out = header("#");
    for x in e {
        let (Some(path), Some(user), Some(group)) = (
            tmpfiles_word(x.path),
            tmpfiles_word(x.user.as_bytes()),
            tmpfiles_word(x.group.as_bytes()),
        ) else {
            out.push_str(&format!(
                "# left out: {} holds a control byte or is not UTF-8, which tmpfiles.d cannot carry\n",
                super::text::quote_path(x.dir.path.as_os_str())
            ));
            continue;
        };
        out.push_str(&format!("d {path} {:04o} {user} {group} -\n", x.mode));
    }
    out
}

fn tmpfiles_word(b: &[u8]) -> Option<String> {
    let s = std::str::from_utf8(b).ok()?;
    if s.is_empty() || s.chars().any(char::is_control) {
        return None;
    }
    let plain = s
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || b"/._-+@:,=~".contains(&c));
    if plain {
        return Some(s.to_owned());
    }
    let mut q = String::from("\"");
    for c in s.chars() {
        match c {
            '%' => q.push_str("%%"),
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            c => q.push(c),
        }
    }
    q.push('"');
    Some(q)
}

/// Ansible: one `ansible.builtin.file` task per directory (`state: directory`, owner, group,
/// mode), idempotent. Strings are YAML double-quoted and tagged `!unsafe`, so Ansible never
/// templates a `{{` in a path.
fn ansible(e: &[Entry<'_>]) -> String {
    let mut out = header("#");
    out.push_str(
        "- name: Directories Apache requires (mod_dirguard)\n  hosts: all\n  become: true\n  gather_facts: false\n  tasks:\n",
    );
    let mut any = false;
    for x in e {
        let Ok(path) = std::str::from_utf8(x.path) else {
            out.push_str(&format!(
                "    # left out: {} is not UTF-8, which YAML cannot carry\n",
                super::text::quote_path(x.dir.path.as_os_str())
            ));
            continue;
        };
        if expands(path) {
            out.push_str(&format!(
                "    # left out: {} holds `$NAME` or a leading `~`, which ansible.builtin.file expands in every path\n",
                super::text::quote_path(x.dir.path.as_os_str())
            ));
            continue;
        }
        any = true;
        out.push_str(&format!(
            "    - name: !unsafe {}\n      ansible.builtin.file:\n        path: !unsafe {}\n        state: directory\n        owner: !unsafe {}\n        group: !unsafe {}\n        mode: \"{:04o}\"\n",
            yaml(&format!("{} ({})", path, x.dir.provenance())),
            yaml(path),
            yaml(&x.user),
            yaml(&x.group),
            x.mode
        ));
    }
    if !any {
        out.push_str("    - name: Nothing is required\n      ansible.builtin.meta: noop\n");
    }
    out
}

/// Whether Ansible's file module would change the path: it expands environment variables
/// (`$NAME`, `${NAME}`) and a leading `~` in every path, and has no escape for them.
fn expands(path: &str) -> bool {
    path.starts_with('~')
        || path
            .as_bytes()
            .windows(2)
            .any(|w| w[0] == b'$' && (w[1].is_ascii_alphanumeric() || w[1] == b'_' || w[1] == b'{'))
}

fn yaml(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\t' => o.push_str("\\t"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                o.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// Puppet: a `file` resource per directory (`ensure => directory`, owner, group, mode), and one
/// per ancestor it needs (`ensure => directory` alone), each once. Single-quoted strings.
fn puppet(e: &[Entry<'_>]) -> String {
    let mut out = header("#");
    let required: Vec<&[u8]> = e.iter().map(|x| x.path).collect();
    let mut ancestors: Vec<Vec<u8>> = Vec::new();
    for x in e {
        if std::str::from_utf8(x.path).is_err() {
            continue;
        }
        let mut p = x.dir.path.parent();
        while let Some(a) = p {
            let b = a.as_os_str().as_bytes();
            if b == b"/" || b.is_empty() {
                break;
            }
            if !required.contains(&b) && !ancestors.iter().any(|x| x == b) {
                ancestors.push(b.to_vec());
            }
            p = a.parent();
        }
    }
    ancestors.sort_by_key(|a| a.iter().filter(|c| **c == b'/').count());
    for a in &ancestors {
        if let Ok(s) = std::str::from_utf8(a) {
            out.push_str(&format!(
                "file {{ {}:\n  ensure => directory,\n}}\n",
                puppet_str(s)
            ));
        }
    }
    for x in e {
        let Ok(path) = std::str::from_utf8(x.path) else {
            out.push_str(&format!(
                "# left out: {} is not UTF-8, which Puppet cannot carry\n",
                super::text::quote_path(x.dir.path.as_os_str())
            ));
            continue;
        };
        out.push_str(&format!(
            "file {{ {}:\n  ensure => directory,\n  owner  => {},\n  group  => {},\n  mode   => '{:04o}',\n}}\n",
            puppet_str(path),
            puppet_str(&x.user),
            puppet_str(&x.group),
            x.mode
        ));
    }
    out
}

fn puppet_str(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// A checklist for people: what must exist, for whom, why, and where it comes from.
fn markdown(e: &[Entry<'_>], server: &Identity) -> String {
    let mut out = String::from(
        "# Directories this server requires\n\n\
         Generated by mod_dirguard from Apache's configuration: what is declared with\n\
         `DirGuardRequire`, what Apache's own directives use, and what the detected applications\n\
         document. Each must exist, owned and with the mode shown, usable by the user shown.\n\n\
         | directory | access | owner | group | mode | checked for | why |\n\
         |---|---|---|---|---|---|---|\n",
    );
    for x in e {
        let who = x.dir.checked_for(server);
        out.push_str(&format!(
            "| {} | {} | {} | {} | {:04o} | {} | {} |\n",
            md_code(&String::from_utf8_lossy(x.path)),
            x.dir.access.keyword(),
            md_text(&x.user),
            md_text(&x.group),
            x.mode,
            md_text(&format!("{} ({})", who.user, who.origin)),
            md_text(&x.dir.provenance())
        ));
    }
    out
}

fn md_text(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace('\n', " ")
        .replace('`', "\\`")
}

fn md_code(s: &str) -> String {
    let s = s.replace('\n', "\u{240a}").replace('|', "\\|");
    let fence = if s.contains('`') { "``" } else { "`" };
    format!("{fence} {s} {fence}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::spec::{Access, Origin};

    fn req(p: &[u8], access: Access) -> Arc<RequiredDir> {
        Arc::new(RequiredDir::new(
            std::path::PathBuf::from(std::ffi::OsStr::from_bytes(p)),
            access,
            Origin {
                file: "/etc/apache2/sites-enabled/wp.conf".into(),
                line: 7,
            },
        ))
    }

    #[test]
    fn every_format_names_each_directory_with_owner_group_and_mode() {
        let dirs = vec![
            req(b"/srv/wp/wp-content/uploads", Access::ReadWrite),
            req(b"/srv/static", Access::Read),
        ];
        let www = Identity::www_data();
        let t = render(Export::Tmpfiles, &dirs, &www);
        assert!(
            t.contains("\nd /srv/wp/wp-content/uploads 0755 www-data www-data -\n"),
            "{t}"
        );
        assert!(t.contains("\nd /srv/static 0755 root root -\n"), "{t}");
        let a = render(Export::Ansible, &dirs, &www);
        assert!(a.contains("path: !unsafe \"/srv/wp/wp-content/uploads\"\n        state: directory\n        owner: !unsafe \"www-data\""), "{a}");
        let p = render(Export::Puppet, &dirs, &www);
        assert!(
            p.contains("file { '/srv/wp':\n  ensure => directory,\n}"),
            "{p}"
        );
        assert!(p.contains("file { '/srv/wp/wp-content/uploads':\n  ensure => directory,\n  owner  => 'www-data',"), "{p}");
        assert_eq!(p.matches("file { '/srv':").count(), 1, "{p}");
        let m = render(Export::Markdown, &dirs, &www);
        assert!(
            m.contains("| ` /srv/wp/wp-content/uploads ` | rw | www-data | www-data | 0755 |"),
            "{m}"
        );
    }

    #[test]
    fn awkward_paths_are_quoted_for_each_format() {
        let odd = req(
            "/srv/it's a \"test\" 100%/café {{x}}|\\".as_bytes(),
            Access::Read,
        );
        let www = Identity::www_data();
        let t = render(Export::Tmpfiles, std::slice::from_ref(&odd), &www);
        assert!(
            t.contains("d \"/srv/it's a \\\"test\\\" 100%%/café {{x}}|\\\\\" 0755 root root -"),
            "{t}"
        );
        let a = render(Export::Ansible, std::slice::from_ref(&odd), &www);
        assert!(
            a.contains("path: !unsafe \"/srv/it's a \\\"test\\\" 100%/café {{x}}|\\\\\""),
            "{a}"
        );
        let p = render(Export::Puppet, std::slice::from_ref(&odd), &www);
        assert!(
            p.contains("file { '/srv/it\\'s a \"test\" 100%/café {{x}}|\\\\':"),
            "{p}"
        );
        let bad = req(b"/srv/\xff", Access::Read);
        assert!(render(Export::Ansible, std::slice::from_ref(&bad), &www).contains("# left out:"));
        assert!(render(Export::Puppet, std::slice::from_ref(&bad), &www).contains("# left out:"));
        assert!(render(Export::Tmpfiles, &[bad], &www).contains("# left out:"));
        assert_eq!(Export::by_name(b"puppet"), Some(Export::Puppet));
        assert_eq!(Export::by_name(b"chef"), None);
    }
}
