//! `executors.kubernetes.pod_policy`: what a pipeline's pod may ask for. A Jenkinsfile is
//! written by whoever can push to the repository; its pod must not get the controller's
//! service account, another namespace, the node (hostPath, privileged, host namespaces) or
//! secrets it was not given. What the server's own configuration puts in pods (its
//! namespace, templates' service accounts and namespaces, cache hostPaths, the Kaniko
//! registry secret, kiln's images) is always allowed.

use serde::Deserialize;

/// The admin's pod policy. Lists widen what is allowed (empty: only what the configuration
/// itself uses; for `images`, any image); each `allow_*` lifts one default denial.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub struct PodPolicy {
    /// Namespaces pods may be made in, besides `namespace` and the templates' namespaces.
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// Service accounts pods may run as, besides `service_account`, the templates' and
    /// the namespace's `default`.
    #[serde(default)]
    pub service_accounts: Vec<String>,
    /// Images pods may run: an exact reference, or a prefix ending in `/`, `:` or `*`
    /// (`registry.example.com/`, `docker.io/library/*`). Docker Hub short names are read as
    /// Docker does (`maven:3` is `docker.io/library/maven:3`). Empty: any image.
    #[serde(default)]
    pub images: Vec<String>,
    /// Linux capabilities containers may add (`NET_ADMIN`); none by default.
    #[serde(default)]
    pub capabilities: Vec<String>,
    #[serde(default)]
    pub allow_privileged: bool,
    #[serde(default)]
    pub allow_host_path: bool,
    #[serde(default)]
    pub allow_host_network: bool,
    #[serde(default)]
    pub allow_host_pid: bool,
    #[serde(default)]
    pub allow_host_ipc: bool,
    /// Secrets in volumes (also projected) and in `env`/`envFrom`.
    #[serde(default)]
    pub allow_secrets: bool,
}
