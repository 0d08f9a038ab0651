//! Resource quantities (`500m`, `1.5`, `128Mi`, `1e3`) parsed to milli-units for the scheduler.

/// Parses a quantity into thousandths of its unit (`"1"` -> 1000, `"250m"` -> 250,
/// `"1Ki"` -> 1_024_000). Returns `None` where the apiserver would refuse the string.
pub fn parse_milli(input: &str) -> Option<i128> {
    let s = input.trim();
    if s.is_empty() || s != input {
        return None;
    }
    let num_end = s
        .char_indices()
        .find(|(i, c)| !(c.is_ascii_digit() || *c == '.' || ((*c == '+' || *c == '-') && *i == 0)))
        .map_or(s.len(), |(i, _)| i);
    let (number, suffix) = s.split_at(num_end);
    let (sign, digits) = match number.as_bytes().first() {
        Some(b'-') => (-1, &number[1..]),
        Some(b'+') => (1, &number[1..]),
        _ => (1, number),
    };
    if digits.is_empty() || digits.matches('.').count() > 1 || digits == "." {
        return None;
    }
    let (int_part, frac_part) = digits.split_once('.').unwrap_or((digits, ""));
    // Value as a rational: mantissa / 10^scale.
    let mantissa: i128 = format!("{int_part}{frac_part}").parse().ok()?;
    let scale = u32::try_from(frac_part.len()).ok()?;
    let (mul, div): (i128, i128) = match suffix {
        "" => (1000, 1),
        "m" => (1, 1),
        "u" => (1, 1000),
        "n" => (1, 1_000_000),
        "k" => (1000 * 1000, 1),
        "M" => (1000 * 1_000_000, 1),
        "G" => (1000 * 1_000_000_000, 1),
        "T" => (1000 * 1_000_000_000_000, 1),
        "P" => (1000 * 1_000_000_000_000_000, 1),
        "E" => (1000 * 1_000_000_000_000_000_000, 1),
        "Ki" => (1000 << 10, 1),
        "Mi" => (1000 << 20, 1),
        "Gi" => (1000 << 30, 1),
        "Ti" => (1000 << 40, 1),
        "Pi" => (1000 << 50, 1),
        "Ei" => (1000 << 60, 1),
        exp if exp.starts_with(['e', 'E']) => {
            let e: u32 = exp[1..].parse().ok()?;
            (1000 * 10i128.checked_pow(e)?, 1)
        }
        _ => return None,
    };
    let value = mantissa.checked_mul(mul)? / (div * 10i128.checked_pow(scale)?);
    // Fractions below the milli unit round up, as the apiserver does for milli-cpu.
    let exact = mantissa.checked_mul(mul)? % (div * 10i128.checked_pow(scale)?) != 0;
    Some(sign * (value + i128::from(exact)))
}

#[cfg(test)]
mod tests {
    use super::parse_milli;

    #[test]
    fn quantities() {
        for (input, expected) in [
            ("1", Some(1000)),
            ("250m", Some(250)),
            ("0.5", Some(500)),
            ("1Ki", Some(1_024_000)),
            ("128Mi", Some(128 * 1024 * 1024 * 1000)),
            ("1e3", Some(1_000_000)),
            ("-1", Some(-1000)),
            ("abc", None),
            ("1x", None),
            ("", None),
            ("1.2.3", None),
        ] {
            assert_eq!(parse_milli(input), expected, "{input}");
        }
    }
}
