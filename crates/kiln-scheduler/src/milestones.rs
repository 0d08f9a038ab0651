//! Milestones, as the Pipeline: Milestone Step plugin keeps them: per job, the last
//! milestone each running build passed. When build N passes milestone k, the older running
//! builds that have not passed k are superseded (the caller aborts them); a build reaching
//! k after a newer build passed it is superseded itself. Builds are forgotten when they end.
//!
//! Kept in memory: after a controller restart, builds that had passed milestones are
//! ABORTED anyway (or resumed, and pass their milestones again).

use kiln_engine::{BuildId, MilestoneOutcome};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

/// What passing a milestone decided.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Passage {
    pub outcome: MilestoneOutcome,
    /// Older builds to abort, superseded by this one.
    pub superseded: Vec<BuildId>,
}

#[derive(Default)]
pub(crate) struct Milestones {
    /// Job -> build number -> the last ordinal it passed.
    jobs: Mutex<HashMap<String, BTreeMap<u64, u32>>>,
}

impl Milestones {
    fn jobs(&self) -> MutexGuard<'_, HashMap<String, BTreeMap<u64, u32>>> {
        self.jobs.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn pass(&self, build: &BuildId, ordinal: u32) -> Passage {
        let mut jobs = self.jobs();
        let passed = jobs.entry(build.job.clone()).or_default();
        let newer = passed
            .range(build.number + 1..)
            .find(|(_, o)| **o >= ordinal)
            .map(|(n, _)| *n);
        if let Some(n) = newer {
            passed.remove(&build.number);
            return Passage {
                outcome: MilestoneOutcome::Superseded(BuildId {
                    job: build.job.clone(),
                    number: n,
                }),
                superseded: Vec::new(),
            };
        }
        passed.insert(build.number, ordinal);
        let superseded: Vec<u64> = passed
            .range(..build.number)
            .filter(|(_, o)| **o < ordinal)
            .map(|(n, _)| *n)
            .collect();
        for n in &superseded {
            passed.remove(n);
        }
        Passage {
            outcome: MilestoneOutcome::Passed,
            superseded: superseded
                .into_iter()
                .map(|number| BuildId {
                    job: build.job.clone(),
                    number,
                })
                .collect(),
        }
    }

    /// Makes a starting build known, so a newer build's milestone supersedes it even before
    /// it passed one.
    pub(crate) fn started(&self, build: &BuildId) {
        self.jobs()
            .entry(build.job.clone())
            .or_default()
            .entry(build.number)
            .or_insert(0);
    }

    pub(crate) fn forget(&self, build: &BuildId) {
        let mut jobs = self.jobs();
        if let Some(passed) = jobs.get_mut(&build.job) {
            passed.remove(&build.number);
            if passed.is_empty() {
                jobs.remove(&build.job);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(n: u64) -> BuildId {
        BuildId {
            job: "app".into(),
            number: n,
        }
    }

    #[test]
    fn a_newer_build_passing_a_milestone_supersedes_older_ones_behind_it() {
        let m = Milestones::default();
        for n in 1..=3 {
            m.started(&b(n));
        }
        assert_eq!(m.pass(&b(1), 1).superseded, vec![]);
        let p = m.pass(&b(3), 1);
        assert_eq!(p.outcome, MilestoneOutcome::Passed);
        // #1 passed milestone 1 already; #2 had not.
        assert_eq!(p.superseded, vec![b(2)]);
        // #1 reaching milestone 2 is fine until #3 passes it.
        assert_eq!(m.pass(&b(3), 2).superseded, vec![b(1)]);
    }

    #[test]
    fn an_older_build_reaching_a_passed_milestone_is_superseded() {
        let m = Milestones::default();
        m.started(&b(4));
        m.started(&b(5));
        m.pass(&b(5), 1);
        assert_eq!(m.pass(&b(4), 1).outcome, MilestoneOutcome::Superseded(b(5)));
        m.forget(&b(5));
        assert_eq!(m.pass(&b(6), 1).outcome, MilestoneOutcome::Passed);
    }
}
