//! Loading the libraries a pipeline names: a directory read as it is, or a git
//! repository checked out at the version asked for.

use crate::{Libraries, Library, LibraryError, LibrarySource, LibrarySources};
use kiln_model::LibraryRef;
use kiln_scm::GitCache;
use kiln_script::{LibraryFile, ScriptEngine};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// Loads every library in `refs` (each name once, in order) from `sources`; git
/// repositories go through `cache`.
pub async fn load(
    refs: &[LibraryRef],
    sources: &LibrarySources,
    cache: &GitCache,
    engine: &ScriptEngine,
) -> Result<Libraries, LibraryError> {
    let mut libs: Vec<Arc<Library>> = Vec::new();
    for r in refs {
        if r.computed.is_some() {
            return Err(LibraryError::ComputedName);
        }
        if libs.iter().any(|l| l.name == r.name) {
            continue;
        }
        let source = sources
            .get(&r.name)
            .ok_or_else(|| LibraryError::NotConfigured {
                name: r.name.clone(),
                known: known(sources),
            })?;
        let lib = match source {
            LibrarySource::Dir(dir) => load_dir(&r.name, "local", dir, engine)?,
            LibrarySource::Git {
                url,
                default_version,
            } => {
                let version = r
                    .version
                    .clone()
                    .or_else(|| default_version.clone())
                    .unwrap_or_else(|| "main".to_string());
                load_git(&r.name, &version, url, cache, engine).await?
            }
        };
        tracing::info!(library = %lib.label(), "library loaded");
        libs.push(Arc::new(lib));
    }
    Ok(Libraries::new(libs))
}

fn known(sources: &LibrarySources) -> String {
    let names: Vec<&str> = sources.names().collect();
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    }
}

async fn load_git(
    name: &str,
    version: &str,
    url: &str,
    cache: &GitCache,
    engine: &ScriptEngine,
) -> Result<Library, LibraryError> {
    let git = |source| LibraryError::Git {
        library: format!("{name}@{version}"),
        source,
    };
    let commit = cache.update(url, version).await.map_err(git)?;
    let short: String = commit.chars().take(12).collect();
    let dest = cache
        .dir()
        .join("libraries")
        .join(format!("{name}-{short}"));
    if !dest.join("vars").is_dir() && !dest.join("src").is_dir() {
        cache
            .checkout(url, &commit, &dest, false)
            .await
            .map_err(git)?;
    }
    load_dir(name, version, &dest, engine)
}

/// Reads and compiles a library laid out as Jenkins' (`vars/`, `src/`, `resources/`).
pub fn load_dir(
    name: &str,
    version: &str,
    dir: &Path,
    engine: &ScriptEngine,
) -> Result<Library, LibraryError> {
    let label = format!("{name}@{version}");
    if !dir.join("vars").is_dir() && !dir.join("src").is_dir() {
        return Err(LibraryError::Layout {
            library: label,
            path: dir.display().to_string(),
        });
    }
    let vars = files(&label, dir, "vars", Some("rhai"))?;
    let src = files(&label, dir, "src", Some("rhai"))?;
    let resources: BTreeMap<String, String> = files(&label, dir, "resources", None)?
        .into_iter()
        .map(|f| {
            let path = f.path.trim_start_matches("resources/").to_string();
            (path, f.text)
        })
        .collect();
    let code = engine.compile_library(&label, vars, src)?;
    Ok(Library {
        name: name.to_string(),
        version: version.to_string(),
        code,
        resources,
    })
}

/// The files under `dir/sub` (with extension `ext`), paths relative to `dir`.
fn files(
    label: &str,
    dir: &Path,
    sub: &str,
    ext: Option<&str>,
) -> Result<Vec<LibraryFile>, LibraryError> {
    let root = dir.join(sub);
    if !root.is_dir() {
        return Ok(Vec::new());
    }
    let io = |path: &Path, source| LibraryError::Io {
        library: label.to_string(),
        path: path.display().to_string(),
        source,
    };
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(&root).sort_by_file_name() {
        let entry = entry.map_err(|e| {
            let path = e
                .path()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| root.clone());
            io(&path, std::io::Error::other(e.to_string()))
        })?;
        let path = entry.path();
        if !entry.file_type().is_file()
            || ext.is_some_and(|x| path.extension().and_then(|e| e.to_str()) != Some(x))
        {
            continue;
        }
        let text = std::fs::read_to_string(path).map_err(|e| io(path, e))?;
        let rel = path
            .strip_prefix(dir)
            .unwrap_or(path)
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/");
        out.push(LibraryFile { path: rel, text });
    }
    Ok(out)
}
