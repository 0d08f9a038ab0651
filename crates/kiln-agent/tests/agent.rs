//! The agent end to end over TCP: handshake, spawn, output, re-attach, never run twice, kill,
//! file operations; in process (port 0) and once as the real binary.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use kiln_agent::handshake::{HandshakeError, greet};
use kiln_agent::protocol::{Frame, KillMode, Message, Stream, read_frame, write_frame};
use kiln_agent::{Agent, AgentConfig};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};

const TOKEN: &str = "s3cret-token";

struct Fixture {
    address: String,
    dir: tempfile::TempDir,
    task: tokio::task::JoinHandle<()>,
    agent: Arc<Agent>,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.agent.kill_all();
        self.task.abort();
    }
}

async fn fixture() -> Fixture {
    let dir = tempfile::Builder::new()
        .prefix("kiln-agent-test-")
        .tempdir()
        .unwrap();
    std::fs::create_dir_all(dir.path().join("run")).unwrap();
    std::fs::create_dir_all(dir.path().join("ws")).unwrap();
    let env = BTreeMap::from([
        ("PATH".to_owned(), "/usr/local/bin:/usr/bin:/bin".to_owned()),
        ("FROM_CONTAINER".to_owned(), "image-env".to_owned()),
        ("KILN_AGENT_TOKEN".to_owned(), TOKEN.to_owned()),
    ]);
    let agent = Agent::new(
        AgentConfig {
            container: "main".into(),
            token: TOKEN.into(),
            workspace: dir.path().join("ws"),
            run_dir: dir.path().join("run"),
            kill_grace: Duration::from_secs(1),
        },
        env,
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let task = tokio::spawn(kiln_agent::listen(
        Arc::clone(&agent),
        listener,
        Arc::new(kiln_agent::Presence::default()),
    ));
    Fixture {
        address,
        dir,
        task,
        agent,
    }
}

async fn connect(address: &str) -> TcpStream {
    let mut stream = TcpStream::connect(address).await.unwrap();
    greet(&mut stream, TOKEN, "main").await.unwrap();
    stream
}

async fn send(stream: &mut TcpStream, message: Message, payload: &[u8]) {
    write_frame(stream, &Frame::with_payload(message, payload.to_vec()))
        .await
        .unwrap();
}

async fn recv(stream: &mut TcpStream) -> Frame {
    // A bound for a loaded machine (answers may wait on a spawned process), not a speed check.
    tokio::time::timeout(Duration::from_secs(60), read_frame(stream))
        .await
        .expect("an answer within 60 s")
        .unwrap()
        .expect("an open connection")
}

fn spawn_msg(id: &str, script: &str) -> Message {
    Message::Spawn {
        id: id.into(),
        argv: vec!["sh".into(), "-c".into(), script.into()],
        env: BTreeMap::from([("STEP".to_owned(), "yes".to_owned())]),
        cwd: ".".into(),
        separate_streams: false,
    }
}

/// Reads output frames of `id` until its exit; returns (output, exit code).
async fn until_exit(stream: &mut TcpStream, id: &str) -> (String, Option<i32>, Option<i32>) {
    let mut out = String::new();
    loop {
        let frame = recv(stream).await;
        match frame.message {
            Message::Output { id: i, .. } if i == id => {
                out.push_str(&String::from_utf8_lossy(&frame.payload))
            }
            Message::Exit {
                id: i,
                code,
                signal,
            } if i == id => return (out, code, signal),
            Message::Started { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}

/// The address a started agent binary reports on stderr (its `address=` line).
async fn reported_address(
    lines: &mut tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStderr>>,
) -> String {
    loop {
        let line = lines
            .next_line()
            .await
            .unwrap()
            .expect("the agent reports its address (as PID 1: unshare and setpriv need root)");
        if let Some(rest) = line.split("address=").nth(1) {
            return rest.split_whitespace().next().unwrap().to_owned();
        }
    }
}

#[tokio::test]
async fn wrong_token_and_wrong_container_are_rejected() {
    let f = fixture().await;
    let mut s = TcpStream::connect(&f.address).await.unwrap();
    let err = greet(&mut s, "nope", "main").await.unwrap_err();
    assert!(
        matches!(err, HandshakeError::Rejected(ref r) if r == "wrong token"),
        "{err}"
    );
    let mut s = TcpStream::connect(&f.address).await.unwrap();
    let err = greet(&mut s, TOKEN, "other").await.unwrap_err();
    assert!(err.to_string().contains("serves container `main`"), "{err}");
}

#[tokio::test]
async fn spawn_streams_output_with_container_and_step_env_then_exit() {
    let f = fixture().await;
    let mut s = connect(&f.address).await;
    send(
        &mut s,
        spawn_msg(
            "p1",
            "echo $FROM_CONTAINER $STEP ${KILN_AGENT_TOKEN:-hidden}; pwd; echo err >&2; exit 3",
        ),
        b"",
    )
    .await;
    let (mut out, mut err) = (String::new(), String::new());
    let code = loop {
        let frame = recv(&mut s).await;
        match frame.message {
            Message::Output {
                stream: Stream::Stdout,
                ..
            } => out.push_str(&String::from_utf8_lossy(&frame.payload)),
            Message::Output {
                stream: Stream::Stderr,
                ..
            } => err.push_str(&String::from_utf8_lossy(&frame.payload)),
            Message::Exit { code, .. } => break code,
            _ => {}
        }
    };
    let ws = f.dir.path().join("ws").canonicalize().unwrap();
    // One pipe for both streams: stderr comes in its place, as stdout.
    assert_eq!(
        out,
        format!("image-env yes hidden\n{}\nerr\n", ws.display())
    );
    assert_eq!(err, "");
    assert_eq!(code, Some(3));
    let file = f.dir.path().join("run/p1.out");
    assert!(file.exists(), "output kept on the shared volume");
    assert!(f.dir.path().join("run/p1.exit").exists());

    let mut separate = spawn_msg("p2", "echo out; echo err >&2");
    if let Message::Spawn {
        separate_streams, ..
    } = &mut separate
    {
        *separate_streams = true;
    }
    send(&mut s, separate, b"").await;
    let (mut out, mut err) = (String::new(), String::new());
    loop {
        let frame = recv(&mut s).await;
        match frame.message {
            Message::Output { stream, .. } => match stream {
                Stream::Stdout => out.push_str(&String::from_utf8_lossy(&frame.payload)),
                Stream::Stderr => err.push_str(&String::from_utf8_lossy(&frame.payload)),
            },
            Message::Exit { .. } => break,
            _ => {}
        }
    }
    assert_eq!((out.as_str(), err.as_str()), ("out\n", "err\n"));
}

#[tokio::test]
async fn reattach_resumes_at_the_offset_and_a_known_id_is_never_run_twice() {
    let f = fixture().await;
    let marker = f.dir.path().join("ws/runs");
    let script = format!(
        "echo run >> {}; echo one; sleep 0.3; echo two",
        marker.display()
    );
    let mut s = connect(&f.address).await;
    send(&mut s, spawn_msg("p2", &script), b"").await;
    // Read the first line, then drop the connection mid-process.
    loop {
        let frame = recv(&mut s).await;
        if let Message::Output { offset, .. } = frame.message {
            assert_eq!((offset, frame.payload.as_slice()), (0, b"one\n".as_slice()));
            break;
        }
    }
    drop(s);
    let mut s = connect(&f.address).await;
    send(
        &mut s,
        Message::Attach {
            id: "p2".into(),
            from_offset: 4,
        },
        b"",
    )
    .await;
    let (out, code, _) = until_exit(&mut s, "p2").await;
    assert_eq!((out.as_str(), code), ("two\n", Some(0)));
    // The same id again: answered with the known process (which has ended), from offset 0,
    // not run again.
    send(&mut s, spawn_msg("p2", &script), b"").await;
    let frame = recv(&mut s).await;
    assert!(
        matches!(
            frame.message,
            Message::Started {
                known: true,
                ended: true,
                ..
            }
        ),
        "{:?}",
        frame.message
    );
    let (out, _, _) = until_exit(&mut s, "p2").await;
    assert_eq!(out, "one\ntwo\n");
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "run\n");
}

#[tokio::test]
async fn kill_terminates_the_whole_process_group() {
    let f = fixture().await;
    let pidfile = f.dir.path().join("ws/child.pid");
    let mut s = connect(&f.address).await;
    let script = format!(
        "sleep 30 & echo $! > {}; echo started; wait",
        pidfile.display()
    );
    send(&mut s, spawn_msg("p3", &script), b"").await;
    loop {
        if let Message::Output { .. } = recv(&mut s).await.message {
            break;
        }
    }
    send(
        &mut s,
        Message::Kill {
            id: "p3".into(),
            mode: KillMode::Terminate,
        },
        b"",
    )
    .await;
    let (_, code, signal) = until_exit(&mut s, "p3").await;
    assert_eq!((code, signal), (None, Some(15)));
    let child: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // Dying takes a turn on the CPU: wait for it (30 s at most, not a speed check).
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let gone = loop {
        let dead = !Path::new(&format!("/proc/{child}")).exists()
            || std::fs::read_to_string(format!("/proc/{child}/stat"))
                .unwrap_or_default()
                .contains(") Z ");
        if dead || std::time::Instant::now() >= deadline {
            break dead;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(
        gone,
        "the background child {child} was killed with its group"
    );
}

#[tokio::test]
async fn file_operations_chunk_large_files_and_report_missing_ones() {
    let f = fixture().await;
    let mut s = connect(&f.address).await;
    let big: Vec<u8> = (0..2_500_000_u32).map(|i| (i % 251) as u8).collect();
    let chunks: Vec<&[u8]> = big.chunks(kiln_agent::protocol::FILE_CHUNK).collect();
    for (i, c) in chunks.iter().enumerate() {
        let m = Message::WriteFile {
            req: 1,
            path: "d/big.bin".into(),
            first: i == 0,
            last: i + 1 == chunks.len(),
        };
        send(&mut s, m, c).await;
    }
    assert_eq!(recv(&mut s).await.message, Message::Done { req: 1 });
    send(
        &mut s,
        Message::ReadFile {
            req: 2,
            path: "d/big.bin".into(),
        },
        b"",
    )
    .await;
    let mut back = Vec::new();
    let mut frames = 0;
    loop {
        let frame = recv(&mut s).await;
        let Message::FileChunk { req: 2, last } = frame.message else {
            panic!("{:?}", frame.message)
        };
        back.extend_from_slice(&frame.payload);
        frames += 1;
        if last {
            break;
        }
    }
    assert_eq!(back, big);
    assert!(frames >= 3, "sent in chunks");
    send(
        &mut s,
        Message::ListFiles {
            req: 3,
            dir: ".".into(),
            includes: vec!["**/*.bin".into()],
            excludes: vec![],
        },
        b"",
    )
    .await;
    let Message::FileList { entries, .. } = recv(&mut s).await.message else {
        panic!()
    };
    assert_eq!(entries.len(), 1);
    assert_eq!(
        (entries[0].path.as_str(), entries[0].size),
        ("d/big.bin", big.len() as u64)
    );
    send(
        &mut s,
        Message::Exists {
            req: 4,
            path: "d/nope".into(),
        },
        b"",
    )
    .await;
    assert_eq!(
        recv(&mut s).await.message,
        Message::ExistsResult {
            req: 4,
            exists: false
        }
    );
    send(
        &mut s,
        Message::ReadFile {
            req: 5,
            path: "d/nope".into(),
        },
        b"",
    )
    .await;
    match recv(&mut s).await.message {
        Message::Failed {
            req: Some(5),
            failure: kiln_agent::protocol::Failure::Io { io_kind, .. },
            ..
        } => assert_eq!(io_kind, "NotFound"),
        other => panic!("{other:?}"),
    }
    send(
        &mut s,
        Message::DeleteDir {
            req: 6,
            path: "d".into(),
        },
        b"",
    )
    .await;
    assert_eq!(recv(&mut s).await.message, Message::Done { req: 6 });
    assert!(!f.dir.path().join("ws/d").exists());
}

#[tokio::test]
async fn the_binary_installs_itself_and_serves_on_the_port_it_reports() {
    use tokio::io::AsyncBufReadExt;
    let dir = tempfile::Builder::new()
        .prefix("kiln-agent-bin-")
        .tempdir()
        .unwrap();
    let installed = dir.path().join("bin/kiln-agent");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_kiln-agent"))
        .args(["--install", installed.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut child = tokio::process::Command::new(&installed)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--container",
            "main",
            "--workspace",
        ])
        .arg(dir.path())
        .arg("--run-dir")
        .arg(dir.path().join("run"))
        .env("KILN_AGENT_TOKEN", TOKEN)
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let address = reported_address(&mut lines).await;
    let mut s = connect(&address).await;
    send(&mut s, spawn_msg("b1", "echo from-binary"), b"").await;
    let (out, code, _) = until_exit(&mut s, "b1").await;
    assert_eq!((out.as_str(), code), ("from-binary\n", Some(0)));
    child.start_kill().unwrap();
    child.wait().await.unwrap();
}

/// With `--orphan-grace 1`: while a controller is connected the agent stays (and its step
/// runs); once it has been gone for the grace the agent kills its processes and exits, naming
/// why.
#[tokio::test]
async fn the_binary_exits_when_its_controller_has_been_gone_past_the_grace() {
    use tokio::io::AsyncBufReadExt;
    let dir = tempfile::Builder::new()
        .prefix("kiln-agent-orphan-")
        .tempdir()
        .unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_kiln-agent"))
        .args(["--listen", "127.0.0.1:0", "--container", "main"])
        .arg("--workspace")
        .arg(dir.path())
        .arg("--run-dir")
        .arg(dir.path().join("run"))
        .args(["--orphan-grace", "1"])
        .env("KILN_AGENT_TOKEN", TOKEN)
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let address = reported_address(&mut lines).await;
    let mut s = connect(&address).await;
    send(&mut s, spawn_msg("long", "sleep 600"), b"").await;
    // Connected for three times the grace: the agent stays.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        child.try_wait().unwrap().is_none(),
        "exited while connected"
    );
    drop(s);
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("the agent exits once its controller is gone")
        .unwrap();
    assert_eq!(status.code(), Some(2));
    let mut rest = String::new();
    while let Ok(Some(line)) = lines.next_line().await {
        rest.push_str(&line);
        rest.push('\n');
    }
    assert!(
        rest.contains("no controller has been connected for 1 s (--orphan-grace)"),
        "{rest}"
    );
}

/// The binary as in a build pod's container: PID 1 of a PID namespace of its own, as user
/// 65532 (deploy/Dockerfile's agent image). A step's orphan is re-parented to it and reaped;
/// SIGTERM sent from outside the namespace (the kubelet stopping the container) reaches it,
/// although PID 1 gets only the signals it handles, and it exits. Needs root and util-linux's
/// `unshare` and `setpriv` (as the fake cluster's kubelet does).
#[tokio::test]
async fn the_binary_as_pid_1_and_non_root_reaps_orphans_and_stops_on_sigterm() {
    use tokio::io::AsyncBufReadExt;
    const USER: u32 = 65532;
    let dir = tempfile::Builder::new()
        .prefix("kiln-agent-pid1-")
        .tempdir()
        .unwrap();
    std::fs::create_dir_all(dir.path().join("run")).unwrap();
    for path in [dir.path().to_path_buf(), dir.path().join("run")] {
        std::os::unix::fs::chown(&path, Some(USER), Some(USER)).unwrap();
    }
    let mut child = tokio::process::Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc", "--kill-child", "--"])
        .args([
            "setpriv",
            "--reuid=65532",
            "--regid=65532",
            "--clear-groups",
            "--",
        ])
        .arg(env!("CARGO_BIN_EXE_kiln-agent"))
        .args(["--listen", "127.0.0.1:0", "--container", "main"])
        .arg("--workspace")
        .arg(dir.path())
        .arg("--run-dir")
        .arg(dir.path().join("run"))
        .env("KILN_AGENT_TOKEN", TOKEN)
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("util-linux's unshare");
    let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let address = reported_address(&mut lines).await;
    let mut s = connect(&address).await;
    let script = r#"(sleep 1 & echo $! > orphan.pid)
orphan=$(cat orphan.pid)
echo "uid=$(id -u) pid1=$(tr '\0' ' ' < /proc/1/cmdline | cut -d' ' -f1) parent=$(cut -d' ' -f4 /proc/$orphan/stat)"
sleep 3
if [ -e /proc/$orphan ]; then echo "left: $(cat /proc/$orphan/stat)"; else echo reaped; fi"#;
    send(&mut s, spawn_msg("p1", script), b"").await;
    let (out, code, _) = until_exit(&mut s, "p1").await;
    assert_eq!(code, Some(0), "{out}");
    let first = out.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("uid=65532 pid1=") && first.ends_with("/kiln-agent parent=1"),
        "{out}"
    );
    assert_eq!(out.lines().nth(1), Some("reaped"), "{out}");
    // PID 1 of the namespace, seen from here: unshare's only child.
    let unshare = child.id().unwrap();
    let children =
        std::fs::read_to_string(format!("/proc/{unshare}/task/{unshare}/children")).unwrap();
    let init: i32 = children.split_whitespace().next().unwrap().parse().unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(init),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("PID 1 stops on SIGTERM")
        .unwrap();
}

/// Reads frames until the connection closes; whether a `Rejected` with `want` came first.
async fn rejected_then_closed(stream: &mut TcpStream, want: &str) {
    let frame = recv(stream).await;
    match frame.message {
        Message::Rejected { reason } => assert!(reason.contains(want), "{reason}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    let end = tokio::time::timeout(Duration::from_secs(60), read_frame(stream)).await;
    assert!(
        matches!(end, Ok(Ok(None)) | Ok(Err(_))),
        "the connection closes"
    );
}

#[tokio::test]
async fn a_connection_driving_a_build_at_a_lower_epoch_than_seen_is_refused() {
    let f = fixture().await;
    let fence = |epoch| Message::Fence {
        build: "app#1".into(),
        epoch,
    };
    // The first owner drives app#1 at epoch 1 and starts a process.
    let mut old = connect(&f.address).await;
    send(&mut old, fence(1), b"").await;
    send(&mut old, spawn_msg("p1", "echo one"), b"").await;
    let (out, code, _) = until_exit(&mut old, "p1").await;
    assert_eq!((out.as_str(), code), ("one\n", Some(0)));
    // Another controller took the build over: epoch 2.
    let mut new = connect(&f.address).await;
    send(&mut new, fence(2), b"").await;
    send(&mut new, spawn_msg("p2", "echo two"), b"").await;
    let (out, code, _) = until_exit(&mut new, "p2").await;
    assert_eq!((out.as_str(), code), ("two\n", Some(0)));
    // The old owner is told and cut off at once, without asking anything.
    rejected_then_closed(&mut old, "epoch 2; this connection's is 1").await;
    // Reconnecting at its epoch does not help: refused before any request runs.
    let mut again = connect(&f.address).await;
    send(&mut again, fence(1), b"").await;
    send(&mut again, spawn_msg("p3", "echo three > three"), b"").await;
    rejected_then_closed(&mut again, "driven by another controller").await;
    assert!(!f.dir.path().join("ws/three").exists(), "p3 never ran");
    // The new owner goes on; a connection without a fence (one controller) is not refused.
    send(&mut new, spawn_msg("p4", "echo four"), b"").await;
    assert_eq!(until_exit(&mut new, "p4").await.0, "four\n");
    let mut plain = connect(&f.address).await;
    send(&mut plain, spawn_msg("p5", "echo five"), b"").await;
    assert_eq!(until_exit(&mut plain, "p5").await.0, "five\n");
}
