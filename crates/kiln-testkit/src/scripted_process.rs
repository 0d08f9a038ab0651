//! What a [`FakeExecutor`](crate::FakeExecutor) process does: output, pauses in
//! `tokio::time` (virtual under `tokio::time::pause`), and an exit status.

use kiln_executor::{ExitStatus, KillMode, OutputChunk, StreamKind};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

/// SIGTERM and SIGKILL, the statuses of a process ended by its killer.
const SIGTERM: i32 = 15;
const SIGKILL: i32 = 9;

/// One thing a scripted process does.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Act {
    Output(StreamKind, Vec<u8>),
    Sleep(Duration),
}

/// A process's script, built with `self`-returning methods:
/// `ScriptedProcess::new().stdout("building\n").sleep(Duration::from_secs(90)).exit(2)`.
///
/// The process writes and waits in order, then exits with its status (0 unless [`exit`]
/// says otherwise). A kill (terminate or kill) ends it at once with the signal's status.
///
/// [`exit`]: ScriptedProcess::exit
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScriptedProcess {
    acts: Vec<Act>,
    status: ExitStatus,
}

impl Default for ScriptedProcess {
    fn default() -> Self {
        ScriptedProcess::new()
    }
}

impl ScriptedProcess {
    /// A process that exits with 0 at once, writing nothing.
    pub fn new() -> ScriptedProcess {
        ScriptedProcess {
            acts: Vec::new(),
            status: ExitStatus::Code(0),
        }
    }

    /// Writes `text` to stdout (the merged stream).
    pub fn stdout(mut self, text: impl Into<Vec<u8>>) -> ScriptedProcess {
        self.acts.push(Act::Output(StreamKind::Stdout, text.into()));
        self
    }

    /// Writes `text` to stderr.
    pub fn stderr(mut self, text: impl Into<Vec<u8>>) -> ScriptedProcess {
        self.acts.push(Act::Output(StreamKind::Stderr, text.into()));
        self
    }

    /// Waits `duration` of `tokio::time` (instant under a paused clock).
    pub fn sleep(mut self, duration: Duration) -> ScriptedProcess {
        self.acts.push(Act::Sleep(duration));
        self
    }

    /// Exits with `code` once the script is done.
    pub fn exit(mut self, code: i32) -> ScriptedProcess {
        self.status = ExitStatus::Code(code);
        self
    }

    /// Runs the script, feeding `output` and then `exit`; `killed` ends it early.
    pub(crate) async fn run(
        self,
        output: mpsc::Sender<OutputChunk>,
        exit: oneshot::Sender<ExitStatus>,
        killed: KillSignal,
    ) {
        let mut offset = 0u64;
        let mut status = self.status;
        for act in self.acts {
            let ended = match act {
                Act::Output(stream, bytes) => {
                    let len = bytes.len() as u64;
                    let chunk = OutputChunk {
                        stream,
                        offset,
                        bytes,
                    };
                    offset += len;
                    tokio::select! {
                        sent = output.send(chunk) => sent.is_err(),
                        () = killed.token.cancelled() => true,
                    }
                }
                Act::Sleep(duration) => tokio::select! {
                    () = tokio::time::sleep(duration) => false,
                    () = killed.token.cancelled() => true,
                },
            };
            if ended {
                if let Some(mode) = killed.mode() {
                    status = ExitStatus::Signal(match mode {
                        KillMode::Terminate => SIGTERM,
                        KillMode::Kill => SIGKILL,
                    });
                }
                break;
            }
        }
        drop(output);
        // The handle may be gone already; nobody is left to tell.
        let _ = exit.send(status);
    }
}

/// How a scripted process learns that it was killed, and how.
#[derive(Clone, Debug, Default)]
pub(crate) struct KillSignal {
    token: CancellationToken,
    mode: std::sync::Arc<std::sync::Mutex<Option<KillMode>>>,
}

impl KillSignal {
    pub(crate) fn kill(&self, mode: KillMode) {
        if let Ok(mut m) = self.mode.lock() {
            m.get_or_insert(mode);
        }
        self.token.cancel();
    }

    pub(crate) fn mode(&self) -> Option<KillMode> {
        self.mode.lock().ok().and_then(|m| *m)
    }
}
