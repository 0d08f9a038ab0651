use crate::{AgentProvider, BuildResult};
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

/// Everything a build needs besides its plan and executor.
#[derive(Clone)]
pub struct BuildSpec {
    /// `JOB_NAME`; for `kiln run`, the workspace directory's name.
    pub job_name: String,
    /// `BUILD_NUMBER`.
    pub number: u64,
    /// Parameter values given at trigger time (`-p NAME=VALUE`); the pipeline's defaults
    /// fill the rest. Checked against the pipeline's `parameters` before the build starts.
    pub params: BTreeMap<String, String>,
    /// The environment the build starts from (for local runs: this process's environment).
    pub base_env: BTreeMap<String, String>,
    /// The source the build is for, when known: `checkout scm` checks out exactly this.
    pub scm: Option<ScmInfo>,
    /// Where stashes, archived artifacts and test reports of this build are kept.
    pub build_dir: PathBuf,
    /// Why the build runs, e.g. `Started by user` or `Started by timer` (for `triggeredBy`).
    pub cause: BuildCause,
    pub credentials: Arc<dyn CredentialStore>,
    pub input: Arc<dyn InputHandler>,
    /// The workspace already is a checkout of `scm` (as for `kiln run` in a repository):
    /// `checkout scm` then leaves it as it is instead of cloning over it, and `deleteDir()`
    /// or `cleanWs()` of the workspace root are skipped, so a local run never wipes it.
    pub workspace_is_checkout: bool,
    /// The result of the job's previous completed build, for the `changed`, `fixed` and
    /// `regression` post conditions (`None` for a first build or a local run without history).
    pub previous_result: Option<BuildResult>,
    /// Gives stages with an agent of their own an executor of their own (a pod per stage
    /// agent on Kubernetes); `None`: every stage runs on the build's executor.
    pub agents: Option<Arc<dyn AgentProvider>>,
    /// The services steps talk to (SMTP, Slack, SonarQube, Vault), from kiln.yaml or
    /// `kiln run`'s flags; their secrets are credential ids looked up in `credentials`.
    pub services: Arc<kiln_config::ServicesConfig>,
    /// Locks, downstream builds and milestones, across the builds of whoever runs this one
    /// ([`crate::NoCoordinator`] where there are no others).
    pub coordinator: Arc<dyn crate::Coordinator>,
}

/// What a build's scripts need besides the plan: the shared libraries the pipeline loaded,
/// the Jenkinsfile's text (so script errors name their line) and the scripts' limits.
#[derive(Clone, Debug, Default)]
pub struct BuildScripts {
    pub libraries: Arc<kiln_library::Libraries>,
    /// Where the libraries the pipeline names by expressions are loaded from once the build
    /// has evaluated their names; `None` when it names none (or nothing may be loaded).
    pub library_loader: Option<Arc<crate::LibraryLoader>>,
    pub source: Option<Arc<kiln_diagnostics::SourceFile>>,
    pub limits: kiln_script::Limits,
}

/// The repository and commit a build is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScmInfo {
    /// A git URL or local path.
    pub url: String,
    /// The commit to check out.
    pub commit: String,
    /// The branch the commit was resolved from (`BRANCH_NAME`), if any.
    pub branch: Option<String>,
    /// The tag being built (`TAG_NAME`), if any.
    pub tag: Option<String>,
    /// For change requests (pull/merge requests): `CHANGE_ID`, `CHANGE_TARGET`, ...
    pub change: BTreeMap<String, String>,
    /// A merge build: `commit` is the merge kiln made, which `url` does not have;
    /// `checkout scm` elsewhere (another directory, a pod) fetches it from this bundle.
    pub merge: Option<MergeBundle>,
}

/// A merge commit kiln made, as a git bundle on the controller's disk: the merge and the
/// request's commits that the target branch's head lacks. `checkout scm` copies it into the
/// repository it checks out (through the executor: a pod never reads the controller's disk)
/// and fetches the merge from it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MergeBundle {
    /// The bundle file, on the controller's machine.
    pub path: std::path::PathBuf,
    /// The target branch's head the merge was made on: the commit the bundle needs.
    pub base: String,
}

/// What started a build, as Jenkins' cause classes name them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BuildCause {
    User(String),
    Timer,
    /// A `parameterizedCron` line was due: the build starts with these parameter values.
    ParameterizedTimer(std::collections::BTreeMap<String, String>),
    Scm,
    Upstream {
        job: String,
        number: u64,
    },
    Webhook(String),
}

impl BuildCause {
    /// Jenkins' short cause name, matched by `when { triggeredBy '...' }`.
    pub fn class_name(&self) -> &'static str {
        match self {
            BuildCause::User(_) => "UserIdCause",
            BuildCause::Timer => "TimerTrigger",
            BuildCause::ParameterizedTimer(_) => "ParameterizedTimerTriggerCause",
            BuildCause::Scm | BuildCause::Webhook(_) => "SCMTrigger",
            BuildCause::Upstream { .. } => "UpstreamCause",
        }
    }

    pub fn description(&self) -> String {
        match self {
            BuildCause::User(u) => format!("Started by user {u}"),
            BuildCause::Timer => "Started by timer".into(),
            BuildCause::ParameterizedTimer(params) => {
                let list: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
                format!("Started by timer with parameters: {{{}}}", list.join(", "))
            }
            BuildCause::Scm => "Started by an SCM change".into(),
            BuildCause::Upstream { job, number } => {
                format!("Started by upstream project {job} build number {number}")
            }
            BuildCause::Webhook(what) => format!("Started by {what}"),
        }
    }
}

/// A stored secret, as the Jenkins credential types that pipelines bind.
#[derive(Clone)]
pub enum Credential {
    /// "Secret text".
    Secret(String),
    UsernamePassword {
        username: String,
        password: String,
    },
    /// "Secret file": the content; bound steps get a temporary file path.
    File {
        name: String,
        content: Vec<u8>,
    },
    SshKey {
        username: String,
        private_key: String,
        passphrase: Option<String>,
    },
    /// An Azure service principal (Azure Credentials plugin).
    AzureServicePrincipal(Box<AzureServicePrincipal>),
}

/// An Azure service principal: what `azureServicePrincipal` binds and what
/// `azureWebAppPublish` signs in with.
#[derive(Clone)]
pub struct AzureServicePrincipal {
    pub subscription_id: String,
    pub client_id: String,
    pub client_secret: String,
    pub tenant: String,
    /// The token endpoint's base; `None`: Azure's public cloud.
    pub authentication_endpoint: Option<String>,
    /// The Resource Manager API's base; `None`: Azure's public cloud.
    pub resource_manager_endpoint: Option<String>,
}

impl Credential {
    /// The values that must never appear in a log.
    pub fn secrets(&self) -> Vec<String> {
        match self {
            Credential::Secret(s) => vec![s.clone()],
            Credential::UsernamePassword { password, .. } => vec![password.clone()],
            Credential::File { content, .. } => {
                String::from_utf8(content.clone()).into_iter().collect()
            }
            Credential::SshKey {
                private_key,
                passphrase,
                ..
            } => {
                let mut v = vec![private_key.clone()];
                v.extend(passphrase.clone());
                v
            }
            // As Jenkins' binding masks every variable it binds.
            Credential::AzureServicePrincipal(sp) => vec![
                sp.client_secret.clone(),
                sp.subscription_id.clone(),
                sp.client_id.clone(),
                sp.tenant.clone(),
            ],
        }
    }
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self {
            Credential::Secret(_) => "Secret",
            Credential::UsernamePassword { .. } => "UsernamePassword",
            Credential::File { .. } => "File",
            Credential::SshKey { .. } => "SshKey",
            Credential::AzureServicePrincipal(_) => "AzureServicePrincipal",
        };
        write!(f, "Credential::{kind}(****)")
    }
}

/// Where credentials come from (a local file for `kiln run`, the server's store later).
pub trait CredentialStore: Send + Sync {
    fn get(&self, id: &str) -> Option<Credential>;
}

/// No credentials at all.
pub struct NoCredentials;

impl CredentialStore for NoCredentials {
    fn get(&self, _id: &str) -> Option<Credential> {
        None
    }
}

/// A paused `input` step or stage `input` asking someone to proceed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputRequest {
    pub id: String,
    pub message: String,
    pub ok: String,
    /// Parameters asked for, with their kinds and defaults.
    pub parameters: Vec<InputParameter>,
    /// `submitter`: who may answer (comma-separated names), as written; anyone when `None`.
    pub submitter: Option<String>,
    /// `submitterParameter`: the variable that gets the approver's name, as in Jenkins.
    pub submitter_parameter: Option<String>,
}

impl InputRequest {
    /// Each parameter's default, by name.
    pub fn defaults(&self) -> BTreeMap<String, String> {
        self.parameters
            .iter()
            .map(|p| (p.name.clone(), p.default.clone()))
            .collect()
    }
}

/// One parameter an `input` asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputParameter {
    pub name: String,
    pub kind: InputKind,
    /// The default (a `choice`'s first choice, `true`/`false` for a boolean).
    pub default: String,
    /// A `choice`'s choices.
    pub choices: Vec<String>,
    pub description: Option<String>,
}

impl InputParameter {
    /// A `string` parameter with a default.
    pub fn string(name: impl Into<String>, default: impl Into<String>) -> InputParameter {
        InputParameter {
            name: name.into(),
            kind: InputKind::String,
            default: default.into(),
            choices: Vec::new(),
            description: None,
        }
    }

    /// A parameter of a stage's `input { parameters { } }`.
    pub fn of(p: &kiln_model::Parameter) -> InputParameter {
        use kiln_model::ParameterKind as K;
        let (kind, choices) = match &p.kind {
            K::String { .. } => (InputKind::String, Vec::new()),
            K::Text { .. } => (InputKind::Text, Vec::new()),
            K::Boolean { .. } => (InputKind::Boolean, Vec::new()),
            K::Choice { choices } => (InputKind::Choice, choices.clone()),
            K::Password { .. } => (InputKind::Password, Vec::new()),
        };
        InputParameter {
            name: p.name.value.clone(),
            kind,
            default: p.kind.default_value(),
            choices,
            description: p.description.clone(),
        }
    }
}

/// The kinds of parameter an `input` asks for, by Jenkins' keywords.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputKind {
    String,
    Text,
    Boolean,
    Choice,
    Password,
}

impl InputKind {
    /// `string`, `text`, `booleanParam`, `choice`, `password`.
    pub fn keyword(self) -> &'static str {
        match self {
            InputKind::String => "string",
            InputKind::Text => "text",
            InputKind::Boolean => "booleanParam",
            InputKind::Choice => "choice",
            InputKind::Password => "password",
        }
    }

    pub fn from_keyword(keyword: &str) -> Option<InputKind> {
        [
            InputKind::String,
            InputKind::Text,
            InputKind::Boolean,
            InputKind::Choice,
            InputKind::Password,
        ]
        .into_iter()
        .find(|k| k.keyword() == keyword)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InputAnswer {
    /// Proceed, with parameter values (and who approved).
    Proceed {
        values: BTreeMap<String, String>,
        by: String,
    },
    Abort {
        by: String,
    },
}

/// Answers `input` requests: a terminal prompt for `kiln run`, the API for the server.
#[async_trait]
pub trait InputHandler: Send + Sync {
    async fn request(&self, req: InputRequest) -> InputAnswer;
}
