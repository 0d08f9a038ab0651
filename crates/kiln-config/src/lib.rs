//! kiln server configuration: one YAML file (`kiln.yaml`) read into a validated [`Config`].
//!
//! [`parse`] and [`load`] report everything wrong with a file at once, as kiln
//! [`Diagnostic`](kiln_diagnostics::Diagnostic)s with `file:line:col` carets (unknown keys
//! with a did-you-mean, wrong types, invalid values, cross-field rules), carried by
//! [`ConfigError`]. [`Config::default`] is the embedded configuration `kiln server` uses
//! without a file. [`cron::Schedule`] parses Jenkins cron specs (with `H`).
//!
//! The file is read into kiln-yaml's positional tree and checked by hand (no YAML parsing
//! here). This crate does no IO besides reading the file in [`load`] and, on request,
//! secret files ([`SecretSource::resolve`]).

mod config;
pub mod cron;
mod decode;
mod error;
mod forge;
mod forge_decode;
mod job;
mod job_decode;
mod load;
mod local_decode;
mod locks;
mod multibranch;
mod multibranch_decode;
mod reader;
mod secret;
mod services;
mod services_decode;
mod store;
mod store_decode;
mod tools_decode;
mod validate;

pub use config::{
    Config, ExecutorsConfig, LocalExecutorConfig, PassEnv, QueueConfig, SandboxMode, ScriptsConfig,
    ServerConfig, ServerLimits,
};
pub use error::ConfigError;
pub use forge::{ForgeConfig, ForgeDefaults, ForgeKind, ForkTrust, GitHubAppConfig};
pub use job::{JobConfig, LibraryConfig, RetentionConfig, Source, TriggersConfig};
pub use load::{load, parse};
pub use locks::LockConfig;
pub use multibranch::{ChangeBuild, MultibranchConfig, OrphanedItemStrategy};
pub use secret::{
    AzureServicePrincipal, CredentialConfig, CredentialKind, Role, Secret, SecretError,
    SecretSource, TokenConfig,
};
pub use services::{
    ArtifactoryConfig, ConfigFileConfig, CoverityConfig, MailConfig, MailTls, ServicesConfig,
    SlackConfig, SonarQubeConfig, ToolConfig, ToolKind, VaultConfig,
};
pub use store::{PostgresConfig, StoreConfig};
