//! SledStore benchmarks (plain `std::time`, run with `cargo bench -p kiln-store`):
//! 1. listing a job's newest 50 builds in a store with 100,000 builds (p50/p99 over 1,000 calls),
//! 2. log ingestion: 100 MB appended in 64 KiB and 256 KiB batches (the server's log
//!    recorder appends up to 256 KiB at once), each append durable (flushed),
//! 3. `create_build` throughput (each create durable),
//! 4. `builds_in(Queued, Running)` with 1,000 queued builds among 10,000 (server start).
//!
//! `KILN_STORE_BENCH_SCALE=0.1` shrinks every workload (for a quick look).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use kiln_store::{BuildStatus, NewBuild, Page, SledStore, Store};
use kiln_types::{BuildRef, JobName};
use std::time::{Duration, Instant};

fn main() {
    let scale: f64 = std::env::var("KILN_STORE_BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    let scaled = |n: usize| ((n as f64 * scale) as usize).max(1);
    // `cargo bench -p kiln-store -- list` runs only the benchmarks whose name contains `list`.
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let wanted = |name: &str| filter.as_deref().is_none_or(|f| name.contains(f));
    let dir = tempfile::Builder::new()
        .prefix("kiln-store-bench-")
        .tempdir()
        .unwrap();

    if wanted("create") {
        let store = SledStore::open(&dir.path().join("create")).unwrap();
        create_builds(&store, scaled(5_000));
    }
    if wanted("list") {
        let store = SledStore::open(&dir.path().join("list")).unwrap();
        list_builds(&store, scaled(100_000), 1_000);
    }
    if wanted("builds_in") {
        let store = SledStore::open(&dir.path().join("builds_in")).unwrap();
        builds_in(&store, scaled(10_000), scaled(1_000));
    }
    if wanted("ingest") {
        let store = SledStore::open(&dir.path().join("logs")).unwrap();
        ingest(&store, scaled(100 * 1024 * 1024), 64 * 1024);
        // The batch the server's log recorder appends under heavy output (BATCH_BYTES).
        ingest(&store, scaled(100 * 1024 * 1024), 256 * 1024);
        ingest(&store, scaled(20 * 1024 * 1024), 4 * 1024);
        ingest_concurrently(&store, scaled(100 * 1024 * 1024), 64 * 1024, 4);
    }
}

fn job(name: &str) -> JobName {
    JobName::new(name).unwrap()
}

fn new_build(i: usize) -> NewBuild {
    NewBuild {
        cause: "started by the benchmark".into(),
        started_by: None,
        params: [("BRANCH".to_string(), format!("feature-{}", i % 17))].into(),
        commit: Some(format!("{:040x}", i)),
        branch: Some("main".into()),
        queued_at_ms: 1_700_000_000_000 + i as u64,
        change: None,
    }
}

/// Durable creates, one after another and from four threads at once.
fn create_builds(store: &SledStore, n: usize) {
    let mut times = Vec::with_capacity(n);
    let start = Instant::now();
    for i in 0..n {
        let t = Instant::now();
        store.create_build(&job("create"), new_build(i)).unwrap();
        times.push(t.elapsed());
    }
    let total = start.elapsed();
    println!(
        "create_build (1 thread): {n} builds in {:.2} s = {:.0} builds/s; {}",
        total.as_secs_f64(),
        n as f64 / total.as_secs_f64(),
        percentiles(&mut times)
    );
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..4 {
            s.spawn(move || {
                for i in 0..n / 4 {
                    store
                        .create_build(&job(&format!("create-{t}")), new_build(i))
                        .unwrap();
                }
            });
        }
    });
    let total = start.elapsed();
    println!(
        "create_build (4 threads): {} builds in {:.2} s = {:.0} builds/s",
        n / 4 * 4,
        total.as_secs_f64(),
        (n / 4 * 4) as f64 / total.as_secs_f64()
    );
}

/// A job with `n` finished builds (plus a small second job), then `calls` list calls of the
/// newest page and of pages at random depths.
fn list_builds(store: &SledStore, n: usize, calls: usize) {
    let big = job("big");
    let start = Instant::now();
    std::thread::scope(|s| {
        // Two creators (the machine has two cores); numbers interleave as in a busy server.
        for _ in 0..2 {
            s.spawn(|| {
                for i in 0..n / 2 {
                    store.create_build(&big, new_build(i)).unwrap();
                }
            });
        }
    });
    for i in 0..100 {
        store.create_build(&job("small"), new_build(i)).unwrap();
    }
    println!(
        "list setup: {} builds created in {:.1} s",
        n / 2 * 2 + 100,
        start.elapsed().as_secs_f64()
    );

    let newest = Page {
        before: None,
        limit: 50,
    };
    let mut times = timed(calls, |_| {
        assert_eq!(store.list_builds(&big, newest).unwrap().len(), 50)
    });
    println!("list newest 50 of {n}: {}", percentiles(&mut times));
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut times = timed(calls, |_| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let before = 51 + seed % (n as u64 - 50);
        assert_eq!(
            store
                .list_builds(
                    &big,
                    Page {
                        before: Some(before),
                        limit: 50
                    }
                )
                .unwrap()
                .len(),
            50
        );
    });
    println!(
        "list 50 before a random number: {}",
        percentiles(&mut times)
    );
}

/// `builds_in(Queued, Running)`, as at server start, with `queued` queued builds among `n`.
fn builds_in(store: &SledStore, n: usize, queued: usize) {
    let job = job("recovery");
    for i in 0..n {
        let mut b = store.create_build(&job, new_build(i)).unwrap();
        if i < n - queued {
            b.status = BuildStatus::Finished;
            b.result = Some(kiln_types::BuildResult::Success);
            store.update_build(&b).unwrap();
        }
    }
    let active = [BuildStatus::Queued, BuildStatus::Running];
    let mut times = timed(100, |_| {
        assert_eq!(store.builds_in(&active).unwrap().len(), queued)
    });
    println!(
        "builds_in(queued, running): {queued} of {n} builds: {}",
        percentiles(&mut times)
    );
}

/// Appends `total` bytes in `batch`-sized durable appends to one build's log.
fn ingest(store: &SledStore, total: usize, batch: usize) {
    let id = store
        .create_build(&job("logs"), NewBuild::default())
        .unwrap()
        .id;
    let line: Vec<u8> =
        b"[build] compiling crate kiln-store v0.1.0 (/work/crates/kiln-store) ... ok\n".to_vec();
    let chunk: Vec<u8> = line.iter().copied().cycle().take(batch).collect();
    let appends = total / batch;
    let mut times = Vec::with_capacity(appends);
    let start = Instant::now();
    for _ in 0..appends {
        let t = Instant::now();
        store.append_log(&id, &chunk).unwrap();
        times.push(t.elapsed());
    }
    let secs = start.elapsed().as_secs_f64();
    let mb = (appends * batch) as f64 / 1e6;
    println!(
        "log ingestion, {} KiB batches: {mb:.0} MB in {secs:.2} s = {:.0} MB/s; per append {}",
        batch / 1024,
        mb / secs,
        percentiles(&mut times)
    );
    check_read_back(store, &id, (appends * batch) as u64);
}

/// `threads` builds appending at once (a server with several running builds).
fn ingest_concurrently(store: &SledStore, total: usize, batch: usize, threads: usize) {
    let chunk = vec![b'x'; batch];
    let ids: Vec<BuildRef> = (0..threads)
        .map(|_| {
            store
                .create_build(&job("logs"), NewBuild::default())
                .unwrap()
                .id
        })
        .collect();
    let per_thread = total / batch / threads;
    let start = Instant::now();
    std::thread::scope(|s| {
        for id in &ids {
            let chunk = &chunk;
            s.spawn(move || {
                for _ in 0..per_thread {
                    store.append_log(id, chunk).unwrap();
                }
            });
        }
    });
    let secs = start.elapsed().as_secs_f64();
    let mb = (per_thread * threads * batch) as f64 / 1e6;
    println!(
        "log ingestion, {threads} builds at once, {} KiB batches: {mb:.0} MB in {secs:.2} s = {:.0} MB/s",
        batch / 1024,
        mb / secs
    );
}

fn check_read_back(store: &SledStore, id: &BuildRef, len: u64) {
    let start = Instant::now();
    let mut offset = 0;
    while offset < len {
        let slice = store.read_log(id, offset, 1024 * 1024).unwrap();
        offset += slice.bytes.len() as u64;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "log read back in 1 MiB reads: {:.0} MB/s",
        len as f64 / 1e6 / secs
    );
}

fn timed(calls: usize, mut f: impl FnMut(usize)) -> Vec<Duration> {
    (0..calls)
        .map(|i| {
            let t = Instant::now();
            f(i);
            t.elapsed()
        })
        .collect()
}

fn percentiles(times: &mut [Duration]) -> String {
    times.sort();
    let at = |p: f64| times[((times.len() as f64 * p) as usize).min(times.len() - 1)];
    format!(
        "p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        at(0.50).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        at(1.0).as_secs_f64() * 1e3
    )
}
