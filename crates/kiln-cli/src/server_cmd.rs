//! `kiln server`: the configuration (a file or the embedded defaults), the store, the
//! scheduler and the HTTP server; reloads on SIGHUP, on file change and on the admin API's
//! request; stops gracefully on SIGTERM or Ctrl-C.

use crate::cli::ServerArgs;
use anyhow::Context as _;
use kiln_backend::ExecutionBackend;
use kiln_config::Config;
use kiln_diagnostics::RenderOptions;
use kiln_kube::{KubeAgent, KubeBackend};
use kiln_scheduler::{Clock, ManualClock, Scheduler, SystemClock};
use kiln_server::{AppState, ServeLimits, Settings};
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// How often the configuration file's modification time is checked.
const POLL: Duration = Duration::from_secs(2);

pub fn server(args: ServerArgs) -> anyhow::Result<ExitCode> {
    // Before any thread starts: this may run the process again.
    crate::malloc_tuning::fixed_mmap_threshold();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(run(args))
}

async fn run(args: ServerArgs) -> anyhow::Result<ExitCode> {
    let mut config = match read_config(&args) {
        Ok(config) => config,
        Err(message) => {
            eprint!("{message}");
            return Ok(ExitCode::from(1));
        }
    };
    let data_dir = config.server.data_dir.clone();
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("cannot create the data directory {}", data_dir.display()))?;
    // The store's errors name its directory or database and what to do (in use, damaged).
    let store = crate::store_open::open_store(&config)?;
    let listener = kiln_server::bind(config.server.listen, config.loopback_only()).await?;
    let local = listener
        .local_addr()
        .context("cannot read the listening address")?;
    let settings = Settings::from_config(&config, local)?;
    // The address really bound (port 0 picks one): builds hand out links with it.
    config.server.listen = local;
    let config = Arc::new(config);
    let manual_clock = manual_clock();
    let clock: Arc<dyn Clock> = match &manual_clock {
        Some(c) => c.clone(),
        None => Arc::new(SystemClock),
    };
    let sandbox = crate::local_sandbox::local_sandbox(&config, args.config.as_deref(), &data_dir);
    let scheduler = Scheduler::start_sandboxed(
        config.clone(),
        store.clone(),
        data_dir.clone(),
        clock,
        kube_backend(&config, &data_dir)?,
        sandbox,
    )
    .context("cannot start the scheduler")?;
    let mut state = AppState::new(store, scheduler.clone(), settings, data_dir.clone());
    if let Some(c) = manual_clock {
        state = state.with_manual_clock(c);
    }
    println!(
        "kiln: listening on http://{local} (data in {})",
        data_dir.display()
    );
    let _ = std::io::stdout().flush();
    if config.jobs.is_empty() {
        println!("kiln: no jobs configured; start with `kiln server --config examples/kiln.yaml`");
    }
    let limits = ServeLimits::from_config(&config.server.limits);
    let reloader = tokio::spawn(reload_loop(args, state.clone(), local));
    kiln_server::serve(listener, state, limits, shutdown_signal()).await?;
    reloader.abort();
    tracing::info!("stopping the scheduler");
    scheduler.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

/// `KILN_MANUAL_CLOCK=1` (for end-to-end tests of cron triggers): the scheduler's clock starts
/// at the system time and then only moves through `POST /api/v1/admin/clock`.
fn manual_clock() -> Option<Arc<ManualClock>> {
    if std::env::var("KILN_MANUAL_CLOCK").ok().as_deref() != Some("1") {
        return None;
    }
    tracing::warn!(
        "KILN_MANUAL_CLOCK=1: the scheduler's clock moves only through POST /api/v1/admin/clock"
    );
    Some(Arc::new(ManualClock::new(SystemClock.now_ms())))
}

/// The Kubernetes backend of `executors.kubernetes`, if configured (a bad section, or a busy
/// `agent_listen` address, refuses the start).
fn kube_backend(
    config: &Config,
    data_dir: &std::path::Path,
) -> anyhow::Result<Option<Arc<dyn ExecutionBackend>>> {
    let Some(section) = &config.executors.kubernetes else {
        return Ok(None);
    };
    let backend = KubeBackend::for_server(section, kube_agent()?, data_dir)
        .context("cannot start the scheduler")?;
    Ok(Some(Arc::new(backend)))
}

/// How build pods get the kiln agent: the defaults, or (for tests of a fake cluster whose
/// containers are local processes) `KILN_AGENT_INSTALL`, the init container's command as
/// for `kiln run --kubeconfig`, and `KILN_AGENT_PORT`, the first agent's port in a pod.
fn kube_agent() -> anyhow::Result<KubeAgent> {
    let mut agent = KubeAgent::default();
    if let Ok(command) = std::env::var("KILN_AGENT_INSTALL") {
        agent.install_command = Some(command.split_whitespace().map(str::to_owned).collect());
    }
    if let Ok(port) = std::env::var("KILN_AGENT_PORT") {
        agent.base_port = port
            .parse()
            .with_context(|| format!("KILN_AGENT_PORT `{port}` is not a port number"))?;
    }
    Ok(agent)
}

/// The configuration with the command line's overrides, or the rendered reason it is unusable.
pub(crate) fn read_config(args: &ServerArgs) -> Result<Config, String> {
    let mut config = match &args.config {
        Some(path) => {
            let config =
                kiln_config::load(path).map_err(|e| e.render(RenderOptions { color: false }))?;
            if config.executors.kubernetes.is_some() {
                check_kubernetes_section(path)?;
            }
            config
        }
        None => Config::default(),
    };
    for warning in &config.warnings {
        eprintln!("{}", warning.trim_end());
    }
    if let Some(listen) = args.listen {
        config.server.listen = listen;
    }
    if let Some(dir) = &args.data_dir {
        config.server.data_dir = dir.clone();
    }
    // Workspaces, mirrors and the store live under it; processes run in other directories.
    if let Ok(absolute) = std::path::absolute(&config.server.data_dir) {
        config.server.data_dir = absolute;
    }
    if config.loopback_only() && !config.server.listen.ip().is_loopback() {
        return Err(format!(
            "error: refusing to listen on {}: no API tokens are configured, so kiln serves \
             loopback only; add `server.tokens` to the configuration or listen on 127.0.0.1\n",
            config.server.listen
        ));
    }
    Ok(config)
}

/// `executors.kubernetes` checked where it is written, so a mistake is shown at its line of
/// the file (the scheduler checks the section again, without positions).
fn check_kubernetes_section(path: &Path) -> Result<(), String> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(());
    };
    let Ok(tree) = kiln_yaml::parse_tree(&text) else {
        return Ok(());
    };
    let Some(section) = tree.get("executors").and_then(|e| e.get("kubernetes")) else {
        return Ok(());
    };
    let diagnostics = match kiln_kube::KubeConfig::from_node(section, &text) {
        Ok(_) => return Ok(()),
        Err(diagnostics) => diagnostics,
    };
    let file = kiln_diagnostics::SourceFile::new(path.display().to_string(), text);
    Err(kiln_diagnostics::render_all(
        &diagnostics,
        &file,
        RenderOptions { color: false },
    ))
}

/// Reloads on SIGHUP, on a change of the file's modification time and on the admin API's
/// request. A bad file is reported and the configuration in force is kept.
async fn reload_loop(args: ServerArgs, state: AppState, local: SocketAddr) {
    let mut hangup = hangup_signal();
    let mut seen = args.config.as_deref().and_then(modified);
    let mut tick = tokio::time::interval(POLL);
    loop {
        let why = tokio::select! {
            _ = recv(&mut hangup) => "SIGHUP",
            () = state.reload_requested() => "the admin API",
            _ = tick.tick() => {
                let now = args.config.as_deref().and_then(modified);
                if now == seen { continue; }
                seen = now;
                "a change of the file"
            }
        };
        if args.config.is_none() {
            tracing::warn!(
                trigger = why,
                "no configuration file to reload (running on the embedded defaults)"
            );
            continue;
        }
        reload(&args, &state, local, why).await;
    }
}

async fn reload(args: &ServerArgs, state: &AppState, local: SocketAddr, why: &str) {
    let config = match read_config(args) {
        Ok(c) => c,
        Err(message) => {
            eprint!("{message}");
            tracing::error!(
                trigger = why,
                "configuration not reloaded: the file has errors (see above); keeping the one in force"
            );
            return;
        }
    };
    if config.server.listen != local && args.listen.is_none() && local.port() != 0 {
        tracing::warn!("`server.listen` changed: it takes effect at the next restart");
    }
    let settings = match Settings::from_config(&config, local) {
        Ok(s) => s,
        Err(err) => {
            tracing::error!(error = %format!("{:#}", anyhow::Error::new(err)), "configuration not reloaded");
            return;
        }
    };
    let mut config = config;
    config.server.listen = local;
    state.scheduler().reload(Arc::new(config)).await;
    state.set_settings(settings);
    tracing::info!(trigger = why, "configuration reloaded");
    eprintln!("kiln: configuration reloaded ({why})");
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

#[cfg(unix)]
fn hangup_signal() -> Option<tokio::signal::unix::Signal> {
    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok()
}

#[cfg(unix)]
async fn recv(signal: &mut Option<tokio::signal::unix::Signal>) -> Option<()> {
    match signal {
        Some(s) => s.recv().await,
        None => std::future::pending().await,
    }
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
    eprintln!("kiln: shutting down");
}
