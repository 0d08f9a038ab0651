//! Runs one process for a step: its output becomes log lines (or is captured), and the
//! scope's cancellation terminates its whole process group.

use crate::OutputSource;
use crate::build::Build;
use crate::error::StepError;
use crate::line_splitter::{LineSink, LineSplitter, MAX_LINE};
use crate::log_lines::OutputBatch;
use crate::process_key::ProcessSlot;
use crate::scope::Scope;
use crate::steps::TeeSink;
use kiln_executor::{ExitStatus, OutputMode, ProcessSpec, StreamKind};
use std::path::PathBuf;

/// The most standard output a step returns (`returnStdout`): a script's strings are bounded
/// at the same size. Past it the process is stopped and the step fails saying so.
pub(crate) const MAX_CAPTURED: usize = 16 * 1024 * 1024;

/// What a finished process left behind.
pub(crate) struct Finished {
    pub(crate) status: ExitStatus,
    /// Stdout, when it was captured instead of logged.
    pub(crate) stdout: Vec<u8>,
}

/// What becomes of a process's output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Capture {
    /// Both streams are logged.
    Nothing,
    /// Stdout is returned instead of logged; stderr is logged.
    Stdout,
    /// Stdout is returned and stderr dropped (a probe whose failure is an answer).
    Quietly,
}

/// Runs `argv` in `cwd` with the scope's environment, as the process at `slot` (taken
/// from `build.process_keys`; `None` takes the next one).
pub(crate) async fn run_process(
    build: &Build,
    scope: &Scope,
    command: (Vec<String>, Option<ProcessSlot>),
    cwd: PathBuf,
    capture: Capture,
) -> Result<Finished, StepError> {
    run_process_with_input(build, scope, command, cwd, capture, Vec::new()).await
}

/// [`run_process`] with `stdin` written to the process (then closed).
pub(crate) async fn run_process_with_input(
    build: &Build,
    scope: &Scope,
    (argv, slot): (Vec<String>, Option<ProcessSlot>),
    cwd: PathBuf,
    capture: Capture,
    stdin: Vec<u8>,
) -> Result<Finished, StepError> {
    let capture_stdout = capture != Capture::Nothing;
    let slot = slot.unwrap_or_else(|| build.process_keys.next(scope.node));
    let key = slot.key(&argv, &cwd, scope.container.as_deref());
    // Logged output is one pipe, so the log is what the process wrote in its order; a
    // captured stdout needs a pipe of its own (stderr still goes to the log, as in Jenkins).
    let output = if capture_stdout {
        OutputMode::Separate
    } else {
        OutputMode::Merged
    };
    let process: std::sync::Arc<str> = std::sync::Arc::from(key.as_str());
    let spec = ProcessSpec::new(argv)
        .env((*scope.env).clone())
        .cwd(cwd)
        .container(scope.container.clone())
        .key(Some(key))
        .output(output);
    let spec = ProcessSpec { stdin, ..spec };
    let mut handle = scope.site.executor.spawn(spec).await?;
    let killer = handle.killer();
    let mut out = LineSplitter::default();
    let mut err = LineSplitter::default();
    let mut stdout = Vec::new();
    let mut killed = false;
    // The captured stdout went past its bound (the process was stopped).
    let mut overflow = false;
    // Output offsets: past the last whole line logged, and past everything read.
    let (mut logged_to, mut read_to) = (0u64, 0u64);
    loop {
        tokio::select! {
            chunk = handle.next_chunk() => {
                let Some(chunk) = chunk else { break };
                // One event per chunk, or for the chunks that were waiting meanwhile (up to
                // GATHER bytes); waiting for log credit here is what slows a process whose
                // output the consumer cannot keep up with.
                let mut batch = build.output_batch(scope.timestamps);
                let from = logged_to;
                let (mut next, mut gathered) = (Some(chunk), 0);
                while let Some(chunk) = next.take() {
                    batch.reserve(chunk.bytes.len());
                    gathered += chunk.bytes.len();
                    let mut sink = Teed { tee: scope.tee.as_deref(), batch: &mut batch };
                    let logged = match chunk.stream {
                        StreamKind::Stdout if capture_stdout => {
                            if stdout.len() + chunk.bytes.len() > MAX_CAPTURED {
                                if !overflow && !killed {
                                    killer.terminate();
                                }
                                overflow = true;
                            } else {
                                stdout.extend_from_slice(&chunk.bytes);
                            }
                            false
                        }
                        StreamKind::Stdout => { out.push(&chunk.bytes, &mut sink); true }
                        StreamKind::Stderr if capture == Capture::Quietly => false,
                        StreamKind::Stderr => { err.push(&chunk.bytes, &mut sink); true }
                    };
                    read_to = chunk.offset + chunk.bytes.len() as u64;
                    if logged && let Some(i) = memchr::memrchr(b'\n', &chunk.bytes) {
                        logged_to = chunk.offset + i as u64 + 1;
                    }
                    if gathered < GATHER {
                        next = handle.ready_chunk();
                    }
                }
                let source = OutputSource { process: process.clone(), from, to: logged_to };
                build.output(scope.node, batch, source).await;
                if out.take_cut() | err.take_cut() {
                    say_cut(build);
                }
            }
            () = scope.cancel.cancelled(), if !killed => {
                killer.terminate();
                killed = true;
            }
        }
    }
    let mut batch = build.output_batch(scope.timestamps);
    let mut sink = Teed {
        tee: scope.tee.as_deref(),
        batch: &mut batch,
    };
    out.finish(&mut sink);
    err.finish(&mut sink);
    let source = OutputSource {
        process,
        from: logged_to,
        to: read_to.max(logged_to),
    };
    build.output(scope.node, batch, source).await;
    let status = handle.wait().await?;
    if overflow {
        return Err(StepError::failed(format!(
            "the process printed more than {} MiB on its standard output, the most a step returns (returnStdout); it was stopped. Write the output to a file in the workspace instead",
            MAX_CAPTURED >> 20
        )));
    }
    if killed {
        return Err(StepError::aborted(format!(
            "process terminated ({})",
            describe(status)
        )));
    }
    Ok(Finished { status, stdout })
}

/// At most how much of a process's output that was waiting joins one event of its lines.
const GATHER: usize = 256 * 1024;

/// A process's lines go to the log's batch and, inside a `tee` block, to its file too.
struct Teed<'a> {
    tee: Option<&'a TeeSink>,
    batch: &'a mut OutputBatch,
}

impl LineSink for Teed<'_> {
    fn line(&mut self, line: &str) {
        if let Some(tee) = self.tee {
            tee.line(line);
        }
        self.batch.line(line);
    }

    fn secrets(&self) -> Option<&crate::masker::Masker> {
        self.batch.secrets()
    }

    fn lines(&mut self, text: &str) {
        match self.tee {
            // Inside `tee`: line by line, so the file gets every line too.
            Some(tee) => text.split_terminator('\n').for_each(|line| {
                tee.line(line);
                self.batch.line(line);
            }),
            None => self.batch.lines(text),
        }
    }
}

/// Says in the log (once per build) that a line was cut: its pieces are lines of the log.
fn say_cut(build: &Build) {
    build.notice_once(format!(
        "a line of output longer than {} MiB was cut into lines of that size (kiln keeps no longer line)",
        MAX_LINE >> 20
    ));
}

fn describe(status: ExitStatus) -> String {
    match status {
        ExitStatus::Code(c) => format!("exit code {c}"),
        ExitStatus::Signal(s) => format!("signal {s}"),
    }
}
