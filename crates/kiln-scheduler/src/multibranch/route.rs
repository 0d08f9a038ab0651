//! A trigger of a multibranch job goes to the child of its branch, tag or change request.

use super::child::{Child, ChildKind};
use crate::error::TriggerError;
use crate::matching::branch_matches;
use crate::request::TriggerRequest;
use crate::shared::Shared;
use kiln_config::{JobConfig, MultibranchConfig};
use kiln_types::JobName;

/// A trigger of a parent, for one of its children (which may be new).
pub(crate) struct Routed {
    pub child: Child,
    pub config: JobConfig,
    pub request: TriggerRequest,
    /// The child did not exist before.
    pub new: bool,
}

/// The child `req` (a trigger of `parent`) builds: its change request, tag or branch, which
/// must be one the job discovers.
pub(crate) fn route(
    shared: &Shared,
    parent: &JobConfig,
    mb: &MultibranchConfig,
    req: &TriggerRequest,
) -> Result<Routed, TriggerError> {
    let job = parent.name.to_string();
    let not_discovered = |what: String| TriggerError::NotDiscovered {
        job: job.clone(),
        what,
    };
    let (child_name, kind) = if let Some(change) = &req.change {
        if !mb.change_requests {
            return Err(not_discovered(format!(
                "change request `{}` (`change_requests: false`)",
                change.branch_name
            )));
        }
        let (Some(target), Some(head)) = (&req.branch, &req.commit) else {
            return Err(not_discovered(format!(
                "change request `{}` without its target and head",
                change.branch_name
            )));
        };
        let kind = ChildKind::Change {
            branch_name: change.branch_name.clone(),
            target: target.clone(),
            head: head.clone(),
            vars: change.vars.clone(),
            fork: change.fork,
            author_key: change.author_key.clone(),
        };
        (change.branch_name.clone(), kind)
    } else if let Some(tag) = &req.tag {
        if !mb.tags.iter().any(|p| branch_matches(p, tag)) {
            return Err(not_discovered(format!("tag `{tag}`")));
        }
        (tag.clone(), ChildKind::Tag { tag: tag.clone() })
    } else if let Some(branch) = &req.branch {
        if !mb.branches.iter().any(|p| branch_matches(p, branch)) {
            return Err(TriggerError::BranchNotMatched {
                job,
                branch: branch.clone(),
                pattern: mb.branches.join("`, `"),
            });
        }
        (
            branch.clone(),
            ChildKind::Branch {
                branch: branch.clone(),
            },
        )
    } else {
        return Err(TriggerError::Multibranch(job));
    };
    let name = JobName::child(&parent.name, &child_name).map_err(|e| {
        not_discovered(format!(
            "`{child_name}`, whose job name would be too long ({e})"
        ))
    })?;
    let old = shared.children.get(&name);
    let child = Child {
        name: name.clone(),
        kind,
        orphaned_at_ms: None,
    };
    let config = child.config(parent);
    let mut request = req.clone();
    request.job = name.to_string();
    if let ChildKind::Change { target, .. } = &child.kind {
        request.branch = Some(target.clone());
    }
    Ok(Routed {
        new: old.is_none(),
        child,
        config,
        request,
    })
}

/// A change child triggered without its request (by hand, by a scan): the request as its
/// last webhook told it, at its head unless a commit is asked for.
pub(crate) fn stored_change(child: &Child, req: &TriggerRequest) -> Option<TriggerRequest> {
    if req.change.is_some() {
        return None;
    }
    let (change, target, head) = child.change_trigger()?;
    let mut req = req.clone();
    req.branch = Some(target.to_owned());
    req.commit = Some(req.commit.unwrap_or_else(|| head.to_owned()));
    req.change = Some(change);
    Some(req)
}
