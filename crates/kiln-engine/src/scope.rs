use crate::BuildResult;
use crate::build::Build;
use crate::error::StepError;
use crate::shared::Locked;
use crate::site::Site;
use kiln_executor::Executor;
use kiln_plan::NodeId;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Where a step runs: its stage, environment, directory and cancellation. Cheap to clone;
/// block steps (`dir`, `withEnv`, `timeout`, ...) clone it and change one field for their body.
#[derive(Clone)]
pub(crate) struct Scope {
    /// The stage whose log the step writes to (`None` for pipeline-level post blocks).
    pub(crate) node: Option<NodeId>,
    pub(crate) env: Arc<BTreeMap<String, String>>,
    /// The current directory, absolute.
    pub(crate) cwd: PathBuf,
    /// Fires when the step must stop: build cancelled, a timeout ran out, a fail-fast
    /// sibling failed.
    pub(crate) cancel: CancellationToken,
    pub(crate) stage: Arc<StageResult>,
    /// Inside `timestamps { }` or with the `timestamps()` option.
    pub(crate) timestamps: bool,
    /// Inside `container('x') { }` with an executor that has containers: where processes run.
    pub(crate) container: Option<String>,
    /// The generation of the build's script environment layer `env` includes.
    pub(crate) layer_gen: u64,
    /// The executor and workspace steps use: the build's, or the site of the nearest
    /// enclosing stage whose agent a provider served.
    pub(crate) site: Arc<Site>,
    /// `NAME = credentials('id')` bindings of enclosing `environment` blocks whose value is a
    /// file path (secret files, SSH keys): written again on a stage agent's own site.
    pub(crate) file_credentials: Arc<Vec<(String, String)>>,
    /// Inside `tee('file') { }`: where output lines go as well.
    pub(crate) tee: Option<Arc<crate::steps::TeeSink>>,
}

impl Scope {
    /// A copy with more environment variables set.
    pub(crate) fn with_env(&self, vars: impl IntoIterator<Item = (String, String)>) -> Scope {
        let mut env = (*self.env).clone();
        env.extend(vars);
        Scope {
            env: Arc::new(env),
            ..self.clone()
        }
    }

    /// A copy with the build's script environment layer (`env.X = ...` of scripts) applied,
    /// unless it already has the newest one.
    pub(crate) fn layered(&self, build: &Build) -> Option<Scope> {
        let (layer_gen, layer) = build.env_layer();
        if layer_gen == self.layer_gen {
            return None;
        }
        let mut env = (*self.env).clone();
        for (k, v) in layer.iter() {
            match v {
                Some(v) => env.insert(k.clone(), v.clone()),
                None => env.remove(k),
            };
        }
        Some(Scope {
            env: Arc::new(env),
            layer_gen,
            ..self.clone()
        })
    }

    /// The executor of a step that needs one (processes or workspace files); refused outside
    /// any agent, with Jenkins' reason in kiln's words.
    pub(crate) fn executor(
        &self,
        build: &Build,
        step: &str,
    ) -> Result<&Arc<dyn Executor>, StepError> {
        if !self.site.outside_agent {
            return Ok(&self.site.executor);
        }
        let message = match self.node {
            Some(id) => format!(
                "`{step}` needs an agent: stage '{}' runs outside any agent (the pipeline has `agent none` and neither the stage nor an enclosing stage declares one); give the stage an `agent`",
                build.stage_path(id).join(" / ")
            ),
            None => format!(
                "`{step}` needs an agent: the pipeline has `agent none`, so its `environment` and `post` run outside any agent; move the step into a stage that has an `agent`"
            ),
        };
        Err(StepError::failed(message))
    }

    pub(crate) fn var(&self, name: &str) -> Option<&str> {
        self.env.get(name).map(String::as_str)
    }
}

/// A stage's own result, which steps like `unstable` and `catchError` make worse.
#[derive(Debug)]
pub(crate) struct StageResult(Locked<BuildResult>);

impl StageResult {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(StageResult(Locked::new(BuildResult::Success)))
    }

    pub(crate) fn get(&self) -> BuildResult {
        self.0.get()
    }

    pub(crate) fn worsen(&self, result: BuildResult) {
        let mut r = self.0.lock();
        *r = r.combine(result);
    }
}
