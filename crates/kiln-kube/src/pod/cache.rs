//! Cache volumes in the pod: the template's `caches:` (see [`CacheSpec`]) added as volumes and
//! mounted in the step containers, keyed per project where asked.

use crate::config::cache::{CacheScope, CacheSource, CacheSpec};
use k8s_openapi::api::core::v1::{EnvVar, PodSpec, VolumeMount};

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
