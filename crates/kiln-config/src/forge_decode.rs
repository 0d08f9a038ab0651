//! The YAML tree -> a job's `forge:` and the top-level `forges:`.

use crate::decode::Places;
use crate::forge::{ForgeConfig, ForgeDefaults, ForgeKind, ForkTrust, GitHubAppConfig};
use crate::reader::{Ctx, Fields, list};
use kiln_diagnostics::Spanned;
use kiln_yaml::Node;

const JOB_FORGE: &[&str] = &[
    "kind",
    "api_url",
    "repository",
    "token_credential",
    "trust",
    "untrusted_credentials",
    "app_id",
    "app_key_credential",
    "change_build",
];
const FORGES: &[&str] = &[
    "kind",
    "host",
    "api_url",
    "token_credential",
    "app_id",
    "app_key_credential",
];

/// A job's `forge:` at `path`.
pub(crate) fn job_forge(
    ctx: &mut Ctx,
    node: &Node,
    path: &str,
    places: &mut Places,
) -> Option<ForgeConfig> {
    let f = Fields::new(ctx, node, path, JOB_FORGE)?;
    let kind = kind(ctx, &f);
    let api_url = api_url(ctx, &f);
    let repository = f.string(ctx, "repository");
    if let (Some(repo), Some(n)) = (&repository, f.get("repository"))
        && !valid_repository(repo)
    {
        ctx.expected(
            n,
            &f.sub("repository"),
            "`OWNER/NAME` (GitLab: the project path `group/project`)",
        );
    }
    let token_credential = token(ctx, &f, places);
    let app = app(ctx, &f, kind, places);
    let trust = match f.string(ctx, "trust").as_deref() {
        None | Some("write") => ForkTrust::Write,
        Some("everyone") => ForkTrust::Everyone,
        Some("nobody") => ForkTrust::Nobody,
        Some(_) => {
            if let Some(n) = f.get("trust") {
                ctx.expected(n, &f.sub("trust"), "`write`, `everyone` or `nobody`");
            }
            ForkTrust::Write
        }
    };
    let change_build = match f.string(ctx, "change_build").as_deref() {
        None | Some("merge") => crate::ChangeBuild::Merge,
        Some("head") => crate::ChangeBuild::Head,
        Some(_) => {
            if let Some(n) = f.get("change_build") {
                ctx.expected(n, &f.sub("change_build"), "`merge` or `head`");
            }
            crate::ChangeBuild::Merge
        }
    };
    let untrusted_credentials = match f.get("untrusted_credentials").map(|n| (n, &n.kind)) {
        None => false,
        Some((_, kiln_yaml::NodeKind::Bool(b))) => *b,
        Some((n, _)) => {
            ctx.expected(n, &f.sub("untrusted_credentials"), "`true` or `false`");
            false
        }
    };
    f.finish(ctx);
    Some(ForgeConfig {
        kind,
        api_url,
        repository,
        token_credential,
        trust,
        untrusted_credentials,
        app,
        change_build,
    })
}

/// The top-level `forges:` list.
pub(crate) fn forges(ctx: &mut Ctx, node: &Node, places: &mut Places) -> Vec<ForgeDefaults> {
    let mut out = Vec::new();
    for (i, item) in list(ctx, node, "forges").iter().enumerate() {
        let path = format!("forges[{i}]");
        let Some(f) = Fields::new(ctx, item, &path, FORGES) else {
            continue;
        };
        let kind = kind(ctx, &f);
        if kind.is_none() && f.get("kind").is_none() {
            f.missing(ctx, "kind", "`github` or `gitlab`");
        }
        let api_url = api_url(ctx, &f);
        let host = f.string(ctx, "host").map(|h| h.to_ascii_lowercase());
        let token_credential = token(ctx, &f, places);
        let app = app(ctx, &f, kind, places);
        f.finish(ctx);
        let Some(kind) = kind else { continue };
        let api_url = api_url.unwrap_or_else(|| kind.default_api_url().to_owned());
        let Some(host) = host.or_else(|| default_host(&api_url)) else {
            continue;
        };
        out.push(ForgeDefaults {
            kind,
            host,
            api_url,
            token_credential,
            app,
        });
    }
    out
}

fn kind(ctx: &mut Ctx, f: &Fields) -> Option<ForgeKind> {
    let text = f.string(ctx, "kind")?;
    match text.as_str() {
        "github" => Some(ForgeKind::GitHub),
        "gitlab" => Some(ForgeKind::GitLab),
        _ => {
            if let Some(n) = f.get("kind") {
                ctx.expected(n, &f.sub("kind"), "`github` or `gitlab`");
            }
            None
        }
    }
}

fn api_url(ctx: &mut Ctx, f: &Fields) -> Option<String> {
    let url = f.string(ctx, "api_url")?;
    if url.starts_with("http://") || url.starts_with("https://") {
        Some(url.trim_end_matches('/').to_owned())
    } else {
        if let Some(n) = f.get("api_url") {
            ctx.expected(n, &f.sub("api_url"), "an `http://` or `https://` URL");
        }
        None
    }
}

/// `app_id:` with `app_key_credential:` (both or neither; GitHub only).
fn app(
    ctx: &mut Ctx,
    f: &Fields,
    kind: Option<ForgeKind>,
    places: &mut Places,
) -> Option<GitHubAppConfig> {
    let app_id = f.number(ctx, "app_id", 1);
    let key = f.string(ctx, "app_key_credential");
    if let (Some(id), Some(n)) = (&key, f.get("app_key_credential")) {
        places
            .credential_refs
            .push(Spanned::new(id.clone(), n.span));
    }
    match (app_id, key) {
        (Some(app_id), Some(key_credential)) => {
            if kind == Some(ForgeKind::GitLab)
                && let Some(n) = f.get("app_id")
            {
                ctx.expected(n, &f.sub("app_id"), "no GitHub App on a `gitlab` forge");
                return None;
            }
            Some(GitHubAppConfig {
                app_id,
                key_credential,
            })
        }
        (Some(_), None) => {
            f.missing(
                ctx,
                "app_key_credential",
                "the credential holding the GitHub App's private key",
            );
            None
        }
        (None, Some(_)) => {
            f.missing(ctx, "app_id", "the GitHub App's id");
            None
        }
        (None, None) => None,
    }
}

fn token(ctx: &mut Ctx, f: &Fields, places: &mut Places) -> Option<String> {
    let id = f.string(ctx, "token_credential")?;
    if let Some(n) = f.get("token_credential") {
        places
            .credential_refs
            .push(Spanned::new(id.clone(), n.span));
    }
    Some(id)
}

/// `owner/name`, or a GitLab path of more segments; no empty segment, no `..`.
fn valid_repository(repo: &str) -> bool {
    let parts: Vec<&str> = repo.split('/').collect();
    parts.len() >= 2
        && parts
            .iter()
            .all(|p| !p.is_empty() && *p != "." && *p != ".." && !p.contains(char::is_whitespace))
}

/// The host of `api_url`, GitHub's `api.github.com` being `github.com`.
pub(crate) fn default_host(api_url: &str) -> Option<String> {
    let rest = api_url.split_once("://")?.1;
    let host = rest.split(['/', '?']).next()?.to_ascii_lowercase();
    let host = host.rsplit('@').next()?.to_owned();
    if host.is_empty() {
        return None;
    }
    Some(
        host.strip_prefix("api.")
            .map_or(host.clone(), str::to_owned),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_host_of_api_urls() {
        let host = |u| default_host(u).unwrap();
        assert_eq!(host("https://api.github.com"), "github.com");
        assert_eq!(host("https://ghe.example.com/api/v3"), "ghe.example.com");
        assert_eq!(host("https://gitlab.com/api/v4"), "gitlab.com");
        assert_eq!(host("http://127.0.0.1:9000/api"), "127.0.0.1:9000");
    }

    #[test]
    fn repositories() {
        assert!(valid_repository("o/r"));
        assert!(valid_repository("group/sub/project"));
        assert!(!valid_repository("o"));
        assert!(!valid_repository("o//r"));
        assert!(!valid_repository("o/../r"));
    }
}
