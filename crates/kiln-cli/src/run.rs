//! `kiln run FILE`: run a pipeline on this machine with the local executor.

use crate::cli::RunArgs;
use crate::load::{counts, use_color};
use crate::prepare::Checked;
use crate::run_output::Printer;
use anyhow::{Context as _, bail};
use kiln_backend::{ExecutionBackend, Lease, LocalBackend};
use kiln_engine::{
    AgentProvider, BackendAgents, BuildCause, BuildSpec, CredentialStore, NoCredentials, ScmInfo,
};
use kiln_executor::Executor;
use kiln_types::AgentSpecKind;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let color = use_color(args.color, &std::io::stdout());
    let stderr_color = use_color(args.color, &std::io::stderr());
    let mut prepared = match crate::prepare::prepare(&args.file, &args.libraries, true)? {
        Checked::Ready(prepared) => prepared,
        Checked::Invalid(loaded) => {
            eprint!("{}", loaded.render(stderr_color));
            eprintln!(
                "error: `{}` is not a valid pipeline ({}); nothing was run",
                args.file.display(),
                counts(loaded.errors(), loaded.warnings())
            );
            return Ok(ExitCode::from(1));
        }
    };
    prepared.scripts.limits.total_time = args.script_time_limit.map(std::time::Duration::from_secs);
    eprint!("{}", prepared.render_warnings(stderr_color));
    let given = parse_params(&args.params)?;
    if let Err(problems) = kiln_engine::resolve_params(&prepared.pipeline, &given) {
        for p in problems {
            eprintln!("error: {p}");
        }
        return Ok(ExitCode::from(2));
    }
    let workspace = match &args.workspace {
        Some(w) => w.clone(),
        None => std::env::current_dir().context("cannot read the current directory")?,
    };
    let workspace = workspace
        .canonicalize()
        .with_context(|| format!("workspace `{}` does not exist", workspace.display()))?;
    let credentials: Arc<dyn CredentialStore> = match &args.credentials {
        Some(path) => Arc::new(crate::credentials::load(path)?),
        None => Arc::new(NoCredentials),
    };
    let (services, credentials) = crate::run_services::services(&args, credentials)?;
    let job_name = workspace
        .file_name()
        .map_or("kiln".into(), |n| n.to_string_lossy().into_owned());
    let coordinator = crate::local_coordinator::LocalCoordinator::new(
        kiln_scheduler::LockTable::default(),
        kiln_engine::BuildId {
            job: job_name.clone(),
            number: args.build_number,
        },
        args.server.clone(),
    );
    let spec = BuildSpec {
        job_name,
        number: args.build_number,
        params: given,
        // In a pod the container's own environment is the base, not this machine's.
        base_env: if args.kubeconfig.is_some() {
            BTreeMap::new()
        } else {
            std::env::vars().collect()
        },
        scm: local_scm(&workspace),
        build_dir: workspace
            .join(".kiln")
            .join("builds")
            .join(args.build_number.to_string()),
        cause: BuildCause::User(std::env::var("USER").unwrap_or_else(|_| "local".into())),
        credentials,
        input: Arc::new(crate::input::TerminalInput {
            assume_yes: args.yes,
        }),
        previous_result: None,
        agents: None,
        services: Arc::new(services),
        coordinator: Arc::new(coordinator),
        workspace_is_checkout: true,
    };
    let plan = prepared.plan();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let target = match &args.kubeconfig {
        Some(path) => Target::Kube(
            path.clone(),
            prepared.loaded.source.clone(),
            dockerfile_agents(&args)?,
        ),
        None => Target::Local,
    };
    let summary = match runtime.block_on(execute(
        plan,
        (prepared.scripted, prepared.scripts),
        spec,
        workspace,
        target,
        color,
    )) {
        Ok(result) => result,
        Err(error) => {
            eprintln!("error: {error:#}");
            return Ok(ExitCode::from(1));
        }
    };
    Ok(if summary == kiln_engine::BuildResult::Success {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Where the build runs: here, or in a pod of a kubeconfig's cluster (with where its
/// dockerfile agents' images go).
enum Target {
    Local,
    Kube(
        PathBuf,
        kiln_diagnostics::SourceFile,
        Option<kiln_kube::DockerfileAgents>,
    ),
}

/// `--dockerfile-repository`, `--dockerfile-insecure` and `--dockerfile-cache`, checked.
fn dockerfile_agents(args: &RunArgs) -> anyhow::Result<Option<kiln_kube::DockerfileAgents>> {
    let Some(repository) = &args.dockerfile_repository else {
        return Ok(None);
    };
    let agents = kiln_kube::DockerfileAgents {
        repository: repository.clone(),
        insecure: args.dockerfile_insecure,
        cache: args.dockerfile_cache,
    };
    if let Err(message) = agents.check() {
        bail!("--dockerfile-repository: {message}");
    }
    Ok(Some(agents))
}

async fn execute(
    plan: kiln_plan::Plan,
    (scripted, scripts): (Option<Arc<kiln_model::Scripted>>, kiln_engine::BuildScripts),
    mut spec: BuildSpec,
    workspace: PathBuf,
    target: Target,
    color: bool,
) -> anyhow::Result<kiln_engine::BuildResult> {
    let (executor, pod) = match &target {
        Target::Local => (local_executor(workspace), None),
        Target::Kube(path, source, dockerfile) => {
            let options = crate::kube_run::run_options(&workspace, dockerfile.clone())?;
            let backend: Arc<dyn ExecutionBackend> =
                Arc::new(kiln_kube::KubeBackend::for_laptop(path, options).await?);
            let (executor, pod) = kube_executor(
                &backend,
                &plan,
                scripted.is_some(),
                &mut spec,
                source,
                workspace,
            )
            .await?;
            (executor, pod.map(|pod| (backend, pod)))
        }
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let cancel = CancellationToken::new();
    let ctrl_c = {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("\nAborted by user: stopping the build (running posts first)");
                cancel.cancel();
            }
        })
    };
    let mut printer = Printer::new(&plan, color);
    let printing = tokio::spawn(async move {
        while let Some(event) = rx.recv().await {
            printer.event(&event);
        }
        printer
    });
    let build_dir = spec.build_dir.clone();
    let summary = kiln_engine::BuildRun::new(&plan, spec, executor)
        .scripted(scripted.as_deref())
        .scripts(scripts)
        .run(tx, cancel)
        .await;
    ctrl_c.abort();
    if let Ok(printer) = printing.await {
        printer.summary(&summary, &build_dir);
    }
    if let Some((backend, pod)) = pod
        && let Err(error) = backend.release(pod, summary.result).await
    {
        eprintln!("warning: the build pod was not deleted: {error}");
    }
    Ok(summary.result)
}

/// The build's executor on this machine.
fn local_executor(workspace: PathBuf) -> Arc<dyn Executor> {
    Arc::new(LocalBackend::default().executor(workspace))
}

/// Where a `--kubeconfig` build runs: stages whose own agent runs as a pod get pods of their
/// own; the rest of the build runs in the top-level agent's pod, or here when it has none.
async fn kube_executor(
    backend: &Arc<dyn ExecutionBackend>,
    plan: &kiln_plan::Plan,
    scripted: bool,
    spec: &mut BuildSpec,
    source: &kiln_diagnostics::SourceFile,
    workspace: PathBuf,
) -> anyhow::Result<(Arc<dyn Executor>, Option<Lease>)> {
    // Agents are read before the build runs: their values are their literals.
    let spec_of =
        |agent: &kiln_model::Agent| kiln_plan::agent_spec(agent, &mut |e| e.as_plain_str());
    let top = spec_of(&plan.pipeline.agent);
    let top_pod = backend.serves(&top);
    let stage_pods = (plan.nodes.iter()).any(|n| {
        n.agent
            .as_ref()
            .is_some_and(|a| backend.serves(&spec_of(a)))
    });
    if !top_pod && !stage_pods && !scripted {
        let hint = if matches!(top.kind, AgentSpecKind::Dockerfile(_)) {
            " (a `dockerfile` agent runs as a pod with --dockerfile-repository REPO, where kiln pushes the image it builds)"
        } else {
            ""
        };
        bail!(
            "--kubeconfig runs a pipeline's `kubernetes {{ }}`, `docker {{ }}` and `dockerfile {{ }}` agents (top-level or in stages); this one's top-level agent is `{}` and no stage has one{hint}",
            top.kind.keyword()
        );
    }
    let agents =
        (stage_pods || scripted).then(|| BackendAgents::new(backend.clone(), workspace.clone()));
    if !top_pod {
        spec.agents = agents.map(|a| Arc::new(a) as Arc<dyn AgentProvider>);
        return Ok((local_executor(workspace), None));
    }
    let build = (spec.job_name.as_str(), spec.number);
    let pod = crate::kube_run::start(backend, top, source, build, &workspace).await?;
    spec.agents = agents.map(|a| Arc::new(a.within(pod.handle())) as Arc<dyn AgentProvider>);
    Ok((pod.executor(), Some(pod)))
}

/// `-p NAME=VALUE` pairs.
pub(crate) fn parse_params(raw: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for p in raw {
        let Some((k, v)) = p.split_once('=') else {
            bail!("invalid parameter `{p}`: expected NAME=VALUE");
        };
        if k.is_empty() {
            bail!("invalid parameter `{p}`: the name is empty");
        }
        out.insert(k.to_string(), v.to_string());
    }
    Ok(out)
}

/// The workspace's git commit and branch, when it is a git checkout.
fn local_scm(workspace: &Path) -> Option<ScmInfo> {
    let git = |args: &[&str]| -> Option<String> {
        let out = std::process::Command::new("git")
            .args(args)
            .current_dir(workspace)
            .stderr(std::process::Stdio::null())
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
            .filter(|s| !s.is_empty())
    };
    let commit = git(&["rev-parse", "HEAD"])?;
    let branch = git(&["symbolic-ref", "--short", "HEAD"]);
    let tag = git(&["describe", "--tags", "--exact-match", "HEAD"]);
    Some(ScmInfo {
        url: workspace.display().to_string(),
        commit,
        branch,
        tag,
        change: BTreeMap::new(),
        merge: None,
    })
}
