use crate::process::ProcessKiller;
use crate::{ExecError, ExitStatus, OutputChunk};
use tokio::sync::{mpsc, oneshot};

/// A running process: its output as it arrives, its exit status, and a way to stop it.
///
/// Built from channels so that any backend can produce one: the local runner feeds them from
/// pipes, a remote agent from the network. The output channel closes when the output is
/// finished; the exit status follows. Dropping a handle of the local runner kills the
/// process group.
#[derive(Debug)]
pub struct ProcessHandle {
    output: mpsc::Receiver<OutputChunk>,
    exit: oneshot::Receiver<ExitStatus>,
    killer: ProcessKiller,
    pid: Option<u32>,
}

impl ProcessHandle {
    pub fn new(
        output: mpsc::Receiver<OutputChunk>,
        exit: oneshot::Receiver<ExitStatus>,
        killer: ProcessKiller,
        pid: Option<u32>,
    ) -> Self {
        ProcessHandle {
            output,
            exit,
            killer,
            pid,
        }
    }

    /// The next piece of output of either stream, or `None` once the output is finished.
    pub async fn next_chunk(&mut self) -> Option<OutputChunk> {
        self.output.recv().await
    }

    /// A piece of output that is already waiting, if there is one (never waits).
    pub fn ready_chunk(&mut self) -> Option<OutputChunk> {
        self.output.try_recv().ok()
    }

    /// Waits for the process to end, reading and dropping any output not yet taken (so a
    /// process blocked on a full pipe can finish).
    pub async fn wait(mut self) -> Result<ExitStatus, ExecError> {
        while self.output.recv().await.is_some() {}
        self.exit.await.map_err(|_| ExecError::NoExitStatus)
    }

    pub fn killer(&self) -> ProcessKiller {
        self.killer.clone()
    }

    /// The operating-system process id, where the backend has one.
    pub fn pid(&self) -> Option<u32> {
        self.pid
    }
}
