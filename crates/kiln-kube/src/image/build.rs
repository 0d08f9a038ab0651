//! `kanikoBuild` in Kubernetes ([`Executor::build_image`] of the Kubernetes executor): one
//! Kaniko pod per platform (from [`kaniko_pod`]: pinned to nodes of that `kubernetes.io/arch`,
//! docker config at `/kaniko/.docker`), all at once; then, with several platforms, kiln pushes
//! the multi-arch index itself ([`push_index`]).
//!
//! The build context travels through the agents: the build pod's default container packs the
//! context directory (`tar -czf`, so modes and symlinks survive), kiln copies the tarball into
//! each Kaniko pod's workspace, and Kaniko builds from it (`--context=tar://...`). A volume
//! shared between the build pod and the Kaniko pods would need a ReadWriteMany claim and
//! could not reach nodes of another architecture; the copy works everywhere.
//!
//! [`Executor::build_image`]: kiln_executor::Executor::build_image

use crate::config::KubeConfig;
use crate::error::ImageBuildError;
use crate::exec::executor::{ExecutorSettings, KubeExecutor, PodImageBuilder, PodRequest};
use crate::exec::records::{ImageRecords, ImageStep, StepRecords};
use crate::image::kaniko::{
    context_tarball, digest_file, executor_args, kaniko_pod, platform_arch,
};
use crate::pod::build::PodIdentity;
use crate::registry::{Credentials, ImageRef, Platform, Registry, push_index};
use crate::slots::PodSlots;
use base64::Engine as _;
use k8s_openapi::api::core::v1::Secret;
use kiln_executor::{
    BuiltImage, ExecError, Executor, ExitStatus, ImageBuild, ImageBuilt, ImageLog, ImageLogLine,
    ProcessSpec,
};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tracing::{info, warn};

/// What the Kubernetes executor needs to run image builds: the cluster, how pods get their
/// agents, the configuration (Kaniko settings and templates) and whose build it is.
#[derive(Clone)]
pub struct ImageBuilder {
    pub client: kube::Client,
    pub settings: ExecutorSettings,
    pub config: Arc<KubeConfig>,
    pub job: String,
    pub build: u64,
    /// The server's pod slots: each Kaniko pod holds one (taken above the limit rather than
    /// waited for, see [`PodSlots`]); `None` outside the server (`kiln run`).
    pub slots: Option<Arc<PodSlots>>,
    /// Where what the build's image builds did is recorded (the server's build record), so
    /// a build resumed after a restart does not build or push again; `None`: not recorded.
    pub records: Option<Arc<dyn ImageRecords>>,
}

#[async_trait::async_trait]
impl PodImageBuilder for ImageBuilder {
    async fn build_in(
        &self,
        pod: &KubeExecutor,
        build: ImageBuild,
        log: ImageLog,
    ) -> Result<ImageBuilt, ExecError> {
        self.run(pod, pod.pod_name(), build, log).await
    }

    fn recording(&self, records: Arc<dyn ImageRecords>) -> Arc<dyn PodImageBuilder> {
        Arc::new(ImageBuilder {
            records: Some(records),
            ..self.clone()
        })
    }
}

/// Where a build's own registry login is written in a Kaniko pod (its `DOCKER_CONFIG`).
pub fn build_docker_config_dir(workspace: &str) -> String {
    format!("{}/.kiln/kaniko/docker", workspace.trim_end_matches('/'))
}

/// The process id of the Kaniko executor in its pod (one per pod).
const KANIKO_PROCESS: &str = "kaniko";

/// One platform of a build: which (`None`: the node's own), and whether the build has
/// several (each destination then gets a per-platform tag).
#[derive(Clone, Copy)]
struct Target<'a> {
    platform: Option<&'a str>,
    multi: bool,
}

/// The build context, packed by the build pod the first time a Kaniko pod needs it (not at
/// all when every platform answers from the records or has its context already).
struct Context<'a> {
    source: &'a dyn Executor,
    dir: &'a str,
    tarball: tokio::sync::OnceCell<Vec<u8>>,
}

impl Context<'_> {
    async fn tarball(&self) -> Result<&[u8], ExecError> {
        let packed = self
            .tarball
            .get_or_try_init(|| pack_context(self.source, self.dir))
            .await?;
        Ok(packed.as_slice())
    }
}

impl ImageBuilder {
    /// Runs `build` with the context from `source` (the build pod, called `pod`). With a key
    /// and [`ImageRecords`], what the step had done before a controller restart is not done
    /// again: images pushed and indexes pushed answer from the records, Kaniko pods still
    /// running are taken over.
    pub async fn run(
        &self,
        source: &dyn Executor,
        pod: &str,
        build: ImageBuild,
        log: ImageLog,
    ) -> Result<ImageBuilt, ExecError> {
        let step = StepRecords::new(self.records.clone(), build.key.clone());
        let context = Context {
            source,
            dir: &build.context,
            tarball: tokio::sync::OnceCell::new(),
        };
        let platforms: Vec<Option<&str>> = if build.platforms.is_empty() {
            vec![None]
        } else {
            build.platforms.iter().map(|p| Some(p.as_str())).collect()
        };
        let multi = platforms.len() > 1;
        let runs = platforms.iter().map(|p| {
            let platform = Target {
                platform: *p,
                multi,
            };
            self.build_platform(pod, &build, platform, &context, &log, &step)
        });
        let mut images = Vec::new();
        let mut failures = Vec::new();
        for result in futures_util::future::join_all(runs).await {
            match result {
                Ok(image) => images.push(image),
                Err(e) => failures.push(e),
            }
        }
        if failures.len() == 1
            && let Some(only) = failures.pop()
        {
            return Err(only);
        }
        if !failures.is_empty() {
            let each = failures.iter().map(|e| error_chain(e)).collect();
            return Err(image_error(ImageBuildError::Platforms(each)));
        }
        let mut indexes = Vec::new();
        if multi {
            for destination in &build.destinations {
                let digest = match step.indexed(destination) {
                    Some(digest) => digest,
                    None => {
                        let digest = self.push_index(destination, &build, &images).await?;
                        let indexed = ImageStep::Indexed {
                            destination: destination.clone(),
                            digest: digest.clone(),
                        };
                        step.record(indexed).await;
                        digest
                    }
                };
                let _ = log.send(ImageLogLine::Note(format!(
                    "pushed the image index {destination} ({digest})"
                )));
                indexes.push((destination.clone(), digest));
            }
        }
        Ok(ImageBuilt { images, indexes })
    }

    /// One platform: the image recorded as pushed before a restart, or the Kaniko pod (a new
    /// one, or the one started before the restart, taken over) running the executor, its
    /// digest read back and recorded; the pod is deleted in every case.
    async fn build_platform(
        &self,
        pod: &str,
        kaniko: &ImageBuild,
        platform: Target<'_>,
        context: &Context<'_>,
        log: &ImageLog,
        step: &StepRecords,
    ) -> Result<BuiltImage, ExecError> {
        if let Some(built) = step.built(platform.platform) {
            return Ok(built);
        }
        let what = platform.platform.unwrap_or("the node's platform");
        let started = step.started(platform.platform);
        let taken_over = started.is_some();
        let name = match started {
            Some(name) => name,
            None => {
                let suffix = crate::token::short_id().map_err(ExecError::Random)?;
                let arch = platform
                    .platform
                    .and_then(platform_arch)
                    .unwrap_or("native");
                kaniko_pod_name(pod, arch, &suffix)
            }
        };
        // Said (before anything awaits, so platforms keep their order) also when the pod is
        // taken over: the replayed log then repeats the stored one.
        let _ = log.send(ImageLogLine::PodStarted {
            pod: name.clone(),
            text: format!("starting the Kaniko pod {name} for {what}"),
        });
        // Held until this function returns, i.e. until the pod's delete was sent (or, when
        // the step is cancelled, until the drop below sent it).
        let _slot = self.slots.as_ref().map(PodSlots::take_or_force);
        let executor = if taken_over {
            self.take_over_pod(&name, what).await?
        } else {
            let started = ImageStep::Started {
                platform: platform.platform.map(str::to_owned),
                pod: name.clone(),
            };
            step.record(started).await;
            self.start_pod(&name, platform.platform).await?
        };
        let executor = Arc::new(executor);
        let mut guard = DeleteOnDrop(Some(executor.clone()), step.records());
        let result = self
            .run_kaniko(&executor, kaniko, platform, context, log, taken_over)
            .await;
        if let Ok(image) = &result {
            step.record(ImageStep::Built(image.clone())).await;
        }
        guard.0 = None;
        if let Err(error) = executor.cleanup().await {
            warn!(pod = executor.pod_name(), %error, "cannot delete a Kaniko pod");
        }
        result
    }

    /// Starts the Kaniko pod `name` for `platform`.
    async fn start_pod(
        &self,
        name: &str,
        platform: Option<&str>,
    ) -> Result<KubeExecutor, ExecError> {
        let what = platform.unwrap_or("the node's platform");
        let id = PodIdentity {
            name: name.to_owned(),
            job: self.job.clone(),
            build: self.build,
        };
        let built = kaniko_pod(&self.config, &id, platform).map_err(|diags| {
            let messages: Vec<String> = diags.iter().map(|d| d.message.clone()).collect();
            image_error(ImageBuildError::KanikoPod {
                platform: what.to_owned(),
                messages: messages.join("; "),
            })
        })?;
        let request = PodRequest {
            pod: built.pod,
            namespace: built.namespace,
            default_container: Some(built.default_container),
            start_log: built.start_log,
        };
        KubeExecutor::start(self.client.clone(), &self.settings, request)
            .await
            .map_err(|source| {
                image_error(ImageBuildError::Start {
                    platform: what.to_owned(),
                    source,
                })
            })
    }

    /// Takes over the Kaniko pod `name` a controller started before it restarted; a pod
    /// that is gone (or cannot run its step any more) fails the step with the reason.
    async fn take_over_pod(&self, name: &str, what: &str) -> Result<KubeExecutor, ExecError> {
        let namespace = &self.config.namespace;
        let taken = KubeExecutor::reattach(self.client.clone(), &self.settings, namespace, name);
        match taken.await {
            Ok(executor) => {
                info!(pod = %name, "Kaniko pod taken over after a controller restart");
                Ok(executor)
            }
            Err(source) => Err(image_error(ImageBuildError::TakeOver {
                platform: what.to_owned(),
                pod: name.to_owned(),
                source,
            })),
        }
    }

    async fn run_kaniko(
        &self,
        executor: &KubeExecutor,
        kaniko: &ImageBuild,
        platform: Target<'_>,
        context: &Context<'_>,
        log: &ImageLog,
        taken_over: bool,
    ) -> Result<BuiltImage, ExecError> {
        let Target { platform, multi } = platform;
        let what = platform.unwrap_or("the node's platform");
        let workspace = self.config.workspace_path.as_str();
        let tarball = PathBuf::from(context_tarball(workspace));
        // A pod taken over has its context unless the restart came before it was copied
        // (uploads are renamed into place when complete).
        if !taken_over || !executor.file_exists(&tarball).await? {
            executor
                .write_file(&tarball, context.tarball().await?)
                .await?;
        }
        let argv = executor_args(kaniko, &self.config.kaniko, workspace, platform, multi);
        // A fixed process id: a pod taken over answers with the executor it ran (its whole
        // output from the start, which the resumed build's log compares with the stored one).
        let mut spec = ProcessSpec::new(argv)
            .cwd(workspace)
            .key(Some(KANIKO_PROCESS.to_owned()));
        // The build's own registry login (`docker.withRegistry`) goes over the mounted one.
        if let Some(config) = &kaniko.docker_config {
            let dir = build_docker_config_dir(workspace);
            executor
                .write_file(&Path::new(&dir).join("config.json"), config)
                .await?;
            spec.env.insert("DOCKER_CONFIG".to_owned(), dir);
        }
        let mut handle = executor.spawn(spec).await?;
        let output = |end: u64, line: &[u8]| ImageLogLine::Output {
            platform: what.to_owned(),
            end,
            line: String::from_utf8_lossy(line).into_owned(),
        };
        let mut pending = Vec::new();
        // The output's byte offset where `pending` starts.
        let mut pending_at = 0u64;
        while let Some(chunk) = handle.next_chunk().await {
            if pending.is_empty() {
                pending_at = chunk.offset;
            }
            pending.extend_from_slice(&chunk.bytes);
            while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = pending.drain(..=end).collect();
                pending_at += line.len() as u64;
                let _ = log.send(output(pending_at, &line[..end]));
            }
        }
        if !pending.is_empty() {
            let end = pending_at + pending.len() as u64;
            let _ = log.send(output(end, &pending));
        }
        let status = handle.wait().await?;
        let ended = match status {
            ExitStatus::Code(0) => None,
            ExitStatus::Code(code) => Some(format!("exit code {code}")),
            ExitStatus::Signal(signal) => Some(format!("signal {signal}")),
        };
        if let Some(ended) = ended {
            return Err(image_error(ImageBuildError::Exited {
                platform: what.to_owned(),
                ended,
            }));
        }
        let digest = executor
            .read_file(Path::new(&digest_file(workspace, platform)))
            .await?;
        let digest = String::from_utf8_lossy(&digest).trim().to_owned();
        if !digest.starts_with("sha256:") {
            return Err(image_error(ImageBuildError::NoDigest {
                platform: what.to_owned(),
                got: digest,
            }));
        }
        info!(platform = what, %digest, "image built");
        Ok(BuiltImage {
            platform: platform.map(str::to_owned),
            digest,
        })
    }

    /// PUTs the index of `destination` over the per-platform images (by digest).
    async fn push_index(
        &self,
        destination: &str,
        build: &ImageBuild,
        images: &[BuiltImage],
    ) -> Result<String, ExecError> {
        let fail = |source| {
            image_error(ImageBuildError::Index {
                destination: destination.to_owned(),
                source,
            })
        };
        let target = ImageRef::parse(destination).map_err(fail)?;
        let insecure = build.insecure_registries.contains(&target.registry);
        let credentials = self.credentials(&target.registry).await;
        let registry = Registry::new(&target.registry, insecure, credentials);
        let mut platforms = Vec::new();
        for image in images {
            let text = image.platform.as_deref().unwrap_or_default();
            let platform = Platform::parse(text).ok_or_else(|| {
                image_error(ImageBuildError::Platform {
                    destination: destination.to_owned(),
                    platform: text.to_owned(),
                })
            })?;
            platforms.push((platform, image.digest.clone()));
        }
        push_index(&registry, &target, &platforms)
            .await
            .map_err(fail)
    }

    /// The credentials for `host` in the configured docker config secret, if any.
    pub(crate) async fn credentials(&self, host: &str) -> Option<Credentials> {
        let name = self.config.kaniko.docker_config_secret.as_ref()?;
        let secrets: kube::Api<Secret> =
            kube::Api::namespaced(self.client.clone(), &self.config.namespace);
        let secret = match secrets.get(name).await {
            Ok(secret) => secret,
            Err(error) => {
                warn!(secret = %name, %error, "cannot read the docker config secret");
                return None;
            }
        };
        let bytes = secret.data?.get(".dockerconfigjson")?.0.clone();
        docker_config_credentials(&bytes, host)
    }
}

/// An image build's error as the executor's.
fn image_error(error: ImageBuildError) -> ExecError {
    ExecError::ImageBuild(Box::new(error))
}

/// An error and its sources on one line (`: `-separated).
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(&format!(": {e}"));
        source = e.source();
    }
    text
}

/// `auths.HOST.auth` (base64 `user:password`) or `username`/`password` of a docker config.
fn docker_config_credentials(json: &[u8], host: &str) -> Option<Credentials> {
    let config: serde_json::Value = serde_json::from_slice(json).ok()?;
    let entry = config.get("auths")?.get(host)?;
    if let (Some(u), Some(p)) = (entry.get("username"), entry.get("password")) {
        return Some(Credentials {
            username: u.as_str()?.to_owned(),
            password: p.as_str()?.to_owned(),
        });
    }
    let auth = base64::engine::general_purpose::STANDARD
        .decode(entry.get("auth")?.as_str()?)
        .ok()?;
    let (username, password) = std::str::from_utf8(&auth).ok()?.split_once(':')?;
    Some(Credentials {
        username: username.to_owned(),
        password: password.to_owned(),
    })
}

/// The context directory as a `.tar.gz`, packed by the build pod's default container.
async fn pack_context(source: &dyn Executor, context: &str) -> Result<Vec<u8>, ExecError> {
    let dir = source.workspace().join(context);
    let id = crate::token::short_id().map_err(ExecError::Random)?;
    let tarball = format!("/tmp/kiln-kaniko-context-{id}.tar.gz");
    let argv = vec![
        "tar".to_owned(),
        "-czf".to_owned(),
        tarball.clone(),
        "--exclude=./.kiln".to_owned(),
        "-C".to_owned(),
        dir.to_string_lossy().into_owned(),
        ".".to_owned(),
    ];
    let mut handle = source
        .spawn(ProcessSpec::new(argv).cwd(source.workspace()))
        .await?;
    let mut output = Vec::new();
    while let Some(chunk) = handle.next_chunk().await {
        output.extend_from_slice(&chunk.bytes);
    }
    if !handle.wait().await?.success() {
        return Err(ExecError::Setup(format!(
            "packing the build context `{context}` failed: {}",
            String::from_utf8_lossy(&output).trim()
        )));
    }
    let bytes = source.read_file(Path::new(&tarball)).await?;
    let remove = ProcessSpec::new(vec!["rm".to_owned(), "-f".to_owned(), tarball]);
    if let Ok(handle) = source.spawn(remove).await {
        let _ = handle.wait().await;
    }
    Ok(bytes)
}

/// Deletes a Kaniko pod when its build ends, also when the step is cancelled (the future
/// dropped); not when the controller stops and leaves the build running (see
/// [`ImageRecords::leaving`]): the next start takes the pod over.
struct DeleteOnDrop(Option<Arc<KubeExecutor>>, Option<Arc<dyn ImageRecords>>);

impl Drop for DeleteOnDrop {
    fn drop(&mut self) {
        if self.1.as_ref().is_some_and(|r| r.leaving()) {
            return;
        }
        if let Some(executor) = self.0.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(async move {
                if let Err(error) = executor.cleanup().await {
                    warn!(pod = executor.pod_name(), %error, "cannot delete a Kaniko pod");
                }
            });
        }
    }
}

/// The name of a Kaniko pod: the build pod's name cut so that it and its Secret
/// (`secret_name`, 6 more characters) stay within the 63 characters of a DNS label.
fn kaniko_pod_name(pod: &str, arch: &str, suffix: &str) -> String {
    let tail = format!("-kaniko-{arch}-{suffix}");
    let room = 63 - crate::secret_name("").len();
    let keep = room.saturating_sub(tail.len()).min(pod.len());
    let head = pod.get(..keep).unwrap_or(pod).trim_end_matches('-');
    format!("{head}{tail}")
}

#[cfg(test)]
mod tests {

    #[test]
    fn kaniko_pod_names_and_their_secrets_fit_a_dns_label() {
        let long = "kiln-a-very-long-job-name-of-thirty-chars-12345-fffff";
        let name = kaniko_pod_name(long, "ppc64le", "0123abcd");
        assert_eq!(
            name,
            "kiln-a-very-long-job-name-of-thir-kaniko-ppc64le-0123abcd"
        );
        assert!(crate::secret_name(&name).len() <= 63);
        assert_eq!(
            kaniko_pod_name("kiln-app-7-0a1b2", "native", "0123abcd"),
            "kiln-app-7-0a1b2-kaniko-native-0123abcd"
        );
    }
    use super::*;

    #[test]
    fn credentials_come_from_auth_or_username_and_password() {
        let json = br#"{"auths": {"reg:5000": {"auth": "dXNlcjpwYXNz"}, "other": {"username": "u", "password": "p"}}}"#;
        let c = docker_config_credentials(json, "reg:5000").unwrap();
        assert_eq!((c.username.as_str(), c.password.as_str()), ("user", "pass"));
        let c = docker_config_credentials(json, "other").unwrap();
        assert_eq!((c.username.as_str(), c.password.as_str()), ("u", "p"));
        assert!(docker_config_credentials(json, "none").is_none());
    }
}
