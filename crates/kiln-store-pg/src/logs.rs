//! Build logs in `kiln_log_appends`: one row per append (its start offset, bytes and events),
//! written in the transaction that moves `kiln_builds.log_len`, which locks the build's row
//! so appends to one log are serialised. A reader sees committed appends only.

use crate::db::{Db, build_key, decode, encode};
use crate::error::{query, to_i64, to_u64};
use deadpool_postgres::Transaction;
use kiln_store::{LogEvent, LogSlice, StoreError};
use kiln_types::BuildRef;
use tokio_postgres::IsolationLevel;

impl Db {
    /// Appends; with `fence` (owner, epoch), only while the build is still that claim's.
    pub(crate) async fn append(
        &self,
        id: BuildRef,
        bytes: Vec<u8>,
        events: Vec<LogEvent>,
        fence: Option<(String, u64)>,
    ) -> Result<u64, StoreError> {
        LogEvent::check_tiling(&bytes, &events)?;
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(query)?;
        let job = id.job.as_str();
        let n = to_i64("a build number", id.number)?;
        let row = tx
            .query_opt(
                "SELECT log_len, owner, epoch FROM kiln_builds
                 WHERE job = $1 AND number = $2 FOR UPDATE",
                &[&job, &n],
            )
            .await
            .map_err(query)?
            .ok_or_else(|| StoreError::NoSuchBuild(id.to_string()))?;
        if let Some((owner, epoch)) = fence {
            let held: Option<&str> = row.try_get(1).map_err(query)?;
            let current = to_u64("an epoch", row.try_get(2).map_err(query)?)?;
            if held != Some(owner.as_str()) || current != epoch {
                return Err(StoreError::Fenced {
                    build: id.to_string(),
                    epoch,
                });
            }
        }
        let start = to_u64("a log length", row.try_get(0).map_err(query)?)?;
        if bytes.is_empty() {
            return Ok(start);
        }
        let end = start.saturating_add(bytes.len() as u64);
        let placed: Vec<LogEvent> = events
            .into_iter()
            .map(|e| LogEvent {
                offset: e.offset.saturating_add(start),
                ..e
            })
            .collect();
        let (start_i, end_i) = (to_i64("a log offset", start)?, to_i64("a log length", end)?);
        let insert = tx
            .prepare_cached(
                "INSERT INTO kiln_log_appends (job, number, start, text, events)
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .await
            .map_err(query)?;
        tx.execute(&insert, &[&job, &n, &start_i, &bytes, &encode(&placed)?])
            .await
            .map_err(query)?;
        tx.execute(
            "UPDATE kiln_builds SET log_len = $3 WHERE job = $1 AND number = $2",
            &[&job, &n, &end_i],
        )
        .await
        .map_err(query)?;
        // Delivered at commit: followers on other controllers read the new bytes at once.
        tx.execute(
            "SELECT pg_notify($1, $2)",
            &[&crate::listen::LOG_CHANNEL, &id.to_string()],
        )
        .await
        .map_err(query)?;
        tx.commit().await.map_err(query)?;
        Ok(end)
    }

    /// Up to `max` bytes from `offset`, read in one snapshot.
    pub(crate) async fn read(
        &self,
        id: BuildRef,
        offset: u64,
        max: usize,
    ) -> Result<LogSlice, StoreError> {
        let mut client = self.client().await?;
        let tx = snapshot(&mut client).await?;
        let end = log_len(&tx, &id).await?;
        let want_end = end.min(offset.saturating_add(max as u64));
        let mut bytes = Vec::new();
        if offset < want_end {
            let rows = tx
                .query(
                    "SELECT start, text FROM kiln_log_appends
                     WHERE job = $1 AND number = $2 AND start < $4
                       AND start >= COALESCE((SELECT MAX(start) FROM kiln_log_appends
                                              WHERE job = $1 AND number = $2 AND start <= $3), 0)
                     ORDER BY start",
                    &[
                        &id.job.as_str(),
                        &to_i64("a build number", id.number)?,
                        &to_i64("a log offset", offset)?,
                        &to_i64("a log offset", want_end)?,
                    ],
                )
                .await
                .map_err(query)?;
            let mut pieces = Vec::with_capacity(rows.len());
            for row in &rows {
                let start = to_u64("a log offset", row.try_get(0).map_err(query)?)?;
                pieces.push((start, row.try_get::<_, &[u8]>(1).map_err(query)?));
            }
            bytes = assemble(&id, &pieces, offset, want_end)?;
        }
        tx.commit().await.map_err(query)?;
        Ok(LogSlice { offset, bytes, end })
    }

    /// The log's events, offsets from its start, in one snapshot.
    pub(crate) async fn read_events(&self, id: BuildRef) -> Result<Vec<LogEvent>, StoreError> {
        let mut client = self.client().await?;
        let tx = snapshot(&mut client).await?;
        let end = log_len(&tx, &id).await?;
        let rows = tx
            .query(
                "SELECT start, events FROM kiln_log_appends
                 WHERE job = $1 AND number = $2 AND start < $3 ORDER BY start",
                &[
                    &id.job.as_str(),
                    &to_i64("a build number", id.number)?,
                    &to_i64("a log length", end)?,
                ],
            )
            .await
            .map_err(query)?;
        let mut out = Vec::new();
        for row in &rows {
            let start = to_u64("a log offset", row.try_get(0).map_err(query)?)?;
            let text: &str = row.try_get(1).map_err(query)?;
            let key = format!("{}@{start}", build_key("log_events", &id));
            out.extend(decode::<Vec<LogEvent>>(key, text)?);
        }
        tx.commit().await.map_err(query)?;
        Ok(out)
    }
}

/// A read-only transaction that sees one snapshot (the length and the rows agree).
async fn snapshot(client: &mut deadpool_postgres::Object) -> Result<Transaction<'_>, StoreError> {
    client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .map_err(query)
}

/// The build's log length, or `NoSuchBuild`.
async fn log_len(tx: &Transaction<'_>, id: &BuildRef) -> Result<u64, StoreError> {
    let row = tx
        .query_opt(
            "SELECT log_len FROM kiln_builds WHERE job = $1 AND number = $2",
            &[&id.job.as_str(), &to_i64("a build number", id.number)?],
        )
        .await
        .map_err(query)?
        .ok_or_else(|| StoreError::NoSuchBuild(id.to_string()))?;
    to_u64("a log length", row.try_get(0).map_err(query)?)
}

/// The bytes `from..to` of a log out of its appends (each `(start, text)`, in order); a gap
/// or a short append is `Corrupt`.
fn assemble(
    id: &BuildRef,
    pieces: &[(u64, &[u8])],
    from: u64,
    to: u64,
) -> Result<Vec<u8>, StoreError> {
    let mut out = Vec::with_capacity(usize::try_from(to - from).unwrap_or(0));
    let mut at = from;
    for &(start, text) in pieces {
        let piece_end = start.saturating_add(text.len() as u64);
        if piece_end <= at {
            continue;
        }
        if start > at || at >= to {
            break;
        }
        let lo = usize::try_from(at - start).unwrap_or(usize::MAX);
        let hi = usize::try_from(piece_end.min(to) - start).unwrap_or(usize::MAX);
        if let Some(slice) = text.get(lo..hi) {
            out.extend_from_slice(slice);
            at = piece_end.min(to);
        }
    }
    if at != to {
        return Err(StoreError::Corrupt {
            key: format!("{}@{at}", build_key("logs", id)),
            source: <serde_json::Error as serde::de::Error>::custom(
                "the log's stored appends do not cover its length",
            ),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_types::JobName;

    fn id() -> BuildRef {
        BuildRef {
            job: JobName::new("a").unwrap(),
            number: 1,
        }
    }

    #[test]
    fn slices_are_cut_out_of_the_appends_that_hold_them() {
        let pieces: &[(u64, &[u8])] = &[(0, b"hello"), (5, b"world"), (10, b"!")];
        let read = |from, to| String::from_utf8(assemble(&id(), pieces, from, to).unwrap());
        assert_eq!(read(0, 11).unwrap(), "helloworld!");
        assert_eq!(read(3, 7).unwrap(), "lowo");
        assert_eq!(read(5, 10).unwrap(), "world");
        assert_eq!(read(10, 11).unwrap(), "!");
    }

    #[test]
    fn a_gap_in_the_appends_is_corrupt_not_short() {
        let pieces: &[(u64, &[u8])] = &[(0, b"hello"), (7, b"rld")];
        let err = assemble(&id(), pieces, 0, 10).unwrap_err();
        assert!(
            matches!(err, StoreError::Corrupt { ref key, .. } if key == "logs/a#1@5"),
            "{err}"
        );
    }
}
