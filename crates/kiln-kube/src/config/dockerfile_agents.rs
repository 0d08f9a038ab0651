//! `executors.kubernetes.dockerfile_agents`: where kiln pushes the images it builds for
//! `dockerfile { }` agents.

use crate::registry::ImageRef;
use serde::Deserialize;

/// `executors.kubernetes.dockerfile_agents`: where the images of dockerfile agents go.
/// Registry credentials are the Kaniko docker config secret (`kaniko.docker_config_secret`).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub struct DockerfileAgents {
    /// `HOST[:PORT]/PATH` (no tag): each image is pushed as `REPOSITORY:DIGEST`.
    pub repository: String,
    /// The registry speaks plain HTTP (Kaniko's `--insecure-registry`; kiln's tag check
    /// uses `http://`).
    #[serde(default)]
    pub insecure: bool,
    /// Kaniko caches layers in `REPOSITORY/cache` (`--cache=true --cache-repo=...`), so a
    /// changed Dockerfile rebuilds only from the first changed instruction.
    #[serde(default)]
    pub cache: bool,
}

impl DockerfileAgents {
    /// The repository must be `HOST[:PORT]/PATH` without a tag or digest.
    pub fn check(&self) -> Result<(), String> {
        let invalid = || {
            format!(
                "`dockerfile_agents.repository` `{}` is not a repository: expected HOST[:PORT]/PATH without a tag, e.g. registry.example:5000/kiln-agents",
                self.repository
            )
        };
        let parsed = ImageRef::parse(&self.repository).map_err(|_| invalid())?;
        let untagged = format!("{}/{}", parsed.registry, parsed.repository);
        if untagged != self.repository || parsed.repository.contains('@') {
            return Err(invalid());
        }
        Ok(())
    }
}
