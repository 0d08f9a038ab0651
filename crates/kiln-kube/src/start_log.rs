//! Where a starting pod's progress goes: the pod's Events, the scheduler's message, failed
//! image pulls, as lines for the build's log (kiln's own log gets them too, as tracing events).

use std::fmt;
use std::sync::Arc;

/// A sink for lines about a pod's start, given by whoever shows the build's log; none by
/// default (the lines then go to kiln's own log only).
#[derive(Clone, Default)]
pub struct StartLog(Option<Arc<dyn Fn(String) + Send + Sync>>);

impl StartLog {
    /// Lines go to `sink`.
    pub fn new(sink: impl Fn(String) + Send + Sync + 'static) -> Self {
        StartLog(Some(Arc::new(sink)))
    }

    /// Lines go nowhere but kiln's own log.
    pub fn none() -> Self {
        StartLog(None)
    }

    /// Says `line` in the build's log.
    pub(crate) fn line(&self, line: String) {
        if let Some(sink) = &self.0 {
            sink(line);
        }
    }
}

impl fmt::Debug for StartLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "StartLog(..)"
        } else {
            "StartLog(none)"
        })
    }
}
