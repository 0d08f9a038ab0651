//! A Jenkinsfile made ready to plan and run, the one way `kiln lint | plan | run` and the
//! server make it: loaded and validated ([`Loaded`]), its scripts checked by the script
//! layer (unsupported Groovy is an error with its position), the shared libraries it names
//! loaded, and a pipeline defined by parameters (`standardPipeline(...)`) replaced by the
//! declarative pipeline its library builds, which is loaded and checked again.

use crate::{BuildScripts, check_scripts, scripted_pipeline};
use kiln_diagnostics::{Diagnostic, RenderOptions, SourceFile, render_all};
use kiln_library::{Libraries, LibraryError, LibrarySources};
use kiln_model::{Document, Pipeline, Scripted};
use kiln_plan::Plan;
use kiln_scm::GitCache;
use kiln_script::ScriptEngine;
use std::sync::Arc;

/// A Jenkinsfile's text, the document read from it and every diagnostic found so far.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub source: SourceFile,
    /// `None` only when the text holds no pipeline (the diagnostics say why).
    pub document: Option<Document>,
    pub diagnostics: Vec<Diagnostic>,
}

impl Loaded {
    /// Parses and validates `text`, shown in diagnostics as `name`.
    pub fn parse(name: impl Into<String>, text: impl Into<String>) -> Loaded {
        let source = SourceFile::new(name, text);
        let (document, diagnostics) = kiln_model::load(source.text());
        Loaded {
            source,
            document,
            diagnostics,
        }
    }

    pub fn errors(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.is_error()).count()
    }

    pub fn warnings(&self) -> usize {
        self.diagnostics.len() - self.errors()
    }

    /// The diagnostics as kiln shows them (caret snippets).
    pub fn render(&self, color: bool) -> String {
        render_all(&self.diagnostics, &self.source, RenderOptions { color })
    }

    fn name(&self) -> String {
        self.source.name().to_owned()
    }
}

/// Where a pipeline's shared libraries come from.
#[derive(Clone, Copy)]
pub struct LibraryAccess<'a> {
    pub sources: &'a LibrarySources,
    /// Where git libraries are cloned.
    pub cache: &'a Arc<GitCache>,
}

/// Where the build loads the libraries whose names it computes when it starts
/// (`lib("helpers@${env.BRANCH_NAME}")`): the sources and git cache `prepare` was given.
#[derive(Debug)]
pub struct LibraryLoader {
    pub sources: LibrarySources,
    pub cache: Arc<GitCache>,
}

/// A pipeline ready to plan and run.
#[derive(Clone, Debug)]
pub struct Prepared {
    /// The pipeline that runs (the one a library generated, when it did) and its warnings.
    pub loaded: Loaded,
    /// When a library generated the pipeline: the Jenkinsfile that called it, with its
    /// warnings.
    pub caller: Option<Loaded>,
    /// The declarative pipeline, or for a scripted one the pipeline it is planned from (no
    /// stages, see [`scripted_pipeline`]).
    pub pipeline: Arc<Pipeline>,
    /// The script of a scripted pipeline.
    pub scripted: Option<Arc<Scripted>>,
    /// The loaded libraries and the text scripts' errors point into; default limits.
    pub scripts: BuildScripts,
}

impl Prepared {
    /// The build's plan (for a scripted pipeline, the plan its stages are added to).
    pub fn plan(&self) -> Plan {
        kiln_plan::plan(&self.pipeline)
    }

    /// Every warning, the calling Jenkinsfile's first, rendered.
    pub fn render_warnings(&self, color: bool) -> String {
        let mut out = self
            .caller
            .as_ref()
            .map(|c| c.render(color))
            .unwrap_or_default();
        out.push_str(&self.loaded.render(color));
        out
    }
}

/// Why a pipeline cannot be planned or run.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    /// The pipeline, or the one a library generated, has errors (its diagnostics say which).
    #[error("`{}` is not a valid pipeline ({})", .0.name(), error_count(.0.errors()))]
    Invalid(Box<Loaded>),
    /// The text holds no pipeline and no diagnostic says why.
    #[error("`{file}` holds no pipeline")]
    NoPipeline { file: String },
    #[error("cannot load the libraries of `{file}`")]
    Libraries {
        file: String,
        #[source]
        source: Box<LibraryError>,
    },
    /// The library step that builds the pipeline failed.
    #[error(transparent)]
    Generate(Box<LibraryError>),
    /// The library step built something else than a declarative pipeline.
    #[error("{file} is not a declarative pipeline")]
    NotDeclarative { file: String },
}

impl PrepareError {
    /// What a build's log shows for this error: the diagnostics of an invalid pipeline,
    /// then one `ERROR:` line.
    pub fn log_lines(&self) -> Vec<String> {
        match self {
            PrepareError::Invalid(loaded) => {
                let mut lines: Vec<String> =
                    loaded.render(false).lines().map(str::to_owned).collect();
                lines.push(format!("ERROR: {self}; nothing was run"));
                lines
            }
            PrepareError::Libraries { source, .. } => vec![format!("ERROR: {self}: {source}")],
            _ => vec![format!("ERROR: {self}")],
        }
    }
}

fn error_count(n: usize) -> String {
    format!("{n} error{}", if n == 1 { "" } else { "s" })
}

/// Prepares `loaded` (see the module docs). Without `libraries` (`kiln lint` and `plan` when
/// no `--library` is given), none is loaded and a pipeline defined by parameters stays the
/// script that calls its library.
pub async fn prepare(
    loaded: Loaded,
    libraries: Option<LibraryAccess<'_>>,
) -> Result<Prepared, PrepareError> {
    let (loaded, document) = checked(loaded)?;
    let engine = ScriptEngine::new();
    let refs = match &document {
        Document::Declarative(p) => &p.libraries,
        Document::Scripted(s) => &s.libraries,
    };
    // Names written as expressions are known when the build starts: the build loads them
    // (see `start::computed_libraries`) through the same sources.
    let (literal, computed): (Vec<_>, Vec<_>) =
        refs.iter().cloned().partition(|r| r.computed.is_none());
    let loader = match libraries {
        Some(access) if !computed.is_empty() => Some(Arc::new(LibraryLoader {
            sources: access.sources.clone(),
            cache: Arc::clone(access.cache),
        })),
        _ => None,
    };
    let libraries = match libraries {
        Some(access) if !literal.is_empty() => {
            kiln_library::load(&literal, access.sources, access.cache, &engine)
                .await
                .map_err(|source| PrepareError::Libraries {
                    file: loaded.name(),
                    source: Box::new(source),
                })?
        }
        _ => Libraries::default(),
    };
    let (loaded, caller, document) = match document {
        Document::Scripted(s) => match generated(&s, &libraries, &engine)? {
            Some((generated, declarative)) => (generated, Some(loaded), declarative),
            None => (loaded, None, Document::Scripted(s)),
        },
        declarative => (loaded, None, declarative),
    };
    let (pipeline, scripted) = match document {
        Document::Declarative(p) => (Arc::from(p), None),
        Document::Scripted(s) => (Arc::new(scripted_pipeline(&s)), Some(Arc::from(s))),
    };
    let scripts = BuildScripts {
        libraries: Arc::new(libraries),
        library_loader: loader,
        source: Some(Arc::new(loaded.source.clone())),
        ..BuildScripts::default()
    };
    Ok(Prepared {
        loaded,
        caller,
        pipeline,
        scripted,
        scripts,
    })
}

/// The pipeline a library builds when the script is one call of its pipeline step, loaded
/// and checked.
fn generated(
    script: &Scripted,
    libraries: &Libraries,
    engine: &ScriptEngine,
) -> Result<Option<(Loaded, Document)>, PrepareError> {
    let generated = kiln_library::generated_pipeline(&script.script.statements, libraries, engine)
        .map_err(|e| PrepareError::Generate(Box::new(e)))?;
    let Some(g) = generated else {
        return Ok(None);
    };
    let (loaded, document) = checked(Loaded::parse(g.file_name(), g.text))?;
    if !matches!(document, Document::Declarative(_)) {
        return Err(PrepareError::NotDeclarative {
            file: loaded.name(),
        });
    }
    Ok(Some((loaded, document)))
}

/// Adds the script layer's problems to `loaded`: its document when nothing is an error.
/// The document stays in `loaded` only for callers that show it; it is returned separately.
fn checked(mut loaded: Loaded) -> Result<(Loaded, Document), PrepareError> {
    if let Some(doc) = &loaded.document {
        loaded.diagnostics.extend(check_scripts(doc));
    }
    if loaded.errors() > 0 {
        return Err(PrepareError::Invalid(Box::new(loaded)));
    }
    match loaded.document.clone() {
        Some(document) => Ok((loaded, document)),
        None => Err(PrepareError::NoPipeline {
            file: loaded.name(),
        }),
    }
}

#[cfg(test)]
mod tests;
