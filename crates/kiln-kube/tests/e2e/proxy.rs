//! A TCP proxy in front of the fake API server that plays a control plane in trouble: for a
//! while it drops every connection (a load-balancer failover), or answers every request with
//! 503 (an API server restarting), or it forwards a create and loses its answer (the
//! request timed out, yet the object was made).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the proxy does to the requests it sees.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Trouble {
    None,
    /// Close every connection as soon as a request arrives on it.
    Drop,
    /// Answer every request with `503 Service Unavailable`.
    Unavailable,
    /// Forward the next request whose first line starts with this, and lose its answer.
    LoseAnswer(String),
}

pub struct Proxy {
    pub address: SocketAddr,
    trouble: Arc<Mutex<Trouble>>,
}

const UNAVAILABLE: &str = r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"the proxy says the API server is unavailable","reason":"ServiceUnavailable","code":503}"#;

impl Proxy {
    pub async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let trouble = Arc::new(Mutex::new(Trouble::None));
        let shared = trouble.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(serve(client, upstream, shared.clone()));
            }
        });
        Proxy { address, trouble }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    pub fn set(&self, trouble: Trouble) {
        *self.trouble.lock().unwrap() = trouble;
    }

    /// `trouble` for `period`, then none.
    pub fn for_a_while(&self, trouble: Trouble, period: Duration) {
        self.set(trouble);
        let shared = self.trouble.clone();
        tokio::spawn(async move {
            tokio::time::sleep(period).await;
            *shared.lock().unwrap() = Trouble::None;
        });
    }

    pub fn trouble(&self) -> Trouble {
        self.trouble.lock().unwrap().clone()
    }
}

/// One client connection: each chunk from the client is looked at (a request starts a chunk
/// for the small requests kiln makes) before it is forwarded.
async fn serve(mut client: TcpStream, upstream: SocketAddr, trouble: Arc<Mutex<Trouble>>) {
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return;
    };
    let mut buf = vec![0_u8; 64 * 1024];
    let mut answer = vec![0_u8; 64 * 1024];
    let mut upgraded = false;
    loop {
        tokio::select! {
            read = client.read(&mut buf) => {
                let Ok(n) = read else { return };
                if n == 0 { return; }
                let chunk = &buf[..n];
                let now = trouble.lock().unwrap().clone();
                if !upgraded {
                    match now {
                        Trouble::Drop => return,
                        Trouble::Unavailable if looks_like_request(chunk) => {
                            let reply = format!(
                                "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{UNAVAILABLE}",
                                UNAVAILABLE.len()
                            );
                            if client.write_all(reply.as_bytes()).await.is_err() { return; }
                            continue;
                        }
                        Trouble::LoseAnswer(ref prefix) if chunk.starts_with(prefix.as_bytes()) => {
                            *trouble.lock().unwrap() = Trouble::None;
                            let _ = server.write_all(chunk).await;
                            // Let the server make the object, then lose its answer, late
                            // enough for a pod to have started meanwhile (as on a cluster
                            // whose answer was lost on the way back).
                            let _ = server.read(&mut answer).await;
                            tokio::time::sleep(std::time::Duration::from_secs(3)).await;
                            return;
                        }
                        _ => {}
                    }
                    upgraded = String::from_utf8_lossy(chunk).to_ascii_lowercase().contains("\r\nupgrade:");
                }
                if server.write_all(chunk).await.is_err() { return; }
            }
            read = server.read(&mut answer) => {
                let Ok(n) = read else { return };
                if n == 0 { return; }
                if client.write_all(&answer[..n]).await.is_err() { return; }
            }
        }
    }
}

fn looks_like_request(chunk: &[u8]) -> bool {
    ["GET ", "POST ", "PUT ", "PATCH ", "DELETE "]
        .iter()
        .any(|m| chunk.starts_with(m.as_bytes()))
}
