//! Commit statuses on GitHub and GitLab as builds change state: pending when queued, running,
//! then the result. The actor and build tasks hand updates to [`ForgeReporter`] without
//! waiting (a bounded queue; a full queue drops the update and says so); a task per update
//! posts it through kiln-forge off the async threads, after the build's previous update, with
//! retries and back-off. A status that cannot be posted is logged (in the build's log while
//! the build runs) and never changes the build's result.

use crate::credentials::ConfigCredentials;
use crate::recorder::Control;
use kiln_config::Config;
use kiln_engine::{Credential, CredentialStore};
use kiln_forge::{CommitStatus, ForgeClient, ForgeError, ForgeTarget, GitHubApp, StatusState};
use kiln_store::BuildRecord;
use kiln_types::BuildRef;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinHandle;

/// Updates waiting to be posted, across all builds.
const QUEUE: usize = 512;
/// Posts in flight at once.
const CONCURRENT: usize = 8;
/// Tries of one post, and the wait before the second (doubled after each).
const ATTEMPTS: u32 = 4;
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// Builds whose updates are remembered before finished ones are dropped.
const MAX_CHAINS: usize = 1024;

/// One status to post for a build.
pub(crate) struct StatusUpdate {
    pub build: BuildRef,
    pub config: Arc<Config>,
    pub target: ForgeTarget,
    pub status: CommitStatus,
    /// The running build's control channel: failures are written in its log.
    pub control: Option<mpsc::UnboundedSender<Control>>,
    /// The build's last update (its result): what was kept for the build is dropped.
    pub last: bool,
}

/// The sending side; cheap to share.
pub(crate) struct ForgeReporter {
    tx: mpsc::Sender<StatusUpdate>,
}

impl ForgeReporter {
    /// Starts the reporter's task on the current runtime.
    pub(crate) fn start() -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(rx));
        ForgeReporter { tx }
    }

    /// The status of `record`'s build in `state`, if its job reports to a forge and the build
    /// has a commit; queued without waiting.
    pub(crate) fn build_state(
        &self,
        config: &Arc<Config>,
        record: &BuildRecord,
        state: StatusState,
        control: Option<mpsc::UnboundedSender<Control>>,
    ) {
        let Some(commit) = record.commit.clone() else {
            return;
        };
        let id = &record.id;
        let Some(target) = target_of(config, id, control.as_ref()) else {
            return;
        };
        let status = CommitStatus {
            sha: commit,
            state,
            context: format!("kiln/{}", id.job),
            description: state.default_description().to_owned(),
            target_url: Some(build_url(config, id)),
        };
        let last = matches!(
            state,
            StatusState::Success | StatusState::Failure | StatusState::Error
        );
        self.send(StatusUpdate {
            build: id.clone(),
            config: config.clone(),
            target,
            status,
            control,
            last,
        });
    }

    /// Queues an update; a full queue drops it (logged, and in the build's log if running).
    pub(crate) fn send(&self, update: StatusUpdate) {
        if let Err(mpsc::error::TrySendError::Full(u)) = self.tx.try_send(update) {
            let msg = format!(
                "kiln: the {} status `{}` of commit {} was not reported: too many statuses waiting",
                u.target.kind.as_str(),
                u.status.context,
                u.status.sha
            );
            tracing::warn!(build = %u.build, "{msg}");
            if let Some(c) = &u.control {
                let _ = c.send(Control::Note(msg));
            }
        }
    }
}

/// The job's forge, or `None` (a broken `forge:` is logged).
fn target_of(
    config: &Config,
    id: &BuildRef,
    control: Option<&mpsc::UnboundedSender<Control>>,
) -> Option<ForgeTarget> {
    let job = config.job(id.job.as_str())?;
    match ForgeTarget::resolve(job, &config.forges) {
        Ok(target) => target,
        Err(e) => {
            tracing::warn!(build = %id, error = %e, "commit status not reported");
            if let Some(c) = control {
                let _ = c.send(Control::Note(format!(
                    "kiln: commit status not reported: {e}"
                )));
            }
            None
        }
    }
}

/// The build's page: `server.external_url` (else the listen address) and `/jobs/JOB/N`.
pub(crate) fn build_url(config: &Config, id: &BuildRef) -> String {
    let base = config
        .server
        .external_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", config.server.listen));
    format!("{base}/jobs/{}/{}", id.job, id.number)
}

/// Posts updates as they come; a build's updates one after the other, in order.
async fn run(mut rx: mpsc::Receiver<StatusUpdate>) {
    let permits = Arc::new(Semaphore::new(CONCURRENT));
    let mut chains: HashMap<BuildRef, JoinHandle<Carry>> = HashMap::new();
    while let Some(update) = rx.recv().await {
        let before = chains.remove(&update.build);
        let (build, last) = (update.build.clone(), update.last);
        let permits = permits.clone();
        let task = tokio::spawn(async move {
            let mut carry = match before {
                Some(h) => h.await.unwrap_or_default(),
                None => Carry::default(),
            };
            let _permit = permits.acquire_owned().await;
            post(update, &mut carry).await;
            carry
        });
        if !last {
            chains.insert(build, task);
        }
        // A finished chain still holds what its build's next update takes over (the control
        // channel, failures not yet in the log); it goes with the build's last update, or
        // here when builds that never sent one (a failed task) pile up.
        if chains.len() > MAX_CHAINS {
            chains.retain(|_, h| !h.is_finished());
        }
    }
}

/// What a build's next update takes over: its control channel and the failures not yet
/// written in its log.
#[derive(Default)]
struct Carry {
    control: Option<mpsc::UnboundedSender<Control>>,
    unwritten: Vec<String>,
    /// The build's check run, once created (GitHub Apps).
    check_run: Option<u64>,
}

async fn post(update: StatusUpdate, carry: &mut Carry) {
    if update.control.is_some() {
        carry.control = update.control.clone();
    }
    let (build, kind, context, state) = (
        update.build.clone(),
        update.target.kind,
        update.status.context.clone(),
        update.status.state,
    );
    let sha = update.status.sha.clone();
    let outcome = if update.target.app.is_some() {
        // A GitHub App reports a check run: created by the first update, moved by the next.
        let before = carry.check_run;
        check_run_with_retries(&update.config, update.target, update.status, before)
            .await
            .map(|id| carry.check_run = Some(id))
    } else {
        send_with_retries(update).await
    };
    match outcome {
        Ok(()) => {
            tracing::debug!(build = %build, forge = kind.as_str(), context, state = state.api_name(kind), "commit status reported");
        }
        Err(e) => {
            let msg = format!(
                "kiln: could not report the {} status `{context}` ({}) of commit {sha}: {e}",
                kind.as_str(),
                state.api_name(kind)
            );
            tracing::warn!(build = %build, "{msg}");
            carry.unwritten.push(msg);
        }
    }
    if let Some(c) = &carry.control {
        for note in carry.unwritten.drain(..) {
            let _ = c.send(Control::Note(note));
        }
    }
}

async fn send_with_retries(update: StatusUpdate) -> Result<(), String> {
    post_with_retries(&update.config, update.target, update.status).await
}

/// Posts `status` to `target`, trying a transient failure again (the forge steps wait for it).
pub(crate) async fn post_with_retries(
    config: &Arc<Config>,
    target: ForgeTarget,
    status: kiln_forge::CommitStatus,
) -> Result<(), String> {
    let client = Arc::new(client(config, target).await?);
    retrying(move || client.post_status(&status)).await
}

/// Creates or moves (`existing`) the check run of `status`; its id.
async fn check_run_with_retries(
    config: &Arc<Config>,
    target: ForgeTarget,
    status: CommitStatus,
    existing: Option<u64>,
) -> Result<u64, String> {
    let client = Arc::new(client(config, target).await?);
    retrying(move || client.check_run(existing, &status)).await
}

/// The client of `target`, with its token: a GitHub App's installation token (bought with
/// the app's key), else `token_credential`'s.
pub(crate) async fn client(
    config: &Arc<Config>,
    target: ForgeTarget,
) -> Result<ForgeClient, String> {
    let Some(app) = target.app.clone() else {
        let token = match &target.token_credential {
            None => None,
            Some(id) => Some(token(config, id).await?),
        };
        return Ok(ForgeClient::new(target, token));
    };
    let key = GitHubApp {
        app_id: app.app_id,
        private_key_pem: token(config, &app.key_credential).await?,
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let keyless = Arc::new(ForgeClient::new(target.clone(), None));
    let installation = retrying(move || keyless.installation_token(&key, now))
        .await
        .map_err(|e| format!("cannot get the GitHub App's installation token: {e}"))?;
    Ok(ForgeClient::new(target, Some(installation)))
}

/// Runs a blocking forge call off the async threads, trying a transient failure again.
async fn retrying<T: Send + 'static>(
    call: impl Fn() -> Result<T, ForgeError> + Send + Sync + 'static,
) -> Result<T, String> {
    let call = Arc::new(call);
    let mut wait = FIRST_BACKOFF;
    let mut attempt = 1;
    loop {
        let c = call.clone();
        let res = tokio::task::spawn_blocking(move || c())
            .await
            .map_err(|e| format!("the reporting task failed: {e}"))?;
        match res {
            Ok(v) => return Ok(v),
            Err(e) if e.is_transient() && attempt < ATTEMPTS => {
                tracing::debug!(error = %e, attempt, "commit status failed, trying again");
                tokio::time::sleep(wait).await;
                wait = wait.saturating_mul(2);
                attempt += 1;
            }
            Err(e) => return Err(describe(&e, attempt)),
        }
    }
}

fn describe(e: &ForgeError, attempts: u32) -> String {
    if attempts > 1 {
        format!("{e} (after {attempts} tries)")
    } else {
        e.to_string()
    }
}

/// The API token of credential `id` (a secret, or a username and password's password).
pub(crate) async fn token(config: &Arc<Config>, id: &str) -> Result<String, String> {
    let store = ConfigCredentials::new(config.clone());
    let id = id.to_owned();
    let found = tokio::task::spawn_blocking(move || (store.get(&id), id))
        .await
        .map_err(|e| format!("the reporting task failed: {e}"))?;
    match found {
        (Some(Credential::Secret(s)), _) => Ok(s),
        (Some(Credential::UsernamePassword { password, .. }), _) => Ok(password),
        (Some(_), id) => Err(format!(
            "credential `{id}` is not a secret text or a username and password"
        )),
        (None, id) => Err(format!("credential `{id}` cannot be read")),
    }
}
