//! Autoscaled clusters: an Unschedulable pod waits while the autoscaler adds a node
//! (`TriggeredScaleUp`), and fails at once with the autoscaler's reason when it will not.

use crate::harness::*;
use kiln_executor::{Executor, ExitStatus, ProcessSpec};
use kiln_fake_kube::{AutoscalerConfig, NodeConfig};
use kiln_kube::KubeExecutor;
use std::time::Duration;

/// A pod only the autoscaler's nodes (label `pool: big`) can take.
const BIG: &str =
    "spec:\n  nodeSelector: {pool: big}\n  containers:\n  - name: main\n    image: busybox\n";

fn autoscaler(delay: Duration, max_nodes: u32) -> AutoscalerConfig {
    AutoscalerConfig {
        template: NodeConfig::new("big").label("pool", "big"),
        ..AutoscalerConfig::new(delay, max_nodes)
    }
}

#[tokio::test]
async fn an_unschedulable_pod_waits_for_the_scale_up_and_runs() {
    let c = cluster().await;
    // The node comes after twice the scale-up window: kiln waits because of the event.
    c.fake
        .set_autoscaler(Some(autoscaler(Duration::from_secs(4), 1)));
    let name = pod_name("scaleup");
    let ex = start(&c, &port_forward(1), &name, BIG).await;
    let h = ex
        .spawn(ProcessSpec::new(vec!["true".into()]))
        .await
        .unwrap();
    assert_eq!(h.wait().await.unwrap(), ExitStatus::Code(0));
    let pod = c.fake.object("pods", "default", &name).unwrap();
    assert!(
        pod["spec"]["nodeName"]
            .as_str()
            .unwrap()
            .starts_with("fake-pool-"),
        "{pod:#}"
    );
    ex.cleanup().await.unwrap();
    c.fake.shutdown().await;
}

#[tokio::test]
async fn no_scale_up_fails_at_once_with_the_autoscalers_reason() {
    let c = cluster().await;
    c.fake
        .set_autoscaler(Some(autoscaler(Duration::from_secs(1), 0)));
    let name = pod_name("noscale");
    let mut settings = port_forward(1);
    // Without the autoscaler's word this would wait the whole window.
    settings.scale_up_window = Duration::from_secs(120);
    let err = match KubeExecutor::start(c.client.clone(), &settings, pod_request(&name, BIG)).await
    {
        Ok(_) => panic!("the pod started"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.starts_with(&format!("pod {name} cannot be scheduled: ")),
        "{err}"
    );
    assert!(err.contains("(no scale-up: "), "{err}");
    assert!(c.fake.object("pods", "default", &name).is_none());
    c.fake.shutdown().await;
}
