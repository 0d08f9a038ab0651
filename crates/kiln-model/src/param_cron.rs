//! The Parameterized Scheduler plugin's schedule text (`parameterizedCron('''...''')`):
//! one schedule a line, each optionally followed by `%` and `NAME=value` pairs separated
//! by `;` (`H 4 * * * % GREETING=Hola; PLANET=Pluto`). As the plugin reads it: lines are
//! trimmed, blank ones and `#` comments skipped, a first `TZ=` line names the time zone;
//! the first `%` ends the schedule; pairs are trimmed, a value runs from the first `=` to
//! the pair's end (it may hold `=`; there is no escaping), one trailing `;` is allowed, an
//! empty pair, a pair without `=` or a name given twice is an error, and a second `%` on
//! a line is an error.

use std::collections::BTreeMap;

/// One schedule line and the parameter values its builds start with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamCronLine {
    /// The schedule (`TZ=` line first when the text has one), as `cron` takes it.
    pub schedule: String,
    pub params: BTreeMap<String, String>,
}

/// What is wrong with a line: its number (1-based, counting every line of the text).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamCronError {
    pub line: usize,
    pub message: String,
}

/// Parses the text; an empty (or all-comment) text has no lines.
pub fn parse_param_cron(text: &str) -> Result<Vec<ParamCronLine>, ParamCronError> {
    let mut out = Vec::new();
    let mut tz: Option<&str> = None;
    let mut first = true;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let was_first = std::mem::replace(&mut first, false);
        if was_first && line.starts_with("TZ=") {
            tz = Some(line);
            continue;
        }
        let err = |message: String| ParamCronError {
            line: i + 1,
            message,
        };
        let (cron, params) = match line.split_once('%') {
            None => (line, BTreeMap::new()),
            Some((cron, rest)) => {
                if rest.contains('%') {
                    return Err(err("more than one `%` on the line".to_owned()));
                }
                (cron.trim(), pairs(rest).map_err(err)?)
            }
        };
        if cron.is_empty() {
            return Err(err("the line has no schedule before `%`".to_owned()));
        }
        let schedule = match tz {
            Some(tz) => format!("{tz}\n{cron}"),
            None => cron.to_owned(),
        };
        out.push(ParamCronLine { schedule, params });
    }
    Ok(out)
}

fn pairs(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    let text = text.trim();
    if text.is_empty() {
        return Ok(out);
    }
    let text = text.strip_suffix(';').unwrap_or(text);
    for pair in text.split(';').map(str::trim) {
        let Some((name, value)) = pair.split_once('=') else {
            return Err(if pair.is_empty() {
                "an empty `NAME=value` pair (two `;` in a row)".to_owned()
            } else {
                format!("`{pair}` is not a `NAME=value` pair")
            });
        };
        if out.insert(name.to_owned(), value.to_owned()).is_some() {
            return Err(format!("parameter `{name}` is given twice"));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn lines_schedules_and_pairs() {
        let text = "\n  # comment\n  H 4 * * * %GREETING=Hola;PLANET=Pluto\n10 * * * * % a=desk; b = x=y ;\nH 5 * * *\n";
        let lines = parse_param_cron(text).unwrap();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0].schedule, "H 4 * * *");
        assert_eq!(
            lines[0].params,
            p(&[("GREETING", "Hola"), ("PLANET", "Pluto")])
        );
        assert_eq!(lines[1].schedule, "10 * * * *");
        assert_eq!(lines[1].params, p(&[("a", "desk"), ("b ", " x=y")]));
        assert!(lines[2].params.is_empty());
    }

    #[test]
    fn time_zone_line_applies_to_every_schedule() {
        let lines = parse_param_cron("TZ=Europe/Paris\nH 4 * * * %A=1").unwrap();
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].schedule, "TZ=Europe/Paris\nH 4 * * *");
    }

    #[test]
    fn bad_lines_name_their_number() {
        let e = parse_param_cron("H 4 * * * %A=1\nH 5 * * * %A=1%B=2").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("more than one"), "{}", e.message);
        let e = parse_param_cron("# c\n\nH 4 * * * %A").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.message.contains("`A` is not"), "{}", e.message);
        let e = parse_param_cron("H 4 * * * %A=1;;B=2").unwrap_err();
        assert!(e.message.contains("empty"), "{}", e.message);
        let e = parse_param_cron("H 4 * * * %A=1;A=2").unwrap_err();
        assert!(e.message.contains("twice"), "{}", e.message);
        let e = parse_param_cron("%A=1").unwrap_err();
        assert!(e.message.contains("no schedule"), "{}", e.message);
    }
}
