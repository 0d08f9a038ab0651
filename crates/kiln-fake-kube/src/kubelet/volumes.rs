//! Materialises a pod's volumes on the host: emptyDir as a per-pod directory, hostPath as is,
//! secret and configMap as directories of files, persistentVolumeClaim as a directory per claim.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use base64::Engine;
use serde_json::Value;

use crate::catalog;
use crate::store::Store;

/// Why a volume could not be set up (the kubelet reports it as a `FailedMount` event).
#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    /// A referenced secret or config map does not exist.
    #[error("MountVolume.SetUp failed for volume \"{volume}\" : {kind} \"{name}\" not found")]
    MissingSource {
        /// Volume name.
        volume: String,
        /// `secret` or `configmap`.
        kind: &'static str,
        /// Object name.
        name: String,
    },
    /// Writing the volume's files failed.
    #[error("MountVolume.SetUp failed for volume \"{volume}\" : {source}")]
    Io {
        /// Volume name.
        volume: String,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
    /// The volume type is not supported by the fake.
    #[error("volume \"{0}\" has a type the fake kubelet does not support")]
    Unsupported(String),
}

/// Creates every volume of `pod` under `pod_dir/volumes`, returning host paths by volume name.
pub fn prepare(
    store: &Store,
    pod: &Value,
    pod_dir: &Path,
) -> Result<HashMap<String, PathBuf>, VolumeError> {
    let namespace = pod
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("");
    let mut paths = HashMap::new();
    let volumes = pod
        .pointer("/spec/volumes")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for v in &volumes {
        let name = v
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let io = |source| VolumeError::Io {
            volume: name.clone(),
            source,
        };
        let dir = pod_dir.join("volumes").join(&name);
        if v.get("emptyDir").is_some() {
            std::fs::create_dir_all(&dir).map_err(io)?;
            paths.insert(name, dir);
        } else if let Some(path) = v.pointer("/hostPath/path").and_then(Value::as_str) {
            let kind = v
                .pointer("/hostPath/type")
                .and_then(Value::as_str)
                .unwrap_or("");
            if kind == "DirectoryOrCreate" {
                std::fs::create_dir_all(path).map_err(io)?;
            }
            paths.insert(name, PathBuf::from(path));
        } else if let Some(source) = v.get("secret").or_else(|| v.get("configMap")) {
            let (plural, kind, name_field) = if v.get("secret").is_some() {
                ("secrets", "secret", "secretName")
            } else {
                ("configmaps", "configmap", "name")
            };
            let object_name = source.get(name_field).and_then(Value::as_str).unwrap_or("");
            let optional = source
                .get("optional")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let object =
                catalog::resource(plural).and_then(|rt| store.get(rt, namespace, object_name).ok());
            std::fs::create_dir_all(&dir).map_err(io)?;
            match object {
                Some(object) => {
                    write_files(&object, source, &dir, plural == "secrets").map_err(io)?
                }
                None if optional => {}
                None => {
                    return Err(VolumeError::MissingSource {
                        volume: name,
                        kind,
                        name: object_name.to_owned(),
                    });
                }
            }
            paths.insert(name, dir);
        } else if let Some(claim) = v
            .pointer("/persistentVolumeClaim/claimName")
            .and_then(Value::as_str)
        {
            // One directory per claim, outliving the pods that mount it.
            let base = pod_dir.parent().and_then(Path::parent).unwrap_or(pod_dir);
            let dir = base.join("claims").join(namespace).join(claim);
            std::fs::create_dir_all(&dir).map_err(io)?;
            paths.insert(name, dir);
        } else {
            return Err(VolumeError::Unsupported(name));
        }
    }
    Ok(paths)
}

fn write_files(object: &Value, source: &Value, dir: &Path, secret: bool) -> std::io::Result<()> {
    let mut entries: Vec<(String, Vec<u8>)> = Vec::new();
    let decode = |v: &Value| -> Vec<u8> {
        let s = v.as_str().unwrap_or("");
        if secret {
            base64::engine::general_purpose::STANDARD
                .decode(s)
                .unwrap_or_default()
        } else {
            s.as_bytes().to_vec()
        }
    };
    for (k, v) in object
        .get("data")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        entries.push((k.clone(), decode(v)));
    }
    if !secret {
        for (k, v) in object
            .get("binaryData")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(v.as_str().unwrap_or(""))
                .unwrap_or_default();
            entries.push((k.clone(), bytes));
        }
    }
    let items = source.get("items").and_then(Value::as_array);
    for (key, bytes) in entries {
        let target = match items {
            Some(items) => match items
                .iter()
                .find(|i| i.get("key").and_then(Value::as_str) == Some(&key))
            {
                Some(item) => item
                    .get("path")
                    .and_then(Value::as_str)
                    .unwrap_or(&key)
                    .to_owned(),
                None => continue,
            },
            None => key,
        };
        let path = dir.join(target.trim_start_matches('/'));
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, bytes)?;
    }
    Ok(())
}

/// Decodes one key of a secret or config map for `valueFrom`.
pub fn key_value(
    store: &Store,
    namespace: &str,
    plural: &str,
    name: &str,
    key: &str,
) -> Option<String> {
    let object = store
        .get(catalog::resource(plural)?, namespace, name)
        .ok()?;
    let raw = object.get("data")?.get(key)?.as_str()?;
    if plural == "secrets" {
        let bytes = base64::engine::general_purpose::STANDARD.decode(raw).ok()?;
        String::from_utf8(bytes).ok()
    } else {
        Some(raw.to_owned())
    }
}
