//! A running build's record keeper: turns [`BuildEvent`]s into the log's events
//! ([`LogEvent`]: stage, kind, process key and output offsets, time) and their text
//! (kiln-engine's [`LogFormatter`], the format `kiln run` prints), batches them for a few
//! milliseconds, appends both durably to the store and wakes followers; keeps the build's
//! record (stages, pending input, answered inputs) up to date. A resumed build's events go
//! through a [`Replay`] first, so what the stored log already has is not written twice.

use crate::clock::Clock;
use crate::follower::LogState;
use crate::outage::Outage;
use crate::pending_log::PendingLog;
use crate::replay::Replay;
use kiln_engine::{
    BuildEvent, LineKind, LogFormatter, LogLines, LogMessage, OutputSource, PlainStyle,
    StageOutcome,
};
use kiln_plan::NodeId;
use kiln_store::{
    BuildRecord, BuildStatus, ImageRecord, InputAnswerRecord, InputRecord, LogEvent, LogEventKind,
    StagePodRecord, StageRecord, StageState, Store, StoreError,
};
use kiln_types::BuildResult;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

/// How long log lines wait to be appended together.
const BATCH: Duration = Duration::from_millis(5);
/// A batch this large is appended at once (or as soon as the append in flight is done).
const BATCH_BYTES: usize = 256 * 1024;
/// While an append is in flight, the recorder takes the engine's events until this much text
/// waits for the next one; then the engine's log credit runs out and its processes wait on
/// their pipes. Appends of a loud build so grow to what one fsync covers in its time.
const PIPELINE_BYTES: usize = 4 * 1024 * 1024;

/// An append running on a blocking thread, with what it appends (kept for a retry).
type InFlight = tokio::task::JoinHandle<(Result<u64, StoreError>, PendingLog)>;
/// How long a finished build tries to store its end while the store cannot write.
const CLOSE_WAIT: Duration = Duration::from_secs(20);

/// What the scheduler and the input handler tell a running build's recorder.
#[derive(Debug)]
pub(crate) enum Control {
    /// The build now waits for this input (the oldest unanswered one), or for none.
    Pending(Option<InputRecord>),
    /// Why the build is being stopped (recorded on the build).
    Reason(String),
    /// An input was answered (recorded, so a resumed build gets the same answer).
    Answered(InputAnswerRecord),
    /// An image build did something that must not be done twice (recorded, so a resumed
    /// build does not); `stored` is answered once the record is stored.
    Image(ImageRecord, oneshot::Sender<()>),
    /// A stage got a pod of its own, or was done with it; the sender learns when the record
    /// saying so is stored.
    StagePod(StagePodChange, oneshot::Sender<()>),
    /// The build is about to run its first process on the controller's machine; `stored`
    /// is answered once the record says so.
    RanOnController(oneshot::Sender<()>),
    /// A line about the build from outside it (a commit status that could not be reported);
    /// written unless the log has ended.
    Note(String),
}

/// What changed about a build's stage pods.
#[derive(Debug)]
pub(crate) enum StagePodChange {
    /// A stage got this pod (its steps have not run yet).
    Got(StagePodRecord),
    /// The stage (`path`, agent `seq`) was done with its pod, with this result.
    Released {
        stage: Vec<String>,
        seq: u32,
        result: kiln_types::BuildResult,
        /// The variables the build's scripts had set by then.
        env: kiln_engine::EnvChanges,
    },
}

pub(crate) struct Recorder {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    pub record: BuildRecord,
    /// Formats the engine's events as log lines (it knows the stage paths).
    formatter: LogFormatter,
    /// The text and events to append at the next flush.
    pending: PendingLog,
    /// Lines to write right after the log's first line (which says what started the build).
    deferred: Vec<(LogEventKind, String)>,
    /// Per image builder process, the offset past the output lines written so far.
    builder_ends: HashMap<String, u64>,
    /// This recorder wrote a line (the log's first line is written).
    wrote_line: bool,
    /// A resumed build: its new lines compared with the stored log.
    replay: Option<Replay>,
    /// The build was resumed after a controller restart.
    resumed: bool,
    /// A resumed build: the stages that had finished before the restart (their stored
    /// state and times are kept when the engine runs them again).
    done_before: Vec<u32>,
    /// The record changed since it was last stored.
    dirty: bool,
    /// Told when the record is next stored (see [`Control::Image`]).
    stored_acks: Vec<oneshot::Sender<()>>,
    /// The engine wrote the log's last line (`Finished: RESULT`).
    ended: bool,
    /// [`Recorder::line_before_engine`] wrote the cause line: the engine's own (its first
    /// line, of kind [`LineKind::Cause`]) is skipped.
    wrote_cause: bool,
    log: watch::Sender<LogState>,
    /// The scheduler's count of builds waiting for input.
    waiting: Arc<AtomicUsize>,
    /// Whether the store is failing to write, and what of the log was lost meanwhile.
    outage: Outage,
    /// The append in flight, while the recorder goes on taking events.
    in_flight: Option<InFlight>,
    /// The buffers of the last append, reused for the next batch (a loud build's batches
    /// are the same size, and fresh ones cost a page fault per 4 KiB).
    spare: PendingLog,
    /// The text of the last output event, its buffer reused for the next.
    scratch: String,
    /// The epoch of a refused write: another controller took the build over, so nothing
    /// more is written (see `fencing.rs`).
    fenced: Option<u64>,
}

impl Recorder {
    pub(crate) fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        record: BuildRecord,
        log: watch::Sender<LogState>,
        waiting: Arc<AtomicUsize>,
    ) -> Self {
        Recorder {
            store,
            clock,
            record,
            formatter: LogFormatter::default(),
            pending: PendingLog::default(),
            deferred: Vec::new(),
            builder_ends: HashMap::new(),
            wrote_line: false,
            replay: None,
            resumed: false,
            done_before: Vec::new(),
            dirty: false,
            stored_acks: Vec::new(),
            ended: false,
            wrote_cause: false,
            log,
            waiting,
            outage: Outage::default(),
            in_flight: None,
            spare: PendingLog::default(),
            scratch: String::new(),
            fenced: None,
        }
    }

    pub(crate) fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    /// Sets the formatter (from the plan) so stage lines get their prefixes.
    pub(crate) fn set_formatter(&mut self, formatter: LogFormatter) {
        self.formatter = formatter;
    }

    /// Resumes a build after a controller restart: `events` are its stored log's record
    /// (`len` bytes of text); what is written from now on is compared with it, and `marker`
    /// goes where new lines start.
    pub(crate) fn resume(&mut self, len: u64, events: Vec<LogEvent>, marker: String) {
        self.log.send_modify(|s| s.len = len);
        self.replay = Some(Replay::new(events, marker));
        self.resumed = true;
        self.done_before = self
            .record
            .stages
            .iter()
            .filter(|s| matches!(s.state, StageState::Done(_)))
            .map(|s| s.node)
            .collect();
    }

    /// Whether a resumed build's lines still repeat its stored log.
    pub(crate) fn replaying(&self) -> bool {
        self.replay.as_ref().is_some_and(Replay::is_matching)
    }

    /// Stops comparing a resumed build's lines with its stored log: lines written from now
    /// on are appended (after the marker, if any line is).
    pub(crate) fn end_replay(&mut self) {
        if self.replaying() {
            self.replay = None;
        }
    }

    /// Marks the record as changed; it is stored with the next flush.
    pub(crate) fn touch(&mut self) {
        self.dirty = true;
    }

    /// Adds one plain line of the build to the log (stored with the next flush).
    pub(crate) fn line(&mut self, line: &str) {
        self.message(LogEventKind::Line, line);
    }

    /// Adds one line of the build of a given kind to the log (stored with the next flush).
    pub(crate) fn message(&mut self, kind: LogEventKind, line: &str) {
        self.stage_line(None, kind, line);
    }

    /// Adds one line of a stage (or of the build) to the log.
    fn stage_line(&mut self, stage: Option<u32>, kind: LogEventKind, line: &str) {
        self.wrote_line = true;
        if self.fenced.is_some() || !self.outage.admit(self.pending.len(), line.len() + 1) {
            return;
        }
        let mut text = String::with_capacity(line.len() + 1);
        text.push_str(line);
        text.push('\n');
        self.put(stage, kind, &text);
        for (kind, d) in std::mem::take(&mut self.deferred) {
            self.message(kind, &d);
        }
    }

    /// Adds `text` (whole lines) to what is appended next as one event, past a resumed
    /// build's replay: the lines that repeat the stored log are dropped, and the marker goes
    /// before the first line that does not.
    fn put(&mut self, stage: Option<u32>, mut kind: LogEventKind, text: &str) {
        let now = self.now_ms();
        let mut text = text.as_bytes();
        if let Some(replay) = &mut self.replay {
            let lines = count_lines(text);
            let taken = replay.take(stage, &kind, lines);
            if taken.repeated >= lines {
                return;
            }
            text = &text[skip_lines(text, taken.repeated)..];
            if let (Some(new_from), LogEventKind::Output { from, lines: n, .. }) =
                (taken.new_from, &mut kind)
            {
                *from = new_from;
                *n -= taken.repeated;
            }
            if let Some(marker) = replay.marker() {
                let line = format!("{marker}\n");
                self.pending
                    .push(None, LogEventKind::Resumed, now, line.as_bytes());
            }
        }
        self.pending.push(stage, kind, now, text);
    }

    /// Adds a process's lines to the log (stored with the next flush), formatted straight
    /// into one event's text.
    fn output(&mut self, node: Option<NodeId>, lines: &LogLines, source: &OutputSource) {
        // Output is not the engine's cause line (which comes first in practice).
        self.wrote_cause = false;
        if self.replay.is_none() && self.outage.writing() {
            // Formatted straight into what is appended next (a loud build's text is copied
            // once on its way to the store).
            let now = self.now_ms();
            let formatter = &self.formatter;
            self.pending.push_with(node.map(|n| n.0), now, |buf| {
                let lines = formatter.append_output(node, lines, &PlainStyle, buf);
                LogEventKind::Output {
                    process: source.process.to_string(),
                    from: source.from,
                    to: source.to,
                    lines,
                }
            });
        } else {
            self.output_checked(node, lines, source);
        }
        if !self.wrote_line {
            self.wrote_line = true;
            for (kind, d) in std::mem::take(&mut self.deferred) {
                self.message(kind, &d);
            }
        }
    }

    /// A process's lines while a resumed build's log is compared with the stored one or
    /// the store fails to write: formatted apart first, to be compared or admitted.
    fn output_checked(&mut self, node: Option<NodeId>, lines: &LogLines, source: &OutputSource) {
        let mut text = std::mem::take(&mut self.scratch);
        text.clear();
        self.formatter
            .write_output(node, lines, &PlainStyle, &mut text);
        // While the store cannot write, a build keeps a bounded part of its output.
        if self.fenced.is_none() && self.outage.admit(self.pending.len(), text.len()) {
            let kind = LogEventKind::Output {
                process: source.process.to_string(),
                from: source.from,
                to: source.to,
                lines: count_lines(text.as_bytes()),
            };
            self.put(node.map(|n| n.0), kind, &text);
        }
        self.scratch = text;
    }

    /// A line to write after the log's first line, or now if that was written already.
    pub(crate) fn after_first_line(&mut self, kind: LogEventKind, line: &str) {
        if !self.wrote_line {
            self.deferred.push((kind, line.to_owned()));
        } else {
            self.message(kind, line);
        }
    }

    /// A line the build shows before the engine starts (e.g. waiting for a pod), stored at
    /// the next flush: the build's cause line goes first, and the engine's own cause line
    /// is then not written again.
    pub(crate) fn line_before_engine(&mut self, cause: &str, line: &LogMessage) {
        if !self.wrote_line {
            self.line(cause);
            self.wrote_cause = true;
        }
        let kind = self.line_kind(&line.kind);
        self.message(kind, &line.text);
    }

    /// Consumes the engine's events and the build's control messages until the engine is
    /// done (its event channel closes). Log text is appended by one append at a time on a
    /// blocking thread while events keep coming: the next append takes whatever gathered
    /// meanwhile (group commit), up to [`PIPELINE_BYTES`] waiting.
    pub(crate) async fn run(
        &mut self,
        mut events: mpsc::UnboundedReceiver<BuildEvent>,
        control: &mut mpsc::UnboundedReceiver<Control>,
    ) {
        let mut deadline: Option<Instant> = None;
        loop {
            // While the store fails, what is pending is tried again when the delay is over.
            let pending = self.dirty || !self.pending.is_empty();
            let flush_at = deadline.or(self.outage.retry_at().filter(|_| pending));
            let room = self.in_flight.is_none() || self.pending.len() < PIPELINE_BYTES;
            tokio::select! {
                biased;
                Some(c) = control.recv() => {
                    self.control(c);
                    self.flush().await;
                    deadline = None;
                }
                done = in_flight(&mut self.in_flight) => {
                    self.appended(done);
                    if self.pending.len() >= BATCH_BYTES {
                        self.start_append();
                    } else if !self.pending.is_empty() && deadline.is_none() {
                        deadline = Some(Instant::now() + BATCH);
                    }
                }
                ev = events.recv(), if room => match ev {
                    Some(ev) => {
                        if self.event(ev) {
                            self.flush().await;
                            deadline = None;
                        } else if self.pending.len() >= BATCH_BYTES {
                            self.start_append();
                        } else if deadline.is_none() {
                            deadline = Some(Instant::now() + BATCH);
                        }
                    }
                    None => break,
                },
                () = sleep_until(flush_at) => {
                    if self.dirty || self.in_flight.is_none() {
                        self.flush().await;
                    }
                    deadline = None;
                }
            }
        }
        while let Ok(c) = control.try_recv() {
            self.control(c);
        }
        self.flush().await;
    }

    /// Starts appending what is pending, unless an append is in flight (the next one starts
    /// when it is done) or the store's failure says to wait.
    fn start_append(&mut self) {
        if self.in_flight.is_some()
            || self.pending.is_empty()
            || !self.outage.due()
            || self.fenced.is_some()
        {
            return;
        }
        let store = self.store.clone();
        let mut spare = std::mem::take(&mut self.spare);
        // Room for a batch from the start: a buffer grown from nothing is copied at every
        // step while it is small.
        spare.text.reserve(BATCH_BYTES);
        let (id, pending) = (self.record.id.clone(), self.pending.take_reusing(spare));
        self.in_flight = Some(tokio::task::spawn_blocking(move || {
            let r = store.append_log_events(&id, &pending.text, &pending.events);
            (r, pending)
        }));
    }

    /// Takes the result of the append that was in flight: followers are woken, or on failure
    /// its text goes back before what came since (tried again later).
    fn appended(
        &mut self,
        done: Result<(Result<u64, StoreError>, PendingLog), tokio::task::JoinError>,
    ) {
        let build = self.record.id.to_string();
        match done {
            Ok((Ok(len), written)) => {
                self.outage.succeeded(&build);
                self.publish(len, written);
            }
            Ok((Err(e), pending)) => {
                if !self.refused(&e) {
                    self.outage.failed(&build, &e);
                    self.pending.put_back(pending);
                }
            }
            Err(e) => {
                tracing::error!(build = %self.record.id, error = %e, "log append task failed");
            }
        }
    }

    /// Tells followers the log is `len` bytes long now, `written` (just appended) in memory
    /// for them (see [`crate::follower::Recent`]). The buffers of an append that gave way
    /// and that no follower holds any more are kept for the next batch.
    fn publish(&mut self, len: u64, written: PendingLog) {
        let PendingLog {
            mut text,
            mut events,
        } = written;
        let start = len.saturating_sub(text.len() as u64);
        // What followers may keep is counted by its text: the buffer gives back the room it
        // has past it (glibc shrinks a large block in place, without a copy).
        text.shrink_to_fit();
        let mut gone = Vec::new();
        self.log.send_modify(|s| {
            s.len = len;
            if !text.is_empty() {
                gone = s.recent.push(start, bytes::Bytes::from(text));
            }
        });
        events.clear();
        self.spare.events = events;
        // The largest buffer no follower holds any more is the next batch's: its pages are
        // resident already, so a loud build's text is not written into fresh memory (a page
        // fault per 4 KiB) append after append.
        let reusable = gone
            .into_iter()
            .filter_map(|text| text.try_into_mut().ok())
            .max_by_key(bytes::BytesMut::capacity);
        if let Some(mut buffer) = reusable
            && buffer.capacity() > self.spare.text.capacity()
        {
            // The append's own buffer again (of a `Vec` no one else holds), emptied first so
            // that taking it back copies nothing. (Emptying the `Bytes` itself would let go
            // of a buffer that is exactly as long as its text.)
            buffer.clear();
            self.spare.text = Vec::from(buffer);
        }
    }

    /// Applies one control message.
    pub(crate) fn control(&mut self, c: Control) {
        match c {
            Control::Pending(input) => self.set_pending(input),
            Control::Reason(r) => {
                if !self.ended {
                    self.message(
                        LogEventKind::Stopping,
                        &format!("{r}: stopping the build (post conditions still run)"),
                    );
                }
                self.record.reason.get_or_insert(r);
                self.dirty = true;
            }
            Control::Answered(answer) => {
                self.record.answers.push(answer);
                self.dirty = true;
            }
            Control::Image(image, stored) => {
                self.record.images.push(image);
                self.stored_acks.push(stored);
                self.dirty = true;
            }
            Control::StagePod(change, stored) => {
                self.stage_pod(change);
                self.stored_acks.push(stored);
                self.dirty = true;
            }
            Control::RanOnController(stored) => {
                self.record.ran_on_controller = true;
                self.stored_acks.push(stored);
                self.dirty = true;
            }
            Control::Note(line) => {
                if !self.ended {
                    self.line(&line);
                }
            }
        }
    }

    fn stage_pod(&mut self, change: StagePodChange) {
        match change {
            StagePodChange::Got(pod) => {
                let pods = &mut self.record.stage_pods;
                pods.retain(|p| !(p.stage == pod.stage && p.seq == pod.seq));
                pods.push(pod);
            }
            StagePodChange::Released {
                stage,
                seq,
                result,
                env,
            } => {
                let pods = &mut self.record.stage_pods;
                if let Some(p) = pods.iter_mut().find(|p| p.stage == stage && p.seq == seq) {
                    p.released = Some(result);
                    p.env = env;
                }
            }
        }
    }

    /// Whether stage `node` had finished before the build was resumed (its stored state and
    /// times stand).
    pub(crate) fn done_before(&self, node: u32) -> bool {
        self.done_before.contains(&node)
    }

    fn set_pending(&mut self, input: Option<InputRecord>) {
        let was = self.record.status == BuildStatus::WaitingForInput;
        let now = input.is_some();
        if was != now {
            if now {
                self.waiting.fetch_add(1, Ordering::Relaxed);
            } else {
                self.waiting.fetch_sub(1, Ordering::Relaxed);
            }
        }
        if let Some(i) = &input {
            let line = format!(
                "Waiting for input `{}`: {} (approve with `kiln approve {}`, or abort)",
                i.id, i.message, self.record.id
            );
            self.message(LogEventKind::WaitingForInput, &line);
        }
        self.record.status = if now {
            BuildStatus::WaitingForInput
        } else {
            BuildStatus::Running
        };
        self.record.pending_input = input;
        self.dirty = true;
    }

    /// Applies one engine event; says whether it should be stored at once (stage changes).
    fn event(&mut self, ev: BuildEvent) -> bool {
        if let BuildEvent::Output {
            node,
            lines,
            source,
        } = &ev
        {
            self.output(*node, lines, source);
            return false;
        }
        let ev = self.resumed_finish(ev);
        if let Some(line) = self.formatter.line(&ev) {
            self.ended |= line.ends_log();
            let text = line.to_string();
            if let (BuildEvent::StageFinished { node, .. }, Some(replay)) = (&ev, &mut self.replay)
                && self.done_before.contains(&node.0)
            {
                replay.expect_stage_end(node.0);
            }
            let engine_cause = matches!(
                ev,
                BuildEvent::Log {
                    kind: LineKind::Cause,
                    ..
                }
            );
            if !(std::mem::take(&mut self.wrote_cause) && engine_cause) {
                let (stage, kind) = self.event_kind(&ev);
                self.stage_line(stage, kind, &text);
            }
        }
        match ev {
            BuildEvent::StageStarted { node, path } => {
                let now = self.now_ms();
                let resumed = self.resumed;
                if self.done_before.contains(&node.0) {
                    return false;
                }
                let s = self.stage(node, &path);
                s.state = StageState::Running;
                // A resumed build keeps when its stages first started.
                if !(resumed && s.started_at_ms.is_some()) {
                    s.started_at_ms = Some(now);
                }
                self.dirty = true;
                true
            }
            BuildEvent::StageFinished {
                node,
                path,
                outcome,
                duration,
                failed_step,
            } => {
                if self.done_before.contains(&node.0) {
                    return false;
                }
                let s = self.stage(node, &path);
                s.state = StageState::Done(outcome);
                s.duration_ms = matches!(outcome, StageOutcome::Ran(_)).then(|| millis(duration));
                s.failed_step = failed_step.map(|f| kiln_store::FailedStepRecord {
                    step: f.step,
                    label: f.label,
                    message: f.message,
                });
                self.dirty = true;
                true
            }
            BuildEvent::Log { .. }
            | BuildEvent::Output { .. }
            | BuildEvent::Notice { .. }
            | BuildEvent::BuildFinished { .. } => false,
        }
    }

    /// The stage and record kind of an engine event's line.
    fn event_kind(&mut self, ev: &BuildEvent) -> (Option<u32>, LogEventKind) {
        match ev {
            BuildEvent::StageStarted { node, .. } => (Some(node.0), LogEventKind::StageStarted),
            BuildEvent::StageFinished { node, .. } => (Some(node.0), LogEventKind::StageFinished),
            BuildEvent::Log { node, kind, .. } => (node.map(|n| n.0), self.line_kind(kind)),
            BuildEvent::Notice { .. } => (None, LogEventKind::Notice),
            BuildEvent::Output { .. } | BuildEvent::BuildFinished { .. } => {
                (None, LogEventKind::Line)
            }
        }
    }

    /// The record's kind of a line the engine wrote. An image builder's output line is
    /// output of the builder's process, from where its previous line ended.
    fn line_kind(&mut self, kind: &LineKind) -> LogEventKind {
        match kind {
            LineKind::Text | LineKind::Cause | LineKind::BuildEnd => LogEventKind::Line,
            LineKind::RunningInPod { pod } => LogEventKind::RunningInPod { pod: pod.clone() },
            LineKind::WorkspaceUploaded => LogEventKind::WorkspaceUploaded,
            LineKind::WaitingForPod => LogEventKind::WaitingForPod,
            LineKind::PodFromWarmPool => LogEventKind::PodFromWarmPool,
            LineKind::BuilderPodStarted { pod } => {
                LogEventKind::BuilderPodStarted { pod: pod.clone() }
            }
            LineKind::BuilderOutput { process, end } => {
                let from = self.builder_ends.insert(process.clone(), *end);
                LogEventKind::Output {
                    process: process.clone(),
                    from: from.unwrap_or(0),
                    to: *end,
                    lines: 1,
                }
            }
        }
    }

    /// A resumed build's stage ends with its whole duration: the stored one (and the stored
    /// outcome) for a stage that had finished before the restart (so that its line repeats
    /// the stored log's, also for a stage that is not run again, see
    /// `kiln_engine::Provision::Finished`), and from its first start for the stage that ran
    /// across the restart.
    fn resumed_finish(&self, ev: BuildEvent) -> BuildEvent {
        let BuildEvent::StageFinished {
            node,
            path,
            outcome,
            duration,
            failed_step,
        } = ev
        else {
            return ev;
        };
        let stored = self.record.stages.iter().find(|s| s.node == node.0);
        let (outcome, duration) = match stored {
            Some(s) if self.resumed && self.done_before.contains(&node.0) => {
                let outcome = match s.state {
                    StageState::Done(stored) => stored,
                    _ => outcome,
                };
                (
                    outcome,
                    s.duration_ms.map_or(duration, Duration::from_millis),
                )
            }
            Some(s) if self.resumed => (
                outcome,
                s.started_at_ms.map_or(duration, |t| {
                    duration.max(Duration::from_millis(self.now_ms().saturating_sub(t)))
                }),
            ),
            _ => (outcome, duration),
        };
        BuildEvent::StageFinished {
            node,
            path,
            outcome,
            duration,
            failed_step,
        }
    }

    /// The record of stage `node`; a stage a script started (past the plan's nodes) is
    /// added when first seen.
    pub(crate) fn stage(&mut self, node: NodeId, path: &[String]) -> &mut StageRecord {
        let stages = &mut self.record.stages;
        let index = match stages.iter().position(|s| s.node == node.0) {
            Some(i) => i,
            None => {
                let parent = path
                    .split_last()
                    .and_then(|(_, up)| stages.iter().find(|s| s.path == up).map(|s| s.node));
                stages.push(StageRecord {
                    node: node.0,
                    path: path.to_vec(),
                    state: StageState::Pending,
                    started_at_ms: None,
                    duration_ms: None,
                    parent,
                    kind: kiln_store::StageKind::Steps,
                    failed_step: None,
                });
                stages.len() - 1
            }
        };
        &mut stages[index]
    }

    /// Appends the pending lines and stores the record if it changed, then wakes followers.
    /// A failed write is retried with the next flush (and reported once per failure).
    pub(crate) async fn flush(&mut self) {
        // The append in flight comes first: the record must not say more than the log.
        if self.in_flight.is_some() {
            let done = in_flight(&mut self.in_flight).await;
            self.appended(done);
        }
        if !self.outage.due() || self.fenced.is_some() {
            return;
        }
        let build = self.record.id.to_string();
        if !self.pending.is_empty() {
            self.start_append();
            if self.in_flight.is_some() {
                let done = in_flight(&mut self.in_flight).await;
                self.appended(done);
            }
            if !self.pending.is_empty() {
                return;
            }
        }
        if self.dirty {
            let store = self.store.clone();
            let record = self.record.clone();
            match blocking(move || store.update_build(&record)).await {
                Ok(()) => {
                    self.outage.succeeded(&build);
                    self.dirty = false;
                    for ack in self.stored_acks.drain(..) {
                        let _ = ack.send(());
                    }
                }
                Err(e) if self.refused(&e) => {}
                Err(e) => self.outage.failed(&build, &e),
            }
        }
    }

    /// Whether `e` refused a write because another controller took the build over: then
    /// nothing more is written, nothing is tried again.
    fn refused(&mut self, e: &StoreError) -> bool {
        let StoreError::Fenced { epoch, .. } = e else {
            return false;
        };
        self.fenced = Some(*epoch);
        drop(self.pending.take());
        self.dirty = false;
        self.stored_acks.clear();
        true
    }

    /// Stores the finished record (after the last lines) and tells followers the log ends.
    /// While the store cannot write, tries again for up to [`CLOSE_WAIT`]; a build whose log
    /// lost lines while the store could not write fails, saying so.
    pub(crate) async fn close(&mut self) -> Result<(), StoreError> {
        if self.record.status == BuildStatus::WaitingForInput {
            self.waiting.fetch_sub(1, Ordering::Relaxed);
        }
        self.record.status = BuildStatus::Finished;
        self.record.pending_input = None;
        self.dirty = true;
        let give_up = Instant::now() + CLOSE_WAIT;
        while self.fenced.is_none() {
            if let Some(lost) = self.outage.lost()
                && self.outage.due()
                && self.record.reason.as_deref() != Some(lost.as_str())
            {
                self.mark_lost(lost);
            }
            self.flush().await;
            if !self.dirty && self.pending.is_empty() {
                break;
            }
            let Some(retry_at) = self.outage.retry_at().filter(|at| *at < give_up) else {
                break;
            };
            tokio::time::sleep_until(retry_at).await;
        }
        // Followers that are behind read the rest from the store; the memory goes now.
        self.log.send_modify(|s| {
            s.finished = true;
            s.recent.clear();
        });
        if let Some(epoch) = self.fenced {
            return Err(StoreError::Fenced {
                build: self.record.id.to_string(),
                epoch,
            });
        }
        if self.dirty || !self.pending.is_empty() {
            return Err(StoreError::Backend(
                format!(
                    "the store could not write the build's end within {} s",
                    CLOSE_WAIT.as_secs()
                )
                .into(),
            ));
        }
        Ok(())
    }

    /// The build lost log lines: it fails, and its log and reason say why.
    fn mark_lost(&mut self, lost: String) {
        if matches!(
            self.record.result,
            None | Some(BuildResult::Success | BuildResult::Unstable)
        ) {
            self.record.result = Some(BuildResult::Failure);
        }
        let now = self.now_ms();
        let line = format!("kiln: {lost}\n");
        self.pending
            .push(None, LogEventKind::LinesLost, now, line.as_bytes());
        self.record.reason = Some(lost);
        self.dirty = true;
    }
}

/// The end of the append in flight (pending for ever when there is none); the slot is
/// emptied.
async fn in_flight(
    slot: &mut Option<InFlight>,
) -> Result<(Result<u64, StoreError>, PendingLog), tokio::task::JoinError> {
    match slot {
        Some(task) => {
            let done = task.await;
            *slot = None;
            done
        }
        None => std::future::pending().await,
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// Runs a store call off the async threads.
pub(crate) async fn blocking<T: Send + 'static, E: From<StoreError> + Send + 'static>(
    f: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, E> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(e) => Err(E::from(StoreError::Backend(Box::new(e)))),
    }
}

/// How many lines `text` holds (each ends with a line break).
fn count_lines(text: &[u8]) -> u64 {
    text.iter().filter(|b| **b == b'\n').count() as u64
}

/// The offset just past the first `n` lines of `text`.
fn skip_lines(text: &[u8], n: u64) -> usize {
    if n == 0 {
        return 0;
    }
    let mut seen = 0;
    for (i, b) in text.iter().enumerate() {
        if *b == b'\n' {
            seen += 1;
            if seen == n {
                return i + 1;
            }
        }
    }
    text.len()
}

pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests;
