//! The one format of a build's log lines, shared by `kiln run`'s terminal output and the
//! server's stored logs: `[Stage / Sub] line` for a stage's lines, `Stage started`,
//! `Stage finished: RESULT (duration)`, `Stage skipped ...` for stages that did not run,
//! pipeline-level lines without a prefix, `kiln: ...` notices, and `Finished: RESULT` last.

use crate::{BuildEvent, BuildResult, LineKind, LogLines, StageOutcome};
use kiln_plan::{NodeId, Plan};
use std::fmt;
use std::time::Duration;

/// How the parts of a log line are shown. The default methods give plain text; a terminal
/// overrides them to add colour.
pub trait LineStyle {
    /// The stage prefix for a stage named `name` (its path joined with ` / `), without the
    /// space after it.
    fn stage(&self, name: &str) -> String {
        format!("[{name}]")
    }

    /// A stage's result in `Stage finished: RESULT`.
    fn result(&self, result: BuildResult) -> String {
        result.as_str().to_owned()
    }
}

/// Plain text, as stored logs have it.
#[derive(Clone, Copy, Debug, Default)]
pub struct PlainStyle;

impl LineStyle for PlainStyle {}

/// Turns [`BuildEvent`]s into log lines. It knows the plan's stage paths, and learns the
/// paths of stages a scripted pipeline starts (numbered after the plan's nodes) from their
/// [`BuildEvent::StageStarted`].
#[derive(Clone, Debug, Default)]
pub struct LogFormatter {
    /// Stage paths by node index.
    paths: Vec<Vec<String>>,
}

impl LogFormatter {
    pub fn new(plan: &Plan) -> Self {
        LogFormatter {
            paths: plan.nodes.iter().map(|n| n.path.clone()).collect(),
        }
    }

    /// The path of a stage the formatter knows.
    pub fn path(&self, node: NodeId) -> Option<&[String]> {
        self.paths
            .get(node.index())
            .filter(|p| !p.is_empty())
            .map(Vec::as_slice)
    }

    /// The log line for an event; `None` for [`BuildEvent::BuildFinished`], which the
    /// pipeline's `Finished: RESULT` line already says, and for [`BuildEvent::Output`],
    /// whose lines [`LogFormatter::write_output`] writes.
    pub fn line(&mut self, event: &BuildEvent) -> Option<LogLine> {
        let line = match event {
            BuildEvent::StageStarted { node, path } => {
                self.learn(*node, path);
                LogLine::stage(path, LineText::Started)
            }
            BuildEvent::StageFinished {
                path,
                outcome,
                duration,
                ..
            } => LogLine::stage(
                path,
                match outcome {
                    StageOutcome::Ran(r) => LineText::Finished(*r, *duration),
                    skipped => LineText::NotRun(*skipped),
                },
            ),
            BuildEvent::Log {
                node: None,
                line,
                kind: LineKind::BuildEnd,
            } => LogLine {
                stage: None,
                text: LineText::End(line.clone()),
            },
            BuildEvent::Log { node, line, .. } => match node.and_then(|n| self.path(n)) {
                Some(p) => LogLine::stage(p, LineText::Output(line.clone())),
                None => LogLine {
                    stage: None,
                    text: LineText::Output(line.clone()),
                },
            },
            BuildEvent::Notice { message } => LogLine {
                stage: None,
                text: LineText::Notice(message.clone()),
            },
            BuildEvent::BuildFinished { .. } | BuildEvent::Output { .. } => return None,
        };
        Some(line)
    }

    /// Appends a process's lines to `out`, each as its [`LogLine`] would render in `style`
    /// followed by `\n` (the stage prefix is made once for the batch).
    pub fn write_output(
        &self,
        node: Option<NodeId>,
        lines: &LogLines,
        style: &dyn LineStyle,
        out: &mut String,
    ) {
        let prefix = self.output_prefix(node, style);
        lines.write_prefixed(prefix.as_deref().unwrap_or_default(), out);
    }

    /// [`LogFormatter::write_output`] into bytes, as a stored log's text is gathered;
    /// returns how many lines (line breaks) it wrote.
    pub fn append_output(
        &self,
        node: Option<NodeId>,
        lines: &LogLines,
        style: &dyn LineStyle,
        out: &mut Vec<u8>,
    ) -> u64 {
        let prefix = self.output_prefix(node, style);
        let prefix = prefix.as_deref().unwrap_or_default();
        let written = lines.append_prefixed(prefix, out) as u64;
        // A stage's name may hold a line break of its own.
        let breaks = memchr::memchr_iter(b'\n', prefix.as_bytes()).count() as u64;
        written * (1 + breaks)
    }

    /// What goes before each output line of stage `node`.
    fn output_prefix(&self, node: Option<NodeId>, style: &dyn LineStyle) -> Option<String> {
        node.and_then(|n| self.path(n))
            .map(|p| format!("{} ", style.stage(&p.join(" / "))))
    }

    /// Remembers the path of a stage started after the plan's nodes (a script's stage).
    fn learn(&mut self, node: NodeId, path: &[String]) {
        let i = node.index();
        if i >= self.paths.len() {
            self.paths.resize(i + 1, Vec::new());
        }
        if self.paths[i].is_empty() {
            self.paths[i] = path.to_vec();
        }
    }
}

/// One line of a build's log, before it is shown (see [`LogLine::render`]).
#[derive(Clone, Debug, PartialEq)]
pub struct LogLine {
    /// The stage's name (its path joined with ` / `), or `None` for a pipeline-level line.
    stage: Option<String>,
    text: LineText,
}

#[derive(Clone, Debug, PartialEq)]
enum LineText {
    Started,
    Finished(BuildResult, Duration),
    /// A stage that did not run (skipped by `when`, after a failure, ...).
    NotRun(StageOutcome),
    /// A line of output, or of the build itself.
    Output(String),
    /// The build's own last line (see [`LineKind::BuildEnd`]).
    End(String),
    Notice(String),
}

impl LogLine {
    fn stage(path: &[String], text: LineText) -> LogLine {
        LogLine {
            stage: Some(path.join(" / ")),
            text,
        }
    }

    /// The stage the line belongs to (its path joined with ` / `).
    pub fn stage_name(&self) -> Option<&str> {
        self.stage.as_deref()
    }

    /// Whether this is the log's own last line, `Finished: RESULT` (known by its kind,
    /// [`LineKind::BuildEnd`], never by its words).
    pub fn ends_log(&self) -> bool {
        matches!(self.text, LineText::End(_))
    }

    /// The line's text (without a line break) in `style`.
    pub fn render(&self, style: &dyn LineStyle) -> String {
        let body = match &self.text {
            LineText::Started => "Stage started".to_owned(),
            LineText::Finished(r, d) => {
                format!(
                    "Stage finished: {} ({})",
                    style.result(*r),
                    format_duration(*d)
                )
            }
            LineText::NotRun(outcome) => format!("Stage {}", outcome.label().to_lowercase()),
            LineText::Output(line) | LineText::End(line) => line.clone(),
            LineText::Notice(message) => format!("kiln: {message}"),
        };
        match &self.stage {
            Some(name) => format!("{} {body}", style.stage(name)),
            None => body,
        }
    }
}

impl fmt::Display for LogLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(&PlainStyle))
    }
}

/// Durations as logs show them: `340 ms`, `2.5 s`, `3m 12s`.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1_000 {
        format!("{ms} ms")
    } else if ms < 60_000 {
        format!("{:.1} s", d.as_secs_f64())
    } else {
        format!("{}m {}s", ms / 60_000, (ms % 60_000) / 1_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> Plan {
        let (doc, diags) = kiln_model::load(
            "pipeline {\n agent any\n stages {\n  stage('Build') {\n   stages {\n    stage('Unit') { steps { echo 'x' } }\n   }\n  }\n }\n}\n",
        );
        assert!(diags.is_empty(), "{diags:?}");
        match doc {
            Some(kiln_model::Document::Declarative(p)) => kiln_plan::plan(&p),
            other => panic!("not declarative: {other:?}"),
        }
    }

    fn path(parts: &[&str]) -> Vec<String> {
        parts.iter().map(|s| (*s).to_owned()).collect()
    }

    fn check(f: &mut LogFormatter, event: BuildEvent, expected: Option<&str>) {
        assert_eq!(f.line(&event).map(|l| l.to_string()).as_deref(), expected);
    }

    #[test]
    fn formats_every_kind_of_event() {
        let plan = plan();
        let unit = plan
            .nodes
            .iter()
            .position(|n| n.path == ["Build", "Unit"])
            .map(|i| NodeId(u32::try_from(i).unwrap()))
            .unwrap();
        let f = &mut LogFormatter::new(&plan);
        let p = path(&["Build", "Unit"]);
        check(
            f,
            BuildEvent::StageStarted {
                node: unit,
                path: p.clone(),
            },
            Some("[Build / Unit] Stage started"),
        );
        check(
            f,
            BuildEvent::Log {
                node: Some(unit),
                line: "hi".into(),
                kind: crate::LineKind::Text,
            },
            Some("[Build / Unit] hi"),
        );
        check(
            f,
            BuildEvent::StageFinished {
                node: unit,
                path: p.clone(),
                outcome: StageOutcome::Ran(BuildResult::Success),
                duration: Duration::from_millis(340),
                failed_step: None,
            },
            Some("[Build / Unit] Stage finished: SUCCESS (340 ms)"),
        );
        check(
            f,
            BuildEvent::StageFinished {
                node: unit,
                path: p,
                outcome: StageOutcome::SkippedByWhen,
                duration: Duration::ZERO,
                failed_step: None,
            },
            Some("[Build / Unit] Stage skipped (when)"),
        );
        check(
            f,
            BuildEvent::Log {
                node: None,
                line: "Started by user a".into(),
                kind: crate::LineKind::Text,
            },
            Some("Started by user a"),
        );
        check(
            f,
            BuildEvent::Notice {
                message: "tools ignored".into(),
            },
            Some("kiln: tools ignored"),
        );
        check(
            f,
            BuildEvent::BuildFinished {
                result: BuildResult::Success,
                duration: Duration::ZERO,
            },
            None,
        );
    }

    #[test]
    fn writes_a_process_s_lines_as_their_log_lines() {
        let plan = plan();
        let unit = NodeId(u32::try_from(plan.nodes.len() - 1).unwrap());
        let f = LogFormatter::new(&plan);
        let lines: LogLines = ["a", "", "c"].into_iter().collect();
        let mut out = String::new();
        f.write_output(Some(unit), &lines, &PlainStyle, &mut out);
        f.write_output(None, &lines, &PlainStyle, &mut out);
        assert_eq!(
            out,
            "[Build / Unit] a\n[Build / Unit] \n[Build / Unit] c\na\n\nc\n"
        );
        // The same text as bytes, appended after what the buffer holds, lines counted.
        let mut bytes = b"before\n".to_vec();
        assert_eq!(
            f.append_output(Some(unit), &lines, &PlainStyle, &mut bytes),
            3
        );
        assert_eq!(f.append_output(None, &lines, &PlainStyle, &mut bytes), 3);
        assert_eq!(bytes, format!("before\n{out}").into_bytes());
        let one = BuildEvent::Log {
            node: Some(unit),
            line: "a".into(),
            kind: crate::LineKind::Text,
        };
        let mut formatter = LogFormatter::new(&plan);
        assert_eq!(
            formatter.line(&one).map(|l| l.to_string()).as_deref(),
            out.lines().next()
        );
    }

    #[test]
    fn learns_the_paths_of_stages_a_script_starts() {
        let plan = plan();
        let f = &mut LogFormatter::new(&plan);
        let dynamic = NodeId(u32::try_from(plan.nodes.len() + 1).unwrap());
        check(
            f,
            BuildEvent::Log {
                node: Some(dynamic),
                line: "early".into(),
                kind: crate::LineKind::Text,
            },
            Some("early"),
        );
        check(
            f,
            BuildEvent::StageStarted {
                node: dynamic,
                path: path(&["A"]),
            },
            Some("[A] Stage started"),
        );
        check(
            f,
            BuildEvent::Log {
                node: Some(dynamic),
                line: "a".into(),
                kind: crate::LineKind::Text,
            },
            Some("[A] a"),
        );
    }

    #[test]
    fn only_the_pipeline_finished_line_ends_the_log() {
        let f = &mut LogFormatter::default();
        let end = f
            .line(&BuildEvent::Log {
                node: None,
                line: "Finished: FAILURE".into(),
                kind: crate::LineKind::BuildEnd,
            })
            .unwrap();
        assert!(end.ends_log());
        assert_eq!(end.to_string(), "Finished: FAILURE");
        let other = f
            .line(&BuildEvent::Log {
                node: None,
                line: "done".into(),
                kind: crate::LineKind::Text,
            })
            .unwrap();
        assert!(!other.ends_log());
    }

    /// Regression: the end is known by the line's kind, so a step that prints the same
    /// words does not end the log.
    #[test]
    fn a_line_that_reads_like_the_end_does_not_end_the_log() {
        let f = &mut LogFormatter::default();
        let echoed = f
            .line(&BuildEvent::Log {
                node: None,
                line: "Finished: FAILURE".into(),
                kind: crate::LineKind::Text,
            })
            .unwrap();
        assert!(!echoed.ends_log());
    }

    #[test]
    fn a_style_decorates_the_prefix_and_the_result() {
        struct Loud;
        impl LineStyle for Loud {
            fn stage(&self, name: &str) -> String {
                format!("<{name}>")
            }
            fn result(&self, r: BuildResult) -> String {
                format!("*{}*", r.as_str())
            }
        }
        let line = LogLine::stage(
            &path(&["A"]),
            LineText::Finished(BuildResult::Failure, Duration::from_millis(2500)),
        );
        assert_eq!(line.render(&Loud), "<A> Stage finished: *FAILURE* (2.5 s)");
    }

    #[test]
    fn durations_read_like_the_summary_table() {
        assert_eq!(format_duration(Duration::from_millis(999)), "999 ms");
        assert_eq!(format_duration(Duration::from_millis(1_500)), "1.5 s");
        assert_eq!(format_duration(Duration::from_secs(192)), "3m 12s");
    }
}
