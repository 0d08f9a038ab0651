//! One authenticated connection with the controller: requests in, answers and output out.
//! Processes belong to the agent, not to the connection, so they outlive it.

use crate::agent::{Agent, SpawnRequest, follow};
use crate::files::{Uploads, read_file, resolve, simple_op};
use crate::handshake::{self, HandshakeError, token_matches};
use crate::protocol::{Frame, Message, ProtocolError, read_frame, write_frame};
use kiln_executor::OutputMode;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tracing::{debug, warn};

/// How many frames may wait for the socket before senders wait.
const OUT_QUEUE: usize = 256;

/// The listening side of the handshake: checks the token and the container name.
pub async fn accept<S: AsyncRead + AsyncWrite + Unpin>(
    agent: &Agent,
    stream: &mut S,
) -> Result<(), HandshakeError> {
    let hello = handshake::read_hello(stream).await?;
    let config = agent.config();
    let verdict = if !token_matches(&hello.token, &config.token) {
        Err("wrong token".to_owned())
    } else if hello.container != config.container {
        Err(format!(
            "this agent serves container `{}`, not `{}`",
            config.container, hello.container
        ))
    } else {
        Ok(())
    };
    match verdict {
        Ok(()) => handshake::answer(stream, Ok(&config.container)).await,
        Err(reason) => {
            handshake::answer(stream, Err(&reason)).await?;
            Err(HandshakeError::Rejected(reason))
        }
    }
}

/// Serves an authenticated connection until it closes.
pub async fn serve<S: AsyncRead + AsyncWrite + Send + 'static>(agent: Arc<Agent>, stream: S) {
    let (mut reader, mut writer) = tokio::io::split(stream);
    let (tx, mut rx) = mpsc::channel::<Frame>(OUT_QUEUE);
    let writing = tokio::spawn(async move {
        while let Some(frame) = rx.recv().await {
            if let Err(error) = write_frame(&mut writer, &frame).await {
                debug!(%error, "connection closed while writing");
                return;
            }
        }
    });
    let mut uploads = Uploads::default();
    // The build and epoch this connection drives, once it said so.
    let mut fence: Option<(String, u64)> = None;
    let mut raised = agent.fences().subscribe();
    loop {
        let read = tokio::select! {
            read = read_frame(&mut reader) => read,
            // Another controller drives the build now: this one is told, then cut off (a
            // frame half read is lost with the connection).
            reason = agent.fences().superseded(fence.as_ref(), &mut raised) => {
                refuse(&tx, reason).await;
                break;
            }
        };
        let frame = match read {
            Ok(Some(frame)) => frame,
            Ok(None) => break,
            Err(ProtocolError::Io(error)) => {
                debug!(%error, "connection lost");
                break;
            }
            Err(error) => {
                warn!(%error, "bad frame from the controller; closing the connection");
                break;
            }
        };
        if let Err(reason) = fenced(&agent, &frame.message, &mut fence) {
            refuse(&tx, reason).await;
            break;
        }
        if matches!(frame.message, Message::Fence { .. }) {
            continue;
        }
        dispatch(&agent, frame, &tx, &mut uploads).await;
    }
    drop(tx);
    // Followers still hold senders; the writer ends when they notice the closed socket.
    writing.abort();
}

/// Tells the controller why its connection is refused; the refusal goes out (or 2 s pass)
/// before the connection closes.
async fn refuse(tx: &mpsc::Sender<Frame>, reason: String) {
    warn!(%reason, "refusing the controller's connection");
    send(tx, Message::Rejected { reason }).await;
    let drained = async {
        while tx.capacity() < tx.max_capacity() {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), drained).await;
    // A moment for the writer to put it on the wire before it is stopped.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
}

/// Takes a connection's `Fence`, and refuses any frame of a connection whose epoch is no
/// longer the build's highest (see [`crate::fence`]).
fn fenced(
    agent: &Agent,
    message: &Message,
    fence: &mut Option<(String, u64)>,
) -> Result<(), String> {
    if let Message::Fence { build, epoch } = message {
        agent.fences().admit(build, *epoch)?;
        debug!(build, epoch, "the controller drives this build");
        *fence = Some((build.clone(), *epoch));
        return Ok(());
    }
    match fence {
        Some((build, epoch)) => agent.fences().check(build, *epoch),
        None => Ok(()),
    }
}

async fn dispatch(
    agent: &Arc<Agent>,
    frame: Frame,
    tx: &mpsc::Sender<Frame>,
    uploads: &mut Uploads,
) {
    let workspace = agent.config().workspace.clone();
    match frame.message {
        Message::Spawn {
            id,
            argv,
            env,
            cwd,
            separate_streams,
        } => {
            let request = SpawnRequest {
                id: id.clone(),
                argv,
                env,
                cwd,
                stdin: frame.payload,
                output: if separate_streams {
                    OutputMode::Separate
                } else {
                    OutputMode::Merged
                },
            };
            match agent.spawn(request).await {
                Ok((proc, known)) => start_following(proc, id, 0, known, tx).await,
                Err(failure) => send(tx, failed_process(id, failure)).await,
            }
        }
        Message::Attach { id, from_offset } => match agent.lookup(&id).await {
            Ok(proc) => start_following(proc, id, from_offset, true, tx).await,
            Err(failure) => send(tx, failed_process(id, failure)).await,
        },
        Message::Kill { id, mode } => {
            if let Err(failure) = agent.kill(&id, mode) {
                send(tx, failed_process(id, failure)).await;
            }
        }
        Message::ReadFile { req, path } => {
            tokio::spawn(read_file(resolve(&workspace, &path), req, tx.clone()));
        }
        Message::WriteFile {
            req,
            path,
            first,
            last,
        } => {
            let path = resolve(&workspace, &path);
            if let Some(answer) = uploads.chunk(path, req, first, last, &frame.payload).await {
                send(tx, answer).await;
            }
        }
        Message::Ping { req } => send(tx, Message::Pong { req }).await,
        message @ (Message::Exists { .. }
        | Message::DeleteDir { .. }
        | Message::CreateDir { .. }
        | Message::ListFiles { .. }) => {
            let tx = tx.clone();
            tokio::spawn(async move {
                if let Some(answer) = simple_op(workspace, message).await {
                    send(&tx, answer).await;
                }
            });
        }
        other => {
            warn!(?other, "unexpected message from the controller");
            let failure = crate::protocol::Failure::other("unexpected message");
            send(
                tx,
                Message::Failed {
                    req: None,
                    id: None,
                    failure,
                },
            )
            .await;
        }
    }
}

async fn start_following(
    proc: Arc<crate::agent::Proc>,
    id: String,
    from: u64,
    known: bool,
    tx: &mpsc::Sender<Frame>,
) {
    let started = Message::Started {
        id: id.clone(),
        pid: proc.pid(),
        known,
        ended: known && proc.has_ended(),
    };
    send(tx, started).await;
    tokio::spawn(follow(proc, id, from, tx.clone()));
}

fn failed_process(id: String, failure: crate::protocol::Failure) -> Message {
    Message::Failed {
        req: None,
        id: Some(id),
        failure,
    }
}

async fn send(tx: &mpsc::Sender<Frame>, message: Message) {
    // A closed connection drops the answer; the controller re-asks after reconnecting.
    let _ = tx.send(Frame::new(message)).await;
}
