//! `recordIssues` (Warnings Next Generation): reads the reports of static analysis tools and
//! compilers, counts issues by severity per tool (or aggregated), and applies the quality
//! gates, marking the stage and build UNSTABLE or FAILURE as each gate says.

use super::StepCall;
use super::descriptor::{described, kind_of};
use super::issue_parsers::{Format, parse};
use crate::error::StepError;
use crate::{BuildResult, IssueCounts};
use kiln_script::Value;

/// A tool kiln reads: its descriptor's name, id, display name, format and default pattern.
struct ToolDef {
    kind: &'static str,
    id: &'static str,
    name: &'static str,
    format: Format,
    pattern: Option<&'static str>,
}

const fn tool(
    kind: &'static str,
    id: &'static str,
    name: &'static str,
    format: Format,
    pattern: Option<&'static str>,
) -> ToolDef {
    ToolDef {
        kind,
        id,
        name,
        format,
        pattern,
    }
}

const TOOLS: &[ToolDef] = &[
    tool(
        "checkStyle",
        "checkstyle",
        "CheckStyle",
        Format::CheckStyle,
        Some("**/checkstyle-result.xml"),
    ),
    tool("esLint", "eslint", "ESLint", Format::CheckStyle, None),
    tool("pmdParser", "pmd", "PMD", Format::Pmd, Some("**/pmd.xml")),
    tool(
        "spotBugs",
        "spotbugs",
        "SpotBugs",
        Format::SpotBugs,
        Some("**/spotbugsXml.xml"),
    ),
    tool(
        "findBugs",
        "findbugs",
        "FindBugs",
        Format::SpotBugs,
        Some("**/findbugsXml.xml"),
    ),
    tool("java", "java", "Java Compiler", Format::Javac, None),
    tool("mavenConsole", "maven", "Maven", Format::Javac, None),
    tool("gcc", "gcc", "GNU C Compiler", Format::Gcc, None),
    tool("gcc4", "gcc", "GNU C Compiler", Format::Gcc, None),
    tool("clang", "clang", "Clang", Format::Gcc, None),
];

/// What a quality gate counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum GateType {
    Total,
    Error,
    High,
    Normal,
    Low,
}

struct Gate {
    threshold: u64,
    ty: GateType,
    result: BuildResult,
}

pub(crate) async fn record_issues(call: &StepCall<'_>) -> Result<Value, StepError> {
    let tools = match described(call, "tools")? {
        Some(Value::List(items)) => items,
        Some(one @ Value::Map(_)) => vec![one],
        _ => described(call, "tool")?.into_iter().collect(),
    };
    if tools.is_empty() {
        return Err(StepError::failed(
            "recordIssues needs `tools: [checkStyle(pattern: '...'), ...]` or `tool:`",
        ));
    }
    let gates = gates(call)?;
    for unused in ["healthy", "unhealthy", "minimumSeverity"] {
        if call.has(unused) {
            call.log(&format!(
                "[recordIssues] `{unused}` is not used by kiln: every issue is counted, and builds have no health report"
            ));
        }
    }
    if !call.bool("enabledForFailure", false)? && call.build.result() >= BuildResult::Failure {
        call.log("[recordIssues] Skipping: the build failed (set enabledForFailure: true to record issues anyway)");
        return Ok(Value::Null);
    }
    let mut results = Vec::new();
    for t in &tools {
        if let Some(counts) = scan(call, t).await? {
            results.push(counts);
        }
    }
    if call.bool("aggregatingResults", false)? {
        let mut all = IssueCounts {
            id: call.string("id")?.unwrap_or_else(|| "analysis".to_owned()),
            name: call
                .string("name")?
                .unwrap_or_else(|| "Static Analysis".to_owned()),
            ..IssueCounts::default()
        };
        for r in &results {
            all.error += r.error;
            all.high += r.high;
            all.normal += r.normal;
            all.low += r.low;
        }
        results = vec![all];
    }
    for r in results {
        apply_gates(call, &r, &gates);
        call.build.add_reports(|reports| reports.issues.push(r));
    }
    Ok(Value::Null)
}

/// Reads one tool's reports; `None` (said in the log) for a tool kiln does not know.
pub(crate) async fn scan(call: &StepCall<'_>, t: &Value) -> Result<Option<IssueCounts>, StepError> {
    let kind = kind_of(t).unwrap_or("(not a tool)");
    let Some(def) = TOOLS.iter().find(|d| d.kind == kind) else {
        let known: Vec<&str> = TOOLS.iter().map(|d| d.kind).collect();
        call.log(&format!(
            "[recordIssues] Tool `{kind}` is not known to kiln; skipped (kiln reads {})",
            known.join(", ")
        ));
        return Ok(None);
    };
    let text = |key: &str| t.get(key).and_then(Value::as_str).map(str::to_owned);
    let mut counts = IssueCounts {
        id: text("id").unwrap_or_else(|| def.id.to_owned()),
        name: text("name").unwrap_or_else(|| def.name.to_owned()),
        ..IssueCounts::default()
    };
    let Some(pattern) = text("pattern").or(def.pattern.map(str::to_owned)) else {
        call.log(&format!(
            "[{}] Scanning the console log is not supported by kiln: give `{kind}(pattern: '...')` with a file of the tool's output; nothing recorded",
            counts.name
        ));
        return Ok(None);
    };
    let files = call
        .executor()?
        .list_files(&call.scope.cwd, std::slice::from_ref(&pattern), &[])
        .await?;
    call.log(&format!(
        "[{}] Searching for all files that match the pattern '{pattern}': found {}",
        counts.name,
        files.len()
    ));
    for f in &files {
        let bytes = call
            .executor()?
            .read_file(&call.scope.cwd.join(&f.path))
            .await?;
        let issues = match parse(def.format, &bytes) {
            Ok(issues) => issues,
            Err(e) => {
                let message = format!(
                    "cannot read {} report `{}`: {e}",
                    counts.name,
                    f.path.display()
                );
                if call.bool("failOnError", false)? {
                    return Err(StepError::failed(format!("recordIssues: {message}")));
                }
                call.log(&format!("[{}] ERROR: {message}", counts.name));
                continue;
            }
        };
        for i in issues {
            counts.count(i.severity);
        }
    }
    call.log(&format!(
        "[{}] Total issues: {} (error: {}, high: {}, normal: {}, low: {})",
        counts.name,
        counts.total(),
        counts.error,
        counts.high,
        counts.normal,
        counts.low
    ));
    Ok(Some(counts))
}

fn gates(call: &StepCall<'_>) -> Result<Vec<Gate>, StepError> {
    let items = match call.value("qualityGates")? {
        None => return Ok(Vec::new()),
        Some(Value::List(items)) => items,
        Some(one @ Value::Map(_)) => vec![one],
        Some(other) => {
            return Err(StepError::failed(format!(
                "`qualityGates` of `recordIssues` must be a list of maps, not {}",
                other.kind()
            )));
        }
    };
    let mut out = Vec::new();
    for g in &items {
        let ty_name = g.get("type").and_then(Value::as_str).unwrap_or("TOTAL");
        let ty = match ty_name {
            "TOTAL" => GateType::Total,
            "TOTAL_ERROR" => GateType::Error,
            "TOTAL_HIGH" => GateType::High,
            "TOTAL_NORMAL" => GateType::Normal,
            "TOTAL_LOW" => GateType::Low,
            t if t.starts_with("NEW") || t.starts_with("DELTA") => {
                call.log(&format!(
                    "[recordIssues] Quality gate {t} compares with a reference build, which kiln does not keep: not evaluated"
                ));
                continue;
            }
            other => {
                return Err(StepError::failed(format!(
                    "recordIssues: unknown quality gate type `{other}` (expected TOTAL, TOTAL_ERROR, TOTAL_HIGH, TOTAL_NORMAL or TOTAL_LOW)"
                )));
            }
        };
        let threshold = match g.get("threshold") {
            Some(Value::Int(i)) => u64::try_from(*i).unwrap_or(0),
            Some(Value::Float(f)) if *f >= 0.0 => f.ceil() as u64,
            Some(Value::Str(s)) if s.trim().parse::<u64>().is_ok() => s.trim().parse().unwrap_or(0),
            _ => {
                return Err(StepError::failed(
                    "recordIssues: every quality gate needs a `threshold` number",
                ));
            }
        };
        let result = match (
            g.get("criticality").and_then(Value::as_str),
            g.get("unstable"),
        ) {
            (Some("FAILURE" | "ERROR"), _) => BuildResult::Failure,
            (Some(_), _) => BuildResult::Unstable,
            (None, Some(v)) if !v.is_truthy() => BuildResult::Failure,
            (None, _) => BuildResult::Unstable,
        };
        out.push(Gate {
            threshold: threshold.max(1),
            ty,
            result,
        });
    }
    Ok(out)
}

/// Worsens the stage and build for every gate the counts reach.
fn apply_gates(call: &StepCall<'_>, counts: &IssueCounts, gates: &[Gate]) {
    for g in gates {
        let (count, label) = match g.ty {
            GateType::Total => (counts.total(), "Total (any severity)"),
            GateType::Error => (counts.error, "Total (errors only)"),
            GateType::High => (counts.high, "Total (severity high only)"),
            GateType::Normal => (counts.normal, "Total (severity normal only)"),
            GateType::Low => (counts.low, "Total (severity low only)"),
        };
        let passed = count < g.threshold;
        let verdict = if passed { "PASSED" } else { g.result.as_str() };
        call.log(&format!(
            "[{}] Quality gate: {verdict} - {label}: {count} - threshold: {}",
            counts.name, g.threshold
        ));
        if !passed {
            call.scope.stage.worsen(g.result);
            call.build.worsen(g.result);
        }
    }
}
