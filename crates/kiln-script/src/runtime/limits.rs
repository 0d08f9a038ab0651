//! Checks that run before a helper allocates something whose size comes from script
//! values (`"x" * n`, `[1] * n`, `padLeft(n)`, ranges): the engine's string and list
//! limits apply to the size the result would have, so a script cannot make the process
//! allocate first and fail after (or abort on an impossible allocation).

use super::types::RtResult;
use rhai::{EvalAltResult, NativeCallContext, Position};

/// Fails unless a string of `len` bytes (`None`: more than `usize` can count) is within
/// the engine's string limit; `what` names the operation for the message.
pub(crate) fn string_len(ctx: &NativeCallContext, what: &str, len: Option<usize>) -> RtResult<()> {
    within(
        what,
        "a string of",
        "bytes",
        len,
        ctx.engine().max_string_size(),
    )
}

/// Fails unless a list of `len` items is within the engine's list limit.
pub(crate) fn list_len(ctx: &NativeCallContext, what: &str, len: Option<usize>) -> RtResult<()> {
    within(
        what,
        "a list of",
        "items",
        len,
        ctx.engine().max_array_size(),
    )
}

/// `limit` 0 means no limit, as in Rhai.
fn within(what: &str, made: &str, unit: &str, len: Option<usize>, limit: usize) -> RtResult<()> {
    match len {
        Some(n) if limit == 0 || n <= limit => Ok(()),
        Some(n) => too_large(format!(
            "{what} would make {made} {n} {unit}, over the script limit of {limit} {unit}"
        )),
        None => too_large(format!(
            "{what} would make {made} more {unit} than can be counted, over the script limit of {limit} {unit}"
        )),
    }
}

/// A repeat count from a script value: negative counts repeat nothing, as in Groovy.
pub(crate) fn count(n: i64) -> usize {
    usize::try_from(n).unwrap_or(0)
}

/// A sandbox limit error: not an exception, so `try`/`catch` in the script cannot hide it.
pub(crate) fn too_large<T>(message: String) -> RtResult<T> {
    Err(Box::new(EvalAltResult::ErrorDataTooLarge(
        message,
        Position::NONE,
    )))
}
