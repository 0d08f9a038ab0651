//! kiln's own certificate authority for the agent link. The server keeps the CA in its data
//! directory (`agent-ca/ca.key`, mode 0600, and `ca.crt`), made at its first start; at every
//! start it issues itself a fresh certificate for the host of `controller_url`. Each build's
//! Secret carries the CA certificate, so the agent trusts that CA and nothing else; the
//! build's token, sent inside the TLS session, still authenticates the agent.
//!
//! Rotation: stop kiln, delete `agent-ca/`, start it (docs/kubernetes.md). Pods made with the
//! old CA cannot dial the new one.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use time::{Duration, OffsetDateTime};
use tokio_rustls::TlsAcceptor;

/// The CA certificate's file in the CA directory.
pub const CA_CERT_FILE: &str = "ca.crt";
/// The CA key's file (mode 0600).
pub const CA_KEY_FILE: &str = "ca.key";
/// The CA's common name.
const CA_NAME: &str = "kiln agent CA";
/// How long a new CA is valid.
const CA_DAYS: i64 = 3650;
/// How long the server's certificate is valid (a new one is issued at every start).
const SERVER_DAYS: i64 = 397;

#[derive(Debug, thiserror::Error)]
pub enum AgentTlsError {
    #[error("cannot read or write the agent CA in {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the agent CA in {dir} is incomplete: {missing} is missing (delete the directory to make a new CA)"
    )]
    Incomplete { dir: PathBuf, missing: &'static str },
    #[error("the agent CA key {path} is unreadable")]
    Key {
        path: PathBuf,
        #[source]
        source: rcgen::Error,
    },
    #[error("cannot make a certificate for the agent link")]
    Certificate(#[source] rcgen::Error),
    #[error("cannot set up TLS for the agent link")]
    Tls(#[source] rustls::Error),
}

/// kiln's agent CA: its certificate (for the agents) and what signs the server's.
pub struct AgentCa {
    cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for AgentCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentCa").finish_non_exhaustive()
    }
}

/// The CA's own fields; a CA read back from disk signs with the same issuer name.
fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, CA_NAME);
    name.push(DnType::OrganizationName, "kiln");
    params.distinguished_name = name;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> AgentTlsError + '_ {
    move |source| AgentTlsError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl AgentCa {
    /// The CA kept in `dir`, made there (directory 0700, key 0600) when `dir` has none.
    pub fn load_or_create(dir: &Path) -> Result<AgentCa, AgentTlsError> {
        let (cert_path, key_path) = (dir.join(CA_CERT_FILE), dir.join(CA_KEY_FILE));
        match (cert_path.exists(), key_path.exists()) {
            (true, true) => AgentCa::load(&cert_path, &key_path),
            (false, false) => {
                std::fs::create_dir_all(dir).map_err(io_error(dir))?;
                std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                    .map_err(io_error(dir))?;
                let ca = AgentCa::generate()?;
                write_file(&key_path, &ca.issuer.key().serialize_pem(), 0o600)?;
                write_file(&cert_path, &ca.cert_pem, 0o644)?;
                tracing::info!(dir = %dir.display(), "made kiln's agent CA");
                Ok(ca)
            }
            (true, false) => Err(AgentTlsError::Incomplete {
                dir: dir.to_path_buf(),
                missing: CA_KEY_FILE,
            }),
            (false, true) => Err(AgentTlsError::Incomplete {
                dir: dir.to_path_buf(),
                missing: CA_CERT_FILE,
            }),
        }
    }

    fn load(cert_path: &Path, key_path: &Path) -> Result<AgentCa, AgentTlsError> {
        let mode = std::fs::metadata(key_path)
            .map_err(io_error(key_path))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            tracing::warn!(path = %key_path.display(), mode = format!("{:o}", mode & 0o777), "the agent CA key was readable by others: made 0600");
            std::fs::set_permissions(key_path, std::fs::Permissions::from_mode(0o600))
                .map_err(io_error(key_path))?;
        }
        let key_pem = std::fs::read_to_string(key_path).map_err(io_error(key_path))?;
        let key = KeyPair::from_pem(&key_pem).map_err(|source| AgentTlsError::Key {
            path: key_path.to_path_buf(),
            source,
        })?;
        let cert_pem = std::fs::read_to_string(cert_path).map_err(io_error(cert_path))?;
        Ok(AgentCa {
            cert_pem,
            issuer: Issuer::new(ca_params(), key),
        })
    }

    /// A CA kept in memory only (tests, and listeners made without a data directory).
    pub fn generate() -> Result<AgentCa, AgentTlsError> {
        let key = KeyPair::generate().map_err(AgentTlsError::Certificate)?;
        let mut params = ca_params();
        let now = OffsetDateTime::now_utc();
        params.not_before = now - Duration::days(1);
        params.not_after = now + Duration::days(CA_DAYS);
        let cert = params
            .self_signed(&key)
            .map_err(AgentTlsError::Certificate)?;
        Ok(AgentCa {
            cert_pem: cert.pem(),
            issuer: Issuer::new(params, key),
        })
    }

    /// The CA certificate (PEM), which agents trust.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The server's TLS for the agent listener: a new key and a certificate signed by this CA
    /// naming `names` (host names or IP addresses agents dial).
    pub fn server_tls(&self, names: &[String]) -> Result<AgentTls, AgentTlsError> {
        let key = KeyPair::generate().map_err(AgentTlsError::Certificate)?;
        let mut params =
            CertificateParams::new(names.to_vec()).map_err(AgentTlsError::Certificate)?;
        params
            .distinguished_name
            .push(DnType::CommonName, "kiln agent listener");
        let now = OffsetDateTime::now_utc();
        params.not_before = now - Duration::days(1);
        params.not_after = now + Duration::days(SERVER_DAYS);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(AgentTlsError::Certificate)?;
        let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(AgentTlsError::Tls)?
            .with_no_client_auth()
            .with_single_cert(vec![CertificateDer::from(cert.der().to_vec())], key_der)
            .map_err(AgentTlsError::Tls)?;
        Ok(AgentTls {
            ca_pem: Arc::from(self.cert_pem.as_str()),
            acceptor: TlsAcceptor::from(Arc::new(config)),
        })
    }
}

fn write_file(path: &Path, text: &str, mode: u32) -> Result<(), AgentTlsError> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(io_error(path))?;
    file.write_all(text.as_bytes()).map_err(io_error(path))?;
    file.sync_all().map_err(io_error(path))
}

/// The agent listener's TLS: what it accepts with, and the CA certificate agents get.
#[derive(Clone)]
pub struct AgentTls {
    ca_pem: Arc<str>,
    acceptor: TlsAcceptor,
}

impl std::fmt::Debug for AgentTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentTls").finish_non_exhaustive()
    }
}

impl AgentTls {
    /// The CA certificate (PEM) that goes into each build's Secret.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    pub(crate) fn acceptor(&self) -> &TlsAcceptor {
        &self.acceptor
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_is_made_once_with_a_private_key_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let ca_dir = dir.path().join("agent-ca");
        let made = AgentCa::load_or_create(&ca_dir).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&ca_dir.join(CA_KEY_FILE)), 0o600);
        assert_eq!(mode(&ca_dir), 0o700);
        let again = AgentCa::load_or_create(&ca_dir).unwrap();
        assert_eq!(made.cert_pem(), again.cert_pem());
        assert!(again.server_tls(&["kiln.kiln.svc".to_owned()]).is_ok());
    }

    #[test]
    fn a_half_ca_is_an_error_naming_the_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        AgentCa::load_or_create(dir.path()).unwrap();
        std::fs::remove_file(dir.path().join(CA_KEY_FILE)).unwrap();
        let error = AgentCa::load_or_create(dir.path()).unwrap_err().to_string();
        assert!(error.contains("ca.key is missing"), "{error}");
    }

    #[test]
    fn a_key_readable_by_others_is_made_private() {
        let dir = tempfile::tempdir().unwrap();
        AgentCa::load_or_create(dir.path()).unwrap();
        let key = dir.path().join(CA_KEY_FILE);
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        AgentCa::load_or_create(dir.path()).unwrap();
        let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}
