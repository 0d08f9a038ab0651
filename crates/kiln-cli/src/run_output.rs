//! How `kiln run` shows a build: live log lines prefixed by stage, then a summary table and
//! `Finished: RESULT`, as Jenkins ends a console log.

use kiln_engine::{
    BuildEvent, BuildResult, BuildSummary, LineStyle, LogFormatter, PlainStyle, StageOutcome,
    format_duration,
};
use kiln_plan::Plan;
use std::io::Write as _;

pub struct Printer {
    color: bool,
    /// The engine's log-line format (the same lines the server stores).
    formatter: LogFormatter,
    /// A process's lines as printed, kept to be used again.
    output: String,
}

const COLORS: [&str; 6] = ["36", "35", "34", "33", "32", "96"];

/// The log-line format with colour, for a terminal.
struct Colored;

impl LineStyle for Colored {
    fn stage(&self, name: &str) -> String {
        let h = name.bytes().fold(0usize, |a, b| {
            a.wrapping_mul(31).wrapping_add(usize::from(b))
        });
        format!("\x1b[{}m[{name}]\x1b[0m", COLORS[h % COLORS.len()])
    }

    fn result(&self, r: BuildResult) -> String {
        let code = match r {
            BuildResult::Success => "32",
            BuildResult::Unstable => "33",
            BuildResult::Failure => "31",
            BuildResult::NotBuilt | BuildResult::Aborted => "90",
        };
        format!("\x1b[{code}m{}\x1b[0m", r.as_str())
    }
}

impl Printer {
    pub fn new(plan: &Plan, color: bool) -> Self {
        Printer {
            color,
            formatter: LogFormatter::new(plan),
            output: String::new(),
        }
    }

    pub fn event(&mut self, event: &BuildEvent) {
        if let BuildEvent::Output { node, lines, .. } = event {
            self.output.clear();
            let style: &dyn LineStyle = if self.color { &Colored } else { &PlainStyle };
            self.formatter
                .write_output(*node, lines, style, &mut self.output);
            let _ = std::io::stdout().lock().write_all(self.output.as_bytes());
            return;
        }
        let Some(line) = self.formatter.line(event) else {
            return;
        };
        // The log's own last line: the summary ends with it instead.
        if line.ends_log() {
            return;
        }
        let text = if self.color {
            line.render(&Colored)
        } else {
            line.render(&PlainStyle)
        };
        let _ = writeln!(std::io::stdout().lock(), "{text}");
    }

    /// The summary table and what the build kept; `build_dir` is where its files are.
    pub fn summary(&self, summary: &BuildSummary, build_dir: &std::path::Path) {
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
                StageOutcome::Ran(r) => (r.as_str().to_string(), format_duration(s.duration)),
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
        for r in &summary.reports.html {
            let index = r.files.first().map_or("index.html", String::as_str);
            let path = build_dir.join("html").join(&r.dir).join(index);
            let _ = writeln!(out, "HTML report '{}': {}", r.name, path.display());
        }
        for a in &summary.reports.gate_artifacts {
            let verb = match a.direction {
                kiln_engine::GateDirection::Produces => "produced",
                kiln_engine::GateDirection::Consumes => "consumed",
            };
            let _ = writeln!(out, "Artifact {verb}: {} (type {})", a.id, a.kind);
        }
        if let Some((s, f)) = summary
            .stages
            .iter()
            .find_map(|s| s.failed_step.as_ref().map(|f| (s, f)))
        {
            let _ = writeln!(
                out,
                "Failed at stage {}, {}",
                s.path.join(" / "),
                f.describe()
            );
        }
        let _ = writeln!(out, "Finished: {}", summary.result.as_str());
    }
}
