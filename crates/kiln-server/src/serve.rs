//! Serving the router on a socket with graceful shutdown.

use crate::{AppState, router};
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

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
    #[error("the HTTP server failed")]
    Io(#[source] std::io::Error),
}

/// How long open connections (live logs) get to finish after shutdown was asked for.
const GRACE: Duration = Duration::from_secs(5);

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
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let stopping = CancellationToken::new();
    let signal = stopping.clone();
    let server = axum::serve(listener, router(state)).with_graceful_shutdown(async move {
        shutdown.await;
        signal.cancel();
    });
    let server = server.into_future();
    tokio::pin!(server);
    tokio::select! {
        result = &mut server => result.map_err(ServeError::Io),
        () = async { stopping.cancelled().await; tokio::time::sleep(GRACE).await } => {
            tracing::info!("open connections did not finish in time; closing them");
            Ok(())
        }
    }
}
