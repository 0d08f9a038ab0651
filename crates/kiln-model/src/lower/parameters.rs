//! `parameters { }`, `triggers { }`, `tools { }` and a stage's `input { }`.

use super::cx::{CallView, Cx};
use super::sections::{Expected, expect_call};
use crate::{
    Computed, Input, Parameter, ParameterExprs, ParameterKind, ToolRef, Trigger, TriggerKind,
};
use kiln_diagnostics::{Diagnostic, Spanned};
use kiln_syntax::ast::{Expr, ExprKind};
use std::collections::HashMap;

const NOT_A_PARAMETER: Expected = Expected {
    code: "expected-parameter",
    message: "expected a parameter",
    hint: "e.g. `string(name: 'VERSION', defaultValue: '1.0')`",
};

const NOT_A_TRIGGER: Expected = Expected {
    code: "expected-trigger",
    message: "expected a trigger",
    hint: "e.g. `cron('H 4 * * 1-5')`",
};

const NOT_A_TOOL: Expected = Expected {
    code: "expected-tool",
    message: "expected a tool",
    hint: "e.g. `maven 'Maven 3.9'`",
};

const NOT_AN_INPUT_SETTING: Expected = Expected {
    code: "expected-directive",
    message: "expected a setting in `input`",
    hint: "e.g. `message 'Deploy?'`",
};

const PARAMETER_KINDS: &[&str] = &["string", "text", "booleanParam", "choice", "password"];

/// Parameter types from Jenkins plugins, with their plugin.
const PLUGIN_PARAMETERS: &[(&str, &str)] = &[
    ("gitParameter", "Git Parameter plugin"),
    ("extendedChoice", "Extended Choice Parameter plugin"),
    ("activeChoice", "Active Choices plugin"),
    ("activeChoiceParam", "Active Choices plugin"),
    ("file", "File Parameter plugin"),
    ("base64File", "File Parameter plugin"),
    ("stashedFile", "File Parameter plugin"),
    ("credentials", "Credentials plugin"),
    ("run", "Jenkins core run parameter"),
];

pub(super) fn parameters(cx: &mut Cx, call: &CallView<'_>) -> Vec<Parameter> {
    let mut out: Vec<Parameter> = Vec::new();
    let mut seen = HashMap::new();
    for stmt in call.body() {
        let Some(p) = expect_call(cx, stmt, &NOT_A_PARAMETER) else {
            continue;
        };
        if !super::sections::entry(cx, &p, "parameter", None, None) {
            continue;
        }
        if let Some(param) = parameter(cx, &p) {
            // A computed name is only known when the build starts, where it is checked.
            let computed = param.at_start.name.is_some();
            if let Some(first) = seen
                .insert(param.name.value.clone(), param.name.span)
                .filter(|_| !computed)
            {
                cx.push(
                    Diagnostic::error(
                        "duplicate-parameter",
                        format!("parameter `{}` is defined twice", param.name.value),
                    )
                    .with_primary(param.name.span, "defined again here")
                    .with_secondary(first, "first defined here"),
                );
                continue;
            }
            out.push(param);
        }
    }
    out
}

/// A parameter type from a plugin (`gitParameter`, `extendedChoice`, ...): Jenkins users
/// write them, so kiln accepts them as a string parameter holding the given value (or the
/// `defaultValue`), and says so.
fn plugin_parameter(cx: &mut Cx, p: &CallView<'_>, plugin: &str) -> Option<Parameter> {
    cx.warn(
        "plugin-parameter",
        p.name.span,
        format!(
            "parameter type `{}` is taken as a string parameter by kiln",
            p.name.value
        ),
        format!("it comes from the {plugin}; kiln offers no choices from it"),
    );
    let Some(name_expr) = p.named("name") else {
        cx.error(
            "missing-argument",
            p.span,
            format!("`{}` parameter needs a `name`", p.name.value),
            format!("expected `{}(name: 'NAME', ...)`", p.name.value),
        );
        return None;
    };
    let mut at_start = ParameterExprs::default();
    let name = computed(parameter_name(cx, name_expr)?, &mut at_start.name);
    let default = p
        .named("defaultValue")
        .and_then(|e| e.as_plain_str())
        .unwrap_or_default();
    Some(Parameter {
        name: Spanned::new(name, name_expr.span),
        description: p.named("description").and_then(|e| e.as_plain_str()),
        kind: ParameterKind::String {
            default,
            trim: false,
        },
        at_start,
        span: p.span,
    })
}

fn parameter(cx: &mut Cx, p: &CallView<'_>) -> Option<Parameter> {
    if !PARAMETER_KINDS.contains(&p.name.value) {
        if let Some((_, plugin)) = PLUGIN_PARAMETERS.iter().find(|(n, _)| *n == p.name.value) {
            return plugin_parameter(cx, p, plugin);
        } else {
            cx.unknown(
                "unknown-parameter",
                "parameter type",
                p.name,
                PARAMETER_KINDS,
            );
        }
        return None;
    }
    let what = format!("`{}`", p.name.value);
    let known: &[&str] = match p.name.value {
        "choice" => &["name", "choices", "description"],
        "string" => &["name", "defaultValue", "description", "trim"],
        _ => &["name", "defaultValue", "description"],
    };
    cx.check_named(p, &what, known);
    let Some(name_expr) = p.named("name") else {
        cx.error(
            "missing-argument",
            p.span,
            format!("{what} parameter needs a `name`"),
            format!("expected `{}(name: 'NAME', ...)`", p.name.value),
        );
        return None;
    };
    let mut at_start = ParameterExprs::default();
    let name = computed(parameter_name(cx, name_expr)?, &mut at_start.name);
    let mut text = |cx: &mut Cx, key: &str| -> String {
        p.named(key)
            .and_then(|e| cx.computed_string(e, &format!("`{key}`")))
            .map(|c| computed(c, &mut at_start.default))
            .unwrap_or_default()
    };
    let kind = match p.name.value {
        "string" => ParameterKind::String {
            default: text(cx, "defaultValue"),
            trim: p
                .named("trim")
                .and_then(|e| cx.literal_bool(e, "`trim`"))
                .unwrap_or(false),
        },
        "text" => ParameterKind::Text {
            default: text(cx, "defaultValue"),
        },
        "password" => ParameterKind::Password {
            default: text(cx, "defaultValue"),
        },
        "booleanParam" => ParameterKind::Boolean {
            default: p
                .named("defaultValue")
                .and_then(|e| cx.literal_bool(e, "`defaultValue`"))
                .unwrap_or(false),
        },
        _ => ParameterKind::Choice {
            choices: choices(cx, p)?,
        },
    };
    let description = p.named("description").and_then(|e| e.as_plain_str());
    Some(Parameter {
        name: Spanned::new(name, name_expr.span),
        kind,
        description,
        at_start,
        span: p.span,
    })
}

/// A parameter's name: a string, or an expression giving one; Jenkins refuses a number or
/// a boolean there.
fn parameter_name(cx: &mut Cx, e: &Expr) -> Option<Computed<String>> {
    if matches!(
        e.kind,
        ExprKind::Int(_) | ExprKind::Float(_) | ExprKind::Bool(_)
    ) {
        cx.error(
            "expected-string",
            e.span,
            "a parameter name must be a string",
            format!("expected a string, found {}", super::cx::describe(e)),
        );
        return None;
    }
    cx.computed_string(e, "a parameter name")
}

/// A literal's value, or the empty string with the expression kept in `slot` for the build.
fn computed(value: Computed<String>, slot: &mut Option<Box<Expr>>) -> String {
    match value {
        Computed::Literal(s) => s,
        Computed::AtStart(e) => {
            *slot = Some(e);
            String::new()
        }
    }
}

/// `choices: ['a', 'b']` or `choices: 'a\nb'`.
fn choices(cx: &mut Cx, p: &CallView<'_>) -> Option<Vec<String>> {
    let Some(e) = p.named("choices") else {
        cx.error(
            "missing-argument",
            p.span,
            "`choice` parameter needs `choices`",
            "expected `choices: ['a', 'b']`",
        );
        return None;
    };
    let list: Vec<String> = match &e.kind {
        ExprKind::List(items) => items
            .iter()
            .filter_map(|i| cx.literal_string(i, "a choice"))
            .collect(),
        _ => cx
            .literal_string(e, "`choices`")?
            .lines()
            .map(str::to_string)
            .collect(),
    };
    if list.is_empty() {
        cx.error(
            "empty-choices",
            e.span,
            "`choices` is empty",
            "give at least one choice; the first is the default",
        );
        return None;
    }
    Some(list)
}

const TRIGGER_KINDS: &[&str] = &[
    "cron",
    "pollSCM",
    "parameterizedCron",
    "upstream",
    "githubPush",
    "issueCommentTrigger",
];

const PLUGIN_TRIGGERS: &[(&str, &str)] = &[
    ("gitlab", "GitLab plugin"),
    ("GenericTrigger", "Generic Webhook Trigger plugin"),
    ("bitbucketPush", "Bitbucket plugin"),
];

pub(super) fn triggers(cx: &mut Cx, call: &CallView<'_>) -> Vec<Trigger> {
    let mut out = Vec::new();
    let mut seen = HashMap::new();
    for stmt in call.body() {
        let Some(t) = expect_call(cx, stmt, &NOT_A_TRIGGER) else {
            continue;
        };
        let name = TRIGGER_KINDS.iter().copied().find(|k| *k == t.name.value);
        if !super::sections::entry(cx, &t, "trigger", Some(&mut seen), name) {
            continue;
        }
        let kind = match t.name.value {
            "cron" | "pollSCM" | "parameterizedCron" => {
                let Some(spec) = t
                    .named("spec")
                    .or_else(|| t.single())
                    .and_then(|e| cx.computed_string(e, "a schedule"))
                else {
                    if t.args.is_empty() {
                        cx.error(
                            "missing-argument",
                            t.span,
                            format!("`{}` needs a schedule", t.name.value),
                            format!("expected `{}('H 4 * * *')`", t.name.value),
                        );
                    }
                    continue;
                };
                let span = t.single().or(t.named("spec")).map_or(t.span, |e| e.span);
                // A computed schedule is evaluated by the build, which records it for
                // the job (and warns in its log when it is not a valid schedule).
                match (&spec, t.name.value) {
                    (Computed::Literal(text), "parameterizedCron") => {
                        check_param_cron(cx, text, span);
                    }
                    (Computed::Literal(text), _) => check_schedule(cx, text, span),
                    _ => {}
                }
                match t.name.value {
                    "cron" => TriggerKind::Cron(spec),
                    "pollSCM" => TriggerKind::PollScm(spec),
                    _ => TriggerKind::ParameterizedCron(spec),
                }
            }
            "upstream" => {
                cx.check_named(&t, "`upstream`", &["upstreamProjects", "threshold"]);
                let Some(projects) = t
                    .named("upstreamProjects")
                    .or_else(|| t.single())
                    .and_then(|e| cx.literal_string(e, "upstream job names"))
                else {
                    continue;
                };
                let threshold = t
                    .named("threshold")
                    .and_then(Expr::dotted_name)
                    .map_or("SUCCESS".to_string(), |d| {
                        d.rsplit('.').next().unwrap_or("SUCCESS").to_string()
                    });
                TriggerKind::Upstream {
                    projects: projects
                        .split(',')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect(),
                    threshold,
                }
            }
            "githubPush" => TriggerKind::GithubPush,
            "issueCommentTrigger" => {
                cx.check_named(&t, "`issueCommentTrigger`", &["commentPattern"]);
                let Some(pattern) = t
                    .named("commentPattern")
                    .or_else(|| t.single())
                    .and_then(|e| cx.literal_string(e, "a comment pattern"))
                else {
                    if t.args.is_empty() {
                        cx.error(
                            "missing-argument",
                            t.span,
                            "`issueCommentTrigger` needs a comment pattern",
                            "expected `issueCommentTrigger('.*rebuild.*')`",
                        );
                    }
                    continue;
                };
                TriggerKind::IssueComment(pattern)
            }
            other => {
                if let Some((_, plugin)) = PLUGIN_TRIGGERS.iter().find(|(n, _)| *n == other) {
                    cx.warn(
                        "unsupported-trigger",
                        t.name.span,
                        format!("trigger `{other}` has no effect in kiln"),
                        format!("it comes from the {plugin}; kiln has `cron`, `pollSCM`, `upstream` and webhooks"),
                    );
                    out.push(Trigger {
                        kind: TriggerKind::Plugin(other.to_owned()),
                        span: t.span,
                    });
                } else {
                    cx.unknown("unknown-trigger", "trigger", t.name, TRIGGER_KINDS);
                }
                continue;
            }
        };
        out.push(Trigger { kind, span: t.span });
    }
    out
}

/// `parameterizedCron` text: each line's `%` parameters as the plugin parses them, then
/// each schedule as `cron` checks it.
fn check_param_cron(cx: &mut Cx, text: &str, span: kiln_diagnostics::Span) {
    match crate::parse_param_cron(text) {
        Ok(lines) => {
            for l in lines {
                check_schedule(cx, &l.schedule, span);
            }
        }
        Err(e) => cx.error(
            "invalid-schedule",
            span,
            format!(
                "line {} of the `parameterizedCron` schedule: {}",
                e.line, e.message
            ),
            "expected `SCHEDULE % NAME=value; NAME2=value` on each line",
        ),
    }
}

/// Jenkins schedules: five fields (or `@daily` and friends), `H` allowed, lines may hold
/// comments; several schedules may be given on separate lines.
fn check_schedule(cx: &mut Cx, spec: &str, span: kiln_diagnostics::Span) {
    for line in spec.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with("TZ=") {
            continue;
        }
        if line.starts_with('@') {
            if !matches!(
                line,
                "@yearly"
                    | "@annually"
                    | "@monthly"
                    | "@weekly"
                    | "@daily"
                    | "@midnight"
                    | "@hourly"
            ) {
                cx.error(
                    "invalid-schedule",
                    span,
                    format!("unknown schedule `{line}`"),
                    "expected `@hourly`, `@daily`, `@weekly`, `@monthly` or `@yearly`",
                );
            }
            continue;
        }
        let fields = line.split_whitespace().count();
        if fields != 5 {
            cx.error(
                "invalid-schedule",
                span,
                format!("schedule `{line}` has {fields} fields"),
                "expected 5 fields: minute hour day-of-month month day-of-week",
            );
        }
    }
}

/// Tool types of Jenkins' common tool installers (core and the usual plugins); Jenkins
/// refuses a type no installed plugin defines.
const TOOL_TYPES: &[&str] = &[
    "maven",
    "jdk",
    "gradle",
    "ant",
    "nodejs",
    "go",
    "git",
    "jgit",
    "dockerTool",
    "msbuild",
    "sbt",
    "groovy",
    "terraform",
    "allure",
    "dotnetsdk",
    "jfrog",
    "ansible",
    "python",
];

pub(super) fn tools(cx: &mut Cx, call: &CallView<'_>) -> Vec<ToolRef> {
    let mut out = Vec::new();
    for stmt in call.body() {
        let Some(t) = expect_call(cx, stmt, &NOT_A_TOOL) else {
            continue;
        };
        if !TOOL_TYPES.contains(&t.name.value) {
            cx.unknown("unknown-tool-type", "tool type", t.name, TOOL_TYPES);
            continue;
        }
        match t.single() {
            Some(name) => out.push(ToolRef {
                kind: Spanned::new(t.name.value.to_string(), t.name.span),
                name: name.clone(),
            }),
            None => cx.error(
                "wrong-arguments",
                t.span,
                format!("tool `{}` needs an installation name", t.name.value),
                format!("expected `{} 'name'`", t.name.value),
            ),
        }
    }
    out
}

const INPUT_KEYS: &[&str] = &[
    "message",
    "id",
    "ok",
    "submitter",
    "submitterParameter",
    "parameters",
];

/// A stage's `input { message '...'; ok '...'; parameters { ... } }`.
pub(super) fn input(cx: &mut Cx, call: &CallView<'_>) -> Option<Input> {
    let mut message = None;
    let mut fields: HashMap<&str, String> = HashMap::new();
    let mut params = Vec::new();
    let mut seen = HashMap::new();
    for stmt in call.body() {
        let Some(f) = expect_call(cx, stmt, &NOT_AN_INPUT_SETTING) else {
            continue;
        };
        let key = INPUT_KEYS.iter().copied().find(|k| *k == f.name.value);
        // `parameters { }` is the one setting with a block.
        if f.name.value != "parameters"
            && !super::sections::entry(cx, &f, "`input` setting", Some(&mut seen), key)
        {
            continue;
        }
        match f.name.value {
            "message" => message = f.single().cloned(),
            "parameters" => {
                params = parameters(cx, &f);
            }
            "id" | "ok" | "submitter" | "submitterParameter" => {
                if let Some(v) = f
                    .single()
                    .and_then(|e| cx.literal_string(e, &format!("`{}`", f.name.value)))
                {
                    let key = INPUT_KEYS
                        .iter()
                        .copied()
                        .find(|k| *k == f.name.value)
                        .unwrap_or("id");
                    fields.insert(key, v);
                }
            }
            _ => cx.unknown(
                "unknown-input-option",
                "`input` setting",
                f.name,
                INPUT_KEYS,
            ),
        }
    }
    let Some(message) = message else {
        cx.error(
            "missing-argument",
            call.name.span,
            "`input` needs a `message`",
            "expected `input { message 'Deploy to production?' }`",
        );
        return None;
    };
    Some(Input {
        message,
        id: fields.remove("id"),
        ok: fields.remove("ok"),
        submitter: fields.remove("submitter"),
        submitter_parameter: fields.remove("submitterParameter"),
        parameters: params,
        span: call.span,
    })
}
