//! The server's [`ImageRecords`]: what a build's `kanikoBuild` steps did is kept with the
//! build's record (`BuildRecord::images`, written through the recorder, which stores it
//! before the step goes on), so a build resumed after a controller restart answers from it
//! instead of building and pushing again.

use crate::recorder::Control;
use async_trait::async_trait;
use kiln_backend::{ImageRecords, ImageStep};
use kiln_executor::BuiltImage;
use kiln_store::{ImageEvent, ImageRecord};
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

/// Where the `kanikoBuild` steps of one build record what they do, in whichever of its pods
/// they run (the build's own and its stage pods).
pub(crate) type BuildImages = Arc<dyn ImageRecords>;

/// The records of a build: `known` is what the build's record holds already, `changes` its
/// recorder's control channel, and `detach` fires when the controller stops and leaves the
/// build running.
pub(crate) fn build_images(
    known: Vec<ImageRecord>,
    changes: mpsc::UnboundedSender<Control>,
    detach: CancellationToken,
) -> BuildImages {
    Arc::new(ServerImages {
        known: Mutex::new(known),
        changes,
        detach,
    })
}

/// The Kaniko pods a build's record says were started.
pub(crate) fn kaniko_pods(images: &[ImageRecord]) -> impl Iterator<Item = String> + '_ {
    images.iter().filter_map(|r| match &r.event {
        ImageEvent::Started { pod, .. } => Some(pod.clone()),
        _ => None,
    })
}

/// The Kaniko pods a build's record says were started whose image it does not say was
/// pushed (the step failed, or a resumed build did not run it again).
pub(crate) fn unfinished_kaniko_pods(images: &[ImageRecord]) -> Vec<String> {
    let built = |key: &str, platform: &Option<String>| {
        images.iter().any(|r| {
            r.key == key
                && matches!(&r.event, ImageEvent::Built { platform: p, .. } if p == platform)
        })
    };
    images
        .iter()
        .filter_map(|r| match &r.event {
            ImageEvent::Started { platform, pod } if !built(&r.key, platform) => Some(pod.clone()),
            _ => None,
        })
        .collect()
}

struct ServerImages {
    known: Mutex<Vec<ImageRecord>>,
    changes: mpsc::UnboundedSender<Control>,
    detach: CancellationToken,
}

#[async_trait]
impl ImageRecords for ServerImages {
    fn recorded(&self, key: &str) -> Vec<ImageStep> {
        let known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
        known
            .iter()
            .filter(|r| r.key == key)
            .map(|r| step_of(&r.event))
            .collect()
    }

    async fn record(&self, key: &str, step: ImageStep) -> Result<(), String> {
        let record = ImageRecord {
            key: key.to_owned(),
            event: event_of(step),
        };
        self.known
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(record.clone());
        let (stored, was_stored) = oneshot::channel();
        self.changes
            .send(Control::Image(record, stored))
            .map_err(|_| "the build's recorder has ended".to_owned())?;
        was_stored
            .await
            .map_err(|_| "the build's record was not stored".to_owned())
    }

    fn leaving(&self) -> bool {
        self.detach.is_cancelled()
    }
}

fn step_of(event: &ImageEvent) -> ImageStep {
    match event.clone() {
        ImageEvent::Started { platform, pod } => ImageStep::Started { platform, pod },
        ImageEvent::Built { platform, digest } => ImageStep::Built(BuiltImage { platform, digest }),
        ImageEvent::Indexed {
            destination,
            digest,
        } => ImageStep::Indexed {
            destination,
            digest,
        },
    }
}

fn event_of(step: ImageStep) -> ImageEvent {
    match step {
        ImageStep::Started { platform, pod } => ImageEvent::Started { platform, pod },
        ImageStep::Built(BuiltImage { platform, digest }) => ImageEvent::Built { platform, digest },
        ImageStep::Indexed {
            destination,
            digest,
        } => ImageEvent::Indexed {
            destination,
            digest,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::unfinished_kaniko_pods;
    use kiln_store::{ImageEvent, ImageRecord};

    fn record(key: &str, event: ImageEvent) -> ImageRecord {
        ImageRecord {
            key: key.to_owned(),
            event,
        }
    }

    #[test]
    fn kaniko_pods_without_a_pushed_image_are_unfinished() {
        let amd = Some("linux/amd64".to_owned());
        let arm = Some("linux/arm64".to_owned());
        let started = |key: &str, platform: &Option<String>, pod: &str| {
            let (platform, pod) = (platform.clone(), pod.to_owned());
            record(key, ImageEvent::Started { platform, pod })
        };
        let built = |key: &str, platform: &Option<String>| {
            let (platform, digest) = (platform.clone(), "sha256:1".to_owned());
            record(key, ImageEvent::Built { platform, digest })
        };
        let images = [
            started("a", &amd, "pa-amd"),
            started("a", &arm, "pa-arm"),
            built("a", &amd),
            started("b", &None, "pb"),
            built("c", &None),
            started("d", &None, "pd"),
            built("d", &None),
        ];
        assert_eq!(unfinished_kaniko_pods(&images), ["pa-arm", "pb"]);
        assert!(unfinished_kaniko_pods(&[]).is_empty());
    }
}
