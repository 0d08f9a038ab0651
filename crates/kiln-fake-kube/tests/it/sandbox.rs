//! The kubelet's containers: volumes at their mount paths in a private mount namespace,
//! environment, init containers, and no processes or host directories left behind.

use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::Api;
use kube::api::{LogParams, PostParams};
use serde_json::json;

use crate::harness::{client, create, logs_until, phase, pods, shell_pod, start, wait_for};

#[tokio::test]
async fn volumes_env_and_init_containers() {
    let fake = start().await;
    let secrets: Api<Secret> = Api::namespaced(client(&fake), "default");
    let secret: Secret = serde_json::from_value(
        json!({"metadata": {"name": "creds"}, "stringData": {"token": "s3cret"}}),
    )
    .unwrap();
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    let api = pods(&fake);
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "kaniko"},
        "spec": {
            "restartPolicy": "Never",
            "volumes": [{"name": "ws", "emptyDir": {}}, {"name": "docker", "secret": {"secretName": "creds"}}],
            "initContainers": [{"name": "checkout", "image": "busybox", "command": ["sh", "-c", "echo src > /workspace/file"],
                "volumeMounts": [{"name": "ws", "mountPath": "/workspace"}]}],
            "containers": [{"name": "build", "image": "busybox", "workingDir": "/workspace",
                "command": ["sh", "-c", "pwd; cat file; cat /kaniko/.docker/token; echo; echo $POD $TOKEN"],
                "env": [
                    {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                    {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}}},
                ],
                "volumeMounts": [{"name": "ws", "mountPath": "/workspace"}, {"name": "docker", "mountPath": "/kaniko/.docker", "readOnly": true}]}],
        },
    }))
    .unwrap();
    create(&api, &pod).await;
    let done = wait_for(&api, "kaniko", |p| {
        phase(p) == "Succeeded" || phase(p) == "Failed"
    })
    .await;
    let logs = api
        .logs(
            "kaniko",
            &LogParams {
                container: Some("build".into()),
                ..LogParams::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(phase(&done), "Succeeded", "{logs}");
    assert_eq!(logs, "/workspace\nsrc\ns3cret\nkaniko s3cret\n");
    let init = done.status.unwrap().init_container_statuses.unwrap();
    assert_eq!(
        init[0]
            .state
            .as_ref()
            .unwrap()
            .terminated
            .as_ref()
            .unwrap()
            .reason
            .as_deref(),
        Some("Completed")
    );
    assert!(
        !std::path::Path::new("/workspace").exists() && !std::path::Path::new("/kaniko").exists()
    );
    fake.shutdown().await;
}

#[tokio::test]
async fn stopping_the_fake_kills_its_processes() {
    let fake = start().await;
    let api = pods(&fake);
    create(
        &api,
        &shell_pod("sleeper", "echo $$; sleep 300 & wait", "Never"),
    )
    .await;
    wait_for(&api, "sleeper", crate::harness::is_ready).await;
    let pid = logs_until(&api, "sleeper", |l| l.ends_with('\n')).await;
    let proc_dir = format!("/proc/{}", pid.trim());
    assert!(std::path::Path::new(&proc_dir).exists());
    drop(fake);
    let gone = !std::path::Path::new(&proc_dir).exists()
        || std::fs::read_to_string(format!("{proc_dir}/stat")).is_ok_and(|s| s.contains(") Z"));
    assert!(gone, "container process survived the fake");
}

#[tokio::test]
async fn hidden_paths_are_empty_in_containers_and_need_isolation() {
    let host = tempfile::tempdir().unwrap();
    std::fs::write(host.path().join("secret"), "server data").unwrap();
    let dir = host.path().display().to_string();
    let fake = crate::harness::start_with(kiln_fake_kube::FakeKubeConfig {
        hidden_paths: vec![host.path().to_path_buf()],
        ..kiln_fake_kube::FakeKubeConfig::default()
    })
    .await;
    let api = pods(&fake);
    let script = format!("ls -A {dir} | wc -l; cat {dir}/secret || echo unreadable; echo done");
    create(&api, &shell_pod("peek", &script, "Never")).await;
    wait_for(&api, "peek", |p| {
        phase(p) == "Succeeded" || phase(p) == "Failed"
    })
    .await;
    let logs = logs_until(&api, "peek", |l| l.contains("done")).await;
    assert!(
        logs.starts_with("0\n") && logs.contains("unreadable") && !logs.contains("server data"),
        "{logs}"
    );
    assert!(host.path().join("secret").is_file(), "the host keeps it");
    fake.shutdown().await;

    let refused = kiln_fake_kube::FakeKube::start(
        kiln_fake_kube::FakeKubeConfig {
            isolation: kiln_fake_kube::Isolation::None,
            hidden_paths: vec![host.path().to_path_buf()],
            ..kiln_fake_kube::FakeKubeConfig::default()
        },
        0,
    )
    .await;
    assert!(matches!(
        refused,
        Err(kiln_fake_kube::FakeKubeError::HiddenWithoutIsolation)
    ));
}

#[tokio::test]
async fn deleting_a_pod_kills_every_process_of_its_containers_in_any_process_group() {
    let fake = start().await;
    let api = pods(&fake);
    // A daemon in a session (and process group) of its own, as a step's `setsid cmd &` or
    // the processes kiln's agent starts each in a group of its own.
    create(
        &api,
        &shell_pod(
            "daemons",
            "setsid sh -c 'echo $$; exec sleep 300' & sleep 300",
            "Never",
        ),
    )
    .await;
    wait_for(&api, "daemons", crate::harness::is_ready).await;
    let pid = logs_until(&api, "daemons", |l| l.ends_with('\n')).await;
    let proc_dir = format!("/proc/{}", pid.trim());
    let alive =
        || std::fs::read_to_string(format!("{proc_dir}/stat")).is_ok_and(|s| !s.contains(") Z"));
    assert!(alive(), "the daemon runs: {pid}");
    api.delete("daemons", &kube::api::DeleteParams::default())
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + crate::harness::PATIENCE;
    while api.get_opt("daemons").await.unwrap().is_some() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the pod was not removed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // Gone with its pod, as every process of a container's cgroup on a node.
    assert!(
        !alive(),
        "a process of the deleted pod survived it: {pid} {:?} {:?}",
        std::fs::read_to_string(format!("{proc_dir}/stat")),
        std::fs::read_link(format!("{proc_dir}/ns/mnt"))
    );
    fake.shutdown().await;
}
