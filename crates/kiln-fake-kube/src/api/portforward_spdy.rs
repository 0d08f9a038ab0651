//! `pods/{name}/portforward` as kubectl (1.31 and later) speaks it: SPDY/3.1 tunnelled in
//! WebSocket binary messages (subprotocol `SPDY/3.1+portforward.k8s.io`). For each forwarded
//! connection kubectl opens two streams with headers `streamtype: error|data`, `port` and
//! `requestid`; the fake answers each `SYN_STREAM`, relays the data stream to
//! `127.0.0.1:<port>` (the fake's pods share the host's network) and writes a failure to
//! connect on the error stream, as the kubelet does.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::ws::{Message, WebSocket};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::mpsc;

use super::spdy::{self, FLAG_FIN, Frame, HeaderReader, HeaderWriter};

/// The WebSocket subprotocol kubectl asks for.
pub const PROTOCOL: &str = "SPDY/3.1+portforward.k8s.io";

/// What a request id has so far: its error stream, and its data stream's failure to connect
/// when that came first.
#[derive(Default)]
struct Request {
    error_stream: Option<u32>,
    failure: Option<String>,
}

struct Session {
    out: mpsc::Sender<Vec<u8>>,
    headers_in: HeaderReader,
    headers_out: HeaderWriter,
    requests: HashMap<String, Request>,
    /// Data streams' connections to the pod.
    writers: HashMap<u32, OwnedWriteHalf>,
}

/// Serves one tunnelled SPDY connection until either side closes it.
pub async fn session(socket: WebSocket) {
    let (mut sink, mut incoming) = socket.split();
    let (out, mut rx) = mpsc::channel::<Vec<u8>>(64);
    let writing = tokio::spawn(async move {
        while let Some(bytes) = rx.recv().await {
            if sink
                .send(Message::Binary(Bytes::from(bytes)))
                .await
                .is_err()
            {
                return;
            }
        }
        let _ = sink.close().await;
    });
    let mut session = Session {
        out,
        headers_in: HeaderReader::new(),
        headers_out: HeaderWriter::default(),
        requests: HashMap::new(),
        writers: HashMap::new(),
    };
    let mut buf = Vec::new();
    'read: while let Some(Ok(message)) = incoming.next().await {
        match message {
            Message::Binary(bytes) => buf.extend_from_slice(&bytes),
            Message::Close(_) => break,
            _ => continue,
        }
        loop {
            match spdy::next_frame(&mut buf) {
                Ok(Some(frame)) => {
                    if !session.handle(frame).await {
                        break 'read;
                    }
                }
                Ok(None) => break,
                Err(error) => {
                    tracing::warn!(%error, "bad SPDY frame from a port-forward client");
                    break 'read;
                }
            }
        }
    }
    drop(session);
    let _ = writing.await;
}

impl Session {
    /// Handles one frame; false ends the session.
    async fn handle(&mut self, frame: Frame) -> bool {
        match frame {
            Frame::Control {
                kind: spdy::SYN_STREAM,
                payload,
                ..
            } => self.open(&payload).await,
            Frame::Control {
                kind: spdy::PING,
                payload,
                ..
            } => self.send(spdy::control(spdy::PING, 0, &payload)).await,
            Frame::Control {
                kind: spdy::RST_STREAM,
                payload,
                ..
            } => {
                if let Some(stream) = spdy::stream_id(&payload) {
                    self.writers.remove(&stream);
                }
                true
            }
            Frame::Control {
                kind: spdy::GOAWAY, ..
            } => false,
            // SETTINGS, WINDOW_UPDATE, HEADERS: nothing to do for a relay.
            Frame::Control { .. } => true,
            Frame::Data {
                stream,
                flags,
                payload,
            } => {
                self.relay(stream, &payload).await;
                if flags & FLAG_FIN != 0
                    && let Some(mut writer) = self.writers.remove(&stream)
                {
                    let _ = writer.shutdown().await;
                }
                true
            }
        }
    }

    async fn send(&self, bytes: Vec<u8>) -> bool {
        self.out.send(bytes).await.is_ok()
    }

    async fn relay(&mut self, stream: u32, payload: &[u8]) {
        if let Some(writer) = self.writers.get_mut(&stream)
            && writer.write_all(payload).await.is_err()
        {
            self.writers.remove(&stream);
        }
    }

    /// A new stream: answered at once, then wired by its type.
    async fn open(&mut self, payload: &[u8]) -> bool {
        let Some(stream) = spdy::stream_id(payload) else {
            return false;
        };
        let pairs = match payload.get(10..).map(|block| self.headers_in.read(block)) {
            Some(Ok(pairs)) => pairs,
            Some(Err(error)) => {
                tracing::warn!(%error, "unreadable SPDY headers from a port-forward client");
                return false;
            }
            None => return false,
        };
        let header = |name: &str| {
            pairs
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let (kind, port, request) = (header("streamtype"), header("port"), header("requestid"));
        let mut reply = stream.to_be_bytes().to_vec();
        reply.extend(self.headers_out.write(&[]));
        if !self.send(spdy::control(spdy::SYN_REPLY, 0, &reply)).await {
            return false;
        }
        match kind.as_str() {
            "error" => {
                let entry = self.requests.entry(request).or_default();
                entry.error_stream = Some(stream);
                if let Some(failure) = entry.failure.take() {
                    self.fail(stream, &failure).await;
                }
            }
            "data" => self.connect(stream, &port, request).await,
            other => {
                tracing::warn!(streamtype = other, "unknown port-forward stream type");
            }
        }
        true
    }

    /// Connects a data stream to the pod's port; a failure goes to the request's error stream.
    async fn connect(&mut self, stream: u32, port: &str, request: String) {
        let connected = match port.parse::<u16>() {
            Ok(number) => TcpStream::connect(("127.0.0.1", number))
                .await
                .map_err(|e| format!("failed to connect to localhost:{number}: {e}")),
            Err(_) => Err(format!("invalid port {port:?}")),
        };
        match connected {
            Ok(tcp) => {
                let _ = tcp.set_nodelay(true);
                let (mut read, write) = tcp.into_split();
                self.writers.insert(stream, write);
                let out = self.out.clone();
                // kubectl waits for the error stream's end before it closes a connection.
                let error_stream = self.requests.get(&request).and_then(|r| r.error_stream);
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 32 * 1024];
                    loop {
                        match read.read(&mut buf).await {
                            Ok(n) if n > 0 => {
                                if out.send(spdy::data(stream, 0, &buf[..n])).await.is_err() {
                                    return;
                                }
                            }
                            _ => break,
                        }
                    }
                    let _ = out.send(spdy::data(stream, FLAG_FIN, &[])).await;
                    if let Some(error_stream) = error_stream {
                        let _ = out.send(spdy::data(error_stream, FLAG_FIN, &[])).await;
                    }
                });
            }
            Err(reason) => {
                let message = format!("error forwarding port {port} to pod: {reason}");
                let _ = self.send(spdy::data(stream, FLAG_FIN, &[])).await;
                let entry = self.requests.entry(request).or_default();
                match entry.error_stream {
                    Some(error_stream) => self.fail(error_stream, &message).await,
                    None => entry.failure = Some(message),
                }
            }
        }
    }

    async fn fail(&self, error_stream: u32, message: &str) {
        let _ = self
            .send(spdy::data(error_stream, FLAG_FIN, message.as_bytes()))
            .await;
    }
}
