//! kiln names from Jenkins names: job names (folders joined with `.`), environment variable
//! names for credentials.

/// The longest job name kiln accepts.
const MAX_JOB_NAME: usize = 100;

/// A kiln job name for the Jenkins item at `path` (folder names, then the job's): letters,
/// digits, `-`, `_` and `.`, folders joined with `.`, other characters made `-`.
pub(crate) fn job_name(path: &[String]) -> String {
    let joined = path
        .iter()
        .map(|part| {
            part.chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                        c
                    } else {
                        '-'
                    }
                })
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join(".");
    let trimmed = joined.trim_start_matches('.');
    let mut name: String = trimmed.chars().take(MAX_JOB_NAME).collect();
    if name.is_empty() {
        name = "job".to_string();
    }
    name
}

/// An environment variable name for a credential's secret: `KILN_SECRET_` and the id in
/// upper case (other characters `_`), with `suffix` (`PASSWORD`, `KEY`) when given.
pub(crate) fn secret_env(id: &str, suffix: Option<&str>) -> String {
    let mut name = String::from("KILN_SECRET_");
    name.extend(id.chars().map(|c| {
        if c.is_ascii_alphanumeric() {
            c.to_ascii_uppercase()
        } else {
            '_'
        }
    }));
    if let Some(s) = suffix {
        name.push('_');
        name.push_str(s);
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_names_keep_folders_and_replace_other_characters() {
        let path = |p: &[&str]| p.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(job_name(&path(&["team a", "app"])), "team-a.app");
        assert_eq!(job_name(&path(&[".hidden"])), "-hidden");
        assert_eq!(job_name(&path(&["ünï"])), "-n-");
        assert_eq!(secret_env("git-token", None), "KILN_SECRET_GIT_TOKEN");
        assert_eq!(
            secret_env("db", Some("PASSWORD")),
            "KILN_SECRET_DB_PASSWORD"
        );
    }
}
