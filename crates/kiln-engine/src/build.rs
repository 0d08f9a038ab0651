use crate::log::timestamp_prefix;
use crate::log_lines::{LogCredit, OutputBatch};
use crate::masker::Masker;
use crate::process_key::ProcessKeys;
use crate::site::Site;
use crate::steps::PodTemplates;
use crate::{
    BuildEvent, BuildResult, BuildScripts, BuildSpec, LineKind, OutputSource, ParamValue,
    StageSummary, TestSummary,
};
use kiln_plan::{NodeId, Plan};
use kiln_script::ScriptContext;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Instant;
use tokio::sync::mpsc::UnboundedSender;

/// `env` changes scripts made: a value, or `None` for a removed variable.
pub(crate) type EnvLayer = Arc<BTreeMap<String, Option<String>>>;

/// One running build, shared by all its stages and steps (parallel branches included).
///
/// The mutexes here guard plain data and are never held across an `.await`.
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
    definitions: Mutex<ScriptContext>,
    /// `env.X = ...` written by scripts: the build's environment layer (`None` removes).
    env_layer: RwLock<(u64, EnvLayer)>,
    /// Paths of stages that scripts start (`stage('x') { }`), numbered after the plan's.
    dynamic: Mutex<Vec<Vec<String>>>,
    /// `currentBuild.displayName` and `currentBuild.description` set by scripts.
    labels: Mutex<(Option<String>, Option<String>)>,
    events: UnboundedSender<BuildEvent>,
    masker: RwLock<Arc<Masker>>,
    /// The log text so far (for `emailext attachLog`).
    log_copy: Mutex<crate::log_copy::LogCopy>,
    /// Bounds the process output waiting for the consumer of `events`.
    log_credit: LogCredit,
    result: Mutex<BuildResult>,
    record: Mutex<Record>,
    counter: AtomicU64,
    /// The identities of the processes the build starts (see [`ProcessKeys`]).
    pub(crate) process_keys: ProcessKeys,
    /// The pods scripted `podTemplate` blocks describe, while their blocks run.
    pub(crate) pod_templates: PodTemplates,
    /// The ordinal of the last `milestone` the build passed.
    pub(crate) last_milestone: Mutex<Option<u32>>,
}

/// What the build has produced so far, for the summary.
#[derive(Default)]
struct Record {
    stages: Vec<StageSummary>,
    tests: Option<TestSummary>,
    artifacts: Vec<PathBuf>,
    reports: crate::Reports,
    notices: BTreeSet<String>,
}

/// Locks a mutex whose data stays consistent even if a holder panicked.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Build {
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
        let log_copy = crate::log_copy::LogCopy::new(crate::LogFormatter::new(&plan));
        Build {
            plan,
            spec,
            site: Arc::new(site),
            params,
            started: Instant::now(),
            script: kiln_script::ScriptEngine::with_limits(scripts.limits.clone()),
            scripts,
            definitions: Mutex::new(ScriptContext::new()),
            env_layer: RwLock::new((0, Arc::new(BTreeMap::new()))),
            dynamic: Mutex::new(Vec::new()),
            labels: Mutex::new((None, None)),
            events,
            masker: RwLock::new(Arc::new(masker)),
            log_copy: Mutex::new(log_copy),
            log_credit: LogCredit::default(),
            result: Mutex::new(BuildResult::Success),
            record: Mutex::new(Record::default()),
            counter: AtomicU64::new(0),
            process_keys,
            pod_templates: PodTemplates::default(),
            last_milestone: Mutex::new(None),
        }
    }

    pub(crate) fn send(&self, event: BuildEvent) {
        lock(&self.log_copy).add(&event);
        // The receiver may be gone (a caller that stopped listening); the build goes on.
        let _ = self.events.send(event);
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
    pub(crate) fn log_text(&self) -> String {
        lock(&self.log_copy).text()
    }

    /// Takes the ordinal of the next `milestone`: the one asked for, else one more than
    /// the last. `Err(last)` when the one asked for is not above the last one passed.
    pub(crate) fn next_milestone(&self, asked: Option<u32>) -> Result<u32, u32> {
        let mut last = lock(&self.last_milestone);
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
        OutputBatch::new(self.masker(), timestamps)
    }

    /// Sends a process's lines of a stage (or of the build when `node` is `None`) once
    /// the build has log credit for them: this waits while the consumer lags.
    pub(crate) async fn output(
        &self,
        node: Option<NodeId>,
        batch: OutputBatch,
        source: OutputSource,
    ) {
        let mut lines = batch.lines;
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
        let first = lock(&self.record).notices.insert(message.clone());
        if first {
            self.send(BuildEvent::Notice { message });
        }
    }

    pub(crate) fn masker(&self) -> Arc<Masker> {
        Arc::clone(
            &self
                .masker
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    /// Adds values to mask from now on (they stay masked for the rest of the build).
    pub(crate) fn add_secrets(&self, secrets: impl IntoIterator<Item = String>) {
        let mut guard = self
            .masker
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let next = guard.with(secrets);
        *guard = Arc::new(next);
    }

    /// The build's result so far (`currentBuild.currentResult`).
    pub(crate) fn result(&self) -> BuildResult {
        *lock(&self.result)
    }

    /// Makes the build's result worse (never better), as Jenkins' `setResult`.
    pub(crate) fn worsen(&self, result: BuildResult) {
        let mut r = lock(&self.result);
        *r = r.combine(result);
    }

    pub(crate) fn record_stage(&self, summary: StageSummary) {
        lock(&self.record).stages.push(summary);
    }

    pub(crate) fn add_tests(&self, tests: TestSummary) {
        lock(&self.record)
            .tests
            .get_or_insert_with(TestSummary::default)
            .add(tests);
    }

    pub(crate) fn add_artifact(&self, path: PathBuf) {
        lock(&self.record).artifacts.push(path);
    }

    /// Adds to what the report steps recorded.
    pub(crate) fn add_reports(&self, f: impl FnOnce(&mut crate::Reports)) {
        f(&mut lock(&self.record).reports);
    }

    /// Takes what the report steps recorded, for the summary.
    pub(crate) fn take_reports(&self) -> crate::Reports {
        std::mem::take(&mut lock(&self.record).reports)
    }

    /// A number unique within this build, for temporary file names.
    pub(crate) fn next_id(&self) -> u64 {
        self.counter.fetch_add(1, Ordering::Relaxed)
    }

    /// A copy of the build's script definitions, to evaluate a script against.
    pub(crate) fn definitions(&self) -> ScriptContext {
        lock(&self.definitions).clone()
    }

    /// Keeps the definitions a script made for the build's later scripts.
    pub(crate) fn keep_definitions(&self, ctx: &ScriptContext) {
        lock(&self.definitions).adopt_definitions(ctx);
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
        let mut guard = self
            .env_layer
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut next = (*guard.1).clone();
        next.extend(changes);
        *guard = (guard.0 + 1, Arc::new(next));
    }

    /// The environment layer scripts wrote, with its generation (0: nothing written).
    pub(crate) fn env_layer(&self) -> (u64, EnvLayer) {
        let guard = self
            .env_layer
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        (guard.0, Arc::clone(&guard.1))
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
        let mut l = lock(&self.labels);
        if display_name.is_some() {
            l.0 = display_name;
        }
        if description.is_some() {
            l.1 = description;
        }
    }

    pub(crate) fn labels(&self) -> (Option<String>, Option<String>) {
        lock(&self.labels).clone()
    }

    /// Starts numbering a stage a script runs: its id comes after the plan's nodes.
    pub(crate) fn add_dynamic_stage(&self, path: Vec<String>) -> NodeId {
        let mut d = lock(&self.dynamic);
        d.push(path);
        let index = self.plan.nodes.len() + d.len() - 1;
        NodeId(u32::try_from(index).unwrap_or(u32::MAX))
    }

    /// The path of a stage, planned or started by a script.
    pub(crate) fn stage_path(&self, id: NodeId) -> Vec<String> {
        match id.index().checked_sub(self.plan.nodes.len()) {
            None => self.plan.node(id).path.clone(),
            Some(i) => lock(&self.dynamic).get(i).cloned().unwrap_or_default(),
        }
    }

    /// Takes the recorded stages (in plan order), tests and artifacts for the summary.
    pub(crate) fn take_record(&self) -> (Vec<StageSummary>, Option<TestSummary>, Vec<PathBuf>) {
        let mut rec = lock(&self.record);
        let mut stages = std::mem::take(&mut rec.stages);
        let order: BTreeMap<NodeId, usize> = self
            .plan
            .walk()
            .into_iter()
            .enumerate()
            .map(|(i, id)| (id, i))
            .collect();
        // Planned stages in plan order, then stages scripts ran in the order they started.
        stages.sort_by_key(|s| {
            order
                .get(&s.node)
                .copied()
                .unwrap_or_else(|| order.len() + s.node.index())
        });
        (stages, rec.tests.take(), std::mem::take(&mut rec.artifacts))
    }
}
