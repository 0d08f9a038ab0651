//! Spawn overhead of the local process runner: `spawn_local` of `sh -c true` awaited to its
//! exit status, against `std::process::Command` doing the same. Prints the median time per
//! spawn of each and their ratio.

use kiln_executor::ProcessSpec;
use kiln_executor::process::spawn_local;
use std::collections::BTreeMap;
use std::error::Error;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const RUNS: usize = 1000;
const WARMUP: usize = 20;

fn main() -> Result<(), Box<dyn Error>> {
    let path = std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".to_owned());
    let spec = ProcessSpec::new(vec!["sh".into(), "-c".into(), "true".into()])
        .env(BTreeMap::from([("PATH".to_owned(), path)]));
    let workspace = std::env::temp_dir();

    let std_median = median(measure(|| {
        let status = Command::new("sh").args(["-c", "true"]).status()?;
        check(status.success())
    })?);
    let multi = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let multi_median = median(measure(|| kiln_spawn(&multi, &spec, &workspace))?);
    let current = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let current_median = median(measure(|| kiln_spawn(&current, &spec, &workspace))?);

    println!("spawn `sh -c true` and wait, median of {RUNS} runs:");
    println!(
        "  std::process::Command           {:>9.1} µs",
        micros(std_median)
    );
    println!(
        "  spawn_local (multi-thread rt)   {:>9.1} µs  ratio {:.2}",
        micros(multi_median),
        ratio(multi_median, std_median)
    );
    println!(
        "  spawn_local (current-thread rt) {:>9.1} µs  ratio {:.2}",
        micros(current_median),
        ratio(current_median, std_median)
    );
    Ok(())
}

fn kiln_spawn(
    runtime: &tokio::runtime::Runtime,
    spec: &ProcessSpec,
    workspace: &Path,
) -> Result<(), Box<dyn Error>> {
    runtime.block_on(async {
        let status = spawn_local(spec.clone(), workspace).await?.wait().await?;
        check(status.success())
    })
}

fn check(success: bool) -> Result<(), Box<dyn Error>> {
    if success {
        Ok(())
    } else {
        Err("`sh -c true` failed".into())
    }
}

fn measure(
    mut run: impl FnMut() -> Result<(), Box<dyn Error>>,
) -> Result<Vec<Duration>, Box<dyn Error>> {
    for _ in 0..WARMUP {
        run()?;
    }
    let mut times = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let start = Instant::now();
        run()?;
        times.push(start.elapsed());
    }
    Ok(times)
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort_unstable();
    times.get(times.len() / 2).copied().unwrap_or_default()
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64().max(f64::MIN_POSITIVE)
}
