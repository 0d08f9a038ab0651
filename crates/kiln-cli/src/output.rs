//! kiln's own standard output. A reader that went away (`kiln logs app#3 | head`) ends the
//! command quietly, as Unix tools do, instead of a panic or a retry.

use std::fmt;
use std::io::{self, Write};

/// Writing kiln's output failed.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// The reader closed the pipe: nothing more is wanted.
    #[error("the output was closed by its reader")]
    Closed,
    #[error("cannot write the output")]
    Io(#[source] io::Error),
}

impl From<io::Error> for OutputError {
    fn from(err: io::Error) -> OutputError {
        if err.kind() == io::ErrorKind::BrokenPipe {
            OutputError::Closed
        } else {
            OutputError::Io(err)
        }
    }
}

/// `println!` that returns an error instead of panicking.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::output::print(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// Writes formatted text to stdout and flushes it.
pub fn print(args: fmt::Arguments<'_>) -> Result<(), OutputError> {
    let mut out = io::stdout().lock();
    out.write_fmt(args)?;
    out.flush()?;
    Ok(())
}

/// Writes bytes to `out` and flushes it.
pub fn write_all(out: &mut dyn Write, bytes: &[u8]) -> Result<(), OutputError> {
    out.write_all(bytes)?;
    out.flush()?;
    Ok(())
}

/// Whether a command failed only because its output was closed.
pub fn closed(err: &anyhow::Error) -> bool {
    err.chain()
        .any(|e| matches!(e.downcast_ref::<OutputError>(), Some(OutputError::Closed)))
}
