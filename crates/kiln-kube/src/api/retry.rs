//! Retrying transient API errors over a time budget ([`ApiRetry`]): in the client for every
//! idempotent request (a tower retry policy), and around creates, where a create whose
//! answer was lost and whose retry meets `409 AlreadyExists` adopts the object it made (kiln's
//! names are deterministic, so the object found is compared with the one sent).

use crate::api::backoff::Backoff;
use crate::config::ApiRetry;
use http::{Method, Request, Response, StatusCode};
use kube::client::Body;
use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;
use tower::BoxError;
use tower::retry::Policy;
use tracing::warn;

/// Statuses that say "try again": overload, a restarting or unreachable API server.
fn retryable_status(status: StatusCode) -> bool {
    matches!(
        status,
        StatusCode::TOO_MANY_REQUESTS
            | StatusCode::INTERNAL_SERVER_ERROR
            | StatusCode::BAD_GATEWAY
            | StatusCode::SERVICE_UNAVAILABLE
            | StatusCode::GATEWAY_TIMEOUT
    )
}

/// Whether an API error (as kube reports it) is worth retrying.
pub(crate) fn transient(error: &kube::Error) -> bool {
    match error {
        kube::Error::Api(status) => StatusCode::from_u16(status.code).is_ok_and(retryable_status),
        kube::Error::HyperError(_) | kube::Error::Service(_) => true,
        _ => false,
    }
}

/// The `Retry-After` of an answer, in seconds.
fn retry_after<R>(response: &Response<R>) -> Option<Duration> {
    let value = response.headers().get(http::header::RETRY_AFTER)?;
    value
        .to_str()
        .ok()?
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// The client's retry policy: idempotent requests (GET, HEAD, PUT, DELETE) that are not
/// streams are retried on a retryable status or a transport error, with jittered back-off,
/// until the budget (from the first failure) is spent. Creates are retried by
/// [`with_budget`], which knows how to adopt.
#[derive(Clone)]
pub(crate) struct BudgetRetry {
    retry: ApiRetry,
    backoff: Backoff,
    first_failure: Option<Instant>,
}

impl BudgetRetry {
    pub(crate) fn new(retry: ApiRetry) -> BudgetRetry {
        BudgetRetry {
            retry,
            backoff: Backoff::new(retry.first_pause(), retry.max_pause()),
            first_failure: None,
        }
    }

    /// The pause before the next attempt, or `None` when the budget is spent.
    fn pause(&mut self, at_least: Option<Duration>) -> Option<Duration> {
        let first = *self.first_failure.get_or_insert_with(Instant::now);
        let left = self.retry.budget().checked_sub(first.elapsed())?;
        let pause = self.backoff.next_pause().max(at_least.unwrap_or_default());
        (pause < left).then_some(pause)
    }
}

fn idempotent<B>(request: &Request<B>) -> bool {
    matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::PUT | Method::DELETE
    ) && !crate::api::client::is_long_running(request)
}

impl<R> Policy<Request<Body>, Response<R>, BoxError> for BudgetRetry {
    type Future = tokio::time::Sleep;

    fn retry(
        &mut self,
        request: &mut Request<Body>,
        result: &mut Result<Response<R>, BoxError>,
    ) -> Option<Self::Future> {
        if !idempotent(request) {
            return None;
        }
        let (at_least, what) = match result {
            Ok(response) if retryable_status(response.status()) => {
                (retry_after(response), response.status().to_string())
            }
            Ok(_) => return None,
            Err(error) => (None, error.to_string()),
        };
        let pause = self.pause(at_least)?;
        warn!(method = %request.method(), path = %request.uri().path(), error = %what, ?pause, "Kubernetes API request failed; retrying");
        Some(tokio::time::sleep(pause))
    }

    fn clone_request(&mut self, request: &Request<Body>) -> Option<Request<Body>> {
        if !idempotent(request) {
            return None;
        }
        let body = request.body().try_clone()?;
        let mut copy = Request::builder()
            .method(request.method().clone())
            .uri(request.uri().clone())
            .version(request.version())
            .body(body)
            .ok()?;
        *copy.headers_mut() = request.headers().clone();
        *copy.extensions_mut() = request.extensions().clone();
        Some(copy)
    }
}

/// What a failed attempt of [`with_budget`] leaves to decide.
pub(crate) enum Attempt<T> {
    Done(T),
    /// `409 AlreadyExists` after an earlier attempt's answer was lost: the caller adopts.
    AlreadyExists,
}

/// Runs `call` until it succeeds, fails for good, or the budget is spent. A `409` answered
/// after an earlier attempt failed transiently is [`Attempt::AlreadyExists`]: that attempt
/// may have created the object.
pub(crate) async fn with_budget<T, F, Fut>(
    retry: &ApiRetry,
    what: &str,
    mut call: F,
) -> Result<Attempt<T>, kube::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, kube::Error>>,
{
    let mut policy = BudgetRetry::new(*retry);
    let mut failed_before = false;
    loop {
        match call().await {
            Ok(value) => return Ok(Attempt::Done(value)),
            Err(kube::Error::Api(status)) if status.code == 409 && failed_before => {
                return Ok(Attempt::AlreadyExists);
            }
            Err(error) if transient(&error) => {
                let Some(pause) = policy.pause(None) else {
                    return Err(error);
                };
                warn!(%error, ?pause, "{what} failed; retrying");
                failed_before = true;
                tokio::time::sleep(pause).await;
            }
            Err(error) => return Err(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16) -> kube::Error {
        kube::Error::Api(Box::new(
            kube::core::Status::failure("injected", "Injected").with_code(code),
        ))
    }

    #[tokio::test(start_paused = true)]
    async fn transient_errors_are_retried_until_the_budget_is_spent() {
        let retry = ApiRetry {
            budget_seconds: 10,
            first_pause_ms: 500,
            max_pause_seconds: 2,
        };
        let begun = Instant::now();
        let mut calls = 0;
        let result: Result<Attempt<()>, _> = with_budget(&retry, "test", || {
            calls += 1;
            async { Err(status(503)) }
        })
        .await;
        assert!(matches!(result, Err(kube::Error::Api(s)) if s.code == 503));
        assert!(
            begun.elapsed() <= Duration::from_secs(10),
            "{:?}",
            begun.elapsed()
        );
        assert!(
            begun.elapsed() >= Duration::from_secs(6),
            "{:?}",
            begun.elapsed()
        );
        assert!((5..=20).contains(&calls), "{calls}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_conflict_after_a_lost_answer_is_adopted_and_a_plain_one_is_not() {
        let retry = ApiRetry::default();
        let mut answers = vec![status(409), status(504)];
        let adopted: Result<Attempt<()>, _> = with_budget(&retry, "test", || {
            std::future::ready(Err(answers.pop().unwrap()))
        })
        .await;
        assert!(matches!(adopted, Ok(Attempt::AlreadyExists)));
        let plain: Result<Attempt<()>, _> =
            with_budget(&retry, "test", || std::future::ready(Err(status(409)))).await;
        assert!(matches!(plain, Err(kube::Error::Api(s)) if s.code == 409));
        let bad: Result<Attempt<()>, _> =
            with_budget(&retry, "test", || std::future::ready(Err(status(422)))).await;
        assert!(matches!(bad, Err(kube::Error::Api(s)) if s.code == 422));
    }
}
