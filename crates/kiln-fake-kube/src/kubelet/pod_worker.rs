//! One task per pod: sandbox delay, volumes, init containers in order, then the regular
//! containers side by side with their restart policy, publishing every state change. Native
//! sidecars (init containers with `restartPolicy: Always`) start in their turn, the next init
//! container waits until they run, they restart whenever they exit, and they are stopped once
//! the regular containers have ended.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use super::container::{self, Exit, RunSpec};
use super::pod_status::{ContainerState, ContainerStatus, PodRuntimeStatus};
use super::sandbox::{Launch, Mount};
use super::{Kubelet, PodHandle, StopReason, lock, volumes};
use crate::catalog;
use crate::events::{self, Reporter};
use crate::time::now_rfc3339;

/// The per-pod context shared by its container tasks.
struct PodRun {
    kubelet: Arc<Kubelet>,
    handle: Arc<PodHandle>,
    pod: Value,
    status: Mutex<PodRuntimeStatus>,
    volumes: Mutex<HashMap<String, PathBuf>>,
    /// Set once the regular containers have ended: sidecars are not restarted any more.
    sidecars_stopping: AtomicBool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Init,
    Regular,
}

impl PodRun {
    /// Whether the node's kubelet has been cut off from the API server.
    fn node_lost(&self) -> bool {
        self.kubelet.node_lost(&self.handle.node)
    }

    fn publish(&self) {
        let Some(pods) = catalog::resource("pods") else {
            return;
        };
        if self.node_lost() {
            return;
        }
        let status = {
            let mut status = lock(&self.status);
            if status.terminated_by_node.is_none() {
                status.terminated_by_node = lock(&self.handle.evicted).clone();
            }
            status.clone()
        };
        let host_ip = "127.0.0.1";
        let result =
            self.kubelet
                .store
                .update(pods, &self.handle.namespace, &self.handle.name, |p| {
                    if p.pointer("/metadata/uid").and_then(Value::as_str)
                        != Some(self.handle.uid.as_str())
                    {
                        return Ok(false);
                    }
                    let old = p.get("status").cloned().unwrap_or(Value::Null);
                    crate::store::ensure_object(p, "status");
                    if let Some(obj) = p.as_object_mut() {
                        obj.insert("status".to_owned(), status.to_status(&old, host_ip));
                    }
                    Ok(true)
                });
        if let Err(err) = result {
            tracing::debug!(%err, pod = %self.handle.name, "status not published");
        }
    }

    fn event(&self, warning: bool, reason: &str, message: &str, container: Option<(&str, Kind)>) {
        let field = container.map(|(c, k)| match k {
            Kind::Init => format!("spec.initContainers{{{c}}}"),
            Kind::Regular => format!("spec.containers{{{c}}}"),
        });
        if self.node_lost() {
            return;
        }
        let pod = self.current_pod();
        events::record(
            &self.kubelet.store,
            &pod,
            Reporter::Kubelet(&self.handle.node),
            warning,
            reason,
            message,
            field.as_deref(),
        );
    }

    fn current_pod(&self) -> Value {
        catalog::resource("pods")
            .and_then(|rt| {
                self.kubelet
                    .store
                    .get(rt, &self.handle.namespace, &self.handle.name)
                    .ok()
            })
            .unwrap_or_else(|| self.pod.clone())
    }

    fn set_state(&self, kind: Kind, index: usize, f: impl FnOnce(&mut ContainerStatus)) {
        {
            let mut status = lock(&self.status);
            let list = match kind {
                Kind::Init => &mut status.init,
                Kind::Regular => &mut status.regular,
            };
            if let Some(c) = list.get_mut(index) {
                f(c);
            }
        }
        self.publish();
    }

    fn stopping(&self) -> bool {
        self.handle.stop.borrow().is_some()
    }

    /// Sleeps, returning `false` early when the pod is being stopped.
    async fn pause(&self, d: Duration) -> bool {
        let mut stop = self.handle.stop.subscribe();
        if self.stopping() {
            return false;
        }
        tokio::select! {
            () = tokio::time::sleep(d) => !self.stopping(),
            _ = stop.changed() => false,
        }
    }
}

fn containers(pod: &Value, list: &str) -> Vec<Value> {
    pod.pointer(&format!("/spec/{list}"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn text(v: &Value, key: &str) -> String {
    v.get(key).and_then(Value::as_str).unwrap_or("").to_owned()
}

/// Runs a pod from binding to removal.
pub async fn run_pod(kubelet: Arc<Kubelet>, handle: Arc<PodHandle>, pod: Value, ip: String) {
    let init = containers(&pod, "initContainers");
    let regular = containers(&pod, "containers");
    let first_wait = if init.is_empty() {
        "ContainerCreating"
    } else {
        "PodInitializing"
    };
    let status = PodRuntimeStatus {
        init: init
            .iter()
            .map(|c| {
                let mut status = ContainerStatus::waiting(
                    &text(c, "name"),
                    &text(c, "image"),
                    "PodInitializing",
                );
                status.sidecar = is_sidecar(c);
                status
            })
            .collect(),
        regular: regular
            .iter()
            .map(|c| ContainerStatus::waiting(&text(c, "name"), &text(c, "image"), first_wait))
            .collect(),
        initialized: init.is_empty(),
        start_time: now_rfc3339(),
        terminated_by_node: None,
        pod_ip: ip,
    };
    let run = Arc::new(PodRun {
        kubelet,
        handle,
        pod,
        status: Mutex::new(status),
        volumes: Mutex::new(HashMap::new()),
        sidecars_stopping: AtomicBool::new(false),
    });
    run.publish();
    let started = run.kubelet.config.pod_start_delay;
    if run.pause(started).await && prepare_volumes(&run).await {
        run_containers(&run, &init, &regular).await;
    }
    finish(&run).await;
}

async fn prepare_volumes(run: &Arc<PodRun>) -> bool {
    let mut reported = false;
    loop {
        match volumes::prepare(&run.kubelet.store, &run.pod, &run.handle.dir) {
            Ok(paths) => {
                *lock(&run.volumes) = paths;
                return true;
            }
            Err(err) => {
                if !reported {
                    run.event(true, "FailedMount", &err.to_string(), None);
                    reported = true;
                }
                if !run.pause(Duration::from_millis(500)).await {
                    return false;
                }
            }
        }
    }
}

/// A native sidecar: an init container that keeps running beside the regular containers.
fn is_sidecar(spec: &Value) -> bool {
    spec.get("restartPolicy").and_then(Value::as_str) == Some("Always")
}

async fn run_containers(run: &Arc<PodRun>, init: &[Value], regular: &[Value]) {
    let mut sidecars = Vec::new();
    for (i, spec) in init.iter().enumerate() {
        if is_sidecar(spec) {
            let (task_run, task_spec) = (Arc::clone(run), spec.clone());
            sidecars.push((
                text(spec, "name"),
                tokio::spawn(
                    async move { run_container(&task_run, Kind::Init, i, &task_spec).await },
                ),
            ));
            if !sidecar_started(run, i).await {
                return;
            }
            continue;
        }
        if !run_container(run, Kind::Init, i, spec).await {
            return;
        }
    }
    if !init.is_empty() {
        lock(&run.status).initialized = true;
        run.publish();
    }
    let tasks: Vec<_> = regular
        .iter()
        .enumerate()
        .map(|(i, spec)| {
            let run = Arc::clone(run);
            let spec = spec.clone();
            tokio::spawn(async move { run_container(&run, Kind::Regular, i, &spec).await })
        })
        .collect();
    for t in tasks {
        // A panicked container task only loses that container's reporting.
        let _ = t.await;
    }
    // The regular containers have ended: the kubelet stops the sidecars.
    run.sidecars_stopping.store(true, Ordering::SeqCst);
    for (name, _) in &sidecars {
        run.handle.kill(
            Some(name),
            container::KillCause::Stop(Duration::from_secs(2)),
        );
    }
    for (_, task) in sidecars {
        let _ = task.await;
    }
}

/// Waits until sidecar `index` runs (as the kubelet waits for a sidecar's start before the
/// next init container); `false` when the pod is stopped first.
async fn sidecar_started(run: &Arc<PodRun>, index: usize) -> bool {
    loop {
        if run.stopping() {
            return false;
        }
        if lock(&run.status)
            .init
            .get(index)
            .is_some_and(ContainerStatus::running)
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Runs one container through pulls and restarts; `true` when it ended successfully.
async fn run_container(run: &Arc<PodRun>, kind: Kind, index: usize, spec: &Value) -> bool {
    let name = text(spec, "name");
    let image = text(spec, "image");
    let sidecar = kind == Kind::Init && is_sidecar(spec);
    let policy = run
        .pod
        .pointer("/spec/restartPolicy")
        .and_then(Value::as_str)
        .unwrap_or("Always")
        .to_owned();
    let config = Arc::clone(&run.kubelet.config);
    loop {
        if run.stopping() || (sidecar && run.sidecars_stopping.load(Ordering::SeqCst)) {
            return false;
        }
        let argv = match container::resolve_command(&config, &run.kubelet.faults, spec) {
            Ok(argv) => argv,
            Err(message) => {
                run.event(
                    false,
                    "Pulling",
                    &format!("Pulling image \"{image}\""),
                    Some((&name, kind)),
                );
                run.event(
                    true,
                    "Failed",
                    &format!("Failed to pull image \"{image}\": {message}"),
                    Some((&name, kind)),
                );
                run.event(true, "Failed", "Error: ErrImagePull", Some((&name, kind)));
                run.set_state(kind, index, |c| {
                    c.state = ContainerState::Waiting {
                        reason: "ErrImagePull".to_owned(),
                        message: Some(message),
                    }
                });
                if !run.pause(config.image_pull_backoff).await {
                    return false;
                }
                let backoff = format!("Back-off pulling image \"{image}\"");
                run.event(false, "BackOff", &backoff, Some((&name, kind)));
                run.event(
                    true,
                    "Failed",
                    "Error: ImagePullBackOff",
                    Some((&name, kind)),
                );
                run.set_state(kind, index, |c| {
                    c.state = ContainerState::Waiting {
                        reason: "ImagePullBackOff".to_owned(),
                        message: Some(backoff),
                    }
                });
                if !run.pause(config.image_pull_backoff).await {
                    return false;
                }
                continue;
            }
        };
        if !run.pause(config.container_start_delay).await {
            return false;
        }
        let Some(exit) = start_and_wait(run, kind, index, spec, argv).await else {
            return false;
        };
        let failed = exit.code != 0;
        let restart = !run.stopping()
            && match (kind, policy.as_str()) {
                _ if sidecar => !run.sidecars_stopping.load(Ordering::SeqCst),
                (_, "Never") => false,
                (Kind::Init, _) | (Kind::Regular, "OnFailure") => failed,
                (Kind::Regular, _) => true,
            };
        let terminated = ContainerState::Terminated {
            exit_code: exit.code,
            reason: exit.reason.clone(),
            started_at: exit.started_at,
            finished_at: exit.finished_at,
        };
        if !restart {
            run.set_state(kind, index, |c| {
                c.state = terminated;
                c.done = true;
            });
            return !failed;
        }
        let message = format!(
            "back-off 10s restarting failed container={name} pod={}_{}({})",
            run.handle.name, run.handle.namespace, run.handle.uid
        );
        run.set_state(kind, index, |c| {
            c.last_state = Some(terminated);
            c.restart_count += 1;
            c.state = ContainerState::Waiting {
                reason: "CrashLoopBackOff".to_owned(),
                message: Some(message.clone()),
            };
        });
        run.event(
            true,
            "BackOff",
            "Back-off restarting failed container",
            Some((&name, kind)),
        );
        if !run.pause(config.restart_backoff).await {
            return false;
        }
    }
}

/// Starts the container and waits for its end; `None` (nothing started) when the pod is
/// being stopped.
async fn start_and_wait(
    run: &Arc<PodRun>,
    kind: Kind,
    index: usize,
    spec: &Value,
    argv: Vec<String>,
) -> Option<Exit> {
    let name = text(spec, "name");
    // Subscribed before the last look at the pod's stop: a deletion from now on reaches the
    // running process, one before is seen here (a kill sent to no subscriber is lost).
    let kills = run.handle.kill_receiver(&name);
    if run.stopping() {
        return None;
    }
    let image = text(spec, "image");
    let restarts = {
        let status = lock(&run.status);
        let list = match kind {
            Kind::Init => &status.init,
            Kind::Regular => &status.regular,
        };
        list.get(index).map_or(0, |c| c.restart_count)
    };
    let dir = run
        .handle
        .dir
        .join("containers")
        .join(format!("{name}-{restarts}"));
    for sub in ["upper", "work", "root"] {
        if let Err(err) = std::fs::create_dir_all(dir.join(sub)) {
            tracing::warn!(%err, "cannot create container directory");
        }
    }
    let volumes = lock(&run.volumes).clone();
    let mounts = spec
        .get("volumeMounts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|m| {
            let source = volumes.get(&text(m, "name"))?;
            let sub = text(m, "subPath");
            Some(Mount {
                source: if sub.is_empty() {
                    source.clone()
                } else {
                    source.join(sub)
                },
                target: text(m, "mountPath"),
                read_only: m.get("readOnly").and_then(Value::as_bool).unwrap_or(false),
            })
        })
        .collect();
    let current = run.current_pod();
    let env = container::environment(&run.kubelet.store, &current, spec);
    let log = run.kubelet.logs.start_run(&run.handle.uid, &name);
    let launch = Launch {
        dir,
        mounts,
        argv,
        working_dir: text(spec, "workingDir"),
    };
    run.event(
        false,
        "Pulled",
        &format!("Container image \"{image}\" already present on machine"),
        Some((&name, kind)),
    );
    let container_id = format!(
        "containerd://{:016x}{:048x}",
        u64::from(restarts) + 1,
        index + 1
    );
    let started = now_rfc3339();
    let exit = container::run_once(
        &run.handle,
        &run.kubelet.procs,
        &run.kubelet.config,
        RunSpec {
            name: name.clone(),
            launch,
            env,
            log,
            kills,
        },
        |_pid| {
            run.set_state(kind, index, |c| {
                c.container_id = container_id.clone();
                c.state = ContainerState::Running {
                    started_at: started.clone(),
                };
            });
            run.event(
                false,
                "Created",
                &format!("Created container {name}"),
                Some((&name, kind)),
            );
            run.event(
                false,
                "Started",
                &format!("Started container {name}"),
                Some((&name, kind)),
            );
        },
    )
    .await;
    if exit.reason == "OOMKilled" {
        run.event(
            true,
            "OOMKilling",
            &format!("Memory cgroup out of memory: Killed process in container {name}"),
            Some((&name, kind)),
        );
    }
    Some(exit)
}

/// After the containers: wait for stop requests; an eviction is reported, a deletion tears the
/// pod down and removes it.
async fn finish(run: &Arc<PodRun>) {
    let mut stop = run.handle.stop.subscribe();
    let mut evicted = false;
    loop {
        let reason = stop.borrow_and_update().clone();
        match reason {
            Some(StopReason::Delete(_)) => break,
            Some(StopReason::Evict(termination)) if !evicted => {
                evicted = true;
                wait_for_processes(run).await;
                evict(run, &termination);
            }
            _ => {}
        }
        if stop.changed().await.is_err() {
            return;
        }
    }
    wait_for_processes(run).await;
    if let Err(err) = std::fs::remove_dir_all(&run.handle.dir) {
        if err.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!(%err, pod = %run.handle.name, "pod directory not removed");
        }
    }
    run.kubelet.forget(&run.handle.uid);
    if run.node_lost() {
        // Nobody tells the API server: the pod object stays as last reported.
        return;
    }
    if let Some(pods) = catalog::resource("pods") {
        let current = run.current_pod();
        if current.pointer("/metadata/uid").and_then(Value::as_str) == Some(run.handle.uid.as_str())
        {
            // Already gone (force deletion) is fine.
            let _ = run
                .kubelet
                .store
                .delete(pods, &run.handle.namespace, &run.handle.name);
        }
    }
}

/// Containers still in their grace period finish in their own tasks; wait for them.
async fn wait_for_processes(run: &Arc<PodRun>) {
    while !lock(&run.handle.running).is_empty() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn evict(run: &Arc<PodRun>, termination: &super::PodTermination) {
    {
        let mut guard = lock(&run.status);
        let status = &mut *guard;
        for c in status.regular.iter_mut().chain(status.init.iter_mut()) {
            if !c.done {
                let now = now_rfc3339();
                c.state = ContainerState::Terminated {
                    exit_code: 137,
                    reason: "Error".to_owned(),
                    started_at: now.clone(),
                    finished_at: now,
                };
                c.done = true;
            }
        }
        status.terminated_by_node = Some(termination.clone());
    }
    run.event(true, "Evicted", &termination.message, None);
    run.publish();
}
