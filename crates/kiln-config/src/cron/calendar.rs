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
    /// The date `days` days after 1970-01-01 (Howard Hinnant's `civil_from_days`).
    pub fn from_days(days: u64) -> Date {
        let z = i64::try_from(days).unwrap_or(i64::MAX / 2) + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        // 1970-01-01 was a Thursday.
        let weekday = (days % 7 + 4) % 7;
        Date {
            year,
            month: small(month),
            day: small(day),
            weekday: small(i64::try_from(weekday).unwrap_or(0)),
        }
    }
}

fn small(n: i64) -> u32 {
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
