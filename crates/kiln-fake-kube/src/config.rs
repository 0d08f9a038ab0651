//! How a fake cluster is shaped: its nodes, which images exist, timings and isolation.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// One node of the fake cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeConfig {
    /// Node name (also its `kubernetes.io/hostname` label).
    pub name: String,
    /// Allocatable cpu, as a quantity (`"4"`, `"3500m"`).
    pub cpu: String,
    /// Allocatable memory, as a quantity (`"8Gi"`).
    pub memory: String,
    /// Maximum number of pods.
    pub pods: u32,
    /// Extra labels; `kubernetes.io/arch`, `kubernetes.io/os` and `kubernetes.io/hostname` are
    /// always set.
    pub labels: BTreeMap<String, String>,
}

impl NodeConfig {
    /// A node with 4 cpus, 8Gi of memory and room for 110 pods.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            cpu: "4".to_owned(),
            memory: "8Gi".to_owned(),
            pods: 110,
            labels: BTreeMap::new(),
        }
    }

    /// Sets allocatable cpu and memory.
    #[must_use]
    pub fn capacity(mut self, cpu: &str, memory: &str) -> Self {
        cpu.clone_into(&mut self.cpu);
        memory.clone_into(&mut self.memory);
        self
    }

    /// Adds a label.
    #[must_use]
    pub fn label(mut self, key: &str, value: &str) -> Self {
        self.labels.insert(key.to_owned(), value.to_owned());
        self
    }
}

/// An image the fake "registry" holds: what it runs when a container gives no command.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageConfig {
    /// The image's ENTRYPOINT.
    pub entrypoint: Vec<String>,
    /// The image's CMD (the default args).
    pub cmd: Vec<String>,
}

/// What happens to a container whose image is not in the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnknownImages {
    /// Run it if the container gives a `command`; fail the pull otherwise.
    RunIfCommandGiven,
    /// Always fail the pull (`ErrImagePull`, then `ImagePullBackOff`).
    Fail,
}

/// How containers are isolated from the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    /// Each container runs in its own mount namespace with a copy-on-write overlay of the host's
    /// root filesystem as its root, the pod's volumes bind-mounted at their mount paths.
    MountNamespace,
    /// Containers run directly on the host (no volumes at their mount paths); for machines where
    /// `unshare` and overlay mounts are not allowed.
    None,
}

/// A simulated cluster autoscaler with one node group: a pod that fits no node but would fit
/// a new node of the group gets a `TriggeredScaleUp` event, and the node joins `delay` later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutoscalerConfig {
    /// The node group's name; its nodes are called `<group>-<n>`.
    pub node_group: String,
    /// What a new node looks like (its name is ignored).
    pub template: NodeConfig,
    /// Time from the scale-up decision to the node being Ready.
    pub delay: Duration,
    /// How many nodes the group may add.
    pub max_nodes: u32,
}

impl AutoscalerConfig {
    /// A group `fake-pool` of default nodes ([`NodeConfig::new`]) that may add `max_nodes`
    /// nodes, each `delay` after its scale-up.
    pub fn new(delay: Duration, max_nodes: u32) -> Self {
        Self {
            node_group: "fake-pool".to_owned(),
            template: NodeConfig::new("fake-pool"),
            delay,
            max_nodes,
        }
    }
}

/// The configuration of one fake cluster.
#[derive(Debug, Clone)]
pub struct FakeKubeConfig {
    /// The nodes; the scheduler places pods on them.
    pub nodes: Vec<NodeConfig>,
    /// The images that exist, by reference (`busybox`, `busybox:1.36`, `docker.io/library/x:1`).
    pub images: BTreeMap<String, ImageConfig>,
    /// What to do with images the registry does not know.
    pub unknown_images: UnknownImages,
    /// Delay between a pod's binding and its containers' start (sandbox creation time).
    pub pod_start_delay: Duration,
    /// Delay before each container's process starts (image pull and create time).
    pub container_start_delay: Duration,
    /// Time from `ErrImagePull` to `ImagePullBackOff` and between pull retries.
    pub image_pull_backoff: Duration,
    /// Wait before restarting a failed container (the kubelet's crash back-off, fixed).
    pub restart_backoff: Duration,
    /// How often watches with `allowWatchBookmarks=true` receive a BOOKMARK.
    pub bookmark_interval: Duration,
    /// How many changes are kept for watches to resume from; older ones get `410 Expired`.
    pub watch_history: usize,
    /// Time a new pod waits in the scheduler's queue before its first scheduling attempt.
    pub scheduling_delay: Duration,
    /// The simulated cluster autoscaler, if any (also set at run time through `/__fake/`).
    pub autoscaler: Option<AutoscalerConfig>,
    /// How long pods stay bound to a lost node before the taint eviction controller deletes
    /// them (the `tolerationSeconds` of the default `unreachable` toleration, 300 s on a real
    /// cluster); a pod's own toleration for `node.kubernetes.io/unreachable` wins.
    pub node_lost_grace: Duration,
    /// Authenticate every `/api/v1/` request by its bearer token and authorize it with the
    /// Roles and bindings loaded by `FakeKube::load_rbac` (the kubeconfig's token stays an
    /// administrator). Off: any request is allowed.
    pub rbac: bool,
    /// Container isolation.
    pub isolation: Isolation,
    /// Where pod directories go; a fresh temporary directory when `None`.
    pub state_dir: Option<PathBuf>,
    /// Host directories the containers do not see, as if the pods ran on another machine:
    /// each is covered by an empty, read-only tmpfs in the container's root. Needs
    /// [`Isolation::MountNamespace`] (the fake refuses to start with it otherwise).
    pub hidden_paths: Vec<PathBuf>,
}

impl Default for FakeKubeConfig {
    fn default() -> Self {
        let mut images = BTreeMap::new();
        for (name, cmd) in [
            ("busybox", "sh"),
            ("alpine", "/bin/sh"),
            ("ubuntu", "/bin/bash"),
        ] {
            images.insert(
                name.to_owned(),
                ImageConfig {
                    entrypoint: Vec::new(),
                    cmd: vec![cmd.to_owned()],
                },
            );
        }
        Self {
            nodes: vec![NodeConfig::new("fake-node-1")],
            images,
            unknown_images: UnknownImages::RunIfCommandGiven,
            pod_start_delay: Duration::ZERO,
            container_start_delay: Duration::ZERO,
            image_pull_backoff: Duration::from_millis(500),
            restart_backoff: Duration::from_millis(200),
            bookmark_interval: Duration::from_secs(5),
            watch_history: 10_000,
            scheduling_delay: Duration::ZERO,
            autoscaler: None,
            node_lost_grace: Duration::from_secs(300),
            rbac: false,
            isolation: Isolation::MountNamespace,
            state_dir: None,
            hidden_paths: Vec::new(),
        }
    }
}

/// The canonical form of an image reference: `docker.io/library/` dropped, `:latest` added
/// when there is neither tag nor digest.
pub fn normalize_image(image: &str) -> String {
    let trimmed = image
        .strip_prefix("docker.io/library/")
        .or_else(|| image.strip_prefix("docker.io/"))
        .unwrap_or(image);
    let last = trimmed.rsplit('/').next().unwrap_or(trimmed);
    if last.contains(':') || last.contains('@') {
        trimmed.to_owned()
    } else {
        format!("{trimmed}:latest")
    }
}

/// The fully qualified form kubelet messages use: `docker.io/library/busybox:latest`.
pub fn qualified_image(image: &str) -> String {
    let normal = normalize_image(image);
    let first = normal.split('/').next().unwrap_or("");
    if !normal.contains('/') {
        format!("docker.io/library/{normal}")
    } else if first.contains('.') || first.contains(':') || first == "localhost" {
        normal
    } else {
        format!("docker.io/{normal}")
    }
}
