use kiln_diagnostics::{Diagnostic, RenderOptions, SourceFile, render_all};
use std::fmt;
use std::path::PathBuf;

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file has errors; `Display` renders every diagnostic with carets.
    #[error("{}", Rendered(self))]
    Invalid {
        file: SourceFile,
        /// Every problem found, errors and warnings, in the order of the file.
        diagnostics: Vec<Diagnostic>,
    },
}

impl ConfigError {
    /// The diagnostics (empty for a read error).
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            ConfigError::Read { .. } => &[],
            ConfigError::Invalid { diagnostics, .. } => diagnostics,
        }
    }

    /// The diagnostics rendered as caret snippets (optionally coloured), followed by a
    /// summary line; a read error as one line.
    pub fn render(&self, opts: RenderOptions) -> String {
        match self {
            ConfigError::Read { path, source } => {
                format!(
                    "error: cannot read configuration file {}: {source}\n",
                    path.display()
                )
            }
            ConfigError::Invalid { file, diagnostics } => {
                let errors = diagnostics.iter().filter(|d| d.is_error()).count();
                let mut out = render_all(diagnostics, file, opts);
                let plural = if errors == 1 { "" } else { "s" };
                out.push_str(&format!(
                    "error: could not load {}: {errors} error{plural}\n",
                    file.name()
                ));
                out
            }
        }
    }
}

struct Rendered<'a>(&'a ConfigError);

impl fmt::Display for Rendered<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.0.render(RenderOptions::default());
        f.write_str(text.trim_end())
    }
}
