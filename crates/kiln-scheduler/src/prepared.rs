//! A job's Jenkinsfile made ready to run: [`kiln_engine::prepare`] (the preparation `kiln
//! run` does too) of the document read with the source, with the configuration's
//! `libraries:` and its script limits. Problems come back as the log lines that show them.

use crate::source::Resolved;
use kiln_config::Config;
use kiln_engine::{LibraryAccess, Loaded, Prepared};
use kiln_library::LibrarySources;
use kiln_scm::GitCache;

/// Prepares the pipeline `resolved` holds; on failure, the build log's lines saying why.
pub(crate) async fn prepare(
    resolved: &Resolved,
    config: &Config,
    cache: &std::sync::Arc<GitCache>,
) -> Result<Prepared, Vec<String>> {
    let sources = LibrarySources::from_config(&config.libraries);
    let access = LibraryAccess {
        sources: &sources,
        cache,
    };
    let mut prepared = kiln_engine::prepare(Loaded::clone(&resolved.loaded), Some(access))
        .await
        .map_err(|e| e.log_lines())?;
    prepared.scripts.limits = kiln_script::Limits {
        total_time: config.scripts.total_time,
        ..kiln_script::Limits::default()
    };
    Ok(prepared)
}
