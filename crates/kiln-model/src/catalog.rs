//! The steps kiln knows: its own (with their parameters) and the Jenkins plugin steps it
//! does not provide, so `kiln lint` can name every gap when a pipeline is migrated.

use serde::Serialize;

/// The steps kiln provides natively.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum StepId {
    Sh,
    Echo,
    Error,
    Dir,
    WithEnv,
    Timeout,
    Retry,
    Sleep,
    CatchError,
    WarnError,
    Unstable,
    WriteFile,
    ReadFile,
    FileExists,
    DeleteDir,
    CleanWs,
    Pwd,
    IsUnix,
    Stash,
    Unstash,
    ArchiveArtifacts,
    Junit,
    Checkout,
    Git,
    Input,
    WithCredentials,
    Timestamps,
    AnsiColor,
    Container,
    Tool,
    ReadJson,
    WriteJson,
    ReadYaml,
    WriteYaml,
    KanikoBuild,
    Mail,
    Emailext,
    HttpRequest,
    WithSonarQubeEnv,
    WaitForQualityGate,
    SlackSend,
    WithVault,
    PublishHtml,
    Bat,
    Powershell,
    Pwsh,
    RecordIssues,
    Lock,
    Build,
    Milestone,
    ReadProperties,
    FindFiles,
    Sha256,
    Sha1,
    SshAgent,
    ConfigFileProvider,
    WithMaven,
    /// `withDockerContainer(image: 'x') { }`: the block in a container of the image.
    WithDockerContainer,
    /// `ws('dir') { }`: the block in another workspace directory.
    Ws,
    /// `nodejs('name') { }`: a NodeJS installation around the block.
    NodeJs,
    Zip,
    Unzip,
    Tee,
    FileOperations,
    CompressLog,
    WithDockerRegistry,
    GithubNotify,
    GitlabCommitStatus,
    UpdateGitlabCommitStatus,
    SetGithubPullRequestStatus,
    /// `step([$class: 'JUnitResultArchiver', ...])`: Jenkins' generic build-step form.
    Step,
    /// `archive 'x'`: the deprecated alias of `archiveArtifacts`.
    Archive,
    /// `checkstyle`, `pmd`, `findbugs`, `warnings`: the retired analysis-core steps, run as
    /// `recordIssues` with their thresholds.
    LegacyAnalysis,
    /// `openshiftBuild(buildConfig: ...)`: a build through the OpenShift API.
    OpenshiftBuild,
    /// `openshiftDeploy(depCfg: ...)`: a deployment through the OpenShift API.
    OpenshiftDeploy,
    /// `deploy adapters: [tomcat9(...)], war: '...'` (Deploy to container): a WAR to Tomcat.
    Deploy,
    /// `robot outputPath: '...'` (Robot Framework): the build's result from Robot's totals.
    Robot,
    /// `azureWebAppPublish(azureCredentialsId:, resourceGroup:, appName:, ...)` (Azure App
    /// Service plugin): files deployed to a web app through Azure's APIs.
    AzureWebAppPublish,
    /// `withCoverityEnv(coverityToolName:, connectInstance:) { }` (Coverity plugin).
    WithCoverityEnv,
    /// `gateProducesArtifact(...)` (CloudBees DevOptics): an artifact recorded as produced.
    GateProducesArtifact,
    /// `gateConsumesArtifact(...)` (CloudBees DevOptics): an artifact recorded as consumed.
    GateConsumesArtifact,
    /// `gateConsumesRun(jobName:, runId:)` (CloudBees DevOptics): another job's run recorded
    /// as consumed.
    GateConsumesRun,
}

/// The type an argument must have when it is written as a literal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum ArgType {
    String,
    Bool,
    Int,
    List,
    Map,
    /// A string or a list of strings.
    StringOrList,
    Any,
}

impl ArgType {
    pub fn describe(self) -> &'static str {
        match self {
            ArgType::String => "a string",
            ArgType::Bool => "a boolean",
            ArgType::Int => "a number",
            ArgType::List => "a list",
            ArgType::Map => "a map",
            ArgType::StringOrList => "a string or a list",
            ArgType::Any => "a value",
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub struct ParamDef {
    pub name: &'static str,
    pub ty: ArgType,
    pub required: bool,
}

/// Whether a step takes a `{ }` block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyRule {
    None,
    Optional,
    Required,
}

/// A native step: its parameters (the first is the one a single positional argument
/// fills, as in `sh 'make'`), and whether it takes a block.
#[derive(Clone, Copy, Debug)]
pub struct StepDef {
    pub name: &'static str,
    pub id: StepId,
    pub params: &'static [ParamDef],
    pub body: BodyRule,
}

const fn p(name: &'static str, ty: ArgType) -> ParamDef {
    ParamDef {
        name,
        ty,
        required: false,
    }
}

const fn req(name: &'static str, ty: ArgType) -> ParamDef {
    ParamDef {
        name,
        ty,
        required: true,
    }
}

use ArgType as T;
use BodyRule as B;

const fn def(
    name: &'static str,
    id: StepId,
    params: &'static [ParamDef],
    body: BodyRule,
) -> StepDef {
    StepDef {
        name,
        id,
        params,
        body,
    }
}

/// The parameters of `bat`, `powershell` and `pwsh`, as of `sh`.
const WINDOWS_SHELL: &[ParamDef] = &[
    req("script", T::String),
    p("returnStdout", T::Bool),
    p("returnStatus", T::Bool),
    p("label", T::String),
    p("encoding", T::String),
];

/// The parameters of DevOptics' `gateProducesArtifact` and `gateConsumesArtifact`: a
/// workspace file, or an id and type naming an artifact that is not a file.
const GATE_ARTIFACT: &[ParamDef] = &[
    p("file", T::String),
    p("id", T::String),
    p("type", T::String),
    p("label", T::String),
];

/// The parameters of the retired analysis-core steps (`checkstyle`, `pmd`, `findbugs`,
/// `warnings`): the report pattern, the thresholds, and the options kiln names as unused.
const LEGACY_ANALYSIS: &[ParamDef] = &[
    p("pattern", T::String),
    p("healthy", T::Any),
    p("unHealthy", T::Any),
    p("thresholdLimit", T::String),
    p("defaultEncoding", T::String),
    p("canRunOnFailed", T::Bool),
    p("usePreviousBuildAsReference", T::Bool),
    p("useStableBuildAsReference", T::Bool),
    p("useDeltaValues", T::Bool),
    p("shouldDetectModules", T::Bool),
    p("dontComputeNew", T::Bool),
    p("canComputeNew", T::Bool),
    p("doNotResolveRelativePaths", T::Bool),
    p("canResolveRelativePaths", T::Bool),
    p("excludePattern", T::String),
    p("includePattern", T::String),
    p("isRankActivated", T::Bool),
    p("parserConfigurations", T::List),
    p("consoleParsers", T::List),
    p("messagesPattern", T::String),
    p("categoriesPattern", T::String),
    p("unstableTotalAll", T::Any),
    p("unstableTotalHigh", T::Any),
    p("unstableTotalNormal", T::Any),
    p("unstableTotalLow", T::Any),
    p("failedTotalAll", T::Any),
    p("failedTotalHigh", T::Any),
    p("failedTotalNormal", T::Any),
    p("failedTotalLow", T::Any),
    p("unstableNewAll", T::Any),
    p("unstableNewHigh", T::Any),
    p("unstableNewNormal", T::Any),
    p("unstableNewLow", T::Any),
    p("failedNewAll", T::Any),
    p("failedNewHigh", T::Any),
    p("failedNewNormal", T::Any),
    p("failedNewLow", T::Any),
];

/// Every native step.
pub const STEPS: &[StepDef] = &[
    def(
        "publishHTML",
        StepId::PublishHtml,
        &[req("target", T::Map)],
        B::None,
    ),
    def("bat", StepId::Bat, WINDOWS_SHELL, B::None),
    def("powershell", StepId::Powershell, WINDOWS_SHELL, B::None),
    def("pwsh", StepId::Pwsh, WINDOWS_SHELL, B::None),
    def(
        "readProperties",
        StepId::ReadProperties,
        &[
            p("file", T::String),
            p("text", T::String),
            p("defaults", T::Map),
        ],
        B::None,
    ),
    def(
        "findFiles",
        StepId::FindFiles,
        &[p("glob", T::String), p("excludes", T::String)],
        B::None,
    ),
    def("sha256", StepId::Sha256, &[req("file", T::String)], B::None),
    def("sha1", StepId::Sha1, &[req("file", T::String)], B::None),
    def(
        "sshagent",
        StepId::SshAgent,
        &[
            req("credentials", T::StringOrList),
            p("ignoreMissing", T::Bool),
        ],
        B::Required,
    ),
    def(
        "configFileProvider",
        StepId::ConfigFileProvider,
        &[req("managedFiles", T::List)],
        B::Required,
    ),
    def(
        "withMaven",
        StepId::WithMaven,
        &[
            p("maven", T::String),
            p("jdk", T::String),
            p("mavenSettingsConfig", T::String),
            p("mavenSettingsFilePath", T::String),
            p("globalMavenSettingsConfig", T::String),
            p("globalMavenSettingsFilePath", T::String),
            p("mavenOpts", T::String),
            p("mavenLocalRepo", T::String),
            p("options", T::List),
            p("publisherStrategy", T::String),
            p("traceability", T::Bool),
            p("tempBinDir", T::String),
        ],
        B::Required,
    ),
    def("ws", StepId::Ws, &[req("dir", T::String)], B::Required),
    def(
        "withDockerContainer",
        StepId::WithDockerContainer,
        &[
            req("image", T::String),
            p("args", T::String),
            p("toolName", T::String),
        ],
        B::Required,
    ),
    def(
        "nodejs",
        StepId::NodeJs,
        &[
            req("nodeJSInstallationName", T::String),
            p("configId", T::String),
        ],
        B::Required,
    ),
    def(
        "zip",
        StepId::Zip,
        &[
            req("zipFile", T::String),
            p("dir", T::String),
            p("glob", T::String),
            p("exclude", T::String),
            p("archive", T::Bool),
            p("overwrite", T::Bool),
        ],
        B::None,
    ),
    def(
        "unzip",
        StepId::Unzip,
        &[
            req("zipFile", T::String),
            p("dir", T::String),
            p("glob", T::String),
            p("quiet", T::Bool),
            p("read", T::Bool),
            p("test", T::Bool),
            p("charset", T::String),
        ],
        B::None,
    ),
    def("tee", StepId::Tee, &[req("file", T::String)], B::Required),
    def(
        "fileOperations",
        StepId::FileOperations,
        &[req("operations", T::List)],
        B::None,
    ),
    def("compressLog", StepId::CompressLog, &[], B::Required),
    def(
        "withDockerRegistry",
        StepId::WithDockerRegistry,
        &[
            p("registry", T::Any),
            p("url", T::String),
            p("credentialsId", T::String),
            p("toolName", T::String),
        ],
        B::Required,
    ),
    def(
        "recordIssues",
        StepId::RecordIssues,
        &[
            p("tools", T::Any),
            p("tool", T::Any),
            p("qualityGates", T::List),
            p("enabledForFailure", T::Bool),
            p("aggregatingResults", T::Bool),
            p("id", T::String),
            p("name", T::String),
            p("ignoreQualityGate", T::Bool),
            p("skipPublishingChecks", T::Bool),
            p("sourceCodeEncoding", T::String),
            p("healthy", T::Int),
            p("unhealthy", T::Int),
            p("minimumSeverity", T::String),
            p("failOnError", T::Bool),
            p("skipBlames", T::Bool),
        ],
        B::None,
    ),
    def(
        "lock",
        StepId::Lock,
        &[
            p("resource", T::String),
            p("label", T::String),
            p("quantity", T::Int),
            p("inversePrecedence", T::Bool),
            p("variable", T::String),
            p("skipIfLocked", T::Bool),
            p("extra", T::List),
        ],
        B::Required,
    ),
    def(
        "build",
        StepId::Build,
        &[
            req("job", T::String),
            p("parameters", T::List),
            p("wait", T::Bool),
            p("propagate", T::Bool),
            p("quietPeriod", T::Int),
        ],
        B::None,
    ),
    def(
        "milestone",
        StepId::Milestone,
        &[p("ordinal", T::Int), p("label", T::String)],
        B::None,
    ),
    def(
        "readJSON",
        StepId::ReadJson,
        &[
            p("file", T::String),
            p("text", T::String),
            p("returnPojo", T::Bool),
        ],
        B::None,
    ),
    def(
        "writeJSON",
        StepId::WriteJson,
        &[
            req("file", T::String),
            req("json", T::Any),
            p("pretty", T::Int),
        ],
        B::None,
    ),
    def(
        "readYaml",
        StepId::ReadYaml,
        &[p("file", T::String), p("text", T::String)],
        B::None,
    ),
    def(
        "writeYaml",
        StepId::WriteYaml,
        &[
            req("file", T::String),
            req("data", T::Any),
            p("overwrite", T::Bool),
            p("charset", T::String),
        ],
        B::None,
    ),
    def(
        "kanikoBuild",
        StepId::KanikoBuild,
        &[
            p("context", T::String),
            p("dockerfile", T::String),
            req("destinations", T::StringOrList),
            p("cache", T::Bool),
            p("cacheRepo", T::String),
            p("buildArgs", T::Any),
            p("platforms", T::StringOrList),
            p("insecureRegistries", T::StringOrList),
        ],
        B::None,
    ),
    def(
        "mail",
        StepId::Mail,
        &[
            p("to", T::String),
            p("cc", T::String),
            p("bcc", T::String),
            p("from", T::String),
            p("replyTo", T::String),
            req("subject", T::String),
            req("body", T::String),
            p("mimeType", T::String),
            p("charset", T::String),
        ],
        B::None,
    ),
    def(
        "emailext",
        StepId::Emailext,
        &[
            p("to", T::String),
            p("subject", T::String),
            p("body", T::String),
            p("attachLog", T::Bool),
            p("compressLog", T::Bool),
            p("attachmentsPattern", T::String),
            p("recipientProviders", T::List),
            p("mimeType", T::String),
            p("replyTo", T::String),
            p("from", T::String),
        ],
        B::None,
    ),
    def(
        "httpRequest",
        StepId::HttpRequest,
        &[
            req("url", T::String),
            p("httpMode", T::String),
            p("requestBody", T::String),
            p("contentType", T::String),
            p("acceptType", T::String),
            p("customHeaders", T::List),
            p("authentication", T::String),
            p("validResponseCodes", T::String),
            p("validResponseContent", T::String),
            p("ignoreSslErrors", T::Bool),
            p("timeout", T::Int),
            p("consoleLogResponseBody", T::Bool),
            p("quiet", T::Bool),
            p("responseHandle", T::String),
            p("outputFile", T::String),
        ],
        B::None,
    ),
    def(
        "withSonarQubeEnv",
        StepId::WithSonarQubeEnv,
        &[
            p("installationName", T::String),
            p("credentialsId", T::String),
            p("envOnly", T::Bool),
        ],
        B::Required,
    ),
    def(
        "waitForQualityGate",
        StepId::WaitForQualityGate,
        &[
            p("abortPipeline", T::Bool),
            p("credentialsId", T::String),
            p("webhookSecretId", T::String),
        ],
        B::None,
    ),
    // Commit statuses to the job's forge (pipeline-githubnotify-step, GitLab plugin, GitHub
    // Integration plugin), with the plugins' parameters.
    def(
        "githubNotify",
        StepId::GithubNotify,
        &[
            req("status", T::String),
            req("description", T::String),
            p("context", T::String),
            p("sha", T::String),
            p("targetUrl", T::String),
            p("account", T::String),
            p("repo", T::String),
            p("credentialsId", T::String),
            p("gitApiUrl", T::String),
        ],
        B::None,
    ),
    def(
        "gitlabCommitStatus",
        StepId::GitlabCommitStatus,
        &[
            p("name", T::String),
            p("builds", T::List),
            p("connection", T::String),
        ],
        B::Required,
    ),
    def(
        "updateGitlabCommitStatus",
        StepId::UpdateGitlabCommitStatus,
        &[p("name", T::String), req("state", T::String)],
        B::None,
    ),
    def(
        "setGitHubPullRequestStatus",
        StepId::SetGithubPullRequestStatus,
        &[
            p("context", T::String),
            p("message", T::String),
            req("state", T::String),
        ],
        B::None,
    ),
    def(
        "slackSend",
        StepId::SlackSend,
        &[
            p("message", T::String),
            p("channel", T::String),
            p("color", T::String),
            p("tokenCredentialId", T::String),
            p("token", T::String),
            p("webhookUrl", T::String),
            p("baseUrl", T::String),
            p("teamDomain", T::String),
            p("botUser", T::Bool),
            p("failOnError", T::Bool),
            p("replyBroadcast", T::Bool),
            p("username", T::String),
            p("iconEmoji", T::String),
        ],
        B::None,
    ),
    def(
        "withVault",
        StepId::WithVault,
        &[p("configuration", T::Map), p("vaultSecrets", T::List)],
        B::Required,
    ),
    def(
        "sh",
        StepId::Sh,
        &[
            req("script", T::String),
            p("returnStdout", T::Bool),
            p("returnStatus", T::Bool),
            p("label", T::String),
            p("encoding", T::String),
        ],
        B::None,
    ),
    def("echo", StepId::Echo, &[req("message", T::Any)], B::None),
    def("error", StepId::Error, &[req("message", T::Any)], B::None),
    def("dir", StepId::Dir, &[req("path", T::String)], B::Required),
    def(
        "withEnv",
        StepId::WithEnv,
        &[req("overrides", T::List)],
        B::Required,
    ),
    def(
        "timeout",
        StepId::Timeout,
        &[
            req("time", T::Int),
            p("unit", T::String),
            p("activity", T::Bool),
        ],
        B::Required,
    ),
    def(
        "retry",
        StepId::Retry,
        &[req("count", T::Int), p("conditions", T::List)],
        B::Required,
    ),
    def(
        "sleep",
        StepId::Sleep,
        &[req("time", T::Int), p("unit", T::String)],
        B::None,
    ),
    def(
        "catchError",
        StepId::CatchError,
        &[
            p("message", T::String),
            p("buildResult", T::String),
            p("stageResult", T::String),
            p("catchInterruptions", T::Bool),
        ],
        B::Required,
    ),
    def(
        "warnError",
        StepId::WarnError,
        &[req("message", T::String), p("catchInterruptions", T::Bool)],
        B::Required,
    ),
    def(
        "unstable",
        StepId::Unstable,
        &[req("message", T::String)],
        B::None,
    ),
    def(
        "writeFile",
        StepId::WriteFile,
        &[
            req("file", T::String),
            req("text", T::String),
            p("encoding", T::String),
        ],
        B::None,
    ),
    def(
        "readFile",
        StepId::ReadFile,
        &[req("file", T::String), p("encoding", T::String)],
        B::None,
    ),
    def(
        "fileExists",
        StepId::FileExists,
        &[req("file", T::String)],
        B::None,
    ),
    def("deleteDir", StepId::DeleteDir, &[], B::None),
    def(
        "cleanWs",
        StepId::CleanWs,
        &[
            p("patterns", T::List),
            p("deleteDirs", T::Bool),
            p("disableDeferredWipeout", T::Bool),
            p("notFailBuild", T::Bool),
            p("cleanWhenSuccess", T::Bool),
            p("cleanWhenFailure", T::Bool),
            p("cleanWhenAborted", T::Bool),
            p("cleanWhenUnstable", T::Bool),
            p("cleanWhenNotBuilt", T::Bool),
        ],
        B::None,
    ),
    def("pwd", StepId::Pwd, &[p("tmp", T::Bool)], B::None),
    def("isUnix", StepId::IsUnix, &[], B::None),
    def(
        "stash",
        StepId::Stash,
        &[
            req("name", T::String),
            p("includes", T::String),
            p("excludes", T::String),
            p("useDefaultExcludes", T::Bool),
            p("allowEmpty", T::Bool),
        ],
        B::None,
    ),
    def(
        "unstash",
        StepId::Unstash,
        &[req("name", T::String)],
        B::None,
    ),
    def(
        "archiveArtifacts",
        StepId::ArchiveArtifacts,
        &[
            req("artifacts", T::String),
            p("excludes", T::String),
            p("allowEmptyArchive", T::Bool),
            p("fingerprint", T::Bool),
            p("onlyIfSuccessful", T::Bool),
            p("caseSensitive", T::Bool),
            p("defaultExcludes", T::Bool),
            p("followSymlinks", T::Bool),
        ],
        B::None,
    ),
    def(
        "archive",
        StepId::Archive,
        &[req("includes", T::String), p("excludes", T::String)],
        B::None,
    ),
    def("step", StepId::Step, &[req("delegate", T::Any)], B::None),
    def(
        "openshiftBuild",
        StepId::OpenshiftBuild,
        &[
            req("buildConfig", T::String),
            p("namespace", T::String),
            p("apiURL", T::String),
            p("authToken", T::String),
            p("showBuildLogs", T::Any),
            p("commitID", T::String),
            p("waitTime", T::Any),
            p("waitUnit", T::String),
            p("buildName", T::String),
            p("checkForTriggeredDeployments", T::Any),
            p("verbose", T::Any),
            p("env", T::Any),
        ],
        B::None,
    ),
    def(
        "robot",
        StepId::Robot,
        &[
            req("outputPath", T::String),
            p("outputFileName", T::String),
            p("passThreshold", T::Any),
            p("unstableThreshold", T::Any),
            p("countSkippedTests", T::Bool),
            p("reportFileName", T::String),
            p("logFileName", T::String),
            p("archiveDirName", T::String),
            p("disableArchiveOutput", T::Bool),
            p("otherFiles", T::String),
            p("enableCache", T::Bool),
            p("onlyCritical", T::Bool),
            p("overwriteXAxisLabel", T::String),
            p("useArtifactManager", T::Bool),
        ],
        B::None,
    ),
    def(
        "deploy",
        StepId::Deploy,
        &[
            req("war", T::String),
            p("adapters", T::Any),
            p("contextPath", T::String),
            p("onFailure", T::Bool),
        ],
        B::None,
    ),
    def(
        "azureWebAppPublish",
        StepId::AzureWebAppPublish,
        &[
            req("azureCredentialsId", T::String),
            req("resourceGroup", T::String),
            req("appName", T::String),
            p("publishType", T::String),
            p("filePath", T::String),
            p("sourceDirectory", T::String),
            p("targetDirectory", T::String),
            p("slotName", T::String),
            p("deployOnlyIfSuccessful", T::Bool),
            p("deleteTempImage", T::Bool),
            p("skipDockerBuild", T::Bool),
            p("dockerFilePath", T::String),
            p("dockerImageName", T::String),
            p("dockerImageTag", T::String),
            p("dockerRegistryEndpoint", T::Any),
        ],
        B::None,
    ),
    def(
        "withCoverityEnv",
        StepId::WithCoverityEnv,
        &[
            req("coverityToolName", T::String),
            p("connectInstance", T::String),
            p("hostVariable", T::String),
            p("portVariable", T::String),
            p("usernameVariable", T::String),
            p("passwordVariable", T::String),
        ],
        B::Required,
    ),
    def(
        "gateProducesArtifact",
        StepId::GateProducesArtifact,
        GATE_ARTIFACT,
        B::None,
    ),
    def(
        "gateConsumesArtifact",
        StepId::GateConsumesArtifact,
        GATE_ARTIFACT,
        B::None,
    ),
    def(
        "gateConsumesRun",
        StepId::GateConsumesRun,
        &[
            req("jobName", T::String),
            p("runId", T::String),
            p("masterUrl", T::String),
        ],
        B::None,
    ),
    def(
        "openshiftDeploy",
        StepId::OpenshiftDeploy,
        &[
            req("depCfg", T::String),
            p("namespace", T::String),
            p("apiURL", T::String),
            p("authToken", T::String),
            p("waitTime", T::Any),
            p("waitUnit", T::String),
            p("verbose", T::Any),
            p("env", T::Any),
        ],
        B::None,
    ),
    def(
        "checkstyle",
        StepId::LegacyAnalysis,
        LEGACY_ANALYSIS,
        B::None,
    ),
    def("pmd", StepId::LegacyAnalysis, LEGACY_ANALYSIS, B::None),
    def("findbugs", StepId::LegacyAnalysis, LEGACY_ANALYSIS, B::None),
    def("warnings", StepId::LegacyAnalysis, LEGACY_ANALYSIS, B::None),
    def(
        "junit",
        StepId::Junit,
        &[
            req("testResults", T::String),
            p("allowEmptyResults", T::Bool),
            p("skipPublishingChecks", T::Bool),
            p("skipMarkingBuildUnstable", T::Bool),
            p("keepLongStdio", T::Bool),
            p("healthScaleFactor", T::Any),
        ],
        B::None,
    ),
    def(
        "checkout",
        StepId::Checkout,
        &[
            req("scm", T::Any),
            p("poll", T::Bool),
            p("changelog", T::Bool),
        ],
        B::None,
    ),
    def(
        "git",
        StepId::Git,
        &[
            req("url", T::String),
            p("branch", T::String),
            p("credentialsId", T::String),
            p("changelog", T::Bool),
            p("poll", T::Bool),
        ],
        B::None,
    ),
    def(
        "input",
        StepId::Input,
        &[
            req("message", T::String),
            p("id", T::String),
            p("ok", T::String),
            p("submitter", T::String),
            p("submitterParameter", T::String),
            p("parameters", T::List),
        ],
        B::None,
    ),
    def(
        "withCredentials",
        StepId::WithCredentials,
        &[req("bindings", T::List)],
        B::Required,
    ),
    def("timestamps", StepId::Timestamps, &[], B::Required),
    def(
        "ansiColor",
        StepId::AnsiColor,
        &[p("colorMapName", T::String)],
        B::Required,
    ),
    def(
        "container",
        StepId::Container,
        &[req("name", T::String), p("shell", T::String)],
        B::Required,
    ),
    def(
        "tool",
        StepId::Tool,
        &[req("name", T::String), p("type", T::String)],
        B::None,
    ),
];

/// The native step called `name`.
pub fn native_step(name: &str) -> Option<&'static StepDef> {
    STEPS.iter().find(|s| s.name == name)
}

/// Well-known Jenkins steps kiln does not provide, with the plugin each comes from.
pub const PLUGIN_STEPS: &[(&str, &str)] = &[
    ("emailextrecipients", "Email Extension plugin"),
    ("scanForIssues", "Warnings Next Generation plugin"),
    ("publishIssues", "Warnings Next Generation plugin"),
    ("withDockerServer", "Docker Pipeline plugin"),
    ("dockerFingerprintFrom", "Docker Pipeline plugin"),
    ("sshPublisher", "Publish Over SSH plugin"),
    ("copyArtifacts", "Copy Artifact plugin"),
    ("jacoco", "JaCoCo plugin"),
    ("hygieiaBuildPublishStep", "Hygieia plugin"),
    ("cobertura", "Cobertura plugin"),
    ("publishCoverage", "Code Coverage API plugin"),
    ("recordCoverage", "Coverage plugin"),
    ("properties", "Jenkins job properties"),
    ("readMavenPom", "Pipeline Utility Steps plugin"),
    ("touch", "Pipeline Utility Steps plugin"),
    ("nexusArtifactUploader", "Nexus Artifact Uploader plugin"),
    ("nexusPublisher", "Nexus Platform plugin"),
    ("kubernetesDeploy", "Kubernetes Continuous Deploy plugin"),
    ("ansiblePlaybook", "Ansible plugin"),
    ("notifyBitbucket", "Bitbucket Build Status Notifier plugin"),
    ("office365ConnectorSend", "Office 365 Connector plugin"),
    ("discordSend", "Discord Notifier plugin"),
    ("influxDbPublisher", "InfluxDB plugin"),
    ("publishChecks", "Checks API plugin"),
    ("fingerprint", "Jenkins core"),
    ("buildName", "Build Name and Description Setter plugin"),
    (
        "buildDescription",
        "Build Name and Description Setter plugin",
    ),
    ("cleanWorkspace", "Workspace Cleanup plugin"),
    (
        "node",
        "Jenkins agents (in declarative pipelines, use `agent`)",
    ),
    (
        "podTemplate",
        "Kubernetes plugin (in declarative pipelines, use `agent { kubernetes { } }`)",
    ),
    (
        "parallel",
        "Jenkins Pipeline (in `steps { }`, use a `parallel { }` stage or a `script { }` block)",
    ),
    (
        "stage",
        "Jenkins Pipeline (in `steps { }`, use `stages { stage(...) { } }`)",
    ),
];

/// The plugin a well-known Jenkins step comes from, for steps kiln does not provide.
pub fn plugin_of(step: &str) -> Option<&'static str> {
    PLUGIN_STEPS
        .iter()
        .find(|(n, _)| *n == step)
        .map(|(_, p)| *p)
}

/// The diagnostic code of a step a known Jenkins plugin provides and kiln does not.
pub const UNSUPPORTED_STEP: &str = "unsupported-step";
/// The diagnostic code of a step neither kiln nor a known plugin provides.
pub const UNKNOWN_STEP: &str = "unknown-step";

/// What lint warns and the build fails with when a step kiln does not provide is reached
/// (one sentence for both, so the log says what lint said).
pub fn unprovided_step_message(step: &str) -> String {
    match plugin_of(step) {
        Some(plugin) => {
            format!("step `{step}` is not provided by kiln (it comes from the {plugin})")
        }
        None => format!("step `{step}` is not provided by kiln"),
    }
}
