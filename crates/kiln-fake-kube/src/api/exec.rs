//! `pods/{name}/exec` over WebSocket, subprotocols `v5.channel.k8s.io` and `v4.channel.k8s.io`:
//! every binary message starts with a channel byte (0 stdin, 1 stdout, 2 stderr, 3 error with
//! the final `Status`, 4 resize; v5 adds 255 to close a channel).

use std::process::Stdio;

use axum::body::Bytes;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;
use tokio::sync::mpsc;

use super::AppState;
use super::logs::pick_container;
use super::objects::pods;
use crate::api_error::ApiError;
use crate::kubelet::{RunningProcess, exec_command};

const PROTOCOLS: [&str; 2] = ["v5.channel.k8s.io", "v4.channel.k8s.io"];

struct ExecRequest {
    argv: Vec<String>,
    stdin: bool,
    process: RunningProcess,
}

fn prepare(
    state: &AppState,
    ns: &str,
    name: &str,
    query: &[(String, String)],
) -> Result<ExecRequest, ApiError> {
    let pod = state.store.get(pods()?, ns, name)?;
    let get = |k: &str| {
        query
            .iter()
            .rev()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    let phase = pod
        .pointer("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or("");
    if phase == "Succeeded" || phase == "Failed" {
        return Err(ApiError::bad_request(format!(
            "cannot exec into a container in a completed pod; current phase is {phase}"
        )));
    }
    let container = pick_container(&pod, get("container").as_ref())?;
    let argv: Vec<String> = query
        .iter()
        .filter(|(k, _)| k == "command")
        .map(|(_, v)| v.clone())
        .collect();
    if argv.is_empty() {
        return Err(ApiError::bad_request("you must specify at least 1 command"));
    }
    let uid = pod
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("");
    let process = state
        .kubelet
        .running_process(uid, &container)
        .ok_or_else(|| ApiError::bad_request(format!("container not found (\"{container}\")")))?;
    let stdin = get("stdin").is_some_and(|v| v == "true" || v == "1");
    Ok(ExecRequest {
        argv,
        stdin,
        process,
    })
}

/// The exec handler.
pub async fn exec(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    Query(query): Query<Vec<(String, String)>>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let request = prepare(&state, &ns, &name, &query)?;
    let Ok(ws) = ws else {
        return Err(ApiError::bad_request(
            "Upgrade request required: this fake serves exec over WebSocket only (no SPDY)",
        ));
    };
    let ws = ws.protocols(PROTOCOLS);
    let v5 = ws
        .selected_protocol()
        .is_some_and(|p| p.as_bytes() == PROTOCOLS[0].as_bytes());
    let isolation = state.kubelet.isolation();
    Ok(ws
        .on_upgrade(move |socket| session(socket, request, v5, isolation))
        .into_response())
}

/// `attach` is not served.
pub async fn attach() -> ApiError {
    ApiError::bad_request("attach is not supported by the fake kubelet")
}

fn status_for(argv: &[String], code: Option<i32>) -> Value {
    match code {
        Some(0) => json!({"metadata": {}, "status": "Success"}),
        other => {
            let code = other.unwrap_or(1);
            json!({
                "metadata": {}, "status": "Failure",
                "message": format!("command terminated with non-zero exit code: error executing command [{}], exit code {code}", argv.join(" ")),
                "reason": "NonZeroExitCode",
                "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]},
            })
        }
    }
}

fn framed(channel: u8, data: &[u8]) -> Message {
    let mut bytes = Vec::with_capacity(data.len() + 1);
    bytes.push(channel);
    bytes.extend_from_slice(data);
    Message::Binary(Bytes::from(bytes))
}

async fn session(
    socket: WebSocket,
    request: ExecRequest,
    v5: bool,
    isolation: crate::config::Isolation,
) {
    let (mut sink, mut incoming) = socket.split();
    let (program, args) = exec_command(request.process.pid, &request.argv, isolation);
    let mut command = Command::new(program);
    command
        .args(args)
        .env_clear()
        .envs(
            request
                .process
                .env
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str())),
        )
        .stdin(if request.stdin {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(err) => {
            let status = json!({"metadata": {}, "status": "Failure", "message": format!("failed to exec in container: {err}"), "reason": "InternalError"});
            let _ = sink.send(framed(3, status.to_string().as_bytes())).await;
            close_normally(&mut sink).await;
            return;
        }
    };
    let (out_tx, mut out_rx) = mpsc::channel::<Message>(64);
    let mut pumps = Vec::new();
    for (channel, reader) in [
        (
            1u8,
            child
                .stdout
                .take()
                .map(|r| Box::new(r) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
        ),
        (
            2u8,
            child
                .stderr
                .take()
                .map(|r| Box::new(r) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
        ),
    ] {
        let Some(mut reader) = reader else { continue };
        let tx = out_tx.clone();
        pumps.push(tokio::spawn(async move {
            let mut buf = vec![0u8; 8192];
            while let Ok(n) = reader.read(&mut buf).await {
                if n == 0 || tx.send(framed(channel, &buf[..n])).await.is_err() {
                    break;
                }
            }
        }));
    }
    drop(out_tx);
    let mut stdin = child.stdin.take();
    let mut outputs_open = true;
    let code = loop {
        tokio::select! {
            msg = out_rx.recv(), if outputs_open => match msg {
                Some(msg) => {
                    if sink.send(msg).await.is_err() {
                        break None;
                    }
                }
                None => outputs_open = false,
            },
            msg = incoming.next() => match msg {
                Some(Ok(Message::Binary(data))) => match data.first() {
                    Some(0) => {
                        if let Some(w) = stdin.as_mut() {
                            if w.write_all(&data[1..]).await.is_err() {
                                stdin = None;
                            }
                        }
                    }
                    Some(255) if v5 && data.get(1) == Some(&0) => stdin = None,
                    _ => {}
                },
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                    // The client went away: stop the command.
                    let _ = child.start_kill();
                    let _ = child.wait().await;
                    return;
                }
                Some(Ok(_)) => {}
            },
            status = child.wait(), if !outputs_open => {
                break status.ok().map(|s| {
                    use std::os::unix::process::ExitStatusExt;
                    s.code().or_else(|| s.signal().map(|sig| 128 + sig)).unwrap_or(1)
                });
            }
        }
    };
    for pump in pumps {
        pump.abort();
    }
    let status = status_for(&request.argv, code);
    let _ = sink.send(framed(3, status.to_string().as_bytes())).await;
    close_normally(&mut sink).await;
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
