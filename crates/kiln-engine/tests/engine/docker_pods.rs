//! The `docker` global where the steps run in a pod (an executor with containers): `inside`
//! asks the provider for a pod whose default container runs the image and works on a copy
//! of the workspace that comes back; `docker.build` + `push` become the executor's image
//! builds (Kaniko on Kubernetes) with `withRegistry`'s login. The executors here are local
//! ones that say they have containers and record the image builds asked of them.
#![allow(
    clippy::unwrap_used,
    reason = "test support: a failed setup should stop the test"
)]

use crate::harness::{Creds, Run, plan_of, setup};
use async_trait::async_trait;
use kiln_engine::{
    AgentError, AgentProvider, AgentRequest, BuildResult, Credential, ProvidedAgent, ReleaseAgent,
};
use kiln_executor::{
    BuiltImage, ExecError, Executor, FileEntry, ImageBuild, ImageBuilt, ImageLog, LocalExecutor,
    ProcessHandle, ProcessSpec,
};
use kiln_types::AgentSpecKind;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// A local executor that says it is a pod, and records the image builds asked of it.
struct Pod {
    inner: LocalExecutor,
    builds: Arc<Mutex<Vec<ImageBuild>>>,
}

#[async_trait]
impl Executor for Pod {
    fn workspace(&self) -> &Path {
        self.inner.workspace()
    }
    fn describe(&self) -> String {
        "pod".to_owned()
    }
    fn runs_in_containers(&self) -> bool {
        true
    }
    async fn spawn(&self, spec: ProcessSpec) -> Result<ProcessHandle, ExecError> {
        self.inner.spawn(spec).await
    }
    async fn read_file(&self, path: &Path) -> Result<Vec<u8>, ExecError> {
        self.inner.read_file(path).await
    }
    async fn write_file(&self, path: &Path, bytes: &[u8]) -> Result<(), ExecError> {
        self.inner.write_file(path, bytes).await
    }
    async fn file_exists(&self, path: &Path) -> Result<bool, ExecError> {
        self.inner.file_exists(path).await
    }
    async fn delete_dir(&self, path: &Path) -> Result<(), ExecError> {
        self.inner.delete_dir(path).await
    }
    async fn create_dir(&self, path: &Path) -> Result<(), ExecError> {
        self.inner.create_dir(path).await
    }
    async fn list_files(
        &self,
        dir: &Path,
        includes: &[String],
        excludes: &[String],
    ) -> Result<Vec<FileEntry>, ExecError> {
        self.inner.list_files(dir, includes, excludes).await
    }
    async fn build_image(
        &self,
        build: ImageBuild,
        _log: ImageLog,
    ) -> Result<ImageBuilt, ExecError> {
        self.builds.lock().unwrap().push(build);
        Ok(ImageBuilt {
            images: vec![BuiltImage {
                platform: None,
                digest: format!("sha256:{:064}", 7),
            }],
            indexes: Vec::new(),
        })
    }
}

/// What the provider was asked (pod YAML, default container, checkout) and given back.
#[derive(Default)]
struct Seen {
    requests: Vec<(String, String, bool)>,
    released: Vec<BuildResult>,
}

struct Pods {
    root: std::path::PathBuf,
    seen: Arc<Mutex<Seen>>,
}

struct Release(Arc<Mutex<Seen>>);

#[async_trait]
impl ReleaseAgent for Release {
    async fn release(self: Box<Self>, result: BuildResult) {
        self.0.lock().unwrap().released.push(result);
    }
}

#[async_trait]
impl AgentProvider for Pods {
    async fn provide(&self, request: AgentRequest) -> Result<Option<ProvidedAgent>, AgentError> {
        let AgentSpecKind::Kubernetes(k) = &request.agent.kind else {
            return Ok(None);
        };
        let yaml = k.yaml.as_ref().and_then(|v| v.text.clone()).unwrap();
        let container = k
            .default_container
            .as_ref()
            .and_then(|v| v.text.clone())
            .unwrap();
        self.seen
            .lock()
            .unwrap()
            .requests
            .push((yaml, container, request.checkout));
        let ws = self.root.join("inside-pod");
        std::fs::create_dir_all(&ws).unwrap();
        Ok(Some(ProvidedAgent {
            executor: Arc::new(Pod {
                inner: LocalExecutor::new(ws),
                builds: Arc::default(),
            }),
            log: vec!["Running in inside-pod".to_owned().into()],
            release: Box::new(Release(self.seen.clone())),
        }))
    }
}

#[tokio::test]
async fn in_a_pod_inside_runs_in_a_pod_of_the_image_and_push_builds_with_kaniko() {
    let mut setup = setup();
    let creds = BTreeMap::from([(
        "reg".to_owned(),
        Credential::UsernamePassword {
            username: "ci".to_owned(),
            password: "s3cret-pw".to_owned(),
        },
    )]);
    setup.spec.credentials = Arc::new(Creds(creds));
    let seen = Arc::new(Mutex::new(Seen::default()));
    setup.spec.agents = Some(Arc::new(Pods {
        root: setup.dir.path().join("pods"),
        seen: seen.clone(),
    }));
    let builds = Arc::new(Mutex::new(Vec::new()));
    let executor = Arc::new(Pod {
        inner: LocalExecutor::new(setup.workspace()),
        builds: builds.clone(),
    });
    let plan = plan_of(
        r#"
pipeline {
    agent any
    stages {
        stage('Image') {
            steps {
                writeFile file: 'src.txt', text: 'from the build'
                script {
                    def img = docker.build('team/app:1', '-f ci/Dockerfile --build-arg V=1 .')
                    docker.withRegistry('http://127.0.0.1:5000', 'reg') {
                        img.push()
                        img.push('latest')
                    }
                    docker.image('node:20').inside {
                        sh 'cat src.txt > seen.txt; echo "inside $(basename "$PWD")"'
                    }
                    try {
                        docker.image('elsewhere/app:2').push()
                    } catch (e) {
                        echo "caught: ${e.message}"
                    }
                }
                sh 'cat seen.txt'
            }
        }
    }
}"#,
    );
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let summary = kiln_engine::BuildRun::new(&plan, setup.spec, executor)
        .run(tx, setup.cancel)
        .await;
    let mut events = Vec::new();
    while let Ok(e) = rx.try_recv() {
        events.push(e);
    }
    let run = Run {
        summary,
        events,
        dir: setup.dir,
    };
    assert_eq!(run.result(), BuildResult::Success, "{:#?}", run.log());
    for line in [
        "inside inside-pod",
        "from the build",
        "Running in inside-pod",
        "image.push: pushed 127.0.0.1:5000/team/app:1@sha256:0000000000000000000000000000000000000000000000000000000000000007",
    ] {
        assert!(run.has_line(line), "{line}\n{:#?}", run.log());
    }
    assert!(
        run.log().iter().any(|l| l.starts_with(
            "caught: image.push: on Kubernetes kiln pushes the images `docker.build` makes"
        )),
        "{:#?}",
        run.log()
    );
    let seen = seen.lock().unwrap();
    assert_eq!(seen.requests.len(), 1);
    let (yaml, container, checkout) = &seen.requests[0];
    assert_eq!(
        yaml,
        r#"{"spec":{"containers":[{"image":"node:20","name":"docker-inside"}]}}"#
    );
    assert_eq!(container, "docker-inside");
    assert!(!checkout, "the workspace is copied, not checked out again");
    assert_eq!(seen.released, [BuildResult::Success]);
    let builds = builds.lock().unwrap();
    let destinations: Vec<&[String]> = builds.iter().map(|b| b.destinations.as_slice()).collect();
    assert_eq!(
        destinations,
        [
            ["127.0.0.1:5000/team/app:1".to_owned()].as_slice(),
            ["127.0.0.1:5000/team/app:latest".to_owned()].as_slice()
        ]
    );
    for b in builds.iter() {
        assert_eq!(
            (b.context.as_str(), b.dockerfile.as_str()),
            (".", "ci/Dockerfile")
        );
        assert_eq!(b.build_args, ["V=1"]);
        let config = String::from_utf8(b.docker_config.clone().unwrap()).unwrap();
        assert!(config.contains("\"127.0.0.1:5000\""), "{config}");
        assert!(config.contains("\"auth\""), "{config}");
    }
}
