//! The build queue: FIFO within a job, round-robin across jobs, so one job with many queued
//! builds cannot starve the others.

use crate::follower::LogState;
use crate::source::Resolved;
use kiln_store::BuildRecord;
use kiln_types::BuildRef;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use tokio::sync::watch;

/// A build waiting to run.
pub(crate) struct QueuedBuild {
    pub record: BuildRecord,
    /// The source as read at trigger time (`None` after a restart: read again at start).
    pub resolved: Option<Arc<Resolved>>,
    /// Not before this time (the quiet period), in ms since the epoch.
    pub not_before_ms: u64,
    pub log: watch::Sender<LogState>,
    /// The epoch of this controller's claim on it in a shared store (see `claims.rs`);
    /// `None` on a store of one controller's.
    pub epoch: Option<u64>,
}

#[derive(Default)]
pub(crate) struct Queue {
    jobs: HashMap<String, VecDeque<QueuedBuild>>,
    /// Jobs with queued builds, in the order they get their next turn.
    order: VecDeque<String>,
    len: usize,
}

impl Queue {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Adds a build behind the job's other builds (in build-number order).
    pub(crate) fn push(&mut self, b: QueuedBuild) {
        let job = b.record.id.job.as_str().to_owned();
        let q = self.jobs.entry(job.clone()).or_default();
        let at = q
            .iter()
            .position(|o| o.record.id.number > b.record.id.number)
            .unwrap_or(q.len());
        q.insert(at, b);
        if !self.order.contains(&job) {
            self.order.push_back(job);
        }
        self.len += 1;
    }

    pub(crate) fn remove(&mut self, id: &BuildRef) -> Option<QueuedBuild> {
        let job = id.job.as_str();
        let q = self.jobs.get_mut(job)?;
        let at = q.iter().position(|b| b.record.id == *id)?;
        let b = q.remove(at);
        self.len -= 1;
        if q.is_empty() {
            self.forget(job);
        }
        b
    }

    pub(crate) fn get_mut(&mut self, id: &BuildRef) -> Option<&mut QueuedBuild> {
        self.jobs
            .get_mut(id.job.as_str())?
            .iter_mut()
            .find(|b| b.record.id == *id)
    }

    /// A job's queued builds, oldest first.
    pub(crate) fn of_job(&self, job: &str) -> impl Iterator<Item = &QueuedBuild> {
        self.jobs.get(job).into_iter().flatten()
    }

    /// Every queued build, job by job.
    pub(crate) fn ids(&self) -> Vec<BuildRef> {
        self.jobs
            .values()
            .flatten()
            .map(|b| b.record.id.clone())
            .collect()
    }

    /// The next build to start: the head of the first job (in turn order) whose head
    /// `may_start`; that job then goes to the back of the turn order.
    pub(crate) fn pop_next(
        &mut self,
        mut may_start: impl FnMut(&QueuedBuild) -> bool,
    ) -> Option<QueuedBuild> {
        let turn = self.order.iter().position(|job| {
            self.jobs
                .get(job)
                .and_then(|q| q.front())
                .is_some_and(&mut may_start)
        })?;
        let job = self.order.remove(turn)?;
        let q = self.jobs.get_mut(&job)?;
        let b = q.pop_front();
        if q.is_empty() {
            self.jobs.remove(&job);
        } else {
            self.order.push_back(job);
        }
        if b.is_some() {
            self.len -= 1;
        }
        b
    }

    /// The earliest quiet-period end among the jobs' next builds, if any is still quiet.
    pub(crate) fn next_wake(&self, now_ms: u64) -> Option<u64> {
        self.jobs
            .values()
            .filter_map(|q| q.front())
            .map(|b| b.not_before_ms)
            .filter(|t| *t > now_ms)
            .min()
    }

    fn forget(&mut self, job: &str) {
        self.jobs.remove(job);
        self.order.retain(|j| j != job);
    }
}

#[cfg(test)]
mod tests {
    use super::{Queue, QueuedBuild};
    use kiln_store::{BuildRecord, NewBuild};
    use kiln_types::{BuildRef, JobName};
    use tokio::sync::watch;

    fn build(job: &str, number: u64) -> QueuedBuild {
        QueuedBuild {
            record: BuildRecord::queued(
                BuildRef {
                    job: JobName::new(job).unwrap(),
                    number,
                },
                NewBuild::default(),
            ),
            resolved: None,
            not_before_ms: 0,
            log: watch::channel(Default::default()).0,
            epoch: None,
        }
    }

    fn drain(q: &mut Queue) -> Vec<String> {
        std::iter::from_fn(|| q.pop_next(|_| true))
            .map(|b| b.record.id.to_string())
            .collect()
    }

    #[test]
    fn round_robin_across_jobs_fifo_within() {
        let mut q = Queue::default();
        for n in 1..=3 {
            q.push(build("a", n));
        }
        q.push(build("b", 1));
        q.push(build("c", 1));
        q.push(build("b", 2));
        assert_eq!(q.len(), 6);
        assert_eq!(drain(&mut q), ["a#1", "b#1", "c#1", "a#2", "b#2", "a#3"]);
        assert_eq!(q.len(), 0);
    }

    #[test]
    fn a_blocked_job_lets_others_pass_and_keeps_its_turn() {
        let mut q = Queue::default();
        q.push(build("a", 1));
        q.push(build("b", 1));
        q.push(build("b", 2));
        let first = q.pop_next(|b| b.record.id.job.as_str() != "a").unwrap();
        assert_eq!(first.record.id.to_string(), "b#1");
        assert_eq!(drain(&mut q), ["a#1", "b#2"]);
    }

    #[test]
    fn removal_and_order_by_number() {
        let mut q = Queue::default();
        q.push(build("a", 2));
        q.push(build("a", 1));
        q.push(build("a", 3));
        let id = BuildRef {
            job: JobName::new("a").unwrap(),
            number: 2,
        };
        assert!(q.remove(&id).is_some());
        assert!(q.remove(&id).is_none());
        assert_eq!(drain(&mut q), ["a#1", "a#3"]);
    }
}
