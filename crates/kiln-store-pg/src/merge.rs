//! Triggers merging across controllers: a trigger that reaches any controller while a build
//! of its job waits out its quiet period (queued by any controller, not claimed yet) with
//! the same parameters and branch joins that build, which then builds the trigger's commit.

use crate::PgStore;
use crate::claims::NOW_MS;
use crate::db::{decode, encode};
use crate::error::query;
use kiln_store::{BuildRecord, NewBuild, StoreError};
use kiln_types::JobName;

impl PgStore {
    /// See [`Coordination::merge_quiet`](kiln_store::Coordination::merge_quiet).
    pub fn merge_quiet(
        &self,
        job: &JobName,
        new: &NewBuild,
    ) -> Result<Option<BuildRecord>, StoreError> {
        let (job, new) = (job.to_string(), new.clone());
        self.run(|db| async move {
            let mut client = db.client().await?;
            let tx = client.transaction().await.map_err(query)?;
            // Locked, so a claim cannot take it meanwhile; one another merge or a claim
            // holds is passed over.
            let rows = tx
                .query(
                    &format!(
                        "SELECT number, record FROM kiln_builds
                         WHERE job = $1 AND status = 'queued' AND owner IS NULL
                           AND not_before_ms > {NOW_MS}
                         ORDER BY number
                         FOR UPDATE SKIP LOCKED"
                    ),
                    &[&job],
                )
                .await
                .map_err(query)?;
            for row in &rows {
                let number: i64 = row.try_get(0).map_err(query)?;
                let text: &str = row.try_get(1).map_err(query)?;
                let mut record: BuildRecord = decode(format!("{job}#{number}"), text)?;
                if record.params != new.params || record.branch != new.branch {
                    continue;
                }
                record.commit.clone_from(&new.commit);
                tx.execute(
                    "UPDATE kiln_builds SET record = $3 WHERE job = $1 AND number = $2",
                    &[&job, &number, &encode(&record)?],
                )
                .await
                .map_err(query)?;
                tx.commit().await.map_err(query)?;
                return Ok(Some(record));
            }
            Ok(None)
        })
    }
}
