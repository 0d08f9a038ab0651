//! The `docker` global where the steps run in a Kubernetes pod, which has no Docker daemon:
//!
//! - `image.inside(args) { }` asks the build's [`crate::AgentProvider`] for a pod whose
//!   default container runs the image (as a `kubernetes { }` agent naming it would), copies
//!   the workspace into it, runs the block there, and copies the workspace back (files the
//!   block deleted stay deleted only in the pod);
//! - `docker.build(image, args)` reads the build's recipe from its arguments (`-f`,
//!   `--build-arg`, the context) and keeps it in the image; `image.push(tag)` has Kaniko
//!   build and push it (the executor's image build, as `kanikoBuild`), logged in with the
//!   `config.json` of the enclosing `withRegistry`;
//! - `image.tag` names the tag the next push uses, and `image.pull` leaves pulling to the
//!   pods; both say so in the log.

use super::docker_global::{DockerCall, object};
use super::kaniko::log_image_line;
use super::{Args, StepCall};
use crate::error::StepError;
use crate::stage_agent::{AgentSlot, occupy, provide};
use crate::{AgentRequest, BuildResult, Provision};
use kiln_diagnostics::Span;
use kiln_executor::{Executor, ImageBuild};
use kiln_script::Value;
use kiln_types::{AgentSpec, AgentSpecKind, AgentValue, KubernetesSpec};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// The recipe of a `docker.build` kept in the image's value, under these keys.
const CONTEXT: &str = "$context";
const DOCKERFILE: &str = "$dockerfile";
const BUILD_ARGS: &str = "$buildArgs";

/// The name of the container `inside` runs its block in.
const CONTAINER: &str = "docker-inside";

/// A `docker build` command line's arguments, as Kaniko takes them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Recipe {
    pub(crate) context: String,
    pub(crate) dockerfile: Option<String>,
    pub(crate) build_args: Vec<String>,
}

impl Recipe {
    /// `-f Dockerfile.ci --build-arg V=1 .`; options Kaniko has no use for are named in
    /// the error, so nothing is dropped silently.
    pub(crate) fn parse(args: &str) -> Result<Recipe, String> {
        let words = shlex::split(args)
            .ok_or_else(|| format!("cannot split `{args}` into words (an unclosed quote?)"))?;
        let mut recipe = Recipe::default();
        let mut context = None;
        let mut it = words.into_iter();
        while let Some(w) = it.next() {
            let mut value = |flag: &str| {
                it.next()
                    .ok_or_else(|| format!("`{flag}` needs a value in `{args}`"))
            };
            match w.as_str() {
                "-f" | "--file" => recipe.dockerfile = Some(value(&w)?),
                "--build-arg" => recipe.build_args.push(value(&w)?),
                "--pull" | "--no-cache" | "-q" | "--quiet" | "--rm" => {}
                _ if w.starts_with("--file=") => {
                    recipe.dockerfile = Some(w["--file=".len()..].to_owned());
                }
                _ if w.starts_with("--build-arg=") => {
                    recipe.build_args.push(w["--build-arg=".len()..].to_owned());
                }
                _ if w.starts_with('-') => {
                    return Err(format!(
                        "`{w}` of `docker build` is not supported by kiln's Kaniko builds \
                         (it takes -f/--file, --build-arg and the context)"
                    ));
                }
                _ if context.is_none() => context = Some(w),
                _ => return Err(format!("`{args}` names more than one build context")),
            }
        }
        recipe.context = context.unwrap_or_else(|| ".".to_owned());
        Ok(recipe)
    }
}

/// `docker.build(image, args)`: the image, with its recipe for a later push.
pub(crate) fn build(
    d: &DockerCall<'_, '_, '_>,
    image: &str,
    args: &str,
) -> Result<Value, StepError> {
    let recipe = Recipe::parse(args).map_err(|m| StepError::failed(format!("{}: {m}", d.what)))?;
    d.log(&format!(
        "{}: {image} is built with Kaniko when it is pushed (a pod has no Docker daemon; \
         Kaniko builds and pushes in one go)",
        d.what
    ));
    let Value::Map(mut entries) = object("image", image) else {
        return Err(StepError::failed("docker.build: internal error"));
    };
    entries.push((CONTEXT.to_owned(), Value::Str(recipe.context)));
    if let Some(f) = recipe.dockerfile {
        entries.push((DOCKERFILE.to_owned(), Value::Str(f)));
    }
    entries.push((
        BUILD_ARGS.to_owned(),
        Value::List(recipe.build_args.into_iter().map(Value::Str).collect()),
    ));
    Ok(Value::Map(entries))
}

/// `image.tag(t)`: nothing to do before the push.
pub(crate) fn tag(d: &DockerCall<'_, '_, '_>, _id: &str, tagged: &str) -> Result<(), StepError> {
    d.log(&format!(
        "{}: on Kubernetes the image gets the name {tagged} when it is pushed",
        d.what
    ));
    Ok(())
}

/// `image.pull()`: pods pull their images themselves.
pub(crate) fn pull(d: &DockerCall<'_, '_, '_>, name: &str) -> Result<(), StepError> {
    d.log(&format!(
        "{}: on Kubernetes, pods pull {name} themselves when they start",
        d.what
    ));
    Ok(())
}

/// `image.push(t)`: a Kaniko build of the image's recipe, pushed as `tagged`.
pub(crate) fn push(d: &DockerCall<'_, '_, '_>, id: &str, tagged: &str) -> Result<(), StepError> {
    let receiver = d.call.named.get("$receiver");
    let field = |k: &str| receiver.and_then(|r| r.get(k));
    let Some(context) = field(CONTEXT).map(Value::to_string) else {
        return Err(StepError::failed(format!(
            "{}: on Kubernetes kiln pushes the images `docker.build` makes (Kaniko builds and \
             pushes them); `{id}` was not built by this build's `docker.build`",
            d.what
        )));
    };
    let dockerfile = field(DOCKERFILE).map_or_else(
        || format!("{}/Dockerfile", context.trim_end_matches('/')),
        Value::to_string,
    );
    let build_args = match field(BUILD_ARGS) {
        Some(Value::List(items)) => items.iter().map(Value::to_string).collect(),
        _ => Vec::new(),
    };
    let build = Arc::clone(&d.host.build);
    let step_call = StepCall {
        build: &build,
        scope: &d.scope,
        name: "docker",
        args: Args::Script(&BTreeMap::new()),
        body: None,
    };
    let executor = Arc::clone(&d.scope.site.executor);
    let docker_config = d
        .host
        .handle
        .block_on(registry_login(executor.as_ref(), &d.scope.env))?;
    let slot = build.process_keys.next(d.scope.node);
    let what = vec![
        "docker.push".to_owned(),
        context.clone(),
        dockerfile.clone(),
        tagged.to_owned(),
    ];
    let key = slot.key(&what, Path::new(&context), None);
    let image = ImageBuild {
        context,
        dockerfile: relative_to(
            &dockerfile,
            &field(CONTEXT).map(Value::to_string).unwrap_or_default(),
        ),
        destinations: vec![tagged.to_owned()],
        cache: false,
        cache_repo: None,
        build_args,
        platforms: Vec::new(),
        insecure_registries: Vec::new(),
        key: Some(key.clone()),
        docker_config,
    };
    d.log(&format!(
        "{}: building and pushing {tagged} with Kaniko",
        d.what
    ));
    let built = d.host.handle.block_on(async {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let running = executor.build_image(image, tx);
        tokio::pin!(running);
        let built = loop {
            tokio::select! {
                Some(line) = rx.recv() => log_image_line(&step_call, &key, line),
                result = &mut running => break result,
            }
        };
        while let Ok(line) = rx.try_recv() {
            log_image_line(&step_call, &key, line);
        }
        built
    })?;
    for image in &built.images {
        d.log(&format!("{}: pushed {tagged}@{}", d.what, image.digest));
    }
    Ok(())
}

/// Docker's `-f` is relative to where `docker build` runs; Kaniko's to the context.
fn relative_to(dockerfile: &str, context: &str) -> String {
    let context = context.trim_start_matches("./").trim_end_matches('/');
    let file = dockerfile.trim_start_matches("./");
    if context.is_empty() || context == "." {
        return file.to_owned();
    }
    file.strip_prefix(&format!("{context}/"))
        .map_or_else(|| file.to_owned(), str::to_owned)
}

/// The `config.json` the enclosing `withRegistry` wrote (its `DOCKER_CONFIG`), if any.
async fn registry_login(
    executor: &dyn Executor,
    env: &BTreeMap<String, String>,
) -> Result<Option<Vec<u8>>, StepError> {
    let Some(dir) = env.get("DOCKER_CONFIG") else {
        return Ok(None);
    };
    let path = Path::new(dir).join("config.json");
    if !executor.file_exists(&path).await? {
        return Ok(None);
    }
    Ok(Some(executor.read_file(&path).await?))
}

/// `image.inside(args) { }`: the block in a pod of the image, on a copy of the workspace
/// brought back after.
pub(crate) fn inside(
    d: &mut DockerCall<'_, '_, '_>,
    id: &str,
    args: &str,
) -> Result<Value, StepError> {
    let build = Arc::clone(&d.host.build);
    let Some(provider) = build.spec.agents.clone() else {
        return Err(no_pods(d));
    };
    if !args.is_empty() {
        d.log(&format!(
            "{}: the docker run arguments `{args}` have no effect in a pod (use a `kubernetes` \
             agent's yaml for volumes, users and the like)",
            d.what
        ));
    }
    let image = super::docker_global::qualified(id, d.registry_url());
    let agent = pod_of(&image, d.call.span);
    let (log, lines) = tokio::sync::mpsc::unbounded_channel();
    let request = AgentRequest {
        agent,
        stage: d
            .scope
            .node
            .map(|n| build.stage_path(n))
            .unwrap_or_default(),
        job: build.spec.job_name.clone(),
        build: build.spec.number,
        checkout: false,
        nested: d.scope.site.provided,
        log,
    };
    let provided = d
        .host
        .handle
        .block_on(provide(&build, provider, request, lines, &d.scope))?;
    let Provision::Agent(provided) = provided else {
        return Err(no_pods(d));
    };
    let outer = d.scope.clone();
    let slot = AgentSlot::default();
    let mut inner = d.scope.clone();
    occupy(&build, &mut inner, &slot, provided);
    let rel = outer
        .cwd
        .strip_prefix(&outer.site.workspace)
        .map(Path::to_path_buf)
        .unwrap_or_default();
    inner.cwd = inner.site.workspace.join(rel);
    let copied = d.host.handle.block_on(copy_workspace(&outer, &inner));
    let result = match copied {
        Ok(n) => {
            d.log(&format!(
                "{}: copied {n} workspace files into the pod",
                d.what
            ));
            d.host.closure(d.call, d.call.body, &inner)
        }
        Err(e) => Err(e),
    };
    let back = d.host.handle.block_on(copy_workspace(&inner, &outer));
    if let Ok(n) = &back {
        d.log(&format!("{}: copied {n} workspace files back", d.what));
    }
    let outcome = match &result {
        Ok(_) => BuildResult::Success,
        Err(e) => e.result(),
    };
    d.host.handle.block_on(slot.release(&build, outcome));
    let value = result?;
    back?;
    Ok(value)
}

fn no_pods(d: &DockerCall<'_, '_, '_>) -> StepError {
    StepError::failed(format!(
        "{}: this build runs in a pod but kiln was given no way to start another one for the \
         image (no Kubernetes agents are configured)",
        d.what
    ))
}

/// A `kubernetes { }` agent whose default container runs `image`.
fn pod_of(image: &str, span: Span) -> AgentSpec {
    let pod = serde_json::json!({
        "spec": { "containers": [ { "name": CONTAINER, "image": image } ] }
    });
    let k = KubernetesSpec {
        yaml: Some(AgentValue::evaluated(pod.to_string(), span)),
        default_container: Some(AgentValue::evaluated(CONTAINER, span)),
        ..KubernetesSpec::default()
    };
    AgentSpec {
        kind: AgentSpecKind::Kubernetes(Box::new(k)),
        span,
    }
}

/// Copies every file of `from`'s workspace into `to`'s: the number copied.
async fn copy_workspace(
    from: &crate::scope::Scope,
    to: &crate::scope::Scope,
) -> Result<usize, StepError> {
    let (src, dst) = (&from.site, &to.site);
    let files = src.executor.list_files(&src.workspace, &[], &[]).await?;
    for f in &files {
        let bytes = src.executor.read_file(&src.workspace.join(&f.path)).await?;
        dst.executor
            .write_file(&dst.workspace.join(&f.path), &bytes)
            .await?;
    }
    Ok(files.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_build_arguments_become_a_kaniko_recipe() {
        let r = Recipe::parse("-f ci/Dockerfile --build-arg V=1 --pull app").unwrap();
        assert_eq!(r.context, "app");
        assert_eq!(r.dockerfile.as_deref(), Some("ci/Dockerfile"));
        assert_eq!(r.build_args, ["V=1"]);
        assert_eq!(Recipe::parse(".").unwrap().context, ".");
        assert!(
            Recipe::parse("--squash .")
                .unwrap_err()
                .contains("--squash")
        );
        assert!(Recipe::parse("a b").unwrap_err().contains("more than one"));
        assert_eq!(relative_to("app/Dockerfile", "app"), "Dockerfile");
        assert_eq!(relative_to("ci/Dockerfile", "."), "ci/Dockerfile");
    }
}
