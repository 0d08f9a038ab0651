//! Waiting for a new pod to run, with its Events: an Unschedulable pod on an autoscaled
//! cluster (Cluster Autoscaler, Karpenter, GKE Autopilot) is Unschedulable first and runs once
//! a node is added, so kiln waits while a scale-up is under way (`TriggeredScaleUp`) and
//! fails at once when the autoscaler said it will not help (`NotTriggerScaleUp`); with no word
//! from an autoscaler within the scale-up window, the pod fails as unschedulable. The pod's
//! Events (scheduling, scale-ups, mounts, pulls, quota warnings) are followed with one watch
//! and said in the build's log as they come; the last one is in the start deadline's message.
//! The watch is opened only once the pod has waited: when it is not running [`EVENTS_AFTER`]
//! after its creation, or at once when it is unschedulable or cannot pull an image. A pod that
//! starts quickly costs no Events request; one that waits has every Event said all the same,
//! since the watch begins with the Events that exist already.
//! A failing image pull is left to the kubelet's retries per `image_pull` (see `pull_wait`).

use crate::api::pod_events::EventFeed;
use crate::api::pull_wait::PullWait;
use crate::api::watch::{PodEvent, PodWatch};
use crate::config::ImagePull;
use crate::error::{KubeError, StartError};
use crate::pod::status::{PodFailure, StartState, start_state};
use crate::start_log::StartLog;
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::Api;
use std::time::Duration;
use tokio::time::Instant;
use tracing::info;

/// How long a new pod may take to run before its Events are watched.
pub(crate) const EVENTS_AFTER: Duration = Duration::from_millis(500);

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
    /// How many failed pulls, and how long, the kubelet's retries are waited for (a registry
    /// answering 429, a flaky network) before the start fails.
    pub image_pull: ImagePull,
    /// Where the pod's Events and kiln's waiting go, for the build's log.
    pub log: &'a StartLog,
}

/// Where the wait stands between two looks at the pod.
struct Waiting {
    last: String,
    scale_up: ScaleUp,
    unschedulable: Option<(Instant, PodFailure)>,
    pulls: PullWait,
    /// The last image-pull failure seen (for a deadline met before any `ErrImagePull`).
    pull_failure: Option<PodFailure>,
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
        // Opened once the pod has waited (see the module's documentation).
        let mut feed: Option<EventFeed> = None;
        let events_at = Instant::now() + EVENTS_AFTER;
        let mut state = Waiting {
            last: "Pending".to_owned(),
            scale_up: ScaleUp::default(),
            unschedulable: None,
            pulls: PullWait::new(self.image_pull),
            pull_failure: None,
        };
        let mut first = Some(Box::new(initial));
        loop {
            let window_end = state
                .unschedulable
                .as_ref()
                .map(|(since, _)| *since + self.scale_up_window);
            let pull_end = state.pulls.deadline();
            let events_due = feed.is_none().then_some(events_at);
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
                    event = next_event(&mut feed) => {
                        if let Some(feed) = feed.as_mut() {
                            feed.say(&event, self.log);
                        }
                        note_event(&event, &mut state);
                        None
                    }
                    () = sleep_until_opt(events_due) => {
                        feed = Some(EventFeed::open(events, self.name).await);
                        None
                    }
                    () = sleep_until_opt(window_end) => {
                        if let Some((_, failure)) = state.unschedulable.take() {
                            return Err(StartError::Failed(failure).into());
                        }
                        None
                    }
                    () = sleep_until_opt(pull_end) => {
                        let failure = state.pulls.give_up().or_else(|| state.pull_failure.take());
                        if let Some(failure) = failure {
                            return Err(StartError::Failed(failure).into());
                        }
                        None
                    }
                    () = tokio::time::sleep_until(until) => {
                        return Err(StartError::Deadline {
                            pod: self.name.to_owned(),
                            seconds: self.deadline.as_secs(),
                            last: state.last,
                        }
                        .into());
                    }
                }
            };
            if let Some(refused) = &state.scale_up.refused
                && let Some((_, failure)) = state.unschedulable.take()
            {
                return Err(StartError::Failed(with_note(failure, refused)).into());
            }
            let Some(pod) = pod else { continue };
            if self.judge(&pod, &mut state)? {
                return Ok((*pod, watch));
            }
            let troubled = state.unschedulable.is_some()
                || state.pull_failure.is_some()
                || state.pulls.deadline().is_some();
            if feed.is_none() && troubled {
                feed = Some(EventFeed::open(events, self.name).await);
            }
        }
    }

    /// Looks at the pod: `true` once it runs, an error when it will not start.
    fn judge(&self, pod: &Pod, state: &mut Waiting) -> Result<bool, KubeError> {
        if let Some(failure) = state.pulls.observe(pod, self.log) {
            return Err(StartError::Failed(failure).into());
        }
        match start_state(pod, self.steps) {
            StartState::Running => return Ok(true),
            StartState::Failed(failure @ PodFailure::Unschedulable { .. }) => {
                if let Some(refused) = &state.scale_up.refused {
                    return Err(StartError::Failed(with_note(failure, refused)).into());
                }
                if !state.scale_up.triggered && state.unschedulable.is_none() {
                    info!(pod = %self.name, "unschedulable; waiting for an autoscaler");
                    self.log.line(format!(
                        "kiln: {failure}; waiting up to {} s for a cluster autoscaler to add a node",
                        self.scale_up_window.as_secs()
                    ));
                    state.unschedulable = Some((Instant::now(), failure));
                }
            }
            StartState::Failed(failure @ PodFailure::ImagePull { .. }) => {
                state.pull_failure = Some(failure);
            }
            StartState::Failed(reason) => return Err(StartError::Failed(reason).into()),
            StartState::Pending(note) => {
                state.unschedulable = None;
                if note != state.last {
                    info!(pod = %self.name, state = %note, "waiting for the pod");
                    state.last = note;
                }
            }
        }
        Ok(false)
    }
}

/// What an event tells the wait: an autoscaler's word, and the last thing that happened.
fn note_event(event: &Event, state: &mut Waiting) {
    let reason = event.reason.clone().unwrap_or_default();
    let message = event.message.clone().unwrap_or_default();
    match reason.as_str() {
        // A scale-up under way: the pod waits up to the start deadline, however long it has
        // been Unschedulable (the event may come after the status that started the window).
        "TriggeredScaleUp" => {
            state.scale_up.triggered = true;
            state.unschedulable = None;
        }
        "NotTriggerScaleUp" => state.scale_up.refused = Some(message.clone()),
        _ => {}
    }
    state.last = format!("{reason}: {message}");
}

/// The next Event of `feed`; pends while it is not open.
async fn next_event(feed: &mut Option<EventFeed>) -> Event {
    match feed {
        Some(feed) => feed.next().await,
        None => std::future::pending().await,
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
