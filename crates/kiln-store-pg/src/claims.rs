//! What several controllers on one database need, as store operations (the scheduler's
//! claims, see kiln-scheduler's `claims.rs`): leases judged by PostgreSQL's clock, claiming a queued build in one
//! transaction, taking over the builds of a controller whose lease ran out, writes fenced by
//! the build's epoch, and a notification of every new build.
//!
//! A build's `owner` and `epoch` are columns beside its record: a claim or a takeover sets
//! the owner and increments the epoch, and a fenced write succeeds only while both are still
//! the writer's, so an owner that was paused past its lease cannot act after a takeover.

use crate::PgStore;
use crate::db::{Db, status_name};
use crate::error::{query, to_i64, to_u64};
use kiln_store::{
    BuildRecord, Claim, ClaimLimits, Coordination, Lease, LogEvent, NewBuildListener, StoreError,
};
use kiln_types::{BuildRef, JobName};
use std::time::Duration;

impl PgStore {
    /// Takes or renews `controller`'s lease for `ttl`. A lease that ran out is not renewed
    /// ([`Lease::Lost`]).
    pub fn renew_lease(&self, controller: &str, ttl: Duration) -> Result<Lease, StoreError> {
        let (controller, ms) = (controller.to_owned(), duration_ms(ttl)?);
        self.run(|db| async move { db.renew_lease(controller, ms).await })
    }

    /// Gives the lease up (a clean stop): its builds can be taken over at once.
    pub fn release_lease(&self, controller: &str) -> Result<(), StoreError> {
        let controller = controller.to_owned();
        self.run(|db| async move {
            let client = db.client().await?;
            client
                .execute(
                    "UPDATE kiln_controllers SET expires_at = '-infinity' WHERE id = $1",
                    &[&controller],
                )
                .await
                .map_err(query)?;
            Ok(())
        })
    }

    /// Claims the next queued build for `controller`, if `limits` allow one: jobs round-robin
    /// (the job served longest ago first), a job's builds oldest first; a job row another
    /// transaction holds is skipped (`FOR UPDATE SKIP LOCKED`), never waited for, so `None`
    /// means nothing could be claimed now, not that nothing is queued.
    pub fn claim_next(
        &self,
        controller: &str,
        limits: &ClaimLimits,
    ) -> Result<Option<Claim>, StoreError> {
        let (controller, limits) = (controller.to_owned(), limits.clone());
        self.run(|db| async move { db.claim_next(controller, limits).await })
    }

    /// Takes over, for `controller`, every unfinished build whose owner's lease ran out;
    /// each gets a new epoch.
    pub fn take_over(&self, controller: &str) -> Result<Vec<Claim>, StoreError> {
        let controller = controller.to_owned();
        self.run(|db| async move { db.take_over(controller).await })
    }

    /// Replaces a build's record if `claim` is still its owner's claim
    /// ([`StoreError::Fenced`] otherwise).
    pub fn update_build_fenced(
        &self,
        controller: &str,
        claim: &Claim,
        build: &BuildRecord,
    ) -> Result<(), StoreError> {
        let (controller, claim, build) = (controller.to_owned(), claim.clone(), build.clone());
        self.run(|db| async move { db.update_fenced(controller, claim, build).await })
    }

    /// Appends to a build's log (as [`Store::append_log_events`](kiln_store::Store)) if
    /// `claim` is still its owner's claim ([`StoreError::Fenced`] otherwise).
    pub fn append_log_fenced(
        &self,
        controller: &str,
        claim: &Claim,
        bytes: &[u8],
        events: &[LogEvent],
    ) -> Result<u64, StoreError> {
        let fence = Some((controller.to_owned(), claim.epoch));
        let (id, bytes, events) = (claim.build.clone(), bytes.to_vec(), events.to_vec());
        self.run(|db| async move { db.append(id, bytes, events, fence).await })
    }

    /// New builds as they are created by any kiln on the database (a `LISTEN` on a connection
    /// of its own, outside the pool). A wake-up, not a queue: when the receiver falls behind,
    /// notifications are dropped, so a consumer still looks for queued builds itself.
    pub fn new_builds(&self) -> Result<tokio::sync::mpsc::Receiver<BuildRef>, StoreError> {
        let mut signals = self.signals()?;
        let (tx, rx) = tokio::sync::mpsc::channel(1024);
        self.runtime_handle()?.spawn(async move {
            while let Some(signal) = signals.recv().await {
                if let kiln_store::Signal::NewBuild(build) = signal {
                    if tx.send(build).await.is_err() {
                        break;
                    }
                }
            }
        });
        Ok(rx)
    }

    /// Every [`Signal`](kiln_store::Signal) of any kiln on the database from now on (a
    /// `LISTEN` on a connection of its own, outside the pool); dropped when the receiver
    /// falls behind.
    pub fn signals(&self) -> Result<tokio::sync::mpsc::Receiver<kiln_store::Signal>, StoreError> {
        let (config, tls) = (self.config.clone(), self.tls.clone());
        self.run(|_| async move { crate::listen::listen(config, tls).await })
    }
}

impl Db {
    async fn renew_lease(&self, controller: String, ttl_ms: i64) -> Result<Lease, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "INSERT INTO kiln_controllers (id, expires_at)
                 VALUES ($1, now() + $2::bigint * interval '1 millisecond')
                 ON CONFLICT (id) DO UPDATE SET expires_at = EXCLUDED.expires_at
                 WHERE kiln_controllers.expires_at > now()
                 RETURNING (extract(epoch FROM expires_at) * 1000)::bigint",
                &[&controller, &ttl_ms],
            )
            .await
            .map_err(query)?;
        Ok(match row {
            Some(row) => Lease::Held {
                expires_at_ms: to_u64("a lease's expiry", row.try_get(0).map_err(query)?)?,
            },
            None => Lease::Lost,
        })
    }

    async fn claim_next(
        &self,
        controller: String,
        limits: ClaimLimits,
    ) -> Result<Option<Claim>, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(query)?;
        if let Some(capacity) = limits.capacity {
            // Claims wait for each other here, so two cannot both take the last slot.
            tx.execute(
                "SELECT 1 FROM kiln_meta WHERE key = 'claim' FOR UPDATE",
                &[],
            )
            .await
            .map_err(query)?;
            let row = tx.query_one(ACTIVE_COUNT, &[]).await.map_err(query)?;
            if to_u64("a count", row.try_get(0).map_err(query)?)? >= capacity {
                return Ok(None);
            }
        }
        // Candidates in fair order; each is then locked alone, skipped if another claim (or a
        // build being created) holds it, so concurrent claims spread over the jobs.
        let jobs = tx
            .query(
                &format!(
                    "SELECT j.name FROM kiln_jobs j
                 WHERE EXISTS (SELECT 1 FROM kiln_builds b
                               WHERE b.job = j.name AND b.status = 'queued' AND b.owner IS NULL
                                 AND b.not_before_ms <= {NOW_MS})
                 ORDER BY j.last_claim NULLS FIRST, j.name"
                ),
                &[],
            )
            .await
            .map_err(query)?;
        for row in &jobs {
            let job: &str = row.try_get(0).map_err(query)?;
            if let Some(claim) = claim_in_job(&tx, job, &controller, &limits).await? {
                tx.commit().await.map_err(query)?;
                return Ok(Some(claim));
            }
        }
        Ok(None)
    }

    async fn take_over(&self, controller: String) -> Result<Vec<Claim>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "UPDATE kiln_builds SET owner = $1, epoch = epoch + 1
                 WHERE status <> 'finished'
                   AND owner IN (SELECT id FROM kiln_controllers WHERE expires_at <= now())
                 RETURNING job, number, epoch",
                &[&controller],
            )
            .await
            .map_err(query)?;
        let mut claims = Vec::with_capacity(rows.len());
        for row in &rows {
            let job: &str = row.try_get(0).map_err(query)?;
            claims.push(Claim {
                build: BuildRef {
                    job: JobName::new(job)?,
                    number: to_u64("a build number", row.try_get(1).map_err(query)?)?,
                },
                epoch: to_u64("an epoch", row.try_get(2).map_err(query)?)?,
            });
        }
        claims.sort_by(|a, b| a.build.cmp(&b.build));
        Ok(claims)
    }

    async fn update_fenced(
        &self,
        controller: String,
        claim: Claim,
        build: BuildRecord,
    ) -> Result<(), StoreError> {
        if build.id != claim.build {
            return Err(StoreError::NoSuchBuild(build.id.to_string()));
        }
        let client = self.client().await?;
        let n = to_i64("a build number", build.id.number)?;
        let changed = client
            .execute(
                "UPDATE kiln_builds SET status = $3, queued_at_ms = $4, record = $5
                 WHERE job = $1 AND number = $2 AND owner = $6 AND epoch = $7",
                &[
                    &build.id.job.as_str(),
                    &n,
                    &status_name(build.status),
                    &to_i64("a queue time", build.queued_at_ms)?,
                    &crate::db::encode(&build)?,
                    &controller,
                    &to_i64("an epoch", claim.epoch)?,
                ],
            )
            .await
            .map_err(query)?;
        if changed == 1 {
            return Ok(());
        }
        match self.get_build(build.id.clone()).await? {
            None => Err(StoreError::NoSuchBuild(build.id.to_string())),
            Some(_) => Err(StoreError::Fenced {
                build: build.id.to_string(),
                epoch: claim.epoch,
            }),
        }
    }
}

/// Claims `job`'s oldest unclaimed build if its row is free and its limit allows.
async fn claim_in_job(
    tx: &deadpool_postgres::Transaction<'_>,
    job: &str,
    controller: &str,
    limits: &ClaimLimits,
) -> Result<Option<Claim>, StoreError> {
    let name = JobName::new(job)?;
    let locked = tx
        .query_opt(
            "SELECT 1 FROM kiln_jobs WHERE name = $1 FOR UPDATE SKIP LOCKED",
            &[&job],
        )
        .await
        .map_err(query)?;
    if locked.is_none() {
        return Ok(None);
    }
    if let Some(limit) = limits.per_job.get(&name) {
        let row = tx
            .query_one(&format!("{ACTIVE_COUNT} AND job = $1"), &[&job])
            .await
            .map_err(query)?;
        if to_u64("a count", row.try_get(0).map_err(query)?)? >= *limit {
            return Ok(None);
        }
    }
    // Under the job's lock, the oldest build still unclaimed (as committed now).
    let Some(claimed) = tx
        .query_opt(
            &format!(
                "UPDATE kiln_builds SET owner = $2, epoch = epoch + 1
                 WHERE job = $1 AND number = (SELECT MIN(number) FROM kiln_builds
                                              WHERE job = $1 AND status = 'queued'
                                                AND owner IS NULL
                                                AND not_before_ms <= {NOW_MS})
                 RETURNING number, epoch"
            ),
            &[&job, &controller],
        )
        .await
        .map_err(query)?
    else {
        return Ok(None);
    };
    tx.execute(
        "UPDATE kiln_jobs SET last_claim = nextval('kiln_claim_order') WHERE name = $1",
        &[&job],
    )
    .await
    .map_err(query)?;
    Ok(Some(Claim {
        build: BuildRef {
            job: name,
            number: to_u64("a build number", claimed.try_get(0).map_err(query)?)?,
        },
        epoch: to_u64("an epoch", claimed.try_get(1).map_err(query)?)?,
    }))
}

/// Now by PostgreSQL's clock, in ms since the epoch (what `not_before_ms` is compared to).
pub(crate) const NOW_MS: &str = "(extract(epoch FROM clock_timestamp()) * 1000)::bigint";

/// Builds that hold a slot: owned and not finished.
const ACTIVE_COUNT: &str =
    "SELECT COUNT(*) FROM kiln_builds WHERE owner IS NOT NULL AND status <> 'finished'";

fn duration_ms(ttl: Duration) -> Result<i64, StoreError> {
    to_i64(
        "a lease's length in ms",
        u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX),
    )
}

impl Coordination for PgStore {
    fn renew_lease(&self, controller: &str, ttl: Duration) -> Result<Lease, StoreError> {
        PgStore::renew_lease(self, controller, ttl)
    }

    fn release_lease(&self, controller: &str) -> Result<(), StoreError> {
        PgStore::release_lease(self, controller)
    }

    fn claim_next(
        &self,
        controller: &str,
        limits: &ClaimLimits,
    ) -> Result<Option<Claim>, StoreError> {
        PgStore::claim_next(self, controller, limits)
    }

    fn take_over(&self, controller: &str) -> Result<Vec<Claim>, StoreError> {
        PgStore::take_over(self, controller)
    }

    fn update_build_fenced(
        &self,
        controller: &str,
        claim: &Claim,
        build: &BuildRecord,
    ) -> Result<(), StoreError> {
        PgStore::update_build_fenced(self, controller, claim, build)
    }

    fn append_log_fenced(
        &self,
        controller: &str,
        claim: &Claim,
        bytes: &[u8],
        events: &[LogEvent],
    ) -> Result<u64, StoreError> {
        PgStore::append_log_fenced(self, controller, claim, bytes, events)
    }

    fn listen_new_builds(&self, listener: NewBuildListener) -> Result<(), StoreError> {
        let mut rx = self.new_builds()?;
        // A thread of its own: the listener may be called for the whole life of the process.
        std::thread::Builder::new()
            .name("kiln-pg-listen".to_owned())
            .spawn(move || {
                while let Some(build) = rx.blocking_recv() {
                    listener(&build);
                }
            })
            .map_err(|e| StoreError::Backend(Box::new(e)))?;
        Ok(())
    }

    fn listen(&self, listener: kiln_store::SignalListener) -> Result<(), StoreError> {
        let mut rx = self.signals()?;
        std::thread::Builder::new()
            .name("kiln-pg-signals".to_owned())
            .spawn(move || {
                while let Some(signal) = rx.blocking_recv() {
                    listener(&signal);
                }
            })
            .map_err(|e| StoreError::Backend(Box::new(e)))?;
        Ok(())
    }

    fn send_control(&self, build: &BuildRef, body: &str) -> Result<Option<u64>, StoreError> {
        PgStore::send_control(self, build, body)
    }

    fn pending_controls(
        &self,
        controller: &str,
    ) -> Result<Vec<kiln_store::SentControl>, StoreError> {
        PgStore::pending_controls(self, controller)
    }

    fn answer_control(&self, id: u64, outcome: &str) -> Result<(), StoreError> {
        PgStore::answer_control(self, id, outcome)
    }

    fn control_outcome(&self, id: u64) -> Result<Option<String>, StoreError> {
        PgStore::control_outcome(self, id)
    }

    fn merge_quiet(
        &self,
        job: &JobName,
        new: &kiln_store::NewBuild,
    ) -> Result<Option<BuildRecord>, StoreError> {
        PgStore::merge_quiet(self, job, new)
    }

    fn put_files(
        &self,
        build: &BuildRef,
        name: &str,
        files: &[kiln_store::BuildFile],
    ) -> Result<(), StoreError> {
        PgStore::put_files(self, build, name, files)
    }

    fn put_files_fenced(
        &self,
        controller: &str,
        claim: &Claim,
        name: &str,
        files: &[kiln_store::BuildFile],
    ) -> Result<(), StoreError> {
        PgStore::put_files_fenced(self, controller, claim, name, files)
    }

    fn get_files(
        &self,
        build: &BuildRef,
        name: &str,
    ) -> Result<Option<Vec<kiln_store::BuildFile>>, StoreError> {
        PgStore::get_files(self, build, name)
    }

    fn get_file(
        &self,
        build: &BuildRef,
        name: &str,
        path: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        PgStore::get_file(self, build, name, path)
    }

    fn build_files(&self, build: &BuildRef) -> Result<Vec<kiln_store::BuildFile>, StoreError> {
        PgStore::build_files(self, build)
    }

    fn restore_file(
        &self,
        build: &BuildRef,
        file: &kiln_store::BuildFile,
    ) -> Result<(), StoreError> {
        PgStore::restore_file(self, build, file)
    }

    fn build_controls(
        &self,
        build: &BuildRef,
    ) -> Result<Vec<kiln_store::StoredControl>, StoreError> {
        PgStore::build_controls(self, build)
    }

    fn restore_control(
        &self,
        build: &BuildRef,
        control: &kiln_store::StoredControl,
    ) -> Result<(), StoreError> {
        PgStore::restore_control(self, build, control)
    }

    fn create_build_once(
        &self,
        job: &JobName,
        new: kiln_store::NewBuild,
        not_before_ms: u64,
        once: &kiln_store::Once,
    ) -> Result<Option<BuildRecord>, StoreError> {
        PgStore::create_build_once(self, job, new, not_before_ms, once)
    }

    fn take_once(&self, once: &kiln_store::Once, scope: &str) -> Result<bool, StoreError> {
        PgStore::take_once(self, once, scope)
    }

    fn exclusive(&self, name: &str) -> Result<kiln_store::Exclusive, StoreError> {
        PgStore::exclusive(self, name)
    }
}
