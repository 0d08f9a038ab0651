//! The controller's connection to one agent: requests and process streams multiplexed over
//! one byte stream, re-established after a loss with every running process re-attached from
//! the first byte not yet received (nothing lost, nothing twice).

use crate::agent::link::{BoxedStream, Dialer};
use crate::pod::status::Health;
use kiln_agent::protocol::{
    Failure, Frame, KillMode as WireKill, Message, Stream, WireEntry, read_frame, write_frame,
};
use kiln_executor::{
    ExecError, ExitStatus, KillMode, OutputChunk, ProcessHandle, ProcessKiller, StreamKind,
};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use tracing::{debug, info, warn};

/// Chunks a process's handle buffers before the connection waits for its reader.
const OUTPUT_QUEUE: usize = 64;
/// The longest single connection attempt (port-forward and handshake).
const DIAL_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone)]
enum Link {
    Connecting,
    Up(mpsc::UnboundedSender<Frame>),
    Closed(String),
}

/// The process's pid and whether it had ended before this request (see [`Spawned`]).
type Started = oneshot::Sender<Result<(Option<u32>, bool), Failure>>;

/// A process the agent started, or one it knew already.
pub struct Spawned {
    pub handle: ProcessHandle,
    /// The agent knew the id and the process had ended: nothing ran now (a build resumed
    /// after a controller restart repeating a step it had done).
    pub ended_before: bool,
}

struct Slot {
    /// The `Spawn` frame, resent after a reconnect until the agent confirms it.
    spawn: Option<Frame>,
    started: Option<Started>,
    output: mpsc::Sender<OutputChunk>,
    exit: Option<oneshot::Sender<ExitStatus>>,
    next_offset: u64,
    kill: Option<WireKill>,
}

#[derive(Default)]
struct State {
    procs: HashMap<String, Slot>,
    pending: HashMap<u64, mpsc::UnboundedSender<Frame>>,
}

struct Inner {
    container: String,
    label: String,
    dialer: Box<dyn Dialer>,
    reconnect_deadline: Duration,
    health: watch::Receiver<Health>,
    state: Mutex<State>,
    link: watch::Sender<Link>,
    next_req: AtomicU64,
    /// The build (`JOB#N`) and epoch this controller drives it at, said first on every
    /// connection (see kiln-agent's `fence`).
    fence: Mutex<Option<(String, u64)>>,
}

/// A process the connection follows (for re-attaching from another controller).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Followed {
    pub id: String,
    pub next_offset: u64,
}

/// One agent, as the controller sees it. Cheap to clone.
#[derive(Clone)]
pub struct AgentClient {
    inner: Arc<Inner>,
    task: Arc<tokio::task::AbortHandle>,
}

impl AgentClient {
    /// Starts connecting (in the background) and keeps the connection up.
    pub fn start(
        container: String,
        label: String,
        dialer: Box<dyn Dialer>,
        reconnect_deadline: Duration,
        health: watch::Receiver<Health>,
    ) -> AgentClient {
        let inner = Arc::new(Inner {
            container,
            label,
            dialer,
            reconnect_deadline,
            health,
            state: Mutex::new(State::default()),
            link: watch::Sender::new(Link::Connecting),
            next_req: AtomicU64::new(1),
            fence: Mutex::new(None),
        });
        let task = tokio::spawn(run(Arc::clone(&inner))).abort_handle();
        AgentClient {
            inner,
            task: Arc::new(task),
        }
    }

    /// Waits until the agent is connected (or can no longer be).
    pub async fn ready(&self) -> Result<(), ExecError> {
        self.link().await.map(|_| ())
    }

    /// This controller drives `build` (`JOB#N`) at `epoch`: the agent is told so now and on
    /// every reconnection, and refuses the connection once another controller drives the
    /// build at a higher epoch.
    pub fn fence(&self, build: &str, epoch: u64) {
        *self
            .inner
            .fence
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some((build.to_owned(), epoch));
        if let (Link::Up(tx), Some(frame)) = (&*self.inner.link.borrow(), self.inner.fence_frame())
        {
            let _ = tx.send(frame);
        }
    }

    /// Stops the connection; processes keep running in the agent.
    pub fn shutdown(&self) {
        self.task.abort();
        self.inner.close("the executor was shut down".to_owned());
    }

    pub fn followed(&self) -> Vec<Followed> {
        self.inner
            .lock()
            .procs
            .iter()
            .map(|(id, s)| Followed {
                id: id.clone(),
                next_offset: s.next_offset,
            })
            .collect()
    }

    async fn link(&self) -> Result<mpsc::UnboundedSender<Frame>, ExecError> {
        let mut rx = self.inner.link.subscribe();
        loop {
            match &*rx.borrow_and_update() {
                Link::Up(tx) => return Ok(tx.clone()),
                Link::Closed(reason) => return Err(self.backend(reason)),
                Link::Connecting => {}
            }
            if rx.changed().await.is_err() {
                return Err(self.backend("the connection task stopped"));
            }
        }
    }

    fn backend(&self, reason: &str) -> ExecError {
        ExecError::Agent {
            agent: self.inner.label.clone(),
            reason: reason.to_owned(),
        }
    }

    /// Starts process `id` (or, if the agent knows `id` already, follows that one).
    pub async fn spawn(
        &self,
        id: String,
        spec: kiln_executor::ProcessSpec,
    ) -> Result<Spawned, ExecError> {
        let message = Message::Spawn {
            id: id.clone(),
            argv: spec.argv,
            env: spec.env,
            cwd: spec.cwd.to_string_lossy().into_owned(),
            separate_streams: spec.output == kiln_executor::OutputMode::Separate,
        };
        self.follow(id, 0, Some(Frame::with_payload(message, spec.stdin)))
            .await
    }

    /// Follows process `id` from its start if the agent knows it (it ran, or runs), without
    /// starting anything; an error if it does not know it.
    pub async fn follow_known(&self, id: String) -> Result<Spawned, ExecError> {
        self.follow(id, 0, None).await
    }

    /// Follows a process another controller started, from `from_offset` on.
    pub async fn attach(&self, id: String, from_offset: u64) -> Result<ProcessHandle, ExecError> {
        Ok(self.follow(id, from_offset, None).await?.handle)
    }

    async fn follow(
        &self,
        id: String,
        from: u64,
        spawn: Option<Frame>,
    ) -> Result<Spawned, ExecError> {
        let (out_tx, out_rx) = mpsc::channel(OUTPUT_QUEUE);
        let (exit_tx, exit_rx) = oneshot::channel();
        let (started_tx, started_rx) = oneshot::channel();
        let first = spawn.clone().unwrap_or_else(|| {
            Frame::new(Message::Attach {
                id: id.clone(),
                from_offset: from,
            })
        });
        {
            let mut state = self.inner.lock();
            if state.procs.contains_key(&id) {
                return Err(self.backend(&format!("process `{id}` is followed already")));
            }
            state.procs.insert(
                id.clone(),
                Slot {
                    spawn,
                    started: Some(started_tx),
                    output: out_tx,
                    exit: Some(exit_tx),
                    next_offset: from,
                    kill: None,
                },
            );
        }
        // Not connected now: the connection task sends it when it (re)connects.
        match self.inner.link.borrow().clone() {
            Link::Up(tx) => {
                let _ = tx.send(first);
            }
            Link::Closed(reason) => {
                self.inner.lock().procs.remove(&id);
                return Err(self.backend(&reason));
            }
            Link::Connecting => {}
        }
        let (pid, ended_before) = match started_rx.await {
            Ok(Ok(started)) => started,
            Ok(Err(failure)) => return Err(failure.into_exec_error(&self.inner.label)),
            Err(_) => return Err(self.backend("the connection closed before the process started")),
        };
        let inner = Arc::downgrade(&self.inner);
        let killer = ProcessKiller::new(move |mode| {
            if let Some(inner) = inner.upgrade() {
                inner.kill(&id, mode);
            }
        });
        Ok(Spawned {
            handle: ProcessHandle::new(out_rx, exit_rx, killer, pid),
            ended_before,
        })
    }

    /// Sends a request and collects every frame answering it, until `done` says the answer is
    /// complete. A connection lost on the way is retried once after reconnecting.
    async fn request(
        &self,
        frames: impl Fn(u64) -> Vec<Frame>,
        done: impl Fn(&Message) -> bool,
    ) -> Result<Vec<Frame>, ExecError> {
        let mut last = String::new();
        for _attempt in 0..2 {
            let tx = self.link().await?;
            let req = self.inner.next_req.fetch_add(1, Ordering::Relaxed);
            let (answer_tx, mut answers) = mpsc::unbounded_channel();
            self.inner.lock().pending.insert(req, answer_tx);
            for frame in frames(req) {
                let _ = tx.send(frame);
            }
            let mut got = Vec::new();
            loop {
                match answers.recv().await {
                    Some(Frame {
                        message: Message::Failed { failure, .. },
                        ..
                    }) => return Err(failure.into_exec_error(&self.inner.label)),
                    Some(frame) => {
                        let finished = done(&frame.message);
                        got.push(frame);
                        if finished {
                            self.inner.lock().pending.remove(&req);
                            return Ok(got);
                        }
                    }
                    None => {
                        last = "the connection was lost during the request".to_owned();
                        break;
                    }
                }
            }
        }
        Err(self.backend(&last))
    }

    pub async fn read_file(&self, path: &str) -> Result<Vec<u8>, ExecError> {
        let frames = self
            .request(
                |req| {
                    vec![Frame::new(Message::ReadFile {
                        req,
                        path: path.to_owned(),
                    })]
                },
                |m| matches!(m, Message::FileChunk { last: true, .. }),
            )
            .await?;
        Ok(frames.into_iter().flat_map(|f| f.payload).collect())
    }

    pub async fn write_file(&self, path: &str, bytes: &[u8]) -> Result<(), ExecError> {
        let chunks: Vec<&[u8]> = if bytes.is_empty() {
            vec![&[]]
        } else {
            bytes.chunks(kiln_agent::protocol::FILE_CHUNK).collect()
        };
        let count = chunks.len();
        self.request(
            |req| {
                chunks
                    .iter()
                    .enumerate()
                    .map(|(i, chunk)| {
                        let message = Message::WriteFile {
                            req,
                            path: path.to_owned(),
                            first: i == 0,
                            last: i + 1 == count,
                        };
                        Frame::with_payload(message, chunk.to_vec())
                    })
                    .collect()
            },
            |m| matches!(m, Message::Done { .. }),
        )
        .await
        .map(|_| ())
    }

    /// `Exists`, `DeleteDir`, `CreateDir`, `ListFiles` and `Ping`: one answer each.
    pub async fn simple(&self, make: impl Fn(u64) -> Message) -> Result<Message, ExecError> {
        let frames = self
            .request(|req| vec![Frame::new(make(req))], |_| true)
            .await?;
        frames
            .into_iter()
            .next()
            .map(|f| f.message)
            .ok_or_else(|| self.backend("no answer"))
    }

    pub async fn list_files(
        &self,
        dir: &str,
        includes: &[String],
        excludes: &[String],
    ) -> Result<Vec<WireEntry>, ExecError> {
        let answer = self
            .simple(|req| Message::ListFiles {
                req,
                dir: dir.to_owned(),
                includes: includes.to_vec(),
                excludes: excludes.to_vec(),
            })
            .await?;
        match answer {
            Message::FileList { entries, .. } => Ok(entries),
            other => Err(self.backend(&format!("unexpected answer {other:?}"))),
        }
    }
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn kill(&self, id: &str, mode: KillMode) {
        let mode = match mode {
            KillMode::Terminate => WireKill::Terminate,
            KillMode::Kill => WireKill::Kill,
        };
        let mut state = self.lock();
        let Some(slot) = state.procs.get_mut(id) else {
            return;
        };
        slot.kill = Some(mode);
        if let Link::Up(tx) = &*self.link.borrow() {
            let _ = tx.send(Frame::new(Message::Kill {
                id: id.to_owned(),
                mode,
            }));
        }
    }

    /// The `Fence` frame this connection starts with, if the build has an epoch.
    fn fence_frame(&self) -> Option<Frame> {
        let fence = self
            .fence
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        fence.map(|(build, epoch)| Frame::new(Message::Fence { build, epoch }))
    }

    /// After (re)connecting: spawns not yet confirmed are sent again (the agent runs an id only
    /// once), every other process is re-attached from its next offset, kills are repeated.
    fn resume(&self, tx: &mpsc::UnboundedSender<Frame>) {
        let state = self.lock();
        for (id, slot) in &state.procs {
            let frame = slot.spawn.clone().unwrap_or_else(|| {
                Frame::new(Message::Attach {
                    id: id.clone(),
                    from_offset: slot.next_offset,
                })
            });
            let _ = tx.send(frame);
            if let Some(mode) = slot.kill {
                let _ = tx.send(Frame::new(Message::Kill {
                    id: id.clone(),
                    mode,
                }));
            }
        }
    }

    /// The connection cannot come back: every process ends with `reason` on its stderr and
    /// SIGKILL's status, every waiting request fails.
    fn close(&self, reason: String) {
        let (procs, pending) = {
            let mut state = self.lock();
            (
                std::mem::take(&mut state.procs),
                std::mem::take(&mut state.pending),
            )
        };
        drop(pending);
        for (_, mut slot) in procs {
            if let Some(started) = slot.started.take() {
                let _ = started.send(Err(Failure::other(reason.clone())));
                continue;
            }
            let chunk = OutputChunk {
                stream: StreamKind::Stderr,
                offset: slot.next_offset,
                bytes: format!("\nkiln: {reason}\n").into_bytes(),
            };
            let _ = slot.output.try_send(chunk);
            drop(slot.output);
            if let Some(exit) = slot.exit.take() {
                let _ = exit.send(ExitStatus::Signal(9));
            }
        }
        self.link.send_replace(Link::Closed(reason));
    }

    async fn dispatch(&self, frame: Frame) {
        match frame.message {
            Message::Started {
                id,
                pid,
                known,
                ended,
            } => {
                let mut state = self.lock();
                if let Some(slot) = state.procs.get_mut(&id) {
                    slot.spawn = None;
                    if let Some(started) = slot.started.take() {
                        let _ = started.send(Ok((pid, known && ended)));
                    }
                }
            }
            Message::Output { id, offset, stream } => {
                self.output(id, offset, stream, frame.payload).await
            }
            Message::Exit { id, code, signal } => {
                let slot = self.lock().procs.remove(&id);
                if let Some(mut slot) = slot {
                    let status = match (code, signal) {
                        (Some(c), _) => ExitStatus::Code(c),
                        (None, Some(s)) => ExitStatus::Signal(s),
                        (None, None) => ExitStatus::Code(-1),
                    };
                    drop(slot.output);
                    if let Some(exit) = slot.exit.take() {
                        let _ = exit.send(status);
                    }
                }
            }
            Message::Failed {
                id: Some(id),
                failure,
                ..
            } => self.process_failed(id, failure).await,
            message @ (Message::Failed { req: Some(_), .. }
            | Message::FileChunk { .. }
            | Message::ExistsResult { .. }
            | Message::FileList { .. }
            | Message::Done { .. }
            | Message::Pong { .. }) => {
                let req = request_of(&message);
                let state = self.lock();
                if let Some(tx) = req.and_then(|r| state.pending.get(&r)) {
                    let _ = tx.send(Frame::with_payload(message, frame.payload));
                }
            }
            Message::Rejected { reason } => {
                warn!(agent = %self.label, %reason, "the agent refuses this controller");
                self.close(format!("the agent refused this controller: {reason}"));
            }
            other => warn!(agent = %self.label, ?other, "unexpected message from the agent"),
        }
    }

    async fn output(&self, id: String, offset: u64, stream: Stream, mut bytes: Vec<u8>) {
        let sender = {
            let mut state = self.lock();
            let Some(slot) = state.procs.get_mut(&id) else {
                return;
            };
            let end = offset + bytes.len() as u64;
            if end <= slot.next_offset {
                return;
            }
            let skip = usize::try_from(slot.next_offset.saturating_sub(offset)).unwrap_or(0);
            bytes.drain(..skip.min(bytes.len()));
            let start = offset.max(slot.next_offset);
            slot.next_offset = end;
            (slot.output.clone(), start)
        };
        let chunk = OutputChunk {
            stream: match stream {
                Stream::Stdout => StreamKind::Stdout,
                Stream::Stderr => StreamKind::Stderr,
            },
            offset: sender.1,
            bytes,
        };
        // A dropped handle means nobody reads; the process keeps running in the agent.
        let _ = sender.0.send(chunk).await;
    }

    /// The agent cannot give a started process's output or exit (e.g. it restarted while the
    /// process ran): the process ends with the agent's reason on stderr and SIGKILL's status.
    async fn process_failed(&self, id: String, failure: Failure) {
        let slot = self.lock().procs.remove(&id);
        let Some(mut slot) = slot else { return };
        if let Some(started) = slot.started.take() {
            let _ = started.send(Err(failure));
            return;
        }
        let message = match failure {
            Failure::Other { message } => message,
            other => format!("{other:?}"),
        };
        let chunk = OutputChunk {
            stream: StreamKind::Stderr,
            offset: slot.next_offset,
            bytes: format!("\nkiln: {message}\n").into_bytes(),
        };
        let _ = slot.output.send(chunk).await;
        drop(slot.output);
        // As when the connection cannot come back: the reason is on stderr and the process
        // ends with SIGKILL's status. Dropping the exit sender instead made `wait` fail with
        // "the process ended without reporting an exit status", hiding the agent's reason.
        if let Some(exit) = slot.exit.take() {
            let _ = exit.send(ExitStatus::Signal(9));
        }
    }
}

fn request_of(message: &Message) -> Option<u64> {
    match message {
        Message::Failed { req, .. } => *req,
        Message::FileChunk { req, .. }
        | Message::ExistsResult { req, .. }
        | Message::FileList { req, .. }
        | Message::Done { req }
        | Message::Pong { req } => Some(*req),
        _ => None,
    }
}

/// The connection task: connect, resume, read until the connection drops, repeat; give up
/// when the container is gone or the agent stays unreachable past the deadline.
async fn run(inner: Arc<Inner>) {
    loop {
        let stream = match connect(&inner).await {
            Ok(stream) => stream,
            Err(reason) => {
                warn!(agent = %inner.label, %reason, "agent unreachable; failing its processes");
                inner.close(reason);
                return;
            }
        };
        let (mut reader, mut writer) = tokio::io::split(stream);
        let (tx, mut rx) = mpsc::unbounded_channel::<Frame>();
        let writing = tokio::spawn(async move {
            while let Some(frame) = rx.recv().await {
                if write_frame(&mut writer, &frame).await.is_err() {
                    return;
                }
            }
        });
        // Which build this controller drives, and at which epoch, before anything else.
        if let Some(fence) = inner.fence_frame() {
            let _ = tx.send(fence);
        }
        inner.resume(&tx);
        inner.link.send_replace(Link::Up(tx));
        loop {
            match read_frame(&mut reader).await {
                Ok(Some(frame)) => {
                    inner.dispatch(frame).await;
                    if matches!(*inner.link.borrow(), Link::Closed(_)) {
                        // Refused: no reconnection.
                        writing.abort();
                        return;
                    }
                }
                Ok(None) => break,
                Err(error) => {
                    debug!(agent = %inner.label, %error, "connection to the agent lost");
                    break;
                }
            }
        }
        writing.abort();
        inner.link.send_replace(Link::Connecting);
        // Waiting requests see their answer channel close and retry on the next connection.
        inner.lock().pending.clear();
        info!(agent = %inner.label, "connection to the agent lost; reconnecting");
    }
}

async fn connect(inner: &Inner) -> Result<BoxedStream, String> {
    let deadline = Instant::now() + inner.reconnect_deadline;
    let mut pause = Duration::from_millis(10);
    let mut health = inner.health.clone();
    loop {
        if let Some(reason) = health.borrow_and_update().reason_for(&inner.container) {
            return Err(reason.to_string());
        }
        let attempt = tokio::time::timeout(DIAL_TIMEOUT, inner.dialer.dial());
        let last = tokio::select! {
            result = attempt => match result {
                Ok(Ok(stream)) => return Ok(stream),
                Ok(Err(error)) => error,
                Err(_) => "connection attempt timed out".to_owned(),
            },
            _ = health.changed() => continue,
        };
        debug!(agent = %inner.label, error = %last, "agent not reachable yet");
        if Instant::now() >= deadline {
            return Err(format!(
                "cannot reach the agent for {} s: {last}",
                inner.reconnect_deadline.as_secs()
            ));
        }
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            _ = health.changed() => {}
        }
        pause = (pause * 2).min(Duration::from_secs(1));
    }
}
