//! `withVault(configuration: [...], vaultSecrets: [[path:, engineVersion:, secretValues:
//! [[envVar:, vaultKey:]]]]) { }` (HashiCorp Vault plugin): reads KV v1/v2 secrets through
//! Vault's HTTP API (a token credential, or AppRole with a username/password credential:
//! role id and secret id) and gives them to the block as variables, masked.

use super::StepCall;
use super::http_client::{HttpCall, HttpReply, send};
use crate::Credential;
use crate::error::StepError;
use kiln_config::VaultConfig;
use kiln_script::Value;
use serde_json::json;

/// The connection: `configuration:` over kiln.yaml's `vault:`.
struct Connection {
    url: String,
    token: String,
    engine_version: u8,
    namespace: Option<String>,
    insecure: bool,
    fail_if_not_found: bool,
}

/// One `vaultSecrets` entry.
struct SecretPath {
    path: String,
    engine_version: Option<u8>,
    values: Vec<(String, String)>,
}

/// The block's variables; every value is masked from now on.
pub(crate) async fn environment(call: &StepCall<'_>) -> Result<Vec<(String, String)>, StepError> {
    let (configuration, secrets) = arguments(call)?;
    let conn = connect(call, configuration.as_ref()).await?;
    let mut vars = Vec::new();
    for entry in secret_paths(secrets)? {
        let version = entry.engine_version.unwrap_or(conn.engine_version);
        let data = read(call, &conn, &entry.path, version).await?;
        for (env_var, key) in entry.values {
            match data.as_ref().and_then(|d| d.get(&key)) {
                Some(v) => {
                    let value = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
                    call.build.add_secrets([value.clone()]);
                    vars.push((env_var, value));
                }
                None if conn.fail_if_not_found => {
                    return Err(StepError::failed(format!(
                        "withVault: Vault credentials not found for '{}' (key '{key}')",
                        entry.path
                    )));
                }
                None => call.log(&format!(
                    "withVault: no key '{key}' at '{}'; {env_var} is not set",
                    entry.path
                )),
            }
        }
    }
    Ok(vars)
}

/// `configuration` and `vaultSecrets`, also when both came as one map
/// (`withVault([configuration: c, vaultSecrets: s])`).
fn arguments(call: &StepCall<'_>) -> Result<(Option<Value>, Value), StepError> {
    let configuration = call.value("configuration")?;
    if let Some(whole @ Value::Map(_)) = &configuration
        && whole.get("vaultSecrets").is_some()
    {
        return Ok((
            whole.get("configuration").cloned(),
            whole.get("vaultSecrets").cloned().unwrap_or(Value::Null),
        ));
    }
    let secrets = call
        .value("vaultSecrets")?
        .ok_or_else(|| StepError::failed("withVault needs `vaultSecrets`"))?;
    Ok((configuration, secrets))
}

fn secret_paths(secrets: Value) -> Result<Vec<SecretPath>, StepError> {
    let bad = || {
        StepError::failed(
            "withVault: `vaultSecrets` must be a list such as [[path: 'secret/app', secretValues: [[envVar: 'PW', vaultKey: 'password']]]]",
        )
    };
    let Value::List(items) = secrets else {
        return Err(bad());
    };
    items
        .into_iter()
        .map(|item| {
            let path = item.get("path").and_then(Value::as_str).ok_or_else(bad)?;
            let engine_version = version_of(item.get("engineVersion"))?;
            let Some(Value::List(values)) = item.get("secretValues") else {
                return Err(bad());
            };
            let values = values
                .iter()
                .map(|v| {
                    let key = v.get("vaultKey").and_then(Value::as_str).ok_or_else(bad)?;
                    let var = v.get("envVar").and_then(Value::as_str).unwrap_or(key);
                    Ok((var.to_owned(), key.to_owned()))
                })
                .collect::<Result<_, StepError>>()?;
            Ok(SecretPath {
                path: path.trim_matches('/').to_owned(),
                engine_version,
                values,
            })
        })
        .collect()
}

fn version_of(v: Option<&Value>) -> Result<Option<u8>, StepError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Int(1)) => Ok(Some(1)),
        Some(Value::Int(2)) => Ok(Some(2)),
        Some(Value::Str(s)) if s == "1" || s == "2" => Ok(s.parse().ok()),
        Some(other) => Err(StepError::failed(format!(
            "withVault: `engineVersion` must be 1 or 2, not {other}"
        ))),
    }
}

/// The connection settings, and a token (logging in with AppRole when the credential is a
/// username/password one).
async fn connect(
    call: &StepCall<'_>,
    configuration: Option<&Value>,
) -> Result<Connection, StepError> {
    let defaults: Option<&VaultConfig> = call.build.spec.services.vault.as_ref();
    let get = |k: &str| configuration.and_then(|c| c.get(k)).cloned();
    let string = |k: &str| get(k).and_then(|v| v.as_str().map(str::to_owned));
    let url = string("vaultUrl")
        .or_else(|| defaults.map(|d| d.url.clone()))
        .ok_or_else(|| {
            StepError::failed(
                "withVault: no Vault address: give `configuration: [vaultUrl: ...]` or set `vault.url` in kiln.yaml",
            )
        })?;
    let credential = string("vaultCredentialId")
        .or_else(|| defaults.and_then(|d| d.credential.clone()))
        .ok_or_else(|| {
            StepError::failed(
                "withVault: no Vault credential: give `configuration: [vaultCredentialId: ...]` or set `vault.credential` in kiln.yaml",
            )
        })?;
    let mut conn = Connection {
        url: url.trim_end_matches('/').to_owned(),
        token: String::new(),
        engine_version: version_of(get("engineVersion").as_ref())?
            .or_else(|| defaults.map(|d| d.engine_version))
            .unwrap_or(2),
        namespace: string("vaultNamespace").or_else(|| defaults.and_then(|d| d.namespace.clone())),
        insecure: matches!(get("skipSslVerification"), Some(Value::Bool(true))),
        fail_if_not_found: !matches!(get("failIfNotFound"), Some(Value::Bool(false))),
    };
    conn.token = match call.build.spec.credentials.get(&credential) {
        Some(Credential::Secret(token)) => token,
        Some(Credential::UsernamePassword { username, password }) => {
            call.build.add_secrets([password.clone()]);
            approle_login(&conn, &username, &password).await?
        }
        Some(_) => {
            return Err(StepError::failed(format!(
                "withVault: credential `{credential}` must be a secret text (a token) or a username/password (AppRole role id and secret id)"
            )));
        }
        None => {
            return Err(StepError::failed(format!(
                "withVault: credential `{credential}` does not exist"
            )));
        }
    };
    call.build.add_secrets([conn.token.clone()]);
    Ok(conn)
}

fn request(conn: &Connection, method: &str, path: &str) -> HttpCall {
    let mut c = HttpCall::new(method, format!("{}/v1/{path}", conn.url));
    c.insecure = conn.insecure;
    if !conn.token.is_empty() {
        c = c.header("X-Vault-Token", conn.token.clone());
    }
    if let Some(ns) = &conn.namespace {
        c = c.header("X-Vault-Namespace", ns.clone());
    }
    c
}

async fn approle_login(
    conn: &Connection,
    role_id: &str,
    secret_id: &str,
) -> Result<String, StepError> {
    let login = request(conn, "POST", "auth/approle/login")
        .json(&json!({ "role_id": role_id, "secret_id": secret_id }));
    let reply = call_vault(login).await?;
    reply
        .json()
        .ok()
        .and_then(|v| v.pointer("/auth/client_token")?.as_str().map(str::to_owned))
        .ok_or_else(|| {
            StepError::failed("withVault: Vault's AppRole login answered no client token")
        })
}

/// The key/value pairs at `path` (`None` when Vault has nothing there).
async fn read(
    call: &StepCall<'_>,
    conn: &Connection,
    path: &str,
    version: u8,
) -> Result<Option<serde_json::Map<String, serde_json::Value>>, StepError> {
    let api_path = match (version, path.split_once('/')) {
        (2, Some((mount, rest))) => format!("{mount}/data/{rest}"),
        _ => path.to_owned(),
    };
    let reply = send(request(conn, "GET", &api_path))
        .await
        .map_err(|e| StepError::failed(format!("withVault: {e}")))?;
    if reply.status == 404 {
        if conn.fail_if_not_found {
            return Err(StepError::failed(format!(
                "withVault: Vault credentials not found for '{path}'"
            )));
        }
        call.log(&format!("withVault: nothing at '{path}'"));
        return Ok(None);
    }
    let body = checked(reply)?
        .json()
        .map_err(|e| StepError::failed(format!("withVault: {e}")))?;
    let data = if version == 2 {
        body.pointer("/data/data")
    } else {
        body.pointer("/data")
    };
    Ok(data.and_then(serde_json::Value::as_object).cloned())
}

async fn call_vault(request: HttpCall) -> Result<HttpReply, StepError> {
    let reply = send(request)
        .await
        .map_err(|e| StepError::failed(format!("withVault: {e}")))?;
    checked(reply)
}

fn checked(reply: HttpReply) -> Result<HttpReply, StepError> {
    if reply.is_success() {
        return Ok(reply);
    }
    let errors = reply
        .json()
        .ok()
        .and_then(|v| v.get("errors").map(ToString::to_string))
        .unwrap_or_else(|| reply.text());
    Err(StepError::failed(format!(
        "withVault: Vault answered HTTP {}: {}",
        reply.status,
        errors.trim()
    )))
}
