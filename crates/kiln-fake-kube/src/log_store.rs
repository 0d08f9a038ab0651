//! Container output: one buffer per container run, the current and the previous one kept, so
//! `kubectl logs` (and `--previous`, `-f`) can read them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::watch;

/// The output of one run of one container.
pub struct LogBuffer {
    data: Mutex<(Vec<u8>, bool)>,
    changed: watch::Sender<u64>,
}

impl LogBuffer {
    fn new() -> Self {
        Self {
            data: Mutex::new((Vec::new(), false)),
            changed: watch::channel(0).0,
        }
    }

    fn lock(&self) -> MutexGuard<'_, (Vec<u8>, bool)> {
        self.data
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Appends output.
    pub fn append(&self, bytes: &[u8]) {
        self.lock().0.extend_from_slice(bytes);
        self.changed.send_modify(|n| *n += 1);
    }

    /// Marks the run finished; followers stop after the last byte.
    pub fn close(&self) {
        self.lock().1 = true;
        self.changed.send_modify(|n| *n += 1);
    }

    /// The bytes from `offset` on and whether the run has finished.
    pub fn read_from(&self, offset: usize) -> (Vec<u8>, bool) {
        let guard = self.lock();
        (guard.0.get(offset..).unwrap_or_default().to_vec(), guard.1)
    }

    /// A receiver that changes on every append and on close.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }
}

#[derive(Default)]
struct Runs {
    current: Option<Arc<LogBuffer>>,
    previous: Option<Arc<LogBuffer>>,
}

/// Logs of every container, by pod uid and container name.
#[derive(Clone, Default)]
pub struct LogStore {
    runs: Arc<Mutex<HashMap<(String, String), Runs>>>,
}

impl LogStore {
    fn lock(&self) -> MutexGuard<'_, HashMap<(String, String), Runs>> {
        self.runs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Starts a new run's buffer; the last run becomes the previous one.
    pub fn start_run(&self, uid: &str, container: &str) -> Arc<LogBuffer> {
        let buffer = Arc::new(LogBuffer::new());
        let mut runs = self.lock();
        let entry = runs
            .entry((uid.to_owned(), container.to_owned()))
            .or_default();
        entry.previous = entry.current.replace(Arc::clone(&buffer));
        buffer
    }

    /// The current (or previous) run's buffer.
    pub fn get(&self, uid: &str, container: &str, previous: bool) -> Option<Arc<LogBuffer>> {
        let runs = self.lock();
        let entry = runs.get(&(uid.to_owned(), container.to_owned()))?;
        if previous {
            entry.previous.clone()
        } else {
            entry.current.clone()
        }
    }

    /// Drops a pod's logs.
    pub fn forget_pod(&self, uid: &str) {
        self.lock().retain(|(u, _), _| u != uid);
    }
}
