//! `apachectl -t -D DUMP_DIRGUARD`: every effective requirement — declared, derived from
//! Apache's configuration, or an application's preset — with what it asks, whose access is
//! checked, where it comes from, and its verdict now. Plain text on stdout, in the manner of
//! Apache's own `-D DUMP_VHOSTS` and `-D DUMP_MODULES`.

use super::identity::Identity;
use super::shared::{DirRecord, Health};
use super::spec::RequiredDir;
use super::text::{escape_log, quote_path};
use std::sync::Arc;

/// The dump. `records` are the verdicts of the check just made, in the order of `dirs` (None:
/// the check gave no answer).
pub fn render(
    dirs: &[Arc<RequiredDir>],
    server: &Identity,
    records: Option<&[DirRecord]>,
) -> String {
    let mut out = format!(
        "mod_dirguard: {} required director{} (declared, derived from the configuration, and detected applications' presets)\n",
        dirs.len(),
        if dirs.len() == 1 { "y" } else { "ies" }
    );
    for (i, d) in dirs.iter().enumerate() {
        let name = |p: &Option<super::spec::Principal>| {
            p.as_ref()
                .map_or("-".to_owned(), |p| escape_log(p.name.as_bytes()))
        };
        out.push_str(&format!(
            "{}\n    access {}, owner {}, group {}, mode {}{}{}{}\n    for {}\n    {}\n",
            quote_path(d.path.as_os_str()),
            d.access.keyword(),
            name(&d.owner),
            name(&d.group),
            d.mode.map_or("-".to_owned(), |m| format!("{m:04o}")),
            d.min_free
                .map(|b| format!(", min-free {b} bytes"))
                .unwrap_or_default(),
            d.min_inodes
                .map(|n| format!(", min-inodes {n}"))
                .unwrap_or_default(),
            if d.on_demand {
                ", created by the application when it needs it"
            } else {
                ""
            },
            d.checked_for(server).whose(),
            d.provenance(),
        ));
        let verdict = match records.and_then(|r| r.get(i)) {
            None => "not checked (the check gave no answer)".to_owned(),
            Some(r) => match r.health {
                Health::Healthy => "healthy".to_owned(),
                Health::Unknown => "unknown (its check did not finish)".to_owned(),
                Health::Failing => format!("FAILING: {}; fix: {}", r.what, r.fix),
            },
        };
        out.push_str(&format!("    now: {verdict}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::spec::{Access, Origin, Provenance};

    #[test]
    fn each_requirement_shows_what_whose_where_from_and_its_verdict() {
        let mut uploads = RequiredDir::new(
            "/srv/wp/wp-content/uploads",
            Access::ReadWrite,
            Origin {
                file: "/etc/apache2/sites-enabled/wp.conf".into(),
                line: 3,
            },
        );
        uploads.provenance = Provenance::Preset {
            app: "WordPress".into(),
            signature: "/srv/wp/wp-login.php".into(),
        };
        uploads.on_demand = true;
        let mut docroot = RequiredDir::new("/srv/wp", Access::Read, Origin::default());
        docroot.provenance = Provenance::Derived {
            directive: "DocumentRoot".into(),
        };
        let dirs = vec![Arc::new(uploads), Arc::new(docroot)];
        let records = vec![
            DirRecord {
                health: Health::Failing,
                what: "is missing".into(),
                fix: "install -d x".into(),
                ..DirRecord::default()
            },
            DirRecord {
                health: Health::Healthy,
                ..DirRecord::default()
            },
        ];
        let text = render(&dirs, &Identity::www_data(), Some(&records));
        assert!(
            text.starts_with("mod_dirguard: 2 required directories"),
            "{text}"
        );
        assert!(text.contains(
            "'/srv/wp/wp-content/uploads'\n    access rw, owner -, group -, mode -, created by the application when it needs it\n    for User www-data (uid 33), Group www-data (gid 33), the server's User and Group\n    preset WordPress detected by '/srv/wp/wp-login.php' (served as configured at /etc/apache2/sites-enabled/wp.conf:3)\n    now: FAILING: is missing; fix: install -d x\n"
        ), "{text}");
        assert!(
            text.contains("    derived from DocumentRoot at :0\n    now: healthy\n"),
            "{text}"
        );
        let unknown = render(&dirs, &Identity::www_data(), None);
        assert!(unknown.contains("now: not checked (the check gave no answer)"));
    }
}
