//! The YAML tree -> [`ServicesConfig`]: `mail:`, `slack:`, `sonarqube:`, `coverity:`,
//! `artifactory:` and `vault:`.

use crate::decode::Places;
use crate::reader::{Ctx, Fields, list};
use crate::services::{
    ArtifactoryConfig, CoverityConfig, MailConfig, MailTls, ServicesConfig, SlackConfig,
    SonarQubeConfig, VaultConfig,
};
use kiln_diagnostics::Spanned;
use kiln_yaml::Node;

const MAIL: &[&str] = &["host", "port", "from", "tls", "credential"];
const SLACK: &[&str] = &[
    "base_url",
    "team_domain",
    "credential",
    "channel",
    "bot_user",
];
const SONAR: &[&str] = &["name", "url", "credential", "additional_properties"];
const COVERITY: &[&str] = &["name", "host", "port", "credential"];
const ARTIFACTORY: &[&str] = &["id", "url", "credential"];
const VAULT: &[&str] = &["url", "credential", "engine_version", "namespace"];

/// Decodes the service sections present in `top`.
pub(crate) fn services(ctx: &mut Ctx, top: &Fields, places: &mut Places) -> ServicesConfig {
    let mut out = ServicesConfig::default();
    if let Some(n) = top.get("mail") {
        out.mail = mail(ctx, n, places);
    }
    if let Some(n) = top.get("slack") {
        out.slack = slack(ctx, n, places);
    }
    if let Some(n) = top.get("sonarqube") {
        for (i, item) in list(ctx, n, "sonarqube").iter().enumerate() {
            out.sonarqube.extend(sonarqube(ctx, item, i, places));
        }
    }
    if let Some(n) = top.get("coverity") {
        for (i, item) in list(ctx, n, "coverity").iter().enumerate() {
            out.coverity.extend(coverity(ctx, item, i, places));
        }
    }
    if let Some(n) = top.get("artifactory") {
        for (i, item) in list(ctx, n, "artifactory").iter().enumerate() {
            out.artifactory.extend(artifactory(ctx, item, i, places));
        }
    }
    if let Some(n) = top.get("vault") {
        out.vault = vault(ctx, n, places);
    }
    out
}

fn mail(ctx: &mut Ctx, node: &Node, places: &mut Places) -> Option<MailConfig> {
    let f = Fields::new(ctx, node, "mail", MAIL)?;
    let host = f.required_string(ctx, "host", "the SMTP server's host name");
    let tls = match f.get("tls") {
        Some(n) => tls(ctx, n, &f.sub("tls")),
        None => Some(MailTls::None),
    };
    let port = f.number(ctx, "port", 1).map(|p| u16::try_from(p).ok());
    if let (Some(None), Some(n)) = (port, f.get("port")) {
        ctx.expected(n, "mail.port", "a port number (1 to 65535)");
    }
    let from = f.string(ctx, "from");
    let credential = credential_ref(ctx, &f, places);
    f.finish(ctx);
    let tls = tls?;
    Some(MailConfig {
        host: host?,
        port: port.flatten().unwrap_or_else(|| tls.default_port()),
        from,
        tls,
        credential,
    })
}

fn tls(ctx: &mut Ctx, node: &Node, path: &str) -> Option<MailTls> {
    let (names, from_name) = (MailTls::NAMES, MailTls::from_name);
    let must_be = "`none`, `starttls` or `tls`";
    crate::reader::named(ctx, node, path, names, from_name, must_be, "a TLS mode")
}

fn slack(ctx: &mut Ctx, node: &Node, places: &mut Places) -> Option<SlackConfig> {
    let f = Fields::new(ctx, node, "slack", SLACK)?;
    let base_url = url(ctx, &f, "base_url");
    let bot_user = match f.string(ctx, "bot_user").as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => {
            if let Some(n) = f.get("bot_user") {
                ctx.expected(n, "slack.bot_user", "`true` or `false`");
            }
            false
        }
    };
    let out = SlackConfig {
        base_url,
        team_domain: f.string(ctx, "team_domain"),
        credential: credential_ref(ctx, &f, places),
        channel: f.string(ctx, "channel"),
        bot_user,
    };
    f.finish(ctx);
    Some(out)
}

fn sonarqube(ctx: &mut Ctx, node: &Node, i: usize, places: &mut Places) -> Option<SonarQubeConfig> {
    let f = Fields::new(ctx, node, &format!("sonarqube[{i}]"), SONAR)?;
    let name = f.naming_string(ctx, ("name", "a SonarQube server"), &mut places.sonar_names);
    if f.get("url").is_none() {
        f.missing(ctx, "url", "a SonarQube server");
    }
    let url = url(ctx, &f, "url");
    let credential = credential_ref(ctx, &f, places);
    let additional_properties = f.string(ctx, "additional_properties");
    f.finish(ctx);
    Some(SonarQubeConfig {
        name: name?,
        url: url?,
        credential,
        additional_properties,
    })
}

fn coverity(ctx: &mut Ctx, node: &Node, i: usize, places: &mut Places) -> Option<CoverityConfig> {
    let path = format!("coverity[{i}]");
    let f = Fields::new(ctx, node, &path, COVERITY)?;
    let what = "a Coverity Connect instance";
    let name = f.naming_string(ctx, ("name", what), &mut places.coverity_names);
    let host = f.required_string(ctx, "host", what);
    // The plugin's default port is Coverity Connect's, 8080.
    let port = match f.get("port") {
        None => Some(8080),
        Some(n) => match f.number(ctx, "port", 1).map(u16::try_from) {
            Some(Ok(p)) => Some(p),
            Some(Err(_)) => {
                ctx.expected(n, &f.sub("port"), "a port number (1 to 65535)");
                None
            }
            None => None,
        },
    };
    let credential = credential_ref(ctx, &f, places);
    f.finish(ctx);
    Some(CoverityConfig {
        name: name?,
        host: host?,
        port: port?,
        credential,
    })
}

fn artifactory(
    ctx: &mut Ctx,
    node: &Node,
    i: usize,
    places: &mut Places,
) -> Option<ArtifactoryConfig> {
    let f = Fields::new(ctx, node, &format!("artifactory[{i}]"), ARTIFACTORY)?;
    let id = f.naming_string(
        ctx,
        ("id", "an Artifactory server"),
        &mut places.artifactory_ids,
    );
    if f.get("url").is_none() {
        f.missing(ctx, "url", "an Artifactory server");
    }
    let url = url(ctx, &f, "url");
    let credential = credential_ref(ctx, &f, places);
    f.finish(ctx);
    Some(ArtifactoryConfig {
        id: id?,
        url: url?,
        credential,
    })
}

fn vault(ctx: &mut Ctx, node: &Node, places: &mut Places) -> Option<VaultConfig> {
    let f = Fields::new(ctx, node, "vault", VAULT)?;
    if f.get("url").is_none() {
        f.missing(ctx, "url", "Vault's address");
    }
    let url = url(ctx, &f, "url");
    let engine_version = match f.number(ctx, "engine_version", 1) {
        None => Some(2),
        Some(v @ (1 | 2)) => u8::try_from(v).ok(),
        Some(_) => {
            if let Some(n) = f.get("engine_version") {
                ctx.expected(n, "vault.engine_version", "1 or 2");
            }
            None
        }
    };
    let credential = credential_ref(ctx, &f, places);
    let namespace = f.string(ctx, "namespace");
    f.finish(ctx);
    Some(VaultConfig {
        url: url?,
        credential,
        engine_version: engine_version?,
        namespace,
    })
}

/// An `http://` or `https://` URL, without a trailing slash.
fn url(ctx: &mut Ctx, f: &Fields, key: &str) -> Option<String> {
    let text = f.string(ctx, key)?;
    if text.starts_with("http://") || text.starts_with("https://") {
        return Some(text.trim_end_matches('/').to_owned());
    }
    if let Some(n) = f.get(key) {
        ctx.expected(n, &f.sub(key), "an `http://` or `https://` URL");
    }
    None
}

/// `credential: ID`, remembered so `validate` checks that `credentials[]` has it.
fn credential_ref(ctx: &mut Ctx, f: &Fields, places: &mut Places) -> Option<String> {
    let id = f.string(ctx, "credential")?;
    if let Some(n) = f.get("credential") {
        places
            .credential_refs
            .push(Spanned::new(id.clone(), n.span));
    }
    Some(id)
}
