//! The sum-of-requests problem: Kubernetes reserves the sum of every container's requests for
//! a pod, but a build runs its steps in one container at a time. With the `max` policy kiln
//! reserves the largest request instead: the default container gets, per resource, the
//! largest effective request of any step container, and every other step container a small
//! floor. Limits stay as written, so each container may still use what it asked for while
//! its step runs (it is then above its request: Burstable, first in line under node memory
//! pressure; use the `sum` policy for templates whose containers work at the same time).

use k8s_openapi::api::core::v1::{PodSpec, ResourceRequirements};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use std::collections::BTreeMap;

/// The resources the policy rewrites, with the floor idle containers keep.
const RESOURCES: &[(&str, &str)] = &[("cpu", "10m"), ("memory", "16Mi")];

/// Rewrites step containers' CPU and memory requests so that they add up to the largest one.
/// `services` run beside the steps all the time: their requests stay as written.
pub(crate) fn apply_requests_policy(spec: &mut PodSpec, default: &str, services: &[String]) {
    let is_step = |c: &&mut k8s_openapi::api::core::v1::Container| !services.contains(&c.name);
    if spec
        .containers
        .iter()
        .filter(|c| !services.contains(&c.name))
        .count()
        < 2
    {
        return;
    }
    for (resource, floor) in RESOURCES {
        let largest = spec
            .containers
            .iter()
            .filter(|c| !services.contains(&c.name))
            .filter_map(|c| effective_request(c.resources.as_ref(), resource))
            .filter_map(|q| Some((parse_quantity(&q.0)?, q)))
            .max_by(|a, b| a.0.total_cmp(&b.0));
        let Some((_, largest)) = largest else {
            continue;
        };
        for c in spec.containers.iter_mut().filter(is_step) {
            let resources = c
                .resources
                .get_or_insert_with(ResourceRequirements::default);
            let value = if c.name == default {
                largest.clone()
            } else {
                let limit = resources
                    .limits
                    .as_ref()
                    .and_then(|l| l.get(*resource))
                    .cloned();
                let floor = Quantity((*floor).to_string());
                match limit {
                    Some(l) if parse_quantity(&l.0) < parse_quantity(&floor.0) => l,
                    _ => floor,
                }
            };
            resources
                .requests
                .get_or_insert_with(BTreeMap::new)
                .insert((*resource).to_string(), value);
        }
    }
}

/// A container's request for `resource`; Kubernetes takes the limit when only that is set.
fn effective_request(r: Option<&ResourceRequirements>, resource: &str) -> Option<Quantity> {
    let r = r?;
    r.requests
        .as_ref()
        .and_then(|m| m.get(resource))
        .or_else(|| r.limits.as_ref().and_then(|m| m.get(resource)))
        .cloned()
}

/// A Kubernetes quantity (`500m`, `2`, `1.5Gi`, `128M`, `1e3`) as a number of base units.
pub(crate) fn parse_quantity(q: &str) -> Option<f64> {
    let q = q.trim();
    let split = q
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | '+' | '-')))
        .unwrap_or(q.len());
    let (number, suffix) = q.split_at(split);
    let n: f64 = number.parse().ok()?;
    let factor = match suffix {
        "" => 1.0,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024.0 * 1024.0,
        "Gi" => 1024.0 * 1024.0 * 1024.0,
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        e if e.starts_with(['e', 'E']) => 10f64.powi(e[1..].parse().ok()?),
        _ => return None,
    };
    Some(n * factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn requests(spec: &PodSpec) -> Vec<(String, String, String)> {
        spec.containers
            .iter()
            .map(|c| {
                let r = c
                    .resources
                    .as_ref()
                    .and_then(|r| r.requests.as_ref())
                    .unwrap();
                (c.name.clone(), r["cpu"].0.clone(), r["memory"].0.clone())
            })
            .collect()
    }

    #[test]
    fn the_default_container_gets_the_largest_request_and_the_others_a_floor() {
        let pod: k8s_openapi::api::core::v1::Pod = kiln_yaml::parse_typed(
            "spec:\n  containers:\n  - {name: maven, image: m, resources: {requests: {cpu: '1', memory: 2Gi}}}\n  - {name: node, image: n, resources: {limits: {cpu: '2', memory: 1Gi}}}\n  - {name: tiny, image: t, resources: {limits: {cpu: 5m}}}\n",
        )
        .unwrap();
        let mut spec = pod.spec.unwrap();
        apply_requests_policy(&mut spec, "maven", &[]);
        assert_eq!(
            requests(&spec),
            [
                ("maven".into(), "2".into(), "2Gi".into()),
                ("node".into(), "10m".into(), "16Mi".into()),
                ("tiny".into(), "5m".into(), "16Mi".into()),
            ]
        );
        let node_limits = spec.containers[1]
            .resources
            .as_ref()
            .unwrap()
            .limits
            .as_ref()
            .unwrap();
        assert_eq!(node_limits["cpu"].0, "2", "limits are kept");
    }

    #[test]
    fn quantities_parse() {
        for (q, v) in [
            ("500m", 0.5),
            ("2", 2.0),
            ("1.5Gi", 1.5 * 1024.0 * 1024.0 * 1024.0),
            ("128M", 128e6),
            ("1e3", 1000.0),
        ] {
            assert_eq!(parse_quantity(q), Some(v), "{q}");
        }
        assert_eq!(parse_quantity("lots"), None);
    }
}
