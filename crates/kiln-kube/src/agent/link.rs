//! How the controller reaches an agent: through the API server's port-forward (kiln outside
//! the cluster, e.g. `kiln run --kubeconfig`), or by the agent dialling the controller's
//! [`AgentListener`] (kiln inside the cluster, `controller_url` set) over TLS with kiln's own
//! CA ([`crate::agent::tls`]). Either way the result is an authenticated byte stream, made
//! again after every loss.

use crate::agent::tls::{AgentCa, AgentTls, AgentTlsError};
use async_trait::async_trait;
use k8s_openapi::api::core::v1::Pod;
use kiln_agent::handshake::{self, token_matches};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

/// A connection to one agent.
pub trait AgentStream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> AgentStream for T {}
pub type BoxedStream = Box<dyn AgentStream>;

/// Which way the controller and the agents meet.
#[derive(Clone, Debug)]
pub enum AgentMode {
    /// Each agent listens on `127.0.0.1:(base_port + container index)` in the pod; the
    /// controller connects through `pods/portforward`.
    PortForward { base_port: u16 },
    /// Agents dial `agent_url` (`tls://HOST:PORT`), where `listener` accepts them over TLS
    /// (the CA certificate they trust is the listener's [`AgentListener::ca_pem`]).
    Dial {
        agent_url: String,
        listener: Arc<AgentListener>,
    },
}

/// Opens a fresh, authenticated connection to one agent.
#[async_trait]
pub trait Dialer: Send + Sync {
    async fn dial(&self) -> Result<BoxedStream, String>;
}

/// Port-forward through the API server, then `Hello` with the token.
pub struct PortForwardDialer {
    pub api: kube::Api<Pod>,
    pub pod: String,
    pub port: u16,
    pub token: String,
    pub container: String,
}

#[async_trait]
impl Dialer for PortForwardDialer {
    async fn dial(&self) -> Result<BoxedStream, String> {
        let mut forwarder = self
            .api
            .portforward(&self.pod, &[self.port])
            .await
            .map_err(|e| format!("port-forward to {}:{} failed: {e}", self.pod, self.port))?;
        let mut stream = forwarder
            .take_stream(self.port)
            .ok_or_else(|| format!("port-forward to {}:{} gave no stream", self.pod, self.port))?;
        // The forwarder's task keeps running on its own; its handle is not needed.
        drop(forwarder);
        handshake::greet(&mut stream, &self.token, &self.container)
            .await
            .map_err(|e| format!("agent `{}` did not answer: {e}", self.container))?;
        Ok(Box::new(stream))
    }
}

type Waiters = HashMap<(String, String), mpsc::UnboundedSender<BoxedStream>>;

/// The controller's side of dial mode: one TLS listener for all builds (a client that does
/// not speak TLS, or does not finish its handshake in time, is dropped). An agent's `Hello`
/// names its token and container; the connection goes to the executor that registered that
/// token, or is rejected.
pub struct AgentListener {
    address: std::net::SocketAddr,
    tls: AgentTls,
    waiters: Mutex<Waiters>,
    accepting: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl std::fmt::Debug for AgentListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentListener")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl AgentListener {
    /// Binds `address` (`127.0.0.1:0` in tests) with a CA made for this listener alone and a
    /// certificate for `localhost`, `127.0.0.1` and `::1`, and starts accepting.
    pub async fn bind(address: &str) -> Result<Arc<AgentListener>, AgentTlsError> {
        let names = ["localhost", "127.0.0.1", "::1"].map(str::to_owned);
        let tls = AgentCa::generate()?.server_tls(&names)?;
        let listener = TcpListener::bind(address)
            .await
            .map_err(|source| AgentTlsError::Io {
                path: address.into(),
                source,
            })?;
        AgentListener::accept_on(listener, tls).map_err(|source| AgentTlsError::Io {
            path: address.into(),
            source,
        })
    }

    /// Binds `address` at once (a server checks its address before it starts) with `tls`;
    /// must be called on a tokio runtime.
    pub fn bind_now(address: &str, tls: AgentTls) -> std::io::Result<Arc<AgentListener>> {
        let listener = std::net::TcpListener::bind(address)?;
        listener.set_nonblocking(true)?;
        AgentListener::accept_on(TcpListener::from_std(listener)?, tls)
    }

    fn accept_on(listener: TcpListener, tls: AgentTls) -> std::io::Result<Arc<AgentListener>> {
        let listener_address = listener.local_addr()?;
        let me = Arc::new(AgentListener {
            address: listener_address,
            tls,
            waiters: Mutex::new(HashMap::new()),
            accepting: Mutex::new(None),
        });
        let task = tokio::spawn(accept_loop(Arc::downgrade(&me), listener));
        *me.accepting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(task);
        info!(address = %listener_address, "listening for kiln agents (TLS)");
        Ok(me)
    }

    /// The CA certificate (PEM) agents must trust: it goes into each build's Secret.
    pub fn ca_pem(&self) -> &str {
        self.tls.ca_pem()
    }

    pub fn local_addr(&self) -> std::net::SocketAddr {
        self.address
    }

    /// Connections of the agent in `container` with `token` go to the returned receiver.
    pub fn register(&self, token: &str, container: &str) -> mpsc::UnboundedReceiver<BoxedStream> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.lock()
            .insert((token.to_owned(), container.to_owned()), tx);
        rx
    }

    /// Forgets a build's token: its agents are rejected from now on.
    pub fn unregister(&self, token: &str) {
        self.lock().retain(|(t, _), _| t != token);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Waiters> {
        self.waiters
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn waiter(&self, token: &str, container: &str) -> Option<mpsc::UnboundedSender<BoxedStream>> {
        self.lock()
            .iter()
            .find(|((t, c), _)| token_matches(token, t) && c == container)
            .map(|(_, tx)| tx.clone())
    }
}

impl Drop for AgentListener {
    fn drop(&mut self) {
        if let Some(task) = self
            .accepting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
        {
            task.abort();
        }
    }
}

async fn accept_loop(listener_ref: std::sync::Weak<AgentListener>, listener: TcpListener) {
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            continue;
        };
        let Some(me) = listener_ref.upgrade() else {
            return;
        };
        tokio::spawn(async move {
            if let Err(error) = welcome(&me, stream).await {
                warn!(%peer, %error, "agent connection refused");
            }
        });
    }
}

/// The TLS handshake, then the agent's `Hello`, both within the handshake's time limit.
async fn welcome(listener: &AgentListener, stream: TcpStream) -> Result<(), String> {
    let _ = stream.set_nodelay(true);
    let accepting = listener.tls.acceptor().accept(stream);
    let mut stream = match tokio::time::timeout(handshake::HANDSHAKE_TIMEOUT, accepting).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(error)) => return Err(format!("TLS handshake failed: {error}")),
        Err(_) => return Err("no TLS handshake within the time limit".to_owned()),
    };
    let hello = handshake::read_hello(&mut stream)
        .await
        .map_err(|e| e.to_string())?;
    match listener.waiter(&hello.token, &hello.container) {
        Some(tx) => {
            handshake::answer(&mut stream, Ok(&hello.container))
                .await
                .map_err(|e| e.to_string())?;
            debug!(container = %hello.container, "agent dialled in");
            tx.send(Box::new(stream))
                .map_err(|_| "the build stopped waiting for this agent".to_owned())
        }
        None => {
            let _ = handshake::answer(&mut stream, Err("unknown build token or container")).await;
            Err(format!(
                "unknown token or container `{}` (the build may have ended)",
                hello.container
            ))
        }
    }
}

/// Waits for the agent to dial in.
pub struct DialInDialer {
    pub incoming: tokio::sync::Mutex<mpsc::UnboundedReceiver<BoxedStream>>,
}

#[async_trait]
impl Dialer for DialInDialer {
    async fn dial(&self) -> Result<BoxedStream, String> {
        self.incoming
            .lock()
            .await
            .recv()
            .await
            .ok_or_else(|| "the agent listener stopped".to_owned())
    }
}
