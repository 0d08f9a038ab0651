//! What `kiln lint`, `plan` and `run` do after loading a Jenkinsfile: check every script
//! with the script layer, load the shared libraries it names (`--library NAME=PATH_OR_URL`),
//! and replace a pipeline defined by parameters (`standardPipeline(...)`) with the pipeline
//! its library builds, so the rest sees a declarative pipeline.

use crate::load::{Loaded, load};
use anyhow::{Context as _, bail};
use kiln_diagnostics::SourceFile;
use kiln_engine::BuildScripts;
use kiln_library::{Libraries, LibrarySources};
use kiln_model::Document;
use kiln_script::ScriptEngine;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Loads `path` and prepares it to plan or run (see the module docs). Without
/// `require_libraries` (lint, plan), libraries are only loaded when `--library` names some.
pub fn prepare(
    path: &Path,
    library_args: &[String],
    require_libraries: bool,
) -> anyhow::Result<(Loaded, BuildScripts)> {
    let mut loaded = load(path)?;
    add_script_checks(&mut loaded);
    let refs = match &loaded.document {
        Some(Document::Declarative(p)) => p.libraries.clone(),
        Some(Document::Scripted(s)) => s.libraries.clone(),
        None => Vec::new(),
    };
    let mut scripts = BuildScripts {
        libraries: Arc::new(Libraries::default()),
        source: Some(Arc::new(loaded.source.clone())),
        ..BuildScripts::default()
    };
    let skip = !require_libraries && library_args.is_empty();
    if refs.is_empty() || loaded.errors() > 0 || skip {
        return Ok((loaded, scripts));
    }
    let mut sources = LibrarySources::new();
    for arg in library_args {
        let (name, source) = LibrarySources::parse_arg(arg)?;
        sources.insert(name, source);
    }
    let engine = ScriptEngine::new();
    let cache = kiln_scm::GitCache::new(cache_dir());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let libraries = runtime
        .block_on(kiln_library::load(&refs, &sources, &cache, &engine))
        .with_context(|| format!("cannot load the libraries of `{}`", path.display()))?;
    if let Some(Document::Scripted(s)) = &loaded.document {
        let generated =
            kiln_library::generated_pipeline(&s.script.statements, &libraries, &engine)?;
        if let Some(g) = generated {
            let (document, diagnostics) = kiln_model::load(&g.text);
            let source = SourceFile::new(g.file_name(), g.text.clone());
            if !matches!(document, Some(Document::Declarative(_))) && diagnostics.is_empty() {
                bail!("{} is not a declarative pipeline", g.file_name());
            }
            loaded = Loaded {
                source,
                document,
                diagnostics,
            };
            add_script_checks(&mut loaded);
            scripts.source = Some(Arc::new(loaded.source.clone()));
        }
    }
    scripts.libraries = Arc::new(libraries);
    Ok((loaded, scripts))
}

/// Adds the script layer's problems (unsupported Groovy, with positions).
fn add_script_checks(loaded: &mut Loaded) {
    if let Some(doc) = &loaded.document {
        loaded.diagnostics.extend(kiln_engine::check_scripts(doc));
    }
}

/// Where git libraries are cached: `$XDG_CACHE_HOME/kiln/git` or `~/.cache/kiln/git`.
fn cache_dir() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("kiln").join("git")
}
