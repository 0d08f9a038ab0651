//! The first exchange of a connection: `Hello` from the side that dialled, `Welcome` or
//! `Rejected` from the side that listened. Used by the agent and by the controller.

use crate::protocol::{AGENT_VERSION, Frame, Message, ProtocolError, read_frame, write_frame};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};

/// How long a peer may take to send its part of the handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    #[error("the peer closed the connection during the handshake")]
    Closed,
    #[error("no handshake within {} s", HANDSHAKE_TIMEOUT.as_secs())]
    Timeout,
    #[error("expected `{expected}` first, got `{got}`")]
    Unexpected { expected: &'static str, got: String },
    #[error("rejected by the peer: {0}")]
    Rejected(String),
}

/// What the dialling side said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hello {
    pub token: String,
    pub container: String,
    pub agent_version: String,
}

/// Compares tokens in time independent of where they differ.
pub fn token_matches(given: &str, expected: &str) -> bool {
    let (a, b) = (given.as_bytes(), expected.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0_u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn first_frame<R: AsyncRead + Unpin>(reader: &mut R) -> Result<Frame, HandshakeError> {
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, read_frame(reader)).await {
        Err(_) => Err(HandshakeError::Timeout),
        Ok(Ok(Some(frame))) => Ok(frame),
        Ok(Ok(None)) => Err(HandshakeError::Closed),
        Ok(Err(e)) => Err(e.into()),
    }
}

fn name(message: &Message) -> String {
    serde_json::to_value(message)
        .ok()
        .and_then(|v| v.get("type").and_then(|t| t.as_str()).map(str::to_owned))
        .unwrap_or_default()
}

/// The listening side: reads the `Hello` (not yet answered; see [`answer`]).
pub async fn read_hello<R: AsyncRead + Unpin>(reader: &mut R) -> Result<Hello, HandshakeError> {
    match first_frame(reader).await?.message {
        Message::Hello {
            token,
            container,
            agent_version,
        } => Ok(Hello {
            token,
            container,
            agent_version,
        }),
        other => Err(HandshakeError::Unexpected {
            expected: "hello",
            got: name(&other),
        }),
    }
}

/// The listening side's answer: `Ok(container)` welcomes, `Err(reason)` rejects.
pub async fn answer<W: AsyncWrite + Unpin>(
    writer: &mut W,
    verdict: Result<&str, &str>,
) -> Result<(), HandshakeError> {
    let message = match verdict {
        Ok(container) => Message::Welcome {
            container: container.to_owned(),
            agent_version: AGENT_VERSION.to_owned(),
        },
        Err(reason) => Message::Rejected {
            reason: reason.to_owned(),
        },
    };
    write_frame(writer, &Frame::new(message)).await?;
    Ok(())
}

/// The dialling side: sends `Hello` and waits for `Welcome`; returns the peer's version.
pub async fn greet<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    token: &str,
    container: &str,
) -> Result<String, HandshakeError> {
    let hello = Message::Hello {
        token: token.to_owned(),
        container: container.to_owned(),
        agent_version: AGENT_VERSION.to_owned(),
    };
    write_frame(stream, &Frame::new(hello)).await?;
    match first_frame(stream).await?.message {
        Message::Welcome { agent_version, .. } => Ok(agent_version),
        Message::Rejected { reason } => Err(HandshakeError::Rejected(reason)),
        other => Err(HandshakeError::Unexpected {
            expected: "welcome",
            got: name(&other),
        }),
    }
}
