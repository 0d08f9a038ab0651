//! File operations in the agent's container, relative to its workspace.

use crate::protocol::{FILE_CHUNK, Failure, Frame, Message, WireEntry};
use kiln_executor::FileSet;
use std::io;
use std::path::{Path, PathBuf};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

/// Absolute paths stay; relative ones are below the workspace.
pub fn resolve(workspace: &Path, path: &str) -> PathBuf {
    workspace.join(path)
}

/// Streams a file in chunks; the last chunk has `last` set (an empty file is one empty chunk).
pub async fn read_file(path: PathBuf, req: u64, tx: mpsc::Sender<Frame>) {
    let failed = |e: io::Error| {
        Frame::new(Message::Failed {
            req: Some(req),
            id: None,
            failure: Failure::from_io("read", &path, &e),
        })
    };
    let mut file = match tokio::fs::File::open(&path).await {
        Ok(file) => file,
        Err(e) => {
            let _ = tx.send(failed(e)).await;
            return;
        }
    };
    let mut buf = vec![0_u8; FILE_CHUNK];
    let mut pending: Option<Vec<u8>> = None;
    loop {
        let n = match file.read(&mut buf).await {
            Ok(n) => n,
            Err(e) => {
                let _ = tx.send(failed(e)).await;
                return;
            }
        };
        // A chunk is sent once the next read shows whether it was the last one.
        if let Some(chunk) = pending.take() {
            let last = n == 0;
            let frame = Frame::with_payload(Message::FileChunk { req, last }, chunk);
            if tx.send(frame).await.is_err() || last {
                return;
            }
        } else if n == 0 {
            let _ = tx
                .send(Frame::new(Message::FileChunk { req, last: true }))
                .await;
            return;
        }
        if n > 0 {
            pending = Some(buf.get(..n).unwrap_or_default().to_vec());
        }
    }
}

/// Uploads in progress on one connection: `path.kiln-part` files, renamed when complete.
#[derive(Default)]
pub struct Uploads {
    open: std::collections::HashMap<u64, (tokio::fs::File, PathBuf, PathBuf)>,
}

impl Uploads {
    /// Handles one `WriteFile` chunk; `Some(answer)` when the upload is done or failed.
    pub async fn chunk(
        &mut self,
        path: PathBuf,
        req: u64,
        first: bool,
        last: bool,
        bytes: &[u8],
    ) -> Option<Message> {
        match self.write(path.clone(), req, first, last, bytes).await {
            Ok(true) => Some(Message::Done { req }),
            Ok(false) => None,
            Err(e) => {
                self.open.remove(&req);
                Some(Message::Failed {
                    req: Some(req),
                    id: None,
                    failure: Failure::from_io("write", &path, &e),
                })
            }
        }
    }

    async fn write(
        &mut self,
        path: PathBuf,
        req: u64,
        first: bool,
        last: bool,
        bytes: &[u8],
    ) -> io::Result<bool> {
        if first {
            if let Some(parent) = path.parent() {
                tokio::fs::create_dir_all(parent).await?;
            }
            let mut part = path.clone().into_os_string();
            part.push(".kiln-part");
            let part = PathBuf::from(part);
            let file = tokio::fs::File::create(&part).await?;
            self.open.insert(req, (file, part, path));
        }
        let Some((file, _, _)) = self.open.get_mut(&req) else {
            return Err(io::Error::other(
                "a chunk for an upload that was not started",
            ));
        };
        file.write_all(bytes).await?;
        if !last {
            return Ok(false);
        }
        if let Some((mut file, part, path)) = self.open.remove(&req) {
            file.flush().await?;
            drop(file);
            tokio::fs::rename(&part, &path).await?;
        }
        Ok(true)
    }
}

async fn is_empty_dir(path: &std::path::Path) -> bool {
    match tokio::fs::read_dir(path).await {
        Ok(mut entries) => matches!(entries.next_entry().await, Ok(None)),
        Err(_) => false,
    }
}

/// `Exists`, `DeleteDir`, `CreateDir` and `ListFiles`: one answer each.
pub async fn simple_op(workspace: PathBuf, message: Message) -> Option<Message> {
    let answer = match message {
        Message::Exists { req, path } => {
            let path = resolve(&workspace, &path);
            match tokio::fs::try_exists(&path).await {
                Ok(exists) => Message::ExistsResult { req, exists },
                Err(e) => failed(req, Failure::from_io("check", &path, &e)),
            }
        }
        Message::DeleteDir { req, path } => {
            let path = resolve(&workspace, &path);
            match tokio::fs::remove_dir_all(&path).await {
                Ok(()) => Message::Done { req },
                Err(e) if e.kind() == io::ErrorKind::NotFound => Message::Done { req },
                // A mount point (the workspace volume itself) cannot be removed: emptied is
                // all a delete can do, and what `cleanWs` and the warm pool ask for.
                Err(e) if e.kind() == io::ErrorKind::ResourceBusy && is_empty_dir(&path).await => {
                    Message::Done { req }
                }
                Err(e) => failed(req, Failure::from_io("delete", &path, &e)),
            }
        }
        Message::CreateDir { req, path } => {
            let path = resolve(&workspace, &path);
            match tokio::fs::create_dir_all(&path).await {
                Ok(()) => Message::Done { req },
                Err(e) => failed(req, Failure::from_io("create directory", &path, &e)),
            }
        }
        Message::ListFiles {
            req,
            dir,
            includes,
            excludes,
        } => list(req, resolve(&workspace, &dir), includes, excludes).await,
        _ => return None,
    };
    Some(answer)
}

fn failed(req: u64, failure: Failure) -> Message {
    Message::Failed {
        req: Some(req),
        id: None,
        failure,
    }
}

async fn list(req: u64, dir: PathBuf, includes: Vec<String>, excludes: Vec<String>) -> Message {
    let set = match FileSet::new(&includes, &excludes) {
        Ok(set) => set,
        Err(e) => return failed(req, Failure::from_exec(&e)),
    };
    match tokio::task::spawn_blocking(move || set.scan(&dir)).await {
        Ok(Ok(entries)) => Message::FileList {
            req,
            entries: entries
                .into_iter()
                .map(|e| WireEntry {
                    path: e.path.to_string_lossy().into_owned(),
                    size: e.size,
                })
                .collect(),
        },
        Ok(Err(e)) => failed(req, Failure::from_exec(&e)),
        Err(e) => failed(req, Failure::other(format!("listing files failed: {e}"))),
    }
}
