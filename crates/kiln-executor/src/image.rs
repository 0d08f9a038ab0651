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
    /// A docker `config.json` to log in to registries with (`docker.withRegistry`), over the
    /// executor's own credentials; `None`: the executor's.
    pub docker_config: Option<Vec<u8>>,
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

/// What an image build tells the build log, typed so that what reads the build's record
/// knows each line by what it is, never by its words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageLogLine {
    /// A builder pod was started (or taken over) for a platform; `text` says so.
    PodStarted { pod: String, text: String },
    /// One line of a builder's output (without its line break): `platform` names the builder
    /// (`linux/amd64`, or the node's platform), `end` is the byte offset just past the line
    /// in that builder's output.
    Output {
        platform: String,
        end: u64,
        line: String,
    },
    /// Anything else the image build says (what it pushed).
    Note(String),
}

/// Lines of the builders' output for the build log.
pub type ImageLog = tokio::sync::mpsc::UnboundedSender<ImageLogLine>;
