//! Jenkins cron schedules: parsing and `next_after`, one case per line.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use kiln_config::cron::Schedule;

/// `YYYY-MM-DD HH:MM` (UTC) as Unix seconds.
fn ts(text: &str) -> u64 {
    let (date, time) = text.split_once(' ').unwrap();
    let d: Vec<i64> = date.split('-').map(|p| p.parse().unwrap()).collect();
    let t: Vec<i64> = time.split(':').map(|p| p.parse().unwrap()).collect();
    let (y, m, day) = (d[0] - i64::from(d[1] <= 2), d[1], d[2]);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400 + t[0] * 3600 + t[1] * 60).unwrap()
}

/// The next run of `spec` (for job `job`) after `from`, as `YYYY-MM-DD HH:MM`.
fn next(spec: &str, job: &str, from: &str) -> String {
    let s = Schedule::parse(spec, job).unwrap_or_else(|e| panic!("{spec}: {e}"));
    let Some(t) = s.next_after(ts(from)) else {
        return "never".to_owned();
    };
    assert_eq!(t % 60, 0);
    // Find the printed form by searching minutes forward (tests only).
    let day = t / 86_400;
    let mut y = 1970;
    let mut rest = day;
    loop {
        let len = if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 {
            366
        } else {
            365
        };
        if rest < len {
            break;
        }
        rest -= len;
        y += 1;
    }
    let mut m = 1;
    loop {
        let d0 = ts(&format!("{y}-{m:02}-01 00:00")) / 86_400;
        let d1 = if m == 12 {
            ts(&format!("{}-01-01 00:00", y + 1))
        } else {
            ts(&format!("{y}-{:02}-01 00:00", m + 1))
        } / 86_400;
        if day < d1 {
            let secs = t % 86_400;
            return format!(
                "{y}-{m:02}-{:02} {:02}:{:02}",
                day - d0 + 1,
                secs / 3600,
                secs % 3600 / 60
            );
        }
        m += 1;
    }
}

fn check(spec: &str, from: &str, expected: &str) {
    assert_eq!(next(spec, "job", from), expected, "`{spec}` after {from}");
}

#[test]
fn fixed_times_ranges_steps_lists_and_names() {
    // 2024-01-01 was a Monday.
    check("0 0 * * *", "2024-01-01 00:00", "2024-01-02 00:00");
    check("30 2 * * *", "2024-01-01 00:00", "2024-01-01 02:30");
    check("* * * * *", "2024-01-01 00:00", "2024-01-01 00:01");
    check("*/15 * * * *", "2024-01-01 00:14", "2024-01-01 00:15");
    check("*/15 * * * *", "2024-01-01 00:45", "2024-01-01 01:00");
    check("5-10/5 * * * *", "2024-01-01 00:06", "2024-01-01 00:10");
    check("0 9-17 * * 1-5", "2024-01-05 17:00", "2024-01-08 09:00");
    check("0 9 * * MON,wed", "2024-01-01 10:00", "2024-01-03 09:00");
    check("0 0 1 JAN *", "2024-01-01 00:00", "2025-01-01 00:00");
    check("0 0 * * 7", "2024-01-01 00:00", "2024-01-07 00:00");
    check("0 0 * * SUN", "2024-01-01 00:00", "2024-01-07 00:00");
    check("0 12 1,15 * *", "2024-01-02 00:00", "2024-01-15 12:00");
    check("59 23 31 12 *", "2024-06-01 00:00", "2024-12-31 23:59");
    check("0 0 29 2 *", "2024-03-01 00:00", "2028-02-29 00:00");
}

#[test]
fn day_of_month_and_day_of_week_must_both_match_as_in_jenkins() {
    // The first Friday the 13th after 2024-01-01 is in September 2024.
    check("0 0 13 * FRI", "2024-01-01 00:00", "2024-09-13 00:00");
}

#[test]
fn impossible_dates_never_run() {
    check("0 0 31 2 *", "2024-01-01 00:00", "never");
    check("0 0 30 FEB *", "2024-01-01 00:00", "never");
}

#[test]
fn several_lines_take_the_earliest_and_skip_comments_and_tz() {
    let spec = "# nightly and at noon\nTZ=Europe/Paris\n0 12 * * *\n0 0 * * *\n";
    let s = Schedule::parse(spec, "job").unwrap();
    assert_eq!(
        s.warnings(),
        ["`TZ=Europe/Paris` is ignored: kiln evaluates cron schedules in UTC"]
    );
    assert_eq!(
        s.next_after(ts("2024-01-01 06:00")),
        Some(ts("2024-01-01 12:00"))
    );
    assert_eq!(
        s.next_after(ts("2024-01-01 12:00")),
        Some(ts("2024-01-02 00:00"))
    );
}

/// Every minute `spec` runs on 2024-01-01 (a Monday), as `HH:MM`.
fn runs_on_first_day(spec: &str, job: &str) -> Vec<String> {
    let s = Schedule::parse(spec, job).unwrap();
    let (start, end) = (ts("2024-01-01 00:00") - 60, ts("2024-01-02 00:00"));
    let mut out = Vec::new();
    let mut t = start;
    while let Some(n) = s.next_after(t).filter(|n| *n < end) {
        out.push(format!("{:02}:{:02}", n % 86_400 / 3600, n % 3600 / 60));
        t = n;
    }
    out
}

#[test]
fn h_is_stable_per_job_and_spreads_jobs() {
    let a = runs_on_first_day("H H * * *", "alpha");
    assert_eq!(a.len(), 1);
    assert_eq!(a, runs_on_first_day("H H * * *", "alpha"));
    let distinct: std::collections::BTreeSet<Vec<String>> = ["a", "b", "c", "d", "e", "f"]
        .iter()
        .map(|j| runs_on_first_day("H H * * *", j))
        .collect();
    assert!(distinct.len() > 1, "H gave every job the same time");
}

#[test]
fn h_with_steps_and_ranges_stays_in_range() {
    for job in ["alpha", "beta", "gamma", "delta"] {
        let q = runs_on_first_day("H/15 0 * * *", job);
        assert_eq!(q.len(), 4, "{job}: {q:?}");
        let minutes: Vec<u32> = q.iter().map(|t| t[3..].parse().unwrap()).collect();
        assert!(minutes[0] < 15, "{job}: {q:?}");
        assert!(
            minutes.windows(2).all(|w| w[1] - w[0] == 15),
            "{job}: {q:?}"
        );

        let r = runs_on_first_day("H(0-29)/10 0 * * *", job);
        let minutes: Vec<u32> = r.iter().map(|t| t[3..].parse().unwrap()).collect();
        assert_eq!(minutes.len(), 3, "{job}: {r:?}");
        assert!(minutes.iter().all(|m| *m < 30), "{job}: {r:?}");
        assert!(minutes[0] < 10, "{job}: {r:?}");

        let h = runs_on_first_day("H(5-6) H(2-3) * * *", job);
        assert_eq!(h.len(), 1);
        assert!(
            ["02:05", "02:06", "03:05", "03:06"].contains(&h[0].as_str()),
            "{h:?}"
        );
    }
}

#[test]
fn aliases_are_hashed_like_jenkins() {
    assert_eq!(runs_on_first_day("@hourly", "job").len(), 24);
    assert_eq!(runs_on_first_day("@daily", "job").len(), 1);
    let midnight = runs_on_first_day("@midnight", "job");
    assert!(midnight[0].as_str() < "03:00", "{midnight:?}");
    let s = Schedule::parse("@yearly", "job").unwrap();
    let first = s.next_after(ts("2024-01-01 00:00")).unwrap();
    let second = s.next_after(first).unwrap();
    assert!((365 * 86_400..=366 * 86_400).contains(&(second - first)));
    let w = Schedule::parse("@weekly", "job").unwrap();
    let first = w.next_after(ts("2024-01-01 00:00")).unwrap();
    assert_eq!(w.next_after(first).unwrap() - first, 7 * 86_400);
    let m = Schedule::parse("@monthly", "job").unwrap();
    assert!(m.next_after(ts("2024-01-01 00:00")).is_some());
    assert!(Schedule::parse("@annually", "job").is_ok());
}

#[test]
fn h_in_day_of_month_stays_within_28() {
    for job in ["a", "b", "c", "d", "e", "f", "g", "h"] {
        let s = Schedule::parse("0 0 H * *", job).unwrap();
        // Runs every month, February included.
        let mut t = ts("2023-12-31 00:00");
        for _ in 0..12 {
            let n = s.next_after(t).unwrap();
            assert!(n - t <= 31 * 86_400, "{job}");
            t = n;
        }
    }
}

fn bad(spec: &str, expected: &str) {
    assert_eq!(
        Schedule::parse(spec, "job").unwrap_err(),
        expected,
        "`{spec}`"
    );
}

#[test]
fn bad_specs_say_what_is_wrong() {
    bad("", "the cron spec has no schedule line");
    bad("# only a comment", "the cron spec has no schedule line");
    bad(
        "* * * *",
        "`* * * *` has 4 fields; expected 5: MINUTE HOUR DAY-OF-MONTH MONTH DAY-OF-WEEK",
    );
    bad(
        "60 * * * *",
        "in minute field `60`: minute 60 is out of range 0-59",
    );
    bad(
        "* 24 * * *",
        "in hour field `24`: hour 24 is out of range 0-23",
    );
    bad(
        "* * 0 * *",
        "in day-of-month field `0`: day-of-month 0 is out of range 1-31",
    );
    bad(
        "* * * 13 *",
        "in month field `13`: month 13 is out of range 1-12",
    );
    bad(
        "* * * * 8",
        "in day-of-week field `8`: day-of-week 8 is out of range 0-7",
    );
    bad(
        "* * * FOO *",
        "in month field `FOO`: `FOO` is not a valid month value",
    );
    bad(
        "5-1 * * * *",
        "in minute field `5-1`: range 5-1 goes backwards",
    );
    bad(
        "*/0 * * * *",
        "in minute field `*/0`: step `0` must be a positive number",
    );
    bad(
        "*/61 * * * *",
        "in minute field `*/61`: step 61 is larger than the range 0-59",
    );
    bad(
        "5/15 * * * *",
        "in minute field `5/15`: `5/15`: a step needs a range, `*` or `H` before it (such as `*/15` or `5-59/15`)",
    );
    bad(
        "H(0-) * * * *",
        "in minute field `H(0-)`: `` is not a valid minute value",
    );
    bad(
        "Hx * * * *",
        "in minute field `Hx`: expected `H`, `H(a-b)` or `H/step`, found `Hx`",
    );
    bad("1,,2 * * * *", "in minute field `1,,2`: empty list item");
    bad(
        "@sometimes",
        "unknown alias `@sometimes` (expected @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly)",
    );
}
