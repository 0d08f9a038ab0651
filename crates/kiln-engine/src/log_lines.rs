//! A batch of a process's log lines ([`LogLines`]), and the credit ([`LogCredit`]) that
//! bounds how much of a build's process output waits for the consumer of its events.
//!
//! A process's output reaches the consumer one batch per output chunk (not one event per
//! line), and each batch holds credit from its build until the consumer drops it. A build
//! that has used up its credit waits for the consumer before it takes the next chunk, the
//! executor's bounded output queue fills, its reader stops reading, and the process blocks on
//! its full pipe: memory stays bounded whatever the process prints.

use crate::line_splitter::LineSink;
use crate::log::timestamp_prefix;
use crate::masker::Masker;
use crate::shared::Locked;
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
    /// Every line followed by `\n` (lines never contain one). Shared, not copied, by those
    /// that keep the lines beyond the event (the build's own copy of its log).
    text: Arc<String>,
    credit: Option<Arc<OwnedSemaphorePermit>>,
}

impl LogLines {
    /// The lines, without their line breaks.
    pub fn lines(&self) -> impl Iterator<Item = &str> {
        let mut start = 0;
        memchr::memchr_iter(b'\n', self.text.as_bytes()).map(move |end| {
            let line = self.text.get(start..end).unwrap_or_default();
            start = end + 1;
            line
        })
    }

    /// Appends the lines to `out`, each after `prefix` and followed by `\n`.
    ///
    /// Short output lines are the costly case (50 million two-byte lines in 100 MB): a line
    /// and a prefix of up to [`WORD`] bytes are each copied as one fixed-size block into a
    /// buffer sized beforehand (the bytes past them are overwritten by what follows), instead
    /// of two copies of varying length per line, and the line breaks of short lines are found
    /// 8 bytes at a time instead of one search per line.
    pub fn write_prefixed(&self, prefix: &str, out: &mut String) {
        if prefix.is_empty() {
            out.push_str(&self.text);
            return;
        }
        let mut buf = std::mem::take(out).into_bytes();
        self.append_prefixed(prefix, &mut buf);
        // Whole lines of valid text and a valid prefix: always valid, checked all the same.
        *out = String::from_utf8(buf)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
    }

    /// [`LogLines::write_prefixed`] into bytes (what a log's store takes), which are left
    /// valid UTF-8 when they were; returns how many lines it wrote.
    pub fn append_prefixed(&self, prefix: &str, buf: &mut Vec<u8>) -> usize {
        let text = self.text.as_bytes();
        let count = memchr::memchr_iter(b'\n', text).count();
        if prefix.is_empty() {
            buf.extend_from_slice(text);
            return count;
        }
        let base = buf.len();
        buf.resize(base + text.len() + count * prefix.len() + WORD, 0);
        let mut out = Prefixed::new(
            prefix.as_bytes(),
            text,
            buf.get_mut(base..).unwrap_or_default(),
        );
        if count * SHORT_LINES >= text.len() {
            // Short lines: the line breaks of 8 bytes at a time are found at once, without
            // a search per line.
            let mut words = text.chunks_exact(8);
            let mut at = 0;
            for word in &mut words {
                let mut breaks =
                    <[u8; 8]>::try_from(word).map_or(0, |w| line_breaks(u64::from_le_bytes(w)));
                while breaks != 0 {
                    out.line(at + (breaks.trailing_zeros() / 8) as usize);
                    breaks &= breaks - 1;
                }
                at += 8;
            }
            for end in memchr::memchr_iter(b'\n', words.remainder()) {
                out.line(at + end);
            }
        } else {
            for end in memchr::memchr_iter(b'\n', text) {
                out.line(end);
            }
        }
        let written = out.pos;
        buf.truncate(base + written);
        count
    }

    /// The lines as text, each followed by `\n`.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The lines' text itself (shared, without the credit the lines hold).
    pub(crate) fn shared_text(&self) -> Arc<String> {
        Arc::clone(&self.text)
    }

    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }
}

/// The block size [`LogLines::write_prefixed`] copies short pieces in.
const WORD: usize = 16;

/// Lines at most this long on average (line break included) are found 8 bytes at a time;
/// longer ones with `memchr`, which skips through them faster.
const SHORT_LINES: usize = 32;

/// One bit (the top bit of its byte) for each `\n` among the 8 bytes of `word`, exactly
/// (no carry between bytes can set a bit where there is no line break).
fn line_breaks(word: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    let zero_where_break = word ^ (ONES * u64::from(b'\n'));
    !(((zero_where_break & LOW7) + LOW7) | zero_where_break | LOW7)
}

/// Writes prefixed lines of `text` into `out` (sized for them plus [`WORD`] bytes).
struct Prefixed<'a> {
    prefix: &'a [u8],
    /// The prefix as the block copied at once, when it fits in one.
    short_prefix: Option<[u8; WORD]>,
    text: &'a [u8],
    out: &'a mut [u8],
    /// Where the next line starts in `text`, and where it goes in `out`.
    start: usize,
    pos: usize,
}

impl<'a> Prefixed<'a> {
    fn new(prefix: &'a [u8], text: &'a [u8], out: &'a mut [u8]) -> Self {
        let short_prefix = (prefix.len() <= WORD).then(|| {
            let mut block = [0_u8; WORD];
            if let Some(head) = block.get_mut(..prefix.len()) {
                head.copy_from_slice(prefix);
            }
            block
        });
        Prefixed {
            prefix,
            short_prefix,
            text,
            out,
            start: 0,
            pos: 0,
        }
    }

    /// Writes the prefix and the line that ends (with its `\n`) at `end`.
    fn line(&mut self, end: usize) {
        self.pos = put(self.out, self.pos, self.prefix, self.short_prefix.as_ref());
        let line = self.text.get(self.start..=end).unwrap_or_default();
        let block = self
            .text
            .get(self.start..self.start + WORD)
            .and_then(|b| <&[u8; WORD]>::try_from(b).ok());
        self.pos = put(
            self.out,
            self.pos,
            line,
            block.filter(|_| line.len() <= WORD),
        );
        self.start = end + 1;
    }
}

/// Writes `bytes` at `pos` in `buf` (sized for it plus [`WORD`] bytes), as the fixed-size
/// `block` starting with them when there is one; the position after them.
fn put(buf: &mut [u8], pos: usize, bytes: &[u8], block: Option<&[u8; WORD]>) -> usize {
    let end = pos + bytes.len();
    match (block, buf.get_mut(pos..pos + WORD)) {
        (Some(block), Some(dest)) => dest.copy_from_slice(block),
        _ => {
            if let Some(dest) = buf.get_mut(pos..end) {
                dest.copy_from_slice(bytes);
            }
        }
    }
    end
}

impl PartialEq for LogLines {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl<S: AsRef<str>> FromIterator<S> for LogLines {
    fn from_iter<I: IntoIterator<Item = S>>(lines: I) -> Self {
        let mut text = String::new();
        for line in lines {
            text.push_str(line.as_ref());
            text.push('\n');
        }
        LogLines {
            text: Arc::new(text),
            credit: None,
        }
    }
}

/// How many buffers of output batches a build keeps for its next batches.
const KEPT_BATCH_BUFFERS: usize = 4;

/// The buffers of a build's output batches that its log copy let go, for the next batches:
/// a loud build's output then goes into memory that is resident already, instead of a
/// fresh block per batch (a page fault per 4 KiB).
#[derive(Clone, Debug, Default)]
pub(crate) struct BatchBuffers(Arc<Locked<Vec<String>>>);

impl BatchBuffers {
    /// A buffer given back earlier (empty), or a new one.
    pub(crate) fn take(&self) -> String {
        self.0.lock().pop().unwrap_or_default()
    }

    /// Keeps a batch's buffer for a next batch, if nobody else holds the batch any more.
    pub(crate) fn give_back(&self, text: Arc<String>) {
        let Ok(mut text) = Arc::try_unwrap(text) else {
            return;
        };
        let mut kept = self.0.lock();
        if kept.len() < KEPT_BATCH_BUFFERS {
            text.clear();
            kept.push(text);
        }
    }
}

/// The lines made from one piece of a process's output: masked with the secrets known when
/// it arrived, with one `timestamps` prefix (the time it arrived) when asked for.
pub(crate) struct OutputBatch {
    masker: Arc<Masker>,
    prefix: String,
    /// The lines so far, each followed by `\n`.
    text: String,
}

impl OutputBatch {
    #[cfg(test)]
    pub(crate) fn new(masker: Arc<Masker>, timestamps: bool) -> Self {
        OutputBatch::with_buffer(masker, timestamps, String::new())
    }

    /// A batch whose lines go into `buffer` (emptied first).
    pub(crate) fn with_buffer(masker: Arc<Masker>, timestamps: bool, mut buffer: String) -> Self {
        buffer.clear();
        OutputBatch {
            masker,
            prefix: if timestamps {
                timestamp_prefix()
            } else {
                String::new()
            },
            text: buffer,
        }
    }

    /// Room for `bytes` more of output, so a chunk's lines are one allocation.
    pub(crate) fn reserve(&mut self, bytes: usize) {
        self.text.reserve(bytes);
    }

    /// The lines made so far.
    pub(crate) fn into_lines(self) -> LogLines {
        LogLines {
            text: Arc::new(self.text),
            credit: None,
        }
    }
}

impl LineSink for OutputBatch {
    /// Adds one line of output (without its line break), masked.
    fn line(&mut self, line: &str) {
        let text = &mut self.text;
        text.push_str(&self.prefix);
        self.masker.mask_into(line, text);
        text.push('\n');
    }

    fn secrets(&self) -> Option<&Masker> {
        (!self.masker.is_empty()).then_some(self.masker.as_ref())
    }

    /// Adds complete lines at once when there is no prefix to add and no secret in them:
    /// they are then copied as they are.
    fn lines(&mut self, text: &str) {
        if self.prefix.is_empty() && !self.masker.may_match(text) {
            self.text.push_str(text);
            return;
        }
        let mut start = 0;
        for end in memchr::memchr_iter(b'\n', text.as_bytes()) {
            self.line(text.get(start..end).unwrap_or_default());
            start = end + 1;
        }
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
        let output = output.into_lines();
        let lines: Vec<_> = output.lines().collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(
            lines[0].get(crate::log::timestamp_prefix_len(lines[0].as_bytes())..),
            Some("a **** b")
        );
    }

    /// Lines given at once are the lines given one by one: copied when they hold no
    /// secret and need no prefix, else masked and prefixed each.
    #[test]
    fn a_run_of_lines_is_the_same_as_its_lines_one_by_one() {
        let text = "a\n\nb pw c\nd\n";
        for (secrets, timestamps) in [(vec![], false), (vec!["pw"], false), (vec!["pw"], true)] {
            let masker = Arc::new(Masker::default().with(secrets.iter().map(|s| s.to_string())));
            let mut whole = OutputBatch::new(Arc::clone(&masker), timestamps);
            whole.lines(text);
            let mut single = OutputBatch::new(masker, timestamps);
            single.prefix.clone_from(&whole.prefix);
            text.split_terminator('\n').for_each(|l| single.line(l));
            assert_eq!(whole.text, single.text);
            assert_eq!(whole.into_lines().lines().count(), 4);
        }
        let mut masked =
            OutputBatch::new(Arc::new(Masker::default().with(["pw".to_owned()])), false);
        masked.lines(text);
        assert_eq!(masked.text, "a\n\nb **** c\nd\n");
    }

    #[test]
    fn prefixed_lines_each_get_the_prefix() {
        let batch: LogLines = ["a", "", "bc"].into_iter().collect();
        let mut out = String::from(">");
        batch.write_prefixed("[S] ", &mut out);
        assert_eq!(out, ">[S] a\n[S] \n[S] bc\n");
        out.clear();
        batch.write_prefixed("", &mut out);
        assert_eq!(out, "a\n\nbc\n");
        // Lines and prefixes shorter and longer than the block copied at once, and the last
        // line ending near the end of the text.
        let long_prefix = "[a stage with a long name / inner] ";
        for prefix in ["[S] ", "[Build] \u{20ac}", long_prefix] {
            let lines = [
                "y",
                "",
                "fifteen bytes..",
                "sixteen bytes...",
                "seventeen bytes..",
                "\u{20ac}x",
                "z",
            ];
            let batch: LogLines = lines.into_iter().collect();
            let mut out = String::from("before\n");
            batch.write_prefixed(prefix, &mut out);
            let expected: String = lines.iter().map(|l| format!("{prefix}{l}\n")).collect();
            assert_eq!(out, format!("before\n{expected}"));
        }
    }

    /// Both ways of finding line breaks (8 bytes at a time for short lines, `memchr` for
    /// long ones) give each line once, prefixed, whatever the lengths and where they fall.
    #[test]
    fn prefixed_lines_are_the_lines_after_their_prefix() {
        for (count, longest) in [(1, 3), (50, 9), (300, 31), (64, 200), (20, 3000)] {
            let lines: Vec<String> = (0..count)
                .map(|i: usize| {
                    let c = char::from(b'a' + (i % 26) as u8);
                    c.to_string().repeat((i * 7 + 3) % longest)
                })
                .collect();
            let batch: LogLines = lines.iter().collect();
            for prefix in ["[S] ", "[Loud] ", "[a stage with a long name / inner] "] {
                let mut out = b"x".to_vec();
                assert_eq!(batch.append_prefixed(prefix, &mut out), count);
                let expected: String = lines.iter().map(|l| format!("{prefix}{l}\n")).collect();
                assert_eq!(
                    String::from_utf8_lossy(&out),
                    format!("x{expected}"),
                    "{count} lines up to {longest} bytes, prefix {prefix:?}"
                );
            }
        }
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
