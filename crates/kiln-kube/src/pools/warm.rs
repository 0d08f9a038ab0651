//! Warm pools: per pod template (`pool { min, max, idle_ttl_seconds }`), kiln keeps ready pods
//! (created from the template by [`build_pod`], agents connected) so a matching build starts
//! without waiting for a pod. A background task per pool refills it and deletes idle pods
//! above `min` once they have been idle for `idle_ttl_seconds`.
//!
//! When a build ends its pod goes back to the pool only if the build succeeded and the pod is
//! healthy: a failed, unstable or aborted build may have left processes, mounts or files
//! outside the workspace, so its pod is deleted. A returned pod's workspace is wiped through
//! its agent before it is offered again (off the next build's critical path; a new pod's
//! workspace is empty). `max` bounds the pool's pods, idle and lent.
//!
//! Every pool pod holds a [`PodSlot`] of `max_concurrent_pods` while it exists (idle pods
//! too). A pool only takes free slots, never waits for one: it refills when pods end, and
//! an idle pod gives its slot to a build that would otherwise wait ([`WarmPool::surrender`]).

use crate::config::KubeConfig;
use crate::config::template::PoolSettings;
use crate::exec::executor::{ExecutorSettings, KubeExecutor, PodRequest};
use crate::pod::build::{
    ANNOTATION_JOB, AgentRequest, BuiltPod, LABEL_BUILD, LABEL_JOB, PodIdentity, build_pod,
    label_value,
};
use crate::slots::{PodSlot, PodSlots};
use k8s_openapi::api::core::v1::Pod;
use kiln_diagnostics::{Diagnostic, Span, Spanned};
use kiln_executor::Executor;
use kube::Api;
use kube::api::{Patch, PatchParams};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;
use tokio::sync::{Notify, watch};
use tokio::time::Instant;
use tracing::{debug, info, warn};

/// The label naming the pool an idle pod belongs to.
pub const LABEL_POOL: &str = "kiln.dev/pool";
/// The job label of idle pool pods (no build owns them; the reaper deletes them after a
/// controller restart, and the new controller's pools make their own).
pub const POOL_JOB: &str = "kiln-pool";
/// How long a pool waits before creating pods again after a creation failed.
const RETRY_AFTER: Duration = Duration::from_secs(5);

/// How many pods a pool has in each state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolCounts {
    /// Ready and waiting for a build.
    pub idle: u32,
    /// Being created.
    pub starting: u32,
    /// Serving a build.
    pub lent: u32,
}

/// How a build left its pod.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PodOutcome {
    /// The build succeeded: the pod may serve another build (after its workspace is wiped).
    Clean,
    /// The build failed, was unstable or aborted: the pod is deleted.
    Dirty,
}

struct Idle {
    executor: Arc<KubeExecutor>,
    slot: PodSlot,
    since: Instant,
}

#[derive(Default)]
struct State {
    idle: Vec<Idle>,
    starting: u32,
    lent: u32,
    closed: bool,
    retry_at: Option<Instant>,
    /// The pool wanted pods but found no free slot: it tends again when slots free.
    short_of_slots: bool,
}

impl State {
    fn counts(&self) -> PoolCounts {
        PoolCounts {
            idle: u32::try_from(self.idle.len()).unwrap_or(u32::MAX),
            starting: self.starting,
            lent: self.lent,
        }
    }
}

/// The warm pool of one pod template.
pub struct WarmPool {
    template: String,
    settings: PoolSettings,
    client: kube::Client,
    executor_settings: ExecutorSettings,
    slots: Arc<PodSlots>,
    /// The template's pod as `build_pod` makes it (each pool pod gets its own name).
    built: BuiltPod,
    state: Mutex<State>,
    counts: watch::Sender<PoolCounts>,
    wake: Arc<Notify>,
    manager: Mutex<Option<tokio::task::AbortHandle>>,
}

impl WarmPool {
    /// Starts the pool of `template` (which must have `pool` settings) and its manager task.
    pub fn start(
        client: kube::Client,
        executor_settings: ExecutorSettings,
        slots: Arc<PodSlots>,
        config: &KubeConfig,
        template: &str,
    ) -> Result<Arc<WarmPool>, Vec<Diagnostic>> {
        let settings = config
            .template(template)
            .and_then(|t| t.pool)
            .ok_or_else(|| {
                vec![Diagnostic::error(
                    "kube-pool",
                    format!("pod template `{template}` has no pool settings"),
                )]
            })?;
        let built = build_pod(
            config,
            &template_request(template),
            &pool_identity(template),
        )?;
        let pool = Arc::new(WarmPool {
            template: template.to_owned(),
            settings,
            client,
            executor_settings,
            slots,
            built,
            state: Mutex::new(State::default()),
            counts: watch::channel(PoolCounts::default()).0,
            wake: Arc::new(Notify::new()),
            manager: Mutex::new(None),
        });
        let task = tokio::spawn(manage(Arc::downgrade(&pool)));
        *lock(&pool.manager) = Some(task.abort_handle());
        info!(
            template,
            min = settings.min,
            max = settings.max,
            "warm pool started"
        );
        Ok(pool)
    }

    pub fn template(&self) -> &str {
        &self.template
    }

    pub fn counts(&self) -> PoolCounts {
        self.state().counts()
    }

    /// Waits until `ready(counts)` holds (for tests and benchmarks: no polling).
    pub async fn wait_for(&self, ready: impl Fn(&PoolCounts) -> bool) {
        let mut rx = self.counts.subscribe();
        // The sender lives as long as the pool, which the caller holds.
        let _ = rx.wait_for(|c| ready(c)).await;
    }

    /// Whether a build's pod (as `build_pod` made it) is what this pool's pods are: same
    /// template, namespace, default container and spec (per-project caches, for one, make
    /// the spec differ, and such builds get pods of their own).
    pub fn serves(&self, built: &BuiltPod) -> bool {
        built
            .pool
            .as_ref()
            .is_some_and(|(t, _)| *t == self.template)
            && built.namespace == self.built.namespace
            && built.default_container == self.built.default_container
            && built.pod.spec == self.built.pod.spec
    }

    /// A ready pod for build `build` of `job` and its slot, if one is idle. Its labels are
    /// changed to the build's in the background (not on the build's critical path).
    pub fn take(self: &Arc<Self>, job: &str, build: u64) -> Option<(Arc<KubeExecutor>, PodSlot)> {
        let mut unhealthy = Vec::new();
        let taken = {
            let mut state = self.state();
            let mut found = None;
            while let Some(idle) = state.idle.pop() {
                match idle.executor.health_problem() {
                    None => {
                        found = Some((idle.executor, idle.slot));
                        break;
                    }
                    Some(reason) => unhealthy.push((idle.executor, idle.slot, reason)),
                }
            }
            if found.is_some() {
                state.lent += 1;
            }
            self.publish(&state);
            found
        };
        for (executor, slot, reason) in unhealthy {
            warn!(pod = executor.pod_name(), %reason, "dropping an unhealthy warm pod");
            delete_later(executor, slot);
        }
        self.wake.notify_one();
        let (executor, slot) = taken?;
        debug!(
            pod = executor.pod_name(),
            job, build, "build takes a warm pod"
        );
        self.relabel_later(executor.pod_name(), job, &build.to_string(), None);
        Some((executor, slot))
    }

    /// Deletes the oldest idle pod and hands its slot over, for a build of another template
    /// that would wait for a slot otherwise (a real build goes before a warm pod).
    pub fn surrender(&self) -> Option<PodSlot> {
        let idle = {
            let mut state = self.state();
            state.idle.sort_by_key(|i| i.since);
            let idle = (!state.idle.is_empty()).then(|| state.idle.remove(0))?;
            self.publish(&state);
            idle
        };
        info!(pod = idle.executor.pod_name(), template = %self.template, "a waiting build takes an idle warm pod's slot");
        let executor = idle.executor;
        tokio::spawn(async move { executor.cleanup().await.ok() });
        self.wake.notify_one();
        Some(idle.slot)
    }

    /// Takes a pod back after its build: kept (workspace wiped) when the build was clean,
    /// the pod is healthy and the pool has room; deleted otherwise.
    pub async fn give_back(
        self: &Arc<Self>,
        executor: Arc<KubeExecutor>,
        slot: PodSlot,
        outcome: PodOutcome,
    ) {
        let keep = outcome == PodOutcome::Clean
            && executor.health_problem().is_none()
            && wipe(&executor).await;
        let (kept, slot) = {
            let mut state = self.state();
            state.lent = state.lent.saturating_sub(1);
            let alive = state.idle.len() + state.starting as usize + state.lent as usize;
            let kept = keep && !state.closed && alive < self.settings.max as usize;
            let slot = if kept {
                state.idle.push(Idle {
                    executor: executor.clone(),
                    slot,
                    since: Instant::now(),
                });
                None
            } else {
                Some(slot)
            };
            self.publish(&state);
            (kept, slot)
        };
        if kept {
            self.relabel_later(executor.pod_name(), POOL_JOB, "0", Some(&self.template));
        } else {
            info!(
                pod = executor.pod_name(),
                ?outcome,
                "deleting a pod instead of pooling it"
            );
            if let Err(error) = executor.cleanup().await {
                warn!(pod = executor.pod_name(), %error, "cannot delete a used pool pod");
            }
        }
        drop(slot);
        self.wake.notify_one();
    }

    /// Stops the manager and deletes the idle pods (lent pods are deleted when given back).
    pub async fn shutdown(&self) {
        if let Some(task) = lock(&self.manager).take() {
            task.abort();
        }
        let idle = {
            let mut state = self.state();
            state.closed = true;
            let idle = std::mem::take(&mut state.idle);
            self.publish(&state);
            idle
        };
        for pod in idle {
            pod.executor.cleanup().await.ok();
            drop(pod.slot);
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    fn publish(&self, state: &State) {
        self.counts.send_replace(state.counts());
    }

    /// Sets the pod's job/build labels (and the pool label, or removes it) in a background
    /// merge patch; a failure is only logged (the labels are for people and the reaper).
    fn relabel_later(&self, pod: &str, job: &str, build: &str, pool: Option<&str>) {
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), &self.built.namespace);
        let patch = serde_json::json!({"metadata": {
            "labels": {LABEL_JOB: label_value(job), LABEL_BUILD: build, LABEL_POOL: pool.map(label_value)},
            "annotations": {ANNOTATION_JOB: job},
        }});
        let pod = pod.to_owned();
        tokio::spawn(async move {
            if let Err(error) = pods
                .patch(&pod, &PatchParams::default(), &Patch::Merge(patch))
                .await
            {
                debug!(%pod, %error, "cannot relabel a pool pod");
            }
        });
    }

    /// Starts pod creations up to `min` ready pods (within `max` and the free pod slots);
    /// returns when the next idle pod expires, if any.
    fn tend(self: &Arc<Self>) -> Option<Instant> {
        let now = Instant::now();
        let ttl = Duration::from_secs(self.settings.idle_ttl_seconds);
        let (expired, create, next) = {
            let mut state = self.state();
            if state.closed {
                return None;
            }
            // Oldest first: pods idle past the TTL go while more than `min` are idle.
            state.idle.sort_by_key(|i| i.since);
            let mut expired = Vec::new();
            while state.idle.len() > self.settings.min as usize
                && state.idle.first().is_some_and(|i| i.since + ttl <= now)
            {
                let idle = state.idle.remove(0);
                expired.push((idle.executor, idle.slot));
            }
            let ready = state.idle.len() as u32 + state.starting;
            let alive = ready + state.lent;
            let retry_ok = state.retry_at.is_none_or(|t| t <= now);
            let wanted = if retry_ok {
                self.settings
                    .min
                    .saturating_sub(ready)
                    .min(self.settings.max.saturating_sub(alive))
            } else {
                0
            };
            let create: Vec<PodSlot> = (0..wanted).map_while(|_| self.slots.try_take()).collect();
            state.short_of_slots = create.len() < wanted as usize;
            state.starting += u32::try_from(create.len()).unwrap_or(u32::MAX);
            let mut next = (state.idle.len() > self.settings.min as usize)
                .then(|| state.idle.first().map(|i| i.since + ttl))
                .flatten();
            if !retry_ok {
                next = next.min(state.retry_at).or(state.retry_at);
            }
            self.publish(&state);
            (expired, create, next)
        };
        for (executor, slot) in expired {
            info!(pod = executor.pod_name(), template = %self.template, "idle pool pod expired");
            delete_later(executor, slot);
        }
        for slot in create {
            tokio::spawn(create_pod(self.clone(), slot));
        }
        next
    }

    fn short_of_slots(&self) -> bool {
        self.state().short_of_slots
    }
}

/// The pool's manager: tends the pool whenever something changed, an idle pod expires, or
/// (when it is short of pod slots) the slots in use change.
async fn manage(pool: Weak<WarmPool>) {
    let Some(mut slots) = pool.upgrade().map(|p| p.slots.subscribe()) else {
        return;
    };
    loop {
        // Changes from here on wake the manager, so none is missed while it tends.
        slots.mark_unchanged();
        let (next, wake, short) = {
            let Some(pool) = pool.upgrade() else { return };
            (pool.tend(), pool.wake.clone(), pool.short_of_slots())
        };
        let notified = wake.notified();
        let slots_changed = async {
            if !short || slots.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        };
        let expiry = async {
            match next {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = notified => {}
            () = expiry => {}
            () = slots_changed => {}
        }
    }
}

/// Deletes a pod in the background; its slot is free once the delete was sent.
fn delete_later(executor: Arc<KubeExecutor>, slot: PodSlot) {
    tokio::spawn(async move {
        executor.cleanup().await.ok();
        drop(slot);
    });
}

async fn create_pod(pool: Arc<WarmPool>, slot: PodSlot) {
    let suffix = crate::token::short_id().unwrap_or_else(|_| "0".to_owned());
    let mut pod = pool.built.pod.clone();
    pod.metadata.name = Some(format!("kiln-pool-{}-{suffix}", name_part(&pool.template)));
    pod.metadata
        .labels
        .get_or_insert_with(Default::default)
        .insert(LABEL_POOL.to_owned(), label_value(&pool.template));
    let request = PodRequest {
        pod,
        namespace: pool.built.namespace.clone(),
        default_container: Some(pool.built.default_container.clone()),
        // A pool pod starts for no build: its Events go to kiln's own log only.
        start_log: crate::start_log::StartLog::none(),
    };
    let started = KubeExecutor::start(pool.client.clone(), &pool.executor_settings, request).await;
    let leftover = {
        let mut state = pool.state();
        state.starting = state.starting.saturating_sub(1);
        let leftover = match started {
            Ok(executor) if !state.closed => {
                debug!(pod = executor.pod_name(), "warm pod ready");
                state.idle.push(Idle {
                    executor: Arc::new(executor),
                    slot,
                    since: Instant::now(),
                });
                None
            }
            Ok(executor) => Some((executor, slot)),
            Err(error) => {
                warn!(template = %pool.template, %error, "cannot create a warm pod");
                state.retry_at = Some(Instant::now() + RETRY_AFTER);
                drop(slot);
                None
            }
        };
        pool.publish(&state);
        leftover
    };
    if let Some((executor, slot)) = leftover {
        executor.cleanup().await.ok();
        drop(slot);
    }
    pool.wake.notify_one();
}

/// Empties the workspace through the agent; false when that failed (the pod is not reused).
async fn wipe(executor: &KubeExecutor) -> bool {
    let workspace = executor.workspace().to_path_buf();
    let result = async {
        executor.delete_dir(&workspace).await?;
        executor.create_dir(&workspace).await
    }
    .await;
    if let Err(error) = &result {
        warn!(pod = executor.pod_name(), %error, "cannot wipe a pool pod's workspace");
    }
    result.is_ok()
}

fn template_request(template: &str) -> AgentRequest {
    AgentRequest {
        inherit_from: Some(Spanned::new(template.to_owned(), Span::default())),
        ..AgentRequest::default()
    }
}

fn pool_identity(template: &str) -> PodIdentity {
    PodIdentity {
        name: format!("kiln-pool-{}", name_part(template)),
        job: POOL_JOB.to_owned(),
        build: 0,
    }
}

/// A DNS-1123 piece of a pod name.
fn name_part(text: &str) -> String {
    let part: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(40)
        .collect();
    part.trim_matches('-').to_owned()
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
