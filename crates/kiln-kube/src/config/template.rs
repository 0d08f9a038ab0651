//! Pod templates from the server configuration (`executors.kubernetes.templates`); how a
//! template becomes a base pod is in `pod/template.rs`.

use crate::config::cache::CacheSpec;
use k8s_openapi::api::core::v1::{Affinity, Container, Toleration, Volume};
use serde::Deserialize;
use std::collections::BTreeMap;

/// One pod template. Fields mirror the Jenkins Kubernetes plugin's pod templates; `yaml` is a
/// raw pod that the other fields are merged over.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub struct PodTemplate {
    pub name: String,
    /// Agent labels this template serves: `agent { label 'maven' }` and
    /// `agent { kubernetes { label 'maven' } }` pick the first template carrying the label.
    #[serde(default)]
    pub labels: Vec<String>,
    /// Templates this one extends, merged in order before this one (space-separated in
    /// Jenkins; a list here, a space-separated string is accepted too).
    #[serde(default, deserialize_with = "names")]
    pub inherit_from: Vec<String>,
    /// Labels put on the pod (kiln adds its own `kiln.dev/*` labels).
    #[serde(default)]
    pub pod_labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    pub namespace: Option<String>,
    pub service_account: Option<String>,
    #[serde(default)]
    pub containers: Vec<Container>,
    #[serde(default)]
    pub volumes: Vec<Volume>,
    #[serde(default)]
    pub node_selector: BTreeMap<String, String>,
    pub affinity: Option<Affinity>,
    #[serde(default)]
    pub tolerations: Vec<Toleration>,
    /// Names of image pull secrets.
    #[serde(default)]
    pub image_pull_secrets: Vec<String>,
    /// A raw pod manifest (YAML) merged under the fields above.
    pub yaml: Option<String>,
    /// The container steps run in when no `container('x')` names one.
    pub default_container: Option<String>,
    /// How the containers' resource requests are made to add up; see [`RequestsPolicy`].
    pub requests: Option<RequestsPolicy>,
    /// A warm pool of ready pods for this template.
    pub pool: Option<PoolSettings>,
    /// Cache volumes mounted in every step container.
    #[serde(default)]
    pub caches: Vec<CacheSpec>,
}

/// What kiln does about Kubernetes summing the resource requests of all containers of a pod.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RequestsPolicy {
    /// Requests as written: the pod reserves the sum of every container's requests.
    Sum,
    /// Steps of one build run one container at a time, so kiln reserves what the largest
    /// container asks for: for each resource the default container gets the largest request
    /// of any step container and the other step containers a small floor (10m CPU, 16Mi).
    /// Limits are kept, so every container can still use what it asked for while it works.
    #[default]
    Max,
}

/// Warm pool settings of a template.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub struct PoolSettings {
    /// Ready pods kept at all times.
    #[serde(default)]
    pub min: u32,
    /// Most pods of this template alive at once, busy or idle.
    pub max: u32,
    /// Idle pods above `min` are deleted after this many seconds.
    #[serde(default = "default_idle_ttl")]
    pub idle_ttl_seconds: u64,
}

fn default_idle_ttl() -> u64 {
    300
}

fn names<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Names {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Names::deserialize(d)? {
        Names::One(s) => s.split_whitespace().map(str::to_string).collect(),
        Names::Many(v) => v,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inherit_from_accepts_a_space_separated_string_or_a_list() {
        let a: PodTemplate = kiln_yaml::parse_typed("name: a\ninherit_from: base  java\n").unwrap();
        let b: PodTemplate =
            kiln_yaml::parse_typed("name: b\ninherit_from: [base, java]\n").unwrap();
        assert_eq!(a.inherit_from, ["base", "java"]);
        assert_eq!(b.inherit_from, ["base", "java"]);
    }
}
