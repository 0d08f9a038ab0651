//! `flow-definition`: a pipeline job, its Jenkinsfile from git (`CpsScmFlowDefinition`) or
//! written in the job (`CpsFlowDefinition`).

use super::properties::{apply_properties, apply_triggers, note};
use super::{Item, JenkinsJob, JobSource, branch_name};
use crate::Finding;
use crate::xml::Element;

/// A job with everything defaulted as Jenkins does, before its configuration is read.
pub(crate) fn blank(path: &[String], place: &str, root: &Element) -> JenkinsJob {
    JenkinsJob {
        path: path.to_vec(),
        place: place.to_string(),
        description: root
            .text_at("description")
            .and_then(|d| d.lines().next().map(|l| l.trim().to_string())),
        source: JobSource::Inline {
            script: String::new(),
        },
        branch: "main".into(),
        jenkinsfile: "Jenkinsfile".into(),
        multibranch: false,
        parameters: Vec::new(),
        cron: None,
        poll: None,
        upstream: Vec::new(),
        concurrent: true,
        quiet_period_secs: None,
        push_trigger: false,
        retention_builds: None,
        retention_days: None,
        notes: Vec::new(),
    }
}

pub(crate) fn job(path: &[String], place: &str, root: &Element) -> Item {
    let mut findings = Vec::new();
    let name = path.join("/");
    if root.bool_at("disabled") == Some(true) {
        return Item::Skipped(vec![Finding::new(
            place,
            format!("job `{name}`"),
            "disabled in Jenkins: not imported",
        )]);
    }
    let mut job = blank(path, place, root);
    let Some(definition) = root.child("definition") else {
        return Item::Skipped(vec![Finding::new(
            place,
            format!("job `{name}`"),
            "has no pipeline definition",
        )]);
    };
    match definition.short_class() {
        "CpsScmFlowDefinition" => {
            if let Err(reason) = scm_definition(&mut job, &mut findings, definition) {
                return Item::Skipped(vec![Finding::new(place, format!("job `{name}`"), reason)]);
            }
        }
        "CpsFlowDefinition" => {
            let script = definition
                .at("script")
                .map(|s| s.text.clone())
                .unwrap_or_default();
            job.source = JobSource::Inline { script };
            if definition.bool_at("sandbox") == Some(false) {
                note(
                    &mut job,
                    &mut findings,
                    "inline script without the Groovy sandbox",
                    "kiln runs every script in its sandbox; calls Jenkins approved for this job may be refused",
                );
            }
        }
        other => {
            return Item::Skipped(vec![Finding::new(
                place,
                format!("job `{name}`"),
                format!("pipeline definition `{other}` is not imported"),
            )]);
        }
    }
    if let Some(props) = root.child("properties") {
        apply_properties(&mut job, &mut findings, props);
    }
    if let Some(triggers) = root.child("triggers") {
        apply_triggers(&mut job, &mut findings, triggers);
    }
    job.quiet_period_secs = root.text_at("quietPeriod").and_then(|q| q.parse().ok());
    Item::Job(Box::new(job), findings)
}

/// `CpsScmFlowDefinition`: a git repository, a branch and the Jenkinsfile's path.
fn scm_definition(
    job: &mut JenkinsJob,
    findings: &mut Vec<Finding>,
    definition: &Element,
) -> Result<(), String> {
    let scm = definition
        .child("scm")
        .ok_or_else(|| "its pipeline comes from SCM, but no SCM is configured".to_string())?;
    if scm.short_class() != "GitSCM" {
        return Err(format!(
            "its pipeline comes from `{}`; kiln fetches pipelines from git only",
            scm.class()
        ));
    }
    let remotes: Vec<&Element> = scm
        .at("userRemoteConfigs")
        .map(|r| r.children.iter().collect())
        .unwrap_or_default();
    let first = remotes
        .first()
        .ok_or_else(|| "its git SCM has no repository URL".to_string())?;
    let url = first
        .text_at("url")
        .ok_or_else(|| "its git SCM has no repository URL".to_string())?;
    if remotes.len() > 1 {
        note(
            job,
            findings,
            "extra git remotes",
            format!("only the first remote ({url}) is imported"),
        );
    }
    job.source = JobSource::Git {
        url,
        credentials_id: first.text_at("credentialsId"),
    };
    let branches: Vec<String> = scm
        .at("branches")
        .map(|b| {
            b.children
                .iter()
                .filter_map(|s| s.text_at("name"))
                .collect()
        })
        .unwrap_or_default();
    if let Some(b) = branches.first() {
        job.branch = branch_name(b);
        if b.contains('$') {
            note(
                job,
                findings,
                format!("branch `{b}`"),
                "a parameter in the branch is not expanded by kiln: set the branch in kiln.yaml",
            );
        }
    }
    if branches.len() > 1 {
        note(
            job,
            findings,
            "several branch specifiers",
            format!("only the first ({}) is imported", job.branch),
        );
    }
    if let Some(path) = definition.text_at("scriptPath") {
        job.jenkinsfile = path;
    }
    for ext in scm.at("extensions").map_or(&[][..], |e| &e.children) {
        note(
            job,
            findings,
            format!("git extension `{}`", ext.short_class()),
            "not imported: kiln checks out the commit it builds, whole",
        );
    }
    Ok(())
}
