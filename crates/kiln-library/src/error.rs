//! Why a library could not be loaded or used.

/// A library problem; every variant names the library.
#[derive(Debug, thiserror::Error)]
pub enum LibraryError {
    /// `lib("${...}")` given to [`crate::load`] before the build evaluated its name.
    #[error(
        "a library named by an expression is loaded when the build starts, once its name is known"
    )]
    ComputedName,
    #[error(
        "library `{name}` is not configured (known: {known}); add it to `libraries:` or pass `--library {name}=PATH_OR_URL`"
    )]
    NotConfigured { name: String, known: String },
    #[error("library `{library}`: cannot read {path}: {source}")]
    Io {
        library: String,
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("library `{library}`: {source}")]
    Git {
        library: String,
        #[source]
        source: kiln_scm::ScmError,
    },
    #[error("library `{library}` at {path} has neither a vars/ nor a src/ directory")]
    Layout { library: String, path: String },
    /// Library code that does not compile or fails (the error names file, line and column).
    #[error("{0}")]
    Code(#[from] kiln_script::ScriptError),
    /// A pipeline built by a library that is not valid.
    #[error("{message}")]
    Pipeline { message: String },
    #[error("invalid --library `{arg}`: expected NAME=PATH_OR_URL")]
    BadArgument { arg: String },
}
