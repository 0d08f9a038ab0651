//! The defaults the apiserver fills into a new pod, and the rule that a pod's spec is
//! immutable apart from container images.

use serde_json::{Value, json};

use crate::api_error::{ApiError, FieldCause};
use crate::quantity::parse_milli;
use crate::validation::quantity_text;

/// Fills defaulted fields the way the apiserver does on create.
pub fn default_pod(pod: &mut Value) {
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    for (key, value) in [
        ("restartPolicy", json!("Always")),
        ("terminationGracePeriodSeconds", json!(30)),
        ("dnsPolicy", json!("ClusterFirst")),
        ("schedulerName", json!("default-scheduler")),
        ("securityContext", json!({})),
        ("enableServiceLinks", json!(true)),
        ("priority", json!(0)),
        ("preemptionPolicy", json!("PreemptLowerPriority")),
        ("serviceAccountName", json!("default")),
        ("serviceAccount", json!("default")),
    ] {
        spec.entry(key.to_owned()).or_insert(value);
    }
    for list in ["initContainers", "containers"] {
        if let Some(containers) = spec.get_mut(list).and_then(Value::as_array_mut) {
            containers.iter_mut().for_each(default_container);
        }
    }
    let qos = qos_class(&Value::Object(spec.clone()));
    let status = json!({"phase": "Pending", "qosClass": qos});
    if let Some(obj) = pod.as_object_mut() {
        obj.insert("status".to_owned(), status);
    }
}

fn default_container(c: &mut Value) {
    let Some(obj) = c.as_object_mut() else { return };
    let image = obj.get("image").and_then(Value::as_str).unwrap_or("");
    let tagged = image
        .rsplit('/')
        .next()
        .is_some_and(|last| last.contains(':') || last.contains('@'));
    let pull = if !tagged || image.ends_with(":latest") {
        "Always"
    } else {
        "IfNotPresent"
    };
    obj.entry("imagePullPolicy").or_insert(json!(pull));
    obj.entry("terminationMessagePath")
        .or_insert(json!("/dev/termination-log"));
    obj.entry("terminationMessagePolicy")
        .or_insert(json!("File"));
    let resources = obj.entry("resources").or_insert(json!({}));
    // Limits without requests default the requests to the limits.
    if let Some(limits) = resources
        .get("limits")
        .cloned()
        .and_then(|l| l.as_object().cloned())
    {
        if let Some(res) = resources.as_object_mut() {
            let requests = res.entry("requests").or_insert(json!({}));
            if let Some(req) = requests.as_object_mut() {
                for (k, v) in limits {
                    req.entry(k).or_insert(v);
                }
            }
        }
    }
}

fn qos_class(spec: &Value) -> &'static str {
    let containers: Vec<&Value> = ["initContainers", "containers"]
        .iter()
        .filter_map(|l| spec.get(*l).and_then(Value::as_array))
        .flatten()
        .collect();
    let has_any = containers.iter().any(|c| {
        ["requests", "limits"].iter().any(|k| {
            c.pointer(&format!("/resources/{k}"))
                .and_then(Value::as_object)
                .is_some_and(|m| !m.is_empty())
        })
    });
    if !has_any {
        return "BestEffort";
    }
    let guaranteed = containers.iter().all(|c| {
        ["cpu", "memory"].iter().all(|r| {
            let req = c
                .pointer(&format!("/resources/requests/{r}"))
                .map(quantity_text);
            let lim = c
                .pointer(&format!("/resources/limits/{r}"))
                .map(quantity_text);
            matches!((req, lim), (Some(a), Some(b)) if parse_milli(&a) == parse_milli(&b))
        })
    });
    if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

/// Rejects spec changes beyond what the apiserver allows on an existing pod.
pub fn check_pod_update(old: &Value, new: &Value) -> Result<(), ApiError> {
    let strip = |pod: &Value| {
        let mut spec = pod.get("spec").cloned().unwrap_or(Value::Null);
        for list in ["initContainers", "containers"] {
            if let Some(cs) = spec.get_mut(list).and_then(Value::as_array_mut) {
                for c in cs.iter_mut().filter_map(Value::as_object_mut) {
                    c.remove("image");
                }
            }
        }
        if let Some(obj) = spec.as_object_mut() {
            obj.remove("activeDeadlineSeconds");
            obj.remove("tolerations");
            // Set by binding, not by the user.
            obj.remove("nodeName");
        }
        spec
    };
    if strip(old) == strip(new) {
        return Ok(());
    }
    let name = new
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let cause = FieldCause::forbidden(
        "spec",
        "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
    );
    Err(ApiError::invalid("Pod", name, &[cause]))
}
