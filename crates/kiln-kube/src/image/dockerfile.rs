//! `agent { dockerfile { } }` on Kubernetes: kiln builds the image from the Dockerfile in
//! the build's workspace with Kaniko ([`ImageBuilder`], the `kanikoBuild` path), pushes it to
//! the configured repository under a tag that is a digest of what goes into it, and runs the
//! agent as a pod of that image exactly like a `docker { image }` agent ([`image_request`]).
//!
//! The tag digests the Dockerfile, the build arguments and the files of the context its
//! `COPY`/`ADD` instructions name (the whole context when one names `.` or a wildcard), so an
//! unchanged Dockerfile is not built again: the registry is asked for the tag first (a HEAD
//! request) and a build runs only when it is missing. A base image updated under the same tag
//! (`FROM node:22`) is not picked up until something in the digest changes.
//!
//! Jenkins' semantics: `dir` is the build context (default: the workspace), `filename` the
//! Dockerfile inside it (default `Dockerfile`), `additionalBuildArgs` `docker build` options
//! of which `--build-arg K=V` become Kaniko build arguments; the other options and `args`
//! (`docker run` options) are named in the log as not applying.

use crate::config::dockerfile_agents::DockerfileAgents;
use crate::image::build::ImageBuilder;
use crate::pod::build::AgentRequest;
use crate::pod::docker::image_request;
use crate::registry::{ImageRef, Registry};
use kiln_diagnostics::Span;
use kiln_executor::{ExecError, ImageBuild, ImageLog, ImageLogLine, LocalExecutor};
use kiln_types::{AgentValue, DockerfileSpec};
use sha2::{Digest, Sha256};
use std::path::{Component, Path, PathBuf};

/// A dockerfile agent's settings, evaluated.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Inputs {
    dir: String,
    filename: String,
    build_args: Vec<String>,
    notes: Vec<String>,
}

impl Inputs {
    /// The settings' values; one given but without a value (an expression only a stage's
    /// agent gets evaluated, e.g. `"${env.X}"` in a top-level agent) is an error, not a
    /// default.
    fn evaluate(agent: &DockerfileSpec) -> Result<Inputs, String> {
        let text = |v: &Option<AgentValue>, setting: &str, default: &str| {
            match v {
            None => Ok(default.to_owned()),
            Some(value) => value.text.clone().ok_or_else(|| {
                format!(
                    "dockerfile agent: `{setting}` must be a plain string here (a top-level agent's settings are read before the build runs)"
                )
            }),
        }
        };
        let dir = text(&agent.dir, "dir", ".")?;
        let filename = text(&agent.filename, "filename", "Dockerfile")?;
        let additional = text(&agent.additional_build_args, "additionalBuildArgs", "")?;
        let (build_args, ignored) = build_args(&additional);
        let mut notes = Vec::new();
        if !ignored.is_empty() {
            notes.push(format!(
                "dockerfile agent: `{}` in additionalBuildArgs {} not apply to Kaniko builds (only --build-arg does)",
                ignored.join(" "),
                if ignored.len() == 1 { "does" } else { "do" }
            ));
        }
        for (setting, given) in [
            ("args", agent.args.is_some()),
            ("reuseNode", agent.reuse_node),
        ] {
            if given {
                notes.push(format!(
                    "dockerfile agent: `{setting}` has no effect in a pod (use a `kubernetes` agent's yaml for volumes, users and image pull secrets)"
                ));
            }
        }
        Ok(Inputs {
            dir,
            filename,
            build_args,
            notes,
        })
    }
}

/// What kiln builds for a dockerfile agent: the image's reference and its Kaniko build.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DockerfileImage {
    /// `REPOSITORY:TAG`, the tag a digest of what goes into the image.
    pub reference: String,
    pub build: ImageBuild,
    /// Lines for the log: settings that do not apply.
    pub notes: Vec<String>,
}

/// The image of `agent` built from `workspace`, where the Dockerfile is read from. Errors
/// name what is wrong (a missing Dockerfile, a path out of the workspace). Reads files: call
/// it off the async runtime's threads.
pub fn dockerfile_image(
    settings: &DockerfileAgents,
    agent: &DockerfileSpec,
    workspace: &Path,
) -> Result<DockerfileImage, String> {
    image_of(settings, Inputs::evaluate(agent)?, workspace)
}

fn image_of(
    settings: &DockerfileAgents,
    inputs: Inputs,
    workspace: &Path,
) -> Result<DockerfileImage, String> {
    let context = inside(workspace, &inputs.dir, "dir")?;
    let dockerfile_path = inside(&context, &inputs.filename, "filename")?;
    let shown = display_path(&inputs.dir, &inputs.filename);
    let dockerfile = std::fs::read(&dockerfile_path)
        .map_err(|e| format!("dockerfile agent: cannot read {shown} in the workspace ({e})"))?;
    let mut hasher = Sha256::new();
    hasher.update(b"kiln dockerfile agent 1\0");
    field(&mut hasher, &dockerfile);
    for arg in &inputs.build_args {
        field(&mut hasher, arg.as_bytes());
    }
    hash_sources(
        &mut hasher,
        &context,
        &copied_sources(&String::from_utf8_lossy(&dockerfile)),
    )
    .map_err(|e| {
        format!(
            "dockerfile agent: cannot read the build context {}: {e}",
            inputs.dir
        )
    })?;
    let digest: String = hasher
        .finalize()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect();
    let reference = format!("{}:{digest}", settings.repository);
    let registry = ImageRef::parse(&reference)
        .map_err(|e| e.to_string())?
        .registry;
    let build = ImageBuild {
        context: inputs.dir,
        dockerfile: inputs.filename,
        destinations: vec![reference.clone()],
        build_args: inputs.build_args,
        cache: settings.cache,
        cache_repo: settings
            .cache
            .then(|| format!("{}/cache", settings.repository)),
        insecure_registries: if settings.insecure {
            vec![registry]
        } else {
            Vec::new()
        },
        ..ImageBuild::default()
    };
    Ok(DockerfileImage {
        reference,
        build,
        notes: inputs.notes,
    })
}

/// Why a dockerfile agent's image is not there to run.
#[derive(Debug, thiserror::Error)]
pub enum DockerfileError {
    /// The agent's settings or its build context (the text says what to fix).
    #[error("{0}")]
    Settings(String),
    /// The Kaniko build failed; the source says why (kiln-kube's `ImageBuildError` inside).
    #[error("dockerfile agent: the image build failed")]
    Build(#[source] ExecError),
}

impl From<String> for DockerfileError {
    fn from(message: String) -> Self {
        DockerfileError::Settings(message)
    }
}

/// The pod request of a dockerfile agent: the image built unless the registry has it (the
/// Kaniko output and what kiln decided go to `log`), then run like a `docker { image }`
/// agent. `workspace` is the build's workspace on this machine (Dockerfile and context);
/// errors are the stage's (or build's) failure message.
pub async fn dockerfile_request(
    builder: &ImageBuilder,
    settings: &DockerfileAgents,
    (agent, span): (&DockerfileSpec, Span),
    workspace: &Path,
    log: &ImageLog,
) -> Result<AgentRequest, DockerfileError> {
    let inputs = Inputs::evaluate(agent)?;
    let (settings_owned, dir) = (settings.clone(), workspace.to_path_buf());
    let image = tokio::task::spawn_blocking(move || image_of(&settings_owned, inputs, &dir))
        .await
        .map_err(|e| format!("dockerfile agent: {e}"))??;
    for note in &image.notes {
        let _ = log.send(ImageLogLine::Note(note.clone()));
    }
    let shown = display_path(&image.build.context, &image.build.dockerfile);
    if exists(builder, settings, &image.reference, log).await {
        let _ = log.send(ImageLogLine::Note(format!(
            "dockerfile agent: image {} is in the registry already (from {shown}): not built again",
            image.reference
        )));
    } else {
        let _ = log.send(ImageLogLine::Note(format!(
            "dockerfile agent: building image {} from {shown} with Kaniko",
            image.reference
        )));
        // kiln packs the context into `/tmp` (`image_build::pack_context`), outside the
        // workspace the local executor otherwise confines file reads to.
        let source =
            LocalExecutor::new(workspace.to_path_buf()).allow([std::path::PathBuf::from("/tmp")]);
        // The Kaniko pod's name is cut to fit where it is made (`image_build`).
        let part = crate::pod::build::pod_name_part(&builder.job);
        let pod = format!("kiln-{part}-{}", builder.build);
        builder
            .run(&source, &pod, image.build.clone(), log.clone())
            .await
            .map_err(DockerfileError::Build)?;
    }
    let image_span = agent.filename.as_ref().map_or(span, |v| v.span);
    Ok(image_request(&image.reference, false, span, image_span))
}

/// Whether the registry has `reference`; when it cannot be asked, the answer is no (the
/// image is built) and the log says why.
async fn exists(
    builder: &ImageBuilder,
    settings: &DockerfileAgents,
    reference: &str,
    log: &ImageLog,
) -> bool {
    let Ok(target) = ImageRef::parse(reference) else {
        return false;
    };
    let credentials = builder.credentials(&target.registry).await;
    let registry = Registry::new(&target.registry, settings.insecure, credentials);
    match registry.has_manifest(&target.repository, &target.tag).await {
        Ok(found) => found,
        Err(e) => {
            let _ = log.send(ImageLogLine::Note(format!(
                "dockerfile agent: cannot ask the registry for {reference} ({e}): building it"
            )));
            false
        }
    }
}

/// `dir/filename` as the user wrote them, for messages.
fn display_path(dir: &str, filename: &str) -> String {
    let dir = dir.trim_end_matches('/');
    if dir.is_empty() || dir == "." {
        filename.to_owned()
    } else {
        format!("{dir}/{filename}")
    }
}

/// `base/rel` for a relative path that stays inside `base`.
fn inside(base: &Path, rel: &str, setting: &str) -> Result<PathBuf, String> {
    let path = Path::new(rel);
    let escapes = path
        .components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir));
    if escapes || rel.is_empty() {
        return Err(format!(
            "dockerfile agent: `{setting}` `{rel}` must be a relative path inside the workspace"
        ));
    }
    Ok(base.join(path))
}

/// Hashes a length-prefixed field, so fields cannot run into each other.
fn field(hasher: &mut Sha256, bytes: &[u8]) {
    hasher.update((bytes.len() as u64).to_be_bytes());
    hasher.update(bytes);
}

/// `--build-arg K=V` / `--build-arg=K=V` of `docker build` options (shell words), and the
/// other words, which do not apply to Kaniko.
fn build_args(options: &str) -> (Vec<String>, Vec<String>) {
    let mut args = Vec::new();
    let mut ignored = Vec::new();
    let mut words = shell_words(options).into_iter();
    while let Some(word) = words.next() {
        if word == "--build-arg" {
            match words.next() {
                Some(value) => args.push(value),
                None => ignored.push(word),
            }
        } else if let Some(value) = word.strip_prefix("--build-arg=") {
            args.push(value.to_owned());
        } else {
            ignored.push(word);
        }
    }
    (args, ignored)
}

/// Splits a command line like `sh` does for words: whitespace outside quotes, `'...'`
/// literal, `"..."` with backslash escapes, backslash escaping one character outside quotes.
fn shell_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => words.extend(word.take()),
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                w.extend(chars.by_ref().take_while(|c| *c != '\''));
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => w.extend(chars.next()),
                        c => w.push(c),
                    }
                }
            }
            '\\' => word.get_or_insert_with(String::new).extend(chars.next()),
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    words
}

/// What of the context a Dockerfile copies into the image.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Sources {
    /// `COPY . /app`, a wildcard or a path kiln does not follow: the whole context counts.
    Whole,
    /// These paths of the context (files or directories).
    Paths(Vec<String>),
}

/// The context paths the `COPY`/`ADD` instructions of `dockerfile` name (`--from` copies
/// come from other images and are left out; URLs and heredocs are in the Dockerfile's text).
fn copied_sources(dockerfile: &str) -> Sources {
    let mut paths = Vec::new();
    for instruction in instructions(dockerfile) {
        let mut parts = instruction.splitn(2, char::is_whitespace);
        let keyword = parts.next().unwrap_or_default().to_ascii_uppercase();
        if keyword != "COPY" && keyword != "ADD" {
            continue;
        }
        let rest = parts.next().unwrap_or_default().trim();
        let mut words: Vec<String> = Vec::new();
        let mut flags = Vec::new();
        let mut tail = rest;
        while let Some(flag) = tail.strip_prefix("--") {
            let (f, after) = flag.split_once(char::is_whitespace).unwrap_or((flag, ""));
            flags.push(f.to_owned());
            tail = after.trim_start();
        }
        if flags.iter().any(|f| f.starts_with("from")) {
            continue;
        }
        if tail.starts_with('[') {
            match serde_json::from_str::<Vec<String>>(tail) {
                Ok(list) => words = list,
                Err(_) => return Sources::Whole,
            }
        } else {
            words.extend(tail.split_whitespace().map(str::to_owned));
        }
        words.pop();
        for source in words {
            let remote = ["http://", "https://", "git@", "<<"];
            if remote.iter().any(|p| source.starts_with(p)) {
                continue;
            }
            let clean = source.trim_start_matches("./").trim_end_matches('/');
            let plain = !clean.is_empty()
                && clean != "."
                && !clean.contains(['*', '?', '[', '$'])
                && Path::new(clean)
                    .components()
                    .all(|c| matches!(c, Component::Normal(_)));
            if !plain {
                return Sources::Whole;
            }
            paths.push(clean.to_owned());
        }
    }
    paths.sort();
    paths.dedup();
    Sources::Paths(paths)
}

/// The Dockerfile's instructions, continuation lines joined and comments dropped.
fn instructions(dockerfile: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in dockerfile.lines() {
        let trimmed = line.trim();
        if current.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#')) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(head) => {
                current.push_str(head);
                current.push(' ');
            }
            None => {
                current.push_str(trimmed);
                out.push(std::mem::take(&mut current));
            }
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// Hashes the files of `sources` below `context` (names, contents, symlink targets; `.git`
/// and `.kiln` left out), in name order.
fn hash_sources(hasher: &mut Sha256, context: &Path, sources: &Sources) -> std::io::Result<()> {
    let roots = match sources {
        Sources::Whole => vec![String::new()],
        Sources::Paths(paths) => paths.clone(),
    };
    for root in roots {
        let mut files = Vec::new();
        collect(context, &root, &mut files)?;
        if files.is_empty() && !root.is_empty() {
            field(hasher, format!("missing {root}").as_bytes());
        }
        // One file's contents in memory at a time: a `COPY .` context may be large.
        for (rel, path) in files {
            field(hasher, rel.as_bytes());
            match path {
                Entry::Link(target) => field(hasher, target.as_bytes()),
                Entry::File(path) => field(hasher, &std::fs::read(path)?),
            }
        }
    }
    Ok(())
}

/// A file found below the context: a symlink (its target) or a file (its path).
enum Entry {
    Link(String),
    File(PathBuf),
}

/// Files below `context/rel`, in name order.
fn collect(context: &Path, rel: &str, out: &mut Vec<(String, Entry)>) -> std::io::Result<()> {
    let path = if rel.is_empty() {
        context.to_path_buf()
    } else {
        context.join(rel)
    };
    let Ok(meta) = std::fs::symlink_metadata(&path) else {
        return Ok(());
    };
    if meta.file_type().is_symlink() {
        let target = std::fs::read_link(&path)?;
        out.push((
            rel.to_owned(),
            Entry::Link(target.to_string_lossy().into_owned()),
        ));
    } else if meta.is_dir() {
        let mut names: Vec<String> = std::fs::read_dir(&path)?
            .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect::<Result<_, _>>()?;
        names.sort();
        for name in names {
            if rel.is_empty() && (name == ".git" || name == ".kiln") {
                continue;
            }
            let child = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            collect(context, &child, out)?;
        }
    } else {
        out.push((rel.to_owned(), Entry::File(path)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> DockerfileAgents {
        DockerfileAgents {
            repository: "registry.example:5000/kiln-agents".into(),
            insecure: true,
            cache: false,
        }
    }

    fn inputs(dir: &str, filename: &str, args: &[&str]) -> Inputs {
        Inputs {
            dir: dir.into(),
            filename: filename.into(),
            build_args: args.iter().map(|a| (*a).to_owned()).collect(),
            notes: Vec::new(),
        }
    }

    #[test]
    fn build_args_are_kaniko_build_args_and_the_rest_is_named() {
        let (args, ignored) =
            build_args("--build-arg X=1 --pull --build-arg=\"Y=two words\" --network host");
        assert_eq!(args, ["X=1", "Y=two words"]);
        assert_eq!(ignored, ["--pull", "--network", "host"]);
        assert_eq!(
            shell_words(r#"a 'b c' "d\"e" f\ g"#),
            ["a", "b c", "d\"e", "f g"]
        );
    }

    #[test]
    fn copied_sources_follow_copy_and_add() {
        let check = |text: &str, want: Sources| assert_eq!(copied_sources(text), want, "{text}");
        let paths = |p: &[&str]| Sources::Paths(p.iter().map(|s| (*s).to_owned()).collect());
        check("FROM alpine\nRUN true\n", paths(&[]));
        check(
            "FROM a\nCOPY --chown=1:1 req.txt ./tools/ /app/\nadd [\"x y\", \"/z\"]\n",
            paths(&["req.txt", "tools", "x y"]),
        );
        check("FROM a\nCOPY --from=build /out /out\n", paths(&[]));
        check(
            "FROM a\nCOPY \\\n  lib \\\n  /lib\n# COPY . /\n",
            paths(&["lib"]),
        );
        check("FROM a\nCOPY . /app\n", Sources::Whole);
        check("FROM a\nCOPY *.txt /app/\n", Sources::Whole);
        check("FROM a\nADD https://x.example/f /f\n", paths(&[]));
    }

    #[test]
    fn the_tag_changes_with_the_dockerfile_args_and_copied_files_only() {
        let dir = tempfile::tempdir().unwrap();
        let ci = dir.path().join("ci");
        std::fs::create_dir_all(&ci).unwrap();
        std::fs::write(ci.join("Dockerfile.build"), "FROM alpine\nCOPY req.txt /\n").unwrap();
        std::fs::write(ci.join("req.txt"), "a\n").unwrap();
        std::fs::write(ci.join("other.txt"), "x\n").unwrap();
        let tag = |args: &[&str]| {
            image_of(
                &settings(),
                inputs("ci", "Dockerfile.build", args),
                dir.path(),
            )
            .unwrap()
            .reference
        };
        let first = tag(&["X=1"]);
        assert!(
            first.starts_with("registry.example:5000/kiln-agents:") && first.len() == 34 + 32,
            "{first}"
        );
        std::fs::write(ci.join("other.txt"), "y\n").unwrap();
        assert_eq!(tag(&["X=1"]), first, "a file the Dockerfile does not copy");
        assert_ne!(tag(&["X=2"]), first, "a build argument");
        std::fs::write(ci.join("req.txt"), "b\n").unwrap();
        let changed = tag(&["X=1"]);
        assert_ne!(changed, first, "a copied file");
        std::fs::write(
            ci.join("Dockerfile.build"),
            "FROM alpine:3\nCOPY req.txt /\n",
        )
        .unwrap();
        assert_ne!(tag(&["X=1"]), changed, "the Dockerfile");
        let image = image_of(
            &settings(),
            inputs("ci", "Dockerfile.build", &["X=1"]),
            dir.path(),
        )
        .unwrap();
        assert_eq!(image.build.context, "ci");
        assert_eq!(image.build.dockerfile, "Dockerfile.build");
        assert_eq!(
            image.build.destinations,
            std::slice::from_ref(&image.reference)
        );
        assert_eq!(image.build.insecure_registries, ["registry.example:5000"]);
    }

    fn agent_of(jenkinsfile: &str, eval: &mut kiln_plan::Eval<'_>) -> DockerfileSpec {
        let (doc, diags) = kiln_model::load(jenkinsfile);
        assert!(diags.iter().all(|d| !d.is_error()), "{diags:?}");
        let Some(kiln_model::Document::Declarative(p)) = doc else {
            panic!("not declarative")
        };
        let spec = kiln_plan::agent_spec(&p.agent, eval);
        let kiln_types::AgentSpecKind::Dockerfile(d) = spec.kind else {
            panic!("not dockerfile")
        };
        d
    }

    #[test]
    fn settings_are_evaluated_or_refused_and_defaulted() {
        let jenkinsfile = "pipeline {\n agent { dockerfile { additionalBuildArgs \"--build-arg V=${env.V}\" } }\n stages { stage('a') { steps { sh 'true' } } }\n}\n";
        let interpolated = agent_of(jenkinsfile, &mut |e| e.as_plain_str());
        let err = Inputs::evaluate(&interpolated).unwrap_err();
        assert!(
            err.contains("`additionalBuildArgs` must be a plain string here"),
            "{err}"
        );
        let evaluated = agent_of(jenkinsfile, &mut |_| Some("--build-arg V=2".into()));
        let evaluated = Inputs::evaluate(&evaluated);
        assert_eq!(evaluated.unwrap().build_args, ["V=2"]);
        let short = agent_of(
            "pipeline {\n agent { dockerfile true }\n stages { stage('a') { steps { sh 'true' } } }\n}\n",
            &mut |e| e.as_plain_str(),
        );
        let inputs = Inputs::evaluate(&short).unwrap();
        assert_eq!(
            (inputs.dir.as_str(), inputs.filename.as_str()),
            (".", "Dockerfile")
        );
        assert!(inputs.build_args.is_empty() && inputs.notes.is_empty());
    }

    #[test]
    fn a_cache_setting_gives_kaniko_a_cache_repository() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("Dockerfile"), "FROM alpine\n").unwrap();
        let cached = DockerfileAgents {
            cache: true,
            ..settings()
        };
        let image = image_of(&cached, inputs(".", "Dockerfile", &[]), dir.path()).unwrap();
        assert!(image.build.cache);
        assert_eq!(
            image.build.cache_repo.as_deref(),
            Some("registry.example:5000/kiln-agents/cache")
        );
    }

    #[test]
    fn bad_paths_and_repositories_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let err = image_of(&settings(), inputs("..", "Dockerfile", &[]), dir.path()).unwrap_err();
        assert!(err.contains("`dir` `..` must be a relative path"), "{err}");
        let err = image_of(&settings(), inputs(".", "Dockerfile", &[]), dir.path()).unwrap_err();
        assert!(
            err.contains("cannot read Dockerfile in the workspace"),
            "{err}"
        );
        for bad in ["kiln-agents", "reg.example/agents:1", ""] {
            let s = DockerfileAgents {
                repository: bad.into(),
                insecure: false,
                cache: false,
            };
            assert!(s.check().is_err(), "{bad}");
        }
        assert!(settings().check().is_ok());
    }
}
