//! What a new scheduler does with the builds the previous one left: builds that were
//! running in a Kubernetes pod are resumed in it (see `resume.rs`), other running builds are
//! finished as ABORTED ("controller restarted"), queued builds are queued again.

use kiln_store::{BuildRecord, BuildStatus, StageState, Store, StoreError};
use kiln_types::{BuildResult, StageOutcome};

pub(crate) const RESTARTED: &str = "controller restarted";

/// Marks every running or waiting build as aborted by the restart, except those to resume
/// (`resume`: Kubernetes is configured, and the build was not being stopped); returns the
/// builds to resume. A build resumed without a recorded pod (its own or a stage's still in
/// use) runs from its start in new pods, unless it ran work on the controller's machine
/// (see `resume.rs`): a pod is recorded before any step runs in it.
pub(crate) fn recover_interrupted(
    store: &dyn Store,
    now_ms: u64,
    resume: bool,
) -> Result<Vec<BuildRecord>, StoreError> {
    let builds = store.builds_in(&[BuildStatus::Running, BuildStatus::WaitingForInput])?;
    RESTART.recover(store, builds, now_ms, resume)
}

/// The builds of the previous run of this controller (one controller, its own store).
pub(crate) const RESTART: Interrupted = Interrupted {
    what: "the controller restarted while this build was running",
    reason: RESTARTED,
};

/// How the builds of a controller that is gone are told about.
pub(crate) struct Interrupted {
    /// The log's line, before `; the build was aborted`.
    pub what: &'static str,
    /// The record's reason.
    pub reason: &'static str,
}

/// The builds of a controller whose lease ran out, taken over by another.
pub(crate) const TAKEN_OVER: Interrupted = Interrupted {
    what: "the controller running this build stopped renewing its lease and another took it \
           over; a build whose steps ran on that controller's machine cannot be resumed",
    reason: "controller lost",
};

impl Interrupted {
    /// Marks each of `builds` as aborted, except those to resume (see
    /// [`recover_interrupted`]); returns the builds to resume.
    pub(crate) fn recover(
        &self,
        store: &dyn Store,
        builds: Vec<BuildRecord>,
        now_ms: u64,
        resume: bool,
    ) -> Result<Vec<BuildRecord>, StoreError> {
        let mut out = Vec::new();
        for mut b in builds {
            if resume && b.reason.is_none() {
                out.push(b);
                continue;
            }
            let why = match (&b.pod, &b.reason) {
                (Some(_), Some(r)) => format!("; it was being stopped ({r})"),
                (Some(pod), None) => format!(
                    "; its pod {} is not taken over: executors.kubernetes is not configured",
                    pod.name
                ),
                (None, _) => String::new(),
            };
            let line = self.lines(&why);
            store.append_log(&b.id, line.as_bytes())?;
            abort_record(&mut b, self.reason, now_ms);
            store.update_build(&b)?;
            tracing::warn!(build = %b.id, reason = self.reason, "build aborted: its controller is gone");
        }
        Ok(out)
    }
}

impl Interrupted {
    /// The lines that end the log of a build aborted so, `why` (empty, or `; ...`) saying
    /// more.
    pub(crate) fn lines(&self, why: &str) -> String {
        format!(
            "kiln: {}{why}; the build was aborted\nFinished: {}\n",
            self.what,
            BuildResult::Aborted
        )
    }
}

/// Finishes a record as ABORTED with `reason`: stages that were running end aborted.
pub(crate) fn abort_record(b: &mut BuildRecord, reason: &str, now_ms: u64) {
    b.status = BuildStatus::Finished;
    b.result = Some(BuildResult::Aborted);
    b.reason = Some(reason.to_owned());
    b.pending_input = None;
    b.finished_at_ms = Some(now_ms);
    for s in &mut b.stages {
        match s.state {
            StageState::Running => {
                s.state = StageState::Done(StageOutcome::Ran(BuildResult::Aborted));
                s.duration_ms = s.started_at_ms.map(|t| now_ms.saturating_sub(t));
            }
            StageState::Pending => s.state = StageState::Done(StageOutcome::SkippedAborted),
            StageState::Done(_) => {}
        }
    }
}
