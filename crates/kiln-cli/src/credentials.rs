//! The local credentials file of `kiln run --credentials FILE` (YAML):
//!
//! ```yaml
//! - id: github-token          # secret text
//!   secret_env: GITHUB_TOKEN  # or `secret: ...` / `secret_file: path`
//! - id: deploy                # username and password
//!   username: deploy
//!   password_env: DEPLOY_PASSWORD
//! - id: kubeconfig            # secret file
//!   file: /home/me/.kube/config
//! - id: git-ssh               # SSH private key
//!   username: git
//!   private_key_file: /home/me/.ssh/id_ed25519
//! - id: azure-sp              # Azure service principal
//!   subscription_id: 00000000-0000-0000-0000-000000000000
//!   client_id: 11111111-1111-1111-1111-111111111111
//!   client_secret_env: AZURE_SECRET  # or `client_secret: ...`
//!   tenant: 22222222-2222-2222-2222-222222222222
//!   # for another Azure cloud: authentication_endpoint, resource_manager_endpoint
//! ```
//!
//! Values come from the file itself, from environment variables (`*_env`) or from files
//! (`*_file`); they are never printed.

use anyhow::{Context as _, bail};
use kiln_engine::{Credential, CredentialStore};
use serde::Deserialize;
use std::collections::HashMap;
use std::path::Path;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    id: String,
    secret: Option<String>,
    secret_env: Option<String>,
    secret_file: Option<String>,
    username: Option<String>,
    password: Option<String>,
    password_env: Option<String>,
    file: Option<String>,
    private_key_file: Option<String>,
    passphrase_env: Option<String>,
    subscription_id: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    client_secret_env: Option<String>,
    tenant: Option<String>,
    authentication_endpoint: Option<String>,
    resource_manager_endpoint: Option<String>,
}

pub struct FileCredentials {
    entries: HashMap<String, Credential>,
}

impl CredentialStore for FileCredentials {
    fn get(&self, id: &str) -> Option<Credential> {
        self.entries.get(id).cloned()
    }
}

pub fn load(path: &Path) -> anyhow::Result<FileCredentials> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read credentials file `{}`", path.display()))?;
    let entries: Vec<Entry> = kiln_yaml::parse_typed(&text)
        .map_err(|e| anyhow::anyhow!("{}: invalid credentials: {e}", path.display()))?;
    let mut out = HashMap::new();
    for e in entries {
        let id = e.id.clone();
        let cred =
            credential(e).with_context(|| format!("{}: credential `{id}`", path.display()))?;
        if out.insert(id.clone(), cred).is_some() {
            bail!("{}: credential `{id}` is defined twice", path.display());
        }
    }
    Ok(FileCredentials { entries: out })
}

fn from_env(var: &str) -> anyhow::Result<String> {
    std::env::var(var).with_context(|| format!("environment variable `{var}` is not set"))
}

fn from_file(path: &str) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read `{path}`"))
}

fn credential(e: Entry) -> anyhow::Result<Credential> {
    if e.client_secret.is_some() || e.client_secret_env.is_some() {
        return azure_service_principal(e);
    }
    if let Some(key) = &e.private_key_file {
        let private_key =
            String::from_utf8(from_file(key)?).context("the private key is not text")?;
        return Ok(Credential::SshKey {
            username: e.username.unwrap_or_default(),
            private_key,
            passphrase: e.passphrase_env.as_deref().map(from_env).transpose()?,
        });
    }
    if let Some(file) = &e.file {
        let name = Path::new(file)
            .file_name()
            .map_or("secret", |n| n.to_str().unwrap_or("secret"))
            .to_string();
        return Ok(Credential::File {
            name,
            content: from_file(file)?,
        });
    }
    if let Some(username) = e.username {
        let password = match (e.password, e.password_env) {
            (Some(p), None) => p,
            (None, Some(var)) => from_env(&var)?,
            _ => bail!("give exactly one of `password` or `password_env`"),
        };
        return Ok(Credential::UsernamePassword { username, password });
    }
    let secret = match (e.secret, e.secret_env, e.secret_file) {
        (Some(s), None, None) => s,
        (None, Some(var), None) => from_env(&var)?,
        (None, None, Some(f)) => String::from_utf8(from_file(&f)?)
            .context("the secret file is not text")?
            .trim_end()
            .to_string(),
        _ => bail!(
            "give exactly one of `secret`, `secret_env` or `secret_file` (or `username` with a password, `file`, `private_key_file`)"
        ),
    };
    Ok(Credential::Secret(secret))
}

fn azure_service_principal(e: Entry) -> anyhow::Result<Credential> {
    let client_secret = match (e.client_secret, e.client_secret_env) {
        (Some(s), None) => s,
        (None, Some(var)) => from_env(&var)?,
        _ => bail!("give exactly one of `client_secret` or `client_secret_env`"),
    };
    let need = |v: Option<String>, key: &str| {
        v.with_context(|| format!("an Azure service principal needs `{key}`"))
    };
    Ok(Credential::AzureServicePrincipal(Box::new(
        kiln_engine::AzureServicePrincipal {
            subscription_id: need(e.subscription_id, "subscription_id")?,
            client_id: need(e.client_id, "client_id")?,
            client_secret,
            tenant: need(e.tenant, "tenant")?,
            authentication_endpoint: e.authentication_endpoint,
            resource_manager_endpoint: e.resource_manager_endpoint,
        },
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(name: &str, text: &str) -> anyhow::Result<FileCredentials> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join(name);
        std::fs::write(&path, text)?;
        load(&path)
    }

    #[test]
    fn secrets_are_read_and_mistakes_are_placed() {
        let creds = load_text("ok.yaml", "- id: token\n  secret: s3cret\n").unwrap();
        assert!(matches!(creds.get("token"), Some(Credential::Secret(s)) if s == "s3cret"));
        let err = load_text("bad.yaml", "- id: token\n  secrt: x\n")
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("bad.yaml: invalid credentials: "), "{err}");
        assert!(err.contains("secrt") && err.contains("at line 2"), "{err}");
    }
}
