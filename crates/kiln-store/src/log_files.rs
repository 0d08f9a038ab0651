//! Build logs as append-only files beside the sled database, one per build in `DIR/logs/`.
//!
//! sled stores each log's length (`log_len`) and events; the file holds the text. An append
//! writes the bytes at the recorded length and syncs the file *before* the length moves in
//! sled (whose own flush makes that durable), so every byte below a recorded length is on
//! disk. Bytes past it are the remains of an append that failed or was killed: reads never
//! look at them and the next append cuts them off. Written in sled, the same text took about
//! 1.75 times its size on disk (its log rewrites pages); as a file it takes its size.

use crate::StoreError;
use crate::codec::corrupt;
use std::fs::{File, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// The folder of the log files, inside the store's directory.
pub(crate) const LOGS_DIR: &str = "logs";

/// The size of the file [`LogFiles::probe`] writes: about one batch of a build's log.
const PROBE_BYTES: usize = 64 * 1024;

/// Appends to one log are made one at a time; logs share these locks by a hash of their key.
const LOCKS: usize = 16;

/// The log files of one store.
pub(crate) struct LogFiles {
    dir: PathBuf,
    locks: [Mutex<()>; LOCKS],
}

fn io(e: std::io::Error) -> StoreError {
    StoreError::Backend(Box::new(e))
}

impl LogFiles {
    /// The log files in `store_dir/logs` (the folder is made if missing).
    pub(crate) fn open(store_dir: &Path) -> Result<LogFiles, StoreError> {
        let dir = store_dir.join(LOGS_DIR);
        std::fs::create_dir_all(&dir).map_err(io)?;
        Ok(LogFiles {
            dir,
            locks: std::array::from_fn(|_| Mutex::new(())),
        })
    }

    /// The file of the log with build key `bk`: the key in hex (job names may hold any
    /// character a file name cannot).
    pub(crate) fn path(&self, bk: &[u8]) -> PathBuf {
        let mut name = String::with_capacity(bk.len() * 2 + 4);
        for b in bk {
            name.push(char::from(HEX[usize::from(b >> 4)]));
            name.push(char::from(HEX[usize::from(b & 15)]));
        }
        name.push_str(".log");
        self.dir.join(name)
    }

    /// Holds appends to `bk`'s log off while the guard lives.
    pub(crate) fn lock(&self, bk: &[u8]) -> MutexGuard<'_, ()> {
        let slot = bk.iter().fold(0usize, |h, b| {
            h.wrapping_mul(31).wrapping_add(usize::from(*b))
        });
        self.locks[slot % LOCKS]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Writes `bytes` at `start` (the recorded length) and syncs them: what lay past `start`
    /// goes first. A file shorter than `start` lost recorded text: corrupt.
    pub(crate) fn write_at(&self, bk: &[u8], start: u64, bytes: &[u8]) -> Result<(), StoreError> {
        let path = self.path(bk);
        let created = !path.exists();
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        if len < start {
            return Err(corrupt(
                "logs",
                bk,
                "the log file is shorter than its length",
            ));
        }
        if len > start {
            file.set_len(start).map_err(io)?;
        }
        file.write_all_at(bytes, start).map_err(io)?;
        file.sync_data().map_err(io)?;
        if created {
            // The new file's name is durable once its folder is synced.
            File::open(&self.dir)
                .and_then(|d| d.sync_all())
                .map_err(io)?;
        }
        Ok(())
    }

    /// Reads `len` bytes from `offset` into `out`. The caller read the recorded length: a
    /// file without them is corrupt.
    pub(crate) fn read(
        &self,
        bk: &[u8],
        offset: u64,
        len: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), StoreError> {
        if len == 0 {
            return Ok(());
        }
        let missing = || corrupt("logs", bk, "log text is missing from its file");
        let file = match File::open(self.path(bk)) {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound => return Err(missing()),
            Err(e) => return Err(io(e)),
        };
        let at = out.len();
        out.resize(at + len, 0);
        match file.read_exact_at(&mut out[at..], offset) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => {
                out.truncate(at);
                Err(missing())
            }
            Err(e) => {
                out.truncate(at);
                Err(io(e))
            }
        }
    }

    /// Starts writing a whole log (a migration from chunks in sled): to a temporary file,
    /// synced and renamed by [`WholeLog::finish`], so a file under the log's name is whole.
    pub(crate) fn write_whole(&self, bk: &[u8]) -> Result<WholeLog, StoreError> {
        let path = self.path(bk);
        let tmp = path.with_extension("log.tmp");
        let file = File::create(&tmp).map_err(io)?;
        Ok(WholeLog {
            file,
            tmp,
            path,
            len: 0,
        })
    }

    /// Syncs the folder (after files were made or renamed in it).
    pub(crate) fn sync_dir(&self) -> Result<(), StoreError> {
        File::open(&self.dir).and_then(|d| d.sync_all()).map_err(io)
    }

    /// Whether a log append can be made now: a file of [`PROBE_BYTES`] is written, synced
    /// and removed.
    pub(crate) fn probe(&self) -> Result<(), StoreError> {
        let path = self.dir.join("write-probe");
        let written = File::create(&path).and_then(|file| {
            file.write_all_at(&[0u8; PROBE_BYTES], 0)?;
            file.sync_data()
        });
        let _ = std::fs::remove_file(&path);
        written.map_err(io)
    }

    /// Removes `bk`'s log file, if there is one.
    pub(crate) fn remove(&self, bk: &[u8]) -> Result<(), StoreError> {
        match std::fs::remove_file(self.path(bk)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(e)),
        }
    }
}

/// A log file being written whole; see [`LogFiles::write_whole`].
pub(crate) struct WholeLog {
    file: File,
    tmp: PathBuf,
    path: PathBuf,
    len: u64,
}

impl WholeLog {
    /// The bytes written so far.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    pub(crate) fn push(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        self.file.write_all_at(bytes, self.len).map_err(io)?;
        self.len += bytes.len() as u64;
        Ok(())
    }

    /// Syncs the file and gives it the log's name.
    pub(crate) fn finish(self) -> Result<(), StoreError> {
        self.file.sync_data().map_err(io)?;
        std::fs::rename(&self.tmp, &self.path).map_err(io)
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

#[cfg(test)]
mod tests {
    use super::LogFiles;

    #[test]
    fn an_append_cuts_off_what_a_failed_one_left_and_reads_stop_at_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let files = LogFiles::open(dir.path()).unwrap();
        let bk = b"job\0\0\0\0\0\0\0\0\x01";
        files.write_at(bk, 0, b"abcdef").unwrap();
        // An append to 6..9 that was never recorded: the next one at 6 replaces it.
        files.write_at(bk, 6, b"XYZ").unwrap();
        files.write_at(bk, 6, b"gh").unwrap();
        let mut out = Vec::new();
        files.read(bk, 2, 6, &mut out).unwrap();
        assert_eq!(out, b"cdefgh");
        assert!(files.read(bk, 6, 3, &mut Vec::new()).is_err());
        assert!(files.write_at(bk, 20, b"gap").is_err());
        assert!(files.path(bk).ends_with("6a6f62000000000000000001.log"));
        files.remove(bk).unwrap();
        files.remove(bk).unwrap();
        assert!(files.read(bk, 0, 1, &mut Vec::new()).is_err());
    }
}
