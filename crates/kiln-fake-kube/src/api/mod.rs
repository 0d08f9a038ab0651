//! The HTTP surface: the router, built by a function so tests can drive it without a socket.

mod admin;
mod auth;
mod body;
mod discovery;
mod exec;
mod logs;
mod objects;
mod portforward;
mod portforward_spdy;
mod protobuf;
mod request;
mod spdy;
mod table;
mod watch;

pub use discovery::go_arch;

use std::sync::Arc;

use axum::Router;
use axum::routing::{any, get};

use crate::config::FakeKubeConfig;
use crate::controller::ControlPlane;
use crate::faults::Faults;
use crate::kubelet::Kubelet;
use crate::log_store::LogStore;
use crate::rbac::Rbac;
use crate::recorder::{self, RecordState, Recorder};
use crate::store::Store;

/// Everything the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The objects.
    pub store: Store,
    /// The node agent (for exec, port-forward and injected node faults).
    pub kubelet: Arc<Kubelet>,
    /// The controllers' run-time settings (scheduling delay, autoscaler, node loss).
    pub control: Arc<ControlPlane>,
    /// Container output.
    pub logs: LogStore,
    /// Fault switches.
    pub faults: Arc<Faults>,
    /// Request log.
    pub recorder: Recorder,
    /// The cluster's configuration.
    pub config: Arc<FakeKubeConfig>,
    /// Roles and bindings, when `config.rbac` is on.
    pub rbac: Arc<Rbac>,
    /// `host:port` the server listens on (for discovery).
    pub address: String,
}

/// The whole API: discovery, core/v1 objects, logs, exec, port-forward, and `/__fake/` admin.
pub fn router(state: AppState) -> Router {
    let record = RecordState {
        recorder: state.recorder.clone(),
        faults: Arc::clone(&state.faults),
    };
    Router::new()
        .route("/version", get(discovery::version))
        .route("/version/", get(discovery::version))
        .route("/api", get(discovery::api_versions))
        .route("/apis", get(discovery::api_groups))
        .route("/api/v1", get(discovery::core_resources))
        .route("/openapi/v3", get(discovery::openapi_index))
        .route("/openapi/v3/api/v1", get(discovery::openapi_core))
        .route("/healthz", get(discovery::ok))
        .route("/livez", get(discovery::ok))
        .route("/readyz", get(discovery::ok))
        .route("/api/v1/namespaces/{ns}/pods/{name}/exec", any(exec::exec))
        .route(
            "/api/v1/namespaces/{ns}/pods/{name}/attach",
            any(exec::attach),
        )
        .route(
            "/api/v1/namespaces/{ns}/pods/{name}/portforward",
            any(portforward::portforward),
        )
        .route("/api/v1/namespaces/{ns}/pods/{name}/log", get(logs::logs))
        .nest("/__fake", admin::router())
        .fallback(objects::dispatch)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::authorize,
        ))
        .layer(axum::middleware::from_fn_with_state(
            record,
            recorder::record,
        ))
        .with_state(state)
}
