//! Serving the router on a socket: TCP_NODELAY, a header read timeout, a bound on open
//! connections per client address, and graceful shutdown.

use crate::clients::Clients;
use crate::{AppState, router};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Serving failed.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(
        "refusing to listen on {0}: no API tokens are configured, so kiln serves loopback only; \
         add `server.tokens` to the configuration or listen on 127.0.0.1"
    )]
    NotLoopback(SocketAddr),
    #[error("cannot listen on {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// What one client may hold (`server.limits`); fixed at start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServeLimits {
    /// A request's headers must have arrived within this time, else the connection closes.
    pub header_timeout: Duration,
    /// Open connections from one IP address; more are answered 429 and closed.
    pub connections_per_client: usize,
}

impl ServeLimits {
    pub fn from_config(limits: &kiln_config::ServerLimits) -> ServeLimits {
        ServeLimits {
            header_timeout: Duration::from_secs(limits.header_timeout_seconds),
            connections_per_client: limits.connections_per_client,
        }
    }
}

impl Default for ServeLimits {
    fn default() -> Self {
        ServeLimits::from_config(&kiln_config::ServerLimits::default())
    }
}

/// How long open connections (live logs) get to finish after shutdown was asked for.
const GRACE: Duration = Duration::from_secs(5);

/// The answer to a connection over the client's bound, written before closing it.
const TOO_MANY: &[u8] = b"HTTP/1.1 429 Too Many Requests\r\nconnection: close\r\ncontent-type: text/plain\r\ncontent-length: 36\r\n\r\ntoo many connections from this host\n";

/// Binds `addr`, refusing a non-loopback address when the API is open (no tokens).
pub async fn bind(addr: SocketAddr, open: bool) -> Result<TcpListener, ServeError> {
    if open && !addr.ip().is_loopback() {
        return Err(ServeError::NotLoopback(addr));
    }
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind { addr, source })
}

/// Serves until `shutdown` completes, then stops accepting and gives open requests a few
/// seconds (live log streams would otherwise hold the server forever).
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    limits: ServeLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let app = router(state);
    let clients = Clients::new(limits.connections_per_client);
    let connections = TaskTracker::new();
    let stopping = CancellationToken::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = accept(&listener) => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors, or a connection reset before it was accepted.
                    tracing::warn!(error = %err, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Some(slot) = clients.admit(peer.ip()) else {
            tracing::warn!(client = %peer.ip(), limit = limits.connections_per_client, "connection refused: too many from this client");
            let _ = stream.try_write(TOO_MANY);
            continue;
        };
        let (app, stopping) = (app.clone(), stopping.clone());
        connections.spawn(async move {
            connection(stream, app, limits.header_timeout, stopping).await;
            drop(slot);
        });
    }
    stopping.cancel();
    connections.close();
    if tokio::time::timeout(GRACE, connections.wait())
        .await
        .is_err()
    {
        tracing::info!("open connections did not finish in time; closing them");
    }
    Ok(())
}

/// Accepts the next connection, with `TCP_NODELAY` set: without it a small write waiting for
/// the acknowledgement of the one before (a followed log's next line) is held back by Nagle's
/// algorithm until the client's delayed ACK, about 40 ms.
async fn accept(listener: &TcpListener) -> std::io::Result<(TcpStream, SocketAddr)> {
    let (stream, peer) = listener.accept().await?;
    if let Err(err) = stream.set_nodelay(true) {
        tracing::debug!(error = %err, "cannot set TCP_NODELAY");
    }
    Ok((stream, peer))
}

/// Serves one connection until it closes, or asks it to finish its request when stopping.
async fn connection(
    stream: TcpStream,
    app: axum::Router,
    header_timeout: Duration,
    stopping: CancellationToken,
) {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    let conn = builder
        .serve_connection(TokioIo::new(stream), TowerToHyperService::new(app))
        .with_upgrades();
    tokio::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(err) = result {
                tracing::debug!(error = %err, "connection ended with an error");
            }
            return;
        }
        () = stopping.cancelled() => conn.as_mut().graceful_shutdown(),
    }
    if let Err(err) = conn.await {
        tracing::debug!(error = %err, "connection ended with an error");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression (issue 11): the server's sockets lacked TCP_NODELAY, so `kiln trigger
    /// --follow` waited about 40 ms for the first bytes of a log.
    #[tokio::test]
    async fn every_accepted_socket_has_nodelay() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        for _ in 0..2 {
            let client = TcpStream::connect(addr).await.unwrap();
            let (stream, peer) = accept(&listener).await.unwrap();
            assert_eq!(peer, client.local_addr().unwrap());
            assert!(
                stream.nodelay().unwrap(),
                "accepted socket without TCP_NODELAY"
            );
        }
    }
}
