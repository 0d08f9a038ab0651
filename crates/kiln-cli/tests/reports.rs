//! End-to-end tests of the workspace and report steps (`publishHTML`, `junit`'s failed-test
//! details, `recordIssues`, `bat`/`powershell`/`pwsh`, the pipeline utility steps): the real `kiln` binary,
//! by `kiln run` in a temporary workspace and by `kiln server` with a git repository made here.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;
use std::process::{Command, Output};
use support::*;

/// `kiln run Jenkinsfile` in `ws` (the pipeline written there first), without colours.
fn run(ws: &Path, pipeline: &str, vars: &[(&str, &str)]) -> Output {
    std::fs::write(ws.join("Jenkinsfile"), pipeline).unwrap();
    Command::new(KILN)
        .args(["run", "Jenkinsfile"])
        .current_dir(ws)
        .env("NO_COLOR", "1")
        .env_remove("KILN_LOG")
        .envs(vars.iter().copied())
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A JUnit report with one passing and one failing case, and a small HTML report with a
/// stylesheet in a subdirectory, made by the build's own `sh` step.
const MAKE_REPORTS: &str = r#"
        sh '''
          mkdir -p target/surefire-reports coverage/css
          cat > target/surefire-reports/TEST-CartTest.xml <<'XML'
<testsuite name="com.acme.CartTest" tests="2" failures="1">
  <testcase classname="com.acme.CartTest" name="removesItems"/>
  <testcase classname="com.acme.CartTest" name="addsItems">
    <failure message="expected:&lt;2&gt; but was:&lt;3&gt;" type="java.lang.AssertionError">java.lang.AssertionError: expected:&lt;2&gt; but was:&lt;3&gt;
	at com.acme.CartTest.addsItems(CartTest.java:42)</failure>
  </testcase>
</testsuite>
XML
          echo '<html><head><link rel="stylesheet" href="css/site.css"></head><body>Coverage 87%</body></html>' > coverage/index.html
          echo 'body { color: green }' > coverage/css/site.css
          cat > target/checkstyle-result.xml <<'XML'
<checkstyle version="10.12"><file name="src/main/java/com/acme/Cart.java">
  <error line="3" severity="error" message="Missing a Javadoc comment." source="x"/>
  <error line="9" severity="warning" message="Line is longer than 100 characters." source="y"/>
</file></checkstyle>
XML
        '''
"#;

fn reports_pipeline() -> String {
    format!(
        "pipeline {{
  agent any
  stages {{
    stage('Test') {{
      steps {{
{MAKE_REPORTS}
        junit 'target/surefire-reports/*.xml'
        recordIssues(tools: [checkStyle(pattern: 'target/checkstyle-result.xml')], qualityGates: [[threshold: 5, type: 'TOTAL', unstable: true]])
        publishHTML([reportDir: 'coverage', reportFiles: 'index.html', reportName: 'Code Coverage', keepAll: true, allowMissing: false, alwaysLinkToLastBuild: true])
      }}
    }}
  }}
}}
"
    )
}

#[test]
fn run_keeps_the_html_report_and_names_the_failed_test() {
    let ws = tempfile::tempdir().unwrap();
    let out = run(ws.path(), &reports_pipeline(), &[]);
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    assert!(
        stdout.contains("[Test] Tests: 2, failed: 1, skipped: 0\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("[Test] FAILED: com.acme.CartTest.addsItems\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("[Test] [htmlpublisher] Archiving HTML report 'Code Coverage' (2 file(s) from coverage)\n"),
        "{stdout}"
    );
    let index = ws
        .path()
        .canonicalize()
        .unwrap()
        .join(".kiln/builds/1/html/Code_Coverage/index.html");
    assert!(
        stdout.contains(&format!(
            "HTML report 'Code Coverage': {}\n",
            index.display()
        )),
        "{stdout}"
    );
    assert!(
        std::fs::read_to_string(&index)
            .unwrap()
            .contains("Coverage 87%")
    );
    let css = index.parent().unwrap().join("css/site.css");
    assert_eq!(
        std::fs::read_to_string(css).unwrap(),
        "body { color: green }\n"
    );
    assert!(
        stdout.contains(
            "[Test] [CheckStyle] Total issues: 2 (error: 1, high: 0, normal: 1, low: 0)\n"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "[Test] [CheckStyle] Quality gate: PASSED - Total (any severity): 2 - threshold: 5\n"
        ),
        "{stdout}"
    );
    assert!(stdout.ends_with("Finished: UNSTABLE\n"), "{stdout}");
}

#[test]
fn record_issues_reads_each_tool_and_applies_the_quality_gates() {
    let ws = tempfile::tempdir().unwrap();
    let pipeline = r#"pipeline {
  agent any
  stages {
    stage('Analyse') {
      steps {
        sh '''
          mkdir -p build
          printf '%s\n' "src/a.c:10:5: warning: unused variable 'x' [-Wunused-variable]" "src/a.c:12:1: error: expected ';'" "src/a.c:3:2: note: declared here" > build/gcc.log
          cat > build/pmd.xml <<'XML'
<pmd><file name="src/A.java"><violation beginline="4" priority="1" rule="UnusedImports">Avoid unused imports</violation>
<violation beginline="7" priority="3" rule="X">y</violation></file></pmd>
XML
        '''
        recordIssues(tools: [gcc(pattern: 'build/gcc.log'), pmdParser(pattern: 'build/*.xml'), sonarQube(pattern: 'x')],
                     qualityGates: [[threshold: 1, type: 'TOTAL_ERROR', unstable: true], [threshold: 1, type: 'NEW', unstable: true]])
        script {
          recordIssues aggregatingResults: true, tools: [java(), pmdParser(pattern: 'build/pmd.xml')],
                       qualityGates: [[threshold: 2, type: 'TOTAL', criticality: 'FAILURE']]
        }
      }
    }
  }
}
"#;
    let out = run(ws.path(), pipeline, &[]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    for line in [
        "[Analyse] [GNU C Compiler] Total issues: 2 (error: 1, high: 0, normal: 1, low: 0)\n",
        "[Analyse] [PMD] Total issues: 2 (error: 0, high: 1, normal: 1, low: 0)\n",
        "[Analyse] [recordIssues] Tool `sonarQube` is not known to kiln; skipped",
        "[Analyse] [GNU C Compiler] Quality gate: UNSTABLE - Total (errors only): 1 - threshold: 1\n",
        "[Analyse] [PMD] Quality gate: PASSED - Total (errors only): 0 - threshold: 1\n",
        "[Analyse] [recordIssues] Quality gate NEW compares with a reference build, which kiln does not keep: not evaluated\n",
        "[Analyse] [Java Compiler] Scanning the console log is not supported by kiln",
        "[Analyse] [Static Analysis] Quality gate: FAILURE - Total (any severity): 2 - threshold: 2\n",
    ] {
        assert!(stdout.contains(line), "missing {line:?} in\n{stdout}");
    }
    assert!(stdout.ends_with("Finished: FAILURE\n"), "{stdout}");
}

#[test]
fn publish_html_refuses_a_directory_outside_the_workspace_and_a_missing_index() {
    let ws = tempfile::tempdir().unwrap();
    let pipeline = "pipeline {
  agent any
  stages {
    stage('Escape') { steps { publishHTML(target: [reportDir: '../..', reportFiles: 'index.html', reportName: 'x']) } }
  }
}
";
    let out = run(ws.path(), pipeline, &[]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(
            "publishHTML reportDir `../..` is outside the workspace; give a path inside it"
        ),
        "{stdout}"
    );

    let pipeline = "pipeline {
  agent any
  stages {
    stage('Missing') {
      steps {
        publishHTML([reportDir: 'nothing-here', reportFiles: 'index.html', reportName: 'Gone', allowMissing: true])
        writeFile file: 'site/other.html', text: 'x'
        publishHTML([reportDir: 'site', reportFiles: 'index.html', reportName: 'Site'])
      }
    }
  }
}
";
    let out = run(ws.path(), pipeline, &[]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("[Missing] [htmlpublisher] Specified HTML directory 'nothing-here' has no files; allowMissing is set, nothing archived\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("publishHTML: specified HTML file 'index.html' does not exist in 'site'"),
        "{stdout}"
    );
}

#[test]
fn windows_steps_fail_where_reached_and_pwsh_needs_powershell() {
    let ws = tempfile::tempdir().unwrap();
    let pipeline = "pipeline {
  agent any
  stages {
    stage('Ps') {
      steps {
        catchError(buildResult: 'FAILURE', stageResult: 'FAILURE') {
          withEnv(['PATH=/nonexistent']) { pwsh 'Write-Output hi' }
        }
      }
    }
    stage('Win') { steps { bat 'dir' } }
  }
}
";
    let out = run(ws.path(), pipeline, &[]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(
            "`pwsh`: PowerShell is not installed where this step runs (no `pwsh` on the PATH)"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("`bat` runs Windows scripts, and kiln runs steps on Linux agents: use `sh`, or `pwsh` for PowerShell Core"),
        "{stdout}"
    );

    let lint = Command::new(KILN)
        .args(["lint", "Jenkinsfile"])
        .current_dir(ws.path())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stderr = text(&lint.stderr) + &text(&lint.stdout);
    assert!(
        stderr.contains("warning: `bat` runs Windows scripts; kiln runs steps on Linux agents"),
        "{stderr}"
    );
}

/// A server job whose pipeline publishes an HTML report and a failing JUnit report.
#[test]
fn server_serves_the_published_report_and_the_failed_tests_details() {
    let dir = tempfile::Builder::new()
        .prefix("kiln-reports-")
        .tempdir()
        .unwrap();
    let root = dir.path();
    let repo = root.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    std::fs::write(repo.join("Jenkinsfile"), reports_pipeline()).unwrap();
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "pipeline"]);
    let config = root.join("kiln.yaml");
    std::fs::write(
        &config,
        format!(
            "server:\n  tokens:\n    - {{name: e2e, token: {TOKEN}, role: admin}}\njobs:\n  - name: shop\n    repo: file://{}\n",
            repo.display()
        ),
    )
    .unwrap();
    let server = Server::start(
        root,
        &config,
        "127.0.0.1:0",
        std::iter::empty::<(&str, &str)>(),
    );
    let out = kiln(&server, &["trigger", "shop", "--follow"]);
    let stdout = text(&out.stdout);
    assert!(
        stdout.trim_end().ends_with("Finished: UNSTABLE"),
        "{stdout}"
    );

    let b = build(&server, "shop", 1);
    let report_url = format!(
        "{}/api/v1/jobs/shop/builds/1/reports/Code_Coverage/index.html",
        server.url
    );
    assert_eq!(b["html_reports"][0]["name"], "Code Coverage", "{b}");
    assert_eq!(b["html_reports"][0]["url"], report_url.as_str(), "{b}");
    let listed = api(&server, "/jobs/shop/builds/1/reports");
    assert_eq!(listed["reports"][0]["url"], report_url.as_str(), "{listed}");

    let get = |url: &str| {
        agent()
            .get(url)
            .header("authorization", &format!("Bearer {TOKEN}"))
            .call()
            .unwrap()
    };
    let mut page = get(&report_url);
    assert_eq!(page.status().as_u16(), 200);
    let csp = page
        .headers()
        .get("content-security-policy")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.starts_with("sandbox; default-src 'none'"), "{csp}");
    assert_eq!(
        page.headers().get("content-type").unwrap(),
        "text/html; charset=utf-8"
    );
    assert!(
        page.body_mut()
            .read_to_string()
            .unwrap()
            .contains("Coverage 87%")
    );
    let mut css = get(&format!(
        "{}/api/v1/jobs/shop/builds/1/reports/Code_Coverage/css/site.css",
        server.url
    ));
    assert_eq!(
        css.body_mut().read_to_string().unwrap(),
        "body { color: green }\n"
    );
    let escape = get(&format!(
        "{}/api/v1/jobs/shop/builds/1/reports/Code_Coverage/..%2F..%2F..%2Fkiln.yaml",
        server.url
    ));
    assert!(
        matches!(escape.status().as_u16(), 400 | 404),
        "{}",
        escape.status()
    );
    let unauthenticated = agent().get(&report_url).call().unwrap();
    assert_eq!(unauthenticated.status().as_u16(), 401);

    assert_eq!(b["issues"][0]["name"], "CheckStyle", "{b}");
    assert_eq!(b["issues"][0]["total"], 2, "{b}");
    assert_eq!(b["issues"][0]["error"], 1, "{b}");

    let tests = api(&server, "/jobs/shop/builds/1/tests");
    assert_eq!(tests["tests"]["failed"], 1, "{tests}");
    let failed = &tests["failed"][0];
    assert_eq!(failed["class_name"], "com.acme.CartTest", "{tests}");
    assert_eq!(failed["name"], "addsItems", "{tests}");
    assert_eq!(failed["kind"], "failure", "{tests}");
    assert_eq!(failed["message"], "expected:<2> but was:<3>", "{tests}");
    assert!(
        failed["stack_trace"]
            .as_str()
            .unwrap()
            .contains("at com.acme.CartTest.addsItems(CartTest.java:42)"),
        "{tests}"
    );
}

#[test]
fn utility_steps_read_properties_find_files_and_digest_them() {
    let ws = tempfile::tempdir().unwrap();
    let pipeline = r#"pipeline {
  agent any
  stages {
    stage('Util') {
      steps {
        writeFile file: 'app/version.properties', text: 'version = 1.4.2\nname: kiln\n'
        writeFile file: 'app/notes/a.txt', text: 'hello\n'
        writeFile file: 'app/b.log', text: 'x'
        script {
          def props = readProperties file: 'app/version.properties', defaults: [channel: 'stable']
          echo "props ${props.version} ${props.name} ${props.channel}"
          def files = findFiles(glob: 'app/**/*.txt')
          echo "found ${files.size()}: ${files[0].name} ${files[0].path} ${files[0].length} ${files[0].directory}"
          echo "all ${findFiles(glob: 'app/**', excludes: '**/*.log').size()}"
          echo "sha256 ${sha256(file: 'app/notes/a.txt')}"
          echo "sha1 ${sha1(file: 'app/notes/a.txt')}"
        }
        readProperties file: '../outside.properties'
      }
    }
  }
}
"#;
    let out = run(ws.path(), pipeline, &[]);
    let stdout = text(&out.stdout);
    for line in [
        "[Util] props 1.4.2 kiln stable\n",
        "[Util] found 1: a.txt app/notes/a.txt 6 false\n",
        "[Util] all 2\n",
        "[Util] sha256 5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03\n",
        "[Util] sha1 f572d396fae9206628714fb2ce00f72e94f2258f\n",
        "readProperties file `../outside.properties` is outside the workspace; give a path inside it",
    ] {
        assert!(stdout.contains(line), "missing {line:?} in\n{stdout}");
    }
    assert!(stdout.ends_with("Finished: FAILURE\n"), "{stdout}");
}

/// Runs a program that must succeed; its trimmed stdout.
fn tool(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} is needed by this test (openssh-client): {e}"));
    assert!(out.status.success(), "{program} {args:?}: {out:?}");
    text(&out.stdout).trim().to_owned()
}

#[test]
fn sshagent_holds_the_key_for_its_block_and_is_killed_after() {
    let ws = tempfile::tempdir().unwrap();
    let keys = tempfile::tempdir().unwrap();
    let key = keys.path().join("id_ed25519");
    let key_str = key.to_str().unwrap();
    tool(
        "ssh-keygen",
        &[
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            "kiln-test",
            "-f",
            key_str,
        ],
    );
    let fingerprint = tool("ssh-keygen", &["-lf", &format!("{key_str}.pub")]);
    let fingerprint = fingerprint.split_whitespace().nth(1).unwrap().to_owned();
    let creds = keys.path().join("credentials.yaml");
    std::fs::write(
        &creds,
        format!(
            "- id: deploy-key\n  username: git\n  private_key_file: {key_str}\n- id: token\n  secret: s3cr3t\n"
        ),
    )
    .unwrap();
    let pipeline = r#"pipeline {
  agent any
  stages {
    stage('Ssh') {
      steps {
        sshagent(['deploy-key']) {
          sh 'ssh-add -l; echo "$SSH_AGENT_PID" > agent.pid; test -S "$SSH_AUTH_SOCK" && echo socket-ok; case "$SSH_AUTH_SOCK" in "$PWD@tmp"/*) echo socket-in-build-tmp;; esac'
        }
        sh '''
          echo "after: ${SSH_AUTH_SOCK:-unset}"
          pid=$(cat agent.pid)
          for i in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || { echo agent-gone; exit 0; }; sleep 0.1; done
          echo agent-alive
        '''
        script {
          sshagent(credentials: ['token']) { echo 'never' }
        }
      }
    }
  }
}
"#;
    std::fs::write(ws.path().join("Jenkinsfile"), pipeline).unwrap();
    let out = Command::new(KILN)
        .args([
            "run",
            "Jenkinsfile",
            "--credentials",
            creds.to_str().unwrap(),
        ])
        .current_dir(ws.path())
        .env("NO_COLOR", "1")
        .env_remove("KILN_LOG")
        .env_remove("SSH_AUTH_SOCK")
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    for line in [
        "[Ssh] [ssh-agent] Using credentials git (deploy-key)\n",
        &format!("{fingerprint} kiln-test (ED25519)\n"),
        "[Ssh] socket-ok\n",
        "[Ssh] socket-in-build-tmp\n",
        "[Ssh] after: unset\n",
        "[Ssh] agent-gone\n",
        "sshagent: credential 'token' is not an SSH private key",
    ] {
        assert!(
            stdout.contains(line),
            "missing {line:?} in\n{stdout}\n{}",
            text(&out.stderr)
        );
    }
    assert!(!stdout.contains("never"), "{stdout}");
    assert!(stdout.ends_with("Finished: FAILURE\n"), "{stdout}");
}
