//! What was not imported (or imported with a change the user must know of), and why.

use serde::Serialize;
use std::fmt;

/// One thing of the Jenkins controller that kiln.yaml does not carry as it was.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Where it was: `jobs/app/config.xml`, `jenkins.yaml: unclassified.foo`.
    pub place: String,
    /// What it is: `the GitHub push trigger`, `credential deploy-cert`.
    pub what: String,
    /// Why it is not imported, or what changed.
    pub reason: String,
}

impl Finding {
    pub fn new(
        place: impl Into<String>,
        what: impl Into<String>,
        reason: impl Into<String>,
    ) -> Finding {
        Finding {
            place: place.into(),
            what: what.into(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.place, self.what, self.reason)
    }
}
