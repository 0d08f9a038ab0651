//! Builds' small files (stashes) in `kiln_files`, so that a controller taking a build over
//! finds what the previous owner kept. A set of files is kept under its name (`stash/NAME`):
//! a row per file (`NAME/PATH`), and one for the set itself (`NAME/`), so an empty set is
//! told apart from none.

use crate::PgStore;
use crate::error::{query, to_i64};
use kiln_store::{BuildFile, StoreError};
use kiln_types::BuildRef;

impl PgStore {
    /// Keeps `files` as `name` for `build`, replacing what `name` held, in one transaction.
    pub fn put_files(
        &self,
        build: &BuildRef,
        name: &str,
        files: &[BuildFile],
    ) -> Result<(), StoreError> {
        let (job, n) = (
            build.job.to_string(),
            to_i64("a build number", build.number)?,
        );
        let prefix = format!("{name}/");
        let files = files.to_vec();
        self.run(|db| async move {
            let mut client = db.client().await?;
            let tx = client.transaction().await.map_err(query)?;
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
        let (job, n) = (
            build.job.to_string(),
            to_i64("a build number", build.number)?,
        );
        let prefix = format!("{name}/");
        self.run(|db| async move {
            let client = db.client().await?;
            let rows = client
                .query(
                    "SELECT path, bytes FROM kiln_files
                     WHERE job = $1 AND number = $2 AND left(path, length($3)) = $3
                     ORDER BY path",
                    &[&job, &n, &prefix],
                )
                .await
                .map_err(query)?;
            let mut kept = false;
            let mut files = Vec::with_capacity(rows.len());
            for row in &rows {
                let path: &str = row.try_get(0).map_err(query)?;
                match path.strip_prefix(prefix.as_str()) {
                    Some("") => kept = true,
                    Some(rest) => files.push(BuildFile {
                        path: rest.to_owned(),
                        bytes: row.try_get(1).map_err(query)?,
                    }),
                    None => {}
                }
            }
            Ok(kept.then_some(files))
        })
    }
}
