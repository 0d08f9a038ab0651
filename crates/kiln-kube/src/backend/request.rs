//! A wanted agent to the request its pod is built from: the one place the `dockerfile`
//! agent's branch is taken (its image built with Kaniko unless the registry has it), for the
//! server and `kiln run --kubeconfig`, for a build's pod and a stage's.

use crate::config::KubeConfig;
use crate::image::build::ImageBuilder;
use crate::image::dockerfile::dockerfile_request;
use crate::pod::agent_spec::pod_request;
use crate::pod::build::AgentRequest;
use kiln_backend::{AgentWanted, BackendError, Note};
use kiln_executor::ImageLogLine;
use kiln_types::AgentSpecKind;
use std::future::Future;
use tokio::sync::mpsc;

/// What the pod of `wanted` is made from, `None` when no pod serves its agent here (see
/// [`pod_request`]; a `dockerfile` agent without `dockerfile_agents` configured among them).
/// A `dockerfile` agent's image is built first with the builder `builder` gives; what the
/// build says goes to `wanted.notes` as it comes, as do a request's notes.
pub(crate) async fn agent_request<B>(
    config: &KubeConfig,
    wanted: &AgentWanted,
    builder: B,
) -> Result<Option<AgentRequest>, BackendError>
where
    B: Future<Output = Result<ImageBuilder, BackendError>>,
{
    let agent = &wanted.agent;
    let AgentSpecKind::Dockerfile(dockerfile) = &agent.kind else {
        let noted = pod_request(config, agent, Some(&wanted.workspace))
            .map_err(|d| BackendError::Settings(Box::new(d)))?;
        return Ok(noted.map(|(request, notes)| {
            for note in notes {
                (wanted.notes)(Note::Text(note));
            }
            request
        }));
    };
    let Some(settings) = &config.dockerfile_agents else {
        return Ok(None);
    };
    let builder = builder.await?;
    let (log, mut lines) = mpsc::unbounded_channel();
    let built = dockerfile_request(
        &builder,
        settings,
        (dockerfile, agent.span),
        &wanted.workspace,
        &log,
    );
    let built = forward(built, &mut lines, wanted).await;
    built
        .map(Some)
        .map_err(|e| BackendError::Image(Box::new(e)))
}

/// Runs `work` (an image build writing to `lines`' sender), passing what it says on to
/// `wanted.notes` as it comes.
async fn forward<T>(
    work: impl Future<Output = T>,
    lines: &mut mpsc::UnboundedReceiver<ImageLogLine>,
    wanted: &AgentWanted,
) -> T {
    tokio::pin!(work);
    let out = loop {
        tokio::select! {
            out = &mut work => break out,
            Some(line) = lines.recv() => (wanted.notes)(Note::Image(line)),
        }
    };
    while let Ok(line) = lines.try_recv() {
        (wanted.notes)(Note::Image(line));
    }
    out
}
