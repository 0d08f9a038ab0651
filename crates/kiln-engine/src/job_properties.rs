//! The job properties a build sets from values its pipeline computes: trigger schedules
//! (`cron(env.BRANCH_NAME == 'main' ? 'H 4 * * *' : '')`, `pollSCM(...)`) and
//! `buildDiscarder(logRotator(numToKeepStr: "${N}"))` counts. Jenkins' declarative pipeline
//! applies `triggers` and `options` as the job's properties when a build runs the
//! `pipeline` block, so the build's environment, parameters and the code above the pipeline
//! decide them from then on. The build evaluates them there, says in its log what it set,
//! and reports them at once to its [`crate::Coordinator`] (the server records them for the
//! job then, so a build that fails or is aborted later still sets them) and in its summary.
//! A value that is not valid is a warning in the log and sets nothing, as Jenkins logs it
//! and goes on. The scripted `properties([...])` step sets the same record, and more (see
//! `steps/properties.rs`).

use crate::build::Build;
use crate::eval::eval;
use crate::scope::Scope;
use kiln_config::cron::Schedule;
use kiln_model::{Computed, OptionKind, Pipeline, TriggerKind};
use kiln_script::Value;
use kiln_syntax::ast::Expr;

/// What a build set for its job from values its pipeline computes. Only the computed
/// values are here: literal ones stay in the pipeline, where the server reads them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JobProperties {
    /// The computed `cron` schedules that are valid and not empty.
    pub cron: Vec<String>,
    /// The computed `pollSCM` schedules that are valid and not empty.
    pub poll: Vec<String>,
    /// The computed `parameterizedCron` texts that are valid and not empty.
    pub param_cron: Vec<String>,
    /// `logRotator`'s computed counts (`None`: not computed, empty, or not valid).
    pub builds_to_keep: Option<u32>,
    pub days_to_keep: Option<u32>,
    pub artifact_builds_to_keep: Option<u32>,
    pub artifact_days_to_keep: Option<u32>,
    /// Set by a `properties([...])` step: these are the whole of the job's properties
    /// (they replace what earlier builds set), whatever the pipeline declares.
    pub by_step: bool,
    /// `parameters([...])` of a `properties` step: the job's parameters from the next
    /// build on (their defaults fill what a trigger does not give).
    pub parameters: Vec<JobParameter>,
    /// `disableConcurrentBuilds()` of a `properties` step: `Some(abort_previous)`.
    pub disable_concurrent: Option<bool>,
    /// The kinds a `properties` step that ran after the pipeline's own properties were
    /// applied (in a stage) listed: the pipeline's values of these kinds no longer apply.
    pub replaces: Replaced,
}

/// Kinds of job properties a `properties` step lists: as Jenkins' step replaces the job's
/// whole trigger, parameter, discarder or concurrency property when it lists one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Replaced {
    #[serde(default)]
    pub triggers: bool,
    #[serde(default)]
    pub parameters: bool,
    #[serde(default)]
    pub discarder: bool,
    #[serde(default)]
    pub concurrency: bool,
}

impl Replaced {
    pub fn is_none(&self) -> bool {
        *self == Replaced::default()
    }

    /// The kinds listed here that `pipeline` declares itself, for the log.
    pub(crate) fn declared_by(&self, pipeline: &Pipeline) -> Vec<&'static str> {
        let declared = Declared::of(pipeline);
        let mut out = Vec::new();
        if self.triggers && declared.any_trigger() {
            out.push("triggers");
        }
        if self.parameters && !pipeline.parameters.is_empty() {
            out.push("parameters");
        }
        if self.discarder && declared.discarder {
            out.push("buildDiscarder");
        }
        if self.concurrency && declared.concurrency {
            out.push("disableConcurrentBuilds");
        }
        out
    }
}

/// What a declarative pipeline declares of the job's properties (literal or computed).
struct Declared {
    cron: bool,
    poll: bool,
    param_cron: bool,
    discarder: bool,
    concurrency: bool,
}

impl Declared {
    fn of(pipeline: &Pipeline) -> Self {
        let trigger = |f: fn(&TriggerKind) -> bool| pipeline.triggers.iter().any(|t| f(&t.kind));
        Declared {
            cron: trigger(|k| matches!(k, TriggerKind::Cron(_))),
            poll: trigger(|k| matches!(k, TriggerKind::PollScm(_))),
            param_cron: trigger(|k| matches!(k, TriggerKind::ParameterizedCron(_))),
            discarder: pipeline
                .options
                .has(|o| matches!(o, OptionKind::BuildDiscarder(_))),
            concurrency: pipeline
                .options
                .has(|o| matches!(o, OptionKind::DisableConcurrentBuilds { .. })),
        }
    }

    fn any_trigger(&self) -> bool {
        self.cron || self.poll || self.param_cron
    }
}

/// A parameter a `properties` step defines for the job, as plain values.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct JobParameter {
    pub name: String,
    /// The keyword it was defined with: `string`, `text`, `booleanParam`, `choice`,
    /// `password`.
    pub kind: String,
    /// The default (a choice's is its first choice; a boolean's `true` or `false`).
    pub default: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl JobParameter {
    /// The parameter as the pipeline's `parameters` directive would declare it.
    pub fn to_parameter(&self, span: kiln_diagnostics::Span) -> kiln_model::Parameter {
        use kiln_model::ParameterKind;
        let kind = match self.kind.as_str() {
            "booleanParam" => ParameterKind::Boolean {
                default: self.default == "true",
            },
            "choice" => ParameterKind::Choice {
                choices: self.choices.clone(),
            },
            "text" => ParameterKind::Text {
                default: self.default.clone(),
            },
            "password" => ParameterKind::Password {
                default: self.default.clone(),
            },
            _ => ParameterKind::String {
                default: self.default.clone(),
                trim: false,
            },
        };
        kiln_model::Parameter {
            name: kiln_diagnostics::Spanned::new(self.name.clone(), span),
            kind,
            description: self.description.clone(),
            at_start: kiln_model::ParameterExprs::default(),
            span,
        }
    }
}

impl JobProperties {
    /// What the job has once the declarative pipeline's own properties are applied over
    /// what a `properties` step above the pipeline set (`self`), as Jenkins' declarative
    /// pipeline merges them: the pipeline's triggers replace the step's of the same kind
    /// (`cron`, `pollSCM`, `parameterizedCron`), its parameters those of the same name, its
    /// `buildDiscarder` and `disableConcurrentBuilds` the step's; the step's others stay.
    /// Also says what of the step's was replaced.
    pub(crate) fn under_pipeline(
        mut self,
        pipeline: &Pipeline,
        computed: Option<JobProperties>,
    ) -> (JobProperties, Vec<String>) {
        let declared = Declared::of(pipeline);
        let mut replaced = Vec::new();
        let schedules = [
            (declared.cron, &mut self.cron, "cron"),
            (declared.poll, &mut self.poll, "pollSCM"),
            (
                declared.param_cron,
                &mut self.param_cron,
                "parameterizedCron",
            ),
        ];
        for (declares, set, keyword) in schedules {
            if declares && !set.is_empty() {
                set.clear();
                replaced.push(keyword.to_owned());
            }
        }
        let counts = [
            &mut self.builds_to_keep,
            &mut self.days_to_keep,
            &mut self.artifact_builds_to_keep,
            &mut self.artifact_days_to_keep,
        ];
        if declared.discarder && counts.iter().any(|c| c.is_some()) {
            for c in counts {
                *c = None;
            }
            replaced.push("buildDiscarder".to_owned());
        }
        if declared.concurrency && self.disable_concurrent.take().is_some() {
            replaced.push("disableConcurrentBuilds".to_owned());
        }
        let names: Vec<&str> = pipeline
            .parameters
            .iter()
            .map(|p| p.name.value.as_str())
            .collect();
        let before = self.parameters.len();
        self.parameters
            .retain(|p| !names.contains(&p.name.as_str()));
        if self.parameters.len() < before {
            replaced.push("parameters of the same names".to_owned());
        }
        let props = match computed {
            Some(c) => self.then_computed(c),
            None => self,
        };
        (props, replaced)
    }

    /// What the job has once `computed` (the declarative pipeline's values) is applied
    /// over what a `properties` step of the same build set before (`self`): the step's
    /// parameters and concurrency stay, schedules add up, computed counts win.
    pub(crate) fn then_computed(mut self, computed: JobProperties) -> JobProperties {
        self.cron.extend(computed.cron);
        self.poll.extend(computed.poll);
        self.param_cron.extend(computed.param_cron);
        let counts = [
            (&mut self.builds_to_keep, computed.builds_to_keep),
            (&mut self.days_to_keep, computed.days_to_keep),
            (
                &mut self.artifact_builds_to_keep,
                computed.artifact_builds_to_keep,
            ),
            (
                &mut self.artifact_days_to_keep,
                computed.artifact_days_to_keep,
            ),
        ];
        for (slot, new) in counts {
            if new.is_some() {
                *slot = new;
            }
        }
        self
    }
}

/// A `parameterizedCron` text: its lines' parameters, then each schedule.
fn param_cron_valid(text: &str, job: &str) -> Result<(), String> {
    let lines = kiln_model::parse_param_cron(text)
        .map_err(|e| format!("line {}: {}", e.line, e.message))?;
    for l in lines {
        Schedule::parse(&l.schedule, job)?;
    }
    Ok(())
}

/// Does `pipeline` compute a schedule or a retention count?
pub fn computes_job_properties(pipeline: &Pipeline) -> bool {
    let schedule = pipeline.triggers.iter().any(|t| {
        matches!(
            &t.kind,
            TriggerKind::Cron(Computed::AtStart(_))
                | TriggerKind::PollScm(Computed::AtStart(_))
                | TriggerKind::ParameterizedCron(Computed::AtStart(_))
        )
    });
    schedule || retention_exprs(pipeline).is_some()
}

fn retention_exprs(pipeline: &Pipeline) -> Option<&kiln_model::RetentionExprs> {
    pipeline.options.iter().find_map(|o| match o {
        OptionKind::BuildDiscarder(r) if !r.at_start.is_empty() => Some(&r.at_start),
        _ => None,
    })
}

/// Evaluates the pipeline's computed schedules and counts in `scope` (after the code above
/// the pipeline ran), logging what the build set; `None` when the pipeline computes none.
pub(crate) fn evaluate(build: &Build, scope: &Scope) -> Option<JobProperties> {
    let pipeline = &build.plan.pipeline;
    if !computes_job_properties(pipeline) {
        return None;
    }
    let mut props = JobProperties::default();
    let log = |line: &str| build.log(None, line, scope.timestamps);
    // Every schedule the job has from now on, literal ones included, for the log.
    let mut set: Vec<String> = Vec::new();
    let mut computed_schedule = false;
    for t in &pipeline.triggers {
        let (keyword, spec, out) = match &t.kind {
            TriggerKind::Cron(spec) => ("cron", spec, &mut props.cron),
            TriggerKind::PollScm(spec) => ("pollSCM", spec, &mut props.poll),
            TriggerKind::ParameterizedCron(spec) => {
                ("parameterizedCron", spec, &mut props.param_cron)
            }
            _ => continue,
        };
        let e = match spec {
            Computed::Literal(text) => {
                set.push(format!("{keyword} '{text}'"));
                continue;
            }
            Computed::AtStart(e) => e,
        };
        computed_schedule = true;
        let text = match text_of(build, scope, e) {
            Ok(text) => text,
            Err(why) => {
                log(&format!(
                    "WARNING: the `{keyword}` schedule{} could not be computed ({why}); no trigger set for it",
                    at(build, e)
                ));
                continue;
            }
        };
        match schedule(keyword, &text, &build.spec.job_name) {
            Ok(None) => {}
            Ok(Some(text)) => {
                set.push(format!("{keyword} '{text}'"));
                out.push(text);
            }
            Err(why) => log(&format!(
                "WARNING: `{keyword}('{}')`{} is not a valid schedule ({why}); no trigger set for it",
                text.trim(),
                at(build, e)
            )),
        }
    }
    if computed_schedule {
        let list = if set.is_empty() {
            "none".to_owned()
        } else {
            set.join(", ")
        };
        log(&format!("Triggers set by this build: {list}"));
    }
    if let Some(exprs) = retention_exprs(pipeline) {
        let mut said = Vec::new();
        for (key, e) in exprs.iter() {
            let count = match count_of(build, scope, e) {
                Ok(count) => count,
                Err(why) => {
                    log(&format!(
                        "WARNING: `{key}`{} is not a count ({why}); the build discarder keeps no limit for it",
                        at(build, e)
                    ));
                    continue;
                }
            };
            let slot = match key {
                "numToKeepStr" => &mut props.builds_to_keep,
                "daysToKeepStr" => &mut props.days_to_keep,
                "artifactNumToKeepStr" => &mut props.artifact_builds_to_keep,
                _ => &mut props.artifact_days_to_keep,
            };
            *slot = count;
            said.push(match count {
                Some(n) => format!("{key} {n}"),
                None => format!("{key} no limit"),
            });
        }
        if !said.is_empty() {
            log(&format!(
                "Build discarder set by this build: {}",
                said.join(", ")
            ));
        }
    }
    Some(props)
}

/// The expression's value as text (numbers and booleans as their text, `null` as empty).
fn text_of(build: &Build, scope: &Scope, e: &Expr) -> Result<String, String> {
    match eval(e, build, scope).map_err(|err| err.to_string())? {
        Value::Str(s) => Ok(s),
        Value::Null => Ok(String::new()),
        v @ (Value::Int(_) | Value::Float(_) | Value::Bool(_)) => Ok(v.to_string()),
        Value::List(_) => Err("it gave a list, not a string".to_owned()),
        Value::Map(_) => Err("it gave a map, not a string".to_owned()),
        _ => Err("it gave a closure, not a string".to_owned()),
    }
}

/// A schedule's text checked: `None` when it has no schedule line (empty, or comments only,
/// which sets no trigger), else the trimmed text; the reason when it is not valid.
pub(crate) fn schedule(keyword: &str, text: &str, job: &str) -> Result<Option<String>, String> {
    if text.lines().all(|l| {
        let l = l.trim();
        l.is_empty() || l.starts_with('#')
    }) {
        return Ok(None);
    }
    if keyword == "parameterizedCron" {
        param_cron_valid(text, job)?;
    } else {
        Schedule::parse(text, job)?;
    }
    Ok(Some(text.trim().to_owned()))
}

fn count_of(build: &Build, scope: &Scope, e: &Expr) -> Result<Option<u32>, String> {
    count_text(&text_of(build, scope, e)?)
}

/// A count: a number, or its text; empty (or negative, as Jenkins reads `-1`) means no limit.
pub(crate) fn count_text(text: &str) -> Result<Option<u32>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    match text.parse::<i64>() {
        Ok(n) if n < 0 => Ok(None),
        Ok(n) => u32::try_from(n)
            .map(Some)
            .map_err(|_| format!("`{text}` is too large")),
        Err(_) => Err(format!("`{text}` is not a number")),
    }
}

fn at(build: &Build, e: &Expr) -> String {
    crate::start::at(e, &build.scripts)
}
