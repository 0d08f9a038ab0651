//! A job's properties and triggers as Jenkins writes them: parameters, timer, SCM polling and
//! upstream triggers, the build discarder, concurrency.

use super::JenkinsJob;
use crate::Finding;
use crate::xml::Element;

/// Reports something of `job` that kiln does not take as it was: a finding, and a comment
/// on the job.
pub(crate) fn note(
    job: &mut JenkinsJob,
    findings: &mut Vec<Finding>,
    what: impl Into<String>,
    reason: impl Into<String>,
) {
    let (what, reason) = (what.into(), reason.into());
    job.notes.push(format!("{what}: {reason}"));
    findings.push(Finding::new(&job.place, what, reason));
}

/// Reads `<properties>` of a pipeline job.
pub(crate) fn apply_properties(job: &mut JenkinsJob, findings: &mut Vec<Finding>, props: &Element) {
    for p in &props.children {
        match p.short_class() {
            "ParametersDefinitionProperty" => parameters(job, findings, p),
            "PipelineTriggersJobProperty" => {
                if let Some(t) = p.child("triggers") {
                    apply_triggers(job, findings, t);
                }
            }
            "BuildDiscarderProperty" => discarder(job, findings, p),
            "DisableConcurrentBuildsJobProperty" => {
                job.concurrent = false;
                if p.attribute("abortPrevious") == Some("true")
                    || p.bool_at("abortPrevious") == Some(true)
                {
                    note(
                        job,
                        findings,
                        "disableConcurrentBuilds(abortPrevious: true)",
                        "not imported: kiln queues the new build instead of aborting the running one",
                    );
                }
            }
            // Display-only: a link to the project's web page.
            "GithubProjectProperty" => {}
            _ => note(
                job,
                findings,
                format!("job property `{}`", p.class()),
                "not imported: kiln has no equivalent",
            ),
        }
    }
}

fn parameters(job: &mut JenkinsJob, findings: &mut Vec<Finding>, p: &Element) {
    let defs = p
        .child("parameterDefinitions")
        .map_or(&[][..], |d| &d.children);
    for d in defs {
        let Some(name) = d.text_at("name") else {
            continue;
        };
        let value = match d.short_class() {
            "StringParameterDefinition" | "TextParameterDefinition" => d
                .at("defaultValue")
                .map(|v| v.text.clone())
                .unwrap_or_default(),
            "BooleanParameterDefinition" => {
                d.text_at("defaultValue").unwrap_or_else(|| "false".into())
            }
            "ChoiceParameterDefinition" => {
                let mut strings = Vec::new();
                if let Some(c) = d.child("choices") {
                    collect_strings(c, &mut strings);
                }
                match strings.into_iter().next() {
                    Some(first) => first,
                    None => continue,
                }
            }
            "PasswordParameterDefinition" => {
                note(
                    job,
                    findings,
                    format!("password parameter `{name}`"),
                    "its default is a secret and is not copied (give the value when triggering, or use a credential)",
                );
                continue;
            }
            other => {
                note(
                    job,
                    findings,
                    format!("parameter `{name}` ({other})"),
                    "not imported: kiln's job parameters are plain values",
                );
                continue;
            }
        };
        job.parameters.push((name, value));
    }
}

/// Every `<string>` below `el`, in order (choices are a `string-array` inside a list).
fn collect_strings(el: &Element, out: &mut Vec<String>) {
    for c in &el.children {
        if c.name == "string" {
            out.push(c.text.clone());
        } else {
            collect_strings(c, out);
        }
    }
}

/// Reads `<triggers>` (of a job's trigger property, or of an older job's root).
pub(crate) fn apply_triggers(
    job: &mut JenkinsJob,
    findings: &mut Vec<Finding>,
    triggers: &Element,
) {
    for t in &triggers.children {
        match t.short_class() {
            "TimerTrigger" => job.cron = t.text_at("spec").map(|s| one_line(&s)),
            "SCMTrigger" => match t.text_at("spec") {
                Some(spec) => job.poll = Some(one_line(&spec)),
                None => note(
                    job,
                    findings,
                    "SCM polling without a schedule",
                    "Jenkins built on post-commit hooks only; in kiln point the forge's webhook at /hooks/github or /hooks/gitlab",
                ),
            },
            "ReverseBuildTrigger" => {
                let names = t.text_at("upstreamProjects").unwrap_or_default();
                job.upstream.extend(
                    names
                        .split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_string),
                );
                let threshold = t.text_at("threshold/name");
                if threshold.as_deref().is_some_and(|n| n != "SUCCESS") {
                    note(
                        job,
                        findings,
                        "upstream trigger threshold",
                        format!(
                            "Jenkins triggered on {} upstream results; kiln triggers on SUCCESS only",
                            threshold.unwrap_or_default()
                        ),
                    );
                }
            }
            "GitHubPushTrigger" | "GitLabPushTrigger" => {
                job.push_trigger = true;
                note(
                    job,
                    findings,
                    format!("`{}`", t.short_class()),
                    "kiln builds on the forge's webhook: point it at kiln's /hooks/github or /hooks/gitlab",
                );
            }
            _ => note(
                job,
                findings,
                format!("trigger `{}`", t.class()),
                "not imported: kiln has no equivalent",
            ),
        }
    }
}

/// A multi-line cron spec (Jenkins allows one schedule per line) kept on one line when it has
/// one schedule; comments (`#`) and blank lines dropped.
fn one_line(spec: &str) -> String {
    let lines: Vec<&str> = spec
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    lines.join("\n")
}

fn discarder(job: &mut JenkinsJob, findings: &mut Vec<Finding>, p: &Element) {
    let Some(strategy) = p.child("strategy") else {
        return;
    };
    if strategy.short_class() != "LogRotator" {
        note(
            job,
            findings,
            format!("build discarder `{}`", strategy.class()),
            "not imported: kiln keeps builds by count or age",
        );
        return;
    }
    let positive = |path: &str| {
        strategy
            .text_at(path)
            .and_then(|v| v.parse::<i64>().ok())
            .and_then(|n| u64::try_from(n).ok())
            .filter(|n| *n > 0)
    };
    job.retention_builds = positive("numToKeep");
    job.retention_days = positive("daysToKeep");
    if positive("artifactNumToKeep").is_some() || positive("artifactDaysToKeep").is_some() {
        note(
            job,
            findings,
            "artifact retention",
            "not imported: kiln deletes a build's artifacts with the build",
        );
    }
}
