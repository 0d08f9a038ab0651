//! `pods/{name}/portforward` over WebSocket (`v4.channel.k8s.io`, the protocol kube-rs uses;
//! kubectl's SPDY-in-WebSocket is `portforward_spdy.rs`):
//! port `i` gets data channel `2i` and error channel `2i+1`; the server first sends the port
//! number (little-endian u16) on both, then relays bytes to and from `127.0.0.1:<port>` (the
//! fake's pods share the host's network).

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::mpsc;

use super::AppState;
use super::objects::pods;
use super::portforward_spdy;
use crate::api_error::ApiError;

/// The handler.
pub async fn portforward(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: axum::http::HeaderMap,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    state.store.get(pods()?, &ns, &name)?;
    let offered = headers
        .get(axum::http::header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if offered
        .split(',')
        .any(|p| p.trim() == portforward_spdy::PROTOCOL)
    {
        // kubectl: the ports come in each stream's headers, not in the query.
        let ws = ws.map_err(|_| ApiError::bad_request("Upgrade request required"))?;
        return Ok(ws
            .protocols([portforward_spdy::PROTOCOL])
            .on_upgrade(portforward_spdy::session)
            .into_response());
    }
    let ports: Vec<u16> = query
        .get("ports")
        .map(|p| p.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_default();
    if ports.is_empty() {
        return Err(ApiError::bad_request(
            "query parameter \"port\" is required",
        ));
    }
    let ws = ws.map_err(|_| {
        ApiError::bad_request(
            "Upgrade request required: this fake serves port-forward over WebSocket only (no SPDY)",
        )
    })?;
    Ok(ws
        .protocols(["v4.channel.k8s.io", "portforward.k8s.io"])
        .on_upgrade(move |socket| session(socket, ports))
        .into_response())
}

fn framed(channel: u8, data: &[u8]) -> Message {
    let mut bytes = Vec::with_capacity(data.len() + 1);
    bytes.push(channel);
    bytes.extend_from_slice(data);
    Message::Binary(Bytes::from(bytes))
}

async fn session(socket: WebSocket, ports: Vec<u16>) {
    let (mut sink, mut incoming) = socket.split();
    let (tx, mut rx) = mpsc::channel::<Message>(64);
    let mut writers: HashMap<u8, OwnedWriteHalf> = HashMap::new();
    for (i, port) in ports.iter().enumerate() {
        let Ok(index) = u8::try_from(i) else { break };
        let (data_ch, err_ch) = (index * 2, index * 2 + 1);
        let prefix = port.to_le_bytes();
        if sink.send(framed(data_ch, &prefix)).await.is_err()
            || sink.send(framed(err_ch, &prefix)).await.is_err()
        {
            return;
        }
        match TcpStream::connect(("127.0.0.1", *port)).await {
            Ok(stream) => {
                // Like the kubelet's forwarder: small frames go out at once.
                let _ = stream.set_nodelay(true);
                let (mut read, write) = stream.into_split();
                writers.insert(data_ch, write);
                let tx = tx.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 16 * 1024];
                    while let Ok(n) = read.read(&mut buf).await {
                        if n == 0 || tx.send(framed(data_ch, &buf[..n])).await.is_err() {
                            break;
                        }
                    }
                });
            }
            Err(err) => {
                let message = format!(
                    "an error occurred forwarding {port} -> {port}: error forwarding port {port} to pod: failed to connect to localhost:{port}: {err}"
                );
                let _ = sink.send(framed(err_ch, message.as_bytes())).await;
            }
        }
    }
    drop(tx);
    loop {
        tokio::select! {
            out = rx.recv() => match out {
                Some(msg) => {
                    if sink.send(msg).await.is_err() {
                        return;
                    }
                }
                None => {
                    close_normally(&mut sink).await;
                    return;
                }
            },
            msg = incoming.next() => match msg {
                Some(Ok(Message::Binary(data))) if data.len() > 1 => {
                    if let Some(w) = writers.get_mut(&data[0]) {
                        if w.write_all(&data[1..]).await.is_err() {
                            writers.remove(&data[0]);
                        }
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

/// Ends the session with close code 1000; clients treat a close without a code as an error.
async fn close_normally(sink: &mut futures_util::stream::SplitSink<WebSocket, Message>) {
    let frame = axum::extract::ws::CloseFrame {
        code: axum::extract::ws::close_code::NORMAL,
        reason: "".into(),
    };
    let _ = sink.send(Message::Close(Some(frame))).await;
    let _ = sink.close().await;
}
