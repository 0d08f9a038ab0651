//! A build's log as server-sent events: text in `log` events carrying their end offset as the
//! event id, and a final `end` event with the build's result.

use axum::response::sse::Event;
use futures_util::Stream;
use kiln_scheduler::LogFollower;
use kiln_store::Store;
use kiln_types::BuildRef;
use serde_json::json;
use std::convert::Infallible;
use std::sync::Arc;

/// The state of one log stream.
pub struct LogEvents {
    follower: LogFollower,
    store: Arc<dyn Store>,
    id: BuildRef,
    /// The offset just after the last byte sent.
    sent: u64,
    /// The bytes of a character cut by a chunk boundary, held back until it is complete.
    carry: Vec<u8>,
    done: bool,
}

impl LogEvents {
    pub fn new(follower: LogFollower, store: Arc<dyn Store>, id: BuildRef, from: u64) -> Self {
        LogEvents {
            follower,
            store,
            id,
            sent: from,
            carry: Vec::new(),
            done: false,
        }
    }

    pub fn into_stream(self) -> impl Stream<Item = Result<Event, Infallible>> + Send {
        futures_util::stream::unfold(self, |mut me| async move {
            let event = me.next_event().await?;
            Some((Ok(event), me))
        })
    }

    async fn next_event(&mut self) -> Option<Event> {
        if self.done {
            return None;
        }
        loop {
            match self.follower.next().await {
                Some(Ok(chunk)) => {
                    if let Some(event) = self.log_event(&chunk.bytes) {
                        return Some(event);
                    }
                }
                Some(Err(err)) => {
                    tracing::error!(build = %self.id, error = %err, "cannot read a build's log");
                    self.done = true;
                    let data = json!({ "error": "the log could not be read" }).to_string();
                    return Some(Event::default().event("error").data(data));
                }
                None => {
                    self.done = true;
                    return Some(self.end_event());
                }
            }
        }
    }

    /// A `log` event for the complete characters received so far (none if a chunk ended
    /// inside a character).
    fn log_event(&mut self, bytes: &[u8]) -> Option<Event> {
        let mut pending = std::mem::take(&mut self.carry);
        pending.extend_from_slice(bytes);
        let complete = complete_utf8_prefix(&pending);
        self.carry = pending.split_off(complete);
        if pending.is_empty() {
            return None;
        }
        self.sent += pending.len() as u64;
        let text = String::from_utf8_lossy(&pending);
        // Serialized straight from the text (a JSON string cannot fail to serialize).
        let data = serde_json::to_string(text.as_ref()).unwrap_or_default();
        Some(
            Event::default()
                .event("log")
                .id(self.sent.to_string())
                .data(data),
        )
    }

    fn end_event(&mut self) -> Event {
        let mut text = String::new();
        if !self.carry.is_empty() {
            // The log ended inside a character: send what there is.
            text = String::from_utf8_lossy(&self.carry).into_owned();
            self.sent += self.carry.len() as u64;
            self.carry.clear();
        }
        let record = self.store.get_build(&self.id).ok().flatten();
        let data = json!({
            "id": self.id.to_string(),
            "result": record.as_ref().and_then(|r| r.result),
            "status": record.as_ref().map(|r| r.status),
            "reason": record.as_ref().and_then(|r| r.reason.clone()),
            "offset": self.sent,
            "text": text,
        });
        Event::default()
            .event("end")
            .id(self.sent.to_string())
            .data(data.to_string())
    }
}

/// The length of the longest prefix that does not end inside a UTF-8 character. Invalid bytes
/// count as complete (they are sent replaced); only a valid but unfinished sequence of at most
/// three bytes at the very end is held back.
pub fn complete_utf8_prefix(bytes: &[u8]) -> usize {
    let len = bytes.len();
    for back in 1..=3.min(len) {
        let b = bytes[len - back];
        if b & 0xC0 == 0x80 {
            continue;
        }
        let needed = if b & 0xE0 == 0xC0 {
            2
        } else if b & 0xF0 == 0xE0 {
            3
        } else if b & 0xF8 == 0xF0 {
            4
        } else {
            1
        };
        return if needed > back { len - back } else { len };
    }
    len
}

#[cfg(test)]
mod tests {
    use super::complete_utf8_prefix;

    #[test]
    fn cut_characters_are_held_back() {
        let euro = "€".as_bytes();
        assert_eq!(complete_utf8_prefix(b"abc"), 3);
        assert_eq!(complete_utf8_prefix(b""), 0);
        assert_eq!(complete_utf8_prefix(&[b'a', euro[0]]), 1);
        assert_eq!(complete_utf8_prefix(&[b'a', euro[0], euro[1]]), 1);
        assert_eq!(complete_utf8_prefix(&[b'a', euro[0], euro[1], euro[2]]), 4);
        assert_eq!(complete_utf8_prefix(&[0x80, 0x80, 0x80, 0x80]), 4);
    }
}
