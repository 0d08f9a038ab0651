//! A repository URL's host and path, whichever way git spells it.

/// `https://host/owner/name.git`, `ssh://git@host:22/owner/name.git` and `git@host:owner/name`
/// all give host `host` and path `owner/name`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RepoUrl {
    /// Lower-case, with the port when one was written (`ssh://` ports aside).
    pub host: String,
    /// The repository's path without `.git` and slashes around it.
    pub path: String,
}

impl RepoUrl {
    /// Parses a remote URL; `None` for local paths and `file://` URLs.
    pub fn parse(url: &str) -> Option<RepoUrl> {
        let url = url.trim();
        let (host, path) = if let Some((scheme, rest)) = url.split_once("://") {
            let scheme = scheme.to_ascii_lowercase();
            if !matches!(scheme.as_str(), "http" | "https" | "ssh" | "git") {
                return None;
            }
            let (authority, path) = rest.split_once('/')?;
            let host = authority.rsplit('@').next()?;
            let host = if scheme == "ssh" {
                host.split(':').next()?
            } else {
                host
            };
            (host, path)
        } else {
            // scp-like `user@host:path`; a local path has no `:` before its first `/`.
            let (before, path) = url.split_once(':')?;
            if before.contains('/') || !before.contains('@') {
                return None;
            }
            (before.rsplit('@').next()?, path)
        };
        let path = path.split(['?', '#']).next()?.trim_matches('/');
        let path = path
            .strip_suffix(".git")
            .unwrap_or(path)
            .trim_end_matches('/');
        if host.is_empty() || path.is_empty() || !path.contains('/') {
            return None;
        }
        Some(RepoUrl {
            host: host.to_ascii_lowercase(),
            path: path.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> Option<(String, String)> {
        RepoUrl::parse(url).map(|u| (u.host, u.path))
    }

    #[test]
    fn remote_urls() {
        let it = |h: &str, p: &str| Some((h.to_owned(), p.to_owned()));
        assert_eq!(parse("https://github.com/o/r.git"), it("github.com", "o/r"));
        assert_eq!(parse("https://GitHub.com/o/r/"), it("github.com", "o/r"));
        assert_eq!(
            parse("https://user:tok@gitlab.example.com:8443/g/sub/p.git"),
            it("gitlab.example.com:8443", "g/sub/p")
        );
        assert_eq!(
            parse("ssh://git@github.com:22/o/r.git"),
            it("github.com", "o/r")
        );
        assert_eq!(parse("git@github.com:o/r.git"), it("github.com", "o/r"));
    }

    #[test]
    fn local_repositories_have_no_forge() {
        assert_eq!(parse("file:///srv/git/r.git"), None);
        assert_eq!(parse("/srv/git/o/r"), None);
        assert_eq!(parse("./o/r"), None);
        assert_eq!(parse("https://github.com/justowner"), None);
    }
}
