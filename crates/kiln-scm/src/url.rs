//! Git URL normalisation: one key for every spelling of the same repository.

use std::path::Path;

/// Normalises a git URL so that spellings of one repository compare equal:
/// `https://GitHub.com/org/repo.git`, `http://github.com/org/repo/`, `ssh://git@github.com/org/repo`
/// and `git@github.com:org/repo` all become `github.com/org/repo`. The scheme, user, a
/// default port, a trailing `/` and `.git` are dropped and the host is lower-cased (paths
/// keep their case). `file://` URLs and local paths become `file://` + the absolute path.
pub fn normalize_url(url: &str) -> String {
    let url = url.trim();
    if let Some(path) = url.strip_prefix("file://") {
        return format!("file://{}", clean_path(path));
    }
    if let Some((scheme, rest)) = url.split_once("://") {
        let scheme = scheme.to_ascii_lowercase();
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let host = authority.rsplit('@').next().unwrap_or(authority);
        let host = strip_default_port(&host.to_ascii_lowercase(), &scheme);
        return join_host_path(&host, path);
    }
    if let Some((host, path)) = scp_like(url) {
        let host = host.rsplit('@').next().unwrap_or(host).to_ascii_lowercase();
        return join_host_path(&host, path);
    }
    format!("file://{}", clean_path(url))
}

/// `user@host:path` (scp-like syntax): a colon before any slash.
fn scp_like(url: &str) -> Option<(&str, &str)> {
    let colon = url.find(':')?;
    let before_slash = url.find('/').is_none_or(|slash| colon < slash);
    // `C:\...` style drive letters are paths, not hosts.
    (before_slash && colon > 1).then(|| (&url[..colon], &url[colon + 1..]))
}

fn strip_default_port(host: &str, scheme: &str) -> String {
    let default = match scheme {
        "https" => ":443",
        "http" => ":80",
        "ssh" => ":22",
        "git" => ":9418",
        _ => "",
    };
    match host.strip_suffix(default) {
        Some(h) if !default.is_empty() => h.to_owned(),
        _ => host.to_owned(),
    }
}

fn join_host_path(host: &str, path: &str) -> String {
    let path = path.trim_matches('/');
    let path = path
        .strip_suffix(".git")
        .unwrap_or(path)
        .trim_end_matches('/');
    if path.is_empty() {
        host.to_owned()
    } else {
        format!("{host}/{path}")
    }
}

/// An absolute path without a trailing `/` or `.git` suffix of a bare repository's name.
fn clean_path(path: &str) -> String {
    let p = Path::new(path);
    let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let text = abs.display().to_string();
    let text = text.trim_end_matches('/');
    text.strip_suffix("/.git").unwrap_or(text).to_owned()
}

/// A stable 64-bit FNV-1a hash (the same on every platform and Rust version).
pub(crate) fn fnv1a64(text: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::normalize_url;

    #[test]
    fn spellings_of_one_repository_agree() {
        for url in [
            "https://github.com/org/repo",
            "https://GitHub.com/org/repo.git",
            "http://github.com/org/repo/",
            "https://user:pw@github.com:443/org/repo.git",
            "ssh://git@github.com/org/repo.git",
            "git@github.com:org/repo.git",
            "git@GITHUB.COM:org/repo",
        ] {
            assert_eq!(normalize_url(url), "github.com/org/repo", "{url}");
        }
    }

    #[test]
    fn paths_keep_their_case_and_ports_other_than_the_default_stay() {
        assert_eq!(
            normalize_url("https://git.example.com:8443/Org/Repo.git"),
            "git.example.com:8443/Org/Repo"
        );
    }

    #[test]
    fn local_paths_and_file_urls_agree() {
        assert_eq!(normalize_url("/srv/git/repo/"), "file:///srv/git/repo");
        assert_eq!(
            normalize_url("file:///srv/git/repo"),
            "file:///srv/git/repo"
        );
        assert_eq!(normalize_url("/srv/git/repo/.git"), "file:///srv/git/repo");
        assert!(normalize_url("relative/repo").starts_with("file:///"));
    }
}
