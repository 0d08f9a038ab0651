//! A starting pod's Events, followed with one watch (a field selector on the pod) and said in
//! the build's log as they come, once each: the scheduler's `FailedScheduling`, an
//! autoscaler's `TriggeredScaleUp`/`NotTriggerScaleUp`, `FailedMount`, pulls, quota
//! warnings. Written as the Kubernetes plugin of Jenkins writes them:
//! `[Warning][ns/pod][FailedScheduling] 0/3 nodes are available: ...`.

use crate::start_log::StartLog;
use futures_util::stream::BoxStream;
use futures_util::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Event;
use kube::Api;
use kube::api::{WatchEvent, WatchParams};
use std::collections::HashSet;
use tracing::{debug, info};

/// The pod's Events as they come (none when they cannot be watched: the pod's status alone
/// then tells how its start goes).
pub(crate) struct EventFeed {
    stream: Option<BoxStream<'static, kube::Result<WatchEvent<Event>>>>,
    /// What was said already: a repeated event (its count raised) is not said again.
    seen: HashSet<(String, String, String)>,
}

impl EventFeed {
    pub(crate) async fn open(events: &Api<Event>, pod: &str) -> EventFeed {
        let params = WatchParams::default()
            .fields(&format!(
                "involvedObject.kind=Pod,involvedObject.name={pod}"
            ))
            .timeout(290);
        let stream = match events.watch(&params, "0").await {
            Ok(stream) => Some(stream.boxed()),
            Err(error) => {
                debug!(%pod, %error, "cannot watch the pod's events");
                None
            }
        };
        EventFeed {
            stream,
            seen: HashSet::new(),
        }
    }

    /// The next event; pends forever once the stream is gone.
    pub(crate) async fn next(&mut self) -> Event {
        loop {
            let Some(stream) = self.stream.as_mut() else {
                return std::future::pending().await;
            };
            match stream.try_next().await {
                Ok(Some(WatchEvent::Added(e) | WatchEvent::Modified(e))) => return e,
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => self.stream = None,
            }
        }
    }

    /// Says `event` in the build's log (and kiln's), unless it was said already.
    pub(crate) fn say(&mut self, event: &Event, log: &StartLog) {
        let kind = event.type_.clone().unwrap_or_else(|| "Normal".to_owned());
        let reason = event.reason.clone().unwrap_or_default();
        let message = event.message.clone().unwrap_or_default();
        if !self
            .seen
            .insert((kind.clone(), reason.clone(), message.clone()))
        {
            return;
        }
        let object = &event.involved_object;
        let namespace = object.namespace.as_deref().unwrap_or("");
        let pod = object.name.as_deref().unwrap_or("");
        info!(%pod, %kind, %reason, %message, "pod event");
        for line in event_lines(&kind, namespace, pod, &reason, &message) {
            log.line(line);
        }
    }
}

/// An event as build log lines, one per line of its message.
fn event_lines(kind: &str, namespace: &str, pod: &str, reason: &str, message: &str) -> Vec<String> {
    let mut lines: Vec<String> = message
        .lines()
        .map(|line| format!("[{kind}][{namespace}/{pod}][{reason}] {line}"))
        .collect();
    if lines.is_empty() {
        lines.push(format!("[{kind}][{namespace}/{pod}][{reason}]"));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_is_a_line_per_line_of_its_message() {
        assert_eq!(
            event_lines(
                "Warning",
                "ci",
                "p",
                "FailedScheduling",
                "0/1 nodes\nsecond"
            ),
            [
                "[Warning][ci/p][FailedScheduling] 0/1 nodes",
                "[Warning][ci/p][FailedScheduling] second"
            ]
        );
        assert_eq!(
            event_lines("Normal", "ci", "p", "Scheduled", ""),
            ["[Normal][ci/p][Scheduled]"]
        );
    }
}
