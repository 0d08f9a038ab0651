//! One build, from the queue to `Finished: RESULT`: the source read (again, after a
//! restart), the pipeline loaded, checked and planned with its libraries (see
//! [`crate::prepared`]), the workspace prepared, the engine run with the local executor
//! (a scripted pipeline as a script whose stages appear as they start), and every event
//! recorded.

use crate::agent_records::{StageAgentRecords, StagePodsBefore};
use crate::cause;
use crate::controller_work::ControllerWork;
use crate::credentials::ConfigCredentials;
use crate::input::{PendingInputs, ServerInput};
use crate::pipeline_info::PipelineInfo;
use crate::recorder::{Control, Recorder, blocking, millis};
use crate::shared::Shared;
use crate::source::{self, Files, Resolved};
use kiln_backend::{Lease, LocalBackend};
use kiln_config::{Config, JobConfig};
use kiln_engine::{
    AgentProvider, BackendAgents, BuildSpec, BuildSummary, CredentialStore, LogFormatter, Prepared,
    ScmInfo,
};
use kiln_executor::{Executor, Layered, LocalExecutor};
use kiln_forge::StatusState;
use kiln_plan::Plan;
use kiln_store::{
    ArtifactRecord, BuildRecord, BuildStatus, LogEventKind, Page, StageRecord, StageState,
    StoreError, TestSummary,
};
use kiln_types::{BuildRef, BuildResult};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

/// Everything a build task needs, handed over by the actor when the build starts.
pub(crate) struct BuildTask {
    pub shared: Arc<Shared>,
    pub config: Arc<Config>,
    pub job: JobConfig,
    pub recorder: Recorder,
    pub resolved: Option<Arc<Resolved>>,
    pub cancel: CancellationToken,
    pub control: mpsc::UnboundedReceiver<Control>,
    pub control_tx: mpsc::UnboundedSender<Control>,
    pub inputs: PendingInputs,
    /// The job's workspace for this build (unless the job runs in its directory).
    pub workspace: PathBuf,
    /// The build ran when the controller restarted and its pod is to be taken over.
    pub resume: bool,
    /// Fired when the controller stops while the build's steps run in its pod: the build is
    /// left running there (for the next start to take over) instead of being aborted.
    pub detach: CancellationToken,
    /// Set while the engine runs the build in its pod (the actor detaches such a build).
    pub in_pod: Arc<AtomicBool>,
    /// Set while a build taken over re-attaches to its pod (see the actor's `Running`).
    pub resuming: Arc<AtomicBool>,
    /// The actor, for the build's `build` and `milestone` steps.
    pub commands: mpsc::WeakUnboundedSender<crate::command::Command>,
    /// What the build set for its job from values its pipeline computes.
    pub job_properties: Option<kiln_engine::JobProperties>,
    /// Fired when a write to the build was refused: another controller took it over, and
    /// this one stops driving it (see `fencing.rs`).
    pub fenced: CancellationToken,
    /// The build's claim, for its kept files (`None` on a store of one controller).
    pub claim: Option<crate::fencing::BuildFence>,
}

/// What the actor learns when a build ends.
#[derive(Debug)]
pub(crate) struct Done {
    pub id: BuildRef,
    pub result: BuildResult,
    pub duration_ms: u64,
    pub queued_ms: u64,
    /// The pipeline the build ran, when it could be read.
    pub info: Option<Arc<PipelineInfo>>,
    /// The build has not ended: it was left running in its pod (the controller is stopping),
    /// or it could not start (see [`start`]).
    pub detached: bool,
    /// What the build set for its job from values its pipeline computes.
    pub job_properties: Option<kiln_engine::JobProperties>,
}

/// Where a starting build's record comes from.
pub(crate) enum StartRecord {
    /// In hand (a build claimed in a shared store, or resumed).
    InHand(Box<BuildRecord>),
    /// Read from the store for it (a build from the queue, which keeps no record).
    Stored(oneshot::Receiver<Result<Option<BuildRecord>, StoreError>>),
}

/// Runs a build that starts now: its record read, then `task` made of it and run. A build
/// whose record cannot be read does not start: its stored record stays queued (and is
/// queued again at the next start), said at ERROR.
pub(crate) async fn start(
    id: BuildRef,
    record: StartRecord,
    task: impl FnOnce(BuildRecord) -> BuildTask,
) -> Done {
    let read = match record {
        StartRecord::InHand(record) => Ok(*record),
        StartRecord::Stored(rx) => match rx.await {
            Ok(Ok(Some(record))) => Ok(record),
            Ok(Ok(None)) => Err("it is not in the store".to_owned()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("the store's writer stopped".to_owned()),
        },
    };
    match read {
        Ok(record) => task(record).run().await,
        Err(error) => {
            tracing::error!(build = %id, %error, "a queued build cannot start: its record cannot be read");
            Done {
                id,
                result: BuildResult::NotBuilt,
                duration_ms: 0,
                queued_ms: 0,
                info: None,
                detached: true,
                job_properties: None,
            }
        }
    }
}

impl BuildTask {
    /// Runs the build to its end, then gives back to the system the memory the allocator
    /// kept of what the build freed (a loud build's log buffers: see kiln-trim).
    pub(crate) async fn run(self) -> Done {
        let done = self.drive().await;
        // Everything the build held is dropped by now.
        match tokio::task::spawn_blocking(kiln_trim::give_back).await {
            Ok(released) => tracing::debug!(build = %done.id, released, "freed memory given back"),
            Err(error) => tracing::warn!(build = %done.id, %error, "cannot give freed memory back"),
        }
        done
    }

    async fn drive(mut self) -> Done {
        if let (true, Some(result)) = (self.resume, self.recorder.record.ended) {
            return self.finish_ended(result).await;
        }
        let resumed = if self.resume {
            let taken = self.take_over_pod().await;
            self.resuming.store(false, Ordering::Release);
            match taken {
                Ok(pod) => pod,
                Err(reason) => return self.abort_resume(&reason).await,
            }
        } else {
            let now = self.recorder.now_ms();
            self.recorder.record.started_at_ms = Some(now);
            None
        };
        self.recorder.record.status = BuildStatus::Running;
        self.recorder.touch();
        self.recorder.flush().await;
        self.shared.forge.build_state(
            &self.config,
            &self.recorder.record,
            StatusState::Running,
            Some(self.control_tx.clone()),
        );
        if let Some(note) = self.recorder.record.change.as_ref().map(|c| c.note.clone()) {
            self.recorder.after_first_line(LogEventKind::Line, &note);
        }
        let (result, info) = match self.prepare().await {
            Ok((plan, info, files, prepared)) => {
                let scripted = prepared.scripted.is_some();
                let why = (self.resume && resumed.is_none())
                    .then(|| self.cannot_resume_without_pod(&plan, scripted))
                    .flatten();
                if let Some(why) = why {
                    self.recorder.end_replay();
                    let r = &self.recorder.record;
                    if r.pod.is_none() && r.stage_pods.iter().all(|p| p.released.is_some()) {
                        return self.abort_interrupted().await;
                    }
                    return self.abort_resume(&why).await;
                }
                if self.fenced.is_cancelled() {
                    return self.let_go();
                }
                match self.execute(plan, files, prepared, resumed).await {
                    Some(result) => (result, Some(info)),
                    None if self.fenced.is_cancelled() => return self.let_go(),
                    None => return self.detached().await,
                }
            }
            Err(lines) => {
                if let Some(pod) = resumed {
                    self.release_agent(pod, BuildResult::Failure).await;
                }
                self.recorder.end_replay();
                let cause = cause::of(&self.recorder.record);
                self.recorder.line(&cause.description());
                for l in lines {
                    self.recorder.line(&l);
                }
                let result = if self.cancel.is_cancelled() {
                    BuildResult::Aborted
                } else {
                    BuildResult::Failure
                };
                self.recorder.line(&format!("Finished: {result}"));
                (result, None)
            }
        };
        self.finish(result, info).await
    }

    /// Reads, checks and plans the pipeline; on failure, the lines that say why.
    async fn prepare(&mut self) -> Result<(Plan, Arc<PipelineInfo>, Files, Prepared), Vec<String>> {
        let resolved = match self.resolved.take() {
            Some(r) => r,
            None => Arc::new(self.resolve_again().await?),
        };
        if resolved.replay.is_some() && self.recorder.record.replay != resolved.replay {
            self.recorder.record.replay = resolved.replay.clone();
            self.recorder.touch();
        }
        if resolved.commit.is_some() && self.recorder.record.commit != resolved.commit {
            self.recorder.record.commit = resolved.commit.clone();
            self.recorder.touch();
        }
        let load = crate::prepared::prepare(&resolved, &self.config, self.shared.git.cache());
        let prepared = tokio::select! {
            res = load => res?,
            () = self.cancel.cancelled() => return Err(vec!["Aborted before the pipeline was read".to_owned()]),
        };
        for line in prepared.render_warnings(false).lines() {
            self.recorder.after_first_line(LogEventKind::Line, line);
        }
        let pipeline = prepared.pipeline.clone();
        let info = Arc::new(PipelineInfo::of(pipeline.clone()));
        self.shared
            .set_pipeline(self.job.name.as_str(), Ok(info.clone()));
        let mut plan = prepared.plan();
        // Parameters a `properties` step set for the job are the build's too.
        let job = self.job.name.as_str();
        if let Some(p) =
            crate::job_properties::with_step_parameters(&self.shared, job, &plan.pipeline)
        {
            plan.pipeline = p;
        }
        if self.resume && !self.recorder.record.stages.is_empty() {
            // The stages' stored states and times are kept (the same plan, read again); a
            // build stopped before it stored them gets them now.
            self.recorder.set_formatter(LogFormatter::new(&plan));
            return Ok((plan, info, resolved.files.clone(), prepared));
        }
        self.recorder.record.stages = plan
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| StageRecord {
                node: u32::try_from(i).unwrap_or(u32::MAX),
                path: n.path.clone(),
                state: StageState::Pending,
                started_at_ms: None,
                duration_ms: None,
                parent: n.parent.map(|p| p.0),
                kind: stage_kind(&n.body),
                failed_step: None,
            })
            .collect();
        self.recorder.set_formatter(LogFormatter::new(&plan));
        self.recorder.touch();
        Ok((plan, info, resolved.files.clone(), prepared))
    }

    /// The source again, for a build queued before a restart: at its recorded commit.
    async fn resolve_again(&self) -> Result<Resolved, Vec<String>> {
        let r = &self.recorder.record;
        let target = r.change.as_ref().and_then(|c| c.vars.get("CHANGE_TARGET"));
        let replay = r.replay.clone();
        let read = async {
            let resolved = match (&r.change, target, &r.commit) {
                (Some(change), Some(target), Some(head)) => {
                    crate::change::resolve(&self.shared.git, &self.job, target, head, change)
                        .await
                        .map(|(resolved, _)| resolved)
                }
                _ => {
                    source::resolve(
                        &self.shared.git,
                        &self.job,
                        r.branch.as_deref(),
                        r.commit.as_deref(),
                    )
                    .await
                }
            }?;
            Ok(match replay {
                Some(replay) => resolved.replayed(replay),
                None => resolved,
            })
        };
        tokio::select! {
            res = read => res.map_err(|e: crate::error::SourceError| vec![format!("ERROR: {e}")]),
            () = self.cancel.cancelled() => Err(vec!["Aborted before the pipeline was read".to_owned()]),
        }
    }

    /// Prepares the workspace and runs the engine; returns the build's result, or `None`
    /// when the build was left running in its pod (see [`BuildTask::detach`]).
    async fn execute(
        &mut self,
        plan: Plan,
        files: Files,
        prepared: Prepared,
        resumed: Option<Lease>,
    ) -> Option<BuildResult> {
        let (workspace, scm, pod) = match self.site(&files, &prepared, resumed).await {
            Ok(site) => site,
            Err(result) => return Some(result),
        };
        let mut spec = self.spec(scm, &prepared).await;
        // Stages with an agent of their own the backend serves get one (a resumed build's
        // take over the ones they had).
        let before = self
            .resume
            .then(|| StagePodsBefore::of(&self.recorder.record));
        // What `kanikoBuild` steps do, in any of the build's pods, is recorded on the build.
        let images = crate::image_records::build_images(
            self.recorder.record.images.clone(),
            self.control_tx.clone(),
            self.detach.clone(),
        );
        spec.agents = (self.shared.backend.as_ref()).map(|backend| {
            let records = StageAgentRecords::new(self.control_tx.clone(), before);
            let agents = BackendAgents::new(backend.clone(), workspace.clone())
                .recording(Arc::new(records), images.clone());
            let agents = match &pod {
                Some(pod) => agents.within(pod.handle()),
                None => agents,
            };
            Arc::new(agents) as Arc<dyn AgentProvider>
        });
        if pod.is_some() {
            // In a pod the container's environment is the base, not the server's (whose
            // variables, its API tokens among them, must not reach the build).
            spec.base_env.retain(|name, _| name == "KILN_URL");
        }
        let executor: Arc<dyn Executor> = match &pod {
            Some(pod) => {
                pod.record_images(images.clone());
                pod.executor()
            }
            None => Arc::new(self.local_executor(workspace)),
        };
        // A scripted pipeline's `node` pods can be resumed unless it ran processes here.
        let executor = match (&pod, &self.shared.backend, &prepared.scripted) {
            (None, Some(_), Some(_)) => Arc::new(Layered(ControllerWork::new(
                executor,
                self.control_tx.clone(),
            ))),
            _ => executor,
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let (cancel, scripts) = (self.cancel.clone(), prepared.scripts);
        let engine = kiln_engine::BuildRun::new(&plan, spec, executor)
            .scripted(prepared.scripted.as_deref())
            .scripts(scripts)
            .run(tx, cancel);
        let recording = self.recorder.run(rx, &mut self.control);
        let both = async { tokio::join!(engine, recording) };
        self.in_pod.store(pod.is_some(), Ordering::Release);
        let (detach, fenced) = (self.detach.clone(), self.fenced.clone());
        let ended = tokio::select! {
            ended = both => Some(ended),
            () = detach.cancelled(), if pod.is_some() => None,
            // Another controller owns the build now: dropping the engine kills its local
            // processes and leaves its pod (whose agent refuses this controller now).
            () = fenced.cancelled() => None,
        };
        self.in_pod.store(false, Ordering::Release);
        // Left running: dropping the engine stops following its processes, and dropping the
        // pod disconnects from it; neither kills nor deletes anything.
        let (summary, ()) = ended?;
        // Stored before the pods go: a controller taking the build over from here finishes
        // it with this result, rather than finding its pod gone.
        self.recorder.record.ended = Some(summary.result);
        self.recorder.touch();
        self.recorder.flush().await;
        if self.fenced.is_cancelled() {
            return None;
        }
        remove_build_tmp(&self.workspace).await;
        if let Some(pod) = pod {
            self.release_agent(pod, summary.result).await;
        }
        if self.resume {
            // Recorded stage pods the resumed run did not reach (it took another path).
            self.discard_stage_agents().await;
        }
        self.record_summary(&summary);
        self.job_properties.clone_from(&summary.job_properties);
        if summary.result == BuildResult::NotBuilt {
            // The engine refused the parameters before running anything.
            self.recorder
                .line(&format!("Finished: {}", summary.result.as_str()));
        }
        Some(summary.result)
    }

    /// Where the build runs: the prepared local workspace, the SCM, and the build's pod (the
    /// resumed one, or a new one when the pipeline runs on Kubernetes). A resumed build's pod
    /// has its workspace (no upload); the local one is prepared again all the same, for
    /// stages with pods of their own that start after the restart. Failing, the build ends.
    async fn site(
        &mut self,
        files: &Files,
        prepared: &Prepared,
        resumed: Option<Lease>,
    ) -> Result<(PathBuf, Option<ScmInfo>, Option<Lease>), BuildResult> {
        let (workspace, scm) = match self.workspace_for(files).await {
            Ok(w) => w,
            Err(line) => {
                if let Some(pod) = resumed {
                    self.release_agent(pod, BuildResult::Failure).await;
                }
                return Err(self.failed_before_engine(vec![line]));
            }
        };
        let pod = match resumed {
            Some(pod) => {
                let name = pod.name().map(|n| n.name).unwrap_or_default();
                let line = format!("Running in pod {name}");
                let kind = LogEventKind::RunningInPod { pod: name };
                self.recorder.after_first_line(kind, &line);
                Some(pod)
            }
            None => match self.backend_agent(prepared, &workspace).await {
                Ok(pod) => pod,
                Err(lines) => return Err(self.failed_before_engine(lines)),
            },
        };
        Ok((workspace, scm, pod))
    }

    /// Ends a build the engine never ran: the lines that say why, then `Finished:`.
    fn failed_before_engine(&mut self, lines: Vec<String>) -> BuildResult {
        self.recorder.end_replay();
        for line in lines {
            self.recorder.line(&line);
        }
        let result = if self.cancel.is_cancelled() {
            BuildResult::Aborted
        } else {
            BuildResult::Failure
        };
        self.recorder.line(&format!("Finished: {result}"));
        result
    }

    /// The directory the build runs in and the SCM `checkout scm` uses.
    async fn workspace_for(&mut self, files: &Files) -> Result<(PathBuf, Option<ScmInfo>), String> {
        let mut scm = self.scm_for(files)?;
        if let (Files::Repo { url }, Some(scm), Some(target)) =
            (files, &mut scm, self.merge_target())
        {
            let bundle = self
                .shared
                .build_dir(&self.recorder.record.id)
                .join("merge.bundle");
            let merge = crate::change::checkout_merge(
                &self.shared.git,
                url,
                (&target, &scm.commit),
                &self.workspace,
                bundle,
            );
            let (merged, bundle, line) = tokio::select! {
                res = merge => res?,
                () = self.cancel.cancelled() => return Err("Aborted during the checkout".to_owned()),
            };
            self.recorder.line(&line);
            scm.commit = merged;
            scm.merge = Some(bundle);
            return Ok((self.workspace.clone(), Some(scm.clone())));
        }
        match (files, &scm) {
            (Files::Repo { url }, Some(scm)) => {
                let checkout = self.shared.git.checkout(url, &scm.commit, &self.workspace);
                tokio::select! {
                    res = checkout => res.map_err(|e| format!("ERROR: checkout of {} failed: {e}", scm.commit))?,
                    () = self.cancel.cancelled() => return Err("Aborted during the checkout".to_owned()),
                }
            }
            (Files::DirRepo { .. }, _) => ensure_dir(&self.workspace).await?,
            (Files::Copy { path }, _) => copy_dir(path.clone(), self.workspace.clone()).await?,
            (Files::Repo { .. }, None) => {}
        }
        Ok((self.workspace.clone(), scm))
    }

    /// The target branch a change request's build merges its head into, with
    /// `change_build: merge` (Jenkins' default): the multibranch parent's setting for its
    /// children, the job's `forge.change_build` for a job that builds requests in the target
    /// branch's job. Other builds build their commit.
    fn merge_target(&self) -> Option<String> {
        let change = self.recorder.record.change.as_ref()?;
        let merges = match self.job.name.parent() {
            Some(parent) => self
                .shared
                .job(parent)?
                .multibranch
                .is_some_and(|m| m.change_build == kiln_config::ChangeBuild::Merge),
            None => {
                self.job
                    .forge
                    .as_ref()
                    .map(|f| f.change_build)
                    .unwrap_or_default()
                    == kiln_config::ChangeBuild::Merge
            }
        };
        merges
            .then(|| change.vars.get("CHANGE_TARGET").cloned())
            .flatten()
    }

    /// The build's executor on this machine: file steps confined to the workspace, its
    /// `@tmp` and `executors.local.allow_paths`, processes in the server's sandbox.
    fn local_executor(&self, workspace: PathBuf) -> LocalExecutor {
        let local = &self.config.executors.local;
        let sandbox = match (&self.shared.sandbox, local.sandbox) {
            (Some(sandbox), kiln_config::SandboxMode::Landlock) => Some(sandbox.clone()),
            _ => None,
        };
        LocalBackend::new(local.allow_paths.clone(), sandbox).executor(workspace)
    }

    /// The SCM `checkout scm` uses: the job's repository at the build's commit.
    pub(crate) fn scm_for(&self, files: &Files) -> Result<Option<ScmInfo>, String> {
        let r = &self.recorder.record;
        let url = match files {
            Files::Repo { url } => url.clone(),
            Files::DirRepo { path } => path.display().to_string(),
            Files::Copy { .. } => return Ok(None),
        };
        let commit = r
            .commit
            .clone()
            .ok_or_else(|| "ERROR: the build has no commit to check out".to_owned())?;
        Ok(Some(ScmInfo {
            url,
            commit,
            branch: r.branch.clone(),
            tag: self.job.tag.clone(),
            change: r
                .change
                .as_ref()
                .map(|c| c.vars.clone())
                .unwrap_or_default(),
            merge: None,
        }))
    }

    /// The configuration's credentials; none for an untrusted pull request's build unless its
    /// job's `forge.untrusted_credentials` allows them.
    fn credentials(&self) -> Arc<dyn CredentialStore> {
        let untrusted = self
            .recorder
            .record
            .change
            .as_ref()
            .is_some_and(|c| !c.trusted);
        let allowed = self
            .job
            .forge
            .as_ref()
            .is_some_and(|f| f.untrusted_credentials);
        if untrusted && !allowed {
            Arc::new(NoCredentials)
        } else {
            Arc::new(ConfigCredentials::new(self.config.clone()))
        }
    }

    async fn spec(&self, scm: Option<ScmInfo>, prepared: &Prepared) -> BuildSpec {
        let r = &self.recorder.record;
        // A pipeline a library built is only known now: the job's configured values of
        // the parameters it declares apply as they do for a written pipeline.
        let mut params: BTreeMap<String, String> = self
            .job
            .parameters
            .iter()
            .filter(|(k, _)| {
                prepared
                    .pipeline
                    .parameters
                    .iter()
                    .any(|p| p.name.value == **k)
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        params.extend(r.params.clone());
        // Never kiln's own environment: its API tokens and `secret_env` credentials are there.
        let mut base_env = local_env(&self.config.executors.local, &self.workspace).await;
        if let Some(url) = &self.config.server.external_url {
            base_env.insert(
                "KILN_URL".to_owned(),
                format!("{}/", url.trim_end_matches('/')),
            );
        }
        BuildSpec {
            job_name: r.id.job.to_string(),
            number: r.id.number,
            params,
            base_env,
            scm,
            build_dir: self.shared.build_dir(&r.id),
            cause: cause::of(r),
            credentials: self.credentials(),
            input: Arc::new(ServerInput {
                pending: self.inputs.clone(),
                changes: self.control_tx.clone(),
                answered: std::sync::Mutex::new(r.answers.iter().cloned().collect()),
            }),
            workspace_is_checkout: false,
            previous_result: self.previous_result().await,
            agents: None,
            services: Arc::new(self.config.services.clone()),
            coordinator: Arc::new(crate::coordinator::ServerCoordinator::new(
                self.shared.clone(),
                self.commands.clone(),
                r.id.clone(),
                self.claim.clone(),
            )),
        }
    }

    async fn previous_result(&self) -> Option<BuildResult> {
        let store = self.shared.store.clone();
        let id = self.recorder.record.id.clone();
        let page = Page {
            before: Some(id.number),
            limit: 20,
        };
        let builds = blocking(move || store.list_builds(&id.job, page))
            .await
            .ok()?;
        builds
            .into_iter()
            .filter(|b| b.status == BuildStatus::Finished)
            .find_map(|b| b.result)
    }

    fn record_summary(&mut self, summary: &BuildSummary) {
        let build_dir = self.shared.build_dir(&self.recorder.record.id);
        for s in &summary.stages {
            if self.recorder.done_before(s.node.0) {
                continue;
            }
            let r = self.recorder.stage(s.node, &s.path);
            r.state = StageState::Done(s.outcome);
            // A resumed build's stages were timed from their first start as they ended.
            let timed = self.resume && r.duration_ms.is_some();
            if matches!(s.outcome, kiln_engine::StageOutcome::Ran(_)) && !timed {
                r.duration_ms = Some(millis(s.duration));
            }
        }
        let rec = &mut self.recorder.record;
        rec.variables.clone_from(&summary.variables);
        rec.tests = summary.tests.map(|t| TestSummary {
            total: t.total,
            failed: t.failed,
            skipped: t.skipped,
        });
        crate::report_records::store_reports(rec, &summary.reports, &build_dir);
        let mut paths: Vec<PathBuf> = summary.artifacts.clone();
        if self.resume {
            // Stages that had finished before the restart did not run again: what they
            // archived is in the build directory only.
            for path in archived(&build_dir.join("artifacts")) {
                if !paths.contains(&path) {
                    paths.push(path);
                }
            }
        }
        rec.artifacts = paths
            .iter()
            .map(|p| ArtifactRecord {
                path: p.to_string_lossy().into_owned(),
                size: std::fs::metadata(build_dir.join("artifacts").join(p)).map_or(0, |m| m.len()),
            })
            .collect();
        self.recorder.touch();
    }

    pub(crate) async fn finish(
        mut self,
        result: BuildResult,
        info: Option<Arc<PipelineInfo>>,
    ) -> Done {
        // A cancellation that came before the engine ran still says who cancelled.
        while let Ok(c) = self.control.try_recv() {
            if let Control::Reason(r) = c {
                self.recorder.record.reason.get_or_insert(r);
            }
        }
        if self.resume {
            self.discard_unfinished_builders().await;
        }
        let id = self.recorder.record.id.clone();
        let build_dir = self.shared.build_dir(&id);
        let claim = self.claim.as_ref();
        for problem in
            crate::db_files::build_files_saved(&self.shared, &id, claim, &build_dir).await
        {
            tracing::warn!(build = %id, "{problem}");
        }
        let now = self.recorder.now_ms();
        let rec = &mut self.recorder.record;
        rec.result = Some(result);
        rec.ended = None;
        rec.finished_at_ms = Some(now);
        let started = rec.started_at_ms.unwrap_or(now);
        let queued_ms = started.saturating_sub(rec.queued_at_ms);
        if let Err(e) = self.recorder.close().await {
            if self.fenced.is_cancelled() {
                return self.let_go();
            }
            tracing::error!(build = %self.recorder.record.id, error = %e, "cannot store a finished build");
        }
        self.shared.forge.build_state(
            &self.config,
            &self.recorder.record,
            StatusState::of_result(result),
            None,
        );
        Done {
            id: self.recorder.record.id.clone(),
            result,
            duration_ms: now.saturating_sub(started),
            queued_ms,
            info,
            detached: false,
            job_properties: self.job_properties.take(),
        }
    }
}

/// The credential store of an untrusted pull request's build: it finds nothing.
struct NoCredentials;

impl CredentialStore for NoCredentials {
    fn get(&self, _id: &str) -> Option<kiln_engine::Credential> {
        None
    }
}

/// The files under a build's `artifacts` directory, relative to it, in name order.
fn archived(dir: &std::path::Path) -> Vec<PathBuf> {
    walkdir::WalkDir::new(dir)
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .filter_map(|e| e.path().strip_prefix(dir).ok().map(PathBuf::from))
        .collect()
}

async fn ensure_dir(dir: &std::path::Path) -> Result<(), String> {
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(|e| format!("ERROR: cannot create the workspace {}: {e}", dir.display()))
}

/// Copies a plain directory's files into the workspace (files the workspace has besides
/// them stay, as in a Jenkins workspace).
async fn copy_dir(from: PathBuf, to: PathBuf) -> Result<(), String> {
    let copy = move || -> std::io::Result<()> {
        for entry in walkdir::WalkDir::new(&from).follow_links(false) {
            let entry = entry.map_err(std::io::Error::other)?;
            let rel = entry
                .path()
                .strip_prefix(&from)
                .map_err(std::io::Error::other)?;
            let dest = to.join(rel);
            let kind = entry.file_type();
            if kind.is_dir() {
                std::fs::create_dir_all(&dest)?;
            } else if kind.is_symlink() {
                let target = std::fs::read_link(entry.path())?;
                let _ = std::fs::remove_file(&dest);
                std::os::unix::fs::symlink(target, &dest)?;
            } else {
                std::fs::copy(entry.path(), &dest)?;
            }
        }
        Ok(())
    };
    match tokio::task::spawn_blocking(copy).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!(
            "ERROR: cannot copy the job's directory into its workspace: {e}"
        )),
        Err(e) => Err(format!("ERROR: the workspace copy failed: {e}")),
    }
}

/// A local build's base environment (kiln-engine's fixed list, `HOME` in the build's
/// `@tmp`, then `executors.local.env`); `HOME` is created for it.
async fn local_env(
    local: &kiln_config::LocalExecutorConfig,
    workspace: &Path,
) -> BTreeMap<String, String> {
    let host: BTreeMap<String, String> = std::env::vars().collect();
    let configured = local.env.iter().map(|e| match e {
        kiln_config::PassEnv::Inherit(name) => (name.as_str(), None),
        kiln_config::PassEnv::Set(name, value) => (name.as_str(), Some(value.as_str())),
    });
    let env = kiln_engine::local_base_env(&host, configured, workspace);
    if let Some(home) = env.get("HOME")
        && let Err(error) = tokio::fs::create_dir_all(home).await
    {
        tracing::warn!(%error, home = %home, "cannot create the build's HOME");
    }
    // Empty for each build: what an earlier build of this workspace left there is gone.
    let tmp = kiln_engine::build_tmp_dir(workspace);
    remove_build_tmp(workspace).await;
    if let Err(error) = tokio::fs::create_dir_all(&tmp).await {
        tracing::warn!(%error, dir = %tmp.display(), "cannot create the build's TMPDIR");
    }
    env
}

/// Removes the build's own temporary directory (its `TMPDIR`), if it has one.
async fn remove_build_tmp(workspace: &Path) {
    let tmp = kiln_engine::build_tmp_dir(workspace);
    match tokio::fs::remove_dir_all(&tmp).await {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
            tracing::warn!(%error, dir = %tmp.display(), "cannot remove the build's TMPDIR");
        }
        _ => {}
    }
}

/// How a plan node's children run, as the build's record keeps it.
fn stage_kind(body: &kiln_plan::NodeBody) -> kiln_store::StageKind {
    use kiln_plan::NodeBody as B;
    use kiln_store::StageKind as K;
    match body {
        B::Steps(_) => K::Steps,
        B::Sequential => K::Stages,
        B::Parallel => K::Parallel,
        B::Matrix => K::Matrix,
        B::Cell => K::Cell,
    }
}
