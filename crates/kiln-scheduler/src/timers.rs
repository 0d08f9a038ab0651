//! Cron and polling schedules of every job (from the configuration and from the last-read
//! pipeline), with the time each fires next, and when each multibranch job's oldest orphaned
//! child has been kept its `days_to_keep`.

use crate::shared::Shared;
use kiln_config::cron::Schedule;
use std::collections::{BTreeMap, HashMap};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum TimerKind {
    /// Build (`cron`).
    Cron,
    /// Fetch and build when the branch moved (`poll`, `pollSCM`).
    Poll,
    /// Scan a multibranch job's repository (`multibranch.scan`).
    Scan,
    /// Remove a multibranch job's orphaned children past `days_to_keep`.
    Prune,
}

struct Timer {
    job: String,
    kind: TimerKind,
    schedule: Schedule,
    /// The parameter values of a `parameterizedCron` line (empty for other schedules).
    params: BTreeMap<String, String>,
    /// Next firing, in ms since the epoch.
    next_ms: Option<u64>,
}

#[derive(Default)]
pub(crate) struct Timers {
    timers: Vec<Timer>,
    /// Multibranch job -> when its oldest orphan's days to keep run out (fires once; the
    /// children changing reads it again).
    orphans_expire: Vec<(String, u64)>,
}

fn next_ms(schedule: &Schedule, now_ms: u64) -> Option<u64> {
    schedule.next_after(now_ms / 1000)?.checked_mul(1000)
}

impl Timers {
    /// Re-reads every job's schedules; a schedule that did not change keeps its next time.
    pub(crate) fn rebuild(&mut self, shared: &Shared, now_ms: u64) {
        let config = shared.config();
        self.orphans_expire.clear();
        type Key = (String, TimerKind, String, BTreeMap<String, String>);
        let mut old: HashMap<Key, Option<u64>> = self
            .timers
            .drain(..)
            .map(|t| {
                let key = (t.job, t.kind, t.schedule.spec().to_owned(), t.params);
                (key, t.next_ms)
            })
            .collect();
        for job in &config.jobs {
            let name = job.name.as_str();
            let mut add_with = |kind, schedule: Schedule, params: BTreeMap<String, String>| {
                let key = (name.to_owned(), kind, schedule.spec().to_owned(), params);
                let next = old
                    .remove(&key)
                    .unwrap_or_else(|| next_ms(&schedule, now_ms));
                self.timers.push(Timer {
                    job: name.to_owned(),
                    kind,
                    schedule,
                    params: key.3,
                    next_ms: next,
                });
            };
            let mut add = |kind, schedule| add_with(kind, schedule, BTreeMap::new());
            if let Some(mb) = &job.multibranch {
                // A multibranch job only scans; its children's pipelines have the triggers.
                if let Some(s) = &mb.scan {
                    add(TimerKind::Scan, s.clone());
                }
                if let Some(at) = crate::multibranch::expires_at(shared, job) {
                    self.orphans_expire.push((name.to_owned(), at));
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
            let set = shared.pipeline_schedules(name);
            let mut specs: Vec<(TimerKind, String, BTreeMap<String, String>)> = set
                .cron
                .into_iter()
                .map(|s| (TimerKind::Cron, s, BTreeMap::new()))
                .chain(
                    set.poll
                        .into_iter()
                        .map(|s| (TimerKind::Poll, s, BTreeMap::new())),
                )
                .collect();
            // Each `parameterizedCron` line is a schedule of its own, with its values.
            for text in &set.param_cron {
                match kiln_model::parse_param_cron(text) {
                    Ok(lines) => specs.extend(
                        lines
                            .into_iter()
                            .map(|l| (TimerKind::Cron, l.schedule, l.params)),
                    ),
                    Err(e) => {
                        tracing::warn!(job = name, line = e.line, error = %e.message, "ignoring an invalid parameterizedCron schedule of the pipeline's triggers");
                    }
                }
            }
            for (kind, spec, params) in specs {
                match Schedule::parse(&spec, name) {
                    Ok(s) => add_with(kind, s, params),
                    Err(e) => {
                        tracing::warn!(job = name, spec = %spec, error = %e, "ignoring an invalid cron spec of the pipeline's triggers");
                    }
                }
            }
        }
    }

    /// The earliest time a schedule fires.
    pub(crate) fn next_wake(&self) -> Option<u64> {
        let expiries = self.orphans_expire.iter().map(|(_, at)| *at);
        self.timers
            .iter()
            .filter_map(|t| t.next_ms)
            .chain(expiries)
            .min()
    }

    /// The schedules due at `now_ms` (each job, kind and parameter values once), moved to
    /// their next times.
    pub(crate) fn take_due(
        &mut self,
        now_ms: u64,
    ) -> Vec<(String, TimerKind, BTreeMap<String, String>)> {
        let mut due = Vec::new();
        for t in &mut self.timers {
            if t.next_ms.is_some_and(|n| n <= now_ms) {
                t.next_ms = next_ms(&t.schedule, now_ms);
                let key = (t.job.clone(), t.kind, t.params.clone());
                if !due.contains(&key) {
                    due.push(key);
                }
            }
        }
        self.orphans_expire.retain(|(job, at)| {
            if *at > now_ms {
                return true;
            }
            due.push((job.clone(), TimerKind::Prune, BTreeMap::new()));
            false
        });
        due
    }
}
