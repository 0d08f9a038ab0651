//! `options { timeout(...); buildDiscarder(logRotator(...)); ... }`.

use super::cx::{CallView, Cx};
use super::sections::{Expected, expect_call};
use crate::{
    Computed, LockOption, OptionKind, Options, PipelineOption, Retention, RetentionExprs, Timeout,
};
use kiln_syntax::ast::{Expr, ExprKind, UnaryOp};
use std::collections::HashMap;

const NOT_AN_OPTION: Expected = Expected {
    code: "expected-option",
    message: "expected an option",
    hint: "e.g. `timeout(time: 1, unit: 'HOURS')`",
};

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Level {
    Pipeline,
    Stage,
}

const PIPELINE_OPTIONS: &[&str] = &[
    "timeout",
    "retry",
    "timestamps",
    "ansiColor",
    "disableConcurrentBuilds",
    "buildDiscarder",
    "skipDefaultCheckout",
    "skipStagesAfterUnstable",
    "parallelsAlwaysFailFast",
    "quietPeriod",
    "checkoutToSubdirectory",
    "preserveStashes",
    "disableResume",
    "newContainerPerStage",
    "durabilityHint",
    "overrideIndexTriggers",
    "lock",
    "copyArtifactPermission",
    "disableRestartFromStage",
    "rateLimitBuilds",
];

/// Options Jenkins allows on a stage.
const STAGE_OPTIONS: &[&str] = &[
    "timeout",
    "retry",
    "timestamps",
    "ansiColor",
    "skipDefaultCheckout",
    "lock",
];

pub(super) fn options(cx: &mut Cx, call: &CallView<'_>, level: Level) -> Options {
    let known = match level {
        Level::Pipeline => PIPELINE_OPTIONS,
        Level::Stage => STAGE_OPTIONS,
    };
    let mut items = Vec::new();
    let mut seen = HashMap::new();
    for stmt in call.body() {
        let Some(o) = expect_call(cx, stmt, &NOT_AN_OPTION) else {
            continue;
        };
        if super::steps::WRAPPER_OPTIONS.contains(&o.name.value) {
            if let Some((name, step)) = super::steps::wrapper_step(cx, &o) {
                items.push(PipelineOption {
                    kind: OptionKind::Wrapper {
                        name,
                        step: Box::new(step),
                    },
                    span: o.span,
                });
            }
            continue;
        }
        if !known.contains(&o.name.value) {
            if level == Level::Stage && PIPELINE_OPTIONS.contains(&o.name.value) {
                cx.error(
                    "misplaced-option",
                    o.name.span,
                    format!("option `{}` is not allowed on a stage", o.name.value),
                    "it belongs in the pipeline's `options`",
                );
            } else {
                cx.unknown("unknown-option", "option", o.name, known);
            }
            continue;
        }
        let name = known.iter().copied().find(|k| *k == o.name.value);
        if !super::sections::entry(cx, &o, "option", Some(&mut seen), name) {
            continue;
        }
        if let Some(kind) = option(cx, &o) {
            items.push(PipelineOption { kind, span: o.span });
        }
    }
    Options { items }
}

fn option(cx: &mut Cx, o: &CallView<'_>) -> Option<OptionKind> {
    let what = format!("`{}`", o.name.value);
    let arg = |name: &str| o.named(name).or_else(|| o.single());
    Some(match o.name.value {
        "timeout" => OptionKind::Timeout(timeout(cx, o)?),
        "retry" => {
            cx.check_named(o, &what, &["count", "conditions"]);
            OptionKind::Retry(cx.literal_u32(arg("count")?, "the retry count")?)
        }
        "timestamps" => OptionKind::Timestamps,
        "ansiColor" => OptionKind::AnsiColor(
            arg("colorMapName")
                .and_then(|e| cx.literal_string(e, "a colour map name"))
                .unwrap_or_else(|| "xterm".into()),
        ),
        "disableConcurrentBuilds" => {
            cx.check_named(o, &what, &["abortPrevious"]);
            OptionKind::DisableConcurrentBuilds {
                abort_previous: o
                    .named("abortPrevious")
                    .and_then(|e| cx.literal_bool(e, "`abortPrevious`"))
                    .unwrap_or(false),
            }
        }
        "buildDiscarder" => OptionKind::BuildDiscarder(retention(cx, o)?),
        "skipDefaultCheckout" => OptionKind::SkipDefaultCheckout(
            o.single()
                .map_or(Some(true), |e| cx.literal_bool(e, &what))?,
        ),
        "skipStagesAfterUnstable" => OptionKind::SkipStagesAfterUnstable,
        "parallelsAlwaysFailFast" => OptionKind::ParallelsAlwaysFailFast,
        "quietPeriod" => {
            OptionKind::QuietPeriod(cx.literal_u32(arg("quietPeriod")?, "the quiet period")?)
        }
        "checkoutToSubdirectory" => OptionKind::CheckoutToSubdirectory(
            cx.computed_string(arg("subdirectory")?, "a directory")?,
        ),
        "preserveStashes" => OptionKind::PreserveStashes {
            build_count: stash_count(cx, o)?,
        },
        "disableResume" => OptionKind::DisableResume,
        "newContainerPerStage" => OptionKind::NewContainerPerStage,
        "durabilityHint" => {
            OptionKind::DurabilityHint(cx.literal_string(arg("hint")?, "a durability hint")?)
        }
        "overrideIndexTriggers" => {
            OptionKind::OverrideIndexTriggers(cx.literal_bool(o.single()?, &what)?)
        }
        "lock" => OptionKind::Lock(lock(cx, o)?),
        "copyArtifactPermission" => OptionKind::CopyArtifactPermission(
            cx.literal_string(arg("projectNames")?, "a job name")?,
        ),
        "rateLimitBuilds" => {
            cx.check_named(o, &what, &["throttle"]);
            OptionKind::RateLimitBuilds
        }
        _ => OptionKind::DisableRestartFromStage,
    })
}

/// `lock('db')`, `lock(resource: 'db')`, `lock(label: 'phones', quantity: 1,
/// inversePrecedence: true, variable: 'LOCKED', skipIfLocked: true)`: written as literals, since the option is
/// taken before any script runs.
fn lock(cx: &mut Cx, o: &CallView<'_>) -> Option<LockOption> {
    const KEYS: &[&str] = &[
        "resource",
        "label",
        "quantity",
        "inversePrecedence",
        "variable",
        "skipIfLocked",
    ];
    cx.check_named(o, "`lock`", KEYS);
    let string = |cx: &mut Cx, e: Option<&Expr>, what: &str| match e {
        Some(e) => cx.literal_string(e, what).map(Some),
        None => Some(None),
    };
    let resource = string(
        cx,
        o.named("resource").or_else(|| o.single()),
        "a resource name",
    )?;
    let label = string(cx, o.named("label"), "a label")?;
    let variable = string(cx, o.named("variable"), "a variable name")?;
    let quantity = match o.named("quantity") {
        Some(e) => cx.literal_u32(e, "`quantity`")?,
        None => 0,
    };
    let inverse_precedence = match o.named("inversePrecedence") {
        Some(e) => cx.literal_bool(e, "`inversePrecedence`")?,
        None => false,
    };
    let skip_if_locked = match o.named("skipIfLocked") {
        Some(e) => cx.literal_bool(e, "`skipIfLocked`")?,
        None => false,
    };
    if resource.is_none() && label.is_none() {
        cx.error(
            "missing-argument",
            o.span,
            "`lock` needs a resource or a label",
            "expected `lock('db')` or `lock(label: 'phones', quantity: 1)`",
        );
        return None;
    }
    Some(LockOption {
        resource,
        label,
        quantity,
        inverse_precedence,
        variable,
        skip_if_locked,
    })
}

/// `timeout(time: 30, unit: 'MINUTES', activity: true)` or `timeout(30)` (minutes).
pub(super) fn timeout(cx: &mut Cx, o: &CallView<'_>) -> Option<Timeout> {
    cx.check_named(o, "`timeout`", &["time", "unit", "activity"]);
    let Some(time) = o.named("time").or_else(|| o.single()) else {
        cx.error(
            "missing-argument",
            o.span,
            "`timeout` needs a `time`",
            "expected `timeout(time: 30, unit: 'MINUTES')`",
        );
        return None;
    };
    let time = u64::from(cx.literal_u32(time, "the timeout")?);
    let unit = match o.named("unit") {
        Some(u) => cx.literal_string(u, "the time unit")?,
        None => "MINUTES".to_string(),
    };
    let Some(millis_per) = unit_millis(&unit) else {
        if let Some(u) = o.named("unit") {
            cx.error(
                "invalid-time-unit",
                u.span,
                format!("unknown time unit `{unit}`"),
                "expected `SECONDS`, `MINUTES`, `HOURS` or `DAYS` (or `MILLISECONDS`)",
            );
        }
        return None;
    };
    let activity = match o.named("activity") {
        Some(e) => cx.literal_bool(e, "`activity`")?,
        None => false,
    };
    Some(Timeout {
        millis: time.saturating_mul(millis_per),
        activity,
    })
}

/// Milliseconds in one of Java's `TimeUnit`s.
pub(crate) fn unit_millis(unit: &str) -> Option<u64> {
    Some(match unit {
        "NANOSECONDS" | "MICROSECONDS" => 0,
        "MILLISECONDS" => 1,
        "SECONDS" => 1_000,
        "MINUTES" => 60_000,
        "HOURS" => 3_600_000,
        "DAYS" => 86_400_000,
        _ => return None,
    })
}

const ROTATOR_KEYS: &[&str] = &[
    "numToKeepStr",
    "daysToKeepStr",
    "artifactNumToKeepStr",
    "artifactDaysToKeepStr",
    "numToKeep",
    "daysToKeep",
    "artifactNumToKeep",
    "artifactDaysToKeep",
];

/// `buildDiscarder(logRotator(numToKeepStr: '10'))`.
fn retention(cx: &mut Cx, o: &CallView<'_>) -> Option<Retention> {
    let rotator = o
        .single()
        .or_else(|| o.named("strategy"))
        .and_then(CallView::of_expr);
    let Some(rot) = rotator.filter(|r| r.name.value == "logRotator") else {
        cx.error(
            "invalid-build-discarder",
            o.span,
            "`buildDiscarder` needs a `logRotator(...)`",
            "expected `buildDiscarder(logRotator(numToKeepStr: '10'))`",
        );
        return None;
    };
    cx.check_named(&rot, "`logRotator`", ROTATOR_KEYS);
    let mut at_start = RetentionExprs::default();
    let mut num = |cx: &mut Cx, a: &str, b: &str| -> Option<u32> {
        let e: &Expr = rot.named(a).or_else(|| rot.named(b))?;
        // Evaluated by the build, which records the count for the job.
        if let Some(Computed::AtStart(e)) = computed_count(e) {
            let slot = match a {
                "numToKeepStr" => &mut at_start.builds_to_keep,
                "daysToKeepStr" => &mut at_start.days_to_keep,
                "artifactNumToKeepStr" => &mut at_start.artifact_builds_to_keep,
                _ => &mut at_start.artifact_days_to_keep,
            };
            *slot = Some(e);
            return None;
        }
        // An empty string means "no limit", as in Jenkins.
        if e.as_plain_str().is_some_and(|s| s.trim().is_empty()) {
            return None;
        }
        if let ExprKind::Int(n) = e.kind {
            if n < 0 {
                return None;
            }
        }
        cx.literal_u32(e, &format!("`{a}`"))
    };
    let builds_to_keep = num(cx, "numToKeepStr", "numToKeep");
    let days_to_keep = num(cx, "daysToKeepStr", "daysToKeep");
    let artifact_builds_to_keep = num(cx, "artifactNumToKeepStr", "artifactNumToKeep");
    let artifact_days_to_keep = num(cx, "artifactDaysToKeepStr", "artifactDaysToKeep");
    Some(Retention {
        builds_to_keep,
        days_to_keep,
        artifact_builds_to_keep,
        artifact_days_to_keep,
        at_start,
    })
}

/// A count written as an expression Jenkins evaluates when the build starts (a GString, a
/// variable); `None` for literals, which `literal_u32` reads.
fn computed_count(e: &Expr) -> Option<Computed<String>> {
    match &e.kind {
        ExprKind::Int(_) => None,
        _ if e.as_plain_str().is_some() => None,
        ExprKind::Str(_)
        | ExprKind::Ident(_)
        | ExprKind::Property { .. }
        | ExprKind::Call { closure: None, .. }
        | ExprKind::Ternary { .. }
        | ExprKind::Elvis { .. } => Some(Computed::AtStart(Box::new(e.clone()))),
        _ => None,
    }
}

/// The most builds whose stashes Jenkins keeps (`PreserveStashesJobProperty`).
const MAX_SAVED_STASHES: i64 = 50;

/// `preserveStashes(buildCount: 5)`: 1 to 50, as Jenkins' validator requires.
fn stash_count(cx: &mut Cx, o: &CallView<'_>) -> Option<u32> {
    let Some(e) = o.named("buildCount") else {
        return Some(1);
    };
    let n = match &e.kind {
        ExprKind::Int(n) => Some(*n),
        ExprKind::Unary {
            op: UnaryOp::Neg,
            expr,
        } => match expr.kind {
            ExprKind::Int(n) => Some(-n),
            _ => None,
        },
        _ => e.as_plain_str().and_then(|s| s.trim().parse::<i64>().ok()),
    };
    match n {
        Some(n) if (1..=MAX_SAVED_STASHES).contains(&n) => u32::try_from(n).ok(),
        _ => {
            cx.error(
                "invalid-stash-count",
                e.span,
                format!("`buildCount` must be between 1 and {MAX_SAVED_STASHES}"),
                format!("expected a whole number from 1 to {MAX_SAVED_STASHES}"),
            );
            None
        }
    }
}
