use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// kiln: a native CI server for Jenkinsfile-style pipelines.
#[derive(Parser, Debug)]
#[command(name = "kiln", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Check pipelines and report every problem (exit 1 if any has errors).
    Lint(LintArgs),
    /// Show the stage graph a pipeline runs.
    Plan(PlanArgs),
    /// Run a pipeline on this machine, with the current directory as the workspace.
    Run(RunArgs),
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum LintFormat {
    Human,
    Json,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum PlanFormat {
    Tree,
    Dot,
    Json,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Args, Debug)]
pub struct LintArgs {
    /// Jenkinsfiles to check.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    #[arg(long, value_enum, default_value = "human")]
    pub format: LintFormat,
    /// Treat warnings as errors.
    #[arg(long)]
    pub deny_warnings: bool,
    #[arg(long, value_enum, default_value = "auto")]
    pub color: ColorChoice,
}

#[derive(Args, Debug)]
pub struct PlanArgs {
    /// The Jenkinsfile.
    #[arg(value_name = "FILE", default_value = "Jenkinsfile")]
    pub file: PathBuf,
    #[arg(long, value_enum, default_value = "tree")]
    pub format: PlanFormat,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// The Jenkinsfile.
    #[arg(value_name = "FILE", default_value = "Jenkinsfile")]
    pub file: PathBuf,
    /// A build parameter, `NAME=VALUE` (repeatable).
    #[arg(short = 'p', long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// The workspace directory (default: the current directory).
    #[arg(long, value_name = "DIR")]
    pub workspace: Option<PathBuf>,
    /// A YAML file of credentials for `credentials()` and `withCredentials`.
    #[arg(long, value_name = "FILE", env = "KILN_CREDENTIALS")]
    pub credentials: Option<PathBuf>,
    /// Approve every `input` without asking.
    #[arg(long)]
    pub yes: bool,
    /// The build number (`BUILD_NUMBER`).
    #[arg(long, default_value_t = 1)]
    pub build_number: u64,
    #[arg(long, value_enum, default_value = "auto")]
    pub color: ColorChoice,
}
