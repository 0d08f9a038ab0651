//! The `kiln` binary: `kiln lint`, `kiln plan` and `kiln run` for Jenkinsfile-style pipelines,
//! `kiln server`, and the client commands against a server (`jobs`, `trigger`, `builds`, `logs`,
//! `cancel`, `approve`).
//!
//! Exit codes: 0 success, 1 failure (invalid pipeline or configuration, failed build), 2 usage
//! errors and unreachable servers.

#[macro_use]
mod output;

mod cli;
mod client;
mod credentials;
mod follow;
mod import_cmd;
mod input;
mod kube_run;
mod lint;
mod load;
mod local_coordinator;
mod local_sandbox;
mod malloc_tuning;
mod plan_cmd;
mod prepare;
mod remote_build;
mod remote_list;
mod run;
mod run_output;
mod run_services;
mod server_cmd;
mod sse;
mod store_cmd;
mod store_dump;
mod store_open;

use clap::Parser;
use cli::{Cli, Command};
use std::process::ExitCode;

fn main() -> ExitCode {
    // The sandbox launcher of local build processes (`kiln server`): not a user command.
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args
        .get(1)
        .is_some_and(|a| a == kiln_executor::sandbox::SANDBOX_COMMAND)
    {
        let error = kiln_executor::sandbox::launch(args.get(2..).unwrap_or_default());
        return kiln_executor::sandbox::fail(&error);
    }
    let cli = Cli::parse();
    init_tracing();
    let result = match cli.command {
        Command::Lint(args) => lint::lint(&args),
        Command::Plan(args) => plan_cmd::plan(&args),
        Command::Run(args) => run::run(*args),
        Command::Server(args) => server_cmd::server(args),
        Command::Jobs(args) => remote_list::jobs(&args),
        Command::Builds(args) => remote_list::builds(&args),
        Command::Trigger(args) => remote_build::trigger(&args),
        Command::Logs(args) => remote_build::logs(&args),
        Command::Cancel(args) => remote_build::cancel(&args),
        Command::Approve(args) => remote_build::approve(&args),
        Command::Import(args) => import_cmd::import(&args),
        Command::Audit(args) => import_cmd::audit_cmd(&args),
        Command::Store(command) => store_cmd::store(command),
    };
    match result {
        Ok(code) => code,
        // `kiln ... | head`: the reader has what it wanted.
        Err(err) if output::closed(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}

/// kiln's own diagnostics go to stderr, filtered by `KILN_LOG` (default: warnings).
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("KILN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
}
