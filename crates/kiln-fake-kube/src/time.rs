//! RFC 3339 timestamps in the form the apiserver writes them (`2024-01-02T03:04:05Z`).

use jiff::Timestamp;

/// The current time as the apiserver formats it, to the second.
pub(crate) fn now_rfc3339() -> String {
    format_instant(Timestamp::now())
}

/// Formats seconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ`.
pub(crate) fn format_unix(secs: u64) -> String {
    let instant = i64::try_from(secs)
        .ok()
        .and_then(|s| Timestamp::from_second(s).ok())
        .unwrap_or(Timestamp::MAX);
    format_instant(instant)
}

fn format_instant(instant: Timestamp) -> String {
    instant.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Parses an RFC 3339 timestamp (`YYYY-MM-DDTHH:MM:SSZ`) back to seconds since the epoch.
pub(crate) fn parse_rfc3339(text: &str) -> Option<u64> {
    let instant: Timestamp = text.parse().ok()?;
    u64::try_from(instant.as_second()).ok()
}

#[cfg(test)]
mod tests {
    use super::format_unix;

    #[test]
    fn formats_known_instants() {
        assert_eq!(format_unix(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_unix(1_709_251_199), "2024-02-29T23:59:59Z");
        assert_eq!(
            super::parse_rfc3339("2024-02-29T23:59:59Z"),
            Some(1_709_251_199)
        );
    }
}
