//! Waiting for a new pod to run, with its Events: an Unschedulable pod on an autoscaled
//! cluster (Cluster Autoscaler, Karpenter, GKE Autopilot) is Unschedulable first and runs once
//! a node is added, so kiln waits while a scale-up is under way (`TriggeredScaleUp`) and
//! fails at once when the autoscaler said it will not help (`NotTriggerScaleUp`); with no word
//! from an autoscaler within the scale-up window, the pod fails as unschedulable. The pod's
//! Events (scheduling, scale-ups, mounts, pulls, quota warnings) are followed with one watch
//! and logged as they come; the last one is in the start deadline's message. A failing image
//! pull is left to the kubelet's back-off for the image-pull window before the start fails.

use crate::api::watch::{PodEvent, PodWatch};
use crate::error::{KubeError, StartError};
use crate::pod::status::{PodFailure, StartState, start_state};
use futures_util::stream::BoxStream;
use futures_util::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::Api;
use kube::api::{WatchEvent, WatchParams};
use std::time::Duration;
use tokio::time::Instant;
use tracing::{debug, info};

/// The pod's Events as they come (none when they cannot be watched: then the scale-up window
/// alone decides).
struct EventFeed {
    stream: Option<BoxStream<'static, kube::Result<WatchEvent<Event>>>>,
}

impl EventFeed {
    async fn open(events: &Api<Event>, pod: &str) -> EventFeed {
        let params = WatchParams::default()
            .fields(&format!("involvedObject.name={pod}"))
            .timeout(290);
        match events.watch(&params, "0").await {
            Ok(stream) => EventFeed {
                stream: Some(stream.boxed()),
            },
            Err(error) => {
                debug!(%pod, %error, "cannot watch the pod's events");
                EventFeed { stream: None }
            }
        }
    }

    /// The next event; pends forever once the stream is gone.
    async fn next(&mut self) -> Event {
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
}

/// What the autoscaler said about the pod.
#[derive(Default)]
struct ScaleUp {
    triggered: bool,
    refused: Option<String>,
}

/// How long to wait for a new pod.
pub(crate) struct StartWait<'a> {
    pub name: &'a str,
    pub steps: &'a [String],
    pub deadline: Duration,
    /// How long an Unschedulable pod waits for an autoscaler's word.
    pub scale_up_window: Duration,
    /// How long a failing image pull is left to the kubelet's retries (a registry answering
    /// 429, a flaky network) before the start fails.
    pub image_pull_window: Duration,
}

impl StartWait<'_> {
    /// Watches the pod (and its Events) until every step container runs; fails with the
    /// pod's own reason, or when the deadline passes. Returns the running pod and the watch.
    /// `initial` is the pod as created or adopted, looked at first: an adopted pod may be
    /// running already, and then no change would ever come.
    pub(crate) async fn run(
        &self,
        initial: Pod,
        mut watch: PodWatch,
        events: &Api<Event>,
    ) -> Result<(Pod, PodWatch), KubeError> {
        let until = Instant::now() + self.deadline;
        let mut feed = EventFeed::open(events, self.name).await;
        let mut last = "Pending".to_owned();
        let mut scale_up = ScaleUp::default();
        let mut unschedulable: Option<(Instant, PodFailure)> = None;
        let mut pulling: Option<(Instant, PodFailure)> = None;
        let mut first = Some(Box::new(initial));
        loop {
            let window_end = unschedulable
                .as_ref()
                .map(|(since, _)| *since + self.scale_up_window);
            let pull_end = pulling
                .as_ref()
                .map(|(since, _)| *since + self.image_pull_window);
            let pod = if let Some(pod) = first.take() {
                Some(pod)
            } else {
                tokio::select! {
                    event = watch.next() => match event {
                        PodEvent::Deleted => {
                            return Err(StartError::Deleted { pod: self.name.to_owned() }.into());
                        }
                        PodEvent::Changed(pod) => Some(pod),
                    },
                    event = feed.next() => {
                        self.note_event(&event, &mut scale_up, &mut last);
                        None
                    }
                    () = sleep_until_opt(window_end) => {
                        if let Some((_, failure)) = unschedulable.take() {
                            return Err(StartError::Failed(failure).into());
                        }
                        None
                    }
                    () = sleep_until_opt(pull_end) => {
                        if let Some((_, failure)) = pulling.take() {
                            return Err(StartError::Failed(failure).into());
                        }
                        None
                    }
                    () = tokio::time::sleep_until(until) => {
                        return Err(StartError::Deadline {
                            pod: self.name.to_owned(),
                            seconds: self.deadline.as_secs(),
                            last,
                        }
                        .into());
                    }
                }
            };
            if let Some(refused) = &scale_up.refused
                && let Some((_, failure)) = unschedulable.take()
            {
                return Err(StartError::Failed(with_note(failure, refused)).into());
            }
            let Some(pod) = pod else { continue };
            match start_state(&pod, self.steps) {
                StartState::Running => return Ok((*pod, watch)),
                StartState::Failed(failure @ PodFailure::Unschedulable { .. }) => {
                    if let Some(refused) = &scale_up.refused {
                        return Err(StartError::Failed(with_note(failure, refused)).into());
                    }
                    if !scale_up.triggered && unschedulable.is_none() {
                        info!(pod = %self.name, "unschedulable; waiting for an autoscaler");
                        unschedulable = Some((Instant::now(), failure));
                    }
                }
                StartState::Failed(failure @ PodFailure::ImagePull { .. }) => {
                    if self.image_pull_window.is_zero() {
                        return Err(StartError::Failed(failure).into());
                    }
                    if pulling.is_none() {
                        info!(pod = %self.name, %failure, "image pull failed; the kubelet retries");
                    }
                    let since = pulling.map_or_else(Instant::now, |(since, _)| since);
                    pulling = Some((since, failure));
                }
                StartState::Failed(reason) => return Err(StartError::Failed(reason).into()),
                StartState::Pending(note) => {
                    unschedulable = None;
                    pulling = None;
                    if note != last {
                        info!(pod = %self.name, state = %note, "waiting for the pod");
                        last = note;
                    }
                }
            }
        }
    }

    fn note_event(&self, event: &Event, scale_up: &mut ScaleUp, last: &mut String) {
        let reason = event.reason.clone().unwrap_or_default();
        let message = event.message.clone().unwrap_or_default();
        info!(pod = %self.name, kind = event.type_.as_deref().unwrap_or(""), %reason, %message, "pod event");
        match reason.as_str() {
            "TriggeredScaleUp" => scale_up.triggered = true,
            "NotTriggerScaleUp" => scale_up.refused = Some(message.clone()),
            _ => {}
        }
        *last = format!("{reason}: {message}");
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The scheduler's message with the autoscaler's reason for not scaling up.
fn with_note(failure: PodFailure, refused: &str) -> PodFailure {
    match failure {
        PodFailure::Unschedulable { pod, message } => PodFailure::Unschedulable {
            pod,
            message: format!("{message} (no scale-up: {refused})"),
        },
        other => other,
    }
}
