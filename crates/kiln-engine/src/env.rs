//! The build's environment: what Jenkins sets for every build, then `environment { }` blocks
//! evaluated in order (so `B = "${A}-x"` sees `A`).

use crate::build::Build;
use crate::error::StepError;
use crate::eval::eval_string;
use crate::scope::Scope;
use crate::steps::{bind_environment_credential, is_file_backed};
use kiln_model::{EnvEntry, EnvValue};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Used when the base environment has no `PATH`, so `sh` and `git` can still be found.
pub(crate) const DEFAULT_PATH: &str =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// `base_env`, then Jenkins' build variables, the SCM's, and the parameters.
pub(crate) fn base_env(build: &Build) -> BTreeMap<String, String> {
    let spec = &build.spec;
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
    env.extend(build.site.env());
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
    for (name, value) in &build.params {
        env.insert(name.clone(), value.as_env());
    }
    env
}

/// Evaluates `environment { }` entries into the scope, one after the other.
pub(crate) async fn apply(
    entries: &[EnvEntry],
    build: &Build,
    scope: &mut Scope,
) -> Result<(), StepError> {
    for entry in entries {
        let name = &entry.name.value;
        let vars = match &entry.value {
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
