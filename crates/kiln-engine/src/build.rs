use crate::dispatch::{Dispatcher, Record, Report};
use crate::log::timestamp_prefix;
use crate::log_lines::{BatchBuffers, LogCredit, OutputBatch};
use crate::masker::Masker;
use crate::process_key::ProcessKeys;
use crate::shared::{Locked, Snapshot};
use crate::site::Site;
use crate::steps::PodTemplates;
use crate::{
    BuildEvent, BuildResult, BuildScripts, BuildSpec, LineKind, OutputSource, ParamValue,
    StageSummary, TestSummary,
};
use kiln_plan::{NodeId, Plan};
use kiln_script::ScriptContext;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;
use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::oneshot;

/// `env` changes scripts made: a value, or `None` for a removed variable.
pub(crate) type EnvLayer = Arc<BTreeMap<String, Option<String>>>;

/// One running build, shared by all its stages and steps (parallel branches included).
///
/// What the build reports (events, stages, tests, artifacts, reports, notices, the log
/// copy) goes to its dispatcher, the one owner of that record ([`crate::dispatch`]). What
/// its steps and scripts read back while it runs (the result so far, the scripts'
/// definitions, environment and `currentBuild` labels, the masker, stages scripts start)
/// is in [`crate::shared`] cells here.
pub(crate) struct Build {
    pub(crate) plan: Plan,
    pub(crate) spec: BuildSpec,
    /// Where the build starts: the executor it was given and its workspace. Stages whose
    /// agent the spec's provider serves run on sites of their own.
    pub(crate) site: Arc<Site>,
    pub(crate) params: BTreeMap<String, ParamValue>,
    pub(crate) started: Instant,
    /// Evaluates every expression and script of the build.
    pub(crate) script: kiln_script::ScriptEngine,
    /// The libraries and Jenkinsfile text the build's scripts use.
    pub(crate) scripts: BuildScripts,
    /// Script variables and functions, shared by every script of the build (the preamble
    /// and each `script { }` block add theirs).
    definitions: Locked<ScriptContext>,
    /// `env.X = ...` written by scripts: the build's environment layer (`None` removes),
    /// with its generation.
    env_layer: Snapshot<(u64, EnvLayer)>,
    /// Paths of stages that scripts start (`stage('x') { }`), numbered after the plan's.
    dynamic: Locked<Vec<Vec<String>>>,
    /// `currentBuild.displayName` and `currentBuild.description` set by scripts.
    labels: Locked<(Option<String>, Option<String>)>,
    /// The build's dispatcher (see [`crate::dispatch`]).
    reports: UnboundedSender<Report>,
    masker: Snapshot<Masker>,
    /// Bounds the process output waiting for the consumer of the build's events.
    log_credit: LogCredit,
    /// The buffers of output batches the log copy let go, for the next batches.
    batch_buffers: BatchBuffers,
    result: Locked<BuildResult>,
    counter: AtomicU64,
    /// The identities of the processes the build starts (see [`ProcessKeys`]).
    pub(crate) process_keys: ProcessKeys,
    /// The pods scripted `podTemplate` blocks describe, while their blocks run.
    pub(crate) pod_templates: PodTemplates,
    /// The Artifactory build infos the build's scripts collect into.
    pub(crate) artifactory: crate::steps::BuildInfos,
    /// The ordinal of the last `milestone` the build passed.
    last_milestone: Locked<Option<u32>>,
    /// What the build set for its job so far (see [`crate::JobProperties`]).
    job_properties: Locked<Option<crate::JobProperties>>,
    /// What the declarative pipeline computed of its job properties, once it applied its
    /// own (`None` before: a `properties` step then runs above the pipeline).
    pipeline_properties: Locked<Option<crate::JobProperties>>,
}

impl Build {
    /// The build, with its dispatcher started (events go to `events`): call it within
    /// the runtime that runs the build.
    pub(crate) fn new(
        plan: Plan,
        spec: BuildSpec,
        site: Site,
        params: BTreeMap<String, ParamValue>,
        events: UnboundedSender<BuildEvent>,
        scripts: BuildScripts,
    ) -> Self {
        let secrets = params.values().filter_map(|v| match v {
            ParamValue::Password(p) => Some(p.clone()),
            _ => None,
        });
        let masker = Masker::default().with(secrets);
        let process_keys = ProcessKeys::new(&spec.job_name, spec.number);
        let batch_buffers = BatchBuffers::default();
        let log_copy =
            crate::log_copy::LogCopy::new(crate::LogFormatter::new(&plan), batch_buffers.clone());
        let reports = Dispatcher::start(events, log_copy);
        Build {
            plan,
            spec,
            site: Arc::new(site),
            params,
            started: Instant::now(),
            script: kiln_script::ScriptEngine::with_limits(scripts.limits.clone()),
            scripts,
            definitions: Locked::new(ScriptContext::new()),
            env_layer: Snapshot::new((0, Arc::new(BTreeMap::new()))),
            dynamic: Locked::default(),
            labels: Locked::default(),
            reports,
            masker: Snapshot::new(masker),
            log_credit: LogCredit::default(),
            batch_buffers,
            result: Locked::new(BuildResult::Success),
            counter: AtomicU64::new(0),
            process_keys,
            pod_templates: PodTemplates::default(),
            artifactory: crate::steps::BuildInfos::default(),
            last_milestone: Locked::default(),
            job_properties: Locked::default(),
            pipeline_properties: Locked::default(),
        }
    }

    /// Sets the job's properties (replacing what this build set before) and tells the
    /// coordinator at once, so they hold however the build ends.
    pub(crate) fn set_job_properties(&self, props: crate::JobProperties) {
        *self.job_properties.lock() = Some(props.clone());
        self.spec.coordinator.job_properties(&props);
    }

    /// Records that the pipeline applied its own job properties (with what it computed).
    pub(crate) fn pipeline_properties_applied(&self, computed: crate::JobProperties) {
        *self.pipeline_properties.lock() = Some(computed);
    }

    /// What the pipeline computed of its job properties, once it applied them.
    pub(crate) fn pipeline_properties(&self) -> Option<crate::JobProperties> {
        self.pipeline_properties.get()
    }

    /// What the build set for its job so far.
    pub(crate) fn job_properties(&self) -> Option<crate::JobProperties> {
        self.job_properties.get()
    }

    pub(crate) fn send(&self, event: BuildEvent) {
        self.report(Report::Event(event));
    }

    /// Tells the dispatcher, which lives as long as the build (it stops once the build and
    /// every task holding it are gone), so the send cannot fail while `self` exists.
    fn report(&self, report: Report) {
        let _ = self.reports.send(report);
    }

    /// One log line of a stage (or of the build when `node` is `None`), secrets masked.
    pub(crate) fn log(&self, node: Option<NodeId>, line: &str, timestamps: bool) {
        self.message(node, LineKind::Text, line, timestamps);
    }

    /// One log line of a given kind (see [`Build::log`]).
    pub(crate) fn message(
        &self,
        node: Option<NodeId>,
        kind: LineKind,
        line: &str,
        timestamps: bool,
    ) {
        let masker = self.masker();
        let mut text = if masker.is_empty() {
            line.to_owned()
        } else {
            masker.mask(line)
        };
        if timestamps {
            text.insert_str(0, &timestamp_prefix());
        }
        self.send(BuildEvent::Log {
            node,
            line: text,
            kind,
        });
    }

    /// The build's log so far, as stored logs have it (secrets masked).
    pub(crate) async fn log_text(&self) -> String {
        let (tx, rx) = oneshot::channel();
        self.report(Report::LogText(tx));
        rx.await.unwrap_or_default()
    }

    /// Takes the ordinal of the next `milestone`: the one asked for, else one more than
    /// the last. `Err(last)` when the one asked for is not above the last one passed.
    pub(crate) fn next_milestone(&self, asked: Option<u32>) -> Result<u32, u32> {
        let mut last = self.last_milestone.lock();
        let next = match (asked, *last) {
            (Some(a), Some(l)) if a <= l => return Err(l),
            (Some(a), _) => a,
            (None, Some(l)) => l.saturating_add(1),
            (None, None) => 1,
        };
        *last = Some(next);
        Ok(next)
    }

    /// A batch for lines of process output, masked with the secrets known now.
    pub(crate) fn output_batch(&self, timestamps: bool) -> OutputBatch {
        OutputBatch::with_buffer(self.masker(), timestamps, self.batch_buffers.take())
    }

    /// Sends a process's lines of a stage (or of the build when `node` is `None`) once
    /// the build has log credit for them: this waits while the consumer lags.
    pub(crate) async fn output(
        &self,
        node: Option<NodeId>,
        batch: OutputBatch,
        source: OutputSource,
    ) {
        let mut lines = batch.into_lines();
        if lines.is_empty() {
            return;
        }
        self.log_credit.charge(&mut lines).await;
        self.send(BuildEvent::Output {
            node,
            lines,
            source,
        });
    }

    /// A notice, said once per build however often it is raised.
    pub(crate) fn notice_once(&self, message: String) {
        self.report(Report::Notice(message));
    }

    pub(crate) fn masker(&self) -> Arc<Masker> {
        self.masker.get()
    }

    /// Adds values to mask from now on (they stay masked for the rest of the build).
    pub(crate) fn add_secrets(&self, secrets: impl IntoIterator<Item = String>) {
        self.masker.update(|m| m.with(secrets));
    }

    /// The build's result so far (`currentBuild.currentResult`).
    pub(crate) fn result(&self) -> BuildResult {
        self.result.get()
    }

    /// Makes the build's result worse (never better), as Jenkins' `setResult`.
    pub(crate) fn worsen(&self, result: BuildResult) {
        let mut r = self.result.lock();
        *r = r.combine(result);
    }

    pub(crate) fn record_stage(&self, summary: StageSummary) {
        self.report(Report::Stage(summary));
    }

    pub(crate) fn add_tests(&self, tests: TestSummary) {
        self.report(Report::Tests(tests));
    }

    pub(crate) fn add_artifact(&self, path: PathBuf) {
        self.report(Report::Artifact(path));
    }

    /// Adds to what the report steps recorded.
    pub(crate) fn add_reports(&self, f: impl FnOnce(&mut crate::Reports) + Send + 'static) {
        self.report(Report::Reports(Box::new(f)));
    }

    /// A number unique within this build, for temporary file names.
    pub(crate) fn next_id(&self) -> u64 {
        self.counter.fetch_add(1, Ordering::Relaxed)
    }

    /// A copy of the build's script definitions, to evaluate a script against.
    pub(crate) fn definitions(&self) -> ScriptContext {
        self.definitions.get()
    }

    /// Keeps the definitions a script made for the build's later scripts.
    pub(crate) fn keep_definitions(&self, ctx: &ScriptContext) {
        self.definitions.lock().adopt_definitions(ctx);
    }

    /// Records `env` changes a script made (compared with `before`) in the build's
    /// environment layer, so later steps and stages see them.
    pub(crate) fn keep_env(
        &self,
        before: &BTreeMap<String, String>,
        after: &BTreeMap<String, String>,
    ) {
        let mut changes: Vec<(String, Option<String>)> = after
            .iter()
            .filter(|(k, v)| before.get(*k) != Some(*v))
            .map(|(k, v)| (k.clone(), Some(v.clone())))
            .collect();
        changes.extend(
            before
                .keys()
                .filter(|k| !after.contains_key(*k))
                .map(|k| (k.clone(), None)),
        );
        self.change_env_layer(changes);
    }

    /// Sets again what scripts had written when a stage that is not run again had ended
    /// (see [`crate::Provision::Finished`]).
    pub(crate) fn restore_env(&self, env: &BTreeMap<String, Option<String>>) {
        self.change_env_layer(env.iter().map(|(k, v)| (k.clone(), v.clone())).collect());
    }

    /// Writes `changes` into the scripts' environment layer as its next generation (nothing
    /// when there are none).
    fn change_env_layer(&self, changes: Vec<(String, Option<String>)>) {
        if changes.is_empty() {
            return;
        }
        self.env_layer.update(|(generation, layer)| {
            let mut next = (**layer).clone();
            next.extend(changes);
            (generation + 1, Arc::new(next))
        });
    }

    /// The environment layer scripts wrote, with its generation (0: nothing written).
    pub(crate) fn env_layer(&self) -> (u64, EnvLayer) {
        let layer = self.env_layer.get();
        (layer.0, Arc::clone(&layer.1))
    }

    /// The `env` variables scripts set and did not remove, their secrets masked.
    pub(crate) fn script_variables(&self) -> BTreeMap<String, String> {
        let masker = self.masker();
        self.env_layer()
            .1
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), masker.mask(v.as_deref()?))))
            .collect()
    }

    /// Sets what a script wrote to `currentBuild.displayName` / `description`.
    pub(crate) fn set_labels(&self, display_name: Option<String>, description: Option<String>) {
        let mut l = self.labels.lock();
        if display_name.is_some() {
            l.0 = display_name;
        }
        if description.is_some() {
            l.1 = description;
        }
    }

    pub(crate) fn labels(&self) -> (Option<String>, Option<String>) {
        self.labels.get()
    }

    /// Starts numbering a stage a script runs: its id comes after the plan's nodes.
    pub(crate) fn add_dynamic_stage(&self, path: Vec<String>) -> NodeId {
        let mut d = self.dynamic.lock();
        d.push(path);
        let index = self.plan.nodes.len() + d.len() - 1;
        NodeId(u32::try_from(index).unwrap_or(u32::MAX))
    }

    /// The path of a stage, planned or started by a script.
    pub(crate) fn stage_path(&self, id: NodeId) -> Vec<String> {
        match id.index().checked_sub(self.plan.nodes.len()) {
            None => self.plan.node(id).path.clone(),
            Some(i) => self.dynamic.lock().get(i).cloned().unwrap_or_default(),
        }
    }

    /// Takes what the build recorded for its summary (stages in plan order) once every
    /// report sent before has reached the dispatcher.
    pub(crate) async fn take_record(&self) -> Record {
        let (tx, rx) = oneshot::channel();
        self.report(Report::Finish(tx));
        let mut record = rx.await.unwrap_or_default();
        let order: BTreeMap<NodeId, usize> = self
            .plan
            .walk()
            .into_iter()
            .enumerate()
            .map(|(i, id)| (id, i))
            .collect();
        // Planned stages in plan order, then stages scripts ran in the order they started.
        record.stages.sort_by_key(|s| {
            order
                .get(&s.node)
                .copied()
                .unwrap_or_else(|| order.len() + s.node.index())
        });
        record
    }
}
