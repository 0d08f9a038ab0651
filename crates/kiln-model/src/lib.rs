//! The validated pipeline model: a Jenkinsfile's syntax tree lowered into typed directives,
//! stages, steps, conditions and post blocks, with Jenkins' rules checked.
//!
//! [`lower`] never stops at the first problem: it returns the model it could build and every
//! [`Diagnostic`] it found, so one `kiln lint` run shows them all. A model is only handed on
//! (to kiln-plan and the engine) when there are no errors.
//!
//! Depends on kiln-syntax and kiln-diagnostics only; does no IO.

mod agent;
mod catalog;
mod computed;
mod condition;
mod lower;
mod options;
mod param_cron;
mod parameter;
mod pipeline;
mod step;

pub use agent::{Agent, AgentKind, DockerAgent, DockerfileAgent, KubernetesAgent};
pub use catalog::{
    ArgType, BodyRule, PLUGIN_STEPS, ParamDef, STEPS, StepDef, StepId, UNKNOWN_STEP,
    UNSUPPORTED_STEP, native_step, plugin_of, unprovided_step_message,
};
pub use computed::Computed;
pub use condition::{Comparator, Condition, ConditionKind};
pub use lower::{load, lower};
pub use options::{
    LockOption, OptionKind, Options, PipelineOption, Retention, RetentionExprs, Timeout,
};
pub use param_cron::{ParamCronError, ParamCronLine, parse_param_cron};
pub use parameter::{Parameter, ParameterExprs, ParameterKind, ToolRef, Trigger, TriggerKind};
pub use pipeline::{
    Axis, Document, EnvEntry, EnvValue, Exclude, ExcludeAxis, Input, LibraryRef, Matrix, Pipeline,
    Post, PostBlock, PostCondition, Preamble, ScriptBlock, Scripted, Stage, StageBody, When,
};
pub use step::{Step, StepArg, StepKind};

pub use kiln_diagnostics::Diagnostic;
