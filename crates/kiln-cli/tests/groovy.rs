//! Groovy as Jenkinsfiles write it, run through the real `kiln run`: code beside the
//! pipeline, classes a Jenkinsfile defines, maps in insertion order, `load`, and the JDK
//! and Groovy classes kiln provides (issue 10, items 6 to 8).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

/// Runs `jenkinsfile` with `kiln run` in a fresh workspace; exit code and stdout.
fn run(jenkinsfile: &str) -> (Option<i32>, String) {
    run_with(jenkinsfile, &[])
}

/// Like [`run`], with `files` (path, text) in the workspace.
fn run_with(jenkinsfile: &str, files: &[(&str, &str)]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Jenkinsfile"), jenkinsfile).unwrap();
    for (path, text) in files {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    let out = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(["run", "--color", "never"])
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .env_remove("KILN_LOG")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    (
        out.status.code(),
        format!("{stdout}\n--- stderr:\n{stderr}"),
    )
}

#[test]
fn code_beside_the_pipeline_and_runtime_classes_run() {
    let (code, out) = run(r#"import groovy.json.JsonSlurperClassic
import groovy.json.JsonOutput

GREETING = 'hello'
def shout(s) { s.toUpperCase() }

pipeline {
    agent any
    stages {
        stage('groovy') {
            steps {
                script {
                    echo "greeting: ${shout(GREETING)}"
                    def config = new JsonSlurperClassic().parseText('{"targets": ["linux", "darwin"], "n": 3}')
                    echo "targets: ${config.targets.join(',')} n=${config.n + 1}"
                    echo "json: ${JsonOutput.toJson([name: 'kiln', tags: ['ci', 'rust']])}"
                    echo String.format('version %s-%04d', 'v1', 42)
                    echo "epoch: ${new Date(0).format('yyyy-MM-dd HH:mm')}"
                    echo "clock moves: ${System.currentTimeMillis() > 0}"
                    echo "parsed: ${Integer.parseInt('41') + 1}"
                }
            }
        }
    }
}
"#);
    assert_eq!(code, Some(0), "{out}");
    for line in [
        "[groovy] greeting: HELLO",
        "[groovy] targets: linux,darwin n=4",
        "[groovy] json: {\"name\":\"kiln\",\"tags\":[\"ci\",\"rust\"]}",
        "[groovy] version v1-0042",
        "[groovy] epoch: 1970-01-01 00:00",
        "[groovy] clock moves: true",
        "[groovy] parsed: 42",
    ] {
        assert!(
            out.lines().any(|l| l == line),
            "missing {line:?} in:\n{out}"
        );
    }
}

#[test]
fn classes_kiln_does_not_provide_are_lint_errors_naming_them() {
    let (code, out) = run(
        "node {\n  def s = new StringBuilder()\n  echo java.time.LocalDate.now().toString()\n}\n",
    );
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("`new StringBuilder(...)` is not supported"),
        "{out}"
    );
    assert!(out.contains("nothing was run"), "{out}");
}

#[track_caller]
fn assert_lines(out: &str, lines: &[&str]) {
    for line in lines {
        assert!(
            out.lines().any(|l| l == *line),
            "missing {line:?} in:\n{out}"
        );
    }
}

#[test]
fn a_scripted_pipeline_with_a_class_ordered_maps_and_closure_defaults() {
    let (code, out) = run(r#"import groovy.json.JsonOutput

class Release {
    String name
    int patch = 0
    static final String PREFIX = 'v'

    String tag() { "${PREFIX}${name}.${patch}" }
    def bump(int by = 1) { patch += by; return this }
    static String describe(Release r) { "release ${r.tag()}" }
}

node {
    stage('classes') {
        def r = new Release(name: '1.4')
        r.bump().bump(2)
        echo "tag: ${r.tag()}"
        echo Release.describe(r)
    }
    stage('maps') {
        def targets = [zulu: 'z', alpha: 'a', mike: 'm']
        targets.each { k, v -> echo "target ${k}=${v}" }
        echo "keys: ${targets.keySet()}"
        echo "json: ${JsonOutput.toJson(targets)}"
        def greet = { who, greeting = 'hello' -> "${greeting} ${who}" }
        echo greet('kiln')
        echo greet('kiln', 'bye')
        def u = new URL('https://ci.example.com:8443/job/x?token=1')
        echo "url: ${u.protocol} ${u.host} ${u.port} ${u.path} ${u.query}"
    }
}
"#);
    assert_eq!(code, Some(0), "{out}");
    assert_lines(
        &out,
        &[
            "[classes] tag: v1.4.3",
            "[classes] release v1.4.3",
            "[maps] target zulu=z",
            "[maps] keys: [zulu, alpha, mike]",
            "[maps] json: {\"zulu\":\"z\",\"alpha\":\"a\",\"mike\":\"m\"}",
            "[maps] hello kiln",
            "[maps] bye kiln",
            "[maps] url: https ci.example.com 8443 /job/x token=1",
        ],
    );
    let zulu = out.find("target zulu").unwrap();
    let alpha = out.find("target alpha").unwrap();
    let mike = out.find("target mike").unwrap();
    assert!(
        zulu < alpha && alpha < mike,
        "not in insertion order:\n{out}"
    );
}

#[test]
fn load_files_and_new_file_work_in_the_workspace() {
    let helpers = "def version() { readFile('VERSION').trim() }\ndef banner(String what = 'build') { \"${what} ${version()}\" }\nreturn this\n";
    let (code, out) = run_with(
        r#"class Notes { static String first(String text) { text.readLines()[0] } }

pipeline {
    agent any
    stages {
        stage('load') {
            steps {
                script {
                    def helpers = load 'ci/helpers.groovy'
                    echo helpers.banner()
                    echo helpers.banner('release')
                    def notes = new File('docs/NOTES.txt')
                    echo "exists: ${notes.exists()} ${new File('nope.txt').exists()}"
                    echo "first note: ${Notes.first(notes.text)}"
                    new File('out/summary.txt').write('all good')
                    echo "summary: ${readFile('out/summary.txt')}"
                }
            }
        }
    }
}
"#,
        &[
            ("ci/helpers.groovy", helpers),
            ("VERSION", "2.7.1\n"),
            ("docs/NOTES.txt", "fast builds\nsecond line\n"),
        ],
    );
    assert_eq!(code, Some(0), "{out}");
    assert_lines(
        &out,
        &[
            "[load] build 2.7.1",
            "[load] release 2.7.1",
            "[load] exists: true false",
            "[load] first note: fast builds",
            "[load] summary: all good",
        ],
    );
}

#[test]
fn new_file_outside_the_workspace_fails_the_build() {
    let (code, out) = run("node {\n  echo new File('/etc/hostname').text\n}\n");
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("`new File('/etc/hostname')` is outside the workspace"),
        "{out}"
    );
}

#[test]
fn a_step_kiln_does_not_provide_fails_in_a_script_naming_its_plugin() {
    let (code, out) = run(
        "node {\n  stage('s') {\n    script { nexusArtifactUploader(nexusUrl: 'n') }\n  }\n}\n",
    );
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains(
            "step `nexusArtifactUploader` is not provided by kiln (it comes from the Nexus Artifact Uploader plugin)"
        ),
        "{out}"
    );
}

#[test]
fn unknown_classes_and_traits_are_lint_errors_with_their_position() {
    let (code, out) = run("trait Loud { }\nnode {\n  echo 'x'\n}\n");
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("`Loud` cannot be defined in a kiln script"),
        "{out}"
    );
    assert!(out.contains("--> Jenkinsfile:1:1"), "{out}");
    let (code, out) = run("node {\n  def w = new Widget()\n}\n");
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("`new Widget(...)`: class `Widget` is not defined in this Jenkinsfile"),
        "{out}"
    );
    assert!(out.contains("--> Jenkinsfile:2:11"), "{out}");
}

#[test]
fn scm_parts_copied_into_a_git_scm_checkout_check_out_the_build() {
    let dir = tempfile::tempdir().unwrap();
    let jenkinsfile = r#"node {
    stage('clone') {
        checkout([$class: 'GitSCM', branches: scm.branches, extensions: scm.extensions,
                  userRemoteConfigs: scm.userRemoteConfigs])
        echo "branch: ${scm.branches[0].name}"
        echo "cloned: ${fileExists('Jenkinsfile')}"
    }
}
"#;
    let repo = kiln_testkit::GitRepo::init(dir.path());
    repo.commit(&[("Jenkinsfile", jenkinsfile)], "init");
    let out = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(["run", "--color", "never"])
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert_lines(&text, &["[clone] branch: main", "[clone] cloned: true"]);
}

#[test]
fn method_pointers_are_closures_that_call_the_method() {
    let (code, out) = run(concat!(
        "def twice(x) { return \"${x}${x}\" }\n",
        "def withRun(Closure f) { f(params.WIN ? this.&bat : this.&echo) }\n",
        "node {\n",
        "  withRun { run -> run 'through the pointer' }\n",
        "  echo(['a', 'b'].collect(this.&twice).join(','))\n",
        "  def m = [:]\n",
        "  def put = m.&putAll\n",
        "  put([k: 'v'])\n",
        "  echo \"map ${m.k}\"\n",
        "}\n",
    ));
    assert_eq!(code, Some(0), "{out}");
    assert_lines(&out, &["through the pointer", "aa,bb", "map v"]);
}

#[test]
fn new_of_a_jenkins_class_kiln_lacks_lints_and_fails_at_run_time_naming_it() {
    let (code, out) = run(concat!(
        "def abort() {\n",
        "  try {\n",
        "    new CauseOfInterruption.UserInterruption('Aborted by #1')\n",
        "  } catch (e) {\n",
        "    echo \"caught: ${e.message}\"\n",
        "  }\n",
        "}\n",
        "node {\n",
        "  echo 'before'\n",
        "  abort()\n",
        "  new hudson.model.Cause.UserIdCause()\n",
        "  echo 'not reached'\n",
        "}\n",
    ));
    assert_eq!(code, Some(1), "{out}");
    assert_lines(
        &out,
        &[
            "before",
            "caught: `new CauseOfInterruption.UserInterruption(...)`: the class \
             `CauseOfInterruption.UserInterruption` is not provided by kiln",
        ],
    );
    assert!(
        out.contains("the class `hudson.model.Cause.UserIdCause` is not provided by kiln"),
        "{out}"
    );
    assert!(!out.contains("not reached"), "{out}");
}
