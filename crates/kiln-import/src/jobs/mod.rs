//! Jenkins jobs: a copy of `$JENKINS_HOME/jobs` (one folder per item with its `config.xml`;
//! folders and multibranch projects hold their children under `jobs/`) read into
//! [`JenkinsJob`]s, with a [`Finding`] for every item or setting kiln does not take.

mod multibranch;
mod pipeline;
mod properties;

use crate::xml::{self, Element};
use crate::{Finding, ImportError};
use std::path::{Path, PathBuf};

/// A pipeline job as kiln will run it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JenkinsJob {
    /// Folder names, then the job's own, as Jenkins named them.
    pub path: Vec<String>,
    /// Where its configuration was read, relative to the jobs folder (for messages).
    pub place: String,
    /// The first line of the job's description.
    pub description: Option<String>,
    pub source: JobSource,
    /// The branch (or, for multibranch projects, a branch pattern such as `*`).
    pub branch: String,
    pub jenkinsfile: String,
    pub multibranch: bool,
    /// Parameter defaults, in the order Jenkins lists them.
    pub parameters: Vec<(String, String)>,
    pub cron: Option<String>,
    pub poll: Option<String>,
    /// Upstream jobs, as Jenkins names them (`folder/job`).
    pub upstream: Vec<String>,
    /// Whether Jenkins ran builds of the job at the same time (no
    /// `DisableConcurrentBuildsJobProperty`).
    pub concurrent: bool,
    pub quiet_period_secs: Option<u64>,
    /// Whether Jenkins built it on a forge's push webhook (`GitHubPushTrigger`,
    /// `GitLabPushTrigger`, a GitHub branch source).
    pub push_trigger: bool,
    pub retention_builds: Option<u64>,
    pub retention_days: Option<u64>,
    /// What the user should know of this job's import (also reported as findings).
    pub notes: Vec<String>,
}

/// Where a job's pipeline comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JobSource {
    /// A git repository (`CpsScmFlowDefinition`, a multibranch project's branch source).
    Git {
        url: String,
        /// The Jenkins credential it was fetched with.
        credentials_id: Option<String>,
    },
    /// A script written in the job's configuration (`CpsFlowDefinition`).
    Inline { script: String },
}

/// Every job under `dir` and the findings of what was not imported. `dir` is a copy of
/// `$JENKINS_HOME/jobs`, or a Jenkins home holding one.
pub fn read_dir(dir: &Path) -> Result<(Vec<JenkinsJob>, Vec<Finding>), ImportError> {
    let root = if !has_items(dir)? && dir.join("jobs").is_dir() {
        dir.join("jobs")
    } else {
        dir.to_path_buf()
    };
    let mut out = Walk::default();
    out.folder(&root, &[], "")?;
    if out.items == 0 {
        return Err(ImportError::NoJobs {
            path: dir.to_path_buf(),
        });
    }
    Ok((out.jobs, out.findings))
}

fn has_items(dir: &Path) -> Result<bool, ImportError> {
    Ok(entries(dir)?.iter().any(|p| p.join("config.xml").is_file()))
}

fn entries(dir: &Path) -> Result<Vec<PathBuf>, ImportError> {
    let read = |source| ImportError::Read {
        path: dir.to_path_buf(),
        source,
    };
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(read)? {
        paths.push(entry.map_err(read)?.path());
    }
    paths.sort();
    Ok(paths)
}

#[derive(Default)]
struct Walk {
    jobs: Vec<JenkinsJob>,
    findings: Vec<Finding>,
    items: usize,
}

/// Folders deeper than this are not followed (Jenkins has no limit, but no real controller
/// comes close; a symlink loop would).
const MAX_FOLDER_DEPTH: usize = 32;

impl Walk {
    fn folder(&mut self, dir: &Path, parents: &[String], place: &str) -> Result<(), ImportError> {
        if parents.len() > MAX_FOLDER_DEPTH {
            self.findings.push(Finding::new(
                place,
                "folder",
                "nested too deeply: its jobs are not imported",
            ));
            return Ok(());
        }
        for item in entries(dir)? {
            let config = item.join("config.xml");
            if !config.is_file() {
                continue;
            }
            let Some(name) = item.file_name().map(|n| n.to_string_lossy().into_owned()) else {
                continue;
            };
            self.items += 1;
            let mut path = parents.to_vec();
            path.push(name.clone());
            let item_place = format!("{place}{name}/config.xml");
            let text = std::fs::read_to_string(&config).map_err(|source| ImportError::Read {
                path: config.clone(),
                source,
            })?;
            match parse_item(&path, &item_place, &text) {
                Item::Job(job, findings) => {
                    self.jobs.push(*job);
                    self.findings.extend(findings);
                }
                Item::Folder(findings) => {
                    self.findings.extend(findings);
                    let children = item.join("jobs");
                    if children.is_dir() {
                        self.folder(&children, &path, &format!("{place}{name}/jobs/"))?;
                    }
                }
                Item::Skipped(findings) => self.findings.extend(findings),
            }
        }
        Ok(())
    }
}

/// What one `config.xml` is.
pub(crate) enum Item {
    Job(Box<JenkinsJob>, Vec<Finding>),
    Folder(Vec<Finding>),
    Skipped(Vec<Finding>),
}

const FOLDER: &str = "com.cloudbees.hudson.plugins.folder.Folder";
const MULTIBRANCH: &str = "org.jenkinsci.plugins.workflow.multibranch.WorkflowMultiBranchProject";

/// Reads one item's configuration; `path` is its folders and name.
pub(crate) fn parse_item(path: &[String], place: &str, text: &str) -> Item {
    let root = match xml::parse(text) {
        Ok(root) => root,
        Err(e) => {
            return Item::Skipped(vec![Finding::new(
                place,
                "job configuration",
                format!("not readable XML (at byte {}): {}", e.offset, e.reason),
            )]);
        }
    };
    match root.name.as_str() {
        "flow-definition" => pipeline::job(path, place, &root),
        MULTIBRANCH => multibranch::job(path, place, &root),
        FOLDER => Item::Folder(folder_findings(place, &root)),
        other => Item::Skipped(vec![Finding::new(
            place,
            format!("item `{}`", path.join("/")),
            unsupported_kind(other),
        )]),
    }
}

fn unsupported_kind(root: &str) -> String {
    let kind = match root {
        "project" => "a freestyle job",
        "maven2-moduleset" => "a Maven job",
        "matrix-project" => "a multi-configuration job",
        "jenkins.branch.OrganizationFolder" => "an organization folder",
        _ => return format!("`{root}` items are not imported: kiln runs Jenkinsfile pipelines"),
    };
    format!("{kind} has no Jenkinsfile; kiln runs pipelines only (write a Jenkinsfile for it)")
}

/// What a folder's own settings hold that kiln does not take (its jobs are imported).
fn folder_findings(place: &str, root: &Element) -> Vec<Finding> {
    let mut out = Vec::new();
    for p in root.child("properties").map_or(&[][..], |p| &p.children) {
        let what = match p.short_class() {
            "FolderLibraries" => "folder-level shared libraries",
            "FolderCredentialsProvider" => "folder-level credentials",
            _ => continue,
        };
        out.push(Finding::new(
            place,
            what,
            "not imported: kiln's libraries and credentials are global (move them to jenkins.yaml or kiln.yaml)",
        ));
    }
    out
}

/// `*/main`, `origin/main`, `refs/heads/main` -> `main`; wildcards stay patterns.
pub(crate) fn branch_name(spec: &str) -> String {
    let s = spec.trim();
    let s = s.strip_prefix("refs/heads/").unwrap_or(s);
    let s = s
        .strip_prefix("*/")
        .or_else(|| s.strip_prefix("origin/"))
        .unwrap_or(s);
    if s == "**" || s.is_empty() {
        "*".to_string()
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branch_specs_become_branch_names() {
        for (spec, want) in [
            ("*/main", "main"),
            ("refs/heads/release/1.x", "release/1.x"),
            ("origin/dev", "dev"),
            ("**", "*"),
            ("*/release/*", "release/*"),
        ] {
            assert_eq!(branch_name(spec), want);
        }
    }
}
