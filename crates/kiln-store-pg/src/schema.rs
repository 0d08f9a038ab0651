//! The tables and their migrations, run at open under an advisory lock.
//!
//! | table              | row                                                          |
//! |--------------------|--------------------------------------------------------------|
//! | `kiln_schema`      | the one row of the schema version                            |
//! | `kiln_meta`        | key/value: the write probe                                   |
//! | `kiln_jobs`        | a job: name, last number handed out, meta (JSON text), when it was last served a claim |
//! | `kiln_builds`      | a build: status, queue time, record (JSON text), log length, and for claiming: owner, epoch, not before (quiet period) |
//! | `kiln_log_appends` | one append of a build's log: where it starts, its bytes, its events (JSON text) |
//! | `kiln_controllers` | a controller's lease: id, expiry (PostgreSQL's clock)        |
//! | `kiln_once`        | a webhook delivery taken, per job (what it did, when)        |
//! | `kiln_timers`      | a timer (cron, polling, scan): the last due time it fired at |
//! | `kiln_controls`    | a control (cancel, input answer) sent to a build's owner, and its answer |
//! | `kiln_files`       | a build's small file (a stash, an artifact, a report's file): its bytes |
//!
//! Records are JSON as text (not `jsonb`, which refuses `\u0000` and reorders keys): the
//! bytes serde wrote are the bytes read back. Table names carry `kiln_`, so the database may
//! be shared.

use crate::error::query;
use deadpool_postgres::Object;
use kiln_store::StoreError;

/// The schema this kiln writes.
pub(crate) const CURRENT: u32 = 5;

/// `pg_advisory_xact_lock`'s key for migrations: "kilnmigr" as a number.
const MIGRATION_LOCK: i64 = 0x6b69_6c6e_6d69_6772;

/// Migration `n` takes the schema from version `n` to `n + 1`.
const MIGRATIONS: &[&str] = &[V1, V2, V3, V4, V5];

const V1: &str = "
CREATE TABLE kiln_meta (
    key text PRIMARY KEY,
    value text NOT NULL
);
CREATE TABLE kiln_jobs (
    name text PRIMARY KEY,
    last_number bigint NOT NULL DEFAULT 0,
    meta text NOT NULL DEFAULT '{}'
);
CREATE TABLE kiln_builds (
    job text NOT NULL REFERENCES kiln_jobs (name),
    number bigint NOT NULL,
    status text NOT NULL,
    queued_at_ms bigint NOT NULL,
    record text NOT NULL,
    log_len bigint NOT NULL DEFAULT 0,
    owner text,
    epoch bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (job, number)
);
CREATE INDEX kiln_builds_by_status ON kiln_builds (status, queued_at_ms);
CREATE TABLE kiln_log_appends (
    job text NOT NULL,
    number bigint NOT NULL,
    start bigint NOT NULL,
    text bytea NOT NULL,
    events text NOT NULL,
    PRIMARY KEY (job, number, start),
    FOREIGN KEY (job, number) REFERENCES kiln_builds (job, number) ON DELETE CASCADE
);
CREATE TABLE kiln_controllers (
    id text PRIMARY KEY,
    expires_at timestamptz NOT NULL
);
";

/// Claiming: the order jobs were last served in (round-robin across jobs), the row claims
/// lock to honour a capacity across controllers, and an index of builds by owner.
const V2: &str = "
CREATE SEQUENCE kiln_claim_order;
ALTER TABLE kiln_jobs ADD COLUMN last_claim bigint;
INSERT INTO kiln_meta (key, value) VALUES ('claim', 'the row claims lock') ON CONFLICT DO NOTHING;
CREATE INDEX kiln_builds_by_owner ON kiln_builds (owner) WHERE owner IS NOT NULL;
";

/// Quiet periods across controllers: a queued build is not claimed before this time (ms
/// since the epoch, compared with PostgreSQL's clock).
const V3: &str = "
ALTER TABLE kiln_builds ADD COLUMN not_before_ms bigint NOT NULL DEFAULT 0;
";

/// Exactly once across controllers: webhook deliveries taken (per job), and the due time
/// each timer last fired at (compare-and-set in the build's transaction).
const V4: &str = "
CREATE TABLE kiln_once (
    key text NOT NULL,
    scope text NOT NULL,
    taken_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (key, scope)
);
CREATE INDEX kiln_once_by_age ON kiln_once (taken_at);
CREATE TABLE kiln_timers (
    key text PRIMARY KEY,
    last_due_ms bigint NOT NULL
);
";

/// Control and files across controllers: controls sent to the controller that drives a
/// build (answered by it, or by whichever takes the build over), and builds' small files,
/// which any controller reads.
const V5: &str = "
CREATE TABLE kiln_controls (
    id bigserial PRIMARY KEY,
    job text NOT NULL,
    number bigint NOT NULL,
    body text NOT NULL,
    sent_at timestamptz NOT NULL DEFAULT now(),
    outcome text,
    FOREIGN KEY (job, number) REFERENCES kiln_builds (job, number) ON DELETE CASCADE
);
CREATE INDEX kiln_controls_pending ON kiln_controls (job, number) WHERE outcome IS NULL;
CREATE TABLE kiln_files (
    job text NOT NULL,
    number bigint NOT NULL,
    path text NOT NULL,
    bytes bytea NOT NULL,
    PRIMARY KEY (job, number, path),
    FOREIGN KEY (job, number) REFERENCES kiln_builds (job, number) ON DELETE CASCADE
);
";

/// Brings the schema to [`CURRENT`]: one transaction holding the migration lock, so two
/// kiln processes opening the store at once migrate it once; returns the version.
/// A database migrated by a newer kiln is refused and left untouched.
pub(crate) async fn migrate(client: &mut Object) -> Result<u32, StoreError> {
    migrate_to(client, CURRENT).await
}

/// [`migrate`], stopping at `target` (tests of each migration start from older schemas).
async fn migrate_to(client: &mut Object, target: u32) -> Result<u32, StoreError> {
    let tx = client.transaction().await.map_err(query)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(query)?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS kiln_schema (
            id integer PRIMARY KEY CHECK (id = 1),
            version integer NOT NULL
        )",
    )
    .await
    .map_err(query)?;
    let found = match tx
        .query_opt("SELECT version FROM kiln_schema WHERE id = 1", &[])
        .await
        .map_err(query)?
    {
        Some(row) => row.try_get::<_, i32>(0).map_err(query)?,
        None => 0,
    };
    let found = u32::try_from(found).unwrap_or(u32::MAX);
    if found > CURRENT {
        return Err(StoreError::SchemaTooNew {
            found,
            supported: CURRENT,
        });
    }
    let pending = MIGRATIONS.iter().enumerate().take(target as usize);
    for (from, sql) in pending.skip(found as usize) {
        tracing::info!(
            from,
            to = from + 1,
            "migrating the PostgreSQL store's schema"
        );
        tx.batch_execute(sql).await.map_err(query)?;
    }
    let reached = found.max(target);
    let current = i32::try_from(reached).unwrap_or(i32::MAX);
    tx.execute(
        "INSERT INTO kiln_schema (id, version) VALUES (1, $1)
         ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version",
        &[&current],
    )
    .await
    .map_err(query)?;
    tx.commit().await.map_err(query)?;
    Ok(reached)
}

#[cfg(test)]
mod tests {
    use super::*;
    use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
    use kiln_testkit::TestPostgres;

    #[test]
    fn a_schema_1_database_migrates_to_the_current_one_keeping_its_rows() {
        let server = TestPostgres::start();
        let url = server.new_database();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let manager = Manager::from_config(
                url.parse().unwrap(),
                tokio_postgres::NoTls,
                ManagerConfig {
                    recycling_method: RecyclingMethod::Fast,
                },
            );
            let pool = Pool::builder(manager).max_size(1).build().unwrap();
            let mut client = pool.get().await.unwrap();
            assert_eq!(migrate_to(&mut client, 1).await.unwrap(), 1);
            client
                .batch_execute(
                    "INSERT INTO kiln_jobs (name, last_number) VALUES ('app', 7);
                     INSERT INTO kiln_builds (job, number, status, queued_at_ms, record)
                     VALUES ('app', 7, 'queued', 0, '{}')",
                )
                .await
                .unwrap();
            assert_eq!(migrate(&mut client).await.unwrap(), CURRENT);
            let row = client
                .query_one(
                    "SELECT j.last_number, j.last_claim IS NULL, s.version
                     FROM kiln_jobs j, kiln_schema s WHERE j.name = 'app'",
                    &[],
                )
                .await
                .unwrap();
            assert_eq!(row.get::<_, i64>(0), 7);
            assert!(row.get::<_, bool>(1), "the new column is there, empty");
            assert_eq!(row.get::<_, i32>(2), CURRENT as i32);
            // Migrating again changes nothing.
            assert_eq!(migrate(&mut client).await.unwrap(), CURRENT);
        });
    }
}
