//! Pod validation with the apiserver's field paths and messages.

use std::collections::HashSet;

use serde_json::Value;

use crate::api_error::{ApiError, FieldCause};
use crate::quantity::parse_milli;

const DNS1123_SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const DNS1123_LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const QUANTITY_REGEX_MSG: &str =
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

/// Whether `s` is a DNS-1123 label (`[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at most 63 characters).
pub fn is_dns1123_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b.first() != Some(&b'-')
        && b.last() != Some(&b'-')
}

/// Whether `s` is a DNS-1123 subdomain (dot-separated labels, at most 253 characters).
pub fn is_dns1123_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_dns1123_label)
}

/// Checks the name of any object type whose names are DNS-1123 subdomains.
pub fn validate_name(kind: &str, object: &Value) -> Result<(), ApiError> {
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    if !name.is_empty() && !is_dns1123_subdomain(name) {
        let cause = FieldCause::invalid("metadata.name", name, DNS1123_SUBDOMAIN_MSG);
        return Err(ApiError::invalid(kind, name, &[cause]));
    }
    Ok(())
}

/// Validates a pod as the apiserver does on create. Unparseable quantities fail decoding with
/// `400 BadRequest` (as for the real server); everything else collects `422 Invalid` causes.
pub fn validate_pod(pod: &Value) -> Result<(), ApiError> {
    let name = pod
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    check_quantities_decode(pod)?;
    let mut causes = Vec::new();
    if !name.is_empty() && !is_dns1123_subdomain(name) {
        causes.push(FieldCause::invalid(
            "metadata.name",
            name,
            DNS1123_SUBDOMAIN_MSG,
        ));
    }
    let volumes = validate_volumes(pod, &mut causes);
    let containers = pod.pointer("/spec/containers").and_then(Value::as_array);
    if containers.is_none_or(Vec::is_empty) {
        causes.push(FieldCause::required("spec.containers"));
    }
    let mut names = HashSet::new();
    for (list, field) in [
        ("initContainers", "spec.initContainers"),
        ("containers", "spec.containers"),
    ] {
        let items = pod
            .pointer(&format!("/spec/{list}"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for (i, c) in items.iter().enumerate() {
            validate_container(
                c,
                &format!("{field}[{i}]"),
                &volumes,
                &mut names,
                &mut causes,
            );
        }
    }
    if let Some(policy) = pod.pointer("/spec/restartPolicy").and_then(Value::as_str) {
        let allowed = ["Always", "OnFailure", "Never"];
        if !allowed.contains(&policy) {
            causes.push(FieldCause::not_supported(
                "spec.restartPolicy",
                policy,
                &allowed,
            ));
        }
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid("Pod", name, &causes))
    }
}

fn validate_volumes(pod: &Value, causes: &mut Vec<FieldCause>) -> HashSet<String> {
    let mut seen = HashSet::new();
    let volumes = pod
        .pointer("/spec/volumes")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for (i, v) in volumes.iter().enumerate() {
        let field = format!("spec.volumes[{i}].name");
        let vname = v.get("name").and_then(Value::as_str).unwrap_or("");
        if vname.is_empty() {
            causes.push(FieldCause::required(field));
        } else if !is_dns1123_label(vname) {
            causes.push(FieldCause::invalid(field, vname, DNS1123_LABEL_MSG));
        } else if !seen.insert(vname.to_owned()) {
            causes.push(FieldCause::duplicate(field, vname));
        }
    }
    seen
}

fn validate_container(
    c: &Value,
    path: &str,
    volumes: &HashSet<String>,
    names: &mut HashSet<String>,
    causes: &mut Vec<FieldCause>,
) {
    let cname = c.get("name").and_then(Value::as_str).unwrap_or("");
    if cname.is_empty() {
        causes.push(FieldCause::required(format!("{path}.name")));
    } else if !is_dns1123_label(cname) {
        causes.push(FieldCause::invalid(
            format!("{path}.name"),
            cname,
            DNS1123_LABEL_MSG,
        ));
    } else if !names.insert(cname.to_owned()) {
        causes.push(FieldCause::duplicate(format!("{path}.name"), cname));
    }
    if c.get("image")
        .and_then(Value::as_str)
        .unwrap_or("")
        .trim()
        .is_empty()
    {
        causes.push(FieldCause::required(format!("{path}.image")));
    }
    let mounts = c
        .get("volumeMounts")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut mount_paths = HashSet::new();
    for (j, m) in mounts.iter().enumerate() {
        let mpath = format!("{path}.volumeMounts[{j}]");
        let vname = m.get("name").and_then(Value::as_str).unwrap_or("");
        if vname.is_empty() {
            causes.push(FieldCause::required(format!("{mpath}.name")));
        } else if !volumes.contains(vname) {
            causes.push(FieldCause::not_found(format!("{mpath}.name"), vname));
        }
        let mount_path = m.get("mountPath").and_then(Value::as_str).unwrap_or("");
        if mount_path.is_empty() {
            causes.push(FieldCause::required(format!("{mpath}.mountPath")));
        } else if !mount_paths.insert(mount_path.to_owned()) {
            causes.push(FieldCause::invalid(
                format!("{mpath}.mountPath"),
                mount_path,
                "must be unique",
            ));
        }
    }
    validate_resources(c, path, causes);
}

fn validate_resources(c: &Value, path: &str, causes: &mut Vec<FieldCause>) {
    for kind in ["requests", "limits"] {
        let Some(map) = c
            .pointer(&format!("/resources/{kind}"))
            .and_then(Value::as_object)
        else {
            continue;
        };
        for (res, q) in map {
            let text = quantity_text(q);
            if parse_milli(&text).is_some_and(|v| v < 0) {
                causes.push(FieldCause::invalid(
                    format!("{path}.resources.{kind}[{res}]"),
                    &text,
                    "must be greater than or equal to 0",
                ));
            }
        }
    }
    let requests = c.pointer("/resources/requests").and_then(Value::as_object);
    let limits = c.pointer("/resources/limits").and_then(Value::as_object);
    if let (Some(requests), Some(limits)) = (requests, limits) {
        for (res, req) in requests {
            let Some(limit) = limits.get(res) else {
                continue;
            };
            let (rt, lt) = (quantity_text(req), quantity_text(limit));
            if let (Some(r), Some(l)) = (parse_milli(&rt), parse_milli(&lt))
                && r > l
            {
                causes.push(FieldCause::invalid(
                    format!("{path}.resources.requests"),
                    &rt,
                    &format!("must be less than or equal to {res} limit of {lt}"),
                ));
            }
        }
    }
}

/// A quantity as written: a JSON string or number.
pub fn quantity_text(q: &Value) -> String {
    match q {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn check_quantities_decode(pod: &Value) -> Result<(), ApiError> {
    for list in ["initContainers", "containers"] {
        let items = pod
            .pointer(&format!("/spec/{list}"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for c in &items {
            for kind in ["requests", "limits"] {
                let Some(map) = c
                    .pointer(&format!("/resources/{kind}"))
                    .and_then(Value::as_object)
                else {
                    continue;
                };
                if map
                    .values()
                    .any(|q| parse_milli(&quantity_text(q)).is_none())
                {
                    return Err(ApiError::bad_request(format!(
                        "Pod in version \"v1\" cannot be handled as a Pod: {QUANTITY_REGEX_MSG}"
                    )));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::validate_pod;
    use serde_json::json;

    fn check(pod: serde_json::Value, expected: &str) {
        let got = match validate_pod(&pod) {
            Ok(()) => "ok".to_owned(),
            Err(e) => format!("{} {}", e.code, e.message),
        };
        assert_eq!(got, expected);
    }

    #[test]
    fn pods() {
        check(
            json!({"metadata": {"name": "ok"}, "spec": {"containers": [{"name": "a", "image": "x"}]}}),
            "ok",
        );
        check(
            json!({"metadata": {"name": "Bad_Name"}, "spec": {"containers": [{"name": "a", "image": "x"}]}}),
            "422 Pod \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
        );
        check(
            json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a", "image": "x"}, {"name": "a"}]}}),
            "422 Pod \"p\" is invalid: [spec.containers[1].name: Duplicate value: \"a\", spec.containers[1].image: Required value]",
        );
        check(
            json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a", "image": "x", "volumeMounts": [{"name": "v", "mountPath": "/v"}]}]}}),
            "422 Pod \"p\" is invalid: spec.containers[0].volumeMounts[0].name: Not found: \"v\"",
        );
        check(
            json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a", "image": "x", "resources": {"requests": {"cpu": "lots"}}}]}}),
            "400 Pod in version \"v1\" cannot be handled as a Pod: quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
        );
        check(
            json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a", "image": "x", "resources": {"requests": {"cpu": "2"}, "limits": {"cpu": "1"}}}]}}),
            "422 Pod \"p\" is invalid: spec.containers[0].resources.requests: Invalid value: \"2\": must be less than or equal to cpu limit of 1",
        );
    }
}
