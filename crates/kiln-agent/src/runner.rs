//! The agent's two ways of meeting the controller: listening on a TCP port (reached through
//! the API server's port-forward) or dialling the controller's URL, again after every loss.

use crate::agent::Agent;
use crate::handshake;
use crate::presence::Presence;
use crate::session::{accept, serve};
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

/// Where `--connect` points: `tcp://host:port` or `host:port`.
pub fn connect_address(url: &str) -> Result<String, String> {
    let rest = url.strip_prefix("tcp://").unwrap_or(url);
    let rest = rest.trim_end_matches('/');
    if rest.contains("://") {
        return Err(format!(
            "--connect `{url}`: only tcp://HOST:PORT (or HOST:PORT) is supported"
        ));
    }
    match rest.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {
            Ok(rest.to_owned())
        }
        _ => Err(format!("--connect `{url}`: expected tcp://HOST:PORT")),
    }
}

/// Dials the controller and serves it; after a loss (or a refused connection) dials again,
/// with a back-off of up to 5 s, until the container stops (also after a rejection: a
/// controller that restarted learns the build's token again only when it takes the pod over).
/// A connection counts in `presence` while it is served.
pub async fn dial(
    agent: Arc<Agent>,
    address: String,
    presence: Arc<Presence>,
) -> Result<(), handshake::HandshakeError> {
    let mut pause = Duration::from_millis(50);
    loop {
        match TcpStream::connect(&address).await {
            Ok(mut stream) => {
                let _ = stream.set_nodelay(true);
                let config = agent.config();
                match handshake::greet(&mut stream, &config.token, &config.container).await {
                    Ok(version) => {
                        info!(%address, controller_version = %version, "connected to the controller");
                        pause = Duration::from_millis(50);
                        let _connected = presence.connected();
                        serve(Arc::clone(&agent), stream).await;
                        info!(%address, "connection to the controller lost; dialling again");
                    }
                    // A rejection is retried too: a restarted controller knows the build's
                    // token only once it has read it back from the Secret.
                    Err(error) => warn!(%address, %error, "handshake with the controller failed"),
                }
            }
            Err(error) => warn!(%address, %error, "cannot reach the controller"),
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(MAX_REDIAL);
    }
}

#[cfg(test)]
mod tests {
    use super::connect_address;

    #[test]
    fn connect_urls() {
        assert_eq!(connect_address("tcp://kiln:7000").unwrap(), "kiln:7000");
        assert_eq!(connect_address("127.0.0.1:9").unwrap(), "127.0.0.1:9");
        assert!(connect_address("http://kiln:7000").is_err());
        assert!(connect_address("kiln").is_err());
    }
}
