//! Scripted pods: `podTemplate(containers: [containerTemplate(...)], yaml: '''...''') {
//! node(POD_LABEL) { container('x') { sh '...' } } }`. `podTemplate` describes the pod as a
//! `kubernetes { }` agent (its settings already evaluated by the script) and makes it known
//! under its label (`POD_LABEL` in its block); `node(label)` with that label asks the build's
//! [`crate::AgentProvider`] for it, runs its block on the pod and releases it after. Another
//! label is asked for as `agent { label '...' }` (the server's pod templates carry labels).
//! Without a provider (or when it declines) the blocks run where the script runs, with a
//! notice.

use super::script::ScriptHost;
use crate::error::StepError;
use crate::scope::Scope;
use crate::shared::Locked;
use crate::stage_agent::{AgentSlot, occupy, provide};
use crate::{AgentRequest, BuildResult, Provision};
use kiln_diagnostics::{Span, Spanned};
use kiln_script::Value;
use kiln_types::{AgentSpec, AgentSpecKind, AgentValue, ContainerTemplate, KubernetesSpec};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The pods `podTemplate` blocks describe, by label, while their blocks run.
#[derive(Default)]
pub(crate) struct PodTemplates(Locked<BTreeMap<String, AgentSpec>>);

/// `podTemplate(...) { }`: the block runs with `POD_LABEL` naming the pod.
pub(crate) fn pod_template(
    host: &mut ScriptHost<'_>,
    call: &kiln_script::StepCall<'_>,
    scope: &Scope,
) -> Result<Value, StepError> {
    let build = Arc::clone(&host.build);
    if build.spec.agents.is_none() {
        build.notice_once(format!(
            "podTemplate is ignored by the {} executor: its block runs on this machine",
            scope.site.executor.describe()
        ));
        let inner = scope.with_env([("POD_LABEL".to_owned(), "kiln-pod".to_owned())]);
        return host.closure(call, call.body, &inner);
    }
    let label = match call.named.get("label") {
        Some(l) => l.to_string(),
        None => format!("kiln-pod-{}-{}", build.spec.number, build.next_id()),
    };
    let pod = describe(&build, call)?;
    build.pod_templates.0.lock().insert(label.clone(), pod);
    let inner = scope.with_env([("POD_LABEL".to_owned(), label.clone())]);
    let result = host.closure(call, call.body, &inner);
    build.pod_templates.0.lock().remove(&label);
    result
}

/// `node(label) { }`: on the pod a `podTemplate` around it describes under `label`, or on
/// what the provider gives for `agent { label '...' }` (a pod template carrying the label);
/// else where the script runs (with a notice for a label).
pub(crate) fn node(
    host: &mut ScriptHost<'_>,
    call: &kiln_script::StepCall<'_>,
    scope: &Scope,
) -> Result<Value, StepError> {
    let build = Arc::clone(&host.build);
    let label = call
        .arg("label")
        .filter(|l| l.is_truthy())
        .map(|l| l.to_string());
    let provided = match (&label, build.spec.agents.clone()) {
        (Some(label), Some(provider)) => {
            let pod = build.pod_templates.0.lock().get(label).cloned();
            let pod = pod.unwrap_or_else(|| labelled(label, call));
            let (log, lines) = tokio::sync::mpsc::unbounded_channel();
            let request = AgentRequest {
                agent: pod,
                stage: scope.node.map(|n| build.stage_path(n)).unwrap_or_default(),
                job: build.spec.job_name.clone(),
                build: build.spec.number,
                checkout: true,
                nested: scope.site.provided,
                log,
            };
            host.handle
                .block_on(provide(&build, provider, request, lines, scope))?
        }
        _ => Provision::NotServed,
    };
    let provided = match provided {
        Provision::Agent(provided) => provided,
        Provision::Finished(result, env) => {
            build.restore_env(&env);
            return finished_before(&build, result);
        }
        Provision::NotServed => {
            if let Some(label) = &label {
                build.notice_once(format!(
                    "node('{label}'): the {} executor runs the block on this machine",
                    scope.site.executor.describe()
                ));
            }
            return host.closure(call, call.body, scope);
        }
    };
    let slot = AgentSlot::default();
    let mut inner = scope.clone();
    occupy(&build, &mut inner, &slot, provided);
    if let Err(e) = host
        .handle
        .block_on(crate::steps::rebind_file_credentials(&build, &mut inner))
    {
        host.handle.block_on(slot.release(&build, e.result()));
        return Err(e);
    }
    let result = host.closure(call, call.body, &inner);
    let outcome = match &result {
        Ok(_) => BuildResult::Success,
        Err(e) => e.result(),
    };
    host.handle.block_on(slot.release(&build, outcome));
    result
}

/// A `node` block that had ended before a controller restart is not run again: it ends as
/// it did then (its value is not known any more).
fn finished_before(build: &crate::build::Build, result: BuildResult) -> Result<Value, StepError> {
    let why = format!("the node block had ended {result} before the controller restarted");
    match result {
        BuildResult::Failure => Err(StepError::failed(why)),
        BuildResult::Aborted => Err(StepError::aborted(why)),
        other => {
            build.worsen(other);
            Ok(Value::Null)
        }
    }
}

/// `agent { label '...' }` for `node(label)`.
fn labelled(label: &str, call: &kiln_script::StepCall<'_>) -> AgentSpec {
    AgentSpec {
        kind: AgentSpecKind::Label(AgentValue::evaluated(label, call.span)),
        span: call.span,
    }
}

/// The `kubernetes { }` agent a `podTemplate` call describes, each setting the script's
/// value (placed at the call).
fn describe(
    build: &crate::build::Build,
    call: &kiln_script::StepCall<'_>,
) -> Result<AgentSpec, StepError> {
    let mut k = KubernetesSpec::default();
    for (name, value) in &call.named {
        let slot = match name.as_str() {
            "yaml" => &mut k.yaml,
            "inheritFrom" => &mut k.inherit_from,
            "namespace" => &mut k.namespace,
            "serviceAccount" => &mut k.service_account,
            "nodeSelector" => &mut k.node_selector,
            "activeDeadlineSeconds" => &mut k.active_deadline_seconds,
            "supplementalGroups" => &mut k.supplemental_groups,
            "slaveConnectTimeout" => &mut k.slave_connect_timeout,
            "containers" => {
                k.container_templates = templates(value, call.span)?;
                continue;
            }
            "label" | "name" => continue,
            other => {
                build.notice_once(format!(
                    "podTemplate: `{other}` is not supported by kiln and has no effect"
                ));
                continue;
            }
        };
        *slot = Some(AgentValue::evaluated(value.to_string(), call.span));
    }
    Ok(AgentSpec {
        kind: AgentSpecKind::Kubernetes(Box::new(k)),
        span: call.span,
    })
}

/// `containers: [containerTemplate(name: ..., image: ..., envVars: [envVar(...)])]`.
fn templates(value: &Value, span: Span) -> Result<Vec<ContainerTemplate>, StepError> {
    let Value::List(items) = value else {
        return Err(StepError::failed(
            "podTemplate: `containers` must be a list of containerTemplate(...)",
        ));
    };
    items
        .iter()
        .map(|item| {
            let mut template = ContainerTemplate {
                span,
                ..ContainerTemplate::default()
            };
            for (key, value) in descriptor("containerTemplate", item)? {
                match (key.as_str(), value) {
                    ("envVars", Value::List(vars)) => template.env = env_vars(vars)?,
                    ("envVars", _) => {}
                    (_, v) => {
                        let v = Spanned::new(v.to_string(), span);
                        template.args.insert(key.clone(), v);
                    }
                }
            }
            Ok(template)
        })
        .collect()
}

/// `[envVar(key: 'A', value: 'b'), ...]` as pairs (an entry without both is left out).
fn env_vars(vars: &[Value]) -> Result<Vec<(String, String)>, StepError> {
    let mut pairs = Vec::new();
    for var in vars {
        let entries = descriptor("envVar", var)?;
        let get = |name: &str| {
            entries
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        };
        if let (Some(k), Some(v)) = (get("key"), get("value")) {
            pairs.push((k, v));
        }
    }
    Ok(pairs)
}

/// The entries of a descriptor map `name(key: value, ...)` the script made.
fn descriptor<'v>(name: &str, item: &'v Value) -> Result<Vec<&'v (String, Value)>, StepError> {
    let Value::Map(entries) = item else {
        return Err(StepError::failed(format!(
            "podTemplate: expected {name}(...), not {}",
            item.kind()
        )));
    };
    Ok(entries
        .iter()
        .filter(|(key, _)| key.as_str() != super::scripted::DESCRIPTOR_KEY)
        .collect())
}
