//! The entry points: text or file -> validated [`Config`].

use crate::reader::Ctx;
use crate::{Config, ConfigError, CredentialKind, SecretSource, Source};
use kiln_diagnostics::{Diagnostic, RenderOptions, SourceFile, render};
use std::path::{Path, PathBuf};

/// Parses and validates a configuration; `name` is the file name shown in diagnostics.
/// Paths in the file are kept as written (relative ones are relative to the working
/// directory); [`load`] makes them relative to the file instead.
pub fn parse(name: &str, text: &str) -> Result<Config, ConfigError> {
    parse_at(name, text, None)
}

/// [`parse`], with relative paths taken relative to `base` when given.
fn parse_at(name: &str, text: &str, base: Option<&Path>) -> Result<Config, ConfigError> {
    let file = SourceFile::new(name, text);
    let root = match kiln_yaml::parse_tree(text) {
        Ok(root) => root,
        Err(e) => {
            return Err(ConfigError::Invalid {
                file,
                diagnostics: vec![e.diagnostic()],
            });
        }
    };
    let mut ctx = Ctx::new(text);
    let (mut cfg, places) = crate::decode::config(&mut ctx, &root);
    let mut diags = ctx.diags;
    diags.extend(crate::validate::check(&cfg, &places));
    diags.sort_by_key(|d| d.primary_span().start);
    if diags.iter().any(Diagnostic::is_error) {
        return Err(ConfigError::Invalid {
            file,
            diagnostics: diags,
        });
    }
    if let Some(base) = base.filter(|b| !b.as_os_str().is_empty()) {
        rebase(&mut cfg, base, places.data_dir_written);
    }
    cfg.warnings = diags
        .iter()
        .map(|d| render(d, &file, RenderOptions::default()))
        .collect();
    for w in &cfg.warnings {
        tracing::debug!(warning = %w, "configuration warning");
    }
    Ok(cfg)
}

/// Reads and parses a configuration file. Relative paths written in it (`data_dir`,
/// `dir`, local `repo` paths, `*_file` secrets) are taken relative to the file's directory.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    let name = path.display().to_string();
    // Relative paths in the file become absolute ones: the server's processes (git, steps)
    // run in other directories, where `examples/../kiln-data` would mean something else.
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let base = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    parse_at(&name, &text, Some(&base))
}

/// Makes the relative paths written in the file relative to `base`.
fn rebase(cfg: &mut Config, base: &Path, data_dir_written: bool) {
    let join = |p: &mut PathBuf| {
        if p.is_relative() {
            *p = base.join(&*p);
        }
    };
    let join_secret = |s: &mut SecretSource| {
        if let SecretSource::File(p) = s
            && p.is_relative()
        {
            *p = base.join(&*p);
        }
    };
    if data_dir_written {
        join(&mut cfg.server.data_dir);
    }
    for p in &mut cfg.executors.local.allow_paths {
        join(p);
    }
    for t in &mut cfg.server.tokens {
        join_secret(&mut t.token);
    }
    let sources = cfg
        .jobs
        .iter_mut()
        .map(|j| &mut j.source)
        .chain(cfg.libraries.iter_mut().map(|l| &mut l.source));
    for source in sources {
        match source {
            Source::Dir(p) => join(p),
            Source::Repo(url) if is_relative_local_path(url) => {
                *url = base.join(&*url).display().to_string();
            }
            Source::Repo(_) => {}
        }
    }
    for job in &mut cfg.jobs {
        if let Some(s) = &mut job.webhook_secret {
            join_secret(s);
        }
    }
    for f in &mut cfg.services.config_files {
        join_secret(&mut f.content);
    }
    for t in &mut cfg.services.tools {
        join(&mut t.home);
    }
    for c in &mut cfg.credentials {
        match &mut c.kind {
            CredentialKind::Secret(s) => join_secret(s),
            CredentialKind::UsernamePassword { password, .. } => join_secret(password),
            CredentialKind::File(p) => join(p),
            CredentialKind::SshKey {
                private_key,
                passphrase,
                ..
            } => {
                join_secret(private_key);
                if let Some(p) = passphrase {
                    join_secret(p);
                }
            }
            CredentialKind::AzureServicePrincipal(sp) => join_secret(&mut sp.client_secret),
        }
    }
}

/// A `repo:` that is a relative filesystem path rather than a URL or `host:path`.
fn is_relative_local_path(url: &str) -> bool {
    if url.contains("://") {
        return false;
    }
    let scp_like = url
        .find(':')
        .is_some_and(|colon| url.find('/').is_none_or(|slash| colon < slash));
    !scp_like && Path::new(url).is_relative()
}
