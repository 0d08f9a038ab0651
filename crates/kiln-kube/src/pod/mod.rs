//! Pure pod building: the server's pod templates, the pipeline's agent settings (as plain
//! values), `yaml` / `yamlFile` text, merging, caches, requests policy, the kiln agent's init
//! container and command, docker agents' pods, and judging a pod's status. No IO, no API
//! calls: every function here maps values to a `Pod` or a verdict.

pub(crate) mod agent;
pub(crate) mod build;
pub(crate) mod cache;
pub(crate) mod docker;
pub(crate) mod merge;
pub(crate) mod options;
pub(crate) mod requests;
pub(crate) mod status;
pub(crate) mod template;
pub(crate) mod text;
pub(crate) mod yaml_file;
