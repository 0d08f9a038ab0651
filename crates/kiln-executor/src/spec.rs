use std::collections::BTreeMap;
use std::path::PathBuf;

/// A process the engine wants run: argv, the complete environment, and a working directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessSpec {
    /// Program and arguments; `argv[0]` is looked up on the `PATH` of `env`.
    pub argv: Vec<String>,
    /// The whole environment of the process (nothing is inherited implicitly).
    pub env: BTreeMap<String, String>,
    /// Working directory; relative paths are relative to the executor's workspace root.
    pub cwd: PathBuf,
    /// Bytes written to the process's stdin, which is then closed (empty: /dev/null).
    pub stdin: Vec<u8>,
    /// The container to run in, for executors with several (a Kubernetes pod); `None` is the
    /// executor's default. Executors without containers ignore it.
    pub container: Option<String>,
    /// The process's identity within its build, the same every time the build's steps run
    /// again (the engine fills it from the step's place: build, stage, position, a digest of
    /// the command). An executor whose processes outlive the controller (the Kubernetes
    /// agent) uses it as the process id, so a build resumed after a controller restart
    /// follows a process that already ran or still runs instead of starting it twice.
    /// Executors without that ignore it; `None` lets the executor choose an id.
    pub key: Option<String>,
    /// Whether stdout and stderr share one pipe (the default) or have one each.
    pub output: OutputMode,
}

/// How a process's stdout and stderr reach the runner.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum OutputMode {
    /// One pipe for both streams, as Jenkins gives a step: the output is exactly what the
    /// process wrote, in the order it wrote it. Every chunk is [`StreamKind::Stdout`].
    #[default]
    Merged,
    /// A pipe each, for steps that keep stdout apart (`returnStdout`: stdout is the step's
    /// value, stderr goes to the log); the order between the two streams is not kept.
    Separate,
}

impl ProcessSpec {
    pub fn new(argv: Vec<String>) -> Self {
        ProcessSpec {
            argv,
            env: BTreeMap::new(),
            cwd: PathBuf::from("."),
            stdin: Vec::new(),
            container: None,
            key: None,
            output: OutputMode::Merged,
        }
    }

    pub fn env(mut self, env: BTreeMap<String, String>) -> Self {
        self.env = env;
        self
    }

    pub fn cwd(mut self, cwd: impl Into<PathBuf>) -> Self {
        self.cwd = cwd.into();
        self
    }

    pub fn stdin(mut self, bytes: Vec<u8>) -> Self {
        self.stdin = bytes;
        self
    }

    pub fn container(mut self, container: Option<String>) -> Self {
        self.container = container;
        self
    }

    pub fn key(mut self, key: Option<String>) -> Self {
        self.key = key;
        self
    }

    pub fn output(mut self, output: OutputMode) -> Self {
        self.output = output;
        self
    }
}

/// Which stream of the process a chunk came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StreamKind {
    Stdout,
    Stderr,
}

/// A piece of a process's output. `offset` counts bytes of both streams together, in the
/// order the runner received them, so a follower can resume at any offset. With
/// [`OutputMode::Merged`] there is one stream, reported as stdout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputChunk {
    pub stream: StreamKind,
    pub offset: u64,
    pub bytes: Vec<u8>,
}

/// How a process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    /// It exited with this code.
    Code(i32),
    /// It was ended by this signal (e.g. after a kill on timeout or cancellation).
    Signal(i32),
}

impl ExitStatus {
    pub fn success(self) -> bool {
        self == ExitStatus::Code(0)
    }

    /// The shell convention: the exit code, or 128 + signal.
    pub fn code(self) -> i32 {
        match self {
            ExitStatus::Code(c) => c,
            ExitStatus::Signal(s) => 128 + s,
        }
    }
}
