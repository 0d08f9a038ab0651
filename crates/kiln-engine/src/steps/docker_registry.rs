//! `withDockerRegistry([url:, credentialsId:]) { }` (Docker Pipeline plugin; also written
//! with named arguments): the block's `docker` commands and image builders are logged in to
//! the registry. Where Jenkins runs `docker login` into a temporary `DOCKER_CONFIG`, kiln
//! writes that directory's `config.json` itself (no daemon is needed for it) from a
//! username/password credential, sets `DOCKER_CONFIG` and `DOCKER_REGISTRY_URL` for the
//! block, masks the password and the encoded login, and removes the directory after.

use super::StepCall;
use crate::Credential;
use crate::error::StepError;
use crate::scope::Scope;
use base64::Engine as _;
use kiln_script::Value;
use std::path::PathBuf;

/// Docker Hub's key in `config.json`, used when no URL is given.
const DOCKER_HUB: &str = "https://index.docker.io/v1/";

/// A running block: the directory to remove after it.
pub(crate) struct Login {
    dir: PathBuf,
}

/// Writes the login and makes the block's scope.
pub(crate) async fn start(call: &StepCall<'_>, scope: Scope) -> Result<(Scope, Login), StepError> {
    let (url, credentials_id) = endpoint(call)?;
    if call.has("toolName") {
        call.log(
            "withDockerRegistry: `toolName` has no effect in kiln (the `docker` on PATH is used)",
        );
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let dir = scope.site.tmp_dir.join(format!("docker-config-{nanos}"));
    let config = match &credentials_id {
        Some(id) => {
            let (user, password) = login(call, id)?;
            let auth =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            call.build.add_secrets([password, auth.clone()]);
            call.log(&format!(
                "withDockerRegistry: logged in to {} as {user} (credentials '{id}', written to DOCKER_CONFIG)",
                registry_key(url.as_deref())
            ));
            serde_json::json!({ "auths": { registry_key(url.as_deref()): { "auth": auth } } })
        }
        None => serde_json::json!({ "auths": {} }),
    };
    let text = serde_json::to_string_pretty(&config)
        .map_err(|e| StepError::failed(format!("withDockerRegistry: {e}")))?;
    call.executor()?
        .write_file(&dir.join("config.json"), text.as_bytes())
        .await?;
    let mut vars = vec![(
        "DOCKER_CONFIG".to_owned(),
        dir.to_string_lossy().into_owned(),
    )];
    if let Some(url) = url {
        vars.push(("DOCKER_REGISTRY_URL".to_owned(), url));
    }
    Ok((scope.with_env(vars), Login { dir }))
}

impl Login {
    /// Removes the login; a failure is logged, so the block's own outcome stands.
    pub(crate) async fn remove(&self, call: &StepCall<'_>) {
        let removed = match call.executor() {
            Ok(e) => e.delete_dir(&self.dir).await.map_err(StepError::from),
            Err(e) => Err(e),
        };
        if let Err(e) = removed {
            call.log(&format!(
                "WARNING: withDockerRegistry could not remove its login: {e}"
            ));
        }
    }
}

/// `url` and `credentialsId`, from `registry: [url:, credentialsId:]` (the positional map)
/// or from named arguments.
fn endpoint(call: &StepCall<'_>) -> Result<(Option<String>, Option<String>), StepError> {
    let text = |v: Option<&Value>| {
        v.map(ToString::to_string)
            .filter(|s| !s.is_empty() && s != "null")
    };
    match call.value("registry")? {
        Some(map @ Value::Map(_)) => Ok((text(map.get("url")), text(map.get("credentialsId")))),
        Some(Value::Str(url)) => Ok((
            Some(url).filter(|u| !u.is_empty()),
            call.string("credentialsId")?,
        )),
        None | Some(Value::Null) => Ok((
            call.string("url")?.filter(|u| !u.is_empty()),
            call.string("credentialsId")?,
        )),
        Some(other) => Err(StepError::failed(format!(
            "withDockerRegistry takes [url: '...', credentialsId: '...'], not {}",
            other.kind()
        ))),
    }
}

fn login(call: &StepCall<'_>, id: &str) -> Result<(String, String), StepError> {
    match call.build.spec.credentials.get(id) {
        Some(Credential::UsernamePassword { username, password }) => Ok((username, password)),
        Some(_) => Err(StepError::failed(format!(
            "withDockerRegistry: credential '{id}' is not a username/password credential"
        ))),
        None => Err(StepError::failed(format!(
            "withDockerRegistry: could not find credentials entry with ID '{id}'"
        ))),
    }
}

/// The key of the registry in `config.json`: its host (and port) as `docker login` writes
/// it, Docker Hub's URL for Docker Hub or no URL.
fn registry_key(url: Option<&str>) -> String {
    let Some(url) = url else {
        return DOCKER_HUB.to_owned();
    };
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .unwrap_or(url);
    let host = rest.split('/').next().unwrap_or(rest);
    if host.is_empty()
        || host == "docker.io"
        || host == "index.docker.io"
        || host == "registry-1.docker.io"
    {
        DOCKER_HUB.to_owned()
    } else {
        host.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::registry_key;

    #[test]
    fn registry_keys_are_hosts_as_docker_login_writes_them() {
        assert_eq!(
            registry_key(Some("https://registry.example.com:5000/v2/")),
            "registry.example.com:5000"
        );
        assert_eq!(
            registry_key(Some("http://127.0.0.1:5000")),
            "127.0.0.1:5000"
        );
        assert_eq!(
            registry_key(Some("https://index.docker.io/v1/")),
            "https://index.docker.io/v1/"
        );
        assert_eq!(registry_key(None), "https://index.docker.io/v1/");
    }
}
