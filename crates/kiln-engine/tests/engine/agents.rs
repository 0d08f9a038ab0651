//! Stage agents through the `AgentProvider` seam: a fake provider hands each stage agent a
//! local executor on a workspace of its own, and records what it was asked and given back.
#![allow(
    clippy::unwrap_used,
    reason = "test support: a failed setup should stop the test"
)]

use crate::harness::{RAN_OK, Run, run_with, setup};
use async_trait::async_trait;
use kiln_engine::{
    AgentError, AgentProvider, AgentRequest, BuildResult, ProvidedAgent, Provision, ReleaseAgent,
    StageOutcome,
};
use kiln_executor::LocalExecutor;
use kiln_types::{AgentSpecKind, ContainerTemplate};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// What the fake provider saw: each request's stage, the label or pod YAML it asked for,
/// whether it asked for the sources, and each release with its result.
#[derive(Default)]
struct Seen {
    requests: Vec<(String, String, bool)>,
    released: Vec<(String, BuildResult)>,
    /// `name=image` of each containerTemplate asked for.
    containers: Vec<String>,
    /// Each request's stage and whether it came from inside another provided agent.
    nested: Vec<(String, bool)>,
    /// The stages answered as finished before a restart.
    finished: Vec<String>,
}

struct FakeProvider {
    root: PathBuf,
    seen: Arc<Mutex<Seen>>,
}

struct FakeRelease {
    name: String,
    seen: Arc<Mutex<Seen>>,
}

#[async_trait]
impl ReleaseAgent for FakeRelease {
    async fn release(self: Box<Self>, result: BuildResult) {
        self.seen.lock().unwrap().released.push((self.name, result));
    }
}

#[async_trait]
impl AgentProvider for FakeProvider {
    /// A pod YAML `finished: RESULT` stands for a stage that had ended before a controller
    /// restart (a resumed build's provider answers so).
    async fn provision(&self, request: AgentRequest) -> Result<Provision, AgentError> {
        let yaml = match &request.agent.kind {
            AgentSpecKind::Kubernetes(k) => k.yaml.as_ref().and_then(|v| v.text.clone()),
            _ => None,
        };
        let stage = request.stage.join("/");
        // `finished-once: RESULT`: the first attempt had ended, the next one has not.
        let once = yaml
            .as_deref()
            .and_then(|y| y.strip_prefix("finished-once: "));
        let again = once.is_some() && self.seen.lock().unwrap().finished.contains(&stage);
        let finished = yaml.as_deref().and_then(|y| y.strip_prefix("finished: "));
        if let Some(result) = finished.or(once).filter(|_| !again) {
            self.seen.lock().unwrap().finished.push(stage.clone());
            let result = match result {
                "SUCCESS" => BuildResult::Success,
                "UNSTABLE" => BuildResult::Unstable,
                "ABORTED" => BuildResult::Aborted,
                _ => BuildResult::Failure,
            };
            let env = [("FROM_BEFORE".to_owned(), Some(format!("{stage}-done")))];
            return Ok(Provision::Finished(result, env.into_iter().collect()));
        }
        Ok(match self.provide(request).await? {
            Some(agent) => Provision::Agent(agent),
            None => Provision::NotServed,
        })
    }

    async fn provide(&self, request: AgentRequest) -> Result<Option<ProvidedAgent>, AgentError> {
        let what = match &request.agent.kind {
            AgentSpecKind::Kubernetes(k) => k.yaml.as_ref().and_then(|v| v.text.clone()),
            AgentSpecKind::Label(v) => v.text.clone(),
            _ => None,
        };
        let stage = request.stage.join("/");
        self.seen
            .lock()
            .unwrap()
            .nested
            .push((stage.clone(), request.nested));
        if let AgentSpecKind::Kubernetes(k) = &request.agent.kind {
            self.seen
                .lock()
                .unwrap()
                .containers
                .extend(k.container_templates.iter().map(template));
        }
        self.seen.lock().unwrap().requests.push((
            stage.clone(),
            what.clone().unwrap_or_default(),
            request.checkout,
        ));
        let Some(what) = what else { return Ok(None) };
        if what.contains("unschedulable") {
            return Err(AgentError::Other(format!(
                "the pod of stage '{stage}' did not start: Unschedulable: 0/3 nodes are available: 3 Insufficient cpu"
            )));
        }
        if what.starts_with("local") {
            return Ok(None);
        }
        let name = format!("pod-{}", stage.replace([' ', '/'], "-"));
        let workspace = self.root.join(&name);
        std::fs::create_dir_all(&workspace).unwrap();
        Ok(Some(ProvidedAgent {
            executor: Arc::new(LocalExecutor::new(workspace)),
            log: vec![format!("Running in {name}").into()],
            release: Box::new(FakeRelease {
                name,
                seen: self.seen.clone(),
            }),
        }))
    }
}

/// `name=image` of a `containerTemplate(...)` call, its arguments as the provider sees them.
fn template(call: &ContainerTemplate) -> String {
    let arg = |name: &str| {
        call.args
            .get(name)
            .map(|v| v.value.clone())
            .unwrap_or_default()
    };
    format!("{}={}", arg("name"), arg("image"))
}

async fn run_provided(jenkinsfile: &str) -> (Run, Arc<Mutex<Seen>>) {
    run_provided_with(jenkinsfile, setup()).await
}

async fn run_provided_with(
    jenkinsfile: &str,
    mut setup: crate::harness::Setup,
) -> (Run, Arc<Mutex<Seen>>) {
    // What kiln's own process has must not reach a provided executor's processes.
    setup.spec.base_env.insert(
        "KILN_ADMIN_TOKEN".to_owned(),
        "controller-secret".to_owned(),
    );
    let seen = Arc::new(Mutex::new(Seen::default()));
    setup.spec.agents = Some(Arc::new(FakeProvider {
        root: setup.dir.path().join("pods"),
        seen: seen.clone(),
    }));
    (run_with(jenkinsfile, setup).await, seen)
}

#[tokio::test]
async fn each_stage_agent_runs_on_its_own_executor_and_stashes_cross_between_them() {
    let (run, seen) = run_provided(
        r#"
pipeline {
    agent none
    environment { TOOL = 'maven' }
    stages {
        stage('Build') {
            agent { kubernetes { yaml "pod: ${TOOL}" } }
            steps {
                sh 'echo "built in $(basename "$PWD") at $WORKSPACE" > out.txt'
                stash name: 'out', includes: 'out.txt'
            }
            post { always { sh 'echo "post in $(basename "$PWD")"' } }
        }
        stage('Test') {
            agent { kubernetes { yaml 'pod: node' } }
            steps {
                unstash 'out'
                sh 'cat out.txt; echo "tested in $(basename "$PWD") on $NODE_NAME"'
                sh 'echo "tool=$TOOL token=${KILN_ADMIN_TOKEN:-none}"'
            }
        }
    }
}"#,
    )
    .await;
    assert_eq!(run.result(), BuildResult::Success, "{:#?}", run.log());
    let pods = run.dir.path().join("pods");
    let build_ws = pods.join("pod-Build").display().to_string();
    for line in [
        "Running in pod-Build".to_owned(),
        "post in pod-Build".to_owned(),
        "Running in pod-Test".to_owned(),
        format!("built in pod-Build at {build_ws}"),
        "tested in pod-Test on local".to_owned(),
        "tool=maven token=none".to_owned(),
    ] {
        assert!(run.has_line(&line), "{line:?} missing: {:#?}", run.log());
    }
    assert!(pods.join("pod-Test/out.txt").exists());
    assert!(!run.workspace().join("out.txt").exists());
    let seen = seen.lock().unwrap();
    assert_eq!(
        seen.requests,
        [
            ("Build".to_owned(), "pod: maven".to_owned(), true),
            ("Test".to_owned(), "pod: node".to_owned(), true),
        ]
    );
    assert_eq!(
        seen.released,
        [
            ("pod-Build".to_owned(), BuildResult::Success),
            ("pod-Test".to_owned(), BuildResult::Success),
        ]
    );
    assert!(run.notices().is_empty(), "{:#?}", run.notices());
}

#[tokio::test]
async fn parallel_branches_get_their_own_agents_at_the_same_time() {
    // Each branch waits for a file the other writes in its own workspace: this only ends
    // when both agents exist at once (the timeout turns a hang into a failure).
    let (run, seen) = run_provided(
        r#"
pipeline {
    agent none
    options { timeout(time: 30, unit: 'SECONDS') }
    stages {
        stage('Both') {
            parallel {
                stage('A') {
                    agent { label 'a' }
                    steps { sh 'touch ../pod-Both-A.ready; while [ ! -f ../pod-Both-B.ready ]; do sleep 0.02; done' }
                }
                stage('B') {
                    agent { label 'b' }
                    steps { sh 'touch ../pod-Both-B.ready; while [ ! -f ../pod-Both-A.ready ]; do sleep 0.02; done' }
                }
            }
        }
    }
}"#,
    )
    .await;
    assert_eq!(run.result(), BuildResult::Success, "{:#?}", run.log());
    let mut released = seen.lock().unwrap().released.clone();
    released.sort();
    assert_eq!(
        released,
        [
            ("pod-Both-A".to_owned(), BuildResult::Success),
            ("pod-Both-B".to_owned(), BuildResult::Success),
        ]
    );
}

#[tokio::test]
async fn an_agent_that_cannot_start_fails_its_stage_with_the_reason() {
    let (run, seen) = run_provided(
        r#"
pipeline {
    agent none
    stages {
        stage('Big') {
            agent { kubernetes { yaml 'unschedulable' } }
            steps { echo 'never' }
            post { always { echo 'stage post ran' } }
        }
        stage('Later') { agent { label 'x' }; steps { echo 'never either' } }
    }
    post { failure { echo 'pipeline failed' } }
}"#,
    )
    .await;
    assert_eq!(run.result(), BuildResult::Failure, "{:#?}", run.log());
    assert!(
        run.has_line(
            "ERROR: the pod of stage 'Big' did not start: Unschedulable: 0/3 nodes are available: 3 Insufficient cpu"
        ),
        "{:#?}",
        run.log()
    );
    assert!(!run.has_line("never"));
    assert!(run.has_line("stage post ran"));
    assert!(run.has_line("pipeline failed"));
    assert_eq!(run.stage("Big"), StageOutcome::Ran(BuildResult::Failure));
    assert_eq!(run.stage("Later"), StageOutcome::SkippedAfterFailure);
    assert!(seen.lock().unwrap().released.is_empty());
}

#[tokio::test]
async fn agents_the_provider_declines_run_on_the_build_executor() {
    let (run, seen) = run_provided(
        r#"
pipeline {
    agent none
    options { skipDefaultCheckout() }
    stages {
        stage('Here') {
            agent { label 'local-linux' }
            steps { sh 'echo "here in $(basename "$PWD")"' }
        }
    }
}"#,
    )
    .await;
    assert_eq!(run.result(), BuildResult::Success, "{:#?}", run.log());
    assert!(run.has_line("here in ws"), "{:#?}", run.log());
    let seen = seen.lock().unwrap();
    assert_eq!(
        seen.requests,
        [("Here".to_owned(), "local-linux".to_owned(), false)]
    );
    assert!(seen.released.is_empty());
}

#[tokio::test]
async fn a_failed_attempt_gives_its_agent_back_and_the_retry_gets_a_new_one() {
    let (run, seen) = run_provided(
        r#"
pipeline {
    agent none
    stages {
        stage('Flaky') {
            agent { label 'pod' }
            options { retry(2) }
            steps { sh 'if [ -f ../second ]; then echo second try; else touch ../second; exit 1; fi' }
        }
    }
}"#,
    )
    .await;
    assert_eq!(run.result(), BuildResult::Success, "{:#?}", run.log());
    assert_eq!(run.stage("Flaky"), RAN_OK);
    assert!(run.has_line("second try"));
    let seen = seen.lock().unwrap();
    assert_eq!(seen.requests.len(), 2);
    assert_eq!(
        seen.released,
        [
            ("pod-Flaky".to_owned(), BuildResult::Failure),
            ("pod-Flaky".to_owned(), BuildResult::Success),
        ]
    );
}

#[tokio::test]
async fn steps_outside_any_agent_under_agent_none_are_refused_naming_the_step() {
    let (run, _) = run_provided(
        r#"
pipeline {
    agent none
    stages {
        stage('Both') {
            parallel {
                stage('One') { agent { label 'pod' }; steps { echo 'in a pod' } }
            }
            post { success { writeFile file: 'x', text: 'y' } }
        }
    }
    post {
        always {
            echo 'echo needs no agent'
            sh 'echo cleanup'
        }
    }
}"#,
    )
    .await;
    assert_eq!(run.result(), BuildResult::Failure, "{:#?}", run.log());
    assert!(run.has_line("echo needs no agent"));
    assert!(
        run.has_line(
            "ERROR: `sh` needs an agent: the pipeline has `agent none`, so its `environment` and `post` run outside any agent; move the step into a stage that has an `agent` (in post condition `always`)"
        ),
        "{:#?}",
        run.log()
    );
    assert!(!run.has_line("cleanup"));
    assert!(run.has_line("in a pod"));
    assert!(
        run.has_line(
            "ERROR: `writeFile` needs an agent: stage 'Both' runs outside any agent (the pipeline has `agent none` and neither the stage nor an enclosing stage declares one); give the stage an `agent` (in post condition `success`)"
        ),
        "{:#?}",
        run.log()
    );
}

#[tokio::test]
async fn container_templates_reach_the_provider_evaluated() {
    let (run, seen) = run_provided(
        r#"
pipeline {
    agent none
    environment { JDK = '21' }
    stages {
        stage('Build') {
            agent {
                kubernetes {
                    yaml 'pod: templates'
                    containerTemplate(name: 'maven', image: "maven:3.9-jdk${JDK}")
                }
            }
            steps { sh 'echo "in $(basename "$PWD")"' }
        }
    }
}"#,
    )
    .await;
    assert_eq!(run.result(), BuildResult::Success, "{:#?}", run.log());
    assert!(run.has_line("in pod-Build"), "{:#?}", run.log());
    assert_eq!(seen.lock().unwrap().containers, ["maven=maven:3.9-jdk21"]);
}

#[tokio::test]
async fn a_scripted_pod_template_runs_its_node_block_on_a_provided_pod() {
    let mut setup = setup();
    let seen = Arc::new(Mutex::new(Seen::default()));
    setup.spec.agents = Some(Arc::new(FakeProvider {
        root: setup.dir.path().join("pods"),
        seen: seen.clone(),
    }));
    let jenkinsfile = r#"
def version = '3.9'
stage('Build') {
    podTemplate(yaml: 'pod: scripted', containers: [
        containerTemplate(name: 'maven', image: "maven:${version}",
                          envVars: [envVar(key: 'A', value: 'b')]),
    ]) {
        node(POD_LABEL) {
            sh 'echo "in $(basename "$PWD")"'
        }
    }
}
stage('After') {
    sh 'echo "after in $(basename "$PWD")"'
}
"#;
    let run = crate::harness::run_any(jenkinsfile, setup, kiln_library::Libraries::default()).await;
    assert_eq!(run.result(), BuildResult::Success, "{:#?}", run.log());
    for line in ["Running in pod-Build", "in pod-Build", "after in ws"] {
        assert!(run.has_line(line), "{line:?} missing: {:#?}", run.log());
    }
    assert!(run.notices().is_empty(), "{:#?}", run.notices());
    let seen = seen.lock().unwrap();
    assert_eq!(seen.containers, ["maven=maven:3.9"]);
    assert_eq!(
        seen.requests,
        [("Build".to_owned(), "pod: scripted".to_owned(), true)]
    );
    assert_eq!(
        seen.released,
        [("pod-Build".to_owned(), BuildResult::Success)]
    );
}

#[tokio::test]
async fn each_matrix_cell_gets_an_agent_of_its_own() {
    let (run, seen) = run_provided(
        r#"
pipeline {
    agent none
    stages {
        stage('Cells') {
            matrix {
                agent { label "pod-${OS}" }
                axes { axis { name 'OS'; values 'linux', 'alpine' } }
                stages {
                    stage('Test') { steps { sh 'echo "$OS in $(basename "$PWD")"' } }
                }
            }
        }
    }
}"#,
    )
    .await;
    assert_eq!(run.result(), BuildResult::Success, "{:#?}", run.log());
    assert!(
        run.has_line("linux in pod-Cells-Matrix---OS-=-'linux'"),
        "{:#?}",
        run.log()
    );
    assert!(
        run.has_line("alpine in pod-Cells-Matrix---OS-=-'alpine'"),
        "{:#?}",
        run.log()
    );
    let mut labels: Vec<String> = seen
        .lock()
        .unwrap()
        .requests
        .iter()
        .map(|r| r.1.clone())
        .collect();
    labels.sort();
    assert_eq!(labels, ["pod-alpine", "pod-linux"]);
    assert_eq!(seen.lock().unwrap().released.len(), 2);
}

/// Starts an agent only when the test lets it, after saying it was asked.
struct GatedProvider {
    asked: Arc<tokio::sync::Notify>,
    gate: Arc<tokio::sync::Notify>,
    inner: FakeProvider,
}

#[async_trait]
impl AgentProvider for GatedProvider {
    async fn provide(&self, request: AgentRequest) -> Result<Option<ProvidedAgent>, AgentError> {
        self.asked.notify_one();
        self.gate.notified().await;
        self.inner.provide(request).await
    }
}

#[tokio::test]
async fn an_agent_that_starts_after_its_stage_was_cancelled_is_released() {
    let mut setup = setup();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let (asked, gate) = (
        Arc::new(tokio::sync::Notify::new()),
        Arc::new(tokio::sync::Notify::new()),
    );
    setup.spec.agents = Some(Arc::new(GatedProvider {
        asked: asked.clone(),
        gate: gate.clone(),
        inner: FakeProvider {
            root: setup.dir.path().join("pods"),
            seen: seen.clone(),
        },
    }));
    let cancel = setup.cancel.clone();
    let canceller = tokio::spawn(async move {
        asked.notified().await;
        cancel.cancel();
    });
    let run = run_with(
        "pipeline { agent none; stages { stage('Slow') { agent { label 'pod' }; steps { echo 'never' } } } }",
        setup,
    )
    .await;
    canceller.await.unwrap();
    assert_eq!(run.result(), BuildResult::Aborted, "{:#?}", run.log());
    assert!(!run.has_line("never"));
    // The agent comes up after the stage gave up on it: it is released at once.
    gate.notify_one();
    for _ in 0..2000 {
        if !seen.lock().unwrap().released.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(
        seen.lock().unwrap().released,
        [("pod-Slow".to_owned(), BuildResult::Aborted)]
    );
}

#[tokio::test]
async fn when_before_agent_skips_a_stage_without_asking_for_its_agent() {
    let (run, seen) = run_provided(
        r#"
pipeline {
    agent none
    stages {
        stage('Early') {
            agent { label 'pod' }
            when { beforeAgent true; expression { return false } }
            steps { echo 'never' }
        }
        stage('Late') {
            agent { label 'pod' }
            when { expression { return false } }
            steps { echo 'never either' }
        }
    }
}"#,
    )
    .await;
    assert_eq!(run.result(), BuildResult::Success, "{:#?}", run.log());
    assert_eq!(run.stage("Early"), StageOutcome::SkippedByWhen);
    assert_eq!(run.stage("Late"), StageOutcome::SkippedByWhen);
    // Jenkins evaluates `when` after the agent unless `beforeAgent true`: only the late
    // stage's agent was started, and it was given back.
    let seen = seen.lock().unwrap();
    let asked: Vec<&str> = seen.requests.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(asked, ["Late"]);
    assert_eq!(
        seen.released,
        [("pod-Late".to_owned(), BuildResult::Success)]
    );
}

#[tokio::test]
async fn a_stage_agent_inside_another_is_asked_for_as_nested() {
    let (run, seen) = run_provided(
        r#"
pipeline {
    agent none
    stages {
        stage('Outer') {
            agent { label 'pod' }
            stages {
                stage('Inner') {
                    agent { label 'pod' }
                    steps { sh 'echo "inner in $(basename "$PWD")"' }
                }
                stage('Same') {
                    steps { sh 'echo "same in $(basename "$PWD")"' }
                }
            }
        }
    }
}"#,
    )
    .await;
    assert_eq!(run.result(), BuildResult::Success, "{:#?}", run.log());
    assert!(run.has_line("inner in pod-Outer-Inner"), "{:#?}", run.log());
    assert!(run.has_line("same in pod-Outer"), "{:#?}", run.log());
    let seen = seen.lock().unwrap();
    assert_eq!(
        seen.nested,
        [
            ("Outer".to_owned(), false),
            ("Outer/Inner".to_owned(), true)
        ]
    );
    assert_eq!(
        seen.released,
        [
            ("pod-Outer-Inner".to_owned(), BuildResult::Success),
            ("pod-Outer".to_owned(), BuildResult::Success),
        ]
    );
}

#[tokio::test]
async fn a_scripted_node_label_is_asked_for_as_a_label_agent() {
    let mut setup = setup();
    let seen = Arc::new(Mutex::new(Seen::default()));
    setup.spec.agents = Some(Arc::new(FakeProvider {
        root: setup.dir.path().join("pods"),
        seen: seen.clone(),
    }));
    let jenkinsfile = r#"
stage('Build') {
    node('maven') {
        sh 'echo "maven in $(basename "$PWD")"'
    }
    node('local-linux') {
        sh 'echo "local in $(basename "$PWD")"'
    }
}
"#;
    let run = crate::harness::run_any(jenkinsfile, setup, kiln_library::Libraries::default()).await;
    assert_eq!(run.result(), BuildResult::Success, "{:#?}", run.log());
    assert!(run.has_line("maven in pod-Build"), "{:#?}", run.log());
    assert!(run.has_line("local in ws"), "{:#?}", run.log());
    let seen = seen.lock().unwrap();
    let labels: Vec<&str> = seen.requests.iter().map(|r| r.1.as_str()).collect();
    assert_eq!(labels, ["maven", "local-linux"]);
    assert_eq!(
        seen.released,
        [("pod-Build".to_owned(), BuildResult::Success)]
    );
    assert_eq!(
        run.notices(),
        ["node('local-linux'): the local executor runs the block on this machine"]
    );
}

#[tokio::test]
async fn file_credentials_of_the_pipeline_are_written_on_each_stage_agent() {
    let mut setup = setup();
    let creds = [(
        "kubeconfig".to_owned(),
        kiln_engine::Credential::File {
            name: "config".to_owned(),
            content: b"apiVersion: v1\n".to_vec(),
        },
    )];
    setup.spec.credentials = Arc::new(crate::harness::Creds(creds.into_iter().collect()));
    let (run, _) = run_provided_with(
        r#"
pipeline {
    agent none
    environment { KUBECONFIG = credentials('kubeconfig') }
    stages {
        stage('Deploy') {
            agent { kubernetes { yaml 'pod: deploy' } }
            steps {
                sh 'test -f "$KUBECONFIG" && grep -c apiVersion "$KUBECONFIG"'
                sh 'case "$KUBECONFIG" in "$WORKSPACE"*) echo on-this-agent ;; *) echo elsewhere ;; esac'
            }
        }
    }
}"#,
        setup,
    )
    .await;
    assert_eq!(run.result(), BuildResult::Success, "{:#?}", run.log());
    assert!(run.has_line("1"), "{:#?}", run.log());
    assert!(run.has_line("on-this-agent"), "{:#?}", run.log());
    // The agent's copy is deleted when the stage gives its agent back.
    let leftovers: Vec<_> = walk(&run.dir.path().join("pods"))
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n == "config"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

fn walk(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(walk(&path));
        } else {
            found.push(path);
        }
    }
    found
}

#[tokio::test]
async fn stages_that_had_finished_before_a_restart_are_not_run_again() {
    // A resumed build's provider says which stages had ended (their pods are gone): they do
    // not run again, their results count, and a failure skips the later stages as it did.
    let (run, seen) = run_provided(
        r#"
pipeline {
    agent none
    stages {
        stage('Lint') {
            agent { kubernetes { yaml 'finished: UNSTABLE' } }
            steps { sh 'touch lint.ran' }
        }
        stage('Build') {
            agent { kubernetes { yaml 'pod: maven' } }
            steps { sh "echo built after ${env.FROM_BEFORE}" }
        }
        stage('Test') {
            agent { kubernetes { yaml 'finished: FAILURE' } }
            steps { sh 'touch test.ran' }
            post { always { sh 'touch post.ran' } }
        }
        stage('Deploy') {
            agent { kubernetes { yaml 'pod: deploy' } }
            steps { sh 'echo deployed' }
        }
    }
}"#,
    )
    .await;
    assert_eq!(run.result(), BuildResult::Failure, "{:#?}", run.log());
    assert_eq!(run.stage("Lint"), StageOutcome::Ran(BuildResult::Unstable));
    assert_eq!(run.stage("Build"), StageOutcome::Ran(BuildResult::Success));
    assert_eq!(run.stage("Test"), StageOutcome::Ran(BuildResult::Failure));
    assert_eq!(run.stage("Deploy"), StageOutcome::SkippedAfterFailure);
    // What the build's scripts had set when Lint ended is set again.
    assert!(run.has_line("built after Lint-done"), "{:#?}", run.log());
    let seen = seen.lock().unwrap();
    assert_eq!(seen.finished, ["Lint", "Test"]);
    // Nothing ran for the finished stages (their post neither), nothing was released.
    assert_eq!(
        seen.released,
        [("pod-Build".to_owned(), BuildResult::Success)]
    );
    let ran: Vec<_> = walkdir::WalkDir::new(run.dir.path())
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".ran"))
        .collect();
    assert!(ran.is_empty(), "{ran:?}");
}

#[tokio::test]
async fn an_attempt_that_had_failed_before_a_restart_is_retried() {
    let (run, seen) = run_provided(
        r#"
pipeline {
    agent none
    stages {
        stage('Flaky') {
            options { retry(2) }
            agent { kubernetes { yaml 'finished-once: FAILURE' } }
            steps { sh 'echo second attempt' }
        }
    }
}"#,
    )
    .await;
    assert_eq!(run.result(), BuildResult::Success, "{:#?}", run.log());
    assert!(
        run.has_line("Retrying stage (attempt 2 of 2)"),
        "{:#?}",
        run.log()
    );
    assert!(run.has_line("second attempt"), "{:#?}", run.log());
    let seen = seen.lock().unwrap();
    assert_eq!(seen.finished, ["Flaky"]);
    assert_eq!(
        seen.released,
        [("pod-Flaky".to_owned(), BuildResult::Success)]
    );
}
