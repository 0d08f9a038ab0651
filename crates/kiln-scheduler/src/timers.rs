//! Cron and polling schedules of every job (from the configuration and from the last-read
//! pipeline), with the time each fires next.

use crate::shared::Shared;
use kiln_config::cron::Schedule;
use std::collections::HashMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum TimerKind {
    /// Build (`cron`).
    Cron,
    /// Fetch and build when the branch moved (`poll`, `pollSCM`).
    Poll,
    /// Scan a multibranch job's repository (`multibranch.scan`).
    Scan,
}

struct Timer {
    job: String,
    kind: TimerKind,
    schedule: Schedule,
    /// Next firing, in ms since the epoch.
    next_ms: Option<u64>,
}

#[derive(Default)]
pub(crate) struct Timers {
    timers: Vec<Timer>,
}

fn next_ms(schedule: &Schedule, now_ms: u64) -> Option<u64> {
    schedule.next_after(now_ms / 1000)?.checked_mul(1000)
}

impl Timers {
    /// Re-reads every job's schedules; a schedule that did not change keeps its next time.
    pub(crate) fn rebuild(&mut self, shared: &Shared, now_ms: u64) {
        let config = shared.config();
        let mut old: HashMap<(String, TimerKind, String), Option<u64>> = self
            .timers
            .drain(..)
            .map(|t| ((t.job, t.kind, t.schedule.spec().to_owned()), t.next_ms))
            .collect();
        for job in &config.jobs {
            let name = job.name.as_str();
            let mut add = |kind, schedule: Schedule| {
                let key = (name.to_owned(), kind, schedule.spec().to_owned());
                let next = old
                    .remove(&key)
                    .unwrap_or_else(|| next_ms(&schedule, now_ms));
                self.timers.push(Timer {
                    job: name.to_owned(),
                    kind,
                    schedule,
                    next_ms: next,
                });
            };
            if let Some(mb) = &job.multibranch {
                // A multibranch job only scans; its children's pipelines have the triggers.
                if let Some(s) = &mb.scan {
                    add(TimerKind::Scan, s.clone());
                }
                continue;
            }
            if let Some(s) = &job.triggers.cron {
                add(TimerKind::Cron, s.clone());
            }
            if let Some(s) = &job.triggers.poll {
                add(TimerKind::Poll, s.clone());
            }
            // The pipeline's literal schedules, and those its last build computed.
            let (cron, poll) = shared.pipeline_schedules(name);
            let specs = cron
                .iter()
                .map(|s| (TimerKind::Cron, s))
                .chain(poll.iter().map(|s| (TimerKind::Poll, s)));
            for (kind, spec) in specs {
                match Schedule::parse(spec, name) {
                    Ok(s) => add(kind, s),
                    Err(e) => {
                        tracing::warn!(job = name, spec = %spec, error = %e, "ignoring an invalid cron spec of the pipeline's triggers");
                    }
                }
            }
        }
    }

    /// The earliest time a schedule fires.
    pub(crate) fn next_wake(&self) -> Option<u64> {
        self.timers.iter().filter_map(|t| t.next_ms).min()
    }

    /// The schedules due at `now_ms` (each job and kind once), moved to their next times.
    pub(crate) fn take_due(&mut self, now_ms: u64) -> Vec<(String, TimerKind)> {
        let mut due = Vec::new();
        for t in &mut self.timers {
            if t.next_ms.is_some_and(|n| n <= now_ms) {
                t.next_ms = next_ms(&t.schedule, now_ms);
                let key = (t.job.clone(), t.kind);
                if !due.contains(&key) {
                    due.push(key);
                }
            }
        }
        due
    }
}
