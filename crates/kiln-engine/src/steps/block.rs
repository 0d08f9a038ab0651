//! Steps with a block (`dir`, `withEnv`, `timeout`, `retry`, `catchError`, `warnError`,
//! `withCredentials`, `timestamps`, `ansiColor`, `container`, `lock`), written as an async
//! [`enter`] that makes the block's scope and an async [`exit`] that decides what the
//! block's outcome means. `steps { }` runs the block between them with `run_steps`; a
//! script runs its closure between them on the script thread (see `script`), so both
//! share this one implementation.

use super::{StepCall, credentials, retryable, run_steps};
use crate::BuildResult;
use crate::error::{Interruption, StepError};
use crate::scope::Scope;
use kiln_model::StepId;
use kiln_script::Value;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio_util::sync::CancellationToken;

/// A block step that has started: the scope its block runs in, and what to do after.
pub(crate) struct Entered {
    pub(crate) scope: Scope,
    /// The block is not run (`lock(skipIfLocked: true)` found the resource taken).
    pub(crate) skip: bool,
    exit: Exit,
}

enum Exit {
    Plain,
    Timeout {
        expired: Arc<AtomicBool>,
        timer: tokio::task::JoinHandle<()>,
    },
    Retry {
        count: i64,
        attempt: i64,
    },
    Catch {
        warn: bool,
        build_result: BuildResult,
        stage_result: BuildResult,
        message: Option<String>,
        catch_interruptions: bool,
    },
    Credentials {
        files: Vec<PathBuf>,
    },
    Lock(Option<super::lock::Held>),
    SshAgent(super::ssh_agent::Agent),
    ConfigFiles(super::config_files::Provided),
    Maven(super::maven::Session),
    NodeJs(super::nodejs::Session),
    Tee(super::tee::Tee),
    DockerRegistry(super::docker_registry::Login),
    /// `gitlabCommitStatus`: the status's name, whose end state the block's outcome gives.
    GitlabStatus(String),
}

/// What follows a run of the block.
pub(crate) enum After {
    Done(Result<Value, StepError>),
    /// Run the block again (`retry`).
    Again,
}

/// The steps that run a block, as a pattern: the one list, for [`is_block`] and the
/// engine's dispatch of steps (whose match stays exhaustive).
macro_rules! block_step {
    () => {
        StepId::Dir
            | StepId::Ws
            | StepId::WithEnv
            | StepId::Timeout
            | StepId::Retry
            | StepId::CatchError
            | StepId::WarnError
            | StepId::Timestamps
            | StepId::AnsiColor
            | StepId::Container
            | StepId::WithCredentials
            | StepId::WithSonarQubeEnv
            | StepId::WithCoverityEnv
            | StepId::WithVault
            | StepId::Lock
            | StepId::SshAgent
            | StepId::ConfigFileProvider
            | StepId::WithMaven
            | StepId::NodeJs
            | StepId::Tee
            | StepId::CompressLog
            | StepId::WithDockerRegistry
            | StepId::GitlabCommitStatus
    };
}
pub(crate) use block_step;

/// Whether step `id` runs a block.
pub(crate) fn is_block(id: StepId) -> bool {
    matches!(id, block_step!())
}

/// Runs a block step of `steps { }`.
pub(crate) async fn run(id: StepId, call: &StepCall<'_>) -> Result<Value, StepError> {
    let mut entered = enter(id, call).await?;
    loop {
        let result = if entered.skip {
            Ok(())
        } else {
            run_steps(call.build, call.body(), &entered.scope).await
        };
        match exit(call, &mut entered, result).await {
            After::Done(v) => return v,
            After::Again => {}
        }
    }
}

/// A block that runs in `scope`, `exit` ending it.
fn runs(scope: Scope, exit: Exit) -> Entered {
    Entered {
        scope,
        skip: false,
        exit,
    }
}

/// Starts a block step: checks its arguments and makes the block's scope.
pub(crate) async fn enter(id: StepId, call: &StepCall<'_>) -> Result<Entered, StepError> {
    let scope = call.scope.clone();
    let plain = |scope| runs(scope, Exit::Plain);
    Ok(match id {
        StepId::Dir => {
            let cwd = scope.cwd.join(call.req_string("path")?);
            call.executor()?.create_dir(&cwd).await?;
            plain(Scope { cwd, ..scope })
        }
        StepId::Ws => plain(workspace_dir(call, scope).await?),
        StepId::WithEnv => {
            let overrides = call.string_list("overrides")?;
            let mut vars = Vec::with_capacity(overrides.len());
            for entry in overrides {
                let Some((name, value)) = entry.split_once('=') else {
                    return Err(StepError::failed(format!(
                        "withEnv: `{entry}` is not of the form NAME=value"
                    )));
                };
                vars.push(env_override(&scope, name, value));
            }
            plain(scope.with_env(vars))
        }
        StepId::Timeout => timeout(call, scope)?,
        StepId::GitlabCommitStatus => runs(
            scope,
            Exit::GitlabStatus(super::forge::gitlab_block_start(call).await?),
        ),
        StepId::Retry => Entered {
            scope,
            skip: false,
            exit: Exit::Retry {
                count: call.int("count")?.unwrap_or(1).max(1),
                attempt: 1,
            },
        },
        StepId::CatchError | StepId::WarnError => catch(call, scope, id == StepId::WarnError)?,
        StepId::Timestamps => plain(Scope {
            timestamps: true,
            ..scope
        }),
        // With an executor that has containers (a pod), the block's processes run in
        // container `name`; otherwise a notice says the step is ignored.
        StepId::Container => {
            let name = call.req_string("name")?;
            if call.executor()?.runs_in_containers() {
                return Ok(plain(Scope {
                    container: Some(name),
                    ..scope
                }));
            }
            call.build.notice_once(format!(
                "container('{name}') is ignored by the {} executor: steps run on this machine",
                call.executor()?.describe()
            ));
            plain(scope)
        }
        StepId::WithCredentials => {
            let (vars, files) = credentials::bind_all(call).await?;
            Entered {
                scope: scope.with_env(vars),
                skip: false,
                exit: Exit::Credentials { files },
            }
        }
        StepId::WithSonarQubeEnv => plain(scope.with_env(super::sonar::environment(call)?)),
        StepId::WithCoverityEnv => {
            let vars = super::coverity::environment(call, &scope)?;
            plain(scope.with_env(vars))
        }
        StepId::WithVault => plain(scope.with_env(super::vault::environment(call).await?)),
        StepId::Lock => match super::lock::enter(call).await? {
            Some((scope, held)) => runs(scope, Exit::Lock(Some(held))),
            None => Entered {
                scope,
                skip: true,
                exit: Exit::Lock(None),
            },
        },
        StepId::SshAgent => {
            let (scope, agent) = super::ssh_agent::start(call, scope).await?;
            runs(scope, Exit::SshAgent(agent))
        }
        StepId::ConfigFileProvider => {
            let (scope, provided) = super::config_files::provide(call, scope).await?;
            runs(scope, Exit::ConfigFiles(provided))
        }
        StepId::WithMaven => {
            let (scope, session) = super::maven::start(call, scope).await?;
            runs(scope, Exit::Maven(session))
        }
        StepId::NodeJs => {
            let (scope, session) = super::nodejs::start(call, scope).await?;
            runs(scope, Exit::NodeJs(session))
        }
        StepId::Tee => {
            let (scope, tee) = super::tee::start(call, scope)?;
            runs(scope, Exit::Tee(tee))
        }
        StepId::WithDockerRegistry => {
            let (scope, login) = super::docker_registry::start(call, scope).await?;
            runs(scope, Exit::DockerRegistry(login))
        }
        StepId::CompressLog => {
            call.build.notice_once(
                "compressLog { }: kiln stores build logs uncompressed; the block runs and its log is stored as usual"
                    .to_owned(),
            );
            plain(scope)
        }
        // `ansiColor { }`: colours pass through untouched, so only the body runs.
        _ => plain(scope),
    })
}

fn timeout(call: &StepCall<'_>, scope: Scope) -> Result<Entered, StepError> {
    let time = call.int("time")?.unwrap_or(0);
    let unit = call.string("unit")?.unwrap_or_else(|| "MINUTES".to_owned());
    let limit = super::duration_of(time, &unit)?;
    let token: CancellationToken = scope.cancel.child_token();
    let expired = Arc::new(AtomicBool::new(false));
    let timer = {
        let (build, token, expired) = (Arc::clone(call.build), token.clone(), expired.clone());
        let (node, timestamps) = (scope.node, scope.timestamps);
        tokio::spawn(async move {
            tokio::time::sleep(limit).await;
            expired.store(true, Ordering::SeqCst);
            let text = super::flow::human(limit);
            build.log(
                node,
                &format!("Timeout set to expire after {text}"),
                timestamps,
            );
            build.log(node, "Cancelling nested steps due to timeout", timestamps);
            token.cancel();
        })
    };
    Ok(Entered {
        scope: Scope {
            cancel: token,
            ..scope
        },
        skip: false,
        exit: Exit::Timeout { expired, timer },
    })
}

fn catch(call: &StepCall<'_>, scope: Scope, warn: bool) -> Result<Entered, StepError> {
    let default = if warn {
        BuildResult::Unstable
    } else {
        BuildResult::Failure
    };
    Ok(Entered {
        scope,
        skip: false,
        exit: Exit::Catch {
            warn,
            build_result: result_arg(call, "buildResult", default)?,
            stage_result: result_arg(call, "stageResult", default)?,
            message: call.string("message")?,
            catch_interruptions: call.bool("catchInterruptions", true)?,
        },
    })
}

/// Ends a run of the block: what the step returns, or that the block runs again.
pub(crate) async fn exit(
    call: &StepCall<'_>,
    entered: &mut Entered,
    body: Result<(), StepError>,
) -> After {
    let done = |r: Result<(), StepError>| After::Done(r.map(|()| Value::Null));
    match &mut entered.exit {
        Exit::Plain => done(body),
        Exit::GitlabStatus(name) => {
            let state = match &body {
                Ok(()) => "success",
                Err(e) if e.is_interruption() => "canceled",
                Err(_) => "failed",
            };
            super::forge::gitlab_block_end(call, name.clone(), state).await;
            done(body)
        }
        Exit::Timeout { expired, timer } => {
            timer.abort();
            match body {
                Err(e) if expired.load(Ordering::SeqCst) && e.is_interruption() => {
                    After::Done(Err(StepError::Interrupted {
                        cause: Interruption::Timeout,
                        message: "Timeout has been exceeded".to_owned(),
                    }))
                }
                other => done(other),
            }
        }
        Exit::Retry { count, attempt } => match body {
            Ok(()) => done(Ok(())),
            Err(e) if !retryable(&e, call.scope) || *attempt >= *count => done(Err(e)),
            Err(e) => {
                call.log(&format!("ERROR: {e}"));
                call.log("Retrying");
                *attempt += 1;
                After::Again
            }
        },
        Exit::Catch {
            warn,
            build_result,
            stage_result,
            message,
            catch_interruptions,
        } => match body {
            Ok(()) => done(Ok(())),
            Err(e) if e.is_interruption() && !*catch_interruptions => done(Err(e)),
            Err(e) => {
                if let Some(m) = message {
                    call.log(&if *warn {
                        format!("WARNING: {m}")
                    } else {
                        m.clone()
                    });
                }
                call.log(&format!("ERROR: {e}"));
                let (b, s) = if e.is_interruption() {
                    (BuildResult::Aborted, BuildResult::Aborted)
                } else {
                    (*build_result, *stage_result)
                };
                call.build.worsen(b);
                call.scope.stage.worsen(s);
                done(Ok(()))
            }
        },
        Exit::Credentials { files } => {
            for dir in files.drain(..) {
                if let Err(e) = call.scope.site.executor.delete_dir(&dir).await {
                    tracing::warn!(error = %crate::error::error_chain(&e), "could not delete a secret file");
                }
            }
            done(body)
        }
        Exit::Lock(held) => {
            if let Some(h) = held.take() {
                h.release(call.build, call.scope);
            }
            done(body)
        }
        Exit::SshAgent(agent) => {
            agent.stop(call, call.scope).await;
            done(body)
        }
        Exit::ConfigFiles(provided) => {
            provided.remove(call, call.scope).await;
            done(body)
        }
        Exit::Maven(session) => done(session.finish(call, body).await),
        Exit::NodeJs(session) => {
            session.finish(call).await;
            done(body)
        }
        Exit::Tee(tee) => done(tee.finish(call, body).await),
        Exit::DockerRegistry(login) => {
            login.remove(call).await;
            done(body)
        }
    }
}

/// `ws('dir') { }`: Jenkins gives the block another workspace of the agent; kiln gives it
/// the directory `dir` of the build's workspace (an absolute path as written, where the
/// executor allows it), as the block's current directory and `WORKSPACE`.
async fn workspace_dir(call: &StepCall<'_>, scope: Scope) -> Result<Scope, StepError> {
    let dir = call.req_string("dir")?;
    let path = scope.site.workspace.join(&dir);
    if !std::path::Path::new(&dir).is_absolute() {
        call.build.notice_once(format!(
            "ws('{dir}'): kiln runs the block in the directory {dir} of the build's workspace"
        ));
    }
    call.executor()?.create_dir(&path).await?;
    let workspace = path.to_string_lossy().into_owned();
    Ok(Scope {
        cwd: path,
        ..scope.with_env([("WORKSPACE".to_owned(), workspace)])
    })
}

/// `NAME=value`, or Jenkins' `PATH+ANYTHING=/dir`, which puts `/dir` in front of `PATH`.
fn env_override(scope: &Scope, name: &str, value: &str) -> (String, String) {
    match name.split_once('+') {
        Some((base, _)) => {
            let joined = match scope.var(base) {
                Some(old) if !old.is_empty() => format!("{value}:{old}"),
                _ => value.to_owned(),
            };
            (base.to_owned(), joined)
        }
        None => (name.to_owned(), value.to_owned()),
    }
}

fn result_arg(
    call: &StepCall<'_>,
    name: &str,
    default: BuildResult,
) -> Result<BuildResult, StepError> {
    match call.string(name)? {
        None => Ok(default),
        Some(s) => BuildResult::parse(&s.to_ascii_uppercase()).ok_or_else(|| {
            StepError::failed(format!(
                "`{name}` must be SUCCESS, UNSTABLE, FAILURE, NOT_BUILT or ABORTED, not `{s}`"
            ))
        }),
    }
}
