//! `agent { docker { image 'maven:3.9' } }` on Kubernetes: there is no Docker daemon to run
//! the image, so kiln runs it as a pod whose container `docker` has that image (merged over
//! the `default` template, like any pod). Settings that only mean something to `docker run`
//! are named in notes for the build log.

use crate::pod::build::AgentRequest;
use crate::pod::text::PodText;
use kiln_diagnostics::{Span, Spanned};
use kiln_types::DockerSpec;

/// The container a docker agent's image runs in.
pub const DOCKER_CONTAINER: &str = "docker";

/// The pod request for a docker agent written at `span`, and notes on the settings a pod
/// cannot honour; `None` when the image has no value.
pub fn docker_request(docker: &DockerSpec, span: Span) -> Option<(AgentRequest, Vec<String>)> {
    let image = docker.image.text.clone()?;
    let mut notes = Vec::new();
    let ignored = [
        ("args", docker.args.is_some()),
        ("reuseNode", docker.reuse_node),
        ("registryUrl", docker.registry_url.is_some()),
        (
            "registryCredentialsId",
            docker.registry_credentials_id.is_some(),
        ),
        ("customWorkspace", docker.custom_workspace.is_some()),
    ];
    for (setting, given) in ignored {
        if given {
            notes.push(format!(
                "docker agent: `{setting}` has no effect in a pod (use a `kubernetes` agent's yaml for volumes, users and image pull secrets)"
            ));
        }
    }
    let request = image_request(&image, docker.always_pull, span, docker.image.span);
    Some((request, notes))
}

/// The pod request that runs `image` as the pod's default container `docker` (merged over
/// the `default` template): a `docker { }` agent's image, or the image kiln built for a
/// `dockerfile { }` agent. `image_span` is where the pipeline names the image.
pub fn image_request(image: &str, always_pull: bool, span: Span, image_span: Span) -> AgentRequest {
    let mut container = serde_json::json!({ "name": DOCKER_CONTAINER, "image": image });
    if always_pull {
        container["imagePullPolicy"] = "Always".into();
    }
    let pod = serde_json::json!({ "spec": { "containers": [container] } });
    AgentRequest {
        yaml: Some(PodText::evaluated(pod.to_string(), image_span)),
        default_container: Some(Spanned::new(DOCKER_CONTAINER.to_owned(), image_span)),
        span,
        ..AgentRequest::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::KubeConfig;
    use crate::pod::build::{PodIdentity, build_pod};
    use kiln_model::Document;
    use kiln_types::AgentSpecKind;

    fn docker_of(jenkinsfile: &str) -> (DockerSpec, Span) {
        let (doc, diags) = kiln_model::load(jenkinsfile);
        assert!(diags.iter().all(|d| !d.is_error()), "{diags:?}");
        let Some(Document::Declarative(p)) = doc else {
            panic!("not declarative")
        };
        let spec = kiln_plan::agent_spec(&p.agent, &mut |e| e.as_plain_str());
        let AgentSpecKind::Docker(d) = spec.kind else {
            panic!("not docker")
        };
        (d, spec.span)
    }

    #[test]
    fn the_image_runs_as_the_pods_default_container() {
        let (docker, span) = docker_of(
            "pipeline {\n agent { docker { image 'maven:3.9'; args '-v /tmp:/tmp'; alwaysPull true } }\n stages { stage('a') { steps { sh 'mvn -v' } } }\n}\n",
        );
        let (request, notes) = docker_request(&docker, span).unwrap();
        let id = PodIdentity {
            name: "kiln-app-1".into(),
            job: "app".into(),
            build: 1,
        };
        let built = build_pod(&KubeConfig::default(), &request, &id).unwrap();
        assert_eq!(built.default_container, "docker");
        let container = &built.pod.spec.as_ref().unwrap().containers[0];
        assert_eq!(container.image.as_deref(), Some("maven:3.9"));
        assert_eq!(container.image_pull_policy.as_deref(), Some("Always"));
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(
            notes[0].contains("`args` has no effect in a pod"),
            "{notes:?}"
        );
    }
}
