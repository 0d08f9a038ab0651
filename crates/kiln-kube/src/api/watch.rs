//! Following one pod with a watch (never polling): resumes from the last resourceVersion
//! when a watch ends, backs off with jitter on errors, and after `410 Expired` re-lists the
//! pod with a LIST (a field selector on its name) and watches from the *list's*
//! resourceVersion. (The pod's own resourceVersion is no good after a compaction: a pod that
//! has not changed since is older than the history kept, and every watch from it expires
//! again.) Every request a watch makes takes a token of a [`RequestBudget`], so a watch that
//! keeps failing costs at most a few requests a minute whatever the API server answers.

use crate::api::backoff::{Backoff, RequestBudget};
use futures_util::stream::BoxStream;
use futures_util::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{ListParams, WatchEvent, WatchParams};
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
    backoff: Backoff,
    budget: RequestBudget,
    /// `410`s since the last event: the first re-lists at once, the next ones back off.
    expired_in_row: u32,
}

const MAX_PAUSE: Duration = Duration::from_secs(10);
const FIRST_PAUSE: Duration = Duration::from_millis(100);
/// Requests (watches and lists) one pod's watch may make at once ...
const BURST: u32 = 6;
/// ... and then one per this period.
const REFILL: Duration = Duration::from_secs(5);

impl PodWatch {
    /// Watches `name` from `version` (the resourceVersion of the pod as created).
    pub fn new(api: Api<Pod>, name: &str, version: String) -> PodWatch {
        PodWatch {
            api,
            name: name.to_owned(),
            version,
            stream: None,
            backoff: Backoff::new(FIRST_PAUSE, MAX_PAUSE),
            budget: RequestBudget::new(BURST, REFILL),
            expired_in_row: 0,
        }
    }

    async fn back_off(&mut self) {
        tokio::time::sleep(self.backoff.next_pause()).await;
    }

    fn params(&self) -> WatchParams {
        let params = WatchParams::default()
            .fields(&format!("metadata.name={}", self.name))
            .timeout(290);
        WatchParams {
            bookmarks: true,
            ..params
        }
    }

    /// The next change. Never returns an error: API trouble is retried with back-off (callers
    /// bound the wait with their own deadline).
    pub async fn next(&mut self) -> PodEvent {
        loop {
            let Some(stream) = self.stream.as_mut() else {
                self.budget.take().await;
                match self.api.watch(&self.params(), &self.version).await {
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
                    self.backoff.reset();
                    self.expired_in_row = 0;
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
                    self.expired_in_row += 1;
                    if self.expired_in_row > 1 {
                        self.back_off().await;
                    }
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

    /// After `410`: the pod as the LIST shows it, and watching from the list's version.
    async fn relist(&mut self) -> Option<PodEvent> {
        self.budget.take().await;
        let params = ListParams::default().fields(&format!("metadata.name={}", self.name));
        match self.api.list(&params).await {
            Ok(list) => {
                if let Some(v) = list.metadata.resource_version.filter(|v| !v.is_empty()) {
                    self.version = v;
                }
                match list.items.into_iter().next() {
                    Some(pod) => Some(PodEvent::Changed(Box::new(pod))),
                    None => Some(PodEvent::Deleted),
                }
            }
            Err(error) => {
                warn!(pod = %self.name, %error, "cannot re-list the pod; retrying");
                self.back_off().await;
                None
            }
        }
    }
}
