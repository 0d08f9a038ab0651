//! `tee('file') { }` (Pipeline Utility Steps): the block's output, the lines of its
//! processes and of steps such as `echo`, goes to the log as usual and also to `file`
//! (relative to the step's directory, inside the workspace). The lines are kept while the
//! block runs (masked as the log is) and the file is written when the block ends, however
//! it ends; a step inside the block does not see the file grow.

use super::StepCall;
use super::workspace_path::confined;
use crate::error::StepError;
use crate::scope::Scope;
use crate::shared::Locked;
use std::path::PathBuf;
use std::sync::Arc;

/// The most a `tee` keeps; later lines are dropped and the file says so at its end.
const MAX_BYTES: usize = 16 << 20;

/// The lines a `tee` block wrote so far.
#[derive(Default)]
pub(crate) struct TeeSink {
    lines: Locked<Kept>,
}

#[derive(Default)]
struct Kept {
    text: String,
    dropped: usize,
}

impl TeeSink {
    /// Keeps one line of the block's output.
    pub(crate) fn line(&self, line: &str) {
        let mut kept = self.lines.lock();
        if kept.text.len() + line.len() < MAX_BYTES {
            kept.text.push_str(line);
            kept.text.push('\n');
        } else {
            kept.dropped += 1;
        }
    }
}

/// A running `tee` block: its sink and file.
pub(crate) struct Tee {
    sink: Arc<TeeSink>,
    path: PathBuf,
}

/// Starts the block: its scope sends output lines to the sink too.
pub(crate) fn start(call: &StepCall<'_>, scope: Scope) -> Result<(Scope, Tee), StepError> {
    let file = call.req_string("file")?;
    let path = confined(call, &file, "tee file")?;
    let sink = Arc::new(TeeSink::default());
    let scope = Scope {
        tee: Some(Arc::clone(&sink)),
        ..scope
    };
    Ok((scope, Tee { sink, path }))
}

impl Tee {
    /// Writes the file (masked as the log is); the block's own error comes first.
    pub(crate) async fn finish(
        &self,
        call: &StepCall<'_>,
        body: Result<(), StepError>,
    ) -> Result<(), StepError> {
        let (text, dropped) = {
            let kept = self.sink.lines.lock();
            (kept.text.clone(), kept.dropped)
        };
        let masker = call.build.masker();
        let mut out = String::with_capacity(text.len());
        for line in text.lines() {
            out.push_str(&if masker.is_empty() {
                line.to_owned()
            } else {
                masker.mask(line)
            });
            out.push('\n');
        }
        if dropped > 0 {
            out.push_str(&format!(
                "[tee: {dropped} more lines were not kept: the file holds at most {} MiB]\n",
                MAX_BYTES >> 20
            ));
        }
        let written = match call.executor() {
            Ok(e) => e
                .write_file(&self.path, out.as_bytes())
                .await
                .map_err(StepError::from),
            Err(e) => Err(e),
        };
        body.and(written)
    }
}
