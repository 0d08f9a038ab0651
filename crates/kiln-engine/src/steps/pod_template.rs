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
use crate::stage_agent::{AgentSlot, occupy, provide};
use crate::{AgentRequest, BuildResult, Provision};
use kiln_diagnostics::Span;
use kiln_model::{Agent, AgentKind, KubernetesAgent};
use kiln_script::Value;
use kiln_syntax::ast::{Arg, Expr, ExprKind, Ident};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// The pods `podTemplate` blocks describe, by label, while their blocks run.
#[derive(Default)]
pub(crate) struct PodTemplates(Mutex<BTreeMap<String, PodAgent>>);

/// A pod as an agent: the agent, whose expressions stand for the strings the script gave.
#[derive(Clone)]
struct PodAgent {
    agent: Agent,
    strings: BTreeMap<Span, String>,
}

impl PodTemplates {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, PodAgent>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

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
    build.pod_templates.lock().insert(label.clone(), pod);
    let inner = scope.with_env([("POD_LABEL".to_owned(), label.clone())]);
    let result = host.closure(call, call.body, &inner);
    build.pod_templates.lock().remove(&label);
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
            let pod = build.pod_templates.lock().get(label).cloned();
            let pod = pod.unwrap_or_else(|| labelled(label, call));
            let (log, lines) = tokio::sync::mpsc::unbounded_channel();
            let request = AgentRequest {
                agent: pod.agent,
                strings: pod.strings,
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
fn labelled(label: &str, call: &kiln_script::StepCall<'_>) -> PodAgent {
    let mut synth = Synth {
        strings: BTreeMap::new(),
        next: 0,
    };
    let expr = synth.string(label.to_owned());
    PodAgent {
        agent: Agent {
            kind: AgentKind::Label(expr),
            span: call.span,
        },
        strings: synth.strings,
    }
}

/// The `kubernetes { }` agent a `podTemplate` call describes. Each setting becomes an
/// expression of its own (a name with a span of its own) whose string is the script's value.
fn describe(
    build: &crate::build::Build,
    call: &kiln_script::StepCall<'_>,
) -> Result<PodAgent, StepError> {
    let mut pod = Synth {
        strings: BTreeMap::new(),
        next: 0,
    };
    let mut k = KubernetesAgent::default();
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
                k.container_templates = pod.templates(value)?;
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
        *slot = Some(pod.string(value.to_string()));
    }
    Ok(PodAgent {
        agent: Agent {
            kind: AgentKind::Kubernetes(Box::new(k)),
            span: call.span,
        },
        strings: pod.strings,
    })
}

/// Makes the expressions of a described pod.
struct Synth {
    strings: BTreeMap<Span, String>,
    next: u32,
}

impl Synth {
    /// An expression whose evaluated string is `value`.
    fn string(&mut self, value: String) -> Expr {
        let span = Span::new(self.next, self.next);
        self.next += 1;
        self.strings.insert(span, value);
        Expr {
            kind: ExprKind::Ident("podTemplate".to_owned()),
            span,
        }
    }

    /// `containers: [containerTemplate(name: ..., image: ..., envVars: [envVar(...)])]`.
    fn templates(&mut self, value: &Value) -> Result<Vec<Expr>, StepError> {
        let Value::List(items) = value else {
            return Err(StepError::failed(
                "podTemplate: `containers` must be a list of containerTemplate(...)",
            ));
        };
        items
            .iter()
            .map(|item| self.call("containerTemplate", item))
            .collect()
    }

    /// A call `name(key: value, ...)` standing for a descriptor map the script made.
    fn call(&mut self, name: &str, item: &Value) -> Result<Expr, StepError> {
        let Value::Map(entries) = item else {
            return Err(StepError::failed(format!(
                "podTemplate: expected {name}(...), not {}",
                item.kind()
            )));
        };
        let mut args = Vec::new();
        for (key, value) in entries {
            if key == super::scripted::DESCRIPTOR_KEY {
                continue;
            }
            let value = match (key.as_str(), value) {
                ("envVars", Value::List(vars)) => {
                    let calls = vars
                        .iter()
                        .map(|v| self.call("envVar", v))
                        .collect::<Result<Vec<_>, _>>()?;
                    Expr {
                        kind: ExprKind::List(calls),
                        span: Span::default(),
                    }
                }
                (_, v) => self.string(v.to_string()),
            };
            args.push(Arg {
                name: Some(Ident {
                    name: key.clone(),
                    span: Span::default(),
                }),
                span: value.span,
                value,
            });
        }
        Ok(Expr {
            kind: ExprKind::Call {
                callee: Box::new(Expr {
                    kind: ExprKind::Ident(name.to_owned()),
                    span: Span::default(),
                }),
                args,
                closure: None,
                parens: true,
            },
            span: Span::default(),
        })
    }
}
