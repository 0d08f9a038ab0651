//! What every handler shares: the store, the scheduler's handle and the current settings.

use crate::Settings;
use crate::hooks::Deliveries;
use kiln_scheduler::{ManualClock, SchedulerHandle};
use kiln_store::Store;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use tokio::sync::Notify;

/// The router's state; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    scheduler: SchedulerHandle,
    settings: RwLock<Arc<Settings>>,
    data_dir: PathBuf,
    reload: Notify,
    clock: Option<Arc<ManualClock>>,
    sessions: crate::ui::Sessions,
    deliveries: Arc<Deliveries>,
    feed: crate::api::feed::BuildFeed,
}

impl AppState {
    pub fn new(
        store: Arc<dyn Store>,
        scheduler: SchedulerHandle,
        settings: Settings,
        data_dir: PathBuf,
    ) -> AppState {
        let deliveries = Arc::new(Deliveries::open(&data_dir));
        AppState {
            inner: Arc::new(Inner {
                deliveries,
                store,
                scheduler,
                settings: RwLock::new(Arc::new(settings)),
                data_dir,
                reload: Notify::new(),
                clock: None,
                sessions: crate::ui::Sessions::default(),
                feed: Default::default(),
            }),
        }
    }

    /// Lets admins move the scheduler's manual clock through `POST /api/v1/admin/clock`
    /// (for end-to-end tests of cron triggers; never set in normal operation).
    pub fn with_manual_clock(mut self, clock: Arc<ManualClock>) -> AppState {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.clock = Some(clock);
        }
        self
    }

    pub fn manual_clock(&self) -> Option<&Arc<ManualClock>> {
        self.inner.clock.as_ref()
    }

    /// The web UI's browser sessions.
    pub fn sessions(&self) -> &crate::ui::Sessions {
        &self.inner.sessions
    }

    /// The shared feed of build changes behind `GET /api/v1/events`.
    pub(crate) fn feed(&self) -> &crate::api::feed::BuildFeed {
        &self.inner.feed
    }

    pub fn store(&self) -> &dyn Store {
        self.inner.store.as_ref()
    }

    pub fn store_arc(&self) -> Arc<dyn Store> {
        self.inner.store.clone()
    }

    pub fn scheduler(&self) -> &SchedulerHandle {
        &self.inner.scheduler
    }

    /// The settings in force (a snapshot: a reload swaps them whole).
    pub fn settings(&self) -> Arc<Settings> {
        match self.inner.settings.read() {
            Ok(s) => s.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub fn set_settings(&self, settings: Settings) {
        let mut slot = match self.inner.settings.write() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        *slot = Arc::new(settings);
    }

    /// Where a build's files (artifacts, stashes, test reports) are kept.
    pub fn build_dir(&self, job: &str, number: u64) -> PathBuf {
        self.inner.scheduler.build_files_dir(job, number)
    }

    /// The webhook deliveries already taken.
    pub(crate) fn deliveries(&self) -> Arc<Deliveries> {
        self.inner.deliveries.clone()
    }

    pub fn data_dir(&self) -> &Path {
        &self.inner.data_dir
    }

    /// Asks whoever serves (the `kiln server` command) to reload the configuration.
    pub fn request_reload(&self) {
        self.inner.reload.notify_one();
    }

    /// Waits for a reload request from the admin API.
    pub async fn reload_requested(&self) {
        self.inner.reload.notified().await;
    }
}
