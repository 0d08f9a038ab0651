//! Build logs as append-only files beside the sled database, one per build in `DIR/logs/`.
//!
//! sled stores each log's length (`log_len`), its events and where each append's frames lie
//! in the file (`log_frames`, see [`Frames`]); the file holds the text, in frames (see
//! `frames.rs`: LZ4 blocks, or the text as it is where LZ4 does not shrink it). An append
//! writes its frames where the previous append's ended and syncs the file *before* the length
//! and the frames move in sled (whose own flush makes that durable), so every byte below a
//! recorded length is on disk. Bytes past the last recorded frame are the remains of an
//! append that failed or was killed: reads never look at them and the next append cuts them
//! off. Written in sled, the same text took about 1.75 times its size on disk (its log
//! rewrites pages); as a file of frames it takes its size at most.
//!
//! Before schema 4 a log file (`HEX.log`) was the text itself; the migration rewrites those
//! as frames (`HEX.lz4`).

use crate::StoreError;
use crate::codec::corrupt;
use crate::frames::{self, Frames};
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

/// The most of its buffer an append lock keeps for the next append (an append's frames are
/// encoded into it): a loud build's encoded appends are far smaller, and the sixteen locks
/// keep at most 16 MiB between them.
const KEPT_BUFFER: usize = 1024 * 1024;

/// The log files of one store.
pub(crate) struct LogFiles {
    dir: PathBuf,
    /// Each lock holds the buffer its appends encode their frames into.
    locks: [Mutex<Vec<u8>>; LOCKS],
}

/// One append's hold on its log (see [`LogFiles::lock`]).
pub(crate) struct AppendLock<'a>(MutexGuard<'a, Vec<u8>>);

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
            locks: std::array::from_fn(|_| Mutex::new(Vec::new())),
        })
    }

    /// The file of the log with build key `bk` (frames): the key in hex (job names may hold
    /// any character a file name cannot).
    pub(crate) fn path(&self, bk: &[u8]) -> PathBuf {
        self.named(bk, "lz4")
    }

    /// The file a log's text was before schema 4 (the text itself).
    pub(crate) fn text_path(&self, bk: &[u8]) -> PathBuf {
        self.named(bk, "log")
    }

    fn named(&self, bk: &[u8], extension: &str) -> PathBuf {
        let mut name = String::with_capacity(bk.len() * 2 + 4);
        for b in bk {
            name.push(char::from(HEX[usize::from(b >> 4)]));
            name.push(char::from(HEX[usize::from(b & 15)]));
        }
        name.push('.');
        name.push_str(extension);
        self.dir.join(name)
    }

    /// Holds appends to `bk`'s log off while the guard lives.
    pub(crate) fn lock(&self, bk: &[u8]) -> AppendLock<'_> {
        let slot = bk.iter().fold(0usize, |h, b| {
            h.wrapping_mul(31).wrapping_add(usize::from(*b))
        });
        AppendLock(
            self.locks[slot % LOCKS]
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }

    /// Writes `text` as frames at file offset `at` (where the log's last recorded frame
    /// ends) and syncs them: what lay past `at` goes first. A file shorter than `at` lost
    /// recorded text: corrupt. Returns where the frames are, for the log's record.
    pub(crate) fn write_at(
        &self,
        lock: &mut AppendLock<'_>,
        bk: &[u8],
        at: u64,
        text: &[u8],
    ) -> Result<Frames, StoreError> {
        let buffer = &mut *lock.0;
        buffer.clear();
        let sizes = frames::encode(text, buffer);
        let written = self.write_frames(bk, at, buffer);
        if buffer.capacity() > KEPT_BUFFER {
            *buffer = Vec::new();
        }
        written?;
        Ok(Frames { at, sizes })
    }

    fn write_frames(&self, bk: &[u8], start: u64, bytes: &[u8]) -> Result<(), StoreError> {
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

    /// Reads the text from `offset` for `len` bytes into `out`; `appends` are the log's
    /// appends (their text's start and frames) from the one holding `offset` on, in order.
    /// The caller read the recorded length: text the frames or the file lack is corrupt.
    pub(crate) fn read(
        &self,
        bk: &[u8],
        appends: &[(u64, Frames)],
        offset: u64,
        len: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), StoreError> {
        if len == 0 {
            return Ok(());
        }
        let at = out.len();
        out.reserve(len);
        let read = self.read_frames(bk, appends, offset, len, out);
        if read.is_err() {
            out.truncate(at);
        }
        read
    }

    fn read_frames(
        &self,
        bk: &[u8],
        appends: &[(u64, Frames)],
        offset: u64,
        len: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), StoreError> {
        let missing = || corrupt("logs", bk, "log text is missing from its file");
        let file = match File::open(self.path(bk)) {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound => return Err(missing()),
            Err(e) => return Err(io(e)),
        };
        let end = offset + len as u64;
        let (mut text_at, mut stored, mut frame) = (offset, Vec::new(), Vec::new());
        for (start, frames) in appends {
            let (mut t, mut f) = (*start, frames.at);
            if t > text_at {
                return Err(missing());
            }
            for &(text_len, stored_len) in &frames.sizes {
                let next = t + u64::from(text_len);
                if next > text_at && t < end {
                    stored.resize(stored_len as usize, 0);
                    file.read_exact_at(&mut stored, f).map_err(|e| {
                        if e.kind() == ErrorKind::UnexpectedEof {
                            missing()
                        } else {
                            io(e)
                        }
                    })?;
                    let damaged = |_| corrupt("logs", bk, "a frame of the log's file is damaged");
                    if t == text_at && next <= end {
                        // A whole frame (a follower's reads mostly are): decoded in place.
                        frames::decode(&stored, text_len as usize, out).map_err(damaged)?;
                    } else {
                        frame.clear();
                        frames::decode(&stored, text_len as usize, &mut frame).map_err(damaged)?;
                        let from = usize::try_from(text_at - t).unwrap_or(usize::MAX);
                        let to = usize::try_from(next.min(end) - t).unwrap_or(usize::MAX);
                        out.extend_from_slice(&frame[from..to]);
                    }
                    text_at = next.min(end);
                }
                (t, f) = (next, f + u64::from(stored_len));
            }
            if text_at >= end {
                return Ok(());
            }
        }
        Err(missing())
    }

    /// Starts writing a whole log (a migration from chunks in sled): to a temporary file,
    /// synced and renamed by [`WholeLog::finish`], so a file under the log's name is whole.
    pub(crate) fn write_whole(&self, bk: &[u8]) -> Result<WholeLog, StoreError> {
        let path = self.text_path(bk);
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

    /// Removes `bk`'s log file (and one from before schema 4), if there is one.
    pub(crate) fn remove(&self, bk: &[u8]) -> Result<(), StoreError> {
        remove_if_there(&self.path(bk))?;
        remove_if_there(&self.text_path(bk))
    }

    /// Rewrites a log file from before schema 4 (the text itself, `len` bytes of it
    /// recorded) as frames: under a temporary name, synced and renamed; the old file stays
    /// (the caller removes it once the frames are recorded). Returns the frames of each
    /// piece of [`MIGRATED_APPEND`] bytes, by where its text starts. A file shorter than
    /// `len` is kept as far as it goes (reading past that says the log is corrupt).
    pub(crate) fn frame_text_file(
        &self,
        bk: &[u8],
        len: u64,
    ) -> Result<Vec<(u64, Frames)>, StoreError> {
        let text = match File::open(self.text_path(bk)) {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io(e)),
        };
        let path = self.path(bk);
        let tmp = path.with_extension("lz4.tmp");
        let file = File::create(&tmp).map_err(io)?;
        let (mut appends, mut piece, mut encoded) = (Vec::new(), Vec::new(), Vec::new());
        let mut start = 0u64;
        while start < len {
            let want = usize::try_from(len - start)
                .unwrap_or(MIGRATED_APPEND)
                .min(MIGRATED_APPEND);
            piece.resize(want, 0);
            let got = read_up_to(&text, &mut piece, start).map_err(io)?;
            if got == 0 {
                break;
            }
            encoded.clear();
            let at = appends
                .last()
                .map_or(0, |(_, f): &(u64, Frames)| f.file_end());
            let sizes = frames::encode(&piece[..got], &mut encoded);
            file.write_all_at(&encoded, at).map_err(io)?;
            appends.push((start, Frames { at, sizes }));
            start += got as u64;
        }
        file.sync_data().map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)?;
        Ok(appends)
    }
}

/// How much text of a log from before schema 4 one frames record covers.
pub(crate) const MIGRATED_APPEND: usize = 4 * 1024 * 1024;

/// Reads into `buf` from `offset` until it is full or the file ends; returns how much.
fn read_up_to(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match file.read_at(&mut buf[got..], offset + got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Removes a file; one that is not there is fine.
pub(crate) fn remove_if_there(path: &Path) -> Result<(), StoreError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io(e)),
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
    use crate::frames::FRAME_BYTES;

    #[test]
    fn an_append_cuts_off_what_a_failed_one_left_and_reads_stop_at_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let files = LogFiles::open(dir.path()).unwrap();
        let bk = b"job\0\0\0\0\0\0\0\0\x01";
        let mut lock = files.lock(bk);
        let a = files.write_at(&mut lock, bk, 0, b"abcdef").unwrap();
        // An append that was never recorded: the next one at the same place replaces it.
        files.write_at(&mut lock, bk, a.file_end(), b"XYZ").unwrap();
        let b = files.write_at(&mut lock, bk, a.file_end(), b"gh").unwrap();
        assert!(files.write_at(&mut lock, bk, 20, b"gap").is_err());
        drop(lock);
        let appends = [(0, a), (6, b)];
        let mut out = b"before ".to_vec();
        files.read(bk, &appends, 2, 6, &mut out).unwrap();
        assert_eq!(out, b"before cdefgh");
        // Past the recorded frames, or frames that do not reach back to the offset.
        assert!(files.read(bk, &appends, 6, 3, &mut out).is_err());
        assert!(files.read(bk, &appends[1..], 2, 2, &mut out).is_err());
        assert_eq!(out, b"before cdefgh", "a failed read adds nothing");
        assert!(files.path(bk).ends_with("6a6f62000000000000000001.lz4"));
        files.remove(bk).unwrap();
        files.remove(bk).unwrap();
        assert!(files.read(bk, &appends, 0, 1, &mut Vec::new()).is_err());
    }

    #[test]
    fn reads_anywhere_in_many_frames_return_the_text() {
        let dir = tempfile::tempdir().unwrap();
        let files = LogFiles::open(dir.path()).unwrap();
        let bk = b"loud\0\0\0\0\0\0\0\0\x02";
        let text: Vec<u8> = (0..3 * FRAME_BYTES + 100)
            .map(|i| {
                if i % 10 == 9 {
                    b'\n'
                } else {
                    b'a' + (i % 7) as u8
                }
            })
            .collect();
        let mut lock = files.lock(bk);
        let first = files
            .write_at(&mut lock, bk, 0, &text[..FRAME_BYTES + 7])
            .unwrap();
        let second = files
            .write_at(&mut lock, bk, first.file_end(), &text[FRAME_BYTES + 7..])
            .unwrap();
        drop(lock);
        assert!(second.file_end() < text.len() as u64 / 4, "the text shrank");
        let appends = [(0, first), (FRAME_BYTES as u64 + 7, second)];
        for (offset, len) in [
            (0, text.len()),
            (5, 10),
            (FRAME_BYTES - 3, 20),
            (FRAME_BYTES + 5, 2 * FRAME_BYTES),
            (text.len() - 1, 1),
        ] {
            let from = appends
                .iter()
                .rposition(|(s, _)| *s <= offset as u64)
                .unwrap();
            let mut out = Vec::new();
            files
                .read(bk, &appends[from..], offset as u64, len, &mut out)
                .unwrap();
            assert!(out == text[offset..offset + len], "{offset}+{len}");
        }
    }
}
