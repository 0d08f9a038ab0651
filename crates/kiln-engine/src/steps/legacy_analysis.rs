//! The steps of the retired static-analysis plugins built on analysis-core: `checkstyle`,
//! `pmd`, `findbugs` and `warnings(parserConfigurations: [...])`. Each reads its reports
//! with `recordIssues`' readers, records the counts as `recordIssues` does, and applies the
//! legacy thresholds with analysis-core's meaning:
//!
//! - `failedTotalAll/High/Normal/Low` and `unstableTotalAll/High/Normal/Low` are numbers of
//!   warnings a build may have; one more makes it FAILURE (checked first) or UNSTABLE. An
//!   empty or non-numeric threshold is off, as in Jenkins. HIGH counts the reports' errors
//!   and high-priority warnings together (analysis-core had no separate error severity).
//! - The step does nothing on a failed or aborted build, unless `canRunOnFailed: true`
//!   (then only an aborted build skips it).
//! - The thresholds on new warnings (`unstableNew*`, `failedNew*`) compare with a reference
//!   build, which kiln does not keep; the health report (`healthy`, `unHealthy`,
//!   `thresholdLimit`) and the other options have no meaning in kiln. Each one given is
//!   named in the log as not used.

use super::StepCall;
use super::descriptor::described;
use super::issues::scan;
use super::scripted::DESCRIPTOR_KEY;
use crate::error::StepError;
use crate::{BuildResult, IssueCounts};
use kiln_script::Value;

/// Parameters kiln reads; the others are named in the log when given.
const READ: &[&str] = &[
    "pattern",
    "canRunOnFailed",
    "parserConfigurations",
    "consoleParsers",
    "unstableTotalAll",
    "unstableTotalHigh",
    "unstableTotalNormal",
    "unstableTotalLow",
    "failedTotalAll",
    "failedTotalHigh",
    "failedTotalNormal",
    "failedTotalLow",
];

/// The warnings plugin's parser names kiln reads, with the `recordIssues` tool for each.
const PARSERS: &[(&str, &str)] = &[
    ("Java Compiler (javac)", "java"),
    ("Java Compiler", "java"),
    ("Maven", "mavenConsole"),
    ("GNU C Compiler (gcc)", "gcc"),
    ("GNU C Compiler 4 (gcc)", "gcc4"),
    ("GNU Make + GNU C Compiler (gcc)", "gcc"),
    ("Clang (LLVM based)", "clang"),
    ("CheckStyle", "checkStyle"),
    ("PMD", "pmdParser"),
    ("FindBugs", "findBugs"),
];

/// The `recordIssues` tool a legacy step stands for.
fn tool_of(step: &str) -> Option<&'static str> {
    match step {
        "checkstyle" => Some("checkStyle"),
        "pmd" => Some("pmdParser"),
        "findbugs" => Some("findBugs"),
        _ => None,
    }
}

pub(crate) async fn legacy_analysis(call: &StepCall<'_>) -> Result<Value, StepError> {
    let step = call.name;
    let result = call.build.result();
    let can_run_on_failed = call.bool("canRunOnFailed", false)?;
    if result == BuildResult::Aborted || (!can_run_on_failed && result >= BuildResult::Failure) {
        call.log(&format!(
            "[{step}] Skipping: the build result is {} (set canRunOnFailed: true to read the reports of a failed build)",
            result.as_str()
        ));
        return Ok(Value::Null);
    }
    let params = kiln_model::native_step(step).map_or(&[][..], |d| d.params);
    for name in params.iter().map(|p| p.name) {
        if !READ.contains(&name) && call.has(name) {
            call.log(&format!(
                "[{step}] `{name}` is not used by kiln: {}",
                why_unused(name)
            ));
        }
    }
    let tools = tools(call)?;
    let mut results = Vec::new();
    for t in &tools {
        if let Some(counts) = scan(call, t).await? {
            results.push(counts);
        }
    }
    // analysis-core judged one result per step: `warnings` adds its parsers together.
    let mut total = IssueCounts::default();
    for r in &results {
        total.error += r.error;
        total.high += r.high;
        total.normal += r.normal;
        total.low += r.low;
    }
    let verdict = evaluate(call, &total)?;
    match verdict {
        Some((result, line)) => {
            call.log(&format!("[{step}] {line}: build {}", result.as_str()));
            call.scope.stage.worsen(result);
            call.build.worsen(result);
        }
        None => call.log(&format!("[{step}] No threshold exceeded")),
    }
    for r in results {
        call.build.add_reports(|reports| reports.issues.push(r));
    }
    Ok(Value::Null)
}

fn why_unused(name: &str) -> &'static str {
    match name {
        "healthy" | "unHealthy" | "thresholdLimit" => "builds have no health report",
        n if n.contains("New")
            || matches!(
                n,
                "canComputeNew"
                    | "dontComputeNew"
                    | "useDeltaValues"
                    | "usePreviousBuildAsReference"
                    | "useStableBuildAsReference"
            ) =>
        {
            "new warnings need a reference build, which kiln does not keep; not evaluated"
        }
        "defaultEncoding" => "reports are read as UTF-8",
        "shouldDetectModules" => "warnings are not grouped by module",
        "doNotResolveRelativePaths" | "canResolveRelativePaths" => {
            "paths are shown as the reports give them"
        }
        "excludePattern" | "includePattern" | "messagesPattern" | "categoriesPattern" => {
            "every warning of the reports is counted"
        }
        _ => "it has no meaning in kiln",
    }
}

/// The `recordIssues` tool descriptors the step reads.
fn tools(call: &StepCall<'_>) -> Result<Vec<Value>, StepError> {
    let step = call.name;
    let descriptor = |kind: &str, pattern: Option<String>| {
        let mut m = vec![(DESCRIPTOR_KEY.to_owned(), Value::Str(kind.to_owned()))];
        if let Some(p) = pattern.filter(|p| !p.trim().is_empty()) {
            m.push(("pattern".to_owned(), Value::Str(p)));
        }
        Value::Map(m)
    };
    if let Some(kind) = tool_of(step) {
        // An empty pattern is the plugin's default (`**/checkstyle-result.xml`, ...).
        return Ok(vec![descriptor(kind, call.string("pattern")?)]);
    }
    if call.has("pattern") {
        call.log(&format!(
            "[{step}] `pattern` is not used by kiln: give each parser's files in `parserConfigurations`"
        ));
    }
    let mut out = Vec::new();
    if let Some(v) = described(call, "consoleParsers")? {
        for p in list(v) {
            let name = p
                .get("parserName")
                .map(Value::to_string)
                .unwrap_or_default();
            call.log(&format!(
                "[{step}] Scanning the console log (parser `{name}`) is not supported by kiln: give the tool's output in a file with `parserConfigurations`; nothing recorded"
            ));
        }
    }
    for p in described(call, "parserConfigurations")?
        .map(list)
        .unwrap_or_default()
    {
        let name = p
            .get("parserName")
            .map(Value::to_string)
            .unwrap_or_default();
        let pattern = p.get("pattern").map(Value::to_string);
        match PARSERS.iter().find(|(n, _)| *n == name) {
            Some((_, kind)) => out.push(descriptor(kind, pattern)),
            None => {
                let known: Vec<&str> = PARSERS.iter().map(|(n, _)| *n).collect();
                call.log(&format!(
                    "[{step}] Parser `{name}` is not known to kiln; skipped (kiln reads {})",
                    known.join(", ")
                ));
            }
        }
    }
    Ok(out)
}

fn list(v: Value) -> Vec<Value> {
    match v {
        Value::List(items) => items,
        Value::Null => Vec::new(),
        one => vec![one],
    }
}

/// The first threshold the counts exceed, failures first, as analysis-core checks them.
fn evaluate(
    call: &StepCall<'_>,
    c: &IssueCounts,
) -> Result<Option<(BuildResult, String)>, StepError> {
    let checks = [
        ("failedTotalAll", c.total(), BuildResult::Failure),
        ("failedTotalHigh", c.error + c.high, BuildResult::Failure),
        ("failedTotalNormal", c.normal, BuildResult::Failure),
        ("failedTotalLow", c.low, BuildResult::Failure),
        ("unstableTotalAll", c.total(), BuildResult::Unstable),
        ("unstableTotalHigh", c.error + c.high, BuildResult::Unstable),
        ("unstableTotalNormal", c.normal, BuildResult::Unstable),
        ("unstableTotalLow", c.low, BuildResult::Unstable),
    ];
    for (name, count, result) in checks {
        let Some(threshold) = threshold(call, name)? else {
            continue;
        };
        if count > 0 && count > threshold {
            return Ok(Some((
                result,
                format!("{count} warning(s) exceed {name}: {threshold}"),
            )));
        }
    }
    Ok(None)
}

/// A threshold as analysis-core reads it: a number >= 0; anything else (`''`) is off.
fn threshold(call: &StepCall<'_>, name: &str) -> Result<Option<u64>, StepError> {
    Ok(match call.value(name)? {
        Some(Value::Int(i)) => u64::try_from(i).ok(),
        Some(Value::Str(s)) => s.trim().parse::<u64>().ok(),
        _ => None,
    })
}
