//! `zip(zipFile:, dir:, glob:, exclude:, archive:, overwrite:)` and `unzip(zipFile:, dir:,
//! glob:, quiet:, read:, test:)` (Pipeline Utility Steps). Files are read and written through
//! the executor and the archive is made or read in memory with the `zip` crate (deflate).
//! Every path stays inside the workspace: an entry whose name would land outside the target
//! directory ("zip slip": `../x`, `/etc/x`) fails the step, naming the entry.

use super::StepCall;
use super::call::Args;
use super::workspace_path::confined;
use crate::error::StepError;
use kiln_executor::FileSet;
use kiln_script::Value;
use std::collections::BTreeMap;
use std::io::{Cursor, Read, Write};
use std::path::{Path, PathBuf};

/// Why a zip could not be made or read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ZipError {
    #[error("{0}")]
    Zip(#[from] zip::result::ZipError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("entry `{0}` would be extracted outside the target directory")]
    Escapes(String),
    #[error("its entries hold more than {} MiB; kiln reads archives into memory and stops there", MAX_UNZIPPED >> 20)]
    TooLarge,
}

/// The most an archive's entries may hold uncompressed (a "zip bomb" stops here), and the
/// most `zip` puts in one archive.
const MAX_UNZIPPED: u64 = 512 << 20;

/// `zip`: the files below `dir` (the step's directory) matching `glob` into `zipFile`.
pub(crate) async fn zip(call: &StepCall<'_>) -> Result<Value, StepError> {
    let zip_file = call.req_string("zipFile")?;
    let target = confined(call, &zip_file, "zip zipFile")?;
    let dir = match call.string("dir")?.filter(|d| !d.is_empty()) {
        Some(d) => confined(call, &d, "zip dir")?,
        None => call.scope.cwd.clone(),
    };
    let glob = call.string("glob")?.filter(|g| !g.is_empty());
    let exclude = call.string("exclude")?.filter(|g| !g.is_empty());
    let executor = call.executor()?;
    if executor.file_exists(&target).await? && !call.bool("overwrite", false)? {
        return Err(StepError::failed(format!(
            "zip: {zip_file} exists (give `overwrite: true` to replace it)"
        )));
    }
    call.log(&format!(
        "Writing zip file of {} filtered by [{}] - [{}] to {zip_file}",
        dir.display(),
        glob.as_deref().unwrap_or(""),
        exclude.as_deref().unwrap_or("")
    ));
    let files = executor
        .list_files(
            &dir,
            &glob.into_iter().collect::<Vec<_>>(),
            &exclude.into_iter().collect::<Vec<_>>(),
        )
        .await?;
    let total: u64 = files.iter().map(|f| f.size).sum();
    if total > MAX_UNZIPPED {
        return Err(StepError::failed(format!(
            "zip: the files hold {} MiB; kiln makes archives in memory and takes at most {} MiB",
            total >> 20,
            MAX_UNZIPPED >> 20
        )));
    }
    let mut entries = Vec::with_capacity(files.len());
    for f in files {
        if dir.join(&f.path) == target {
            continue;
        }
        let bytes = executor.read_file(&dir.join(&f.path)).await?;
        entries.push((entry_name(&f.path), bytes));
    }
    let count = entries.len();
    let archive = tokio::task::spawn_blocking(move || write_zip(entries))
        .await
        .map_err(|e| StepError::failed(format!("zip: {e}")))?
        .map_err(|e| StepError::failed(format!("zip: cannot write {zip_file}: {e}")))?;
    executor.write_file(&target, &archive).await?;
    call.log(&format!("Zipped {count} entries."));
    if call.bool("archive", false)? {
        let mut args = BTreeMap::new();
        args.insert("artifacts".to_owned(), Value::Str(zip_file));
        super::artifacts::archive(&call.with_args(Args::Script(&args), "archiveArtifacts")).await?;
    }
    Ok(Value::Null)
}

/// A relative path as a zip entry name (always `/`-separated).
fn entry_name(path: &Path) -> String {
    path.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

pub(crate) fn write_zip(entries: Vec<(String, Vec<u8>)>) -> Result<Vec<u8>, ZipError> {
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(false);
    for (name, bytes) in entries {
        let options = if bytes.len() > u32::MAX as usize / 2 {
            options.large_file(true)
        } else {
            options
        };
        writer.start_file(name, options)?;
        writer.write_all(&bytes)?;
    }
    Ok(writer.finish()?.into_inner())
}

/// One entry read from an archive.
struct Entry {
    name: String,
    /// Where it goes, relative to the target directory; `None` for a directory entry.
    relative: Option<PathBuf>,
    dir: bool,
    bytes: Vec<u8>,
}

/// `unzip`: extracts `zipFile` into `dir` (the step's directory), or with `read: true`
/// returns a map of entry name to text, or with `test: true` whether the archive is sound.
pub(crate) async fn unzip(call: &StepCall<'_>) -> Result<Value, StepError> {
    let zip_file = call.req_string("zipFile")?;
    let source = confined(call, &zip_file, "unzip zipFile")?;
    let target = match call.string("dir")?.filter(|d| !d.is_empty()) {
        Some(d) => confined(call, &d, "unzip dir")?,
        None => call.scope.cwd.clone(),
    };
    let glob: Vec<String> = call
        .string("glob")?
        .filter(|g| !g.is_empty())
        .into_iter()
        .collect();
    let set = FileSet::new(&glob, &[])?;
    let (read, quiet) = (call.bool("read", false)?, call.bool("quiet", false)?);
    if call.has("charset") {
        call.log("unzip: `charset` has no effect in kiln: entry names are read as the archive marks them (UTF-8, else CP437)");
    }
    let executor = call.executor()?;
    let archive = executor.read_file(&source).await?;
    let entries = tokio::task::spawn_blocking(move || read_zip(archive))
        .await
        .map_err(|e| StepError::failed(format!("unzip: {e}")))?;
    if call.bool("test", false)? {
        return Ok(Value::Bool(match entries {
            Ok(_) => true,
            Err(e) => {
                call.log(&format!(
                    "unzip: {zip_file} is not a sound zip archive: {e}"
                ));
                false
            }
        }));
    }
    let entries = entries.map_err(|e| StepError::failed(format!("unzip: {zip_file}: {e}")))?;
    call.log(&format!("Extracting from {zip_file}"));
    let mut read_map = Vec::new();
    let mut count = 0usize;
    for e in entries {
        let Some(rel) = &e.relative else { continue };
        if !glob.is_empty() && !set.matches(rel) {
            continue;
        }
        if read {
            if !e.dir {
                read_map.push((
                    e.name,
                    Value::Str(String::from_utf8_lossy(&e.bytes).into_owned()),
                ));
            }
            continue;
        }
        let dest = confined(call, &target.join(rel).to_string_lossy(), "unzip entry")?;
        if e.dir {
            executor.create_dir(&dest).await?;
            continue;
        }
        if !quiet {
            call.log(&format!("Extracting: {} -> {}", e.name, dest.display()));
        }
        executor.write_file(&dest, &e.bytes).await?;
        count += 1;
    }
    if read {
        return Ok(Value::Map(read_map));
    }
    call.log(&format!("Extracted: {count} files"));
    Ok(Value::Null)
}

/// Every entry of the archive with its contents; an entry that would escape is an error.
fn read_zip(archive: Vec<u8>) -> Result<Vec<Entry>, ZipError> {
    let mut zip = zip::ZipArchive::new(Cursor::new(archive))?;
    let mut out = Vec::with_capacity(zip.len().min(4096));
    let mut total = 0u64;
    for i in 0..zip.len() {
        let mut file = zip.by_index(i)?;
        let name = file.name().to_owned();
        let relative = file
            .enclosed_name()
            .ok_or_else(|| ZipError::Escapes(name.clone()))?;
        let dir = file.is_dir();
        let mut bytes = Vec::new();
        if !dir {
            // The header's size may lie: read at most what is left of the budget, plus one.
            let left = MAX_UNZIPPED - total;
            (&mut file).take(left + 1).read_to_end(&mut bytes)?;
            total += bytes.len() as u64;
            if total > MAX_UNZIPPED {
                return Err(ZipError::TooLarge);
            }
        }
        let relative = (relative.components().next().is_some()).then_some(relative);
        out.push(Entry {
            name,
            relative,
            dir,
            bytes,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::{ZipError, entry_name, read_zip, write_zip};
    use std::io::Write;
    use std::path::Path;

    #[test]
    fn a_zip_reads_back_what_was_written() {
        let bytes = write_zip(vec![("a/b.txt".into(), b"hello".to_vec())]).unwrap();
        let entries = read_zip(bytes).unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].name, "a/b.txt");
        assert_eq!(entries[0].bytes, b"hello");
        assert_eq!(entry_name(Path::new("x/y/z")), "x/y/z");
    }

    #[test]
    fn an_entry_climbing_out_is_refused() {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        w.start_file("../evil.sh", zip::write::SimpleFileOptions::default())
            .unwrap();
        w.write_all(b"x").unwrap();
        let bytes = w.finish().unwrap().into_inner();
        match read_zip(bytes) {
            Err(ZipError::Escapes(name)) => assert_eq!(name, "../evil.sh"),
            Err(e) => panic!("unexpected error {e}"),
            Ok(_) => panic!("`../evil.sh` was accepted"),
        }
    }
}
