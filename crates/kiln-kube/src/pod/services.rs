//! Which of a pod's containers run steps and which are services. kiln's agent replaces a step
//! container's command; a service (`docker:dind`, postgres, redis, selenium) keeps its own
//! command and entrypoint and runs beside the steps, reachable on 127.0.0.1 (a pod's
//! containers share one network namespace). A container is a service when the pod's
//! `kiln.dev/services` annotation names it, or when it gives its own `command` or `args`
//! that are not an idle command (`cat`, `sleep ...`, `tail -f /dev/null`, a bare shell, or
//! `sh -c` with one of these: what Jenkins pod templates give containers steps run in). A
//! container without `command` and `args` runs steps (its image's entrypoint is replaced),
//! and so does the default container, whatever it gives. Native sidecars (init containers
//! with `restartPolicy: Always`) are the cluster's to run: kiln leaves init containers alone.

use k8s_openapi::api::core::v1::{Container, Pod};

/// The pod annotation naming service containers (comma-separated), for services whose image's
/// own entrypoint is their command (postgres, redis: no `command` in the pod).
pub const ANNOTATION_SERVICES: &str = "kiln.dev/services";

/// Whether `container` of `pod` is a service rather than a step container; `default` is
/// the container steps run in unless told otherwise.
pub fn is_service(pod: &Pod, container: &Container, default: Option<&str>) -> bool {
    if default == Some(container.name.as_str()) {
        return false;
    }
    let named = pod
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(ANNOTATION_SERVICES))
        .is_some_and(|names| names.split(',').any(|n| n.trim() == container.name));
    if named {
        return true;
    }
    let argv: Vec<&str> = container
        .command
        .iter()
        .flatten()
        .chain(container.args.iter().flatten())
        .map(String::as_str)
        .collect();
    !argv.is_empty() && !is_idle(&argv)
}

/// The services of `pod` (see [`is_service`]), in pod order.
pub fn services(pod: &Pod, default: Option<&str>) -> Vec<String> {
    pod.spec
        .iter()
        .flat_map(|s| &s.containers)
        .filter(|c| is_service(pod, c, default))
        .map(|c| c.name.clone())
        .collect()
}

/// Whether `argv` only keeps a container alive for steps run in it.
fn is_idle(argv: &[&str]) -> bool {
    let program = |word: &str| word.rsplit('/').next().unwrap_or(word).to_owned();
    let Some((first, rest)) = argv.split_first() else {
        return true;
    };
    match (program(first).as_str(), rest) {
        ("cat", []) | ("sleep", [_]) => true,
        ("tail", ["-f", "/dev/null"]) => true,
        ("sh" | "bash" | "ash" | "dash", []) => true,
        ("sh" | "bash" | "ash" | "dash", ["-c", script]) => {
            let words: Vec<&str> = script.split_whitespace().collect();
            !words.is_empty()
                && words.first().map(|w| program(w)) != Some(program(first))
                && is_idle(&words)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(annotations: serde_json::Value, containers: serde_json::Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "p", "annotations": annotations},
            "spec": {"containers": containers}
        }))
        .unwrap()
    }

    #[test]
    fn idle_commands_run_steps_other_commands_are_services() {
        let p = pod(
            json!({}),
            json!([
                {"name": "plain", "image": "maven:3"},
                {"name": "cat", "image": "maven:3", "command": ["cat"], "tty": true},
                {"name": "sleep", "image": "node", "command": ["sleep"], "args": ["99d"]},
                {"name": "sleep-inf", "image": "node", "command": ["/bin/sleep", "infinity"]},
                {"name": "tail", "image": "x", "command": ["tail", "-f", "/dev/null"]},
                {"name": "shell", "image": "x", "command": ["/bin/sh"], "tty": true},
                {"name": "sh-sleep", "image": "x", "command": ["sh", "-c", "sleep infinity"]},
                {"name": "redis", "image": "redis:7", "command": ["redis-server", "--port", "6380"]},
                {"name": "dind", "image": "docker:dind", "args": ["--mtu=1400"]},
                {"name": "sh-server", "image": "x", "command": ["sh", "-c", "exec my-server"]},
                {"name": "sh-sh", "image": "x", "command": ["sh", "-c", "sh"]},
            ]),
        );
        assert_eq!(
            services(&p, Some("plain")),
            ["redis", "dind", "sh-server", "sh-sh"]
        );
    }

    #[test]
    fn the_annotation_names_services_and_the_default_container_runs_steps() {
        let p = pod(
            json!({"kiln.dev/services": "postgres, redis"}),
            json!([
                {"name": "main", "image": "x", "command": ["./entrypoint.sh"]},
                {"name": "postgres", "image": "postgres:16"},
                {"name": "redis", "image": "redis:7"},
            ]),
        );
        assert_eq!(services(&p, Some("main")), ["postgres", "redis"]);
        assert_eq!(services(&p, None), ["main", "postgres", "redis"]);
    }
}
