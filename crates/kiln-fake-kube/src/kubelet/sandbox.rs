//! Builds the host command line that runs one container.
//!
//! With [`Isolation::MountNamespace`] the container runs as
//! `setpriv --pdeathsig KILL -- unshare --mount --propagation private -- /bin/sh -c SCRIPT`,
//! where SCRIPT mounts a copy-on-write overlay of the host's `/` (upper layer in the container's
//! own directory) at `<container dir>/root`, binds `/proc`, `/dev` and `/sys` into it, binds each
//! volume at its mount path inside it (creating missing mount points in the overlay, never on the
//! host), then `chroot`s into it, changes to the working directory and `exec`s the command. The
//! process keeps its pid throughout, so the pid the kubelet sees is the container's main process.

use std::path::{Path, PathBuf};

use crate::config::Isolation;

/// One bind mount into the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Host path.
    pub source: PathBuf,
    /// Path inside the container.
    pub target: String,
    /// Mounted read-only.
    pub read_only: bool,
}

/// Everything needed to start one container process.
#[derive(Debug, Clone)]
pub struct Launch {
    /// The container's private directory (overlay layers, root mount point).
    pub dir: PathBuf,
    /// Volume mounts.
    pub mounts: Vec<Mount>,
    /// Command and args.
    pub argv: Vec<String>,
    /// Working directory inside the container (`/` when unset).
    pub working_dir: String,
}

/// Quotes a string for `/bin/sh`.
pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

fn path_str(p: &Path) -> String {
    sh_quote(&p.to_string_lossy())
}

/// The program and arguments to spawn for `launch`.
pub fn host_command(
    launch: &Launch,
    isolation: Isolation,
    hidden: &[PathBuf],
) -> (String, Vec<String>) {
    match isolation {
        Isolation::None => {
            let script = format!(
                "cd {} 2>/dev/null || cd /; exec \"$@\"",
                sh_quote(&launch.working_dir)
            );
            let mut args = vec!["-c".to_owned(), script, "sh".to_owned()];
            args.extend(launch.argv.iter().cloned());
            ("/bin/sh".to_owned(), args)
        }
        Isolation::MountNamespace => {
            let mut args: Vec<String> = [
                "--pdeathsig",
                "KILL",
                "--",
                "unshare",
                "--mount",
                "--propagation",
                "private",
                "--",
                "/bin/sh",
                "-c",
            ]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
            args.push(mount_script(launch, hidden));
            args.push("sh".to_owned());
            args.extend(launch.argv.iter().cloned());
            ("setpriv".to_owned(), args)
        }
    }
}

fn mount_script(launch: &Launch, hidden: &[PathBuf]) -> String {
    let upper = launch.dir.join("upper");
    let work = launch.dir.join("work");
    let root = launch.dir.join("root");
    let mut s = String::from("set -e\n");
    s.push_str(&format!(
        "mount -t overlay overlay -o lowerdir=/,upperdir={},workdir={} {}\n",
        upper.to_string_lossy(),
        work.to_string_lossy(),
        path_str(&root)
    ));
    for sys in ["proc", "dev", "sys"] {
        s.push_str(&format!(
            "mount --rbind /{sys} {}\n",
            path_str(&root.join(sys))
        ));
    }
    // Another machine's disk: the host's directory is empty and read-only in the container
    // (mounted before the volumes, so a volume below it still shows).
    for path in hidden {
        let target = root.join(path.strip_prefix("/").unwrap_or(path));
        s.push_str(&format!(
            "if [ -d {t} ]; then mount -t tmpfs -o ro,size=4k,mode=0755 tmpfs {t}; fi\n",
            t = path_str(&target)
        ));
    }
    for m in &launch.mounts {
        let target = root.join(m.target.trim_start_matches('/'));
        let t = path_str(&target);
        if m.source.is_dir() {
            s.push_str(&format!("mkdir -p {t}\n"));
        } else {
            s.push_str(&format!(
                "mkdir -p \"$(dirname {t})\"; [ -e {t} ] || : > {t}\n"
            ));
        }
        s.push_str(&format!("mount --bind {} {t}\n", path_str(&m.source)));
        if m.read_only {
            s.push_str(&format!("mount -o remount,bind,ro {t}\n"));
        }
    }
    s.push_str(&format!(
        "exec chroot {} /bin/sh -c 'cd \"$0\" || exit 1; exec \"$@\"' {} \"$@\"\n",
        path_str(&root),
        sh_quote(if launch.working_dir.is_empty() {
            "/"
        } else {
            &launch.working_dir
        })
    ));
    s
}

/// The program and arguments that run `argv` inside the running container whose main process
/// is `pid` (for exec).
pub fn exec_command(pid: u32, argv: &[String], isolation: Isolation) -> (String, Vec<String>) {
    match isolation {
        Isolation::None => {
            let mut args = vec!["-c".to_owned(), "exec \"$@\"".to_owned(), "sh".to_owned()];
            args.extend(argv.iter().cloned());
            ("/bin/sh".to_owned(), args)
        }
        Isolation::MountNamespace => {
            let mut args = vec![
                "--target".to_owned(),
                pid.to_string(),
                "--mount".to_owned(),
                "--root".to_owned(),
                "--wd".to_owned(),
                "--".to_owned(),
            ];
            args.extend(argv.iter().cloned());
            ("nsenter".to_owned(), args)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::sh_quote;

    #[test]
    fn quoting() {
        assert_eq!(sh_quote("a b"), "'a b'");
        assert_eq!(sh_quote("it's"), "'it'\\''s'");
    }
}
