//! Node loss: a node whose kubelet stops reporting fails the running step naming the node,
//! as soon as the pod is marked not ready, not when its toleration runs out minutes later.

use crate::harness::*;
use kiln_executor::{Executor, ProcessSpec};
use std::time::Duration;

const ONE: &str = "spec:\n  containers:\n  - name: main\n    image: busybox\n";

/// A step that runs until its agent dies (the fake's containers run on the host).
const UNTIL_AGENT_DIES: &str = "echo up; while kill -0 $PPID 2>/dev/null; do sleep 0.1; done";

#[tokio::test]
async fn a_lost_node_fails_the_running_step_naming_the_node() {
    let c = cluster().await;
    // The taint eviction would delete the pod only after ten minutes.
    c.fake.set_node_lost_grace(Duration::from_secs(600));
    let name = pod_name("nodeloss");
    let mut settings = port_forward(1);
    // Without node-loss detection the step would fail only after this, saying the agent
    // cannot be reached.
    settings.reconnect_deadline = Duration::from_secs(120);
    let ex = start(&c, &settings, &name, ONE).await;
    let pod = c.fake.object("pods", "default", &name).unwrap();
    let node = pod["spec"]["nodeName"].as_str().unwrap().to_owned();
    let mut handle = ex
        .spawn(ProcessSpec::new(vec![
            "sh".into(),
            "-c".into(),
            UNTIL_AGENT_DIES.into(),
        ]))
        .await
        .unwrap();
    assert_eq!(handle.next_chunk().await.unwrap().bytes, b"up\n");
    c.fake.lose_node(&node).unwrap();
    let mut out = String::new();
    let ended = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(chunk) = handle.next_chunk().await {
            out.push_str(&String::from_utf8_lossy(&chunk.bytes));
        }
    })
    .await;
    assert!(ended.is_ok(), "the step did not fail: {out}");
    assert!(
        out.contains(&format!(
            "kiln: node {node} lost (Ready Unknown: Kubelet stopped posting node status.)"
        )),
        "{out}"
    );
    let again = ex
        .spawn(ProcessSpec::new(vec!["true".into()]))
        .await
        .unwrap_err();
    assert!(
        again.to_string().contains(&format!("node {node} lost")),
        "{again}"
    );
    ex.cleanup().await.unwrap();
    c.fake.shutdown().await;
}
