//! `String.format` with Java's `Formatter` conversions that pipelines use: `%s`, `%d`,
//! `%f`, `%x`, `%b`, `%c`, `%%`, `%n`, with the `-` and `0` flags, a width and a precision.
//! A width is checked against the string limit before it is padded to.

use super::limits;
use super::types::{RtResult, fail, groovy_str, truthy};
use rhai::{Dynamic, NativeCallContext};

struct Spec {
    left: bool,
    zero: bool,
    width: usize,
    precision: Option<usize>,
    conversion: char,
}

pub(crate) fn format(ctx: &NativeCallContext, f: &str, args: &[Dynamic]) -> RtResult<String> {
    let mut out = String::new();
    let mut chars = f.chars().peekable();
    let mut next = 0;
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let spec = parse_spec(&mut chars)?;
        let text = match spec.conversion {
            '%' => "%".to_string(),
            'n' => "\n".to_string(),
            conv => {
                let Some(arg) = args.get(next) else {
                    return fail(format!("`String.format`: no argument for `%{conv}`"));
                };
                next += 1;
                convert(&spec, arg)?
            }
        };
        limits::string_len(
            ctx,
            "`String.format`",
            out.len().checked_add(spec.width.max(text.len())),
        )?;
        pad(&mut out, &spec, &text);
    }
    Ok(out)
}

fn parse_spec(chars: &mut std::iter::Peekable<std::str::Chars>) -> RtResult<Spec> {
    let mut spec = Spec {
        left: false,
        zero: false,
        width: 0,
        precision: None,
        conversion: '%',
    };
    while let Some(&c) = chars.peek() {
        match c {
            '-' => spec.left = true,
            '0' if spec.width == 0 => spec.zero = true,
            _ => break,
        }
        chars.next();
    }
    spec.width = number(chars);
    if chars.peek() == Some(&'.') {
        chars.next();
        spec.precision = Some(number(chars));
    }
    match chars.next() {
        Some(c) => spec.conversion = c,
        None => return fail("`String.format`: the format ends inside a `%` conversion"),
    }
    Ok(spec)
}

fn number(chars: &mut std::iter::Peekable<std::str::Chars>) -> usize {
    let mut n: usize = 0;
    while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
        n = n.saturating_mul(10).saturating_add(d as usize);
        chars.next();
    }
    n
}

fn convert(spec: &Spec, arg: &Dynamic) -> RtResult<String> {
    let arg = arg.flatten_clone();
    Ok(match spec.conversion {
        's' | 'S' => {
            let s = groovy_str(&arg);
            let s = match spec.precision {
                Some(p) => s.chars().take(p).collect(),
                None => s,
            };
            if spec.conversion == 'S' {
                s.to_uppercase()
            } else {
                s
            }
        }
        'd' => match arg.as_int() {
            Ok(i) => i.to_string(),
            Err(_) => {
                return fail(format!(
                    "`String.format`: `%d` needs an integer, got `{}`",
                    groovy_str(&arg)
                ));
            }
        },
        'x' | 'X' => match arg.as_int() {
            Ok(i) if spec.conversion == 'x' => format!("{i:x}"),
            Ok(i) => format!("{i:X}"),
            Err(_) => return fail("`String.format`: `%x` needs an integer"),
        },
        'f' => {
            let x = arg.as_float().or_else(|_| arg.as_int().map(|i| i as f64));
            match x {
                Ok(x) => format!("{x:.*}", spec.precision.unwrap_or(6).min(64)),
                Err(_) => return fail("`String.format`: `%f` needs a number"),
            }
        }
        'b' | 'B' => truthy(&arg).to_string(),
        'c' => groovy_str(&arg)
            .chars()
            .next()
            .map(String::from)
            .unwrap_or_default(),
        other => return fail(format!("`String.format`: `%{other}` is not supported")),
    })
}

fn pad(out: &mut String, spec: &Spec, text: &str) {
    let len = text.chars().count();
    let fill = spec.width.saturating_sub(len);
    if spec.left {
        out.push_str(text);
        out.extend(std::iter::repeat_n(' ', fill));
    } else if spec.zero && matches!(spec.conversion, 'd' | 'f' | 'x' | 'X') {
        let (sign, digits) = match text.strip_prefix('-') {
            Some(rest) => ("-", rest),
            None => ("", text),
        };
        out.push_str(sign);
        out.extend(std::iter::repeat_n('0', fill));
        out.push_str(digits);
    } else {
        out.extend(std::iter::repeat_n(' ', fill));
        out.push_str(text);
    }
}
