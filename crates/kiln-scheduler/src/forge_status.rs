//! Commit statuses on GitHub and GitLab as builds change state: pending when queued, running,
//! then the result. The actor and build tasks hand updates to [`ForgeReporter`] without
//! waiting (a bounded queue; a full queue drops the update and says so); a task per update
//! posts it through kiln-forge off the async threads, after the build's previous update, with
//! retries and back-off. A status that cannot be posted is logged (in the build's log while
//! the build runs) and never changes the build's result. Every forge call of the scheduler
//! goes through [`with_client`], which takes a GitHub App's installation token from the
//! reporter's [`AppTokens`] and takes a new one when the forge refuses the kept one.

use crate::credentials::ConfigCredentials;
use crate::recorder::Control;
use kiln_config::Config;
use kiln_engine::{Credential, CredentialStore};
use kiln_forge::{
    AppTokens, CommitStatus, ForgeClient, ForgeError, ForgeTarget, GitHubApp, StatusState,
};
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
    /// GitHub Apps' installation tokens, for every forge call of the scheduler.
    tokens: Arc<AppTokens>,
}

impl ForgeReporter {
    /// Starts the reporter's task on the current runtime.
    pub(crate) fn start() -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        let tokens = Arc::new(AppTokens::new());
        tokio::spawn(run(rx, tokens.clone()));
        ForgeReporter { tx, tokens }
    }

    pub(crate) fn tokens(&self) -> &Arc<AppTokens> {
        &self.tokens
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
            git_ref: CommitStatus::ref_of(
                record.branch.as_deref(),
                record.change.as_ref().map(|c| &c.vars),
            ),
        };
        let last = matches!(
            state,
            StatusState::Success | StatusState::Failure | StatusState::Error | StatusState::Skipped
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
async fn run(mut rx: mpsc::Receiver<StatusUpdate>, tokens: Arc<AppTokens>) {
    let permits = Arc::new(Semaphore::new(CONCURRENT));
    let mut chains: HashMap<BuildRef, JoinHandle<Carry>> = HashMap::new();
    while let Some(update) = rx.recv().await {
        let before = chains.remove(&update.build);
        let (build, last) = (update.build.clone(), update.last);
        let (permits, tokens) = (permits.clone(), tokens.clone());
        let task = tokio::spawn(async move {
            let mut carry = match before {
                Some(h) => h.await.unwrap_or_default(),
                None => Carry::default(),
            };
            let _permit = permits.acquire_owned().await;
            post(update, &mut carry, &tokens).await;
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

async fn post(update: StatusUpdate, carry: &mut Carry, tokens: &Arc<AppTokens>) {
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
        let (before, status) = (carry.check_run, update.status);
        with_client(tokens, &update.config, update.target, move |c| {
            c.check_run(before, &status)
        })
        .await
        .map(|id| carry.check_run = Some(id))
    } else {
        post_with_retries(tokens, &update.config, update.target, update.status).await
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

/// Posts `status` to `target`, trying a transient failure again (the forge steps wait for it).
pub(crate) async fn post_with_retries(
    tokens: &Arc<AppTokens>,
    config: &Arc<Config>,
    target: ForgeTarget,
    status: CommitStatus,
) -> Result<(), String> {
    with_client(tokens, config, target, move |c| c.post_status(&status)).await
}

/// Makes `call` with the client of `target`, off the async threads, trying a transient
/// failure again. A GitHub App's kept installation token that the forge refuses (401) is
/// forgotten and the call made once more with a new one.
pub(crate) async fn with_client<T: Send + 'static>(
    tokens: &Arc<AppTokens>,
    config: &Arc<Config>,
    target: ForgeTarget,
    call: impl Fn(&ForgeClient) -> Result<T, ForgeError> + Send + Sync + 'static,
) -> Result<T, String> {
    let call = Arc::new(call);
    let mut refused = false;
    loop {
        let client = Arc::new(client(tokens, config, target.clone()).await?);
        let (c, f) = (client.clone(), call.clone());
        match retrying(move || f(&c)).await {
            Err(Failed::Forge(e, _)) if e.is_unauthorized() && !refused => {
                let (Some(app), Some(token)) = (&target.app, client.token()) else {
                    return Err(Failed::Forge(e, 1).to_string());
                };
                tracing::info!(app_id = app.app_id, error = %e, "the forge refused the GitHub App's installation token: taking a new one");
                tokens.forget(&client, app.app_id, token);
                refused = true;
            }
            res => return res.map_err(|e| e.to_string()),
        }
    }
}

/// The client of `target`, with its token: a GitHub App's installation token (kept in
/// `tokens`, bought with the app's key when it has none valid), else `token_credential`'s.
async fn client(
    tokens: &Arc<AppTokens>,
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
    let keyless = ForgeClient::new(target.clone(), None);
    let tokens = tokens.clone();
    let installation = retrying(move || tokens.token(&keyless, &key, now))
        .await
        .map_err(|e| format!("cannot get the GitHub App's installation token: {e}"))?;
    Ok(ForgeClient::new(target, Some(installation)))
}

/// Why a forge call failed: the forge's answer (after so many tries), or the task.
enum Failed {
    Forge(ForgeError, u32),
    Task(String),
}

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failed::Forge(e, attempts) if *attempts > 1 => {
                write!(f, "{e} (after {attempts} tries)")
            }
            Failed::Forge(e, _) => write!(f, "{e}"),
            Failed::Task(why) => write!(f, "the reporting task failed: {why}"),
        }
    }
}

/// Runs a blocking forge call off the async threads, trying a transient failure again.
async fn retrying<T: Send + 'static>(
    call: impl Fn() -> Result<T, ForgeError> + Send + Sync + 'static,
) -> Result<T, Failed> {
    let call = Arc::new(call);
    let mut wait = FIRST_BACKOFF;
    let mut attempt = 1;
    loop {
        let c = call.clone();
        let res = tokio::task::spawn_blocking(move || c())
            .await
            .map_err(|e| Failed::Task(e.to_string()))?;
        match res {
            Ok(v) => return Ok(v),
            Err(e) if e.is_transient() && attempt < ATTEMPTS => {
                tracing::debug!(error = %e, attempt, "forge call failed, trying again");
                tokio::time::sleep(wait).await;
                wait = wait.saturating_mul(2);
                attempt += 1;
            }
            Err(e) => return Err(Failed::Forge(e, attempt)),
        }
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
