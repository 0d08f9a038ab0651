//! `kiln run --kubeconfig PATH FILE`: the build runs in a pod of that cluster when its
//! top-level agent is `kubernetes { }`, `docker { }` or, with `--dockerfile-repository`,
//! `dockerfile { }` (its image built with Kaniko in the cluster first unless the registry has
//! it); stages with such an agent of their own get pods of their own from
//! [`crate::kube_agents`]. The local workspace is uploaded into the pod's
//! workspace before the first stage (the agent's `yamlFile` is read from it).
//! `KILN_AGENT_IMAGE`, `KILN_AGENT_INSTALL` (the init container's command) and
//! `KILN_AGENT_PORT` override how the agent gets into the pod; `kanikoBuild` runs in
//! Kaniko pods of the same cluster, with `KILN_KANIKO_IMAGE` and `KILN_KANIKO_SECRET` (a
//! docker config secret of the namespace, for registry credentials).

use anyhow::{Context as _, bail};
use kiln_diagnostics::{RenderOptions, SourceFile, render_all};
use kiln_kube::{
    AgentRequest, KanikoSettings, KubeExecutor, LocalCluster, LocalRunError, LocalRunOptions,
    docker_request, dockerfile_request, upload_workspace,
};
use kiln_model::AgentKind;
use kiln_types::AgentSpecKind;
use std::path::Path;
use std::sync::Arc;

/// Starts the build's pod; errors carry the reason for the user (the pod is deleted again).
pub async fn start(
    kubeconfig: &Path,
    plan: &kiln_plan::Plan,
    source: &SourceFile,
    (job, build): (&str, u64),
    workspace: &Path,
    options: LocalRunOptions,
) -> anyhow::Result<Arc<KubeExecutor>> {
    let agent = &plan.pipeline.agent;
    if !crate::kube_agents::runs_in_a_pod(agent, &options) {
        let hint = if matches!(agent.kind, AgentKind::Dockerfile(_)) {
            " (a `dockerfile` agent runs as a pod with --dockerfile-repository REPO, where kiln pushes the image it builds)"
        } else {
            ""
        };
        bail!(
            "--kubeconfig runs a pipeline's `kubernetes {{ }}`, `docker {{ }}` and `dockerfile {{ }}` agents (top-level or in stages); this one's top-level agent is `{}` and no stage has one{hint}",
            agent.kind.keyword()
        );
    }
    let cluster = LocalCluster::connect(kubeconfig).await?;
    // A top-level agent is read before the build runs: its values are its literals.
    let spec = kiln_plan::agent_spec(agent, &mut |e| e.as_plain_str());
    let started = match &spec.kind {
        AgentSpecKind::Kubernetes(kubernetes) => {
            eprintln!(
                "Starting a build pod in the cluster of {}",
                kubeconfig.display()
            );
            cluster
                .start(kubernetes, spec.span, job, build, options)
                .await
        }
        AgentSpecKind::Docker(docker) => {
            let Some((request, notes)) = docker_request(docker, spec.span) else {
                bail!("--kubeconfig: the docker agent's image must be a plain string here");
            };
            for note in notes {
                eprintln!("{note}");
            }
            eprintln!(
                "Starting a build pod of the docker agent's image in the cluster of {}",
                kubeconfig.display()
            );
            cluster.start_request(&request, job, build, options).await
        }
        AgentSpecKind::Dockerfile(dockerfile) => {
            let request = dockerfile_image(
                &cluster,
                dockerfile,
                spec.span,
                (job, build),
                workspace,
                &options,
            )
            .await?;
            eprintln!(
                "Starting a build pod of the dockerfile agent's image in the cluster of {}",
                kubeconfig.display()
            );
            cluster.start_request(&request, job, build, options).await
        }
        other => bail!("--kubeconfig cannot run a `{}` agent", other.keyword()),
    };
    let executor = match started {
        Ok(executor) => executor,
        Err(LocalRunError::Pod(diagnostics)) => {
            eprint!(
                "{}",
                render_all(&diagnostics, source, RenderOptions { color: false })
            );
            bail!("the pipeline's pod is invalid; nothing was run");
        }
        Err(error) => return Err(error).context("the build pod did not start"),
    };
    eprintln!("Running in pod {}", executor.pod_name());
    let uploaded = match upload_workspace(&executor, workspace).await {
        Ok(n) => n,
        Err(error) => {
            executor.cleanup().await.ok();
            return Err(error).context("cannot upload the workspace into the pod");
        }
    };
    eprintln!("Uploaded {uploaded} workspace files into the pod");
    Ok(Arc::new(executor))
}

/// The top-level dockerfile agent's image, built with Kaniko unless the registry has it
/// (what Kaniko prints goes to stderr as it comes), as a pod request.
async fn dockerfile_image(
    cluster: &LocalCluster,
    agent: &kiln_types::DockerfileSpec,
    span: kiln_diagnostics::Span,
    (job, build): (&str, u64),
    workspace: &Path,
    options: &LocalRunOptions,
) -> anyhow::Result<AgentRequest> {
    let Some(settings) = &options.dockerfile_agents else {
        bail!("--kubeconfig: a dockerfile agent needs --dockerfile-repository");
    };
    let (log, mut lines) = tokio::sync::mpsc::unbounded_channel();
    let printing = tokio::spawn(async move {
        while let Some(line) = lines.recv().await {
            eprintln!("{}", kiln_engine::LogMessage::image(line, None).text);
        }
    });
    let builder = cluster.image_builder(job, build, options);
    let built = dockerfile_request(&builder, settings, (agent, span), workspace, &log).await;
    drop((log, builder));
    printing.await.ok();
    built.map_err(anyhow::Error::msg)
}

/// Kaniko settings for `kanikoBuild` and dockerfile agents: the defaults,
/// `KILN_KANIKO_IMAGE`, `KILN_KANIKO_EXECUTOR` (the executor's path in the image) and
/// `KILN_KANIKO_SECRET`.
pub(crate) fn kaniko_settings() -> KanikoSettings {
    let mut kaniko = KanikoSettings::default();
    if let Ok(image) = std::env::var("KILN_KANIKO_IMAGE") {
        kaniko.image = image;
    }
    if let Ok(executor) = std::env::var("KILN_KANIKO_EXECUTOR") {
        kaniko.executor = executor;
    }
    kaniko.docker_config_secret = std::env::var("KILN_KANIKO_SECRET").ok();
    kaniko
}
