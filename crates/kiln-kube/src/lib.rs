//! kiln's Kubernetes backend: one pod per build, steps in named containers through the kiln
//! agent, pod templates from the server configuration merged with the pipeline's
//! `agent { kubernetes { } }`, warm pools, cache volumes and Kaniko image builds.
//!
//! This is the only crate that names `kube` or `k8s-openapi`; the engine sees it through
//! `kiln_executor::Executor` only. YAML is read with kiln-yaml (positions, typed values,
//! unknown fields); no module here parses YAML itself.
//
// Note for Engineer A: Engineer B created this skeleton (Cargo.toml + lib.rs) because the
// crate did not exist yet; add your `mod` lines and dependencies freely.

mod agent_client;
mod agent_link;
mod agent_options;
mod agent_pod;
mod api_client;
mod cache;
mod config;
mod docker_agent;
mod dockerfile_agent;
mod executor;
mod executor_error;
mod image_build;
mod image_records;
mod kaniko;
mod local_run;
mod merge;
mod oci;
mod pod;
mod pod_lifecycle;
mod pod_slots;
mod pod_source;
mod pod_status;
mod pod_watch;
mod pool;
mod reaper;
mod requests;
mod template;
mod text;
mod token;
mod yaml_file;

pub use agent_client::Followed;
pub use agent_link::{AgentListener, AgentMode};
pub use agent_options::{
    ANNOTATION_START_DEADLINE, CONTAINER_ARGS, ContainerTemplate, PodOptions, start_deadline_of,
};
pub use agent_pod::{AGENT_BINARY, AGENT_INIT_CONTAINER, AgentInstall};
pub use api_client::{RequestTimedOut, connect, limited_client};
pub use cache::{CachePreset, CacheScope, CacheSource, CacheSpec};
pub use config::{ApiLimits, Connection, KubeConfig};
pub use docker_agent::{DOCKER_CONTAINER, docker_request, image_request};
pub use dockerfile_agent::{
    DockerfileAgents, DockerfileImage, dockerfile_image, dockerfile_request,
};
pub use executor::{ExecutorSettings, KubeExecutor, PodRequest, StartTimings};
pub use executor_error::KubeError;
pub use image_build::ImageBuilder;
pub use image_records::{ImageRecords, ImageStep};
pub use kaniko::{
    DOCKER_CONFIG_DIR, KANIKO_CONTAINER, KanikoBuild, KanikoSettings, add_kaniko_container,
    context_tarball, digest_file, kaniko_pod, platform_arch, platform_reference,
};
pub use local_run::{LocalCluster, LocalRunError, LocalRunOptions, upload_workspace};
pub use oci::{
    Credentials, DOCKER_MANIFEST, Descriptor, ImageIndex, ImageRef, OCI_INDEX, OCI_MANIFEST,
    OciError, Platform, Registry, push_index, sha256_digest,
};
pub use pod::{
    AGENT_DIR, AGENT_VOLUME, ANNOTATION_JOB, AgentRequest, BuiltPod, LABEL_BUILD, LABEL_JOB,
    LABEL_TEMPLATE, MergeStrategy, PodIdentity, WORKSPACE_VOLUME, build_pod, label_value,
};
pub use pod_slots::{PodSlot, PodSlots, SlotCounts};
pub use pod_source::{BuildPod, PodSource};
pub use pod_status::{Health, StartState};
pub use pool::{LABEL_POOL, POOL_JOB, PodOutcome, PoolCounts, WarmPool};
pub use reaper::{BuildPodRef, reap_orphans, secret_name};
pub use template::{PodTemplate, PoolSettings, RequestsPolicy};
pub use text::{PodText, PodTextOrigin};
pub use yaml_file::read_yaml_file;
