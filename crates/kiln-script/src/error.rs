//! Errors of evaluating scripts, with the Jenkinsfile span of the construct at fault.

use kiln_diagnostics::{Diagnostic, SourceFile, Span};

/// Why a script could not run to its end.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ScriptError {
    /// The script uses something kiln does not support, or has syntax errors; nothing ran.
    #[error("{}", .diagnostics.first().map_or("the script cannot be translated", |d| d.message.as_str()))]
    Translate { diagnostics: Vec<Diagnostic> },
    /// The translated script did not compile (a kiln bug or a Rhai limit such as nesting).
    #[error("{message}{}", line_suffix(*.line))]
    Compile {
        message: String,
        span: Span,
        line: Option<usize>,
    },
    /// An exception the script did not catch: `error('x')`, a failed step, a Groovy
    /// runtime error. `exception` is the Java class name kiln gives it.
    #[error("{message}{}", line_suffix(*.line))]
    Runtime {
        message: String,
        exception: String,
        span: Span,
        line: Option<usize>,
    },
    #[error("script exceeded its time limit{}", line_suffix(*.line))]
    TimeLimit { span: Span, line: Option<usize> },
    #[error("build was cancelled{}", line_suffix(*.line))]
    Cancelled { span: Span, line: Option<usize> },
    /// An error in shared-library code: the library (`name@version`), the file inside it
    /// and the position there (0 when unknown).
    #[error("{message} (library {library}, {file}:{line}:{column})")]
    Library {
        library: String,
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
    /// A sandbox limit: operations, string or collection size, call depth.
    #[error("{message}{}", line_suffix(*.line))]
    Limit {
        message: String,
        span: Span,
        line: Option<usize>,
    },
}

fn line_suffix(line: Option<usize>) -> String {
    line.map(|l| format!(" (line {l})")).unwrap_or_default()
}

impl ScriptError {
    /// Where in the Jenkinsfile the error happened.
    pub fn span(&self) -> Span {
        match self {
            ScriptError::Translate { diagnostics } => diagnostics
                .first()
                .map(Diagnostic::primary_span)
                .unwrap_or_default(),
            ScriptError::Library { .. } => Span::default(),
            ScriptError::Compile { span, .. }
            | ScriptError::Runtime { span, .. }
            | ScriptError::TimeLimit { span, .. }
            | ScriptError::Cancelled { span, .. }
            | ScriptError::Limit { span, .. } => *span,
        }
    }

    /// The message without the line suffix.
    pub fn message(&self) -> String {
        match self {
            ScriptError::Translate { .. } | ScriptError::Library { .. } => self.to_string(),
            ScriptError::Compile { message, .. }
            | ScriptError::Runtime { message, .. }
            | ScriptError::Limit { message, .. } => message.clone(),
            ScriptError::TimeLimit { .. } => "script exceeded its time limit".to_string(),
            ScriptError::Cancelled { .. } => "build was cancelled".to_string(),
        }
    }

    /// Whether the build was cancelled (rather than the script failing).
    pub fn is_cancelled(&self) -> bool {
        matches!(self, ScriptError::Cancelled { .. })
    }

    /// The error as diagnostics to render (translation errors are several).
    pub fn to_diagnostics(&self) -> Vec<Diagnostic> {
        match self {
            ScriptError::Translate { diagnostics } => diagnostics.clone(),
            _ => vec![self.to_diagnostic()],
        }
    }

    /// The error as one diagnostic.
    pub fn to_diagnostic(&self) -> Diagnostic {
        let (code, label) = match self {
            ScriptError::Translate { diagnostics } => {
                if let Some(d) = diagnostics.first() {
                    return d.clone();
                }
                ("unsupported-groovy", "here")
            }
            ScriptError::Library { .. } => {
                return Diagnostic::error("library-error", self.to_string());
            }
            ScriptError::Compile { .. } => ("script-compile", "here"),
            ScriptError::Runtime { .. } => ("script-error", "raised here"),
            ScriptError::TimeLimit { .. } => ("script-time-limit", "still running here"),
            ScriptError::Cancelled { .. } => ("build-cancelled", "running here"),
            ScriptError::Limit { .. } => ("script-limit", "limit reached here"),
        };
        Diagnostic::error(code, self.message()).with_primary(self.span(), label)
    }

    /// Fills in the line numbers from the file the spans refer to.
    pub(crate) fn with_lines(mut self, source: Option<&SourceFile>) -> Self {
        let Some(source) = source else { return self };
        let span = self.span();
        let line_of = || Some(source.line_index(span.start) + 1);
        match &mut self {
            ScriptError::Translate { .. } | ScriptError::Library { .. } => {}
            ScriptError::Compile { line, .. }
            | ScriptError::Runtime { line, .. }
            | ScriptError::TimeLimit { line, .. }
            | ScriptError::Cancelled { line, .. }
            | ScriptError::Limit { line, .. } => *line = line_of(),
        }
        self
    }
}
