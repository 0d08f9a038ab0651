//! End to end: the build-tool and file steps (`configFileProvider`, `withMaven`, `zip`/`unzip`,
//! `tee`, `fileOperations`, `cleanWs` patterns, `compressLog`, `lock(skipIfLocked:, extra:)`)
//! run by the real `kiln run`, against peers made here: a fake `mvn` that writes surefire and
//! failsafe reports, and Info-ZIP's `zip`/`unzip`, which read what kiln wrote and wrote what
//! kiln reads.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(dead_code)] // the HTTP peer only: the SMTP one is for the notification tests
mod peers;
mod support;

use std::path::Path;
use std::process::{Command, Output};

/// `kiln run Jenkinsfile` in `ws` (the pipeline written there first) with `args`.
fn run(ws: &Path, pipeline: &str, args: &[&str]) -> (Output, String) {
    std::fs::write(ws.join("Jenkinsfile"), pipeline).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(["run", "Jenkinsfile"])
        .args(args)
        .current_dir(ws)
        .env("NO_COLOR", "1")
        .env_remove("KILN_LOG")
        .env_remove("KILN_CONFIG")
        .env_remove("KILN_CREDENTIALS")
        .env_remove("MAVEN_HOME")
        .env_remove("JAVA_HOME")
        .output()
        .unwrap();
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out, log)
}

/// A tool the test runs must be installed: fail loudly, never pass without it.
fn require(tool: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .unwrap();
    assert!(
        found.status.success(),
        "`{tool}` must be installed for this test (.ci/run installs it)"
    );
}

/// A fake Maven: prints its arguments and environment, says whether the settings file it
/// was given holds the repository password, and writes a surefire report with a failed
/// test and a failsafe report in a module.
const FAKE_MVN: &str = r#"#!/bin/sh
echo "fake-mvn args: $*"
echo "fake-mvn MAVEN_HOME=$MAVEN_HOME JAVA_HOME=$JAVA_HOME MAVEN_OPTS=$MAVEN_OPTS"
while [ $# -gt 0 ]; do
  if [ "$1" = "--settings" ] && grep -q 'repo-pw-4711' "$2"; then echo "fake-mvn: settings hold the repository password"; fi
  shift
done
mkdir -p target/surefire-reports module-it/target/failsafe-reports
cat > target/surefire-reports/TEST-com.acme.CartTest.xml <<'XML'
<testsuite name="com.acme.CartTest" tests="2" failures="1">
  <testcase classname="com.acme.CartTest" name="removesItems"/>
  <testcase classname="com.acme.CartTest" name="addsItems"><failure message="expected 2">at CartTest.java:42</failure></testcase>
</testsuite>
XML
cat > module-it/target/failsafe-reports/TEST-com.acme.CheckoutIT.xml <<'XML'
<testsuite name="com.acme.CheckoutIT" tests="1"><testcase classname="com.acme.CheckoutIT" name="paysByCard"/></testsuite>
XML
"#;

/// kiln.yaml with two config files and Maven and JDK installations under `tools`.
fn kiln_yaml(tools: &Path) -> String {
    format!(
        "config_files:
  - id: maven-settings
    name: Company Maven settings
    secret: true
    content: |
      <settings>
        <server><id>repo</id><password>repo-pw-4711</password></server>
      </settings>
  - id: npmrc
    content_file: npmrc.txt
tools:
  - name: maven-3
    type: maven
    home: {maven}
  - name: jdk-17
    type: jdk
    home: {jdk}
",
        maven = tools.join("maven").display(),
        jdk = tools.join("jdk").display(),
    )
}

#[test]
fn config_files_and_with_maven_record_the_surefire_reports() {
    let ws = tempfile::tempdir().unwrap();
    let tools = tempfile::tempdir().unwrap();
    let mvn = tools.path().join("maven/bin/mvn");
    std::fs::create_dir_all(mvn.parent().unwrap()).unwrap();
    std::fs::create_dir_all(tools.path().join("jdk/bin")).unwrap();
    std::fs::write(&mvn, FAKE_MVN).unwrap();
    Command::new("chmod").arg("755").arg(&mvn).status().unwrap();
    std::fs::write(ws.path().join("kiln.yaml"), kiln_yaml(tools.path())).unwrap();
    std::fs::write(
        ws.path().join("npmrc.txt"),
        "registry=http://npm.example.test/\n",
    )
    .unwrap();
    let pipeline = r#"pipeline {
  agent any
  stages {
    stage('Build') {
      steps {
        configFileProvider([configFile(fileId: 'npmrc', targetLocation: '.npmrc'), configFile(fileId: 'maven-settings', variable: 'SETTINGS')]) {
          sh 'cat .npmrc; cat "$SETTINGS"; echo "$SETTINGS" > settings-path.txt'
        }
        sh 'test ! -e .npmrc && test ! -e "$(cat settings-path.txt)" && echo "config files removed"'
        withMaven(maven: 'maven-3', jdk: 'jdk-17', mavenSettingsConfig: 'maven-settings', mavenOpts: '-Xmx256m') {
          sh 'mvn clean verify'
        }
        sh 'echo "after withMaven: MAVEN_HOME=${MAVEN_HOME:-unset}"'
      }
    }
  }
}
"#;
    let (out, log) = run(ws.path(), pipeline, &["--config", "kiln.yaml"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "an UNSTABLE build exits 1\n{log}"
    );
    assert!(log.contains("Finished: UNSTABLE"), "{log}");
    // configFileProvider: the file's content, the secret one masked, both removed after.
    assert!(log.contains("registry=http://npm.example.test/"), "{log}");
    assert!(
        log.contains("copy managed file [Company Maven settings] to file:"),
        "{log}"
    );
    assert!(
        !log.contains("repo-pw-4711"),
        "a secret config file must be masked\n{log}"
    );
    assert!(log.contains("config files removed"), "{log}");
    // withMaven: the tools, the options and the settings reach the fake Maven.
    let maven_home = tools.path().join("maven");
    assert!(
        log.contains(&format!(
            "fake-mvn MAVEN_HOME={} JAVA_HOME={} MAVEN_OPTS=-Xmx256m",
            maven_home.display(),
            tools.path().join("jdk").display()
        )),
        "{log}"
    );
    assert!(
        log.contains("fake-mvn args: --batch-mode --show-version --settings "),
        "{log}"
    );
    assert!(log.contains("settings.xml clean verify"), "{log}");
    assert!(
        log.contains("fake-mvn: settings hold the repository password"),
        "{log}"
    );
    // The reports are recorded as `junit` records them.
    assert!(
        log.contains("[withMaven] junitPublisher: recording 2 surefire/failsafe report file(s)"),
        "{log}"
    );
    assert!(log.contains("Tests: 3, failed: 1, skipped: 0"), "{log}");
    assert!(log.contains("FAILED: com.acme.CartTest.addsItems"), "{log}");
    assert!(log.contains("after withMaven: MAVEN_HOME=unset"), "{log}");
}

#[test]
fn with_maven_names_a_tool_missing_from_kiln_yaml() {
    let ws = tempfile::tempdir().unwrap();
    let tools = tempfile::tempdir().unwrap();
    std::fs::write(ws.path().join("kiln.yaml"), kiln_yaml(tools.path())).unwrap();
    std::fs::write(ws.path().join("npmrc.txt"), "x\n").unwrap();
    let pipeline = "pipeline { agent any\n stages { stage('B') { steps {\n withMaven(maven: 'maven-4') { sh 'mvn -v' }\n configFileProvider([configFile(fileId: 'nope')]) { echo 'never' }\n } } } }\n";
    let (out, log) = run(ws.path(), pipeline, &["--config", "kiln.yaml"]);
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert!(
        log.contains("withMaven: no maven installation 'maven-4' in kiln.yaml's `tools`"),
        "{log}"
    );
}

/// A zip archive (stored, no compression) with one entry named `name`: written by hand, as
/// the archivers refuse to write an entry that climbs out.
fn stored_zip(name: &str, data: &[u8]) -> Vec<u8> {
    let crc = crc32(data);
    let size = u32::try_from(data.len()).unwrap();
    let name_len = u16::try_from(name.len()).unwrap();
    let mut out = Vec::new();
    let header = |sig: u32, central: bool, out: &mut Vec<u8>| {
        out.extend(sig.to_le_bytes());
        if central {
            out.extend(20u16.to_le_bytes()); // made by
        }
        out.extend(20u16.to_le_bytes()); // needed to extract
        out.extend([0u8; 2]); // flags
        out.extend([0u8; 2]); // method: stored
        out.extend([0u8; 4]); // time and date
        out.extend(crc.to_le_bytes());
        out.extend(size.to_le_bytes());
        out.extend(size.to_le_bytes());
        out.extend(name_len.to_le_bytes());
        out.extend([0u8; 2]); // extra length
        if central {
            out.extend([0u8; 10]); // comment length, disk, internal and external attributes
            out.extend(0u32.to_le_bytes()); // local header offset
        }
        out.extend(name.as_bytes());
    };
    header(0x0403_4b50, false, &mut out);
    out.extend(data);
    let central_start = u32::try_from(out.len()).unwrap();
    header(0x0201_4b50, true, &mut out);
    let central_len = u32::try_from(out.len()).unwrap() - central_start;
    out.extend(0x0605_4b50u32.to_le_bytes());
    out.extend([0u8; 4]);
    out.extend(1u16.to_le_bytes());
    out.extend(1u16.to_le_bytes());
    out.extend(central_len.to_le_bytes());
    out.extend(central_start.to_le_bytes());
    out.extend([0u8; 2]);
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

const FILE_STEPS: &str = r#"pipeline {
  agent any
  stages {
    stage('Files') {
      steps {
        sh 'mkdir -p dist/sub && echo alpha > dist/a.txt && echo beta > dist/sub/b.txt && echo skip > dist/c.log'
        zip zipFile: 'out/dist.zip', dir: 'dist', glob: '**/*.txt'
        sh 'unzip -Z1 out/dist.zip | sed "s/^/entry: /"'
        unzip zipFile: 'given.zip', dir: 'extracted'
        sh 'cat extracted/docs/readme.md'
        script {
          def files = unzip zipFile: 'given.zip', read: true, glob: '**/*.md'
          echo "read back: ${files['docs/readme.md'].trim()}"
        }
        tee('logs/tee.txt') {
          sh 'echo teed-by-sh'
          echo 'teed-by-echo'
        }
        sh 'sed "s/^/tee file: /" logs/tee.txt'
        fileOperations([fileCopyOperation(includes: 'dist/**/*.txt', targetLocation: 'copy', flattenFiles: true), fileRenameOperation(source: 'copy/a.txt', destination: 'copy/renamed.txt'), folderCreateOperation(folderPath: 'made/here'), fileDeleteOperation(includes: 'dist/*.log'), folderDeleteOperation(folderPath: 'extracted')])
        sh 'test -d made/here && test ! -e dist/c.log && test ! -e extracted && echo "operations: $(ls copy | tr "\n" " ")"'
        cleanWs(patterns: [[pattern: 'copy/**', type: 'INCLUDE'], [pattern: 'copy/renamed.txt', type: 'EXCLUDE']])
        sh 'echo "after cleanWs: $(ls copy | tr "\n" " ")"'
        cleanWs(patterns: [[pattern: 'dist/**', type: 'INCLUDE']], deleteDirs: true)
        sh 'test ! -e dist/sub && echo "dist/sub deleted"'
        compressLog {
          echo 'inside compressLog'
        }
        lock(resource: 'db', extra: [[resource: 'queue']], variable: 'HELD') {
          echo "holding ${env.HELD}"
          lock(resource: 'db', skipIfLocked: true) {
            echo 'this never runs'
          }
        }
      }
    }
    stage('Slip') {
      steps {
        unzip zipFile: 'slip.zip', dir: 'inside'
      }
    }
  }
}
"#;

#[test]
fn zip_tee_file_operations_clean_ws_and_lock_options() {
    require("zip");
    require("unzip");
    let ws = tempfile::tempdir().unwrap();
    let root = ws.path().join("project");
    std::fs::create_dir_all(root.join("docs")).unwrap();
    std::fs::write(root.join("docs/readme.md"), "made by Info-ZIP\n").unwrap();
    let zipped = Command::new("zip")
        .args(["-q", "-r", "given.zip", "docs"])
        .current_dir(&root)
        .status()
        .unwrap();
    assert!(zipped.success());
    std::fs::remove_dir_all(root.join("docs")).unwrap();
    std::fs::write(
        root.join("slip.zip"),
        stored_zip("../../evil.txt", b"owned\n"),
    )
    .unwrap();
    let (out, log) = run(&root, FILE_STEPS, &[]);
    assert_eq!(out.status.code(), Some(1), "the Slip stage fails\n{log}");
    // zip: Info-ZIP lists what kiln wrote; the .log file was not matched.
    assert!(log.contains("Zipped 2 entries."), "{log}");
    assert!(
        log.contains("entry: a.txt") && log.contains("entry: sub/b.txt"),
        "{log}"
    );
    assert!(!log.contains("entry: c.log"), "{log}");
    // unzip: what Info-ZIP wrote, extracted and read.
    assert!(log.contains("made by Info-ZIP"), "{log}");
    assert!(log.contains("read back: made by Info-ZIP"), "{log}");
    // tee: the block's lines are in the file.
    assert!(log.contains("tee file: teed-by-sh"), "{log}");
    assert!(log.contains("tee file: teed-by-echo"), "{log}");
    // fileOperations and cleanWs.
    assert!(log.contains("operations: b.txt renamed.txt"), "{log}");
    assert!(log.contains("after cleanWs: renamed.txt"), "{log}");
    assert!(log.contains("dist/sub deleted"), "{log}");
    assert!(log.contains("kiln stores build logs uncompressed"), "{log}");
    assert!(log.contains("inside compressLog"), "{log}");
    // lock: extra resources, and a block skipped because its resource is held.
    assert!(log.contains("holding db,queue"), "{log}");
    assert!(
        log.contains("[db] is locked, skipping execution..."),
        "{log}"
    );
    assert!(!log.contains("this never runs"), "{log}");
    // zip slip: refused, naming the entry, nothing written outside.
    assert!(
        log.contains("entry `../../evil.txt` would be extracted outside the target directory"),
        "{log}"
    );
    assert!(!ws.path().join("evil.txt").exists());
    assert!(!root.join("evil.txt").exists());
}

/// The build-tools example's pipeline on `kiln server`: kiln.yaml's `config_files:` (and,
/// with them, the example's `credentials:`) and `tools:` reach the build (the example's stand-in Maven in `allow_paths`), the report is
/// recorded, and the secret settings file never shows.
#[test]
fn the_build_tools_example_runs_on_the_server() {
    let root = tempfile::tempdir().unwrap();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/build-tools");
    let example = std::fs::canonicalize(example).unwrap();
    let job = root.path().join("job");
    std::fs::create_dir_all(&job).unwrap();
    std::fs::copy(example.join("Jenkinsfile"), job.join("Jenkinsfile")).unwrap();
    let example_yaml = std::fs::read_to_string(example.join("kiln.yaml")).unwrap();
    let files_section = &example_yaml
        [example_yaml.find("config_files:").unwrap()..example_yaml.find("tools:").unwrap()];
    let yaml = format!(
        "server:\n  tokens:\n    - {{name: e2e, token: {}, role: admin}}\n\
executors:\n  local:\n    allow_paths: [{tools}]\n\
jobs:\n  - name: build-tools\n    dir: {job}\n\
{files_section}\
tools:\n  - name: maven-stand-in\n    type: maven\n    home: {tools}/maven\n",
        support::TOKEN,
        tools = example.join("tools").display(),
        job = job.display(),
    );
    let config = root.path().join("kiln.yaml");
    std::fs::write(&config, yaml).unwrap();
    let server =
        support::Server::start(root.path(), &config, "127.0.0.1:0", [("KILN_LOG", "info")]);
    let out = support::kiln(&server, &["trigger", "build-tools", "--follow"]);
    let log = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{log}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(log.contains("greeting=Hello"), "{log}");
    assert!(
        log.contains("# written by configFileProvider for build-tools #1"),
        "{log}"
    );
    assert!(
        log.contains("stand-in mvn --batch-mode --show-version --settings "),
        "{log}"
    );
    assert!(log.contains("Tests: 2, failed: 0, skipped: 0"), "{log}");
    assert!(log.contains("<h1>site</h1>"), "{log}");
    assert!(log.contains("deploying to staging"), "{log}");
    assert!(
        log.contains("logged in to https://registry.example.com"),
        "{log}"
    );
    assert!(!log.contains("example-registry-password"), "{log}");
    assert!(
        log.contains("deleted 2 file(s) and 2 directory(ies)"),
        "{log}"
    );
    assert!(!log.contains("example-repo-password"), "{log}");
    let build = support::build(&server, "build-tools", 1);
    assert_eq!(build["tests"]["total"], 2, "{build}");
}

/// `withDockerRegistry`: the login kiln writes to `DOCKER_CONFIG` is what a registry (an HTTP
/// server here, answering `/v2/` only with the right basic auth) accepts, read back by the
/// block's `curl` as the docker CLI reads it; the password and the encoded login are masked
/// and the directory is gone after the block.
#[test]
fn with_docker_registry_logs_the_block_in() {
    use base64::Engine as _;
    require("curl");
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("pusher:s3cret-registry-pw")
    );
    let want = expected.clone();
    let registry = peers::http::HttpServer::start(move |req| {
        match (req.target.as_str(), req.header("authorization")) {
            ("/v2/", Some(auth)) if auth == want => peers::http::Response::json(200, "{}"),
            _ => peers::http::Response::text(401, "unauthorized"),
        }
    });
    let ws = tempfile::tempdir().unwrap();
    std::fs::write(
        ws.path().join("kiln.yaml"),
        "credentials:\n  - id: registry\n    username: pusher\n    password: s3cret-registry-pw\n",
    )
    .unwrap();
    let pipeline = format!(
        r#"pipeline {{
  agent any
  stages {{
    stage('Push') {{
      steps {{
        withDockerRegistry([url: '{url}', credentialsId: 'registry']) {{
          sh '''
            auth=$(sed -n 's/.*"auth": "\\(.*\\)".*/\\1/p' "$DOCKER_CONFIG/config.json")
            echo "auth=$auth"
            curl -fsS -H "Authorization: Basic $auth" "$DOCKER_REGISTRY_URL/v2/" && echo " registry accepted the login"
            echo "$DOCKER_CONFIG" > docker-config-path.txt
          '''
        }}
        sh 'test ! -e "$(cat docker-config-path.txt)" && echo "login removed"'
      }}
    }}
  }}
}}
"#,
        url = registry.url()
    );
    let (out, log) = run(ws.path(), &pipeline, &["--config", "kiln.yaml"]);
    assert_eq!(out.status.code(), Some(0), "{log}");
    assert!(log.contains("registry accepted the login"), "{log}");
    assert!(
        log.contains("auth=****"),
        "the encoded login is masked\n{log}"
    );
    assert!(!log.contains("s3cret-registry-pw"), "{log}");
    assert!(log.contains("login removed"), "{log}");
    let host = registry.url().trim_start_matches("http://").to_owned();
    assert!(
        log.contains(&format!(
            "withDockerRegistry: logged in to {host} as pusher (credentials 'registry'"
        )),
        "{log}"
    );
    let seen: Vec<_> = registry
        .requests()
        .iter()
        .filter_map(|r| r.header("authorization").map(str::to_owned))
        .collect();
    assert_eq!(seen, [expected]);
}
