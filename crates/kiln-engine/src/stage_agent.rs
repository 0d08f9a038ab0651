//! A stage's own `agent`: asks the build's [`crate::AgentProvider`] for an executor when the
//! stage reaches its agent (after `input` and `when { beforeAgent true }`), moves the stage's
//! scope to that site, and releases it when the stage (its `post` included) is done.
//! Without a provider, or when the provider does not serve the agent, the stage runs where
//! its parent runs and a notice says so for agents kiln cannot honour here.

use crate::agent::{AgentRequest, ReleaseAgent};
use crate::build::Build;
use crate::error::StepError;
use crate::eval::eval_string;
use crate::scope::Scope;
use crate::shared::Locked;
use crate::site::Site;
use crate::steps::{rebind_file_credentials, remove_secret_files};
use crate::{BuildResult, LogMessage, ProvidedAgent, Provision};
use kiln_diagnostics::Span;
use kiln_model::{Agent, AgentKind, OptionKind};
use kiln_plan::PlanNode;
use kiln_syntax::ast::{Expr, ExprKind};
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

/// The site a stage's provider gave it, kept until the stage is done.
#[derive(Default)]
pub(crate) struct AgentSlot(Locked<Option<Held>>);

struct Held {
    site: Arc<Site>,
    release: Box<dyn ReleaseAgent>,
}

impl AgentSlot {
    fn put(&self, held: Held) {
        *self.0.lock() = Some(held);
    }

    fn take(&self) -> Option<Held> {
        self.0.lock().take()
    }

    /// Gives the stage's site back (after its secret files are deleted), with the stage's
    /// result: a provider keeps a pod only after a clean stage.
    pub(crate) async fn release(&self, build: &Build, result: BuildResult) {
        let Some(held) = self.take() else { return };
        remove_secret_files(build, &held.site).await;
        let env = (*build.env_layer().1).clone();
        held.release.release_with_env(result, env).await;
    }
}

/// What entering a stage's agent came to.
pub(crate) enum Entered {
    /// The stage runs on its agent (or where its parent runs).
    Ready,
    /// The stage had ended before a controller restart with this result (see
    /// [`crate::Provision::Finished`]): it is not run again.
    FinishedBefore(BuildResult),
}

/// Enters the stage's own agent, if it declares one; errors are already in the stage's log.
pub(crate) async fn enter(
    build: &Arc<Build>,
    node: &PlanNode,
    scope: &mut Scope,
    slot: &AgentSlot,
) -> Result<Entered, StepError> {
    let Some(agent) = &node.agent else {
        return Ok(Entered::Ready);
    };
    if let AgentKind::Kubernetes(k) = &agent.kind {
        kubernetes_settings_notice(build, k);
    }
    // A stage's `agent none` keeps the context it is in.
    if matches!(agent.kind, AgentKind::None) {
        return Ok(Entered::Ready);
    }
    let Some(provider) = build.spec.agents.clone() else {
        stay(build, node, scope);
        return Ok(Entered::Ready);
    };
    let (log, lines) = tokio::sync::mpsc::unbounded_channel();
    let request = request(build, node, agent, scope, log).map_err(|e| reported(build, scope, e))?;
    let provided = provide(build, provider, request, lines, scope)
        .await
        .map_err(|e| reported(build, scope, e))?;
    match provided {
        Provision::Agent(provided) => {
            occupy(build, scope, slot, provided);
            rebind_file_credentials(build, scope)
                .await
                .map_err(|e| reported(build, scope, e))?;
        }
        Provision::NotServed => stay(build, node, scope),
        Provision::Finished(result, env) => {
            build.restore_env(&env);
            return Ok(Entered::FinishedBefore(result));
        }
    }
    Ok(Entered::Ready)
}

/// A stage whose agent gets no executor of its own runs where its parent runs; it is
/// inside an agent from now on.
fn stay(build: &Build, node: &PlanNode, scope: &mut Scope) {
    notice(build, node, scope);
    if scope.site.outside_agent {
        scope.site = Arc::new(Site {
            outside_agent: false,
            ..(*scope.site).clone()
        });
    }
}

/// Moves `scope` to the site a provider gave, kept in `slot` until it is released.
pub(crate) fn occupy(build: &Build, scope: &mut Scope, slot: &AgentSlot, provided: ProvidedAgent) {
    for line in &provided.log {
        build.message(scope.node, line.kind.clone(), &line.text, scope.timestamps);
    }
    let site = Arc::new(Site {
        provided: true,
        ..Site::new(provided.executor)
    });
    scope.env = Arc::new(site_env(build, scope, &site));
    scope.cwd = site.workspace.clone();
    scope.container = None;
    scope.site = Arc::clone(&site);
    slot.put(Held {
        site,
        release: provided.release,
    });
}

/// The environment of a provided site: the stage's, without what the build inherited from
/// kiln's own process (`BuildSpec::base_env`, e.g. the server's tokens) unless the pipeline
/// changed it (`KILN_URL` stays), as a pod build starts from its container's environment.
fn site_env(build: &Build, scope: &Scope, site: &Site) -> BTreeMap<String, String> {
    let inherited = &build.spec.base_env;
    let mut env = (*scope.env).clone();
    env.retain(|name, value| name == "KILN_URL" || inherited.get(name) != Some(value));
    env.entry("PATH".to_owned())
        .or_insert_with(|| crate::env::DEFAULT_PATH.to_owned());
    env.extend(site.env());
    env
}

/// Asks the provider in a task of its own: when the stage is cancelled while its agent
/// starts, the task finishes in the background and what it provided is released.
/// The provider's log lines go to the stage's log as they come.
pub(crate) async fn provide(
    build: &Build,
    provider: Arc<dyn crate::AgentProvider>,
    request: AgentRequest,
    mut lines: UnboundedReceiver<LogMessage>,
    scope: &Scope,
) -> Result<Provision, StepError> {
    let mut task = tokio::spawn(async move { provider.provision(request).await });
    let log = |line: LogMessage| build.message(scope.node, line.kind, &line.text, scope.timestamps);
    let joined = loop {
        tokio::select! {
            Some(line) = lines.recv() => log(line),
            joined = &mut task => break joined,
            () = scope.cancel.cancelled() => {
                tokio::spawn(async move {
                    if let Ok(Ok(Provision::Agent(provided))) = task.await {
                        provided.release.release(BuildResult::Aborted).await;
                    }
                });
                return Err(StepError::aborted("aborted while the stage's agent was starting"));
            }
        }
    };
    while let Ok(line) = lines.try_recv() {
        log(line);
    }
    match joined {
        Ok(Ok(provided)) => Ok(provided),
        Ok(Err(e)) => Err(StepError::failed(e.to_string())),
        Err(e) => Err(StepError::failed(format!(
            "internal error while providing the stage's agent: {e}"
        ))),
    }
}

/// The provider's view of the stage's agent: its strings evaluated in the stage's scope.
fn request(
    build: &Build,
    node: &PlanNode,
    agent: &Agent,
    scope: &Scope,
    log: UnboundedSender<LogMessage>,
) -> Result<AgentRequest, StepError> {
    let mut strings = BTreeMap::<Span, String>::new();
    let mut all = expressions(&agent.kind);
    if let AgentKind::Kubernetes(k) = &agent.kind {
        for template in &k.container_templates {
            call_arguments(template, &mut all);
        }
    }
    for expr in all {
        if matches!(expr.kind, ExprKind::Call { .. }) {
            continue;
        }
        strings.insert(expr.span, eval_string(expr, build, scope)?);
    }
    let skip = |o: &OptionKind| matches!(o, OptionKind::SkipDefaultCheckout(true));
    Ok(AgentRequest {
        agent: crate::agent::agent_spec(agent, &strings),
        stage: node.path.clone(),
        job: build.spec.job_name.clone(),
        build: build.spec.number,
        checkout: !build.plan.pipeline.options.has(skip) && !node.options.has(skip),
        nested: scope.site.provided,
        log,
    })
}

/// The argument values of `containerTemplate(...)` calls (lists of them, `envVars:` lists of
/// `envVar(...)` calls included), for the provider to read evaluated.
fn call_arguments<'e>(expr: &'e Expr, out: &mut Vec<&'e Expr>) {
    match &expr.kind {
        ExprKind::List(items) => items.iter().for_each(|e| call_arguments(e, out)),
        ExprKind::Call { args, .. } => {
            for arg in args {
                match &arg.value.kind {
                    ExprKind::List(_) | ExprKind::Call { .. } => call_arguments(&arg.value, out),
                    _ => out.push(&arg.value),
                }
            }
        }
        _ => {}
    }
}

/// Every expression an agent declares (container templates: see [`call_arguments`]).
fn expressions(kind: &AgentKind) -> Vec<&Expr> {
    let all: Vec<&Option<Expr>> = match kind {
        AgentKind::Any | AgentKind::None => Vec::new(),
        AgentKind::Label(e) => return vec![e],
        AgentKind::Node {
            label,
            custom_workspace,
        } => vec![label, custom_workspace],
        AgentKind::Docker(d) => {
            let optional = [&d.args, &d.label, &d.registry_url];
            let more = [&d.registry_credentials_id, &d.custom_workspace];
            let mut v: Vec<&Expr> = optional.into_iter().chain(more).flatten().collect();
            v.push(&d.image);
            return v;
        }
        AgentKind::Dockerfile(d) => vec![
            &d.filename,
            &d.dir,
            &d.additional_build_args,
            &d.args,
            &d.label,
        ],
        AgentKind::Kubernetes(k) => vec![
            &k.yaml,
            &k.yaml_file,
            &k.yaml_merge_strategy,
            &k.inherit_from,
            &k.default_container,
            &k.cloud,
            &k.namespace,
            &k.label,
            &k.service_account,
            &k.node_selector,
            &k.working_dir,
            &k.active_deadline_seconds,
            &k.slave_connect_timeout,
            &k.pod_retention,
            &k.idle_minutes,
            &k.instance_cap,
            &k.show_raw_yaml,
            &k.supplemental_groups,
            &k.custom_workspace,
        ],
    };
    all.into_iter().flatten().collect()
}

/// Names, once per build, the `kubernetes` agent settings kiln accepts without acting on.
pub(crate) fn kubernetes_settings_notice(build: &Build, k: &kiln_model::KubernetesAgent) {
    for (key, why) in k.settings_without_effect() {
        build.notice_once(format!(
            "`kubernetes {{ {key} }}` has no effect in kiln: {why}"
        ));
    }
}

/// Agents kiln cannot provide here are named once; the stage runs where its parent runs.
fn notice(build: &Build, node: &PlanNode, scope: &Scope) {
    let Some(agent) = &node.agent else { return };
    if !matches!(
        agent.kind,
        AgentKind::Docker(_) | AgentKind::Dockerfile(_) | AgentKind::Kubernetes(_)
    ) {
        return;
    }
    let executor = &scope.site.executor;
    let hint = dockerfile_hint(&agent.kind);
    let message = if executor.runs_in_containers() {
        format!(
            "agent {} of stage '{}' gets no pod of its own here: the stage runs in {}{hint}",
            node.effective_agent,
            node.name,
            executor.describe()
        )
    } else {
        format!(
            "agent {} is ignored by the {} executor: steps run on this machine{hint}",
            node.effective_agent,
            executor.describe()
        )
    };
    build.notice_once(message);
}

/// Why a dockerfile agent ran where the build runs, and what to configure (empty for
/// other agents).
pub(crate) fn dockerfile_hint(kind: &AgentKind) -> &'static str {
    if matches!(kind, AgentKind::Dockerfile(_)) {
        " (kiln builds a dockerfile agent's image with Kaniko and runs it as a pod only when a registry repository for the images is configured: `executors.kubernetes.dockerfile_agents.repository` for the server, `kiln run --kubeconfig PATH --dockerfile-repository REPO` on a laptop)"
    } else {
        ""
    }
}

/// Logs an error where it happened (interruptions say why where they are raised).
fn reported(build: &Build, scope: &Scope, e: StepError) -> StepError {
    if !e.is_interruption() {
        build.log(scope.node, &format!("ERROR: {e}"), scope.timestamps);
    }
    e
}
