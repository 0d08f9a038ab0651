//! kiln's Kubernetes API client: kube's default stack (kubeconfig or in-cluster service
//! account) with the configured client-side limits on top (`api.max_in_flight`,
//! `api.request_timeout_seconds`). A burst of builds then cannot flood the API server: at most
//! `max_in_flight` requests are sent at once, the rest wait their turn in kiln. Long-running
//! requests (watches, followed logs, exec, attach, port-forward) take no slot and have no
//! timeout, since they stay open for as long as the build needs them.

use crate::api::retry::BudgetRetry;
use crate::config::{ApiLimits, ApiRetry, Connection};
use http::{Request, Response};
use hyper_util::client::legacy::Client as LegacyClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use kube::client::ConfigExt;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::Semaphore;
use tower::retry::RetryLayer;
use tower::{BoxError, Layer, Service, ServiceBuilder};

/// A client for `connection` with `limits` applied and transient errors retried per
/// `retry`; the error says what could not be read.
pub async fn connect(
    connection: &Connection,
    limits: &ApiLimits,
    retry: &ApiRetry,
) -> Result<kube::Client, String> {
    let config = match connection {
        Connection::InCluster => kube::Config::incluster()
            .map_err(|e| format!("cannot use the in-cluster service account: {e}"))?,
        Connection::Kubeconfig { path, context } => kubeconfig(Path::new(path), context.clone())
            .await
            .map_err(|e| format!("cannot read kubeconfig {path}: {e}"))?,
    };
    limited_client_with_retry(config, limits, retry)
        .map_err(|e| format!("cannot make a Kubernetes client: {e}"))
}

/// The client configuration of a kubeconfig file's `context` (default: its current one).
pub(crate) async fn kubeconfig(
    path: &Path,
    context: Option<String>,
) -> Result<kube::Config, String> {
    let file = kube::config::Kubeconfig::read_from(path).map_err(|e| e.to_string())?;
    let options = kube::config::KubeConfigOptions {
        context,
        ..Default::default()
    };
    kube::Config::from_custom_kubeconfig(file, &options)
        .await
        .map_err(|e| e.to_string())
}

/// kube's client for `config`, with `limits` applied to every request that is not
/// long-running, on connections with Nagle's algorithm off. (Port-forwarded agent traffic
/// goes out in WebSocket messages of at most 4 KiB; with Nagle's algorithm on, the second
/// small segment of a larger message waits for the API server's delayed ACK: ~40 ms.) The
/// stack is kube's own (base URI, authentication, extra headers, connect/read/write
/// timeouts) over a connector kiln makes, with kiln's retries of idempotent requests (the
/// default [`ApiRetry`]) instead of kube's (three retries, about 350 ms in all); with a proxy
/// configured, kube's stack is asked for, which fails: kiln is built without kube's proxy
/// features (and kube's retries would re-send a create without adopting what it made).
pub fn limited_client(
    config: kube::Config,
    limits: &ApiLimits,
) -> Result<kube::Client, kube::Error> {
    limited_client_with_retry(config, limits, &ApiRetry::default())
}

/// [`limited_client`] with transient errors of idempotent requests retried per `retry`
/// (`executors.kubernetes.api_retry`). Each attempt has its own timeout and waits for its
/// own slot; a pause between attempts holds no slot.
pub fn limited_client_with_retry(
    config: kube::Config,
    limits: &ApiLimits,
    retry: &ApiRetry,
) -> Result<kube::Client, kube::Error> {
    let retry = RetryLayer::new(BudgetRetry::new(*retry));
    let layer = ApiLimitLayer {
        slots: Arc::new(Semaphore::new(limits.max_in_flight.max(1) as usize)),
        timeout: Duration::from_secs(limits.request_timeout_seconds.max(1)),
    };
    if config.proxy_url.is_some() {
        return Ok(kube::client::ClientBuilder::try_from(config)?
            .with_layer(&layer)
            .build());
    }
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(config.connect_timeout);
    let https = config.rustls_https_connector_with_connector(http)?;
    let mut timed = hyper_timeout::TimeoutConnector::new(https);
    timed.set_connect_timeout(config.connect_timeout);
    timed.set_read_timeout(config.read_timeout);
    timed.set_write_timeout(config.write_timeout);
    let client: LegacyClient<_, kube::client::Body> =
        LegacyClient::builder(TokioExecutor::new()).build(timed);
    let service = ServiceBuilder::new()
        .layer(retry)
        .layer(layer)
        .layer(config.base_uri_layer())
        .option_layer(config.auth_layer()?)
        .layer(config.extra_headers_layer()?)
        .map_err(BoxError::from)
        .service(client);
    Ok(kube::Client::new(service, config.default_namespace))
}

/// The request could not be sent in time: the message names the request.
#[derive(Debug, thiserror::Error)]
#[error(
    "{method} {path}: no answer from the Kubernetes API server within {seconds} s (api.request_timeout_seconds)"
)]
pub struct RequestTimedOut {
    method: String,
    path: String,
    seconds: u64,
}

#[derive(Clone)]
struct ApiLimitLayer {
    slots: Arc<Semaphore>,
    timeout: Duration,
}

impl<S> Layer<S> for ApiLimitLayer {
    type Service = ApiLimit<S>;

    fn layer(&self, inner: S) -> ApiLimit<S> {
        ApiLimit {
            inner,
            slots: self.slots.clone(),
            timeout: self.timeout,
        }
    }
}

#[derive(Clone)]
struct ApiLimit<S> {
    inner: S,
    slots: Arc<Semaphore>,
    timeout: Duration,
}

type Answer<R> = Pin<Box<dyn Future<Output = Result<R, BoxError>> + Send>>;

impl<S, B, R> Service<Request<B>> for ApiLimit<S>
where
    S: Service<Request<B>, Response = Response<R>>,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    R: Send + 'static,
{
    type Response = Response<R>;
    type Error = BoxError;
    type Future = Answer<Response<R>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let long_running = is_long_running(&request);
        let method = request.method().to_string();
        let path = request.uri().path().to_owned();
        // kube's stack does its work when the future is polled, so a request waiting for a
        // slot below has not been sent yet.
        let answer = self.inner.call(request);
        if long_running {
            return Box::pin(async move { answer.await.map_err(Into::into) });
        }
        let slots = self.slots.clone();
        let timeout = self.timeout;
        Box::pin(async move {
            let _slot = slots.acquire_owned().await.map_err(BoxError::from)?;
            match tokio::time::timeout(timeout, answer).await {
                Ok(result) => result.map_err(Into::into),
                Err(_) => Err(Box::new(RequestTimedOut {
                    method,
                    path,
                    seconds: timeout.as_secs(),
                }) as BoxError),
            }
        })
    }
}

/// Watches, followed logs and the streaming subresources stay open as long as they are used.
pub(crate) fn is_long_running<B>(request: &Request<B>) -> bool {
    let path = request.uri().path();
    let streaming_subresource = ["/exec", "/attach", "/portforward", "/proxy"]
        .iter()
        .any(|s| path.ends_with(s));
    let streaming_query = request.uri().query().is_some_and(|query| {
        query
            .split('&')
            .any(|kv| matches!(kv, "watch=true" | "watch=1" | "follow=true" | "follow=1"))
    });
    streaming_subresource
        || streaming_query
        || path.contains("/watch/")
        || request.headers().contains_key(http::header::UPGRADE)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(uri: &str) -> Request<()> {
        Request::get(uri).body(()).unwrap()
    }

    #[test]
    fn streams_are_told_from_plain_requests() {
        for uri in [
            "/api/v1/namespaces/ci/pods?watch=true&resourceVersion=5",
            "/api/v1/namespaces/ci/pods/p/log?container=main&follow=true",
            "/api/v1/namespaces/ci/pods/p/exec?command=sh",
            "/api/v1/namespaces/ci/pods/p/portforward?ports=7777",
            "/api/v1/watch/namespaces/ci/pods",
        ] {
            assert!(is_long_running(&request(uri)), "{uri}");
        }
        for uri in [
            "/api/v1/namespaces/ci/pods",
            "/api/v1/namespaces/ci/pods/p",
            "/api/v1/namespaces/ci/pods/p/log?container=main",
            "/api/v1/namespaces/ci/pods?labelSelector=watch%3Dtrue",
        ] {
            assert!(!is_long_running(&request(uri)), "{uri}");
        }
    }
}
