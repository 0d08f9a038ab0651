//! How a pod template (see [`PodTemplate`]) becomes a base pod: its own fields merged over
//! its `yaml`.

use crate::config::template::PodTemplate;
use crate::pod::merge::merge_pods;
use k8s_openapi::api::core::v1::{LocalObjectReference, Pod, PodSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use std::collections::BTreeMap;

/// Template `t`'s own fields as a pod; `yaml_pod` is its parsed `yaml`, if any.
pub(crate) fn own_pod(t: &PodTemplate, yaml_pod: Option<Pod>) -> Pod {
    let fields = Pod {
        metadata: ObjectMeta {
            labels: non_empty_map(&t.pod_labels),
            annotations: non_empty_map(&t.annotations),
            namespace: t.namespace.clone(),
            ..ObjectMeta::default()
        },
        spec: Some(PodSpec {
            containers: t.containers.clone(),
            volumes: non_empty(&t.volumes),
            node_selector: non_empty_map(&t.node_selector),
            affinity: t.affinity.clone(),
            tolerations: non_empty(&t.tolerations),
            image_pull_secrets: non_empty(
                &t.image_pull_secrets
                    .iter()
                    .map(|name| LocalObjectReference { name: name.clone() })
                    .collect::<Vec<_>>(),
            ),
            service_account_name: t.service_account.clone(),
            ..PodSpec::default()
        }),
        status: None,
    };
    match yaml_pod {
        Some(mut base) => {
            merge_pods(&mut base, fields);
            base
        }
        None => fields,
    }
}

fn non_empty<T: Clone>(v: &[T]) -> Option<Vec<T>> {
    (!v.is_empty()).then(|| v.to_vec())
}

fn non_empty_map(m: &BTreeMap<String, String>) -> Option<BTreeMap<String, String>> {
    (!m.is_empty()).then(|| m.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_pod_puts_fields_over_the_yaml() {
        let t: PodTemplate = kiln_yaml::parse_typed(
            "name: m\nservice_account: builder\nimage_pull_secrets: [regcred]\ncontainers:\n- name: maven\n  image: maven:3\n",
        )
        .unwrap();
        let yaml_pod: Pod = kiln_yaml::parse_typed(
            "spec:\n  containers:\n  - name: maven\n    image: maven:2\n    tty: true\n",
        )
        .unwrap();
        let pod = own_pod(&t, Some(yaml_pod));
        let spec = pod.spec.unwrap();
        assert_eq!(spec.containers.len(), 1);
        assert_eq!(spec.containers[0].image.as_deref(), Some("maven:3"));
        assert_eq!(spec.containers[0].tty, Some(true));
        assert_eq!(spec.service_account_name.as_deref(), Some("builder"));
        assert_eq!(spec.image_pull_secrets.unwrap()[0].name, "regcred");
    }
}
