//! Shared libraries: where they come from ([`LibrarySources`]: a local directory or a git
//! repository, from kiln's configuration or `kiln run --library`), loading the ones a
//! pipeline asks for ([`load`]) in Jenkins' layout (`vars/NAME.rhai` global steps, `src/`
//! Rhai modules, `resources/` files), and pipelines built by a library from parameters
//! ([`generated_pipeline`]).
//!
//! Library code is compiled and run by kiln-script (the one sandboxed engine); this crate
//! only reads files (a directory, or a checkout from kiln-scm's [`kiln_scm::GitCache`]).
//! Every error names the library and version, and the file, line and column when it is in
//! library code.

mod error;
mod generate;
mod libraries;
mod load;
mod source;

pub use error::LibraryError;
pub use generate::{GeneratedPipeline, generated_pipeline, render_pipeline};
pub use libraries::{Libraries, Library};
pub use load::{load, load_dir};
pub use source::{LibrarySource, LibrarySources};
