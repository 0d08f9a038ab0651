//! Test support, behind the `testing` feature (enabled by other crates' dev-dependencies
//! only): damages a stored record behind the store's back, so callers' tests can check
//! what they answer for a store that opens but holds a damaged build.

use crate::StoreError;
use crate::keys::build_key_of;
use kiln_types::BuildRef;
use std::path::Path;
use std::time::{Duration, Instant};

/// Replaces the stored record of `id` in the store at `dir` with bytes that are not a
/// record. Waits up to 30 s for another process holding the store to let it go.
pub fn damage_build_record(dir: &Path, id: &BuildRef) -> Result<(), StoreError> {
    let backend = |e: sled::Error| StoreError::Backend(Box::new(e));
    let deadline = Instant::now() + Duration::from_secs(30);
    let db = loop {
        match sled::Config::new()
            .path(dir)
            .segment_size(crate::trees::SEGMENT_BYTES)
            .open()
        {
            Err(e) if Instant::now() < deadline && e.to_string().contains("lock") => {
                std::thread::sleep(Duration::from_millis(20));
            }
            other => break other.map_err(backend)?,
        }
    };
    let key = build_key_of(id);
    let builds = db.open_tree("builds").map_err(backend)?;
    if builds.get(&key).map_err(backend)?.is_none() {
        return Err(StoreError::NoSuchBuild(id.to_string()));
    }
    builds
        .insert(key, b"{\"id\": not json".as_slice())
        .map_err(backend)?;
    db.flush().map_err(backend)?;
    Ok(())
}
