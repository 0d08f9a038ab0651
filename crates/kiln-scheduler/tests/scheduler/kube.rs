//! Builds on Kubernetes: a scheduler configured with `executors.kubernetes` runs a job whose
//! top-level agent is `kubernetes { }` in a pod of the fake cluster (kiln-fake-kube), whose
//! containers are local processes running this target directory's kiln-agent.

use crate::support::{Env, dir_job, user};
use kiln_fake_kube::{FakeKube, FakeKubeConfig};
use kiln_scheduler::{KubeAgent, Scheduler, SystemClock};
use kiln_store::BuildResult;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

/// The kiln-agent binary of this target directory (built when missing).
fn agent_binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| kiln_fake_kube::workspace_binary("kiln-agent", "kiln-agent").unwrap())
        .clone()
}

/// `count` free ports in a row for the agents (the fake's pods share the host network),
/// below the ephemeral range, starting at a place that depends on the process id.
fn free_base_port(count: u16) -> u16 {
    const FIRST: u16 = 20_000;
    const END: u16 = 32_000;
    let span = END - FIRST;
    let mut base = FIRST + (std::process::id() % u32::from(span)) as u16;
    for _ in 0..span {
        if base.saturating_add(count) > END {
            base = FIRST;
        }
        if (base..base + count).all(|p| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok()) {
            return base;
        }
        base += count;
    }
    panic!("no {count} free ports in a row between {FIRST} and {END}");
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
    fake.write_kubeconfig(&kubeconfig).unwrap();
    let dir = env.dir("kjob", JENKINSFILE);
    std::fs::write(dir.join("input.txt"), "uploaded-input\n").unwrap();
    let executors = format!(
        "executors:\n  kubernetes:\n    connection: {{kubeconfig: {{path: '{}'}}}}\n",
        kubeconfig.display()
    );
    let config = env.config(&format!("{executors}{}", dir_job("kjob", &dir, "")));
    let agent = KubeAgent {
        install_command: Some(vec![
            agent_binary().display().to_string(),
            "--install".into(),
            kiln_kube::AGENT_BINARY.into(),
        ]),
        base_port: free_base_port(2),
    };
    let h = Scheduler::start_with_kube_agent(
        config,
        env.store.clone(),
        env.data.clone(),
        Arc::new(SystemClock),
        agent,
    )
    .unwrap();
    let id = h.trigger(user("kjob")).await.unwrap();
    let b = env.finished(&id).await;
    let log = env.log(&id);
    assert_eq!(b.result, Some(BuildResult::Success), "{log}");
    assert!(log.starts_with("Started by user alice\n"), "{log}");
    assert!(log.contains("Running in pod kiln-kjob-1-"), "{log}");
    assert!(log.contains("[Build] from-b\n"), "{log}");
    assert_eq!(log.matches("[Build] uploaded-input\n").count(), 2, "{log}");
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

#[tokio::test]
async fn a_bad_kubernetes_section_stops_the_start_with_the_reason() {
    let env = Env::new();
    let config = env.config("executors:\n  kubernetes:\n    namespaec: builds\n");
    let Err(err) = Scheduler::start(config, env.store.clone(), env.data.clone()) else {
        panic!("the start was not refused");
    };
    let text = err.to_string();
    assert!(text.contains("executors.kubernetes"), "{text}");
    assert!(text.contains("namespaec"), "{text}");
}
