//! `kiln import jenkins` (a Jenkins controller into kiln.yaml) and `kiln audit` (kiln's
//! linter over every job's Jenkinsfile, in one report).

use anyhow::Context as _;
use clap::{Args, Subcommand, ValueEnum};
use kiln_engine::{LibraryAccess, PrepareError};
use kiln_import::audit::{AuditReport, JobLint};
use kiln_import::jobs::{JenkinsJob, JobSource};
use kiln_import::{Finding, ImportedJob};
use kiln_library::LibrarySources;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct ImportArgs {
    #[command(subcommand)]
    pub from: ImportFrom,
}

#[derive(Subcommand, Debug)]
pub enum ImportFrom {
    /// Read a Jenkins controller (JCasC file, jobs folder) into a commented kiln.yaml.
    Jenkins(JenkinsArgs),
}

#[derive(Args, Debug)]
pub struct JenkinsArgs {
    /// The controller's Configuration-as-Code file.
    #[arg(long, value_name = "FILE")]
    pub jcasc: Option<PathBuf>,
    /// A copy of `$JENKINS_HOME/jobs` (or of `$JENKINS_HOME`).
    #[arg(long, value_name = "DIR")]
    pub jobs: PathBuf,
    /// Where to write kiln.yaml (inline pipeline scripts go beside it, in `jenkinsfiles/`).
    #[arg(long, value_name = "FILE", default_value = "kiln.yaml")]
    pub out: PathBuf,
    /// Replace an existing file.
    #[arg(long)]
    pub force: bool,
    /// Also lint every job's Jenkinsfile and print the audit report.
    #[arg(long)]
    pub audit: bool,
    #[command(flatten)]
    pub lint: AuditOptions,
}

#[derive(Args, Debug)]
pub struct AuditArgs {
    /// A copy of `$JENKINS_HOME/jobs` (or of `$JENKINS_HOME`).
    #[arg(value_name = "DIR")]
    pub jobs: PathBuf,
    #[command(flatten)]
    pub lint: AuditOptions,
}

#[derive(Args, Debug)]
pub struct AuditOptions {
    /// A local checkout of a job's repository, `JOB=PATH` (the kiln or Jenkins job name;
    /// repeatable). Jobs without one are fetched from their git URL.
    #[arg(long = "checkout", value_name = "JOB=PATH")]
    pub checkouts: Vec<String>,
    /// Do not fetch repositories: jobs without a checkout are reported as not checked.
    #[arg(long)]
    pub offline: bool,
    /// A shared library for `@Library('NAME')`: a directory or a git URL (repeatable; with
    /// `kiln import jenkins`, the imported libraries are known already).
    #[arg(long = "library", value_name = "NAME=PATH_OR_URL")]
    pub libraries: Vec<String>,
    #[arg(long, value_enum, default_value = "human")]
    pub format: AuditFormat,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum AuditFormat {
    Human,
    Json,
}

pub fn import(args: &ImportArgs) -> anyhow::Result<ExitCode> {
    let ImportFrom::Jenkins(args) = &args.from;
    if args.out.exists() && !args.force {
        anyhow::bail!(
            "`{}` exists; give --force to replace it, or another --out",
            args.out.display()
        );
    }
    let controller = match &args.jcasc {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read `{}`", path.display()))?;
            Some(kiln_import::jcasc::read(path, &text)?)
        }
        None => None,
    };
    let (jobs, findings) = kiln_import::jobs::read_dir(&args.jobs)?;
    let imported = kiln_import::import(controller.as_ref(), &jobs, findings);
    let config = check(&args.out, &imported.text)?;
    let base = args.out.parent().unwrap_or(Path::new(""));
    for script in &imported.inline_scripts {
        let path = base.join(&script.path);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create `{}`", dir.display()))?;
        }
        std::fs::write(&path, &script.script)
            .with_context(|| format!("cannot write `{}`", path.display()))?;
    }
    std::fs::write(&args.out, &imported.text)
        .with_context(|| format!("cannot write `{}`", args.out.display()))?;
    report_findings(&imported.findings);
    eprintln!(
        "wrote {} ({} jobs, {} inline Jenkinsfiles)",
        args.out.display(),
        imported.jobs.len(),
        imported.inline_scripts.len()
    );
    if args.audit {
        let libraries = LibrarySources::from_config(&config.libraries);
        print_audit(
            &audit(&imported.jobs, &args.lint, libraries)?,
            args.lint.format,
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

pub fn audit_cmd(args: &AuditArgs) -> anyhow::Result<ExitCode> {
    let (jobs, findings) = kiln_import::jobs::read_dir(&args.jobs)?;
    let imported = kiln_import::import(None, &jobs, findings);
    let libraries = LibrarySources::new();
    print_audit(
        &audit(&imported.jobs, &args.lint, libraries)?,
        args.lint.format,
    )?;
    Ok(ExitCode::SUCCESS)
}

/// The configuration must load as `kiln server` loads it, its Kubernetes section included,
/// before anything is written; a failure here is a bug of the import.
fn check(out: &Path, text: &str) -> anyhow::Result<kiln_config::Config> {
    let bug = "the imported configuration does not load (please report this)";
    let config = kiln_config::parse(&out.display().to_string(), text)
        .map_err(|e| anyhow::anyhow!("{bug}: {e}"))?;
    if let Some(kube) = &config.executors.kubernetes
        && let Err(diagnostics) = kiln_kube::KubeConfig::from_json(kube)
    {
        let messages: Vec<String> = diagnostics.into_iter().map(|d| d.message).collect();
        anyhow::bail!("{bug}: {}", messages.join("; "));
    }
    Ok(config)
}

fn report_findings(findings: &[Finding]) {
    if findings.is_empty() {
        return;
    }
    eprintln!("not imported as it was ({}):", findings.len());
    for f in findings {
        eprintln!("  {f}");
    }
}

fn print_audit(report: &AuditReport, format: AuditFormat) -> anyhow::Result<()> {
    match format {
        AuditFormat::Human => outln!("{}", report.render().trim_end())?,
        AuditFormat::Json => outln!("{}", serde_json::to_string_pretty(report)?)?,
    }
    Ok(())
}

fn audit(
    jobs: &[ImportedJob],
    options: &AuditOptions,
    mut libraries: LibrarySources,
) -> anyhow::Result<AuditReport> {
    for arg in &options.libraries {
        let (name, source) = LibrarySources::parse_arg(arg)?;
        libraries.insert(name, source);
    }
    let mut checkouts = BTreeMap::new();
    for arg in &options.checkouts {
        let (job, path) = arg
            .split_once('=')
            .with_context(|| format!("--checkout `{arg}`: expected JOB=PATH"))?;
        checkouts.insert(job.to_string(), PathBuf::from(path));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let cache = std::sync::Arc::new(kiln_scm::GitCache::new(crate::prepare::cache_dir()));
    let mut lints = Vec::new();
    for job in jobs {
        let checkout = checkouts
            .get(&job.name)
            .or_else(|| checkouts.get(&job.jenkins.path.join("/")));
        let text = match checkout {
            Some(dir) => read_checkout(dir, &job.jenkins.jenkinsfile),
            None => runtime.block_on(jenkinsfile(&cache, &job.jenkins, options.offline)),
        };
        let lint = match text {
            Ok(text) => runtime.block_on(lint(&job.name, text, &libraries, &cache)),
            Err(reason) => JobLint::Unreachable(reason),
        };
        lints.push((job.name.clone(), lint));
    }
    Ok(kiln_import::audit::report(&lints))
}

/// kiln's lint of one Jenkinsfile: the preparation `kiln lint` makes, with the shared
/// libraries it names loaded when their sources are known (`--library`, or the imported
/// `libraries:`).
async fn lint(
    job: &str,
    text: String,
    libraries: &LibrarySources,
    cache: &std::sync::Arc<kiln_scm::GitCache>,
) -> JobLint {
    let loaded = kiln_engine::Loaded::parse(format!("{job}/Jenkinsfile"), text);
    let access = (!libraries.is_empty()).then_some(LibraryAccess {
        sources: libraries,
        cache,
    });
    match kiln_engine::prepare(loaded, access).await {
        Ok(prepared) => JobLint::Linted(prepared.loaded.diagnostics),
        Err(PrepareError::Invalid(loaded)) => JobLint::Linted(loaded.diagnostics),
        Err(other) => JobLint::Unreachable(format!("{:#}", anyhow::Error::from(other))),
    }
}

fn read_checkout(dir: &Path, jenkinsfile: &str) -> Result<String, String> {
    let path = dir.join(jenkinsfile);
    std::fs::read_to_string(&path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))
}

/// A job's Jenkinsfile: its inline script, or the file in its repository (fetched into
/// kiln's git cache) on its branch; for a branch pattern `main`, else `master`.
async fn jenkinsfile(
    cache: &kiln_scm::GitCache,
    job: &JenkinsJob,
    offline: bool,
) -> Result<String, String> {
    let url = match &job.source {
        JobSource::Inline { script } => return Ok(script.clone()),
        JobSource::Git { url, .. } => url,
    };
    if offline {
        return Err("no --checkout given (and --offline)".into());
    }
    let patterned = job.branch.contains(['*', '?', '[']);
    let branches: Vec<&str> = if patterned {
        vec!["main", "master"]
    } else {
        vec![job.branch.as_str()]
    };
    let mut last = String::new();
    for branch in branches {
        match cache.update(url, branch).await {
            Ok(commit) => {
                return cache
                    .read_file(url, &commit, &job.jenkinsfile)
                    .await
                    .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
                    .map_err(|e| format!("{url} {branch}: {e}"));
            }
            Err(e) => last = format!("{url} {branch}: {e}"),
        }
    }
    Err(last)
}
