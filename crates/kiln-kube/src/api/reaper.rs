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

/// The label holding the epoch the build was driven at when a pod was made for it (set
/// when several controllers share a database, see [`crate::KubeBackend`]'s fencing).
pub const EPOCH_LABEL: &str = "kiln.dev/epoch";

/// The pods of one build a new driver of it does not take over.
pub(crate) struct Unrecorded<'a> {
    /// The job's name as written, and the build's number.
    pub job: &'a str,
    pub build: u64,
    /// The pods the build recorded (they are taken over, not deleted).
    pub keep: &'a [String],
    /// The epoch the build is driven at now, if it has one: a pod labelled with this epoch or
    /// a later one was made by a live driver and is never deleted.
    pub epoch: Option<u64>,
}

impl Unrecorded<'_> {
    /// Whether an object of the build with `labels`, named `name`, is to be deleted.
    fn discards(&self, name: &str, labels: &std::collections::BTreeMap<String, String>) -> bool {
        if self.keep.iter().any(|k| k == name) {
            return false;
        }
        let made_at = labels.get(EPOCH_LABEL).and_then(|e| e.parse::<u64>().ok());
        match (made_at, self.epoch) {
            (Some(made_at), Some(now)) => made_at < now,
            _ => true,
        }
    }
}

/// Deletes the pods (with their Secrets), and Secrets without a pod, of build `which.build`
/// of `which.job` in `namespace` that the build did not record: a driver that stopped after
/// making them and before recording them left them (no step ran in them). Found by the
/// build's labels (pod names carry a random suffix); a pod of another job whose name makes
/// the same label value is told apart by its job annotation. Returns the pods deleted.
pub(crate) async fn discard_unrecorded(
    client: kube::Client,
    namespace: &str,
    which: &Unrecorded<'_>,
) -> Result<Vec<String>, KubeError> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let secrets: Api<Secret> = Api::namespaced(client, namespace);
    let selector = format!(
        "{JOB_LABEL}={},{BUILD_LABEL}={}",
        crate::pod::build::label_value(which.job),
        which.build
    );
    let params = ListParams::default().labels(&selector);
    let list_error = |what: &str| {
        let action = format!("list the {what} of build {}#{}", which.job, which.build);
        move |source| KubeError::Api { action, source }
    };
    let found = pods.list(&params).await.map_err(list_error("pods"))?;
    let mut names = Vec::new();
    let mut deleted = Vec::new();
    for pod in found.items {
        let name = pod.metadata.name.clone().unwrap_or_default();
        let job = (pod.metadata.annotations.as_ref())
            .and_then(|a| a.get(crate::pod::build::ANNOTATION_JOB));
        if name.is_empty() || job.is_some_and(|j| j != which.job) {
            continue;
        }
        names.push(name.clone());
        let labels = pod.metadata.labels.clone().unwrap_or_default();
        if pod.metadata.deletion_timestamp.is_some() || !which.discards(&name, &labels) {
            continue;
        }
        info!(pod = %name, build = %format!("{}#{}", which.job, which.build), "deleting a pod made for the build before it was recorded");
        delete(&pods, &secrets, &name, Some(&secret_name(&name)), 0).await?;
        deleted.push(name);
    }
    // A Secret whose pod was never created (its maker stopped in between).
    let prefix = format!(
        "kiln-{}-{}-",
        crate::pod::build::pod_name_part(which.job),
        which.build
    );
    let found = secrets.list(&params).await.map_err(list_error("secrets"))?;
    for secret in found.items {
        let name = secret.metadata.name.clone().unwrap_or_default();
        let pod = name.strip_suffix("-agent").unwrap_or_default();
        let labels = secret.metadata.labels.clone().unwrap_or_default();
        if pod.is_empty()
            || !pod.starts_with(&prefix)
            || names.iter().any(|n| n == pod)
            || !which.discards(pod, &labels)
        {
            continue;
        }
        info!(secret = %name, "deleting an agent secret made for the build before its pod");
        // The pod was never created: its delete finds nothing, which is fine.
        delete(&pods, &secrets, pod, Some(&name), 0).await?;
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::{EPOCH_LABEL, Unrecorded};
    use std::collections::BTreeMap;

    /// Whether a pod `name` made at `made_at` (its epoch label) is deleted by a driver at
    /// `now` that keeps the recorded pod `kept`.
    fn check(name: &str, made_at: Option<&str>, now: Option<u64>, deleted: bool) {
        let keep = ["kept".to_owned()];
        let which = Unrecorded {
            job: "j",
            build: 1,
            keep: &keep,
            epoch: now,
        };
        let labels: BTreeMap<String, String> = made_at
            .map(|e| (EPOCH_LABEL.to_owned(), e.to_owned()))
            .into_iter()
            .collect();
        assert_eq!(
            which.discards(name, &labels),
            deleted,
            "{name} {made_at:?} {now:?}"
        );
    }

    #[test]
    fn a_pod_a_live_driver_made_or_the_build_recorded_is_never_deleted() {
        check("kept", Some("1"), Some(2), false);
        check("kept", None, None, false);
        check("made", Some("2"), Some(2), false);
        check("made", Some("3"), Some(2), false);
        check("made", Some("1"), Some(2), true);
        // One controller (no epochs), or a pod made before epochs were labelled.
        check("made", None, None, true);
        check("made", None, Some(2), true);
        check("made", Some("1"), None, true);
        check("made", Some("x"), Some(2), true);
    }
}
