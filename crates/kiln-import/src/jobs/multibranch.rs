//! `WorkflowMultiBranchProject`: a branch source (git, GitHub) whose branches with a
//! Jenkinsfile become jobs; in kiln, one job whose branch is a pattern.

use super::pipeline::blank;
use super::properties::note;
use super::{Item, JenkinsJob, JobSource};
use crate::Finding;
use crate::xml::Element;

pub(crate) fn job(path: &[String], place: &str, root: &Element) -> Item {
    let mut findings = Vec::new();
    let name = path.join("/");
    let mut job = blank(path, place, root);
    job.multibranch = true;
    job.branch = "*".into();
    let sources: Vec<&Element> = root
        .at("sources/data")
        .map(|d| d.children.iter().collect())
        .unwrap_or_default();
    let Some(source) = sources.first().and_then(|b| b.child("source")) else {
        return Item::Skipped(vec![Finding::new(
            place,
            format!("multibranch project `{name}`"),
            "has no branch source",
        )]);
    };
    if let Err(reason) = branch_source(&mut job, &mut findings, source) {
        return Item::Skipped(vec![Finding::new(
            place,
            format!("multibranch project `{name}`"),
            reason,
        )]);
    }
    if sources.len() > 1 {
        note(
            &mut job,
            &mut findings,
            "extra branch sources",
            "only the first is imported",
        );
    }
    if let Some(strategy) = sources.first().and_then(|b| b.at("strategy/properties"))
        && !strategy.children.is_empty()
    {
        note(
            &mut job,
            &mut findings,
            "branch property strategy",
            "not imported: kiln treats every branch alike",
        );
    }
    if let Some(factory) = root.child("factory") {
        if factory.short_class() == "WorkflowBranchProjectFactory" {
            if let Some(p) = factory.text_at("scriptPath") {
                job.jenkinsfile = p;
            }
        } else {
            note(
                &mut job,
                &mut findings,
                format!("project factory `{}`", factory.class()),
                "not imported: kiln reads the Jenkinsfile at the path given",
            );
        }
    }
    for t in root.child("triggers").map_or(&[][..], |t| &t.children) {
        if t.short_class() == "PeriodicFolderTrigger"
            && let Some(spec) = t.text_at("spec")
        {
            job.poll = Some(spec);
        }
    }
    if let Some(orphans) = root.child("orphanedItemStrategy")
        && orphans.bool_at("pruneDeadBranches") == Some(true)
    {
        note(
            &mut job,
            &mut findings,
            "orphaned branch strategy",
            "not imported: kiln keeps the builds of deleted branches under the job's retention",
        );
    }
    Item::Job(Box::new(job), findings)
}

fn branch_source(
    job: &mut JenkinsJob,
    findings: &mut Vec<Finding>,
    source: &Element,
) -> Result<(), String> {
    let url = match source.short_class() {
        "GitSCMSource" => source
            .text_at("remote")
            .ok_or_else(|| "its git branch source has no remote".to_string())?,
        "GitHubSCMSource" => match source.text_at("repositoryUrl") {
            Some(url) => url,
            None => {
                let owner = source.text_at("repoOwner");
                let repo = source.text_at("repository");
                match (owner, repo) {
                    (Some(o), Some(r)) => format!("https://github.com/{o}/{r}.git"),
                    _ => return Err("its GitHub branch source names no repository".into()),
                }
            }
        },
        other => {
            return Err(format!(
                "branch source `{other}` is not imported; kiln reads branches from git"
            ));
        }
    };
    // A GitHub branch source is driven by GitHub's webhook.
    job.push_trigger = source.short_class() == "GitHubSCMSource";
    job.source = JobSource::Git {
        url,
        credentials_id: source.text_at("credentialsId"),
    };
    for t in source.at("traits").map_or(&[][..], |t| &t.children) {
        trait_(job, findings, t);
    }
    Ok(())
}

/// One of a branch source's traits (branch discovery, filters, pull requests).
fn trait_(job: &mut JenkinsJob, findings: &mut Vec<Finding>, t: &Element) {
    match t.short_class() {
        "BranchDiscoveryTrait" => {}
        "WildcardSCMHeadFilterTrait" => {
            let includes = t.text_at("includes").unwrap_or_else(|| "*".into());
            let excludes = t.text_at("excludes").unwrap_or_default();
            let words: Vec<&str> = includes.split_whitespace().collect();
            if let [one] = words.as_slice()
                && excludes.trim().is_empty()
            {
                job.branch = (*one).to_string();
            } else {
                note(
                    job,
                    findings,
                    format!("branch filter (includes `{includes}`, excludes `{excludes}`)"),
                    "kiln takes one branch pattern: all branches are built (narrow `branch:` by hand)",
                );
            }
        }
        "OriginPullRequestDiscoveryTrait" | "ForkPullRequestDiscoveryTrait" => note(
            job,
            findings,
            "pull request discovery",
            "not imported: kiln builds pull requests the forge's webhook delivers (in the jobs of their target branch), it does not scan for them",
        ),
        "TagDiscoveryTrait" => note(
            job,
            findings,
            "tag discovery",
            "not imported: kiln builds branches",
        ),
        _ => note(
            job,
            findings,
            format!("branch source trait `{}`", t.class()),
            "not imported: kiln has no equivalent",
        ),
    }
}
