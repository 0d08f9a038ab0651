//! The `kiln` binary: `kiln lint`, `kiln plan` and `kiln run` for Jenkinsfile-style pipelines.
//!
//! Exit codes: 0 success, 1 failure (invalid pipeline, failed build), 2 usage errors.

mod cli;
mod credentials;
mod input;
mod lint;
mod load;
mod plan_cmd;
mod run;
mod run_output;

use clap::Parser;
use cli::{Cli, Command};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let result = match cli.command {
        Command::Lint(args) => lint::lint(&args),
        Command::Plan(args) => plan_cmd::plan(&args),
        Command::Run(args) => run::run(args),
    };
    match result {
        Ok(code) => code,
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
        .with_target(false)
        .init();
}
