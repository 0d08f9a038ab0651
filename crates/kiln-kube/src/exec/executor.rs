//! `KubeExecutor`: one build's pod as a kiln `Executor`. Steps run in the pod's containers
//! through their kiln agents; files move over the default container's agent (the workspace is
//! one volume shared by every container).

use crate::agent::client::{AgentClient, Followed};
use crate::agent::install::{AgentInstall, CA_KEY, TOKEN_KEY, inject_agent};
use crate::agent::link::{AgentMode, DialInDialer, Dialer, PortForwardDialer};
use crate::api::lifecycle::{self, monitor};
use crate::api::reaper::secret_name;
use crate::api::start_wait::StartWait;
use crate::api::watch::PodWatch;
use crate::error::{InvalidPod, KubeError, Unusable};
use crate::exec::records::ImageRecords;
use crate::pod::status::Health;
use crate::token::{new_token, short_id};
use async_trait::async_trait;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Pod, Secret};
use kiln_agent::protocol::Message;
use kiln_executor::{
    ExecError, Executor, FileEntry, ImageBuild, ImageBuilt, ImageLog, ProcessHandle, ProcessSpec,
};
use kube::Api;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{debug, info, warn};

/// What runs `kanikoBuild` for the build using a pod ([`crate::ImageBuilder`]).
#[async_trait]
pub trait PodImageBuilder: Send + Sync {
    /// Runs `build` for the build using `pod` (its workspace is the build context's source).
    async fn build_in(
        &self,
        pod: &KubeExecutor,
        build: ImageBuild,
        log: ImageLog,
    ) -> Result<ImageBuilt, ExecError>;

    /// This builder, recording what it does in `records`.
    fn recording(&self, records: Arc<dyn ImageRecords>) -> Arc<dyn PodImageBuilder>;
}

/// How the executor makes and reaches its pods.
#[derive(Clone, Debug)]
pub struct ExecutorSettings {
    pub install: AgentInstall,
    pub mode: AgentMode,
    /// A pod not running this long after its creation fails the build.
    pub start_deadline: Duration,
    /// How long a lost agent connection is retried before its processes fail.
    pub reconnect_deadline: Duration,
    /// Grace period when the pod is deleted at the end of the build.
    pub delete_grace_seconds: u32,
    /// How long creates failing with transient API errors are retried.
    pub api_retry: crate::config::ApiRetry,
    /// `activeDeadlineSeconds` of pods whose build has no `timeout` (0: none); see
    /// [`crate::set_build_timeout`].
    pub active_deadline_seconds: u64,
    /// What pods may ask for, checked before any request (`None`: anything, as for
    /// `kiln run`, whose user makes pods with their own credentials).
    pub pod_policy: Option<Arc<crate::policy::PolicyCheck>>,
    /// How long an Unschedulable pod waits for an autoscaler's `TriggeredScaleUp` before it
    /// fails (after one, it waits up to the start deadline).
    pub scale_up_window: Duration,
    /// How many failed pulls of an image (`ErrImagePull`, `ImagePullBackOff`), and how
    /// long, are left to the kubelet's retries before the start fails.
    pub image_pull: crate::config::ImagePull,
}

impl ExecutorSettings {
    pub fn new(install: AgentInstall, mode: AgentMode) -> Self {
        let defaults = crate::config::KubeConfig::default();
        ExecutorSettings {
            install,
            mode,
            start_deadline: Duration::from_secs(300),
            reconnect_deadline: Duration::from_secs(60),
            delete_grace_seconds: 2,
            api_retry: crate::config::ApiRetry::default(),
            active_deadline_seconds: crate::config::Orphans::default().pod_active_deadline_seconds,
            pod_policy: None,
            scale_up_window: Duration::from_secs(defaults.scale_up_window_seconds),
            image_pull: defaults.image_pull,
        }
    }
}

/// The pod to run a build in, as the pod builder made it (name, labels, volumes set).
#[derive(Clone, Debug)]
pub struct PodRequest {
    pub pod: Pod,
    pub namespace: String,
    /// Where steps without `container('x')` run; the first container when `None`.
    pub default_container: Option<String>,
    /// Where the pod's Events and the wait for it are said (the build's log).
    pub start_log: crate::StartLog,
}

/// When the start went through its stages (for benchmarks and logs).
#[derive(Clone, Copy, Debug)]
pub struct StartTimings {
    pub begun: Instant,
    pub pod_create_sent: Instant,
    pub running_seen: Instant,
    pub agents_ready: Instant,
}

/// A build pod with a connected agent in every step container.
pub struct KubeExecutor {
    pods: Api<Pod>,
    secrets: Api<Secret>,
    name: String,
    namespace: String,
    secret: String,
    /// Whether the pod owns `secret` (the cluster deletes it with the pod).
    secret_owned: bool,
    token: String,
    mode: AgentMode,
    workspace: PathBuf,
    default_container: String,
    agents: BTreeMap<String, AgentClient>,
    /// Containers that run their own command (see `crate::pod::services`), not steps.
    services: Vec<String>,
    health: watch::Receiver<Health>,
    monitor: tokio::task::AbortHandle,
    id_prefix: String,
    counter: AtomicU64,
    /// A resumed build repeats steps it had done: see [`KubeExecutor::begin_replay`].
    /// Shared by the pods of one resumed build (see [`KubeExecutor::join_replay`]).
    replaying: Arc<AtomicBool>,
    /// When the replay began and how many ended processes it met (for the log).
    replay_began: std::sync::Mutex<Option<Instant>>,
    replayed: AtomicU64,
    /// Workspace changes met during the replay since its last process: done before the next
    /// process if that one is new (see [`KubeExecutor::begin_replay`]), dropped if it had run.
    held: Arc<std::sync::Mutex<Vec<Held>>>,
    /// The build's processes its pods knew when taken over and the replay has not met yet
    /// (see [`KubeExecutor::learn_known`]).
    known: Arc<std::sync::Mutex<KnownProcesses>>,
    delete_grace_seconds: u32,
    timings: Option<StartTimings>,
    /// Runs `kanikoBuild` (unset: image builds are refused with a clear error); set per
    /// build, since a pooled pod serves several.
    images: std::sync::Mutex<Option<Arc<dyn PodImageBuilder>>>,
}

impl KubeExecutor {
    /// Creates the Secret and the Pod, waits (watching) until every step container runs, and
    /// connects to every agent. On failure the pod and Secret are deleted again and the error
    /// carries the reason for the build log.
    pub async fn start(
        client: kube::Client,
        settings: &ExecutorSettings,
        request: PodRequest,
    ) -> Result<KubeExecutor, KubeError> {
        let begun = Instant::now();
        let mut pod = request.pod;
        let name = pod.metadata.name.clone().ok_or(InvalidPod::NoName)?;
        // The pod as the pipeline and templates made it, before kiln adds its agent.
        if let Some(policy) = &settings.pod_policy {
            policy.check(&request.namespace, &pod)?;
        }
        let secret = secret_name(&name);
        let token = new_token().map_err(KubeError::Token)?;
        let services = crate::pod::services::services(&pod, request.default_container.as_deref());
        let ports = inject_agent(
            &mut pod,
            &settings.install,
            &secret,
            &settings.mode,
            &services,
        );
        let steps: Vec<String> = ports.iter().map(|(c, _)| c.clone()).collect();
        let default_container = pick_default(request.default_container, &steps)?;
        // Kept on the pod, so that a controller taking it over after a restart runs steps
        // without a `container` where they ran before.
        pod.metadata
            .annotations
            .get_or_insert_with(BTreeMap::new)
            .insert(DEFAULT_CONTAINER.to_owned(), default_container.clone());
        // `slaveConnectTimeout` of the pipeline, else the configured deadline.
        let start_deadline =
            crate::pod::options::start_deadline_of(&pod).unwrap_or(settings.start_deadline);
        pod.metadata.namespace = Some(request.namespace.clone());
        crate::pod::lifetime::apply_active_deadline(
            &mut pod,
            settings.active_deadline_seconds,
            start_deadline,
        );
        let secret_object = Secret {
            metadata: kube::api::ObjectMeta {
                name: Some(secret.clone()),
                namespace: Some(request.namespace.clone()),
                labels: pod.metadata.labels.clone(),
                ..Default::default()
            },
            data: Some(secret_data(&token, &settings.mode)),
            ..Secret::default()
        };
        let pods: Api<Pod> = Api::namespaced(client.clone(), &request.namespace);
        let secrets: Api<Secret> = Api::namespaced(client, &request.namespace);
        // Agents may dial in as soon as they start: their token must be known by then.
        let incoming = register_agents(&settings.mode, &token, &ports);
        let pod_create_sent = Instant::now();
        let lifecycle::Created {
            pod: created,
            secret_owned,
        } = lifecycle::create(&pods, &secrets, &pod, &secret_object, &settings.api_retry).await?;
        let version = created
            .metadata
            .resource_version
            .clone()
            .unwrap_or_default();
        info!(pod = %name, namespace = %request.namespace, "build pod created");
        let parts = Parts {
            pods,
            secrets,
            name,
            namespace: request.namespace.clone(),
            secret,
            secret_owned,
            token,
            workspace: PathBuf::from(&settings.install.workspace),
            default_container,
            ports,
            incoming,
            services,
        };
        let watch = PodWatch::new(parts.pods.clone(), &parts.name, version);
        let started = async {
            let events: Api<k8s_openapi::api::core::v1::Event> =
                Api::namespaced(parts.pods.clone().into_client(), &parts.namespace);
            let wait = StartWait {
                name: &parts.name,
                steps: &steps,
                deadline: start_deadline,
                scale_up_window: settings.scale_up_window,
                image_pull: settings.image_pull,
                log: &request.start_log,
            };
            let (_, watch) = wait.run(created, watch, &events).await?;
            let running_seen = Instant::now();
            Ok::<_, KubeError>((watch, running_seen))
        }
        .await;
        let (watch, running_seen) = match started {
            Ok(ok) => ok,
            Err(error) => {
                parts.discard(&settings.mode).await;
                return Err(error);
            }
        };
        let mut executor = parts.connect(settings, watch, Health::default());
        if let Err(error) = executor.all_ready().await {
            executor.cleanup().await.ok();
            return Err(error);
        }
        let agents_ready = Instant::now();
        // Where a pod's start goes (issue 12's stage-pod figures): kiln's own preparation,
        // the API server and the cluster until every step container runs (the Events watch
        // included), then the agents' links (TLS handshakes when they dial in).
        info!(
            pod = %executor.name,
            prepare_ms = (pod_create_sent - begun).as_millis(),
            to_running_ms = (running_seen - pod_create_sent).as_millis(),
            agents_ms = (agents_ready - running_seen).as_millis(),
            "build pod ready"
        );
        executor.timings = Some(StartTimings {
            begun,
            pod_create_sent,
            running_seen,
            agents_ready,
        });
        Ok(executor)
    }

    /// A directory change in the workspace (`DeleteDir`, `CreateDir`), skipped while a resumed
    /// build replays the steps that had run before the restart.
    async fn change_dir(
        &self,
        path: &Path,
        message: impl Fn(u64, String) -> Message,
    ) -> Result<(), ExecError> {
        let path = path_arg(path);
        if self.is_replaying() {
            self.hold(Held::Dir(message(0, path)));
            return Ok(());
        }
        self.agent(None)?
            .simple(|req| message(req, path.clone()))
            .await
            .map(|_| ())
    }

    fn hold(&self, change: Held) {
        self.held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(change);
    }

    fn take_held(&self) -> Vec<Held> {
        std::mem::take(
            &mut *self
                .held
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    /// Does the workspace changes held during the replay, in their order.
    async fn do_held(&self, held: Vec<Held>) -> Result<(), ExecError> {
        let agent = self.agent(None)?;
        for change in held {
            match change {
                Held::Write(path, bytes) => agent.write_file(&path, &bytes).await?,
                Held::Dir(message) => {
                    agent
                        .simple(|req| with_req(message.clone(), req))
                        .await
                        .map(|_| ())?;
                }
            }
        }
        Ok(())
    }

    /// Takes over a build pod another controller started (after a restart): reads its token
    /// from the Secret, follows the pod and connects to its agents. Processes already running
    /// are followed with [`KubeExecutor::attach`].
    pub async fn reattach(
        client: kube::Client,
        settings: &ExecutorSettings,
        namespace: &str,
        name: &str,
    ) -> Result<KubeExecutor, KubeError> {
        let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
        let secrets: Api<Secret> = Api::namespaced(client, namespace);
        let secret = secret_name(name);
        let api_error = |action: String| move |source| KubeError::Api { action, source };
        let pod = match pods.get(name).await {
            Ok(pod) => pod,
            Err(kube::Error::Api(status)) if status.code == 404 => {
                return Err(Unusable::Gone {
                    pod: name.to_owned(),
                }
                .into());
            }
            Err(source) => return Err(api_error(format!("get pod {name}"))(source)),
        };
        if pod.metadata.deletion_timestamp.is_some() {
            return Err(Unusable::BeingDeleted {
                pod: name.to_owned(),
            }
            .into());
        }
        let health = crate::pod::status::health(&pod);
        if let Some(reason) = health.problem() {
            return Err(Unusable::CannotRunSteps {
                pod: name.to_owned(),
                reason,
            }
            .into());
        }
        let stored = secrets
            .get(&secret)
            .await
            .map_err(api_error(format!("get secret {secret}")))?;
        let data = stored.data.clone().unwrap_or_default();
        let text = |key: &str| {
            data.get(key)
                .and_then(|b| String::from_utf8(b.0.clone()).ok())
        };
        let token = text(TOKEN_KEY).ok_or_else(|| InvalidPod::NoToken {
            secret: secret.clone(),
            key: TOKEN_KEY,
        })?;
        // Agents that trust another CA would be refused at every dial.
        if let AgentMode::Dial { listener, .. } = &settings.mode
            && text(CA_KEY).as_deref().map(str::trim) != Some(listener.ca_pem().trim())
        {
            return Err(Unusable::OtherCa {
                pod: name.to_owned(),
            }
            .into());
        }
        let ports = listen_ports(&pod);
        let steps: Vec<String> = ports.iter().map(|(c, _)| c.clone()).collect();
        let services = container_names(&pod)
            .into_iter()
            .filter(|c| !steps.contains(c))
            .collect();
        let recorded = pod.metadata.annotations.as_ref();
        let recorded = recorded.and_then(|a| a.get(DEFAULT_CONTAINER)).cloned();
        let default_container = pick_default(recorded, &steps)?;
        let version = pod.metadata.resource_version.clone().unwrap_or_default();
        let parts = Parts {
            pods,
            secrets,
            name: name.to_owned(),
            namespace: namespace.to_owned(),
            secret_owned: lifecycle::owned_by(&stored, &pod),
            secret,
            incoming: register_agents(&settings.mode, &token, &ports),
            token,
            workspace: PathBuf::from(&settings.install.workspace),
            default_container,
            ports,
            services,
        };
        let watch = PodWatch::new(parts.pods.clone(), name, version);
        let executor = parts.connect(settings, watch, health);
        executor.all_ready().await?;
        Ok(executor)
    }

    /// For a build resumed after a controller restart, which runs its steps again from the
    /// start: until it spawns a process that had not ended before the restart (a new one, or
    /// the one that was running), changes to the workspace (`write_file`, `delete_dir`,
    /// `create_dir`) are held, not done. A change followed by a process the pod had run is
    /// dropped: the pod's workspace has it already and that process may have changed it
    /// since (a repeated `deleteDir()` would wipe its work). The changes held when the replay
    /// reaches a process the pod does not know (the old owner stopped after them, or before
    /// them) are done before that process starts; those met before a process that was still
    /// running are dropped too. Once the replay met every process the pods knew when taken
    /// over ([`KubeExecutor::learn_known`]), it ends: the changes held since are done, and
    /// later ones, reads and the build's end see the workspace as the build left it.
    pub fn begin_replay(&self) {
        let mut began = self
            .replay_began
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *began = Some(Instant::now());
        self.replaying.store(true, Ordering::Release);
    }

    /// [`KubeExecutor::begin_replay`] for another pod of the resumed build `other` runs in (a
    /// stage's own pod): the build has one replay, which ends for all its pods when any of
    /// them reaches a process that had not ended (past that point the build runs anew).
    pub fn join_replay(&mut self, other: &KubeExecutor) {
        self.replaying = other.replaying.clone();
        self.held = other.held.clone();
        self.known = other.known.clone();
        self.begin_replay();
    }

    /// Learns which processes of build number `build` the pod's agents know (their output
    /// files, `ID.out` in the agents' shared run directory; process keys begin with the
    /// build's number), adding them to those of the pods sharing the replay. Once the replay
    /// has met every one of them, no later process of the old owner can have changed what
    /// the build does next: the replay ends there, its held changes are done and later ones
    /// are not held (see [`KubeExecutor::begin_replay`]). A pod whose processes cannot be
    /// listed keeps the replay going until a process the pods do not know, as before.
    pub async fn learn_known(&self, build: u64) {
        let listed = match self.agent(None) {
            Ok(agent) => {
                agent
                    .list_files(kiln_agent::DEFAULT_RUN_DIR, &["*.out".to_owned()], &[])
                    .await
            }
            Err(e) => Err(e),
        };
        {
            let mut known = self.known_processes();
            match listed {
                Ok(entries) => known.ids.extend(processes_of(build, entries)),
                Err(error) => {
                    warn!(pod = %self.name, %error, "cannot list the processes the pod knows; its replay ends at the first process it does not know");
                    known.complete = false;
                }
            }
        }
        if let Err(error) = self.passed_known().await {
            warn!(pod = %self.name, %error, "cannot do the workspace changes held during the replay");
        }
    }

    fn known_processes(&self) -> std::sync::MutexGuard<'_, KnownProcesses> {
        self.known
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Ends the replay once it met every process the build's pods knew, doing the changes
    /// held since the last of them.
    async fn passed_known(&self) -> Result<(), ExecError> {
        let passed = {
            let known = self.known_processes();
            known.complete && known.ids.is_empty()
        };
        if passed && self.replaying.swap(false, Ordering::AcqRel) {
            let replayed = self.replayed.load(Ordering::Relaxed);
            info!(pod = %self.name, replayed, "replay passed the last process the build's pods knew");
            self.do_held(self.take_held()).await?;
        }
        Ok(())
    }

    /// Ends the replay of this pod and of the pods sharing it: the resumed build got a pod it
    /// did not have before the restart, so it is past the steps that had run.
    pub fn end_replay(&self) {
        if self.replaying.swap(false, Ordering::AcqRel) {
            info!(pod = %self.name, "replay ended: the resumed build started a new pod");
        }
    }

    /// This controller drives `build` (`JOB#N`) at `epoch`: every agent of the pod is told
    /// so, and refuses a controller with a lower epoch from then on.
    pub fn fence(&self, build: &str, epoch: u64) {
        for agent in self.agents.values() {
            agent.fence(build, epoch);
        }
    }

    async fn all_ready(&self) -> Result<(), KubeError> {
        let waits = self.agents.values().map(AgentClient::ready);
        for result in futures_util::future::join_all(waits).await {
            result.map_err(KubeError::Agent)?;
        }
        Ok(())
    }

    pub fn pod_name(&self) -> &str {
        &self.name
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    pub fn default_container(&self) -> &str {
        &self.default_container
    }

    pub fn timings(&self) -> Option<StartTimings> {
        self.timings
    }

    /// Lets the build run `kanikoBuild` steps in Kaniko pods.
    pub fn with_image_builder(self, builder: impl PodImageBuilder + 'static) -> Self {
        self.set_image_builder(Some(Arc::new(builder)));
        self
    }

    /// Sets (or with `None` removes) what runs `kanikoBuild` for the build using the pod.
    pub fn set_image_builder(&self, builder: Option<Arc<dyn PodImageBuilder>>) {
        *self
            .images
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = builder;
    }

    /// Where the `kanikoBuild` steps of the build using the pod record what they did (see
    /// [`crate::ImageRecords`]); nothing happens without an image builder.
    pub fn set_image_records(&self, records: Arc<dyn ImageRecords>) {
        let mut builder = self
            .images
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(builder) = builder.as_mut() {
            *builder = builder.recording(records);
        }
    }

    /// Why the pod cannot run steps any more (deleted, evicted, a container gone), if so.
    pub fn health_problem(&self) -> Option<crate::pod::status::PodEnded> {
        self.health.borrow().problem()
    }

    /// The processes each container's connection follows (ids and next offsets).
    pub fn processes(&self) -> Vec<(String, Followed)> {
        self.agents
            .iter()
            .flat_map(|(c, a)| a.followed().into_iter().map(move |f| (c.clone(), f)))
            .collect()
    }

    fn agent(&self, container: Option<&str>) -> Result<&AgentClient, ExecError> {
        let container = container.unwrap_or(&self.default_container);
        if self.services.iter().any(|s| s == container) {
            return Err(ExecError::Unusable(Box::new(
                crate::error::StepsRefused::Service {
                    pod: self.name.clone(),
                    container: container.to_owned(),
                },
            )));
        }
        let agent = self.agents.get(container).ok_or_else(|| {
            let known: Vec<&str> = self.agents.keys().map(String::as_str).collect();
            ExecError::NoContainer {
                pod: self.name.clone(),
                container: container.to_owned(),
                known: known.join(", "),
            }
        })?;
        if let Some(reason) = self.health.borrow().reason_for(container) {
            return Err(ExecError::Unusable(Box::new(reason)));
        }
        Ok(agent)
    }

    /// Follows process `id` of `container` (default: the default container) from `from_offset`
    /// on: the re-attach after a controller restart.
    pub async fn attach(
        &self,
        container: Option<&str>,
        id: &str,
        from_offset: u64,
    ) -> Result<ProcessHandle, ExecError> {
        self.agent(container)?
            .attach(id.to_owned(), from_offset)
            .await
    }

    /// Deletes the pod (and its Secret, unless the pod owns it: the cluster deletes it with the
    /// pod) and closes the agent connections.
    pub async fn cleanup(&self) -> Result<(), KubeError> {
        for agent in self.agents.values() {
            agent.shutdown();
        }
        self.monitor.abort();
        if let AgentMode::Dial { listener, .. } = &self.mode {
            listener.unregister(&self.token);
        }
        info!(pod = %self.name, "deleting the build pod");
        lifecycle::delete(
            &self.pods,
            &self.secrets,
            &self.name,
            (!self.secret_owned).then_some(self.secret.as_str()),
            self.delete_grace_seconds,
        )
        .await
    }

    /// Stops following the pod without deleting it (the controller is going away; a new one
    /// takes over with [`KubeExecutor::reattach`]). Processes keep running in the pod.
    pub fn detach(&self) {
        for agent in self.agents.values() {
            agent.shutdown();
        }
        self.monitor.abort();
    }
}

impl Drop for KubeExecutor {
    fn drop(&mut self) {
        self.detach();
    }
}

/// What `start` and `reattach` share before the agents are connected.
struct Parts {
    pods: Api<Pod>,
    secrets: Api<Secret>,
    name: String,
    namespace: String,
    secret: String,
    /// Whether the pod owns `secret` (the cluster deletes it with the pod).
    secret_owned: bool,
    token: String,
    workspace: PathBuf,
    default_container: String,
    ports: Vec<(String, u16)>,
    /// In dial mode: where each container's agent connections arrive.
    incoming: BTreeMap<String, Incoming>,
    services: Vec<String>,
}

type Incoming = tokio::sync::mpsc::UnboundedReceiver<crate::agent::link::BoxedStream>;

/// The build's Secret: its token, and in dial mode the CA certificate the agents trust.
fn secret_data(token: &str, mode: &AgentMode) -> BTreeMap<String, ByteString> {
    let mut data = BTreeMap::from([(TOKEN_KEY.to_owned(), ByteString(token.as_bytes().to_vec()))]);
    if let AgentMode::Dial { listener, .. } = mode {
        data.insert(
            CA_KEY.to_owned(),
            ByteString(listener.ca_pem().as_bytes().to_vec()),
        );
    }
    data
}

/// Dial mode: the listener hands connections with this token to these receivers.
fn register_agents(
    mode: &AgentMode,
    token: &str,
    ports: &[(String, u16)],
) -> BTreeMap<String, Incoming> {
    match mode {
        AgentMode::Dial { listener, .. } => ports
            .iter()
            .map(|(c, _)| (c.clone(), listener.register(token, c)))
            .collect(),
        AgentMode::PortForward { .. } => BTreeMap::new(),
    }
}

impl Parts {
    fn connect(
        mut self,
        settings: &ExecutorSettings,
        watch: PodWatch,
        initial: Health,
    ) -> KubeExecutor {
        let (health_tx, health) = watch::channel(initial);
        let nodes: Api<k8s_openapi::api::core::v1::Node> =
            Api::all(self.pods.clone().into_client());
        let monitor =
            tokio::spawn(monitor(watch, self.name.clone(), health_tx, nodes)).abort_handle();
        let mut agents = BTreeMap::new();
        for (container, port) in &self.ports {
            let dialer: Box<dyn Dialer> = match &settings.mode {
                AgentMode::PortForward { .. } => Box::new(PortForwardDialer {
                    api: self.pods.clone(),
                    pod: self.name.clone(),
                    port: *port,
                    token: self.token.clone(),
                    container: container.clone(),
                }),
                AgentMode::Dial { listener, .. } => {
                    let incoming = self
                        .incoming
                        .remove(container)
                        .unwrap_or_else(|| listener.register(&self.token, container));
                    Box::new(DialInDialer {
                        incoming: tokio::sync::Mutex::new(incoming),
                    })
                }
            };
            let label = format!("agent `{container}` in pod {}", self.name);
            let client = AgentClient::start(
                container.clone(),
                label,
                dialer,
                settings.reconnect_deadline,
                health.clone(),
            );
            agents.insert(container.clone(), client);
        }
        KubeExecutor {
            pods: self.pods,
            secrets: self.secrets,
            name: self.name,
            namespace: self.namespace,
            secret: self.secret,
            secret_owned: self.secret_owned,
            token: self.token,
            mode: settings.mode.clone(),
            workspace: self.workspace,
            default_container: self.default_container,
            agents,
            services: self.services,
            health,
            monitor,
            id_prefix: short_id().unwrap_or_else(|_| "p".to_owned()),
            counter: AtomicU64::new(0),
            replaying: Arc::new(AtomicBool::new(false)),
            replay_began: std::sync::Mutex::new(None),
            replayed: AtomicU64::new(0),
            held: Arc::new(std::sync::Mutex::new(Vec::new())),
            known: Arc::new(std::sync::Mutex::new(KnownProcesses::default())),
            delete_grace_seconds: settings.delete_grace_seconds,
            timings: None,
            images: std::sync::Mutex::new(None),
        }
    }

    /// The pod did not start: delete it and its Secret (at once).
    async fn discard(&self, mode: &AgentMode) {
        if let AgentMode::Dial { listener, .. } = mode {
            listener.unregister(&self.token);
        }
        if let Err(error) = lifecycle::delete(
            &self.pods,
            &self.secrets,
            &self.name,
            (!self.secret_owned).then_some(self.secret.as_str()),
            0,
        )
        .await
        {
            tracing::warn!(pod = %self.name, %error, "cannot delete the failed pod");
        }
    }
}

/// The pod annotation naming the container steps without a `container` run in.
const DEFAULT_CONTAINER: &str = "kiln.dev/default-container";

fn pick_default(wanted: Option<String>, steps: &[String]) -> Result<String, KubeError> {
    match wanted {
        Some(c) if steps.contains(&c) => Ok(c),
        Some(c) => Err(InvalidPod::UnknownDefault {
            container: c,
            containers: steps.to_vec(),
        }
        .into()),
        None => steps
            .first()
            .cloned()
            .ok_or_else(|| InvalidPod::NoContainers.into()),
    }
}

/// The names of a pod's containers, in pod order.
fn container_names(pod: &Pod) -> Vec<String> {
    pod.spec
        .iter()
        .flat_map(|s| &s.containers)
        .map(|c| c.name.clone())
        .collect()
}

/// The step containers of a pod made by this executor (those running the agent), with the
/// port their agent listens on (from the `--listen` of the command it was given; 0 when the
/// agent dials).
fn listen_ports(pod: &Pod) -> Vec<(String, u16)> {
    let Some(spec) = &pod.spec else {
        return Vec::new();
    };
    spec.containers
        .iter()
        .filter(|c| {
            c.command
                .as_ref()
                .and_then(|command| command.first())
                .is_some_and(|program| program == crate::agent::install::AGENT_BINARY)
        })
        .map(|c| {
            let command = c.command.clone().unwrap_or_default();
            let port = command
                .iter()
                .position(|a| a == "--listen")
                .and_then(|i| command.get(i + 1))
                .and_then(|p| p.rsplit(':').next().and_then(|p| p.parse().ok()))
                .unwrap_or(0);
            (c.name.clone(), port)
        })
        .collect()
}

fn path_arg(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

#[async_trait]
impl Executor for KubeExecutor {
    fn workspace(&self) -> &Path {
        &self.workspace
    }

    fn describe(&self) -> String {
        format!("pod {}", self.name)
    }

    fn runs_in_containers(&self) -> bool {
        true
    }

    /// See [`KubeExecutor::begin_replay`].
    fn is_replaying(&self) -> bool {
        self.replaying.load(Ordering::Acquire)
    }

    async fn build_image(&self, build: ImageBuild, log: ImageLog) -> Result<ImageBuilt, ExecError> {
        let builder = self
            .images
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        match builder {
            Some(builder) => builder.build_in(self, build, log).await,
            None => Err(ExecError::Unsupported(format!(
                "kanikoBuild cannot run in pod {}: this executor was started without the \
                 Kubernetes configuration image builds need (Kaniko settings)",
                self.name
            ))),
        }
    }

    /// The agent's process id is the spec's key when it has one (the same when a resumed
    /// build runs its steps again, so the agent follows instead of starting it twice), else
    /// this executor's random prefix and a counter.
    async fn spawn(&self, spec: ProcessSpec) -> Result<ProcessHandle, ExecError> {
        let agent = self.agent(spec.container.as_deref())?;
        let id = match &spec.key {
            Some(key) => key.clone(),
            None => {
                let n = self.counter.fetch_add(1, Ordering::Relaxed) + 1;
                format!("{}-{n}", self.id_prefix)
            }
        };
        let held = self.take_held();
        let spawned = if !held.is_empty() && self.is_replaying() {
            // Known to the agent: it ran after the held changes, which the pod has then.
            match agent.follow_known(id.clone()).await {
                Ok(spawned) => spawned,
                Err(unknown) => {
                    debug!(pod = %self.name, %id, %unknown, count = held.len(),
                        "replay: doing the workspace changes held before a new process");
                    self.do_held(held).await?;
                    agent.spawn(id.clone(), spec).await?
                }
            }
        } else {
            agent.spawn(id.clone(), spec).await?
        };
        if spawned.ended_before {
            self.replayed.fetch_add(1, Ordering::Relaxed);
            let met = self.known_processes().ids.remove(&id);
            if met {
                self.passed_known().await?;
            }
        } else if self.replaying.swap(false, Ordering::AcqRel) {
            let began = *self
                .replay_began
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let ms = began.map_or(0, |b| b.elapsed().as_millis());
            let replayed = self.replayed.load(Ordering::Relaxed);
            info!(pod = %self.name, replayed, ms, "replay reached the step that was running");
        }
        Ok(spawned.handle)
    }

    async fn read_file(&self, path: &Path) -> Result<Vec<u8>, ExecError> {
        self.agent(None)?.read_file(&path_arg(path)).await
    }

    async fn write_file(&self, path: &Path, bytes: &[u8]) -> Result<(), ExecError> {
        if self.is_replaying() {
            self.hold(Held::Write(path_arg(path), bytes.to_vec()));
            return Ok(());
        }
        self.agent(None)?.write_file(&path_arg(path), bytes).await
    }

    async fn file_exists(&self, path: &Path) -> Result<bool, ExecError> {
        let path = path_arg(path);
        match self
            .agent(None)?
            .simple(|req| Message::Exists {
                req,
                path: path.clone(),
            })
            .await?
        {
            Message::ExistsResult { exists, .. } => Ok(exists),
            other => Err(ExecError::Protocol(format!("{other:?}"))),
        }
    }

    async fn delete_dir(&self, path: &Path) -> Result<(), ExecError> {
        self.change_dir(path, |req, path| Message::DeleteDir { req, path })
            .await
    }

    async fn create_dir(&self, path: &Path) -> Result<(), ExecError> {
        self.change_dir(path, |req, path| Message::CreateDir { req, path })
            .await
    }

    async fn list_files(
        &self,
        dir: &Path,
        includes: &[String],
        excludes: &[String],
    ) -> Result<Vec<FileEntry>, ExecError> {
        let entries = self
            .agent(None)?
            .list_files(&path_arg(dir), includes, excludes)
            .await?;
        Ok(entries
            .into_iter()
            .map(|e| FileEntry {
                path: PathBuf::from(e.path),
                size: e.size,
            })
            .collect())
    }
}

/// The ids of build number `build`'s processes among the files of an agent's run directory.
fn processes_of(
    build: u64,
    entries: Vec<kiln_agent::protocol::WireEntry>,
) -> impl Iterator<Item = String> {
    let prefix = format!("{build}.");
    entries
        .into_iter()
        .filter_map(|e| e.path.strip_suffix(".out").map(str::to_owned))
        .filter(move |id| id.starts_with(&prefix))
}

/// See [`KubeExecutor::learn_known`]; `complete` is false once a pod's could not be listed.
struct KnownProcesses {
    ids: std::collections::HashSet<String>,
    complete: bool,
}

impl Default for KnownProcesses {
    fn default() -> Self {
        KnownProcesses {
            ids: std::collections::HashSet::new(),
            complete: true,
        }
    }
}

/// A workspace change held during a replay (see [`KubeExecutor::begin_replay`]).
enum Held {
    Write(String, Vec<u8>),
    /// `DeleteDir` or `CreateDir`, its `req` set when sent.
    Dir(Message),
}

fn with_req(message: Message, req: u64) -> Message {
    match message {
        Message::DeleteDir { path, .. } => Message::DeleteDir { req, path },
        Message::CreateDir { path, .. } => Message::CreateDir { req, path },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::processes_of;
    use kiln_agent::protocol::WireEntry;

    #[test]
    fn the_processes_of_a_build_are_its_keyed_output_files() {
        let entries = [
            "12.0a1b2c3d.4.0.00ff00ff00ff00ff.out",
            "12.0a1b2c3d.4.0.00ff00ff00ff00ff.exit",
            "120.0a1b2c3d.4.0.00ff00ff00ff00ff.out",
            "3.0a1b2c3d.p.1.00ff00ff00ff00ff.out",
            "f00dbeef-2.out",
        ]
        .map(|path| WireEntry {
            path: path.to_owned(),
            size: 1,
        });
        let ids: Vec<String> = processes_of(12, entries.to_vec()).collect();
        assert_eq!(ids, ["12.0a1b2c3d.4.0.00ff00ff00ff00ff"]);
    }
}
