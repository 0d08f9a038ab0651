//! The configuration's `credentials:` as the engine's [`CredentialStore`].

use kiln_config::{Config, CredentialKind, SecretSource};
use kiln_engine::{Credential, CredentialStore};
use std::sync::Arc;

/// Credentials read from the configuration when a build asks for them (so a rotated
/// environment variable or file is picked up by the next build).
pub struct ConfigCredentials {
    config: Arc<Config>,
}

impl ConfigCredentials {
    pub fn new(config: Arc<Config>) -> Self {
        ConfigCredentials { config }
    }
}

impl CredentialStore for ConfigCredentials {
    fn get(&self, id: &str) -> Option<Credential> {
        let cred = self.config.credential(id)?;
        match read(&cred.kind) {
            Ok(c) => Some(c),
            Err(e) => {
                // The engine reports the credential as missing to the build; the operator
                // learns why here (the message names the variable or file, never a value).
                tracing::warn!(credential = id, error = %e, "cannot read a credential");
                None
            }
        }
    }
}

fn secret(source: &SecretSource) -> Result<String, String> {
    source
        .resolve()
        .map(|s| s.expose().to_owned())
        .map_err(|e| e.to_string())
}

fn read(kind: &CredentialKind) -> Result<Credential, String> {
    Ok(match kind {
        CredentialKind::Secret(s) => Credential::Secret(secret(s)?),
        CredentialKind::UsernamePassword { username, password } => Credential::UsernamePassword {
            username: username.clone(),
            password: secret(password)?,
        },
        CredentialKind::File(path) => Credential::File {
            name: path
                .file_name()
                .map_or_else(|| "secret".to_owned(), |n| n.to_string_lossy().into_owned()),
            content: std::fs::read(path)
                .map_err(|e| format!("cannot read secret file {}: {e}", path.display()))?,
        },
        CredentialKind::SshKey {
            username,
            private_key,
            passphrase,
        } => Credential::SshKey {
            username: username.clone(),
            private_key: secret(private_key)?,
            passphrase: passphrase.as_ref().map(secret).transpose()?,
        },
        CredentialKind::AzureServicePrincipal(sp) => {
            Credential::AzureServicePrincipal(Box::new(kiln_engine::AzureServicePrincipal {
                subscription_id: sp.subscription_id.clone(),
                client_id: sp.client_id.clone(),
                client_secret: secret(&sp.client_secret)?,
                tenant: sp.tenant.clone(),
                authentication_endpoint: sp.authentication_endpoint.clone(),
                resource_manager_endpoint: sp.resource_manager_endpoint.clone(),
            }))
        }
    })
}
