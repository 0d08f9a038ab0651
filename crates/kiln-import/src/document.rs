//! The imported kiln.yaml: jobs and controller settings assembled into one commented
//! document, with the inline scripts to write beside it and every finding.

use crate::Finding;
use crate::jcasc::Controller;
use crate::jobs::{JenkinsJob, JobSource};
use crate::names::job_name;
use crate::yaml_out::{Entry, Item, Yaml, write_document};
use std::collections::BTreeMap;

/// The result of an import.
#[derive(Clone, Debug, PartialEq)]
pub struct Imported {
    /// The kiln.yaml text.
    pub text: String,
    /// Jenkinsfiles written in Jenkins jobs, to write beside kiln.yaml (their jobs are `dir:`
    /// jobs reading them).
    pub inline_scripts: Vec<InlineScript>,
    /// The jobs as imported: kiln name and where their Jenkinsfile is.
    pub jobs: Vec<ImportedJob>,
    /// Everything not imported as it was, with the reason.
    pub findings: Vec<Finding>,
}

/// An inline pipeline script and where it goes, relative to kiln.yaml's folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InlineScript {
    pub path: String,
    pub script: String,
}

/// A job of the import, for the audit: its kiln name, its Jenkins path and its source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportedJob {
    pub name: String,
    pub jenkins: JenkinsJob,
}

/// Where inline scripts are written, relative to kiln.yaml.
const INLINE_DIR: &str = "jenkinsfiles";

/// Assembles kiln.yaml from a JCasC file's settings (when given) and the jobs read.
pub fn import(
    controller: Option<&Controller>,
    jobs: &[JenkinsJob],
    mut findings: Vec<Finding>,
) -> Imported {
    if let Some(c) = controller {
        findings.extend(c.findings.iter().cloned());
    }
    let named = name_jobs(jobs, &mut findings);
    let by_path: BTreeMap<String, String> = named
        .iter()
        .map(|j| (j.jenkins.path.join("/"), j.name.clone()))
        .collect();
    let mut inline_scripts = Vec::new();
    let job_items: Vec<Item> = named
        .iter()
        .map(|j| job_item(controller, j, &by_path, &mut inline_scripts, &mut findings))
        .collect();
    let mut doc = Vec::new();
    if let Some(c) = controller {
        settings_before_jobs(c, &mut doc);
    }
    if !job_items.is_empty() {
        doc.push(Entry::new("jobs", Yaml::List(job_items)));
    }
    if let Some(c) = controller {
        settings_after_jobs(c, &mut doc);
    }
    if let Some(first) = doc.first_mut() {
        let mut header = vec![
            "kiln.yaml imported from a Jenkins controller by `kiln import jenkins`.".to_string(),
            "Secrets are not copied: each credential reads an environment variable or a file."
                .to_string(),
        ];
        if findings.is_empty() {
            header.push("Everything found was imported.".into());
        } else {
            header.push(format!("Not imported as it was ({}):", findings.len()));
            header.extend(findings.iter().map(|f| format!("  - {f}")));
        }
        header.push(String::new());
        let mut comments = header;
        comments.append(&mut first.comments);
        first.comments = comments;
    }
    Imported {
        text: write_document(&doc),
        inline_scripts,
        jobs: named,
        findings,
    }
}

/// kiln names for the jobs, made unique.
fn name_jobs(jobs: &[JenkinsJob], findings: &mut Vec<Finding>) -> Vec<ImportedJob> {
    let mut seen = BTreeMap::<String, usize>::new();
    jobs.iter()
        .map(|j| {
            let base = job_name(&j.path);
            let count = seen.entry(base.clone()).or_default();
            *count += 1;
            let name = if *count == 1 {
                base
            } else {
                let renamed = format!("{base}-{count}");
                findings.push(Finding::new(
                    &j.place,
                    format!("job `{}`", j.path.join("/")),
                    format!("its kiln name `{base}` is taken: named `{renamed}`"),
                ));
                renamed
            };
            ImportedJob {
                name,
                jenkins: j.clone(),
            }
        })
        .collect()
}

fn job_item(
    controller: Option<&Controller>,
    j: &ImportedJob,
    by_path: &BTreeMap<String, String>,
    inline: &mut Vec<InlineScript>,
    findings: &mut Vec<Finding>,
) -> Item {
    let job = &j.jenkins;
    let mut out = Vec::new();
    let kind = match (&job.source, job.multibranch) {
        (_, true) => "multibranch project: every branch matching `branch`",
        (JobSource::Inline { .. }, _) => "pipeline written in the job",
        (JobSource::Git { .. }, _) => "pipeline from git",
    };
    let mut name = Entry::new("name", Yaml::str(&j.name))
        .comment(format!("Jenkins: {} ({kind})", job.path.join("/")));
    if let Some(d) = &job.description {
        name = name.comment(d);
    }
    for n in &job.notes {
        name = name.comment(n);
    }
    out.push(name);
    match &job.source {
        JobSource::Git {
            url,
            credentials_id,
        } => {
            let mut repo = Entry::new("repo", Yaml::str(url));
            if let Some(id) = credentials_id {
                let reason = format!(
                    "Jenkins fetched it with credential `{id}`; kiln's git uses the server's own git credentials (SSH agent, credential helper)"
                );
                repo = repo.comment(&reason);
                findings.push(Finding::new(&job.place, "git credentials", reason));
            }
            out.push(repo);
            out.push(Entry::new("branch", Yaml::str(&job.branch)));
            out.push(Entry::new("jenkinsfile", Yaml::str(&job.jenkinsfile)));
        }
        JobSource::Inline { script } => {
            let dir = format!("{INLINE_DIR}/{}", j.name);
            inline.push(InlineScript {
                path: format!("{dir}/Jenkinsfile"),
                script: script.clone(),
            });
            out.push(
                Entry::new("dir", Yaml::str(&dir))
                    .comment("the job's inline script, written to this folder's Jenkinsfile"),
            );
        }
    }
    if !job.parameters.is_empty() {
        let params = job
            .parameters
            .iter()
            .map(|(k, v)| Entry::new(k, Yaml::str(v)))
            .collect();
        out.push(
            Entry::new("parameters", Yaml::Map(params))
                .comment("defaults for the parameters the Jenkinsfile declares"),
        );
    }
    if let Some(triggers) = triggers(j, by_path, findings) {
        out.push(Entry::new("triggers", Yaml::Map(triggers)));
    }
    let concurrency = Entry::new("concurrency", Yaml::Int(1));
    out.push(if job.concurrent {
        concurrency.comment("Jenkins ran builds of this job at once; raise this to do the same")
    } else {
        concurrency.comment("disableConcurrentBuilds()")
    });
    if job.push_trigger
        && let Some(secret) = controller.and_then(|c| c.webhook_secret.as_ref())
    {
        out.push(secret.clone());
    }
    if let Some(q) = job.quiet_period_secs {
        out.push(Entry::new(
            "quiet_period_secs",
            Yaml::Int(i64::try_from(q).unwrap_or(i64::MAX)),
        ));
    }
    let mut retention = Vec::new();
    for (key, value) in [
        ("builds", job.retention_builds),
        ("days", job.retention_days),
    ] {
        if let Some(v) = value {
            retention.push(Entry::new(
                key,
                Yaml::Int(i64::try_from(v).unwrap_or(i64::MAX)),
            ));
        }
    }
    if !retention.is_empty() {
        out.push(Entry::new("retention", Yaml::Map(retention)));
    }
    Item::new(Yaml::Map(out))
}

fn triggers(
    j: &ImportedJob,
    by_path: &BTreeMap<String, String>,
    findings: &mut Vec<Finding>,
) -> Option<Vec<Entry>> {
    let job = &j.jenkins;
    let mut out = Vec::new();
    if let Some(c) = &job.cron {
        out.push(Entry::new("cron", Yaml::str(c)));
    }
    if let Some(p) = &job.poll {
        out.push(Entry::new("poll", Yaml::str(p)));
    }
    let folder = &job.path[..job.path.len().saturating_sub(1)];
    let mut upstream = Vec::new();
    for u in &job.upstream {
        // Jenkins resolves a name relative to the job's folder first, then from the top.
        let relative = folder
            .iter()
            .cloned()
            .chain(u.trim_start_matches('/').split('/').map(str::to_string))
            .collect::<Vec<_>>()
            .join("/");
        match by_path
            .get(&relative)
            .or_else(|| by_path.get(u.trim_start_matches('/')))
        {
            Some(name) => upstream.push(Yaml::str(name)),
            None => findings.push(Finding::new(
                &job.place,
                format!("upstream trigger on `{u}`"),
                "no imported job has that name: not imported",
            )),
        }
    }
    if !upstream.is_empty() {
        out.push(Entry::new("upstream", Yaml::list(upstream)));
    }
    (!out.is_empty()).then_some(out)
}

fn settings_before_jobs(c: &Controller, doc: &mut Vec<Entry>) {
    if let Some(url) = &c.external_url {
        doc.push(Entry::new(
            "server",
            Yaml::Map(vec![Entry::new("external_url", Yaml::str(url))]),
        ));
    }
    let mut local = Vec::new();
    if let Some(n) = c.local_capacity {
        local.push(Entry::new("capacity", Yaml::Int(n)).comment("jenkins.numExecutors"));
    }
    if !c.local_env.is_empty() {
        local.push(
            Entry::new("env", Yaml::list(c.local_env.iter().map(Yaml::str)))
                .comment("the global environment variables of Jenkins' nodes"),
        );
    }
    let mut executors = Vec::new();
    if !local.is_empty() {
        executors.push(Entry::new("local", Yaml::Map(local)));
    }
    if let Some(k) = &c.kubernetes {
        executors.push(
            Entry::new("kubernetes", Yaml::Map(k.clone()))
                .comment("from jenkins.clouds: kiln connects from inside the cluster by default (see docs/kubernetes.md)"),
        );
    }
    if !executors.is_empty() {
        doc.push(Entry::new("executors", Yaml::Map(executors)));
    }
}

fn settings_after_jobs(c: &Controller, doc: &mut Vec<Entry>) {
    let lists = [
        ("libraries", &c.libraries),
        ("credentials", &c.credentials),
        ("sonarqube", &c.sonarqube),
        ("tools", &c.tools),
    ];
    for (key, items) in lists.iter().take(2) {
        if !items.is_empty() {
            doc.push(Entry::new(*key, Yaml::List(items.to_vec())));
        }
    }
    if let Some(mail) = &c.mail {
        doc.push(Entry::new("mail", Yaml::Map(mail.clone())));
    }
    if let Some(slack) = &c.slack {
        doc.push(Entry::new("slack", Yaml::Map(slack.clone())));
    }
    for (key, items) in lists.iter().skip(2) {
        if !items.is_empty() {
            doc.push(Entry::new(*key, Yaml::List(items.to_vec())));
        }
    }
}
