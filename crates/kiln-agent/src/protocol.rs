//! The wire protocol between the controller and the kiln agent: the single source of truth.
//!
//! A frame is `u32 BE length of the rest` + `u32 BE length of the header` + a JSON header
//! (a [`Message`], tagged by `type`) + an optional binary payload (output bytes, file chunks,
//! stdin). Frames are at most [`MAX_FRAME`] bytes.
//!
//! The session:
//! 1. The side that opened the TCP connection sends [`Message::Hello`] with the build's token:
//!    the controller when it reaches the agent through a port-forward (listen mode), the agent
//!    when it dials the controller (`--connect`). The other side checks the token (and the
//!    container name) and answers [`Message::Welcome`] or [`Message::Rejected`] and closes.
//!    A listening agent thus never reveals anything to a peer that does not know the token.
//! 2. From then on the controller asks and the agent answers, whoever dialled.
//!
//! Processes have ids chosen by the controller. [`Message::Spawn`] for an id the agent already
//! knows is answered with that process (its output from offset 0 and, when it ended, its exit),
//! never run again. Every process's output is appended to `RUN_DIR/ID.out` on the shared
//! volume, so after a lost connection or a controller restart [`Message::Attach`] with the
//! first offset not yet received resumes the stream: nothing lost, nothing run twice.
//! Output offsets count the bytes of stdout and stderr together, as the local runner does.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The largest frame either side accepts (header and payload together).
pub const MAX_FRAME: usize = 16 * 1024 * 1024;

/// Files move in chunks of at most this many bytes.
pub const FILE_CHUNK: usize = 1024 * 1024;

/// The agent's version, sent in the handshake.
pub const AGENT_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Which stream a piece of output came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Stream {
    Stdout,
    Stderr,
}

/// How [`Message::Kill`] stops a process group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum KillMode {
    /// SIGTERM to the group, SIGKILL after the agent's grace period.
    Terminate,
    /// SIGKILL to the group at once.
    Kill,
}

/// A file found by [`Message::ListFiles`], relative to the directory searched.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireEntry {
    pub path: String,
    pub size: u64,
}

/// What went wrong with a request, precise enough for the controller to rebuild the error.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "kind",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum Failure {
    /// A file operation failed; `io_kind` is the `std::io::ErrorKind` name (`NotFound`, ...).
    Io {
        op: String,
        path: String,
        io_kind: String,
        message: String,
    },
    /// A process could not be started.
    Spawn { program: String, message: String },
    /// A bad Ant pattern.
    Glob { pattern: String, message: String },
    /// Anything else (unknown process id, protocol misuse, an agent restarted mid-process).
    Other { message: String },
}

/// One message. Requests carry a controller-chosen `req` number echoed by the answer;
/// process messages carry the process `id`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum Message {
    Hello {
        token: String,
        container: String,
        agent_version: String,
    },
    Welcome {
        container: String,
        agent_version: String,
    },
    Rejected {
        reason: String,
    },
    /// The controller drives build `build` (`JOB#N`) at `epoch` (its claim's, when several
    /// controllers share a database): sent first on every connection, before any request
    /// for that build. The agent refuses it, and any later request of the connection, once
    /// it was told a higher epoch for the build ([`crate::fence`]); it answers `Rejected`
    /// and closes the connection.
    Fence {
        build: String,
        epoch: u64,
    },
    /// Starts a process (payload: its stdin, empty for none). `env` is added to the
    /// container's own environment; relative `cwd`s are below the agent's workspace.
    Spawn {
        id: String,
        argv: Vec<String>,
        env: BTreeMap<String, String>,
        cwd: String,
        /// A pipe each for stdout and stderr (a step capturing stdout); false: one pipe for
        /// both, so the output keeps the order it was written in.
        #[serde(default)]
        separate_streams: bool,
    },
    /// The answer to `Spawn`/`Attach`: the process exists; output and exit follow.
    Started {
        id: String,
        pid: Option<u32>,
        /// True when the id was known already (nothing was started).
        known: bool,
        /// With `known`: the process had ended already (a build resumed after a controller
        /// restart is then still repeating what it did before).
        #[serde(default)]
        ended: bool,
    },
    /// Payload: output bytes starting at `offset`.
    Output {
        id: String,
        offset: u64,
        stream: Stream,
    },
    /// The process ended with `code`, or by `signal`.
    Exit {
        id: String,
        code: Option<i32>,
        signal: Option<i32>,
    },
    Kill {
        id: String,
        mode: KillMode,
    },
    /// Streams a known process's output from `from_offset` on, then its exit.
    Attach {
        id: String,
        from_offset: u64,
    },
    ReadFile {
        req: u64,
        path: String,
    },
    /// Payload: a piece of a file being read; `last` ends it.
    FileChunk {
        req: u64,
        last: bool,
    },
    /// Payload: a piece of a file; `first` truncates, `last` finishes (answered with `Done`).
    /// The file appears under its name only once complete.
    WriteFile {
        req: u64,
        path: String,
        first: bool,
        last: bool,
    },
    Exists {
        req: u64,
        path: String,
    },
    ExistsResult {
        req: u64,
        exists: bool,
    },
    DeleteDir {
        req: u64,
        path: String,
    },
    CreateDir {
        req: u64,
        path: String,
    },
    ListFiles {
        req: u64,
        dir: String,
        includes: Vec<String>,
        excludes: Vec<String>,
    },
    FileList {
        req: u64,
        entries: Vec<WireEntry>,
    },
    Done {
        req: u64,
    },
    /// A request (`req`) or a process (`id`) failed.
    Failed {
        req: Option<u64>,
        id: Option<String>,
        failure: Failure,
    },
    Ping {
        req: u64,
    },
    Pong {
        req: u64,
    },
}

/// A message and its payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub message: Message,
    pub payload: Vec<u8>,
}

impl Frame {
    pub fn new(message: Message) -> Self {
        Frame {
            message,
            payload: Vec::new(),
        }
    }

    pub fn with_payload(message: Message, payload: Vec<u8>) -> Self {
        Frame { message, payload }
    }
}

/// Why a frame could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    #[error("connection error")]
    Io(#[from] std::io::Error),
    #[error("frame of {0} bytes is larger than the limit of {MAX_FRAME}")]
    TooLarge(usize),
    #[error("malformed frame: {0}")]
    Malformed(String),
    #[error("bad frame header")]
    Json(#[from] serde_json::Error),
}

/// Writes one frame.
pub async fn write_frame<W: AsyncWrite + Unpin>(
    writer: &mut W,
    frame: &Frame,
) -> Result<(), ProtocolError> {
    let header = serde_json::to_vec(&frame.message)?;
    let total = 4 + header.len() + frame.payload.len();
    if total > MAX_FRAME {
        return Err(ProtocolError::TooLarge(total));
    }
    let mut buf = Vec::with_capacity(4 + total);
    buf.extend_from_slice(&u32_of(total)?.to_be_bytes());
    buf.extend_from_slice(&u32_of(header.len())?.to_be_bytes());
    buf.extend_from_slice(&header);
    buf.extend_from_slice(&frame.payload);
    writer.write_all(&buf).await?;
    Ok(())
}

fn u32_of(n: usize) -> Result<u32, ProtocolError> {
    u32::try_from(n).map_err(|_| ProtocolError::TooLarge(n))
}

/// Reads one frame; `None` at a clean end of the stream (between frames).
pub async fn read_frame<R: AsyncRead + Unpin>(
    reader: &mut R,
) -> Result<Option<Frame>, ProtocolError> {
    let mut len = [0_u8; 4];
    match reader.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let total = u32::from_be_bytes(len) as usize;
    if total > MAX_FRAME {
        return Err(ProtocolError::TooLarge(total));
    }
    if total < 4 {
        return Err(ProtocolError::Malformed(format!(
            "frame length {total} is shorter than its header length field"
        )));
    }
    let mut body = vec![0_u8; total];
    reader.read_exact(&mut body).await?;
    let (head_len, rest) = body.split_at(4);
    let mut head_len_bytes = [0_u8; 4];
    head_len_bytes.copy_from_slice(head_len);
    let head_len = u32::from_be_bytes(head_len_bytes) as usize;
    if head_len > rest.len() {
        return Err(ProtocolError::Malformed(format!(
            "header length {head_len} exceeds the frame's {} bytes",
            rest.len()
        )));
    }
    let (header, payload) = rest.split_at(head_len);
    let message = serde_json::from_slice(header)?;
    Ok(Some(Frame {
        message,
        payload: payload.to_vec(),
    }))
}

/// Whether `id` may name a process: 1 to 128 of `[A-Za-z0-9._-]`, not starting with `.`.
/// Ids become file names on the shared volume, so nothing else is accepted.
pub fn valid_process_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && !id.starts_with('.')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_round_trip_with_payloads() {
        let frames = vec![
            Frame::new(Message::Ping { req: 7 }),
            Frame::with_payload(
                Message::Output {
                    id: "p1".into(),
                    offset: 42,
                    stream: Stream::Stderr,
                },
                b"hello\n".to_vec(),
            ),
        ];
        let mut buf = Vec::new();
        for f in &frames {
            write_frame(&mut buf, f).await.unwrap();
        }
        let mut reader = buf.as_slice();
        for f in &frames {
            assert_eq!(read_frame(&mut reader).await.unwrap().as_ref(), Some(f));
        }
        assert!(read_frame(&mut reader).await.unwrap().is_none());
    }

    #[test]
    fn header_is_tagged_camel_case_json() {
        let json = serde_json::to_string(&Message::Attach {
            id: "x".into(),
            from_offset: 3,
        })
        .unwrap();
        assert_eq!(json, r#"{"type":"attach","id":"x","fromOffset":3}"#);
    }

    #[tokio::test]
    async fn oversized_and_truncated_frames_are_errors() {
        let mut big = ((MAX_FRAME + 1) as u32).to_be_bytes().to_vec();
        big.extend_from_slice(&[0; 8]);
        assert!(matches!(
            read_frame(&mut big.as_slice()).await,
            Err(ProtocolError::TooLarge(_))
        ));
        let mut bad = 8_u32.to_be_bytes().to_vec();
        bad.extend_from_slice(&100_u32.to_be_bytes());
        bad.extend_from_slice(b"{}{}");
        assert!(matches!(
            read_frame(&mut bad.as_slice()).await,
            Err(ProtocolError::Malformed(_))
        ));
    }

    #[test]
    fn process_ids_are_safe_file_names() {
        assert!(valid_process_id("b42-s7.retry_1"));
        for bad in ["", ".hidden", "a/b", "../x", "a b"] {
            assert!(!valid_process_id(bad), "{bad}");
        }
    }
}
