//! [`BuildPages`]: all of a job's builds, a page at a time, newest first.

use crate::{BuildRecord, Page, Store, StoreError};
use kiln_types::JobName;

/// A job's builds in pages of `limit`, newest first, until a page comes back short. Each
/// page is listed below the last number of the one before, so a caller may delete the
/// builds of a page it was given before asking for the next.
pub struct BuildPages<'a> {
    store: &'a dyn Store,
    job: &'a JobName,
    limit: usize,
    before: Option<u64>,
    done: bool,
}

impl<'a> BuildPages<'a> {
    pub fn new(store: &'a dyn Store, job: &'a JobName, limit: usize) -> Self {
        BuildPages {
            store,
            job,
            limit: limit.max(1),
            before: None,
            done: false,
        }
    }
}

impl Iterator for BuildPages<'_> {
    type Item = Result<Vec<BuildRecord>, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let page = Page {
            before: self.before,
            limit: self.limit,
        };
        let builds = match self.store.list_builds(self.job, page) {
            Ok(b) => b,
            Err(e) => {
                self.done = true;
                return Some(Err(e));
            }
        };
        let last = builds.last()?;
        self.before = Some(last.id.number);
        self.done = builds.len() < self.limit;
        Some(Ok(builds))
    }
}
