//! Jenkinsfile compatibility, end to end with the real `kiln` binary: what Jenkins accepts
//! lints clean (or with warnings) and runs with Jenkins' semantics; what it refuses is refused.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use kiln_testkit::git;
use std::path::Path;
use std::process::{Command, Output};

fn kiln(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .env_remove("KILN_LOG")
        .output()
        .expect("run kiln")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Writes `pipeline` as a Jenkinsfile in a fresh directory and runs `kiln ARGS Jenkinsfile`
/// there; returns the output and the directory (kept alive by the caller).
fn with_file(args: &[&str], pipeline: &str) -> (Output, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("Jenkinsfile"), pipeline).unwrap();
    let mut all = args.to_vec();
    all.push("Jenkinsfile");
    let out = kiln(&all, dir.path());
    (out, dir)
}

fn lint(pipeline: &str, extra: &[&str]) -> Output {
    let mut args = vec!["lint"];
    args.extend_from_slice(extra);
    with_file(&args, pipeline).0
}

fn run(pipeline: &str) -> (i32, String) {
    let (out, _dir) = with_file(&["run"], pipeline);
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    (out.status.code().expect("exit code"), all)
}

const AGENT_NONE: &str = "pipeline {
    agent none
    stages {
        stage('Greet') { steps { echo 'hello from nowhere' } }
        stage('Build') { steps { sh 'echo compiled' } }
    }
}
";

#[test]
fn a_stage_without_agent_under_agent_none_lints_with_a_warning_only() {
    let out = lint(AGENT_NONE, &[]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("warning: `sh` needs an agent, but stage `Build` runs outside any agent"),
        "{stderr}"
    );
    assert!(stderr.contains("Jenkinsfile: ok (1 warning)"), "{stderr}");
}

#[test]
fn a_stage_without_agent_runs_echo_and_fails_at_a_step_needing_a_workspace() {
    let (code, out) = run(AGENT_NONE);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("[Greet] hello from nowhere\n"), "{out}");
    assert!(!out.contains("[Build] compiled"), "{out}");
    assert!(
        out.contains("[Build] ERROR: `sh` needs an agent: stage 'Build' runs outside any agent"),
        "{out}"
    );
    assert!(out.contains("Finished: FAILURE"), "{out}");
}

const UNPROVIDED: &str = "pipeline {
    agent any
    stages {
        stage('Before') { steps { echo 'before' } }
        stage('Notify') { steps { discordSend webhookURL: 'https://chat.example/hook', description: 'hi' } }
        stage('After') { steps { echo 'after' } }
    }
}
";

#[test]
fn a_step_kiln_does_not_provide_is_a_warning_naming_the_plugin() {
    let out = lint(UNPROVIDED, &[]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.starts_with(
            "warning: step `discordSend` is not provided by kiln (it comes from the Discord Notifier plugin)\n"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("Jenkinsfile: ok (1 warning)"), "{stderr}");
}

#[test]
fn lint_strict_makes_a_step_kiln_does_not_provide_an_error() {
    let out = lint(UNPROVIDED, &["--strict"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with("error: step `discordSend` is not provided by kiln"),
        "{stderr}"
    );
    // `--strict` is about steps: other warnings stay warnings.
    let out = lint(AGENT_NONE, &["--strict"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn the_build_fails_at_a_step_kiln_does_not_provide_with_lints_message() {
    let (code, out) = run(UNPROVIDED);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("[Before] before\n"), "{out}");
    assert!(
        out.contains(
            "[Notify] ERROR: step `discordSend` is not provided by kiln (it comes from the Discord Notifier plugin)\n"
        ),
        "{out}"
    );
    assert!(!out.contains("[After] after"), "{out}");
    assert!(out.contains("Finished: FAILURE"), "{out}");
}

#[test]
fn parallel_as_the_only_step_runs_its_branches() {
    let (code, out) = run("pipeline {
    agent any
    stages {
        stage('Fan') {
            steps {
                parallel(left: { echo 'left ran' }, right: { echo 'right ran' })
            }
        }
    }
}
");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("left ran\n"), "{out}");
    assert!(out.contains("right ran\n"), "{out}");
}

/// A repository with `main` and a `release` branch of three commits.
fn upstream() -> tempfile::TempDir {
    let repo = tempfile::tempdir().expect("tempdir");
    let p = repo.path();
    git(p, &["init", "--quiet", "-b", "main"]);
    std::fs::write(p.join("which.txt"), "main\n").unwrap();
    git(p, &["add", "."]);
    git(p, &["commit", "--quiet", "-m", "main"]);
    git(p, &["checkout", "--quiet", "-b", "release"]);
    for n in 1..=3 {
        std::fs::write(p.join("which.txt"), format!("release {n}\n")).unwrap();
        git(p, &["commit", "--quiet", "-am", &format!("release {n}")]);
    }
    git(p, &["checkout", "--quiet", "main"]);
    repo
}

#[test]
fn checkout_gitscm_class_honours_branch_directory_local_branch_shallow_and_clean() {
    let repo = upstream();
    let url = format!("file://{}", repo.path().display());
    let pipeline = format!(
        "pipeline {{
    agent any
    options {{ skipDefaultCheckout() }}
    stages {{
        stage('Fetch') {{
            steps {{
                writeFile file: 'src/stale.txt', text: 'left over'
                checkout([$class: 'GitSCM', branches: [[name: '*/release']],
                    userRemoteConfigs: [[url: '{url}', credentialsId: 'bot']],
                    extensions: [[$class: 'CleanBeforeCheckout'],
                                 [$class: 'RelativeTargetDirectory', relativeTargetDir: 'src'],
                                 [$class: 'LocalBranch', localBranch: '**'],
                                 [$class: 'CloneOption', shallow: true, depth: 1]]])
                sh 'cat src/which.txt; git -C src rev-parse --abbrev-ref HEAD; git -C src rev-list --count HEAD; test -e src/stale.txt || echo stale-gone'
            }}
        }}
    }}
}}
"
    );
    let (code, out) = run(&pipeline);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("[Fetch] release 3\n"), "{out}");
    assert!(out.contains("[Fetch] release\n"), "local branch: {out}");
    assert!(out.contains("[Fetch] 1\n"), "shallow, depth 1: {out}");
    assert!(out.contains("[Fetch] stale-gone\n"), "cleaned: {out}");
    assert!(out.contains("`credentialsId` is ignored by kiln"), "{out}");
}

#[test]
fn environment_values_may_call_steps() {
    let (code, out) = run(r#"pipeline {
    agent any
    environment {
        GREETING = sh(script: 'echo hello', returnStdout: true).trim()
        SHOUT = "${sh(script: 'echo loud', returnStdout: true).trim().toUpperCase()}!"
    }
    stages {
        stage('Use') {
            environment {
                LOCAL = sh(script: 'echo "$GREETING-in-stage"', returnStdout: true).trim()
            }
            steps { echo "g=${env.GREETING} s=${env.SHOUT} l=${env.LOCAL}" }
        }
    }
}
"#);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("[Use] g=hello s=LOUD! l=hello-in-stage\n"),
        "{out}"
    );

    // `tool` answers as the step does: here, that no such installation exists.
    let (code, out) = run(r#"pipeline {
    agent any
    environment { SCANNER_HOME = tool 'kiln-test-missing-scanner' }
    stages { stage('Scan') { steps { echo "at ${env.SCANNER_HOME}" } } }
}
"#);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("tool 'kiln-test-missing-scanner'"), "{out}");
    assert!(!out.contains("no function or step named"), "{out}");
}

#[test]
fn checkout_scmgit_symbols_run_as_the_gitscm_class_does() {
    let repo = upstream();
    let url = format!("file://{}", repo.path().display());
    let pipeline = format!(
        "node {{
    stage('Fetch') {{
        writeFile file: 'co/stale.txt', text: 'left over'
        checkout scmGit(branches: [[name: 'release']], userRemoteConfigs: [[url: '{url}']],
            extensions: [cleanBeforeCheckout(), relativeTargetDirectory('co'),
                         localBranch('mine'), cloneOption(shallow: true, depth: 2, noTags: false)])
        sh 'cat co/which.txt; git -C co rev-parse --abbrev-ref HEAD; git -C co rev-list --count HEAD; test -e co/stale.txt || echo stale-gone'
    }}
}}
"
    );
    let (code, out) = run(&pipeline);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("[Fetch] release 3\n"), "{out}");
    assert!(out.contains("[Fetch] mine\n"), "local branch: {out}");
    assert!(out.contains("[Fetch] 2\n"), "shallow, depth 2: {out}");
    assert!(out.contains("[Fetch] stale-gone\n"), "cleaned: {out}");

    // The same in a declarative `steps { }` block.
    let pipeline = format!(
        "pipeline {{
    agent any
    options {{ skipDefaultCheckout() }}
    stages {{
        stage('Declared') {{
            steps {{
                checkout scmGit(branches: [[name: '*/release']], extensions: [], userRemoteConfigs: [[url: '{url}']])
                sh 'cat which.txt'
            }}
        }}
    }}
}}
"
    );
    let (code, out) = run(&pipeline);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("[Declared] release 3\n"), "{out}");
}

/// A Robot Framework `output.xml` of kiln's own: 5 of 6 tests pass, 2 more are skipped.
const ROBOT_OUTPUT: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<robot generator="Robot 6.1"><suite name="Shop"/>
<statistics><total><stat pass="5" fail="1" skip="2">All Tests</stat></total><tag></tag></statistics>
</robot>"#;

#[test]
fn robot_results_set_the_build_result_from_the_pass_percentage() {
    let (code, out) = run(&format!(
        "pipeline {{
    agent any
    stages {{
        stage('Accept') {{
            steps {{
                writeFile file: 'results/output.xml', text: '''{ROBOT_OUTPUT}'''
                robot outputPath: 'results', passThreshold: 90.0, unstableThreshold: 50.0
                echo 'after robot'
            }}
        }}
    }}
}}
"
    ));
    // `kiln run` exits 1 for an unstable build.
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(
            "[Accept] Robot results: 5 passed, 1 failed, 2 skipped; pass percentage 83.3%\n"
        ),
        "{out}"
    );
    assert!(out.contains("[Accept] after robot\n"), "{out}");
    assert!(out.trim_end().ends_with("Finished: UNSTABLE"), "{out}");

    // The publisher's class form; below `unstableThreshold` the build fails, and a missing
    // output marks it failed too without stopping the step list.
    let (code, out) = run(&format!(
        "node {{
    stage('Accept') {{
        writeFile file: 'out/output.xml', text: '''{ROBOT_OUTPUT}'''
        step([$class: 'RobotPublisher', outputPath: 'out', outputFileName: '*.xml', passThreshold: 100, unstableThreshold: 90, otherFiles: '*.png'])
        robot outputPath: 'nowhere'
        echo 'went on'
    }}
}}
"
    ));
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("below the unstable threshold; the build is failed"),
        "{out}"
    );
    assert!(
        out.contains("robot: no Robot output matches `output.xml` in `nowhere`"),
        "{out}"
    );
    assert!(out.contains("[Accept] went on\n"), "{out}");
    assert!(
        out.contains("robot: `otherFiles` have no effect in kiln"),
        "{out}"
    );
}

#[test]
fn step_class_forms_and_the_archive_alias_run_as_their_steps() {
    let (out, dir) = with_file(
        &["run"],
        "pipeline {
    agent any
    stages {
        stage('Report') {
            steps {
                writeFile file: 'reports/t.xml', text: '<testsuite name=\"s\" tests=\"2\" failures=\"0\"><testcase classname=\"c\" name=\"a\"/><testcase classname=\"c\" name=\"b\"/></testsuite>'
                writeFile file: 'out/app.txt', text: 'app'
                writeFile file: 'out/old.txt', text: 'old'
                step([$class: 'JUnitResultArchiver', testResults: 'reports/*.xml'])
                step([$class: 'ArtifactArchiver', artifacts: 'out/app.txt'])
                archive 'out/old.txt'
            }
        }
        stage('Clean') {
            steps {
                writeFile file: 'scratch/tmp.txt', text: 'x'
                step([$class: 'WsCleanup', patterns: [[pattern: 'scratch/**', type: 'INCLUDE']]])
                sh 'test -e scratch/tmp.txt || echo workspace-cleaned'
            }
        }
        stage('Other') {
            steps { step([$class: 'Mailer', recipients: 'team@example.com']) }
        }
    }
}
",
    );
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(
        all.contains("[Report] Tests: 2, failed: 0"),
        "junit ran: {all}"
    );
    assert!(
        all.contains("[Other] ERROR: `step` with `$class: 'Mailer'` is not provided by kiln\n"),
        "{all}"
    );
    assert!(all.contains("[Clean] workspace-cleaned\n"), "{all}");
    let archived = walk(&dir.path().join(".kiln/builds/1/artifacts"));
    assert!(
        archived.iter().any(|p| p.ends_with("out/app.txt")),
        "{archived:?}\n{all}"
    );
    assert!(
        archived.iter().any(|p| p.ends_with("out/old.txt")),
        "{archived:?}\n{all}"
    );
}

fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = entry.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p.display().to_string());
        }
    }
    out
}

#[test]
fn a_plugin_parameter_type_runs_as_a_string_parameter() {
    let (code, out) = run("pipeline {
    agent any
    parameters { gitParameter(name: 'BRANCH', type: 'PT_BRANCH', defaultValue: 'main') }
    stages { stage('Show') { steps { echo \"building ${params.BRANCH}\" } } }
}
");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("[Show] building main\n"), "{out}");
    assert!(
        out.contains("parameter type `gitParameter` is taken as a string parameter by kiln"),
        "{out}"
    );
}

#[test]
fn an_option_without_effect_in_kiln_is_said_in_the_log() {
    let (code, out) = run("pipeline {
    agent any
    options { rateLimitBuilds(throttle: [count: 1, durationName: 'hour']) }
    stages { stage('a') { steps { echo 'ran' } } }
}
");
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("`options { rateLimitBuilds }` has no effect in kiln"),
        "{out}"
    );
    assert!(out.contains("[a] ran\n"), "{out}");
}

#[test]
fn a_credentials_id_computed_from_a_parameter_binds_that_secret_masked() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("creds.yaml"),
        "- id: token-prod\n  secret: s3cr3t-value\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("Jenkinsfile"),
        "pipeline {
    agent any
    parameters { string(name: 'WHERE', defaultValue: 'prod') }
    environment { TOKEN = credentials(\"token-${params.WHERE}\") }
    stages { stage('Use') { steps { sh 'echo \"token is $TOKEN\"; test \"$TOKEN\" = s3cr3t-value && echo bound' } } }
}
",
    )
    .unwrap();
    let out = kiln(
        &["run", "--credentials", "creds.yaml", "Jenkinsfile"],
        dir.path(),
    );
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(all.contains("[Use] bound\n"), "{all}");
    assert!(all.contains("token is ****"), "masked: {all}");
    assert!(!all.contains("s3cr3t-value"), "{all}");
}

#[test]
fn is_restarted_run_is_false_since_kiln_has_no_restart_from_a_stage() {
    let (code, out) = run("pipeline {
    agent any
    stages {
        stage('Fresh') {
            when { not { isRestartedRun() } }
            steps { echo 'fresh run' }
        }
        stage('Again') {
            when { isRestartedRun() }
            steps { echo 'restarted' }
        }
    }
}
");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("[Fresh] fresh run\n"), "{out}");
    assert!(!out.contains("[Again] restarted"), "{out}");
}

#[test]
fn a_plugin_trigger_is_accepted_and_named_in_the_log_as_without_effect() {
    let pipeline = "pipeline {
    agent any
    triggers { bitbucketPush() }
    stages { stage('a') { steps { echo 'ran' } } }
}
";
    let out = lint(pipeline, &[]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("warning: trigger `bitbucketPush` has no effect in kiln"),
        "{stderr}"
    );
    let (code, out) = run(pipeline);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("trigger `bitbucketPush` has no effect in kiln"),
        "{out}"
    );
    assert!(out.contains("[a] ran\n"), "{out}");
}

#[test]
fn a_single_map_argument_is_the_steps_named_arguments() {
    let (code, out) = run("pipeline {
    agent any
    stages {
        stage('Files') {
            steps {
                writeFile([file: 'note.txt', text: 'from a map'])
                sh([script: 'cat note.txt'])
            }
        }
    }
}
");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("[Files] from a map\n"), "{out}");
}

#[test]
fn parameter_names_and_defaults_computed_above_the_pipeline_are_evaluated_at_build_start() {
    let pipeline = "def channel = 'nightly'
def suffix() { return 'out' }
pipeline {
    agent any
    parameters {
        string(name: \"${channel.toUpperCase()}_TAG\", defaultValue: \"v-${suffix()}\")
        text(name: 'NOTES', defaultValue: 42)
    }
    stages {
        stage('Show') {
            steps {
                echo \"tag ${params.NIGHTLY_TAG} notes ${params.NOTES}\"
                sh 'echo \"env $NIGHTLY_TAG\"'
            }
        }
    }
}
";
    let (code, out) = run(pipeline);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("[Show] tag v-out notes 42\n"), "{out}");
    assert!(out.contains("[Show] env v-out\n"), "{out}");
    // The computed name is the one `-p` sets.
    let (given, _dir) = with_file(&["run", "-p", "NIGHTLY_TAG=v9"], pipeline);
    let given_out = format!("{}{}", text(&given.stdout), text(&given.stderr));
    assert!(
        given_out.contains("[Show] tag v9 notes 42\n"),
        "{given_out}"
    );
}

#[test]
fn a_computed_parameter_default_of_the_wrong_type_fails_the_build_naming_its_line() {
    let (code, out) = run("def versions = ['1', '2']
pipeline {
    agent any
    parameters {
        string(name: 'VERSION', defaultValue: versions)
    }
    stages { stage('a') { steps { echo 'never' } } }
}
");
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains(
            "a parameter's `defaultValue` (Jenkinsfile:5:47) must be a string, but its expression gave a list"
        ),
        "{out}"
    );
    assert!(!out.contains("never"), "{out}");
}

#[test]
fn a_computed_trigger_schedule_lints_clean_and_the_log_says_what_the_build_set() {
    // Lint warned about computed schedules while kiln's server ignored them; the build now
    // evaluates them and the server schedules what it recorded (see tests/computed.rs).
    let pipeline = "pipeline {
    agent any
    triggers { cron(env.BRANCH_NAME == 'main' ? 'H 4 * * *' : '') }
    stages { stage('a') { steps { echo 'ran' } } }
}
";
    let linted = lint(pipeline, &[]);
    let stderr = text(&linted.stderr);
    assert_eq!(linted.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("warning"), "{stderr}");
    let (code, out) = run(pipeline);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Triggers set by this build: "), "{out}");
    assert!(!out.contains("no effect"), "{out}");
    assert!(out.contains("[a] ran\n"), "{out}");
}

#[test]
fn matrix_axis_values_written_as_numbers_and_booleans_run_as_their_text() {
    let (code, out) = run("pipeline {
    agent any
    stages {
        stage('M') {
            matrix {
                axes {
                    axis {
                        name 'JDK'
                        values 17, 21
                    }
                    axis {
                        name 'FAST'
                        values true
                    }
                }
                stages { stage('t') { steps { echo \"jdk=${JDK} fast=${FAST}\" } } }
            }
        }
    }
}
");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("jdk=17 fast=true\n"), "{out}");
    assert!(out.contains("jdk=21 fast=true\n"), "{out}");
}

#[test]
fn with_credentials_and_with_env_as_options_wrap_the_pipelines_and_a_stages_stages() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("creds.yaml"),
        "- id: deploy-token\n  secret: t0k3n-value\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("Jenkinsfile"),
        "pipeline {
    agent any
    options {
        withCredentials([string(credentialsId: 'deploy-token', variable: 'TOKEN')])
    }
    stages {
        stage('Outer') {
            steps { sh 'test \"$TOKEN\" = t0k3n-value && echo \"pipeline wrapper bound $TOKEN\"' }
        }
        stage('Inner') {
            options { withEnv(['TARGET=staging']) }
            steps { sh 'echo \"target=$TARGET\"' }
        }
        stage('After') {
            steps { sh 'echo \"target after=${TARGET:-unset}\"' }
        }
    }
}
",
    )
    .unwrap();
    let out = kiln(
        &["run", "--credentials", "creds.yaml", "Jenkinsfile"],
        dir.path(),
    );
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(
        all.contains("[Outer] pipeline wrapper bound ****\n"),
        "{all}"
    );
    assert!(all.contains("[Inner] target=staging\n"), "{all}");
    assert!(all.contains("[After] target after=unset\n"), "{all}");
    assert!(!all.contains("t0k3n-value"), "{all}");
}

#[test]
fn a_missing_credential_of_a_wrapper_option_fails_the_build_before_the_stages() {
    let (code, out) = run("pipeline {
    agent any
    options { withCredentials([string(credentialsId: 'nowhere', variable: 'T')]) }
    stages { stage('a') { steps { echo 'never' } } }
}
");
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("nowhere"), "{out}");
    assert!(!out.contains("[a] never"), "{out}");
}

#[test]
fn stages_of_different_blocks_may_share_a_name_and_both_run() {
    let (code, out) = run("pipeline {
    agent any
    stages {
        stage('Java 17') { stages { stage('Test') { steps { echo 'test on 17' } } } }
        stage('Java 21') { stages { stage('Test') { steps { echo 'test on 21' } } } }
    }
}
");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("test on 17\n"), "{out}");
    assert!(out.contains("test on 21\n"), "{out}");
}

#[test]
fn kubernetes_agent_settings_without_effect_are_named_in_the_log() {
    let (code, out) = run("pipeline {
    agent {
        kubernetes {
            yaml 'apiVersion: v1\\nkind: Pod\\nspec:\\n  containers:\\n  - name: build\\n    image: alpine\\n'
            retries 2
            idleMinutes 10
            podRetention never()
            showRawYaml false
        }
    }
    stages { stage('a') { steps { echo 'ran' } } }
}
");
    assert_eq!(code, 0, "{out}");
    for key in ["retries", "idleMinutes", "podRetention", "showRawYaml"] {
        assert!(
            out.contains(&format!("`kubernetes {{ {key} }}` has no effect in kiln")),
            "{key}: {out}"
        );
    }
}

#[test]
fn a_java_style_cast_runs_as_an_as_cast() {
    let (code, out) = run("pipeline {
    agent any
    environment { NAMES = \"${(Collection) ['a', 'b', 'c']}\" }
    stages {
        stage('Cast') {
            steps {
                script {
                    def count = (String) 3
                    echo \"names ${NAMES} count ${count}\"
                }
            }
        }
    }
}
");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("[Cast] names [a, b, c] count 3\n"), "{out}");
}

/// A stage's `input` parameters written as expressions are evaluated when the stage is
/// reached, with the code above the pipeline and the pipeline's environment.
#[test]
fn input_parameters_computed_from_expressions_are_evaluated_at_the_stage() {
    let pipeline = r#"def channel = 'nightly'
def version() { return '1.2' }

pipeline {
    agent any
    environment { TARGET = 'staging' }
    stages {
        stage('Approve') {
            input {
                message "Deploy ${channel} to ${TARGET}?"
                parameters {
                    string(name: "${channel.toUpperCase()}_TAG", defaultValue: "v${version()}-${TARGET}")
                }
            }
            steps {
                sh 'echo "tag=$NIGHTLY_TAG"'
            }
        }
    }
}
"#;
    assert_eq!(lint(pipeline, &[]).status.code(), Some(0));
    let (out, _dir) = with_file(&["run", "--yes"], pipeline);
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(all.contains("Deploy nightly to staging?"), "{all}");
    assert!(
        all.lines().any(|l| l == "[Approve] tag=v1.2-staging"),
        "{all}"
    );
}

/// `ws('dir') { }` runs its block in that directory of the build's workspace, with
/// `WORKSPACE` pointing at it, and says so.
#[test]
fn ws_runs_its_block_in_a_directory_of_the_workspace() {
    let (code, out) = run("node {
    stage('Other') {
        ws('other-ws') {
            sh 'echo \"cwd=$(basename \"$PWD\") ws=$(basename \"$WORKSPACE\")\"'
        }
        sh 'echo \"back in $(basename \"$PWD\")\" >/dev/null; test -d other-ws && echo made'
    }
}
");
    assert_eq!(code, 0, "{out}");
    assert!(
        out.lines().any(|l| l == "[Other] cwd=other-ws ws=other-ws"),
        "{out}"
    );
    assert!(out.lines().any(|l| l == "[Other] made"), "{out}");
    assert!(
        out.contains(
            "ws('other-ws'): kiln runs the block in the directory other-ws of the build's workspace"
        ),
        "{out}"
    );
}

#[test]
fn an_input_directive_inside_a_matrix_asks_per_cell_and_github_push_lints_clean() {
    let pipeline = "pipeline {
    agent any
    triggers { githubPush() }
    stages {
        stage('deploy') {
            matrix {
                axes {
                    axis { name 'REGION'; values 'eu', 'us' }
                }
                stages {
                    stage('approve') {
                        input {
                            message \"Deploy to ${REGION}?\"
                            parameters { string(name: 'WHO', defaultValue: 'ops') }
                        }
                        steps { echo \"deploying ${REGION} approved by ${WHO}\" }
                    }
                }
            }
        }
    }
}
";
    let out = lint(pipeline, &[]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("warning"), "{stderr}");
    let (out, _dir) = with_file(&["run", "--yes"], pipeline);
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{all}");
    for region in ["eu", "us"] {
        let cell = format!("[deploy / Matrix - REGION = '{region}' / approve]");
        for line in [
            format!("{cell} Deploy to {region}? (Proceed or Abort)\n"),
            format!("{cell} deploying {region} approved by ops\n"),
        ] {
            assert!(all.contains(&line), "missing {line:?} in\n{all}");
        }
    }
    assert!(!all.contains("no effect"), "{all}");
}

/// Regression: constructs of public scripted Jenkinsfiles that kiln refused or stopped at:
/// a type after `def`, `@Field` variables seen by the script's functions, Jenkins'
/// `hudson.model.Result` constants, `skipDefaultCheckout` called in a script (the option's
/// object, no step), DevOptics' `gateConsumesRun`, and a function named as a step that
/// calls the step with other arguments.
#[test]
fn typed_def_field_variables_result_constants_and_option_objects_run() {
    let (code, log) = run("import groovy.transform.Field
import hudson.model.Result

@Field def skipRest = false

def boolean shouldRun(String name) {
    echo \"checking ${name}, skipRest=${skipRest}\"
    return !skipRest
}

def String label() { return 'built' }

def stage(name, boolean run, body) {
    return stage(name, run ? body : { echo \"skipped ${name}\" })
}

skipDefaultCheckout true
node {
    stage('one') {
        if (shouldRun('one')) { echo label() }
        skipRest = true
        echo \"threshold=${hudson.model.Result.SUCCESS} imported=${Result.UNSTABLE}\"
    }
    stage('two') {
        echo \"two runs: ${shouldRun('two')}\"
        gateConsumesRun jobName: 'app/main', runId: 'app-7'
    }
    stage('three', false) { echo 'not run' }
}
");
    assert_eq!(code, 0, "{log}");
    for line in [
        "[one] checking one, skipRest=false",
        "[one] built",
        "[one] threshold=SUCCESS imported=UNSTABLE",
        "[two] checking two, skipRest=true",
        "[two] two runs: false",
        "[two] gateConsumesRun: recorded with the build as consumed: id app/main#app-7, type run",
        "Artifact consumed: app/main#app-7 (type run)",
        "[three] skipped three",
    ] {
        assert!(log.lines().any(|l| l == line), "{line:?} missing:\n{log}");
    }
}
