//! `new File(path)`: a file in the build's workspace, read and written through the step
//! host (`readFile`, `fileExists`, `writeFile`), never through kiln's own file system.
//!
//! In Jenkins `new File(...)` reads the controller's disk, which is rarely what a
//! pipeline means and is a way out of the build's sandbox; kiln confines it to the
//! workspace: a relative path is taken from the workspace (as `readFile` does), an
//! absolute one must lie under `env.WORKSPACE`, and `..` may not climb out.

use super::types::{RtResult, as_closure, call_closure, fail, groovy_str};
use rhai::{Array, Dynamic, Map, NativeCallContext};
use std::path::{Component, Path, PathBuf};

/// The steps a script with `new File(...)` may call.
pub(crate) const STEPS: &[&str] = &["readFile", "fileExists", "writeFile"];

/// `path` made relative to the workspace, or an error saying why it is outside.
fn confine(ctx: &NativeCallContext, path: &str) -> RtResult<String> {
    let p = Path::new(path);
    let rel: PathBuf = if p.is_absolute() {
        let mut args = [Dynamic::from("env"), Dynamic::from("WORKSPACE")];
        let mut refs: Vec<&mut Dynamic> = args.iter_mut().collect();
        let workspace = ctx.call_fn_raw("__kiln_gprop", false, false, &mut refs)?;
        let workspace = if workspace.is_unit() {
            String::new()
        } else {
            groovy_str(&workspace)
        };
        match p.strip_prefix(&workspace) {
            Ok(rest) if !workspace.is_empty() => rest.to_path_buf(),
            _ => return outside(path),
        }
    } else {
        p.to_path_buf()
    };
    let mut out = PathBuf::new();
    for c in rel.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return outside(path);
                }
            }
            Component::Normal(part) => out.push(part),
            Component::RootDir | Component::Prefix(_) => return outside(path),
        }
    }
    Ok(out.to_string_lossy().into_owned())
}

fn outside<T>(path: &str) -> RtResult<T> {
    fail(format!(
        "`new File('{path}')` is outside the workspace: kiln scripts read and write files in the build's workspace only"
    ))
}

/// Calls step `name` with the named arguments `named`, as the script would.
fn step(ctx: &NativeCallContext, name: &str, named: Map) -> RtResult<Dynamic> {
    let mut args = [
        Dynamic::from(name.to_string()),
        Dynamic::from_map(named),
        Dynamic::from_array(Array::new()),
        Dynamic::UNIT,
        Dynamic::from_int(0),
        Dynamic::from_int(0),
    ];
    let mut refs: Vec<&mut Dynamic> = args.iter_mut().collect();
    ctx.call_fn_raw("__kiln_call", false, false, &mut refs)
}

fn read(ctx: &NativeCallContext, path: &str) -> RtResult<String> {
    let mut named = Map::new();
    named.insert("file".into(), confine(ctx, path)?.into());
    Ok(groovy_str(&step(ctx, "readFile", named)?))
}

fn lines(text: &str) -> Array {
    text.lines().map(|l| Dynamic::from(l.to_string())).collect()
}

/// A property of a file (`f.text`, `f.name`); `None` when there is none.
pub(crate) fn property(
    ctx: &NativeCallContext,
    path: &str,
    name: &str,
) -> RtResult<Option<Dynamic>> {
    let getter = match name {
        "text" => "getText",
        "name" => "getName",
        "path" => "getPath",
        "parent" => "getParent",
        _ => return Ok(None),
    };
    call(ctx, path, getter, &Array::new())
}

/// A method of a file; `None` when there is none.
pub(crate) fn call(
    ctx: &NativeCallContext,
    path: &str,
    name: &str,
    args: &Array,
) -> RtResult<Option<Dynamic>> {
    let p = Path::new(path);
    let arg = |i: usize| args.get(i).cloned().unwrap_or(Dynamic::UNIT);
    Ok(Some(match (name, args.len()) {
        ("getText", 0) => read(ctx, path)?.into(),
        ("readLines", 0) => Dynamic::from_array(lines(&read(ctx, path)?)),
        ("eachLine", 1) => {
            let Some(c) = as_closure(&arg(0)) else {
                return fail("`eachLine()` expects a closure");
            };
            for line in lines(&read(ctx, path)?) {
                let _ = call_closure(ctx, &c, vec![line])?;
            }
            Dynamic::UNIT
        }
        ("exists", 0) => {
            let mut named = Map::new();
            named.insert("file".into(), confine(ctx, path)?.into());
            step(ctx, "fileExists", named)?
        }
        ("write" | "setText", 1) => {
            let mut named = Map::new();
            named.insert("file".into(), confine(ctx, path)?.into());
            named.insert("text".into(), groovy_str(&arg(0)).into());
            let _ = step(ctx, "writeFile", named)?;
            Dynamic::UNIT
        }
        ("getName", 0) => p
            .file_name()
            .map_or(String::new(), |n| n.to_string_lossy().into_owned())
            .into(),
        ("getPath" | "toString", 0) => path.to_string().into(),
        ("getParent", 0) => p
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .map_or(Dynamic::UNIT, |d| d.to_string_lossy().into_owned().into()),
        (
            "isFile" | "isDirectory" | "delete" | "mkdirs" | "mkdir" | "listFiles" | "list"
            | "length" | "lastModified" | "append" | "leftShift" | "renameTo",
            _,
        ) => {
            return fail(format!(
                "`File.{name}()` is not supported in kiln scripts: use `fileExists`, `findFiles`, `writeFile` or `sh`"
            ));
        }
        _ => return Ok(None),
    }))
}
