//! Runs a Jenkinsfile through load -> plan -> `BuildRun` and keeps what came out.

#![expect(
    clippy::expect_used,
    reason = "test support: a failed setup should stop the test"
)]

use async_trait::async_trait;
use kiln_engine::{
    BuildCause, BuildEvent, BuildResult, BuildSpec, BuildSummary, Credential, CredentialStore,
    InputAnswer, InputHandler, InputRequest, StageOutcome,
};
use kiln_executor::LocalExecutor;
use kiln_model::Document;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

/// What a test can change before the build starts.
pub struct Setup {
    pub spec: BuildSpec,
    pub cancel: CancellationToken,
    pub dir: tempfile::TempDir,
}

impl Setup {
    pub fn workspace(&self) -> PathBuf {
        self.dir.path().join("ws")
    }
}

/// A finished build.
pub struct Run {
    pub summary: BuildSummary,
    pub events: Vec<BuildEvent>,
    pub dir: tempfile::TempDir,
}

impl Run {
    pub fn result(&self) -> BuildResult {
        self.summary.result
    }

    /// Every log line, in order.
    pub fn log(&self) -> Vec<String> {
        self.events
            .iter()
            .flat_map(|e| match e {
                BuildEvent::Log { line, .. } => vec![line.clone()],
                BuildEvent::Output { lines, .. } => lines.lines().map(str::to_owned).collect(),
                _ => Vec::new(),
            })
            .collect()
    }

    pub fn has_line(&self, line: &str) -> bool {
        self.log().iter().any(|l| l == line)
    }

    /// Position of the first log line equal to `line`.
    pub fn line_index(&self, line: &str) -> usize {
        self.log()
            .iter()
            .position(|l| l == line)
            .unwrap_or_else(|| panic!("no log line {line:?} in {:#?}", self.log()))
    }

    pub fn notices(&self) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|e| match e {
                BuildEvent::Notice { message } => Some(message.clone()),
                _ => None,
            })
            .collect()
    }

    /// The outcome of the stage whose path ends with `name`.
    pub fn stage(&self, name: &str) -> StageOutcome {
        self.summary
            .stages
            .iter()
            .find(|s| s.path.last().map(String::as_str) == Some(name))
            .unwrap_or_else(|| panic!("no stage {name:?} in {:#?}", self.summary.stages))
            .outcome
    }

    pub fn workspace(&self) -> PathBuf {
        self.dir.path().join("ws")
    }

    pub fn build_dir(&self) -> PathBuf {
        self.dir.path().join("build")
    }
}

/// Answers every input the same way and remembers the requests.
#[derive(Default)]
pub struct FakeInput {
    pub answer: Mutex<Option<InputAnswer>>,
    pub requests: Mutex<Vec<InputRequest>>,
}

#[async_trait]
impl InputHandler for FakeInput {
    async fn request(&self, req: InputRequest) -> InputAnswer {
        self.requests.lock().expect("lock").push(req);
        self.answer
            .lock()
            .expect("lock")
            .clone()
            .unwrap_or(InputAnswer::Proceed {
                values: BTreeMap::new(),
                by: "tester".to_owned(),
            })
    }
}

/// Credentials from a map.
pub struct Creds(pub BTreeMap<String, Credential>);

impl CredentialStore for Creds {
    fn get(&self, id: &str) -> Option<Credential> {
        self.0.get(id).cloned()
    }
}

pub fn setup() -> Setup {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join("ws")).expect("workspace");
    let spec = BuildSpec {
        job_name: "test-job".to_owned(),
        number: 7,
        params: BTreeMap::new(),
        base_env: std::env::vars().collect(),
        scm: None,
        build_dir: dir.path().join("build"),
        cause: BuildCause::User("tester".to_owned()),
        credentials: Arc::new(kiln_engine::NoCredentials),
        input: Arc::new(FakeInput::default()),
        workspace_is_checkout: false,
        previous_result: None,
        agents: None,
        services: Default::default(),
        coordinator: std::sync::Arc::new(kiln_engine::NoCoordinator),
    };
    Setup {
        spec,
        cancel: CancellationToken::new(),
        dir,
    }
}

/// Runs `jenkinsfile` with the default setup.
pub async fn run(jenkinsfile: &str) -> Run {
    run_with(jenkinsfile, setup()).await
}

pub async fn run_with(jenkinsfile: &str, setup: Setup) -> Run {
    let plan = plan_of(jenkinsfile);
    let executor = Arc::new(LocalExecutor::new(setup.workspace()));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let summary = kiln_engine::BuildRun::new(&plan, setup.spec, executor)
        .run(tx, setup.cancel)
        .await;
    let mut events = Vec::new();
    while let Ok(e) = rx.try_recv() {
        events.push(e);
    }
    Run {
        summary,
        events,
        dir: setup.dir,
    }
}

/// Runs a declarative or scripted `jenkinsfile` with the given libraries, with its text as
/// the source of script errors.
pub async fn run_any(jenkinsfile: &str, setup: Setup, libraries: kiln_library::Libraries) -> Run {
    let (doc, diags) = kiln_model::load(jenkinsfile);
    let errors: Vec<_> = diags.iter().filter(|d| d.is_error()).collect();
    assert!(errors.is_empty(), "pipeline has errors: {errors:#?}");
    let executor = Arc::new(LocalExecutor::new(setup.workspace()));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let scripts = kiln_engine::BuildScripts {
        libraries: Arc::new(libraries),
        source: Some(Arc::new(kiln_diagnostics::SourceFile::new(
            "Jenkinsfile",
            jenkinsfile.to_owned(),
        ))),
        ..kiln_engine::BuildScripts::default()
    };
    let summary = match doc.expect("a pipeline") {
        Document::Declarative(p) => {
            let plan = kiln_plan::plan(&p);
            kiln_engine::BuildRun::new(&plan, setup.spec, executor)
                .scripts(scripts)
                .run(tx, setup.cancel)
                .await
        }
        Document::Scripted(s) => {
            let plan = kiln_plan::plan(&kiln_engine::scripted_pipeline(&s));
            kiln_engine::BuildRun::new(&plan, setup.spec, executor)
                .scripted(Some(&s))
                .scripts(scripts)
                .run(tx, setup.cancel)
                .await
        }
    };
    let mut events = Vec::new();
    while let Ok(e) = rx.try_recv() {
        events.push(e);
    }
    Run {
        summary,
        events,
        dir: setup.dir,
    }
}

pub fn plan_of(jenkinsfile: &str) -> kiln_plan::Plan {
    let (doc, diags) = kiln_model::load(jenkinsfile);
    let errors: Vec<_> = diags.iter().filter(|d| d.is_error()).collect();
    assert!(errors.is_empty(), "pipeline has errors: {errors:#?}");
    match doc {
        Some(Document::Declarative(p)) => kiln_plan::plan(&p),
        other => panic!("not a declarative pipeline: {other:?}"),
    }
}

/// Waits (a minute at most: a bound for a loaded machine, not a speed check) until `path`
/// exists; for tests that coordinate with a running step.
pub async fn wait_for_file(path: &Path) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    while !path.exists() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

pub const RAN_OK: StageOutcome = StageOutcome::Ran(BuildResult::Success);
