//! The fake executor's scripted processes and in-memory workspace, in virtual time.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test: a failed setup should stop it loudly"
)]

use kiln_executor::{ExecError, Executor, ExitStatus, KillMode, ProcessSpec};
use kiln_testkit::{FakeExecutor, ScriptedProcess};
use std::path::Path;
use std::time::Duration;

fn sh(script: &str) -> ProcessSpec {
    ProcessSpec::new(vec!["sh".into(), "-c".into(), script.into()])
}

async fn output_and_status(executor: &FakeExecutor, script: &str) -> (String, ExitStatus) {
    let mut handle = executor.spawn(sh(script)).await.unwrap();
    let mut out = Vec::new();
    let mut next_offset = 0;
    while let Some(chunk) = handle.next_chunk().await {
        assert_eq!(chunk.offset, next_offset, "offsets count every byte");
        next_offset += chunk.bytes.len() as u64;
        out.extend(chunk.bytes);
    }
    (
        String::from_utf8(out).unwrap(),
        handle.wait().await.unwrap(),
    )
}

#[tokio::test(start_paused = true)]
async fn processes_write_wait_in_virtual_time_and_exit() {
    let executor = FakeExecutor::new("/ws").on(
        "make",
        ScriptedProcess::new()
            .stdout("building\n")
            .sleep(Duration::from_secs(3600))
            .stderr("warning\n")
            .exit(2),
    );
    let started = tokio::time::Instant::now();
    let (out, status) = output_and_status(&executor, "make all").await;
    assert_eq!(out, "building\nwarning\n");
    assert_eq!(status, ExitStatus::Code(2));
    assert_eq!(started.elapsed(), Duration::from_secs(3600));
    assert_eq!(executor.spawned()[0].argv[2], "make all");
}

#[tokio::test(start_paused = true)]
async fn successive_spawns_take_successive_processes_and_the_last_repeats() {
    let executor = FakeExecutor::new("/ws").on_each(
        "flaky",
        [
            ScriptedProcess::new().exit(1),
            ScriptedProcess::new().stdout("ok\n"),
        ],
    );
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(output_and_status(&executor, "./flaky").await.1);
    }
    assert_eq!(
        statuses,
        [
            ExitStatus::Code(1),
            ExitStatus::Code(0),
            ExitStatus::Code(0)
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_killed_process_ends_with_the_signal() {
    let executor =
        FakeExecutor::new("/ws").on("serve", ScriptedProcess::new().sleep(Duration::MAX));
    let handle = executor.spawn(sh("serve")).await.unwrap();
    handle.killer().terminate();
    assert_eq!(handle.wait().await.unwrap(), ExitStatus::Signal(15));
    assert_eq!(
        executor.kills(),
        [("sh -c serve".to_owned(), KillMode::Terminate)]
    );
}

#[tokio::test]
async fn an_unscripted_command_cannot_start() {
    let executor = FakeExecutor::new("/ws").on("make", ScriptedProcess::new());
    let err = executor.spawn(sh("rm -rf /")).await.unwrap_err();
    assert!(matches!(err, ExecError::Spawn { .. }), "{err:?}");
    let source = std::error::Error::source(&err).unwrap().to_string();
    assert!(
        source.contains("no scripted process for `sh -c rm -rf /`"),
        "{source}"
    );
}

#[tokio::test]
async fn the_workspace_is_in_memory() {
    let executor = FakeExecutor::new("/ws").with_file("src/main.rs", "fn main() {}");
    executor
        .write_file(Path::new("target/app.jar"), b"jar")
        .await
        .unwrap();
    executor
        .write_file(Path::new("/ws/target/./lib/x.jar"), b"x")
        .await
        .unwrap();
    assert!(executor.file_exists(Path::new("target")).await.unwrap());
    let jars = executor
        .list_files(Path::new("target"), &["**/*.jar".into()], &[])
        .await
        .unwrap();
    let names: Vec<_> = jars.iter().map(|f| f.path.display().to_string()).collect();
    assert_eq!(names, ["app.jar", "lib/x.jar"]);
    executor.delete_dir(Path::new("target")).await.unwrap();
    assert!(!executor.file_exists(Path::new("target")).await.unwrap());
    assert_eq!(
        executor.read_file(Path::new("src/main.rs")).await.unwrap(),
        b"fn main() {}"
    );
    let missing = executor.read_file(Path::new("nope")).await.unwrap_err();
    assert!(
        matches!(missing, ExecError::File { op: "read", .. }),
        "{missing:?}"
    );
}
