//! `kiln run FILE`: run a pipeline on this machine with the local executor.

use crate::cli::RunArgs;
use crate::load::{counts, use_color};
use crate::prepare::Checked;
use crate::run_output::Printer;
use anyhow::{Context as _, bail};
use kiln_engine::{BuildCause, BuildSpec, CredentialStore, NoCredentials, ScmInfo};
use kiln_executor::LocalExecutor;
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
    let (executor, pod): (Arc<dyn kiln_executor::Executor>, _) = match &target {
        Target::Local => (Arc::new(LocalExecutor::new(workspace)), None),
        // Stages with a `kubernetes { }` or `docker { }` agent get pods of their own; the rest
        // of the build runs in the top-level agent's pod, or here when it has none.
        Target::Kube(path, source, dockerfile) => {
            let options = crate::kube_agents::run_options(&workspace, dockerfile.clone())?;
            if crate::kube_agents::has_stage_pods(&plan, &options) || scripted.is_some() {
                let provider = crate::kube_agents::provider(path, &workspace, options.clone());
                spec.agents = Some(provider.await?);
            }
            let top_pod = crate::kube_agents::runs_in_a_pod(&plan.pipeline.agent, &options);
            if spec.agents.is_some() && !top_pod {
                (Arc::new(LocalExecutor::new(workspace)), None)
            } else {
                let pod = crate::kube_run::start(
                    path,
                    &plan,
                    source,
                    (&spec.job_name, spec.number),
                    &workspace,
                    options,
                )
                .await?;
                (pod.clone(), Some(pod))
            }
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
    if let Some(pod) = pod {
        if let Err(error) = pod.cleanup().await {
            eprintln!("warning: the build pod was not deleted: {error}");
        }
    }
    Ok(summary.result)
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
    })
}
