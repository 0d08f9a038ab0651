//! Why an import could not be made at all (as opposed to a [`crate::Finding`]: one part of
//! it that was not imported).

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read `{}`", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The JCasC file is not YAML: the rendered diagnostic says where.
    #[error("`{}` is not valid YAML:\n{rendered}", path.display())]
    Jcasc { path: PathBuf, rendered: String },
    #[error("`{}` is not a directory of Jenkins jobs (no `config.xml` found in it)", path.display())]
    NoJobs { path: PathBuf },
}
