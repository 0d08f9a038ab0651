//! The build queue: FIFO within a job, round-robin across jobs, so one job with many queued
//! builds cannot starve the others.

use crate::source::Resolved;
use kiln_store::BuildRecord;
use kiln_types::BuildRef;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

/// A build waiting to run: what the queue orders and starts it by. Its record stays in the
/// store, read when the build starts (a queued build holds about a hundred bytes here).
pub(crate) struct QueuedBuild {
    pub id: BuildRef,
    /// The record, when it is in hand anyway (a build claimed in a shared store, or resumed);
    /// `None`: read from the store when the build starts.
    pub record: Option<Box<BuildRecord>>,
    /// What a trigger must match to merge into the build while it is in its quiet period
    /// (`None` for a build without one: nothing merges into it).
    pub merge: Option<Box<MergeKey>>,
    /// The source as read at trigger time (`None` after a restart: read again at start).
    pub resolved: Option<Arc<Resolved>>,
    /// Not before this time (the quiet period), in ms since the epoch.
    pub not_before_ms: u64,
    /// The epoch of this controller's claim on it in a shared store (see `claims.rs`);
    /// `None` on a store of one controller's.
    pub epoch: Option<u64>,
}

/// The parameters and branch of a build in its quiet period: a trigger with the same joins
/// it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct MergeKey {
    pub params: BTreeMap<String, String>,
    pub branch: Option<String>,
}

impl QueuedBuild {
    /// A build whose record is in hand (claimed or resumed), to start now.
    pub(crate) fn of_record(record: BuildRecord, epoch: Option<u64>) -> Self {
        QueuedBuild {
            id: record.id.clone(),
            record: Some(Box::new(record)),
            merge: None,
            resolved: None,
            not_before_ms: 0,
            epoch,
        }
    }

    /// A build just queued (or queued again after a restart): its record is left to the
    /// store, but for what a merging trigger compares while it is quiet.
    pub(crate) fn stored(
        record: &BuildRecord,
        resolved: Option<Arc<Resolved>>,
        not_before_ms: u64,
    ) -> Self {
        let merge = (not_before_ms > 0).then(|| {
            Box::new(MergeKey {
                params: record.params.clone(),
                branch: record.branch.clone(),
            })
        });
        QueuedBuild {
            id: record.id.clone(),
            record: None,
            merge,
            resolved,
            not_before_ms,
            epoch: None,
        }
    }
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
        let job = b.id.job.as_str().to_owned();
        let q = self.jobs.entry(job.clone()).or_default();
        let at = q
            .iter()
            .position(|o| o.id.number > b.id.number)
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
        let at = q.iter().position(|b| b.id == *id)?;
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
            .find(|b| b.id == *id)
    }

    /// A job's queued builds, oldest first.
    pub(crate) fn of_job(&self, job: &str) -> impl Iterator<Item = &QueuedBuild> {
        self.jobs.get(job).into_iter().flatten()
    }

    /// Every queued build, job by job.
    pub(crate) fn ids(&self) -> Vec<BuildRef> {
        self.jobs.values().flatten().map(|b| b.id.clone()).collect()
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

    fn build(job: &str, number: u64) -> QueuedBuild {
        let id = BuildRef {
            job: JobName::new(job).unwrap(),
            number,
        };
        QueuedBuild::stored(&BuildRecord::queued(id, NewBuild::default()), None, 0)
    }

    fn drain(q: &mut Queue) -> Vec<String> {
        std::iter::from_fn(|| q.pop_next(|_| true))
            .map(|b| b.id.to_string())
            .collect()
    }

    /// The queue holds a thousand builds in a few pages: an entry is what the queue orders
    /// and starts builds by, not the build's record (read from the store at start).
    #[test]
    fn a_queued_build_is_small() {
        assert!(std::mem::size_of::<QueuedBuild>() <= 96);
        assert!(build("a", 1).record.is_none());
        assert!(build("a", 1).merge.is_none());
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
        let first = q.pop_next(|b| b.id.job.as_str() != "a").unwrap();
        assert_eq!(first.id.to_string(), "b#1");
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
