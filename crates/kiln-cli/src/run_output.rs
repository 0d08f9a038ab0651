//! How `kiln run` shows a build: live log lines prefixed by stage, then a summary table and
//! `Finished: RESULT`, as Jenkins ends a console log.

use kiln_engine::{BuildEvent, BuildResult, BuildSummary, StageOutcome};
use kiln_plan::Plan;
use std::io::Write as _;
use std::time::Duration;

pub struct Printer {
    color: bool,
    /// Stage paths by node, for the prefix of each log line.
    paths: Vec<Vec<String>>,
}

const COLORS: [&str; 6] = ["36", "35", "34", "33", "32", "96"];

impl Printer {
    pub fn new(plan: &Plan, color: bool) -> Self {
        Printer {
            color,
            paths: plan.nodes.iter().map(|n| n.path.clone()).collect(),
        }
    }

    fn prefix(&self, path: &[String]) -> String {
        let name = path.join(" / ");
        if self.color {
            let h = name.bytes().fold(0usize, |a, b| {
                a.wrapping_mul(31).wrapping_add(usize::from(b))
            });
            format!("\x1b[{}m[{name}]\x1b[0m ", COLORS[h % COLORS.len()])
        } else {
            format!("[{name}] ")
        }
    }

    pub fn event(&mut self, event: &BuildEvent) {
        let mut out = std::io::stdout().lock();
        let _ = match event {
            BuildEvent::StageStarted { node, path } => {
                // Stages a script runs are numbered after the plan's: learn their paths.
                if node.index() >= self.paths.len() {
                    self.paths.resize(node.index() + 1, Vec::new());
                    self.paths[node.index()].clone_from(path);
                }
                writeln!(out, "{}Stage started", self.prefix(path))
            }
            BuildEvent::StageFinished {
                path,
                outcome,
                duration,
                ..
            } => match outcome {
                StageOutcome::Ran(r) => writeln!(
                    out,
                    "{}Stage finished: {} ({})",
                    self.prefix(path),
                    self.result(*r),
                    fmt_duration(*duration)
                ),
                skipped => writeln!(
                    out,
                    "{}Stage {}",
                    self.prefix(path),
                    skipped.label().to_lowercase()
                ),
            },
            BuildEvent::Log { node, line } => match node.and_then(|n| self.paths.get(n.index())) {
                Some(p) => writeln!(out, "{}{line}", self.prefix(p)),
                // The log's own last line; the summary ends with it instead.
                None if line.starts_with("Finished: ") => Ok(()),
                None => writeln!(out, "{line}"),
            },
            BuildEvent::Notice { message } => writeln!(out, "kiln: {message}"),
            BuildEvent::BuildFinished { .. } => Ok(()),
        };
    }

    fn result(&self, r: BuildResult) -> String {
        if !self.color {
            return r.as_str().to_string();
        }
        let code = match r {
            BuildResult::Success => "32",
            BuildResult::Unstable => "33",
            BuildResult::Failure => "31",
            BuildResult::NotBuilt | BuildResult::Aborted => "90",
        };
        format!("\x1b[{code}m{}\x1b[0m", r.as_str())
    }

    pub fn summary(&self, summary: &BuildSummary) {
        let mut out = std::io::stdout().lock();
        let width = summary
            .stages
            .iter()
            .map(|s| s.path.join(" / ").chars().count())
            .max()
            .unwrap_or(5)
            .max(5);
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{:<width$}  {:<26}  {:>9}",
            "Stage", "Result", "Duration"
        );
        for s in &summary.stages {
            let (label, dur) = match s.outcome {
                StageOutcome::Ran(r) => (r.as_str().to_string(), fmt_duration(s.duration)),
                other => (other.label().to_string(), "-".to_string()),
            };
            let _ = writeln!(
                out,
                "{:<width$}  {:<26}  {:>9}",
                s.path.join(" / "),
                label,
                dur
            );
        }
        if let Some(t) = &summary.tests {
            let _ = writeln!(
                out,
                "Tests: {} run, {} failed, {} skipped",
                t.total, t.failed, t.skipped
            );
        }
        if !summary.artifacts.is_empty() {
            let _ = writeln!(out, "Artifacts: {}", summary.artifacts.len());
        }
        let _ = writeln!(out, "Finished: {}", summary.result.as_str());
    }
}

fn fmt_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1_000 {
        format!("{ms} ms")
    } else if ms < 60_000 {
        format!("{:.1} s", d.as_secs_f64())
    } else {
        format!("{}m {}s", ms / 60_000, (ms % 60_000) / 1_000)
    }
}
