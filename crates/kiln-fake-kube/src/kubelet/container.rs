//! Starting one container run: resolving its command from the image, its environment, and
//! running the process to its exit while streaming its output into the log store.

use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::Signal;
use serde_json::Value;
use tokio::io::AsyncReadExt;
use tokio::process::Command;

use tokio::sync::watch;

use super::PodHandle;
use super::sandbox::{self, Launch};
use crate::config::{FakeKubeConfig, Isolation, UnknownImages, normalize_image, qualified_image};
use crate::faults::{Faults, PullFault};
use crate::log_store::LogBuffer;
use crate::process_table::{self, ProcessTable};
use crate::store::Store;
use crate::time::now_rfc3339;

/// Why a container's process was told to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KillCause {
    /// The pod is being deleted or evicted: SIGTERM, then SIGKILL after the grace period.
    Stop(Duration),
    /// Injected OOM kill: SIGKILL now, reported as `OOMKilled`.
    Oom,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exit {
    /// Exit code (128 + signal when signalled).
    pub code: i32,
    /// `Completed`, `Error` or `OOMKilled`.
    pub reason: String,
    /// RFC 3339.
    pub started_at: String,
    /// RFC 3339.
    pub finished_at: String,
}

/// The containerd-style message of a failed pull.
pub fn pull_error(image: &str) -> String {
    let q = qualified_image(image);
    format!(
        "rpc error: code = NotFound desc = failed to pull and unpack image \"{q}\": failed to resolve reference \"{q}\": {q}: not found"
    )
}

/// The containerd-style message of a pull the registry refused with 429.
pub fn rate_limited_error(image: &str) -> String {
    let q = qualified_image(image);
    let (host, path) = q.split_once('/').unwrap_or(("docker.io", q.as_str()));
    let (repository, tag) = path.rsplit_once(':').unwrap_or((path, "latest"));
    let host = if host == "docker.io" {
        "registry-1.docker.io"
    } else {
        host
    };
    format!(
        "rpc error: code = Unknown desc = failed to pull and unpack image \"{q}\": failed to copy: httpReadSeeker: failed open: unexpected status code https://{host}/v2/{repository}/manifests/{tag}: 429 Too Many Requests - Server message: toomanyrequests: You have reached your pull rate limit"
    )
}

/// The argv a container runs, or the pull error when its image cannot be had.
pub fn resolve_command(
    config: &FakeKubeConfig,
    faults: &Faults,
    spec: &Value,
) -> Result<Vec<String>, String> {
    let image = spec.get("image").and_then(Value::as_str).unwrap_or("");
    match faults.take_image_failure(image) {
        Some(PullFault::Missing) => return Err(pull_error(image)),
        Some(PullFault::RateLimited) => return Err(rate_limited_error(image)),
        None => {}
    }
    let strings = |key: &str| -> Option<Vec<String>> {
        spec.get(key).and_then(Value::as_array).map(|a| {
            a.iter()
                .map(|v| v.as_str().unwrap_or("").to_owned())
                .collect()
        })
    };
    let known = config
        .images
        .iter()
        .find(|(name, _)| normalize_image(name) == normalize_image(image))
        .map(|(_, i)| i);
    match (strings("command"), known, config.unknown_images) {
        (Some(mut command), _, UnknownImages::RunIfCommandGiven)
        | (Some(mut command), Some(_), _) => {
            command.extend(strings("args").unwrap_or_default());
            Ok(command)
        }
        (None, Some(img), _) => {
            let mut argv = img.entrypoint.clone();
            argv.extend(strings("args").unwrap_or_else(|| img.cmd.clone()));
            Ok(argv)
        }
        _ => Err(pull_error(image)),
    }
}

/// The container's environment: the kubelet's defaults, `envFrom`, then `env` (values,
/// `fieldRef`, `secretKeyRef` and `configMapKeyRef`).
pub fn environment(store: &Store, pod: &Value, spec: &Value) -> Vec<(String, String)> {
    let namespace = pod
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("");
    let mut env: Vec<(String, String)> = vec![
        (
            "PATH".to_owned(),
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_owned(),
        ),
        (
            "HOSTNAME".to_owned(),
            pod.pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
        ),
        ("HOME".to_owned(), "/root".to_owned()),
    ];
    let mut set = |k: String, v: String| {
        env.retain(|(e, _)| *e != k);
        env.push((k, v));
    };
    for from in spec
        .get("envFrom")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let prefix = from.get("prefix").and_then(Value::as_str).unwrap_or("");
        for (field, plural) in [("secretRef", "secrets"), ("configMapRef", "configmaps")] {
            let Some(name) = from
                .pointer(&format!("/{field}/name"))
                .and_then(Value::as_str)
            else {
                continue;
            };
            let keys: Vec<String> = crate::catalog::resource(plural)
                .and_then(|rt| store.get(rt, namespace, name).ok())
                .and_then(|o| {
                    o.get("data")
                        .and_then(Value::as_object)
                        .map(|d| d.keys().cloned().collect())
                })
                .unwrap_or_default();
            for key in keys {
                if let Some(v) = super::volumes::key_value(store, namespace, plural, name, &key) {
                    set(format!("{prefix}{key}"), v);
                }
            }
        }
    }
    for e in spec
        .get("env")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = e
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let value = if let Some(v) = e.get("value").and_then(Value::as_str) {
            Some(v.to_owned())
        } else if let Some(path) = e
            .pointer("/valueFrom/fieldRef/fieldPath")
            .and_then(Value::as_str)
        {
            field_value(pod, path)
        } else if let Some(r) = e.pointer("/valueFrom/secretKeyRef") {
            key_ref(store, namespace, "secrets", r)
        } else if let Some(r) = e.pointer("/valueFrom/configMapKeyRef") {
            key_ref(store, namespace, "configmaps", r)
        } else {
            Some(String::new())
        };
        if let Some(v) = value {
            set(name, v);
        }
    }
    env
}

fn key_ref(store: &Store, namespace: &str, plural: &str, r: &Value) -> Option<String> {
    let name = r.get("name").and_then(Value::as_str)?;
    let key = r.get("key").and_then(Value::as_str)?;
    super::volumes::key_value(store, namespace, plural, name, key)
}

fn field_value(pod: &Value, path: &str) -> Option<String> {
    if let Some(rest) = path
        .strip_prefix("metadata.labels['")
        .and_then(|r| r.strip_suffix("']"))
    {
        return pod
            .pointer(&format!("/metadata/labels/{rest}"))
            .and_then(Value::as_str)
            .map(str::to_owned);
    }
    if let Some(rest) = path
        .strip_prefix("metadata.annotations['")
        .and_then(|r| r.strip_suffix("']"))
    {
        return pod
            .pointer(&format!("/metadata/annotations/{rest}"))
            .and_then(Value::as_str)
            .map(str::to_owned);
    }
    let pointer = format!("/{}", path.replace('.', "/"));
    pod.pointer(&pointer)
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// Everything [`run_once`] needs besides the pod handle.
pub struct RunSpec {
    /// Container name.
    pub name: String,
    /// How to launch it.
    pub launch: Launch,
    /// Its environment.
    pub env: Vec<(String, String)>,
    /// Where its output goes.
    pub log: Arc<LogBuffer>,
    /// Its kill requests, subscribed to before the caller last checked that the pod is not
    /// being stopped: a stop is either seen there or arrives here, never lost in between.
    pub kills: watch::Receiver<Option<KillCause>>,
}

/// Runs one container process until it exits or is killed; the caller records the result.
pub async fn run_once(
    handle: &Arc<PodHandle>,
    procs: &ProcessTable,
    config: &FakeKubeConfig,
    run: RunSpec,
    on_start: impl FnOnce(u32),
) -> Exit {
    let started_at = now_rfc3339();
    let (program, args) =
        sandbox::host_command(&run.launch, config.isolation, &config.hidden_paths);
    let mut command = Command::new(program);
    command
        .args(args)
        .env_clear()
        .envs(run.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(err) => {
            run.log
                .append(format!("failed to start container: {err}\n").as_bytes());
            run.log.close();
            return Exit {
                code: 128,
                reason: "StartError".to_owned(),
                started_at: started_at.clone(),
                finished_at: started_at,
            };
        }
    };
    let pid = child.id().unwrap_or(0);
    let pgid = i32::try_from(pid).unwrap_or(0);
    procs.insert(pgid);
    handle.set_running(&run.name, pid, run.env.clone());
    on_start(pid);
    // The container's mount namespace holds all its processes, whatever group they are in.
    let namespace = (config.isolation == Isolation::MountNamespace).then(|| {
        let procs = procs.clone();
        tokio::spawn(async move {
            let namespace = process_table::learn_namespace(pid).await;
            if let Some(namespace) = &namespace {
                procs.insert_namespace(namespace);
            }
            namespace
        })
    });
    let pumps: Vec<_> = [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
    ]
    .into_iter()
    .flatten()
    .map(|mut reader| {
        let log = Arc::clone(&run.log);
        tokio::spawn(async move {
            let mut buf = vec![0u8; 8192];
            while let Ok(n) = reader.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                log.append(&buf[..n]);
            }
        })
    })
    .collect();
    let mut kills = run.kills;
    let mut oom = false;
    let status = loop {
        tokio::select! {
            status = child.wait() => break status,
            changed = kills.changed() => {
                let cause = *kills.borrow_and_update();
                let gone = changed.is_err();
                match (changed, cause) {
                    (Err(_), _) | (Ok(()), None) => {}
                    (Ok(()), Some(KillCause::Oom)) => {
                        oom = true;
                        ProcessTable::signal(pgid, Signal::SIGKILL);
                    }
                    (Ok(()), Some(KillCause::Stop(grace))) => {
                        ProcessTable::signal(pgid, Signal::SIGTERM);
                        match tokio::time::timeout(grace, child.wait()).await {
                            Ok(status) => break status,
                            Err(_) => ProcessTable::signal(pgid, Signal::SIGKILL),
                        }
                    }
                }
                if gone {
                    // The pod handle is gone: nothing can ask for a kill any more.
                    break child.wait().await;
                }
            }
        }
    };
    // Children of the main process die with it, as in a container's pid namespace; so do its
    // processes in other groups (the container's cgroup on a node).
    ProcessTable::signal(pgid, Signal::SIGKILL);
    procs.remove(pgid);
    if let Some(Ok(Some(namespace))) = match namespace {
        Some(task) => Some(task.await),
        None => None,
    } {
        let procs = procs.clone();
        let _ = tokio::task::spawn_blocking(move || {
            process_table::kill_namespace(&namespace);
            procs.remove_namespace(&namespace);
        })
        .await;
    }
    handle.clear_running(&run.name);
    for pump in pumps {
        // Output still buffered in a pipe held by a dying grandchild is dropped after a second.
        let _ = tokio::time::timeout(Duration::from_secs(1), pump).await;
    }
    run.log.close();
    let code = match status {
        Ok(s) => s
            .code()
            .or_else(|| s.signal().map(|sig| 128 + sig))
            .unwrap_or(255),
        Err(_) => 255,
    };
    let (code, reason) = if oom {
        (137, "OOMKilled")
    } else if code == 0 {
        (0, "Completed")
    } else {
        (code, "Error")
    };
    Exit {
        code,
        reason: reason.to_owned(),
        started_at,
        finished_at: now_rfc3339(),
    }
}
