//! The Landlock sandbox of local build processes.
//!
//! A sandboxed process is started through a launcher: a program (the `kiln` binary itself,
//! with the hidden command [`SANDBOX_COMMAND`]) that calls [`launch`], which applies a
//! Landlock ruleset to itself and then executes the step's command, which keeps it. The
//! ruleset allows reading and executing the system's directories, and reading and writing
//! the build's workspace, its `@tmp`, `/tmp` and the configured directories; everything
//! else, and the paths given as hidden (kiln's configuration, its data directory with the
//! store and other builds' workspaces, credential files) even inside an allowed directory,
//! cannot be opened. Reading kiln's own process (`/proc/<kiln's pid>/environ`, where its
//! tokens are) is prevented by making kiln non-dumpable ([`protect_server_process`]) and
//! dropping [`DROPPED_CAPABILITIES`] (`CAP_SYS_PTRACE` among them) from the bounding set of
//! sandboxed processes, so even a root build cannot regain them.

use landlock::{
    ABI, Access, AccessFs, CompatLevel, Compatible, PathBeneath, PathFd, Ruleset, RulesetAttr,
    RulesetCreatedAttr, RulesetStatus,
};
use std::ffi::OsString;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

/// The command of the launcher program that runs [`launch`].
pub const SANDBOX_COMMAND: &str = "__sandbox-exec";

/// Directories every build may read and execute from.
pub const SYSTEM_READ: &[&str] = &[
    "/bin", "/sbin", "/usr", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/opt", "/proc",
    "/sys", "/dev", "/run",
];

/// Places every build may write to besides its own directories.
pub const SYSTEM_WRITE: &[&str] = &[
    "/tmp",
    "/var/tmp",
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/tty",
    "/dev/shm",
    "/dev/pts",
    "/dev/ptmx",
];

/// Capabilities a sandboxed process can never have (they reach other processes' memory
/// and environment, the kernel, or files by handle).
pub const DROPPED_CAPABILITIES: &[caps::Capability] = &[
    caps::Capability::CAP_SYS_PTRACE,
    caps::Capability::CAP_SYS_ADMIN,
    caps::Capability::CAP_SYS_MODULE,
    caps::Capability::CAP_SYS_RAWIO,
    caps::Capability::CAP_DAC_READ_SEARCH,
    caps::Capability::CAP_BPF,
    caps::Capability::CAP_PERFMON,
];

/// The Landlock ABI the ruleset asks for (file system rights up to truncation); older
/// kernels enforce what they know.
const ABI_WANTED: ABI = ABI::V3;

/// Why the sandbox cannot be used or applied.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("this kernel does not enforce Landlock: {0}")]
    Unsupported(String),
    #[error("the Landlock ruleset could not be applied: {0}")]
    Ruleset(#[from] landlock::RulesetError),
    #[error("the Landlock ruleset is not enforced by this kernel")]
    NotEnforced,
    #[error("invalid sandbox arguments: {0}")]
    Usage(String),
}

/// How a local build's processes are confined: the launcher to start them through, and
/// the paths they may never open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sandbox {
    launcher: PathBuf,
    hidden: Vec<PathBuf>,
}

impl Sandbox {
    /// Processes are started through `launcher`, run as `launcher __sandbox-exec ...`.
    pub fn new(launcher: PathBuf) -> Self {
        Sandbox {
            launcher,
            hidden: Vec::new(),
        }
    }

    /// Paths that stay out of reach even inside an allowed directory.
    pub fn hide(mut self, paths: impl IntoIterator<Item = PathBuf>) -> Self {
        self.hidden.extend(paths);
        self
    }

    /// The command line that runs `argv` in the sandbox, writing to `writable` besides
    /// [`SYSTEM_WRITE`].
    pub fn wrap(&self, writable: &[PathBuf], argv: Vec<String>) -> Vec<String> {
        let text = |p: &Path| p.to_string_lossy().into_owned();
        let mut out = vec![text(&self.launcher), SANDBOX_COMMAND.to_owned()];
        for path in writable {
            out.extend(["--write".to_owned(), text(path)]);
        }
        for path in &self.hidden {
            out.extend(["--hide".to_owned(), text(path)]);
        }
        out.push("--".to_owned());
        out.extend(argv);
        out
    }
}

/// Whether this kernel enforces Landlock (the server warns at start when it does not).
pub fn probe() -> Result<(), SandboxError> {
    Ruleset::default()
        .set_compatibility(CompatLevel::HardRequirement)
        .handle_access(AccessFs::from_all(ABI::V1))
        .and_then(|r| r.create())
        .map(drop)
        .map_err(|e| SandboxError::Unsupported(e.to_string()))
}

/// The launcher's work, given the arguments after [`SANDBOX_COMMAND`]: applies the ruleset
/// to this process and executes the command. Returns only on failure.
pub fn launch(args: &[OsString]) -> SandboxError {
    let mut writable = Vec::new();
    let mut hidden = Vec::new();
    let mut rest = args.iter();
    let command = loop {
        let Some(arg) = rest.next() else {
            return SandboxError::Usage("no `--` before the command".to_owned());
        };
        let list = match arg.to_str() {
            Some("--") => break rest.as_slice(),
            Some("--write") => &mut writable,
            Some("--hide") => &mut hidden,
            _ => {
                return SandboxError::Usage(format!("unexpected `{}`", arg.to_string_lossy()));
            }
        };
        let Some(path) = rest.next() else {
            return SandboxError::Usage(format!("`{}` needs a path", arg.to_string_lossy()));
        };
        list.push(PathBuf::from(path));
    };
    let Some((program, arguments)) = command.split_first() else {
        return SandboxError::Usage("no command after `--`".to_owned());
    };
    drop_capabilities();
    if let Err(error) = restrict(&writable, &hidden) {
        return error;
    }
    let error = std::process::Command::new(program).args(arguments).exec();
    SandboxError::Usage(format!(
        "cannot execute `{}`: {error}",
        program.to_string_lossy()
    ))
}

/// Makes the server's process non-dumpable: processes of the same user without
/// `CAP_SYS_PTRACE` (sandboxed builds) cannot read its memory or `/proc/<pid>/environ`.
pub fn protect_server_process() -> Result<(), SandboxError> {
    nix::sys::prctl::set_dumpable(false)
        .map_err(|e| SandboxError::Unsupported(format!("cannot make kiln non-dumpable: {e}")))
}

/// Drops [`DROPPED_CAPABILITIES`] from every set this process has. Without
/// `CAP_SETPCAP` (a process not run as root) the bounding set cannot change, and then
/// holds nothing to drop that the process could use.
fn drop_capabilities() {
    for cap in DROPPED_CAPABILITIES {
        for set in [
            caps::CapSet::Bounding,
            caps::CapSet::Ambient,
            caps::CapSet::Inheritable,
            caps::CapSet::Effective,
            caps::CapSet::Permitted,
        ] {
            // Failures mean the capability is not held or cannot be dropped by a process
            // that has no use of it; either way nothing is gained by stopping.
            let _ = caps::drop(None, set, *cap);
        }
    }
}

/// Applies the ruleset to this process (and so to what it executes).
fn restrict(writable: &[PathBuf], hidden: &[PathBuf]) -> Result<(), SandboxError> {
    let hidden: Vec<PathBuf> = hidden
        .iter()
        .filter_map(|p| p.canonicalize().ok())
        .collect();
    let read_roots = SYSTEM_READ.iter().map(PathBuf::from);
    let write_roots = SYSTEM_WRITE
        .iter()
        .map(PathBuf::from)
        .chain(writable.iter().cloned());
    let read = AccessFs::from_read(ABI_WANTED);
    let write = AccessFs::from_all(ABI_WANTED);
    let mut ruleset = Ruleset::default().handle_access(write)?.create()?;
    for (roots, access) in [
        (read_roots.collect::<Vec<_>>(), read),
        (write_roots.collect::<Vec<_>>(), write),
    ] {
        for path in granted(&roots, &hidden) {
            let Ok(fd) = PathFd::new(&path) else { continue };
            let access = if path.is_dir() {
                access
            } else {
                access & AccessFs::from_file(ABI_WANTED)
            };
            ruleset = ruleset.add_rule(PathBeneath::new(fd, access))?;
        }
    }
    let status = ruleset.restrict_self()?;
    if status.ruleset == RulesetStatus::NotEnforced {
        return Err(SandboxError::NotEnforced);
    }
    Ok(())
}

/// The paths to grant for `roots` (canonical, existing) so that no hidden path is reachable:
/// a root holding a hidden path is granted entry by entry, around it.
pub(crate) fn granted(roots: &[PathBuf], hidden: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for root in roots {
        if let Ok(root) = root.canonicalize() {
            grant_around(&root, hidden, &mut out, 0);
        }
    }
    out
}

/// How deep the directories holding a hidden path are split up at most.
const MAX_SPLIT_DEPTH: usize = 16;

fn grant_around(path: &Path, hidden: &[PathBuf], out: &mut Vec<PathBuf>, depth: usize) {
    let holds_hidden = hidden.iter().any(|h| h.starts_with(path) && h != path);
    if !holds_hidden {
        out.push(path.to_path_buf());
        return;
    }
    if depth >= MAX_SPLIT_DEPTH {
        return;
    }
    let Ok(entries) = std::fs::read_dir(path) else {
        return;
    };
    for entry in entries.flatten() {
        // A link is followed and judged by where it leads, and only granted inside its root.
        let Ok(real) = entry.path().canonicalize() else {
            continue;
        };
        if !real.starts_with(path) || hidden.iter().any(|h| real.starts_with(h)) {
            continue;
        }
        grant_around(&real, hidden, out, depth + 1);
    }
}

/// Converts the launcher's failure into the exit code a shell uses for a command that
/// cannot run, after saying why on stderr (the build's log).
pub fn fail(error: &SandboxError) -> std::process::ExitCode {
    use std::io::Write;
    let _ = writeln!(io::stderr(), "kiln sandbox: {error}");
    std::process::ExitCode::from(126)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_root_holding_a_hidden_path_is_granted_around_it() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        for d in ["data/store", "data/workspaces/a", "other"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        std::fs::write(root.join("kiln.yaml"), "x").unwrap();
        std::os::unix::fs::symlink(root.join("data"), root.join("link-to-data")).unwrap();
        let hidden = [root.join("data"), root.join("kiln.yaml")];
        let mut got = granted(std::slice::from_ref(&root), &hidden);
        got.sort();
        assert_eq!(got, [root.join("other")]);
        let unrelated = granted(&[root.join("other")], &hidden);
        assert_eq!(unrelated, [root.join("other")]);
    }

    #[test]
    fn wrap_puts_the_launcher_and_the_rules_before_the_command() {
        let s = Sandbox::new("/usr/bin/kiln".into()).hide(["/srv/kiln".into()]);
        let argv = s.wrap(
            &["/ws".into()],
            vec!["sh".into(), "-c".into(), "env".into()],
        );
        assert_eq!(
            argv,
            [
                "/usr/bin/kiln",
                SANDBOX_COMMAND,
                "--write",
                "/ws",
                "--hide",
                "/srv/kiln",
                "--",
                "sh",
                "-c",
                "env"
            ]
        );
    }
}
