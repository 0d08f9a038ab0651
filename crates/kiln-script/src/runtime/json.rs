//! JSON for scripts (`JsonSlurper.parseText`, `JsonOutput.toJson` / `prettyPrint`), with
//! objects in the order their keys are written, as Groovy keeps them. serde_json reads
//! the text; objects are built as ordered maps (`omap`) by a visitor, since
//! `serde_json::Value` sorts keys.

use super::omap;
use super::types::{GException, RtResult, as_list, groovy_str, throw};
use rhai::{Array, Dynamic, Map};
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use std::fmt::{self, Write as _};

/// A script value read from JSON.
struct Json(Dynamic);

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Json, E> {
        Ok(Json(Dynamic::UNIT))
    }

    fn visit_bool<E: de::Error>(self, b: bool) -> Result<Json, E> {
        Ok(Json(b.into()))
    }

    fn visit_i64<E: de::Error>(self, i: i64) -> Result<Json, E> {
        Ok(Json(Dynamic::from_int(i)))
    }

    fn visit_u64<E: de::Error>(self, u: u64) -> Result<Json, E> {
        Ok(Json(match i64::try_from(u) {
            Ok(i) => Dynamic::from_int(i),
            Err(_) => Dynamic::from_float(u as f64),
        }))
    }

    fn visit_f64<E: de::Error>(self, x: f64) -> Result<Json, E> {
        Ok(Json(Dynamic::from_float(x)))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Json, E> {
        Ok(Json(s.to_string().into()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Array::new();
        while let Some(Json(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Json(Dynamic::from_array(items)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut m = omap::new();
        while let Some((k, Json(v))) = map.next_entry::<String, Json>()? {
            omap::insert(&mut m, &k, v);
        }
        Ok(Json(Dynamic::from_map(m)))
    }
}

/// `JsonSlurper.parseText(text)`.
pub(crate) fn parse(text: &str) -> RtResult<Dynamic> {
    match serde_json::from_str::<Json>(text) {
        Ok(Json(v)) => Ok(v),
        Err(e) => throw(GException::new(
            "groovy.json.JsonException",
            format!("cannot parse the JSON text: {e}"),
        )),
    }
}

/// `JsonOutput.toJson(value)`: compact, maps in their order.
pub(crate) fn to_text(d: &Dynamic) -> String {
    let mut out = String::new();
    write(&mut out, d, None, 0);
    out
}

/// `JsonOutput.prettyPrint(text)`: four spaces per level, keys in the text's order.
pub(crate) fn pretty(text: &str) -> RtResult<Dynamic> {
    let v = parse(text)?;
    let mut out = String::new();
    write(&mut out, &v, Some(4), 0);
    Ok(out.into())
}

fn string(out: &mut String, s: &str) {
    match serde_json::to_string(s) {
        Ok(quoted) => out.push_str(&quoted),
        Err(_) => out.push_str("\"\""),
    }
}

fn newline(out: &mut String, indent: Option<usize>, level: usize) {
    if let Some(n) = indent {
        out.push('\n');
        out.push_str(&" ".repeat(n * level));
    }
}

fn write(out: &mut String, d: &Dynamic, indent: Option<usize>, level: usize) {
    let d = d.flatten_clone();
    if d.is_unit() {
        out.push_str("null");
    } else if let Ok(b) = d.as_bool() {
        out.push_str(if b { "true" } else { "false" });
    } else if let Ok(i) = d.as_int() {
        let _ = write!(out, "{i}");
    } else if let Ok(x) = d.as_float() {
        match serde_json::Number::from_f64(x) {
            Some(n) => {
                let _ = write!(out, "{n}");
            }
            None => out.push_str("null"),
        }
    } else if let Some(items) = as_list(&d) {
        write_items(out, &items, indent, level);
    } else if d.is_map() {
        write_map(out, &d.cast::<Map>(), indent, level);
    } else {
        string(out, &groovy_str(&d));
    }
}

fn write_items(out: &mut String, items: &[Dynamic], indent: Option<usize>, level: usize) {
    out.push('[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        newline(out, indent, level + 1);
        write(out, item, indent, level + 1);
    }
    if !items.is_empty() {
        newline(out, indent, level);
    }
    out.push(']');
}

fn write_map(out: &mut String, m: &Map, indent: Option<usize>, level: usize) {
    let entries = omap::iter(m);
    out.push('{');
    for (i, (k, v)) in entries.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        newline(out, indent, level + 1);
        string(out, k);
        out.push(':');
        if indent.is_some() {
            out.push(' ');
        }
        write(out, v, indent, level + 1);
    }
    if !entries.is_empty() {
        newline(out, indent, level);
    }
    out.push('}');
}
