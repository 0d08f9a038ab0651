//! `kiln trigger`, `kiln logs`, `kiln cancel` and `kiln approve`: one build on the server.

use crate::cli::{ApproveArgs, BuildArgs, LogsArgs, OutputFormat, TriggerArgs};
use crate::client::job_segment;
use crate::client::{Client, parse_build};
use crate::follow::{FollowEnd, follow};
use crate::run::parse_params;
use serde_json::{Value, json};
use std::io::IsTerminal;
use std::process::ExitCode;

pub fn trigger(args: &TriggerArgs) -> anyhow::Result<ExitCode> {
    let client = Client::new(&args.client);
    let params = parse_params(&args.params)?;
    let mut body = json!({ "params": params });
    if let Some(branch) = &args.branch {
        body["branch"] = json!(branch);
    }
    let answer = client.post_json(&format!("/jobs/{}/builds", job_segment(&args.job)), &body)?;
    let json_out = args.client.output == OutputFormat::Json;
    if answer["scan"] == "started" {
        // A multibranch job: the server scans its repository instead of building it.
        if json_out {
            outln!("{answer}")?;
        } else {
            outln!("{}", answer["message"].as_str().unwrap_or("scan started"))?;
        }
        if args.follow {
            eprintln!("--follow: a scan has no log to follow; follow a build of a branch job");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let id = answer["id"].as_str().unwrap_or("?").to_string();
    if json_out {
        outln!("{answer}")?;
    } else {
        outln!("{id} {}", answer["url"].as_str().unwrap_or(""))?;
    }
    if !args.follow {
        return Ok(ExitCode::SUCCESS);
    }
    let (job, number) = crate::client::parse_build(&id)?;
    stream(&client, &job, number, json_out)
}

pub fn logs(args: &LogsArgs) -> anyhow::Result<ExitCode> {
    let client = Client::new(&args.client);
    let (job, number) = parse_build(&args.build)?;
    let json_out = args.client.output == OutputFormat::Json;
    if args.follow {
        return stream(&client, &job, number, json_out);
    }
    let mut offset = 0u64;
    let mut log = Vec::new();
    loop {
        let path = format!(
            "/jobs/{}/builds/{number}/log?offset={offset}",
            job_segment(&job)
        );
        let (bytes, headers) = client.get_bytes(&path)?;
        let end = headers
            .get("x-log-end")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(offset);
        offset += bytes.len() as u64;
        if json_out {
            log.extend_from_slice(&bytes);
        } else {
            crate::output::write_all(&mut std::io::stdout(), &bytes)?;
        }
        if bytes.is_empty() || offset >= end {
            break;
        }
    }
    if json_out {
        let text = String::from_utf8_lossy(&log);
        outln!(
            "{}",
            json!({ "id": args.build, "offset": 0, "end": offset, "log": text })
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Follows a build to its end: the log on stdout (stderr in JSON mode, where stdout gets one
/// JSON line with the result), progress on a terminal's stderr; exit code from the result.
fn stream(client: &Client, job: &str, number: u64, json_out: bool) -> anyhow::Result<ExitCode> {
    let progress = std::io::stderr().is_terminal();
    if progress {
        let build = client.get_json(&format!("/jobs/{}/builds/{number}", job_segment(job)))?;
        if build["status"] == "queued" {
            eprintln!("{job}#{number} is queued, waiting for an executor...");
        }
    }
    let end = if json_out {
        follow(client, job, number, 0, &mut std::io::stderr())?
    } else {
        follow(client, job, number, 0, &mut std::io::stdout())?
    };
    report_end(job, number, &end, json_out, progress)?;
    Ok(end.exit_code())
}

fn report_end(
    job: &str,
    number: u64,
    end: &FollowEnd,
    json_out: bool,
    progress: bool,
) -> Result<(), crate::output::OutputError> {
    if json_out {
        outln!(
            "{}",
            json!({
                "id": format!("{job}#{number}"),
                "result": end.result,
                "reason": end.reason,
                "failed_step": end.failed_step,
            })
        )?;
        return Ok(());
    }
    if let Some(line) = end.failed_step_line() {
        eprintln!("{job}#{number}: {line}");
    }
    if progress {
        let reason = end
            .reason
            .as_ref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default();
        eprintln!(
            "{job}#{number}: {}{reason}",
            end.result.as_deref().unwrap_or("finished")
        );
    }
    Ok(())
}

pub fn cancel(args: &BuildArgs) -> anyhow::Result<ExitCode> {
    let client = Client::new(&args.client);
    let (job, number) = parse_build(&args.build)?;
    let answer = client.post_json(
        &format!("/jobs/{}/builds/{number}/cancel", job_segment(&job)),
        &Value::Null,
    )?;
    if args.client.output == OutputFormat::Json {
        outln!("{answer}")?;
    } else {
        outln!("cancelled {job}#{number}")?;
    }
    Ok(ExitCode::SUCCESS)
}

pub fn approve(args: &ApproveArgs) -> anyhow::Result<ExitCode> {
    let client = Client::new(&args.client);
    let (job, number) = parse_build(&args.build)?;
    let params = parse_params(&args.params)?;
    let action = if args.abort { "abort" } else { "approve" };
    let body = json!({ "action": action, "params": params });
    let answer = client.post_json(
        &format!("/jobs/{}/builds/{number}/input", job_segment(&job)),
        &body,
    )?;
    if args.client.output == OutputFormat::Json {
        outln!("{answer}")?;
    } else if args.abort {
        outln!("aborted {job}#{number}")?;
    } else {
        outln!("approved {job}#{number}")?;
    }
    Ok(ExitCode::SUCCESS)
}
