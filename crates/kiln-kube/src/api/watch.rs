//! Following one pod with a watch (never polling): resumes from the last resourceVersion
//! when a watch ends, backs off on errors, and re-lists (a GET of the pod) after `410 Expired`.

use futures_util::stream::BoxStream;
use futures_util::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{WatchEvent, WatchParams};
use std::time::Duration;
use tracing::{debug, warn};

/// What happened to the pod.
#[derive(Debug)]
pub enum PodEvent {
    Changed(Box<Pod>),
    Deleted,
}

/// A watch on one pod that survives ended streams, API errors and expired versions.
pub struct PodWatch {
    api: Api<Pod>,
    name: String,
    version: String,
    stream: Option<BoxStream<'static, kube::Result<WatchEvent<Pod>>>>,
    pause: Duration,
}

const MAX_PAUSE: Duration = Duration::from_secs(5);
const FIRST_PAUSE: Duration = Duration::from_millis(50);

impl PodWatch {
    /// Watches `name` from `version` (the resourceVersion of the pod as created).
    pub fn new(api: Api<Pod>, name: &str, version: String) -> PodWatch {
        PodWatch {
            api,
            name: name.to_owned(),
            version,
            stream: None,
            pause: FIRST_PAUSE,
        }
    }

    async fn back_off(&mut self) {
        tokio::time::sleep(self.pause).await;
        self.pause = (self.pause * 2).min(MAX_PAUSE);
    }

    /// The next change. Never returns an error: API trouble is retried with back-off (callers
    /// bound the wait with their own deadline).
    pub async fn next(&mut self) -> PodEvent {
        loop {
            let Some(stream) = self.stream.as_mut() else {
                let params = WatchParams::default()
                    .fields(&format!("metadata.name={}", self.name))
                    .timeout(290);
                let params = WatchParams {
                    bookmarks: true,
                    ..params
                };
                match self.api.watch(&params, &self.version).await {
                    Ok(stream) => self.stream = Some(stream.boxed()),
                    Err(error) => {
                        warn!(pod = %self.name, %error, "cannot watch the pod; retrying");
                        self.back_off().await;
                    }
                }
                continue;
            };
            match stream.try_next().await {
                Ok(Some(WatchEvent::Added(pod) | WatchEvent::Modified(pod))) => {
                    self.pause = FIRST_PAUSE;
                    if let Some(v) = &pod.metadata.resource_version {
                        v.clone_into(&mut self.version);
                    }
                    return PodEvent::Changed(Box::new(pod));
                }
                Ok(Some(WatchEvent::Deleted(_))) => return PodEvent::Deleted,
                Ok(Some(WatchEvent::Bookmark(bookmark))) => {
                    self.version = bookmark.metadata.resource_version;
                }
                Ok(Some(WatchEvent::Error(status))) if status.code == 410 => {
                    debug!(pod = %self.name, "watch expired (410); re-listing");
                    self.stream = None;
                    if let Some(event) = self.relist().await {
                        return event;
                    }
                }
                Ok(Some(WatchEvent::Error(status))) => {
                    warn!(pod = %self.name, code = status.code, message = %status.message, "watch error; retrying");
                    self.stream = None;
                    self.back_off().await;
                }
                Ok(None) => self.stream = None,
                Err(error) => {
                    debug!(pod = %self.name, %error, "watch stream broke; resuming");
                    self.stream = None;
                    self.back_off().await;
                }
            }
        }
    }

    /// After `410`: the pod as it is now, and watching from its version.
    async fn relist(&mut self) -> Option<PodEvent> {
        match self.api.get_opt(&self.name).await {
            Ok(Some(pod)) => {
                if let Some(v) = &pod.metadata.resource_version {
                    v.clone_into(&mut self.version);
                }
                Some(PodEvent::Changed(Box::new(pod)))
            }
            Ok(None) => Some(PodEvent::Deleted),
            Err(error) => {
                warn!(pod = %self.name, %error, "cannot re-list the pod; retrying");
                self.back_off().await;
                None
            }
        }
    }
}
