//! Steps only scripts call: `stage('x') { }` and `parallel(...)` (their stages join the
//! build's stage list as they run), `node` and `podTemplate` (see `pod_template`),
//! `properties` (see `properties.rs`), `libraryResource`, `script { }` (runs its body), and the descriptor functions whose results other steps
//! read (`string(credentialsId: ...)` for `withCredentials`, `containerTemplate(...)`).

use super::script::ScriptHost;
use crate::error::StepError;
use crate::runner::{finish, finish_failed};
use crate::scope::{Scope, StageResult};
use crate::{BuildEvent, StageOutcome};
use kiln_script::{ClosureRef, Value};
use std::time::Instant;

/// The key naming what a descriptor map describes (`string`, `containerTemplate`, ...).
pub(crate) const DESCRIPTOR_KEY: &str = "$class";

/// Functions returning a map of their arguments, for the step that receives them.
const DESCRIPTORS: &[&str] = &[
    "string",
    "usernamePassword",
    "usernameColonPassword",
    "file",
    "sshUserPrivateKey",
    "aws",
    "azureServicePrincipal",
    "containerTemplate",
    "envVar",
    "emptyDirVolume",
    "hostPathVolume",
    "secretVolume",
    // More of the Kubernetes plugin's podTemplate descriptors: `podTemplate` names the
    // settings they go to (`volumes`, `annotations`, ...) as having no effect in kiln.
    "persistentVolumeClaim",
    "configMapVolume",
    "nfsVolume",
    "dynamicPVC",
    "emptyDirWorkspaceVolume",
    "hostPathWorkspaceVolume",
    "persistentVolumeClaimWorkspaceVolume",
    "podAnnotation",
    "podEnvVar",
    "secretEnvVar",
    "containerEnvVar",
    "portMapping",
    "parameters",
    "booleanParam",
    "choice",
    "text",
    "password",
    "pipelineTriggers",
    "cron",
    "pollSCM",
    "disableConcurrentBuilds",
    // A declarative option; called in a script it makes the option's object, as in Jenkins.
    "skipDefaultCheckout",
    "buildDiscarder",
    "logRotator",
    // More job properties and triggers `properties([...])` reads (or names as not acted on).
    "parameterizedCron",
    "githubPush",
    "upstream",
    "disableResume",
    "durabilityHint",
    "githubProjectProperty",
    "copyArtifactPermission",
    "overrideIndexTriggers",
    "preserveStashes",
    "rateLimitBuilds",
    "gitLabConnection",
    "office365ConnectorWebhooks",
    "throttleJobProperty",
    "authorizationMatrix",
    "issueCommentTrigger",
    "GenericTrigger",
    "bitbucketPush",
    "gitParameter",
    "extendedChoice",
    "activeChoice",
    "activeChoiceParam",
    // The git plugin's `checkout scmGit(...)` and its extensions (read by `git_scm.rs`).
    "scmGit",
    "cleanBeforeCheckout",
    "cleanAfterCheckout",
    "localBranch",
    "relativeTargetDirectory",
    "cloneOption",
    "pruneStaleBranch",
    // `deploy`'s container adapters (see `deploy.rs`).
    "tomcat7",
    "tomcat8",
    "tomcat9",
    // emailext's recipient providers.
    "developers",
    "requestor",
    "culprits",
    "brokenBuildSuspects",
    "brokenTestsSuspects",
    "upstreamDevelopers",
    "buildUser",
    // recordIssues' tools, as `recordIssues` (steps/issues.rs) reads them.
    "checkStyle",
    "esLint",
    "pmdParser",
    "spotBugs",
    "findBugs",
    "java",
    "mavenConsole",
    "gcc",
    "gcc4",
    "clang",
    // configFileProvider's files.
    "configFile",
    // withMaven's options.
    "junitPublisher",
    "artifactsPublisher",
    "dependenciesFingerprintPublisher",
    "findbugsPublisher",
    "spotbugsPublisher",
    "jacocoPublisher",
    "openTasksPublisher",
    "pipelineGraphPublisher",
    "invokerPublisher",
    "concordionPublisher",
    "jgivenPublisher",
    "mavenLinkerPublisher",
    // fileOperations' operations.
    "fileCopyOperation",
    "fileDeleteOperation",
    "fileCreateOperation",
    "fileRenameOperation",
    "folderCreateOperation",
    "folderDeleteOperation",
    "folderCopyOperation",
    "folderRenameOperation",
];

const STEPS: &[&str] = &[
    "stage",
    "parallel",
    "node",
    "podTemplate",
    "properties",
    "libraryResource",
    "script",
];

pub(crate) fn is_script_step(name: &str) -> bool {
    STEPS.contains(&name) || DESCRIPTORS.contains(&name)
}

/// Runs `name` if it is a script-only step.
pub(crate) fn call(
    host: &mut ScriptHost<'_>,
    name: &str,
    call: &kiln_script::StepCall<'_>,
    scope: &Scope,
) -> Option<Result<Value, StepError>> {
    Some(match name {
        "stage" => match call.arg("name") {
            // The body may also be passed as a value: `stage(name, cond ? a : b)`.
            Some(n) => {
                let body = call.body.or_else(|| {
                    call.positional.iter().skip(1).find_map(|v| match v {
                        Value::Closure(c) => Some(*c),
                        _ => None,
                    })
                });
                stage(host, call, scope, &n.to_string(), body)
            }
            None => Err(StepError::failed("`stage` needs a name")),
        },
        "parallel" => parallel(host, call, scope),
        "node" => super::pod_template::node(host, call, scope),
        "podTemplate" => super::pod_template::pod_template(host, call, scope),
        "properties" => super::properties::properties(&host.build, scope, call),
        "libraryResource" => library_resource(host, call),
        // The declarative `script { }` is a step of its own, usable in scripts as well.
        "script" => host.closure(call, call.body, scope),
        d if DESCRIPTORS.contains(&d) => Ok(descriptor(d, call)),
        _ => return None,
    })
}

fn descriptor(name: &str, call: &kiln_script::StepCall<'_>) -> Value {
    let mut entries = vec![(DESCRIPTOR_KEY.to_owned(), Value::Str(name.to_owned()))];
    entries.extend(call.named.iter().map(|(k, v)| (k.clone(), v.clone())));
    match call.positional.as_slice() {
        [] => {}
        [one] => entries.push(("value".to_owned(), one.clone())),
        many => entries.push(("value".to_owned(), Value::List(many.to_vec()))),
    }
    Value::Map(entries)
}

fn library_resource(
    host: &ScriptHost<'_>,
    call: &kiln_script::StepCall<'_>,
) -> Result<Value, StepError> {
    let Some(path) = call.arg("resource").map(ToString::to_string) else {
        return Err(StepError::failed("`libraryResource` needs a path"));
    };
    let libraries = &host.build.scripts.libraries;
    match libraries.resource(&path) {
        Some(text) => Ok(Value::Str(text.to_owned())),
        None if libraries.is_empty() => Err(StepError::failed(format!(
            "libraryResource('{path}'): the pipeline loads no shared library"
        ))),
        None => Err(StepError::failed(format!(
            "libraryResource('{path}'): no loaded library has resources/{path}"
        ))),
    }
}

/// A stage a script runs: reported and recorded like a planned one, under the stage the
/// script runs in.
pub(crate) fn stage(
    host: &mut ScriptHost<'_>,
    call: &kiln_script::StepCall<'_>,
    scope: &Scope,
    name: &str,
    closure: Option<ClosureRef>,
) -> Result<Value, StepError> {
    let build = std::sync::Arc::clone(&host.build);
    let mut path = scope.node.map(|n| build.stage_path(n)).unwrap_or_default();
    path.push(name.to_owned());
    let id = build.add_dynamic_stage(path.clone());
    build.send(BuildEvent::StageStarted { node: id, path });
    let started = Instant::now();
    let result = StageResult::new();
    let inner = Scope {
        node: Some(id),
        stage: std::sync::Arc::clone(&result),
        ..scope.with_env([("STAGE_NAME".to_owned(), name.to_owned())])
    };
    let outcome = host.closure(call, closure, &inner);
    if let Err(e) = &outcome {
        result.worsen(e.result());
        if !e.is_interruption() {
            build.log(Some(id), &format!("ERROR: {e}"), inner.timestamps);
        }
    }
    finish_failed(
        &build,
        id,
        StageOutcome::Ran(result.get()),
        started.elapsed(),
        outcome.as_ref().err().and_then(|e| e.failed_step_in(id)),
    );
    scope.stage.worsen(result.get());
    outcome
}

/// `parallel(a: { }, b: { })` or `parallel(branches)` with a map of closures: each branch
/// is a stage. Branches run one after the other (a script has one thread); with
/// `failFast: true` the ones after a failure are skipped.
fn parallel(
    host: &mut ScriptHost<'_>,
    call: &kiln_script::StepCall<'_>,
    scope: &Scope,
) -> Result<Value, StepError> {
    let mut entries: Vec<(String, Value)> = call
        .named
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if let Some(Value::Map(m)) = call.positional.first() {
        entries.extend(m.iter().cloned());
    }
    let fail_fast = entries
        .iter()
        .any(|(k, v)| k == "failFast" && v.is_truthy());
    host.build.notice_once(
        "parallel branches inside scripts run one after the other in kiln (use a `parallel { }` stage to run them at once)"
            .to_owned(),
    );
    let mut first_error: Option<StepError> = None;
    for (name, branch) in entries.into_iter().filter(|(k, _)| k != "failFast") {
        let Value::Closure(c) = branch else {
            return Err(StepError::failed(format!(
                "parallel: branch `{name}` must be a closure, not {}",
                branch.kind()
            )));
        };
        if fail_fast && first_error.is_some() {
            skip(host, scope, &name);
            continue;
        }
        if let Err(e) = stage(host, call, scope, &name, Some(c)) {
            first_error.get_or_insert(e);
        }
    }
    first_error.map_or(Ok(Value::Null), Err)
}

fn skip(host: &ScriptHost<'_>, scope: &Scope, name: &str) {
    let build = &host.build;
    let mut path = scope.node.map(|n| build.stage_path(n)).unwrap_or_default();
    path.push(name.to_owned());
    let id = build.add_dynamic_stage(path.clone());
    build.send(BuildEvent::StageStarted { node: id, path });
    finish(
        build,
        id,
        StageOutcome::SkippedAfterFailure,
        std::time::Duration::ZERO,
    );
}
