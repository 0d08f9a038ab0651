//! Which step failed a stage: recorded where the step fails (the innermost step; the block
//! steps around it pass it on), so that what shows the build knows it without reading the log.

use crate::steps::StepCall;
use kiln_script::Value;

/// The longest label kept (in characters); a longer one ends with `…`.
const MAX_LABEL: usize = 80;

/// The step whose error failed a stage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailedStep {
    /// The step's name as called (`sh`).
    pub step: String,
    /// What the step was doing: the first line of its main argument (a script, a message, a
    /// path), masked as the log is; `None` for a step called without one.
    pub label: Option<String>,
    /// Why it failed, as the log says after `ERROR:`, masked as the log is.
    pub message: String,
}

impl FailedStep {
    /// The failure of the step `call` with `message`.
    pub(crate) fn of(call: &StepCall<'_>, message: &str) -> Self {
        let masker = call.build.masker();
        FailedStep {
            step: call.name.to_owned(),
            label: main_argument(call).map(|a| masker.mask(&label(&a))),
            message: masker.mask(message),
        }
    }

    /// As the build page and `kiln run` say it: `` step `sh 'make check'`: MESSAGE ``.
    pub fn describe(&self) -> String {
        match &self.label {
            Some(label) => format!("step `{} '{label}'`: {}", self.step, self.message),
            None => format!("step `{}`: {}", self.step, self.message),
        }
    }
}

/// The value of the step's first declared parameter, when it is a string or a number.
fn main_argument(call: &StepCall<'_>) -> Option<String> {
    let def = kiln_model::native_step(call.name)?;
    let first = def.params.first()?;
    match call.value(first.name).ok()?? {
        Value::Str(s) => Some(s),
        v @ (Value::Int(_) | Value::Float(_) | Value::Bool(_)) => Some(v.to_string()),
        _ => None,
    }
}

/// The first line with words, trimmed and cut to [`MAX_LABEL`] characters; `…` says that
/// something was left out.
fn label(text: &str) -> String {
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or_default();
    let more = lines.next().is_some();
    let mut out: String = first.chars().take(MAX_LABEL).collect();
    if more || first.chars().count() > MAX_LABEL {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::label;

    #[test]
    fn a_label_is_the_first_line_with_words() {
        assert_eq!(label("make check"), "make check");
        assert_eq!(label("\n  set -e\n  make\n"), "set -e…");
        assert_eq!(label(&"x".repeat(100)), format!("{}…", "x".repeat(80)));
        assert_eq!(label(""), "");
    }
}
