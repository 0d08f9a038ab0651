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

/// A schedule that came due.
pub(crate) struct Due {
    pub job: String,
    pub kind: TimerKind,
    /// A `parameterizedCron` line's values (empty for other schedules).
    pub params: BTreeMap<String, String>,
    /// When it was due (ms since the epoch): the same on every controller.
    pub due_ms: u64,
}

impl Due {
    /// What fires once per due time across controllers sharing a store: the timer's kind,
    /// job and parameter values, and the due time.
    pub(crate) fn once(&self) -> kiln_store::Once {
        let kind = match self.kind {
            TimerKind::Cron => "cron",
            TimerKind::Poll => "poll",
            TimerKind::Scan => "scan",
            TimerKind::Prune => "prune",
        };
        let mut key = format!("{kind}:{}", self.job);
        for (name, value) in &self.params {
            key.push_str(&format!("\n{name}={value}"));
        }
        kiln_store::Once::Timer {
            key,
            due_ms: self.due_ms,
        }
    }
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

    /// The schedules due at `now_ms` (each job, kind and parameter values once, with the
    /// latest time it was due at), moved to their next times.
    pub(crate) fn take_due(&mut self, now_ms: u64) -> Vec<Due> {
        let mut due: Vec<Due> = Vec::new();
        for t in &mut self.timers {
            let Some(at) = t.next_ms.filter(|n| *n <= now_ms) else {
                continue;
            };
            t.next_ms = next_ms(&t.schedule, now_ms);
            match due
                .iter_mut()
                .find(|d| d.job == t.job && d.kind == t.kind && d.params == t.params)
            {
                Some(d) => d.due_ms = d.due_ms.max(at),
                None => due.push(Due {
                    job: t.job.clone(),
                    kind: t.kind,
                    params: t.params.clone(),
                    due_ms: at,
                }),
            }
        }
        self.orphans_expire.retain(|(job, at)| {
            if *at > now_ms {
                return true;
            }
            due.push(Due {
                job: job.clone(),
                kind: TimerKind::Prune,
                params: BTreeMap::new(),
                due_ms: *at,
            });
            false
        });
        due
    }
}
