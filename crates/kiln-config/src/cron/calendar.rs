//! Days since the Unix epoch <-> civil dates in UTC (proleptic Gregorian calendar).

/// A UTC calendar date.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Date {
    pub year: i64,
    /// 1-12.
    pub month: u32,
    /// 1-31.
    pub day: u32,
    /// 0 (Sunday) - 6 (Saturday).
    pub weekday: u32,
}

impl Date {
    /// The date `days` days after 1970-01-01 (the last date jiff knows, 9999-12-31, for
    /// more days than that).
    pub fn from_days(days: u64) -> Date {
        let instant = i64::try_from(days)
            .ok()
            .and_then(|d| d.checked_mul(86_400))
            .and_then(|s| jiff::Timestamp::from_second(s).ok())
            .unwrap_or(jiff::Timestamp::MAX);
        let date = jiff::tz::Offset::UTC.to_datetime(instant).date();
        Date {
            year: i64::from(date.year()),
            month: small(date.month()),
            day: small(date.day()),
            weekday: small(date.weekday().to_sunday_zero_offset()),
        }
    }
}

fn small(n: i8) -> u32 {
    u32::try_from(n).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::Date;

    fn check(days: u64, expected: (i64, u32, u32, u32)) {
        let d = Date::from_days(days);
        assert_eq!((d.year, d.month, d.day, d.weekday), expected, "day {days}");
    }

    #[test]
    fn known_dates() {
        check(0, (1970, 1, 1, 4));
        check(59, (1970, 3, 1, 0));
        check(11_016, (2000, 2, 29, 2));
        check(19_723, (2024, 1, 1, 1));
        check(19_782, (2024, 2, 29, 4));
        check(20_454, (2026, 1, 1, 4));
    }
}
