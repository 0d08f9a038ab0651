//! GitHub's Checks API, for a forge connected as a GitHub App: a build's check run is
//! created (`POST /repos/{owner}/{repo}/check-runs`) and then moved along
//! (`PATCH /repos/{owner}/{repo}/check-runs/{id}`) to its conclusion with a summary.

use crate::app::{bad, json_field};
use crate::client::{ForgeClient, ForgeError};
use crate::{CommitStatus, StatusState};

impl StatusState {
    /// A check run's `status` and, once completed, its `conclusion`.
    pub fn check_run_state(self) -> (&'static str, Option<&'static str>) {
        match self {
            StatusState::Pending => ("queued", None),
            StatusState::Running => ("in_progress", None),
            StatusState::Success => ("completed", Some("success")),
            StatusState::Failure => ("completed", Some("failure")),
            StatusState::Error => ("completed", Some("cancelled")),
            StatusState::Skipped => ("completed", Some("skipped")),
        }
    }
}

impl ForgeClient {
    /// Creates the check run of `status` (named by its context, on its commit), or moves the
    /// one created before (`existing`); returns its id. The client's token must be an
    /// installation token of the app.
    pub fn check_run(
        &self,
        existing: Option<u64>,
        status: &CommitStatus,
    ) -> Result<u64, ForgeError> {
        let (state, conclusion) = status.state.check_run_state();
        let mut body = serde_json::json!({
            "name": status.context,
            "status": state,
            "output": { "title": status.description, "summary": summary(status) },
        });
        if let Some(url) = &status.target_url {
            body["details_url"] = url.clone().into();
        }
        if let Some(c) = conclusion {
            body["conclusion"] = c.into();
        }
        let base = format!("{}/check-runs", self.repo_base());
        let (method, url) = match existing {
            Some(id) => ("PATCH", format!("{base}/{id}")),
            None => {
                body["head_sha"] = status.sha.clone().into();
                ("POST", base)
            }
        };
        let text = self.call_json(method, &url, body.to_string())?;
        json_field(&url, &text, "id")?
            .as_u64()
            .ok_or_else(|| bad(&url, "no check run `id` number"))
    }
}

fn summary(status: &CommitStatus) -> String {
    match &status.target_url {
        Some(url) => format!("{} ([build]({url}))", status.description),
        None => status.description.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_map_to_check_run_statuses_and_conclusions() {
        assert_eq!(StatusState::Pending.check_run_state(), ("queued", None));
        assert_eq!(
            StatusState::Running.check_run_state(),
            ("in_progress", None)
        );
        assert_eq!(
            StatusState::Failure.check_run_state(),
            ("completed", Some("failure"))
        );
        assert_eq!(
            StatusState::Error.check_run_state(),
            ("completed", Some("cancelled"))
        );
    }
}
