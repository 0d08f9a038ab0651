//! The agent's two ways of meeting the controller: listening on a TCP port (reached through
//! the API server's port-forward, inside the API server's own TLS) or dialling the
//! controller's URL over TLS, again after every loss.

use crate::agent::Agent;
use crate::controller_url::ControllerUrl;
use crate::handshake;
use crate::presence::Presence;
use crate::session::{accept, serve};
use crate::tls::ControllerTls;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tracing::{info, warn};

/// The longest pause between two attempts to dial the controller.
const MAX_REDIAL: Duration = Duration::from_secs(5);

/// Accepts connections forever; each one must pass the handshake, and counts in `presence`
/// while it is served.
pub async fn listen(agent: Arc<Agent>, listener: TcpListener, presence: Arc<Presence>) {
    loop {
        let (mut stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                warn!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let agent = Arc::clone(&agent);
        let presence = Arc::clone(&presence);
        tokio::spawn(async move {
            match accept(&agent, &mut stream).await {
                Ok(()) => {
                    info!(%peer, "controller connected");
                    let _connected = presence.connected();
                    serve(agent, stream).await;
                    info!(%peer, "controller disconnected");
                }
                Err(error) => warn!(%peer, %error, "connection refused"),
            }
        });
    }
}

/// Dials the controller over TLS and serves it; after a loss (or a refused connection) dials again,
/// with a back-off of up to 5 s, until the container stops (also after a rejection: a
/// controller that restarted learns the build's token again only when it takes the pod over).
/// A connection counts in `presence` while it is served.
pub async fn dial(
    agent: Arc<Agent>,
    url: ControllerUrl,
    tls: ControllerTls,
    presence: Arc<Presence>,
) -> Result<(), handshake::HandshakeError> {
    let address = url.address();
    let mut pause = Duration::from_millis(50);
    loop {
        match open(&address, &tls).await {
            Ok(mut stream) => {
                let config = agent.config();
                match handshake::greet(&mut stream, &config.token, &config.container).await {
                    Ok(version) => {
                        info!(%url, controller_version = %version, "connected to the controller");
                        pause = Duration::from_millis(50);
                        let _connected = presence.connected();
                        serve(Arc::clone(&agent), stream).await;
                        info!(%url, "connection to the controller lost; dialling again");
                    }
                    // A rejection is retried too: a restarted controller knows the build's
                    // token only once it has read it back from the Secret.
                    Err(error) => warn!(%url, %error, "handshake with the controller failed"),
                }
            }
            Err(error) => warn!(%url, %error, "cannot reach the controller"),
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(MAX_REDIAL);
    }
}

/// A TCP connection to `address` with the TLS handshake done (the certificate checked
/// against kiln's CA and the URL's host), within the handshake's time limit.
async fn open(
    address: &str,
    tls: &ControllerTls,
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let connecting = async {
        let stream = TcpStream::connect(address).await?;
        let _ = stream.set_nodelay(true);
        tls.connect(stream).await
    };
    tokio::time::timeout(handshake::HANDSHAKE_TIMEOUT, connecting)
        .await
        .map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "no TLS handshake within the time limit",
            )
        })?
}
