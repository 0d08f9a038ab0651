//! Builds' small files in `kiln_files` (stashes, artifacts, HTML reports), so that any
//! controller finds what the build's owner kept. A set of files is kept under its name
//! (`stash/NAME`, `artifacts`, `html/DIR`): a row per file (`NAME/PATH`), and one for the
//! set itself (`NAME/`), so an empty set is told apart from none. A set written by a build's
//! owner carries its claim, as its record and log writes do: it is refused once another
//! controller took the build over.

use crate::PgStore;
use crate::error::{query, to_i64, to_u64};
use kiln_store::{BuildFile, Claim, StoreError};
use kiln_types::BuildRef;

impl PgStore {
    /// Keeps `files` as `name` for `build`, replacing what `name` held, in one transaction.
    pub fn put_files(
        &self,
        build: &BuildRef,
        name: &str,
        files: &[BuildFile],
    ) -> Result<(), StoreError> {
        self.put_set(build, name, files, None)
    }

    /// [`PgStore::put_files`] for `claim`'s build, if `claim` is still `controller`'s
    /// ([`StoreError::Fenced`] otherwise, and nothing is written).
    pub fn put_files_fenced(
        &self,
        controller: &str,
        claim: &Claim,
        name: &str,
        files: &[BuildFile],
    ) -> Result<(), StoreError> {
        let fence = Some((controller.to_owned(), claim.epoch));
        self.put_set(&claim.build, name, files, fence)
    }

    fn put_set(
        &self,
        build: &BuildRef,
        name: &str,
        files: &[BuildFile],
        fence: Option<(String, u64)>,
    ) -> Result<(), StoreError> {
        let (id, job, n) = (
            build.to_string(),
            build.job.to_string(),
            to_i64("a build number", build.number)?,
        );
        let prefix = format!("{name}/");
        let files = files.to_vec();
        self.run(|db| async move {
            let mut client = db.client().await?;
            let tx = client.transaction().await.map_err(query)?;
            if let Some((owner, epoch)) = fence {
                // Shared: a takeover (which updates the row) waits for this transaction.
                let row = tx
                    .query_opt(
                        "SELECT owner, epoch FROM kiln_builds
                         WHERE job = $1 AND number = $2 FOR SHARE",
                        &[&job, &n],
                    )
                    .await
                    .map_err(query)?
                    .ok_or_else(|| StoreError::NoSuchBuild(id.clone()))?;
                let held: Option<&str> = row.try_get(0).map_err(query)?;
                let current = to_u64("an epoch", row.try_get(1).map_err(query)?)?;
                if held != Some(owner.as_str()) || current != epoch {
                    return Err(StoreError::Fenced { build: id, epoch });
                }
            }
            tx.execute(
                "DELETE FROM kiln_files
                 WHERE job = $1 AND number = $2 AND left(path, length($3)) = $3",
                &[&job, &n, &prefix],
            )
            .await
            .map_err(query)?;
            let insert = tx
                .prepare_cached(
                    "INSERT INTO kiln_files (job, number, path, bytes) VALUES ($1, $2, $3, $4)",
                )
                .await
                .map_err(query)?;
            let marker: &[u8] = &[];
            tx.execute(&insert, &[&job, &n, &prefix, &marker])
                .await
                .map_err(query)?;
            for f in &files {
                let path = format!("{prefix}{}", f.path);
                tx.execute(&insert, &[&job, &n, &path, &f.bytes])
                    .await
                    .map_err(query)?;
            }
            tx.commit().await.map_err(query)?;
            Ok(())
        })
    }

    /// The files kept as `name` for `build`, by path; `None` when nothing was kept.
    pub fn get_files(
        &self,
        build: &BuildRef,
        name: &str,
    ) -> Result<Option<Vec<BuildFile>>, StoreError> {
        let prefix = format!("{name}/");
        let rows = self.build_files_under(build, &prefix)?;
        let mut kept = false;
        let mut files = Vec::with_capacity(rows.len());
        for row in rows {
            match row.path.strip_prefix(prefix.as_str()) {
                Some("") => kept = true,
                Some(rest) => files.push(BuildFile {
                    path: rest.to_owned(),
                    bytes: row.bytes,
                }),
                None => {}
            }
        }
        Ok(kept.then_some(files))
    }

    /// The bytes of file `path` of the set `name` kept for `build`; `None` when there is none.
    /// An empty `path` asks for the set itself: empty bytes when it was kept.
    pub fn get_file(
        &self,
        build: &BuildRef,
        name: &str,
        path: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let (job, n) = (
            build.job.to_string(),
            to_i64("a build number", build.number)?,
        );
        let full = format!("{name}/{path}");
        self.run(|db| async move {
            let client = db.client().await?;
            let row = client
                .query_opt(
                    "SELECT bytes FROM kiln_files WHERE job = $1 AND number = $2 AND path = $3",
                    &[&job, &n, &full],
                )
                .await
                .map_err(query)?;
            row.map(|r| r.try_get(0).map_err(query)).transpose()
        })
    }

    /// Every file row kept for `build` (sets' markers included), by their full paths, in
    /// order: what `kiln store export` writes.
    pub fn build_files(&self, build: &BuildRef) -> Result<Vec<BuildFile>, StoreError> {
        self.build_files_under(build, "")
    }

    /// Puts back one row [`PgStore::build_files`] gave (`kiln store import`).
    pub fn restore_file(&self, build: &BuildRef, file: &BuildFile) -> Result<(), StoreError> {
        let (job, n) = (
            build.job.to_string(),
            to_i64("a build number", build.number)?,
        );
        let file = file.clone();
        self.run(|db| async move {
            let client = db.client().await?;
            client
                .execute(
                    "INSERT INTO kiln_files (job, number, path, bytes) VALUES ($1, $2, $3, $4)",
                    &[&job, &n, &file.path, &file.bytes],
                )
                .await
                .map_err(query)?;
            Ok(())
        })
    }

    /// The rows of `build` whose path starts with `prefix`, by path.
    fn build_files_under(
        &self,
        build: &BuildRef,
        prefix: &str,
    ) -> Result<Vec<BuildFile>, StoreError> {
        let (job, n) = (
            build.job.to_string(),
            to_i64("a build number", build.number)?,
        );
        let prefix = prefix.to_owned();
        self.run(|db| async move {
            let client = db.client().await?;
            let rows = client
                .query(
                    "SELECT path, bytes FROM kiln_files
                     WHERE job = $1 AND number = $2 AND left(path, length($3)) = $3
                     ORDER BY path COLLATE \"C\"",
                    &[&job, &n, &prefix],
                )
                .await
                .map_err(query)?;
            rows.iter()
                .map(|row| {
                    Ok(BuildFile {
                        path: row.try_get(0).map_err(query)?,
                        bytes: row.try_get(1).map_err(query)?,
                    })
                })
                .collect()
        })
    }
}
