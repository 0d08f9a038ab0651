//! Merging pods the way Jenkins users expect from the Kubernetes plugin's `merge()` strategy:
//! containers, init containers, volumes, env, ports and image pull secrets merged by name,
//! node selectors and labels merged key by key, tolerations appended, scalars overridden.
//!
//! k8s-openapi's `DeepMerge` implements the Kubernetes strategic-merge rules for every field;
//! kiln follows them except where Jenkins differs: `nodeSelector` (atomic in Kubernetes,
//! merged by key in Jenkins) and `tolerations` (atomic in Kubernetes, appended in Jenkins).

use k8s_openapi::DeepMerge;
use k8s_openapi::api::core::v1::{Pod, PodSpec};
use std::collections::BTreeMap;

/// Merges `overlay` over `base`.
pub(crate) fn merge_pods(base: &mut Pod, overlay: Pod) {
    let kept = base.spec.as_ref().map(Appended::take);
    let added = overlay.spec.as_ref().map(Appended::take);
    base.merge_from(overlay);
    if let Some(spec) = base.spec.as_mut() {
        let mut all = kept.unwrap_or_default();
        all.extend(added.unwrap_or_default());
        all.apply(spec);
    }
}

/// Replaces `base` with `overlay` except for metadata labels and annotations, which are merged
/// (the Jenkins `override()` strategy: the pipeline's pod wins whole).
pub(crate) fn override_pod(base: &mut Pod, overlay: Pod) {
    let mut metadata = std::mem::take(&mut base.metadata);
    metadata.merge_from(overlay.metadata);
    *base = Pod {
        metadata,
        spec: overlay.spec,
        status: None,
    };
}

/// The list and map fields Jenkins combines where Kubernetes replaces.
#[derive(Default)]
struct Appended {
    node_selector: BTreeMap<String, String>,
    tolerations: Vec<k8s_openapi::api::core::v1::Toleration>,
}

impl Appended {
    fn take(spec: &PodSpec) -> Appended {
        Appended {
            node_selector: spec.node_selector.clone().unwrap_or_default(),
            tolerations: spec.tolerations.clone().unwrap_or_default(),
        }
    }

    fn extend(&mut self, other: Appended) {
        self.node_selector.extend(other.node_selector);
        for t in other.tolerations {
            if !self.tolerations.contains(&t) {
                self.tolerations.push(t);
            }
        }
    }

    fn apply(self, spec: &mut PodSpec) {
        spec.node_selector = (!self.node_selector.is_empty()).then_some(self.node_selector);
        spec.tolerations = (!self.tolerations.is_empty()).then_some(self.tolerations);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(yaml: &str) -> Pod {
        kiln_yaml::parse_typed(yaml).unwrap()
    }

    fn check(base: &str, overlay: &str, expected: &str) {
        let mut merged = pod(base);
        merge_pods(&mut merged, pod(overlay));
        assert_eq!(
            serde_json::to_value(&merged).unwrap(),
            serde_json::to_value(pod(expected)).unwrap()
        );
    }

    #[test]
    fn containers_merge_by_name_and_new_ones_are_appended() {
        check(
            "spec: {containers: [{name: maven, image: 'maven:3', env: [{name: A, value: '1'}]}]}",
            "spec: {containers: [{name: maven, env: [{name: B, value: '2'}]}, {name: node, image: 'node:20'}]}",
            "spec: {containers: [{name: maven, image: 'maven:3', env: [{name: A, value: '1'}, {name: B, value: '2'}]}, {name: node, image: 'node:20'}]}",
        );
    }

    #[test]
    fn scalars_are_overridden_and_commands_replaced_whole() {
        check(
            "spec: {serviceAccountName: a, containers: [{name: c, image: x, command: [sleep, '1']}]}",
            "spec: {serviceAccountName: b, containers: [{name: c, command: [cat]}]}",
            "spec: {serviceAccountName: b, containers: [{name: c, image: x, command: [cat]}]}",
        );
    }

    #[test]
    fn node_selectors_merge_by_key_and_tolerations_append() {
        check(
            "spec: {containers: [], nodeSelector: {a: '1', b: '1'}, tolerations: [{key: x, operator: Exists}]}",
            "spec: {containers: [], nodeSelector: {b: '2'}, tolerations: [{key: x, operator: Exists}, {key: y, operator: Exists}]}",
            "spec: {containers: [], nodeSelector: {a: '1', b: '2'}, tolerations: [{key: x, operator: Exists}, {key: y, operator: Exists}]}",
        );
    }

    #[test]
    fn volumes_and_labels_merge() {
        check(
            "metadata: {labels: {a: '1'}}\nspec: {containers: [], volumes: [{name: m2, emptyDir: {}}]}",
            "metadata: {labels: {b: '2'}}\nspec: {containers: [], volumes: [{name: npm, emptyDir: {}}]}",
            "metadata: {labels: {a: '1', b: '2'}}\nspec: {containers: [], volumes: [{name: m2, emptyDir: {}}, {name: npm, emptyDir: {}}]}",
        );
    }

    #[test]
    fn override_keeps_only_the_overlay_spec() {
        let mut base =
            pod("metadata: {labels: {a: '1'}}\nspec: {containers: [{name: a, image: x}]}");
        override_pod(
            &mut base,
            pod("metadata: {labels: {b: '2'}}\nspec: {containers: [{name: b, image: y}]}"),
        );
        let names: Vec<_> = base
            .spec
            .unwrap()
            .containers
            .into_iter()
            .map(|c| c.name)
            .collect();
        assert_eq!(names, ["b"]);
        assert_eq!(base.metadata.labels.unwrap().len(), 2);
    }
}
