//! One child of a multibranch job: what it builds, and its job configuration.

use crate::request::ChangeTrigger;
use kiln_config::JobConfig;
use kiln_types::JobName;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A branch, tag or change request with a job of its own.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Child {
    pub name: JobName,
    pub kind: ChildKind,
    /// When its branch, tag or request was found gone (ms since the epoch).
    #[serde(default)]
    pub orphaned_at_ms: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum ChildKind {
    Branch {
        branch: String,
    },
    Tag {
        tag: String,
    },
    /// A pull or merge request, as its last webhook told it.
    Change {
        /// `PR-42` / `MR-42`.
        branch_name: String,
        target: String,
        head: String,
        vars: BTreeMap<String, String>,
        fork: bool,
        #[serde(default)]
        author_key: Option<String>,
    },
}

impl Child {
    /// The parent's name.
    pub(crate) fn parent(&self) -> &str {
        self.name.parent().unwrap_or_default()
    }

    /// What the forge and the log call it: the branch, the tag, or `PR-42`.
    pub(crate) fn source_name(&self) -> &str {
        match &self.kind {
            ChildKind::Branch { branch } => branch,
            ChildKind::Tag { tag } => tag,
            ChildKind::Change { branch_name, .. } => branch_name,
        }
    }

    /// The child's job: the parent's, for one branch (a change request: its target; a tag:
    /// the tag, with `TAG_NAME`), without triggers of its own (the Jenkinsfile's apply).
    pub(crate) fn config(&self, parent: &JobConfig) -> JobConfig {
        let (branch, tag) = match &self.kind {
            ChildKind::Branch { branch } => (branch.clone(), None),
            ChildKind::Tag { tag } => (tag.clone(), Some(tag.clone())),
            ChildKind::Change { target, .. } => (target.clone(), None),
        };
        JobConfig {
            name: self.name.clone(),
            branch,
            tag,
            multibranch: None,
            triggers: Default::default(),
            ..parent.clone()
        }
    }

    /// The request a change child builds.
    pub(crate) fn change_trigger(&self) -> Option<(ChangeTrigger, &str, &str)> {
        match &self.kind {
            ChildKind::Change {
                branch_name,
                target,
                head,
                vars,
                fork,
                author_key,
            } => Some((
                ChangeTrigger {
                    vars: vars.clone(),
                    branch_name: branch_name.clone(),
                    fork: *fork,
                    judged: None,
                    author_key: author_key.clone(),
                },
                target,
                head,
            )),
            _ => None,
        }
    }
}
