//! Random values from the kernel: the per-build token agents authenticate with, and short
//! ids for pod names.

use std::io::Read;

/// 32 random bytes from the kernel, hex-encoded.
pub fn new_token() -> std::io::Result<String> {
    let mut bytes = [0_u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// A short random suffix for ids (8 hex digits).
pub fn short_id() -> std::io::Result<String> {
    let mut bytes = [0_u8; 4];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}
