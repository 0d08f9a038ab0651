//! The open pull/merge requests a scan finds through the forge's API (GitHub's pulls,
//! GitLab's merge requests): each gets a child, built when it is new or its head moved since
//! the head its child knows; a request child whose request is not in the list is orphaned.

use super::child::ChildKind;
use crate::forge_status::with_client;
use crate::handle::SchedulerHandle;
use crate::request::{ChangeTrigger, TriggerRequest};
use kiln_config::JobConfig;
use kiln_engine::BuildCause;
use kiln_forge::{ForgeTarget, OpenChange};
use kiln_types::JobName;
use std::collections::{BTreeMap, HashSet};

/// The open requests of `job`'s repository; `None` when the job has no forge (its requests
/// are known by webhooks only); an error says why they could not be listed (then no request
/// child is orphaned by this scan).
pub(crate) async fn list(
    handle: &SchedulerHandle,
    job: &JobConfig,
) -> Result<Option<(ForgeTarget, Vec<OpenChange>)>, String> {
    let config = handle.shared().config();
    let Some(target) = ForgeTarget::resolve(job, &config.forges).map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    let tokens = handle.shared().forge.tokens();
    let listed = with_client(tokens, &config, target.clone(), |c| c.open_changes()).await?;
    Ok(Some((target, listed)))
}

/// Gives each open request its child (building it when new or moved); returns the names of
/// the children of open requests.
pub(crate) async fn discover(
    handle: &SchedulerHandle,
    job: &JobConfig,
    target: &ForgeTarget,
    open: Vec<OpenChange>,
) -> HashSet<JobName> {
    let mut live = HashSet::new();
    for change in open {
        let branch_name = change.branch_name(target.kind);
        let name = match JobName::child(&job.name, &branch_name) {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(job = %job.name, request = %branch_name, error = %e, "a request whose job cannot be named is skipped");
                continue;
            }
        };
        live.insert(name.clone());
        let known = handle.shared().children.get(&name);
        let same_head = known.is_some_and(|c| {
            c.orphaned_at_ms.is_none()
                && matches!(&c.kind, ChildKind::Change { head, .. } if *head == change.head)
        });
        if same_head {
            continue;
        }
        tracing::info!(job = %name, commit = %change.head, "the scan found a new or moved request");
        if let Err(e) = handle.trigger(request(job, branch_name, change)).await {
            tracing::warn!(job = %name, error = %e, "the build of a scanned request was refused");
        }
    }
    live
}

/// The trigger a webhook of the request would have made, with Jenkins' `CHANGE_*`.
fn request(job: &JobConfig, branch_name: String, change: OpenChange) -> TriggerRequest {
    let mut vars = BTreeMap::new();
    vars.insert("CHANGE_ID".to_owned(), change.id.to_string());
    vars.insert("CHANGE_TARGET".to_owned(), change.target.clone());
    vars.insert("CHANGE_BRANCH".to_owned(), change.source_branch);
    vars.insert("CHANGE_TITLE".to_owned(), change.title);
    if let Some(author) = change.author {
        vars.insert("CHANGE_AUTHOR".to_owned(), author);
    }
    let mut req = TriggerRequest::new(job.name.as_str(), BuildCause::Scm)
        .branch(change.target)
        .commit(change.head);
    req.change = Some(ChangeTrigger {
        vars,
        branch_name,
        fork: change.fork,
        author_key: change.author_key,
        judged: None,
    });
    req
}
