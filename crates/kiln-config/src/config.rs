use crate::{
    CredentialConfig, CredentialKind, JobConfig, LibraryConfig, SecretSource, ServicesConfig,
    TokenConfig,
};
use std::net::SocketAddr;
use std::path::PathBuf;

/// The whole configuration file, validated.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub server: ServerConfig,
    pub executors: ExecutorsConfig,
    pub queue: QueueConfig,
    pub scripts: ScriptsConfig,
    pub jobs: Vec<JobConfig>,
    pub libraries: Vec<LibraryConfig>,
    pub credentials: Vec<CredentialConfig>,
    /// `mail:`, `slack:`, `sonarqube:`, `vault:`: the services steps talk to.
    pub services: ServicesConfig,
    /// `locks:`: the declared lockable resources.
    pub locks: Vec<crate::LockConfig>,
    /// `forges:`: the forge connections of repositories' hosts (defaults for jobs' `forge:`).
    pub forges: Vec<crate::ForgeDefaults>,
    /// `store:`: sled in the data directory (the default) or PostgreSQL.
    pub store: crate::StoreConfig,
    /// Warnings found while loading (rendered, one per entry), for the caller to log.
    pub warnings: Vec<String>,
}

/// `server:`: where the API listens and where state lives.
#[derive(Clone, Debug, PartialEq)]
pub struct ServerConfig {
    /// `server.listen`, default `127.0.0.1:8080`.
    pub listen: SocketAddr,
    /// `server.data_dir`, default `./kiln-data` (relative to the working directory).
    pub data_dir: PathBuf,
    /// `server.external_url`: the base of URLs kiln hands out, e.g. `https://ci.example.com`.
    pub external_url: Option<String>,
    /// `server.tokens`: API tokens. With none, the server is open but loopback-only.
    pub tokens: Vec<TokenConfig>,
    /// `server.allowed_hosts`: host names the server answers to besides loopback names, IP
    /// addresses and `external_url`'s host (`.example.com` also matches its subdomains, `*`
    /// any name).
    pub allowed_hosts: Vec<String>,
    /// `server.limits`: time and connection bounds on HTTP clients.
    pub limits: ServerLimits,
    /// `server.public_badges`: `GET /jobs/{job}/badge.svg` answers without a token, default
    /// false (the badge then needs a token with the `read` role like any other page).
    pub public_badges: bool,
}

/// `server.limits:`: what one HTTP client may hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerLimits {
    /// `header_timeout_seconds`: a request's headers must arrive within this time, default 30.
    pub header_timeout_seconds: u64,
    /// `body_timeout_seconds`: a request's body must arrive within this time, default 60.
    pub body_timeout_seconds: u64,
    /// `connections_per_client`: open connections from one IP address, default 256.
    pub connections_per_client: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            header_timeout_seconds: 30,
            body_timeout_seconds: 60,
            connections_per_client: 256,
        }
    }
}

/// `executors:`.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct ExecutorsConfig {
    pub local: LocalExecutorConfig,
    /// `executors.kubernetes`, kept as written (as JSON) for the Kubernetes backend.
    pub kubernetes: Option<serde_json::Value>,
}

/// `executors.local:`.
#[derive(Clone, Debug, PartialEq)]
pub struct LocalExecutorConfig {
    /// `executors.local.capacity`: builds run at once on this machine, default 2.
    pub capacity: usize,
    /// `executors.local.env`: variables given to every local build besides kiln's fixed
    /// list (`NAME` passes kiln's own value through, `NAME=value` sets one).
    pub env: Vec<PassEnv>,
    /// `executors.local.allow_paths`: directories outside the build's workspace that file
    /// steps and sandboxed processes may read and write.
    pub allow_paths: Vec<PathBuf>,
    /// `executors.local.sandbox`: how local build processes are confined, default Landlock.
    pub sandbox: SandboxMode,
}

/// One entry of `executors.local.env`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PassEnv {
    /// `NAME`: kiln's own value of `NAME`, when it has one.
    Inherit(String),
    /// `NAME=value`: this value.
    Set(String, String),
}

/// `executors.local.sandbox`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SandboxMode {
    /// `landlock`: a Landlock ruleset (read-only system, read-write workspace, its `@tmp`,
    /// `/tmp` and `allow_paths`); where the kernel lacks Landlock, builds run unconfined and
    /// the server warns at start.
    #[default]
    Landlock,
    /// `off`: no sandbox (file steps are still confined to the workspace).
    Off,
}

impl SandboxMode {
    pub const NAMES: &'static [&'static str] = &["landlock", "off"];
}

/// `queue:`.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct QueueConfig {
    /// `queue.capacity`: running builds at once across all jobs; defaults to the local
    /// executor's capacity (see [`Config::queue_capacity`]).
    pub capacity: Option<usize>,
}

/// `scripts:`: limits of the Groovy scripts builds run.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct ScriptsConfig {
    /// `scripts.total_time_secs`: how long one script (a `script { }` block, a scripted
    /// pipeline) may run, the steps it calls included; `None` (the default): no limit, as
    /// in Jenkins. A build's `timeout` applies either way.
    pub total_time: Option<std::time::Duration>,
}

pub(crate) const DEFAULT_DATA_DIR: &str = "./kiln-data";
pub(crate) const DEFAULT_LOCAL_CAPACITY: usize = 2;

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from(DEFAULT_DATA_DIR),
            external_url: None,
            tokens: Vec::new(),
            allowed_hosts: Vec::new(),
            limits: ServerLimits::default(),
            public_badges: false,
        }
    }
}

impl Default for LocalExecutorConfig {
    fn default() -> Self {
        LocalExecutorConfig {
            capacity: DEFAULT_LOCAL_CAPACITY,
            env: Vec::new(),
            allow_paths: Vec::new(),
            sandbox: SandboxMode::default(),
        }
    }
}

impl Default for Config {
    /// The embedded configuration: no jobs, loopback on port 8080, `./kiln-data`.
    fn default() -> Self {
        Config {
            server: ServerConfig::default(),
            executors: ExecutorsConfig::default(),
            queue: QueueConfig::default(),
            scripts: ScriptsConfig::default(),
            jobs: Vec::new(),
            libraries: Vec::new(),
            credentials: Vec::new(),
            services: ServicesConfig::default(),
            locks: Vec::new(),
            forges: Vec::new(),
            store: crate::StoreConfig::default(),
            warnings: Vec::new(),
        }
    }
}

impl Config {
    /// The job named `name`.
    pub fn job(&self, name: &str) -> Option<&JobConfig> {
        self.jobs.iter().find(|j| j.name.as_str() == name)
    }

    /// The credential with id `id`.
    pub fn credential(&self, id: &str) -> Option<&CredentialConfig> {
        self.credentials.iter().find(|c| c.id == id)
    }

    /// Running builds allowed at once: `queue.capacity`, else `executors.local.capacity`.
    pub fn queue_capacity(&self) -> usize {
        self.queue.capacity.unwrap_or(self.executors.local.capacity)
    }

    /// The files this configuration reads secrets from (`*_file` tokens, webhook secrets
    /// and credentials, `file` credentials, the store's `url_file`), which builds must not
    /// reach.
    pub fn secret_files(&self) -> Vec<PathBuf> {
        let of = |s: &SecretSource| match s {
            SecretSource::File(p) => Some(p.clone()),
            SecretSource::Value(_) | SecretSource::Env(_) => None,
        };
        let mut files: Vec<PathBuf> = self
            .server
            .tokens
            .iter()
            .filter_map(|t| of(&t.token))
            .collect();
        files.extend(
            self.jobs
                .iter()
                .filter_map(|j| j.webhook_secret.as_ref().and_then(of)),
        );
        for c in &self.credentials {
            match &c.kind {
                CredentialKind::Secret(s) => files.extend(of(s)),
                CredentialKind::UsernamePassword { password, .. } => files.extend(of(password)),
                CredentialKind::File(p) => files.push(p.clone()),
                CredentialKind::SshKey {
                    private_key,
                    passphrase,
                    ..
                } => {
                    files.extend(of(private_key));
                    files.extend(passphrase.as_ref().and_then(of));
                }
                CredentialKind::AzureServicePrincipal(sp) => files.extend(of(&sp.client_secret)),
            }
        }
        if let crate::StoreConfig::Postgres(pg) = &self.store {
            files.extend(of(&pg.url));
        }
        files
    }

    /// Whether the server may only listen on a loopback address (no tokens configured).
    pub fn loopback_only(&self) -> bool {
        self.server.tokens.is_empty()
    }

    /// Whether the server may listen on `addr` (e.g. from `--listen`): any address with
    /// tokens configured, only a loopback one without.
    pub fn listen_allowed(&self, addr: &SocketAddr) -> bool {
        !self.loopback_only() || addr.ip().is_loopback()
    }
}
