//! Container image builds (`kanikoBuild`): what the engine asks an executor for, and what
//! comes back. Only executors that can start image builders (the Kubernetes backend's Kaniko
//! pods) run them; the others answer with an error saying so.

/// One image build as the `kanikoBuild` step asks for it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImageBuild {
    /// Build context, relative to the workspace.
    pub context: String,
    /// Dockerfile, relative to the context.
    pub dockerfile: String,
    pub destinations: Vec<String>,
    pub cache: bool,
    pub cache_repo: Option<String>,
    /// `NAME=value` pairs.
    pub build_args: Vec<String>,
    /// `os/arch[/variant]`; empty: the builder node's own platform.
    pub platforms: Vec<String>,
    pub insecure_registries: Vec<String>,
    /// The step's identity within its build, the same each time the build's steps run again
    /// (see `ProcessSpec::key`): an executor whose image builds outlive the controller keeps
    /// what each build did under it, so a resumed build does not build or push again.
    pub key: Option<String>,
}

/// One pushed image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuiltImage {
    /// The platform it was built for (`None`: the builder's own).
    pub platform: Option<String>,
    /// Its manifest digest (`sha256:...`).
    pub digest: String,
}

/// What an image build pushed: one image per platform, and with several platforms the
/// multi-arch index put under each destination.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImageBuilt {
    pub images: Vec<BuiltImage>,
    /// `(destination, index digest)` for multi-platform builds.
    pub indexes: Vec<(String, String)>,
}

/// Lines of the builders' output for the build log.
pub type ImageLog = tokio::sync::mpsc::UnboundedSender<String>;
