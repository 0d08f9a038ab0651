//! The store's own tokio runtime: the [`Store`](kiln_store::Store) trait is synchronous and
//! may be called from any thread, including a runtime's worker (where blocking on another
//! runtime would panic), so each call runs as a task on this runtime while the caller waits
//! on a plain channel.

use crate::PgError;
use kiln_store::StoreError;
use std::future::Future;

/// Worker threads of the store's runtime: queries wait on the network, not the CPU.
const WORKERS: usize = 2;

pub(crate) struct Bridge {
    /// Always `Some` until dropped (taken to shut it down without blocking).
    runtime: Option<tokio::runtime::Runtime>,
}

impl Bridge {
    pub(crate) fn new() -> Result<Bridge, PgError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(WORKERS)
            .thread_name("kiln-store-pg")
            .enable_all()
            .build()
            .map_err(PgError::Runtime)?;
        Ok(Bridge {
            runtime: Some(runtime),
        })
    }

    /// The store's runtime, for work that outlives a call (unlocking a lock held past it).
    pub(crate) fn handle(&self) -> Result<tokio::runtime::Handle, PgError> {
        Ok(self
            .runtime
            .as_ref()
            .ok_or(PgError::Stopped)?
            .handle()
            .clone())
    }

    /// Runs `work` on the store's runtime and waits for its answer.
    pub(crate) fn block<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        let runtime = self.runtime.as_ref().ok_or(PgError::Stopped)?;
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        runtime.spawn(async move {
            // The caller is waiting unless it went away; then nobody needs the answer.
            let _ = tx.send(work.await);
        });
        rx.recv().map_err(|_| PgError::Stopped)?
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        // A runtime dropped on an async thread would panic; this never blocks.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
