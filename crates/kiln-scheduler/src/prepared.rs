//! A job's Jenkinsfile made ready to run, as `kiln run` makes it: loaded and validated, its
//! scripts checked by the script layer (unsupported Groovy fails the build with its
//! position), the shared libraries it names loaded from the configuration's `libraries:`,
//! and a pipeline defined by parameters replaced by the declarative pipeline its library
//! builds. Problems come back as the log lines that show them.

use crate::source::Resolved;
use kiln_config::Config;
use kiln_diagnostics::{RenderOptions, SourceFile, render_all};
use kiln_engine::BuildScripts;
use kiln_library::{Libraries, LibrarySources};
use kiln_model::{Document, Pipeline, Scripted};
use kiln_scm::GitCache;
use kiln_script::ScriptEngine;
use std::sync::Arc;

/// What the engine runs for a build.
pub(crate) struct PreparedPipeline {
    /// The declarative pipeline, or for a scripted one the pipeline it is planned from
    /// (no stages, see [`kiln_engine::scripted_pipeline`]).
    pub pipeline: Arc<Pipeline>,
    /// The script of a scripted pipeline.
    pub scripted: Option<Arc<Scripted>>,
    /// The loaded libraries and the text scripts' errors point into.
    pub scripts: BuildScripts,
    /// Rendered warnings, for the log.
    pub warnings: String,
}

impl PreparedPipeline {
    /// Loads, checks and expands the pipeline `resolved` holds (see the module docs).
    pub(crate) async fn load(
        resolved: &Resolved,
        config: &Config,
        cache: &GitCache,
    ) -> Result<PreparedPipeline, Vec<String>> {
        let file = SourceFile::new(resolved.file_name.clone(), resolved.text.clone());
        let (document, mut warnings) = checked(&file)?;
        let refs = match &document {
            Document::Declarative(p) => p.libraries.clone(),
            Document::Scripted(s) => s.libraries.clone(),
        };
        let engine = ScriptEngine::new();
        let libraries = if refs.is_empty() {
            Libraries::default()
        } else {
            let sources = LibrarySources::from_config(&config.libraries);
            kiln_library::load(&refs, &sources, cache, &engine)
                .await
                .map_err(|e| {
                    vec![format!(
                        "ERROR: cannot load the libraries of `{}`: {e}",
                        file.name()
                    )]
                })?
        };
        let (document, file) = match document {
            Document::Scripted(s) => match generated(&s, &libraries, &engine)? {
                Some((generated, generated_file, more)) => {
                    warnings.push_str(&more);
                    (generated, generated_file)
                }
                None => (Document::Scripted(s), file),
            },
            declarative => (declarative, file),
        };
        let scripts = BuildScripts {
            libraries: Arc::new(libraries),
            source: Some(Arc::new(file)),
            limits: kiln_script::Limits {
                total_time: config.scripts.total_time,
                ..kiln_script::Limits::default()
            },
        };
        let (pipeline, scripted) = match document {
            Document::Declarative(p) => (Arc::from(p), None),
            Document::Scripted(s) => (
                Arc::new(kiln_engine::scripted_pipeline(&s)),
                Some(Arc::from(s)),
            ),
        };
        Ok(PreparedPipeline {
            pipeline,
            scripted,
            scripts,
            warnings,
        })
    }
}

/// The pipeline a library builds when the script is one call of its pipeline step, with
/// the generated text (for diagnostics) and its rendered warnings.
fn generated(
    script: &Scripted,
    libraries: &Libraries,
    engine: &ScriptEngine,
) -> Result<Option<(Document, SourceFile, String)>, Vec<String>> {
    let generated = kiln_library::generated_pipeline(&script.script.statements, libraries, engine)
        .map_err(|e| vec![format!("ERROR: {e}")])?;
    let Some(g) = generated else {
        return Ok(None);
    };
    let file = SourceFile::new(g.file_name(), g.text);
    let (document, warnings) = checked(&file)?;
    if !matches!(document, Document::Declarative(_)) {
        return Err(vec![format!(
            "ERROR: {} is not a declarative pipeline",
            file.name()
        )]);
    }
    Ok(Some((document, file, warnings)))
}

/// Loads a pipeline and checks its scripts: the document with its rendered warnings, or
/// the log lines showing every error.
fn checked(file: &SourceFile) -> Result<(Document, String), Vec<String>> {
    let (document, mut diagnostics) = kiln_model::load(file.text());
    if let Some(doc) = &document {
        diagnostics.extend(kiln_engine::check_scripts(doc));
    }
    let rendered = render_all(&diagnostics, file, RenderOptions { color: false });
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    if errors > 0 {
        let mut lines: Vec<String> = rendered.lines().map(str::to_owned).collect();
        lines.push(format!(
            "ERROR: `{}` is not a valid pipeline ({errors} error{}); nothing was run",
            file.name(),
            if errors == 1 { "" } else { "s" }
        ));
        return Err(lines);
    }
    match document {
        Some(d) => Ok((d, rendered)),
        None => Err(vec![format!("ERROR: `{}` holds no pipeline", file.name())]),
    }
}
