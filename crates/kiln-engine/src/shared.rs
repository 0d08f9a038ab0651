//! The engine's two cells for plain data that a build's tasks read and change at once
//! while it runs (what a build *reports* goes to its dispatcher instead, see
//! [`crate::dispatch`]).
//!
//! [`Locked`] is a mutex for data changed in place (a stage's result, the counts behind
//! process keys); [`Snapshot`] is a value read far more often than it changes (the masker,
//! the scripts' environment layer): a reader takes an `Arc` of the current value and never
//! waits for a writer's work. Neither is ever held across an `.await`, and every change
//! under them is one assignment or one insertion, so a holder that panicked leaves the data
//! consistent: poisoning is ignored, here and nowhere else.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

/// Data several tasks of a build change in place (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct Locked<T>(Mutex<T>);

impl<T> Locked<T> {
    pub(crate) fn new(value: T) -> Self {
        Locked(Mutex::new(value))
    }

    /// The data, for one short change (never across an `.await`).
    pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<T: Clone> Locked<T> {
    /// A copy of the data.
    pub(crate) fn get(&self) -> T {
        self.lock().clone()
    }
}

/// A value read often and replaced whole now and then (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct Snapshot<T>(RwLock<Arc<T>>);

impl<T> Snapshot<T> {
    pub(crate) fn new(value: T) -> Self {
        Snapshot(RwLock::new(Arc::new(value)))
    }

    /// The current value.
    pub(crate) fn get(&self) -> Arc<T> {
        Arc::clone(&self.0.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Replaces the value by `next(current)`; concurrent updates apply one after the other,
    /// so none is lost.
    pub(crate) fn update(&self, next: impl FnOnce(&T) -> T) {
        let mut guard = self.0.write().unwrap_or_else(PoisonError::into_inner);
        let value = next(&guard);
        *guard = Arc::new(value);
    }
}

#[cfg(test)]
mod tests {
    use super::{Locked, Snapshot};
    use std::sync::Arc;

    #[test]
    fn a_snapshot_taken_before_an_update_keeps_its_value() {
        let cell = Snapshot::new(vec![1]);
        let before = cell.get();
        cell.update(|v| {
            let mut next = v.clone();
            next.push(2);
            next
        });
        assert_eq!(*before, [1]);
        assert_eq!(*cell.get(), [1, 2]);
    }

    #[test]
    fn concurrent_updates_are_all_kept() {
        let snapshot = Arc::new(Snapshot::new(0u32));
        let locked = Arc::new(Locked::new(0u32));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (s, l) = (Arc::clone(&snapshot), Arc::clone(&locked));
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        s.update(|n| n + 1);
                        *l.lock() += 1;
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(*snapshot.get(), 4000);
        assert_eq!(locked.get(), 4000);
    }

    /// The engine's files, below `dir`, with their text.
    fn sources(dir: &std::path::Path, out: &mut Vec<(std::path::PathBuf, String)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                sources(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                out.push((path, text));
            }
        }
    }

    /// Regression: shared state had a lock helper copied into seven files. This module is
    /// the engine's one place for std locks; what a build reports goes to its dispatcher.
    #[test]
    fn no_other_engine_file_names_a_std_lock() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        sources(&src, &mut files);
        assert!(files.len() > 50, "the engine's sources were not found");
        let offenders: Vec<String> = files
            .iter()
            .filter(|(path, _)| !path.ends_with("shared.rs"))
            .filter(|(_, text)| {
                ["std::sync::Mutex", "Mutex<", "RwLock", "PoisonError"]
                    .iter()
                    .any(|name| text.contains(name))
            })
            .map(|(path, _)| path.display().to_string())
            .collect();
        assert!(
            offenders.is_empty(),
            "std locks outside shared.rs: {offenders:?}"
        );
    }
}
