use crate::process::group::ProcessGroup;
use crate::process::pump::{Pipe, Pump};
use crate::process::{KillMode, ProcessHandle, ProcessKiller, SpawnOptions};
use crate::{ExecError, OutputMode, ProcessSpec};
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;
use tokio::sync::{mpsc, oneshot};
use tracing::debug;

/// The search path when the spec's environment has no `PATH`.
const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// How many chunks may wait for the consumer before the runner stops reading the pipes
/// (with reads of up to 64 KiB, 2 MiB at most).
const OUTPUT_QUEUE: usize = 32;

/// The capacity asked for each output pipe (Linux's default is 64 KiB; an unprivileged
/// process may ask for up to `/proc/sys/fs/pipe-max-size`, 1 MiB by default). A process
/// printing fast writes on while its output waits a moment to be read in larger pieces.
const PIPE_BYTES: i32 = 1024 * 1024;

/// Starts `spec` on this machine with the default [`SpawnOptions`].
pub async fn spawn_local(spec: ProcessSpec, workspace: &Path) -> Result<ProcessHandle, ExecError> {
    spawn_local_with(spec, workspace, SpawnOptions::default()).await
}

/// Starts `spec` on this machine: with exactly the spec's environment, in the spec's working
/// directory (relative to `workspace`), in a new process group, with stdout and stderr piped
/// into the returned handle: through one pipe for [`OutputMode::Merged`], so the output
/// keeps the order the process wrote it in, or a pipe each.
///
/// `argv[0]` is looked up on the `PATH` of the spec's environment (`/usr/local/bin:/usr/bin:/bin`
/// without one); a name containing `/` is taken relative to the working directory.
pub async fn spawn_local_with(
    spec: ProcessSpec,
    workspace: &Path,
    options: SpawnOptions,
) -> Result<ProcessHandle, ExecError> {
    let program = spec.argv.first().ok_or(ExecError::EmptyCommand)?.clone();
    let spawn_error = |source| ExecError::Spawn {
        program: program.clone(),
        source,
    };
    let runtime =
        tokio::runtime::Handle::try_current().map_err(|e| spawn_error(io::Error::other(e)))?;
    let cwd = resolve_cwd(workspace, &spec.cwd);
    check_cwd(&cwd).map_err(spawn_error)?;
    let executable = resolve_program(&program, &cwd, spec.env.get("PATH")).map_err(spawn_error)?;

    let mut command = Command::new(&executable);
    command
        .arg0(&program)
        .args(spec.argv.iter().skip(1))
        .env_clear()
        .envs(&spec.env)
        .current_dir(&cwd)
        .stdin(if spec.stdin.is_empty() {
            Stdio::null()
        } else {
            Stdio::piped()
        })
        .process_group(0)
        .kill_on_drop(true);
    let merged = match spec.output {
        OutputMode::Merged => {
            let (reader, writer) = merged_pipe().map_err(spawn_error)?;
            let writer_too = writer.try_clone().map_err(spawn_error)?;
            command
                .stdout(Stdio::from(writer))
                .stderr(Stdio::from(writer_too));
            Some(reader)
        }
        OutputMode::Separate => {
            command.stdout(Stdio::piped()).stderr(Stdio::piped());
            None
        }
    };
    let spawned = command.spawn();
    // The command holds this process's copies of the merged pipe's write end: closing
    // them now lets the reader see end-of-file once the child and its heirs are done.
    drop(command);
    let mut child = spawned.map_err(|e| spawn_error(explain(e, &executable)))?;
    let pid = child.id();
    debug!(program = %program, pid, cwd = %cwd.display(), "process started");

    if let Some(mut stdin) = child.stdin.take() {
        let bytes = spec.stdin;
        tokio::spawn(async move {
            // Dropping the pipe afterwards closes it, so the process sees end-of-file.
            if let Err(error) = stdin.write_all(&bytes).await {
                debug!(%error, "the process did not read all of its stdin");
            }
        });
    }

    let group = Arc::new(ProcessGroup::new(pid.unwrap_or(0)));
    let (output_tx, output_rx) = mpsc::channel(OUTPUT_QUEUE);
    let (exit_tx, exit_rx) = oneshot::channel();
    let (stdout, stderr, large): (Option<Pipe>, Option<Pipe>, bool) = match merged {
        Some(reader) => {
            let large = enlarge(&reader);
            (Some(Box::new(reader)), None, large)
        }
        None => {
            let (out, err) = (child.stdout.take(), child.stderr.take());
            let out_large = out.as_ref().is_none_or(enlarge);
            let err_large = err.as_ref().is_none_or(enlarge);
            let large = out_large && err_large;
            (
                out.map(|p| Box::new(p) as Pipe),
                err.map(|p| Box::new(p) as Pipe),
                large,
            )
        }
    };
    let pump = Pump {
        stdout,
        stderr,
        child,
        output: output_tx,
        exit: exit_tx,
        group: Arc::clone(&group),
        drain_grace: options.drain_grace,
        offset: 0,
        gather: large,
    };
    tokio::spawn(pump.run());

    let kill_grace = options.kill_grace;
    let killer = ProcessKiller::new(move |mode| match mode {
        KillMode::Terminate => group.terminate(kill_grace, &runtime),
        KillMode::Kill => group.kill(),
    });
    Ok(ProcessHandle::new(output_rx, exit_rx, killer, pid))
}

/// A pipe for both output streams of a child: the async read end and the write end, both
/// close-on-exec (the child gets the write end as its stdout and stderr only), so no other
/// process spawned meanwhile inherits it and holds the output open.
fn merged_pipe() -> io::Result<(tokio::net::unix::pipe::Receiver, OwnedFd)> {
    let (reader, writer) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(io::Error::from)?;
    let reader = tokio::net::unix::pipe::Receiver::from_owned_fd(reader)?;
    Ok((reader, writer))
}

/// Asks for a pipe of [`PIPE_BYTES`]; whether it has that much room now (a system whose
/// limit is lower keeps the default size, and the output is read as it comes).
fn enlarge(pipe: &impl std::os::fd::AsFd) -> bool {
    use nix::fcntl::{FcntlArg, fcntl};
    match fcntl(pipe, FcntlArg::F_SETPIPE_SZ(PIPE_BYTES)) {
        Ok(size) => size >= PIPE_BYTES,
        Err(error) => {
            debug!(%error, "cannot enlarge an output pipe; its output is read as it comes");
            false
        }
    }
}

/// The working directory: `cwd` itself if absolute, else below `workspace` (`.` is the
/// workspace itself).
fn resolve_cwd(workspace: &Path, cwd: &Path) -> PathBuf {
    let mut resolved = workspace.to_path_buf();
    for component in cwd.components() {
        match component {
            Component::CurDir => {}
            other => resolved.push(other),
        }
    }
    resolved
}

fn check_cwd(cwd: &Path) -> io::Result<()> {
    match std::fs::metadata(cwd) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::NotADirectory,
            format!("working directory `{}` is not a directory", cwd.display()),
        )),
        Err(e) => Err(io::Error::new(
            e.kind(),
            format!("working directory `{}`: {e}", cwd.display()),
        )),
    }
}

/// Finds the executable like `execvp` would, but on the `PATH` of the spec's environment.
fn resolve_program(program: &str, cwd: &Path, path: Option<&String>) -> io::Result<PathBuf> {
    if program.contains('/') {
        return Ok(cwd.join(program));
    }
    let search = path.map_or(DEFAULT_PATH, String::as_str);
    search
        .split(':')
        .filter(|dir| !dir.is_empty())
        .map(|dir| cwd.join(dir).join(program))
        .find(|candidate| is_executable(candidate))
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("no executable `{program}` found on PATH `{search}`"),
            )
        })
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path)
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

/// Adds the path that failed to the operating system's terse message.
fn explain(error: io::Error, executable: &Path) -> io::Error {
    let what = match error.kind() {
        io::ErrorKind::NotFound => "no such file",
        io::ErrorKind::PermissionDenied => "permission denied (is it executable?)",
        _ => "cannot execute",
    };
    io::Error::new(
        error.kind(),
        format!("{what} `{}`: {error}", executable.display()),
    )
}
