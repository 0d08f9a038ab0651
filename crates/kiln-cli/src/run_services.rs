//! The services `kiln run`'s steps talk to: kiln.yaml's `mail`, `slack`, `sonarqube` and
//! `vault` sections (`--config`), with `--smtp-*` / `KILN_SMTP_*` over its `mail:`.

use crate::cli::{RunArgs, SmtpArgs};
use anyhow::bail;
use kiln_config::{MailConfig, MailTls, ServicesConfig};
use kiln_engine::{Credential, CredentialStore};
use std::sync::Arc;

/// The services, and the credentials store with the configuration's credentials after
/// `local`'s.
pub fn services(
    args: &RunArgs,
    local: Arc<dyn CredentialStore>,
) -> anyhow::Result<(ServicesConfig, Arc<dyn CredentialStore>)> {
    let (mut services, credentials) = match &args.config {
        Some(path) => {
            let config = kiln_config::load(path).map_err(|e| {
                anyhow::anyhow!("{}", e.render(kiln_diagnostics::RenderOptions::default()))
            })?;
            let services = config.services.clone();
            let from_config = kiln_scheduler::ConfigCredentials::new(Arc::new(config));
            let chained: Arc<dyn CredentialStore> = Arc::new(Chain(local, from_config));
            (services, chained)
        }
        None => (ServicesConfig::default(), local),
    };
    if let Some(mail) = smtp(&args.smtp, services.mail.take())? {
        services.mail = Some(mail);
    }
    Ok((services, credentials))
}

/// `--smtp-*` over the configuration's `mail:`.
fn smtp(args: &SmtpArgs, configured: Option<MailConfig>) -> anyhow::Result<Option<MailConfig>> {
    let Some(tls) = MailTls::from_name(&args.smtp_tls) else {
        bail!(
            "--smtp-tls must be `none`, `starttls` or `tls`, not `{}`",
            args.smtp_tls
        );
    };
    let Some(host) = args.smtp_host.clone() else {
        return Ok(configured);
    };
    Ok(Some(MailConfig {
        host,
        port: args.smtp_port.unwrap_or_else(|| tls.default_port()),
        from: args.smtp_from.clone(),
        tls,
        credential: args.smtp_credential.clone(),
    }))
}

/// Two credential stores, the first one's ids first.
struct Chain(Arc<dyn CredentialStore>, kiln_scheduler::ConfigCredentials);

impl CredentialStore for Chain {
    fn get(&self, id: &str) -> Option<Credential> {
        self.0.get(id).or_else(|| self.1.get(id))
    }
}
