//! The executor's processes and files in pod containers: routing, workspace sharing, env and
//! cwd, files over the agent, cancellation, and a controller restart with re-attach.

use crate::harness::*;
use kiln_executor::{Executor, ExitStatus, ProcessHandle, ProcessSpec};
use kiln_kube::KubeExecutor;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

fn sh(container: &str, script: &str) -> ProcessSpec {
    ProcessSpec::new(vec!["sh".into(), "-c".into(), script.into()])
        .env(BTreeMap::from([(
            "STEP_VAR".to_owned(),
            "from-step".to_owned(),
        )]))
        .cwd("/workspace")
        .container(Some(container.to_owned()))
}

async fn collect(mut handle: ProcessHandle) -> (String, ExitStatus) {
    let mut out = Vec::new();
    while let Some(chunk) = handle.next_chunk().await {
        out.extend_from_slice(&chunk.bytes);
    }
    let status = handle.wait().await.unwrap();
    (String::from_utf8_lossy(&out).into_owned(), status)
}

async fn run(executor: &KubeExecutor, spec: ProcessSpec) -> (String, ExitStatus) {
    collect(executor.spawn(spec).await.unwrap()).await
}

#[tokio::test]
async fn steps_run_in_the_named_container_and_share_the_workspace() {
    let c = cluster().await;
    let settings = port_forward(2);
    let name = pod_name("share");
    let ex = start(&c, &settings, &name, TWO_CONTAINERS).await;
    let (out, status) = run(
        &ex,
        sh("a", "echo a > /workspace/x; echo $KILN_CONTAINER_NAME"),
    )
    .await;
    assert!(status.success(), "{out}");
    let (out, status) = run(
        &ex,
        sh(
            "b",
            "cat /workspace/x; echo $STEP_VAR; pwd; test -z \"$KILN_AGENT_TOKEN\" && echo no-token",
        ),
    )
    .await;
    assert_eq!(
        (out.as_str(), status),
        ("a\nfrom-step\n/workspace\nno-token\n", ExitStatus::Code(0))
    );
    // Each container's agent knows its name; processes run beside it.
    let agents = c.fake.object("pods", "default", &name).unwrap();
    let commands: Vec<String> = agents["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["command"][0].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        commands,
        vec!["/kiln/bin/kiln-agent", "/kiln/bin/kiln-agent"]
    );
    let err = ex.spawn(sh("nope", "true")).await.unwrap_err().to_string();
    assert!(
        err.contains("has no container `nope` (its containers: a, b)"),
        "{err}"
    );
    ex.cleanup().await.unwrap();
    c.fake.shutdown().await;
}

#[tokio::test]
async fn files_move_over_the_agent_connection() {
    let c = cluster().await;
    let settings = dial().await;
    let ex = start(&c, &settings, &pod_name("files"), TWO_CONTAINERS).await;
    let big: Vec<u8> = (0..3_000_000_u32).map(|i| (i % 253) as u8).collect();
    ex.write_file(Path::new("out/big.bin"), &big).await.unwrap();
    ex.write_file(Path::new("out/report.xml"), b"<x/>")
        .await
        .unwrap();
    assert_eq!(
        ex.read_file(Path::new("/workspace/out/big.bin"))
            .await
            .unwrap(),
        big
    );
    assert!(ex.file_exists(Path::new("out/report.xml")).await.unwrap());
    let listed = ex
        .list_files(Path::new("out"), &["**/*.xml".into()], &[])
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].path, Path::new("report.xml"));
    // A step in the other container sees the files: one shared workspace volume.
    let (out, _) = run(&ex, sh("b", "wc -c < out/big.bin")).await;
    assert_eq!(out.trim(), "3000000");
    ex.delete_dir(Path::new("out")).await.unwrap();
    assert!(!ex.file_exists(Path::new("out/report.xml")).await.unwrap());
    let missing = ex.read_file(Path::new("nope.txt")).await.unwrap_err();
    assert!(
        matches!(missing, kiln_executor::ExecError::File { ref source, .. } if source.kind() == std::io::ErrorKind::NotFound),
        "{missing:?}"
    );
    ex.cleanup().await.unwrap();
    c.fake.shutdown().await;
}

#[tokio::test]
async fn cancellation_kills_the_process_group_in_the_container() {
    let c = cluster().await;
    let settings = port_forward(1);
    let ex = start(
        &c,
        &settings,
        &pod_name("cancel"),
        "spec:\n  containers:\n  - name: main\n    image: busybox\n",
    )
    .await;
    let script = "sleep 60 & echo $! > /workspace/child.pid; echo started; wait";
    let mut handle = ex.spawn(sh("main", script)).await.unwrap();
    let first = handle.next_chunk().await.unwrap();
    assert_eq!(first.bytes, b"started\n");
    handle.killer().terminate();
    let (_, status) = collect(handle).await;
    assert_eq!(status, ExitStatus::Signal(15));
    let pid = String::from_utf8(ex.read_file(Path::new("child.pid")).await.unwrap()).unwrap();
    // The fake shares the host's pid space: the background child must be gone.
    // Dying takes a turn on the CPU: wait for it (30 s at most, not a speed check).
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let gone = loop {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())).unwrap_or_default();
        let dead = stat.is_empty() || stat.contains(") Z ");
        if dead || std::time::Instant::now() >= deadline {
            break dead;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(gone, "sleep {pid} survived the kill");
    ex.cleanup().await.unwrap();
    c.fake.shutdown().await;
}

#[tokio::test]
async fn a_new_controller_reattaches_and_gets_the_rest_without_running_twice() {
    let c = cluster().await;
    let settings = port_forward(1);
    let name = pod_name("reattach");
    let first = start(
        &c,
        &settings,
        &name,
        "spec:\n  containers:\n  - name: main\n    image: busybox\n",
    )
    .await;
    let script = "echo run >> /workspace/runs; echo one; while [ ! -e /workspace/go ]; do sleep 0.05; done; echo two";
    let mut handle = first.spawn(sh("main", script)).await.unwrap();
    let chunk = handle.next_chunk().await.unwrap();
    assert_eq!(
        (chunk.offset, chunk.bytes.as_slice()),
        (0, b"one\n".as_slice())
    );
    let (container, followed) = first.processes().pop().unwrap();
    assert_eq!(container, "main");
    // The controller goes away mid-step; the pod and the process stay.
    drop(handle);
    drop(first);
    let second = KubeExecutor::reattach(c.client.clone(), &settings, "default", &name)
        .await
        .unwrap();
    second.write_file(Path::new("go"), b"").await.unwrap();
    let resumed = second.attach(Some("main"), &followed.id, 4).await.unwrap();
    let (out, status) = collect(resumed).await;
    assert_eq!((out.as_str(), status), ("two\n", ExitStatus::Code(0)));
    let runs = second.read_file(Path::new("runs")).await.unwrap();
    assert_eq!(runs, b"run\n", "the step ran once");
    second.cleanup().await.unwrap();
    assert!(
        c.fake.object("pods", "default", &name).is_none()
            || c.fake.object("pods", "default", &name).unwrap()["metadata"]["deletionTimestamp"]
                .is_string()
    );
    c.fake.shutdown().await;
}
