//! A job's `multibranch:` (or `branches:`): one child job per branch, tag and change request.

use crate::cron::Schedule;

/// How a multibranch job discovers and keeps its children.
#[derive(Clone, Debug, PartialEq)]
pub struct MultibranchConfig {
    /// `branches:`: the branches that get a job (glob patterns; default every branch).
    pub branches: Vec<String>,
    /// `tags:`: the tags that get a job (glob patterns; default none).
    pub tags: Vec<String>,
    /// `change_requests:`: whether open pull/merge requests get a job (default true).
    pub change_requests: bool,
    /// `change_build:`: what a change request's build checks out.
    pub change_build: ChangeBuild,
    /// `scan:`: when the repository is scanned for branches (a Jenkins cron spec; default
    /// hourly, `H * * * *`; `off`: only webhooks and starts scan).
    pub scan: Option<Schedule>,
    pub orphaned: OrphanedItemStrategy,
}

/// What a pull or merge request's build checks out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ChangeBuild {
    /// `merge`: the request merged into the target branch's head (Jenkins' default).
    #[default]
    Merge,
    /// `head`: the request's head as it is.
    Head,
}

impl ChangeBuild {
    pub const NAMES: &'static [&'static str] = &["merge", "head"];
}

/// `orphaned_item_strategy:`: what happens to the child of a deleted branch or a closed
/// change request. With neither limit it is removed at once, as Jenkins' default.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct OrphanedItemStrategy {
    /// `days_to_keep:`: remove an orphaned child this many days after it was orphaned.
    pub days_to_keep: Option<u64>,
    /// `num_to_keep:`: keep at most this many orphaned children (the newest).
    pub num_to_keep: Option<u64>,
    /// `keep_builds:`: keep a removed child's builds in the store (default false: they are
    /// deleted with it, as Jenkins does).
    pub keep_builds: bool,
}
