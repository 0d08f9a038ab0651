//! The coordinator of `kiln run`: locks from one table for the whole process (kiln-scheduler's
//! [`LockTable`]), milestones that always pass (no other build of the job runs here), and
//! `build job:` refused unless `--server URL` names a kiln server to start the job on (with
//! `KILN_TOKEN`), whose build is then awaited through its API.

use crate::cli::{ClientArgs, OutputFormat};
use crate::client::Client;
use crate::client::job_segment;
use async_trait::async_trait;
use kiln_engine::{
    BuildId, BuildResult, Coordinator, FinishedJob, JobRequest, LockAttempt, LockRequest,
    MilestoneOutcome, StartedJob,
};
use kiln_scheduler::LockTable;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How often a downstream build's state is asked for.
const POLL: Duration = Duration::from_secs(1);

pub struct LocalCoordinator {
    locks: LockTable,
    build: BuildId,
    server: Option<String>,
}

impl LocalCoordinator {
    pub fn new(locks: LockTable, build: BuildId, server: Option<String>) -> Self {
        LocalCoordinator {
            locks,
            build,
            server,
        }
    }

    fn client(&self, server: &str) -> Client {
        Client::new(&ClientArgs {
            server: server.to_owned(),
            output: OutputFormat::Human,
        })
    }
}

#[async_trait]
impl Coordinator for LocalCoordinator {
    fn lock(&self, req: LockRequest) -> Result<LockAttempt, String> {
        self.locks.attempt(self.build.clone(), req)
    }

    async fn start_job(&self, req: JobRequest) -> Result<StartedJob, String> {
        let Some(server) = &self.server else {
            return Err(format!(
                "build: `kiln run` cannot start job `{}` by itself; give `--server URL` (and KILN_TOKEN) to start it on a kiln server",
                req.job
            ));
        };
        if req.quiet_period.is_some_and(|q| q > 0) {
            return Err("build: `quietPeriod` is not supported by `kiln run --server`".to_owned());
        }
        let client = self.client(server);
        let path = format!("/jobs/{}/builds", job_segment(&req.job));
        let body = json!({ "params": req.params });
        let job = req.job.clone();
        let (client, answer) = tokio::task::spawn_blocking(move || {
            let answer = client.post_json(&path, &body);
            (client, answer)
        })
        .await
        .map_err(|e| format!("build: the request stopped: {e}"))?;
        let answer =
            answer.map_err(|e| format!("build: cannot start job `{job}` on {server}: {e:#}"))?;
        let number = answer["number"]
            .as_u64()
            .ok_or_else(|| format!("build: {server} answered without a build number"))?;
        let url = answer["url"].as_str().map(str::to_owned);
        let id = BuildId { job, number };
        let finished = req.wait.then(|| {
            let wait = RemoteWait {
                client: Arc::new(client),
                id: id.clone(),
                done: Arc::new(AtomicBool::new(false)),
            };
            let fut: kiln_engine::Pending<Result<FinishedJob, String>> = Box::pin(wait.finished());
            fut
        });
        Ok(StartedJob { id, url, finished })
    }

    fn milestone(&self, _ordinal: u32) -> MilestoneOutcome {
        MilestoneOutcome::Passed
    }
}

/// The wait for a build on the server; dropped before the end, it cancels that build.
struct RemoteWait {
    client: Arc<Client>,
    id: BuildId,
    done: Arc<AtomicBool>,
}

impl RemoteWait {
    async fn finished(self) -> Result<FinishedJob, String> {
        let path = format!(
            "/jobs/{}/builds/{}",
            job_segment(self.id.job.as_str()),
            self.id.number
        );
        loop {
            let client = self.client.clone();
            let p = path.clone();
            let build = tokio::task::spawn_blocking(move || client.get_json(&p))
                .await
                .map_err(|e| format!("build: the request stopped: {e}"))?
                .map_err(|e| format!("build: cannot follow {}: {e:#}", self.id))?;
            if build["status"] == "finished" {
                self.done.store(true, Ordering::SeqCst);
                return Ok(finished(&build));
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

fn finished(build: &Value) -> FinishedJob {
    let result = build["result"]
        .as_str()
        .and_then(BuildResult::parse)
        .unwrap_or(BuildResult::Failure);
    let variables = build["variables"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default();
    FinishedJob { result, variables }
}

impl Drop for RemoteWait {
    fn drop(&mut self) {
        if self.done.load(Ordering::SeqCst) {
            return;
        }
        let (client, id) = (self.client.clone(), self.id.clone());
        let path = format!(
            "/jobs/{}/builds/{}/cancel",
            job_segment(id.job.as_str()),
            id.number
        );
        // The upstream run was aborted: so is the build it waited for, as Jenkins does.
        std::thread::spawn(move || {
            if let Err(e) = client.post_json(&path, &Value::Null) {
                tracing::warn!(build = %id, error = %format!("{e:#}"), "cannot cancel the downstream build");
            }
        });
    }
}
