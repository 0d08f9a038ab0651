//! What the API server checks on the way in: body formats, `fieldValidation`, the
//! ServiceAccount admission plugin, and claims the scheduler and kubelet need.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers: a failed setup step should fail the test that called it"
)]

use k8s_openapi::api::core::v1::Pod;
use serde_json::json;

use crate::harness::{create, is_ready, logs_until, phase, pods, raw_text, start, wait_for};

const POD_YAML: &str = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: from-yaml\nspec:\n  restartPolicy: Never\n  containers:\n  - name: main\n    image: busybox\n    command: [\"true\"]\n";

#[tokio::test]
async fn yaml_bodies_and_field_validation() {
    let fake = start().await;
    let path = "/api/v1/namespaces/default/pods";
    let (code, _, created) = raw_text(&fake, "POST", path, "application/yaml", POD_YAML).await;
    assert_eq!(code, 201, "{created}");
    assert_eq!(created["metadata"]["name"], "from-yaml");

    let typo = POD_YAML.replace("from-yaml", "typo").replace(
        "    image: busybox\n",
        "    image: busybox\n    imagePullPolice: Always\n",
    );
    let strict = format!("{path}?fieldValidation=Strict");
    let (code, _, status) = raw_text(&fake, "POST", &strict, "application/yaml", &typo).await;
    assert_eq!(code, 400);
    assert_eq!(
        status["message"],
        "Pod in version \"v1\" cannot be handled as a Pod: strict decoding error: unknown field \"spec.containers[0].imagePullPolice\""
    );
    assert_eq!(status["reason"], "BadRequest");

    let repeated = POD_YAML.replace("from-yaml", "twice").replace(
        "  restartPolicy: Never\n",
        "  restartPolicy: Never\n  restartPolicy: Always\n",
    );
    let (code, _, status) = raw_text(&fake, "POST", &strict, "application/yaml", &repeated).await;
    assert_eq!(code, 400);
    assert_eq!(
        status["message"],
        "Pod in version \"v1\" cannot be handled as a Pod: strict decoding error: yaml: unmarshal errors:\n  line 7: key \"restartPolicy\" already set in map"
    );
    let json_twice =
        r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","name":"d"},"data":{}}"#;
    let cms = "/api/v1/namespaces/default/configmaps?fieldValidation=Strict";
    let (code, _, status) = raw_text(&fake, "POST", cms, "application/json", json_twice).await;
    assert_eq!(code, 400);
    assert_eq!(
        status["message"],
        "ConfigMap in version \"v1\" cannot be handled as a ConfigMap: strict decoding error: duplicate field \"metadata.name\""
    );

    // Warn (the default) accepts the object and says what was dropped; Ignore says nothing.
    let (code, head, _) = raw_text(&fake, "POST", path, "application/yaml", &typo).await;
    assert_eq!(code, 201);
    assert!(
        head.to_ascii_lowercase().contains(
            "warning: 299 - \"unknown field \\\"spec.containers[0].imagepullpolice\\\"\""
        ),
        "{head}"
    );
    let ignore = format!("{path}?fieldValidation=Ignore");
    let quiet = typo.replace("name: typo", "name: quiet");
    let (code, head, _) = raw_text(&fake, "POST", &ignore, "application/yaml", &quiet).await;
    assert_eq!(code, 201);
    assert!(!head.to_ascii_lowercase().contains("warning:"), "{head}");
    let (code, _, status) = raw_text(
        &fake,
        "POST",
        &format!("{path}?fieldValidation=Loud"),
        "application/yaml",
        POD_YAML,
    )
    .await;
    assert_eq!((code, status["reason"].as_str()), (400, Some("BadRequest")));

    let (code, _, status) = raw_text(
        &fake,
        "POST",
        path,
        "application/vnd.kubernetes.protobuf",
        "k8s\0",
    )
    .await;
    assert_eq!(code, 415);
    assert_eq!(status["reason"], "UnsupportedMediaType");
    fake.shutdown().await;
}

fn with_service_account(name: &str, account: &str) -> Pod {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
        "spec": {"serviceAccountName": account, "restartPolicy": "Never",
                 "containers": [{"name": "main", "image": "busybox", "command": ["true"]}]},
    }))
    .unwrap()
}

#[tokio::test]
async fn service_accounts_must_exist() {
    let fake = start().await;
    let api = pods(&fake);
    let err = api
        .create(&Default::default(), &with_service_account("sa", "builder"))
        .await
        .unwrap_err();
    let kube::Error::Api(status) = err else {
        panic!("expected a Status, got {err:?}")
    };
    assert_eq!(
        (status.code, status.reason.as_str(), status.message.as_str()),
        (
            403,
            "Forbidden",
            "pods \"sa\" is forbidden: error looking up service account default/builder: serviceaccount \"builder\" not found"
        )
    );
    let (code, _, _) = raw_text(
        &fake,
        "POST",
        "/api/v1/namespaces/default/serviceaccounts",
        "application/json",
        r#"{"metadata":{"name":"builder"}}"#,
    )
    .await;
    assert_eq!(code, 201);
    create(&api, &with_service_account("sa", "builder")).await;

    // A new namespace comes with its `default` account.
    let (code, _, _) = raw_text(
        &fake,
        "POST",
        "/api/v1/namespaces",
        "application/yaml",
        "metadata:\n  name: fresh\n",
    )
    .await;
    assert_eq!(code, 201);
    assert!(fake.object("serviceaccounts", "fresh", "default").is_some());
    fake.shutdown().await;
}

fn with_claim(name: &str, script: &str) -> Pod {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
        "spec": {"restartPolicy": "Never",
            "volumes": [{"name": "cache", "persistentVolumeClaim": {"claimName": "m2"}}],
            "containers": [{"name": "main", "image": "busybox", "command": ["sh", "-c", script],
                "volumeMounts": [{"name": "cache", "mountPath": "/cache"}]}]},
    }))
    .unwrap()
}

#[tokio::test]
async fn claims_must_exist_and_outlive_pods() {
    let fake = start().await;
    let api = pods(&fake);
    create(&api, &with_claim("writer", "echo kept > /cache/file")).await;
    let pending = wait_for(&api, "writer", |p| {
        p.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some()
    })
    .await;
    let condition = &pending.status.unwrap().conditions.unwrap()[0];
    assert_eq!(condition.reason.as_deref(), Some("Unschedulable"));
    assert_eq!(
        condition.message.as_deref(),
        Some(
            "0/1 nodes are available: persistentvolumeclaim \"m2\" not found. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.."
        )
    );
    let (code, _, claim) = raw_text(
        &fake,
        "POST",
        "/api/v1/namespaces/default/persistentvolumeclaims",
        "application/yaml",
        "metadata:\n  name: m2\nspec:\n  accessModes: [ReadWriteOnce]\n  resources:\n    requests:\n      storage: 1Gi\n",
    )
    .await;
    assert_eq!(code, 201);
    assert_eq!(claim["status"]["phase"], "Bound");
    wait_for(&api, "writer", |p| phase(p) == "Succeeded").await;
    create(&api, &with_claim("reader", "cat /cache/file; sleep 30")).await;
    wait_for(&api, "reader", is_ready).await;
    let logs = logs_until(&api, "reader", |l| l.contains("kept")).await;
    assert_eq!(logs, "kept\n");
    fake.shutdown().await;
}

async fn namespace_with_labels(fake: &kiln_fake_kube::FakeKube, name: &str, labels: &str) {
    let yaml = format!("metadata:\n  name: {name}\n  labels: {labels}\n");
    let (code, _, body) = raw_text(
        fake,
        "POST",
        "/api/v1/namespaces",
        "application/yaml",
        &yaml,
    )
    .await;
    assert_eq!(code, 201, "{body}");
}

const PLAIN_POD: &str = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"plain"},
  "spec":{"volumes":[{"name":"cache","hostPath":{"path":"/tmp"}}],
  "containers":[{"name":"build","image":"busybox","command":["true"],"securityContext":{"privileged":true}},
                {"name":"jnlp","image":"busybox","command":["true"]}]}}"#;

const HARDENED_POD: &str = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"hardened"},
  "spec":{"securityContext":{"runAsNonRoot":true,"runAsUser":1000,"seccompProfile":{"type":"RuntimeDefault"}},
  "containers":[{"name":"build","image":"busybox","command":["true"],
    "securityContext":{"allowPrivilegeEscalation":false,"capabilities":{"drop":["ALL"]}}}]}}"#;

#[tokio::test]
async fn pod_security_admission_by_namespace_label() {
    let fake = start().await;
    namespace_with_labels(
        &fake,
        "strict",
        "{pod-security.kubernetes.io/enforce: restricted}",
    )
    .await;
    let path = "/api/v1/namespaces/strict/pods";
    let (code, _, status) = raw_text(&fake, "POST", path, "application/json", PLAIN_POD).await;
    assert_eq!(code, 403);
    assert_eq!(
        status["message"],
        "pods \"plain\" is forbidden: violates PodSecurity \"restricted:latest\": allowPrivilegeEscalation != false (containers \"build\", \"jnlp\" must set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (containers \"build\", \"jnlp\" must set securityContext.capabilities.drop=[\"ALL\"]), hostPath volumes (volume \"cache\"), privileged (container \"build\" must not set securityContext.privileged=true), restricted volume types (volume \"cache\" uses restricted volume type \"hostPath\"), runAsNonRoot != true (pod or containers \"build\", \"jnlp\" must set securityContext.runAsNonRoot=true), seccompProfile (pod or containers \"build\", \"jnlp\" must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\")"
    );
    let (code, _, body) = raw_text(&fake, "POST", path, "application/json", HARDENED_POD).await;
    assert_eq!(code, 201, "{body}");

    namespace_with_labels(
        &fake,
        "base",
        "{pod-security.kubernetes.io/enforce: baseline, pod-security.kubernetes.io/warn: restricted}",
    )
    .await;
    let (code, _, status) = raw_text(
        &fake,
        "POST",
        "/api/v1/namespaces/base/pods",
        "application/json",
        PLAIN_POD,
    )
    .await;
    assert_eq!(code, 403);
    assert_eq!(
        status["message"],
        "pods \"plain\" is forbidden: violates PodSecurity \"baseline:latest\": hostPath volumes (volume \"cache\"), privileged (container \"build\" must not set securityContext.privileged=true)"
    );
    let unprivileged =
        PLAIN_POD.replace("\"securityContext\":{\"privileged\":true}", "\"ports\":[]");
    let unprivileged = unprivileged.replace(
        "[{\"name\":\"cache\",\"hostPath\":{\"path\":\"/tmp\"}}]",
        "[{\"name\":\"cache\",\"emptyDir\":{}}]",
    );
    let (code, head, body) = raw_text(
        &fake,
        "POST",
        "/api/v1/namespaces/base/pods",
        "application/json",
        &unprivileged,
    )
    .await;
    assert_eq!(code, 201, "{body}");
    assert!(
        head.contains(
            "would violate PodSecurity \\\"restricted:latest\\\": allowPrivilegeEscalation != false"
        ),
        "{head}"
    );
    fake.shutdown().await;
}
