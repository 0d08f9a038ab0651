//! The agent's processes: started by id, never twice, output kept on the shared volume.

use crate::fence::Fences;
use crate::output_log::{Ended, LogPaths, LogReader, LogWriter, Progress, progress_from_disk};
use crate::protocol::{Failure, Frame, KillMode, Message, Stream, valid_process_id};
use kiln_executor::process::{SpawnOptions, spawn_local_with};
use kiln_executor::{OutputMode, ProcessKiller, ProcessSpec, StreamKind};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tracing::{debug, info, warn};

/// The environment variable holding the build's token; it is not passed to processes.
pub const TOKEN_ENV: &str = "KILN_AGENT_TOKEN";

/// What an agent needs to know about its container.
#[derive(Clone, Debug)]
pub struct AgentConfig {
    /// The container's name, checked against the controller's `Hello`.
    pub container: String,
    /// The build's token.
    pub token: String,
    /// Relative working directories and file paths are below this directory.
    pub workspace: PathBuf,
    /// Where output files go (on a volume shared by the pod's containers).
    pub run_dir: PathBuf,
    /// Time between SIGTERM and SIGKILL when a process is terminated.
    pub kill_grace: Duration,
}

/// A process this agent knows.
pub struct Proc {
    paths: LogPaths,
    progress: watch::Receiver<Progress>,
    killer: ProcessKiller,
    pid: Option<u32>,
}

impl Proc {
    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// Whether the process has ended (its exit is recorded).
    pub fn has_ended(&self) -> bool {
        self.progress.borrow().ended.is_some()
    }
}

/// The agent: its configuration and its processes. One per container; shared by every
/// connection, so processes outlive connections.
pub struct Agent {
    config: AgentConfig,
    base_env: BTreeMap<String, String>,
    procs: Mutex<HashMap<String, Arc<Proc>>>,
    spawn_lock: tokio::sync::Mutex<()>,
    fences: Fences,
}

/// A spawn request, as it came over the wire.
pub struct SpawnRequest {
    pub id: String,
    pub argv: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub cwd: String,
    pub stdin: Vec<u8>,
    /// One pipe for stdout and stderr (the default), or one each.
    pub output: OutputMode,
}

impl Agent {
    /// An agent whose processes get `base_env` (the container's environment, without the
    /// token and the CA certificate) overlaid with each request's variables.
    pub fn new(config: AgentConfig, mut base_env: BTreeMap<String, String>) -> Arc<Self> {
        base_env.remove(TOKEN_ENV);
        base_env.remove(crate::tls::CA_ENV);
        Arc::new(Agent {
            config,
            base_env,
            procs: Mutex::new(HashMap::new()),
            spawn_lock: tokio::sync::Mutex::new(()),
            fences: Fences::default(),
        })
    }

    pub fn config(&self) -> &AgentConfig {
        &self.config
    }

    /// The highest epoch each build was driven at (see [`crate::fence`]).
    pub fn fences(&self) -> &Fences {
        &self.fences
    }

    fn known(&self, id: &str) -> Option<Arc<Proc>> {
        self.procs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(id)
            .cloned()
    }

    /// Starts a process, or returns the known one with that id (`true`): never runs an id twice.
    pub async fn spawn(&self, request: SpawnRequest) -> Result<(Arc<Proc>, bool), Failure> {
        if !valid_process_id(&request.id) {
            return Err(Failure::other(format!(
                "invalid process id `{}`: 1-128 of A-Z a-z 0-9 . _ -",
                request.id
            )));
        }
        let _serial = self.spawn_lock.lock().await;
        if let Ok(known) = self.lookup(&request.id).await {
            debug!(id = %request.id, "spawn of a known process: attaching instead");
            return Ok((known, true));
        }
        let paths = LogPaths::new(&self.config.run_dir, &request.id);
        let (mut writer, progress) = LogWriter::create(paths.clone())
            .await
            .map_err(|e| Failure::from_io("create", &paths.out, &e))?;
        let mut env = self.base_env.clone();
        env.extend(request.env);
        let spec = ProcessSpec::new(request.argv)
            .env(env)
            .cwd(request.cwd)
            .stdin(request.stdin)
            .output(request.output);
        let options = SpawnOptions::default().kill_grace(self.config.kill_grace);
        let mut handle = match spawn_local_with(spec, &self.config.workspace, options).await {
            Ok(handle) => handle,
            Err(error) => {
                let failure = Failure::from_exec(&error);
                writer.finish(Ended::Lost(error.to_string())).await;
                return Err(failure);
            }
        };
        let proc = Arc::new(Proc {
            paths,
            progress,
            killer: handle.killer(),
            pid: handle.pid(),
        });
        info!(id = %request.id, pid = handle.pid(), "process started");
        let id = request.id.clone();
        tokio::spawn(async move {
            while let Some(chunk) = handle.next_chunk().await {
                let stream = match chunk.stream {
                    StreamKind::Stdout => Stream::Stdout,
                    StreamKind::Stderr => Stream::Stderr,
                };
                if let Err(error) = writer.append(stream, &chunk.bytes).await {
                    warn!(%id, %error, "cannot append to the output file; output is lost");
                }
            }
            let ended = match handle.wait().await {
                Ok(kiln_executor::ExitStatus::Code(c)) => Ended::Code(c),
                Ok(kiln_executor::ExitStatus::Signal(s)) => Ended::Signal(s),
                Err(error) => Ended::Lost(error.to_string()),
            };
            info!(%id, ?ended, "process ended");
            writer.finish(ended).await;
        });
        self.procs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(request.id, Arc::clone(&proc));
        Ok((proc, false))
    }

    /// A known process: started by this agent, or by an earlier agent of this container whose
    /// files are still on the volume.
    pub async fn lookup(&self, id: &str) -> Result<Arc<Proc>, Failure> {
        if let Some(proc) = self.known(id) {
            return Ok(proc);
        }
        if !valid_process_id(id) {
            return Err(Failure::other(format!("invalid process id `{id}`")));
        }
        let paths = LogPaths::new(&self.config.run_dir, id);
        let progress = match progress_from_disk(&paths).await {
            Ok(progress) => progress,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Failure::other(format!(
                    "no process `{id}` in this container"
                )));
            }
            Err(e) => return Err(Failure::from_io("read", &paths.out, &e)),
        };
        if progress.ended.is_none() {
            return Err(Failure::other(format!(
                "process `{id}` was running when the agent restarted (its container restarted); its output so far is in {}, how it ended is unknown",
                paths.out.display()
            )));
        }
        let (_done, progress) = watch::channel(progress);
        Ok(Arc::new(Proc {
            paths,
            progress,
            killer: ProcessKiller::noop(),
            pid: None,
        }))
    }

    pub fn kill(&self, id: &str, mode: KillMode) -> Result<(), Failure> {
        let proc = self
            .known(id)
            .ok_or_else(|| Failure::other(format!("no running process `{id}` to kill")))?;
        match mode {
            KillMode::Terminate => proc.killer.terminate(),
            KillMode::Kill => proc.killer.kill(),
        }
        Ok(())
    }

    /// Kills every process group (the agent is stopping).
    pub fn kill_all(&self) {
        let procs = self
            .procs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for proc in procs.values() {
            proc.killer.kill();
        }
    }
}

/// Sends a process's output from `from` on, then its exit, to a connection; ends early when
/// the connection goes away (the output stays in the file for the next attach).
pub async fn follow(proc: Arc<Proc>, id: String, from: u64, tx: mpsc::Sender<Frame>) {
    let fail = |message: String| {
        Frame::new(Message::Failed {
            req: None,
            id: Some(id.clone()),
            failure: Failure::other(message),
        })
    };
    let mut reader = match LogReader::open(&proc.paths.out, from).await {
        Ok(reader) => reader,
        Err(error) => {
            let _ = tx
                .send(fail(format!("cannot read the output file: {error}")))
                .await;
            return;
        }
    };
    let mut progress = proc.progress.clone();
    loop {
        let now = progress.borrow_and_update().clone();
        loop {
            match reader.next(now.file_len).await {
                Ok(Some(piece)) => {
                    let message = Message::Output {
                        id: id.clone(),
                        offset: piece.offset,
                        stream: piece.stream,
                    };
                    if tx
                        .send(Frame::with_payload(message, piece.bytes))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                Ok(None) => break,
                Err(error) => {
                    let _ = tx
                        .send(fail(format!("cannot read the output file: {error}")))
                        .await;
                    return;
                }
            }
        }
        if let Some(ended) = now.ended {
            let frame = match ended {
                Ended::Code(code) => Frame::new(Message::Exit {
                    id: id.clone(),
                    code: Some(code),
                    signal: None,
                }),
                Ended::Signal(signal) => Frame::new(Message::Exit {
                    id: id.clone(),
                    code: None,
                    signal: Some(signal),
                }),
                Ended::Lost(message) => fail(message),
            };
            let _ = tx.send(frame).await;
            return;
        }
        tokio::select! {
            changed = progress.changed() => {
                if changed.is_err() {
                    let _ = tx.send(fail("the process's output writer stopped".to_owned())).await;
                    return;
                }
            }
            () = tx.closed() => return,
        }
    }
}
