//! kiln's HTTP side: the JSON API under `/api/v1`, GitHub and GitLab webhooks, a small
//! server-rendered web UI and Prometheus metrics, over the scheduler and the store.
//!
//! This is the only crate that knows HTTP and the JSON shapes of the API. It never runs builds
//! itself: writes go through the scheduler's handle, reads to the `Store` trait. [`router`]
//! builds the whole application (tests drive it without a socket); [`serve`] runs it.

mod api;
mod auth;
mod badge;
mod clients;
mod edge;
mod error;
pub mod hooks;
mod metrics;
mod router;
mod serve;
mod settings;
mod sse;
mod state;
mod ui;

pub use auth::Caller;
pub use edge::AllowedHosts;
pub use error::ApiError;
pub use router::router;
pub use serve::{ServeError, ServeLimits, bind, serve};
pub use settings::{HookSecret, Settings, SettingsError, Token};
pub use state::AppState;
