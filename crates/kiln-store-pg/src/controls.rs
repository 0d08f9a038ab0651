//! Controls across controllers: a cancel or an input's answer that reaches a controller not
//! driving the build is a row of `kiln_controls` plus a notification to the build's owner,
//! which acts on it as if asked itself and writes the outcome back (with a notification to
//! the sender). A control sent to an owner that dies first is found by whichever controller
//! takes the build over: pending controls are looked up by the build's current owner.

use crate::PgStore;
use crate::error::{query, to_i64, to_u64};
use crate::listen::{ANSWER_CHANNEL, CONTROL_CHANNEL};
use kiln_store::{SentControl, StoreError, StoredControl};
use kiln_types::{BuildRef, JobName};

impl PgStore {
    /// Sends `body` to the controller that drives `build` (see
    /// [`Coordination::send_control`](kiln_store::Coordination::send_control)).
    pub fn send_control(&self, build: &BuildRef, body: &str) -> Result<Option<u64>, StoreError> {
        let (job, n) = (
            build.job.to_string(),
            to_i64("a build number", build.number)?,
        );
        let body = body.to_owned();
        self.run(|db| async move {
            let mut client = db.client().await?;
            let tx = client.transaction().await.map_err(query)?;
            // The owner cannot change under us: a takeover waits for this row.
            let Some(row) = tx
                .query_opt(
                    "SELECT owner FROM kiln_builds
                     WHERE job = $1 AND number = $2 AND status <> 'finished'
                       AND owner IS NOT NULL
                     FOR SHARE",
                    &[&job, &n],
                )
                .await
                .map_err(query)?
            else {
                return Ok(None);
            };
            let owner: String = row.try_get(0).map_err(query)?;
            let row = tx
                .query_one(
                    "INSERT INTO kiln_controls (job, number, body) VALUES ($1, $2, $3)
                     RETURNING id",
                    &[&job, &n, &body],
                )
                .await
                .map_err(query)?;
            let id = to_u64("a control id", row.try_get(0).map_err(query)?)?;
            tx.execute("SELECT pg_notify($1, $2)", &[&CONTROL_CHANNEL, &owner])
                .await
                .map_err(query)?;
            tx.commit().await.map_err(query)?;
            Ok(Some(id))
        })
    }

    /// The unanswered controls of the builds `controller` drives, oldest first.
    pub fn pending_controls(&self, controller: &str) -> Result<Vec<SentControl>, StoreError> {
        let controller = controller.to_owned();
        self.run(|db| async move {
            let client = db.client().await?;
            let rows = client
                .query(
                    "SELECT c.id, c.job, c.number, c.body FROM kiln_controls c
                     JOIN kiln_builds b ON b.job = c.job AND b.number = c.number
                     WHERE c.outcome IS NULL AND b.owner = $1
                     ORDER BY c.id",
                    &[&controller],
                )
                .await
                .map_err(query)?;
            let mut out = Vec::with_capacity(rows.len());
            for row in &rows {
                let job: &str = row.try_get(1).map_err(query)?;
                out.push(SentControl {
                    id: to_u64("a control id", row.try_get(0).map_err(query)?)?,
                    build: BuildRef {
                        job: JobName::new(job)?,
                        number: to_u64("a build number", row.try_get(2).map_err(query)?)?,
                    },
                    body: row.try_get(3).map_err(query)?,
                });
            }
            Ok(out)
        })
    }

    /// Answers control `id` (a control answered before keeps its first answer).
    pub fn answer_control(&self, id: u64, outcome: &str) -> Result<(), StoreError> {
        let (id, outcome) = (to_i64("a control id", id)?, outcome.to_owned());
        self.run(|db| async move {
            let mut client = db.client().await?;
            let tx = client.transaction().await.map_err(query)?;
            let answered = tx
                .execute(
                    "UPDATE kiln_controls SET outcome = $2 WHERE id = $1 AND outcome IS NULL",
                    &[&id, &outcome],
                )
                .await
                .map_err(query)?;
            if answered > 0 {
                tx.execute(
                    "SELECT pg_notify($1, $2)",
                    &[&ANSWER_CHANNEL, &id.to_string()],
                )
                .await
                .map_err(query)?;
            }
            tx.commit().await.map_err(query)?;
            Ok(())
        })
    }

    /// The answer to control `id`, once there is one.
    pub fn control_outcome(&self, id: u64) -> Result<Option<String>, StoreError> {
        let id = to_i64("a control id", id)?;
        self.run(|db| async move {
            let client = db.client().await?;
            let row = client
                .query_opt("SELECT outcome FROM kiln_controls WHERE id = $1", &[&id])
                .await
                .map_err(query)?;
            match row {
                Some(row) => row.try_get(0).map_err(query),
                None => Ok(None),
            }
        })
    }
}

impl PgStore {
    /// Every control sent to `build`'s owners, answered or not, oldest first: what `kiln
    /// store export` writes.
    pub fn build_controls(&self, build: &BuildRef) -> Result<Vec<StoredControl>, StoreError> {
        let (job, n) = (
            build.job.to_string(),
            to_i64("a build number", build.number)?,
        );
        self.run(|db| async move {
            let client = db.client().await?;
            let rows = client
                .query(
                    "SELECT id, body, (extract(epoch FROM sent_at) * 1000000)::bigint, outcome
                     FROM kiln_controls WHERE job = $1 AND number = $2 ORDER BY id",
                    &[&job, &n],
                )
                .await
                .map_err(query)?;
            rows.iter()
                .map(|row| {
                    Ok(StoredControl {
                        id: to_u64("a control id", row.try_get(0).map_err(query)?)?,
                        body: row.try_get(1).map_err(query)?,
                        sent_at_us: row.try_get(2).map_err(query)?,
                        outcome: row.try_get(3).map_err(query)?,
                    })
                })
                .collect()
        })
    }

    /// Puts back a control [`PgStore::build_controls`] gave, under its id (`kiln store
    /// import`); later controls are numbered past it.
    pub fn restore_control(
        &self,
        build: &BuildRef,
        control: &StoredControl,
    ) -> Result<(), StoreError> {
        let (job, n) = (
            build.job.to_string(),
            to_i64("a build number", build.number)?,
        );
        let id = to_i64("a control id", control.id)?;
        let control = control.clone();
        self.run(|db| async move {
            let mut client = db.client().await?;
            let tx = client.transaction().await.map_err(query)?;
            tx.execute(
                "INSERT INTO kiln_controls (id, job, number, body, sent_at, outcome)
                 VALUES ($1, $2, $3, $4,
                         to_timestamp(0) + $5::bigint * interval '1 microsecond', $6)",
                &[
                    &id,
                    &job,
                    &n,
                    &control.body,
                    &control.sent_at_us,
                    &control.outcome,
                ],
            )
            .await
            .map_err(query)?;
            tx.execute(
                "SELECT setval(pg_get_serial_sequence('kiln_controls', 'id'),
                               (SELECT max(id) FROM kiln_controls))",
                &[],
            )
            .await
            .map_err(query)?;
            tx.commit().await.map_err(query)?;
            Ok(())
        })
    }
}
