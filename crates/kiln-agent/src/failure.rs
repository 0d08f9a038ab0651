//! Errors on the wire: [`Failure`] from and to [`kiln_executor::ExecError`], the one mapping
//! both sides use.

use crate::protocol::Failure;
use kiln_executor::ExecError;
use std::io;
use std::path::PathBuf;

impl Failure {
    pub fn other(message: impl Into<String>) -> Self {
        Failure::Other {
            message: message.into(),
        }
    }

    /// The wire form of an executor error.
    pub fn from_exec(error: &ExecError) -> Self {
        match error {
            ExecError::File { op, path, source } => Failure::Io {
                op: (*op).to_owned(),
                path: path.display().to_string(),
                io_kind: format!("{:?}", source.kind()),
                message: source.to_string(),
            },
            ExecError::Spawn { program, source } => Failure::Spawn {
                program: program.clone(),
                message: source.to_string(),
            },
            ExecError::EmptyCommand => Failure::Spawn {
                program: String::new(),
                message: "empty command".to_owned(),
            },
            ExecError::Glob { pattern, message } => Failure::Glob {
                pattern: pattern.clone(),
                message: message.clone(),
            },
            // The agent does not confine paths (its pod is the boundary); kept for completeness.
            ExecError::Outside { .. }
            | ExecError::NoExitStatus
            | ExecError::Task { .. }
            | ExecError::Unsupported(_)
            | ExecError::Agent { .. }
            | ExecError::Protocol(_)
            | ExecError::Remote { .. }
            | ExecError::NoContainer { .. }
            | ExecError::Unusable(_)
            | ExecError::Setup(_)
            | ExecError::ImageBuild(_)
            | ExecError::Random(_) => Failure::other(error.to_string()),
        }
    }

    /// The wire form of an IO error of file operation `op` on `path`.
    pub fn from_io(op: &str, path: &std::path::Path, error: &io::Error) -> Self {
        Failure::Io {
            op: op.to_owned(),
            path: path.display().to_string(),
            io_kind: format!("{:?}", error.kind()),
            message: error.to_string(),
        }
    }

    /// The executor error the controller reports; `context` names where it happened (e.g.
    /// `agent maven in pod kiln-x-1`) for errors that would otherwise not say.
    pub fn into_exec_error(self, context: &str) -> ExecError {
        match self {
            Failure::Io {
                op,
                path,
                io_kind,
                message,
            } => ExecError::File {
                op: static_op(&op),
                path: PathBuf::from(path),
                source: io::Error::new(io_kind_of(&io_kind), message),
            },
            Failure::Spawn { program, .. } if program.is_empty() => ExecError::EmptyCommand,
            Failure::Spawn { program, message } => ExecError::Spawn {
                program,
                source: io::Error::other(format!("{message} ({context})")),
            },
            Failure::Glob { pattern, message } => ExecError::Glob { pattern, message },
            Failure::Other { message } => ExecError::Remote {
                context: context.to_owned(),
                message,
            },
        }
    }
}

/// `ExecError::File` names its operation with a static string; these are the agent's.
fn static_op(op: &str) -> &'static str {
    match op {
        "read" => "read",
        "write" => "write",
        "check" => "check",
        "delete" => "delete",
        "create directory" => "create directory",
        "list" => "list",
        _ => "access",
    }
}

fn io_kind_of(name: &str) -> io::ErrorKind {
    use io::ErrorKind as K;
    match name {
        "NotFound" => K::NotFound,
        "PermissionDenied" => K::PermissionDenied,
        "AlreadyExists" => K::AlreadyExists,
        "NotADirectory" => K::NotADirectory,
        "IsADirectory" => K::IsADirectory,
        "DirectoryNotEmpty" => K::DirectoryNotEmpty,
        "InvalidInput" => K::InvalidInput,
        "InvalidData" => K::InvalidData,
        "StorageFull" => K::StorageFull,
        _ => K::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_errors_keep_their_kind_across_the_wire() {
        let error = ExecError::File {
            op: "read",
            path: PathBuf::from("/workspace/x"),
            source: io::Error::new(io::ErrorKind::NotFound, "no such file"),
        };
        let back = Failure::from_exec(&error).into_exec_error("agent a");
        match back {
            ExecError::File { op, path, source } => {
                assert_eq!(op, "read");
                assert_eq!(path, PathBuf::from("/workspace/x"));
                assert_eq!(source.kind(), io::ErrorKind::NotFound);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
