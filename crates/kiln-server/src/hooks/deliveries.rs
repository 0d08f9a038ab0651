//! Webhook deliveries already taken, so that a replayed or redelivered one is acknowledged
//! without building again. The newest ids are kept in memory and appended (synced) to
//! `DATA_DIR/hooks/deliveries`, which a restart reads back; the file is rewritten with the
//! newest ids when it grows past twice what is kept.

use std::collections::{HashSet, VecDeque};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Delivery ids remembered.
const KEEP: usize = 10_000;
/// The longest id accepted (forges send UUIDs).
pub const MAX_ID: usize = 128;

struct Seen {
    order: VecDeque<String>,
    set: HashSet<String>,
    /// Lines in the file now.
    lines: usize,
    /// Ids remembered ([`KEEP`]; fewer in tests).
    keep: usize,
}

impl Seen {
    fn insert(&mut self, id: String) {
        if self.set.insert(id.clone()) {
            self.order.push_back(id);
        }
        while self.order.len() > self.keep {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
    }
}

pub struct Deliveries {
    seen: Mutex<Seen>,
    path: PathBuf,
}

impl Deliveries {
    /// Reads the ids `data_dir` remembers (a missing or unreadable file starts empty, said in
    /// the server's log).
    pub fn open(data_dir: &Path) -> Deliveries {
        Deliveries::keeping(data_dir, KEEP)
    }

    fn keeping(data_dir: &Path, keep: usize) -> Deliveries {
        let path = data_dir.join("hooks").join("deliveries");
        let mut seen = Seen {
            order: VecDeque::new(),
            set: HashSet::new(),
            lines: 0,
            keep,
        };
        match std::fs::File::open(&path) {
            Ok(file) => {
                for line in std::io::BufReader::new(file).lines() {
                    match line {
                        Ok(id) if valid_id(&id) => {
                            seen.lines += 1;
                            seen.insert(id);
                        }
                        Ok(_) => seen.lines += 1,
                        Err(e) => {
                            tracing::warn!(path = %path.display(), error = %e, "cannot read the webhook deliveries seen");
                            break;
                        }
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot read the webhook deliveries seen")
            }
        }
        Deliveries {
            seen: Mutex::new(seen),
            path,
        }
    }

    /// Records `id` (forge-qualified, e.g. `github:UUID`); false when it was seen before.
    /// Blocking: the id is on disk when this returns true (a write error is logged, and the id
    /// is then only remembered until a restart).
    pub fn first_time(&self, id: &str) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.set.contains(id) {
            return false;
        }
        seen.insert(id.to_owned());
        let written = if seen.lines >= 2 * seen.keep {
            self.rewrite(&seen).map(|()| seen.lines = seen.order.len())
        } else {
            self.append(id).map(|()| seen.lines += 1)
        };
        if let Err(e) = written {
            tracing::error!(path = %self.path.display(), error = %e, "cannot store a webhook delivery id: a restart will not remember it");
        }
        true
    }

    fn append(&self, id: &str) -> std::io::Result<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        file.write_all(format!("{id}\n").as_bytes())?;
        file.sync_data()
    }

    fn rewrite(&self, seen: &Seen) -> std::io::Result<()> {
        let tmp = self.path.with_extension("tmp");
        let mut text = String::new();
        for id in &seen.order {
            text.push_str(id);
            text.push('\n');
        }
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&tmp, &self.path)
    }
}

/// What a delivery id may be: printable ASCII without spaces, at most [`MAX_ID`] bytes.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_ID && id.bytes().all(|b| b.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delivery_is_new_once_even_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let d = Deliveries::open(dir.path());
        assert!(d.first_time("github:a"));
        assert!(!d.first_time("github:a"));
        assert!(d.first_time("gitlab:a"));
        drop(d);
        let d = Deliveries::open(dir.path());
        assert!(!d.first_time("github:a"));
        assert!(!d.first_time("gitlab:a"));
        assert!(d.first_time("github:b"));
    }

    #[test]
    fn the_file_is_compacted_to_the_newest_ids() {
        let dir = tempfile::tempdir().unwrap();
        let keep = 10;
        let d = Deliveries::keeping(dir.path(), keep);
        for i in 0..=(2 * keep) {
            assert!(d.first_time(&format!("github:{i}")));
        }
        let lines = std::fs::read_to_string(dir.path().join("hooks/deliveries"))
            .unwrap()
            .lines()
            .count();
        assert_eq!(lines, keep);
        drop(d);
        let d = Deliveries::keeping(dir.path(), keep);
        assert!(!d.first_time(&format!("github:{}", 2 * keep)));
        assert!(d.first_time("github:0"), "the oldest ids are forgotten");
    }

    #[test]
    fn ids_are_printable_and_bounded() {
        assert!(valid_id("72d3162e-cc78-11e3-81ab-4c9367dc0958"));
        assert!(!valid_id(""));
        assert!(!valid_id("a b"));
        assert!(!valid_id(&"x".repeat(MAX_ID + 1)));
    }
}
