//! The page frame every UI page shares (maud templates: every value is escaped by maud), and
//! the small formatting helpers of the pages: times, durations, result badges.

use crate::Caller;
use kiln_config::Role;
use kiln_store::{BuildRecord, BuildStatus};
use maud::{DOCTYPE, Markup, PreEscaped, html};

/// Who is looking at a page and what they may do there.
pub struct Viewer {
    pub caller: Caller,
    /// Whether the server has tokens (else there is no logging out).
    pub with_tokens: bool,
}

impl Viewer {
    /// Whether the viewer may trigger, cancel and answer inputs (the role decides the buttons).
    pub fn can_act(&self) -> bool {
        self.caller.role >= Role::Trigger
    }
}

/// A whole page: `title` in the tab, the header with the viewer and logout, then `body`.
/// `scripts` name the embedded scripts of `/ui/assets/` the page runs, in order.
pub fn page(title: &str, viewer: Option<&Viewer>, scripts: &[&str], body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " - kiln" }
                link rel="stylesheet" href="/ui/assets/kiln.css";
                @for script in scripts {
                    script src={ "/ui/assets/" (script) } defer {}
                }
            }
            body {
                header.top {
                    a.brand href="/" { "kiln" }
                    @if let Some(v) = viewer {
                        span.who { (v.caller.name) " · " (v.caller.role.as_str()) }
                        @if v.with_tokens {
                            form #logout method="post" action="/logout" {
                                button.link type="submit" { "Log out" }
                            }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

/// The state of a build as a badge: its result, or queued/running/waiting.
pub fn badge(b: &BuildRecord) -> Markup {
    let (class, label) = build_state(b);
    html! { span class={ "badge " (class) } data-state=(class) { (label) } }
}

/// The CSS class and label of a build's state.
pub fn build_state(b: &BuildRecord) -> (&'static str, &'static str) {
    match (b.status, b.result) {
        (_, Some(r)) => (r.as_str(), r.as_str()),
        (BuildStatus::Queued, None) => ("QUEUED", "queued"),
        (BuildStatus::Running, None) => ("RUNNING", "running"),
        (BuildStatus::WaitingForInput, None) => ("WAITING", "waiting for input"),
        (BuildStatus::Finished, None) => ("NOT_BUILT", "finished"),
    }
}

/// How long a build took, or has been running (empty before it started).
pub fn took(b: &BuildRecord) -> String {
    match (b.started_at_ms, b.finished_at_ms) {
        (Some(s), Some(f)) => duration(f.saturating_sub(s)),
        _ => String::new(),
    }
}

/// A JSON value for a `data-` attribute or a `<script type="application/json">` block: `<`
/// is written `\u003c` so no text in it can close the element.
pub fn json_data(value: &serde_json::Value) -> PreEscaped<String> {
    PreEscaped(value.to_string().replace('<', "\\u003c"))
}

/// Percent-encodes one URL path (or query value); `/` is kept.
pub fn url_segment(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Milliseconds since the epoch as `YYYY-MM-DD HH:MM:SS UTC`.
pub fn utc(ms: u64) -> String {
    let instant = i64::try_from(ms)
        .ok()
        .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
        .unwrap_or(jiff::Timestamp::MAX);
    instant.strftime("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// A duration in milliseconds as `1m 05s` or `3.2s`.
pub fn duration(ms: u64) -> String {
    if ms >= 60_000 {
        format!("{}m {:02}s", ms / 60_000, ms % 60_000 / 1000)
    } else {
        format!("{:.1}s", ms as f64 / 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_times() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(1_709_210_096_000), "2024-02-29 12:34:56 UTC");
        assert_eq!(duration(3_200), "3.2s");
        assert_eq!(duration(65_000), "1m 05s");
    }

    #[test]
    fn url_segments_are_encoded() {
        assert_eq!(url_segment("dist/a b?.txt"), "dist/a%20b%3F.txt");
    }

    #[test]
    fn json_data_cannot_close_a_script() {
        let v = serde_json::json!({ "a": "</script><b>" });
        assert_eq!(json_data(&v).0, r#"{"a":"\u003c/script>\u003cb>"}"#);
    }
}
