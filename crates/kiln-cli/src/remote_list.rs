//! `kiln jobs` and `kiln builds [JOB]`: listings from the server.

use crate::cli::{BuildsArgs, ClientArgs, OutputFormat};
use crate::client::Client;
use crate::client::job_segment;
use anyhow::bail;
use serde_json::Value;
use std::process::ExitCode;

pub fn jobs(args: &ClientArgs) -> anyhow::Result<ExitCode> {
    let client = Client::new(args);
    let answer = client.get_json("/jobs")?;
    if args.output == OutputFormat::Json {
        outln!("{}", serde_json::to_string_pretty(&answer)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    let jobs = answer["jobs"].as_array().cloned().unwrap_or_default();
    if jobs.is_empty() {
        outln!("no jobs: add some under `jobs:` in the server's configuration")?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut rows = vec![vec![
        "JOB".to_string(),
        "BRANCH".into(),
        "LAST BUILD".into(),
        "SOURCE".into(),
    ]];
    for job in &jobs {
        let source = job["source"]["repo"]
            .as_str()
            .or(job["source"]["dir"].as_str())
            .unwrap_or("");
        let last = match job.get("last_build").filter(|b| !b.is_null()) {
            Some(b) => format!("#{} {}", b["number"], state(b)),
            None => "never built".into(),
        };
        rows.push(vec![
            text(&job["name"]),
            text(&job["branch"]),
            last,
            source.to_string(),
        ]);
    }
    print_table(&rows)?;
    Ok(ExitCode::SUCCESS)
}

pub fn builds(args: &BuildsArgs) -> anyhow::Result<ExitCode> {
    if args.limit == 0 || args.limit > 100 {
        bail!("--limit must be between 1 and 100");
    }
    let client = Client::new(&args.client);
    let builds: Vec<Value> = match &args.job {
        Some(job) => {
            let answer = client.get_json(&format!(
                "/jobs/{}/builds?limit={}",
                job_segment(job),
                args.limit
            ))?;
            answer["builds"].as_array().cloned().unwrap_or_default()
        }
        None => last_builds(&client)?,
    };
    if args.client.output == OutputFormat::Json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "builds": builds }))?
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut rows = vec![vec![
        "BUILD".to_string(),
        "STATE".into(),
        "CAUSE".into(),
        "COMMIT".into(),
        "TOOK".into(),
    ]];
    for b in &builds {
        let commit = b["commit"]
            .as_str()
            .map(|c| c.get(..10).unwrap_or(c))
            .unwrap_or("");
        let took = b["duration_ms"].as_u64().map(seconds).unwrap_or_default();
        rows.push(vec![
            text(&b["id"]),
            state(b),
            text(&b["cause"]),
            commit.to_string(),
            took,
        ]);
    }
    print_table(&rows)?;
    Ok(ExitCode::SUCCESS)
}

/// The last build of every job, as full build records.
fn last_builds(client: &Client) -> anyhow::Result<Vec<Value>> {
    let answer = client.get_json("/jobs")?;
    let mut builds = Vec::new();
    for job in answer["jobs"].as_array().into_iter().flatten() {
        if let (Some(name), Some(n)) = (job["name"].as_str(), job["last_build"]["number"].as_u64())
        {
            builds.push(client.get_json(&format!("/jobs/{}/builds/{n}", job_segment(name)))?);
        }
    }
    Ok(builds)
}

/// A build's result, or where it is when it has none yet.
pub fn state(build: &Value) -> String {
    match build["result"].as_str() {
        Some(r) => r.to_string(),
        None => build["status"].as_str().unwrap_or("?").replace('_', " "),
    }
}

fn text(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_owned)
}

fn seconds(ms: u64) -> String {
    format!("{:.1}s", ms as f64 / 1000.0)
}

/// Left-aligned columns separated by two spaces; the last column is not padded.
fn print_table(rows: &[Vec<String>]) -> Result<(), crate::output::OutputError> {
    let columns = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..columns)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c + 1 == columns {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<width$}  ", width = widths[c]));
            }
        }
        outln!("{}", line.trim_end())?;
    }
    Ok(())
}
