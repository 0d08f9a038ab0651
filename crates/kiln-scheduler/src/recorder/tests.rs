use super::Recorder;
use crate::clock::ManualClock;
use kiln_engine::{BuildEvent, LineKind, OutputSource};
use kiln_plan::NodeId;
use kiln_store::{LogEventKind, NewBuild, SledStore, Store};
use kiln_types::{BuildRef, JobName};
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use tokio::sync::watch;

/// A store in a temporary folder (dropped with it), with one build of job `j`.
fn a_build() -> (tempfile::TempDir, Arc<SledStore>, BuildRef) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SledStore::open(dir.path()).unwrap());
    let id = store
        .create_build(&JobName::new("j").unwrap(), NewBuild::default())
        .unwrap()
        .id;
    (dir, store, id)
}

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
    let (_dir, store, id) = a_build();
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

/// A store whose log appends take a while, as an fsync on a busy disk does.
struct SlowAppends(Arc<SledStore>);

impl Store for SlowAppends {
    fn schema_version(&self) -> u32 {
        self.0.schema_version()
    }
    fn put_job(&self, job: &kiln_store::JobRecord) -> Result<(), kiln_store::StoreError> {
        self.0.put_job(job)
    }
    fn get_job(
        &self,
        name: &JobName,
    ) -> Result<Option<kiln_store::JobRecord>, kiln_store::StoreError> {
        self.0.get_job(name)
    }
    fn list_jobs(&self) -> Result<Vec<kiln_store::JobRecord>, kiln_store::StoreError> {
        self.0.list_jobs()
    }
    fn delete_job(&self, name: &JobName) -> Result<bool, kiln_store::StoreError> {
        self.0.delete_job(name)
    }
    fn create_build(
        &self,
        job: &JobName,
        new: NewBuild,
    ) -> Result<kiln_store::BuildRecord, kiln_store::StoreError> {
        self.0.create_build(job, new)
    }
    fn update_build(&self, build: &kiln_store::BuildRecord) -> Result<(), kiln_store::StoreError> {
        self.0.update_build(build)
    }
    fn get_build(
        &self,
        id: &BuildRef,
    ) -> Result<Option<kiln_store::BuildRecord>, kiln_store::StoreError> {
        self.0.get_build(id)
    }
    fn list_builds(
        &self,
        job: &JobName,
        page: kiln_store::Page,
    ) -> Result<Vec<kiln_store::BuildRecord>, kiln_store::StoreError> {
        self.0.list_builds(job, page)
    }
    fn builds_in(
        &self,
        states: &[kiln_store::BuildStatus],
    ) -> Result<Vec<kiln_store::BuildRecord>, kiln_store::StoreError> {
        self.0.builds_in(states)
    }
    fn delete_build(&self, id: &BuildRef) -> Result<(), kiln_store::StoreError> {
        self.0.delete_build(id)
    }
    fn append_log_events(
        &self,
        id: &BuildRef,
        bytes: &[u8],
        events: &[kiln_store::LogEvent],
    ) -> Result<u64, kiln_store::StoreError> {
        std::thread::sleep(std::time::Duration::from_millis(50));
        self.0.append_log_events(id, bytes, events)
    }
    fn read_log(
        &self,
        id: &BuildRef,
        offset: u64,
        max: usize,
    ) -> Result<kiln_store::LogSlice, kiln_store::StoreError> {
        self.0.read_log(id, offset, max)
    }
    fn read_log_events(
        &self,
        id: &BuildRef,
    ) -> Result<Vec<kiln_store::LogEvent>, kiln_store::StoreError> {
        self.0.read_log_events(id)
    }
    fn check_writable(&self) -> Result<(), kiln_store::StoreError> {
        self.0.check_writable()
    }
}

/// Output that arrives while an append is in flight is appended after it, in order, even
/// when nothing follows it (the engine is quiet, its channel still open), and the whole
/// log is in the store before the build ends.
#[tokio::test]
async fn output_arriving_during_an_append_is_appended_after_it() {
    let (_dir, sled, id) = a_build();
    let record = sled.get_build(&id).unwrap().unwrap();
    let (log, mut len) = watch::channel(crate::follower::LogState::default());
    let mut rec = Recorder::new(
        Arc::new(SlowAppends(sled.clone())),
        Arc::new(ManualClock::new(1_000)),
        record,
        log,
        Arc::new(AtomicUsize::new(0)),
    );
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let (_control_tx, mut control) = tokio::sync::mpsc::unbounded_channel();
    let big: Vec<String> = (0..40_000).map(|i| format!("line {i:06}")).collect();
    let big: Vec<&str> = big.iter().map(String::as_str).collect();
    tx.send(output(&big, 0, 480_000)).unwrap();
    tx.send(output(&["the last line"], 480_000, 480_014))
        .unwrap();
    let running = tokio::spawn(async move {
        rec.run(rx, &mut control).await;
        rec
    });
    // Every line is stored while the engine's channel is still open.
    let stored = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        len.wait_for(|s| s.len > 0 && text(&sled, &id).ends_with("the last line\n")),
    )
    .await;
    assert!(stored.is_ok(), "the last line was never appended");
    drop(tx);
    running.await.unwrap();
    let all = text(&sled, &id);
    assert!(
        all.lines()
            .next()
            .is_some_and(|l| l.ends_with("line 000000")),
        "{}",
        &all[..40]
    );
    assert_eq!(all.lines().count(), 40_001);
}

/// A follower of a live build gets the log's bytes as stored, in order, once each, whether
/// it reads them from the appends kept in memory or from the store, while the build's
/// output arrives in many appends.
#[tokio::test]
async fn a_live_follower_reads_the_stored_log() {
    let (_dir, sled, id) = a_build();
    let record = sled.get_build(&id).unwrap().unwrap();
    let (log, live) = watch::channel(crate::follower::LogState::default());
    let mut rec = Recorder::new(
        Arc::new(SlowAppends(sled.clone())),
        Arc::new(ManualClock::new(1_000)),
        record,
        log,
        Arc::new(AtomicUsize::new(0)),
    );
    let store: Arc<dyn Store> = sled.clone();
    let mut follower = crate::LogFollower::new(store, id.clone(), 0, Some(live), None);
    let following = tokio::spawn(async move {
        let mut got = Vec::new();
        while let Some(slice) = follower.next().await {
            let slice = slice.unwrap();
            assert_eq!(slice.offset, got.len() as u64);
            got.extend_from_slice(&slice.bytes);
        }
        got
    });
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let (_control_tx, mut control) = tokio::sync::mpsc::unbounded_channel();
    let mut from = 0;
    for batch in 0..20 {
        let lines: Vec<String> = (0..5_000).map(|i| format!("b{batch} l{i}")).collect();
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        let to = from + 1000;
        tx.send(output(&lines, from, to)).unwrap();
        from = to;
        tokio::task::yield_now().await;
    }
    drop(tx);
    rec.run(rx, &mut control).await;
    rec.close().await.unwrap();
    let got = tokio::time::timeout(std::time::Duration::from_secs(30), following)
        .await
        .expect("the follower ends once the build has")
        .unwrap();
    let stored = text(&sled, &id);
    assert_eq!(stored.lines().count(), 100_000);
    assert!(
        got == stored.as_bytes(),
        "followed {} bytes, stored {}",
        got.len(),
        stored.len()
    );
}

/// A loud build's appends go into the buffers of earlier appends that gave way in memory and
/// that no follower holds (a fresh buffer costs a page fault per 4 KiB of log text), also a
/// buffer exactly as long as its text, which emptying it as shared bytes would let go.
#[tokio::test]
async fn buffers_of_appends_that_gave_way_are_reused() {
    let (_dir, store, id) = a_build();
    let mut r = recorder(&store, &id);
    let size = crate::follower::RECENT_BYTES / 2 - 1;
    let first = vec![b'a'; size];
    assert_eq!(first.len(), first.capacity());
    let at = first.as_ptr();
    let append = |text: Vec<u8>| crate::pending_log::PendingLog {
        text,
        events: Vec::new(),
    };
    r.publish(size as u64, append(first));
    assert_eq!(r.spare.text.capacity(), 0, "still kept for followers");
    r.publish(2 * size as u64, append(vec![b'b'; size]));
    assert_eq!(r.spare.text.capacity(), 0, "both fit");
    r.publish(3 * size as u64, append(vec![b'c'; size]));
    assert_eq!(r.spare.text.as_ptr(), at, "the first append's buffer");
    assert!(r.spare.text.is_empty() && r.spare.text.capacity() >= size);
}
