//! `credentials.system.domainCredentials[].credentials[]`: entries of kiln's `credentials:`
//! whose secrets are read from environment variables or files, never copied. A JCasC
//! variable (`${NAME}`) keeps its name; `${readFile:PATH}` becomes a `_file`; Jenkins'
//! encrypted values (`{AQAAAB...}`) and plain values get a variable of their own to set.

use super::{Reader, entries, entry, items, text};
use crate::names::secret_env;
use crate::yaml_out::{Entry, Item, Yaml};
use kiln_yaml::Node;

pub(super) fn read(r: &mut Reader, node: &Node) {
    for (key, value) in entries(node) {
        if key.scalar_text().as_deref() != Some("system") {
            r.finding(
                value,
                format!("credentials.{}", key.scalar_text().unwrap_or_default()),
                "not imported: kiln's credentials are global (credentials.system is read)",
            );
            continue;
        }
        for domain in value.get("domainCredentials").map_or(&[][..], items) {
            for cred in domain.get("credentials").map_or(&[][..], items) {
                one(r, cred);
            }
        }
    }
}

fn one(r: &mut Reader, cred: &Node) {
    let Some((kind, body)) = entries(cred).first() else {
        return;
    };
    let kind = kind.scalar_text().unwrap_or_default();
    let Some(id) = text(body, "id") else {
        r.finding(
            body,
            format!("`{kind}` credential"),
            "has no id: not imported",
        );
        return;
    };
    let mut fields = vec![entry("id", id.clone())];
    let mut notes = Vec::new();
    match kind.as_str() {
        "string" | "gitlabToken" | "gitLabApiTokenImpl" => {
            let key = if kind == "string" {
                "secret"
            } else {
                "apiToken"
            };
            fields.push(secret_field(
                "secret",
                text(body, key),
                &id,
                None,
                &mut notes,
            ));
        }
        "usernamePassword" => {
            fields.push(username(r, body, &id));
            fields.push(secret_field(
                "password",
                text(body, "password"),
                &id,
                Some("PASSWORD"),
                &mut notes,
            ));
        }
        "basicSSHUserPrivateKey" => {
            fields.push(username(r, body, &id));
            let key = body
                .get("privateKeySource")
                .and_then(|s| s.get("directEntry"))
                .and_then(|d| text(d, "privateKey"));
            fields.push(secret_field(
                "private_key",
                key,
                &id,
                Some("KEY"),
                &mut notes,
            ));
            if let Some(p) = text(body, "passphrase") {
                fields.push(secret_field(
                    "passphrase",
                    Some(p),
                    &id,
                    Some("PASSPHRASE"),
                    &mut notes,
                ));
            }
        }
        "file" => {
            let name = text(body, "fileName").unwrap_or_else(|| id.clone());
            let path = text(body, "secretBytes")
                .as_deref()
                .and_then(read_file_path)
                .unwrap_or_else(|| {
                    notes.push(format!(
                        "copy the file's content to secrets/{name} (Jenkins' copy is not decrypted)"
                    ));
                    format!("secrets/{name}")
                });
            fields.push(entry("file", path));
        }
        _ => {
            r.finding(
                body,
                format!("credential `{id}` ({kind})"),
                "not imported: kiln holds secret text, username/password, SSH key and file credentials",
            );
            return;
        }
    }
    let mut item = Item::new(Yaml::Map(fields));
    if let Some(d) = text(body, "description") {
        item = item.comment(d);
    }
    for n in notes {
        item = item.comment(n);
    }
    r.out.credentials.push(item);
}

fn username(r: &mut Reader, body: &Node, id: &str) -> Entry {
    let name = text(body, "username").unwrap_or_default();
    if name.contains("${") {
        r.finding(
            body,
            format!("username of credential `{id}`"),
            "a JCasC variable: kiln takes the username as written, replace it with the value",
        );
    }
    entry("username", name)
}

/// `FIELD_env: NAME` or `FIELD_file: PATH` for a secret written as `value` in JCasC.
pub(super) fn secret_field(
    field: &str,
    value: Option<String>,
    id: &str,
    suffix: Option<&str>,
    notes: &mut Vec<String>,
) -> Entry {
    let value = value.unwrap_or_default();
    if let Some(var) = variable(&value) {
        return entry(&format!("{field}_env"), var);
    }
    if let Some(path) = read_file_path(&value) {
        return entry(&format!("{field}_file"), path);
    }
    let var = secret_env(id, suffix);
    let why = if value.starts_with('{') && value.ends_with('}') {
        "Jenkins' encrypted value is not decrypted"
    } else if value.is_empty() {
        "Jenkins had no value"
    } else {
        "the value written in jenkins.yaml is not copied"
    };
    notes.push(format!("set {var} to the {field} ({why})"));
    entry(&format!("{field}_env"), var)
}

/// `NAME` of `${NAME}`.
fn variable(value: &str) -> Option<&str> {
    let inner = value.strip_prefix("${")?.strip_suffix('}')?;
    let ok = inner
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && inner.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    ok.then_some(inner)
}

/// `PATH` of `${readFile:PATH}`, `${file:PATH}` or `${base64:${readFile:PATH}}`.
fn read_file_path(value: &str) -> Option<String> {
    let value = value
        .strip_prefix("${base64:")
        .and_then(|v| v.strip_suffix('}'))
        .unwrap_or(value);
    let inner = value.strip_prefix("${")?.strip_suffix('}')?;
    let path = inner
        .strip_prefix("readFile:")
        .or_else(|| inner.strip_prefix("file:"))
        .or_else(|| inner.strip_prefix("fileBase64:"))?;
    (!path.is_empty() && !path.contains("${")).then(|| path.to_string())
}
