//! `properties([...])`: sets the job's properties to the list given, replacing the ones
//! earlier builds set, when the step runs (as Jenkins' `properties` step does). kiln acts on
//! `parameters([...])` (the job's parameters from the next build on), `pipelineTriggers([...])`
//! with `cron`, `pollSCM` and `parameterizedCron` (`githubPush` is accepted: push webhooks
//! reach every job), `buildDiscarder(logRotator(...))` and `disableConcurrentBuilds()`, in
//! their descriptor forms and their `[$class: ...]` forms. The build log says what was set,
//! and names every item (and parameter or trigger type) kiln does not act on. The result goes
//! to the build's coordinator at once (see [`crate::JobProperties`]).

use super::descriptor::kind_of;
use crate::build::Build;
use crate::error::StepError;
use crate::job_properties::{count_text, schedule};
use crate::scope::Scope;
use crate::{JobParameter, JobProperties, Replaced};
use kiln_script::Value;

/// What reading the list found: the properties, and what the log says besides.
#[derive(Default)]
struct Reading {
    props: JobProperties,
    /// What was set, in the list's order, for the log.
    set: Vec<String>,
    /// Items kiln does not act on.
    unused: Vec<String>,
    /// Plugin parameter types taken as string parameters (as the `parameters` directive
    /// takes them).
    as_string: Vec<String>,
    warnings: Vec<String>,
    /// The kinds the list names (even with nothing in them: `pipelineTriggers([])`).
    listed: Replaced,
}

/// Parameter types of plugins, taken as string parameters holding their `defaultValue`.
const PLUGIN_PARAMETERS: &[&str] = &[
    "gitParameter",
    "extendedChoice",
    "activeChoice",
    "activeChoiceParam",
    "GitParameterDefinition",
];

/// Runs `properties(list)`.
pub(crate) fn properties(
    build: &Build,
    scope: &Scope,
    call: &kiln_script::StepCall<'_>,
) -> Result<Value, StepError> {
    let items = match call.arg("properties") {
        Some(Value::List(items)) => items.as_slice(),
        Some(Value::Null) | None => &[],
        Some(other) => {
            return Err(StepError::failed(format!(
                "`properties` takes a list of job properties, not {}",
                other.kind()
            )));
        }
    };
    let mut r = Reading {
        props: JobProperties {
            by_step: true,
            ..JobProperties::default()
        },
        ..Reading::default()
    };
    for item in items {
        r.item(item, &build.spec.job_name);
    }
    let log = |line: &str| build.log(scope.node, line, scope.timestamps);
    if let Some(pipeline) = build.pipeline_properties() {
        r.after_pipeline(pipeline);
        let over = r.listed.declared_by(&build.plan.pipeline);
        if !over.is_empty() {
            log(&format!(
                "properties: run after the pipeline applied its own, this replaces the pipeline's {} for the job",
                over.join(", ")
            ));
        }
    }
    for w in &r.warnings {
        log(&format!("WARNING: {w}"));
    }
    let set = if r.set.is_empty() {
        "none".to_owned()
    } else {
        r.set.join("; ")
    };
    log(&format!(
        "Job properties set by this build (they replace the job's earlier ones): {set}"
    ));
    if !r.as_string.is_empty() {
        log(&format!(
            "properties: taken as string parameters: {}",
            r.as_string.join(", ")
        ));
    }
    if !r.unused.is_empty() {
        log(&format!(
            "properties: kiln does not act on {}",
            r.unused.join(", ")
        ));
    }
    build.set_job_properties(r.props);
    Ok(Value::Null)
}

/// A descriptor's main value: its unnamed argument, or the named one `key`.
fn main_value<'v>(v: &'v Value, key: &str) -> Option<&'v Value> {
    v.get("value").or_else(|| v.get(key))
}

fn list(v: Option<&Value>) -> &[Value] {
    match v {
        Some(Value::List(items)) => items,
        _ => &[],
    }
}

/// A value as text: strings as they are, numbers and booleans as their text.
fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::Null => None,
        Value::Str(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

impl Reading {
    /// The step ran after the declarative pipeline applied its own properties (in a
    /// stage): as in Jenkins, a kind the list names replaces the pipeline's of that kind
    /// for the job; what the pipeline computed of the kinds it does not name stays.
    fn after_pipeline(&mut self, computed: JobProperties) {
        let p = &mut self.props;
        p.replaces = self.listed;
        if !self.listed.triggers {
            p.cron = computed.cron;
            p.poll = computed.poll;
            p.param_cron = computed.param_cron;
        }
        if !self.listed.discarder {
            p.builds_to_keep = computed.builds_to_keep;
            p.days_to_keep = computed.days_to_keep;
            p.artifact_builds_to_keep = computed.artifact_builds_to_keep;
            p.artifact_days_to_keep = computed.artifact_days_to_keep;
        }
    }

    fn item(&mut self, item: &Value, job: &str) {
        let Some(kind) = kind_of(item) else {
            self.warnings.push(format!(
                "`properties`: {} is not a job property; left out",
                item.kind()
            ));
            return;
        };
        match kind {
            "parameters" | "ParametersDefinitionProperty" => {
                self.listed.parameters = true;
                let defs = list(main_value(item, "parameterDefinitions"));
                let before = self.props.parameters.len();
                for d in defs {
                    self.parameter(d);
                }
                let names: Vec<&str> = self.props.parameters[before..]
                    .iter()
                    .map(|p| p.name.as_str())
                    .collect();
                self.set.push(if names.is_empty() {
                    "no parameters".to_owned()
                } else {
                    format!("parameters {}", names.join(", "))
                });
            }
            "pipelineTriggers" | "PipelineTriggersJobProperty" => {
                self.listed.triggers = true;
                for t in list(main_value(item, "triggers")) {
                    self.trigger(t, job);
                }
            }
            "buildDiscarder" | "BuildDiscarderProperty" => {
                self.listed.discarder = true;
                match main_value(item, "strategy") {
                    Some(s) if matches!(kind_of(s), Some("logRotator" | "LogRotator")) => {
                        self.log_rotator(s);
                    }
                    Some(s) => self.unused.push(format!(
                        "the build discarder `{}`",
                        kind_of(s).unwrap_or(s.kind())
                    )),
                    None => self.warnings.push(
                        "`buildDiscarder` names no strategy (expected `logRotator(...)`); no build is discarded"
                            .to_owned(),
                    ),
                }
            }
            "disableConcurrentBuilds" | "DisableConcurrentBuildsJobProperty" => {
                self.listed.concurrency = true;
                let abort = item.get("abortPrevious").is_some_and(Value::is_truthy);
                self.props.disable_concurrent = Some(abort);
                self.set.push(if abort {
                    "disableConcurrentBuilds(abortPrevious: true)".to_owned()
                } else {
                    "disableConcurrentBuilds".to_owned()
                });
            }
            other => self.unused.push(format!("`{other}`")),
        }
    }

    fn parameter(&mut self, d: &Value) {
        let kind = match kind_of(d) {
            Some("string" | "StringParameterDefinition") => "string",
            Some("text" | "TextParameterDefinition") => "text",
            Some("booleanParam" | "BooleanParameterDefinition") => "booleanParam",
            Some("choice" | "ChoiceParameterDefinition") => "choice",
            Some("password" | "PasswordParameterDefinition") => "password",
            Some(other) if PLUGIN_PARAMETERS.contains(&other) => {
                self.as_string.push(format!("`{other}`"));
                "string"
            }
            Some(other) => {
                self.unused.push(format!("the parameter type `{other}`"));
                return;
            }
            None => {
                self.warnings.push(format!(
                    "`parameters`: {} is not a parameter; left out",
                    d.kind()
                ));
                return;
            }
        };
        let Some(name) = text(d.get("name")).filter(|n| !n.trim().is_empty()) else {
            self.warnings.push(format!(
                "`parameters`: a `{kind}` parameter has no name; left out"
            ));
            return;
        };
        let choices: Vec<String> = match d.get("choices") {
            Some(Value::List(items)) => items.iter().filter_map(|c| text(Some(c))).collect(),
            Some(Value::Str(s)) => s.lines().map(str::to_owned).collect(),
            _ => Vec::new(),
        };
        let given = text(d.get("defaultValue"));
        let default = match kind {
            "booleanParam" => d
                .get("defaultValue")
                .is_some_and(|v| v.is_truthy() && v.as_str() != Some("false"))
                .to_string(),
            "choice" => choices.first().cloned().unwrap_or_default(),
            _ => given.unwrap_or_default(),
        };
        if kind == "choice" && choices.is_empty() {
            self.warnings.push(format!(
                "`parameters`: the choice parameter `{name}` has no choices; left out"
            ));
            return;
        }
        self.props.parameters.retain(|p| p.name != name);
        self.props.parameters.push(JobParameter {
            name,
            kind: kind.to_owned(),
            default,
            choices,
            description: text(d.get("description")).filter(|s| !s.is_empty()),
        });
    }

    fn trigger(&mut self, t: &Value, job: &str) {
        let (keyword, key) = match kind_of(t) {
            Some("cron" | "TimerTrigger") => ("cron", "spec"),
            Some("pollSCM" | "SCMTrigger") => ("pollSCM", "scmpoll_spec"),
            Some("parameterizedCron") => ("parameterizedCron", "parameterizedSpecification"),
            Some("githubPush" | "GitHubPushTrigger") => {
                self.set
                    .push("githubPush (push webhooks reach every job)".to_owned());
                return;
            }
            Some(other) => {
                self.unused.push(format!("the trigger `{other}`"));
                return;
            }
            None => {
                self.warnings.push(format!(
                    "`pipelineTriggers`: {} is not a trigger; left out",
                    t.kind()
                ));
                return;
            }
        };
        let spec = text(main_value(t, key)).unwrap_or_default();
        match schedule(keyword, &spec, job) {
            Ok(None) => {}
            Ok(Some(spec)) => {
                self.set.push(format!("{keyword} '{spec}'"));
                let out = match keyword {
                    "cron" => &mut self.props.cron,
                    "pollSCM" => &mut self.props.poll,
                    _ => &mut self.props.param_cron,
                };
                out.push(spec);
            }
            Err(why) => self.warnings.push(format!(
                "`{keyword}('{}')` is not a valid schedule ({why}); no trigger set for it",
                spec.trim()
            )),
        }
    }

    fn log_rotator(&mut self, s: &Value) {
        let mut said = Vec::new();
        let keys = [
            ("numToKeepStr", &mut self.props.builds_to_keep),
            ("daysToKeepStr", &mut self.props.days_to_keep),
            (
                "artifactNumToKeepStr",
                &mut self.props.artifact_builds_to_keep,
            ),
            (
                "artifactDaysToKeepStr",
                &mut self.props.artifact_days_to_keep,
            ),
        ];
        for (key, slot) in keys {
            let Some(value) = text(s.get(key)) else {
                continue;
            };
            match count_text(&value) {
                Ok(Some(n)) => {
                    *slot = Some(n);
                    said.push(format!("{key} {n}"));
                }
                Ok(None) => {}
                Err(why) => self.warnings.push(format!(
                    "`logRotator`'s `{key}` is not a count ({why}); the build discarder keeps no limit for it"
                )),
            }
        }
        self.set.push(if said.is_empty() {
            "build discarder without limits".to_owned()
        } else {
            format!("build discarder {}", said.join(", "))
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(kind: &str, entries: &[(&str, Value)]) -> Value {
        let mut out = vec![("$class".to_owned(), Value::Str(kind.to_owned()))];
        out.extend(entries.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
        Value::Map(out)
    }

    fn s(text: &str) -> Value {
        Value::Str(text.to_owned())
    }

    fn read(items: &[Value]) -> Reading {
        let mut r = Reading::default();
        for i in items {
            r.item(i, "app");
        }
        r
    }

    #[test]
    fn descriptor_and_class_forms_set_the_same_properties() {
        let described = read(&[
            d(
                "parameters",
                &[(
                    "value",
                    Value::List(vec![
                        d(
                            "string",
                            &[("name", s("WHO")), ("defaultValue", s("world"))],
                        ),
                        d("choice", &[("name", s("ENV")), ("choices", s("dev\nprod"))]),
                        d(
                            "booleanParam",
                            &[("name", s("FAST")), ("defaultValue", Value::Bool(true))],
                        ),
                    ]),
                )],
            ),
            d(
                "pipelineTriggers",
                &[(
                    "value",
                    Value::List(vec![d("cron", &[("value", s("H 4 * * *"))])]),
                )],
            ),
            d(
                "buildDiscarder",
                &[("value", d("logRotator", &[("numToKeepStr", s("5"))]))],
            ),
            d("disableConcurrentBuilds", &[]),
        ]);
        let classes = read(&[
            d(
                "ParametersDefinitionProperty",
                &[(
                    "parameterDefinitions",
                    Value::List(vec![
                        d(
                            "StringParameterDefinition",
                            &[("name", s("WHO")), ("defaultValue", s("world"))],
                        ),
                        d(
                            "ChoiceParameterDefinition",
                            &[
                                ("name", s("ENV")),
                                ("choices", Value::List(vec![s("dev"), s("prod")])),
                            ],
                        ),
                        d(
                            "BooleanParameterDefinition",
                            &[("name", s("FAST")), ("defaultValue", s("true"))],
                        ),
                    ]),
                )],
            ),
            d(
                "PipelineTriggersJobProperty",
                &[(
                    "triggers",
                    Value::List(vec![d("TimerTrigger", &[("spec", s("H 4 * * *"))])]),
                )],
            ),
            d(
                "BuildDiscarderProperty",
                &[(
                    "strategy",
                    d(
                        "LogRotator",
                        &[("numToKeepStr", s("5")), ("daysToKeepStr", s(""))],
                    ),
                )],
            ),
            d("DisableConcurrentBuildsJobProperty", &[]),
        ]);
        assert_eq!(described.props, classes.props);
        assert_eq!(described.set, classes.set);
        let p = &described.props;
        assert_eq!(p.cron, ["H 4 * * *"]);
        assert_eq!(p.builds_to_keep, Some(5));
        assert_eq!(p.days_to_keep, None);
        assert_eq!(p.disable_concurrent, Some(false));
        let params: Vec<(&str, &str, &str)> = p
            .parameters
            .iter()
            .map(|q| (q.name.as_str(), q.kind.as_str(), q.default.as_str()))
            .collect();
        assert_eq!(
            params,
            [
                ("WHO", "string", "world"),
                ("ENV", "choice", "dev"),
                ("FAST", "booleanParam", "true")
            ]
        );
        assert!(described.unused.is_empty() && described.warnings.is_empty());
    }

    #[test]
    fn after_the_pipeline_the_listed_kinds_replace_and_computed_others_stay() {
        let mut r = read(&[d(
            "pipelineTriggers",
            &[(
                "value",
                Value::List(vec![d("pollSCM", &[("value", s("H/5 * * * *"))])]),
            )],
        )]);
        let computed = JobProperties {
            cron: vec!["H 4 * * *".to_owned()],
            builds_to_keep: Some(3),
            ..JobProperties::default()
        };
        r.after_pipeline(computed);
        let p = &r.props;
        assert!(p.replaces.triggers && !p.replaces.discarder && !p.replaces.parameters);
        // The list's triggers are the job's; the pipeline's computed cron is not kept.
        assert!(p.cron.is_empty());
        assert_eq!(p.poll, ["H/5 * * * *"]);
        // The discarder the list does not name stays the pipeline's.
        assert_eq!(p.builds_to_keep, Some(3));
    }

    #[test]
    fn what_kiln_does_not_act_on_is_named_and_bad_values_are_warned_about() {
        let r = read(&[
            d("disableResume", &[]),
            d(
                "GithubProjectProperty",
                &[("projectUrlStr", s("https://x"))],
            ),
            d(
                "pipelineTriggers",
                &[(
                    "value",
                    Value::List(vec![
                        d("upstream", &[("upstreamProjects", s("a"))]),
                        d("cron", &[("value", s("not a schedule"))]),
                        d("pollSCM", &[("value", s(""))]),
                    ]),
                )],
            ),
            d(
                "parameters",
                &[(
                    "value",
                    Value::List(vec![
                        d("gitParameter", &[("name", s("BRANCH"))]),
                        d("runParam", &[("name", s("RUN"))]),
                        d("string", &[("defaultValue", s("x"))]),
                    ]),
                )],
            ),
            d(
                "buildDiscarder",
                &[("value", d("logRotator", &[("numToKeepStr", s("ten"))]))],
            ),
            s("oops"),
        ]);
        assert_eq!(
            r.unused,
            [
                "`disableResume`",
                "`GithubProjectProperty`",
                "the trigger `upstream`",
                "the parameter type `runParam`"
            ]
        );
        assert_eq!(r.warnings.len(), 4, "{:#?}", r.warnings);
        assert!(r.warnings[0].contains("`cron('not a schedule')` is not a valid schedule"));
        assert!(r.warnings[1].contains("has no name"));
        assert!(r.warnings[2].contains("`numToKeepStr` is not a count"));
        assert!(r.warnings[3].contains("a string is not a job property"));
        assert!(r.props.cron.is_empty() && r.props.poll.is_empty());
        // A plugin's parameter type is a string parameter, as in the `parameters` directive.
        assert_eq!(r.as_string, ["`gitParameter`"]);
        assert_eq!(r.props.parameters[0].name, "BRANCH");
        assert_eq!(r.props.parameters[0].kind, "string");
        assert_eq!(r.props.builds_to_keep, None);
    }
}
