//! Typed reading of YAML nodes with diagnostics: mappings with known keys (unknown ones
//! reported with a did-you-mean), scalars of the expected type, `KEY | KEY_env | KEY_file`
//! secrets. Every reader records its problem and returns `None`, so decoding goes on.

use crate::SecretSource;
use crate::secret::Secret;
use kiln_diagnostics::{Diagnostic, Span, Spanned, did_you_mean};
use kiln_yaml::{Node, NodeKind};
use std::path::PathBuf;

/// The text being decoded and every diagnostic found so far.
pub(crate) struct Ctx<'t> {
    pub text: &'t str,
    pub diags: Vec<Diagnostic>,
}

impl<'t> Ctx<'t> {
    pub fn new(text: &'t str) -> Self {
        Ctx {
            text,
            diags: Vec::new(),
        }
    }

    pub fn error(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    /// "`path` must be EXPECTED", pointing at the value with what was found.
    pub fn expected(&mut self, node: &Node, path: &str, expected: &str) {
        let found = match &node.kind {
            NodeKind::Str(s) if !s.is_empty() && s.len() <= 40 => format!("found `{s}`"),
            other => format!("found {}", other.describe()),
        };
        self.error(
            Diagnostic::error("invalid-type", format!("`{path}` must be {expected}"))
                .with_primary(node.span, found),
        );
    }

    /// The source text of a node (for scalars written as numbers or booleans).
    pub fn source(&self, node: &Node) -> Option<&'t str> {
        self.text.get(node.span.range()).filter(|s| !s.is_empty())
    }

    pub fn had_errors_since(&self, mark: usize) -> bool {
        self.diags[mark.min(self.diags.len())..]
            .iter()
            .any(Diagnostic::is_error)
    }
}

/// A mapping being read: each known key is taken at most once; [`Fields::finish`]
/// reports the keys nobody asked for.
pub(crate) struct Fields<'n> {
    pub path: String,
    pub span: Span,
    entries: Vec<(&'n Node, &'n Node, String)>,
    known: &'static [&'static str],
}

impl<'n> Fields<'n> {
    /// Starts reading `node` as a mapping with the given keys; `None` (reported) when it
    /// is something else. A `null` (an empty section such as `server:`) reads as empty.
    pub fn new(
        ctx: &mut Ctx,
        node: &'n Node,
        path: &str,
        known: &'static [&'static str],
    ) -> Option<Fields<'n>> {
        let entries = match &node.kind {
            NodeKind::Map(entries) => entries.as_slice(),
            NodeKind::Null => &[],
            _ => {
                ctx.expected(node, path, "a mapping");
                return None;
            }
        };
        let mut seen: Vec<(&'n Node, &'n Node, String)> = Vec::new();
        for (k, v) in entries {
            let Some(name) = k.scalar_text() else {
                ctx.expected(k, path, "a mapping with plain keys");
                continue;
            };
            if let Some((first, _, _)) = seen.iter().find(|(_, _, n)| *n == name) {
                ctx.error(
                    Diagnostic::error("duplicate-key", format!("duplicate key `{name}`"))
                        .with_primary(k.span, "written again here")
                        .with_secondary(first.span, "first written here"),
                );
                continue;
            }
            seen.push((k, v, name));
        }
        Some(Fields {
            path: path.to_owned(),
            span: node.span,
            entries: seen,
            known,
        })
    }

    /// The value of `key`, if written (a key must be in the known list).
    pub fn get(&self, key: &str) -> Option<&'n Node> {
        debug_assert!(self.known.contains(&key), "{key} is not declared");
        self.entries
            .iter()
            .find(|(_, _, n)| n == key)
            .map(|(_, v, _)| *v)
    }

    /// The key node of `key`, for pointing at it.
    pub fn key_span(&self, key: &str) -> Option<Span> {
        self.entries
            .iter()
            .find(|(_, _, n)| n == key)
            .map(|(k, _, _)| k.span)
    }

    /// The dotted path of a key in this mapping.
    pub fn sub(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    /// Reports every key that is not a known one.
    pub fn finish(self, ctx: &mut Ctx) {
        for (k, _, name) in &self.entries {
            // Top-level `x-...` keys hold YAML anchors for reuse, as in docker-compose.
            let extension = self.path.is_empty() && name.starts_with("x-");
            if extension || self.known.contains(&name.as_str()) {
                continue;
            }
            let mut d = Diagnostic::error("unknown-key", format!("unknown key `{name}`"));
            let section = if self.path.is_empty() {
                "at the top level".to_owned()
            } else {
                format!("in `{}`", self.path)
            };
            match did_you_mean(name, self.known.iter().copied()) {
                Some(s) => d = d.with_primary(k.span, format!("did you mean `{s}`?")),
                None => {
                    d = d
                        .with_primary(k.span, format!("not a key {section}"))
                        .with_note(format!(
                            "help: the keys {section} are: {}",
                            self.known.join(", ")
                        ));
                }
            }
            ctx.error(d);
        }
    }

    /// A string value (numbers and booleans are taken as written).
    pub fn string(&self, ctx: &mut Ctx, key: &str) -> Option<String> {
        let node = self.get(key)?;
        string_of(ctx, node, &self.sub(key))
    }

    /// A required string value; reports it missing at the mapping.
    pub fn required_string(&self, ctx: &mut Ctx, key: &str, what: &str) -> Option<String> {
        if self.get(key).is_none() {
            self.missing(ctx, key, what);
            return None;
        }
        self.string(ctx, key)
    }

    /// A required string naming the entry (`id`, `name`), kept with its place in `names`
    /// (which later checks read for duplicates and references).
    pub fn naming_string(
        &self,
        ctx: &mut Ctx,
        (key, what): (&str, &str),
        names: &mut Vec<Spanned<String>>,
    ) -> Option<String> {
        let value = self.required_string(ctx, key, what);
        if let (Some(v), Some(n)) = (&value, self.get(key)) {
            names.push(Spanned::new(v.clone(), n.span));
        }
        value
    }

    pub fn missing(&self, ctx: &mut Ctx, key: &str, what: &str) {
        let path = self.sub(key);
        ctx.error(
            Diagnostic::error("missing-key", format!("missing `{path}`"))
                .with_primary(self.head_span(ctx), format!("{what} needs `{key}`")),
        );
    }

    /// Where to point at the mapping as a whole: its first line.
    pub fn head_span(&self, ctx: &Ctx) -> Span {
        let start = self
            .entries
            .first()
            .map_or(self.span.start, |(k, _, _)| k.span.start);
        let rest = ctx.text.get(start as usize..).unwrap_or("");
        let len = rest.find('\n').unwrap_or(rest.len());
        Span::new(start, start + u32::try_from(len).unwrap_or(0))
    }

    /// A whole number of at least `min`.
    pub fn number(&self, ctx: &mut Ctx, key: &str, min: u64) -> Option<u64> {
        let node = self.get(key)?;
        let expected = if min == 0 {
            "a whole number (0 or more)"
        } else {
            "a positive whole number"
        };
        match &node.kind {
            NodeKind::Int(i) if *i >= i128::from(min) => u64::try_from(*i).ok().or_else(|| {
                ctx.expected(node, &self.sub(key), expected);
                None
            }),
            _ => {
                ctx.expected(node, &self.sub(key), expected);
                None
            }
        }
    }

    /// A secret written as `KEY`, `KEY_env` or `KEY_file` (at most one of them).
    pub fn secret(&self, ctx: &mut Ctx, key: &str) -> Option<SecretSource> {
        let env = format!("{key}_env");
        let file = format!("{key}_file");
        let written: Vec<&str> = [key, env.as_str(), file.as_str()]
            .into_iter()
            .filter(|k| self.known.contains(k) && self.get(k).is_some())
            .collect();
        if let [_, second, ..] = written[..] {
            ctx.error(
                Diagnostic::error(
                    "conflicting-keys",
                    format!("`{}` and `{second}` both given", self.sub(written[0])),
                )
                .with_primary(self.key_span(second).unwrap_or(self.span), "give only one")
                .with_note(format!("help: use one of `{key}`, `{env}`, `{file}`")),
            );
            return None;
        }
        let which = *written.first()?;
        let value = self.string(ctx, which)?;
        Some(if which == key {
            SecretSource::Value(Secret::new(value))
        } else if which == env {
            SecretSource::Env(value)
        } else {
            SecretSource::File(PathBuf::from(value))
        })
    }
}

/// A string from a scalar node.
pub(crate) fn string_of(ctx: &mut Ctx, node: &Node, path: &str) -> Option<String> {
    match &node.kind {
        NodeKind::Str(s) => Some(s.clone()),
        NodeKind::Int(_) | NodeKind::Float(_) | NodeKind::Bool(_) => {
            ctx.source(node).map(str::to_owned).or(node.scalar_text())
        }
        _ => {
            ctx.expected(node, path, "a string");
            None
        }
    }
}

/// A value named from a closed set of `names` (`from_name` reads one). Anything else is an
/// `invalid-value` error: "`path` must be MUST_BE", pointing at the value with the closest
/// name or "`text` is not NOT_A".
pub(crate) fn named<T>(
    ctx: &mut Ctx,
    node: &Node,
    path: &str,
    names: &[&str],
    from_name: fn(&str) -> Option<T>,
    must_be: &str,
    not_a: &str,
) -> Option<T> {
    let text = string_of(ctx, node, path)?;
    if let Some(value) = from_name(&text) {
        return Some(value);
    }
    let label = match did_you_mean(&text, names.iter().copied()) {
        Some(s) => format!("did you mean `{s}`?"),
        None => format!("`{text}` is not {not_a}"),
    };
    ctx.error(
        Diagnostic::error("invalid-value", format!("`{path}` must be {must_be}"))
            .with_primary(node.span, label),
    );
    None
}

/// The items of a list (`null` is an empty list).
pub(crate) fn list<'n>(ctx: &mut Ctx, node: &'n Node, path: &str) -> &'n [Node] {
    match &node.kind {
        NodeKind::Seq(items) => items,
        NodeKind::Null => &[],
        _ => {
            ctx.expected(node, path, "a list");
            &[]
        }
    }
}
