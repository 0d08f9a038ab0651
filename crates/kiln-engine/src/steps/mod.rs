//! The steps: dispatch from the model's [`StepId`] to each step's implementation. Steps in
//! `steps { }`, in `post { }` and (through the script layer) in `script { }` all come here.

mod archive_zip;
mod artifactory;
mod artifacts;
mod azure;
mod block;
mod build_job;
mod call;
mod clean_ws;
mod config_files;
mod coverity;
mod credentials;
mod data;
mod delegate;
mod deploy;
mod descriptor;
mod devoptics;
mod docker_cli;
mod docker_exec;
pub(crate) mod docker_global;
mod docker_kube;
mod docker_registry;
mod file_ops;
mod files;
mod flow;
mod forge;
mod git_scm;
mod html_report;
mod http_client;
mod http_request;
mod input;
mod issue_parsers;
mod issues;
mod junit;
mod junit_xml;
mod kaniko;
mod legacy_analysis;
mod library;
mod lock;
mod mail;
mod mail_tokens;
mod maven;
mod milestone;
mod nodejs;
mod openshift;
mod pod_template;
mod process;
mod properties;
pub(crate) mod robot;
mod scm;
mod script;
mod scripted;
mod sh;
mod slack;
mod sonar;
mod ssh_agent;
mod tee;
mod tool;
mod utility;
mod vault;
mod windows;
mod workspace_path;

pub(crate) use artifactory::BuildInfos;
pub(crate) use block::{After, enter as enter_block, exit as exit_block};
pub(crate) use call::{Args, StepCall};
pub(crate) use credentials::{
    bind_environment_credential, is_file_backed, rebind_file_credentials, remove_secret_files,
};
pub(crate) use flow::{duration_of, retryable, with_timeout};
pub(crate) use input::ask;
pub(crate) use lock::{
    acquire_option as acquire_lock, from_option as lock_option, with_variable as lock_variable,
};
pub(crate) use pod_template::PodTemplates;
pub(crate) use scm::checkout_scm;
pub(crate) use script::script;
pub(crate) use tee::TeeSink;

use crate::build::Build;
use crate::error::StepError;
use crate::scope::Scope;
use kiln_model::{Step, StepId, StepKind};
use kiln_script::Value;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// A boxed future, for the recursion between block steps and their bodies.
pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Runs steps one after the other, stopping at the first error.
pub(crate) fn run_steps<'a>(
    build: &'a Arc<Build>,
    steps: &'a [Step],
    scope: &'a Scope,
) -> BoxFuture<'a, Result<(), StepError>> {
    Box::pin(async move {
        let mut layered = scope.layered(build);
        for step in steps {
            if scope.cancel.is_cancelled() {
                return Err(StepError::aborted("the build was aborted"));
            }
            run_step(build, step, layered.as_ref().unwrap_or(scope)).await?;
            if let Some(next) = layered.as_ref().unwrap_or(scope).layered(build) {
                layered = Some(next);
            }
        }
        Ok(())
    })
}

/// Runs one step and returns its value (what a script would get back).
pub(crate) async fn run_step(
    build: &Arc<Build>,
    step: &Step,
    scope: &Scope,
) -> Result<Value, StepError> {
    match &step.kind {
        // A library's global step shadows a kiln step of the same name, as a `vars/`
        // variable shadows a step in Jenkins.
        StepKind::Native {
            name, args, body, ..
        } if build.scripts.libraries.step(&name.value).is_some() => {
            let args: Vec<kiln_syntax::ast::Arg> = args
                .iter()
                .map(|a| kiln_syntax::ast::Arg {
                    name: Some(kiln_syntax::ast::Ident {
                        name: a.name.to_owned(),
                        span: a.value.span,
                    }),
                    value: a.value.clone(),
                    span: a.value.span,
                })
                .collect();
            library::from_steps(build, &name.value, &args, body.as_deref(), scope).await
        }
        StepKind::Native {
            id,
            name,
            args,
            body,
        } => {
            let call = StepCall {
                build,
                scope,
                name: &name.value,
                args: Args::Model(args),
                body: body.as_deref(),
            };
            native(*id, &call).await
        }
        StepKind::Script(block) => script::script(build, &block.statements, scope).await,
        StepKind::Library { name, args, body } => {
            library::from_steps(build, &name.value, args, body.as_deref(), scope).await
        }
    }
}

/// Runs a kiln step; its failure names it (see [`StepError::in_step`]).
pub(crate) async fn native(id: StepId, call: &StepCall<'_>) -> Result<Value, StepError> {
    dispatch(id, call).await.map_err(|e| e.in_step(call))
}

async fn dispatch(id: StepId, call: &StepCall<'_>) -> Result<Value, StepError> {
    match id {
        StepId::Sh => sh::sh(call).await,
        StepId::Echo => flow::echo(call),
        StepId::Error => flow::error(call),
        StepId::Unstable => flow::unstable(call),
        StepId::Sleep => flow::sleep(call).await,
        StepId::WriteFile => files::write_file(call).await,
        StepId::ReadFile => files::read_file(call).await,
        StepId::FileExists => files::file_exists(call).await,
        StepId::DeleteDir => files::delete_dir(call).await,
        StepId::CleanWs => files::clean_ws(call).await,
        StepId::Pwd => files::pwd(call),
        StepId::IsUnix => Ok(Value::Bool(true)),
        StepId::Stash => artifacts::stash(call).await,
        StepId::Unstash => artifacts::unstash(call).await,
        StepId::ArchiveArtifacts => artifacts::archive(call).await,
        StepId::Archive => artifacts::archive_alias(call).await,
        StepId::LegacyAnalysis => legacy_analysis::legacy_analysis(call).await,
        StepId::OpenshiftBuild => openshift::openshift_build(call).await,
        StepId::OpenshiftDeploy => openshift::openshift_deploy(call).await,
        StepId::Deploy => deploy::deploy(call).await,
        StepId::Robot => robot::robot(call).await,
        StepId::AzureWebAppPublish => azure::azure_web_app_publish(call).await,
        StepId::GateProducesArtifact => {
            devoptics::gate_artifact(call, crate::GateDirection::Produces).await
        }
        StepId::GateConsumesArtifact => {
            devoptics::gate_artifact(call, crate::GateDirection::Consumes).await
        }
        StepId::GateConsumesRun => devoptics::gate_run(call),
        StepId::Step => delegate::step(call).await,
        StepId::Junit => junit::junit(call).await,
        StepId::Checkout => scm::checkout(call).await,
        StepId::Git => scm::git(call).await,
        StepId::Input => input::input(call).await,
        StepId::Tool => tool::tool(call),
        StepId::KanikoBuild => kaniko::kaniko_build(call).await,
        StepId::ReadJson => data::read_json(call).await,
        StepId::WriteJson => data::write_json(call).await,
        StepId::ReadYaml => data::read_yaml(call).await,
        StepId::WriteYaml => data::write_yaml(call).await,
        StepId::Mail => mail::mail(call).await,
        StepId::Emailext => mail::emailext(call).await,
        StepId::HttpRequest => http_request::http_request(call).await,
        StepId::WaitForQualityGate => sonar::wait_for_quality_gate(call).await,
        StepId::SlackSend => slack::slack_send(call).await,
        StepId::GithubNotify => forge::github_notify(call).await,
        StepId::UpdateGitlabCommitStatus => forge::update_gitlab_status(call).await,
        StepId::SetGithubPullRequestStatus => forge::set_github_pr_status(call).await,
        StepId::PublishHtml => html_report::publish_html(call).await,
        StepId::Bat | StepId::Powershell => windows::windows_only(call),
        StepId::Pwsh => windows::pwsh(call).await,
        StepId::RecordIssues => issues::record_issues(call).await,
        StepId::Milestone => milestone::milestone(call),
        StepId::Build => build_job::build_job(call).await,
        StepId::ReadProperties => utility::read_properties(call).await,
        StepId::FindFiles => utility::find_files(call).await,
        StepId::Sha256 => utility::digest(call, utility::Digest::Sha256).await,
        StepId::Sha1 => utility::digest(call, utility::Digest::Sha1).await,
        StepId::Zip => archive_zip::zip(call).await,
        StepId::Unzip => archive_zip::unzip(call).await,
        StepId::FileOperations => file_ops::file_operations(call).await,
        StepId::WithDockerContainer => docker_global::with_docker_container_steps(call).await,
        block::block_step!() => block::run(id, call).await,
    }
}
