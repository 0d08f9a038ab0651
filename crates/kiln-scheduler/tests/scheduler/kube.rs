//! Builds on Kubernetes: a scheduler configured with `executors.kubernetes` runs a job whose
//! top-level agent is `kubernetes { }` in a pod of the fake cluster (kiln-fake-kube), whose
//! containers are local processes running this target directory's kiln-agent.

use crate::support::{Env, commit, dir_job, git, status, user};
use kiln_engine::InputAnswer;
use kiln_fake_kube::{FakeKube, FakeKubeConfig};
use kiln_kube::KubeAgent;
use kiln_scheduler::SchedulerHandle;
use kiln_store::BuildStatus;
use kiln_types::BuildResult;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

/// The kiln-agent binary of this target directory (built when missing).
pub(crate) fn agent_binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| kiln_fake_kube::workspace_binary("kiln-agent", "kiln-agent").unwrap())
        .clone()
}

/// `count` free ports in a row for the agents (the fake's pods share the host network).
pub(crate) fn free_base_port(count: u16) -> u16 {
    kiln_fake_kube::free_agent_ports(count)
}

const JENKINSFILE: &str = "pipeline {
  agent {
    kubernetes {
      yaml '''
spec:
  containers:
  - name: a
    image: busybox
  - name: b
    image: alpine
'''
    }
  }
  stages {
    stage('Build') {
      steps {
        sh 'cat input.txt'
        container('b') {
          sh 'echo from-b; cat input.txt'
        }
        sh 'echo server-env=${CARGO_MANIFEST_DIR:-none}'
      }
    }
  }
}
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kubernetes_agent_build_runs_in_a_pod_of_the_configured_cluster() {
    let env = Env::new();
    let fake = FakeKube::start(FakeKubeConfig::default(), 0).await.unwrap();
    let kubeconfig = env.tmp.path().join("kubeconfig");
    kiln_identity(&fake, &kubeconfig, "");
    let dir = env.dir("kjob", JENKINSFILE);
    std::fs::write(dir.join("input.txt"), "uploaded-input\n").unwrap();
    let executors = format!(
        "executors:\n  kubernetes:\n    connection: {{kubeconfig: {{path: '{}'}}}}\n",
        kubeconfig.display()
    );
    let config = env.config(&format!("{executors}{}", dir_job("kjob", &dir, "")));
    let h = start(&env, config, test_agent(2));
    let id = h.trigger(user("kjob")).await.unwrap();
    let b = env.finished(&id).await;
    let log = env.log(&id);
    assert_eq!(b.result, Some(BuildResult::Success), "{log}");
    assert!(log.starts_with("Started by user alice\n"), "{log}");
    assert!(log.contains("Running in pod kiln-kjob-1-"), "{log}");
    assert!(log.contains("[Build] from-b\n"), "{log}");
    assert_eq!(log.matches("[Build] uploaded-input\n").count(), 2, "{log}");
    // The server's environment (this test process's) does not reach the pod.
    assert!(log.contains("[Build] server-env=none\n"), "{log}");
    assert!(log.ends_with("Finished: SUCCESS\n"), "{log}");
    let requests = fake.requests();
    let created: Vec<_> = requests
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/pods") && r.status == 201)
        .collect();
    assert_eq!(created.len(), 1, "{requests:#?}");
    let deleted = requests
        .iter()
        .any(|r| r.method == "DELETE" && r.path.contains("/pods/kiln-kjob-1-") && r.status < 300);
    assert!(deleted, "the pod was not deleted: {requests:#?}");
    h.shutdown().await;
    fake.shutdown().await;
}

/// How the tests' pods get the agent: this target directory's binary, port-forward ports
/// from `free_base_port` (unused when the agents dial in).
fn test_agent(containers: u16) -> KubeAgent {
    KubeAgent {
        install_command: Some(vec![
            agent_binary().display().to_string(),
            "--install".into(),
            kiln_kube::AGENT_BINARY.into(),
        ]),
        base_port: free_base_port(containers),
    }
}

/// kiln acts as deploy/'s `kiln` service account with deploy/'s RBAC (its kubeconfig written
/// to `path`); without `controller_url` in `more` kiln port-forwards to the agents, which
/// needs `pods/portforward` besides (as docs/kubernetes.md says).
pub(crate) fn kiln_identity(fake: &FakeKube, path: &std::path::Path, more: &str) {
    fake.write_kiln_kubeconfig(path).unwrap();
    if !more.contains("controller_url") {
        fake.grant_kiln("default", "pods/portforward", &["create"])
            .unwrap();
    }
}

/// A fake cluster and the `executors:` YAML reaching it (`more` is added to the
/// `kubernetes:` section, indented by four spaces).
async fn fake_cluster(env: &Env, more: &str) -> (FakeKube, String) {
    let fake = FakeKube::start(FakeKubeConfig::default(), 0).await.unwrap();
    let kubeconfig = env.tmp.path().join("kubeconfig");
    kiln_identity(&fake, &kubeconfig, more);
    let executors = format!(
        "executors:\n  kubernetes:\n    connection: {{kubeconfig: {{path: '{}'}}}}\n{more}",
        kubeconfig.display()
    );
    (fake, executors)
}

fn start(env: &Env, config: Arc<kiln_config::Config>, agent: KubeAgent) -> SchedulerHandle {
    env.start_with_kube(config, agent).unwrap()
}

const POOLED: &str = "pipeline {
  agent { label 'tools' }
  stages {
    stage('Build') {
      steps {
        sh 'cat input.txt'
      }
    }
  }
}
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_controller_url_the_agents_dial_kiln_also_in_warm_pods() {
    let env = Env::new();
    let port = free_base_port(1);
    let more = format!(
        "    controller_url: tcp://127.0.0.1:{port}\n    agent_listen: 127.0.0.1:{port}\n    templates:\n    - name: tools\n      labels: [tools]\n      containers: [{{name: tools, image: busybox}}]\n      pool: {{min: 1, max: 1}}\n"
    );
    let (fake, executors) = fake_cluster(&env, &more).await;
    let dir = env.dir("kjob", JENKINSFILE);
    std::fs::write(dir.join("input.txt"), "uploaded-input\n").unwrap();
    let pooled = env.dir("pooled", POOLED);
    std::fs::write(pooled.join("input.txt"), "pooled-input\n").unwrap();
    let jobs = format!(
        "{}  - name: pooled\n    dir: {}\n",
        dir_job("kjob", &dir, ""),
        pooled.display()
    );
    let h = start(
        &env,
        env.config(&format!("{executors}{jobs}")),
        test_agent(2),
    );
    let id = h.trigger(user("kjob")).await.unwrap();
    let b = env.finished(&id).await;
    let log = env.log(&id);
    assert_eq!(b.result, Some(BuildResult::Success), "{log}");
    assert!(log.contains("[Build] from-b\n"), "{log}");
    assert_eq!(log.matches("[Build] uploaded-input\n").count(), 2, "{log}");

    // Builds of a pooled template succeed, and (once the pool's pod is ready) one runs in
    // a warm pod whose agent dialled in too. When the pool's pod is ready depends on the
    // machine's load: builds are tried until one finds it (a minute at most).
    let mut warm = false;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::time::Instant::now() < deadline {
        let id = h.trigger(user("pooled")).await.unwrap();
        let b = env.finished(&id).await;
        let log = env.log(&id);
        assert_eq!(b.result, Some(BuildResult::Success), "{log}");
        assert!(log.contains("[Build] pooled-input\n"), "{log}");
        if log.contains("Running in pod kiln-pool-tools-") {
            warm = true;
            break;
        }
    }
    assert!(warm, "no build ran in a warm pod");
    // The agents dialled kiln's listener: nothing went through the API server's
    // port-forward.
    let requests = fake.requests();
    let forwarded: Vec<_> = requests
        .iter()
        .filter(|r| r.path.ends_with("/portforward"))
        .collect();
    assert!(forwarded.is_empty(), "{forwarded:#?}");
    h.shutdown().await;
    fake.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_agent_listen_address_stops_the_start() {
    let env = Env::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let config = env.config(&format!(
        "executors:\n  kubernetes:\n    controller_url: tcp://127.0.0.1:{port}\n    agent_listen: 127.0.0.1:{port}\n"
    ));
    let Err(err) = env.start_with_kube(config, KubeAgent::default()) else {
        panic!("the start was not refused");
    };
    let text = err;
    let want = format!("cannot listen for build agents on 127.0.0.1:{port} (agent_listen)");
    assert!(text.contains(&want), "{text}");
}

const WAITS: &str = "pipeline {
  agent {
    kubernetes {
      yaml '''
spec:
  containers:
  - name: main
    image: busybox
'''
    }
  }
  stages {
    stage('Build') {
      steps {
        input message: 'Go on?'
        sh 'echo done'
      }
    }
  }
}
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn builds_wait_for_a_free_pod_slot_and_can_be_cancelled_while_waiting() {
    let env = Env::new();
    let (fake, executors) = fake_cluster(&env, "    max_concurrent_pods: 1\n").await;
    let mut jobs = String::from("queue:\n  capacity: 4\njobs:\n");
    for name in ["first", "second", "third"] {
        let dir = env.dir(name, WAITS);
        jobs.push_str(&format!("  - name: {name}\n    dir: {}\n", dir.display()));
    }
    let h = start(
        &env,
        env.config(&format!("{executors}{jobs}")),
        test_agent(1),
    );
    let first = h.trigger(user("first")).await.unwrap();
    env.until(|| (status(&env, &first) == BuildStatus::WaitingForInput).then_some(()))
        .await;

    // The only pod slot is the first build's: the second waits, saying so, until it is
    // cancelled; no pod is made for it.
    let second = h.trigger(user("second")).await.unwrap();
    let waiting = "Started by user alice\nWaiting for a pod: 1 of 1 pods in use\n";
    env.until(|| (env.log(&second) == waiting).then_some(()))
        .await;
    h.cancel(&second, "bob").await.unwrap();
    let b = env.finished(&second).await;
    let log = env.log(&second);
    assert_eq!(b.result, Some(BuildResult::Aborted), "{log}");
    assert!(
        log.starts_with(&format!(
            "{waiting}Aborted while the build's pod was starting\n"
        )),
        "{log}"
    );

    // The third waits too, and runs once the first build ends and frees the slot.
    let third = h.trigger(user("third")).await.unwrap();
    env.until(|| (env.log(&third) == waiting).then_some(()))
        .await;
    let go = InputAnswer::Proceed {
        values: BTreeMap::new(),
        by: "dave".into(),
    };
    h.answer_input(&first, go.clone()).await.unwrap();
    assert_eq!(
        env.finished(&first).await.result,
        Some(BuildResult::Success)
    );
    env.until(|| (status(&env, &third) == BuildStatus::WaitingForInput).then_some(()))
        .await;
    h.answer_input(&third, go).await.unwrap();
    let b = env.finished(&third).await;
    let log = env.log(&third);
    assert_eq!(b.result, Some(BuildResult::Success), "{log}");
    assert!(log.starts_with(waiting), "{log}");
    assert!(log.contains("\nRunning in pod kiln-third-1-"), "{log}");
    assert_eq!(log.matches("Started by user alice").count(), 1, "{log}");
    assert!(log.contains("[Build] done\n"), "{log}");

    let created: Vec<String> = fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/pods") && r.status == 201)
        .map(|r| r.path)
        .collect();
    assert_eq!(created.len(), 2, "{created:?}");
    h.shutdown().await;
    fake.shutdown().await;
}

const YAML_FILE: &str = "pipeline {
  agent {
    kubernetes {
      yamlFile 'ci/pod.yaml'
    }
  }
  stages {
    stage('Build') {
      steps {
        container('tools') {
          sh 'echo from-$WHO'
        }
      }
    }
  }
}
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn yaml_file_is_read_from_the_builds_checkout_at_its_commit() {
    let env = Env::new();
    let (fake, executors) = fake_cluster(&env, "").await;
    let good = "spec:\n  containers:\n  - name: main\n    image: busybox\n  - name: tools\n    image: busybox\n    env: [{name: WHO, value: the-file}]\n";
    let repo = env.repo("app", &[("Jenkinsfile", YAML_FILE), ("ci/pod.yaml", good)]);
    let jobs = format!(
        "jobs:\n  - name: app\n    repo: {}\n    branch: main\n",
        repo.display()
    );
    let h = start(
        &env,
        env.config(&format!("{executors}{jobs}")),
        test_agent(2),
    );
    let id = h.trigger(user("app")).await.unwrap();
    let b = env.finished(&id).await;
    let log = env.log(&id);
    assert_eq!(b.result, Some(BuildResult::Success), "{log}");
    assert!(log.contains("[Build] from-the-file\n"), "{log}");

    // The next commit breaks the file: the build fails before any pod, naming the file
    // and the line and column in it.
    let bad = "spec:\n  containers:\n  - name: main\n    imagePullPolice: Always\n";
    commit(&repo, &[("ci/pod.yaml", bad)], "break the pod");
    let id = h.trigger(user("app")).await.unwrap();
    let b = env.finished(&id).await;
    let log = env.log(&id);
    assert_eq!(b.result, Some(BuildResult::Failure), "{log}");
    assert!(log.contains("ERROR: the build's pod is invalid\n"), "{log}");
    assert!(
        log.contains("error: unknown field `imagePullPolice` in `spec.containers[0]`"),
        "{log}"
    );
    assert!(log.contains("yamlFile 'ci/pod.yaml'"), "{log}");
    assert!(log.contains("at ci/pod.yaml:4:5"), "{log}");

    // And a commit without it says which file is missing.
    git(&repo, &["rm", "--quiet", "ci/pod.yaml"]);
    commit(&repo, &[], "no pod file");
    let id = h.trigger(user("app")).await.unwrap();
    let b = env.finished(&id).await;
    let log = env.log(&id);
    assert_eq!(b.result, Some(BuildResult::Failure), "{log}");
    assert!(
        log.contains("cannot read `yamlFile` `ci/pod.yaml`: no such file in the workspace"),
        "{log}"
    );
    let created = fake
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/pods"))
        .count();
    assert_eq!(created, 1);
    h.shutdown().await;
    fake.shutdown().await;
}

#[tokio::test]
async fn a_bad_kubernetes_section_stops_the_start_with_the_reason() {
    let env = Env::new();
    let config = env.config("executors:\n  kubernetes:\n    namespaec: builds\n");
    let Err(err) = env.start_with_kube(config, KubeAgent::default()) else {
        panic!("the start was not refused");
    };
    let text = err;
    assert!(text.contains("executors.kubernetes"), "{text}");
    assert!(text.contains("namespaec"), "{text}");
}

const PRIVILEGED: &str = "pipeline {
  agent {
    kubernetes {
      yaml '''
spec:
  containers:
  - name: a
    image: busybox
  - name: dind
    image: docker:dind
    securityContext:
      privileged: true
'''
    }
  }
  stages {
    stage('Build') {
      steps {
        sh 'echo should-not-run'
      }
    }
  }
}
";

/// The default pod policy refuses a privileged container before any request; the build log
/// names the field; `pod_policy.allow_privileged` lets the same pipeline run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_the_policy_refuses_fails_the_build_naming_the_field() {
    let env = Env::new();
    let (fake, executors) = fake_cluster(&env, "").await;
    let dir = env.dir("priv", PRIVILEGED);
    let config = env.config(&format!("{executors}{}", dir_job("priv", &dir, "")));
    let h = start(&env, config, test_agent(2));
    let id = h.trigger(user("priv")).await.unwrap();
    let b = env.finished(&id).await;
    let log = env.log(&id);
    assert_eq!(b.result, Some(BuildResult::Failure), "{log}");
    assert!(
        log.contains(
            "the pod is refused by executors.kubernetes.pod_policy: spec.containers[1].securityContext.privileged: privileged containers are not allowed (pod_policy.allow_privileged)"
        ),
        "{log}"
    );
    assert!(!log.contains("should-not-run"), "{log}");
    let requests = fake.requests();
    assert!(
        !requests.iter().any(|r| r.method == "POST"),
        "nothing was created: {requests:#?}"
    );
    h.shutdown().await;
    fake.shutdown().await;

    let env = Env::new();
    let (fake, executors) = fake_cluster(&env, "    pod_policy: {allow_privileged: true}\n").await;
    let dir = env.dir("priv", PRIVILEGED);
    let config = env.config(&format!("{executors}{}", dir_job("priv", &dir, "")));
    let h = start(&env, config, test_agent(2));
    let id = h.trigger(user("priv")).await.unwrap();
    let b = env.finished(&id).await;
    let log = env.log(&id);
    assert_eq!(b.result, Some(BuildResult::Success), "{log}");
    assert!(log.contains("[Build] should-not-run\n"), "{log}");
    h.shutdown().await;
    fake.shutdown().await;
}
