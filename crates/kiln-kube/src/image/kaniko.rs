//! The `kanikoBuild` step in Kubernetes: a Kaniko container (no docker.sock, not privileged)
//! with the registry credentials' docker config mounted at `/kaniko/.docker`, the exact
//! executor arguments, and one pod per platform on nodes of that `kubernetes.io/arch`.
//!
//! Default image: the community fork `ghcr.io/osscontainertools/kaniko` (osscontainertools/
//! kaniko, maintained since Google archived GoogleContainerTools/kaniko in June 2025, and
//! publishing images). Chainguard's fork (chainguard-dev/kaniko) is maintained too but
//! publishes no public images; point `kaniko.image` at your own build of it if you prefer.

use crate::config::KubeConfig;
use crate::config::kaniko::KanikoSettings;
use crate::pod::build::{AgentRequest, BuiltPod, PodIdentity, build_pod};
use crate::pod::text::PodText;
use crate::registry::split_tag;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::core::v1::{
    Container, KeyToPath, PodSpec, SecretVolumeSource, Volume, VolumeMount,
};
use kiln_diagnostics::{Diagnostic, Span, Spanned};
use kiln_executor::ImageBuild;
use std::collections::BTreeMap;

/// Name of the Kaniko container kiln adds to a pod.
pub const KANIKO_CONTAINER: &str = "kaniko";
/// Where the docker config with registry credentials is mounted.
pub const DOCKER_CONFIG_DIR: &str = "/kaniko/.docker";
const DOCKER_CONFIG_VOLUME: &str = "kiln-kaniko-docker-config";

/// The executor's argv for one platform of `build` (as the `kanikoBuild` step asks for it;
/// `None`: no `--custom-platform`). `workspace` is
/// the workspace path inside the container. The build context is the tarball kiln copies
/// from the build's workspace to [`context_tarball`] (Kaniko unpacks it and finds the
/// Dockerfile, relative to the context, in it). With several platforms each destination gets
/// a per-platform tag (see [`platform_reference`]) and kiln pushes the index afterwards.
pub fn executor_args(
    build: &ImageBuild,
    settings: &KanikoSettings,
    workspace: &str,
    platform: Option<&str>,
    multi: bool,
) -> Vec<String> {
    let mut argv = vec![
        settings.executor.clone(),
        format!("--context=tar://{}", context_tarball(workspace)),
        format!("--dockerfile={}", build.dockerfile),
    ];
    for d in &build.destinations {
        let d = match (multi, platform) {
            (true, Some(p)) => platform_reference(d, p),
            _ => d.clone(),
        };
        argv.push(format!("--destination={d}"));
    }
    if build.cache {
        argv.push("--cache=true".to_string());
        if let Some(repo) = &build.cache_repo {
            argv.push(format!("--cache-repo={repo}"));
        }
    }
    argv.extend(build.build_args.iter().map(|a| format!("--build-arg={a}")));
    if let Some(p) = platform {
        argv.push(format!("--custom-platform={p}"));
    }
    for r in &build.insecure_registries {
        argv.push(format!("--insecure-registry={r}"));
    }
    argv.push(format!(
        "--digest-file={}",
        digest_file(workspace, platform)
    ));
    argv.push("--cleanup".to_string());
    argv
}

/// Where kiln puts the build context (a `.tar.gz` of the context directory) in a Kaniko pod.
pub fn context_tarball(workspace: &str) -> String {
    join_path(workspace, ".kiln/kaniko/context.tar.gz")
}

/// Where the executor writes the pushed image's digest.
pub fn digest_file(workspace: &str, platform: Option<&str>) -> String {
    let name = platform.map_or_else(|| "image".to_string(), |p| p.replace('/', "-"));
    join_path(workspace, &format!(".kiln/kaniko/{name}.digest"))
}

/// The per-platform reference of a destination: the tag gets `-ARCH[-VARIANT]`
/// (`reg/app:1.0` for `linux/arm64` is `reg/app:1.0-arm64`; no tag means `latest`).
pub fn platform_reference(destination: &str, platform: &str) -> String {
    let suffix: Vec<&str> = platform.split('/').skip(1).collect();
    let suffix = suffix.join("-");
    let (repo, tag) = split_tag(destination);
    format!("{repo}:{}-{suffix}", tag.unwrap_or("latest"))
}

/// The architecture part of `os/arch[/variant]`, as nodes label it (`kubernetes.io/arch`).
pub fn platform_arch(platform: &str) -> Option<&str> {
    platform.split('/').nth(1).filter(|a| !a.is_empty())
}

fn join_path(base: &str, rel: &str) -> String {
    if rel.starts_with('/') {
        return rel.to_string();
    }
    let rel = rel.trim_start_matches("./");
    if rel.is_empty() || rel == "." {
        return base.trim_end_matches('/').to_string();
    }
    format!("{}/{rel}", base.trim_end_matches('/'))
}

/// Adds the Kaniko container (and the docker config volume) to a pod spec; with `arch`, the
/// pod is pinned to nodes of that architecture.
pub fn add_kaniko_container(spec: &mut PodSpec, settings: &KanikoSettings, arch: Option<&str>) {
    let mut mounts = Vec::new();
    if let Some(secret) = &settings.docker_config_secret {
        let volumes = spec.volumes.get_or_insert_with(Vec::new);
        if !volumes.iter().any(|v| v.name == DOCKER_CONFIG_VOLUME) {
            volumes.push(Volume {
                name: DOCKER_CONFIG_VOLUME.to_string(),
                secret: Some(SecretVolumeSource {
                    secret_name: Some(secret.clone()),
                    items: Some(vec![KeyToPath {
                        key: ".dockerconfigjson".to_string(),
                        path: "config.json".to_string(),
                        mode: None,
                        ..KeyToPath::default()
                    }]),
                    ..SecretVolumeSource::default()
                }),
                ..Volume::default()
            });
        }
        mounts.push(VolumeMount {
            name: DOCKER_CONFIG_VOLUME.to_string(),
            mount_path: DOCKER_CONFIG_DIR.to_string(),
            read_only: Some(true),
            ..VolumeMount::default()
        });
    }
    spec.containers.retain(|c| c.name != KANIKO_CONTAINER);
    // Kaniko unpacks and builds image filesystems: it needs root and root's capabilities
    // (nothing privileged), so it says so rather than take the build pods' defaults.
    spec.containers.push(Container {
        name: KANIKO_CONTAINER.to_string(),
        image: Some(settings.image.clone()),
        volume_mounts: (!mounts.is_empty()).then_some(mounts),
        security_context: Some(k8s_openapi::api::core::v1::SecurityContext {
            run_as_user: Some(0),
            ..Default::default()
        }),
        ..Container::default()
    });
    if let Some(arch) = arch {
        spec.node_selector
            .get_or_insert_with(BTreeMap::new)
            .insert("kubernetes.io/arch".to_string(), arch.to_string());
    }
}

/// The pod one platform of a `kanikoBuild` runs in: the configured Kaniko template (if any)
/// plus the Kaniko container as the default container, with the docker config mounted and,
/// for a platform, pinned to nodes of its architecture; kiln's workspace and agent volumes and
/// labels come from [`build_pod`], so the agent runs the executor like any step.
pub fn kaniko_pod(
    config: &KubeConfig,
    id: &PodIdentity,
    platform: Option<&str>,
) -> Result<BuiltPod, Vec<Diagnostic>> {
    let mut spec = PodSpec::default();
    add_kaniko_container(&mut spec, &config.kaniko, platform.and_then(platform_arch));
    let overlay = Pod {
        spec: Some(spec),
        ..Pod::default()
    };
    let text = serde_json::to_string(&overlay)
        .map_err(|e| vec![Diagnostic::error("kube-kaniko", e.to_string())])?;
    let request = AgentRequest {
        yaml: Some(PodText::evaluated(text, Span::default())),
        inherit_from: config
            .kaniko
            .template
            .clone()
            .map(|t| Spanned::new(t, Span::default())),
        default_container: Some(Spanned::new(KANIKO_CONTAINER.to_string(), Span::default())),
        ..AgentRequest::default()
    };
    build_pod(config, &request, id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build() -> ImageBuild {
        ImageBuild {
            context: ".".into(),
            dockerfile: "Dockerfile".into(),
            destinations: vec!["reg.local:5000/app:1.0".into()],
            cache: true,
            cache_repo: Some("reg.local:5000/app/cache".into()),
            build_args: vec!["VERSION=1.0".into()],
            platforms: vec!["linux/amd64".into(), "linux/arm64".into()],
            insecure_registries: vec!["reg.local:5000".into()],
            key: None,
            docker_config: None,
        }
    }

    #[test]
    fn executor_arguments_are_exact() {
        let argv = executor_args(
            &build(),
            &KanikoSettings::default(),
            "/workspace",
            Some("linux/arm64"),
            true,
        );
        assert_eq!(
            argv,
            [
                "/kaniko/executor",
                "--context=tar:///workspace/.kiln/kaniko/context.tar.gz",
                "--dockerfile=Dockerfile",
                "--destination=reg.local:5000/app:1.0-arm64",
                "--cache=true",
                "--cache-repo=reg.local:5000/app/cache",
                "--build-arg=VERSION=1.0",
                "--custom-platform=linux/arm64",
                "--insecure-registry=reg.local:5000",
                "--digest-file=/workspace/.kiln/kaniko/linux-arm64.digest",
                "--cleanup",
            ]
        );
    }

    #[test]
    fn a_single_platform_build_keeps_its_destination() {
        let b = ImageBuild {
            context: "app".into(),
            dockerfile: "docker/Dockerfile".into(),
            destinations: vec!["r/app".into()],
            ..ImageBuild::default()
        };
        let argv = executor_args(&b, &KanikoSettings::default(), "/workspace", None, false);
        assert_eq!(
            argv[1..4],
            [
                "--context=tar:///workspace/.kiln/kaniko/context.tar.gz",
                "--dockerfile=docker/Dockerfile",
                "--destination=r/app"
            ]
        );
        assert_eq!(
            argv[4],
            "--digest-file=/workspace/.kiln/kaniko/image.digest"
        );
    }

    #[test]
    fn references_split_and_get_platform_tags() {
        assert_eq!(
            split_tag("localhost:5000/a/b:1"),
            ("localhost:5000/a/b", Some("1"))
        );
        assert_eq!(
            split_tag("localhost:5000/a/b"),
            ("localhost:5000/a/b", None)
        );
        assert_eq!(
            platform_reference("r:5000/app", "linux/arm/v7"),
            "r:5000/app:latest-arm-v7"
        );
        assert_eq!(platform_arch("linux/arm64"), Some("arm64"));
    }

    #[test]
    fn a_platform_pod_runs_kaniko_unprivileged_with_the_workspace_and_credentials() {
        let config = KubeConfig::from_yaml(
            "kaniko:\n  docker_config_secret: regcred\n  template: kaniko\ntemplates:\n- name: kaniko\n  node_selector: {pool: builders}\n  caches:\n  - {name: kaniko, path: /cache/kaniko, source: empty_dir}\n",
        )
        .unwrap();
        let id = PodIdentity {
            name: "kiln-app-3-arm64".into(),
            job: "app".into(),
            build: 3,
        };
        let built = kaniko_pod(&config, &id, Some("linux/arm64")).unwrap();
        assert_eq!(built.default_container, "kaniko");
        assert_eq!(built.step_containers, ["kaniko"]);
        let spec = built.pod.spec.unwrap();
        let c = &spec.containers[0];
        let mut mounts: Vec<_> = c
            .volume_mounts
            .as_ref()
            .unwrap()
            .iter()
            .map(|m| m.mount_path.as_str())
            .collect();
        mounts.sort_unstable();
        assert_eq!(
            mounts,
            ["/cache/kaniko", "/kaniko/.docker", "/kiln", "/workspace"]
        );
        let security = c.security_context.as_ref().unwrap();
        assert_eq!(security.run_as_user, Some(0), "Kaniko needs root");
        assert_eq!(security.privileged, None, "no privileges asked for");
        assert_eq!(security.capabilities, None);
        let volumes = spec.volumes.unwrap();
        assert!(
            volumes.iter().all(|v| v.host_path.is_none()),
            "no docker.sock or host paths"
        );
        let selector = spec.node_selector.unwrap();
        assert_eq!(
            (
                selector["kubernetes.io/arch"].as_str(),
                selector["pool"].as_str()
            ),
            ("arm64", "builders")
        );
        assert_eq!(
            built.pod.metadata.labels.unwrap()["kiln.dev/template"],
            "kaniko"
        );
    }

    #[test]
    fn the_container_mounts_the_docker_config_and_pins_the_arch() {
        let settings = KanikoSettings {
            docker_config_secret: Some("regcred".into()),
            ..KanikoSettings::default()
        };
        let mut spec = PodSpec::default();
        add_kaniko_container(&mut spec, &settings, Some("arm64"));
        let c = &spec.containers[0];
        assert_eq!(
            c.image.as_deref(),
            Some(crate::config::kaniko::KANIKO_IMAGE)
        );
        assert_eq!(
            c.volume_mounts.as_ref().unwrap()[0].mount_path,
            "/kaniko/.docker"
        );
        let security = c.security_context.as_ref().unwrap();
        assert_eq!(security.run_as_user, Some(0), "kaniko runs as root");
        assert_eq!(security.privileged, None, "kaniko runs unprivileged");
        let v = &spec.volumes.unwrap()[0];
        assert_eq!(
            v.secret.as_ref().unwrap().secret_name.as_deref(),
            Some("regcred")
        );
        assert_eq!(spec.node_selector.unwrap()["kubernetes.io/arch"], "arm64");
    }
}
