//! How long a build pod may run: `spec.activeDeadlineSeconds`, so that the kubelet stops a
//! pod whose controller died without deleting it. From the pipeline's `timeout` option when
//! the caller recorded it on the pod (plus the start deadline and a margin for `post` and
//! cleanup), else the configured default; a deadline the pod's own YAML sets is kept, and
//! warm pool pods (which serve many builds) get none.

use k8s_openapi::api::core::v1::Pod;
use std::time::Duration;

/// The annotation holding the build's `timeout` in seconds ([`set_build_timeout`]).
pub const ANNOTATION_BUILD_TIMEOUT: &str = "kiln.dev/build-timeout-seconds";

/// The label of warm pool pods (`pools::warm::LABEL_POOL`; `pod/` does not import `pools/`).
const LABEL_POOL: &str = "kiln.dev/pool";

/// Time for `post` steps and cleanup after a build's timeout fired.
const MARGIN: Duration = Duration::from_secs(300);

/// Records the build's `timeout` on `pod`, for its `activeDeadlineSeconds`.
pub fn set_build_timeout(pod: &mut Pod, timeout: Duration) {
    pod.metadata
        .annotations
        .get_or_insert_with(Default::default)
        .insert(
            ANNOTATION_BUILD_TIMEOUT.to_owned(),
            timeout.as_secs().max(1).to_string(),
        );
}

/// Sets `spec.activeDeadlineSeconds` unless the pod has one or is a pool pod: the recorded
/// build timeout plus `start_deadline` and a margin, else `default_seconds` (0: none).
pub(crate) fn apply_active_deadline(pod: &mut Pod, default_seconds: u64, start_deadline: Duration) {
    let pooled = pod
        .metadata
        .labels
        .as_ref()
        .is_some_and(|l| l.contains_key(LABEL_POOL));
    let timeout = pod
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(ANNOTATION_BUILD_TIMEOUT))
        .and_then(|v| v.parse::<u64>().ok());
    let Some(spec) = pod.spec.as_mut() else {
        return;
    };
    if pooled || spec.active_deadline_seconds.is_some() {
        return;
    }
    let seconds = match timeout {
        Some(t) => t + start_deadline.as_secs() + MARGIN.as_secs(),
        None => default_seconds,
    };
    if seconds > 0 {
        spec.active_deadline_seconds = Some(i64::try_from(seconds).unwrap_or(i64::MAX));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(extra: serde_json::Value) -> Pod {
        let mut value = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a"}]}});
        if let (Some(base), Some(extra)) = (value.as_object_mut(), extra.as_object()) {
            for (k, v) in extra {
                if let Some(existing) = base.get_mut(k).and_then(|e| e.as_object_mut())
                    && let Some(v) = v.as_object()
                {
                    existing.extend(v.clone());
                } else {
                    base.insert(k.clone(), v.clone());
                }
            }
        }
        serde_json::from_value(value).unwrap()
    }

    fn deadline(mut p: Pod) -> Option<i64> {
        apply_active_deadline(&mut p, 86400, Duration::from_secs(300));
        p.spec.unwrap().active_deadline_seconds
    }

    #[test]
    fn the_build_timeout_bounds_the_pod_else_the_default() {
        assert_eq!(deadline(pod(json!({}))), Some(86400));
        let mut timed = pod(json!({}));
        set_build_timeout(&mut timed, Duration::from_secs(3600));
        assert_eq!(deadline(timed), Some(3600 + 300 + 300));
        let mut none = pod(json!({}));
        apply_active_deadline(&mut none, 0, Duration::from_secs(300));
        assert_eq!(none.spec.unwrap().active_deadline_seconds, None);
    }

    #[test]
    fn the_pods_own_deadline_is_kept_and_pool_pods_get_none() {
        assert_eq!(
            deadline(pod(json!({"spec": {"activeDeadlineSeconds": 60}}))),
            Some(60)
        );
        assert_eq!(
            deadline(pod(
                json!({"metadata": {"labels": {"kiln.dev/pool": "tools"}}})
            )),
            None
        );
    }
}
