//! Exactly once across controllers: a webhook delivery builds each job once, a timer fires
//! once per due time, and what only one controller may do at a time (retention, reaping
//! orphaned pods) runs under an advisory lock.
//!
//! A delivery is a row of `kiln_once` (its id, the job), inserted in the transaction that
//! creates its build: two controllers receiving it race on the primary key, and the loser's
//! transaction creates nothing. A timer is a row of `kiln_timers` whose last due time moves
//! forward by compare-and-set, again in the build's transaction; a controller killed before
//! its commit leaves the due time to the others.

use crate::PgStore;
use crate::builds::create_in;
use crate::db::Db;
use crate::error::{query, to_i64};
use deadpool_postgres::{Object, Transaction};
use kiln_store::{BuildRecord, Exclusive, NewBuild, Once, StoreError};
use kiln_types::JobName;

/// How long a delivery id is remembered: forges redeliver within days.
const DELIVERY_DAYS: i32 = 30;

impl Db {
    pub(crate) async fn create_build_once(
        &self,
        job: JobName,
        new: NewBuild,
        not_before_ms: u64,
        once: Once,
    ) -> Result<Option<BuildRecord>, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(query)?;
        if !take(&tx, &once, job.as_str()).await? {
            return Ok(None);
        }
        let build = create_in(&tx, &job, new, not_before_ms).await?;
        tx.commit().await.map_err(query)?;
        Ok(Some(build))
    }

    pub(crate) async fn take_once(&self, once: Once, scope: String) -> Result<bool, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(query)?;
        let taken = take(&tx, &once, &scope).await?;
        tx.commit().await.map_err(query)?;
        Ok(taken)
    }
}

/// Takes `once` for `scope` in `tx`; false when it was taken before. A concurrent
/// transaction taking the same waits for this one's end (the row's lock), then sees it.
async fn take(tx: &Transaction<'_>, once: &Once, scope: &str) -> Result<bool, StoreError> {
    let taken = match once {
        Once::Delivery(id) => {
            tx.execute(
                "DELETE FROM kiln_once WHERE taken_at < now() - $1::integer * interval '1 day'",
                &[&DELIVERY_DAYS],
            )
            .await
            .map_err(query)?;
            tx.execute(
                "INSERT INTO kiln_once (key, scope) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[&format!("delivery:{id}"), &scope],
            )
            .await
            .map_err(query)?
        }
        Once::Timer { key, due_ms } => tx
            .execute(
                "INSERT INTO kiln_timers (key, last_due_ms) VALUES ($1, $2)
                 ON CONFLICT (key) DO UPDATE SET last_due_ms = EXCLUDED.last_due_ms
                 WHERE kiln_timers.last_due_ms < EXCLUDED.last_due_ms",
                &[key, &to_i64("a timer's due time", *due_ms)?],
            )
            .await
            .map_err(query)?,
    };
    Ok(taken == 1)
}

/// An advisory lock held on a connection of its own; dropping it unlocks and gives the
/// connection back to the pool (or closes it, which unlocks too).
struct Held {
    client: Option<Object>,
    runtime: tokio::runtime::Handle,
}

impl Drop for Held {
    fn drop(&mut self) {
        let Some(client) = self.client.take() else {
            return;
        };
        self.runtime.spawn(async move {
            if client
                .execute("SELECT pg_advisory_unlock_all()", &[])
                .await
                .is_err()
            {
                // Closing the session releases its locks.
                drop(Object::take(client));
            }
        });
    }
}

impl PgStore {
    /// See [`kiln_store::Coordination::exclusive`]: `pg_advisory_lock` on a hash of `name`,
    /// held by a session of its own.
    pub fn exclusive(&self, name: &str) -> Result<Exclusive, StoreError> {
        let name = format!("kiln:{name}");
        let runtime = self.runtime_handle()?;
        let client = self.run(|db| async move {
            let client = db.client().await?;
            client
                .execute("SELECT pg_advisory_lock(hashtextextended($1, 0))", &[&name])
                .await
                .map_err(query)?;
            Ok(client)
        })?;
        Ok(Box::new(Held {
            client: Some(client),
            runtime,
        }))
    }

    /// See [`kiln_store::Coordination::create_build_once`].
    pub fn create_build_once(
        &self,
        job: &JobName,
        new: NewBuild,
        not_before_ms: u64,
        once: &Once,
    ) -> Result<Option<BuildRecord>, StoreError> {
        let (job, once) = (job.clone(), once.clone());
        self.run(|db| async move { db.create_build_once(job, new, not_before_ms, once).await })
    }

    /// See [`kiln_store::Coordination::take_once`].
    pub fn take_once(&self, once: &Once, scope: &str) -> Result<bool, StoreError> {
        let (once, scope) = (once.clone(), scope.to_owned());
        self.run(|db| async move { db.take_once(once, scope).await })
    }
}
