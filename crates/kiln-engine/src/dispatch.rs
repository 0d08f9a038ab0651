//! The build's dispatcher: the one owner of what a build reports. Stage tasks, parallel
//! branches and scripts send [`Report`]s over one channel; the dispatcher task keeps the
//! build's record (stages, tests, artifacts, reports, notices said), its copy of the log,
//! and passes the events on to whoever runs the build, in the order they were sent. Nobody
//! else touches that state, so it needs no lock; what it holds comes back when the build
//! finishes ([`Finish`](Report::Finish)).
//!
//! The channel is unbounded because reporting never waits: process output, the one kind
//! that could grow without limit, holds the build's log credit until its consumer has
//! taken it (see [`crate::log_lines`]).

use crate::log_copy::LogCopy;
use crate::{BuildEvent, Reports, StageSummary, TestSummary};
use std::collections::BTreeSet;
use std::path::PathBuf;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio::sync::oneshot;

/// A change of the build's report that adds to what the report steps recorded.
pub(crate) type AddReports = Box<dyn FnOnce(&mut Reports) + Send>;

/// What a build's tasks tell its dispatcher.
pub(crate) enum Report {
    /// An event for the build's consumer (and the log copy).
    Event(BuildEvent),
    /// A notice, passed on the first time only.
    Notice(String),
    /// A stage finished (or was skipped).
    Stage(StageSummary),
    Tests(TestSummary),
    Artifact(PathBuf),
    Reports(AddReports),
    /// The log so far, as stored logs have it.
    LogText(oneshot::Sender<String>),
    /// The record so far, taken: answered once every report sent before it is handled.
    Finish(oneshot::Sender<Record>),
}

/// What the build has produced, for its summary (stages in the order they finished).
#[derive(Default)]
pub(crate) struct Record {
    pub(crate) stages: Vec<StageSummary>,
    pub(crate) tests: Option<TestSummary>,
    pub(crate) artifacts: Vec<PathBuf>,
    pub(crate) reports: Reports,
}

pub(crate) struct Dispatcher {
    events: UnboundedSender<BuildEvent>,
    log_copy: LogCopy,
    notices: BTreeSet<String>,
    record: Record,
}

impl Dispatcher {
    /// Starts the dispatcher of a build whose events go to `events`. It runs until every
    /// sender of the returned channel is gone, so late events of a task that outlived the
    /// build still reach the consumer.
    pub(crate) fn start(
        events: UnboundedSender<BuildEvent>,
        log_copy: LogCopy,
    ) -> UnboundedSender<Report> {
        let (tx, rx) = unbounded_channel();
        let dispatcher = Dispatcher {
            events,
            log_copy,
            notices: BTreeSet::new(),
            record: Record::default(),
        };
        tokio::spawn(dispatcher.run(rx));
        tx
    }

    async fn run(mut self, mut reports: UnboundedReceiver<Report>) {
        while let Some(report) = reports.recv().await {
            self.handle(report);
        }
    }

    fn handle(&mut self, report: Report) {
        match report {
            Report::Event(event) => self.forward(event),
            Report::Notice(message) => {
                if self.notices.insert(message.clone()) {
                    self.forward(BuildEvent::Notice { message });
                }
            }
            Report::Stage(summary) => self.record.stages.push(summary),
            Report::Tests(tests) => self
                .record
                .tests
                .get_or_insert_with(TestSummary::default)
                .add(tests),
            Report::Artifact(path) => self.record.artifacts.push(path),
            Report::Reports(add) => add(&mut self.record.reports),
            Report::LogText(reply) => {
                let _ = reply.send(self.log_copy.text());
            }
            Report::Finish(reply) => {
                let _ = reply.send(std::mem::take(&mut self.record));
            }
        }
    }

    fn forward(&mut self, event: BuildEvent) {
        self.log_copy.add(&event);
        // The receiver may be gone (a caller that stopped listening); the build goes on.
        let _ = self.events.send(event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LineKind;

    fn line(text: &str) -> BuildEvent {
        BuildEvent::Log {
            node: None,
            line: text.to_owned(),
            kind: LineKind::Text,
        }
    }

    #[tokio::test]
    async fn events_keep_their_order_and_notices_are_said_once() {
        let (events, mut received) = unbounded_channel();
        let reports = Dispatcher::start(events, LogCopy::default());
        for report in [
            Report::Event(line("a")),
            Report::Notice("n".into()),
            Report::Event(line("b")),
            Report::Notice("n".into()),
        ] {
            reports.send(report).unwrap();
        }
        let (tx, rx) = oneshot::channel();
        reports.send(Report::LogText(tx)).unwrap();
        assert_eq!(rx.await.unwrap(), "a\nkiln: n\nb\n");
        let mut got = Vec::new();
        while let Ok(e) = received.try_recv() {
            got.push(match e {
                BuildEvent::Log { line, .. } => line,
                BuildEvent::Notice { message } => format!("notice {message}"),
                other => panic!("unexpected {other:?}"),
            });
        }
        assert_eq!(got, ["a", "notice n", "b"]);
    }

    #[tokio::test]
    async fn finish_answers_after_the_reports_sent_before_it() {
        let (events, _received) = unbounded_channel();
        let reports = Dispatcher::start(events, LogCopy::default());
        reports.send(Report::Artifact("a.txt".into())).unwrap();
        reports
            .send(Report::Reports(Box::new(|r: &mut Reports| {
                r.failed_tests.push(crate::FailedTest::default())
            })))
            .unwrap();
        let (tx, rx) = oneshot::channel();
        reports.send(Report::Finish(tx)).unwrap();
        let record = rx.await.unwrap();
        assert_eq!(record.artifacts, [PathBuf::from("a.txt")]);
        assert_eq!(record.reports.failed_tests.len(), 1);
    }
}
