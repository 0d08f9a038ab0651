//! The output file of one process on the shared volume (`RUN_DIR/ID.out`), and how followers
//! read it.
//!
//! The file is a sequence of records, `stream byte (1 stdout, 2 stderr)` + `u32 BE length` +
//! the bytes, in the order the runner received them. Offsets count payload bytes only, like
//! the runner's chunk offsets. The exit status goes to `RUN_DIR/ID.exit` (JSON) once known.
//! A follower reads the file rather than a queue in memory, so a follower that starts late (a
//! re-attach after a connection loss) and one that started with the process see the same
//! bytes, and a slow controller never makes the process wait.

use crate::protocol::Stream;
use serde::{Deserialize, Serialize};
use std::io;
use std::path::{Path, PathBuf};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt, BufReader};
use tokio::sync::watch;

const RECORD_HEAD: u64 = 5;

/// How a process ended, as kept in `ID.exit`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Ended {
    Code(i32),
    Signal(i32),
    /// The runner lost the process without a status (reported as a failure).
    Lost(String),
}

/// How far a process's output file has been written, and whether the process has ended.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Bytes of complete records in the file.
    pub file_len: u64,
    pub ended: Option<Ended>,
}

/// The paths of a process's files.
#[derive(Clone, Debug)]
pub struct LogPaths {
    pub out: PathBuf,
    pub exit: PathBuf,
}

impl LogPaths {
    pub fn new(run_dir: &Path, id: &str) -> Self {
        LogPaths {
            out: run_dir.join(format!("{id}.out")),
            exit: run_dir.join(format!("{id}.exit")),
        }
    }
}

/// Appends records to a new output file and publishes the progress.
pub struct LogWriter {
    file: tokio::fs::File,
    paths: LogPaths,
    progress: watch::Sender<Progress>,
}

impl LogWriter {
    /// Creates the file; fails if it exists (an id is never reused).
    pub async fn create(paths: LogPaths) -> io::Result<(Self, watch::Receiver<Progress>)> {
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&paths.out)
            .await?;
        let (progress, rx) = watch::channel(Progress::default());
        Ok((
            LogWriter {
                file,
                paths,
                progress,
            },
            rx,
        ))
    }

    pub async fn append(&mut self, stream: Stream, bytes: &[u8]) -> io::Result<()> {
        let len = u32::try_from(bytes.len()).map_err(io::Error::other)?;
        let mut record = Vec::with_capacity(bytes.len() + 5);
        record.push(match stream {
            Stream::Stdout => 1,
            Stream::Stderr => 2,
        });
        record.extend_from_slice(&len.to_be_bytes());
        record.extend_from_slice(bytes);
        self.file.write_all(&record).await?;
        // tokio's File hands writes to a blocking thread; flushing waits until the bytes are
        // in the file, so a follower reading up to `file_len` finds them.
        self.file.flush().await?;
        self.progress
            .send_modify(|p| p.file_len += record.len() as u64);
        Ok(())
    }

    /// Records the end: `ID.exit` first, then the followers learn it.
    pub async fn finish(mut self, ended: Ended) {
        if let Err(error) = self.file.flush().await {
            tracing::warn!(%error, path = %self.paths.out.display(), "cannot flush the output file");
        }
        match serde_json::to_vec(&ended) {
            Ok(json) => {
                if let Err(error) = tokio::fs::write(&self.paths.exit, json).await {
                    tracing::warn!(%error, path = %self.paths.exit.display(), "cannot write the exit file");
                }
            }
            Err(error) => tracing::warn!(%error, "cannot encode the exit status"),
        }
        self.progress.send_modify(|p| p.ended = Some(ended));
    }
}

/// The progress of a process this agent did not start (an earlier agent in the same container
/// did): the file as it is, and the exit file if there is one.
pub async fn progress_from_disk(paths: &LogPaths) -> io::Result<Progress> {
    let file_len = tokio::fs::metadata(&paths.out).await?.len();
    let ended = match tokio::fs::read(&paths.exit).await {
        Ok(bytes) => Some(serde_json::from_slice(&bytes).map_err(io::Error::other)?),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    Ok(Progress { file_len, ended })
}

/// One piece of output read back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Piece {
    pub stream: Stream,
    pub offset: u64,
    pub bytes: Vec<u8>,
}

/// Reads an output file from a payload offset on, record by record.
pub struct LogReader {
    reader: BufReader<tokio::fs::File>,
    file_pos: u64,
    payload_pos: u64,
    from: u64,
}

impl LogReader {
    pub async fn open(path: &Path, from: u64) -> io::Result<Self> {
        let file = tokio::fs::File::open(path).await?;
        Ok(LogReader {
            reader: BufReader::new(file),
            file_pos: 0,
            payload_pos: 0,
            from,
        })
    }

    /// The next piece at or after the start offset among the records below `file_len`, or
    /// `None` when everything below `file_len` has been read. Records before the start
    /// offset are skipped with a seek, not read.
    pub async fn next(&mut self, file_len: u64) -> io::Result<Option<Piece>> {
        while self.file_pos + RECORD_HEAD <= file_len {
            let mut head = [0_u8; 5];
            self.reader.read_exact(&mut head).await?;
            let stream = match head[0] {
                1 => Stream::Stdout,
                2 => Stream::Stderr,
                other => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("output file damaged: record type {other}"),
                    ));
                }
            };
            let len = u64::from(u32::from_be_bytes([head[1], head[2], head[3], head[4]]));
            let start = self.payload_pos;
            self.file_pos += RECORD_HEAD + len;
            self.payload_pos += len;
            if self.payload_pos <= self.from {
                let skip = i64::try_from(len).map_err(io::Error::other)?;
                self.reader.seek(io::SeekFrom::Current(skip)).await?;
                continue;
            }
            let mut bytes = vec![0_u8; usize::try_from(len).map_err(io::Error::other)?];
            self.reader.read_exact(&mut bytes).await?;
            let skip = usize::try_from(self.from.saturating_sub(start)).unwrap_or(0);
            let offset = start.max(self.from);
            if skip > 0 {
                bytes.drain(..skip.min(bytes.len()));
            }
            return Ok(Some(Piece {
                stream,
                offset,
                bytes,
            }));
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn records_read_back_from_any_offset() {
        let dir = tempfile::tempdir().unwrap();
        let paths = LogPaths::new(dir.path(), "p");
        let (mut w, rx) = LogWriter::create(paths.clone()).await.unwrap();
        w.append(Stream::Stdout, b"abc").await.unwrap();
        w.append(Stream::Stderr, b"defg").await.unwrap();
        w.append(Stream::Stdout, b"h").await.unwrap();
        let len = rx.borrow().file_len;
        w.finish(Ended::Code(3)).await;
        let read = |from| {
            let path = paths.out.clone();
            async move {
                let mut r = LogReader::open(&path, from).await.unwrap();
                let mut out = Vec::new();
                while let Some(p) = r.next(len).await.unwrap() {
                    out.push((p.stream, p.offset, String::from_utf8(p.bytes).unwrap()));
                }
                out
            }
        };
        assert_eq!(read(0).await.len(), 3);
        assert_eq!(
            read(5).await,
            vec![
                (Stream::Stderr, 5, "fg".to_owned()),
                (Stream::Stdout, 7, "h".to_owned())
            ]
        );
        assert!(read(8).await.is_empty());
        let disk = progress_from_disk(&paths).await.unwrap();
        assert_eq!(disk.file_len, len);
        assert_eq!(disk.ended, Some(Ended::Code(3)));
        assert!(
            LogWriter::create(paths).await.is_err(),
            "ids are never reused"
        );
    }
}
