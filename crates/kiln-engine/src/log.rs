//! The `timestamps` prefix of log lines.

/// The current UTC time as `[2024-05-01T10:20:30.123Z] `, the `timestamps` prefix.
pub(crate) fn timestamp_prefix() -> String {
    let now = jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%S%.3fZ");
    format!("[{now}] ")
}

/// The length of the `timestamps` prefix `bytes` starts with (the shape
/// [`timestamp_prefix`] writes), 0 when it does not start with one; for readers of stored
/// logs that compare lines whatever their time.
pub fn timestamp_prefix_len(bytes: &[u8]) -> usize {
    const SHAPE: &[u8] = b"[dddd-dd-ddTdd:dd:dd.dddZ] ";
    let matches = bytes.len() >= SHAPE.len()
        && SHAPE.iter().zip(bytes).all(|(shape, b)| match shape {
            b'd' => b.is_ascii_digit(),
            other => other == b,
        });
    if matches { SHAPE.len() } else { 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_timestamp_prefix_written_is_the_one_recognized() {
        let prefix = timestamp_prefix();
        assert_eq!(timestamp_prefix_len(prefix.as_bytes()), prefix.len());
        let line = format!("{prefix}hello");
        assert_eq!(&line[timestamp_prefix_len(line.as_bytes())..], "hello");
        assert_eq!(timestamp_prefix_len(b"[Build] hello"), 0);
        assert_eq!(timestamp_prefix_len(b"[2024-05-01T10:20:30Z] x"), 0);
    }
}
