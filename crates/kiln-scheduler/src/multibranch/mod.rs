//! Multibranch jobs: a job with `multibranch:` (or `branches:`) builds nothing itself; it keeps
//! a child job per branch, tag and pull/merge request (`app/main`, `app/PR-42`), each with its
//! own builds, as Jenkins' Branch API does.
//!
//! Children are found by webhooks (a trigger of the parent is routed to its child, created
//! when its Jenkinsfile exists: `route.rs`) and by scans of the repository (`scan.rs`: at
//! start, on the job's `scan:` schedule, and when the parent is triggered without a branch).
//! A deleted branch or tag and a closed request orphan their child, which is removed per the
//! job's `orphaned_item_strategy` (`prune.rs`), at once or on the scheduler's timer. The children are kept in `registry.rs`, on disk
//! under `DATA_DIR/multibranch/`, and appear in the scheduler's configuration as jobs of
//! their own (`Child::config`).

mod child;
mod comment;
mod prune;
mod registry;
mod requests;
mod route;
mod scan;

pub(crate) use comment::on_comment;
pub use comment::{Comment, CommentOutcome};
pub(crate) use prune::{expires_at, prune_expired};
pub(crate) use registry::Registry;
pub use registry::RegistryError;
pub(crate) use route::{route, stored_change};
pub use scan::Gone;
pub(crate) use scan::{forget, scan};
