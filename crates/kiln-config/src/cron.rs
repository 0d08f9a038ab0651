//! Jenkins cron schedules: `MINUTE HOUR DOM MONTH DOW` lines with `H` (a per-job hashed
//! value), ranges, steps, lists, month and weekday names, and `@daily`-style aliases.
//!
//! `H` is a stable hash of the job name: FNV-1a (64-bit) of the name seeds a SplitMix64
//! sequence, and each `H` in a spec takes the next value modulo its range, in the order
//! written (Jenkins does the same with an MD5-seeded `java.util.Random`, so the values
//! differ from Jenkins', but like Jenkins they spread jobs and never change for a job).
//! As in Jenkins, `H` in the day-of-month field stays within 1-28, and a time matches when
//! all five fields match (day of month *and* day of week). Times are UTC; `TZ=` lines are
//! ignored with a warning.

mod calendar;
mod field;

use field::{FieldKind, HashSeq};
use std::fmt;

/// A parsed cron spec: one or more schedule lines.
#[derive(Clone, PartialEq, Eq)]
pub struct Schedule {
    spec: String,
    entries: Vec<Entry>,
    warnings: Vec<String>,
}

/// One schedule line as bit sets: bit `n` set means value `n` matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    minutes: u64,
    hours: u64,
    days: u64,
    months: u64,
    weekdays: u64,
}

impl fmt::Debug for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Schedule({:?})", self.spec)
    }
}

impl Schedule {
    /// Parses a Jenkins cron spec for the job `job_name` (which seeds `H`). The spec may
    /// hold several lines; blank lines and `#` comments are skipped.
    pub fn parse(spec: &str, job_name: &str) -> Result<Schedule, String> {
        let mut hash = HashSeq::new(job_name);
        let mut entries = Vec::new();
        let mut warnings = Vec::new();
        for line in spec.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some(tz) = line.strip_prefix("TZ=") {
                warnings.push(format!(
                    "`TZ={tz}` is ignored: kiln evaluates cron schedules in UTC"
                ));
                continue;
            }
            entries.push(parse_line(line, &mut hash)?);
        }
        if entries.is_empty() {
            return Err("the cron spec has no schedule line".to_owned());
        }
        Ok(Schedule {
            spec: spec.trim().to_owned(),
            entries,
            warnings,
        })
    }

    /// The spec as written (trimmed).
    pub fn spec(&self) -> &str {
        &self.spec
    }

    /// Things the parser ignored (such as `TZ=`), to tell the user.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The first whole minute strictly after `unix_secs` (UTC) that the schedule matches,
    /// as Unix seconds; `None` when it never matches (such as `0 0 31 2 *`).
    pub fn next_after(&self, unix_secs: u64) -> Option<u64> {
        let first_minute = unix_secs / 60 + 1;
        let mut day = first_minute / 1440;
        let mut minute_of_day = u32::try_from(first_minute % 1440).ok()?;
        // Any satisfiable combination of date fields recurs within 28 years (the leap-day
        // and weekday cycle), so a search that long is complete.
        for _ in 0..=(28 * 366) {
            let date = calendar::Date::from_days(day);
            let found = self
                .entries
                .iter()
                .filter(|e| e.matches_date(&date))
                .filter_map(|e| e.first_time_from(minute_of_day))
                .min();
            if let Some(m) = found {
                return day.checked_mul(86_400)?.checked_add(u64::from(m) * 60);
            }
            day = day.checked_add(1)?;
            minute_of_day = 0;
        }
        None
    }
}

impl Entry {
    fn matches_date(&self, date: &calendar::Date) -> bool {
        bit(self.months, date.month) && bit(self.days, date.day) && bit(self.weekdays, date.weekday)
    }

    /// The first matching minute of the day at or after `from` (minutes since midnight).
    fn first_time_from(&self, from: u32) -> Option<u32> {
        let (h0, m0) = (from / 60, from % 60);
        (h0..24).filter(|h| bit(self.hours, *h)).find_map(|h| {
            let start = if h == h0 { m0 } else { 0 };
            let rest = self.minutes >> start;
            (rest != 0).then(|| h * 60 + start + rest.trailing_zeros())
        })
    }
}

fn bit(set: u64, n: u32) -> bool {
    n < 64 && set & (1 << n) != 0
}

/// Parses one schedule line: an alias or five fields.
fn parse_line(line: &str, hash: &mut HashSeq) -> Result<Entry, String> {
    let expanded = match line {
        "@yearly" | "@annually" => "H H H H *",
        "@monthly" => "H H H * *",
        "@weekly" => "H H * * H",
        "@daily" => "H H * * *",
        "@midnight" => "H H(0-2) * * *",
        "@hourly" => "H * * * *",
        other if other.starts_with('@') => {
            return Err(format!(
                "unknown alias `{other}` (expected @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly)"
            ));
        }
        other => other,
    };
    let fields: Vec<&str> = expanded.split_whitespace().collect();
    let [minute, hour, dom, month, dow] = fields[..] else {
        return Err(format!(
            "`{line}` has {} fields; expected 5: MINUTE HOUR DAY-OF-MONTH MONTH DAY-OF-WEEK",
            fields.len()
        ));
    };
    Ok(Entry {
        minutes: field::parse(minute, FieldKind::Minute, hash)?,
        hours: field::parse(hour, FieldKind::Hour, hash)?,
        days: field::parse(dom, FieldKind::DayOfMonth, hash)?,
        months: field::parse(month, FieldKind::Month, hash)?,
        weekdays: field::parse(dow, FieldKind::DayOfWeek, hash)?,
    })
}
