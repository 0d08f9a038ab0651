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

fn default_image() -> String {
    "ghcr.io/osscontainertools/kaniko:latest".to_string()
}

fn default_executor() -> String {
    "/kaniko/executor".to_string()
}
