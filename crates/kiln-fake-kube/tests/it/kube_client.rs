//! kube-rs against the fake: create, watch, logs, exec, port-forward, delete, and the API's
//! answers to pods that exit, never schedule, or are invalid.

use futures_util::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{AttachParams, DeleteParams, ListParams, PostParams, WatchEvent, WatchParams};
use kube::runtime::wait::{await_condition, conditions};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::{
    PATIENCE, create, is_ready, logs_until, phase, pods, raw, shell_pod, start, wait_for,
};

#[tokio::test]
async fn create_watch_logs_exec_delete() {
    let fake = start().await;
    let api = pods(&fake);
    let created = create(&api, &shell_pod("web", "echo started; sleep 60", "Always")).await;
    let uid = created.metadata.uid.clone().unwrap();
    let running = wait_for(&api, "web", is_ready).await;
    assert_eq!(phase(&running), "Running");
    assert_eq!(
        running.spec.as_ref().unwrap().node_name.as_deref(),
        Some("fake-node-1")
    );

    // Ready means the process started, not that it has printed yet: wait for the line.
    let logs = logs_until(&api, "web", |l| !l.is_empty()).await;
    assert_eq!(logs, "started\n");

    let mut attached = api
        .exec(
            "web",
            ["sh", "-c", "echo out; echo err >&2; exit 4"],
            &AttachParams::default().stderr(true),
        )
        .await
        .unwrap();
    let mut stdout = String::new();
    attached
        .stdout()
        .unwrap()
        .read_to_string(&mut stdout)
        .await
        .unwrap();
    let status = attached.take_status().unwrap().await.unwrap();
    assert_eq!(stdout, "out\n");
    assert_eq!(status.status.as_deref(), Some("Failure"));
    assert_eq!(status.reason.as_deref(), Some("NonZeroExitCode"));
    let cause = &status.details.unwrap().causes.unwrap()[0];
    assert_eq!(
        (cause.reason.as_deref(), cause.message.as_deref()),
        (Some("ExitCode"), Some("4"))
    );

    let listed = api
        .list(&ListParams::default().labels("app=kiln-test"))
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 1);
    let by_name = api
        .list(&ListParams::default().fields("metadata.name=other"))
        .await
        .unwrap();
    assert!(by_name.items.is_empty());

    api.delete("web", &DeleteParams::default()).await.unwrap();
    tokio::time::timeout(
        PATIENCE,
        await_condition(api.clone(), "web", conditions::is_deleted(&uid)),
    )
    .await
    .unwrap()
    .unwrap();
    fake.shutdown().await;
}

#[tokio::test]
async fn watch_sees_lifecycle_and_bookmarks() {
    let fake = start().await;
    let api = pods(&fake);
    let rv = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut events = api
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();
    create(&api, &shell_pod("short", "echo bye", "Never")).await;
    let mut seen = Vec::new();
    let mut bookmark = false;
    while let Some(event) = events.try_next().await.unwrap() {
        match event {
            WatchEvent::Added(p) => seen.push(format!("ADDED {}", phase(&p))),
            WatchEvent::Modified(p) => {
                let ph = phase(&p).to_owned();
                if seen.last() != Some(&format!("MODIFIED {ph}")) {
                    seen.push(format!("MODIFIED {ph}"));
                }
                if ph == "Succeeded" && bookmark {
                    break;
                }
            }
            WatchEvent::Bookmark(_) => {
                bookmark = true;
                if seen.last().is_some_and(|s| s.ends_with("Succeeded")) {
                    break;
                }
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(seen.first().map(String::as_str), Some("ADDED Pending"));
    assert_eq!(seen.last().map(String::as_str), Some("MODIFIED Succeeded"));
    fake.shutdown().await;
}

#[tokio::test]
async fn exiting_containers_report_exit_codes() {
    let fake = start().await;
    let api = pods(&fake);
    create(&api, &shell_pod("fails", "echo oops; exit 3", "Never")).await;
    create(&api, &shell_pod("works", "true", "Never")).await;
    let failed = wait_for(&api, "fails", |p| phase(p) == "Failed").await;
    let terminated = failed.status.unwrap().container_statuses.unwrap()[0]
        .state
        .clone()
        .unwrap()
        .terminated
        .unwrap();
    assert_eq!(
        (terminated.exit_code, terminated.reason.as_deref()),
        (3, Some("Error"))
    );
    let ok = wait_for(&api, "works", |p| phase(p) == "Succeeded").await;
    let status = ok.status.unwrap();
    let terminated = status.container_statuses.unwrap()[0]
        .state
        .clone()
        .unwrap()
        .terminated
        .unwrap();
    assert_eq!(
        (terminated.exit_code, terminated.reason.as_deref()),
        (0, Some("Completed"))
    );
    let ready = status
        .conditions
        .unwrap()
        .into_iter()
        .find(|c| c.type_ == "Ready")
        .unwrap();
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_deref()),
        ("False", Some("PodCompleted"))
    );

    create(&api, &shell_pod("flaky", "exit 1", "OnFailure")).await;
    let restarted = wait_for(&api, "flaky", |p| {
        p.status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .is_some_and(|c| c[0].restart_count >= 2)
    })
    .await;
    assert_eq!(phase(&restarted), "Running");
    fake.shutdown().await;
}

#[tokio::test]
async fn pod_beyond_allocatable_never_schedules() {
    let fake = start().await;
    let api = pods(&fake);
    let mut pod = shell_pod("huge", "true", "Never");
    pod.spec.as_mut().unwrap().containers[0].resources =
        Some(serde_json::from_value(json!({"requests": {"cpu": "64"}})).unwrap());
    create(&api, &pod).await;
    let pending = wait_for(&api, "huge", |p| {
        p.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.type_ == "PodScheduled"))
    })
    .await;
    assert_eq!(phase(&pending), "Pending");
    let cond = pending
        .status
        .unwrap()
        .conditions
        .unwrap()
        .into_iter()
        .find(|c| c.type_ == "PodScheduled")
        .unwrap();
    assert_eq!(cond.status, "False");
    assert_eq!(cond.reason.as_deref(), Some("Unschedulable"));
    assert_eq!(
        cond.message.as_deref(),
        Some(
            "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.."
        )
    );

    let mut selective = shell_pod("arm-only", "true", "Never");
    selective.spec.as_mut().unwrap().node_selector =
        Some([("kubernetes.io/arch".to_owned(), "s390x".to_owned())].into());
    create(&api, &selective).await;
    let pending = wait_for(&api, "arm-only", |p| {
        p.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some()
    })
    .await;
    let cond = pending
        .status
        .unwrap()
        .conditions
        .unwrap()
        .into_iter()
        .find(|c| c.type_ == "PodScheduled")
        .unwrap();
    assert_eq!(
        cond.message.as_deref(),
        Some(
            "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.."
        )
    );
    fake.shutdown().await;
}

#[tokio::test]
async fn invalid_pods_are_rejected_like_the_apiserver() {
    let fake = start().await;
    let api = pods(&fake);
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "dup"},
        "spec": {"containers": [
            {"name": "a", "image": "busybox"},
            {"name": "a", "image": "busybox", "volumeMounts": [{"name": "missing", "mountPath": "/m"}]},
        ]},
    }))
    .unwrap();
    let err = api.create(&PostParams::default(), &pod).await.unwrap_err();
    let kube::Error::Api(status) = err else {
        panic!("expected an API error, got {err:?}")
    };
    assert_eq!((status.code, status.reason.as_str()), (422, "Invalid"));
    assert_eq!(
        status.message,
        "Pod \"dup\" is invalid: [spec.containers[1].name: Duplicate value: \"a\", spec.containers[1].volumeMounts[0].name: Not found: \"missing\"]"
    );

    let (code, body) = raw(
        &fake,
        "POST",
        "/api/v1/namespaces/default/pods",
        Some(&json!({
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "Bad_Name"},
            "spec": {"containers": [{"name": "c"}]},
        })),
    )
    .await;
    assert_eq!(code, 422);
    assert_eq!(body["kind"], "Status");
    let fields: Vec<&str> = body["details"]["causes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["metadata.name", "spec.containers[0].image"]);

    let (code, body) = raw(&fake, "GET", "/api/v1/namespaces/default/pods/nope", None).await;
    assert_eq!(
        (code, body["reason"].as_str(), body["message"].as_str()),
        (404, Some("NotFound"), Some("pods \"nope\" not found"))
    );
    create(&api, &shell_pod("twice", "true", "Never")).await;
    let err = api
        .create(&PostParams::default(), &shell_pod("twice", "true", "Never"))
        .await
        .unwrap_err();
    let kube::Error::Api(status) = err else {
        panic!("expected an API error")
    };
    assert_eq!(
        (status.code, status.reason.as_str()),
        (409, "AlreadyExists")
    );
    fake.shutdown().await;
}

#[tokio::test]
async fn expired_watch_gets_410_and_watcher_recovers() {
    let fake = start().await;
    let api = pods(&fake);
    let rv = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut events = api
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();
    create(&api, &shell_pod("zero", "true", "Never")).await;
    assert!(matches!(
        events.try_next().await.unwrap(),
        Some(WatchEvent::Added(_))
    ));
    fake.expire_watches();
    match events.try_next().await.unwrap() {
        Some(WatchEvent::Error(e)) => assert_eq!((e.code, e.reason.as_str()), (410, "Expired")),
        Some(WatchEvent::Modified(_) | WatchEvent::Bookmark(_)) => {
            // The kubelet may report on "zero" before the expiry lands; the expiry follows.
            let mut next = events.try_next().await.unwrap();
            while matches!(
                next,
                Some(WatchEvent::Modified(_) | WatchEvent::Bookmark(_))
            ) {
                next = events.try_next().await.unwrap();
            }
            assert!(
                matches!(next, Some(WatchEvent::Error(ref e)) if e.code == 410),
                "{next:?}"
            );
        }
        other => panic!("expected a 410 error event, got {other:?}"),
    }
    let mut again = api
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();
    match again.try_next().await.unwrap() {
        Some(WatchEvent::Error(e)) => assert_eq!(e.code, 410),
        other => panic!("expected a 410 error event, got {other:?}"),
    }

    // kube-rs's watcher relists after a 410 and keeps delivering.
    let stream = kube::runtime::watcher(api.clone(), kube::runtime::watcher::Config::default());
    let mut stream = kube::runtime::WatchStreamExt::applied_objects(stream).boxed();
    create(&api, &shell_pod("first", "sleep 30", "Never")).await;
    assert_eq!(
        stream
            .try_next()
            .await
            .unwrap()
            .unwrap()
            .metadata
            .name
            .as_deref(),
        Some("first")
    );
    fake.expire_watches();
    fake.drop_watches();
    create(&api, &shell_pod("second", "sleep 30", "Never")).await;
    let mut names = Vec::new();
    let mut errors = 0;
    while !names.contains(&"second".to_owned()) {
        let item = tokio::time::timeout(PATIENCE, stream.next())
            .await
            .unwrap()
            .unwrap();
        match item {
            Ok(pod) => names.push(pod.metadata.name.unwrap()),
            // The watcher reports the 410 once, then relists on its next poll.
            Err(_) => errors += 1,
        }
    }
    assert!(errors <= 1, "the watcher should recover after one error");
    fake.shutdown().await;
}

#[tokio::test]
async fn port_forward_reaches_a_container_port() {
    let fake = start().await;
    let api = pods(&fake);
    let server = "import socket\ns=socket.socket()\ns.bind(('127.0.0.1',0))\ns.listen()\nprint(s.getsockname()[1],flush=True)\nc,_=s.accept()\nc.sendall(b'pong:'+c.recv(100))\nc.close()";
    let mut pod = shell_pod("echo", "", "Never");
    pod.spec.as_mut().unwrap().containers[0].command =
        Some(vec!["python3".into(), "-c".into(), server.into()]);
    create(&api, &pod).await;
    wait_for(&api, "echo", is_ready).await;
    let port = logs_until(&api, "echo", |l| l.ends_with('\n')).await;
    let port: u16 = port.trim().parse().unwrap();
    let mut forwarder = api.portforward("echo", &[port]).await.unwrap();
    let mut stream = forwarder.take_stream(port).unwrap();
    stream.write_all(b"ping").await.unwrap();
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).await.unwrap();
    assert_eq!(reply, b"pong:ping");
    drop(stream);
    forwarder.abort();
    fake.shutdown().await;
}

/// The garbage collector, as a real cluster's: a Secret owned by a pod goes when the pod is
/// removed (not while it terminates), and a Secret of another owner stays.
#[tokio::test]
async fn an_owned_secret_is_collected_with_its_pod() {
    use k8s_openapi::api::core::v1::Secret;
    let fake = start().await;
    let api = pods(&fake);
    let secrets: kube::Api<Secret> =
        kube::Api::namespaced(crate::harness::client(&fake), "default");
    // It ignores SIGTERM: a graceful delete leaves it terminating for its grace period.
    let owner = create(&api, &shell_pod("owner", "trap '' TERM; sleep 60", "Never")).await;
    let other = create(&api, &shell_pod("other", "sleep 60", "Never")).await;
    let owned_by = |pod: &Pod, name: &str| -> Secret {
        serde_json::from_value(json!({
            "metadata": {"name": name, "ownerReferences": [{
                "apiVersion": "v1", "kind": "Pod",
                "name": pod.metadata.name, "uid": pod.metadata.uid,
            }]},
            "data": {"token": "dG9rZW4="},
        }))
        .unwrap()
    };
    let params = PostParams::default();
    secrets
        .create(&params, &owned_by(&owner, "owned"))
        .await
        .unwrap();
    secrets
        .create(&params, &owned_by(&other, "kept"))
        .await
        .unwrap();
    wait_for(&api, "owner", is_ready).await;
    // A graceful delete: the pod terminates first, and its Secret stays until it is gone.
    api.delete("owner", &DeleteParams::default()).await.unwrap();
    let terminating = api.get("owner").await.unwrap();
    assert!(terminating.metadata.deletion_timestamp.is_some());
    assert!(
        secrets.get_opt("owned").await.unwrap().is_some(),
        "owner still terminating"
    );
    api.delete("owner", &DeleteParams::default().grace_period(0))
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while secrets.get_opt("owned").await.unwrap().is_some() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the owned secret was not collected"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(
        api.get_opt("owner").await.unwrap().is_none(),
        "collected after its owner"
    );
    assert!(secrets.get_opt("kept").await.unwrap().is_some());
    // A Secret naming an owner that is gone already is collected at once.
    secrets
        .create(&params, &owned_by(&owner, "late"))
        .await
        .unwrap();
    while secrets.get_opt("late").await.unwrap().is_some() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the orphan was not collected"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    fake.shutdown().await;
}
