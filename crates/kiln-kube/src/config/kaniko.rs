//! `executors.kubernetes.kaniko`: how `kanikoBuild` and dockerfile agents' image builds run.

use serde::Deserialize;

/// `executors.kubernetes.kaniko`: how image builds run.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub struct KanikoSettings {
    #[serde(default = "default_image")]
    pub image: String,
    /// The executor binary inside the image.
    #[serde(default = "default_executor")]
    pub executor: String,
    /// A `kubernetes.io/dockerconfigjson` secret holding registry credentials, mounted as
    /// `/kaniko/.docker/config.json`.
    pub docker_config_secret: Option<String>,
    /// Pod template the per-platform pods are made from (its containers are dropped; its
    /// volumes, tolerations, service account and so on are kept). Unset: a bare pod.
    pub template: Option<String>,
}

impl Default for KanikoSettings {
    fn default() -> Self {
        KanikoSettings {
            image: default_image(),
            executor: default_executor(),
            docker_config_secret: None,
            template: None,
        }
    }
}

/// The default Kaniko image: the maintained fork's `-debug` variant (the executor plus a
/// busybox shell), pinned by the digest of its multi-arch index, as published for the tag
/// (docs/kubernetes.md says where the digest was seen; `scripts/pin-images.sh --refresh`
/// reads it again).
pub const KANIKO_IMAGE: &str = "ghcr.io/osscontainertools/kaniko:v1.28.5-debug@sha256:d6d74217dc077acfd3094992e917c357080a2d3fdd1042a49e34e29a7e57c572";

fn default_image() -> String {
    KANIKO_IMAGE.to_string()
}

fn default_executor() -> String {
    "/kaniko/executor".to_string()
}
