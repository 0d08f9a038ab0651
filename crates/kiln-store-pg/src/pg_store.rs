//! [`PgStore`]: the [`Store`] trait on PostgreSQL.

use crate::bridge::Bridge;
use crate::db::Db;
use crate::{PgError, PgOptions};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use kiln_store::{
    BuildRecord, BuildStatus, JobRecord, LogEvent, LogSlice, NewBuild, Page, Store, StoreError,
};
use kiln_types::{BuildRef, JobName};
use std::time::Duration;

/// How long a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a call waits for a free connection of the pool.
const WAIT_TIMEOUT: Duration = Duration::from_secs(30);

/// kiln's state in a PostgreSQL database. Several kiln processes may open the same database.
pub struct PgStore {
    db: Db,
    /// The connection settings and TLS, for connections of their own (`LISTEN`).
    pub(crate) config: tokio_postgres::Config,
    pub(crate) tls: tokio_postgres_rustls::MakeRustlsConnect,
    /// Where the database is, without credentials, for messages.
    target: String,
    version: u32,
    /// Last, so the pool's connections go before the runtime that drives them.
    bridge: Bridge,
}

impl PgStore {
    /// Connects, migrates the schema (see `schema.rs`) and returns the store. An unreachable
    /// database is [`StoreError::Connect`], naming where it was looked for (never the
    /// password); a schema written by a newer kiln is [`StoreError::SchemaTooNew`].
    pub fn open(options: &PgOptions) -> Result<PgStore, StoreError> {
        let mut config: tokio_postgres::Config = options.url.parse().map_err(PgError::Url)?;
        let target = describe(&config);
        // Durable means committed: whatever the server's default, a commit waits for its WAL.
        let extra = "-c synchronous_commit=on";
        let opts = match config.get_options() {
            Some(given) if !given.is_empty() => format!("{given} {extra}"),
            _ => extra.to_owned(),
        };
        config.options(&opts);
        if config.get_application_name().is_none() {
            config.application_name("kiln");
        }
        config.connect_timeout(CONNECT_TIMEOUT);
        let tls = crate::tls::connector(options.ca_file.as_deref())?;
        let manager = Manager::from_config(
            config.clone(),
            tls.clone(),
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let bridge = Bridge::new()?;
        let pool = Pool::builder(manager)
            .max_size(options.pool_size.max(1))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(WAIT_TIMEOUT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(PgError::Build)?;
        let db = Db { pool };
        let migrating = db.clone();
        let connect_target = target.clone();
        let version = bridge.block(async move {
            let mut client = migrating
                .pool
                .get()
                .await
                .map_err(|e| StoreError::Connect {
                    target: connect_target,
                    source: Box::new(e),
                })?;
            crate::schema::migrate(&mut client).await
        })?;
        tracing::info!(database = %target, schema = version, "store opened (PostgreSQL)");
        Ok(PgStore {
            db,
            config,
            tls,
            target,
            version,
            bridge,
        })
    }

    /// Where the database is, without credentials (`host:port/dbname`).
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The store's runtime (see `bridge.rs`).
    pub(crate) fn runtime_handle(&self) -> Result<tokio::runtime::Handle, StoreError> {
        Ok(self.bridge.handle()?)
    }

    /// Runs `work` on the database and waits for it.
    pub(crate) fn run<T, F, Fut>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(Db) -> Fut,
        Fut: std::future::Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        self.bridge.block(work(self.db.clone()))
    }
}

/// `host:port/dbname` of a connection's configuration: what messages may show.
fn describe(config: &tokio_postgres::Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, host)| {
            let name = match host {
                tokio_postgres::config::Host::Tcp(name) => name.clone(),
                #[cfg(unix)]
                tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
            };
            let port = config
                .get_ports()
                .get(i)
                .or(config.get_ports().first())
                .copied()
                .unwrap_or(5432);
            format!("{name}:{port}")
        })
        .collect();
    let hosts = if hosts.is_empty() {
        "localhost:5432".to_owned()
    } else {
        hosts.join(",")
    };
    format!("postgres://{hosts}/{}", config.get_dbname().unwrap_or(""))
}

impl Store for PgStore {
    fn schema_version(&self) -> u32 {
        self.version
    }

    fn put_job(&self, job: &JobRecord) -> Result<(), StoreError> {
        let job = job.clone();
        self.run(|db| async move { db.put_job(job).await })
    }

    fn get_job(&self, name: &JobName) -> Result<Option<JobRecord>, StoreError> {
        let name = name.clone();
        self.run(|db| async move { db.get_job(name).await })
    }

    fn list_jobs(&self) -> Result<Vec<JobRecord>, StoreError> {
        self.run(|db| async move { db.list_jobs().await })
    }

    fn delete_job(&self, name: &JobName) -> Result<bool, StoreError> {
        let name = name.clone();
        self.run(|db| async move { db.delete_job(name).await })
    }

    fn create_build(&self, job: &JobName, new: NewBuild) -> Result<BuildRecord, StoreError> {
        let job = job.clone();
        self.run(|db| async move { db.create_build(job, new, 0).await })
    }

    fn create_build_not_before(
        &self,
        job: &JobName,
        new: NewBuild,
        not_before_ms: u64,
    ) -> Result<BuildRecord, StoreError> {
        let job = job.clone();
        self.run(|db| async move { db.create_build(job, new, not_before_ms).await })
    }

    fn update_build(&self, build: &BuildRecord) -> Result<(), StoreError> {
        let build = build.clone();
        self.run(|db| async move { db.update_build(build).await })
    }

    fn get_build(&self, id: &BuildRef) -> Result<Option<BuildRecord>, StoreError> {
        let id = id.clone();
        self.run(|db| async move { db.get_build(id).await })
    }

    fn list_builds(&self, job: &JobName, page: Page) -> Result<Vec<BuildRecord>, StoreError> {
        let job = job.clone();
        self.run(|db| async move { db.list_builds(job, page).await })
    }

    fn builds_in(&self, states: &[BuildStatus]) -> Result<Vec<BuildRecord>, StoreError> {
        let states = states.to_vec();
        self.run(|db| async move { db.builds_in(states).await })
    }

    fn delete_build(&self, id: &BuildRef) -> Result<(), StoreError> {
        let id = id.clone();
        self.run(|db| async move { db.delete_build(id).await })
    }

    fn append_log_events(
        &self,
        id: &BuildRef,
        bytes: &[u8],
        events: &[LogEvent],
    ) -> Result<u64, StoreError> {
        let (id, bytes, events) = (id.clone(), bytes.to_vec(), events.to_vec());
        self.run(|db| async move { db.append(id, bytes, events, None).await })
    }

    fn read_log(&self, id: &BuildRef, offset: u64, max: usize) -> Result<LogSlice, StoreError> {
        let id = id.clone();
        self.run(|db| async move { db.read(id, offset, max).await })
    }

    fn read_log_events(&self, id: &BuildRef) -> Result<Vec<LogEvent>, StoreError> {
        let id = id.clone();
        self.run(|db| async move { db.read_events(id).await })
    }

    fn check_writable(&self) -> Result<(), StoreError> {
        self.run(|db| async move { db.check_writable().await })
    }

    fn coordination(&self) -> Option<&dyn kiln_store::Coordination> {
        Some(self)
    }
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("target", &self.target)
            .field("schema_version", &self.version)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_never_show_the_password() {
        let config: tokio_postgres::Config = "postgres://kiln:s3cret@db.example.com:6432/ci"
            .parse()
            .unwrap();
        assert_eq!(describe(&config), "postgres://db.example.com:6432/ci");
        let options = PgOptions::new("postgres://kiln:s3cret@db/ci");
        assert!(!format!("{options:?}").contains("s3cret"));
    }
}
