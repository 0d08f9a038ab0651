//! `kiln import jenkins` end to end: a made-up controller (JCasC file, jobs folder pointing
//! at a git repository made by the test) imported by the real binary, the written file served
//! by `kiln server`, and imported jobs triggered until they succeed; `kiln audit` over a
//! folder mixing good and bad Jenkinsfiles.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use kiln_testkit::GitRepo;
use std::path::Path;
use std::process::Command;
use support::{KILN, Server};

const JENKINSFILE: &str = "pipeline {
    agent any
    parameters { string(name: 'GREETING', defaultValue: 'hello') }
    stages {
        stage('Build') {
            steps { sh 'echo \"$GREETING from the imported job\"' }
        }
    }
}
";

const JCASC: &str = "jenkins:
  numExecutors: 2
  systemMessage: made-up controller
credentials:
  system:
    domainCredentials:
      - credentials:
          - string:
              id: deploy-token
              secret: \"${DEPLOY_TOKEN}\"
";

fn pipeline_job(url: &str, branch: &str, extra_properties: &str) -> String {
    format!(
        "<?xml version='1.1' encoding='UTF-8'?>
<flow-definition plugin=\"workflow-job@1400.v7fd111b_ec82f\">
  <properties>
    <hudson.model.ParametersDefinitionProperty>
      <parameterDefinitions>
        <hudson.model.StringParameterDefinition>
          <name>GREETING</name>
          <defaultValue>bonjour</defaultValue>
        </hudson.model.StringParameterDefinition>
      </parameterDefinitions>
    </hudson.model.ParametersDefinitionProperty>{extra_properties}
  </properties>
  <definition class=\"org.jenkinsci.plugins.workflow.cps.CpsScmFlowDefinition\">
    <scm class=\"hudson.plugins.git.GitSCM\">
      <userRemoteConfigs>
        <hudson.plugins.git.UserRemoteConfig>
          <url>{url}</url>
        </hudson.plugins.git.UserRemoteConfig>
      </userRemoteConfigs>
      <branches>
        <hudson.plugins.git.BranchSpec><name>*/{branch}</name></hudson.plugins.git.BranchSpec>
      </branches>
    </scm>
    <scriptPath>Jenkinsfile</scriptPath>
  </definition>
  <disabled>false</disabled>
</flow-definition>
"
    )
}

fn inline_job(script: &str) -> String {
    let escaped = script
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\'', "&apos;")
        .replace('"', "&quot;");
    format!(
        "<?xml version='1.1' encoding='UTF-8'?>
<flow-definition plugin=\"workflow-job@1400.v7fd111b_ec82f\">
  <properties/>
  <definition class=\"org.jenkinsci.plugins.workflow.cps.CpsFlowDefinition\">
    <script>{escaped}</script>
    <sandbox>true</sandbox>
  </definition>
  <disabled>false</disabled>
</flow-definition>
"
    )
}

fn multibranch_job(url: &str) -> String {
    format!(
        "<?xml version='1.1' encoding='UTF-8'?>
<org.jenkinsci.plugins.workflow.multibranch.WorkflowMultiBranchProject plugin=\"workflow-multibranch@795\">
  <properties/>
  <sources class=\"jenkins.branch.MultiBranchProject$BranchSourceList\">
    <data>
      <jenkins.branch.BranchSource>
        <source class=\"jenkins.plugins.git.GitSCMSource\" plugin=\"git@5.6.0\">
          <remote>{url}</remote>
          <traits><jenkins.plugins.git.traits.BranchDiscoveryTrait/></traits>
        </source>
      </jenkins.branch.BranchSource>
    </data>
  </sources>
  <factory class=\"org.jenkinsci.plugins.workflow.multibranch.WorkflowBranchProjectFactory\">
    <scriptPath>Jenkinsfile</scriptPath>
  </factory>
</org.jenkinsci.plugins.workflow.multibranch.WorkflowMultiBranchProject>
"
    )
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn run(args: &[&str], cwd: &Path) -> std::process::Output {
    Command::new(KILN)
        .args(args)
        .current_dir(cwd)
        .env_remove("KILN_LOG")
        .env("XDG_CACHE_HOME", cwd.join("cache"))
        .output()
        .unwrap()
}

#[test]
fn an_imported_controller_runs_its_jobs_on_the_server() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let repo = GitRepo::init(root.join("app-repo"));
    repo.commit(&[("Jenkinsfile", JENKINSFILE)], "pipeline");
    write(&root.join("jenkins.yaml"), JCASC);
    let jobs = root.join("jenkins-home/jobs");
    write(
        &jobs.join("team/config.xml"),
        "<?xml version='1.1' encoding='UTF-8'?>\n<com.cloudbees.hudson.plugins.folder.Folder plugin=\"cloudbees-folder@6.955\"><properties/></com.cloudbees.hudson.plugins.folder.Folder>\n",
    );
    let branch = repo.git(&["rev-parse", "--abbrev-ref", "HEAD"]);
    write(
        &jobs.join("team/jobs/app/config.xml"),
        &pipeline_job(&repo.url(), branch.trim(), ""),
    );
    write(
        &jobs.join("team/jobs/every-branch/config.xml"),
        &multibranch_job(&repo.url()),
    );
    write(
        &jobs.join("inline/config.xml"),
        &inline_job(
            "pipeline { agent any; stages { stage('x') { steps { echo 'inline <ok> & \"done\"' } } } }",
        ),
    );

    let out = run(
        &[
            "import",
            "jenkins",
            "--jcasc",
            "jenkins.yaml",
            "--jobs",
            "jenkins-home",
            "--out",
            "conf/kiln.yaml",
        ],
        root,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("`jenkins.systemMessage`"), "{stderr}");
    assert!(
        stderr.contains("wrote conf/kiln.yaml (3 jobs, 1 inline Jenkinsfiles)"),
        "{stderr}"
    );
    let written = std::fs::read_to_string(root.join("conf/kiln.yaml")).unwrap();
    assert!(written.contains("secret_env: DEPLOY_TOKEN"), "{written}");
    let again = run(
        &[
            "import",
            "jenkins",
            "--jobs",
            "jenkins-home",
            "--out",
            "conf/kiln.yaml",
        ],
        root,
    );
    assert!(
        !again.status.success(),
        "an existing file is not replaced without --force"
    );

    // The audit reads the git job's Jenkinsfile through kiln's git cache.
    let audit = run(
        &[
            "import",
            "jenkins",
            "--jobs",
            "jenkins-home",
            "--out",
            "conf/kiln.yaml",
            "--force",
            "--audit",
            "--format",
            "json",
        ],
        root,
    );
    assert!(audit.status.success(), "{audit:?}");
    let report: serde_json::Value = serde_json::from_slice(&audit.stdout).unwrap();
    assert_eq!(
        report["unchanged"],
        serde_json::json!(["inline", "team.app", "team.every-branch"]),
        "{report}"
    );

    let server = Server::start(
        root,
        &root.join("conf/kiln.yaml"),
        "127.0.0.1:0",
        [("DEPLOY_TOKEN", "x")],
    );
    for job in ["team.app", "inline", "team.every-branch"] {
        let mut args = vec!["trigger", job, "-f"];
        if job == "team.every-branch" {
            args.extend(["--branch", branch.trim()]);
        }
        let out = support::kiln(&server, &args);
        let log = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{job}: {log}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(log.contains("Finished: SUCCESS"), "{log}");
        if job == "team.every-branch" {
            assert!(log.contains("hello from the imported job"), "{log}");
        } else if job == "team.app" {
            // The job's parameter default from Jenkins' configuration wins over the pipeline's.
            assert!(log.contains("bonjour from the imported job"), "{log}");
        } else {
            assert!(log.contains("inline <ok> & \"done\""), "{log}");
        }
    }
}

#[test]
fn the_audit_reports_jobs_that_run_unchanged_and_what_others_miss() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let jobs = root.join("jobs");
    write(
        &jobs.join("good/config.xml"),
        &inline_job("pipeline { agent any; stages { stage('a') { steps { sh 'make' } } } }"),
    );
    write(
        &jobs.join("uploads/config.xml"),
        &inline_job(
            "pipeline { agent any; stages { stage('a') { steps { nexusArtifactUploader artifacts: [] } } } }",
        ),
    );
    write(
        &jobs.join("broken/config.xml"),
        &inline_job(
            "pipeline { agent any; options { bogusOption() }; stages { stage('a') { steps { nexusArtifactUploader artifacts: [] } } } }",
        ),
    );
    // A job from git, read from the local checkout given for it.
    let checkout = root.join("checkout");
    write(
        &checkout.join("ci/Jenkinsfile"),
        "pipeline { agent any; stagess { } }",
    );
    write(
        &jobs.join("from-git/config.xml"),
        &pipeline_job("https://git.invalid/x.git", "main", "")
            .replace("<scriptPath>Jenkinsfile", "<scriptPath>ci/Jenkinsfile"),
    );
    write(
        &jobs.join("unreachable/config.xml"),
        &pipeline_job("https://git.invalid/y.git", "main", ""),
    );

    let checkout_arg = format!("from-git={}", checkout.display());
    let out = run(
        &["audit", "jobs", "--checkout", &checkout_arg, "--offline"],
        root,
    );
    assert!(out.status.success(), "{out:?}");
    insta::assert_snapshot!(String::from_utf8_lossy(&out.stdout), @r"
    1 of 5 jobs run on kiln unchanged
      good

    not provided by kiln:
      step `nexusArtifactUploader` used by 2 jobs: broken, uploads
      directive `stagess` used by 1 job: from-git
      option `bogusOption` used by 1 job: broken

    invalid for kiln:
      from-git: `stagess` has no stages; `pipeline` has no `stages`

    not checked:
      unreachable: no --checkout given (and --offline)
    ");

    let out = run(
        &[
            "audit",
            "jobs",
            "--checkout",
            &checkout_arg,
            "--offline",
            "--format",
            "json",
        ],
        root,
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["unchanged"], serde_json::json!(["good"]));
    assert_eq!(json["missing"][0]["name"], "nexusArtifactUploader");
    assert_eq!(
        json["missing"][0]["jobs"],
        serde_json::json!(["broken", "uploads"])
    );
}

#[test]
fn the_audit_loads_the_shared_libraries_a_jenkinsfile_names() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    write(
        &root.join("utils/vars/greet.groovy"),
        "def call(String who) { echo \"hello ${who}\" }\n",
    );
    write(
        &root.join("jobs/uses-lib/config.xml"),
        &inline_job(
            "@Library('utils') _\npipeline { agent any; stages { stage('a') { steps { greet 'kiln' } } } }",
        ),
    );
    let library = format!("utils={}", root.join("utils").display());
    let out = run(
        &["audit", "jobs", "--library", &library, "--format", "json"],
        root,
    );
    assert!(out.status.success(), "{out:?}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["unchanged"], serde_json::json!(["uses-lib"]), "{json}");
    // A library that cannot be loaded leaves the job unchecked, saying why.
    let missing = format!("utils={}", root.join("no-such-repo").display());
    let out = run(
        &["audit", "jobs", "--library", &missing, "--format", "json"],
        root,
    );
    assert!(out.status.success(), "{out:?}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["unchanged"], serde_json::json!([]), "{json}");
    assert_eq!(json["unreachable"][0]["job"], "uses-lib", "{json}");
    let reason = json["unreachable"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("librar"), "{reason}");
}
