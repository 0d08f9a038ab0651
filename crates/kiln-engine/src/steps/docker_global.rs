//! The `docker` global of docker-workflow scripts (see kiln-script's `runtime::docker`):
//! every method of `docker`, of an image and of a container arrives here as one call of
//! [`DOCKER_STEP`] with the method, the object and the arguments, and gets Docker
//! Pipeline's meaning:
//!
//! - `docker.image(id)` and `docker.build(id, args = '.')` return an image (`id`,
//!   `imageName()`, `tag(t)`, `push(t)`, `pull()`, `inside(args) { }`, `run(args, cmd)`,
//!   `withRun(args, cmd) { c -> }`); a container has `id`, `stop()` and `port(n)`;
//! - `docker.withRegistry(url, credentialsId) { }` is `withDockerRegistry` around the
//!   block (images are then named with the registry's host); `docker.withServer` and
//!   `docker.withTool` fail saying kiln does not provide them.
//!
//! Where the work happens depends on the site: on an executor with containers (a
//! Kubernetes pod) `inside` runs in a pod of the image and images are built and pushed by
//! Kaniko (`docker_kube`); elsewhere kiln runs the `docker` CLI against a reachable
//! daemon (`docker_cli`), or fails naming what to configure.
//!
//! [`DOCKER_STEP`]: kiln_script::DOCKER_STEP

use super::script::ScriptHost;
use super::{Args, StepCall, docker_cli, docker_kube};
use crate::error::StepError;
use crate::scope::Scope;
use kiln_model::StepId;
use kiln_script::{DOCKER_KEY, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// An image name split as Docker Pipeline splits it: `repo/app` and the tag (`latest`
/// when none is written; a `:` before the last `/` is a registry port, not a tag).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ImageName {
    pub(crate) user_and_repo: String,
    pub(crate) tag: String,
}

impl ImageName {
    pub(crate) fn parse(id: &str) -> ImageName {
        let slash = id.rfind('/');
        match id.rfind(':') {
            Some(colon) if slash.is_none_or(|s| s < colon) => ImageName {
                user_and_repo: id[..colon].to_owned(),
                tag: id[colon + 1..].to_owned(),
            },
            _ => ImageName {
                user_and_repo: id.to_owned(),
                tag: "latest".to_owned(),
            },
        }
    }
}

/// `name` as it is known in the registry of the enclosing `withRegistry` (its
/// `DOCKER_REGISTRY_URL`): prefixed with the URL's host and port; unchanged without one.
pub(crate) fn qualified(name: &str, registry_url: Option<&str>) -> String {
    let Some(url) = registry_url.map(str::trim).filter(|u| !u.is_empty()) else {
        return name.to_owned();
    };
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let host = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    if host.is_empty() {
        return name.to_owned();
    }
    format!("{host}/{name}")
}

/// A docker object of the script: the global, an image or a container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Receiver {
    Global,
    Image(String),
    Container(String),
}

impl Receiver {
    fn of(value: Option<&Value>) -> Result<Receiver, StepError> {
        let kind = value
            .and_then(|v| v.get(DOCKER_KEY))
            .and_then(Value::as_str);
        let id = || {
            value
                .and_then(|v| v.get("id"))
                .map(Value::to_string)
                .unwrap_or_default()
        };
        match kind {
            Some("docker") => Ok(Receiver::Global),
            Some("image") => Ok(Receiver::Image(id())),
            Some("container") => Ok(Receiver::Container(id())),
            _ => Err(StepError::failed("docker: not a docker object")),
        }
    }
}

/// The script's value of an image or container.
pub(crate) fn object(kind: &str, id: &str) -> Value {
    Value::Map(vec![
        (DOCKER_KEY.to_owned(), Value::Str(kind.to_owned())),
        ("id".to_owned(), Value::Str(id.to_owned())),
    ])
}

/// One method call on a docker object, as the backends see it.
pub(crate) struct DockerCall<'h, 'b, 'c> {
    pub(crate) host: &'h mut ScriptHost<'b>,
    pub(crate) call: &'c kiln_script::StepCall<'c>,
    pub(crate) scope: Scope,
    /// `docker.build`, `image.push`...: for messages.
    pub(crate) what: String,
    /// The method's positional arguments, as strings (`null` stays `None`).
    pub(crate) args: Vec<Option<String>>,
}

impl DockerCall<'_, '_, '_> {
    /// Positional argument `i`, or named argument `name`, or `default`.
    pub(crate) fn arg(&self, i: usize, name: &str, default: &str) -> String {
        self.args
            .get(i)
            .cloned()
            .flatten()
            .or_else(|| {
                self.call
                    .named
                    .get(name)
                    .filter(|v| !matches!(v, Value::Null))
                    .map(Value::to_string)
            })
            .unwrap_or_else(|| default.to_owned())
    }

    /// The `DOCKER_REGISTRY_URL` of the enclosing `withRegistry`.
    pub(crate) fn registry_url(&self) -> Option<&str> {
        self.scope
            .env
            .get("DOCKER_REGISTRY_URL")
            .map(String::as_str)
    }

    /// Logs a line in the step's stage.
    pub(crate) fn log(&self, line: &str) {
        self.host
            .build
            .log(self.scope.node, line, self.scope.timestamps);
    }

    /// Whether the steps run in a pod: then Kubernetes does the work, else the docker CLI.
    fn in_pod(&self) -> bool {
        self.scope.site.executor.runs_in_containers()
    }
}

/// Serves one method call of the `docker` global or of one of its objects.
pub(crate) fn call(
    host: &mut ScriptHost<'_>,
    call: &kiln_script::StepCall<'_>,
    scope: &Scope,
) -> Result<Value, StepError> {
    let method = super::script::host_method(call);
    let receiver = Receiver::of(call.named.get("$receiver"))?;
    let what = match &receiver {
        Receiver::Global => format!("docker.{method}"),
        Receiver::Image(_) => format!("image.{method}"),
        Receiver::Container(_) => format!("container.{method}"),
    };
    let args = call
        .positional
        .iter()
        .map(|v| match v {
            Value::Null => None,
            v => Some(v.to_string()),
        })
        .collect();
    let mut d = DockerCall {
        host,
        call,
        scope: scope.clone(),
        what,
        args,
    };
    match receiver {
        Receiver::Global => global(&mut d, &method),
        Receiver::Image(id) => image(&mut d, &id, &method),
        Receiver::Container(id) => container(&mut d, &id, &method),
    }
}

fn global(d: &mut DockerCall<'_, '_, '_>, method: &str) -> Result<Value, StepError> {
    match method {
        "image" => {
            let id = d.arg(0, "id", "");
            if id.is_empty() {
                return Err(StepError::failed("docker.image needs an image name"));
            }
            Ok(object("image", &id))
        }
        "build" => {
            let image = d.arg(0, "image", "");
            if image.is_empty() {
                return Err(StepError::failed(
                    "docker.build needs an image name, as in docker.build('repo/app:1', '.')",
                ));
            }
            let args = d.arg(1, "args", ".");
            if d.in_pod() {
                return docker_kube::build(d, &image, &args);
            }
            docker_cli::build(d, &image, &args)?;
            Ok(object("image", &image))
        }
        "withRegistry" => with_registry(d),
        "withServer" => Err(StepError::failed(
            "docker.withServer is not supported by kiln: it runs `docker` against the daemon \
             the build's machine reaches (set DOCKER_HOST in `environment` or with `withEnv` to \
             choose another), or in Kubernetes pods on a Kubernetes agent",
        )),
        "withTool" => Err(StepError::failed(
            "docker.withTool is not supported by kiln: the `docker` on the build's PATH is used",
        )),
        other => Err(unknown(d, other, "image, build, withRegistry")),
    }
}

fn image(d: &mut DockerCall<'_, '_, '_>, id: &str, method: &str) -> Result<Value, StepError> {
    let name = ImageName::parse(id);
    match method {
        "imageName" => Ok(Value::Str(qualified(id, d.registry_url()))),
        "getId" => Ok(Value::Str(id.to_owned())),
        "tag" | "push" => {
            let tag = d.arg(0, "tagName", &name.tag);
            let tagged = qualified(&format!("{}:{tag}", name.user_and_repo), d.registry_url());
            match (method, d.in_pod()) {
                ("tag", true) => docker_kube::tag(d, id, &tagged)?,
                ("tag", false) => docker_cli::tag(d, id, &tagged)?,
                (_, true) => docker_kube::push(d, id, &tagged)?,
                (_, false) => docker_cli::push(d, id, &tagged)?,
            }
            Ok(if method == "tag" {
                Value::Str(tagged)
            } else {
                Value::Null
            })
        }
        "pull" => {
            let qualified = qualified(id, d.registry_url());
            if d.in_pod() {
                docker_kube::pull(d, &qualified)?;
            } else {
                docker_cli::pull(d, &qualified)?;
            }
            Ok(Value::Null)
        }
        "inside" => {
            let args = d.arg(0, "args", "");
            if d.in_pod() {
                docker_kube::inside(d, id, &args)
            } else {
                docker_cli::inside(d, id, &args)
            }
        }
        "run" | "withRun" => {
            if d.in_pod() {
                return Err(StepError::failed(format!(
                    "{}: kiln runs no background containers on a Kubernetes agent; declare the \
                     service as a container of the pod (`agent {{ kubernetes {{ yaml ... }} }}`) \
                     and reach it on localhost",
                    d.what
                )));
            }
            let args = d.arg(0, "args", "");
            let command = d.arg(1, "command", "");
            let container = docker_cli::run(d, id, &args, &command)?;
            if method == "run" {
                return Ok(object("container", &container));
            }
            let body = d.call.body;
            let result = match body {
                Some(c) => {
                    let value = object("container", &container);
                    let mut inner = body_host(d);
                    d.call
                        .call_closure_in(&mut inner, c, vec![value], None)
                        .map_err(|m| inner.last_error.take().unwrap_or(StepError::failed(m)))
                }
                None => Ok(Value::Null),
            };
            let stopped = docker_cli::stop(d, &container);
            let value = result?;
            stopped?;
            Ok(value)
        }
        other => Err(unknown(
            d,
            other,
            "id, imageName, tag, push, pull, inside, run, withRun",
        )),
    }
}

fn container(d: &mut DockerCall<'_, '_, '_>, id: &str, method: &str) -> Result<Value, StepError> {
    match method {
        "stop" => docker_cli::stop(d, id).map(|()| Value::Null),
        "port" => {
            let port = d.arg(0, "port", "");
            docker_cli::port(d, id, &port).map(Value::Str)
        }
        "getId" => Ok(Value::Str(id.to_owned())),
        other => Err(unknown(d, other, "id, stop, port")),
    }
}

/// A host for a closure the method runs in the script's scope (`withRun`'s body).
fn body_host<'b>(d: &DockerCall<'_, 'b, '_>) -> ScriptHost<'b> {
    ScriptHost::new(&d.host.build, &d.scope, d.host.handle.clone())
}

/// `docker.withRegistry(url, credentialsId = null) { }`: `withDockerRegistry` around the
/// block, which sets `DOCKER_REGISTRY_URL` and `DOCKER_CONFIG`.
fn with_registry(d: &mut DockerCall<'_, '_, '_>) -> Result<Value, StepError> {
    let mut named: BTreeMap<String, Value> = BTreeMap::new();
    let url = d.arg(0, "url", "");
    named.insert("url".to_owned(), Value::Str(url));
    if let Some(id) = d.args.get(1).cloned().flatten().or_else(|| {
        d.call
            .named
            .get("credentialsId")
            .filter(|v| !matches!(v, Value::Null))
            .map(Value::to_string)
    }) {
        named.insert("credentialsId".to_owned(), Value::Str(id));
    }
    let build = Arc::clone(&d.host.build);
    let step_call = StepCall {
        build: &build,
        scope: &d.scope,
        name: "withDockerRegistry",
        args: Args::Script(&named),
        body: None,
    };
    d.host.block(StepId::WithDockerRegistry, &step_call, d.call)
}

/// `withDockerContainer(image: 'x', args: '-u root') { }` in a script: Docker Pipeline's
/// step behind `image.inside`, with the same meaning (the block in a container of the
/// image, or in a pod of it on a Kubernetes agent).
pub(crate) fn with_docker_container(
    host: &mut ScriptHost<'_>,
    call: &kiln_script::StepCall<'_>,
    scope: &Scope,
) -> Result<Value, StepError> {
    let named = |key: &str| {
        call.named
            .get(key)
            .filter(|v| !matches!(v, Value::Null))
            .map(Value::to_string)
    };
    let image = named("image")
        .or_else(|| call.positional.first().map(Value::to_string))
        .filter(|i| !i.is_empty())
        .ok_or_else(|| {
            StepError::failed(
                "withDockerContainer needs an image, as in withDockerContainer(image: 'maven:3') { }",
            )
        })?;
    let args = named("args").unwrap_or_default();
    let mut d = DockerCall {
        host,
        call,
        scope: scope.clone(),
        what: "withDockerContainer".to_owned(),
        args: vec![Some(args.clone())],
    };
    if named("toolName").is_some() {
        d.log("withDockerContainer: `toolName` has no effect: the `docker` on the build's PATH is used");
    }
    if d.in_pod() {
        docker_kube::inside(&mut d, &image, &args)
    } else {
        docker_cli::inside(&mut d, &image, &args)
    }
}

/// `withDockerContainer(...) { }` in `steps { }`: the same step, run by a script whose block
/// is the steps (so both forms share one implementation).
pub(crate) async fn with_docker_container_steps(call: &StepCall<'_>) -> Result<Value, StepError> {
    let image = call.req_string("image")?;
    let mut args = vec![format!("image: {}", groovy_literal(&image))];
    for key in ["args", "toolName"] {
        if let Some(v) = call.string(key)? {
            args.push(format!("{key}: {}", groovy_literal(&v)));
        }
    }
    let text = format!(
        "withDockerContainer({}) {{ {}() }}",
        args.join(", "),
        kiln_script::BODY_STEP
    );
    let (file, diagnostics) = kiln_syntax::parse(&text);
    if let Some(d) = diagnostics.first() {
        return Err(StepError::failed(format!(
            "withDockerContainer: cannot read its arguments: {}",
            d.message
        )));
    }
    let stmts = file.statements;
    super::script::blocking(
        call.build,
        call.scope,
        Some(call.body().to_vec()),
        move |host, ctx| {
            let build = Arc::clone(&host.build);
            build.script.eval_block(&stmts, ctx, host)
        },
    )
    .await
}

/// `s` as a single-quoted Groovy string.
fn groovy_literal(s: &str) -> String {
    format!(
        "'{}'",
        s.replace('\\', "\\\\")
            .replace('\'', "\\'")
            .replace('\n', "\\n")
            .replace('\r', "\\r")
    )
}

fn unknown(d: &DockerCall<'_, '_, '_>, method: &str, known: &str) -> StepError {
    let on = d.what.split('.').next().unwrap_or("docker");
    StepError::failed(format!(
        "`{method}` is not a method of {on} in kiln's docker global (it has {known})"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_names_split_like_docker_pipeline() {
        let cases = [
            ("app", "app", "latest"),
            ("repo/app:1.2", "repo/app", "1.2"),
            ("reg.local:5000/app", "reg.local:5000/app", "latest"),
            (
                "reg.local:5000/team/app:v3",
                "reg.local:5000/team/app",
                "v3",
            ),
        ];
        for (id, repo, tag) in cases {
            let n = ImageName::parse(id);
            assert_eq!(
                (n.user_and_repo.as_str(), n.tag.as_str()),
                (repo, tag),
                "{id}"
            );
        }
    }

    #[test]
    fn names_are_qualified_with_the_registry_host() {
        let cases = [
            (None, "app:1"),
            (Some(""), "app:1"),
            (Some("https://reg.example.com"), "reg.example.com/app:1"),
            (
                Some("https://reg.example.com:5000/v2/"),
                "reg.example.com:5000/app:1",
            ),
            (Some("reg.local:5000"), "reg.local:5000/app:1"),
        ];
        for (url, want) in cases {
            assert_eq!(qualified("app:1", url), want, "{url:?}");
        }
    }
}
