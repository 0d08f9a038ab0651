//! Where steps run: an executor and its workspace. A build starts on the executor it was
//! given; a stage whose agent an [`crate::AgentProvider`] serves moves to a site of its own.

use kiln_executor::Executor;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Clone)]
pub(crate) struct Site {
    pub(crate) executor: Arc<dyn Executor>,
    /// `WORKSPACE`, as the executor sees it.
    pub(crate) workspace: PathBuf,
    /// `WORKSPACE_TMP` (`<workspace>@tmp`, as Jenkins): scripts and secret files go here.
    pub(crate) tmp_dir: PathBuf,
    /// The workspace is the user's own checkout (`kiln run`), which kiln never deletes.
    pub(crate) user_checkout: bool,
    /// Steps here run outside any agent (top-level `agent none`, no stage agent around):
    /// steps that need a workspace refuse, as Jenkins does.
    pub(crate) outside_agent: bool,
    /// A provider gave this site (its stage holds it until the stage is done).
    pub(crate) provided: bool,
}

impl Site {
    pub(crate) fn new(executor: Arc<dyn Executor>) -> Site {
        let workspace = executor.workspace().to_path_buf();
        Site {
            tmp_dir: tmp_dir_of(&workspace),
            workspace,
            executor,
            user_checkout: false,
            outside_agent: false,
            provided: false,
        }
    }

    /// The environment variables that name this site.
    pub(crate) fn env(&self) -> [(String, String); 3] {
        [
            (
                "WORKSPACE".to_owned(),
                self.workspace.to_string_lossy().into_owned(),
            ),
            (
                "WORKSPACE_TMP".to_owned(),
                self.tmp_dir.to_string_lossy().into_owned(),
            ),
            ("NODE_NAME".to_owned(), self.executor.describe()),
        ]
    }
}

/// `<workspace>@tmp`, Jenkins' `WORKSPACE_TMP`.
pub(crate) fn tmp_dir_of(workspace: &Path) -> PathBuf {
    kiln_executor::workspace_tmp(workspace)
}
