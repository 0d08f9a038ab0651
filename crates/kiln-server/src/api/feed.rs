//! The server-wide feed of build changes behind `GET /api/v1/events`: one watcher task, shared
//! by every subscriber, reads the store's queued, running and waiting builds and each job's
//! newest build twice a second, and broadcasts what changed (queued, started, a stage moved, an
//! input waits, finished). It runs only while someone is subscribed. Each subscriber's backlog
//! is bounded by the broadcast channel: one that falls behind is told to read the page again.

use crate::AppState;
use crate::ui::layout::{build_state, took, utc};
use kiln_store::{BuildRecord, BuildStatus, Page, StageState, StoreError};
use kiln_types::{BuildRef, JobName};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::broadcast;

/// How often the watcher reads the store.
const TICK: Duration = Duration::from_millis(500);

/// How many changes a subscriber may have unread before it is told to resynchronise.
const BACKLOG: usize = 256;

/// At most this many builds of one job that started and ended between two reads are reported.
const MISSED: u64 = 10;

/// What changed about a build; the event's name in the stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    Queued,
    Started,
    /// A stage started or ended, or an input was answered.
    Stage,
    /// The build waits for an input.
    Input,
    Finished,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Queued => "queued",
            ChangeKind::Started => "started",
            ChangeKind::Stage => "stage",
            ChangeKind::Input => "input",
            ChangeKind::Finished => "finished",
        }
    }
}

/// A build as the dashboard and job pages show it, formatted by the server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BuildSummary {
    pub job: String,
    pub number: u64,
    /// The badge: a result, or `QUEUED`, `RUNNING`, `WAITING`.
    pub state: &'static str,
    pub label: &'static str,
    pub cause: String,
    /// The commit's first twelve characters.
    pub commit: Option<String>,
    pub branch: Option<String>,
    pub started: Option<String>,
    /// How long it took, once finished.
    pub took: String,
    /// Each stage's node and state (`pending`, `running`, or its outcome).
    pub stages: Vec<(u32, String)>,
}

impl BuildSummary {
    pub fn of(b: &BuildRecord) -> BuildSummary {
        let (state, label) = build_state(b);
        BuildSummary {
            job: b.id.job.as_str().to_owned(),
            number: b.id.number,
            state,
            label,
            cause: b.cause.clone(),
            commit: b
                .commit
                .as_deref()
                .map(|c| c.get(..12).unwrap_or(c).to_owned()),
            branch: b.branch.clone(),
            started: b.started_at_ms.map(utc),
            took: took(b),
            stages: b
                .stages
                .iter()
                .map(|s| {
                    let state = match s.state {
                        StageState::Pending => "pending".to_owned(),
                        StageState::Running => "running".to_owned(),
                        StageState::Done(o) => o.label().to_owned(),
                    };
                    (s.node, state)
                })
                .collect(),
        }
    }

    fn finished(&self) -> bool {
        !matches!(self.state, "QUEUED" | "RUNNING" | "WAITING")
    }
}

/// One change, as broadcast.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub seq: u64,
    pub kind: ChangeKind,
    pub build: BuildSummary,
}

/// What changed from `old` (unknown when `None`) to `new`, if anything did.
pub fn change_kind(old: Option<&BuildSummary>, new: &BuildSummary) -> Option<ChangeKind> {
    if old == Some(new) {
        return None;
    }
    if new.finished() {
        return Some(ChangeKind::Finished);
    }
    Some(match (old.map(|o| o.state), new.state) {
        (_, "WAITING") => ChangeKind::Input,
        (None, "QUEUED") => ChangeKind::Queued,
        (None | Some("QUEUED"), _) => ChangeKind::Started,
        _ => ChangeKind::Stage,
    })
}

/// The shared watcher's channel, while it runs.
#[derive(Default)]
pub struct BuildFeed {
    sender: Mutex<Option<broadcast::Sender<Arc<Change>>>>,
}

impl BuildFeed {
    /// A receiver of every change from now on; starts the watcher if it is not running.
    pub fn subscribe(&self, state: &AppState) -> broadcast::Receiver<Arc<Change>> {
        let mut slot = self.lock();
        if let Some(sender) = slot.as_ref() {
            return sender.subscribe();
        }
        let (sender, receiver) = broadcast::channel(BACKLOG);
        *slot = Some(sender.clone());
        tokio::spawn(watch(state.clone(), sender));
        receiver
    }

    /// Ends the watcher's turn when nobody listens any more (checked under the lock, so a
    /// subscriber arriving meanwhile starts a new watcher rather than joining a dying one).
    fn retire_if_unheard(&self) -> bool {
        let mut slot = self.lock();
        if slot.as_ref().is_some_and(|s| s.receiver_count() == 0) {
            *slot = None;
            return true;
        }
        false
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<broadcast::Sender<Arc<Change>>>> {
        self.sender.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The watcher: reads, compares with what it saw last, broadcasts the differences.
async fn watch(state: AppState, sender: broadcast::Sender<Arc<Change>>) {
    let mut seen = Seen::default();
    let mut first = true;
    let mut seq = 0u64;
    let mut ticks = tokio::time::interval(TICK);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if state.feed().retire_if_unheard() {
            return;
        }
        // A failed read changes nothing: the next one compares with what was seen before.
        let Some(fresh) = read(&state, &seen).await else {
            continue;
        };
        for (kind, build) in seen.update(fresh) {
            seq += 1;
            if !first {
                let _ = sender.send(Arc::new(Change { seq, kind, build }));
            }
        }
        first = false;
    }
}

/// What the watcher saw at its last read: the builds it follows (queued, running, waiting,
/// and each job's newest), and each job's newest number.
#[derive(Default)]
struct Seen {
    builds: HashMap<BuildRef, BuildSummary>,
    newest: HashMap<String, u64>,
}

impl Seen {
    /// Takes a fresh read; returns what changed, in the order read.
    fn update(&mut self, fresh: Vec<BuildRecord>) -> Vec<(ChangeKind, BuildSummary)> {
        let mut changes = Vec::new();
        let mut builds = HashMap::new();
        for record in fresh {
            let summary = BuildSummary::of(&record);
            let newest = self.newest.entry(summary.job.clone()).or_insert(0);
            *newest = (*newest).max(summary.number);
            if let Some(kind) = change_kind(self.builds.get(&record.id), &summary) {
                changes.push((kind, summary.clone()));
            }
            builds.insert(record.id, summary);
        }
        self.builds = builds;
        changes
    }
}

/// Reads the builds to compare: those in `seen` again (so one that ended is read finished),
/// the queued, running and waiting ones, and each job's newest (and any it skipped).
async fn read(state: &AppState, seen: &Seen) -> Option<Vec<BuildRecord>> {
    let store = state.store_arc();
    let jobs: Vec<String> = state
        .scheduler()
        .jobs()
        .into_iter()
        .map(|j| j.name)
        .collect();
    let again: Vec<BuildRef> = seen.builds.keys().cloned().collect();
    let newest = seen.newest.clone();
    let read = tokio::task::spawn_blocking(move || -> Result<_, StoreError> {
        let mut out: HashMap<BuildRef, BuildRecord> = HashMap::new();
        for id in again {
            if let Some(b) = store.get_build(&id)? {
                out.insert(id, b);
            }
        }
        let active = [
            BuildStatus::Queued,
            BuildStatus::Running,
            BuildStatus::WaitingForInput,
        ];
        for b in store.builds_in(&active)? {
            out.insert(b.id.clone(), b);
        }
        for name in jobs {
            let Ok(job) = JobName::new(&name) else {
                continue;
            };
            let known = newest.get(&name).copied();
            for b in newest_builds(store.as_ref(), &job, known)? {
                out.entry(b.id.clone()).or_insert(b);
            }
        }
        let mut out: Vec<BuildRecord> = out.into_values().collect();
        out.sort_by(|a, b| (a.queued_at_ms, &a.id).cmp(&(b.queued_at_ms, &b.id)));
        Ok(out)
    });
    match read.await {
        Ok(Ok(fresh)) => Some(fresh),
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "the build feed cannot read the store");
            None
        }
        Err(err) => {
            tracing::warn!(error = %err, "the build feed's read stopped");
            None
        }
    }
}

/// A job's newest build, and the ones before it numbered above `known` (those that came and
/// went between two reads), at most [`MISSED`].
fn newest_builds(
    store: &dyn kiln_store::Store,
    job: &JobName,
    known: Option<u64>,
) -> Result<Vec<BuildRecord>, StoreError> {
    let one = Page {
        before: None,
        limit: 1,
    };
    let newest = store.list_builds(job, one)?;
    let (Some(first), Some(known)) = (newest.first(), known) else {
        return Ok(newest);
    };
    let gap = first.id.number.saturating_sub(known);
    if gap <= 1 {
        return Ok(newest);
    }
    let page = Page {
        before: None,
        limit: usize::try_from(gap.min(MISSED)).unwrap_or(1),
    };
    store.list_builds(job, page)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(state: &'static str, stages: &[(u32, &str)]) -> BuildSummary {
        BuildSummary {
            job: "app".into(),
            number: 1,
            state,
            label: state,
            cause: "user".into(),
            commit: None,
            branch: None,
            started: None,
            took: String::new(),
            stages: stages.iter().map(|(n, s)| (*n, (*s).to_owned())).collect(),
        }
    }

    #[test]
    fn changes_are_named_by_what_moved() {
        let queued = summary("QUEUED", &[]);
        let running = summary("RUNNING", &[(1, "running")]);
        let next = summary("RUNNING", &[(1, "success"), (2, "running")]);
        let waiting = summary("WAITING", &[(1, "success"), (2, "running")]);
        let done = summary("SUCCESS", &[(1, "success"), (2, "success")]);
        let check = |old: Option<&BuildSummary>, new: &BuildSummary| change_kind(old, new);
        assert_eq!(check(None, &queued), Some(ChangeKind::Queued));
        assert_eq!(check(Some(&queued), &queued), None);
        assert_eq!(check(Some(&queued), &running), Some(ChangeKind::Started));
        assert_eq!(check(None, &running), Some(ChangeKind::Started));
        assert_eq!(check(Some(&running), &next), Some(ChangeKind::Stage));
        assert_eq!(check(Some(&next), &waiting), Some(ChangeKind::Input));
        assert_eq!(check(Some(&waiting), &next), Some(ChangeKind::Stage));
        assert_eq!(check(Some(&next), &done), Some(ChangeKind::Finished));
        assert_eq!(check(None, &done), Some(ChangeKind::Finished));
        assert_eq!(check(Some(&done), &done), None);
    }

    #[test]
    fn a_build_read_again_is_reported_once_per_change() {
        let id = BuildRef {
            job: JobName::new("app").unwrap(),
            number: 1,
        };
        let mut b = BuildRecord::queued(id, kiln_store::NewBuild::default());
        let mut seen = Seen::default();
        let mut kinds = |b: &BuildRecord| -> Vec<ChangeKind> {
            seen.update(vec![b.clone()])
                .into_iter()
                .map(|(k, _)| k)
                .collect()
        };
        assert_eq!(kinds(&b), [ChangeKind::Queued]);
        assert_eq!(kinds(&b), []);
        b.status = BuildStatus::Running;
        b.started_at_ms = Some(5);
        assert_eq!(kinds(&b), [ChangeKind::Started]);
        b.status = BuildStatus::Finished;
        b.result = Some(kiln_types::BuildResult::Success);
        b.finished_at_ms = Some(9);
        assert_eq!(kinds(&b), [ChangeKind::Finished]);
        assert_eq!(kinds(&b), []);
    }
}
