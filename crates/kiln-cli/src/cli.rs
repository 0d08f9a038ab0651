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
    Run(Box<RunArgs>),
    /// Start the kiln server (embedded defaults without --config).
    Server(ServerArgs),
    /// List the server's jobs with their last build.
    Jobs(ClientArgs),
    /// Start a build of a job on the server.
    Trigger(TriggerArgs),
    /// List builds of a job (or the last build of every job).
    Builds(BuildsArgs),
    /// Print a build's log (`-f` follows it live).
    Logs(LogsArgs),
    /// Cancel a queued or running build.
    Cancel(BuildArgs),
    /// Approve (or `--abort`) a build waiting at an `input` step.
    Approve(ApproveArgs),
    /// Import another CI's configuration into kiln.yaml.
    Import(crate::import_cmd::ImportArgs),
    /// Lint every job of a Jenkins jobs folder and report what kiln lacks.
    Audit(crate::import_cmd::AuditArgs),
    /// Copy the server's store to a file, or a file into an empty store (sled <-> PostgreSQL).
    #[command(subcommand)]
    Store(StoreCommand),
}

/// `kiln store`: the store the configuration selects (`store:`, else sled in the data
/// directory). Stop the server first: a store that changes while it is exported is refused.
#[derive(Subcommand, Debug)]
pub enum StoreCommand {
    /// Write every job, build, log and log event of the store to FILE.
    Export(StoreFileArgs),
    /// Read FILE (written by `kiln store export`) into the store, which must be empty.
    Import(StoreFileArgs),
}

#[derive(Args, Debug)]
pub struct StoreFileArgs {
    /// The dump file.
    pub file: PathBuf,
    /// The server's configuration file; without it, the embedded defaults (sled).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The server's data directory instead of `server.data_dir` (where sled keeps the store).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
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
    /// Treat steps kiln does not provide as errors (by default a warning: the build fails
    /// when it reaches such a step).
    #[arg(long)]
    pub strict: bool,
    #[arg(long, value_enum, default_value = "auto")]
    pub color: ColorChoice,
    /// A shared library for `@Library('NAME')`: a directory or a git URL (repeatable).
    #[arg(long = "library", value_name = "NAME=PATH_OR_URL")]
    pub libraries: Vec<String>,
}

#[derive(Args, Debug)]
pub struct PlanArgs {
    /// The Jenkinsfile.
    #[arg(value_name = "FILE", default_value = "Jenkinsfile")]
    pub file: PathBuf,
    #[arg(long, value_enum, default_value = "tree")]
    pub format: PlanFormat,
    /// A shared library for `@Library('NAME')`: a directory or a git URL (repeatable).
    #[arg(long = "library", value_name = "NAME=PATH_OR_URL")]
    pub libraries: Vec<String>,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// The Jenkinsfile.
    #[arg(value_name = "FILE", default_value = "Jenkinsfile")]
    pub file: PathBuf,
    /// A build parameter, `NAME=VALUE` (repeatable).
    #[arg(short = 'p', long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// A shared library for `@Library('NAME')`: a directory or a git URL (repeatable).
    #[arg(long = "library", value_name = "NAME=PATH_OR_URL")]
    pub libraries: Vec<String>,
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
    /// Stop a script (`script { }` block or scripted pipeline) that runs longer than this
    /// many seconds, the steps it calls included (default: no limit, as in Jenkins)
    #[arg(long, value_name = "SECS")]
    pub script_time_limit: Option<u64>,
    /// A kiln server on which `build job: ...` steps start their jobs (with `KILN_TOKEN`);
    /// without it, such steps fail.
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    #[arg(long, value_enum, default_value = "auto")]
    pub color: ColorChoice,
    /// Run the pipeline's `kubernetes` agent in the cluster of this kubeconfig (its current
    /// context); `KILN_AGENT_IMAGE` / `KILN_AGENT_INSTALL` override how the agent gets in.
    #[arg(long, value_name = "PATH", env = "KILN_KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    /// With --kubeconfig: build `dockerfile` agents' images with Kaniko in the cluster and
    /// push them to this repository (`HOST[:PORT]/PATH`), then run those agents as pods of
    /// them; without it they run where the build runs.
    #[arg(long, value_name = "REPO", env = "KILN_DOCKERFILE_REPOSITORY")]
    pub dockerfile_repository: Option<String>,
    /// The --dockerfile-repository registry speaks plain HTTP.
    #[arg(long, requires = "dockerfile_repository")]
    pub dockerfile_insecure: bool,
    /// Kaniko caches the dockerfile agents' layers in REPO/cache.
    #[arg(long, requires = "dockerfile_repository")]
    pub dockerfile_cache: bool,
    /// A kiln.yaml whose `mail`, `slack`, `sonarqube` and `vault` settings the steps use
    /// (with its `credentials`, after those of --credentials).
    #[arg(long, value_name = "FILE", env = "KILN_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub smtp: SmtpArgs,
}

/// The SMTP server of `mail` and `emailext` for `kiln run` (over kiln.yaml's `mail:`).
#[derive(Args, Debug)]
pub struct SmtpArgs {
    /// The SMTP server's host name.
    #[arg(long, value_name = "HOST", env = "KILN_SMTP_HOST")]
    pub smtp_host: Option<String>,
    /// Its port (default: 25, 587 with starttls, 465 with tls).
    #[arg(long, value_name = "PORT", env = "KILN_SMTP_PORT")]
    pub smtp_port: Option<u16>,
    /// The sender when a step gives no `from:`.
    #[arg(long, value_name = "ADDRESS", env = "KILN_SMTP_FROM")]
    pub smtp_from: Option<String>,
    /// `none`, `starttls` or `tls`.
    #[arg(
        long,
        value_name = "MODE",
        env = "KILN_SMTP_TLS",
        default_value = "none"
    )]
    pub smtp_tls: String,
    /// A username/password credential (of --credentials) for SMTP AUTH.
    #[arg(long, value_name = "ID", env = "KILN_SMTP_CREDENTIAL")]
    pub smtp_credential: Option<String>,
}

#[derive(Args, Debug)]
pub struct ServerArgs {
    /// The configuration file (YAML); without it, the embedded defaults.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Listen on this address instead of `server.listen` (port 0 picks a free port).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<std::net::SocketAddr>,
    /// Keep state here instead of `server.data_dir`.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum OutputFormat {
    Human,
    Json,
}

/// How client commands reach the server. The token comes from `KILN_TOKEN` only, so it never
/// shows in process listings.
#[derive(Args, Debug, Clone)]
pub struct ClientArgs {
    /// The server's URL.
    #[arg(
        long,
        value_name = "URL",
        env = "KILN_SERVER",
        default_value = "http://127.0.0.1:8080"
    )]
    pub server: String,
    #[arg(long, value_enum, default_value = "human")]
    pub output: OutputFormat,
}

#[derive(Args, Debug)]
pub struct TriggerArgs {
    /// The job to build.
    pub job: String,
    /// A build parameter, `NAME=VALUE` (repeatable).
    #[arg(short = 'p', long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// The branch to build (for jobs whose branch is a pattern).
    #[arg(long)]
    pub branch: Option<String>,
    /// Stream the log and exit with the build's result (0 only for SUCCESS).
    #[arg(short = 'f', long)]
    pub follow: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Args, Debug)]
pub struct BuildsArgs {
    /// The job; without it, the last build of every job.
    pub job: Option<String>,
    /// How many builds to show (at most 100).
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Args, Debug)]
pub struct LogsArgs {
    /// The build, `JOB#N`.
    #[arg(value_name = "JOB#N")]
    pub build: String,
    /// Follow the log live and exit with the build's result (0 only for SUCCESS).
    #[arg(short = 'f', long)]
    pub follow: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Args, Debug)]
pub struct BuildArgs {
    /// The build, `JOB#N`.
    #[arg(value_name = "JOB#N")]
    pub build: String,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Args, Debug)]
pub struct ApproveArgs {
    /// The build, `JOB#N`.
    #[arg(value_name = "JOB#N")]
    pub build: String,
    /// Abort the build instead of approving.
    #[arg(long)]
    pub abort: bool,
    /// A value for the input's parameters, `NAME=VALUE` (repeatable).
    #[arg(short = 'p', long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    #[command(flatten)]
    pub client: ClientArgs,
}
