//! Cache volumes per template (`caches:`): Maven, npm, Go, pip and Sonar caches (or any
//! directory) on a PersistentVolumeClaim, a hostPath or an emptyDir, shared by every build of
//! the template or keyed per project (a sub-directory named after the job).

use k8s_openapi::api::core::v1::{
    EmptyDirVolumeSource, HostPathVolumeSource, PersistentVolumeClaimVolumeSource, Volume,
};
use serde::Deserialize;

/// One cache volume of a template.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub struct CacheSpec {
    /// A short DNS-label name; the volume is called `cache-NAME`.
    pub name: String,
    /// A well-known tool cache: sets the default mount path and the environment variable
    /// that points the tool at it.
    pub preset: Option<CachePreset>,
    /// Where the cache is mounted in every step container (required without a preset).
    pub path: Option<String>,
    pub source: CacheSource,
    #[serde(default)]
    pub scope: CacheScope,
}

/// Tools whose cache location kiln knows.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum CachePreset {
    Maven,
    Npm,
    Go,
    Pip,
    Sonar,
}

impl CachePreset {
    /// The default mount path and the environment variables pointing the tool there.
    pub(crate) fn defaults(self) -> (&'static str, &'static [(&'static str, &'static str)]) {
        match self {
            CachePreset::Maven => (
                "/root/.m2",
                &[("MAVEN_OPTS", "-Dmaven.repo.local=/root/.m2/repository")],
            ),
            CachePreset::Npm => ("/cache/npm", &[("npm_config_cache", "/cache/npm")]),
            CachePreset::Go => (
                "/cache/go",
                &[
                    ("GOMODCACHE", "/cache/go/mod"),
                    ("GOCACHE", "/cache/go/build"),
                ],
            ),
            CachePreset::Pip => ("/cache/pip", &[("PIP_CACHE_DIR", "/cache/pip")]),
            CachePreset::Sonar => ("/cache/sonar", &[("SONAR_USER_HOME", "/cache/sonar")]),
        }
    }
}

/// Where the cache lives; spelled like the Kubernetes volume sources.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum CacheSource {
    /// A claim that must exist in the build namespace (ReadWriteMany when builds run on
    /// several nodes at once).
    PersistentVolumeClaim { claim_name: String },
    /// A directory on the node.
    HostPath { path: String },
    /// Lives as long as the pod: useful with a warm pool, whose pods serve several builds.
    EmptyDir,
}

/// Whether builds of every project share the cache or each project gets its own.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum CacheScope {
    #[default]
    Shared,
    /// A sub-directory per project (the job name made into a path segment).
    Project,
}

impl CacheSpec {
    /// The mount path: the configured one, or the preset's.
    pub fn mount_path(&self) -> Option<&str> {
        self.path
            .as_deref()
            .or_else(|| self.preset.map(|p| p.defaults().0))
    }

    pub(crate) fn volume(&self) -> Volume {
        let mut volume = Volume {
            name: format!("cache-{}", self.name),
            ..Volume::default()
        };
        match &self.source {
            CacheSource::PersistentVolumeClaim { claim_name } => {
                volume.persistent_volume_claim = Some(PersistentVolumeClaimVolumeSource {
                    claim_name: claim_name.clone(),
                    read_only: None,
                });
            }
            CacheSource::HostPath { path } => {
                volume.host_path = Some(HostPathVolumeSource {
                    path: path.clone(),
                    type_: Some("DirectoryOrCreate".to_string()),
                });
            }
            CacheSource::EmptyDir => volume.empty_dir = Some(EmptyDirVolumeSource::default()),
        }
        volume
    }
}
