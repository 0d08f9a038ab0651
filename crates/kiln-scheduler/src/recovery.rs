//! What a new scheduler does with the builds the previous one left: builds that were
//! running are finished as ABORTED ("controller restarted"), queued builds are queued again.

use kiln_store::{
    BuildRecord, BuildResult, BuildStatus, StageOutcome, StageState, Store, StoreError,
};

pub(crate) const RESTARTED: &str = "controller restarted";

/// Marks every running or waiting build as aborted by the restart; returns them.
pub(crate) fn abort_interrupted(
    store: &dyn Store,
    now_ms: u64,
) -> Result<Vec<BuildRecord>, StoreError> {
    let builds = store.builds_in(&[BuildStatus::Running, BuildStatus::WaitingForInput])?;
    let mut out = Vec::with_capacity(builds.len());
    for mut b in builds {
        let line = format!(
            "kiln: the controller restarted while this build was running; the build was aborted\nFinished: {}\n",
            BuildResult::Aborted
        );
        store.append_log(&b.id, line.as_bytes())?;
        abort_record(&mut b, RESTARTED, now_ms);
        store.update_build(&b)?;
        tracing::warn!(build = %b.id, "build aborted: the controller restarted while it ran");
        out.push(b);
    }
    Ok(out)
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
