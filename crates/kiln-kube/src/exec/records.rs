//! What a build's `kanikoBuild` steps did, kept by the caller (the server keeps it with the
//! build's record) so that a build resumed after a controller restart neither builds nor
//! pushes again: a step is known by its key (`ImageBuild::key`, the same when a resumed
//! build runs its steps again), and each thing that must not happen twice is recorded as it
//! happens (a Kaniko pod started, a platform's image pushed, a destination's index pushed).
//! The step then answers from the record what had finished, takes over the Kaniko pods that
//! were running, and does the rest.

use kiln_executor::BuiltImage;
use std::sync::Arc;
use tracing::warn;

/// The records themselves are the execution-backend seam's: the caller keeps them.
pub use kiln_backend::{ImageRecords, ImageStep};

/// One step's records: what was recorded when it began, and where new ones go. Without a
/// key or records (`kiln run`) nothing is known and nothing is recorded.
pub(crate) struct StepRecords {
    target: Option<(Arc<dyn ImageRecords>, String)>,
    recorded: Vec<ImageStep>,
}

impl StepRecords {
    pub(crate) fn new(records: Option<Arc<dyn ImageRecords>>, key: Option<String>) -> Self {
        let target = records.zip(key);
        let recorded = target
            .as_ref()
            .map(|(records, key)| records.recorded(key))
            .unwrap_or_default();
        StepRecords { target, recorded }
    }

    /// The image pushed for `platform` before, if any.
    pub(crate) fn built(&self, platform: Option<&str>) -> Option<BuiltImage> {
        self.recorded.iter().find_map(|s| match s {
            ImageStep::Built(image) if image.platform.as_deref() == platform => Some(image.clone()),
            _ => None,
        })
    }

    /// The Kaniko pod started for `platform` before, if any.
    pub(crate) fn started(&self, platform: Option<&str>) -> Option<String> {
        self.recorded.iter().find_map(|s| match s {
            ImageStep::Started { platform: p, pod } if p.as_deref() == platform => {
                Some(pod.clone())
            }
            _ => None,
        })
    }

    /// The digest of the index pushed for `destination` before, if any.
    pub(crate) fn indexed(&self, destination: &str) -> Option<String> {
        self.recorded.iter().find_map(|s| match s {
            ImageStep::Indexed {
                destination: d,
                digest,
            } if d == destination => Some(digest.clone()),
            _ => None,
        })
    }

    /// Records `step` (a failure is logged: the build goes on, only a resume after a
    /// restart would not know it).
    pub(crate) async fn record(&self, step: ImageStep) {
        if let Some((records, key)) = &self.target
            && let Err(error) = records.record(key, step).await
        {
            warn!(key = %key, %error, "cannot record what an image build did");
        }
    }

    /// The records, for a Kaniko pod's guard (see [`ImageRecords::leaving`]).
    pub(crate) fn records(&self) -> Option<Arc<dyn ImageRecords>> {
        self.target.as_ref().map(|(records, _)| records.clone())
    }
}
