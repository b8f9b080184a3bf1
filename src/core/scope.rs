//! Which `<Directory>` sections hold a script Apache never walked to: a request passed to a
//! FastCGI server by `ProxyPass`/`ProxyPassMatch` is mapped to `proxy:fcgi://…` and skips the
//! directory walk, so the requirements declared for the script's directory would be out of its
//! scope. This module finds those sections by the script's path (`request::fcgi_script`), the
//! way Apache's directory walk would: literal and wildcard `<Directory>` paths, fewest
//! components first, then in configuration order. Pure computation, no filesystem call.

use std::ffi::CString;

/// A `<Directory>` section as Apache stores it (`cmd->path`: a literal path ending in `/`, or a
/// wildcard pattern).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SectionPath {
    pub path: Vec<u8>,
    pub wildcard: bool,
}

impl SectionPath {
    pub fn new(path: &[u8]) -> SectionPath {
        SectionPath {
            path: path.to_vec(),
            wildcard: path.iter().any(|b| b"*?[".contains(b)),
        }
    }

    /// Apache's ordering key: the number of `/` in the path (`ap_count_dirs`).
    pub fn components(&self) -> usize {
        self.path.iter().filter(|b| **b == b'/').count()
    }

    /// Whether the directory walk of `script` (an absolute path) would apply this section.
    pub fn covers(&self, script: &[u8]) -> bool {
        if !script.starts_with(b"/") {
            return false;
        }
        let section = self.path.as_slice();
        if !self.wildcard {
            let dir = section.strip_suffix(b"/").unwrap_or(section);
            return dir.is_empty()
                || (script.starts_with(dir) && script.get(dir.len()) == Some(&b'/'));
        }
        // A wildcard section is matched against as many leading components of the path as it
        // has, with `/` matched only by `/` (fnmatch's FNM_PATHNAME), as Apache does.
        let n = self.components();
        let Some(cut) = script
            .iter()
            .enumerate()
            .filter(|(_, b)| **b == b'/')
            .nth(n.saturating_sub(1) + usize::from(!section.ends_with(b"/")))
            .map(|(i, _)| i)
        else {
            return false;
        };
        let (Ok(pattern), Ok(prefix)) = (
            CString::new(section.strip_suffix(b"/").unwrap_or(section)),
            CString::new(&script[..cut]),
        ) else {
            return false;
        };
        // SAFETY: two NUL-terminated strings that live across the call; fnmatch only reads.
        unsafe { libc::fnmatch(pattern.as_ptr(), prefix.as_ptr(), libc::FNM_PATHNAME) == 0 }
    }
}

/// The indices of the sections of `all` (in configuration order) that cover `script`, in the
/// order Apache merges them: fewest components first, configuration order among equals.
pub fn covering(all: &[&SectionPath], script: &[u8]) -> Vec<usize> {
    let mut hits: Vec<usize> = (0..all.len()).filter(|i| all[*i].covers(script)).collect();
    hits.sort_by_key(|i| all[*i].components());
    hits
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_sections_cover_what_lies_below_them_at_a_component_boundary() {
        let wp = SectionPath::new(b"/srv/wp/");
        assert!(!wp.wildcard);
        assert!(wp.covers(b"/srv/wp/index.php"));
        assert!(wp.covers(b"/srv/wp/wp-admin/x.php"));
        assert!(!wp.covers(b"/srv/wp2/index.php"));
        assert!(!wp.covers(b"/srv/index.php"));
        assert!(!wp.covers(b"relative/srv/wp/x"));
        assert!(SectionPath::new(b"/").covers(b"/anything.php"));
        assert!(SectionPath::new(b"/srv/wp").covers(b"/srv/wp/index.php"));
    }

    #[test]
    fn wildcard_sections_match_as_many_components_as_they_have() {
        let users = SectionPath::new(b"/home/*/public_html/");
        assert!(users.wildcard);
        assert!(users.covers(b"/home/alice/public_html/index.php"));
        assert!(users.covers(b"/home/alice/public_html/blog/index.php"));
        assert!(!users.covers(b"/home/alice/b/public_html/index.php"));
        assert!(!users.covers(b"/home/alice/private/index.php"));
        assert!(SectionPath::new(b"/srv/site?/").covers(b"/srv/site1/x.php"));
        assert!(!SectionPath::new(b"/srv/site?/").covers(b"/srv/site12/x.php"));
    }

    #[test]
    fn covering_sections_come_in_apaches_merge_order() {
        let a = SectionPath::new(b"/srv/wp/wp-content/");
        let b = SectionPath::new(b"/");
        let c = SectionPath::new(b"/srv/wp/");
        let d = SectionPath::new(b"/srv/other/");
        let e = SectionPath::new(b"/srv/*/");
        let all = [&a, &b, &c, &d, &e];
        assert_eq!(
            covering(&all, b"/srv/wp/wp-content/x.php"),
            vec![1, 2, 4, 0]
        );
        assert_eq!(covering(&all, b"/srv/wp/index.php"), vec![1, 2, 4]);
    }
}
