//! A batch of a process's log lines ([`LogLines`]), and the credit ([`LogCredit`]) that
//! bounds how much of a build's process output waits for the consumer of its events.
//!
//! A process's output reaches the consumer one batch per output chunk (not one event per
//! line), and each batch holds credit from its build until the consumer drops it. A build
//! that has used up its credit waits for the consumer before it takes the next chunk, the
//! executor's bounded output queue fills, its reader stops reading, and the process blocks on
//! its full pipe: memory stays bounded whatever the process prints.

use crate::log::{Masker, timestamp_prefix};
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Bytes of process output per build that may wait for the consumer of its events.
pub(crate) const LOG_CREDIT: usize = 1 << 20;

/// Lines of a process's log, secrets masked and `timestamps` prefixes added, in order.
///
/// Holds the build's [`LogCredit`] while it exists: a consumer must handle and drop events
/// while the build runs (a consumer that keeps more than a megabyte of them stalls the build's
/// processes until it drops some).
#[derive(Clone, Debug, Default)]
pub struct LogLines {
    /// Every line followed by `\n` (lines never contain one).
    text: String,
    credit: Option<Arc<OwnedSemaphorePermit>>,
}

impl LogLines {
    /// The lines, without their line breaks.
    pub fn lines(&self) -> impl Iterator<Item = &str> {
        self.text.split_terminator('\n')
    }

    /// The lines as text, each followed by `\n`.
    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }
}

impl PartialEq for LogLines {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl<S: AsRef<str>> FromIterator<S> for LogLines {
    fn from_iter<I: IntoIterator<Item = S>>(lines: I) -> Self {
        let mut batch = LogLines::default();
        for line in lines {
            batch.text.push_str(line.as_ref());
            batch.text.push('\n');
        }
        batch
    }
}

/// The lines made from one piece of a process's output: masked with the secrets known when
/// it arrived, with one `timestamps` prefix (the time it arrived) when asked for.
pub(crate) struct OutputBatch {
    masker: Arc<Masker>,
    prefix: String,
    pub(crate) lines: LogLines,
}

impl OutputBatch {
    pub(crate) fn new(masker: Arc<Masker>, timestamps: bool) -> Self {
        OutputBatch {
            masker,
            prefix: if timestamps {
                timestamp_prefix()
            } else {
                String::new()
            },
            lines: LogLines::default(),
        }
    }

    /// Adds one line of output (without its line break), masked.
    pub(crate) fn line(&mut self, line: &str) {
        let text = &mut self.lines.text;
        text.push_str(&self.prefix);
        self.masker.mask_into(line, text);
        text.push('\n');
    }
}

/// A build's credit for log lines in flight (see the module docs).
#[derive(Debug)]
pub(crate) struct LogCredit {
    bytes: Arc<Semaphore>,
}

impl Default for LogCredit {
    fn default() -> Self {
        LogCredit::new(LOG_CREDIT)
    }
}

impl LogCredit {
    pub(crate) fn new(bytes: usize) -> Self {
        LogCredit {
            bytes: Arc::new(Semaphore::new(bytes)),
        }
    }

    /// Waits until `lines` can take credit for their size (all of the credit for a batch
    /// larger than that), and gives it to them.
    pub(crate) async fn charge(&self, lines: &mut LogLines) {
        let total = u32::try_from(LOG_CREDIT).unwrap_or(u32::MAX);
        let want = u32::try_from(lines.text.len()).map_or(total, |n| n.min(total));
        // The semaphore is never closed, so acquiring only fails if it were.
        if let Ok(permit) = Arc::clone(&self.bytes).acquire_many_owned(want).await {
            lines.credit = Some(Arc::new(permit));
        }
    }

    #[cfg(test)]
    fn available(&self) -> usize {
        self.bytes.available_permits()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future as _;

    #[test]
    fn lines_keep_empty_lines_and_their_order() {
        let batch: LogLines = ["a", "", "b"].into_iter().collect();
        assert_eq!(batch.lines().collect::<Vec<_>>(), ["a", "", "b"]);
        assert_eq!(batch.text(), "a\n\nb\n");
        let mut output =
            OutputBatch::new(Arc::new(Masker::default().with(["pw".to_owned()])), true);
        output.line("a pw b");
        output.line("");
        let lines: Vec<_> = output.lines.lines().collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(
            lines[0].get(crate::log::timestamp_prefix_len(lines[0].as_bytes())..),
            Some("a **** b")
        );
    }

    /// Guards issue 11: output waited for nobody, so a slow consumer let it pile up.
    #[tokio::test]
    async fn credit_is_held_until_the_consumer_drops_the_lines() {
        let credit = LogCredit::new(LOG_CREDIT);
        let mut first: LogLines = ["12345"].into_iter().collect();
        credit.charge(&mut first).await;
        assert_eq!(credit.available(), LOG_CREDIT - 6);
        let copy = first.clone();
        drop(first);
        assert_eq!(credit.available(), LOG_CREDIT - 6, "a clone still holds it");
        drop(copy);
        assert_eq!(credit.available(), LOG_CREDIT);
    }

    #[tokio::test]
    async fn a_batch_larger_than_the_credit_takes_all_of_it() {
        let credit = LogCredit::new(LOG_CREDIT);
        let mut big: LogLines = std::iter::repeat_n("x".repeat(1023), 2048).collect();
        credit.charge(&mut big).await;
        assert_eq!(credit.available(), 0);
        let mut next: LogLines = ["y"].into_iter().collect();
        {
            let waiting = std::pin::pin!(credit.charge(&mut next));
            let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
            assert!(
                waiting.poll(&mut cx).is_pending(),
                "the next batch waits for the consumer"
            );
        }
        drop(big);
        credit.charge(&mut next).await;
        assert_eq!(credit.available(), LOG_CREDIT - 2);
    }
}
