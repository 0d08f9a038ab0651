//! `kiln-agent` command line: `--listen [ADDR:]PORT` or `--connect tls://HOST:PORT`,
//! `--container NAME`, `--workspace DIR`, `--run-dir DIR`, `--kill-grace SECS`,
//! `--orphan-grace SECS`.

use crate::agent::{Agent, AgentConfig, TOKEN_ENV};
use crate::controller_url::ControllerUrl;
use crate::runner;
use crate::tls::{CA_ENV, ControllerTls};
use std::path::PathBuf;
use std::time::Duration;

const USAGE: &str = "usage: kiln-agent --install DEST
       kiln-agent (--listen [ADDR:]PORT | --connect tls://HOST:PORT) --container NAME [--workspace DIR] [--run-dir DIR] [--kill-grace SECS] [--orphan-grace SECS]
--orphan-grace: exit when no controller has been connected for SECS (0: never).
The build's token is read from the environment variable KILN_AGENT_TOKEN; with --connect,
kiln's CA certificate (PEM), which the controller's certificate must be signed by, from KILN_AGENT_CA.";

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}\n{USAGE}")]
    Usage(String),
    #[error("cannot listen on {address}")]
    Listen {
        address: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Handshake(#[from] crate::handshake::HandshakeError),
    #[error("--connect needs kiln's CA certificate")]
    Tls(#[from] crate::tls::TlsError),
    #[error("cannot install the agent as {path}")]
    Install {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "no controller has been connected for {seconds} s (--orphan-grace): its build is over or kiln is gone; exiting"
    )]
    ControllerGone { seconds: u64 },
    #[error("cannot create the run directory {path}")]
    RunDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The parsed command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    pub listen: Option<String>,
    pub connect: Option<String>,
    pub container: String,
    pub workspace: PathBuf,
    pub run_dir: PathBuf,
    pub kill_grace: Duration,
    /// Exit when no controller has been connected this long (`None`: never).
    pub orphan_grace: Option<Duration>,
}

/// Where the agent keeps each process's output (`ID.out`) and exit (`ID.exit`) unless
/// `--run-dir` says otherwise; kiln's build pods share it between their containers.
pub const DEFAULT_RUN_DIR: &str = "/kiln/run";

impl Options {
    pub fn parse(args: &[String]) -> Result<Options, CliError> {
        let mut o = Options {
            listen: None,
            connect: None,
            container: String::new(),
            workspace: PathBuf::from("/workspace"),
            run_dir: PathBuf::from(DEFAULT_RUN_DIR),
            kill_grace: Duration::from_secs(5),
            orphan_grace: None,
        };
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            let mut value = || {
                it.next()
                    .cloned()
                    .ok_or_else(|| CliError::Usage(format!("{flag} needs a value")))
            };
            match flag.as_str() {
                "--listen" => o.listen = Some(value()?),
                "--connect" => o.connect = Some(value()?),
                "--container" => o.container = value()?,
                "--workspace" => o.workspace = PathBuf::from(value()?),
                "--run-dir" => o.run_dir = PathBuf::from(value()?),
                "--kill-grace" => o.kill_grace = Duration::from_secs(seconds(flag, &value()?)?),
                "--orphan-grace" => {
                    let secs = seconds(flag, &value()?)?;
                    o.orphan_grace = (secs > 0).then(|| Duration::from_secs(secs));
                }
                other => return Err(CliError::Usage(format!("unknown argument `{other}`"))),
            }
        }
        if o.container.is_empty() {
            return Err(CliError::Usage("--container is required".into()));
        }
        if o.listen.is_some() == o.connect.is_some() {
            return Err(CliError::Usage(
                "give exactly one of --listen and --connect".into(),
            ));
        }
        Ok(o)
    }

    /// `7777` listens on 127.0.0.1 (enough for port-forward, which connects inside the pod).
    fn listen_address(&self) -> Option<String> {
        self.listen.as_ref().map(|l| {
            if l.contains(':') {
                l.clone()
            } else {
                format!("127.0.0.1:{l}")
            }
        })
    }
}

fn seconds(flag: &str, v: &str) -> Result<u64, CliError> {
    v.parse()
        .map_err(|_| CliError::Usage(format!("{flag} `{v}`: expected whole seconds")))
}

/// Runs the agent until SIGTERM/SIGINT (then kills every process group it started) or, when
/// dialling, until the controller rejects the token; with `--orphan-grace`, also once no
/// controller has been connected for that long.
pub async fn main_with_args(args: &[String]) -> Result<(), CliError> {
    if let [flag, dest] = args {
        if flag == "--install" {
            return install(std::path::Path::new(dest));
        }
    }
    let options = Options::parse(args)?;
    let env: std::collections::BTreeMap<String, String> = std::env::vars().collect();
    let token = env.get(TOKEN_ENV).cloned().unwrap_or_default();
    if token.is_empty() {
        return Err(CliError::Usage(format!("{TOKEN_ENV} is not set")));
    }
    let ca_pem = env.get(CA_ENV).cloned().unwrap_or_default();
    if options.connect.is_some() && ca_pem.trim().is_empty() {
        return Err(CliError::Usage(format!(
            "{CA_ENV} is not set: --connect needs kiln's CA certificate"
        )));
    }
    std::fs::create_dir_all(&options.run_dir).map_err(|source| CliError::RunDir {
        path: options.run_dir.clone(),
        source,
    })?;
    let agent = Agent::new(
        AgentConfig {
            container: options.container.clone(),
            token,
            workspace: options.workspace.clone(),
            run_dir: options.run_dir.clone(),
            kill_grace: options.kill_grace,
        },
        env,
    );
    let presence = std::sync::Arc::new(crate::presence::Presence::default());
    let orphan_grace = options.orphan_grace;
    let orphaned = {
        let presence = std::sync::Arc::clone(&presence);
        async move {
            match orphan_grace {
                Some(grace) => presence.gone_for(grace).await,
                None => std::future::pending().await,
            }
        }
    };
    let work = {
        let agent = std::sync::Arc::clone(&agent);
        let options = options.clone();
        async move {
            if let Some(address) = options.listen_address() {
                let listener = tokio::net::TcpListener::bind(&address)
                    .await
                    .map_err(|source| CliError::Listen {
                        address: address.clone(),
                        source,
                    })?;
                let bound = listener.local_addr().map_or(address, |a| a.to_string());
                // Tests and operators read this line to learn the port of `--listen ADDR:0`.
                tracing::info!(address = %bound, container = %options.container, "kiln agent listening");
                runner::listen(agent, listener, presence).await;
                Ok(())
            } else {
                let url = options.connect.unwrap_or_default();
                let url = ControllerUrl::parse(&url)
                    .map_err(|e| CliError::Usage(format!("--connect {e}")))?;
                let tls = ControllerTls::new(&ca_pem, &url)?;
                runner::dial(agent, url, tls, presence)
                    .await
                    .map_err(CliError::from)
            }
        }
    };
    let result = tokio::select! {
        r = work => r,
        () = stopped() => Ok(()),
        () = orphaned => Err(CliError::ControllerGone {
            seconds: orphan_grace.map_or(0, |g| g.as_secs()),
        }),
    };
    agent.kill_all();
    result
}

/// `kiln-agent --install DEST`: copies this binary to DEST (the init container's job, so the
/// agent image needs nothing but the agent: no shell, no `cp`).
fn install(dest: &std::path::Path) -> Result<(), CliError> {
    use std::os::unix::fs::PermissionsExt;
    let failed = |source| CliError::Install {
        path: dest.to_path_buf(),
        source,
    };
    let me = std::env::current_exe().map_err(failed)?;
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent).map_err(failed)?;
    }
    std::fs::copy(&me, dest).map_err(failed)?;
    std::fs::set_permissions(dest, std::fs::Permissions::from_mode(0o755)).map_err(failed)?;
    Ok(())
}

async fn stopped() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => std::future::pending().await,
    }
    tracing::info!("stopping: killing every process group");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn parses_listen_and_connect() {
        let o = Options::parse(&args("--listen 7777 --container maven")).unwrap();
        assert_eq!(o.listen_address().as_deref(), Some("127.0.0.1:7777"));
        assert_eq!(o.workspace, PathBuf::from("/workspace"));
        let o = Options::parse(&args("--connect tls://k:1 --container a --run-dir /r")).unwrap();
        assert_eq!(o.connect.as_deref(), Some("tls://k:1"));
        assert_eq!(o.run_dir, PathBuf::from("/r"));
        assert_eq!(o.orphan_grace, None);
        let o = Options::parse(&args("--listen 1 --container a --orphan-grace 90")).unwrap();
        assert_eq!(o.orphan_grace, Some(Duration::from_secs(90)));
        let o = Options::parse(&args("--listen 1 --container a --orphan-grace 0")).unwrap();
        assert_eq!(o.orphan_grace, None);
    }

    #[test]
    fn rejects_bad_command_lines() {
        for bad in [
            "--listen 1",
            "--container a",
            "--listen 1 --connect x:1 --container a",
            "--container a --listen",
            "--bogus",
            "--listen 1 --container a --orphan-grace soon",
        ] {
            assert!(Options::parse(&args(bad)).is_err(), "{bad}");
        }
    }
}
