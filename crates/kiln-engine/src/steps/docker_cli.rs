//! The `docker` global where the steps run outside a pod: the `docker` CLI against the
//! daemon the build's machine reaches, with Docker Pipeline's command lines (run by `sh`,
//! so the log shows each as `+ docker ...`). Before the first command, `docker version`
//! checks that a daemon answers; without one the step fails saying what to configure.
//!
//! `inside` starts the image as Docker Pipeline's `withDockerContainer` does (the
//! workspace and its `@tmp` mounted at the same paths, the build's user, `cat` keeping it
//! alive), runs the block's processes in it with `docker exec` (`docker_exec`), and
//! removes the container after the block, however it ends.

use super::docker_exec::DockerExec;
use super::docker_global::{DockerCall, qualified};
use super::process::{Capture, run_process};
use crate::error::StepError;
use crate::site::Site;
use kiln_script::Value;
use std::sync::Arc;

/// Runs `command` with `sh -xc` where the steps run; its stdout is returned when
/// `capture`, else logged.
fn sh(d: &DockerCall<'_, '_, '_>, command: &str, capture: bool) -> Result<String, StepError> {
    let argv = vec!["sh".to_owned(), "-xc".to_owned(), command.to_owned()];
    let capture = if capture {
        Capture::Stdout
    } else {
        Capture::Nothing
    };
    let build = Arc::clone(&d.host.build);
    let done = d.host.handle.block_on(run_process(
        &build,
        &d.scope,
        (argv, None),
        d.scope.cwd.clone(),
        capture,
    ))?;
    if !done.status.success() {
        return Err(StepError::failed(format!(
            "{}: `{command}` failed with exit code {}",
            d.what,
            done.status.code()
        )));
    }
    Ok(String::from_utf8_lossy(&done.stdout).trim().to_owned())
}

/// `argv`'s stdout when it succeeds, its stderr dropped and nothing logged (Docker
/// Pipeline's `returnStatus` probes; `None` when it fails or cannot start).
fn quietly(d: &DockerCall<'_, '_, '_>, argv: &[&str]) -> Option<String> {
    let argv = argv.iter().map(|s| (*s).to_owned()).collect();
    let build = Arc::clone(&d.host.build);
    let done = d.host.handle.block_on(run_process(
        &build,
        &d.scope,
        (argv, None),
        d.scope.cwd.clone(),
        Capture::Quietly,
    ));
    done.ok()
        .filter(|f| f.status.success())
        .map(|f| String::from_utf8_lossy(&f.stdout).trim().to_owned())
}

/// Whether `argv` succeeds.
fn probe(d: &DockerCall<'_, '_, '_>, argv: &[&str]) -> Result<bool, StepError> {
    Ok(quietly(d, argv).is_some())
}

/// Fails unless a Docker daemon answers `docker version`.
fn require_daemon(d: &DockerCall<'_, '_, '_>) -> Result<(), StepError> {
    if probe(d, &["docker", "version", "--format", "{{.Server.Version}}"])? {
        return Ok(());
    }
    Err(StepError::failed(format!(
        "{}: no Docker daemon is reachable from {} (`docker version` failed). Outside \
         Kubernetes, kiln runs the `docker` global with the docker CLI: install it and start a \
         daemon on this machine, or set DOCKER_HOST to one; or run the stage on a Kubernetes \
         agent (`agent {{ kubernetes {{ ... }} }}`, or `kiln run --kubeconfig`), where `inside` \
         runs in a pod of the image and images are built and pushed with Kaniko",
        d.what,
        d.scope.site.executor.describe()
    )))
}

/// `docker build -t IMAGE ARGS`.
pub(crate) fn build(d: &DockerCall<'_, '_, '_>, image: &str, args: &str) -> Result<(), StepError> {
    require_daemon(d)?;
    sh(d, &format!("docker build -t {image} {args}"), false).map(drop)
}

/// `docker tag ID TAGGED`.
pub(crate) fn tag(d: &DockerCall<'_, '_, '_>, id: &str, tagged: &str) -> Result<(), StepError> {
    require_daemon(d)?;
    sh(d, &format!("docker tag {id} {tagged}"), false).map(drop)
}

/// `docker tag ID TAGGED` then `docker push TAGGED`.
pub(crate) fn push(d: &DockerCall<'_, '_, '_>, id: &str, tagged: &str) -> Result<(), StepError> {
    tag(d, id, tagged)?;
    sh(d, &format!("docker push {tagged}"), false).map(drop)
}

/// `docker pull NAME`.
pub(crate) fn pull(d: &DockerCall<'_, '_, '_>, name: &str) -> Result<(), StepError> {
    require_daemon(d)?;
    sh(d, &format!("docker pull {name}"), false).map(drop)
}

/// `docker run -d ARGS ID COMMAND`: the container's id.
pub(crate) fn run(
    d: &DockerCall<'_, '_, '_>,
    id: &str,
    args: &str,
    command: &str,
) -> Result<String, StepError> {
    require_daemon(d)?;
    let args = if args.is_empty() {
        String::new()
    } else {
        format!(" {args}")
    };
    let command = if command.is_empty() {
        String::new()
    } else {
        format!(" {command}")
    };
    sh(d, &format!("docker run -d{args} {id}{command}"), true)
}

/// `docker stop ID && docker rm -f ID`.
pub(crate) fn stop(d: &DockerCall<'_, '_, '_>, id: &str) -> Result<(), StepError> {
    sh(d, &format!("docker stop {id} && docker rm -f {id}"), false).map(drop)
}

/// `docker port ID PORT`.
pub(crate) fn port(d: &DockerCall<'_, '_, '_>, id: &str, port: &str) -> Result<String, StepError> {
    sh(d, &format!("docker port {id} {port}"), true)
}

/// `image.inside(args) { }`.
pub(crate) fn inside(
    d: &mut DockerCall<'_, '_, '_>,
    id: &str,
    args: &str,
) -> Result<Value, StepError> {
    require_daemon(d)?;
    // As Docker Pipeline: a locally built image runs under its own name; another one is
    // pulled (qualified with the registry) when it is not here yet.
    let named = qualified(id, d.registry_url());
    let to_run = if named != id && probe(d, &["docker", "inspect", "-f", ".", id])? {
        id.to_owned()
    } else {
        if !probe(d, &["docker", "inspect", "-f", ".", &named])? {
            pull(d, &named)?;
        }
        named
    };
    let ws = d.scope.site.workspace.display().to_string();
    let tmp = d.scope.site.tmp_dir.display().to_string();
    let cwd = d.scope.cwd.display().to_string();
    let extra = if args.is_empty() {
        String::new()
    } else {
        format!(" {args}")
    };
    // The build's user, as Docker Pipeline passes it, so files the block writes are the
    // build's.
    let user = match (quietly(d, &["id", "-u"]), quietly(d, &["id", "-g"])) {
        (Some(uid), Some(gid)) => format!(" -u {uid}:{gid}"),
        _ => String::new(),
    };
    let container = sh(
        d,
        &format!(
            "docker run -t -d{user} -w {cwd} -v {ws}:{ws}:rw,z -v {tmp}:{tmp}:rw,z{extra} \
             {to_run} cat"
        ),
        true,
    )?;
    let container = container
        .lines()
        .last()
        .unwrap_or_default()
        .trim()
        .to_owned();
    if container.is_empty() {
        return Err(StepError::failed(format!(
            "{}: `docker run` printed no container id",
            d.what
        )));
    }
    d.log(&format!(
        "{}: running the block in container {container}",
        d.what
    ));
    let site = Site {
        executor: Arc::new(kiln_executor::Layered(DockerExec::new(
            Arc::clone(&d.scope.site.executor),
            container.clone(),
        ))),
        ..(*d.scope.site).clone()
    };
    let inner = crate::scope::Scope {
        site: Arc::new(site),
        ..d.scope.clone()
    };
    let result = d.host.closure(d.call, d.call.body, &inner);
    let removed = sh(
        d,
        &format!("docker stop --time=1 {container} && docker rm -f {container}"),
        false,
    );
    let value = result?;
    removed?;
    Ok(value)
}
