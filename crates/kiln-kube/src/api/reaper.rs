//! Orphan reaping: at controller start, build pods (and their agent Secrets) whose build is
//! gone are deleted. Which builds are alive is the caller's knowledge (its store), given as a
//! predicate over the pods' job and build labels. And periodically (and at the start of every
//! `kiln run --kubeconfig`), build pods that have *finished* are collected whoever made them:
//! a pod whose agents exited (their controller was gone past the grace) or whose
//! `activeDeadlineSeconds` passed can run no step again, and a live build deletes its own
//! finished pod within moments.

use crate::api::lifecycle::delete;
use crate::error::KubeError;
use k8s_openapi::api::core::v1::{Pod, Secret};
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::ListParams;
use std::time::Duration;
use tracing::info;

/// The label keys kiln puts on build pods.
pub const JOB_LABEL: &str = "kiln.dev/job";
pub const BUILD_LABEL: &str = "kiln.dev/build";

/// A build pod found by the reaper.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildPodRef {
    pub name: String,
    pub job: String,
    pub build: String,
}

/// A build the caller (its store) has running, for [`crate::PodSource::connect`]'s reaping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveBuild {
    /// The job's name as written (not yet a label value).
    pub job: String,
    pub build: u64,
    /// The pods the build recorded (its own, its stages' still in use, its Kaniko pods);
    /// `None` while it has not recorded its own yet: then every pod of it is alive.
    pub pods: Option<Vec<String>>,
}

/// Whether `pod` belongs to one of the `live` builds.
pub(crate) fn is_alive(live: &[LiveBuild], pod: &BuildPodRef) -> bool {
    live.iter().any(|b| {
        crate::pod::build::label_value(&b.job) == pod.job
            && b.build.to_string() == pod.build
            && b.pods
                .as_ref()
                .is_none_or(|names| names.contains(&pod.name))
    })
}

/// The agent Secret of a build pod.
pub fn secret_name(pod: &str) -> String {
    format!("{pod}-agent")
}

/// Deletes every kiln build pod in the namespace for which `alive(pod)` is false, with its
/// Secret; returns the pods deleted. One list request plus one delete per orphan.
pub async fn reap_orphans(
    client: kube::Client,
    namespace: &str,
    alive: impl Fn(&BuildPodRef) -> bool,
) -> Result<Vec<BuildPodRef>, KubeError> {
    let why = "deleting orphaned build pod";
    delete_picked(client, namespace, why, |_, found| !alive(found)).await
}

/// Deletes the kiln build pods in the namespace that `pick` picks, each with its Secret,
/// saying `why` in the log; returns the pods deleted. One list request plus one delete per
/// pod.
async fn delete_picked(
    client: kube::Client,
    namespace: &str,
    why: &str,
    pick: impl Fn(&Pod, &BuildPodRef) -> bool,
) -> Result<Vec<BuildPodRef>, KubeError> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let secrets: Api<Secret> = Api::namespaced(client, namespace);
    let params = ListParams::default().labels(&format!("{JOB_LABEL},{BUILD_LABEL}"));
    let list = pods.list(&params).await.map_err(|source| KubeError::Api {
        action: format!("list build pods in namespace {namespace}"),
        source,
    })?;
    let mut deleted = Vec::new();
    for pod in list.items {
        let labels = pod.metadata.labels.clone().unwrap_or_default();
        let found = BuildPodRef {
            name: pod.metadata.name.clone().unwrap_or_default(),
            job: labels.get(JOB_LABEL).cloned().unwrap_or_default(),
            build: labels.get(BUILD_LABEL).cloned().unwrap_or_default(),
        };
        if found.name.is_empty() || !pick(&pod, &found) {
            continue;
        }
        info!(pod = %found.name, job = %found.job, build = %found.build, "{why}");
        delete(
            &pods,
            &secrets,
            &found.name,
            Some(&secret_name(&found.name)),
            0,
        )
        .await?;
        deleted.push(found);
    }
    Ok(deleted)
}

/// When `pod` finished (its phase is Succeeded or Failed): the last container's end, else
/// when it stopped being ready; `None` for a pod that has not finished or is being deleted.
fn finished_at(pod: &Pod) -> Option<Timestamp> {
    if pod.metadata.deletion_timestamp.is_some() {
        return None;
    }
    let status = pod.status.as_ref()?;
    if !matches!(status.phase.as_deref(), Some("Succeeded" | "Failed")) {
        return None;
    }
    let ended = status
        .container_statuses
        .iter()
        .flatten()
        .filter_map(|c| c.state.as_ref()?.terminated.as_ref()?.finished_at.as_ref())
        .map(|t| t.0)
        .max();
    let unready = status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "Ready")
        .and_then(|c| c.last_transition_time.as_ref())
        .map(|t| t.0);
    // A finished pod with no times at all finished long ago as far as kiln can tell.
    Some(ended.or(unready).unwrap_or(Timestamp::UNIX_EPOCH))
}

/// Deletes every kiln build pod in the namespace that finished at least `grace` ago, with its
/// Secret; returns the pods deleted. One list request plus one delete per pod.
pub async fn collect_finished(
    client: kube::Client,
    namespace: &str,
    grace: Duration,
) -> Result<Vec<BuildPodRef>, KubeError> {
    let now = Timestamp::now().as_second();
    let grace = i64::try_from(grace.as_secs()).unwrap_or(i64::MAX);
    let why = "deleting a finished build pod nobody deleted";
    delete_picked(client, namespace, why, |pod, _| {
        finished_at(pod).is_some_and(|at| now.saturating_sub(at.as_second()) >= grace)
    })
    .await
}

/// Runs [`collect_finished`] now and every `every` after (until the returned task is
/// aborted, or the runtime ends); failures are logged and tried again next time.
pub fn collect_finished_every(
    client: kube::Client,
    namespace: String,
    every: Duration,
    grace: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every.max(Duration::from_secs(1)));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match collect_finished(client.clone(), &namespace, grace).await {
                Ok(pods) if !pods.is_empty() => {
                    info!(pods = pods.len(), "finished build pods deleted");
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "cannot collect finished build pods"),
            }
        }
    })
}
