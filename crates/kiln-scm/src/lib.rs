//! Git for kiln: a cache of bare mirrors (one per repository, keyed by its normalised URL)
//! driven by the `git` command line, from which commits are resolved, files read and
//! workspaces checked out.
//!
//! Every git call is non-interactive (no prompts, ssh in batch mode) and has a timeout;
//! fetches of one repository are serialised. Errors name the URL and carry git's message.
//! Depends on no other kiln crate.

mod cache;
mod checkout;
mod error;
mod git;
mod url;

pub use cache::{DEFAULT_TIMEOUT, GitCache};
pub use error::ScmError;
pub use url::normalize_url;
