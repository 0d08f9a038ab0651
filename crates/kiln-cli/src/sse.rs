//! A reader of server-sent events (the live log stream).

use std::io::BufRead;

/// One event: its type (`message` when unnamed), data lines joined by `\n`, and id.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SseEvent {
    pub event: String,
    pub data: String,
    pub id: Option<String>,
}

/// Reads events from a stream; `Ok(None)` when the stream ends.
pub struct SseReader<R> {
    input: R,
}

impl<R: BufRead> SseReader<R> {
    pub fn new(input: R) -> Self {
        SseReader { input }
    }

    pub fn next_event(&mut self) -> std::io::Result<Option<SseEvent>> {
        let mut event = SseEvent::default();
        let mut data: Vec<String> = Vec::new();
        let mut seen = false;
        let mut line = String::new();
        loop {
            line.clear();
            if self.input.read_line(&mut line)? == 0 {
                return Ok(None);
            }
            let l = line.trim_end_matches(['\n', '\r']);
            if l.is_empty() {
                if seen {
                    event.data = data.join("\n");
                    if event.event.is_empty() {
                        event.event = "message".into();
                    }
                    return Ok(Some(event));
                }
                continue;
            }
            if l.starts_with(':') {
                continue;
            }
            let (field, value) = l.split_once(':').unwrap_or((l, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            seen = true;
            match field {
                "event" => event.event = value.to_string(),
                "data" => data.push(value.to_string()),
                "id" => event.id = Some(value.to_string()),
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_events_comments_and_multiline_data() {
        let text = ": keep-alive\n\nevent: log\nid: 5\ndata: \"a\"\n\ndata: x\ndata: y\n\nevent: end\r\ndata: {}\r\n\r\n";
        let mut r = SseReader::new(text.as_bytes());
        let e = r.next_event().unwrap().unwrap();
        assert_eq!(
            (e.event.as_str(), e.data.as_str(), e.id.as_deref()),
            ("log", "\"a\"", Some("5"))
        );
        let e = r.next_event().unwrap().unwrap();
        assert_eq!((e.event.as_str(), e.data.as_str()), ("message", "x\ny"));
        let e = r.next_event().unwrap().unwrap();
        assert_eq!((e.event.as_str(), e.data.as_str()), ("end", "{}"));
        assert_eq!(r.next_event().unwrap(), None);
    }

    #[test]
    fn an_unfinished_event_at_the_end_is_dropped() {
        let mut r = SseReader::new("event: log\ndata: \"x\"\n".as_bytes());
        assert_eq!(r.next_event().unwrap(), None);
    }
}
