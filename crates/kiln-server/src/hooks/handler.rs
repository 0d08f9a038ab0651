//! `POST /hooks/github` and `POST /hooks/gitlab`: parse, match jobs by repository and branch,
//! check each job's secret, trigger the jobs that passed.

use super::event::{HookAction, HookEvent};
use super::{deliveries, github, gitlab, signature};
use crate::api::extract::Body;
use crate::{ApiError, AppState, HookSecret};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use kiln_engine::BuildCause;
use kiln_scheduler::{ChangeTrigger, TriggerError, TriggerRequest};
use kiln_store::Once;
use serde_json::{Value, json};

/// How a forge proves a delivery is its own.
enum Proof<'a> {
    /// `X-Hub-Signature-256` over the body.
    GitHub {
        signature: Option<&'a str>,
        body: &'a [u8],
    },
    /// `X-Gitlab-Token`.
    GitLab { token: Option<&'a str> },
}

impl Proof<'_> {
    fn holds(&self, secret: &str) -> bool {
        match self {
            Proof::GitHub {
                signature: Some(sig),
                body,
            } => signature::github_signature_ok(secret, body, sig),
            Proof::GitLab { token: Some(token) } => signature::gitlab_token_ok(secret, token),
            _ => false,
        }
    }

    fn header(&self) -> &'static str {
        match self {
            Proof::GitHub { .. } => "X-Hub-Signature-256",
            Proof::GitLab { .. } => "X-Gitlab-Token",
        }
    }
}

pub async fn github_hook(
    State(state): State<AppState>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let event = header(&headers, "x-github-event")
        .ok_or_else(|| ApiError::BadRequest("missing header X-GitHub-Event".into()))?;
    let action = github::parse(event, &body).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let proof = Proof::GitHub {
        signature: header(&headers, "x-hub-signature-256"),
        body: &body,
    };
    let delivery = delivery_id(&headers, "github", &["x-github-delivery"])?;
    handle(&state, action, proof, delivery).await
}

pub async fn gitlab_hook(
    State(state): State<AppState>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let event = header(&headers, "x-gitlab-event")
        .ok_or_else(|| ApiError::BadRequest("missing header X-Gitlab-Event".into()))?;
    let action = gitlab::parse(event, &body).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let proof = Proof::GitLab {
        token: header(&headers, "x-gitlab-token"),
    };
    // GitLab keeps `Idempotency-Key` across retries of one delivery; older versions send
    // only the event's `X-Gitlab-Event-UUID`.
    let delivery = delivery_id(
        &headers,
        "gitlab",
        &["idempotency-key", "x-gitlab-event-uuid"],
    )?;
    handle(&state, action, proof, delivery).await
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The delivery's id from the first of `names` present, qualified by the forge
/// (`github:UUID`); a malformed one is refused.
fn delivery_id(
    headers: &HeaderMap,
    forge: &str,
    names: &[&str],
) -> Result<Option<String>, ApiError> {
    let Some((name, value)) = names.iter().find_map(|n| headers.get(*n).map(|v| (*n, v))) else {
        return Ok(None);
    };
    match value.to_str() {
        Ok(id) if deliveries::valid_id(id) => Ok(Some(format!("{forge}:{id}"))),
        _ => Err(ApiError::BadRequest(format!(
            "header {name} must be printable ASCII without spaces, at most {} bytes",
            deliveries::MAX_ID
        ))),
    }
}

async fn handle(
    state: &AppState,
    action: HookAction,
    proof: Proof<'_>,
    delivery: Option<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let (event, then) = match action {
        HookAction::Build(event) => (event, Then::Build),
        HookAction::Gone(event, gone) => (event, Then::Forget(gone)),
        HookAction::Comment(event, comment) => (event, Then::Comment(comment)),
        HookAction::Ignore(reason) => {
            tracing::info!(reason = %reason, "webhook ignored");
            return Ok((
                StatusCode::OK,
                Json(json!({ "message": reason, "triggered": [] })),
            ));
        }
    };
    let jobs = matching_jobs(state, &event);
    if jobs.is_empty() {
        tracing::warn!(repository = %describe(&event), "webhook for a repository no job builds");
        return Err(refused(&proof));
    }
    let settings = state.settings();
    let accepted: Vec<String> = jobs
        .into_iter()
        .filter(|job| match settings.webhook_secrets.get(job) {
            Some(HookSecret::Known(secret)) => proof.holds(secret.expose()),
            Some(HookSecret::Unreadable) => false,
            None => settings.open(),
        })
        .collect();
    if accepted.is_empty() {
        tracing::warn!(repository = %describe(&event), header = proof.header(), "webhook refused: bad or missing signature");
        return Err(refused(&proof));
    }
    // Recorded only once a job's secret proved the delivery, so an unsigned request cannot
    // use up a delivery id in advance. Controllers sharing a store take it in the database:
    // in each build's transaction, or alone when the delivery builds nothing.
    let shared = state.store().coordination().is_some();
    if let (Some(id), true) = (&delivery, shared) {
        if matches!(then, Then::Build) {
            return trigger_all(state, &event, accepted, Some(id)).await;
        }
        if !take_delivery(state, id).await? {
            return Ok(seen_before(id));
        }
    } else if let Some(id) = delivery {
        let deliveries = state.deliveries();
        let key = id.clone();
        let first = tokio::task::spawn_blocking(move || deliveries.first_time(&key))
            .await
            .map_err(ApiError::internal)?;
        if !first {
            return Ok(seen_before(&id));
        }
    }
    match then {
        Then::Forget(gone) => Ok(forget_all(state, &event, &gone, accepted).await),
        Then::Comment(comment) => Ok(comment_all(state, &comment, accepted).await),
        Then::Build => trigger_all(state, &event, accepted, None).await,
    }
}

/// The answer to a delivery taken before.
fn seen_before(id: &str) -> (StatusCode, Json<Value>) {
    tracing::info!(delivery = %id, "webhook delivery seen before: not built again");
    let message = format!("delivery `{id}` was already received: not built again");
    (
        StatusCode::OK,
        Json(json!({ "message": message, "triggered": [] })),
    )
}

/// Takes a delivery that builds nothing in the shared store; false when it was taken before.
async fn take_delivery(state: &AppState, id: &str) -> Result<bool, ApiError> {
    let store = state.store_arc();
    let once = Once::Delivery(id.to_owned());
    tokio::task::spawn_blocking(move || match store.coordination() {
        Some(shared) => shared.take_once(&once, ""),
        None => Ok(true),
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)
}

/// What a proven delivery does to the jobs that accept it.
enum Then {
    Build,
    Forget(kiln_scheduler::Gone),
    Comment(kiln_scheduler::Comment),
}

/// A comment on a change request: the multibranch jobs among `jobs` rebuild its child when
/// its pipeline asks for it (`issueCommentTrigger`) and the author may write.
async fn comment_all(
    state: &AppState,
    comment: &kiln_scheduler::Comment,
    jobs: Vec<String>,
) -> (StatusCode, Json<Value>) {
    let settings = state.settings();
    let mut triggered = Vec::new();
    let mut skipped = Vec::new();
    for job in jobs {
        match state.scheduler().comment(&job, comment).await {
            kiln_scheduler::CommentOutcome::Built(id) => {
                tracing::info!(build = %id, cause = %comment.description, "a comment triggered a build");
                let url = settings.build_url(id.job.as_str(), id.number);
                triggered.push(json!({ "job": id.job, "id": id.to_string(), "url": url }));
            }
            kiln_scheduler::CommentOutcome::Skipped(why) => {
                tracing::info!(job = %job, reason = %why, "a comment built nothing");
                skipped.push(json!({ "job": job, "reason": why }));
            }
        }
    }
    let status = if triggered.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    (
        status,
        Json(json!({ "triggered": triggered, "skipped": skipped })),
    )
}

/// A deleted branch or tag, a closed request: the multibranch jobs among `jobs` orphan its
/// child (other jobs have nothing to do).
async fn forget_all(
    state: &AppState,
    event: &HookEvent,
    gone: &kiln_scheduler::Gone,
    jobs: Vec<String>,
) -> (StatusCode, Json<Value>) {
    let mut orphaned = Vec::new();
    for job in jobs {
        if let Some(child) = state.scheduler().forget(&job, gone).await {
            tracing::info!(job = %child, cause = %event.description, "webhook orphaned a multibranch child");
            orphaned.push(child);
        }
    }
    let message = format!("{}: {} job(s) orphaned", event.description, orphaned.len());
    (
        StatusCode::OK,
        Json(json!({ "message": message, "orphaned": orphaned, "triggered": [] })),
    )
}

/// The one answer to a delivery no job takes, whether no job builds the repository or the
/// proof does not match: a caller who cannot sign learns nothing about the configured
/// repositories (the server's log says which it was).
fn refused(proof: &Proof<'_>) -> ApiError {
    ApiError::Forbidden(format!(
        "no job accepts this delivery: none builds this repository and branch with a webhook \
         secret that {} matches",
        proof.header()
    ))
}

/// Jobs whose repository (any of the URLs the forge gave) and branch or tag match.
fn matching_jobs(state: &AppState, event: &HookEvent) -> Vec<String> {
    let mut jobs: Vec<String> = Vec::new();
    let scheduler = state.scheduler();
    for url in &event.repo_urls {
        let found = match (&event.request, &event.branch) {
            (Some(_), Some(target)) => scheduler.jobs_for_change(url, target),
            _ => scheduler.jobs_for_push(url, event.branch.as_deref(), event.tag.as_deref()),
        };
        for job in found {
            if !jobs.contains(&job) {
                jobs.push(job);
            }
        }
    }
    jobs
}

fn describe(event: &HookEvent) -> String {
    let repo = event.repo_urls.first().map_or("?", String::as_str);
    match (&event.branch, &event.tag) {
        (Some(b), _) => format!("repository `{repo}` on branch `{b}`"),
        (None, Some(t)) => format!("repository `{repo}` at tag `{t}`"),
        (None, None) => format!("repository `{repo}`"),
    }
}

/// Triggers each job; with `delivery` (controllers sharing a store), each job builds the
/// delivery once across every controller and redelivery.
async fn trigger_all(
    state: &AppState,
    event: &HookEvent,
    jobs: Vec<String>,
    delivery: Option<&str>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let settings = state.settings();
    let mut triggered = Vec::new();
    let mut errors = Vec::new();
    let mut built_before = 0;
    for job in jobs {
        let request = TriggerRequest {
            replay: None,
            job: job.clone(),
            params: Default::default(),
            cause: BuildCause::Webhook(event.description.clone()),
            branch: event.branch.clone(),
            tag: event.tag.clone(),
            commit: event.commit.clone(),
            change: event.request.as_ref().map(|r| ChangeTrigger {
                vars: event.change.clone(),
                branch_name: r.branch_name.clone(),
                fork: r.fork,
                author_key: r.author_key.clone(),
                judged: None,
            }),
        };
        let outcome = match delivery {
            Some(id) => {
                let once = Once::Delivery(id.to_owned());
                state.scheduler().trigger_once(request, once).await
            }
            None => state.scheduler().trigger(request).await,
        };
        match outcome {
            Err(TriggerError::AlreadyBuilt(once)) => {
                tracing::info!(job = %job, once = %once, "webhook delivery built before: not built again");
                built_before += 1;
            }
            Ok(id) => {
                tracing::info!(build = %id, cause = %event.description, "webhook triggered a build");
                let url = settings.build_url(id.job.as_str(), id.number);
                triggered.push(json!({ "job": job, "id": id.to_string(), "url": url }));
            }
            Err(err) => {
                tracing::warn!(job = %job, error = %err, "webhook trigger failed");
                errors.push(json!({ "job": job, "error": err.to_string() }));
            }
        }
    }
    if let Some(id) = delivery.filter(|_| triggered.is_empty() && errors.is_empty()) {
        if built_before > 0 {
            return Ok(seen_before(id));
        }
    }
    let status = if triggered.is_empty() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::ACCEPTED
    };
    Ok((
        status,
        Json(json!({ "triggered": triggered, "errors": errors })),
    ))
}
