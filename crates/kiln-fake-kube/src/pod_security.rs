//! Pod Security admission: the `baseline` and `restricted` levels of the Pod Security
//! Standards (policy version `latest`, as of Kubernetes 1.32), enforced per namespace by the
//! `pod-security.kubernetes.io/enforce` label and worded as the admission plugin words them.
//! Windows-only and AppArmor-annotation checks are left out: kiln's pods are Linux pods.

use serde_json::Value;

/// A Pod Security Standards level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// No restrictions.
    Privileged,
    /// Prevents known privilege escalations.
    Baseline,
    /// Hardening best practices on top of baseline.
    Restricted,
}

impl Level {
    /// The level a namespace label names (`privileged`, `baseline`, `restricted`).
    pub fn from_label(text: &str) -> Option<Self> {
        match text {
            "privileged" => Some(Self::Privileged),
            "baseline" => Some(Self::Baseline),
            "restricted" => Some(Self::Restricted),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Privileged => "privileged",
            Self::Baseline => "baseline",
            Self::Restricted => "restricted",
        }
    }
}

/// Capabilities the baseline level lets a container add.
const BASELINE_CAPABILITIES: &[&str] = &[
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

const RESTRICTED_VOLUMES: &[&str] = &[
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
];

const SAFE_SYSCTLS: &[&str] = &[
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
];

fn all_containers(spec: &Value) -> Vec<&Value> {
    ["initContainers", "containers", "ephemeralContainers"]
        .iter()
        .filter_map(|list| spec.get(*list).and_then(Value::as_array))
        .flatten()
        .collect()
}

fn name_of(c: &Value) -> &str {
    c.get("name").and_then(Value::as_str).unwrap_or("")
}

/// `container "a"` or `containers "a", "b"`.
fn containers_phrase(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
    if names.len() == 1 {
        format!("container {}", quoted.join(", "))
    } else {
        format!("containers {}", quoted.join(", "))
    }
}

fn sc<'a>(c: &'a Value, field: &str) -> Option<&'a Value> {
    c.pointer(&format!("/securityContext/{field}"))
}

/// The violations of `level` by a pod spec, in the admission plugin's words and order
/// (checks sorted by their identifiers).
pub fn violations(level: Level, spec: &Value) -> Vec<String> {
    if level == Level::Privileged {
        return Vec::new();
    }
    let restricted = level == Level::Restricted;
    let containers = all_containers(spec);
    let mut found = Vec::new();
    if restricted {
        let escalating: Vec<&str> = containers
            .iter()
            .filter(|c| sc(c, "allowPrivilegeEscalation") != Some(&Value::Bool(false)))
            .map(|c| name_of(c))
            .collect();
        if !escalating.is_empty() {
            found.push(format!(
                "allowPrivilegeEscalation != false ({} must set securityContext.allowPrivilegeEscalation=false)",
                containers_phrase(&escalating)
            ));
        }
    }
    found.extend(capabilities(&containers, restricted));
    found.extend(host_namespaces(spec));
    found.extend(host_path_volumes(spec));
    found.extend(host_ports(&containers));
    let privileged: Vec<&str> = containers
        .iter()
        .filter(|c| sc(c, "privileged") == Some(&Value::Bool(true)))
        .map(|c| name_of(c))
        .collect();
    if !privileged.is_empty() {
        found.push(format!(
            "privileged ({} must not set securityContext.privileged=true)",
            containers_phrase(&privileged)
        ));
    }
    if restricted {
        found.extend(restricted_volumes(spec));
        found.extend(run_as_non_root(spec, &containers));
        found.extend(run_as_user(spec, &containers));
    }
    found.extend(seccomp(spec, &containers, restricted));
    found.extend(sysctls(spec));
    found
}

fn capabilities(containers: &[&Value], restricted: bool) -> Vec<String> {
    let mut found = Vec::new();
    let mut added: Vec<(String, String)> = Vec::new();
    for c in containers {
        for cap in sc(c, "capabilities/add")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            added.push((name_of(c).to_owned(), cap.to_owned()));
        }
    }
    let beyond_baseline: Vec<&(String, String)> = added
        .iter()
        .filter(|(_, cap)| !BASELINE_CAPABILITIES.contains(&cap.as_str()))
        .collect();
    if !beyond_baseline.is_empty() {
        found.push(capability_message(
            "non-default capabilities",
            &beyond_baseline,
        ));
    }
    if restricted {
        let not_dropping: Vec<&str> = containers
            .iter()
            .filter(|c| {
                !sc(c, "capabilities/drop")
                    .and_then(Value::as_array)
                    .is_some_and(|d| d.iter().any(|v| v.as_str() == Some("ALL")))
            })
            .map(|c| name_of(c))
            .collect();
        let beyond: Vec<&(String, String)> = added
            .iter()
            .filter(|(_, cap)| cap != "NET_BIND_SERVICE")
            .collect();
        let mut parts = Vec::new();
        if !not_dropping.is_empty() {
            parts.push(format!(
                "{} must set securityContext.capabilities.drop=[\"ALL\"]",
                containers_phrase(&not_dropping)
            ));
        }
        if !beyond.is_empty() {
            parts.push(adds_phrase(&beyond));
        }
        if !parts.is_empty() {
            found.push(format!("unrestricted capabilities ({})", parts.join("; ")));
        }
    }
    found
}

fn adds_phrase(adds: &[&(String, String)]) -> String {
    let mut names: Vec<&str> = adds.iter().map(|(c, _)| c.as_str()).collect();
    names.dedup();
    let mut caps: Vec<String> = adds.iter().map(|(_, cap)| format!("\"{cap}\"")).collect();
    caps.dedup();
    format!(
        "{} must not include {} in securityContext.capabilities.add",
        containers_phrase(&names),
        caps.join(", ")
    )
}

fn capability_message(title: &str, adds: &[&(String, String)]) -> String {
    format!("{title} ({})", adds_phrase(adds))
}

fn host_namespaces(spec: &Value) -> Option<String> {
    let set: Vec<String> = ["hostNetwork", "hostPID", "hostIPC"]
        .iter()
        .filter(|f| spec.get(**f) == Some(&Value::Bool(true)))
        .map(|f| format!("{f}=true"))
        .collect();
    (!set.is_empty()).then(|| format!("host namespaces ({})", set.join(", ")))
}

fn volumes(spec: &Value) -> impl Iterator<Item = &Value> {
    spec.get("volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

fn host_path_volumes(spec: &Value) -> Option<String> {
    let names: Vec<String> = volumes(spec)
        .filter(|v| v.get("hostPath").is_some())
        .map(|v| format!("\"{}\"", name_of(v)))
        .collect();
    let noun = if names.len() == 1 {
        "volume"
    } else {
        "volumes"
    };
    (!names.is_empty()).then(|| format!("hostPath volumes ({noun} {})", names.join(", ")))
}

fn host_ports(containers: &[&Value]) -> Option<String> {
    let mut parts = Vec::new();
    for c in containers {
        let ports: Vec<String> = c
            .get("ports")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|p| p.get("hostPort").and_then(Value::as_i64))
            .filter(|p| *p != 0)
            .map(|p| p.to_string())
            .collect();
        if !ports.is_empty() {
            let noun = if ports.len() == 1 {
                "hostPort"
            } else {
                "hostPorts"
            };
            parts.push(format!(
                "container \"{}\" uses {noun} {}",
                name_of(c),
                ports.join(", ")
            ));
        }
    }
    (!parts.is_empty()).then(|| format!("hostPort ({})", parts.join("; ")))
}

fn restricted_volumes(spec: &Value) -> Option<String> {
    let mut parts = Vec::new();
    for v in volumes(spec) {
        let Some(kind) = v
            .as_object()
            .and_then(|o| o.keys().find(|k| k.as_str() != "name"))
        else {
            continue;
        };
        if !RESTRICTED_VOLUMES.contains(&kind.as_str()) {
            parts.push(format!(
                "volume \"{}\" uses restricted volume type \"{kind}\"",
                name_of(v)
            ));
        }
    }
    (!parts.is_empty()).then(|| format!("restricted volume types ({})", parts.join("; ")))
}

fn run_as_non_root(spec: &Value, containers: &[&Value]) -> Option<String> {
    let pod_value = spec.pointer("/securityContext/runAsNonRoot");
    let mut parts = Vec::new();
    if pod_value == Some(&Value::Bool(false)) {
        parts.push("pod must not set securityContext.runAsNonRoot=false".to_owned());
    }
    let explicit_false: Vec<&str> = containers
        .iter()
        .filter(|c| sc(c, "runAsNonRoot") == Some(&Value::Bool(false)))
        .map(|c| name_of(c))
        .collect();
    if !explicit_false.is_empty() {
        parts.push(format!(
            "{} must not set securityContext.runAsNonRoot=false",
            containers_phrase(&explicit_false)
        ));
    }
    if pod_value != Some(&Value::Bool(true)) {
        let unset: Vec<&str> = containers
            .iter()
            .filter(|c| sc(c, "runAsNonRoot").is_none())
            .map(|c| name_of(c))
            .collect();
        if !unset.is_empty() && pod_value.is_none() {
            parts.push(format!(
                "pod or {} must set securityContext.runAsNonRoot=true",
                containers_phrase(&unset)
            ));
        }
    }
    (!parts.is_empty()).then(|| format!("runAsNonRoot != true ({})", parts.join("; ")))
}

fn run_as_user(spec: &Value, containers: &[&Value]) -> Option<String> {
    let mut parts = Vec::new();
    if spec
        .pointer("/securityContext/runAsUser")
        .and_then(Value::as_i64)
        == Some(0)
    {
        parts.push("pod must not set runAsUser=0".to_owned());
    }
    let root: Vec<&str> = containers
        .iter()
        .filter(|c| sc(c, "runAsUser").and_then(Value::as_i64) == Some(0))
        .map(|c| name_of(c))
        .collect();
    if !root.is_empty() {
        parts.push(format!(
            "{} must not set runAsUser=0",
            containers_phrase(&root)
        ));
    }
    (!parts.is_empty()).then(|| format!("runAsUser=0 ({})", parts.join("; ")))
}

fn seccomp(spec: &Value, containers: &[&Value], restricted: bool) -> Option<String> {
    let kind = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    let pod_kind = kind(spec.pointer("/securityContext/seccompProfile/type"));
    let container_kind = |c: &Value| kind(sc(c, "seccompProfile/type"));
    if !restricted {
        let unconfined: Vec<&str> = containers
            .iter()
            .filter(|c| container_kind(c).as_deref() == Some("Unconfined"))
            .map(|c| name_of(c))
            .collect();
        let mut parts = Vec::new();
        if pod_kind.as_deref() == Some("Unconfined") {
            parts.push(
                "pod must not set securityContext.seccompProfile.type to \"Unconfined\"".to_owned(),
            );
        }
        if !unconfined.is_empty() {
            parts.push(format!(
                "{} must not set securityContext.seccompProfile.type to \"Unconfined\"",
                containers_phrase(&unconfined)
            ));
        }
        return (!parts.is_empty()).then(|| format!("seccompProfile ({})", parts.join("; ")));
    }
    let allowed = |k: &Option<String>| matches!(k.as_deref(), Some("RuntimeDefault" | "Localhost"));
    let mut parts = Vec::new();
    if pod_kind.is_some() && !allowed(&pod_kind) {
        parts.push(format!(
            "pod must not set securityContext.seccompProfile.type to \"{}\"",
            pod_kind.clone().unwrap_or_default()
        ));
    }
    let bad: Vec<&str> = containers
        .iter()
        .filter(|c| container_kind(c).is_some() && !allowed(&container_kind(c)))
        .map(|c| name_of(c))
        .collect();
    if !bad.is_empty() {
        parts.push(format!(
            "{} must not set securityContext.seccompProfile.type to a value other than \"RuntimeDefault\" or \"Localhost\"",
            containers_phrase(&bad)
        ));
    }
    if pod_kind.is_none() {
        let unset: Vec<&str> = containers
            .iter()
            .filter(|c| container_kind(c).is_none())
            .map(|c| name_of(c))
            .collect();
        if !unset.is_empty() {
            parts.push(format!(
                "pod or {} must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\"",
                containers_phrase(&unset)
            ));
        }
    }
    (!parts.is_empty()).then(|| format!("seccompProfile ({})", parts.join("; ")))
}

fn sysctls(spec: &Value) -> Option<String> {
    let bad: Vec<String> = spec
        .pointer("/securityContext/sysctls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|s| s.get("name").and_then(Value::as_str))
        .filter(|n| !SAFE_SYSCTLS.contains(n))
        .map(|n| format!("\"{n}\""))
        .collect();
    (!bad.is_empty()).then(|| format!("forbidden sysctls ({})", bad.join(", ")))
}

/// `PodSecurity "restricted:latest": ...` when the pod breaks the level: what the admission
/// plugin's 403 (`violates ...`) and warning (`would violate ...`) say.
pub fn denial(level: Level, spec: &Value) -> Option<String> {
    let found = violations(level, spec);
    (!found.is_empty()).then(|| {
        format!(
            "PodSecurity \"{}:latest\": {}",
            level.name(),
            found.join(", ")
        )
    })
}
