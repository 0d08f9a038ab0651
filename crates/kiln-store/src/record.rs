use kiln_types::{BuildRef, BuildResult, JobName, StageOutcome};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What the store knows of a job (its definition lives in the configuration).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRecord {
    pub name: JobName,
    /// The last build number handed out (0 before the first build).
    pub last_number: u64,
    /// Free-form settings the server keeps with the job (e.g. the last polled commit).
    #[serde(default)]
    pub meta: BTreeMap<String, String>,
}

/// Where a build is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BuildStatus {
    Queued,
    Running,
    /// Paused at an `input` step, waiting for someone to approve or abort.
    WaitingForInput,
    Finished,
}

/// What a new build starts with.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewBuild {
    /// What started the build, as people read it (`Started by user alice`).
    pub cause: String,
    /// The same as keys, which code decides from (see [`CauseRecord`]).
    #[serde(default)]
    pub started_by: Option<CauseRecord>,
    pub params: BTreeMap<String, String>,
    pub commit: Option<String>,
    pub branch: Option<String>,
    pub queued_at_ms: u64,
    /// A pull or merge request's build: its variables and which Jenkinsfile it runs.
    #[serde(default)]
    pub change: Option<ChangeRecord>,
}

/// What started a build, as keys: what a resumed build, `currentBuild.buildCauses` and the
/// chain of upstream builds are read from, so rewording the `cause` sentence changes
/// nothing but the text. Records written before this field have only the sentence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CauseRecord {
    User {
        user: String,
    },
    Timer,
    Scm,
    Upstream {
        job: String,
        number: u64,
    },
    /// A webhook or other outside event; `what` completes `Started by ...`.
    Webhook {
        what: String,
    },
}

/// What a pull/merge request build carries: Jenkins' `CHANGE_*` variables, whether its
/// author is trusted (an untrusted build runs the target branch's Jenkinsfile and gets no
/// credentials unless the job allows them), and the log line that says so.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeRecord {
    pub vars: BTreeMap<String, String>,
    pub trusted: bool,
    pub note: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StageState {
    Pending,
    Running,
    Done(StageOutcome),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageRecord {
    /// The plan's node id.
    pub node: u32,
    pub path: Vec<String>,
    pub state: StageState,
    pub started_at_ms: Option<u64>,
    pub duration_ms: Option<u64>,
    /// The node of the enclosing stage (or matrix, or matrix cell), from the plan.
    #[serde(default)]
    pub parent: Option<u32>,
    /// How the stage's children run (its body in the plan), for the build page's graph.
    #[serde(default)]
    pub kind: StageKind,
    /// The step whose error failed the stage, when it ran in this stage itself (records
    /// written before kiln recorded it have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_step: Option<FailedStepRecord>,
}

/// The step that failed a stage, as the engine recorded it where the step failed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedStepRecord {
    /// The step's name as called (`sh`).
    pub step: String,
    /// The first line of its main argument (a script, a message), masked as the log is.
    pub label: Option<String>,
    /// Why it failed, masked as the log is.
    pub message: String,
}

/// What a stage's body is: steps, or children run one after the other (`stages`, a matrix
/// cell) or at the same time (`parallel`, a matrix).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StageKind {
    #[default]
    Steps,
    Stages,
    Parallel,
    Matrix,
    Cell,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestSummary {
    pub total: u64,
    pub failed: u64,
    pub skipped: u64,
}

/// An archived file; the bytes live on disk under the data directory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactRecord {
    pub path: String,
    pub size: u64,
}

/// A pending `input`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputRecord {
    pub id: String,
    pub message: String,
    pub ok: String,
    pub parameters: Vec<InputParameterRecord>,
    /// Who may answer (`submitter`, comma-separated names); anyone when `None`.
    #[serde(default)]
    pub submitter: Option<String>,
    /// The variable that gets the approver's name (`submitterParameter`).
    #[serde(default)]
    pub submitter_parameter: Option<String>,
}

/// A parameter a pending `input` asks for. Records written before kinds were kept hold
/// `[name, default]` pairs, read as `string` parameters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "StoredInputParameter")]
pub struct InputParameterRecord {
    pub name: String,
    pub kind: InputParameterKind,
    /// The default; empty for a password (its default stays in the build, never stored).
    pub default: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// Jenkins' parameter keywords.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum InputParameterKind {
    #[serde(rename = "string")]
    String,
    #[serde(rename = "text")]
    Text,
    #[serde(rename = "booleanParam")]
    Boolean,
    #[serde(rename = "choice")]
    Choice,
    #[serde(rename = "password")]
    Password,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum StoredInputParameter {
    Pair(String, String),
    Full {
        name: String,
        kind: InputParameterKind,
        default: String,
        #[serde(default)]
        choices: Vec<String>,
        #[serde(default)]
        description: Option<String>,
    },
}

impl From<StoredInputParameter> for InputParameterRecord {
    fn from(stored: StoredInputParameter) -> Self {
        match stored {
            StoredInputParameter::Pair(name, default) => InputParameterRecord {
                name,
                kind: InputParameterKind::String,
                default,
                choices: Vec::new(),
                description: None,
            },
            StoredInputParameter::Full {
                name,
                kind,
                default,
                choices,
                description,
            } => InputParameterRecord {
                name,
                kind,
                default,
                choices,
                description,
            },
        }
    }
}

/// An answered `input`, kept so that a build resumed after a controller restart gets the
/// same answer when its steps run again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputAnswerRecord {
    pub id: String,
    /// Approved (`true`) or aborted.
    pub proceed: bool,
    pub by: String,
    /// The parameters' values given with an approval.
    #[serde(default)]
    pub values: BTreeMap<String, String>,
}

/// One thing a `kanikoBuild` step did that must not be done twice, kept so that a build
/// resumed after a controller restart neither builds nor pushes again; `key` is the step's
/// identity within its build (the same when the build's steps run again).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRecord {
    pub key: String,
    #[serde(flatten)]
    pub event: ImageEvent,
}

/// What an image build did (see [`ImageRecord`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ImageEvent {
    /// A Kaniko pod was started for `platform` (`None`: the builder node's own).
    Started {
        platform: Option<String>,
        pod: String,
    },
    /// The platform's image was pushed, with this manifest digest.
    Built {
        platform: Option<String>,
        digest: String,
    },
    /// The multi-arch index of `destination` was pushed.
    Indexed { destination: String, digest: String },
}

/// The Kubernetes pod a build runs in, so that a new controller can take it over.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodRecord {
    pub namespace: String,
    pub name: String,
}

/// A pod a stage of a build got of its own (a stage-level Kubernetes, docker or template
/// agent, or a scripted `node` block), so that a new controller can take it over, or knows
/// that the stage was done with it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StagePodRecord {
    /// The path of the stage that asked for the pod.
    pub stage: Vec<String>,
    /// Which of the stage's agents it is: 1 for the first the stage asked for, then 2...
    /// (each retry attempt, each `node` block gets one).
    pub seq: u32,
    pub namespace: String,
    pub name: String,
    /// Set when the stage was done with the pod (it was then released): the result the
    /// stage, or its attempt or `node` block, ended with.
    #[serde(default)]
    pub released: Option<BuildResult>,
    /// When released: the variables the build's scripts had set by then (`env.X = ...`;
    /// `None`: removed), which a resumed build sets again for a stage it does not run again.
    #[serde(default)]
    pub env: BTreeMap<String, Option<String>>,
}

/// Everything stored about one build.
///
/// Stored as JSON with only the fields that are set: every field but the id, status, cause
/// and queue time is left out when it is empty (`None`, an empty list or map, `false`) and
/// read back as empty when missing. So records written before a field existed read as they
/// were (no migration needed), records written with every empty field spelled out (kiln's
/// records before 2026-12) read the same, and a queued build's record, which the store
/// keeps and caches for each build waiting, is about a third of the size it was.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildRecord {
    pub id: BuildRef,
    pub status: BuildStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<BuildResult>,
    /// The result the build's steps ended with, stored while the build is still running,
    /// before its pods are released and its files kept: a controller taking the build over
    /// from there finishes it with this result and runs nothing again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended: Option<BuildResult>,
    pub cause: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    pub queued_at_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stages: Vec<StageRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tests: Option<TestSummary>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub artifacts: Vec<ArtifactRecord>,
    /// Why the build ended early, e.g. "controller restarted" or "cancelled by alice".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_input: Option<InputRecord>,
    /// What started the build, as keys (`cause` is its sentence).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_by: Option<CauseRecord>,
    /// The pod the build runs in, while it runs on Kubernetes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<PodRecord>,
    /// The build's answered inputs, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub answers: Vec<InputAnswerRecord>,
    /// What the build's image builds did, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<ImageRecord>,
    /// The pods the build's stages got of their own, in the order they got them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stage_pods: Vec<StagePodRecord>,
    /// The build ran a process on the controller's machine (outside any pod), which a
    /// resumed build would run again: set before the first such process starts.
    #[serde(default, skip_serializing_if = "is_false")]
    pub ran_on_controller: bool,
    /// The failed tests `junit` read, with their messages and stack traces.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed_tests: Vec<crate::FailedTestRecord>,
    /// The HTML reports `publishHTML` kept with the build.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub html_reports: Vec<crate::HtmlReportRecord>,
    /// What `recordIssues` counted, per tool.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub issues: Vec<crate::IssuesRecord>,
    /// The `env` variables the build's scripts set, recorded when it finished (what a
    /// `build` step waiting for it returns as `buildVariables`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub variables: BTreeMap<String, String>,
    /// Set on a replay: the build it replays and the Jenkinsfile text it ran instead of the
    /// one at its commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay: Option<ReplayRecord>,
    /// A pull or merge request's build (see [`ChangeRecord`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<ChangeRecord>,
}

/// Whether a flag is unset (not written to a stored record).
fn is_false(flag: &bool) -> bool {
    !*flag
}

/// What a replayed build ran: an edited copy of build `of`'s Jenkinsfile.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayRecord {
    pub of: u64,
    pub jenkinsfile: String,
}

impl BuildRecord {
    /// A new build as `create_build` stores it: `Queued`, no result, no stages yet.
    pub fn queued(id: BuildRef, new: NewBuild) -> BuildRecord {
        BuildRecord {
            id,
            status: BuildStatus::Queued,
            result: None,
            ended: None,
            cause: new.cause,
            started_by: new.started_by,
            params: new.params,
            commit: new.commit,
            branch: new.branch,
            queued_at_ms: new.queued_at_ms,
            started_at_ms: None,
            finished_at_ms: None,
            stages: Vec::new(),
            tests: None,
            artifacts: Vec::new(),
            reason: None,
            pending_input: None,
            pod: None,
            answers: Vec::new(),
            images: Vec::new(),
            stage_pods: Vec::new(),
            ran_on_controller: false,
            failed_tests: Vec::new(),
            html_reports: Vec::new(),
            issues: Vec::new(),
            variables: BTreeMap::new(),
            replay: None,
            change: new.change,
        }
    }
}

/// A page of a job's builds, newest first: `before` is an exclusive upper bound on numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Page {
    pub before: Option<u64>,
    pub limit: usize,
}

/// Bytes of a build's log from `offset`; `end` is the log's length when read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogSlice {
    pub offset: u64,
    pub bytes: Vec<u8>,
    pub end: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_written_before_pod_answers_and_stage_pods_read_without_them() {
        let id = BuildRef {
            job: JobName::new("app").unwrap(),
            number: 3,
        };
        let mut record = BuildRecord::queued(id, NewBuild::default());
        let mut old = serde_json::to_value(&record).unwrap();
        let fields = old.as_object_mut().unwrap();
        fields.remove("pod");
        fields.remove("answers");
        fields.remove("stage_pods");
        fields.remove("ran_on_controller");
        let read: BuildRecord = serde_json::from_value(old).unwrap();
        assert_eq!(read, record);
        record.pod = Some(PodRecord {
            namespace: "builds".into(),
            name: "kiln-app-3-abcde".into(),
        });
        record.answers.push(InputAnswerRecord {
            id: "Go".into(),
            proceed: true,
            by: "alice".into(),
            values: BTreeMap::from([("ENV".into(), "prod".into())]),
        });
        record.stage_pods.push(StagePodRecord {
            stage: vec!["Test".into(), "Linux".into()],
            seq: 1,
            namespace: "builds".into(),
            name: "kiln-app-3-12345".into(),
            released: Some(BuildResult::Unstable),
            env: BTreeMap::from([("VERSION".into(), Some("1.2".into()))]),
        });
        // A stage pod recorded before `released` existed is one still in use.
        let mut value = serde_json::to_value(&record.stage_pods[0]).unwrap();
        value.as_object_mut().unwrap().remove("released");
        value.as_object_mut().unwrap().remove("env");
        let read: StagePodRecord = serde_json::from_value(value).unwrap();
        assert_eq!(read.released, None);
        let text = serde_json::to_string(&record).unwrap();
        assert_eq!(serde_json::from_str::<BuildRecord>(&text).unwrap(), record);
    }

    /// A queued build's record as kiln wrote it before empty fields were left out: every
    /// field spelled out.
    const QUEUED_WITH_EVERY_FIELD: &str = r#"{"id":{"job":"app","number":7},"status":"queued","result":null,"cause":"Started by user alice","params":{"ENV":"prod"},"commit":null,"branch":"main","queued_at_ms":1700000000000,"started_at_ms":null,"finished_at_ms":null,"stages":[],"tests":null,"artifacts":[],"reason":null,"pending_input":null,"started_by":{"kind":"user","user":"alice"},"pod":null,"answers":[],"images":[],"stage_pods":[],"ran_on_controller":false,"failed_tests":[],"html_reports":[],"issues":[],"variables":{},"replay":null,"change":null}"#;

    #[test]
    fn records_leave_empty_fields_out_and_read_both_forms() {
        let old: BuildRecord = serde_json::from_str(QUEUED_WITH_EVERY_FIELD).unwrap();
        assert_eq!(old.id.to_string(), "app#7");
        assert_eq!(old.params["ENV"], "prod");
        assert_eq!(old.branch.as_deref(), Some("main"));
        let text = serde_json::to_string(&old).unwrap();
        assert_eq!(
            text,
            r#"{"id":{"job":"app","number":7},"status":"queued","cause":"Started by user alice","params":{"ENV":"prod"},"branch":"main","queued_at_ms":1700000000000,"started_by":{"kind":"user","user":"alice"}}"#
        );
        assert_eq!(serde_json::from_str::<BuildRecord>(&text).unwrap(), old);
        // Only the four fields always written are needed.
        let least =
            r#"{"id":{"job":"app","number":8},"status":"queued","cause":"x","queued_at_ms":0}"#;
        let read: BuildRecord = serde_json::from_str(least).unwrap();
        assert_eq!(
            read,
            BuildRecord::queued(
                read.id.clone(),
                NewBuild {
                    cause: "x".into(),
                    ..NewBuild::default()
                }
            )
        );
        // A field that is set is written, and a flag only when it is set.
        let mut ran = read.clone();
        ran.ran_on_controller = true;
        ran.result = Some(BuildResult::Failure);
        let text = serde_json::to_string(&ran).unwrap();
        assert!(text.contains(r#""ran_on_controller":true"#), "{text}");
        assert!(text.contains(r#""result":"FAILURE""#), "{text}");
        assert_eq!(serde_json::from_str::<BuildRecord>(&text).unwrap(), ran);
    }

    #[test]
    fn stages_keep_their_failed_step_and_old_stages_read_without_one() {
        let old = r#"{"node":2,"path":["Test"],"state":{"done":{"ran":"FAILURE"}},"started_at_ms":5,"duration_ms":7}"#;
        let read: StageRecord = serde_json::from_str(old).unwrap();
        assert_eq!(read.failed_step, None);
        let now = StageRecord {
            failed_step: Some(FailedStepRecord {
                step: "sh".into(),
                label: Some("make check".into()),
                message: "script returned exit code 2".into(),
            }),
            ..read
        };
        let text = serde_json::to_string(&now).unwrap();
        assert_eq!(serde_json::from_str::<StageRecord>(&text).unwrap(), now);
    }

    #[test]
    fn pending_inputs_written_before_kinds_read_as_strings() {
        let old =
            r#"{"id":"Go","message":"Deploy?","ok":"Ship","parameters":[["TARGET","staging"]]}"#;
        let read: InputRecord = serde_json::from_str(old).unwrap();
        assert_eq!(read.parameters[0].name, "TARGET");
        assert_eq!(read.parameters[0].kind, InputParameterKind::String);
        assert_eq!(read.parameters[0].default, "staging");
        assert_eq!(read.submitter_parameter, None);
        let now = InputRecord {
            parameters: vec![InputParameterRecord {
                name: "COLOUR".into(),
                kind: InputParameterKind::Choice,
                default: "red".into(),
                choices: vec!["red".into(), "blue".into()],
                description: Some("which".into()),
            }],
            submitter_parameter: Some("APPROVER".into()),
            ..read
        };
        let text = serde_json::to_string(&now).unwrap();
        assert!(text.contains(r#""kind":"choice""#), "{text}");
        assert_eq!(serde_json::from_str::<InputRecord>(&text).unwrap(), now);
    }
}
