//! Following a build's log live, resuming from the last byte seen when the connection drops
//! (e.g. the server restarts), until the build has finished. The log comes as its plain bytes
//! (the stream's `text/plain` form), or as server-sent events from a server without it.

use crate::client::job_segment;
use crate::client::{Client, HttpError};
use crate::sse::SseReader;
use anyhow::{Context as _, bail};
use serde_json::Value;
use std::io::{BufReader, ErrorKind, Read, Write};
use std::time::{Duration, Instant};

/// How long to keep reconnecting to a server that went away.
const RECONNECT_FOR: Duration = Duration::from_secs(300);

/// How a followed build ended.
#[derive(Debug)]
pub struct FollowEnd {
    /// `SUCCESS`, `FAILURE`, ... (None if the server did not say).
    pub result: Option<String>,
    pub reason: Option<String>,
    /// The build's `failed_step` (the API's object), when the server recorded one.
    pub failed_step: Option<Value>,
}

impl FollowEnd {
    /// The failed step as a sentence: `` Failed at stage Test, step `sh 'make'`: MESSAGE ``.
    pub fn failed_step_line(&self) -> Option<String> {
        let f = self.failed_step.as_ref()?;
        let stage: Vec<&str> = f["stage"]
            .as_array()?
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let step = f["step"].as_str()?;
        let step = match f["label"].as_str() {
            Some(label) => format!("{step} '{label}'"),
            None => step.to_owned(),
        };
        Some(format!(
            "Failed at stage {}, step `{step}`: {}",
            stage.join(" / "),
            f["message"].as_str().unwrap_or_default()
        ))
    }

    /// 0 only for SUCCESS, 1 for any other result (as `kiln run`).
    pub fn exit_code(&self) -> std::process::ExitCode {
        if self.result.as_deref() == Some("SUCCESS") {
            std::process::ExitCode::SUCCESS
        } else {
            std::process::ExitCode::from(1)
        }
    }
}

/// Streams the log of `job#number` from `offset` to `out` until the build ends.
pub fn follow(
    client: &Client,
    job: &str,
    number: u64,
    mut offset: u64,
    out: &mut dyn Write,
) -> anyhow::Result<FollowEnd> {
    let build = format!("/jobs/{}/builds/{number}", job_segment(job));
    let mut failing_since: Option<Instant> = None;
    let mut delay = Duration::from_millis(100);
    loop {
        let before = offset;
        match read_stream(client, &build, &mut offset, out) {
            Ok(Some(end)) => return Ok(end),
            Ok(None) => {}
            Err(err) if err.downcast_ref::<HttpError>().is_some() => return Err(err),
            Err(err) if crate::output::closed(&err) => return Err(err),
            Err(err) => tracing::debug!(error = %format!("{err:#}"), "log stream interrupted"),
        }
        if offset > before {
            // Progress was made on that connection: start the back-off afresh.
            failing_since = None;
            delay = Duration::from_millis(100);
        }
        let since = *failing_since.get_or_insert_with(|| {
            eprintln!("kiln: lost the connection to the server; reconnecting (from byte {offset})");
            Instant::now()
        });
        if since.elapsed() > RECONNECT_FOR {
            bail!(
                "the server did not come back within {} s",
                RECONNECT_FOR.as_secs()
            );
        }
        std::thread::sleep(delay);
        delay = (delay * 2).min(Duration::from_secs(2));
    }
}

/// How much of a plain log is read (and written out) at once.
const READ_BYTES: usize = 256 * 1024;

/// Reads one connection's log; `Ok(Some)` at the build's end, `Ok(None)` if the stream
/// ended early (to reconnect).
fn read_stream(
    client: &Client,
    build: &str,
    offset: &mut u64,
    out: &mut dyn Write,
) -> anyhow::Result<Option<FollowEnd>> {
    let path = format!("{build}/log/stream?offset={offset}");
    let (content_type, body) = client.open_stream(&path, "text/plain", Some(*offset))?;
    if content_type.starts_with("text/event-stream") {
        return read_events(body, offset, out);
    }
    read_plain(body, offset, out)?;
    // The body ends once the build has finished and its log was sent; a server that went
    // away may also end it early, which the build's state tells apart.
    let record = client.get_json(build)?;
    if record.get("status").and_then(Value::as_str) != Some("finished") {
        return Ok(None);
    }
    let field = |k: &str| record.get(k).and_then(Value::as_str).map(str::to_owned);
    Ok(Some(FollowEnd {
        result: field("result"),
        reason: field("reason"),
        failed_step: record.get("failed_step").filter(|v| !v.is_null()).cloned(),
    }))
}

/// Copies a plain log's bytes to `out` until its body ends, counting them into `offset`.
fn read_plain(
    mut body: Box<dyn Read + Send>,
    offset: &mut u64,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let mut buffer = vec![0u8; READ_BYTES];
    loop {
        let n = match body.read(&mut buffer) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(anyhow::Error::new(e).context("the log stream broke off")),
        };
        crate::output::write_all(out, &buffer[..n])?;
        *offset += n as u64;
    }
}

/// Reads one connection's server-sent events.
fn read_events(
    body: Box<dyn Read + Send>,
    offset: &mut u64,
    out: &mut dyn Write,
) -> anyhow::Result<Option<FollowEnd>> {
    let mut events = SseReader::new(BufReader::new(body));
    while let Some(event) = events.next_event()? {
        match event.event.as_str() {
            "log" => {
                let text: String = serde_json::from_str(&event.data)
                    .context("a log event is not a JSON string")?;
                crate::output::write_all(out, text.as_bytes())?;
                if let Some(id) = event.id.and_then(|i| i.parse::<u64>().ok()) {
                    *offset = id;
                }
            }
            "end" => {
                let end: Value = serde_json::from_str(&event.data).unwrap_or(Value::Null);
                let text = end.get("text").and_then(Value::as_str).unwrap_or("");
                crate::output::write_all(out, text.as_bytes())?;
                let field = |k: &str| end.get(k).and_then(Value::as_str).map(str::to_owned);
                return Ok(Some(FollowEnd {
                    result: field("result"),
                    reason: field("reason"),
                    failed_step: None,
                }));
            }
            "error" => bail!("the server could not read the log: {}", event.data),
            _ => {}
        }
    }
    Ok(None)
}
