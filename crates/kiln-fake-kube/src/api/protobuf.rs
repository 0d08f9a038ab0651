//! The part of Kubernetes' protobuf encoding that `kubectl create namespace|configmap|secret|
//! serviceaccount` sends (kubectl's typed clients send built-in kinds as
//! `application/vnd.kubernetes.protobuf`): the `k8s\0` envelope around a `runtime.Unknown`,
//! and those four kinds with their ObjectMeta's name, namespace, labels and annotations.
//! Other kinds or fields are refused with 415, never guessed.

use base64::Engine;
use serde_json::{Map, Value, json};

/// One decoded field: number and payload.
enum Field<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
}

/// Splits a protobuf message into its fields; `None` when it is malformed.
fn fields(mut data: &[u8]) -> Option<Vec<(u64, Field<'_>)>> {
    let mut out = Vec::new();
    while !data.is_empty() {
        let key = varint(&mut data)?;
        let (number, wire) = (key >> 3, key & 7);
        let field = match wire {
            0 => Field::Varint(varint(&mut data)?),
            2 => {
                let len = usize::try_from(varint(&mut data)?).ok()?;
                let (bytes, rest) = (data.get(..len)?, data.get(len..)?);
                data = rest;
                Field::Bytes(bytes)
            }
            1 => {
                data = data.get(8..)?;
                continue;
            }
            5 => {
                data = data.get(4..)?;
                continue;
            }
            _ => return None,
        };
        out.push((number, field));
    }
    Some(out)
}

fn varint(data: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = data.split_first()?;
        *data = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

fn text(bytes: &[u8]) -> Option<Value> {
    std::str::from_utf8(bytes).ok().map(|s| json!(s))
}

/// A `map<string, string>` (or bytes, base64-encoded as JSON carries them) entry into `map`.
fn map_entry(bytes: &[u8], map: &mut Map<String, Value>, binary: bool) -> Option<()> {
    let mut key = String::new();
    let mut value = Value::String(String::new());
    for (n, f) in fields(bytes)? {
        match (n, f) {
            (1, Field::Bytes(b)) => key = std::str::from_utf8(b).ok()?.to_owned(),
            (2, Field::Bytes(b)) if binary => {
                value = json!(base64::engine::general_purpose::STANDARD.encode(b));
            }
            (2, Field::Bytes(b)) => value = text(b)?,
            _ => return None,
        }
    }
    map.insert(key, value);
    Some(())
}

/// Whether a message holds nothing but empty strings, empty messages and zeros (what Go's
/// protobuf writes for unset non-pointer fields).
fn is_blank(bytes: &[u8]) -> bool {
    fields(bytes).is_some_and(|fs| {
        fs.iter().all(|(_, f)| match f {
            Field::Varint(v) => *v == 0,
            Field::Bytes(b) => b.is_empty() || is_blank(b),
        })
    })
}

fn object_meta(bytes: &[u8]) -> Option<Value> {
    let mut meta = Map::new();
    for (n, f) in fields(bytes)? {
        let b = match f {
            // generation and deletionGracePeriodSeconds, zero when unset.
            Field::Varint(0) => continue,
            Field::Varint(_) => return None,
            Field::Bytes(b) => b,
        };
        match n {
            // Unset strings (generateName, namespace, selfLink, uid, resourceVersion) and
            // the zero creationTimestamp.
            _ if is_blank(b) && n != 11 && n != 12 => {}
            1 => {
                meta.insert("name".to_owned(), text(b)?);
            }
            2 => {
                meta.insert("generateName".to_owned(), text(b)?);
            }
            3 => {
                meta.insert("namespace".to_owned(), text(b)?);
            }
            11 | 12 => {
                let key = if n == 11 { "labels" } else { "annotations" };
                let entry = meta.entry(key).or_insert_with(|| json!({}));
                map_entry(b, entry.as_object_mut()?, false)?;
            }
            _ => return None,
        }
    }
    Some(Value::Object(meta))
}

/// Decodes a protobuf body of one of the supported kinds into its JSON form; `None` when the
/// body is not one.
pub fn decode(body: &[u8]) -> Option<Value> {
    let unknown = body.strip_prefix(b"k8s\0")?;
    let (mut kind, mut api_version, mut raw) = (String::new(), String::new(), None);
    for (n, f) in fields(unknown)? {
        match (n, f) {
            (1, Field::Bytes(type_meta)) => {
                for (m, g) in fields(type_meta)? {
                    if let Field::Bytes(b) = g {
                        let value = std::str::from_utf8(b).ok()?.to_owned();
                        match m {
                            1 => api_version = value,
                            2 => kind = value,
                            _ => {}
                        }
                    }
                }
            }
            (2, Field::Bytes(b)) => raw = Some(b),
            _ => {}
        }
    }
    if api_version != "v1" {
        return None;
    }
    let mut object = Map::new();
    object.insert("apiVersion".to_owned(), json!("v1"));
    object.insert("kind".to_owned(), json!(kind));
    for (n, f) in fields(raw?)? {
        decode_field(&kind, n, f, &mut object)?;
    }
    Some(Value::Object(object))
}

fn decode_field(kind: &str, n: u64, f: Field<'_>, object: &mut Map<String, Value>) -> Option<()> {
    let map_of = |object: &mut Map<String, Value>, key: &str, b: &[u8], binary: bool| {
        let entry = object.entry(key).or_insert_with(|| json!({}));
        map_entry(b, entry.as_object_mut()?, binary)
    };
    match (kind, n, f) {
        (_, 1, Field::Bytes(b)) => {
            object.insert("metadata".to_owned(), object_meta(b)?);
        }
        // An empty spec or status, as `kubectl create namespace` sends them.
        ("Namespace", 2 | 3, Field::Bytes(b)) if is_blank(b) => {}
        // Unset strings and flags of the other kinds.
        (_, _, Field::Bytes([])) => {}
        (_, _, Field::Varint(0)) => {}
        ("ConfigMap", 2, Field::Bytes(b)) => map_of(object, "data", b, false)?,
        ("ConfigMap", 3, Field::Bytes(b)) | ("Secret", 2, Field::Bytes(b)) => {
            let key = if kind == "Secret" {
                "data"
            } else {
                "binaryData"
            };
            map_of(object, key, b, true)?;
        }
        ("Secret", 3, Field::Bytes(b)) => {
            object.insert("type".to_owned(), text(b)?);
        }
        ("Secret", 4, Field::Bytes(b)) => map_of(object, "stringData", b, false)?,
        ("ConfigMap", 4, Field::Varint(v)) | ("Secret", 5, Field::Varint(v)) => {
            object.insert("immutable".to_owned(), json!(v != 0));
        }
        ("ServiceAccount", 4, Field::Varint(v)) => {
            object.insert("automountServiceAccountToken".to_owned(), json!(v != 0));
        }
        _ => return None,
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    fn field(number: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![number << 3 | 2, u8::try_from(payload.len()).unwrap_or(0)];
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn decodes_a_namespace_as_kubectl_sends_it() {
        let type_meta = [field(1, b"v1"), field(2, b"Namespace")].concat();
        let label = [field(1, b"team"), field(2, b"ci")].concat();
        let meta = [
            field(1, b"ci"),
            field(2, b""),
            field(8, b""),
            field(11, &label),
        ]
        .concat();
        let raw = [field(1, &meta), field(2, b""), field(3, &field(1, b""))].concat();
        let body = [
            b"k8s\0".to_vec(),
            field(1, &type_meta),
            field(2, &raw),
            field(3, b""),
            field(4, b""),
        ]
        .concat();
        assert_eq!(
            super::decode(&body),
            Some(json!({"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": "ci", "labels": {"team": "ci"}}}))
        );
        assert_eq!(super::decode(b"k8s\0\xff"), None);
    }
}
