use std::fmt;
use std::path::PathBuf;

/// A secret value. `Debug` and `Display` never show it; read it with [`Secret::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value itself, for comparing or handing to a build; never for logging.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(****)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("****")
    }
}

/// Where a secret comes from: written in the file (`KEY:`), an environment variable
/// (`KEY_env:`) or a file (`KEY_file:`).
#[derive(Clone, PartialEq, Eq)]
pub enum SecretSource {
    Value(Secret),
    Env(String),
    File(PathBuf),
}

impl fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::Value(_) => f.write_str("Value(****)"),
            SecretSource::Env(name) => write!(f, "Env({name:?})"),
            SecretSource::File(path) => write!(f, "File({path:?})"),
        }
    }
}

/// A secret that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("environment variable `{0}` is not set or not valid unicode")]
    MissingEnv(String),
    #[error("cannot read secret file {path}")]
    File {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl SecretSource {
    /// Reads the secret now (environment variables and files are read on every call, so
    /// a rotated secret is picked up). A trailing line break of a file is dropped.
    pub fn resolve(&self) -> Result<Secret, SecretError> {
        match self {
            SecretSource::Value(s) => Ok(s.clone()),
            SecretSource::Env(name) => std::env::var(name)
                .map(Secret)
                .map_err(|_| SecretError::MissingEnv(name.clone())),
            SecretSource::File(path) => std::fs::read_to_string(path)
                .map(|s| Secret(s.trim_end_matches(['\n', '\r']).to_owned()))
                .map_err(|source| SecretError::File {
                    path: path.clone(),
                    source,
                }),
        }
    }
}

/// What an API token may do; each role includes the ones before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Read jobs, builds and logs.
    Read,
    /// Also trigger, cancel and answer inputs.
    Trigger,
    /// Everything, including reloading the configuration.
    Admin,
}

impl Role {
    pub const NAMES: [&'static str; 3] = ["read", "trigger", "admin"];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Trigger => "trigger",
            Role::Admin => "admin",
        }
    }

    pub fn from_name(name: &str) -> Option<Role> {
        match name {
            "read" => Some(Role::Read),
            "trigger" => Some(Role::Trigger),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    /// Whether a token with this role may do what `needed` requires.
    pub fn allows(self, needed: Role) -> bool {
        self >= needed
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One entry of `server.tokens:`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenConfig {
    /// Who the token belongs to, shown in logs and build causes (never the token).
    pub name: String,
    /// `token:` / `token_env:` / `token_file:`.
    pub token: SecretSource,
    pub role: Role,
}

/// One entry of `credentials:`: an id pipelines use with `credentials('id')` and
/// `withCredentials`, and where its value comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CredentialConfig {
    pub id: String,
    pub kind: CredentialKind,
}

/// The Jenkins credential kinds kiln knows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CredentialKind {
    /// "Secret text": `secret:` / `secret_env:` / `secret_file:`.
    Secret(SecretSource),
    /// `username:` with `password:` / `password_env:` / `password_file:`.
    UsernamePassword {
        username: String,
        password: SecretSource,
    },
    /// "Secret file": `file:`, a path whose content is bound to a temporary file.
    File(PathBuf),
    /// `username:` with `private_key:` / `private_key_env:` / `private_key_file:` and an
    /// optional `passphrase:` / `passphrase_env:` / `passphrase_file:`.
    SshKey {
        username: String,
        private_key: SecretSource,
        passphrase: Option<SecretSource>,
    },
    /// An Azure service principal (Azure Credentials plugin): `subscription_id:`,
    /// `client_id:`, `tenant:`, the secret in `client_secret:` / `client_secret_env:` /
    /// `client_secret_file:`, and optionally the endpoints of another Azure cloud.
    AzureServicePrincipal(Box<AzureServicePrincipal>),
}

/// The parts of an Azure service principal credential.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AzureServicePrincipal {
    pub subscription_id: String,
    pub client_id: String,
    pub client_secret: SecretSource,
    pub tenant: String,
    /// Where tokens come from (`authentication_endpoint:`); default Azure's public cloud,
    /// `https://login.microsoftonline.com/`.
    pub authentication_endpoint: Option<String>,
    /// The Resource Manager API (`resource_manager_endpoint:`); default
    /// `https://management.azure.com/`.
    pub resource_manager_endpoint: Option<String>,
}
