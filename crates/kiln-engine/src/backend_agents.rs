//! [`BackendAgents`]: the one [`AgentProvider`] of stage agents, over the execution-backend
//! seam, for the server and `kiln run` alike. A stage whose own agent the backend serves
//! gets one of its own (after waiting for a slot unless the build holds an agent already),
//! with the build's prepared workspace uploaded unless the pipeline skips the default
//! checkout; it is released (with the stage's result) when the stage is done.
//!
//! With [`AgentRecords`] (the server), every stage agent is recorded before the stage's
//! steps run and marked released before it is released. A build resumed after a controller
//! restart asks for its stages' agents again as its replay reaches them: a stage that had
//! finished, or whose recorded agent was released, is not run again
//! ([`Provision::Finished`]); a recorded agent still in use is taken over (same workspace,
//! nothing uploaded); one that cannot be taken over fails the stage with the reason, never
//! running its steps a second time. Other stages get new agents.

use crate::agent::{
    AgentError, AgentProvider, AgentRequest, EnvChanges, ProvidedAgent, Provision, ReleaseAgent,
};
use crate::event::{LineKind, LogMessage};
use crate::result::BuildResult;
use crate::shared::Locked;
use async_trait::async_trait;
use kiln_backend::{
    AgentHandle, AgentName, AgentRecords, AgentWanted, BackendError, ExecutionBackend,
    ImageRecords, Lease, Notes, Placement, RecordedAgent,
};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

/// The stage agents of one build (see the module's docs).
pub struct BackendAgents {
    backend: Arc<dyn ExecutionBackend>,
    workspace: PathBuf,
    /// The build's own agent, if the backend gave it one: its stages' agents then never wait
    /// for a slot, and a resumed build's agents share its replay.
    build_agent: Option<AgentHandle>,
    records: Option<Arc<dyn AgentRecords>>,
    images: Option<Arc<dyn ImageRecords>>,
    /// How many agents each stage (by path) asked for so far.
    asked: Locked<HashMap<Vec<String>, u32>>,
}

impl BackendAgents {
    /// Stage agents from `backend`, with the build's prepared `workspace` uploaded into them.
    pub fn new(backend: Arc<dyn ExecutionBackend>, workspace: PathBuf) -> Self {
        BackendAgents {
            backend,
            workspace,
            build_agent: None,
            records: None,
            images: None,
            asked: Locked::default(),
        }
    }

    /// The build runs in `agent`, an agent of the same backend.
    pub fn within(mut self, agent: AgentHandle) -> Self {
        self.build_agent = Some(agent);
        self
    }

    /// Stage agents are recorded in `records` (and resumed from them); image builds in them
    /// record what they do in `images`.
    pub fn recording(
        mut self,
        records: Arc<dyn AgentRecords>,
        images: Arc<dyn ImageRecords>,
    ) -> Self {
        self.records = Some(records);
        self.images = Some(images);
        self
    }

    /// The number of the agent stage `path` asks for now (1 for its first).
    fn next_seq(&self, path: &[String]) -> u32 {
        let mut asked = self.asked.lock();
        let n = asked.entry(path.to_vec()).or_insert(0);
        *n += 1;
        *n
    }

    /// A new agent for the stage, with the workspace uploaded when the stage checks out,
    /// recorded before the stage's steps run.
    async fn new_agent(&self, request: AgentRequest, seq: u32) -> Result<Provision, AgentError> {
        let log = request.log.clone();
        let notes: Notes = Arc::new(move |note| {
            let _ = log.send(LogMessage::from(note));
        });
        let wanted = AgentWanted {
            agent: request.agent.clone(),
            job: request.job.clone(),
            build: request.build,
            place: Placement::Stage {
                path: request.stage.clone(),
                nested: self.build_agent.is_some() || request.nested,
            },
            workspace: self.workspace.clone(),
            notes,
        };
        let stage = request.stage.join(" / ");
        let lease = match self.backend.acquire(wanted).await {
            Ok(Some(lease)) => lease,
            Ok(None) => return Ok(Provision::NotServed),
            Err(e) => return Err(stage_error(&stage, e)),
        };
        if let (Some(records), Some(build_agent)) = (&self.records, &self.build_agent)
            && records.resumed()
        {
            // A stage that had no agent before the restart starts: the replay is over.
            build_agent.end_replay();
        }
        let name = lease.name();
        let shown = name.as_ref().map_or_else(String::new, |n| n.name.clone());
        let mut log = vec![running_in(&shown)];
        if let Some(template) = lease.pool() {
            log.push(LogMessage::new(
                LineKind::PodFromWarmPool,
                format!("The pod came from the warm pool of template '{template}'"),
            ));
        }
        if request.checkout {
            match lease.upload(&self.workspace).await {
                Ok(n) => log.push(LogMessage::new(
                    LineKind::WorkspaceUploaded,
                    format!("Uploaded {n} workspace files into the pod"),
                )),
                Err(e) => {
                    if let Err(e) = self.backend.release(lease, BuildResult::Failure).await {
                        tracing::warn!(agent = %shown, error = %e, "cannot release a stage's agent");
                    }
                    return Err(AgentError::Backend {
                        message: format!("cannot upload the workspace into pod {shown}: {e}"),
                        error: Arc::new(e),
                    });
                }
            }
        }
        if let (Some(records), Some(name)) = (&self.records, &name) {
            records.got(&request.stage, seq, name).await;
        }
        Ok(Provision::Agent(self.provided(
            lease,
            log,
            request.stage,
            seq,
        )))
    }

    /// The stage's recorded agent, taken over after a controller restart: its workspace is
    /// the stage's (nothing uploaded), and it knows the processes that ran.
    async fn take_over(
        &self,
        recorded: RecordedAgent,
        request: &AgentRequest,
        seq: u32,
        records: &dyn AgentRecords,
    ) -> Result<ProvidedAgent, AgentError> {
        let build = (request.job.as_str(), request.build);
        let taken = self
            .backend
            .resume(&recorded.name, build, self.build_agent.as_ref())
            .await;
        let stage = request.stage.join(" / ");
        let lease = match taken {
            Ok(lease) => lease,
            Err(e) => {
                // Done with: a later restart does not look for it again.
                let env = EnvChanges::new();
                records
                    .released(&request.stage, seq, BuildResult::Failure, env)
                    .await;
                return Err(AgentError::Backend {
                    message: format!(
                        "the pod {} of stage '{stage}' cannot be taken over after the controller restarted: {e}; the stage's steps are not run again",
                        recorded.name.name
                    ),
                    error: Arc::new(e),
                });
            }
        };
        tracing::info!(pod = %recorded.name.name, stage = %stage, "stage pod taken over after a controller restart");
        let log = vec![running_in(&recorded.name.name)];
        Ok(self.provided(lease, log, request.stage.clone(), seq))
    }

    fn provided(
        &self,
        lease: Lease,
        log: Vec<LogMessage>,
        stage: Vec<String>,
        seq: u32,
    ) -> ProvidedAgent {
        if let Some(images) = &self.images {
            lease.record_images(images.clone());
        }
        ProvidedAgent {
            executor: lease.executor(),
            log,
            release: Box::new(BackendRelease {
                backend: self.backend.clone(),
                lease,
                records: self.records.clone(),
                stage,
                seq,
            }),
        }
    }
}

#[async_trait]
impl AgentProvider for BackendAgents {
    async fn provide(&self, request: AgentRequest) -> Result<Option<ProvidedAgent>, AgentError> {
        match self.provision(request).await? {
            Provision::Agent(agent) => Ok(Some(agent)),
            Provision::NotServed => Ok(None),
            Provision::Finished(result, _) => Err(AgentError::EndedBeforeRestart(result)),
        }
    }

    async fn provision(&self, request: AgentRequest) -> Result<Provision, AgentError> {
        let seq = self.next_seq(&request.stage);
        if let Some(records) = &self.records {
            // A resumed build's recorded agent: taken over, or the stage was done with it.
            if let Some(recorded) = records.recorded(&request.stage, seq) {
                return match recorded.released {
                    Some(result) => Ok(Provision::Finished(result, recorded.env)),
                    None => self
                        .take_over(recorded, &request, seq, records.as_ref())
                        .await
                        .map(Provision::Agent),
                };
            }
            if !self.backend.serves(&request.agent) {
                return Ok(Provision::NotServed);
            }
            if let Some((result, env)) = records.finished(&request.stage) {
                return Ok(Provision::Finished(result, env));
            }
        }
        self.new_agent(request, seq).await
    }
}

/// `Running in pod NAME`.
fn running_in(name: &str) -> LogMessage {
    LogMessage::new(
        LineKind::RunningInPod {
            pod: name.to_owned(),
        },
        format!("Running in pod {name}"),
    )
}

/// Why stage `stage` got no agent, for its log.
fn stage_error(stage: &str, error: BackendError) -> AgentError {
    let message = match error {
        BackendError::Invalid(_) => format!("the pod of stage '{stage}' is invalid: {error}"),
        BackendError::Agent(_) => format!("the pod of stage '{stage}' did not start: {error}"),
        ref other => other.to_string(),
    };
    AgentError::Backend {
        message,
        error: Arc::new(error),
    }
}

/// Gives a stage's agent back when the stage is done (recorded as released first).
struct BackendRelease {
    backend: Arc<dyn ExecutionBackend>,
    lease: Lease,
    records: Option<Arc<dyn AgentRecords>>,
    stage: Vec<String>,
    seq: u32,
}

#[async_trait]
impl ReleaseAgent for BackendRelease {
    async fn release(self: Box<Self>, result: BuildResult) {
        self.release_with_env(result, EnvChanges::new()).await;
    }

    async fn release_with_env(self: Box<Self>, result: BuildResult, env: EnvChanges) {
        if let Some(records) = &self.records {
            records.released(&self.stage, self.seq, result, env).await;
        }
        let name = self.lease.name().map(|n: AgentName| n.name);
        if let Err(e) = self.backend.release(self.lease, result).await {
            tracing::warn!(agent = ?name, error = %e, "cannot release a stage's agent");
        }
    }
}
