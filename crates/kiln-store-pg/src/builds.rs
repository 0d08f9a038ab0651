//! Jobs and builds in `kiln_jobs` and `kiln_builds`.

use crate::db::{Db, build_key, decode, encode, status_name};
use crate::error::{query, to_i64, to_u64};
use kiln_store::{BuildRecord, BuildStatus, JobRecord, NewBuild, Page, StoreError};
use kiln_types::{BuildRef, JobName};
use std::collections::BTreeMap;
use tokio_postgres::Row;

impl Db {
    /// Stores the job; the stored `last_number` never goes back (as the sled store: at least
    /// the number stored and every build's number).
    pub(crate) async fn put_job(&self, job: JobRecord) -> Result<(), StoreError> {
        let client = self.client().await?;
        let last = to_i64("a job's last build number", job.last_number)?;
        let meta = encode(&job.meta)?;
        client
            .execute(
                "INSERT INTO kiln_jobs (name, last_number, meta)
                 VALUES ($1, GREATEST($2, (SELECT COALESCE(MAX(number), 0)
                                           FROM kiln_builds WHERE job = $1)), $3)
                 ON CONFLICT (name) DO UPDATE
                 SET last_number = GREATEST(kiln_jobs.last_number, EXCLUDED.last_number),
                     meta = EXCLUDED.meta",
                &[&job.name.as_str(), &last, &meta],
            )
            .await
            .map_err(query)?;
        Ok(())
    }

    /// Removes the job's row unless builds of it remain (they refer to it).
    pub(crate) async fn delete_job(&self, name: JobName) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let n = client
            .execute(
                "DELETE FROM kiln_jobs WHERE name = $1
                 AND NOT EXISTS (SELECT 1 FROM kiln_builds WHERE job = $1)",
                &[&name.as_str()],
            )
            .await
            .map_err(query)?;
        Ok(n > 0)
    }

    pub(crate) async fn get_job(&self, name: JobName) -> Result<Option<JobRecord>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT name, last_number, meta FROM kiln_jobs WHERE name = $1",
                &[&name.as_str()],
            )
            .await
            .map_err(query)?;
        row.map(|row| job_of(&row)).transpose()
    }

    pub(crate) async fn list_jobs(&self) -> Result<Vec<JobRecord>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query("SELECT name, last_number, meta FROM kiln_jobs", &[])
            .await
            .map_err(query)?;
        let mut jobs = rows.iter().map(job_of).collect::<Result<Vec<_>, _>>()?;
        // By name's bytes, as the sled store lists them.
        jobs.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(jobs)
    }

    /// The next number of the job (creating its record if needed) and the queued build, in
    /// one transaction; the job's row lock orders concurrent creations.
    pub(crate) async fn create_build(
        &self,
        job: JobName,
        new: NewBuild,
        not_before_ms: u64,
    ) -> Result<BuildRecord, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(query)?;
        let build = create_in(&tx, &job, new, not_before_ms).await?;
        tx.commit().await.map_err(query)?;
        Ok(build)
    }
}

/// [`Db::create_build`] inside `tx` (the caller commits): the build's notification is
/// delivered at commit.
pub(crate) async fn create_in(
    tx: &deadpool_postgres::Transaction<'_>,
    job: &JobName,
    new: NewBuild,
    not_before_ms: u64,
) -> Result<BuildRecord, StoreError> {
    let name = job.as_str();
    tx.execute(
        "INSERT INTO kiln_jobs (name) VALUES ($1) ON CONFLICT (name) DO NOTHING",
        &[&name],
    )
    .await
    .map_err(query)?;
    let row = tx
        .query_one(
            "SELECT last_number,
                        (SELECT COALESCE(MAX(number), 0) FROM kiln_builds WHERE job = $1)
                 FROM kiln_jobs WHERE name = $1 FOR UPDATE",
            &[&name],
        )
        .await
        .map_err(query)?;
    let last: i64 = row.try_get(0).map_err(query)?;
    let built: i64 = row.try_get(1).map_err(query)?;
    let number = to_u64("a build number", last.max(built))?.saturating_add(1);
    let build = BuildRecord::queued(
        BuildRef {
            job: job.clone(),
            number,
        },
        new,
    );
    let n = to_i64("a build number", number)?;
    let queued = to_i64("a queue time", build.queued_at_ms)?;
    tx.execute(
        "UPDATE kiln_jobs SET last_number = $2 WHERE name = $1",
        &[&name, &n],
    )
    .await
    .map_err(query)?;
    tx.execute(
        "INSERT INTO kiln_builds (job, number, status, queued_at_ms, record, not_before_ms)
             VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &name,
            &n,
            &status_name(build.status),
            &queued,
            &encode(&build)?,
            &to_i64("a quiet period's end", not_before_ms)?,
        ],
    )
    .await
    .map_err(query)?;
    // Delivered at commit: idle controllers wake at once (see `PgStore::new_builds`).
    tx.execute(
        "SELECT pg_notify($1, $2)",
        &[&crate::listen::NEW_BUILD_CHANNEL, &build.id.to_string()],
    )
    .await
    .map_err(query)?;
    Ok(build)
}

impl Db {
    pub(crate) async fn update_build(&self, build: BuildRecord) -> Result<(), StoreError> {
        let client = self.client().await?;
        let n = to_i64("a build number", build.id.number)?;
        let queued = to_i64("a queue time", build.queued_at_ms)?;
        let changed = client
            .execute(
                "UPDATE kiln_builds SET status = $3, queued_at_ms = $4, record = $5
                 WHERE job = $1 AND number = $2",
                &[
                    &build.id.job.as_str(),
                    &n,
                    &status_name(build.status),
                    &queued,
                    &encode(&build)?,
                ],
            )
            .await
            .map_err(query)?;
        if changed == 0 {
            return Err(StoreError::NoSuchBuild(build.id.to_string()));
        }
        Ok(())
    }

    pub(crate) async fn get_build(&self, id: BuildRef) -> Result<Option<BuildRecord>, StoreError> {
        let client = self.client().await?;
        let n = to_i64("a build number", id.number)?;
        let row = client
            .query_opt(
                "SELECT record FROM kiln_builds WHERE job = $1 AND number = $2",
                &[&id.job.as_str(), &n],
            )
            .await
            .map_err(query)?;
        match row {
            Some(row) => {
                let text: &str = row.try_get(0).map_err(query)?;
                decode(build_key("builds", &id), text).map(Some)
            }
            None => Ok(None),
        }
    }

    pub(crate) async fn list_builds(
        &self,
        job: JobName,
        page: Page,
    ) -> Result<Vec<BuildRecord>, StoreError> {
        if page.limit == 0 {
            return Ok(Vec::new());
        }
        let client = self.client().await?;
        let before = page
            .before
            .map_or(i64::MAX, |b| i64::try_from(b).unwrap_or(i64::MAX));
        let limit = i64::try_from(page.limit).unwrap_or(i64::MAX);
        let rows = client
            .query(
                "SELECT number, record FROM kiln_builds
                 WHERE job = $1 AND number < $2 ORDER BY number DESC LIMIT $3",
                &[&job.as_str(), &before, &limit],
            )
            .await
            .map_err(query)?;
        rows.iter().map(|row| build_of(&job, row)).collect()
    }

    pub(crate) async fn builds_in(
        &self,
        states: Vec<BuildStatus>,
    ) -> Result<Vec<BuildRecord>, StoreError> {
        let client = self.client().await?;
        let names: Vec<&str> = states.iter().map(|s| status_name(*s)).collect();
        let rows = client
            .query(
                "SELECT job, number, record FROM kiln_builds WHERE status = ANY($1)",
                &[&names],
            )
            .await
            .map_err(query)?;
        let mut found = Vec::with_capacity(rows.len());
        for row in &rows {
            let job: &str = row.try_get(0).map_err(query)?;
            let job = JobName::new(job)?;
            let number: i64 = row.try_get(1).map_err(query)?;
            let text: &str = row.try_get(2).map_err(query)?;
            let id = BuildRef {
                job,
                number: to_u64("a build number", number)?,
            };
            found.push(decode::<BuildRecord>(build_key("builds", &id), text)?);
        }
        found.sort_by(|a, b| (a.queued_at_ms, &a.id).cmp(&(b.queued_at_ms, &b.id)));
        Ok(found)
    }

    /// Removes the build; its log's rows go with it (`ON DELETE CASCADE`), in one statement.
    pub(crate) async fn delete_build(&self, id: BuildRef) -> Result<(), StoreError> {
        let client = self.client().await?;
        let n = to_i64("a build number", id.number)?;
        let removed = client
            .execute(
                "DELETE FROM kiln_builds WHERE job = $1 AND number = $2",
                &[&id.job.as_str(), &n],
            )
            .await
            .map_err(query)?;
        if removed == 0 {
            return Err(StoreError::NoSuchBuild(id.to_string()));
        }
        Ok(())
    }
}

/// A `kiln_jobs` row (name, last_number, meta).
fn job_of(row: &Row) -> Result<JobRecord, StoreError> {
    let name: &str = row.try_get(0).map_err(query)?;
    let last: i64 = row.try_get(1).map_err(query)?;
    let meta: &str = row.try_get(2).map_err(query)?;
    Ok(JobRecord {
        meta: decode::<BTreeMap<String, String>>(format!("jobs/{name}"), meta)?,
        name: JobName::new(name)?,
        last_number: to_u64("a job's last build number", last)?,
    })
}

/// A `kiln_builds` row of `job` (number, record).
fn build_of(job: &JobName, row: &Row) -> Result<BuildRecord, StoreError> {
    let number: i64 = row.try_get(0).map_err(query)?;
    let text: &str = row.try_get(1).map_err(query)?;
    let id = BuildRef {
        job: job.clone(),
        number: to_u64("a build number", number)?,
    };
    decode(build_key("builds", &id), text)
}
