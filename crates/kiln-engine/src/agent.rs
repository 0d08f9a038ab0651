//! The seam through which a stage's own `agent` gets its own executor: the caller of
//! [`crate::BuildRun`] may give the build an [`AgentProvider`] (the server and
//! `kiln run --kubeconfig` give [`crate::BackendAgents`], a pod per stage agent through the
//! execution-backend seam); the engine asks it when a stage
//! with an agent starts and tells it when the stage is done. The engine stays backend-agnostic:
//! it hands the provider the agent as plain values ([`AgentSpec`], every expression evaluated
//! in the stage's scope) and gets an [`Executor`] back.

use crate::{BuildResult, LogMessage};
use async_trait::async_trait;
use kiln_diagnostics::Span;
use kiln_executor::Executor;
use kiln_types::AgentSpec;
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::mpsc::UnboundedSender;

/// Gives stages with an agent of their own an executor of their own.
#[async_trait]
pub trait AgentProvider: Send + Sync {
    /// A fresh executor for the stage `request` describes, or `None` when this provider does
    /// not serve that kind of agent (the stage then runs with the executor it would have had,
    /// and the engine says so as it does without a provider). An error fails the stage with
    /// its message in the stage's log.
    async fn provide(&self, request: AgentRequest) -> Result<Option<ProvidedAgent>, AgentError>;

    /// What the engine asks: [`AgentProvider::provide`]'s answer, or, for a build resumed
    /// after a controller restart, that the agent's work (the stage, or a `node` block) had
    /// ended before the restart ([`Provision::Finished`]). The default asks `provide`.
    async fn provision(&self, request: AgentRequest) -> Result<Provision, AgentError> {
        Ok(match self.provide(request).await? {
            Some(agent) => Provision::Agent(agent),
            None => Provision::NotServed,
        })
    }
}

/// A provider's answer for one stage agent (or scripted `node` block).
#[derive(Debug)]
pub enum Provision {
    /// The agent to run on.
    Agent(ProvidedAgent),
    /// The provider does not serve this kind of agent (see [`AgentProvider::provide`]).
    NotServed,
    /// The build was resumed after a controller restart, and the work of this agent (the
    /// stage with its `post`, or the `node` block) had ended before it with this result:
    /// the engine does not run it again (its pod and the processes' records are gone) and
    /// takes the result as it was, and the variables the build's scripts had set by then
    /// (see [`ReleaseAgent::release_with_env`]).
    Finished(BuildResult, EnvChanges),
}

/// Variables the build's scripts set (`env.X = ...`; `None`: removed), by name.
pub type EnvChanges = BTreeMap<String, Option<String>>;

/// A stage's own agent, with every expression in it already evaluated in the stage's
/// environment.
#[derive(Clone, Debug)]
pub struct AgentRequest {
    /// The agent as the stage (or matrix) declares it, as plain values.
    pub agent: AgentSpec,
    /// The stage's path (`["Build", "Linux"]`), e.g. for pod names or log lines.
    pub stage: Vec<String>,
    /// `JOB_NAME` and `BUILD_NUMBER` of the build.
    pub job: String,
    pub build: u64,
    /// Whether the new workspace gets the build's sources (Jenkins' implicit `checkout scm`
    /// per agent); false under `options { skipDefaultCheckout() }`.
    pub checkout: bool,
    /// The stage runs inside another provided agent (it holds one already): a provider with
    /// a limit on agents should not make it wait for one, or nested stages could wait for
    /// each other forever.
    pub nested: bool,
    /// Lines for the stage's log while the agent starts (e.g. `Waiting for a pod: ...`).
    pub log: UnboundedSender<LogMessage>,
}

/// `agent` as plain values, each expression's value looked up in `strings` (the values the
/// engine evaluated, by the expression's span; a plain string literal it did not evaluate
/// is taken as written).
pub fn agent_spec(agent: &kiln_model::Agent, strings: &BTreeMap<Span, String>) -> AgentSpec {
    kiln_plan::agent_spec(agent, &mut |e| {
        strings.get(&e.span).cloned().or_else(|| e.as_plain_str())
    })
}

/// An executor a provider made for one stage, and how to give it back.
pub struct ProvidedAgent {
    pub executor: Arc<dyn Executor>,
    /// Lines for the stage's log, e.g. `Running in pod kiln-app-3-1f2e3` and what was
    /// uploaded into it.
    pub log: Vec<LogMessage>,
    /// Called once when the stage (its `post` included) is done, with the stage's result:
    /// delete the pod, or return it to its pool when the stage succeeded.
    pub release: Box<dyn ReleaseAgent>,
}

impl std::fmt::Debug for ProvidedAgent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProvidedAgent")
            .field("executor", &self.executor.describe())
            .field("log", &self.log)
            .finish_non_exhaustive()
    }
}

/// What a provider does when a stage is done with its executor.
#[async_trait]
pub trait ReleaseAgent: Send + Sync {
    async fn release(self: Box<Self>, result: BuildResult);

    /// [`ReleaseAgent::release`], told the variables the build's scripts had set by then,
    /// which a provider that resumes builds keeps for [`Provision::Finished`]. The default
    /// forgets them.
    async fn release_with_env(self: Box<Self>, result: BuildResult, env: EnvChanges) {
        let _ = env;
        self.release(result).await;
    }
}

/// Why a stage's agent could not be provided. Its text, whole, goes into the stage's log;
/// what failed stays typed, so a caller tells a pod that did not start from a workspace that
/// could not be uploaded without reading the text.
#[derive(Clone, Debug, thiserror::Error)]
pub enum AgentError {
    /// The execution backend gave no agent, could not fill it or take it over. `message` is
    /// the whole line for the log (the backend's error included), so the error is kept here
    /// to match on rather than repeated as a `source`.
    #[error("{message}")]
    Backend {
        message: String,
        error: Arc<kiln_backend::BackendError>,
    },
    /// A resumed build's stage had ended with this result before the controller restarted,
    /// so it gets no agent again (asked through [`AgentProvider::provide`]).
    #[error("the stage had ended {0} before the controller restarted")]
    EndedBeforeRestart(BuildResult),
    /// Another provider's reason, as the log shows it.
    #[error("{0}")]
    Other(String),
}

impl AgentError {
    /// The backend's error, when the backend failed.
    pub fn backend_error(&self) -> Option<&kiln_backend::BackendError> {
        match self {
            AgentError::Backend { error, .. } => Some(error),
            _ => None,
        }
    }
}
