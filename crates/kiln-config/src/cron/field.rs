//! One cron field (`*/15`, `1-5`, `MON,WED`, `H(0-29)/10`, ...) -> a bit set of values.

/// Which of the five fields is parsed; it gives the bounds, the names and the `H` range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum FieldKind {
    Minute,
    Hour,
    DayOfMonth,
    Month,
    DayOfWeek,
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const WEEKDAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

impl FieldKind {
    fn name(self) -> &'static str {
        match self {
            FieldKind::Minute => "minute",
            FieldKind::Hour => "hour",
            FieldKind::DayOfMonth => "day-of-month",
            FieldKind::Month => "month",
            FieldKind::DayOfWeek => "day-of-week",
        }
    }

    /// The values that may be written (day of week 7 is Sunday, as 0).
    fn bounds(self) -> (u32, u32) {
        match self {
            FieldKind::Minute => (0, 59),
            FieldKind::Hour => (0, 23),
            FieldKind::DayOfMonth => (1, 31),
            FieldKind::Month => (1, 12),
            FieldKind::DayOfWeek => (0, 7),
        }
    }

    /// The range a bare `H` picks from (day of month stops at 28, as in Jenkins, so the
    /// job runs every month).
    fn hash_bounds(self) -> (u32, u32) {
        match self {
            FieldKind::DayOfMonth => (1, 28),
            FieldKind::DayOfWeek => (0, 6),
            other => other.bounds(),
        }
    }

    fn value(self, text: &str) -> Result<u32, String> {
        if let Ok(n) = text.parse::<u32>() {
            let (lo, hi) = self.bounds();
            return if (lo..=hi).contains(&n) {
                Ok(n)
            } else {
                Err(format!("{} {n} is out of range {lo}-{hi}", self.name()))
            };
        }
        let names: &[&str] = match self {
            FieldKind::Month => &MONTHS,
            FieldKind::DayOfWeek => &WEEKDAYS,
            _ => &[],
        };
        let upper = text.to_ascii_uppercase();
        let offset = if self == FieldKind::Month { 1 } else { 0 };
        names
            .iter()
            .position(|n| *n == upper)
            .and_then(|i| u32::try_from(i).ok())
            .map(|i| i + offset)
            .ok_or_else(|| format!("`{text}` is not a valid {} value", self.name()))
    }
}

/// The stable sequence `H` draws from: SplitMix64 seeded with FNV-1a of the job name.
pub(super) struct HashSeq(u64);

impl HashSeq {
    pub fn new(job_name: &str) -> Self {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in job_name.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        HashSeq(h)
    }

    /// The next value in `0..n` (`n > 0`).
    fn next(&mut self, n: u32) -> u32 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        u32::try_from(z % u64::from(n.max(1))).unwrap_or(0)
    }
}

/// Parses a whole field (a comma-separated list of terms).
pub(super) fn parse(text: &str, kind: FieldKind, hash: &mut HashSeq) -> Result<u64, String> {
    let mut bits = 0u64;
    for term in text.split(',') {
        bits |= parse_term(term, kind, hash)
            .map_err(|e| format!("in {} field `{text}`: {e}", kind.name()))?;
    }
    if kind == FieldKind::DayOfWeek && bits & (1 << 7) != 0 {
        bits = (bits & !(1 << 7)) | 1;
    }
    Ok(bits)
}

fn parse_term(term: &str, kind: FieldKind, hash: &mut HashSeq) -> Result<u64, String> {
    if term.is_empty() {
        return Err("empty list item".to_owned());
    }
    let (range, step) = match term.split_once('/') {
        Some((r, s)) => (r, Some(parse_step(s)?)),
        None => (term, None),
    };
    if range == "*" {
        let (lo, hi) = kind.bounds();
        let hi = if kind == FieldKind::DayOfWeek { 6 } else { hi };
        return stepped(lo, hi, step.unwrap_or(1));
    }
    if let Some(rest) = range.strip_prefix('H') {
        let (lo, hi) = if rest.is_empty() {
            kind.hash_bounds()
        } else {
            hash_range(rest, kind)?
        };
        return hashed(lo, hi, step.unwrap_or(1), hash);
    }
    match range.split_once('-') {
        Some((a, b)) => {
            let (lo, hi) = (kind.value(a)?, kind.value(b)?);
            if lo > hi {
                return Err(format!("range {range} goes backwards"));
            }
            stepped(lo, hi, step.unwrap_or(1))
        }
        None if step.is_some() => Err(format!(
            "`{term}`: a step needs a range, `*` or `H` before it (such as `*/{}` or `{range}-59/{}`)",
            step.unwrap_or(1),
            step.unwrap_or(1)
        )),
        None => Ok(1 << kind.value(range)?),
    }
}

fn parse_step(text: &str) -> Result<u32, String> {
    match text.parse::<u32>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("step `{text}` must be a positive number")),
    }
}

/// `(a-b)` after `H`.
fn hash_range(rest: &str, kind: FieldKind) -> Result<(u32, u32), String> {
    let inner = rest
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| format!("expected `H`, `H(a-b)` or `H/step`, found `H{rest}`"))?;
    let (a, b) = inner
        .split_once('-')
        .ok_or_else(|| format!("expected a range such as `H(0-29)`, found `H{rest}`"))?;
    let (lo, hi) = (kind.value(a.trim())?, kind.value(b.trim())?);
    if lo > hi {
        return Err(format!("range {lo}-{hi} goes backwards"));
    }
    Ok((lo, hi))
}

fn stepped(lo: u32, hi: u32, step: u32) -> Result<u64, String> {
    check_step(lo, hi, step)?;
    Ok((lo..=hi).step_by(step as usize).fold(0, |b, v| b | 1 << v))
}

/// `H` in `lo..=hi`: one hashed value, or with a step every `step` from a hashed offset.
fn hashed(lo: u32, hi: u32, step: u32, hash: &mut HashSeq) -> Result<u64, String> {
    check_step(lo, hi, step)?;
    if step == 1 {
        return Ok(1 << (lo + hash.next(hi - lo + 1)));
    }
    let start = lo + hash.next(step);
    Ok((start..=hi)
        .step_by(step as usize)
        .fold(0, |b, v| b | 1 << v))
}

fn check_step(lo: u32, hi: u32, step: u32) -> Result<(), String> {
    if step > hi - lo + 1 {
        Err(format!("step {step} is larger than the range {lo}-{hi}"))
    } else {
        Ok(())
    }
}
