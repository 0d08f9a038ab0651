//! kiln's Kubernetes backend: one pod per build, steps in named containers through the kiln
//! agent, pod templates from the server configuration merged with the pipeline's
//! `agent { kubernetes { } }`, warm pools, cache volumes and Kaniko image builds.
//!
//! This is the only crate that names `kube` or `k8s-openapi`; the engine sees it through
//! `kiln_executor::Executor` only, and the scheduler and `kiln run` through kiln-backend's
//! execution-backend seam ([`KubeBackend`], in `backend/`). YAML is read with kiln-yaml (positions, typed values,
//! unknown fields); no module here parses YAML itself.

mod agent;
mod api;
mod backend;
mod config;
mod error;
mod exec;
mod image;
mod pod;
mod policy;
mod pools;
mod registry;
mod slots;
mod start_log;
mod token;

pub use agent::client::Followed;
pub use agent::install::{AGENT_BINARY, AGENT_INIT_CONTAINER, AGENT_USER, AgentInstall};
pub use agent::link::{AgentListener, AgentMode};
pub use agent::tls::{AgentCa, AgentTls, AgentTlsError};
pub use api::client::{RequestTimedOut, limited_client, limited_client_with_retry};
pub use api::reaper::{
    BuildPodRef, LiveBuild, collect_finished, collect_finished_every, reap_orphans, secret_name,
};
pub use backend::kube_backend::KubeBackend;
pub use backend::server::{KubeAgent, SetupError};
pub use config::api_retry::ApiRetry;
pub use config::cache::{CachePreset, CacheScope, CacheSource, CacheSpec};
pub use config::dockerfile_agents::DockerfileAgents;
pub use config::kaniko::KanikoSettings;
pub use config::template::{PodTemplate, PoolSettings, RequestsPolicy};
pub use config::{ApiLimits, Connection, ImagePull, KubeConfig, Orphans, PodPolicy};
pub use error::{
    ImageBuildError, InvalidPod, KubeError, StartError, StepsRefused, Trouble, Unusable, trouble,
};
pub use exec::executor::{
    ExecutorSettings, KubeExecutor, PodImageBuilder, PodRequest, StartTimings,
};
pub use exec::records::{ImageRecords, ImageStep};
pub use image::build::ImageBuilder;
pub use image::dockerfile::{
    DockerfileError, DockerfileImage, dockerfile_image, dockerfile_request,
};
pub use image::kaniko::{kaniko_pod, platform_reference};
/// The agent's `--connect` URL (`tls://HOST:PORT`), as kiln-agent reads it.
pub use kiln_agent::ControllerUrl;
pub use pod::agent_spec::{NotedRequest, pod_request, runs_in_pod};
pub use pod::build::{AgentRequest, BuiltPod, MergeStrategy, PodIdentity, build_pod};
pub use pod::docker::docker_request;
pub use pod::lifetime::{ANNOTATION_BUILD_TIMEOUT, set_build_timeout};
pub use pod::options::{
    ANNOTATION_START_DEADLINE, ContainerTemplate, PodOptions, start_deadline_of,
};
pub use pod::status::{ContainerEnded, Health, PodEnded, PodFailure, StartState, StepsStopped};
pub use pod::text::{PodText, PodTextOrigin};
pub use pod::yaml_file::read_yaml_file;
pub use policy::{PolicyCheck, PolicyRefusal, Refusal};
pub use pools::local_run::{LocalCluster, LocalRunError, LocalRunOptions, upload_workspace};
pub use pools::source::{BuildPod, PodSource, SourceError};
pub use pools::warm::{PodOutcome, PoolCounts, WarmPool};
pub use registry::{
    Credentials, DOCKER_MANIFEST, Descriptor, ImageIndex, ImageRef, OCI_INDEX, OCI_MANIFEST,
    OciError, Platform, Registry, push_index, sha256_digest,
};
pub use slots::{PodSlot, PodSlots, SlotCounts};
pub use start_log::StartLog;
