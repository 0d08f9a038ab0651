//! Cache volumes per template (`caches:`): Maven, npm, Go, pip and Sonar caches (or any
//! directory) on a PersistentVolumeClaim, a hostPath or an emptyDir, shared by every build of
//! the template or keyed per project (a sub-directory named after the job).

use k8s_openapi::api::core::v1::{
    EmptyDirVolumeSource, EnvVar, HostPathVolumeSource, PersistentVolumeClaimVolumeSource, PodSpec,
    Volume, VolumeMount,
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
    fn defaults(self) -> (&'static str, &'static [(&'static str, &'static str)]) {
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

    fn volume(&self) -> Volume {
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

/// Adds the cache volumes to `spec` and mounts them (plus the presets' environment) in the
/// step containers named in `containers`. `project` keys per-project caches.
pub(crate) fn apply_caches(
    spec: &mut PodSpec,
    caches: &[CacheSpec],
    containers: &[String],
    project: &str,
) {
    for cache in caches {
        let Some(path) = cache.mount_path() else {
            continue;
        };
        let volume = cache.volume();
        let sub_path = match (cache.scope, &cache.source) {
            (CacheScope::Project, CacheSource::EmptyDir) | (CacheScope::Shared, _) => None,
            (CacheScope::Project, _) => Some(project_segment(project)),
        };
        let env = cache.preset.map(|p| p.defaults().1).unwrap_or_default();
        for c in spec
            .containers
            .iter_mut()
            .filter(|c| containers.contains(&c.name))
        {
            let mounts = c.volume_mounts.get_or_insert_with(Vec::new);
            if mounts.iter().any(|m| m.mount_path == path) {
                continue;
            }
            mounts.push(VolumeMount {
                name: volume.name.clone(),
                mount_path: path.to_string(),
                sub_path: sub_path.clone(),
                ..VolumeMount::default()
            });
            let vars = c.env.get_or_insert_with(Vec::new);
            for (name, value) in env {
                if !vars.iter().any(|v| v.name == *name) {
                    vars.push(EnvVar {
                        name: (*name).to_string(),
                        value: Some((*value).to_string()),
                        value_from: None,
                    });
                }
            }
        }
        let volumes = spec.volumes.get_or_insert_with(Vec::new);
        if !volumes.iter().any(|v| v.name == volume.name) {
            volumes.push(volume);
        }
    }
}

/// A job name as one safe path segment: `team/app` becomes `team_app`.
pub(crate) fn project_segment(project: &str) -> String {
    let s: String = project
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    match s.trim_matches('.') {
        "" => "_".to_string(),
        t => t.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Container;

    fn spec() -> PodSpec {
        PodSpec {
            containers: vec![
                Container {
                    name: "maven".into(),
                    ..Container::default()
                },
                Container {
                    name: "kaniko".into(),
                    ..Container::default()
                },
            ],
            ..PodSpec::default()
        }
    }

    #[test]
    fn per_project_pvc_cache_uses_a_sub_path_and_the_preset_env() {
        let caches: Vec<CacheSpec> = kiln_yaml::parse_typed(
            "- name: m2\n  preset: maven\n  source: {persistent_volume_claim: {claim_name: kiln-m2}}\n  scope: project\n",
        )
        .unwrap();
        let mut s = spec();
        apply_caches(&mut s, &caches, &["maven".to_string()], "team/app");
        let maven = &s.containers[0];
        let mount = &maven.volume_mounts.as_ref().unwrap()[0];
        assert_eq!(
            (mount.name.as_str(), mount.mount_path.as_str()),
            ("cache-m2", "/root/.m2")
        );
        assert_eq!(mount.sub_path.as_deref(), Some("team_app"));
        assert_eq!(maven.env.as_ref().unwrap()[0].name, "MAVEN_OPTS");
        assert!(
            s.containers[1].volume_mounts.is_none(),
            "only step containers get caches"
        );
        let volume = &s.volumes.unwrap()[0];
        assert_eq!(
            volume.persistent_volume_claim.as_ref().unwrap().claim_name,
            "kiln-m2"
        );
    }

    #[test]
    fn shared_host_path_and_empty_dir_caches_have_no_sub_path() {
        let caches: Vec<CacheSpec> = kiln_yaml::parse_typed(
            "- {name: npm, preset: npm, source: {host_path: {path: /var/cache/npm}}}\n- {name: tmp, path: /cache/tmp, source: empty_dir, scope: project}\n",
        )
        .unwrap();
        let mut s = spec();
        apply_caches(
            &mut s,
            &caches,
            &["maven".to_string(), "kaniko".to_string()],
            "p",
        );
        for c in &s.containers {
            let mounts = c.volume_mounts.as_ref().unwrap();
            assert_eq!(mounts.len(), 2);
            assert!(mounts.iter().all(|m| m.sub_path.is_none()));
        }
        assert_eq!(s.volumes.unwrap().len(), 2);
    }

    #[test]
    fn project_segments_are_safe() {
        assert_eq!(project_segment("a/b c"), "a_b_c");
        assert_eq!(project_segment(".."), "_");
    }
}
