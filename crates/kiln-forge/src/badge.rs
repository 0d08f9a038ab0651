//! The status badge: a shields-style SVG, `build | passing`.

use kiln_types::BuildResult;

/// What a badge shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadgeStatus {
    /// The newest build is queued or running.
    Running,
    Finished(BuildResult),
    /// The job has no build (on that branch).
    NoBuilds,
}

impl BadgeStatus {
    /// The right half's text and colour.
    fn message(self) -> (&'static str, &'static str) {
        match self {
            BadgeStatus::Running => ("running", "#007ec6"),
            BadgeStatus::Finished(BuildResult::Success) => ("passing", "#4c1"),
            BadgeStatus::Finished(BuildResult::Unstable) => ("unstable", "#dfb317"),
            BadgeStatus::Finished(BuildResult::Failure) => ("failing", "#e05d44"),
            BadgeStatus::Finished(BuildResult::Aborted) => ("aborted", "#9f9f9f"),
            BadgeStatus::Finished(BuildResult::NotBuilt) => ("not built", "#9f9f9f"),
            BadgeStatus::NoBuilds => ("no builds", "#9f9f9f"),
        }
    }
}

/// The badge's SVG text.
pub fn svg(label: &str, status: BadgeStatus) -> String {
    let (message, color) = status.message();
    let label = escape(label);
    let (lw, mw) = (text_width(&label), text_width(message));
    let total = lw + mw;
    let (lx, mx) = (lw * 5, (lw + mw / 2) * 10);
    let (ltl, mtl) = ((lw - 10) * 10, (mw - 10) * 10);
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{total}" height="20" role="img" aria-label="{label}: {message}"><title>{label}: {message}</title><linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/><stop offset="1" stop-opacity=".1"/></linearGradient><clipPath id="r"><rect width="{total}" height="20" rx="3" fill="#fff"/></clipPath><g clip-path="url(#r)"><rect width="{lw}" height="20" fill="#555"/><rect x="{lw}" width="{mw}" height="20" fill="{color}"/><rect width="{total}" height="20" fill="url(#s)"/></g><g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" font-size="110"><text x="{lx}" y="140" transform="scale(.1)" textLength="{ltl}">{label}</text><text x="{mx}" y="140" transform="scale(.1)" textLength="{mtl}">{message}</text></g></svg>"##
    )
}

/// Verdana 11px is about 7 pixels a character; 10 pixels of padding on each side.
fn text_width(text: &str) -> usize {
    text.chars().count() * 7 + 10
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passing_badge() {
        insta::assert_snapshot!(svg("build", BadgeStatus::Finished(BuildResult::Success)));
    }

    #[test]
    fn each_status_has_its_words() {
        let cases = [
            (BadgeStatus::Running, "build: running"),
            (
                BadgeStatus::Finished(BuildResult::Failure),
                "build: failing",
            ),
            (
                BadgeStatus::Finished(BuildResult::Unstable),
                "build: unstable",
            ),
            (
                BadgeStatus::Finished(BuildResult::Aborted),
                "build: aborted",
            ),
            (BadgeStatus::NoBuilds, "build: no builds"),
        ];
        for (status, words) in cases {
            let svg = svg("build", status);
            assert!(svg.contains(&format!("<title>{words}</title>")), "{svg}");
        }
    }

    #[test]
    fn the_label_is_escaped() {
        let svg = svg("<a&b>", BadgeStatus::NoBuilds);
        assert!(svg.contains("&lt;a&amp;b&gt;: no builds"), "{svg}");
    }
}
