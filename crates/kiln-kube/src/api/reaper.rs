//! Orphan reaping: at controller start, build pods (and their agent Secrets) whose build is
//! gone are deleted. Which builds are alive is the caller's knowledge (its store), given as a
//! predicate over the pods' job and build labels.

use crate::api::lifecycle::delete;
use crate::error::KubeError;
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::Api;
use kube::api::ListParams;
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
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let secrets: Api<Secret> = Api::namespaced(client, namespace);
    let params = ListParams::default().labels(&format!("{JOB_LABEL},{BUILD_LABEL}"));
    let list = pods.list(&params).await.map_err(|source| KubeError::Api {
        action: format!("list build pods in namespace {namespace}"),
        source,
    })?;
    let mut reaped = Vec::new();
    for pod in list.items {
        let labels = pod.metadata.labels.clone().unwrap_or_default();
        let found = BuildPodRef {
            name: pod.metadata.name.clone().unwrap_or_default(),
            job: labels.get(JOB_LABEL).cloned().unwrap_or_default(),
            build: labels.get(BUILD_LABEL).cloned().unwrap_or_default(),
        };
        if found.name.is_empty() || alive(&found) {
            continue;
        }
        info!(pod = %found.name, job = %found.job, build = %found.build, "deleting orphaned build pod");
        delete(&pods, &secrets, &found.name, &secret_name(&found.name), 0).await?;
        reaped.push(found);
    }
    Ok(reaped)
}
