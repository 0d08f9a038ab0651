//! Which forge, API and repository a job reports to.

use crate::RepoUrl;
use kiln_config::{ForgeDefaults, ForgeKind, GitHubAppConfig, JobConfig, Source};

/// A job's forge connection, resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForgeTarget {
    pub kind: ForgeKind,
    /// No trailing `/`.
    pub api_url: String,
    /// `owner/name`, or GitLab's project path.
    pub repository: String,
    /// The `credentials:` id of the API token.
    pub token_credential: Option<String>,
    /// A GitHub App to connect as (its installation token then authenticates every call, and
    /// builds report check runs instead of commit statuses).
    pub app: Option<GitHubAppConfig>,
}

/// A job that asks for a forge (`forge:`) whose connection cannot be completed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TargetError {
    #[error(
        "job `{job}`: `forge.kind` is not written and no `forges:` entry names the host of its repository"
    )]
    NoKind { job: String },
    #[error(
        "job `{job}`: `forge.repository` is not written and cannot be read from its repository URL"
    )]
    NoRepository { job: String },
}

impl ForgeTarget {
    /// The forge `job` reports to: its `forge:` completed by the `forges:` entry of its
    /// repository's host (or of its `api_url`) and by its repository URL's path. `None` when
    /// the job has no `forge:` and no `forges:` entry names its host.
    pub fn resolve(
        job: &JobConfig,
        forges: &[ForgeDefaults],
    ) -> Result<Option<ForgeTarget>, TargetError> {
        let url = match &job.source {
            Source::Repo(url) => RepoUrl::parse(url),
            Source::Dir(_) => None,
        };
        let own = job.forge.clone().unwrap_or_default();
        let defaults = forges.iter().find(|f| match &own.api_url {
            Some(api) => f.api_url == *api,
            None => url.as_ref().is_some_and(|u| u.host == f.host),
        });
        if job.forge.is_none() && defaults.is_none() {
            return Ok(None);
        }
        let job_name = || job.name.to_string();
        let kind = own
            .kind
            .or(defaults.map(|d| d.kind))
            .or_else(|| url.as_ref().and_then(|u| public_kind(&u.host)))
            .ok_or_else(|| TargetError::NoKind { job: job_name() })?;
        let api_url = own
            .api_url
            .or_else(|| defaults.map(|d| d.api_url.clone()))
            .unwrap_or_else(|| kind.default_api_url().to_owned());
        let repository = own
            .repository
            .or_else(|| url.map(|u| u.path))
            .ok_or_else(|| TargetError::NoRepository { job: job_name() })?;
        let token_credential = own
            .token_credential
            .or_else(|| defaults.and_then(|d| d.token_credential.clone()));
        let app = own
            .app
            .or_else(|| defaults.and_then(|d| d.app.clone()))
            .filter(|_| kind == ForgeKind::GitHub);
        Ok(Some(ForgeTarget {
            kind,
            api_url,
            repository,
            token_credential,
            app,
        }))
    }
}

/// github.com and gitlab.com are known by name.
fn public_kind(host: &str) -> Option<ForgeKind> {
    match host {
        "github.com" | "www.github.com" => Some(ForgeKind::GitHub),
        "gitlab.com" | "www.gitlab.com" => Some(ForgeKind::GitLab),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(yaml_repo: &str, forge: Option<kiln_config::ForgeConfig>) -> JobConfig {
        let text = format!("jobs:\n  - name: app\n    repo: {yaml_repo}\n");
        let mut cfg = kiln_config::parse("kiln.yaml", &text).unwrap();
        let mut job = cfg.jobs.remove(0);
        job.forge = forge;
        job
    }

    fn github_defaults() -> ForgeDefaults {
        ForgeDefaults {
            kind: ForgeKind::GitHub,
            host: "github.com".into(),
            api_url: "https://api.github.com".into(),
            token_credential: Some("gh".into()),
            app: None,
        }
    }

    #[test]
    fn a_forges_entry_of_the_host_completes_the_job() {
        let t = ForgeTarget::resolve(
            &job("https://github.com/o/r.git", None),
            &[github_defaults()],
        )
        .unwrap()
        .unwrap();
        assert_eq!(t.kind, ForgeKind::GitHub);
        assert_eq!(t.repository, "o/r");
        assert_eq!(t.token_credential.as_deref(), Some("gh"));
    }

    #[test]
    fn no_forge_no_report() {
        let j = job("https://example.com/o/r.git", None);
        assert_eq!(ForgeTarget::resolve(&j, &[github_defaults()]), Ok(None));
    }

    #[test]
    fn the_jobs_own_fields_win() {
        let forge = kiln_config::ForgeConfig {
            kind: Some(ForgeKind::GitLab),
            api_url: Some("http://127.0.0.1:1/api/v4".into()),
            repository: Some("g/sub/p".into()),
            token_credential: Some("gl".into()),
            ..Default::default()
        };
        let t = ForgeTarget::resolve(&job("/srv/r", Some(forge)), &[])
            .unwrap()
            .unwrap();
        assert_eq!(t.api_url, "http://127.0.0.1:1/api/v4");
        assert_eq!(t.repository, "g/sub/p");
    }

    #[test]
    fn a_local_repository_needs_kind_and_repository() {
        let forge = kiln_config::ForgeConfig::default();
        let err = ForgeTarget::resolve(&job("/srv/r", Some(forge.clone())), &[]).unwrap_err();
        assert!(matches!(err, TargetError::NoKind { .. }));
        let forge = kiln_config::ForgeConfig {
            kind: Some(ForgeKind::GitHub),
            ..forge
        };
        let err = ForgeTarget::resolve(&job("/srv/r", Some(forge)), &[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "job `app`: `forge.repository` is not written and cannot be read from its repository URL"
        );
    }
}
