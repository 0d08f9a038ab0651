//! Under a top-level `agent none`, `post` blocks of the pipeline and of stages that have no
//! agent (their own or an enclosing one) run outside any agent: steps there that need a
//! workspace fail when the build runs, as in Jenkins ("Required context class
//! hudson.FilePath is missing"). The same holds for the `steps { }` of a stage without an
//! agent. This pass warns about such steps before the build runs; lint never refuses them,
//! since Jenkins accepts them and `echo`, `input`, `error` or scripts run fine there.

use crate::{AgentKind, Matrix, Pipeline, Post, Stage, StageBody, Step, StepId, StepKind};
use kiln_diagnostics::Diagnostic;

/// Warnings for steps that need a workspace where the pipeline gives them none.
pub(super) fn check(pipeline: &Pipeline) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    if !matches!(pipeline.agent.kind, AgentKind::None) {
        return out;
    }
    stages(&pipeline.stages, &mut out);
    post(&pipeline.post, "the pipeline's `post`", &mut out);
    out
}

fn stages(list: &[Stage], out: &mut Vec<Diagnostic>) {
    for stage in list.iter().filter(|s| !has_agent(s.agent.as_ref())) {
        let place = format!("the `post` of stage `{}`", stage.name.value);
        post(&stage.post, &place, out);
        match &stage.body {
            StageBody::Steps(list) => {
                let place = format!("stage `{}`", stage.name.value);
                steps(list, &place, out);
            }
            StageBody::Parallel(inner) | StageBody::Sequential(inner) => stages(inner, out),
            StageBody::Matrix(m) => matrix(m, out),
        }
    }
}

fn matrix(m: &Matrix, out: &mut Vec<Diagnostic>) {
    if has_agent(m.agent.as_ref()) {
        return;
    }
    post(&m.post, "the matrix's `post`", out);
    stages(&m.stages, out);
}

fn has_agent(agent: Option<&crate::Agent>) -> bool {
    agent.is_some_and(|a| !matches!(a.kind, AgentKind::None))
}

fn post(post: &Post, place: &str, out: &mut Vec<Diagnostic>) {
    for block in &post.blocks {
        steps(&block.steps, place, out);
    }
}

fn steps(list: &[Step], place: &str, out: &mut Vec<Diagnostic>) {
    for step in list {
        let StepKind::Native { id, name, body, .. } = &step.kind else {
            continue;
        };
        if needs_workspace(*id) {
            out.push(
                Diagnostic::warning(
                    "step-outside-agent",
                    format!(
                        "`{}` needs an agent, but {place} runs outside any agent",
                        name.value
                    ),
                )
                .with_primary(name.span, "this step fails when the build runs")
                .with_note(
                    "the pipeline has `agent none`: run the step in a stage that has an `agent`",
                ),
            );
        } else if let Some(body) = body {
            steps(body, place, out);
        }
    }
}

/// Steps that run processes or touch the workspace.
fn needs_workspace(id: StepId) -> bool {
    matches!(
        id,
        StepId::Sh
            | StepId::Dir
            | StepId::WriteFile
            | StepId::ReadFile
            | StepId::FileExists
            | StepId::DeleteDir
            | StepId::CleanWs
            | StepId::Stash
            | StepId::Unstash
            | StepId::ArchiveArtifacts
            | StepId::Archive
            | StepId::Step
            | StepId::Junit
            | StepId::Checkout
            | StepId::Git
            | StepId::Container
            | StepId::WriteJson
            | StepId::WriteYaml
            | StepId::KanikoBuild
            | StepId::AzureWebAppPublish
    )
}
