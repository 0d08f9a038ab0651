//! The `timestamps` prefix of log lines.

use std::time::{SystemTime, UNIX_EPOCH};

/// The current UTC time as `[2024-05-01T10:20:30.123Z] `, the `timestamps` prefix.
pub(crate) fn timestamp_prefix() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs();
    let millis = now.subsec_millis();
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "[{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z] ",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
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

/// Howard Hinnant's days-to-civil algorithm for the proleptic Gregorian calendar.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y,
        u32::try_from(m).unwrap_or(1),
        u32::try_from(d).unwrap_or(1),
    )
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

    #[test]
    fn converts_days_to_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
    }
}
