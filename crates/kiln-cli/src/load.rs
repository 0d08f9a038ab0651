//! Reading a Jenkinsfile and turning it into a validated document, with diagnostics rendered
//! the one way kiln renders them.

use anyhow::Context as _;
use kiln_engine::Loaded;
use std::path::Path;

/// Reads and validates the Jenkinsfile at `path`.
pub fn load(path: &Path) -> anyhow::Result<Loaded> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read `{}`", path.display()))?;
    Ok(Loaded::parse(path.display().to_string(), text))
}

/// `2 errors, 1 warning`.
pub fn counts(errors: usize, warnings: usize) -> String {
    let plural = |n: usize, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
    match (errors, warnings) {
        (e, 0) => plural(e, "error"),
        (0, w) => plural(w, "warning"),
        (e, w) => format!("{}, {}", plural(e, "error"), plural(w, "warning")),
    }
}

pub fn use_color(choice: crate::cli::ColorChoice, stream: &impl std::io::IsTerminal) -> bool {
    match choice {
        crate::cli::ColorChoice::Always => true,
        crate::cli::ColorChoice::Never => false,
        crate::cli::ColorChoice::Auto => {
            stream.is_terminal() && std::env::var_os("NO_COLOR").is_none()
        }
    }
}
