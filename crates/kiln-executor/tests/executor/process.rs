use kiln_executor::process::{SpawnOptions, spawn_local, spawn_local_with};
use kiln_executor::{
    ExecError, ExitStatus, OutputChunk, OutputMode, ProcessHandle, ProcessSpec, StreamKind,
};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

const PATH: &str = "/usr/bin:/bin";

fn env(vars: &[(&str, &str)]) -> BTreeMap<String, String> {
    vars.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn spec(argv: &[&str]) -> ProcessSpec {
    ProcessSpec::new(argv.iter().map(|s| (*s).to_owned()).collect()).env(env(&[("PATH", PATH)]))
}

fn sh(script: &str) -> ProcessSpec {
    spec(&["sh", "-c", script])
}

/// Everything a finished process produced.
struct Run {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    status: ExitStatus,
}

/// Collects a process's output, checking that offsets run without gaps across both streams.
async fn collect(mut handle: ProcessHandle) -> Run {
    let mut chunks: Vec<OutputChunk> = Vec::new();
    while let Some(chunk) = handle.next_chunk().await {
        chunks.push(chunk);
    }
    let status = handle.wait().await.expect("exit status");
    let mut next = 0;
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    for chunk in chunks {
        assert_eq!(chunk.offset, next, "offsets must be contiguous");
        assert!(!chunk.bytes.is_empty(), "no empty chunks");
        next += chunk.bytes.len() as u64;
        match chunk.stream {
            StreamKind::Stdout => stdout.extend(chunk.bytes),
            StreamKind::Stderr => stderr.extend(chunk.bytes),
        }
    }
    Run {
        stdout,
        stderr,
        status,
    }
}

async fn run_in(spec: ProcessSpec, workspace: &Path) -> Run {
    collect(spawn_local(spec, workspace).await.expect("spawn")).await
}

async fn run(spec: ProcessSpec) -> Run {
    let workspace = tempfile::tempdir().expect("tempdir");
    run_in(spec, workspace.path()).await
}

fn quick() -> SpawnOptions {
    SpawnOptions::default()
        .kill_grace(Duration::from_millis(100))
        .drain_grace(Duration::from_millis(100))
}

/// Reads stdout until a whole line has arrived and returns it.
async fn first_line(handle: &mut ProcessHandle) -> String {
    let mut text = Vec::new();
    while !text.contains(&b'\n') {
        let chunk = handle.next_chunk().await.expect("a line of output");
        text.extend(chunk.bytes);
    }
    let text = String::from_utf8(text).expect("utf-8");
    text.lines().next().unwrap_or_default().to_owned()
}

/// Whether a process is gone: no longer in /proc, or a zombie nobody has reaped yet.
fn is_dead(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])),
    }
}

/// Waits (30 s at most: generously, this is not a speed check) until the process is gone.
async fn assert_dies(pid: u32) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !is_dead(pid) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "process {pid} is still alive"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn exit_codes_and_signals() {
    let cases = [
        ("true", ExitStatus::Code(0)),
        ("exit 3", ExitStatus::Code(3)),
        ("kill -KILL $$", ExitStatus::Signal(9)),
        ("kill -TERM $$", ExitStatus::Signal(15)),
    ];
    for (script, expected) in cases {
        assert_eq!(run(sh(script)).await.status, expected, "script {script}");
    }
    assert_eq!(ExitStatus::Signal(9).code(), 137);
}

#[tokio::test]
async fn separate_streams_are_captured_apart_with_contiguous_offsets() {
    let script = "printf 'one\\n'; printf 'err\\n' >&2; printf 'two\\n'; printf 'more\\n' >&2";
    let run = run(sh(script).output(OutputMode::Separate)).await;
    assert_eq!(run.stdout, b"one\ntwo\n");
    assert_eq!(run.stderr, b"err\nmore\n");
    assert_eq!(run.status, ExitStatus::Code(0));
}

#[tokio::test]
async fn large_output_on_separate_streams_is_complete() {
    let script = "head -c 1000000 /dev/zero; head -c 300000 /dev/zero >&2";
    let run = run(sh(script).output(OutputMode::Separate)).await;
    assert_eq!(run.stdout.len(), 1_000_000);
    assert_eq!(run.stderr.len(), 300_000);
    let merged = run_merged(sh(script)).await;
    assert_eq!(merged.stdout.len(), 1_300_000);
    assert!(merged.stderr.is_empty());
}

/// A process printing fast in small writes (`head` writes 8 KiB at a time) is read in
/// larger pieces: its pipe is enlarged and the runner waits a moment after a short read,
/// instead of forwarding one chunk per write (each chunk wakes the engine and the log's
/// recorder). The bytes are all there, in order. A runner slowed down by a busy machine
/// reads full chunks anyway, so the bound on the count guards the gathering where the runner
/// keeps up with the process (an idle machine), and the bytes everywhere.
#[tokio::test]
async fn fast_small_writes_are_read_in_larger_chunks() {
    const BYTES: usize = 4_000_000;
    let workspace = tempfile::tempdir().expect("tempdir");
    let mut handle = spawn_local(sh(&format!("yes | head -c {BYTES}")), workspace.path())
        .await
        .expect("spawn");
    let (mut chunks, mut text) = (0usize, Vec::new());
    while let Some(chunk) = handle.next_chunk().await {
        assert_eq!(
            chunk.offset,
            text.len() as u64,
            "offsets must be contiguous"
        );
        chunks += 1;
        text.extend(chunk.bytes);
    }
    assert_eq!(
        handle.wait().await.expect("exit status"),
        ExitStatus::Code(0)
    );
    assert_eq!(text.len(), BYTES);
    assert!(
        text.chunks(2).all(|pair| pair == b"y\n"),
        "the output is `y` lines"
    );
    let writes = BYTES.div_ceil(8192);
    assert!(
        chunks * 3 < writes,
        "{chunks} chunks for {writes} writes of 8 KiB: the output was not gathered"
    );
}

async fn run_merged(spec: ProcessSpec) -> Run {
    assert_eq!(spec.output, OutputMode::Merged, "merged is the default");
    run(spec).await
}

/// Guards issue 14: a step's `+ cmd` trace (stderr) and its output (stdout) swapped places
/// from run to run. Both streams share one pipe, so the output is exactly what the process
/// wrote, in order, every time.
#[tokio::test]
async fn interleaved_writes_to_both_streams_keep_their_order() {
    let script =
        "i=0; while [ $i -lt 300 ]; do echo \"out $i\"; echo \"err $i\" >&2; i=$((i+1)); done";
    let expected: String = (0..300).map(|i| format!("out {i}\nerr {i}\n")).collect();
    for round in 0..20 {
        let run = run_merged(sh(script)).await;
        assert_eq!(
            String::from_utf8_lossy(&run.stdout),
            expected,
            "round {round}: the output is not in the order written"
        );
        assert_eq!(run.status, ExitStatus::Code(0));
    }
}

/// A background process that outlives the step keeps the merged pipe open: it is still
/// ended by the drain rule, not waited for.
#[tokio::test]
async fn a_background_heir_of_the_merged_pipe_does_not_hold_the_step() {
    let workspace = tempfile::tempdir().unwrap();
    let handle = spawn_local_with(
        sh("echo start; sleep 100 & echo end >&2"),
        workspace.path(),
        quick(),
    )
    .await
    .unwrap();
    let run = collect(handle).await;
    assert_eq!(run.stdout, b"start\nend\n");
}

#[tokio::test]
async fn output_is_forwarded_before_a_newline_or_exit() {
    let workspace = tempfile::tempdir().unwrap();
    let mut handle = spawn_local(sh("printf partial; sleep 100"), workspace.path())
        .await
        .unwrap();
    let chunk = handle.next_chunk().await.unwrap();
    assert_eq!((chunk.stream, chunk.offset), (StreamKind::Stdout, 0));
    assert_eq!(chunk.bytes, b"partial");
    handle.killer().kill();
    assert_eq!(handle.wait().await.unwrap(), ExitStatus::Signal(9));
}

#[tokio::test]
async fn stdin_is_written_then_closed() {
    let run = run(spec(&["cat"]).stdin(b"hello\nworld".to_vec())).await;
    assert_eq!(run.stdout, b"hello\nworld");

    let big: Vec<u8> = (0..1_000_000_u32).map(|i| (i % 251) as u8).collect();
    let run = self::run(spec(&["cat"]).stdin(big.clone())).await;
    assert_eq!(run.stdout, big);
}

#[tokio::test]
async fn empty_stdin_is_dev_null() {
    let run = run(sh("cat; echo done")).await;
    assert_eq!(run.stdout, b"done\n");
}

#[tokio::test]
async fn environment_is_exactly_the_specs() {
    let spec = spec(&["env"]).env(env(&[("PATH", PATH), ("FOO", "bar baz")]));
    let run = run(spec).await;
    let stdout = String::from_utf8(run.stdout).unwrap();
    let mut lines: Vec<&str> = stdout.lines().collect();
    lines.sort_unstable();
    assert_eq!(lines, ["FOO=bar baz", "PATH=/usr/bin:/bin"]);
}

#[tokio::test]
async fn program_is_looked_up_on_the_specs_path() {
    let bin = tempfile::tempdir().unwrap();
    // A symbolic link rather than a written script: executing a freshly written file races
    // with forks in other test threads ("text file busy").
    std::os::unix::fs::symlink("/bin/echo", bin.path().join("kiln-echo")).unwrap();
    let path = bin.path().to_str().unwrap();
    let run = run(spec(&["kiln-echo", "hi"]).env(env(&[("PATH", path)]))).await;
    assert_eq!(run.stdout, b"hi\n");

    // Without a PATH the runner searches the usual system directories.
    let run = self::run(spec(&["sh", "-c", "echo ok"]).env(BTreeMap::new())).await;
    assert_eq!(run.stdout, b"ok\n");
}

#[tokio::test]
async fn relative_cwd_is_below_the_workspace_and_absolute_cwd_is_kept() {
    let workspace = tempfile::tempdir().unwrap();
    std::fs::create_dir(workspace.path().join("sub")).unwrap();
    let sub = std::fs::canonicalize(workspace.path().join("sub")).unwrap();
    let run = run_in(sh("pwd -P").cwd("sub"), workspace.path()).await;
    assert_eq!(
        String::from_utf8(run.stdout).unwrap().trim(),
        sub.to_str().unwrap()
    );

    let run = run_in(sh("pwd -P"), workspace.path()).await;
    let root = std::fs::canonicalize(workspace.path()).unwrap();
    assert_eq!(
        String::from_utf8(run.stdout).unwrap().trim(),
        root.to_str().unwrap()
    );

    let elsewhere = tempfile::tempdir().unwrap();
    let elsewhere_path = std::fs::canonicalize(elsewhere.path()).unwrap();
    let run = run_in(sh("pwd -P").cwd(&elsewhere_path), workspace.path()).await;
    assert_eq!(
        String::from_utf8(run.stdout).unwrap().trim(),
        elsewhere_path.to_str().unwrap()
    );

    // A program path with a slash is relative to the working directory, not the server's.
    std::os::unix::fs::symlink("/bin/echo", sub.join("tool")).unwrap();
    let run = run_in(spec(&["./tool", "local"]).cwd("sub"), workspace.path()).await;
    assert_eq!(run.stdout, b"local\n");
}

/// Spawns and expects a spawn error; returns the program and the source's message.
async fn spawn_error(spec: ProcessSpec) -> (String, String) {
    let workspace = tempfile::tempdir().unwrap();
    match spawn_local(spec, workspace.path()).await {
        Err(ExecError::Spawn { program, source }) => (program, source.to_string()),
        other => panic!("expected a spawn error, got {other:?}"),
    }
}

#[tokio::test]
async fn spawn_errors_name_the_program_and_the_cause() {
    let (program, cause) = spawn_error(spec(&["kiln-no-such-program"])).await;
    assert_eq!(program, "kiln-no-such-program");
    assert_eq!(
        cause,
        "no executable `kiln-no-such-program` found on PATH `/usr/bin:/bin`"
    );

    let (program, cause) = spawn_error(sh("true").cwd("missing")).await;
    assert_eq!(program, "sh");
    assert!(
        cause.starts_with("working directory `") && cause.contains("missing"),
        "{cause}"
    );

    let (_, cause) = spawn_error(spec(&["./nothing-here"])).await;
    assert!(
        cause.starts_with("no such file `") && cause.contains("nothing-here"),
        "{cause}"
    );

    let error = spawn_local(sh("true").cwd("missing"), Path::new("/"))
        .await
        .unwrap_err();
    assert_eq!(error.to_string(), "cannot start `sh`");

    let empty = spawn_local(ProcessSpec::new(Vec::new()), Path::new("/")).await;
    assert!(matches!(empty, Err(ExecError::EmptyCommand)));
}

#[tokio::test]
async fn terminate_kills_the_whole_process_group() {
    let workspace = tempfile::tempdir().unwrap();
    let mut handle = spawn_local(sh("sleep 100 & echo $!; sleep 100"), workspace.path())
        .await
        .unwrap();
    let grandchild: u32 = first_line(&mut handle).await.parse().unwrap();
    let child = handle.pid().unwrap();
    handle.killer().terminate();
    handle.killer().terminate();
    assert_eq!(handle.wait().await.unwrap(), ExitStatus::Signal(15));
    assert_dies(grandchild).await;
    assert_dies(child).await;
}

#[tokio::test]
async fn terminate_escalates_to_kill_after_the_grace_period() {
    let workspace = tempfile::tempdir().unwrap();
    let script = "trap '' TERM; echo ready; sleep 100";
    let mut handle = spawn_local_with(sh(script), workspace.path(), quick())
        .await
        .unwrap();
    assert_eq!(first_line(&mut handle).await, "ready");
    handle.killer().terminate();
    assert_eq!(handle.wait().await.unwrap(), ExitStatus::Signal(9));
}

#[tokio::test]
async fn kill_ends_the_group_at_once() {
    let workspace = tempfile::tempdir().unwrap();
    let mut handle = spawn_local(sh("sleep 100 & echo $!; wait"), workspace.path())
        .await
        .unwrap();
    let grandchild: u32 = first_line(&mut handle).await.parse().unwrap();
    handle.killer().kill();
    assert_eq!(handle.wait().await.unwrap(), ExitStatus::Signal(9));
    assert_dies(grandchild).await;
}

#[tokio::test]
async fn a_background_process_holding_the_pipe_does_not_hang_wait() {
    let workspace = tempfile::tempdir().unwrap();
    let mut handle = spawn_local_with(sh("sleep 100 & echo $!"), workspace.path(), quick())
        .await
        .unwrap();
    let grandchild: u32 = first_line(&mut handle).await.parse().unwrap();
    assert_eq!(handle.wait().await.unwrap(), ExitStatus::Code(0));
    assert_dies(grandchild).await;
}

#[tokio::test]
async fn a_background_process_with_its_own_output_survives_the_step() {
    let workspace = tempfile::tempdir().unwrap();
    // The background shell lets go of the pipes before the step's shell exits, however
    // slowly it gets scheduled, so no grace period is involved.
    let script = "sh -c 'exec >/dev/null 2>&1; touch ready; exec sleep 100' & echo $! > bg.pid; \
                  while [ ! -e ready ]; do sleep 0.01; done";
    let handle = spawn_local_with(sh(script), workspace.path(), quick())
        .await
        .unwrap();
    let killer = handle.killer();
    assert_eq!(collect(handle).await.status, ExitStatus::Code(0));
    let pid: u32 = std::fs::read_to_string(workspace.path().join("bg.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(!is_dead(pid), "the step's detached process was killed");
    // The killer still reaches what is left of the group, e.g. at the end of a build.
    killer.kill();
    assert_dies(pid).await;
}

#[tokio::test]
async fn dropping_the_handle_kills_the_process_group() {
    let workspace = tempfile::tempdir().unwrap();
    let mut handle = spawn_local(sh("sleep 100 & echo $!; sleep 100"), workspace.path())
        .await
        .unwrap();
    let grandchild: u32 = first_line(&mut handle).await.parse().unwrap();
    let child = handle.pid().unwrap();
    drop(handle);
    assert_dies(child).await;
    assert_dies(grandchild).await;
}

#[tokio::test]
async fn killing_after_exit_is_harmless() {
    let workspace = tempfile::tempdir().unwrap();
    let handle = spawn_local(sh("true"), workspace.path()).await.unwrap();
    let killer = handle.killer();
    assert_eq!(handle.wait().await.unwrap(), ExitStatus::Code(0));
    killer.terminate();
    killer.kill();
    killer.terminate();
}

#[tokio::test]
async fn wait_drains_output_nobody_read() {
    let workspace = tempfile::tempdir().unwrap();
    let handle = spawn_local(sh("head -c 2000000 /dev/zero; exit 4"), workspace.path())
        .await
        .unwrap();
    assert_eq!(handle.wait().await.unwrap(), ExitStatus::Code(4));
}
