//! The actor's store writes, made on a thread of their own: every write is fsync'd, and the
//! actor must never wait for a disk. Writes run one after the other in the order they were
//! handed over, through a bounded queue; the actor waits for the last of them only when it
//! stops, so a store reopened after a stop has them all.

use kiln_store::Store;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Writes waiting for the writer thread. Past this (a store far slower than the builds'
/// triggers), a write gets a blocking task of its own.
const QUEUE: usize = 1024;

type Write = Box<dyn FnOnce(&dyn Store) + Send>;

pub(crate) struct StoreWriter {
    store: Arc<dyn Store>,
    tx: Option<mpsc::Sender<Write>>,
    thread: Option<JoinHandle<()>>,
}

impl StoreWriter {
    pub(crate) fn start(store: Arc<dyn Store>) -> Self {
        let (tx, mut rx) = mpsc::channel::<Write>(QUEUE);
        let writer = store.clone();
        let thread = tokio::task::spawn_blocking(move || {
            while let Some(write) = rx.blocking_recv() {
                write(writer.as_ref());
            }
        });
        StoreWriter {
            store,
            tx: Some(tx),
            thread: Some(thread),
        }
    }

    /// Hands a write over (it runs after the writes handed over before it).
    pub(crate) fn write(&self, write: impl FnOnce(&dyn Store) + Send + 'static) {
        let write: Write = Box::new(write);
        let rejected = match &self.tx {
            Some(tx) => match tx.try_send(write) {
                Ok(()) => return,
                Err(mpsc::error::TrySendError::Full(w) | mpsc::error::TrySendError::Closed(w)) => w,
            },
            None => write,
        };
        tracing::warn!("the store's write queue is full: a write runs on its own");
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || rejected(store.as_ref()));
    }

    /// Waits until every write handed over was made.
    pub(crate) async fn finish(&mut self) {
        self.tx = None;
        if let Some(thread) = self.thread.take()
            && let Err(e) = thread.await
        {
            tracing::error!(error = %e, "the store writer failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::StoreWriter;
    use kiln_store::{NewBuild, SledStore, Store};
    use kiln_types::JobName;
    use std::sync::Arc;

    #[tokio::test]
    async fn writes_are_made_in_order_off_the_callers_task_and_finish_waits_for_them() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(SledStore::open(dir.path()).unwrap());
        let id = store
            .create_build(&JobName::new("j").unwrap(), NewBuild::default())
            .unwrap()
            .id;
        let mut writer = StoreWriter::start(store.clone());
        let caller = std::thread::current().id();
        for part in ["a", "b", "c"] {
            let id = id.clone();
            writer.write(move |store| {
                assert_ne!(std::thread::current().id(), caller);
                store.append_log(&id, part.as_bytes()).unwrap();
            });
        }
        writer.finish().await;
        assert_eq!(store.read_log(&id, 0, 10).unwrap().bytes, b"abc");
    }
}
