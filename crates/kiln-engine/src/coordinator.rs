//! [`Coordinator`]: what a build asks of whoever runs it for the steps that coordinate
//! builds with each other: `lock` (resources shared by every build), `build` (start another
//! job and wait for it) and `milestone` (older builds are superseded by newer ones).
//!
//! The server's scheduler implements it over all of its builds; `kiln run` over the one
//! process (locks are process-wide there). The engine words the build log; an
//! implementation only answers.

use crate::BuildResult;
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

/// A boxed future an implementation hands back for the engine to await (or drop when the
/// build is cancelled, which must withdraw what it waited for).
pub type Pending<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// A build of a job, written as Jenkins writes it: `job#4`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BuildId {
    pub job: String,
    pub number: u64,
}

impl std::fmt::Display for BuildId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}#{}", self.job, self.number)
    }
}

/// What `lock(...)` asks for: resources by name, or `quantity` resources carrying `label`
/// (all of them when the quantity is 0).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LockRequest {
    pub resources: Vec<String>,
    pub label: Option<String>,
    pub quantity: u32,
    /// The newest waiting build gets the resources first.
    pub inverse_precedence: bool,
}

impl LockRequest {
    /// How the request is shown in the log: `[db]`, `[label: phone]`.
    pub fn describe(&self) -> String {
        let mut parts: Vec<String> = self.resources.clone();
        if let Some(l) = &self.label {
            parts.push(match self.quantity {
                0 => format!("label: {l}"),
                q => format!("label: {l}, quantity: {q}"),
            });
        }
        format!("[{}]", parts.join(", "))
    }
}

/// A granted lock: the resources it holds, released when it is dropped.
pub struct LockGuard {
    pub resources: Vec<String>,
    held: Box<dyn Send + Sync>,
}

impl LockGuard {
    /// `held` releases the resources when it is dropped.
    pub fn new(resources: Vec<String>, held: Box<dyn Send + Sync>) -> Self {
        LockGuard { resources, held }
    }
}

impl std::fmt::Debug for LockGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let _ = &self.held;
        f.debug_struct("LockGuard")
            .field("resources", &self.resources)
            .finish_non_exhaustive()
    }
}

/// The answer to a lock request.
pub enum LockAttempt {
    Held(LockGuard),
    /// The resources are taken: by whom, and the grant to wait for (`None`: it will never
    /// come, e.g. the controller is stopping).
    Waiting {
        held_by: Vec<(String, BuildId)>,
        granted: Pending<Option<LockGuard>>,
    },
}

/// What `build job: ...` asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobRequest {
    pub job: String,
    pub params: BTreeMap<String, String>,
    pub wait: bool,
    /// Seconds before the build may start (`quietPeriod:`), when given.
    pub quiet_period: Option<u64>,
}

/// A downstream build that was queued.
pub struct StartedJob {
    pub id: BuildId,
    /// Its page, when the server's URL is known.
    pub url: Option<String>,
    /// Its end, when the request waits for it.
    pub finished: Option<Pending<Result<FinishedJob, String>>>,
}

/// How a downstream build ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FinishedJob {
    pub result: BuildResult,
    /// Its parameters and the `env` variables its scripts set (`buildVariables`).
    pub variables: BTreeMap<String, String>,
}

/// What passing a milestone means for the build.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MilestoneOutcome {
    Passed,
    /// A newer build passed this milestone already: this one is aborted.
    Superseded(BuildId),
}

/// Coordination between builds (see the module docs). Errors are the sentence the step
/// fails with.
#[async_trait]
pub trait Coordinator: Send + Sync {
    /// Takes the resources at once or queues the request.
    fn lock(&self, req: LockRequest) -> Result<LockAttempt, String>;
    /// Queues a build of another job (started by this one).
    async fn start_job(&self, req: JobRequest) -> Result<StartedJob, String>;
    /// Passes milestone `ordinal`: older builds of the job that have not passed it are
    /// aborted; this build is aborted when a newer one passed it already.
    fn milestone(&self, ordinal: u32) -> MilestoneOutcome;
    /// Posts a commit status to the forge of the build's job (the forge steps); what was
    /// posted (`github status `ci/lint` (success) of commit 3f2a...`), or why nothing was.
    async fn commit_status(&self, post: StatusPost) -> Result<String, String> {
        let _ = post;
        Err("this build reports to no forge: it does not run on a kiln server whose job has a `forge:`".to_owned())
    }
    /// The build set its job's properties (its pipeline's computed triggers and counts, or
    /// a `properties([...])` step): called as soon as they are known, maybe more than once
    /// a build (the last call wins). Nothing is kept where there is no job.
    fn job_properties(&self, props: &crate::JobProperties) {
        let _ = props;
    }
    /// The build saved stash `name` (its files under `dir`): a server whose controllers
    /// share a store keeps a copy there. `Err` says why no copy was kept (the build's log
    /// shows it); the stash itself is saved either way.
    async fn stash_saved(&self, name: &str, dir: &std::path::Path) -> Result<(), String> {
        let _ = (name, dir);
        Ok(())
    }
    /// Stash `name` is not in `dir` (e.g. this controller took the build over from
    /// another): a server whose controllers share a store puts the copy kept there into
    /// `dir`. Whether it did.
    async fn stash_wanted(&self, name: &str, dir: &std::path::Path) -> Result<bool, String> {
        let _ = (name, dir);
        Ok(false)
    }
}

/// A commit status a forge step (`githubNotify`, `gitlabCommitStatus`, ...) posts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusPost {
    /// The state as the step names it (`SUCCESS`, `failed`, `running`, ...).
    pub state: String,
    /// GitHub's `context`, GitLab's `name`.
    pub context: String,
    pub description: Option<String>,
    pub target_url: Option<String>,
    /// The commit; the build's own (a change request's head) when `None`.
    pub sha: Option<String>,
}

/// For builds run where no other build exists (tests, embedders): locks are free for
/// this build alone, milestones always pass, and `build` is refused.
pub struct NoCoordinator;

#[async_trait]
impl Coordinator for NoCoordinator {
    fn lock(&self, req: LockRequest) -> Result<LockAttempt, String> {
        Ok(LockAttempt::Held(LockGuard::new(
            req.resources,
            Box::new(()),
        )))
    }

    async fn start_job(&self, req: JobRequest) -> Result<StartedJob, String> {
        Err(format!(
            "build: cannot start job `{}`: this build does not run on a kiln server",
            req.job
        ))
    }

    fn milestone(&self, _ordinal: u32) -> MilestoneOutcome {
        MilestoneOutcome::Passed
    }
}
