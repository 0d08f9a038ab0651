//! The build's environment: what Jenkins sets for every build, then `environment { }` blocks
//! evaluated in order (so `B = "${A}-x"` sees `A`). A server's local builds start from
//! [`local_base_env`], never from kiln's own environment (its tokens and secrets).

use crate::build::Build;
use crate::error::StepError;
use crate::eval::eval_string;
use crate::scope::Scope;
use crate::steps::{bind_environment_credential, is_file_backed};
use kiln_model::{EnvEntry, EnvValue};
use kiln_script::Value;
use kiln_syntax::ast::{Expr, ExprKind, Stmt, StmtKind, StrPart};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// The variables of kiln's own environment a server's local build sees, besides every
/// `LC_*`: what locates programs and sets the locale, time zone and user name.
pub const PASSED_ENV: &[&str] = &["PATH", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ"];

/// The directory of a local build's temporary files (its `TMPDIR`): `tmp` in the build's
/// `WORKSPACE_TMP`, which only that build's sandbox can reach (`/tmp` is shared by every
/// build). The scheduler creates it empty for each build and removes it after.
pub fn build_tmp_dir(workspace: &Path) -> std::path::PathBuf {
    crate::site::tmp_dir_of(workspace).join("tmp")
}

/// The base environment of a server's local build whose workspace is `workspace`:
/// [`PASSED_ENV`] and `LC_*` taken from `host` (kiln's own environment), `HOME` set to
/// the build's `WORKSPACE_TMP` (`<workspace>@tmp`), `TMPDIR` to [`build_tmp_dir`], then
/// each configured entry
/// (`executors.local.env`): a name alone takes `host`'s value when it has one, a name with a
/// value sets it. Nothing else of `host` (API tokens, `secret_env` credentials) reaches it.
pub fn local_base_env<'a>(
    host: &BTreeMap<String, String>,
    configured: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
    workspace: &Path,
) -> BTreeMap<String, String> {
    let mut env: BTreeMap<String, String> = host
        .iter()
        .filter(|(name, _)| PASSED_ENV.contains(&name.as_str()) || name.starts_with("LC_"))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    env.insert(
        "HOME".to_owned(),
        crate::site::tmp_dir_of(workspace)
            .to_string_lossy()
            .into_owned(),
    );
    env.insert(
        "TMPDIR".to_owned(),
        build_tmp_dir(workspace).to_string_lossy().into_owned(),
    );
    for (name, value) in configured {
        match value {
            Some(value) => {
                env.insert(name.to_owned(), value.to_owned());
            }
            None => {
                if let Some(value) = host.get(name) {
                    env.insert(name.to_owned(), value.clone());
                }
            }
        }
    }
    env
}

/// Used when the base environment has no `PATH`, so `sh` and `git` can still be found.
pub(crate) const DEFAULT_PATH: &str =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// `base_env`, then Jenkins' build variables, the workspace's, the SCM's, and the
/// parameters.
pub(crate) fn base_env(build: &Build) -> BTreeMap<String, String> {
    let mut env = spec_env(&build.spec);
    env.extend(build.site.env());
    for (name, value) in &build.params {
        env.insert(name.clone(), value.as_env());
    }
    env
}

/// `base_env`, then Jenkins' build variables and the SCM's: what the spec alone gives.
pub(crate) fn spec_env(spec: &crate::BuildSpec) -> BTreeMap<String, String> {
    let mut env = spec.base_env.clone();
    env.entry("PATH".to_owned())
        .or_insert_with(|| DEFAULT_PATH.to_owned());
    let number = spec.number.to_string();
    let base_name = spec
        .job_name
        .rsplit('/')
        .next()
        .unwrap_or(&spec.job_name)
        .to_owned();
    let vars = [
        ("BUILD_NUMBER", number.clone()),
        ("BUILD_ID", number.clone()),
        ("BUILD_DISPLAY_NAME", format!("#{number}")),
        ("JOB_NAME", spec.job_name.clone()),
        ("JOB_BASE_NAME", base_name),
        (
            "BUILD_TAG",
            format!("kiln-{}-{number}", spec.job_name.replace('/', "-")),
        ),
        ("EXECUTOR_NUMBER", "0".to_owned()),
    ];
    env.extend(vars.into_iter().map(|(k, v)| (k.to_owned(), v)));
    if let Some(scm) = &spec.scm {
        env.insert("GIT_COMMIT".to_owned(), scm.commit.clone());
        env.insert("GIT_URL".to_owned(), scm.url.clone());
        if let Some(branch) = &scm.branch {
            env.insert("BRANCH_NAME".to_owned(), branch.clone());
            env.insert("GIT_BRANCH".to_owned(), branch.clone());
        }
        if let Some(tag) = &scm.tag {
            env.insert("TAG_NAME".to_owned(), tag.clone());
        }
        for (key, value) in &scm.change {
            let name = if key.starts_with("CHANGE_") {
                key.clone()
            } else {
                format!("CHANGE_{}", key.to_ascii_uppercase())
            };
            env.insert(name, value.clone());
        }
    }
    env
}

/// Evaluates `environment { }` entries into the scope, one after the other.
pub(crate) async fn apply(
    entries: &[EnvEntry],
    build: &Arc<Build>,
    scope: &mut Scope,
) -> Result<(), StepError> {
    for entry in entries {
        let name = &entry.name.value;
        let vars = match &entry.value {
            // A value calling a step (`sh(script: '...', returnStdout: true).trim()`,
            // `tool 'jdk17'`) runs as a script does, with the build's steps.
            EnvValue::Expr(e) if calls_by_name(e) => {
                let stmt = Stmt {
                    kind: StmtKind::Expr(e.clone()),
                    span: e.span,
                };
                let text = match crate::steps::script(build, &[stmt], scope).await? {
                    Value::Str(s) => s,
                    other => other.to_string(),
                };
                vec![(name.clone(), text)]
            }
            EnvValue::Expr(e) => vec![(name.clone(), eval_string(e, build, scope)?)],
            EnvValue::Credentials { id } => {
                let id = eval_string(id, build, scope)?;
                let vars = bind_environment_credential(build, &scope.site, name, &id).await?;
                if is_file_backed(build, &id) {
                    Arc::make_mut(&mut scope.file_credentials).push((name.clone(), id));
                }
                vars
            }
        };
        Arc::make_mut(&mut scope.env).extend(vars);
    }
    Ok(())
}

/// Does `e` call a function or step by name (`sh(...)`, `tool 'x'`, `"${version()}"`)?
fn calls_by_name(e: &Expr) -> bool {
    match &e.kind {
        ExprKind::Call { callee, args, .. } => {
            callee.as_ident().is_some()
                || calls_by_name(callee)
                || args.iter().any(|a| calls_by_name(&a.value))
        }
        ExprKind::Property { target, .. } => calls_by_name(target),
        ExprKind::Index { target, index } => calls_by_name(target) || calls_by_name(index),
        ExprKind::Binary { lhs, rhs, .. } => calls_by_name(lhs) || calls_by_name(rhs),
        ExprKind::Ternary {
            cond,
            then,
            otherwise,
        } => calls_by_name(cond) || calls_by_name(then) || calls_by_name(otherwise),
        ExprKind::Elvis { value, fallback } => calls_by_name(value) || calls_by_name(fallback),
        ExprKind::Unary { expr, .. } | ExprKind::Cast { expr, .. } => calls_by_name(expr),
        ExprKind::List(items) => items.iter().any(calls_by_name),
        ExprKind::Str(s) => s
            .parts
            .iter()
            .any(|p| matches!(p, StrPart::Interp(e) if calls_by_name(e))),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host() -> BTreeMap<String, String> {
        [
            ("PATH", "/usr/bin:/bin"),
            ("HOME", "/home/kiln"),
            ("LANG", "C.UTF-8"),
            ("LC_ALL", "C"),
            ("KILN_ADMIN_TOKEN", "s3cr3t"),
            ("JAVA_HOME", "/opt/jdk"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    #[test]
    fn a_local_build_sees_the_listed_variables_and_its_own_home_only() {
        let env = local_base_env(&host(), [], Path::new("/data/ws/app"));
        let names: Vec<&str> = env.keys().map(String::as_str).collect();
        assert_eq!(names, ["HOME", "LANG", "LC_ALL", "PATH", "TMPDIR"]);
        assert_eq!(env["HOME"], "/data/ws/app@tmp");
        assert_eq!(env["TMPDIR"], "/data/ws/app@tmp/tmp");
    }

    #[test]
    fn configured_entries_pass_a_host_value_or_set_one() {
        let configured = [
            ("JAVA_HOME", None),
            ("MISSING", None),
            ("MAVEN_OPTS", Some("-Xmx1g")),
            ("PATH", Some("/opt/bin")),
        ];
        let env = local_base_env(&host(), configured, Path::new("/ws"));
        assert_eq!(env["JAVA_HOME"], "/opt/jdk");
        assert_eq!(env["MAVEN_OPTS"], "-Xmx1g");
        assert_eq!(env["PATH"], "/opt/bin");
        assert!(!env.contains_key("MISSING") && !env.contains_key("KILN_ADMIN_TOKEN"));
    }
}
