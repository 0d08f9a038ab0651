//! `forge:` of a job and the top-level `forges:`: where a job's commit statuses go.

/// Which forge API a connection speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ForgeKind {
    /// GitHub and GitHub Enterprise (REST v3).
    GitHub,
    /// gitlab.com and self-hosted GitLab (REST v4).
    GitLab,
}

impl ForgeKind {
    pub const NAMES: &'static [&'static str] = &["github", "gitlab"];

    /// The name as written in `kind:`.
    pub fn as_str(self) -> &'static str {
        match self {
            ForgeKind::GitHub => "github",
            ForgeKind::GitLab => "gitlab",
        }
    }

    /// The API of the public service, when `api_url` is not written.
    pub fn default_api_url(self) -> &'static str {
        match self {
            ForgeKind::GitHub => "https://api.github.com",
            ForgeKind::GitLab => "https://gitlab.com/api/v4",
        }
    }
}

/// A job's `forge:` (every field optional: what is missing comes from the `forges:` entry of
/// the repository's host, or is derived from the job's repository URL).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ForgeConfig {
    /// `kind: github | gitlab`.
    pub kind: Option<ForgeKind>,
    /// `api_url:`, e.g. `https://api.github.com`, `https://ghe.example.com/api/v3`,
    /// `https://gitlab.example.com/api/v4` (no trailing `/`).
    pub api_url: Option<String>,
    /// `repository: OWNER/NAME` (GitLab: the project path, `group/sub/project`).
    pub repository: Option<String>,
    /// `token_credential:`: the id of a `credentials:` entry holding the API token.
    pub token_credential: Option<String>,
    /// `trust:`: whose pull requests from forks run their own Jenkinsfile.
    pub trust: ForkTrust,
    /// `untrusted_credentials:`: give credentials to builds of untrusted pull requests too
    /// (default false).
    pub untrusted_credentials: bool,
    /// `app_id:` and `app_key_credential:`: connect as a GitHub App (check runs instead of
    /// commit statuses, installation tokens instead of `token_credential`).
    pub app: Option<GitHubAppConfig>,
    /// `change_build:`: what a pull/merge request's build checks out in a job that is not
    /// multibranch (a multibranch job's children follow its `multibranch.change_build`).
    pub change_build: crate::ChangeBuild,
}

/// A GitHub App connection: `app_id: 12345`, `app_key_credential: ID` (a `credentials:`
/// entry whose secret is the app's private key, PEM).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GitHubAppConfig {
    pub app_id: u64,
    pub key_credential: String,
}

/// Whose pull/merge requests from forks are trusted (run their own Jenkinsfile, get
/// credentials); a request from a branch of the repository itself always is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ForkTrust {
    /// `write`: authors with write access to the repository (checked through the forge API).
    #[default]
    Write,
    /// `everyone`.
    Everyone,
    /// `nobody`.
    Nobody,
}

impl ForkTrust {
    pub const NAMES: &'static [&'static str] = &["write", "everyone", "nobody"];
}

/// One entry of the top-level `forges:`: the defaults for repositories on one host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForgeDefaults {
    pub kind: ForgeKind,
    /// `host:`, the host of the repositories' URLs (default: `api_url`'s host, with GitHub's
    /// `api.` prefix removed).
    pub host: String,
    /// `api_url:`, default the public service's.
    pub api_url: String,
    pub token_credential: Option<String>,
    /// `app_id:` and `app_key_credential:` (GitHub only).
    pub app: Option<GitHubAppConfig>,
}
