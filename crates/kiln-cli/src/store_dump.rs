//! The dump file of `kiln store export`/`import`: a header line, then one JSON line per
//! record, in order: a job, its builds oldest first, each followed by its log in chunks (a
//! JSON line with the chunk's length and events, then exactly that many bytes of the log),
//! and a trailer with the counts, so a truncated file is refused. A store shared by
//! controllers (PostgreSQL) also has, after a build's log, the files it keeps for the build
//! (stashes, artifacts, reports: a JSON line with the file's path and length, then its bytes)
//! and the controls sent to the build's owner (a JSON line each). The same store content
//! always gives the same bytes, whichever store it was read from.

use anyhow::{Context as _, bail};
use kiln_store::{BuildFile, BuildPages, BuildRecord, JobRecord, LogEvent, Store, StoredControl};
use kiln_types::{BuildRef, JobName};
use serde::{Deserialize, Serialize};
use std::io::{BufRead, Read as _, Write};

/// The first line of every dump.
const HEADER: &str = "kiln-store-dump 1";
/// A log chunk's text at most (more only for one event longer than this).
const CHUNK: u64 = 1 << 20;
/// The longest JSON line read back (a build's record).
const MAX_LINE: u64 = 64 << 20;
/// Builds listed at once while exporting.
const PAGE: usize = 500;

/// One JSON line of a dump.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Entry {
    Job(JobRecord),
    Build(Box<BuildRecord>),
    /// `len` bytes of the build's log follow the line; `events` are counted from their start.
    Log {
        build: BuildRef,
        len: u64,
        events: Vec<LogEvent>,
    },
    /// `len` bytes of a file the shared store keeps for the build follow the line.
    File {
        build: BuildRef,
        path: String,
        len: u64,
    },
    /// A control sent to the build's owner through the shared store.
    Control {
        build: BuildRef,
        control: StoredControl,
    },
    End(Counts),
}

/// What a dump holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub jobs: u64,
    pub builds: u64,
    pub log_bytes: u64,
    /// Files and controls of a shared store (absent from dumps of kiln before them).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub files: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub controls: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Writes every job, build and log of `store` to `out`.
pub fn write(store: &dyn Store, out: &mut dyn Write) -> anyhow::Result<Counts> {
    writeln!(out, "{HEADER}")?;
    let mut counts = Counts::default();
    for job in store.list_jobs()? {
        line(out, &Entry::Job(job.clone()))?;
        counts.jobs += 1;
        for build in builds_oldest_first(store, &job.name)? {
            let id = build.id.clone();
            line(out, &Entry::Build(Box::new(build)))?;
            counts.builds += 1;
            counts.log_bytes += write_log(store, &id, out)?;
            write_shared(store, &id, out, &mut counts)?;
        }
    }
    line(out, &Entry::End(counts))?;
    Ok(counts)
}

fn builds_oldest_first(store: &dyn Store, job: &JobName) -> anyhow::Result<Vec<BuildRecord>> {
    let mut builds = Vec::new();
    for page in BuildPages::new(store, job, PAGE) {
        builds.extend(page?);
    }
    builds.reverse();
    Ok(builds)
}

/// The build's log in chunks of whole events; returns its length.
fn write_log(store: &dyn Store, id: &BuildRef, out: &mut dyn Write) -> anyhow::Result<u64> {
    let mut events = store.read_log_events(id)?;
    let end = store.read_log(id, 0, 0)?.end;
    let covered = events.last().map_or(0, LogEvent::end);
    if covered < end {
        // Text no event describes (a store from before events): plain text, as it reads.
        events.push(LogEvent::plain(covered, end - covered));
    }
    let mut rest = events.as_slice();
    while let Some(first) = rest.first() {
        let start = first.offset;
        let take = rest
            .iter()
            .position(|e| e.end() - start > CHUNK)
            .unwrap_or(rest.len())
            .max(1);
        let (chunk, tail) = rest.split_at(take);
        rest = tail;
        let len = chunk.last().map_or(0, LogEvent::end) - start;
        let max = usize::try_from(len).context("a log chunk does not fit in memory")?;
        let text = store.read_log(id, start, max)?;
        if text.bytes.len() as u64 != len {
            bail!("the log of {id} changed while it was exported: stop the server first");
        }
        let events = chunk
            .iter()
            .map(|e| LogEvent {
                offset: e.offset - start,
                ..e.clone()
            })
            .collect();
        line(
            out,
            &Entry::Log {
                build: id.clone(),
                len,
                events,
            },
        )?;
        out.write_all(&text.bytes)?;
        out.write_all(b"\n")?;
    }
    Ok(end)
}

/// What a shared store keeps for the build besides its record and log.
fn write_shared(
    store: &dyn Store,
    id: &BuildRef,
    out: &mut dyn Write,
    counts: &mut Counts,
) -> anyhow::Result<()> {
    let Some(shared) = store.coordination() else {
        return Ok(());
    };
    for file in shared.build_files(id)? {
        let entry = Entry::File {
            build: id.clone(),
            path: file.path,
            len: file.bytes.len() as u64,
        };
        line(out, &entry)?;
        out.write_all(&file.bytes)?;
        out.write_all(b"\n")?;
        counts.files += 1;
    }
    for control in shared.build_controls(id)? {
        let entry = Entry::Control {
            build: id.clone(),
            control,
        };
        line(out, &entry)?;
        counts.controls += 1;
    }
    Ok(())
}

fn line(out: &mut dyn Write, entry: &Entry) -> anyhow::Result<()> {
    serde_json::to_writer(&mut *out, entry)?;
    out.write_all(b"\n")?;
    Ok(())
}

/// Reads a dump into `store`, which must be empty; build numbers, records, logs and events
/// come out as they went in.
pub fn read(store: &dyn Store, input: &mut dyn BufRead) -> anyhow::Result<Counts> {
    if !store.list_jobs()?.is_empty() {
        bail!("the store is not empty: import into a new store only");
    }
    let header = read_line(input)?.context("the file is empty")?;
    if header != HEADER.as_bytes() {
        bail!("not a kiln store dump (its first line is not `{HEADER}`)");
    }
    let mut counts = Counts::default();
    let mut job: Option<JobRecord> = None;
    let mut n = 1;
    loop {
        n += 1;
        let Some(text) = read_line(input)? else {
            bail!("the file ends before its trailer: it was cut short");
        };
        let entry: Entry = serde_json::from_slice(&text)
            .with_context(|| format!("line {n} is not an entry of a store dump"))?;
        match entry {
            Entry::Job(next) => {
                finish_job(store, job.replace(next))?;
                counts.jobs += 1;
            }
            Entry::Build(build) => {
                restore_build(store, job.as_ref(), *build).with_context(|| format!("line {n}"))?;
                counts.builds += 1;
            }
            Entry::Log { build, len, events } => {
                let text = read_bytes(input, len).with_context(|| format!("line {n}"))?;
                store
                    .append_log_events(&build, &text, &events)
                    .with_context(|| format!("line {n}: the log of {build}"))?;
                counts.log_bytes += len;
                n += 1;
            }
            Entry::File { build, path, len } => {
                let bytes = read_bytes(input, len).with_context(|| format!("line {n}"))?;
                shared(store, n)?
                    .restore_file(&build, &BuildFile { path, bytes })
                    .with_context(|| format!("line {n}: a file of {build}"))?;
                counts.files += 1;
                n += 1;
            }
            Entry::Control { build, control } => {
                shared(store, n)?
                    .restore_control(&build, &control)
                    .with_context(|| format!("line {n}: a control of {build}"))?;
                counts.controls += 1;
            }
            Entry::End(written) => {
                finish_job(store, job.take())?;
                if written != counts {
                    bail!("the trailer counts {written:?} but the file holds {counts:?}");
                }
                return Ok(counts);
            }
        }
    }
}

/// `len` bytes and the line break after them.
fn read_bytes(input: &mut dyn BufRead, len: u64) -> anyhow::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    input.take(len).read_to_end(&mut bytes)?;
    let mut newline = [0u8; 1];
    input.read_exact(&mut newline)?;
    if bytes.len() as u64 != len || newline != *b"\n" {
        bail!("the bytes after it are cut short");
    }
    Ok(bytes)
}

/// The shared store's own operations, for entries only a shared store has.
fn shared(store: &dyn Store, n: usize) -> anyhow::Result<&dyn kiln_store::Coordination> {
    store.coordination().with_context(|| {
        format!(
            "line {n}: the dump holds files or controls that only a store shared by \
             controllers keeps (PostgreSQL's kiln_files and kiln_controls): import it into \
             PostgreSQL, or export again once no build runs and none kept files"
        )
    })
}

/// A build as it was: its number (the job's counter is set just below it first), then its
/// record.
fn restore_build(
    store: &dyn Store,
    job: Option<&JobRecord>,
    build: BuildRecord,
) -> anyhow::Result<()> {
    let Some(job) = job.filter(|j| j.name == build.id.job) else {
        bail!("build {} comes before its job", build.id);
    };
    store.put_job(&JobRecord {
        name: job.name.clone(),
        last_number: build.id.number.saturating_sub(1),
        meta: job.meta.clone(),
    })?;
    let created = store.create_build(&job.name, Default::default())?;
    if created.id != build.id {
        bail!(
            "build {} came out as {}: the builds of a job must come oldest first",
            build.id,
            created.id
        );
    }
    store.update_build(&build)?;
    Ok(())
}

/// The job's own record, after its builds (its counter never goes back).
fn finish_job(store: &dyn Store, job: Option<JobRecord>) -> anyhow::Result<()> {
    if let Some(job) = job {
        store.put_job(&job)?;
    }
    Ok(())
}

/// A line without its line break; `None` at the end of the file.
fn read_line(input: &mut dyn BufRead) -> anyhow::Result<Option<Vec<u8>>> {
    let mut line = Vec::new();
    input.take(MAX_LINE).read_until(b'\n', &mut line)?;
    if line.is_empty() {
        return Ok(None);
    }
    if line.pop() != Some(b'\n') {
        bail!("a line is longer than {MAX_LINE} bytes or the file is cut short");
    }
    Ok(Some(line))
}
