//! kiln's side of the forges it builds for: commit statuses and the open pull/merge requests
//! through GitHub's and GitLab's REST APIs ([`ForgeClient`], [`OpenChange`]), check runs and
//! installation tokens for GitHub Apps ([`GitHubApp`], kept for reuse in [`AppTokens`]), which forge and
//! repository a job reports to ([`ForgeTarget`], resolved from the job's `forge:`, the
//! top-level `forges:` and its repository URL), and the status badge ([`badge::svg`]).
//!
//! Calls are blocking (ureq) and bounded by a timeout: callers run them off async tasks. This
//! crate runs no builds and stores nothing (but the tokens it keeps in memory); of kiln's crates
//! it depends on kiln-config and kiln-types only.

pub mod badge;

mod app;
mod app_tokens;
mod changes;
mod checks;
mod client;
mod repo_url;
mod status;
mod target;

pub use app::{AppKeyError, GitHubApp, InstallationToken};
pub use app_tokens::{AppTokens, REFRESH_BEFORE_SECS};
pub use badge::BadgeStatus;
pub use changes::OpenChange;
pub use client::{ForgeClient, ForgeError, Permission};
pub use repo_url::RepoUrl;
pub use status::{CommitStatus, StatusState};
pub use target::{ForgeTarget, TargetError};
