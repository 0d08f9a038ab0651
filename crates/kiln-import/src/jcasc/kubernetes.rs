//! `jenkins.clouds[].kubernetes`: the cloud's namespace and pod cap, and its pod templates as
//! kiln's `executors.kubernetes.templates` (containers and volumes as Kubernetes spells
//! them; `idleMinutes` as a warm pool whose idle pods live that long).

use super::{Reader, entries, entry, flag, items, text};
use crate::yaml_out::{Entry, Item, Yaml};
use kiln_yaml::{Node, NodeKind};

/// kiln's default bound on build pods, used as a pool's size when Jenkins set no cap.
const DEFAULT_MAX_PODS: i64 = 20;

pub(super) fn cloud(r: &mut Reader, node: &Node) -> Vec<Entry> {
    let mut out = Vec::new();
    let mut templates = Vec::new();
    let mut pod_labels = Vec::new();
    let mut cap = None;
    for (key, value) in entries(node) {
        let key = key.scalar_text().unwrap_or_default();
        match key.as_str() {
            "name" => {}
            "namespace" => {
                if let Some(ns) = value.scalar_text() {
                    out.push(entry("namespace", ns));
                }
            }
            "containerCapStr" | "containerCap" => {
                cap = value.scalar_text().and_then(|v| v.parse::<i64>().ok()).filter(|n| *n > 0);
            }
            "podLabels" => pod_labels = key_values(value),
            "templates" => templates = items(value).iter().collect(),
            "serverUrl" | "credentialsId" | "serverCertificate" | "skipTlsVerify" => r.finding(
                value,
                format!("kubernetes.{key}"),
                "not imported: kiln connects from inside the cluster, or through a kubeconfig (executors.kubernetes.connection)",
            ),
            "jenkinsUrl" | "jenkinsTunnel" | "webSocket" | "directConnection" => r.finding(
                value,
                format!("kubernetes.{key}"),
                "not imported: kiln's agents dial controller_url, or are reached through port-forward",
            ),
            _ => r.finding(value, format!("kubernetes.{key}"), "not imported: kiln has no equivalent"),
        }
    }
    if let Some(c) = cap {
        out.push(Entry::new("max_concurrent_pods", Yaml::Int(c)));
    }
    let known: Vec<String> = templates.iter().filter_map(|t| text(t, "name")).collect();
    let list: Vec<Item> = templates
        .into_iter()
        .filter_map(|t| {
            template(
                r,
                t,
                &Shared {
                    pod_labels: &pod_labels,
                    cap,
                    known: &known,
                },
            )
        })
        .collect();
    if !list.is_empty() {
        out.push(Entry::new("templates", Yaml::List(list)));
    }
    out
}

/// Template keys that only matter to Jenkins' own agent (connection, retention of pods).
const AGENT_ONLY: &[&str] = &[
    "id",
    "slaveConnectTimeout",
    "podRetention",
    "nodeUsageMode",
    "showRawYaml",
    "workspaceVolume",
    "activeDeadlineSeconds",
    "instanceCapStr",
];

/// What every template of a cloud shares.
struct Shared<'a> {
    pod_labels: &'a [Entry],
    cap: Option<i64>,
    /// The names of the cloud's templates, which `inheritFrom` may name.
    known: &'a [String],
}

fn template(r: &mut Reader, node: &Node, shared: &Shared<'_>) -> Option<Item> {
    let (pod_labels, cap) = (shared.pod_labels, shared.cap);
    let Some(name) = text(node, "name") else {
        r.finding(node, "pod template", "has no name: not imported");
        return None;
    };
    let mut out = vec![entry("name", name.clone())];
    let mut mounts = Vec::new();
    let mut volumes = Vec::new();
    let mut containers = Vec::new();
    let mut comments = Vec::new();
    for (key, value) in entries(node) {
        let key = key.scalar_text().unwrap_or_default();
        let what = || format!("pod template `{name}`: {key}");
        match key.as_str() {
            "name" => {}
            "label" => out.push(Entry::new("labels", words(value))),
            "inheritFrom" => out.extend(inherit(r, value, &what(), shared.known)),
            "namespace" => scalar(&mut out, value, "namespace"),
            "serviceAccount" => scalar(&mut out, value, "service_account"),
            "yaml" => scalar(&mut out, value, "yaml"),
            "nodeSelector" => {
                let pairs = node_selector(&value.scalar_text().unwrap_or_default());
                out.push(Entry::new("node_selector", Yaml::Map(pairs)));
            }
            "imagePullSecrets" => {
                let names = items(value).iter().filter_map(|s| text(s, "name"));
                out.push(Entry::new(
                    "image_pull_secrets",
                    Yaml::list(names.map(Yaml::Str)),
                ));
            }
            "annotations" => out.push(Entry::new("annotations", Yaml::Map(key_values(value)))),
            "idleMinutes" => out.extend(pool(node, value, cap)),
            "instanceCap" => {}
            "containers" => containers = items(value).iter().collect(),
            "volumes" => {
                for (i, v) in items(value).iter().enumerate() {
                    if let Some((vol, mount)) = volume(r, v, &name, i) {
                        volumes.push(Item::new(vol));
                        mounts.push(Item::new(mount));
                    }
                }
            }
            "yamlMergeStrategy" => comments.push(format!(
                "yamlMergeStrategy {}: kiln merges inherited templates like Jenkins' merge()",
                describe(value)
            )),
            k if AGENT_ONLY.contains(&k) => {
                r.finding(
                    value,
                    what(),
                    "not imported: a setting of Jenkins' agent kiln does not have",
                );
            }
            _ => r.finding(value, what(), "not imported: kiln has no equivalent"),
        }
    }
    if !pod_labels.is_empty() {
        out.push(Entry::new("pod_labels", Yaml::Map(pod_labels.to_vec())));
    }
    let list: Vec<Item> = containers
        .into_iter()
        .filter_map(|c| container(r, c, &name, &mounts))
        .collect();
    if !list.is_empty() {
        out.push(Entry::new("containers", Yaml::List(list)));
    }
    if !volumes.is_empty() {
        out.push(Entry::new("volumes", Yaml::List(volumes)));
    }
    let mut item = Item::new(Yaml::Map(out));
    for c in comments {
        item = item.comment(c);
    }
    Some(item)
}

/// A space-separated string as a list.
fn words(value: &Node) -> Yaml {
    let text = value.scalar_text().unwrap_or_default();
    Yaml::list(text.split_whitespace().map(Yaml::str))
}

/// `inherit_from` with the names of templates that were imported; the others reported.
fn inherit(r: &mut Reader, value: &Node, what: &str, known: &[String]) -> Option<Entry> {
    let names = value.scalar_text().unwrap_or_default();
    let (found, missing): (Vec<&str>, Vec<&str>) = names
        .split_whitespace()
        .partition(|n| known.iter().any(|k| k == n));
    if !missing.is_empty() {
        let reason = format!(
            "no template named {} was imported: not inherited",
            missing.join(", ")
        );
        r.finding(value, what, reason);
    }
    (!found.is_empty()).then(|| entry("inherit_from", found.join(" ")))
}

/// `[{key, value}]` (Jenkins' annotations and labels) as a map.
fn key_values(value: &Node) -> Vec<Entry> {
    items(value)
        .iter()
        .filter_map(|a| {
            Some(entry(
                &text(a, "key")?,
                text(a, "value").unwrap_or_default(),
            ))
        })
        .collect()
}

/// `idleMinutes` as a warm pool: no ready pods kept, a used one waits that long; at most
/// `instanceCap` pods (else the cloud's cap, else kiln's default bound).
fn pool(template: &Node, value: &Node, cap: Option<i64>) -> Option<Entry> {
    let minutes = value.scalar_text().and_then(|v| v.parse::<i64>().ok())?;
    if minutes <= 0 {
        return None;
    }
    let max = text(template, "instanceCap")
        .and_then(|v| v.parse::<i64>().ok())
        .filter(|n| *n > 0)
        .or(cap)
        .unwrap_or(DEFAULT_MAX_PODS);
    let settings = Yaml::Map(vec![
        Entry::new("min", Yaml::Int(0)),
        Entry::new("max", Yaml::Int(max)),
        Entry::new("idle_ttl_seconds", Yaml::Int(minutes.saturating_mul(60))),
    ]);
    Some(Entry::new("pool", settings).comment(format!(
        "idleMinutes {minutes}: a used pod waits that long for the next build"
    )))
}

fn scalar(out: &mut Vec<Entry>, value: &Node, key: &str) {
    if let Some(v) = value.scalar_text().filter(|v| !v.trim().is_empty()) {
        out.push(entry(key, v));
    }
}

fn describe(node: &Node) -> String {
    match &node.kind {
        NodeKind::Map(e) => e
            .first()
            .and_then(|(k, _)| k.scalar_text())
            .unwrap_or_default(),
        _ => node.scalar_text().unwrap_or_default(),
    }
}

/// `a=b,c=d` (Jenkins' node selector) as a map.
fn node_selector(s: &str) -> Vec<Entry> {
    s.split(',')
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            Some(entry(k.trim(), v.trim()))
        })
        .collect()
}

/// Commands Jenkins' examples keep a container alive with; kiln's agent does that itself.
fn keep_alive(command: &str) -> bool {
    let first = command.split_whitespace().next().unwrap_or("");
    matches!(first, "" | "cat" | "sleep" | "tail")
}

fn container(r: &mut Reader, node: &Node, template: &str, mounts: &[Item]) -> Option<Item> {
    let name = text(node, "name").unwrap_or_default();
    if name == "jnlp" {
        r.finding(
            node,
            format!("pod template `{template}`: container jnlp"),
            "not imported: Jenkins' agent container; kiln puts its own agent in every container",
        );
        return None;
    }
    let Some(image) = text(node, "image") else {
        r.finding(
            node,
            format!("pod template `{template}`: container `{name}`"),
            "has no image: not imported",
        );
        return None;
    };
    let mut out = vec![entry("name", name.clone()), entry("image", image)];
    let mut env = Vec::new();
    // Jenkins' keep-alive commands (`sleep` with `args: 99d`, `cat`) are dropped whole.
    let command = text(node, "command").unwrap_or_default();
    let quiet_args = keep_alive(&command);
    for (key, value) in entries(node) {
        let key = key.scalar_text().unwrap_or_default();
        let v = value.scalar_text().unwrap_or_default();
        match key.as_str() {
            "name" | "image" | "ttyEnabled" => {}
            "command" if keep_alive(&v) => {}
            "args" if quiet_args => {}
            "command" | "args" => r.finding(
                value,
                format!("pod template `{template}`: container `{name}`: {key} `{v}`"),
                "not imported: kiln's agent is each container's command (run it as a step instead)",
            ),
            "workingDir" => out.push(entry("workingDir", v)),
            "alwaysPullImage" if v == "true" => out.push(entry("imagePullPolicy", "Always")),
            "alwaysPullImage" => {}
            k if SECURITY.contains(&k) || RESOURCES.iter().any(|(j, _, _)| *j == k) => {}
            "envVars" => env = env_vars(r, value),
            _ => r.finding(
                value,
                format!("pod template `{template}`: container `{name}`: {key}"),
                "not imported: kiln has no equivalent",
            ),
        }
    }
    if !env.is_empty() {
        out.push(Entry::new("env", Yaml::List(env)));
    }
    out.extend(resources(node));
    out.extend(security(node));
    if !mounts.is_empty() {
        out.push(Entry::new("volumeMounts", Yaml::List(mounts.to_vec())));
    }
    Some(Item::new(Yaml::Map(out)))
}

/// Jenkins' resource fields: name, whether a request (else a limit), Kubernetes' name.
const RESOURCES: &[(&str, bool, &str)] = &[
    ("resourceRequestCpu", true, "cpu"),
    ("resourceRequestMemory", true, "memory"),
    ("resourceRequestEphemeralStorage", true, "ephemeral-storage"),
    ("resourceLimitCpu", false, "cpu"),
    ("resourceLimitMemory", false, "memory"),
    ("resourceLimitEphemeralStorage", false, "ephemeral-storage"),
];

const SECURITY: &[&str] = &["privileged", "runAsUser", "runAsGroup"];

/// `resources: {requests, limits}` from a container's resource fields.
fn resources(container: &Node) -> Option<Entry> {
    let (mut requests, mut limits) = (Vec::new(), Vec::new());
    for (field, request, name) in RESOURCES {
        if let Some(v) = text(container, field) {
            let list = if *request { &mut requests } else { &mut limits };
            list.push(entry(name, v));
        }
    }
    let mut out = Vec::new();
    if !requests.is_empty() {
        out.push(Entry::new("requests", Yaml::Map(requests)));
    }
    if !limits.is_empty() {
        out.push(Entry::new("limits", Yaml::Map(limits)));
    }
    (!out.is_empty()).then(|| Entry::new("resources", Yaml::Map(out)))
}

/// `securityContext` from `privileged`, `runAsUser`, `runAsGroup`.
fn security(container: &Node) -> Option<Entry> {
    let mut out = Vec::new();
    if flag(container, "privileged") == Some(true) {
        out.push(Entry::new("privileged", Yaml::Bool(true)));
    }
    for key in ["runAsUser", "runAsGroup"] {
        if let Some(n) = text(container, key).and_then(|v| v.parse::<i64>().ok()) {
            out.push(Entry::new(key, Yaml::Int(n)));
        }
    }
    (!out.is_empty()).then(|| Entry::new("securityContext", Yaml::Map(out)))
}

fn env_vars(r: &mut Reader, node: &Node) -> Vec<Item> {
    let mut out = Vec::new();
    for v in items(node) {
        if let Some(e) = v.get("envVar") {
            let Some(k) = text(e, "key") else { continue };
            out.push(Item::new(Yaml::Map(vec![
                entry("name", k),
                entry("value", text(e, "value").unwrap_or_default()),
            ])));
        } else if let Some(e) = v.get("secretEnvVar") {
            let (Some(k), Some(secret), Some(key)) =
                (text(e, "key"), text(e, "secretName"), text(e, "secretKey"))
            else {
                continue;
            };
            out.push(Item::new(Yaml::Map(vec![
                entry("name", k),
                Entry::new(
                    "valueFrom",
                    Yaml::Map(vec![Entry::new(
                        "secretKeyRef",
                        Yaml::Map(vec![entry("name", secret), entry("key", key)]),
                    )]),
                ),
            ])));
        } else {
            r.finding(
                v,
                "container environment variable",
                "not imported: kiln takes envVar and secretEnvVar",
            );
        }
    }
    out
}

/// A Jenkins pod volume as a Kubernetes volume and the mount every container gets.
fn volume(r: &mut Reader, node: &Node, template: &str, index: usize) -> Option<(Yaml, Yaml)> {
    let (kind, body) = entries(node).first()?;
    let kind = kind.scalar_text().unwrap_or_default();
    let name = format!("volume-{index}");
    let Some(mount_path) = text(body, "mountPath") else {
        r.finding(
            body,
            format!("pod template `{template}`: {kind}"),
            "has no mountPath: not imported",
        );
        return None;
    };
    let read_only = flag(body, "readOnly") == Some(true);
    let source = match kind.as_str() {
        "emptyDirVolume" => {
            let medium = if flag(body, "memory") == Some(true) {
                vec![entry("medium", "Memory")]
            } else {
                Vec::new()
            };
            Entry::new("emptyDir", Yaml::Map(medium))
        }
        "hostPathVolume" => Entry::new(
            "hostPath",
            Yaml::Map(vec![entry("path", text(body, "hostPath")?)]),
        ),
        "persistentVolumeClaim" => Entry::new(
            "persistentVolumeClaim",
            Yaml::Map(vec![entry("claimName", text(body, "claimName")?)]),
        ),
        "configMapVolume" => Entry::new(
            "configMap",
            Yaml::Map(vec![entry("name", text(body, "configMapName")?)]),
        ),
        "secretVolume" => Entry::new(
            "secret",
            Yaml::Map(vec![entry("secretName", text(body, "secretName")?)]),
        ),
        "nfsVolume" => Entry::new(
            "nfs",
            Yaml::Map(vec![
                entry("server", text(body, "serverAddress")?),
                entry("path", text(body, "serverPath")?),
            ]),
        ),
        _ => {
            r.finding(body, format!("pod template `{template}`: {kind}"), "not imported: kiln takes emptyDir, hostPath, persistentVolumeClaim, configMap, secret and nfs volumes");
            return None;
        }
    };
    let volume = Yaml::Map(vec![entry("name", name.clone()), source]);
    let mut mount = vec![entry("name", name), entry("mountPath", mount_path)];
    if let Some(sub) = text(body, "subPath") {
        mount.push(entry("subPath", sub));
    }
    if read_only {
        mount.push(Entry::new("readOnly", Yaml::Bool(true)));
    }
    Some((volume, Yaml::Map(mount)))
}
