//! Credentials: `withCredentials([...]) { }` bindings and `credentials('id')` in
//! `environment`, as Jenkins binds them. Every secret is masked in the log from then on.

use super::StepCall;
use crate::Credential;
use crate::build::Build;
use crate::error::StepError;
use crate::eval::eval_string;
use crate::scope::Scope;
use crate::site::Site;
use kiln_script::Value;
use kiln_syntax::ast::{Expr, ExprKind};
use std::path::PathBuf;
use std::sync::Arc;

/// One binding of `withCredentials`, e.g. `string(credentialsId: 'x', variable: 'TOKEN')`.
struct Binding {
    kind: String,
    args: Vec<(String, String)>,
}

impl Binding {
    fn arg(&self, name: &str) -> Result<&str, StepError> {
        self.args
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .ok_or_else(|| {
                StepError::failed(format!("withCredentials: `{}` needs `{name}`", self.kind))
            })
    }

    fn opt(&self, name: &str) -> Option<&str> {
        self.args
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Binds every credential of `withCredentials`: the variables for its block, and the
/// secret files' directories to delete after it.
pub(crate) async fn bind_all(
    call: &StepCall<'_>,
) -> Result<(Vec<(String, String)>, Vec<PathBuf>), StepError> {
    let bindings = bindings(call)?;
    let mut vars = Vec::new();
    let mut files = Vec::new();
    for b in &bindings {
        bind(call.build, &call.scope.site, b, &mut vars, &mut files).await?;
    }
    Ok((vars, files))
}

/// Bindings a script passed: maps made by the binding functions (`string(...)`, ...).
fn script_bindings(value: Option<Value>) -> Result<Vec<Binding>, StepError> {
    let items = match value {
        Some(Value::List(items)) => items,
        Some(one @ Value::Map(_)) => vec![one],
        _ => {
            return Err(StepError::failed(
                "withCredentials needs a list of bindings",
            ));
        }
    };
    items
        .into_iter()
        .map(|item| {
            let kind = item
                .get(super::scripted::DESCRIPTOR_KEY)
                .and_then(Value::as_str)
                .map(str::to_owned);
            let kind = kind.map(|k| class_binding(&k).map_or(k, str::to_owned));
            match (kind, item) {
                (Some(kind), Value::Map(entries)) => Ok(Binding {
                    kind,
                    args: entries
                        .into_iter()
                        .filter(|(k, _)| k != super::scripted::DESCRIPTOR_KEY)
                        .map(|(k, v)| (k, v.to_string()))
                        .collect(),
                }),
                _ => Err(StepError::failed(
                    "withCredentials: expected bindings such as `string(credentialsId: 'id', variable: 'NAME')`",
                )),
            }
        })
        .collect()
}

fn bindings(call: &StepCall<'_>) -> Result<Vec<Binding>, StepError> {
    if let super::Args::Script(_) = call.args {
        return script_bindings(call.value("bindings")?);
    }
    let Some(expr) = call.expr("bindings") else {
        return Err(StepError::failed(
            "withCredentials needs a list of bindings",
        ));
    };
    let items: Vec<&Expr> = match &expr.kind {
        ExprKind::List(items) => items.iter().collect(),
        _ => vec![expr],
    };
    items
        .into_iter()
        .map(|e| binding(e, call.build, call.scope))
        .collect()
}

/// The binding function a `[$class: '...Binding', ...]` map stands for.
fn class_binding(class: &str) -> Option<&'static str> {
    match class {
        "StringBinding" => Some("string"),
        "UsernamePasswordMultiBinding" => Some("usernamePassword"),
        "UsernamePasswordBinding" => Some("usernameColonPassword"),
        "FileBinding" => Some("file"),
        "SSHUserPrivateKeyBinding" => Some("sshUserPrivateKey"),
        "AmazonWebServicesCredentialsBinding" => Some("aws"),
        "AzureCredentialsBinding" => Some("azureServicePrincipal"),
        _ => None,
    }
}

fn binding(expr: &Expr, build: &Build, scope: &Scope) -> Result<Binding, StepError> {
    if let ExprKind::Map(entries) = &expr.kind {
        // `[$class: 'UsernamePasswordMultiBinding', credentialsId: ..., ...]`.
        let mut class = None;
        let mut out = Vec::new();
        for e in entries {
            let kiln_syntax::ast::MapKey::Name(key) = &e.key else {
                continue;
            };
            let value = eval_string(&e.value, build, scope)?;
            if key.name == "$class" {
                class = Some(value);
            } else {
                out.push((key.name.clone(), value));
            }
        }
        let class = class.unwrap_or_default();
        let kind = class_binding(&class).ok_or_else(|| {
            StepError::failed(format!(
                "withCredentials: binding class `{class}` is not supported by kiln (it binds StringBinding, UsernamePasswordMultiBinding, UsernamePasswordBinding, FileBinding, SSHUserPrivateKeyBinding, AmazonWebServicesCredentialsBinding and AzureCredentialsBinding, and the binding functions such as `string(...)`)"
            ))
        })?;
        return Ok(Binding {
            kind: kind.to_owned(),
            args: out,
        });
    }
    let ExprKind::Call { callee, args, .. } = &expr.kind else {
        return Err(StepError::failed(
            "withCredentials: expected bindings such as `string(credentialsId: 'id', variable: 'NAME')`",
        ));
    };
    let kind = callee.as_ident().unwrap_or_default().to_owned();
    let mut out = Vec::new();
    for a in args {
        // A single positional argument is the binding's credential id
        // (`azureServicePrincipal('sp')`), as a script's descriptor keeps it.
        let name = a.name.as_ref().map_or("value", |n| n.name.as_str());
        out.push((name.to_owned(), eval_string(&a.value, build, scope)?));
    }
    Ok(Binding { kind, args: out })
}

/// Binds one credential into `vars`; secret files written are added to `files`.
async fn bind(
    build: &Build,
    site: &Site,
    b: &Binding,
    vars: &mut Vec<(String, String)>,
    files: &mut Vec<PathBuf>,
) -> Result<(), StepError> {
    let id = match b.opt("value") {
        Some(id) if b.opt("credentialsId").is_none() => id,
        _ => b.arg("credentialsId")?,
    };
    let cred = lookup(build, id)?;
    match (b.kind.as_str(), &cred) {
        ("string", Credential::Secret(s)) => vars.push((b.arg("variable")?.to_owned(), s.clone())),
        ("usernamePassword", Credential::UsernamePassword { username, password }) => {
            vars.push((b.arg("usernameVariable")?.to_owned(), username.clone()));
            vars.push((b.arg("passwordVariable")?.to_owned(), password.clone()));
        }
        ("usernameColonPassword", Credential::UsernamePassword { username, password }) => {
            vars.push((
                b.arg("variable")?.to_owned(),
                format!("{username}:{password}"),
            ));
        }
        ("file", Credential::File { name, content }) => {
            let (dir, path) = write_secret_file(build, site, name, content).await?;
            files.push(dir);
            vars.push((
                b.arg("variable")?.to_owned(),
                path.to_string_lossy().into_owned(),
            ));
        }
        ("file", Credential::Secret(s)) => {
            let (dir, path) = write_secret_file(build, site, id, s.as_bytes()).await?;
            files.push(dir);
            vars.push((
                b.arg("variable")?.to_owned(),
                path.to_string_lossy().into_owned(),
            ));
        }
        (
            "sshUserPrivateKey",
            Credential::SshKey {
                username,
                private_key,
                passphrase,
            },
        ) => {
            let (dir, path) = write_secret_file(build, site, "key", private_key.as_bytes()).await?;
            files.push(dir);
            vars.push((
                b.arg("keyFileVariable")?.to_owned(),
                path.to_string_lossy().into_owned(),
            ));
            if let Some(v) = b.opt("usernameVariable") {
                vars.push((v.to_owned(), username.clone()));
            }
            if let Some(v) = b.opt("passphraseVariable") {
                vars.push((v.to_owned(), passphrase.clone().unwrap_or_default()));
            }
        }
        // The AWS Credentials plugin's binding: kiln keeps an access key as a
        // username/password credential (the key ID as the username).
        ("aws", Credential::UsernamePassword { username, password }) => {
            let access = b.opt("accessKeyVariable").unwrap_or("AWS_ACCESS_KEY_ID");
            let secret = b
                .opt("secretKeyVariable")
                .unwrap_or("AWS_SECRET_ACCESS_KEY");
            if b.opt("roleArn").is_some() {
                build.notice_once(
                    "withCredentials: `roleArn` of the aws binding is not supported by kiln; the access key is bound as it is"
                        .to_owned(),
                );
            }
            vars.push((access.to_owned(), username.clone()));
            vars.push((secret.to_owned(), password.clone()));
        }
        // The Azure Credentials plugin's binding, with its default variable names.
        ("azureServicePrincipal", Credential::AzureServicePrincipal(sp)) => {
            let name = |key: &str, default: &str| {
                b.opt(key)
                    .filter(|v| !v.trim().is_empty())
                    .unwrap_or(default)
                    .to_owned()
            };
            vars.push((
                name("subscriptionIdVariable", "AZURE_SUBSCRIPTION_ID"),
                sp.subscription_id.clone(),
            ));
            vars.push((
                name("clientIdVariable", "AZURE_CLIENT_ID"),
                sp.client_id.clone(),
            ));
            vars.push((
                name("clientSecretVariable", "AZURE_CLIENT_SECRET"),
                sp.client_secret.clone(),
            ));
            vars.push((
                name("tenantIdVariable", "AZURE_TENANT_ID"),
                sp.tenant.clone(),
            ));
        }
        (
            "string"
            | "usernamePassword"
            | "usernameColonPassword"
            | "file"
            | "sshUserPrivateKey"
            | "aws"
            | "azureServicePrincipal",
            _,
        ) => {
            return Err(StepError::failed(format!(
                "withCredentials: credentials `{id}` are {}, which `{}` cannot bind",
                describe(&cred),
                b.kind
            )));
        }
        (other, _) => {
            return Err(StepError::failed(format!(
                "withCredentials: binding `{other}` is not supported (kiln binds string, usernamePassword, usernameColonPassword, file, sshUserPrivateKey, aws and azureServicePrincipal)"
            )));
        }
    }
    Ok(())
}

/// `NAME = credentials('id')` in `environment`: Jenkins' variables for each credential type.
pub(crate) async fn bind_environment_credential(
    build: &Build,
    site: &Site,
    name: &str,
    id: &str,
) -> Result<Vec<(String, String)>, StepError> {
    let cred = lookup(build, id)?;
    Ok(match &cred {
        Credential::Secret(s) => vec![(name.to_owned(), s.clone())],
        Credential::UsernamePassword { username, password } => vec![
            (name.to_owned(), format!("{username}:{password}")),
            (format!("{name}_USR"), username.clone()),
            (format!("{name}_PSW"), password.clone()),
        ],
        Credential::File {
            name: file,
            content,
        } => {
            let (_, path) = write_secret_file(build, site, file, content).await?;
            vec![(name.to_owned(), path.to_string_lossy().into_owned())]
        }
        Credential::SshKey {
            username,
            private_key,
            passphrase,
        } => {
            let (_, path) = write_secret_file(build, site, "key", private_key.as_bytes()).await?;
            let mut vars = vec![
                (name.to_owned(), path.to_string_lossy().into_owned()),
                (format!("{name}_USR"), username.clone()),
            ];
            vars.extend(passphrase.clone().map(|p| (format!("{name}_PSW"), p)));
            vars
        }
        // Jenkins' `credentials()` has no handler for this type either.
        Credential::AzureServicePrincipal(_) => {
            return Err(StepError::failed(format!(
                "credentials('{id}'): an Azure service principal cannot be bound by `credentials()` in `environment` (use `withCredentials([azureServicePrincipal('{id}')])`)"
            )));
        }
    })
}

/// Whether credential `id` binds as a file path (a secret file or an SSH key).
pub(crate) fn is_file_backed(build: &Build, id: &str) -> bool {
    matches!(
        build.spec.credentials.get(id),
        Some(Credential::File { .. } | Credential::SshKey { .. })
    )
}

/// Writes the file-backed credentials of the enclosing `environment` blocks again on the
/// scope's site (a stage agent's own executor), pointing their variables at the new files.
pub(crate) async fn rebind_file_credentials(
    build: &Build,
    scope: &mut Scope,
) -> Result<(), StepError> {
    let bindings = Arc::clone(&scope.file_credentials);
    for (name, id) in bindings.iter() {
        let vars = bind_environment_credential(build, &scope.site, name, id).await?;
        Arc::make_mut(&mut scope.env).extend(vars);
    }
    Ok(())
}

/// A username/password credential's parts (masked from now on), or an error naming what
/// the id is instead.
pub(crate) fn username_password(build: &Build, id: &str) -> Result<(String, String), StepError> {
    match lookup(build, id)? {
        Credential::UsernamePassword { username, password } => Ok((username, password)),
        other => Err(StepError::failed(format!(
            "credentials `{id}` are {}, not a username with password",
            describe(&other)
        ))),
    }
}

/// Looks a credential up and starts masking its secrets.
pub(crate) fn lookup(build: &Build, id: &str) -> Result<Credential, StepError> {
    let cred = build.spec.credentials.get(id).ok_or_else(|| {
        StepError::failed(format!("could not find credentials entry with ID '{id}'"))
    })?;
    build.add_secrets(cred.secrets());
    Ok(cred)
}

fn describe(cred: &Credential) -> &'static str {
    match cred {
        Credential::Secret(_) => "secret text",
        Credential::UsernamePassword { .. } => "a username with password",
        Credential::File { .. } => "a secret file",
        Credential::SshKey { .. } => "an SSH private key",
        Credential::AzureServicePrincipal(_) => "an Azure service principal",
    }
}

/// The directory where this build's secret files live on `site` (removed when the build
/// ends, or when a stage's own site is released).
fn secrets_root(build: &Build, site: &Site) -> PathBuf {
    site.tmp_dir
        .join(format!("secretFiles-{}", build.spec.number))
}

/// Writes a secret into its own directory; returns the directory and the file.
async fn write_secret_file(
    build: &Build,
    site: &Site,
    name: &str,
    content: &[u8],
) -> Result<(PathBuf, PathBuf), StepError> {
    let dir = secrets_root(build, site).join(build.next_id().to_string());
    let file_name = std::path::Path::new(name)
        .file_name()
        .map_or_else(|| "secret".into(), |n| n.to_os_string());
    let path = dir.join(file_name);
    site.executor.write_file(&path, content).await?;
    Ok((dir, path))
}

/// Deletes every secret file of the build on `site`.
pub(crate) async fn remove_secret_files(build: &Build, site: &Site) {
    if let Err(e) = site.executor.delete_dir(&secrets_root(build, site)).await {
        tracing::warn!(error = %crate::error::error_chain(&e), "could not delete the build's secret files");
    }
}
