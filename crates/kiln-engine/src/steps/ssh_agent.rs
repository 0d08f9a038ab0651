//! `sshagent(['cred-id']) { }` (SSH Agent plugin): starts an `ssh-agent` where the steps
//! run, adds each SSH private-key credential to it (`ssh-add -`, the key on stdin, never in
//! a file), runs the block with `SSH_AUTH_SOCK` and `SSH_AGENT_PID` set, and kills the agent
//! after (`ssh-agent -k`), whatever the block's outcome.

use super::StepCall;
use super::process::{Capture, run_process, run_process_with_input};
use crate::Credential;
use crate::error::StepError;
use crate::scope::Scope;

/// A running agent: its variables, for the block and for `ssh-agent -k`.
pub(crate) struct Agent {
    vars: Vec<(String, String)>,
}

/// Starts the agent and adds the keys; the block's scope has the agent's variables.
pub(crate) async fn start(call: &StepCall<'_>, scope: Scope) -> Result<(Scope, Agent), StepError> {
    let ids = call.string_list("credentials")?;
    let ignore_missing = call.bool("ignoreMissing", false)?;
    let mut keys = Vec::new();
    for id in &ids {
        match call.build.spec.credentials.get(id) {
            Some(cred @ Credential::SshKey { .. }) => {
                call.build.add_secrets(cred.secrets());
                keys.push((id.clone(), cred));
            }
            Some(_) => {
                return Err(StepError::failed(format!(
                    "sshagent: credential '{id}' is not an SSH private key"
                )));
            }
            None if ignore_missing => {
                call.log(&format!(
                    "[ssh-agent] Missing credentials: '{id}' (ignoreMissing is set)"
                ));
            }
            None => {
                return Err(StepError::failed(format!(
                    "sshagent: could not find credentials entry with ID '{id}'"
                )));
            }
        }
    }
    // The agent's socket goes in this build's `@tmp`, not ssh-agent's default `/tmp/ssh-*`:
    // other builds share `/tmp`, and anyone who reaches the socket can use the key.
    let socket = agent_socket(&scope.site.tmp_dir);
    let mut argv = vec!["ssh-agent".to_owned(), "-s".to_owned()];
    match &socket {
        Some(path) => {
            call.executor()?.create_dir(&scope.site.tmp_dir).await?;
            argv.extend(["-a".to_owned(), path.clone()]);
        }
        None => call.log(
            "[ssh-agent] WARNING: the workspace's path is too long for a socket in its @tmp \
             directory; the agent's socket is in /tmp, where other builds' processes may reach it",
        ),
    }
    let started = run_process(
        call.build,
        &scope,
        (argv, None),
        scope.cwd.clone(),
        Capture::Stdout,
    )
    .await
    .map_err(|e| StepError::failed(format!("sshagent: cannot start ssh-agent: {e}")))?;
    let vars = agent_vars(&String::from_utf8_lossy(&started.stdout));
    if !started.status.success() || vars.len() != 2 {
        return Err(StepError::failed(format!(
            "sshagent: ssh-agent did not start (exit code {}); is OpenSSH's client installed where the steps run?",
            started.status.code()
        )));
    }
    call.log(&format!("[ssh-agent] Started ssh-agent ({})", vars[1].1));
    let agent = Agent { vars };
    let scope = scope.with_env(agent.vars.clone());
    for (id, cred) in keys {
        if let Err(e) = add_key(call, &scope, &id, &cred).await {
            agent.stop(call, &scope).await;
            return Err(e);
        }
    }
    Ok((scope, agent))
}

async fn add_key(
    call: &StepCall<'_>,
    scope: &Scope,
    id: &str,
    cred: &Credential,
) -> Result<(), StepError> {
    let Credential::SshKey {
        username,
        private_key,
        passphrase,
    } = cred
    else {
        return Ok(());
    };
    if passphrase.as_deref().is_some_and(|p| !p.is_empty()) {
        return Err(StepError::failed(format!(
            "sshagent: credential '{id}' has a passphrase, which kiln cannot give ssh-add yet; use a key without one"
        )));
    }
    call.log(&format!("[ssh-agent] Using credentials {username} ({id})"));
    let mut key = private_key.clone().into_bytes();
    if !key.ends_with(b"\n") {
        key.push(b'\n');
    }
    let added = run_process_with_input(
        call.build,
        scope,
        (vec!["ssh-add".to_owned(), "-".to_owned()], None),
        scope.cwd.clone(),
        Capture::Nothing,
        key,
    )
    .await?;
    if !added.status.success() {
        return Err(StepError::failed(format!(
            "sshagent: ssh-add refused credential '{id}' (exit code {})",
            added.status.code()
        )));
    }
    Ok(())
}

impl Agent {
    /// Kills the agent (`ssh-agent -k` with its variables); a failure is logged, not raised,
    /// so the block's own outcome stands.
    pub(crate) async fn stop(&self, call: &StepCall<'_>, scope: &Scope) {
        let scope = scope.with_env(self.vars.clone());
        let killed = run_process(
            call.build,
            &scope,
            (vec!["ssh-agent".to_owned(), "-k".to_owned()], None),
            scope.cwd.clone(),
            Capture::Stdout,
        )
        .await;
        match killed {
            Ok(done) if done.status.success() => {
                call.log(&format!(
                    "[ssh-agent] Stopped ssh-agent ({})",
                    self.vars[1].1
                ));
            }
            Ok(done) => call.log(&format!(
                "[ssh-agent] WARNING: ssh-agent -k failed (exit code {})",
                done.status.code()
            )),
            Err(e) => call.log(&format!(
                "[ssh-agent] WARNING: could not stop ssh-agent: {e}"
            )),
        }
    }
}

/// A socket path in the build's `@tmp` directory, if it fits a Unix socket's address (108
/// bytes with its terminating NUL).
fn agent_socket(tmp_dir: &std::path::Path) -> Option<String> {
    // Parallel branches of one build share `@tmp`: the time tells their agents apart.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let path = tmp_dir.join(format!("ssh-agent-{nanos}.sock"));
    let path = path.to_string_lossy().into_owned();
    (path.len() < 100).then_some(path)
}

/// `SSH_AUTH_SOCK` and `SSH_AGENT_PID`, in that order, from `ssh-agent -s` output
/// (`SSH_AUTH_SOCK=/tmp/ssh-x/agent.1; export SSH_AUTH_SOCK;`).
fn agent_vars(output: &str) -> Vec<(String, String)> {
    ["SSH_AUTH_SOCK", "SSH_AGENT_PID"]
        .iter()
        .filter_map(|name| {
            let start = output.find(&format!("{name}="))? + name.len() + 1;
            let value = output[start..].split(';').next()?.trim();
            (!value.is_empty()).then(|| ((*name).to_owned(), value.to_owned()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::agent_vars;

    #[test]
    fn reads_the_agents_variables() {
        let out = "SSH_AUTH_SOCK=/tmp/ssh-XXXXabc/agent.41; export SSH_AUTH_SOCK;\nSSH_AGENT_PID=42; export SSH_AGENT_PID;\necho Agent pid 42;\n";
        assert_eq!(
            agent_vars(out),
            [
                (
                    "SSH_AUTH_SOCK".to_owned(),
                    "/tmp/ssh-XXXXabc/agent.41".to_owned()
                ),
                ("SSH_AGENT_PID".to_owned(), "42".to_owned()),
            ]
        );
        assert_eq!(agent_vars("nothing"), []);
    }
}
