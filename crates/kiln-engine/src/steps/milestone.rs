//! `milestone()` / `milestone(ordinal: 2, label: 'deploy')`: passing a milestone aborts the
//! older builds of the job that have not passed it, and a build reaching a milestone a
//! newer build passed already is aborted itself (the Pipeline: Milestone Step plugin's
//! rules, kept by the build's [`crate::Coordinator`]).

use super::StepCall;
use crate::MilestoneOutcome;
use crate::error::StepError;
use kiln_script::Value;

pub(crate) fn milestone(call: &StepCall<'_>) -> Result<Value, StepError> {
    let asked = match call.int("ordinal")? {
        None => None,
        Some(n) => Some(u32::try_from(n).map_err(|_| {
            StepError::failed(format!("milestone: `ordinal` must be 0 or more, not {n}"))
        })?),
    };
    let label = call.string("label")?;
    let ordinal = call.build.next_milestone(asked).map_err(|last| {
        StepError::failed(format!(
            "milestone: invalid ordinal {}: the previous milestone of this build was {last}; ordinals must increase",
            asked.unwrap_or_default()
        ))
    })?;
    match call.build.spec.coordinator.milestone(ordinal) {
        MilestoneOutcome::Passed => {
            let name = label.map_or_else(String::new, |l| format!(" ({l})"));
            call.log(&format!("Passed milestone {ordinal}{name}"));
            Ok(Value::Null)
        }
        MilestoneOutcome::Superseded(by) => {
            call.log(&format!("Superseded by {by}"));
            Err(StepError::aborted(format!(
                "milestone {ordinal}: superseded by {by}"
            )))
        }
    }
}
