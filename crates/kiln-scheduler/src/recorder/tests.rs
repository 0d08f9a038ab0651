use super::Recorder;
use crate::clock::ManualClock;
use kiln_engine::{BuildEvent, LineKind, OutputSource};
use kiln_plan::NodeId;
use kiln_store::{LogEventKind, NewBuild, SledStore, Store};
use kiln_types::{BuildRef, JobName};
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use tokio::sync::watch;

fn recorder(store: &Arc<SledStore>, id: &BuildRef) -> Recorder {
    let record = store.get_build(id).unwrap().unwrap();
    let (log, _) = watch::channel(Default::default());
    Recorder::new(
        store.clone(),
        Arc::new(ManualClock::new(1_000)),
        record,
        log,
        Arc::new(AtomicUsize::new(0)),
    )
}

fn log(kind: LineKind, line: &str) -> BuildEvent {
    BuildEvent::Log {
        node: None,
        line: line.to_owned(),
        kind,
    }
}

fn output(lines: &[&str], from: u64, to: u64) -> BuildEvent {
    BuildEvent::Output {
        node: Some(NodeId(0)),
        lines: lines.iter().collect(),
        source: OutputSource {
            process: "1.j.0.0.ab".into(),
            from,
            to,
        },
    }
}

fn started() -> BuildEvent {
    BuildEvent::StageStarted {
        node: NodeId(0),
        path: vec!["Build".to_owned()],
    }
}

fn text(store: &SledStore, id: &BuildRef) -> String {
    String::from_utf8(store.read_log(id, 0, usize::MAX).unwrap().bytes).unwrap()
}

/// Guards issue 12: a resumed build's log was compared with its stored log sentence by
/// sentence, so rewording a message (or kiln's upload line, written in four places) broke
/// resume silently. Here every kiln-worded line of the resumed run says something else than
/// the stored one, and nothing is written twice: the record's kinds, process keys and
/// offsets decide.
#[tokio::test]
async fn rewording_lines_cannot_break_resume() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SledStore::open(dir.path()).unwrap());
    let id = store
        .create_build(&JobName::new("j").unwrap(), NewBuild::default())
        .unwrap()
        .id;
    let mut first = recorder(&store, &id);
    for ev in [
        log(LineKind::Text, "Started by user alice"),
        log(
            LineKind::RunningInPod { pod: "p".into() },
            "Running in pod p",
        ),
        log(
            LineKind::WorkspaceUploaded,
            "Uploaded 3 workspace files into the pod",
        ),
        started(),
        output(&["one", "two"], 0, 8),
    ] {
        first.event(ev);
    }
    first.flush().await;
    let stored = text(&store, &id);
    assert_eq!(
        stored,
        "Started by user alice\nRunning in pod p\nUploaded 3 workspace files into the pod\n[Build] Stage started\n[Build] one\n[Build] two\n"
    );

    let mut resumed = recorder(&store, &id);
    let events = store.read_log_events(&id).unwrap();
    resumed.resume(
        stored.len() as u64,
        events,
        "kiln: resumed in pod p".to_owned(),
    );
    for ev in [
        log(LineKind::Text, "Alice started this build"),
        log(
            LineKind::RunningInPod { pod: "p".into() },
            "Pod p runs the build",
        ),
        started(),
        output(&["one"], 0, 4),
        output(&["two", "three"], 4, 14),
    ] {
        resumed.event(ev);
    }
    resumed.flush().await;
    assert_eq!(
        text(&store, &id),
        format!("{stored}kiln: resumed in pod p\n[Build] three\n")
    );
    let kinds: Vec<LogEventKind> = store
        .read_log_events(&id)
        .unwrap()
        .into_iter()
        .skip(5)
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            LogEventKind::Resumed,
            LogEventKind::Output {
                process: "1.j.0.0.ab".into(),
                from: 8,
                to: 14,
                lines: 1
            }
        ]
    );
}
