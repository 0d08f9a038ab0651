//! The YAML tree -> [`Config`], section by section, collecting every diagnostic.

use crate::config::{
    Config, ExecutorsConfig, QueueConfig, ScriptsConfig, ServerConfig, ServerLimits,
};
use crate::reader::{Ctx, Fields, list};
use crate::secret::{CredentialConfig, CredentialKind, Role, TokenConfig};
use crate::{LibraryConfig, Source};
use kiln_diagnostics::{Diagnostic, Span, Spanned};
use kiln_yaml::Node;
use std::net::SocketAddr;
use std::path::PathBuf;

const TOP: &[&str] = &[
    "server",
    "executors",
    "queue",
    "scripts",
    "jobs",
    "libraries",
    "credentials",
    "mail",
    "slack",
    "sonarqube",
    "coverity",
    "artifactory",
    "vault",
    "locks",
    "config_files",
    "tools",
    "forges",
    "store",
];
const SERVER: &[&str] = &[
    "listen",
    "data_dir",
    "external_url",
    "tokens",
    "allowed_hosts",
    "limits",
    "public_badges",
];
const LIMITS: &[&str] = &[
    "header_timeout_seconds",
    "body_timeout_seconds",
    "connections_per_client",
];
const TOKEN: &[&str] = &["name", "token", "token_env", "token_file", "role"];
const EXECUTORS: &[&str] = &["local", "kubernetes"];
const QUEUE: &[&str] = &["capacity"];
const SCRIPTS: &[&str] = &["total_time_secs"];
const LIBRARY: &[&str] = &["name", "repo", "dir", "default_version"];
const CREDENTIAL: &[&str] = &[
    "id",
    "secret",
    "secret_env",
    "secret_file",
    "username",
    "password",
    "password_env",
    "password_file",
    "file",
    "private_key",
    "private_key_env",
    "private_key_file",
    "passphrase",
    "passphrase_env",
    "passphrase_file",
    "subscription_id",
    "client_id",
    "client_secret",
    "client_secret_env",
    "client_secret_file",
    "tenant",
    "authentication_endpoint",
    "resource_manager_endpoint",
];

/// Where things were written, for the checks across sections in `validate`.
#[derive(Default)]
pub(crate) struct Places {
    pub listen: Option<Span>,
    pub data_dir_written: bool,
    pub job_names: Vec<Spanned<String>>,
    pub upstream: Vec<Spanned<String>>,
    pub credential_ids: Vec<Spanned<String>>,
    pub library_names: Vec<Spanned<String>>,
    pub token_names: Vec<Spanned<String>>,
    pub sonar_names: Vec<Spanned<String>>,
    pub coverity_names: Vec<Spanned<String>>,
    pub artifactory_ids: Vec<Spanned<String>>,
    pub config_file_ids: Vec<Spanned<String>>,
    pub tool_names: Vec<Spanned<String>>,
    /// Credentials the service sections name.
    pub credential_refs: Vec<Spanned<String>>,
}

/// Decodes the whole tree; problems go to `ctx`.
pub(crate) fn config(ctx: &mut Ctx, root: &Node) -> (Config, Places) {
    let mut cfg = Config::default();
    let mut places = Places::default();
    let Some(top) = Fields::new(ctx, root, "", TOP) else {
        return (cfg, places);
    };
    if let Some(n) = top.get("server") {
        cfg.server = server(ctx, n, &mut places);
    }
    if let Some(n) = top.get("executors") {
        cfg.executors = executors(ctx, n);
    }
    if let Some(n) = top.get("queue") {
        cfg.queue = queue(ctx, n);
    }
    if let Some(n) = top.get("scripts") {
        cfg.scripts = scripts(ctx, n);
    }
    if let Some(n) = top.get("jobs") {
        for (i, item) in list(ctx, n, "jobs").iter().enumerate() {
            if let Some(job) = crate::job_decode::job(ctx, item, i, &mut places) {
                cfg.jobs.push(job);
            }
        }
    }
    if let Some(n) = top.get("libraries") {
        for (i, item) in list(ctx, n, "libraries").iter().enumerate() {
            cfg.libraries.extend(library(ctx, item, i, &mut places));
        }
    }
    if let Some(n) = top.get("credentials") {
        for (i, item) in list(ctx, n, "credentials").iter().enumerate() {
            cfg.credentials
                .extend(credential(ctx, item, i, &mut places));
        }
    }
    cfg.services = crate::services_decode::services(ctx, &top, &mut places);
    crate::tools_decode::build_files(ctx, &top, &mut cfg.services, &mut places);
    if let Some(n) = top.get("locks") {
        cfg.locks = crate::locks::locks(ctx, n);
    }
    if let Some(n) = top.get("forges") {
        cfg.forges = crate::forge_decode::forges(ctx, n, &mut places);
    }
    if let Some(n) = top.get("store") {
        cfg.store = crate::store_decode::store(ctx, n);
    }
    top.finish(ctx);
    (cfg, places)
}

fn server(ctx: &mut Ctx, node: &Node, places: &mut Places) -> ServerConfig {
    let mut out = ServerConfig::default();
    let Some(f) = Fields::new(ctx, node, "server", SERVER) else {
        return out;
    };
    if let Some(n) = f.get("listen") {
        places.listen = Some(n.span);
        if let Some(text) = f.string(ctx, "listen") {
            match text.parse::<SocketAddr>() {
                Ok(addr) => out.listen = addr,
                Err(_) => ctx.error(
                    Diagnostic::error(
                        "invalid-value",
                        "`server.listen` must be an IP address and port such as `127.0.0.1:8080`",
                    )
                    .with_primary(n.span, format!("`{text}` is not an address and port")),
                ),
            }
        }
    }
    if let Some(dir) = f.string(ctx, "data_dir") {
        places.data_dir_written = true;
        out.data_dir = PathBuf::from(dir);
    }
    if let Some(url) = f.string(ctx, "external_url") {
        if url.starts_with("http://") || url.starts_with("https://") {
            out.external_url = Some(url.trim_end_matches('/').to_owned());
        } else if let Some(n) = f.get("external_url") {
            ctx.expected(n, "server.external_url", "an `http://` or `https://` URL");
        }
    }
    if let Some(n) = f.get("tokens") {
        for (i, item) in list(ctx, n, "server.tokens").iter().enumerate() {
            out.tokens.extend(token(ctx, item, i, places));
        }
    }
    if let Some(n) = f.get("allowed_hosts") {
        for (i, item) in list(ctx, n, "server.allowed_hosts").iter().enumerate() {
            let path = format!("server.allowed_hosts[{i}]");
            match crate::reader::string_of(ctx, item, &path) {
                Some(host) if valid_host_pattern(&host) => {
                    out.allowed_hosts.push(host.to_ascii_lowercase());
                }
                Some(_) => ctx.expected(
                    item,
                    &path,
                    "a host name without scheme or port (`ci.example.com`, `.example.com` or `*`)",
                ),
                None => {}
            }
        }
    }
    if let Some(n) = f.get("limits") {
        out.limits = limits(ctx, n);
    }
    if let Some(n) = f.get("public_badges") {
        match n.kind {
            kiln_yaml::NodeKind::Bool(b) => out.public_badges = b,
            _ => ctx.expected(n, "server.public_badges", "`true` or `false`"),
        }
    }
    f.finish(ctx);
    out
}

/// A host name as `allowed_hosts` takes it: no scheme, port, path or spaces.
fn valid_host_pattern(host: &str) -> bool {
    !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '*'))
        && (host == "*" || !host.contains('*'))
}

fn limits(ctx: &mut Ctx, node: &Node) -> ServerLimits {
    let mut out = ServerLimits::default();
    let Some(f) = Fields::new(ctx, node, "server.limits", LIMITS) else {
        return out;
    };
    if let Some(s) = f.number(ctx, "header_timeout_seconds", 1) {
        out.header_timeout_seconds = s;
    }
    if let Some(s) = f.number(ctx, "body_timeout_seconds", 1) {
        out.body_timeout_seconds = s;
    }
    if let Some(n) = f.number(ctx, "connections_per_client", 1) {
        out.connections_per_client = usize::try_from(n).unwrap_or(usize::MAX);
    }
    f.finish(ctx);
    out
}

fn token(ctx: &mut Ctx, node: &Node, i: usize, places: &mut Places) -> Option<TokenConfig> {
    let f = Fields::new(ctx, node, &format!("server.tokens[{i}]"), TOKEN)?;
    let mark = ctx.diags.len();
    let name = f.naming_string(ctx, ("name", "a token"), &mut places.token_names);
    let token = f.secret(ctx, "token");
    if token.is_none() && !ctx.had_errors_since(mark) {
        f.missing(ctx, "token", "a token (or `token_env`, `token_file`)");
    }
    let role = match f.get("role") {
        Some(n) => role(ctx, n, &f.sub("role")),
        None => {
            f.missing(ctx, "role", "a token (`read`, `trigger` or `admin`)");
            None
        }
    };
    f.finish(ctx);
    Some(TokenConfig {
        name: name?,
        token: token?,
        role: role?,
    })
}

fn role(ctx: &mut Ctx, node: &Node, path: &str) -> Option<Role> {
    let (names, from_name) = (&Role::NAMES[..], Role::from_name);
    let must_be = "`read`, `trigger` or `admin`";
    crate::reader::named(ctx, node, path, names, from_name, must_be, "a role")
}

fn executors(ctx: &mut Ctx, node: &Node) -> ExecutorsConfig {
    let mut out = ExecutorsConfig::default();
    let Some(f) = Fields::new(ctx, node, "executors", EXECUTORS) else {
        return out;
    };
    if let Some(n) = f.get("local") {
        out.local = crate::local_decode::local(ctx, n);
    }
    out.kubernetes = f.get("kubernetes").map(Node::to_json);
    f.finish(ctx);
    out
}

fn queue(ctx: &mut Ctx, node: &Node) -> QueueConfig {
    let mut out = QueueConfig::default();
    if let Some(f) = Fields::new(ctx, node, "queue", QUEUE) {
        out.capacity = f
            .number(ctx, "capacity", 1)
            .map(|c| usize::try_from(c).unwrap_or(usize::MAX));
        f.finish(ctx);
    }
    out
}

fn scripts(ctx: &mut Ctx, node: &Node) -> ScriptsConfig {
    let mut out = ScriptsConfig::default();
    if let Some(f) = Fields::new(ctx, node, "scripts", SCRIPTS) {
        out.total_time = f
            .number(ctx, "total_time_secs", 1)
            .map(std::time::Duration::from_secs);
        f.finish(ctx);
    }
    out
}

/// `repo:` or `dir:`, exactly one.
pub(crate) fn source(ctx: &mut Ctx, f: &Fields, what: &str) -> Option<Source> {
    let repo = f.string(ctx, "repo");
    let dir = f.string(ctx, "dir");
    match (repo, dir) {
        (Some(_), Some(_)) => {
            ctx.error(
                Diagnostic::error(
                    "conflicting-keys",
                    format!("{what} has both `repo` and `dir`"),
                )
                .with_primary(f.key_span("dir").unwrap_or(f.span), "give only one")
                .with_secondary(f.key_span("repo").unwrap_or(f.span), "`repo` given here"),
            );
            None
        }
        (Some(repo), None) if !repo.trim().is_empty() => Some(Source::Repo(repo.trim().to_owned())),
        (None, Some(dir)) if !dir.trim().is_empty() => Some(Source::Dir(PathBuf::from(dir.trim()))),
        (None, None) if f.get("repo").is_none() && f.get("dir").is_none() => {
            ctx.error(
                Diagnostic::error("missing-key", format!("{what} has no source")).with_primary(
                    f.head_span(ctx),
                    "expected `repo` (a git URL) or `dir` (a directory)",
                ),
            );
            None
        }
        (Some(_), None) | (None, Some(_)) => {
            let key = if f.get("repo").is_some() {
                "repo"
            } else {
                "dir"
            };
            if let Some(n) = f.get(key) {
                ctx.expected(n, &f.sub(key), "a non-empty string");
            }
            None
        }
        (None, None) => None,
    }
}

fn library(ctx: &mut Ctx, node: &Node, i: usize, places: &mut Places) -> Option<LibraryConfig> {
    let f = Fields::new(ctx, node, &format!("libraries[{i}]"), LIBRARY)?;
    let name = f.naming_string(ctx, ("name", "a library"), &mut places.library_names);
    let source = source(
        ctx,
        &f,
        &format!("library `{}`", name.as_deref().unwrap_or("?")),
    );
    let default_version = f.string(ctx, "default_version");
    f.finish(ctx);
    Some(LibraryConfig {
        name: name?,
        source: source?,
        default_version,
    })
}

fn credential(
    ctx: &mut Ctx,
    node: &Node,
    i: usize,
    places: &mut Places,
) -> Option<CredentialConfig> {
    let f = Fields::new(ctx, node, &format!("credentials[{i}]"), CREDENTIAL)?;
    let id = f.naming_string(ctx, ("id", "a credential"), &mut places.credential_ids);
    let kind = credential_kind(ctx, &f);
    f.finish(ctx);
    Some(CredentialConfig {
        id: id?,
        kind: kind?,
    })
}

/// An Azure service principal: its ids, its secret and the cloud's endpoints.
fn azure_service_principal(ctx: &mut Ctx, f: &Fields) -> Option<CredentialKind> {
    let what = "an Azure service principal credential";
    let subscription_id = f.required_string(ctx, "subscription_id", what);
    let client_id = f.required_string(ctx, "client_id", what);
    let tenant = f.required_string(ctx, "tenant", what);
    let client_secret = f.secret(ctx, "client_secret");
    let mut endpoint = |key: &str| {
        let text = f.string(ctx, key)?;
        if text.starts_with("http://") || text.starts_with("https://") {
            return Some(text);
        }
        if let Some(n) = f.get(key) {
            ctx.expected(n, &f.sub(key), "an `http://` or `https://` URL");
        }
        None
    };
    let authentication_endpoint = endpoint("authentication_endpoint");
    let resource_manager_endpoint = endpoint("resource_manager_endpoint");
    Some(CredentialKind::AzureServicePrincipal(Box::new(
        crate::secret::AzureServicePrincipal {
            subscription_id: subscription_id?,
            client_id: client_id?,
            client_secret: client_secret?,
            tenant: tenant?,
            authentication_endpoint,
            resource_manager_endpoint,
        },
    )))
}

/// Which kind a credential is, from the keys written.
fn credential_kind(ctx: &mut Ctx, f: &Fields) -> Option<CredentialKind> {
    let has = |base: &str| {
        [
            base.to_owned(),
            format!("{base}_env"),
            format!("{base}_file"),
        ]
        .iter()
        .any(|k| f.get(k).is_some())
    };
    let kinds: Vec<&str> = [
        ("secret", has("secret")),
        ("password", has("password")),
        ("file", f.get("file").is_some()),
        ("private_key", has("private_key")),
        ("client_secret", has("client_secret")),
    ]
    .into_iter()
    .filter_map(|(k, present)| present.then_some(k))
    .collect();
    match kinds[..] {
        [] => {
            ctx.error(
                Diagnostic::error("missing-key", format!("`{}` has no value", f.path))
                    .with_primary(f.head_span(ctx), "a credential needs a value")
                    .with_note("help: give `secret` (or `_env`, `_file`), `username` with `password`, `file`, `username` with `private_key`, or an Azure service principal's `client_secret`"),
            );
            None
        }
        ["file"] => f
            .string(ctx, "file")
            .map(|p| CredentialKind::File(PathBuf::from(p))),
        ["password"] => {
            let username = f.required_string(ctx, "username", "a username/password credential");
            let password = f.secret(ctx, "password");
            Some(CredentialKind::UsernamePassword {
                username: username?,
                password: password?,
            })
        }
        ["private_key"] => {
            let username = f.required_string(ctx, "username", "an SSH key credential");
            let private_key = f.secret(ctx, "private_key");
            let passphrase = f.secret(ctx, "passphrase");
            Some(CredentialKind::SshKey {
                username: username?,
                private_key: private_key?,
                passphrase,
            })
        }
        ["client_secret"] => azure_service_principal(ctx, f),
        [_] => f.secret(ctx, "secret").map(CredentialKind::Secret),
        [first, second, ..] => {
            ctx.error(
                Diagnostic::error(
                    "conflicting-keys",
                    format!("`{}` mixes `{first}` and `{second}`", f.path),
                )
                .with_primary(f.head_span(ctx), "a credential has one kind of value"),
            );
            None
        }
    }
}
