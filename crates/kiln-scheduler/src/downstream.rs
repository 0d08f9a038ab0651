//! `build job: ...` on the server: the downstream build queued like any trigger (cause
//! "Started by upstream project X build number N"), after refusing a chain that would
//! start a job that is already in it; then its end awaited through its live log state.
//! Dropping the wait before the end (the upstream build was aborted) aborts the
//! downstream build, as the Pipeline: Build Step plugin's stop does.

use crate::handle::SchedulerHandle;
use crate::recorder::blocking;
use crate::request::TriggerRequest;
use crate::shared::Shared;
use kiln_engine::{BuildCause, BuildId, FinishedJob, JobRequest, StartedJob};
use kiln_store::{BuildRecord, BuildStatus, StoreError};
use kiln_types::{BuildRef, BuildResult};
use std::sync::Arc;
use std::time::Duration;

/// How far up a chain of upstream builds is followed looking for a cycle.
const MAX_CHAIN: usize = 64;
/// How often a downstream build another controller may run is read again (a shared store).
const ELSEWHERE: Duration = Duration::from_secs(1);

pub(crate) async fn start(
    shared: &Arc<Shared>,
    handle: SchedulerHandle,
    upstream: &BuildRef,
    req: JobRequest,
) -> Result<StartedJob, String> {
    refuse_cycle(shared, upstream, &req.job).await?;
    let cause = BuildCause::Upstream {
        job: upstream.job.to_string(),
        number: upstream.number,
    };
    let mut trigger = TriggerRequest::new(req.job.clone(), cause);
    trigger.params = req.params;
    let id = handle
        .trigger_with_quiet(trigger, req.quiet_period)
        .await
        .map_err(|e| format!("build: cannot start job `{}`: {e}", req.job))?;
    let config = shared.config();
    let base = config
        .server
        .external_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", config.server.listen));
    let url = format!("{base}/jobs/{}/{}", id.job, id.number);
    let finished = req.wait.then(|| {
        let wait = Wait {
            shared: shared.clone(),
            handle,
            id: id.clone(),
            upstream: upstream.clone(),
            done: false,
        };
        let fut: kiln_engine::Pending<Result<FinishedJob, String>> = Box::pin(wait.finished());
        fut
    });
    Ok(StartedJob {
        id: BuildId {
            job: id.job.to_string(),
            number: id.number,
        },
        url: Some(url),
        finished,
    })
}

/// Refuses to start `job` from a build whose chain of upstream builds (their stored
/// causes) already holds a build of `job`.
async fn refuse_cycle(shared: &Arc<Shared>, upstream: &BuildRef, job: &str) -> Result<(), String> {
    let store = shared.store.clone();
    let start = upstream.clone();
    let chain = blocking(move || {
        let mut chain = vec![start.clone()];
        let mut at = start;
        while chain.len() < MAX_CHAIN {
            let Some(record) = store.get_build(&at)? else {
                break;
            };
            let BuildCause::Upstream { job, number } = crate::cause::of(&record) else {
                break;
            };
            let Ok(job) = kiln_types::JobName::new(job) else {
                break;
            };
            at = BuildRef { job, number };
            chain.push(at.clone());
        }
        Ok::<_, StoreError>(chain)
    })
    .await
    .map_err(|e| format!("build: cannot read the upstream builds: {e}"))?;
    if !chain.iter().any(|b| b.job.as_str() == job) {
        return Ok(());
    }
    let path: Vec<String> = chain.iter().rev().map(ToString::to_string).collect();
    Err(format!(
        "build: refusing to start job `{job}`: it would form a cycle ({} -> {job})",
        path.join(" -> ")
    ))
}

/// The wait for a downstream build's end.
struct Wait {
    shared: Arc<Shared>,
    handle: SchedulerHandle,
    id: BuildRef,
    upstream: BuildRef,
    done: bool,
}

impl Wait {
    async fn finished(mut self) -> Result<FinishedJob, String> {
        // A queued build has no live state until it starts: watched from before the look.
        let mut went_live = self.shared.live.watch();
        let shared_store = self.shared.store.coordination().is_some();
        let record = loop {
            let live = went_live.get(&self.id);
            let was_live = live.is_some();
            if let Some(mut live) = live {
                // Ends when the build finished, or when its task dropped the channel.
                let _ = live.wait_for(|s| s.finished).await;
            }
            let record = match self.read().await {
                Ok(record) => record,
                Err(e) => {
                    // The build is not cancelled for it.
                    self.done = true;
                    return Err(e);
                }
            };
            // Queued, here or (a shared store) on any controller: it starts here and goes
            // live, or ends unrun, or another controller runs it (read again in a while).
            let waits = match record.status {
                BuildStatus::Finished => false,
                BuildStatus::Queued => true,
                _ => shared_store && !was_live,
            };
            if !waits {
                break record;
            }
            if shared_store {
                tokio::select! {
                    () = went_live.changed() => {}
                    () = tokio::time::sleep(ELSEWHERE) => {}
                }
            } else {
                went_live.changed().await;
            }
        };
        self.done = true;
        if record.status != BuildStatus::Finished {
            return Err(format!(
                "build: {} did not finish: the controller is stopping",
                self.id
            ));
        }
        Ok(FinishedJob {
            result: record.result.unwrap_or(BuildResult::Failure),
            variables: record.variables,
        })
    }

    async fn read(&self) -> Result<BuildRecord, String> {
        let store = self.shared.store.clone();
        let id = self.id.clone();
        blocking(move || store.get_build(&id))
            .await
            .map_err(|e| format!("build: cannot read {}: {e}", self.id))?
            .ok_or_else(|| format!("build: {} was deleted", self.id))
    }
}

impl Drop for Wait {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let (handle, id) = (self.handle.clone(), self.id.clone());
        let by = format!("the upstream build {}", self.upstream);
        tokio::spawn(async move {
            if let Err(e) = handle.cancel(&id, &by).await {
                tracing::debug!(build = %id, error = %e, "downstream build not cancelled");
            }
        });
    }
}
