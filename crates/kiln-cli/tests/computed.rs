//! Values Jenkins computes when the build starts, written as expressions where a literal is
//! usual, run through the real `kiln run` (issue 10, item 5): library names
//! (`lib("helpers@${env.BRANCH_NAME}")`) and credentials ids from parameters.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use kiln_testkit::GitRepo;
use std::path::Path;
use std::process::Command;

/// A git library `helpers` whose `greet` step says which branch it was loaded from: `main`
/// and `dev`.
fn helpers_library(dir: &Path) -> GitRepo {
    let lib = GitRepo::init(dir.join("helpers"));
    let greet = |branch: &str| {
        format!("fn call(who) {{\n    echo(`greetings from helpers@{branch} to ${{who}}`);\n}}\n")
    };
    lib.commit(&[("vars/greet.rhai", &greet("main"))], "main");
    lib.branch("dev");
    lib.commit(&[("vars/greet.rhai", &greet("dev"))], "dev");
    lib.checkout("main");
    lib
}

/// A workspace repository on `branch` holding `jenkinsfile`.
fn workspace(dir: &Path, branch: &str, jenkinsfile: &str) -> GitRepo {
    let ws = GitRepo::init(dir.join("ws"));
    ws.commit(&[("Jenkinsfile", jenkinsfile)], "pipeline");
    if branch != "main" {
        ws.branch(branch);
    }
    ws
}

/// `kiln run ARGS` in `ws` with git libraries cached under `cache`: exit code and output.
fn kiln_run(ws: &Path, cache: &Path, args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(["run", "--color", "never"])
        .args(args)
        .current_dir(ws)
        .env("NO_COLOR", "1")
        .env("XDG_CACHE_HOME", cache)
        .env_remove("KILN_LOG")
        .env_remove("BRANCH_NAME")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    (
        out.status.code(),
        format!("{stdout}\n--- stderr:\n{stderr}"),
    )
}

const BRANCH_LIBRARY: &str = r#"def LIBRARY = 'helpers'

pipeline {
    agent any
    parameters {
        string(name: 'WHO', defaultValue: 'kiln')
    }
    libraries {
        lib("${LIBRARY}@${env.BRANCH_NAME}")
    }
    stages {
        stage('Greet') {
            steps {
                greet(params.WHO)
            }
        }
    }
}
"#;

#[test]
fn a_library_named_by_an_expression_is_loaded_at_the_branch_the_build_computes() {
    let dir = tempfile::tempdir().unwrap();
    let lib = helpers_library(dir.path());
    let library = format!("helpers={}", lib.url());
    let cache = dir.path().join("cache");

    let ws = workspace(dir.path(), "dev", BRANCH_LIBRARY);
    let (code, out) = kiln_run(ws.path(), &cache, &["--library", &library, "-p", "WHO=you"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("greetings from helpers@dev to you"), "{out}");
    assert!(out.contains("Loading library helpers@dev"), "{out}");
    assert!(!out.contains("helpers@main"), "{out}");
    // A supported construct: lint has nothing to say about it.
    assert!(!out.contains("warning"), "{out}");

    ws.checkout("main");
    let (code, out) = kiln_run(ws.path(), &cache, &["--library", &library]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("greetings from helpers@main to kiln"), "{out}");
}

#[test]
fn a_computed_library_name_that_is_not_configured_fails_the_build_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let text = BRANCH_LIBRARY.replace("'helpers'", "'toolbox'");
    let ws = workspace(dir.path(), "dev", &text);
    let (code, out) = kiln_run(ws.path(), &cache, &[]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("library `toolbox` is not configured"), "{out}");
    assert!(!out.contains("greetings"), "{out}");
}

const COMPUTED_PROPERTIES: &str = r#"def nightly = 'H 4 * * *'

pipeline {
    agent any
    parameters {
        string(name: 'KEEP', defaultValue: '5')
        string(name: 'SCHEDULE', defaultValue: '')
    }
    options {
        buildDiscarder(logRotator(numToKeepStr: "${params.KEEP}", daysToKeepStr: '30'))
    }
    triggers {
        cron(env.BRANCH_NAME == 'main' ? nightly : '')
        pollSCM(params.SCHEDULE)
    }
    stages {
        stage('Run') {
            steps {
                echo 'ran'
            }
        }
    }
}
"#;

#[test]
fn computed_schedules_and_counts_are_evaluated_and_said_in_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let ws = workspace(dir.path(), "main", COMPUTED_PROPERTIES);
    let (code, out) = kiln_run(ws.path(), &cache, &[]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("Triggers set by this build: cron 'H 4 * * *'\n"),
        "{out}"
    );
    assert!(
        out.contains("Build discarder set by this build: numToKeepStr 5\n"),
        "{out}"
    );
    assert!(!out.contains("no effect"), "{out}");
    assert!(!out.contains("warning"), "{out}");
    assert!(out.contains("[Run] ran\n"), "{out}");

    // Another branch computes no nightly schedule; a parameter gives a polling one.
    ws.branch("dev");
    let (code, out) = kiln_run(ws.path(), &cache, &["-p", "SCHEDULE=H/15 * * * *"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("Triggers set by this build: pollSCM 'H/15 * * * *'\n"),
        "{out}"
    );
}

#[test]
fn invalid_computed_values_are_warned_about_and_set_nothing_the_build_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let ws = workspace(dir.path(), "main", COMPUTED_PROPERTIES);
    let (code, out) = kiln_run(
        ws.path(),
        &cache,
        &["-p", "SCHEDULE=every day", "-p", "KEEP=lots"],
    );
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains(
            "WARNING: `pollSCM('every day')` (Jenkinsfile:14:17) is not a valid schedule ("
        ),
        "{out}"
    );
    assert!(out.contains("; no trigger set for it\n"), "{out}");
    assert!(
        out.contains("Triggers set by this build: cron 'H 4 * * *'\n"),
        "{out}"
    );
    assert!(
        out.contains("WARNING: `numToKeepStr` (Jenkinsfile:10:49) is not a count (`lots` is not a number); the build discarder keeps no limit for it\n"),
        "{out}"
    );
    assert!(!out.contains("Build discarder set by this build"), "{out}");
    assert!(out.contains("[Run] ran\n"), "{out}");
}

#[test]
fn a_credentials_id_computed_from_a_parameter_binds_the_secret_it_names() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let text = r#"pipeline {
    agent any
    parameters { string(name: 'TOKEN_ID', defaultValue: 'token-dev') }
    environment { TOKEN = credentials("${params.TOKEN_ID}") }
    stages {
        stage('Use') {
            steps {
                sh 'test "$TOKEN" = prod-s3cr3t && echo "bound the prod token $TOKEN"'
            }
        }
    }
}
"#;
    let ws = workspace(dir.path(), "main", text);
    std::fs::write(
        ws.path().join("creds.yaml"),
        "- id: token-dev\n  secret: dev-s3cr3t\n- id: token-prod\n  secret: prod-s3cr3t\n",
    )
    .unwrap();
    let (code, out) = kiln_run(
        ws.path(),
        &cache,
        &["--credentials", "creds.yaml", "-p", "TOKEN_ID=token-prod"],
    );
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("[Use] bound the prod token ****\n"), "{out}");
    assert!(!out.contains("s3cr3t"), "{out}");
    // Without the parameter, the default names the other secret.
    let (code, out) = kiln_run(ws.path(), &cache, &["--credentials", "creds.yaml"]);
    assert_eq!(code, Some(1), "{out}");
    // The failed-step summary quotes the script; no line of output says it bound the token.
    assert!(!out.contains("[Use] bound the prod token"), "{out}");
}

/// A scripted pipeline setting its job's properties with `properties([...])` (issue 10,
/// brief item 1), in descriptor and `$class` forms, with items kiln does not act on.
const SCRIPTED_PROPERTIES: &str = r#"properties([
    parameters([
        string(name: 'WHO', defaultValue: 'world', description: 'whom to greet'),
        booleanParam(name: 'FAST', defaultValue: true),
        choice(name: 'TARGET', choices: ['dev', 'prod'])
    ]),
    pipelineTriggers([cron(env.BRANCH_NAME == 'main' ? 'H 4 * * *' : ''), pollSCM('H/5 * * * *'), upstream('other')]),
    [$class: 'BuildDiscarderProperty', strategy: [$class: 'LogRotator', numToKeepStr: '5', daysToKeepStr: '']],
    disableConcurrentBuilds(),
    disableResume(),
    [$class: 'GithubProjectProperty', projectUrlStr: 'https://example.com/app']
])
node {
    stage('Greet') {
        echo "hello ${params.WHO}"
    }
}
"#;

#[test]
fn scripted_properties_are_set_when_the_step_runs_and_said_in_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let ws = workspace(dir.path(), "main", SCRIPTED_PROPERTIES);
    let (code, out) = kiln_run(ws.path(), &cache, &[]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("Job properties set by this build (they replace the job's earlier ones): parameters WHO, FAST, TARGET; cron 'H 4 * * *'; pollSCM 'H/5 * * * *'; build discarder numToKeepStr 5; disableConcurrentBuilds\n"),
        "{out}"
    );
    assert!(
        out.contains("properties: kiln does not act on the trigger `upstream`, `disableResume`, `GithubProjectProperty`\n"),
        "{out}"
    );
    // As in Jenkins, parameters a build defines apply from the next build on.
    assert!(out.contains("[Greet] hello null\n"), "{out}");
    assert!(!out.contains("ignored"), "{out}");

    // `properties` beside a declarative pipeline runs before it; a bad schedule is warned
    // about and sets nothing.
    let text = "properties([pipelineTriggers([cron('every day')]), buildDiscarder(logRotator(numToKeepStr: '3'))])\n\npipeline {\n    agent any\n    stages {\n        stage('Run') { steps { echo 'ran' } }\n    }\n}\n";
    std::fs::write(ws.path().join("Jenkinsfile"), text).unwrap();
    let (code, out) = kiln_run(ws.path(), &cache, &[]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("WARNING: `cron('every day')` is not a valid schedule ("),
        "{out}"
    );
    let set = out
        .find("Job properties set by this build (they replace the job's earlier ones): build discarder numToKeepStr 3\n")
        .unwrap_or_else(|| panic!("{out}"));
    assert!(out[set..].contains("[Run] ran\n"), "{out}");

    // In a declarative pipeline's `script { }` block it runs where it stands.
    let text = "pipeline {\n    agent any\n    stages {\n        stage('Setup') {\n            steps {\n                script {\n                    properties([parameters([booleanParam(name: 'DEPLOY', defaultValue: false)]), pipelineTriggers([cron('H 2 * * 1-5')])])\n                }\n                echo 'set up'\n            }\n        }\n    }\n}\n";
    std::fs::write(ws.path().join("Jenkinsfile"), text).unwrap();
    let (code, out) = kiln_run(ws.path(), &cache, &[]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("[Setup] Job properties set by this build (they replace the job's earlier ones): parameters DEPLOY; cron 'H 2 * * 1-5'\n"),
        "{out}"
    );
}
