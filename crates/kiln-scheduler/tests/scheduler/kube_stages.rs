//! Stage-level Kubernetes agents on the server: under `agent none`, each stage whose agent is
//! `kubernetes { }` runs in a pod of its own in the fake cluster (kiln-fake-kube), with the
//! job's workspace uploaded into it, and the pod is deleted when the stage is done.

use crate::kube::{agent_binary, free_base_port};
use crate::support::{Env, dir_job, user};
use kiln_fake_kube::{FakeKube, FakeKubeConfig};
use kiln_kube::KubeAgent;
use kiln_scheduler::SchedulerHandle;
use kiln_store::BuildRecord;
use kiln_types::BuildResult;

/// A scheduler whose `executors.kubernetes` is the fake cluster (plus `more` settings), with
/// one `dir:` job.
pub(crate) async fn start(
    env: &Env,
    job: &str,
    jenkinsfile: &str,
    more: &str,
) -> (FakeKube, SchedulerHandle) {
    let fake = FakeKube::start(FakeKubeConfig::default(), 0).await.unwrap();
    let kubeconfig = env.tmp.path().join("kubeconfig");
    super::kube::kiln_identity(&fake, &kubeconfig, more);
    let dir = env.dir(job, jenkinsfile);
    std::fs::write(dir.join("input.txt"), "uploaded-input\n").unwrap();
    let executors = format!(
        "executors:\n  kubernetes:\n    connection: {{kubeconfig: {{path: '{}'}}}}\n{more}",
        kubeconfig.display()
    );
    let config = env.config(&format!("{executors}{}", dir_job(job, &dir, "")));
    let agent = KubeAgent {
        install_command: Some(vec![
            agent_binary().display().to_string(),
            "--install".into(),
            kiln_kube::AGENT_BINARY.into(),
        ]),
        // Agents listen on a port per container (in port-forward mode): room for pods of up
        // to four containers.
        base_port: free_base_port(4),
    };
    let h = env.start_with_kube(config, agent).unwrap();
    (fake, h)
}

async fn run(
    env: &Env,
    job: &str,
    jenkinsfile: &str,
    more: &str,
) -> (BuildRecord, String, FakeKube) {
    let (fake, h) = start(env, job, jenkinsfile, more).await;
    let id = h.trigger(user(job)).await.unwrap();
    let b = env.finished(&id).await;
    let log = env.log(&id);
    h.shutdown().await;
    (b, log, fake)
}

/// The pod named in the stage's `Running in pod NAME` line.
pub(crate) fn pod_of(log: &str, stage: &str) -> String {
    let prefix = format!("[{stage}] Running in pod ");
    let line = log
        .lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no pod for stage {stage}: {log}"));
    line[prefix.len()..].to_owned()
}

/// `(pod, reason, message)` of every event the fake's kubelet recorded.
pub(crate) async fn events(fake: &FakeKube) -> Vec<(String, String, String)> {
    fake.objects("events", "default")
        .iter()
        .filter_map(|e| {
            Some((
                e["involvedObject"]["name"].as_str()?.to_owned(),
                e["reason"].as_str()?.to_owned(),
                e["message"].as_str()?.to_owned(),
            ))
        })
        .collect()
}

/// `(pod, container)` for every container the fake's kubelet created, from its events.
pub(crate) async fn created_containers(fake: &FakeKube) -> Vec<(String, String)> {
    let mut created: Vec<(String, String)> = events(fake)
        .await
        .into_iter()
        .filter(|(_, reason, _)| reason == "Created")
        .filter_map(|(pod, _, message)| {
            let container = message.strip_prefix("Created container ")?;
            Some((pod, container.to_owned()))
        })
        .filter(|(_, container)| container != kiln_kube::AGENT_INIT_CONTAINER)
        .collect();
    created.sort();
    created
}

pub(crate) fn pod_deleted(fake: &FakeKube, pod: &str) -> bool {
    fake.requests().iter().any(|r| {
        r.method == "DELETE" && r.path.ends_with(&format!("/pods/{pod}")) && r.status < 300
    })
}

const TWO_STAGE_PODS: &str = r#"pipeline {
  agent none
  stages {
    stage('Build') {
      agent {
        kubernetes {
          yaml '''
spec:
  containers:
  - name: maven
    image: busybox
'''
        }
      }
      steps {
        container('maven') {
          sh 'cat input.txt; echo built-artifact > artifact.txt; touch only-in-build'
        }
        stash name: 'art', includes: 'artifact.txt'
      }
    }
    stage('Test') {
      agent {
        kubernetes {
          yaml '''
spec:
  containers:
  - name: node
    image: alpine
'''
        }
      }
      steps {
        container('node') {
          unstash 'art'
          sh 'cat artifact.txt input.txt; if [ ! -e only-in-build ]; then echo fresh-workspace; fi'
        }
      }
    }
  }
}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stages_with_their_own_kubernetes_agents_run_in_pods_of_their_own() {
    let env = Env::new();
    let (b, log, fake) = run(&env, "stagepods", TWO_STAGE_PODS, "").await;
    assert_eq!(b.result, Some(BuildResult::Success), "{log}");
    let (build_pod, test_pod) = (pod_of(&log, "Build"), pod_of(&log, "Test"));
    assert_ne!(build_pod, test_pod);
    assert!(build_pod.starts_with("kiln-stagepods-1-"), "{log}");
    for line in [
        "[Build] Uploaded 2 workspace files into the pod",
        "[Build] uploaded-input",
        "[Build] Stashed 1 file(s) as 'art'",
        "[Test] Uploaded 2 workspace files into the pod",
        "[Test] Unstashed 1 file(s) from 'art'",
        "[Test] built-artifact",
        "[Test] uploaded-input",
        "[Test] fresh-workspace",
    ] {
        assert!(log.lines().any(|l| l == line), "{line:?} missing:\n{log}");
    }
    assert!(log.ends_with("Finished: SUCCESS\n"), "{log}");
    let mut expected = vec![
        (build_pod.clone(), "maven".to_owned()),
        (test_pod.clone(), "node".to_owned()),
    ];
    expected.sort();
    assert_eq!(created_containers(&fake).await, expected);
    assert!(pod_deleted(&fake, &build_pod), "{:#?}", fake.requests());
    assert!(pod_deleted(&fake, &test_pod), "{:#?}", fake.requests());
    fake.shutdown().await;
}

const UNSCHEDULABLE: &str = r#"pipeline {
  agent none
  stages {
    stage('Huge') {
      agent {
        kubernetes {
          yaml '''
spec:
  containers:
  - name: big
    image: busybox
    resources:
      requests:
        cpu: "64"
'''
        }
      }
      steps { sh 'echo never' }
      post { always { echo 'stage post ran' } }
    }
    stage('After') {
      agent { kubernetes { yaml 'spec: {containers: [{name: a, image: busybox}]}' } }
      steps { sh 'echo never either' }
    }
  }
}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stage_pod_that_cannot_be_scheduled_fails_the_stage_with_the_schedulers_message() {
    let env = Env::new();
    let (b, log, fake) = run(&env, "hugepod", UNSCHEDULABLE, "").await;
    assert_eq!(b.result, Some(BuildResult::Failure), "{log}");
    let error = log
        .lines()
        .find(|l| l.starts_with("[Huge] ERROR: the pod of stage 'Huge' did not start: "))
        .unwrap_or_else(|| panic!("no start error:\n{log}"));
    assert!(error.contains("cannot be scheduled"), "{error}");
    assert!(
        error.contains("0/1 nodes are available: 1 Insufficient cpu"),
        "{error}"
    );
    assert!(log.lines().any(|l| l == "[Huge] stage post ran"), "{log}");
    assert!(!log.contains("never"), "{log}");
    let created = fake
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/pods") && r.status == 201)
        .count();
    assert_eq!(created, 1, "only the failing stage's pod was asked for");
    fake.shutdown().await;
}

/// Each branch's pod waits for a file the other branch's pod writes into a hostPath volume
/// both mount: the build only ends when both pods run at once (the timeout turns a hang into
/// a failure).
fn parallel_pods(shared: &std::path::Path) -> String {
    let pod = |name: &str| {
        format!(
            "spec: {{containers: [{{name: {name}, image: busybox, volumeMounts: [{{name: shared, mountPath: /shared}}]}}], volumes: [{{name: shared, hostPath: {{path: '{}'}}}}]}}",
            shared.display()
        )
    };
    let branch = |name: &str, other: &str| {
        format!(
            "stage('{name}') {{
          agent {{ kubernetes {{ yaml \"{}\" }} }}
          steps {{
            sh 'touch /shared/{name}; while [ ! -e /shared/{other} ]; do sleep 0.02; done; echo met-{other}'
          }}
        }}",
            pod(&name.to_lowercase())
        )
    };
    format!(
        "pipeline {{
  agent none
  options {{ timeout(time: 60, unit: 'SECONDS') }}
  stages {{
    stage('Both') {{
      parallel {{
        {}
        {}
      }}
    }}
  }}
}}
",
        branch("A", "B"),
        branch("B", "A")
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_branches_with_their_own_agents_run_in_pods_at_the_same_time() {
    let env = Env::new();
    let shared = env.tmp.path().join("shared");
    std::fs::create_dir_all(&shared).unwrap();
    // The agents dial kiln, so two pods on the fake's one network need no ports of their own.
    let port = free_base_port(1);
    // The two pods meet through a hostPath, which the pod policy must allow.
    let more = format!(
        "    controller_url: tcp://127.0.0.1:{port}\n    agent_listen: 127.0.0.1:{port}\n    pod_policy: {{allow_host_path: true}}\n"
    );
    let (b, log, fake) = run(&env, "twopods", &parallel_pods(&shared), &more).await;
    assert_eq!(b.result, Some(BuildResult::Success), "{log}");
    assert!(log.lines().any(|l| l == "[Both / A] met-B"), "{log}");
    assert!(log.lines().any(|l| l == "[Both / B] met-A"), "{log}");
    let (a, b) = (pod_of(&log, "Both / A"), pod_of(&log, "Both / B"));
    assert_ne!(a, b);
    let mut expected = vec![(a.clone(), "a".to_owned()), (b.clone(), "b".to_owned())];
    expected.sort();
    assert_eq!(created_containers(&fake).await, expected);
    assert!(pod_deleted(&fake, &a), "{:#?}", fake.requests());
    assert!(pod_deleted(&fake, &b), "{:#?}", fake.requests());
    fake.shutdown().await;
}

const SCRIPTED_POD: &str = r#"podTemplate(containers: [containerTemplate(name: 'maven', image: 'busybox')], yaml: '''
spec:
  containers:
  - name: extra
    image: alpine
''') {
    node(POD_LABEL) {
        stage('Build') {
            container('maven') { sh 'cat input.txt; echo in-maven > made-in-pod' }
            container('extra') { sh 'cat made-in-pod' }
        }
    }
}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scripted_pod_template_runs_its_node_block_in_a_pod() {
    let env = Env::new();
    let (b, log, fake) = run(&env, "scriptedpod", SCRIPTED_POD, "").await;
    assert_eq!(b.result, Some(BuildResult::Success), "{log}");
    let pod = log
        .lines()
        .find_map(|l| l.strip_prefix("Running in pod "))
        .unwrap_or_else(|| panic!("no pod: {log}"))
        .to_owned();
    for line in ["[Build] uploaded-input", "[Build] in-maven"] {
        assert!(log.lines().any(|l| l == line), "{line:?} missing:\n{log}");
    }
    assert!(!log.contains("podTemplate is ignored"), "{log}");
    let mut expected = vec![
        (pod.clone(), "extra".to_owned()),
        (pod.clone(), "maven".to_owned()),
    ];
    expected.sort();
    assert_eq!(created_containers(&fake).await, expected);
    assert!(pod_deleted(&fake, &pod), "{:#?}", fake.requests());
    fake.shutdown().await;
}

const BUILD_POD_AND_STAGE_POD: &str = r#"pipeline {
  agent { kubernetes { yaml 'spec: {containers: [{name: main, image: busybox}]}' } }
  stages {
    stage('Prepare') {
      steps { sh 'echo from-build-pod > marker' }
    }
    stage('Tools') {
      agent { label 'tools' }
      steps {
        container('tools') {
          sh 'if [ -e marker ]; then echo marker-leaked; else echo fresh-tools-pod; fi'
        }
      }
      post { always { container('tools') { sh 'echo post-in-tools-pod' } } }
    }
    stage('Back') {
      steps { sh 'cat marker' }
    }
  }
}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_template_label_stage_gets_its_own_pod_beside_the_build_pod() {
    let env = Env::new();
    let port = free_base_port(1);
    let more = format!(
        "    controller_url: tcp://127.0.0.1:{port}\n    agent_listen: 127.0.0.1:{port}\n    templates:\n    - name: tools\n      labels: [tools]\n      containers: [{{name: tools, image: busybox}}]\n"
    );
    let (b, log, fake) = run(&env, "buildandstage", BUILD_POD_AND_STAGE_POD, &more).await;
    assert_eq!(b.result, Some(BuildResult::Success), "{log}");
    let build_pod = log
        .lines()
        .find_map(|l| l.strip_prefix("Running in pod "))
        .unwrap_or_else(|| panic!("no build pod: {log}"))
        .to_owned();
    let tools_pod = pod_of(&log, "Tools");
    assert_ne!(build_pod, tools_pod);
    for line in [
        "[Tools] fresh-tools-pod",
        "[Tools] post-in-tools-pod",
        "[Back] from-build-pod",
    ] {
        assert!(log.lines().any(|l| l == line), "{line:?} missing:\n{log}");
    }
    let mut expected = vec![
        (build_pod.clone(), "main".to_owned()),
        (tools_pod.clone(), "tools".to_owned()),
    ];
    expected.sort();
    assert_eq!(created_containers(&fake).await, expected);
    assert!(pod_deleted(&fake, &build_pod), "{:#?}", fake.requests());
    assert!(pod_deleted(&fake, &tools_pod), "{:#?}", fake.requests());
    fake.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stage_pod_inside_a_build_pod_never_waits_for_a_pod_slot() {
    // With one pod slot, the build pod holds it; its stage's pod goes over the limit (as
    // Kaniko pods do) instead of waiting for a slot its own build holds.
    let env = Env::new();
    let port = free_base_port(1);
    let more = format!(
        "    max_concurrent_pods: 1\n    controller_url: tcp://127.0.0.1:{port}\n    agent_listen: 127.0.0.1:{port}\n    templates:\n    - name: tools\n      labels: [tools]\n      containers: [{{name: tools, image: busybox}}]\n"
    );
    let (b, log, fake) = run(&env, "oneslot", BUILD_POD_AND_STAGE_POD, &more).await;
    assert_eq!(b.result, Some(BuildResult::Success), "{log}");
    assert!(!log.contains("Waiting for a pod"), "{log}");
    assert!(log.lines().any(|l| l == "[Tools] fresh-tools-pod"), "{log}");
    fake.shutdown().await;
}

const SCRIPTED_NODE_LABEL: &str = "stage('Build') {
    node('tools') {
        container('tools') { sh 'cat input.txt' }
    }
}
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scripted_node_with_a_template_label_runs_in_a_pod() {
    let env = Env::new();
    let more = "    templates:\n    - name: tools\n      labels: [tools]\n      containers: [{name: tools, image: busybox}]\n";
    let (b, log, fake) = run(&env, "scriptednode", SCRIPTED_NODE_LABEL, more).await;
    assert_eq!(b.result, Some(BuildResult::Success), "{log}");
    let pod = pod_of(&log, "Build");
    assert!(log.lines().any(|l| l == "[Build] uploaded-input"), "{log}");
    assert_eq!(
        created_containers(&fake).await,
        [(pod.clone(), "tools".to_owned())]
    );
    assert!(pod_deleted(&fake, &pod), "{:#?}", fake.requests());
    fake.shutdown().await;
}

const DOCKER_AGENTS: &str = r#"pipeline {
  agent { docker { image 'maven:3.9-eclipse-temurin-21'; args '-v $HOME/.m2:/root/.m2' } }
  stages {
    stage('Build') {
      steps { sh 'cat input.txt; echo built' }
    }
    stage('Lint') {
      agent { docker { image 'node:22-alpine' } }
      steps { sh 'echo linted' }
    }
  }
}
"#;

/// Docker agents have no Docker daemon to run on: each runs as a pod whose container
/// `docker` has the agent's image, the top-level one for the build, a stage's for the stage.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_agents_run_as_pods_of_their_image() {
    let env = Env::new();
    // Agents dial kiln: two pods alive at once would share the fake's one network.
    let port = free_base_port(1);
    let more =
        format!("    controller_url: tcp://127.0.0.1:{port}\n    agent_listen: 127.0.0.1:{port}\n");
    let (b, log, fake) = run(&env, "dockeragents", DOCKER_AGENTS, &more).await;
    assert_eq!(b.result, Some(BuildResult::Success), "{log}");
    for line in ["[Build] uploaded-input", "[Build] built", "[Lint] linted"] {
        assert!(log.lines().any(|l| l == line), "{line:?} missing:\n{log}");
    }
    assert!(
        log.contains("docker agent: `args` has no effect in a pod"),
        "{log}"
    );
    assert!(!log.contains("is ignored by"), "{log}");
    let stage_pod = pod_of(&log, "Lint");
    let build_pod = log
        .lines()
        .find_map(|l| l.strip_prefix("Running in pod "))
        .unwrap_or_else(|| panic!("no build pod: {log}"))
        .to_owned();
    let mut expected = vec![
        (build_pod.clone(), "docker".to_owned()),
        (stage_pod.clone(), "docker".to_owned()),
    ];
    expected.sort();
    assert_eq!(created_containers(&fake).await, expected);
    let images = pulled_images(&fake).await;
    for (pod, image) in [
        (&build_pod, "maven:3.9-eclipse-temurin-21"),
        (&stage_pod, "node:22-alpine"),
    ] {
        assert!(
            images.contains(&(pod.clone(), image.to_owned())),
            "{pod} {image}: {images:?}"
        );
        assert!(pod_deleted(&fake, pod), "{pod}: {:#?}", fake.requests());
    }
    fake.shutdown().await;
}

/// `(pod, image)` of every image the fake's kubelet pulled or found, from its events.
pub(crate) async fn pulled_images(fake: &FakeKube) -> Vec<(String, String)> {
    events(fake)
        .await
        .into_iter()
        .filter_map(|(pod, _, message)| Some((pod, message.split('"').nth(1)?.to_owned())))
        .collect()
}

const NO_ACCOUNT: &str = r#"pipeline {
  agent none
  stages {
    stage('Refused') {
      agent { kubernetes { yaml 'spec: {serviceAccountName: nobody, containers: [{name: a, image: busybox}]}' } }
      steps { sh 'echo never' }
    }
  }
}
"#;

/// The API server refuses a stage's pod (its service account, which kiln's pod policy
/// allows, does not exist): the stage's log says what the API server answered, not only
/// what kiln asked of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stage_pod_the_api_server_refuses_fails_the_stage_with_the_api_servers_answer() {
    let env = Env::new();
    let policy = "    pod_policy: {service_accounts: [nobody]}\n";
    let (b, log, fake) = run(&env, "refused", NO_ACCOUNT, policy).await;
    assert_eq!(b.result, Some(BuildResult::Failure), "{log}");
    let error = log
        .lines()
        .find(|l| l.starts_with("[Refused] ERROR: the pod of stage 'Refused' did not start: "))
        .unwrap_or_else(|| panic!("no start error:\n{log}"));
    assert!(error.contains("cannot create pod"), "{error}");
    assert!(
        error.contains(r#"serviceaccount "nobody" not found"#),
        "the API server's answer is missing: {error}"
    );
    assert!(!log.contains("never"), "{log}");
    fake.shutdown().await;
}
