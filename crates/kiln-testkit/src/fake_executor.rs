//! [`FakeExecutor`]: an [`Executor`] whose processes are scripted and whose workspace is a
//! map in memory.

use crate::ScriptedProcess;
use crate::scripted_process::KillSignal;
use async_trait::async_trait;
use kiln_executor::{
    ExecError, Executor, FileEntry, FileSet, KillMode, ProcessHandle, ProcessKiller, ProcessSpec,
};
use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::{mpsc, oneshot};

/// Output chunks a process may have in flight before it waits for its reader.
const OUTPUT_QUEUE: usize = 16;

/// An executor for engine tests: every process it is asked for runs a [`ScriptedProcess`]
/// chosen by its command line, and files live in memory.
///
/// A spawn whose command line (argv joined by spaces) contains a rule's text runs that rule's
/// next process (rules are tried in the order given); a spawn no rule matches fails as a
/// program that cannot be started, so a test never silently runs something it did not
/// script. Processes run as tokio tasks and wait in `tokio::time`, so under
/// `tokio::time::pause` a build with a ten-minute step finishes at once, in virtual time.
///
/// ```no_run
/// use kiln_testkit::{FakeExecutor, ScriptedProcess};
/// let executor = FakeExecutor::new("/ws")
///     .on("make test", ScriptedProcess::new().stdout("ok\n"))
///     .on_each("deploy", [ScriptedProcess::new().exit(1), ScriptedProcess::new()]);
/// ```
#[derive(Debug)]
pub struct FakeExecutor {
    workspace: PathBuf,
    state: Arc<Mutex<State>>,
}

#[derive(Debug, Default)]
struct State {
    rules: Vec<Rule>,
    files: BTreeMap<PathBuf, Vec<u8>>,
    spawned: Vec<ProcessSpec>,
    kills: Vec<(String, KillMode)>,
}

#[derive(Debug)]
struct Rule {
    needle: String,
    /// The processes still to run; the last one repeats.
    processes: VecDeque<ScriptedProcess>,
}

impl FakeExecutor {
    /// An executor whose workspace is `workspace` (a path that need not exist: its files
    /// are in memory).
    pub fn new(workspace: impl Into<PathBuf>) -> FakeExecutor {
        FakeExecutor {
            workspace: workspace.into(),
            state: Arc::new(Mutex::new(State::default())),
        }
    }

    /// Every process whose command line contains `needle` runs `process`.
    pub fn on(self, needle: &str, process: ScriptedProcess) -> FakeExecutor {
        self.on_each(needle, [process])
    }

    /// Successive processes whose command line contains `needle` run `processes` in turn,
    /// the last one again once all have run (e.g. fail twice, then succeed).
    pub fn on_each(
        self,
        needle: &str,
        processes: impl IntoIterator<Item = ScriptedProcess>,
    ) -> FakeExecutor {
        let processes: VecDeque<ScriptedProcess> = processes.into_iter().collect();
        assert!(!processes.is_empty(), "rule `{needle}` has no process");
        self.lock().rules.push(Rule {
            needle: needle.to_owned(),
            processes,
        });
        self
    }

    /// Puts a file in the workspace (`path` relative to it, or absolute).
    pub fn with_file(self, path: impl AsRef<Path>, bytes: impl Into<Vec<u8>>) -> FakeExecutor {
        let path = self.resolve(path.as_ref());
        self.lock().files.insert(path, bytes.into());
        self
    }

    /// The processes spawned so far, in order.
    pub fn spawned(&self) -> Vec<ProcessSpec> {
        self.lock().spawned.clone()
    }

    /// The command lines of the processes killed so far, with how they were stopped.
    pub fn kills(&self) -> Vec<(String, KillMode)> {
        self.lock().kills.clone()
    }

    /// A file's bytes, if it exists (`path` relative to the workspace, or absolute).
    pub fn file(&self, path: impl AsRef<Path>) -> Option<Vec<u8>> {
        let path = self.resolve(path.as_ref());
        self.lock().files.get(&path).cloned()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    fn resolve(&self, path: &Path) -> PathBuf {
        let joined = self.workspace.join(path);
        // `a/./b` and `a/../b` name the same file as `a/b` and `b`.
        let mut out = PathBuf::new();
        for part in joined.components() {
            match part {
                std::path::Component::CurDir => {}
                std::path::Component::ParentDir => {
                    out.pop();
                }
                other => out.push(other),
            }
        }
        out
    }

    fn next_process(&self, command: &str) -> Option<ScriptedProcess> {
        let mut state = self.lock();
        let rule = state
            .rules
            .iter_mut()
            .find(|r| command.contains(r.needle.as_str()))?;
        if rule.processes.len() > 1 {
            rule.processes.pop_front()
        } else {
            rule.processes.front().cloned()
        }
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // A test that panicked while holding the lock has failed already; its data is still the
    // best account of what happened.
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn not_found(op: &'static str, path: PathBuf) -> ExecError {
    ExecError::File {
        op,
        path,
        source: io::Error::new(
            io::ErrorKind::NotFound,
            "no such file in the fake workspace",
        ),
    }
}

#[async_trait]
impl Executor for FakeExecutor {
    fn workspace(&self) -> &Path {
        &self.workspace
    }

    fn describe(&self) -> String {
        "fake executor".to_owned()
    }

    async fn spawn(&self, spec: ProcessSpec) -> Result<ProcessHandle, ExecError> {
        let Some(program) = spec.argv.first().cloned() else {
            return Err(ExecError::EmptyCommand);
        };
        let command = spec.argv.join(" ");
        self.lock().spawned.push(spec);
        let Some(process) = self.next_process(&command) else {
            return Err(ExecError::Spawn {
                program,
                source: io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("the fake executor has no scripted process for `{command}`"),
                ),
            });
        };
        let (out_tx, out_rx) = mpsc::channel(OUTPUT_QUEUE);
        let (exit_tx, exit_rx) = oneshot::channel();
        let signal = KillSignal::default();
        let killer = {
            let (signal, state) = (signal.clone(), Arc::clone(&self.state));
            ProcessKiller::new(move |mode| {
                lock(&state).kills.push((command.clone(), mode));
                signal.kill(mode);
            })
        };
        tokio::spawn(process.run(out_tx, exit_tx, signal));
        Ok(ProcessHandle::new(out_rx, exit_rx, killer, None))
    }

    async fn read_file(&self, path: &Path) -> Result<Vec<u8>, ExecError> {
        let path = self.resolve(path);
        let found = self.lock().files.get(&path).cloned();
        found.ok_or_else(|| not_found("read", path))
    }

    async fn write_file(&self, path: &Path, bytes: &[u8]) -> Result<(), ExecError> {
        let path = self.resolve(path);
        self.lock().files.insert(path, bytes.to_vec());
        Ok(())
    }

    async fn file_exists(&self, path: &Path) -> Result<bool, ExecError> {
        let path = self.resolve(path);
        // A directory exists when a file is below it.
        Ok(self.lock().files.keys().any(|p| p.starts_with(&path)))
    }

    async fn delete_dir(&self, path: &Path) -> Result<(), ExecError> {
        let path = self.resolve(path);
        self.lock().files.retain(|p, _| !p.starts_with(&path));
        Ok(())
    }

    async fn create_dir(&self, _path: &Path) -> Result<(), ExecError> {
        // Directories are implied by the files below them.
        Ok(())
    }

    async fn list_files(
        &self,
        dir: &Path,
        includes: &[String],
        excludes: &[String],
    ) -> Result<Vec<FileEntry>, ExecError> {
        let set = FileSet::new(includes, excludes)?;
        let dir = self.resolve(dir);
        let state = self.lock();
        let mut found: Vec<FileEntry> = state
            .files
            .iter()
            .filter_map(|(path, bytes)| {
                let relative = path.strip_prefix(&dir).ok()?;
                set.matches(relative).then(|| FileEntry {
                    path: relative.to_path_buf(),
                    size: bytes.len() as u64,
                })
            })
            .collect();
        found.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(found)
    }
}
