//! The executor of a build that may be resumed in its stage pods after a controller restart
//! although it has no pod of its own (a scripted pipeline whose `node` blocks run in pods):
//! the local executor, which records on the build, before its first process on this
//! machine starts, that the build ran one (`BuildRecord::ran_on_controller`). Such a process
//! would run again on a replay, so a build that ran one is not resumed. kiln's own `git`
//! calls (`checkout scm`) do not count: they bring the workspace to the build's commit
//! again, which a resumed build does anyway.

use crate::recorder::Control;
use async_trait::async_trait;
use kiln_executor::{ExecError, Executor, ProcessHandle, ProcessSpec, SpawnLayer};
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::{mpsc, oneshot};

/// Another executor (the build's local one) that says when it first runs a process.
pub(crate) struct ControllerWork {
    inner: std::sync::Arc<dyn Executor>,
    record: mpsc::UnboundedSender<Control>,
    told: AtomicBool,
}

impl ControllerWork {
    pub(crate) fn new(
        inner: std::sync::Arc<dyn Executor>,
        record: mpsc::UnboundedSender<Control>,
    ) -> Self {
        ControllerWork {
            inner,
            record,
            told: AtomicBool::new(false),
        }
    }
}

#[async_trait]
impl SpawnLayer for ControllerWork {
    fn inner(&self) -> &std::sync::Arc<dyn Executor> {
        &self.inner
    }

    async fn spawn(&self, spec: ProcessSpec) -> Result<ProcessHandle, ExecError> {
        let own_git = spec.argv.first().is_some_and(|a| a == "git");
        if !own_git && !self.told.swap(true, Ordering::AcqRel) {
            let (stored, ack) = oneshot::channel();
            if self.record.send(Control::RanOnController(stored)).is_ok() {
                let _ = ack.await;
            }
        }
        self.inner.spawn(spec).await
    }
}
