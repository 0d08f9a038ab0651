//! Pure pod building: the server's pod templates, the pipeline's agent settings, `yaml` /
//! `yamlFile` text, merging, caches, requests policy, docker agents' pods, and judging a
//! pod's status. No API calls: every function here maps values to a `Pod` or a verdict (the
//! one read, of a `yamlFile` from the workspace, is kept out of `build_pod`).

pub(crate) mod agent_spec;
pub(crate) mod build;
pub(crate) mod cache;
pub(crate) mod docker;
pub(crate) mod hardening;
pub(crate) mod lifetime;
pub(crate) mod merge;
pub(crate) mod options;
pub(crate) mod requests;
pub(crate) mod services;
pub(crate) mod status;
pub(crate) mod template;
pub(crate) mod text;
pub(crate) mod yaml_file;
