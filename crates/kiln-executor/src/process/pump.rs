use crate::process::group::{KillGuard, ProcessGroup};
use crate::{ExitStatus, OutputChunk, StreamKind};
use std::io;
use std::os::unix::process::ExitStatusExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Child;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, sleep_until};
use tracing::{debug, warn};

/// Size of each pipe's read buffer; a chunk is at most this long.
const READ_BUFFER: usize = 64 * 1024;

/// A read shorter than this found the pipe nearly empty: the process prints in small
/// writes (`head` writes 8 KiB at a time) and the pump keeps up with it.
const SHORT_READ: usize = 16 * 1024;

/// How long the pump waits after a short read before reading again, when the pipe is large
/// enough to take what the process prints meanwhile: a process printing fast then gives
/// chunks of up to [`READ_BUFFER`] instead of one per write (each chunk wakes the pump,
/// the engine and the log's recorder), and a line waits at most this much longer to be
/// read. A pipe of 1 MiB holds what a process writes at 500 MB/s in that time.
const GATHER_WAIT: Duration = Duration::from_millis(1);

/// The read end of an output pipe: the child's own stdout or stderr pipe, or the one pipe
/// both write to.
pub(crate) type Pipe = Box<dyn AsyncRead + Send + Unpin>;

/// The task that owns a local child: it forwards its pipes (one shared by stdout and
/// stderr, or one each) as offset-numbered chunks in arrival order, reaps the child, and
/// reports its exit status.
///
/// The rule for the end of the output: once the main process has exited, the pipes are read
/// until both reach end-of-file, for at most `drain_grace`. A background process still
/// holding a pipe open after that is killed with its whole process group; pipes that stay
/// open for another `drain_grace` even so (a process that left the group but kept the pipe)
/// are abandoned. Then the output channel closes and the exit status of the main process is
/// sent. A dropped handle kills the group at whatever point the pump is.
pub(crate) struct Pump {
    pub(crate) child: Child,
    pub(crate) stdout: Option<Pipe>,
    pub(crate) stderr: Option<Pipe>,
    pub(crate) output: mpsc::Sender<OutputChunk>,
    pub(crate) exit: oneshot::Sender<ExitStatus>,
    pub(crate) group: Arc<ProcessGroup>,
    pub(crate) drain_grace: Duration,
    pub(crate) offset: u64,
    /// The pipes are large: after a short read the pump waits [`GATHER_WAIT`].
    pub(crate) gather: bool,
}

/// What one turn of the pump's select loop observed.
enum Event {
    Read(StreamKind, io::Result<usize>),
    Exited(io::Result<std::process::ExitStatus>),
    HandleDropped,
    GraceOver,
    /// The wait after a short read is over.
    Gathered,
}

impl Pump {
    pub(crate) async fn run(mut self) {
        let guard = KillGuard::new(Arc::clone(&self.group));
        let mut out_buf = vec![0_u8; READ_BUFFER];
        let mut err_buf = vec![0_u8; READ_BUFFER];
        // Until when reading waits after a short read (see `GATHER_WAIT`).
        let mut gathering: Option<Instant> = None;
        let status = loop {
            let reading = gathering.is_none();
            let event = tokio::select! {
                r = read_open(&mut self.stdout, &mut out_buf), if reading => Event::Read(StreamKind::Stdout, r),
                r = read_open(&mut self.stderr, &mut err_buf), if reading => Event::Read(StreamKind::Stderr, r),
                () = sleep_while(gathering) => Event::Gathered,
                s = self.child.wait() => Event::Exited(s),
                () = self.exit.closed() => Event::HandleDropped,
            };
            match event {
                Event::Read(kind, r) => {
                    let short = matches!(r, Ok(n) if n > 0 && n < SHORT_READ);
                    self.forward(kind, r, &out_buf, &err_buf).await;
                    if short && self.gather {
                        gathering = Some(Instant::now() + GATHER_WAIT);
                    }
                }
                Event::Gathered => gathering = None,
                Event::Exited(s) => break s,
                Event::HandleDropped => return,
                // Not produced before the child exits: there is no deadline yet.
                Event::GraceOver => {}
            }
        };
        let status = match status {
            Ok(status) => convert(status),
            Err(error) => {
                // The child is lost to us; without a status the handle reports an error.
                warn!(%error, "cannot wait for the process");
                return;
            }
        };
        if !self.drain(&mut out_buf, &mut err_buf).await {
            return;
        }
        let Pump {
            output,
            exit,
            group,
            ..
        } = self;
        drop(output);
        // Probing marks an empty group as gone, so later kills cannot hit a reused id.
        group.alive();
        guard.disarm();
        // The receiver may be gone already; then nobody wants the status.
        let _ = exit.send(status);
    }

    /// Reads the pipes after the main process exited; false if the handle was dropped.
    async fn drain(&mut self, out_buf: &mut [u8], err_buf: &mut [u8]) -> bool {
        let mut deadline = Instant::now() + self.drain_grace;
        let mut killed = false;
        while self.stdout.is_some() || self.stderr.is_some() {
            let event = tokio::select! {
                r = read_open(&mut self.stdout, out_buf) => Event::Read(StreamKind::Stdout, r),
                r = read_open(&mut self.stderr, err_buf) => Event::Read(StreamKind::Stderr, r),
                () = self.exit.closed() => Event::HandleDropped,
                () = sleep_until(deadline) => Event::GraceOver,
            };
            match event {
                Event::Read(kind, r) => {
                    // Time spent waiting for a slow consumer does not count against the
                    // grace, so output already in the pipes is never abandoned for it.
                    let started = Instant::now();
                    self.forward(kind, r, out_buf, err_buf).await;
                    deadline += started.elapsed();
                }
                Event::HandleDropped => return false,
                Event::GraceOver if killed => {
                    warn!(
                        "output pipes still open after the process group was killed; abandoning them"
                    );
                    self.stdout = None;
                    self.stderr = None;
                }
                Event::GraceOver => {
                    debug!("background processes kept the output open; killing the process group");
                    self.group.kill();
                    killed = true;
                    deadline = Instant::now() + self.drain_grace;
                }
                // Not produced while draining: the child has been reaped already, and the
                // pipes are read without waits.
                Event::Exited(_) | Event::Gathered => {}
            }
        }
        true
    }

    /// Sends what a read produced, or closes the stream at end-of-file or on an error.
    async fn forward(
        &mut self,
        kind: StreamKind,
        read: io::Result<usize>,
        out_buf: &[u8],
        err_buf: &[u8],
    ) {
        let n = match read {
            Ok(0) => {
                self.close(kind);
                return;
            }
            Ok(n) => n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => return,
            Err(error) => {
                warn!(stream = ?kind, %error, "cannot read process output");
                self.close(kind);
                return;
            }
        };
        let buf = match kind {
            StreamKind::Stdout => out_buf,
            StreamKind::Stderr => err_buf,
        };
        let bytes = buf.get(..n).unwrap_or(buf).to_vec();
        let chunk = OutputChunk {
            stream: kind,
            offset: self.offset,
            bytes,
        };
        self.offset += n as u64;
        // A closed receiver means nobody listens; keep reading so the process never blocks.
        let _ = self.output.send(chunk).await;
    }

    fn close(&mut self, kind: StreamKind) {
        match kind {
            StreamKind::Stdout => self.stdout = None,
            StreamKind::Stderr => self.stderr = None,
        }
    }
}

/// Reads from a pipe that is still open; a closed one never yields, so select skips it.
async fn read_open<R: AsyncRead + Unpin>(
    pipe: &mut Option<R>,
    buf: &mut [u8],
) -> io::Result<usize> {
    match pipe {
        Some(reader) => reader.read(buf).await,
        None => std::future::pending().await,
    }
}

/// Sleeps until `until`; pending for ever when there is nothing to wait for.
async fn sleep_while(until: Option<Instant>) {
    match until {
        Some(until) => sleep_until(until).await,
        None => std::future::pending().await,
    }
}

fn convert(status: std::process::ExitStatus) -> ExitStatus {
    match (status.code(), status.signal()) {
        (Some(code), _) => ExitStatus::Code(code),
        (None, Some(signal)) => ExitStatus::Signal(signal),
        // Wait never reports a stopped or continued child, so this is unreachable in practice.
        (None, None) => ExitStatus::Code(-1),
    }
}
