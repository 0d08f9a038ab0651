//! The audit: kiln's linter over every job's Jenkinsfile, grouped into one report (jobs
//! that run unchanged; per missing step, directive or option, the jobs that use it; jobs
//! whose pipeline kiln rejects; jobs whose Jenkinsfile could not be read).

use kiln_diagnostics::{Diagnostic, Severity};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// What could be learned of one job's Jenkinsfile.
#[derive(Clone, Debug)]
pub enum JobLint {
    /// The Jenkinsfile was read and linted.
    Linted(Vec<Diagnostic>),
    /// It could not be read (no checkout given, git failed, no such file).
    Unreachable(String),
}

/// The whole report.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct AuditReport {
    /// Jobs whose Jenkinsfile kiln runs as it is.
    pub unchanged: Vec<String>,
    /// What kiln lacks, each with the jobs that use it.
    pub missing: Vec<Missing>,
    /// Jobs whose pipeline kiln rejects for another reason, with the messages.
    pub invalid: Vec<Invalid>,
    /// Jobs whose Jenkinsfile was not read, with the reason.
    pub unreachable: Vec<Unreachable>,
}

/// A step, directive, option (...) kiln does not provide.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Missing {
    /// `step`, `directive`, `option`, `trigger`, `parameter`, `agent`, `condition`, `tool`.
    pub kind: String,
    pub name: String,
    pub jobs: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Invalid {
    pub job: String,
    pub errors: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Unreachable {
    pub job: String,
    pub reason: String,
}

/// The kind of missing feature a diagnostic code reports, if it reports one.
fn missing_kind(code: &str) -> Option<&'static str> {
    Some(match code {
        c if c == kiln_model::UNSUPPORTED_STEP || c == kiln_model::UNKNOWN_STEP => "step",
        "unknown-directive" => "directive",
        "unknown-option" => "option",
        "unknown-trigger" | "unsupported-trigger" => "trigger",
        "unknown-parameter" | "plugin-parameter" => "parameter",
        "unknown-agent" | "unknown-agent-option" => "agent",
        "unknown-condition" | "unknown-post-condition" => "condition",
        "unknown-tool-type" => "tool",
        _ => return None,
    })
}

/// The first `name` quoted in a message (`unknown directive `foo``).
fn quoted_name(message: &str) -> String {
    message
        .split('`')
        .nth(1)
        .map_or_else(|| message.to_string(), str::to_string)
}

/// Groups the lints of `jobs` (kiln job name, result) into the report.
pub fn report(jobs: &[(String, JobLint)]) -> AuditReport {
    let mut out = AuditReport::default();
    let mut missing: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for (job, lint) in jobs {
        let diagnostics = match lint {
            JobLint::Unreachable(reason) => {
                out.unreachable.push(Unreachable {
                    job: job.clone(),
                    reason: reason.clone(),
                });
                continue;
            }
            JobLint::Linted(d) => d,
        };
        let mut clean = true;
        let mut errors = Vec::new();
        for d in diagnostics {
            if let Some(kind) = missing_kind(d.code) {
                clean = false;
                let users = missing
                    .entry((kind.to_string(), quoted_name(&d.message)))
                    .or_default();
                if !users.contains(job) {
                    users.push(job.clone());
                }
            } else if d.severity == Severity::Error {
                clean = false;
                errors.push(d.message.clone());
            }
        }
        if !errors.is_empty() {
            out.invalid.push(Invalid {
                job: job.clone(),
                errors,
            });
        }
        if clean {
            out.unchanged.push(job.clone());
        }
    }
    let mut list: Vec<Missing> = missing
        .into_iter()
        .map(|((kind, name), jobs)| Missing { kind, name, jobs })
        .collect();
    // The most used first: what to add to kiln (or change in the Jenkinsfiles) first.
    list.sort_by(|a, b| {
        b.jobs
            .len()
            .cmp(&a.jobs.len())
            .then(a.kind.cmp(&b.kind))
            .then(a.name.cmp(&b.name))
    });
    out.missing = list;
    out
}

impl AuditReport {
    /// The report as text.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let total = self.unchanged.len()
            + self.invalid.len()
            + self.unreachable.len()
            + self.changed_only_by_missing();
        let _ = writeln!(
            s,
            "{} of {total} jobs run on kiln unchanged",
            self.unchanged.len()
        );
        for j in &self.unchanged {
            let _ = writeln!(s, "  {j}");
        }
        if !self.missing.is_empty() {
            let _ = writeln!(s, "\nnot provided by kiln:");
            for m in &self.missing {
                let _ = writeln!(
                    s,
                    "  {} `{}` used by {}: {}",
                    m.kind,
                    m.name,
                    count(m.jobs.len()),
                    m.jobs.join(", ")
                );
            }
        }
        if !self.invalid.is_empty() {
            let _ = writeln!(s, "\ninvalid for kiln:");
            for i in &self.invalid {
                let _ = writeln!(s, "  {}: {}", i.job, i.errors.join("; "));
            }
        }
        if !self.unreachable.is_empty() {
            let _ = writeln!(s, "\nnot checked:");
            for u in &self.unreachable {
                let _ = writeln!(s, "  {}: {}", u.job, u.reason);
            }
        }
        s
    }

    /// Jobs held back only by missing features (not invalid, not unreachable).
    fn changed_only_by_missing(&self) -> usize {
        let mut jobs: Vec<&String> = self.missing.iter().flat_map(|m| &m.jobs).collect();
        jobs.sort();
        jobs.dedup();
        jobs.iter()
            .filter(|j| !self.invalid.iter().any(|i| &&i.job == *j))
            .count()
    }
}

fn count(n: usize) -> String {
    if n == 1 {
        "1 job".into()
    } else {
        format!("{n} jobs")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lint(text: &str) -> JobLint {
        JobLint::Linted(kiln_model::load(text).1)
    }

    #[test]
    fn groups_missing_features_by_the_jobs_using_them() {
        let good = "pipeline { agent any; stages { stage('a') { steps { sh 'true' } } } }";
        let plugin = "pipeline { agent any; stages { stage('a') { steps { nexusArtifactUploader artifacts: [] } } } }";
        let both = "pipeline { agent any; options { bogusOption() }; stages { stage('a') { steps { nexusArtifactUploader artifacts: [] } } } }";
        let report = report(&[
            ("good".into(), lint(good)),
            ("plugin".into(), lint(plugin)),
            ("both".into(), lint(both)),
            ("gone".into(), JobLint::Unreachable("no checkout".into())),
        ]);
        insta::assert_snapshot!(report.render(), @r"
        1 of 4 jobs run on kiln unchanged
          good

        not provided by kiln:
          step `nexusArtifactUploader` used by 2 jobs: plugin, both
          option `bogusOption` used by 1 job: both

        not checked:
          gone: no checkout
        ");
    }
}
