//! What a build's recorder has to append next: the text and its events ([`LogEvent`]s whose
//! offsets count from the start of the pending text), kept together so they are stored in
//! one append.

use kiln_store::{LogEvent, LogEventKind};

#[derive(Debug, Default)]
pub(crate) struct PendingLog {
    pub(crate) text: Vec<u8>,
    pub(crate) events: Vec<LogEvent>,
}

impl PendingLog {
    pub(crate) fn len(&self) -> usize {
        self.text.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    /// Adds `text` (whole lines) as one event of `kind` in `stage`. Output that continues
    /// the previous event's (same process, same stage, the next bytes) extends that event.
    pub(crate) fn push(&mut self, stage: Option<u32>, kind: LogEventKind, at_ms: u64, text: &[u8]) {
        self.push_with(stage, at_ms, |buf| {
            buf.extend_from_slice(text);
            kind
        });
    }

    /// Adds the whole lines `write` appends to the text as one event of the kind it returns
    /// (see [`PendingLog::push`]): a process's lines are formatted straight into what is
    /// appended next, not copied there.
    pub(crate) fn push_with(
        &mut self,
        stage: Option<u32>,
        at_ms: u64,
        write: impl FnOnce(&mut Vec<u8>) -> LogEventKind,
    ) {
        let start = self.text.len();
        let kind = write(&mut self.text);
        let len = (self.text.len() - start) as u64;
        if len == 0 {
            return;
        }
        if let (
            Some(last),
            LogEventKind::Output {
                process,
                from,
                to,
                lines,
            },
        ) = (self.events.last_mut(), &kind)
            && last.stage == stage
            && let LogEventKind::Output {
                process: last_process,
                to: last_to,
                lines: last_lines,
                ..
            } = &mut last.kind
            && last_process == process
            && *last_to == *from
        {
            *last_to = *to;
            *last_lines += lines;
            last.len += len;
            return;
        }
        self.events.push(LogEvent {
            offset: start as u64,
            len,
            at_ms,
            stage,
            kind,
        });
    }

    /// Takes what is pending, leaving nothing.
    pub(crate) fn take(&mut self) -> PendingLog {
        std::mem::take(self)
    }

    /// Takes what is pending, leaving `spare`'s buffers emptied in its place (their
    /// capacity is kept).
    pub(crate) fn take_reusing(&mut self, mut spare: PendingLog) -> PendingLog {
        spare.text.clear();
        spare.events.clear();
        std::mem::replace(self, spare)
    }

    /// Puts back what could not be stored, before what was added since.
    pub(crate) fn put_back(&mut self, mut earlier: PendingLog) {
        let shift = earlier.text.len() as u64;
        let later = self.take();
        earlier.text.extend_from_slice(&later.text);
        earlier
            .events
            .extend(later.events.into_iter().map(|e| LogEvent {
                offset: e.offset + shift,
                ..e
            }));
        *self = earlier;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(from: u64, to: u64, lines: u64) -> LogEventKind {
        LogEventKind::Output {
            process: "p".into(),
            from,
            to,
            lines,
        }
    }

    #[test]
    fn continued_output_extends_its_event_and_events_tile_the_text() {
        let mut log = PendingLog::default();
        log.push(None, LogEventKind::Line, 1, b"Started\n");
        log.push(Some(1), out(0, 2, 1), 2, b"[A] a\n");
        log.push(Some(1), out(2, 4, 1), 3, b"[A] b\n");
        log.push(Some(2), out(4, 6, 1), 3, b"[B] c\n");
        log.push(Some(1), out(9, 12, 1), 3, b"[A] d\n");
        let kinds: Vec<_> = log
            .events
            .iter()
            .map(|e| (e.offset, e.len, e.kind.clone()))
            .collect();
        assert_eq!(
            kinds,
            [
                (0, 8, LogEventKind::Line),
                (8, 12, out(0, 4, 2)),
                (20, 6, out(4, 6, 1)),
                (26, 6, out(9, 12, 1)),
            ]
        );
        let earlier = log.take();
        log.push(None, LogEventKind::Line, 4, b"x\n");
        log.put_back(earlier);
        assert_eq!(log.events.last().map(|e| (e.offset, e.len)), Some((32, 2)));
        assert_eq!(log.len(), 34);
    }
}
