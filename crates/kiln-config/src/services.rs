//! The settings of the services pipelines talk to: `mail:` (SMTP for `mail` and `emailext`),
//! `slack:` (`slackSend`), `sonarqube:` (`withSonarQubeEnv`, `waitForQualityGate`),
//! `coverity:` (`withCoverityEnv`) and `vault:` (`withVault`); and what builds are given: `config_files:` (`configFileProvider`,
//! `withMaven`'s settings) and `tools:` (`withMaven`'s Maven and JDK). Secrets are never
//! here: each names a credential of `credentials[]` by id, resolved by the build when a
//! step needs it.

use crate::SecretSource;
use std::path::PathBuf;

/// Every service section; each is empty when not configured.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ServicesConfig {
    pub mail: Option<MailConfig>,
    pub slack: Option<SlackConfig>,
    pub sonarqube: Vec<SonarQubeConfig>,
    pub coverity: Vec<CoverityConfig>,
    pub artifactory: Vec<ArtifactoryConfig>,
    pub vault: Option<VaultConfig>,
    pub config_files: Vec<ConfigFileConfig>,
    pub tools: Vec<ToolConfig>,
}

/// `mail:`: the SMTP server mail steps send through.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MailConfig {
    pub host: String,
    /// Default: 25 without TLS, 587 with STARTTLS, 465 with TLS.
    pub port: u16,
    /// The sender when a step gives no `from:`.
    pub from: Option<String>,
    pub tls: MailTls,
    /// A username/password credential for SMTP AUTH.
    pub credential: Option<String>,
}

/// How the SMTP connection is secured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MailTls {
    /// Plain SMTP.
    None,
    /// Plain, then `STARTTLS` (required).
    Starttls,
    /// TLS from the first byte (SMTPS).
    Tls,
}

impl MailTls {
    pub const NAMES: &'static [&'static str] = &["none", "starttls", "tls"];

    pub fn from_name(name: &str) -> Option<MailTls> {
        match name {
            "none" => Some(MailTls::None),
            "starttls" => Some(MailTls::Starttls),
            "tls" => Some(MailTls::Tls),
            _ => None,
        }
    }

    pub fn default_port(self) -> u16 {
        match self {
            MailTls::None => 25,
            MailTls::Starttls => 587,
            MailTls::Tls => 465,
        }
    }
}

/// `slack:`: the defaults of `slackSend`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct SlackConfig {
    /// The API base, e.g. `https://slack.com/api/` (or a Mattermost/Rocket.Chat endpoint).
    pub base_url: Option<String>,
    /// `teamDomain`: the workspace, when no base URL is given (`https://DOMAIN.slack.com/api/`).
    pub team_domain: Option<String>,
    /// A secret-text credential: the token (`tokenCredentialId`).
    pub credential: Option<String>,
    /// The default channel.
    pub channel: Option<String>,
    /// `botUser`: post as the bot user.
    pub bot_user: bool,
}

/// One entry of `sonarqube:`, as Jenkins' "SonarQube installations".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SonarQubeConfig {
    /// The name `withSonarQubeEnv('NAME')` selects.
    pub name: String,
    /// The server URL (`SONAR_HOST_URL`).
    pub url: String,
    /// A secret-text credential holding the token (`SONAR_AUTH_TOKEN`).
    pub credential: Option<String>,
    /// Additional analysis properties (`SONAR_EXTRA_PROPS`), as written.
    pub additional_properties: Option<String>,
}

/// One entry of `coverity:`, as the Coverity plugin's Coverity Connect instances: the
/// name `withCoverityEnv(connectInstance:)` selects, where it listens, and a
/// username/password credential (`COV_USER`, `COVERITY_PASSPHRASE`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CoverityConfig {
    pub name: String,
    pub host: String,
    pub port: u16,
    pub credential: Option<String>,
}

/// One entry of `artifactory:`, as the Artifactory plugin's configured servers: the id
/// `Artifactory.server('ID')` selects, the URL (up to `/artifactory`), and a credential: a
/// username/password one (basic authentication) or a secret text (an access token, sent
/// as a bearer token).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArtifactoryConfig {
    pub id: String,
    pub url: String,
    pub credential: Option<String>,
}

/// `vault:`: the defaults of `withVault`'s `configuration`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VaultConfig {
    pub url: String,
    /// A secret-text credential (a Vault token) or a username/password one (AppRole: role
    /// id and secret id).
    pub credential: Option<String>,
    /// The KV secrets engine version, 1 or 2 (default 2).
    pub engine_version: u8,
    /// `X-Vault-Namespace`, for Vault Enterprise.
    pub namespace: Option<String>,
}

/// One entry of `config_files:`, as Jenkins' managed files (Config File Provider plugin).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigFileConfig {
    /// The id `configFile(fileId:)` and `withMaven(mavenSettingsConfig:)` select.
    pub id: String,
    /// A display name for the build log.
    pub name: Option<String>,
    /// The file's text: written inline (`content:`), or read from `content_file:` or
    /// `content_env:` each time a build asks for it.
    pub content: SecretSource,
    /// Whether the content is masked in build logs (a settings file holding passwords).
    pub secret: bool,
}

/// One entry of `tools:`, as Jenkins' tool installations: a name pipelines select and
/// the directory the tool is installed in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToolConfig {
    pub name: String,
    pub kind: ToolKind,
    /// The installation's home (`MAVEN_HOME`, `JAVA_HOME`); its `bin/` goes on `PATH`.
    pub home: PathBuf,
}

/// What kind of tool an installation is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ToolKind {
    Maven,
    Jdk,
    Gradle,
    NodeJs,
    Go,
    Ant,
    /// Coverity's analysis tools (`withCoverityEnv(coverityToolName:)`).
    Coverity,
}

impl ToolKind {
    pub const NAMES: &'static [&'static str] =
        &["maven", "jdk", "gradle", "nodejs", "go", "ant", "coverity"];

    pub fn from_name(name: &str) -> Option<ToolKind> {
        Some(match name {
            "maven" => ToolKind::Maven,
            "jdk" => ToolKind::Jdk,
            "gradle" => ToolKind::Gradle,
            "nodejs" => ToolKind::NodeJs,
            "go" => ToolKind::Go,
            "ant" => ToolKind::Ant,
            "coverity" => ToolKind::Coverity,
            _ => return None,
        })
    }

    /// The name written in kiln.yaml.
    pub fn name(self) -> &'static str {
        match self {
            ToolKind::Maven => "maven",
            ToolKind::Jdk => "jdk",
            ToolKind::Gradle => "gradle",
            ToolKind::NodeJs => "nodejs",
            ToolKind::Go => "go",
            ToolKind::Ant => "ant",
            ToolKind::Coverity => "coverity",
        }
    }
}
