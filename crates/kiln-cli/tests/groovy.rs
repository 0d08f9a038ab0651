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

/// Issue 10's list 7 (Groovy syntax) and the rest of list 8 (runtime), each construct run and
/// its output checked.
#[test]
fn groovy_syntax_and_runtime_constructs_run_with_groovys_results() {
    let (code, out) = run_with(
        r#"import groovy.json.JsonSlurper
import groovy.json.JsonOutput

node {
    stage('syntax') {
        def (first, second) = [1, 2]
        echo "pair: ${first} ${second}"
        echo "command in GString: ${readFile 'VERSION'}"
        def s = 'text'
        echo "instanceof: ${s instanceof String} ${s instanceof List}"
        echo "as: ${('42' as Integer) + 1}"
        def missing = null
        echo "safe: ${missing?.size()}"
        def people = [[name: 'ann', age: 31], [name: 'bob', age: 25], [name: 'cy', age: 31]]
        echo "spread: ${people*.name}"
        echo "range: ${(1..4).collect { it * 2 }} ${(1..<3).toList()}"
        def m = ('release-1.4.2' =~ /(\d+)\.(\d+)\.(\d+)/)
        echo "find: ${m[0][2]} match: ${'v1.2' ==~ /v\d+\.\d+/}"
        for (x in ['main', 'release/1.0', 'feature-x', 'other']) {
            switch (x) {
                case 'main':
                    echo "switch ${x}: string"
                    break
                case ~/release\/.*/:
                    echo "switch ${x}: regex"
                    break
                case ['feature-x', 'feature-y']:
                    echo "switch ${x}: list"
                    break
                default:
                    echo "switch ${x}: default"
            }
        }
        echo "with: ${people[1].with { it.name.toUpperCase() }}"
        echo "collectEntries: ${people.collectEntries { [(it.name): it.age] }}"
        echo "inject: ${people.inject(0) { acc, p -> acc + p.age }}"
        echo "groupBy: ${people.groupBy { it.age }.collectEntries { k, v -> [(k): v*.name] }}"
        echo "sort: ${people.sort { it.age }*.name}"
        echo "unique: ${[3, 1, 3, 2, 1].unique()}"
        def text = '''\
            line one
              line two
            '''.stripIndent()
        echo "stripIndent: ${text.readLines().join('|')}"
    }
    stage('runtime') {
        echo "date: ${new Date(86400000L).format('yyyy-MM-dd')}"
        echo "now: ${new Date().getTime() > 0}"
        def parsed = new JsonSlurper().parseText('{"a": [1, 2], "b": {"c": true}}')
        echo "slurper: ${parsed.a.sum()} ${parsed.b.c}"
        echo "pretty: ${JsonOutput.prettyPrint(JsonOutput.toJson([k: 1])).readLines().join('|')}"
    }
}
"#,
        &[("VERSION", "1.4.2")],
    );
    assert_eq!(code, Some(0), "{out}");
    assert_lines(
        &out,
        &[
            "[syntax] pair: 1 2",
            "[syntax] command in GString: 1.4.2",
            "[syntax] instanceof: true false",
            "[syntax] as: 43",
            "[syntax] safe: null",
            "[syntax] spread: [ann, bob, cy]",
            "[syntax] range: [2, 4, 6, 8] [1, 2]",
            "[syntax] find: 4 match: true",
            "[syntax] switch main: string",
            "[syntax] switch release/1.0: regex",
            "[syntax] switch feature-x: list",
            "[syntax] switch other: default",
            "[syntax] with: BOB",
            "[syntax] collectEntries: [ann:31, bob:25, cy:31]",
            "[syntax] inject: 87",
            "[syntax] groupBy: [31:[ann, cy], 25:[bob]]",
            "[syntax] sort: [bob, ann, cy]",
            "[syntax] unique: [3, 1, 2]",
            "[syntax] stripIndent: line one|  line two",
            "[runtime] date: 1970-01-02",
            "[runtime] now: true",
            "[runtime] slurper: 3 true",
            "[runtime] pretty: {|    \"k\": 1|}",
        ],
    );
}

#[test]
fn with_closures_look_names_up_on_their_receiver_first() {
    let (code, out) = run(r#"class Server {
    String host = 'localhost'
    int port = 80
    String url() { "http://${host}:${port}" }
}
def outside = 'outer'
GLOBAL_NAME = 'script variable'
node {
    stage('with') {
        def config = [name: 'api', replicas: 2]
        def described = config.with {
            replicas = replicas + 1
            region = 'eu'
            "${name} x${replicas} in ${region}, ${outside}, ${GLOBAL_NAME}"
        }
        echo "map result: ${described}"
        echo "map after: ${config}"
        def s = new Server()
        def u = s.with {
            host = 'build.example.com'
            port = 8080
            url()
        }
        echo "object: ${u} ${s.host}"
        echo "string: ${'kiln'.with { toUpperCase() + size() }}"
        def tapped = [a: 1].tap { b = 2 }
        echo "tap: ${tapped}"
        config.with {
            echo "step inside: ${name}"
            [1, 2].each { n -> echo "nested ${name} ${n}" }
            [x: 'inner'].with { echo "inner ${x} outer ${name}" }
            GLOBAL_NAME = 'set from inside'
        }
        echo "script variable: ${GLOBAL_NAME} ${config.GLOBAL_NAME}"
        GLOBAL_NAME.with { echo "global receiver: ${length()}" }
    }
}
"#);
    assert_eq!(code, Some(0), "{out}");
    assert_lines(
        &out,
        &[
            "[with] map result: api x3 in eu, outer, script variable",
            "[with] map after: [name:api, replicas:3, region:eu]",
            "[with] object: http://build.example.com:8080 build.example.com",
            "[with] string: KILN4",
            "[with] tap: [a:1, b:2]",
            "[with] step inside: api",
            "[with] nested api 1",
            "[with] nested api 2",
            "[with] inner inner outer api",
            "[with] script variable: script variable set from inside",
            "[with] global receiver: 15",
        ],
    );
}

#[test]
fn pod_template_volume_and_annotation_descriptors_evaluate() {
    // The Kubernetes plugin's descriptors are values `podTemplate` receives; here, without
    // a cluster, the template is ignored and its block runs on this machine.
    let (code, out) = run(
        r#"podTemplate(containers: [containerTemplate(name: 'tools', image: 'busybox')],
            volumes: [persistentVolumeClaim(mountPath: '/cache', claimName: 'cache', readOnly: false),
                      configMapVolume(mountPath: '/etc/cfg', configMapName: 'cfg')],
            annotations: [podAnnotation(key: 'team', value: 'ci')]) {
    node {
        stage('In pod') { echo 'inside' }
    }
}
"#,
    );
    assert_eq!(code, Some(0), "{out}");
    assert_lines(&out, &["[In pod] inside"]);
    assert!(out.contains("podTemplate is ignored"), "{out}");
}
