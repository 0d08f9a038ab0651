//! [`BuildRun`]: a whole build from its plan to [`BuildEvent::BuildFinished`], the engine's
//! one entry point.

use crate::build::Build;
use crate::error::StepError;
use crate::runner::{run_sequence, skip_tree};
use crate::scope::{Scope, StageResult};
use crate::site::Site;
use crate::stage::fresh_if_cancelled;
use crate::steps::{
    acquire_lock, checkout_scm, duration_of, lock_option, remove_secret_files, with_timeout,
};
use crate::{
    BuildEvent, BuildResult, BuildScripts, BuildSpec, BuildSummary, StageOutcome, env, post,
    resolve_params,
};
use kiln_executor::Executor;
use kiln_model::{Agent, AgentKind, OptionKind, Pipeline, Scripted};
use kiln_plan::Plan;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

/// One build, from its plan to [`BuildEvent::BuildFinished`]: the implicit checkout, the
/// stages (or a scripted pipeline's script), the pipeline's `post`, everything reported as
/// [`BuildEvent`]s. The plan, spec and executor are required; the rest has defaults:
///
/// ```text
/// let summary = BuildRun::new(&plan, spec, executor)
///     .scripts(prepared.scripts)
///     .run(events, cancel)
///     .await;
/// ```
///
/// When `cancel` fires, running processes are terminated, running stages end ABORTED,
/// stages not started are skipped, and `post` blocks still run (with a token of their own).
#[must_use = "a build runs only when `run` is awaited"]
pub struct BuildRun<'a> {
    plan: &'a Plan,
    scripted: Option<&'a Scripted>,
    spec: BuildSpec,
    scripts: BuildScripts,
    executor: Arc<dyn Executor>,
}

impl<'a> BuildRun<'a> {
    /// A build of `plan` (a declarative pipeline's, unless [`BuildRun::scripted`]).
    pub fn new(plan: &'a Plan, spec: BuildSpec, executor: Arc<dyn Executor>) -> Self {
        BuildRun {
            plan,
            scripted: None,
            spec,
            scripts: BuildScripts::default(),
            executor,
        }
    }

    /// With `Some(script)`, runs a scripted pipeline (a Jenkinsfile without `pipeline { }`):
    /// the whole script, whose `stage('x') { }` calls become the build's stages as they run.
    /// The plan is then the plan of [`scripted_pipeline`]`(script)`, as
    /// [`crate::Prepared::plan`] makes it. `None` (the default): a declarative pipeline.
    pub fn scripted(self, script: Option<&'a Scripted>) -> Self {
        BuildRun {
            scripted: script,
            ..self
        }
    }

    /// The pipeline's shared libraries, the Jenkinsfile's text (for script error lines) and
    /// the scripts' limits (by default: no library, no text, default limits).
    pub fn scripts(self, scripts: BuildScripts) -> Self {
        BuildRun { scripts, ..self }
    }

    /// Runs the build, sending its events to `events`: its summary once it has finished.
    pub async fn run(
        self,
        events: UnboundedSender<BuildEvent>,
        cancel: CancellationToken,
    ) -> BuildSummary {
        let started = Instant::now();
        // Parameters whose names or defaults Jenkins computes when the build starts.
        let computed_plan;
        let plan = match crate::start::resolve_parameters(
            &self.plan.pipeline,
            env::spec_env(&self.spec),
            &self.scripts,
        ) {
            Ok(None) => self.plan,
            Ok(Some(pipeline)) => {
                computed_plan = Plan {
                    pipeline,
                    ..self.plan.clone()
                };
                &computed_plan
            }
            Err(errors) => return refuse(&events, &errors, started),
        };
        let params = match resolve_params(&plan.pipeline, &self.spec.params) {
            Ok(p) => p,
            Err(errors) => return refuse(&events, &errors, started),
        };
        // Libraries named by expressions, loaded once their names are known.
        let (scripts, start_lines) = match crate::start::computed_libraries(
            &plan.pipeline,
            env::spec_env(&self.spec),
            &params,
            &self.scripts,
        )
        .await
        {
            Ok(None) => (self.scripts, Vec::new()),
            Ok(Some(loaded)) => loaded,
            Err(errors) => return refuse(&events, &errors, started),
        };
        let mut site = Site::new(self.executor);
        site.user_checkout = self.spec.workspace_is_checkout;
        // Under a declarative `agent none`, steps outside every stage agent have no workspace
        // (a scripted pipeline's `node { }` blocks run on the build's executor, as before).
        site.outside_agent =
            self.scripted.is_none() && matches!(plan.pipeline.agent.kind, AgentKind::None);
        let build = Arc::new(Build::new(
            plan.clone(),
            self.spec,
            site,
            params,
            events,
            scripts,
        ));
        run(&build, self.scripted, &start_lines, cancel).await
    }
}

/// The pipeline a scripted pipeline's build is planned from: no stages (they are known as
/// the script runs), no parameters, its libraries.
pub fn scripted_pipeline(script: &Scripted) -> Pipeline {
    Pipeline {
        preamble: kiln_model::Preamble::default(),
        agent: Agent {
            kind: AgentKind::None,
            span: script.script.span,
        },
        environment: Vec::new(),
        options: kiln_model::Options::default(),
        parameters: Vec::new(),
        triggers: Vec::new(),
        tools: Vec::new(),
        libraries: script.libraries.clone(),
        stages: Vec::new(),
        post: kiln_model::Post::default(),
        span: script.script.span,
    }
}

/// The build from its first line to its summary.
async fn run(
    build: &Arc<Build>,
    scripted: Option<&Scripted>,
    start_lines: &[String],
    cancel: CancellationToken,
) -> BuildSummary {
    tracing::info!(job = %build.spec.job_name, build = build.spec.number, "build started");
    let mut scope = Scope {
        node: None,
        env: Arc::new(env::base_env(build)),
        cwd: build.site.workspace.clone(),
        site: Arc::clone(&build.site),
        cancel,
        stage: StageResult::new(),
        timestamps: build
            .plan
            .pipeline
            .options
            .has(|o| matches!(o, OptionKind::Timestamps)),
        container: None,
        layer_gen: 0,
        file_credentials: Arc::default(),
        tee: None,
    };
    build.message(
        None,
        crate::LineKind::Cause,
        &build.spec.cause.description(),
        false,
    );
    for line in start_lines {
        build.log(None, line, false);
    }
    pipeline_notices(build);
    let error = match prepare(build, &mut scope, scripted.is_some()).await {
        Ok(()) => match scripted {
            Some(s) => crate::steps::script(build, &s.script.statements, &scope)
                .await
                .err()
                .inspect(|e| {
                    if !e.is_interruption() {
                        build.log(None, &format!("ERROR: {e}"), scope.timestamps);
                    }
                }),
            None => wrapped_stages(build, &scope).await,
        },
        Err(e) => {
            build.log(None, &format!("ERROR: {e}"), scope.timestamps);
            for &root in &build.plan.roots {
                skip_tree(build, root, StageOutcome::SkippedAfterFailure);
            }
            Some(e)
        }
    };
    if let Some(e) = &error {
        build.worsen(e.result());
    }
    if scope.cancel.is_cancelled() {
        build.worsen(BuildResult::Aborted);
    }
    let post_scope = fresh_if_cancelled(&scope);
    post::run_post(build, &build.plan.pipeline.post, &post_scope, || {
        build.result()
    })
    .await;
    remove_secret_files(build, &build.site).await;
    let mut summary = finish(build).await;
    summary.job_properties = build.job_properties();
    summary
}

/// The preamble (`def`s and functions before `pipeline { }`, then its `properties([...])`
/// steps), the job properties the pipeline computes (set for the job at once, as Jenkins
/// sets them when the `pipeline` block starts), the pipeline's environment, then Jenkins'
/// implicit `checkout scm` (not for a scripted pipeline, which checks out with `checkout
/// scm` itself, as in Jenkins).
async fn prepare(build: &Arc<Build>, scope: &mut Scope, scripted: bool) -> Result<(), StepError> {
    let preamble = &build.plan.pipeline.preamble;
    if !preamble.definitions.is_empty() {
        crate::steps::script(build, &preamble.definitions, scope).await?;
    }
    if !preamble.steps.is_empty() {
        crate::steps::script(build, &preamble.steps, scope).await?;
    }
    let computed = crate::job_properties::evaluate(build, scope);
    build.pipeline_properties_applied(computed.clone().unwrap_or_default());
    match build.job_properties() {
        Some(step) if step.by_step => {
            let (props, replaced) = step.under_pipeline(&build.plan.pipeline, computed);
            if !replaced.is_empty() {
                build.log(
                    None,
                    &format!(
                        "properties: the pipeline's own directives replace what `properties` set for: {}",
                        replaced.join(", ")
                    ),
                    scope.timestamps,
                );
            }
            build.set_job_properties(props);
        }
        _ => {
            if let Some(computed) = computed {
                build.set_job_properties(computed);
            }
        }
    }
    env::apply(&build.plan.pipeline.environment, build, scope).await?;
    let options = &build.plan.pipeline.options;
    let skip_checkout =
        scripted || options.has(|o| matches!(o, OptionKind::SkipDefaultCheckout(true)));
    if build.spec.scm.is_some() && !skip_checkout {
        let subdir = options.iter().find_map(|o| match o {
            OptionKind::CheckoutToSubdirectory(d) => Some(d),
            _ => None,
        });
        let dir = match subdir {
            Some(d) => scope.cwd.join(crate::start::subdirectory(d, build, scope)?),
            None => scope.cwd.clone(),
        };
        // The build's own workspace gets the sources even under `agent none`: stages whose
        // agent a provider serves start from it, the others run in it.
        let inside = Scope {
            site: Arc::new(Site {
                outside_agent: false,
                ..(*scope.site).clone()
            }),
            ..scope.clone()
        };
        checkout_scm(build, &inside, dir).await?;
    }
    Ok(())
}

/// The top-level stages, inside the block steps the pipeline's options name as wrappers.
async fn wrapped_stages(build: &Arc<Build>, scope: &Scope) -> Option<StepError> {
    let wrappers = build.plan.pipeline.options.wrappers();
    if wrappers.is_empty() {
        return stages(build, scope).await;
    }
    let inner: crate::wrappers::Inner<'_, Option<StepError>> =
        Box::new(move |s: Scope| Box::pin(async move { Ok(stages(build, &s).await) }));
    match crate::wrappers::within(build, &wrappers, scope.clone(), inner).await {
        Ok(error) => error,
        Err(e) => {
            if !e.is_interruption() {
                build.log(None, &format!("ERROR: {e}"), scope.timestamps);
            }
            for &root in &build.plan.roots {
                skip_tree(build, root, StageOutcome::SkippedAfterFailure);
            }
            Some(e)
        }
    }
}

/// The top-level stages, holding the pipeline's `lock` option's resources if it has one.
async fn stages(build: &Arc<Build>, scope: &Scope) -> Option<StepError> {
    let Some(lock) = build.plan.pipeline.options.iter().find_map(lock_option) else {
        return timed_stages(build, scope).await;
    };
    let variable = lock.variable.clone();
    let held = match acquire_lock(build, scope, lock).await {
        Ok(Some(h)) => h,
        Ok(None) => {
            for &root in &build.plan.roots {
                skip_tree(build, root, StageOutcome::SkippedLocked);
            }
            return None;
        }
        Err(e) => {
            if !e.is_interruption() {
                build.log(None, &format!("ERROR: {e}"), scope.timestamps);
            }
            let outcome = if e.is_interruption() {
                StageOutcome::SkippedAborted
            } else {
                StageOutcome::SkippedAfterFailure
            };
            for &root in &build.plan.roots {
                skip_tree(build, root, outcome);
            }
            return Some(e);
        }
    };
    let inner = crate::steps::lock_variable(scope, variable.as_deref(), &held);
    let error = timed_stages(build, &inner).await;
    held.release(build, scope);
    error
}

/// The top-level stages, inside the pipeline's `timeout` option if it has one.
async fn timed_stages(build: &Arc<Build>, scope: &Scope) -> Option<StepError> {
    let roots = &build.plan.roots;
    let Some(t) = build.plan.pipeline.options.timeout() else {
        return run_sequence(build, roots, scope).await.error;
    };
    let token = scope.cancel.child_token();
    let inner = Scope {
        cancel: token.clone(),
        ..scope.clone()
    };
    let limit = match duration_of(i64::try_from(t.millis).unwrap_or(i64::MAX), "MILLISECONDS") {
        Ok(l) => l,
        Err(e) => return Some(e),
    };
    let body = async {
        run_sequence(build, roots, &inner)
            .await
            .error
            .map_or(Ok(()), Err)
    };
    with_timeout(body, &token, limit, |line| {
        build.log(None, line, scope.timestamps)
    })
    .await
    .err()
}

/// Says once what the local run ignores from the pipeline's directives.
fn pipeline_notices(build: &Build) {
    let p: &Pipeline = &build.plan.pipeline;
    let ignored = match p.agent.kind {
        // A Kubernetes executor runs the steps in the pod's containers (a docker agent's
        // image, or the image kiln built for a dockerfile agent, is the pod's `docker`
        // container there).
        AgentKind::Kubernetes(_) | AgentKind::Docker(_) | AgentKind::Dockerfile(_) => {
            !build.site.executor.runs_in_containers()
        }
        _ => false,
    };
    if ignored {
        build.notice_once(format!(
            "agent {} is ignored by the {} executor: steps run on this machine{}",
            p.agent.kind.keyword(),
            build.site.executor.describe(),
            crate::stage_agent::dockerfile_hint(&p.agent.kind)
        ));
    }
    if let AgentKind::Kubernetes(k) = &p.agent.kind {
        crate::stage_agent::kubernetes_settings_notice(build, k);
    }
    if !p.tools.is_empty() {
        build.notice_once("`tools { }` is ignored: kiln uses the tools found on PATH".to_owned());
    }
    for t in &p.triggers {
        match &t.kind {
            kiln_model::TriggerKind::Plugin(name) => {
                build.notice_once(format!("trigger `{name}` has no effect in kiln"));
            }
            kiln_model::TriggerKind::IssueComment(_)
                if build.spec.scm.as_ref().is_none_or(|s| s.change.is_empty()) =>
            {
                build.notice_once(
                    "trigger `issueCommentTrigger` acts only on the pull request jobs of a multibranch job on a kiln server".to_owned(),
                );
            }
            _ => {}
        }
    }
    for o in p.options.iter().filter(|o| o.has_no_effect()) {
        build.notice_once(format!(
            "`options {{ {} }}` has no effect in kiln",
            o.keyword()
        ));
    }
    if p.options.retry().is_some() {
        build.notice_once(
            "`options { retry }` of the whole pipeline is not supported by kiln yet".to_owned(),
        );
    }
}

async fn finish(build: &Build) -> BuildSummary {
    let result = build.result();
    let duration = build.started.elapsed();
    build.message(
        None,
        crate::LineKind::BuildEnd,
        &format!("Finished: {result}"),
        false,
    );
    build.send(BuildEvent::BuildFinished { result, duration });
    tracing::info!(job = %build.spec.job_name, build = build.spec.number, result = %result, "build finished");
    let record = build.take_record().await;
    let (display_name, description) = build.labels();
    let variables = build.script_variables();
    BuildSummary {
        result,
        stages: record.stages,
        tests: record.tests,
        artifacts: record.artifacts,
        reports: record.reports,
        duration,
        display_name,
        description,
        variables,
        job_properties: None,
    }
}

/// Parameters that do not fit the pipeline: nothing runs.
fn refuse(
    events: &UnboundedSender<BuildEvent>,
    errors: &[String],
    started: Instant,
) -> BuildSummary {
    for e in errors {
        let _ = events.send(BuildEvent::Log {
            node: None,
            line: format!("ERROR: {e}"),
            kind: crate::LineKind::Text,
        });
    }
    let duration = started.elapsed();
    let _ = events.send(BuildEvent::BuildFinished {
        result: BuildResult::NotBuilt,
        duration,
    });
    BuildSummary {
        result: BuildResult::NotBuilt,
        stages: Vec::new(),
        tests: None,
        artifacts: Vec::new(),
        reports: crate::Reports::default(),
        duration,
        display_name: None,
        description: None,
        variables: Default::default(),
        job_properties: None,
    }
}
