//! The agent as its container's init: a container's command runs as PID 1, and a process
//! whose parent exits (a step's `cmd &` outliving its shell, a daemon) is re-parented to
//! PID 1, which must wait for it or it stays a zombie for the container's life. So the
//! `kiln-agent` a pod starts splits in two, as tini does: this small parent marks itself the
//! child subreaper (so orphans come to it also where it is not PID 1), starts the agent
//! proper as its only child, passes SIGTERM and SIGINT on to it, reaps every other child as
//! it ends, and exits with the agent's status. The agent's own processes stay the agent's
//! (they are never waited for here), so their exit codes reach the controller unchanged.

use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use std::process::ExitCode;
use tokio::signal::unix::{SignalKind, signal};
use tracing::{debug, warn};

/// The argument the init gives the agent it starts (so that it does not start another init).
pub const UNDER_INIT: &str = "--under-init";

/// Called first in the agent the init started: the agent dies with its init (a killed init
/// must not leave an agent running without anyone to wait for it).
pub fn under_init() {
    if let Err(error) = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL) {
        debug!(%error, "cannot tie the agent's life to its init");
    }
}

/// Runs `args` as the agent under this init; returns the agent's exit status.
pub fn run(args: &[String]) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            warn!(%error, "cannot start the init's runtime");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(supervise(args)) {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            warn!(%error, "the agent's init failed");
            ExitCode::from(2)
        }
    }
}

async fn supervise(args: &[String]) -> std::io::Result<u8> {
    if let Err(error) = nix::sys::prctl::set_child_subreaper(true) {
        // PID 1 adopts orphans anyway; elsewhere they go to the host's init.
        debug!(%error, "cannot become the child subreaper");
    }
    // Listening before the agent starts: no child's end can be missed.
    let mut children = signal(SignalKind::child())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let agent = std::process::Command::new(std::env::current_exe()?)
        .args(args)
        .arg(UNDER_INIT)
        .spawn()?;
    let agent = Pid::from_raw(i32::try_from(agent.id()).unwrap_or(i32::MAX));
    loop {
        if let Some(code) = reap(agent) {
            return Ok(code);
        }
        tokio::select! {
            _ = children.recv() => {}
            _ = terminate.recv() => pass_on(agent, Signal::SIGTERM),
            _ = interrupt.recv() => pass_on(agent, Signal::SIGINT),
        }
    }
}

fn pass_on(agent: Pid, signal: Signal) {
    if let Err(error) = kill(agent, signal) {
        debug!(%error, ?signal, "cannot pass the signal on to the agent");
    }
}

/// Waits for every child that has ended; the agent's exit status once it has ended.
fn reap(agent: Pid) -> Option<u8> {
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) if pid == agent => {
                return Some(u8::try_from(code).unwrap_or(1));
            }
            Ok(WaitStatus::Signaled(pid, signal, _)) if pid == agent => {
                return Some(128u8.saturating_add(u8::try_from(signal as i32).unwrap_or(0)));
            }
            Ok(WaitStatus::StillAlive) => return None,
            Ok(status) => debug!(?status, "reaped an orphaned process"),
            // No children at all: the agent is gone without a status we saw.
            Err(nix::errno::Errno::ECHILD) => return Some(2),
            Err(nix::errno::Errno::EINTR) => {}
            Err(error) => {
                warn!(%error, "waiting for children failed");
                return None;
            }
        }
    }
}
