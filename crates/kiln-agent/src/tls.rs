//! The agent's side of the link's TLS: it trusts kiln's own CA only (its certificate comes
//! in the build's Secret, as `KILN_AGENT_CA`), checks the controller's certificate against
//! the host of `--connect`, and speaks TLS 1.3 with the ring provider. The build's token,
//! sent inside the TLS session, still authenticates the agent.

use crate::controller_url::ControllerUrl;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// The environment variable holding kiln's CA certificate (PEM); not passed to processes.
pub const CA_ENV: &str = "KILN_AGENT_CA";

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{CA_ENV} holds no PEM certificate (kiln's agent CA is expected)")]
    NoCertificate,
    #[error("{CA_ENV} holds an unreadable certificate")]
    BadPem(#[source] rustls::pki_types::pem::Error),
    #[error("{CA_ENV}: kiln's agent CA certificate is not usable as a trust anchor")]
    Anchor(#[source] rustls::Error),
    #[error("TLS setup failed")]
    Setup(#[source] rustls::Error),
    #[error("`{0}` is not a host name or IP address a certificate can name")]
    ServerName(String),
}

/// How an agent opens TLS connections to its controller.
#[derive(Clone)]
pub struct ControllerTls {
    connector: TlsConnector,
    server_name: ServerName<'static>,
}

impl std::fmt::Debug for ControllerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControllerTls")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

impl ControllerTls {
    /// Trusts the certificates in `ca_pem` (and nothing else) for `url`'s host.
    pub fn new(ca_pem: &str, url: &ControllerUrl) -> Result<ControllerTls, TlsError> {
        let mut roots = rustls::RootCertStore::empty();
        let mut any = false;
        for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
            roots
                .add(cert.map_err(TlsError::BadPem)?)
                .map_err(TlsError::Anchor)?;
            any = true;
        }
        if !any {
            return Err(TlsError::NoCertificate);
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(TlsError::Setup)?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let server_name = ServerName::try_from(url.host.clone())
            .map_err(|_| TlsError::ServerName(url.host.clone()))?;
        Ok(ControllerTls {
            connector: TlsConnector::from(Arc::new(config)),
            server_name,
        })
    }

    /// The TLS handshake over `stream`; fails when the controller's certificate is not
    /// signed by kiln's CA or does not name the host.
    pub async fn connect(&self, stream: TcpStream) -> std::io::Result<TlsStream<TcpStream>> {
        self.connector
            .connect(self.server_name.clone(), stream)
            .await
    }
}
