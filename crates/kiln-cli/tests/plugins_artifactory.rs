//! End to end: the Artifactory plugin's scripted API run by the real `kiln run` against a
//! small Artifactory started here (a thread speaking HTTP/1.1 on 127.0.0.1 that stores
//! what is PUT, serves it back with its SHA-1, answers AQL searches and keeps published
//! build infos), checking the files, checksums, properties and build info it received.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use sha1::Digest as _;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

#[derive(Clone, Debug)]
struct Request {
    method: String,
    target: String,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

#[derive(Default)]
struct Store {
    /// `repo/path` -> content.
    files: BTreeMap<String, Vec<u8>>,
    requests: Vec<Request>,
    /// Paths served with a wrong `X-Checksum-Sha1`.
    corrupt: Vec<String>,
}

struct Artifactory {
    port: u16,
    store: Arc<Mutex<Store>>,
}

impl Artifactory {
    fn start(files: &[(&str, &str)]) -> Artifactory {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let store = Arc::new(Mutex::new(Store::default()));
        for (path, text) in files {
            store
                .lock()
                .unwrap()
                .files
                .insert((*path).to_owned(), text.as_bytes().to_vec());
        }
        let shared = store.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { return };
                let store = shared.clone();
                std::thread::spawn(move || {
                    let _ = serve(conn, &store);
                });
            }
        });
        Artifactory { port, store }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/artifactory", self.port)
    }

    fn requests(&self) -> Vec<Request> {
        self.store.lock().unwrap().requests.clone()
    }

    fn file(&self, path: &str) -> Option<Vec<u8>> {
        self.store.lock().unwrap().files.get(path).cloned()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn sha1(bytes: &[u8]) -> String {
    hex(&sha1::Sha1::digest(bytes))
}

fn serve(conn: TcpStream, store: &Mutex<Store>) -> std::io::Result<()> {
    let mut out = conn.try_clone()?;
    let mut input = BufReader::new(conn);
    let mut line = String::new();
    input.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let target = parts.next().unwrap_or_default().to_owned();
    let mut headers = BTreeMap::new();
    loop {
        line.clear();
        input.read_line(&mut line)?;
        let Some((name, value)) = line.trim_end().split_once(':') else {
            break;
        };
        headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
    }
    let length: usize = headers
        .get("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    input.read_exact(&mut body)?;
    let request = Request {
        method,
        target,
        headers,
        body,
    };
    let (status, extra, reply) = answer(&request, store);
    store.lock().unwrap().requests.push(request);
    write!(
        out,
        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n",
        reply.len()
    )?;
    out.write_all(&reply)?;
    out.flush()
}

/// What the fake Artifactory answers: the path below `/artifactory/` without matrix
/// parameters is the repository path.
fn answer(r: &Request, store: &Mutex<Store>) -> (u16, String, Vec<u8>) {
    let Some(rest) = r.target.strip_prefix("/artifactory/") else {
        return (404, String::new(), b"not artifactory".to_vec());
    };
    let path = rest
        .split(';')
        .next()
        .unwrap_or_default()
        .replace("%20", " ");
    let mut s = store.lock().unwrap();
    match (r.method.as_str(), path.as_str()) {
        ("PUT", "api/build") => (204, String::new(), Vec::new()),
        ("POST", "api/search/aql") => {
            let text = String::from_utf8_lossy(&r.body);
            let query = text
                .strip_prefix("items.find(")
                .and_then(|q| q.split(").include(").next())
                .unwrap();
            let query: serde_json::Value = serde_json::from_str(query).unwrap();
            let results: Vec<serde_json::Value> = s
                .files
                .keys()
                .filter_map(|k| {
                    let (repo, rest) = k.split_once('/')?;
                    let (dir, name) = rest.rsplit_once('/').unwrap_or((".", rest));
                    let ok = query["repo"] == repo
                        && query["$or"].as_array().unwrap().iter().any(|alt| {
                            glob(alt["path"]["$match"].as_str().unwrap(), dir)
                                && glob(alt["name"]["$match"].as_str().unwrap(), name)
                        });
                    ok.then(|| serde_json::json!({"repo": repo, "path": dir, "name": name}))
                })
                .collect();
            let body = serde_json::json!({ "results": results }).to_string();
            (200, String::new(), body.into_bytes())
        }
        ("PUT", _) => {
            let ok = r.headers.get("x-checksum-sha1") == Some(&sha1(&r.body));
            if !ok {
                return (409, String::new(), b"checksum mismatch".to_vec());
            }
            s.files.insert(path, r.body.clone());
            (201, String::new(), b"{}".to_vec())
        }
        ("GET", _) => match s.files.get(&path) {
            Some(bytes) => {
                let sum = if s.corrupt.contains(&path) {
                    "0".repeat(40)
                } else {
                    sha1(bytes)
                };
                (200, format!("X-Checksum-Sha1: {sum}\r\n"), bytes.clone())
            }
            None => (404, String::new(), b"not found".to_vec()),
        },
        _ => (405, String::new(), Vec::new()),
    }
}

/// AQL's `$match`: `*` any run of characters, `?` one.
fn glob(pattern: &str, text: &str) -> bool {
    match (pattern.chars().next(), text.chars().next()) {
        (None, None) => true,
        (Some('*'), _) => {
            glob(&pattern[1..], text) || (!text.is_empty() && glob(pattern, &text[1..]))
        }
        (Some('?'), Some(_)) => glob(&pattern[1..], &text[1..]),
        (Some(p), Some(t)) if p == t => glob(&pattern[p.len_utf8()..], &text[t.len_utf8()..]),
        _ => false,
    }
}

/// A workspace with the Jenkinsfile and a kiln.yaml naming the server `art` (basic
/// authentication with the `deployer` credential).
fn workspace(art: &Artifactory, jenkinsfile: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Jenkinsfile"), jenkinsfile).unwrap();
    std::fs::write(
        dir.path().join("kiln.yaml"),
        format!(
            "credentials:\n  - id: deployer\n    username: ci\n    password: s3cret-pw\n  - id: token\n    secret: tok-123\n\
artifactory:\n  - id: art\n    url: {}\n    credential: deployer\n  - id: bearer\n    url: {}\n    credential: token\n",
            art.url(),
            art.url()
        ),
    )
    .unwrap();
    dir
}

fn kiln_run(dir: &Path, path: Option<&str>) -> (Output, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kiln"));
    cmd.args(["run", "--config", "kiln.yaml", "Jenkinsfile"])
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("KILN_LOG")
        .env_remove("KILN_CREDENTIALS");
    if let Some(p) = path {
        cmd.env("PATH", p);
    }
    let out = cmd.output().expect("run kiln");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out, text)
}

fn basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

#[test]
fn upload_download_and_publish_build_info() {
    let art = Artifactory::start(&[
        (
            "libs-release/org/acme/util/1.0/util-1.0.jar",
            "util jar bytes",
        ),
        ("libs-release/org/acme/notes.md", "notes"),
        ("libs-release/other/x.jar", "other"),
    ]);
    let dir = workspace(
        &art,
        r#"node {
    stage('Publish') {
        writeFile file: 'out/app-1.0.zip', text: 'application bytes'
        writeFile file: 'out/docs/read me.txt', text: 'read me'
        writeFile file: 'other.txt', text: 'not matched'
        def server = Artifactory.server 'art'
        def buildInfo = Artifactory.newBuildInfo()
        buildInfo.setName 'shop'
        buildInfo.env.capture = true
        def uploadSpec = '''{"files": [{"pattern": "out/*", "target": "generic-local/shop/", "flat": "false", "props": "team=core;tags=a,b"}]}'''
        server.upload spec: uploadSpec, buildInfo: buildInfo
        def dl = server.download spec: '''{"files": [{"pattern": "libs-release/org/acme/*.jar", "target": "deps/"}]}'''
        buildInfo.append dl
        withEnv(['API_TOKEN=hidden', 'COLOUR=blue']) {
            server.publishBuildInfo buildInfo
        }
        echo "published ${buildInfo.getName()} #${buildInfo.number}"
        def bearer = Artifactory.server('bearer')
        bearer.upload(spec: '''{"files": [{"pattern": "out/app-*.zip", "target": "generic-local/flat/app.zip", "recursive": "false"}]}''')
    }
}
"#,
    );
    let (out, log) = kiln_run(dir.path(), None);
    assert_eq!(out.status.code(), Some(0), "{log}");
    assert!(
        !log.contains("s3cret-pw") && !log.contains("tok-123"),
        "{log}"
    );
    assert!(
        log.contains("[Publish] [Artifactory] Uploaded 2 file(s)\n"),
        "{log}"
    );
    assert!(
        log.contains("[Publish] published shop #1\n"),
        "the build info's number is the build's: {log}"
    );

    // The uploads: each file's checksums, the props and the build's properties.
    let requests = art.requests();
    let puts: Vec<&Request> = requests
        .iter()
        .filter(|r| r.method == "PUT" && r.target.contains("generic-local/shop/"))
        .collect();
    assert_eq!(puts.len(), 2, "{puts:#?}");
    let app = puts
        .iter()
        .find(|r| r.target.contains("app-1.0.zip"))
        .unwrap();
    assert!(
        app.target.starts_with(
            "/artifactory/generic-local/shop/app-1.0.zip;team=core;tags=a,b;build.name=shop;build.number=1;build.timestamp="
        ),
        "{}",
        app.target
    );
    assert_eq!(app.body, b"application bytes");
    assert_eq!(app.headers["x-checksum-sha1"], sha1(b"application bytes"));
    assert_eq!(
        app.headers["x-checksum-sha256"],
        hex(&sha2::Sha256::digest(b"application bytes"))
    );
    assert_eq!(
        app.headers["x-checksum-md5"],
        hex(&<md5::Md5 as md5::Digest>::digest(b"application bytes"))
    );
    assert_eq!(app.headers["authorization"], basic("ci", "s3cret-pw"));
    // flat: false keeps the path below the pattern's directory; spaces are encoded.
    assert!(
        puts.iter().any(|r| r
            .target
            .starts_with("/artifactory/generic-local/shop/docs/read%20me.txt;")),
        "{puts:#?}"
    );
    assert_eq!(
        art.file("generic-local/shop/docs/read me.txt").unwrap(),
        b"read me"
    );

    // The download: the AQL search found the one jar below org/acme, kept its path.
    let got = std::fs::read(dir.path().join("deps/org/acme/util/1.0/util-1.0.jar")).unwrap();
    assert_eq!(got, b"util jar bytes");
    assert!(!dir.path().join("deps/other").exists());
    assert!(!dir.path().join("deps/org/acme/notes.md").exists());

    // The build info: both artifacts, the dependency, the environment without secrets.
    let published = requests
        .iter()
        .find(|r| r.method == "PUT" && r.target == "/artifactory/api/build")
        .expect("a build info was published");
    let info: serde_json::Value = serde_json::from_slice(&published.body).unwrap();
    assert_eq!(info["name"], "shop");
    assert_eq!(info["number"], "1");
    let module = &info["modules"][0];
    let artifacts = module["artifacts"].as_array().unwrap();
    assert_eq!(artifacts.len(), 2, "{info:#}");
    assert!(
        artifacts
            .iter()
            .any(|a| a["path"] == "generic-local/shop/app-1.0.zip"
                && a["sha1"] == sha1(b"application bytes"))
    );
    let deps = module["dependencies"].as_array().unwrap();
    assert_eq!(deps.len(), 1, "{info:#}");
    assert_eq!(deps[0]["id"], "libs-release/org/acme/util/1.0/util-1.0.jar");
    assert_eq!(deps[0]["sha1"], sha1(b"util jar bytes"));
    assert_eq!(
        info["properties"]["buildInfo.env.COLOUR"], "blue",
        "{info:#}"
    );
    assert!(info["properties"].get("buildInfo.env.API_TOKEN").is_none());

    // A secret-text credential is a bearer token; a target without `/` is the file name.
    let bearer = requests
        .iter()
        .find(|r| {
            r.target
                .starts_with("/artifactory/generic-local/flat/app.zip")
        })
        .unwrap();
    assert_eq!(bearer.headers["authorization"], "Bearer tok-123");
    assert_eq!(
        art.file("generic-local/flat/app.zip").unwrap(),
        b"application bytes"
    );
}

#[test]
fn a_download_whose_checksum_differs_fails_and_an_unknown_server_is_named() {
    let art = Artifactory::start(&[("libs/app.jar", "app")]);
    art.store
        .lock()
        .unwrap()
        .corrupt
        .push("libs/app.jar".to_owned());
    let dir = workspace(
        &art,
        r#"node {
    stage('Get') {
        def server = Artifactory.server 'art'
        server.download spec: '{"files": [{"pattern": "libs/app.jar", "target": "lib/"}]}'
    }
}
"#,
    );
    let (out, log) = kiln_run(dir.path(), None);
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert!(
        log.contains(&format!(
            "server.download: downloading libs/app.jar: the content's SHA-1 {} is not the server's {}",
            sha1(b"app"),
            "0".repeat(40)
        )),
        "{log}"
    );
    assert!(!dir.path().join("lib/app.jar").exists());

    std::fs::write(
        dir.path().join("Jenkinsfile"),
        // A `script { }` block that calls no step still reaches the Artifactory objects.
        "pipeline { agent any; stages { stage('Get') { steps { script {\n    def s\n    s = Artifactory.server('local_artifactory')\n} } } } }\n",
    )
    .unwrap();
    let (out, log) = kiln_run(dir.path(), None);
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert!(
        log.contains("Artifactory.server: no Artifactory server `local_artifactory` in kiln.yaml's `artifactory:` (configured: art, bearer)"),
        "{log}"
    );
}

/// `rtMaven`: Maven runs (a `mvn` of the test's on PATH, recording its arguments and the
/// settings file it was given, and building the jar), resolving through the resolver's
/// repositories; the POM and jar go to the deployer's repository, at once or when
/// `deployer.deployArtifacts` is called.
#[test]
fn a_maven_build_resolves_through_artifactory_and_deploys_its_artifacts() {
    let art = Artifactory::start(&[]);
    let dir = workspace(
        &art,
        r#"node {
    def server = Artifactory.server 'art'
    def rtMaven = Artifactory.newMavenBuild()
    def buildInfo
    stage('Build') {
        rtMaven.tool = 'Maven3'
        rtMaven.resolver server: server, releaseRepo: 'libs-release', snapshotRepo: 'libs-snapshot'
        rtMaven.deployer server: server, releaseRepo: 'libs-release-local', snapshotRepo: 'libs-snapshot-local'
        rtMaven.deployer.deployArtifacts = false
        buildInfo = rtMaven.run pom: 'pom.xml', goals: 'clean install'
        echo "deployed so far: ${buildInfo.name}"
        rtMaven.deployer.deployArtifacts buildInfo
        server.publishBuildInfo buildInfo
    }
}
"#,
    );
    std::fs::write(
        dir.path().join("pom.xml"),
        "<project><modelVersion>4.0.0</modelVersion><groupId>org.acme</groupId><artifactId>shop</artifactId><version>1.2-SNAPSHOT</version></project>\n",
    )
    .unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let mvn = bin.join("mvn");
    std::fs::write(
        &mvn,
        "#!/bin/sh\necho \"$@\" > mvn-args.txt\nwhile [ $# -gt 0 ]; do if [ \"$1\" = -s ]; then cp \"$2\" settings-seen.xml; fi; shift; done\nmkdir -p target && printf 'jar bytes' > target/shop-1.2-SNAPSHOT.jar\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&mvn, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let (out, log) = kiln_run(dir.path(), Some(&path));
    assert_eq!(out.status.code(), Some(0), "{log}");
    assert!(
        log.contains("+ mvn --batch-mode -f pom.xml clean install -s "),
        "{log}"
    );
    assert!(log.contains("deployArtifacts is false"), "{log}");
    let settings = std::fs::read_to_string(dir.path().join("settings-seen.xml")).unwrap();
    assert!(
        settings.contains(&format!("<url>{}/libs-release</url>", art.url())),
        "{settings}"
    );
    assert!(settings.contains(&format!("<url>{}/libs-snapshot</url>", art.url())));
    assert!(settings.contains("<username>ci</username>"));
    // The settings file (it holds the password) is removed after the run.
    let tmp = dir.path().with_file_name(format!(
        "{}@tmp",
        dir.path().file_name().unwrap().to_string_lossy()
    ));
    let left: Vec<_> = std::fs::read_dir(&tmp)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(
        !left
            .iter()
            .any(|n| n.to_string_lossy().starts_with("artifactory")),
        "{left:?}"
    );
    let base = "libs-snapshot-local/org/acme/shop/1.2-SNAPSHOT/shop-1.2-SNAPSHOT";
    assert_eq!(art.file(&format!("{base}.jar")).unwrap(), b"jar bytes");
    assert!(
        String::from_utf8(art.file(&format!("{base}.pom")).unwrap())
            .unwrap()
            .contains("<artifactId>shop</artifactId>")
    );
    let requests = art.requests();
    let info = requests
        .iter()
        .find(|r| r.target == "/artifactory/api/build")
        .unwrap();
    let info: serde_json::Value = serde_json::from_slice(&info.body).unwrap();
    assert_eq!(
        info["modules"][0]["artifacts"].as_array().unwrap().len(),
        2,
        "{info:#}"
    );
}

/// `withCredentials([[$class: 'UsernamePasswordMultiBinding', ...]])`, the form Jenkins'
/// snippet generator wrote before the binding functions (common beside Artifactory
/// uploads), binds as `usernamePassword(...)` does, in `steps { }` and in scripts; a
/// binding class kiln does not know fails naming it.
#[test]
fn class_form_credential_bindings_bind_as_the_binding_functions() {
    let art = Artifactory::start(&[]);
    let dir = workspace(
        &art,
        r#"pipeline {
    agent any
    stages {
        stage('Bind') {
            steps {
                withCredentials([[$class: 'UsernamePasswordMultiBinding', credentialsId: 'deployer', usernameVariable: 'U', passwordVariable: 'P']]) {
                    sh 'echo "user=$U pass=$P"'
                }
                script {
                    withCredentials([[$class: 'StringBinding', credentialsId: 'token', variable: 'T']]) {
                        sh 'echo "token length ${#T}"'
                    }
                }
                withCredentials([[$class: 'AmazonWebServicesCredentialsBinding', credentialsId: 'deployer']]) {
                    sh 'echo "aws key=$AWS_ACCESS_KEY_ID secret length ${#AWS_SECRET_ACCESS_KEY}"'
                }
                script {
                    withCredentials([aws(credentialsId: 'deployer', accessKeyVariable: 'K', secretKeyVariable: 'S')]) {
                        sh 'echo "symbol key=$K"'
                    }
                }
                withCredentials([[$class: 'CertificateMultiBinding', credentialsId: 'cert']]) {
                    echo 'not reached'
                }
            }
        }
    }
}
"#,
    );
    let (out, log) = kiln_run(dir.path(), None);
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert!(log.contains("[Bind] user=ci pass="), "{log}");
    assert!(log.contains("[Bind] token length 7\n"), "{log}");
    // The AWS binding: the key ID (a username, so not masked) and the masked secret key.
    assert!(log.contains("[Bind] aws key=ci secret length 9\n"), "{log}");
    assert!(log.contains("[Bind] symbol key=ci\n"), "{log}");
    assert!(
        !log.contains("s3cret-pw") && !log.contains("tok-123"),
        "{log}"
    );
    assert!(
        log.contains(
            "withCredentials: binding class `CertificateMultiBinding` is not supported by kiln"
        ),
        "{log}"
    );
    assert!(!log.contains("not reached"), "{log}");
}
