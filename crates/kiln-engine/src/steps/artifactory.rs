//! The Artifactory plugin's scripted API (see kiln-script's `runtime::artifactory`): every
//! method of the `Artifactory` global and of its objects arrives here as one call of
//! [`ARTIFACTORY_STEP`] with the method, the object and the arguments.
//!
//! - `Artifactory.server('ID')` is the server `ID` of kiln.yaml's `artifactory:`;
//!   `Artifactory.newServer(url:, credentialsId:)` (or `username:`/`password:`) one made
//!   here. A username/password credential is sent as basic authentication, a secret text
//!   as a bearer token.
//! - `server.upload(spec:, buildInfo:, failNoOp:)` PUTs each local file a files spec
//!   matches to `{url}/{target}` with its `X-Checksum-Sha1`, `-Sha256` and `-Md5`, and the
//!   spec's `props` (plus `build.name`, `build.number`, `build.timestamp` when a build info
//!   collects the upload) as matrix parameters; `server.download(spec:)` finds the files
//!   (an exact path, or an AQL search for wildcards), GETs them and checks each one's
//!   SHA-1 against the server's `X-Checksum-Sha1`. Both return (and fill) a build info.
//! - `Artifactory.newBuildInfo()`, `buildInfo.append(other)`, `buildInfo.env.capture`;
//!   `server.publishBuildInfo(buildInfo)` PUTs the build info JSON to `{url}/api/build`.
//! - `Artifactory.newMavenBuild()`/`newGradleBuild()`: `.tool`, `.opts`, `.resolver(...)`,
//!   `.deployer(...)`, `.run(pom:/buildFile:, goals:/tasks:, buildInfo:)` run Maven or
//!   Gradle (with `sh`, so the log shows the command). Maven resolves through the resolver's
//!   repositories (a settings file kiln writes), and the root module's POM and built
//!   artifact are deployed to the deployer's release or snapshot repository afterwards
//!   (at once, or by `deployer.deployArtifacts(buildInfo)` when `deployer.deployArtifacts
//!   = false`). What kiln does not do (Gradle resolution and deployment, modules of a
//!   multi-module build) is said in the build log.
//!
//! [`ARTIFACTORY_STEP`]: kiln_script::ARTIFACTORY_STEP

use super::http_client::{HttpCall, HttpReply, basic_auth, send};
use super::process::{Capture, run_process};
use super::script::ScriptHost;
use super::{Args, StepCall};
use crate::error::StepError;
use crate::scope::Scope;
use crate::shared::Locked;
use crate::spec::Credential;
use kiln_script::{ARTIFACTORY_KEY, RECEIVER_UPDATE, RESULT, Value};
use sha1::Digest as _;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The build infos of one build, by the id their script objects carry: what uploads,
/// downloads and Maven runs recorded into them.
#[derive(Default)]
pub(crate) struct BuildInfos(Locked<BuildInfoState>);

#[derive(Default)]
struct BuildInfoState {
    next: u64,
    infos: BTreeMap<String, Recorded>,
}

#[derive(Clone, Default)]
struct Recorded {
    started: String,
    artifacts: Vec<Artifact>,
    dependencies: Vec<Artifact>,
    env: Vec<(String, String)>,
    /// Maven artifacts built with `deployArtifacts = false`, for `deployer.deployArtifacts`.
    pending: Vec<Pending>,
}

#[derive(Clone)]
struct Artifact {
    name: String,
    /// `repo/path/name`.
    path: String,
    sha1: String,
    sha256: String,
    md5: String,
}

impl Artifact {
    fn of(name: String, path: String, (sha1, sha256, md5): (String, String, String)) -> Self {
        Artifact {
            name,
            path,
            sha1,
            sha256,
            md5,
        }
    }
}

#[derive(Clone)]
struct Pending {
    local: PathBuf,
    target: String,
    server: Value,
}

impl BuildInfos {
    fn create(&self) -> String {
        let mut s = self.0.lock();
        s.next += 1;
        let id = s.next.to_string();
        s.infos.insert(
            id.clone(),
            Recorded {
                started: now(),
                ..Recorded::default()
            },
        );
        id
    }

    fn update(&self, id: &str, f: impl FnOnce(&mut Recorded)) {
        let mut s = self.0.lock();
        f(s.infos.entry(id.to_owned()).or_default());
    }

    fn get(&self, id: &str) -> Recorded {
        self.0.lock().infos.get(id).cloned().unwrap_or_default()
    }
}

fn now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%S%.3f+0000")
        .to_string()
}

/// One method call on an Artifactory object.
struct Call<'h, 'b, 'c> {
    host: &'h mut ScriptHost<'b>,
    named: &'c BTreeMap<String, Value>,
    positional: &'c [Value],
    scope: Scope,
    receiver: Value,
    what: String,
}

impl Call<'_, '_, '_> {
    /// Named argument `name`, or positional argument `i`.
    fn arg(&self, i: usize, name: &str) -> Option<Value> {
        self.named
            .get(name)
            .cloned()
            .or_else(|| self.positional.get(i).cloned())
            .filter(|v| !matches!(v, Value::Null))
    }

    fn text(&self, i: usize, name: &str) -> Option<String> {
        self.arg(i, name).map(|v| v.to_string())
    }

    fn log(&self, line: &str) {
        self.host
            .build
            .log(self.scope.node, line, self.scope.timestamps);
    }

    fn fail(&self, why: impl std::fmt::Display) -> StepError {
        StepError::failed(format!("{}: {why}", self.what))
    }

    /// Runs `f` with a step call of this method (for the executor and paths).
    fn step<T>(
        &mut self,
        f: impl for<'x> FnOnce(&'x StepCall<'x>) -> super::BoxFuture<'x, Result<T, StepError>>,
    ) -> Result<T, StepError> {
        let build = Arc::clone(&self.host.build);
        let scope = self.scope.clone();
        let named = self.named.clone();
        let what = self.what.clone();
        self.host.handle.block_on(async move {
            let call = StepCall {
                build: &build,
                scope: &scope,
                name: &what,
                args: Args::Script(&named),
                body: None,
            };
            f(&call).await
        })
    }
}

fn kind_of(v: &Value) -> Option<&str> {
    v.get(ARTIFACTORY_KEY).and_then(Value::as_str)
}

fn object(kind: &str, fields: Vec<(&str, Value)>) -> Value {
    let mut m = vec![(ARTIFACTORY_KEY.to_owned(), Value::Str(kind.to_owned()))];
    m.extend(fields.into_iter().map(|(k, v)| (k.to_owned(), v)));
    Value::Map(m)
}

fn with(mut map: Value, key: &str, value: Value) -> Value {
    if let Value::Map(entries) = &mut map {
        match entries.iter_mut().find(|(k, _)| k == key) {
            Some((_, v)) => *v = value,
            None => entries.push((key.to_owned(), value)),
        }
    }
    map
}

fn str_of(v: &Value, key: &str) -> Option<String> {
    v.get(key)
        .filter(|v| !matches!(v, Value::Null))
        .map(Value::to_string)
}

/// The answer of a method that changes the object it was called on.
fn updated(receiver: Value, result: Value) -> Value {
    Value::Map(vec![
        (RECEIVER_UPDATE.to_owned(), receiver),
        (RESULT.to_owned(), result),
    ])
}

/// Serves one method call of the `Artifactory` global or of one of its objects.
pub(crate) fn call(
    host: &mut ScriptHost<'_>,
    call: &kiln_script::StepCall<'_>,
    scope: &Scope,
) -> Result<Value, StepError> {
    let method = super::script::host_method(call);
    let receiver = call.named.get("$receiver").cloned().unwrap_or(Value::Null);
    let mut named = call.named.clone();
    named.remove("$method");
    named.remove("$receiver");
    // `server.upload(spec)`: a single map argument is the named arguments.
    let kind = kind_of(&receiver).unwrap_or_default().to_owned();
    let what = match kind.as_str() {
        "Artifactory" => format!("Artifactory.{method}"),
        k => format!("{k}.{method}"),
    };
    let mut c = Call {
        host,
        named: &named,
        positional: &call.positional,
        scope: scope.clone(),
        receiver,
        what,
    };
    match kind.as_str() {
        "Artifactory" => global(&mut c, &method),
        "server" => server(&mut c, &method),
        "buildInfo" => build_info(&mut c, &method),
        "env" => env(&c, &method),
        "maven" | "gradle" => build_tool(&mut c, &kind, &method),
        "deployer" | "resolver" => repos(&mut c, &kind, &method),
        _ => Err(StepError::failed("Artifactory: not an Artifactory object")),
    }
}

fn not_supported(c: &Call<'_, '_, '_>) -> StepError {
    c.fail("is not supported by kiln (kiln's Artifactory support covers servers' upload, download and publishBuildInfo, build infos, and Maven/Gradle builds)")
}

fn global(c: &mut Call<'_, '_, '_>, method: &str) -> Result<Value, StepError> {
    match method {
        "server" => {
            let id = c.text(0, "id").unwrap_or_default();
            let servers = &c.host.build.spec.services.artifactory;
            let Some(s) = servers.iter().find(|s| s.id == id) else {
                let known: Vec<&str> = servers.iter().map(|s| s.id.as_str()).collect();
                return Err(c.fail(if known.is_empty() {
                    format!(
                        "no Artifactory server `{id}`: add it to `artifactory:` in kiln.yaml (id, url, credential; kiln run: --config FILE)"
                    )
                } else {
                    format!(
                        "no Artifactory server `{id}` in kiln.yaml's `artifactory:` (configured: {})",
                        known.join(", ")
                    )
                }));
            };
            Ok(object(
                "server",
                vec![
                    ("id", Value::Str(s.id.clone())),
                    ("url", Value::Str(s.url.clone())),
                    (
                        "credentialsId",
                        s.credential.clone().map_or(Value::Null, Value::Str),
                    ),
                ],
            ))
        }
        "newServer" => {
            let url = c
                .text(0, "url")
                .ok_or_else(|| c.fail("needs `url:`"))?
                .trim_end_matches('/')
                .to_owned();
            let text = |k: &str| c.text(99, k).map_or(Value::Null, Value::Str);
            Ok(object(
                "server",
                vec![
                    ("id", Value::Null),
                    ("url", Value::Str(url)),
                    ("credentialsId", text("credentialsId")),
                    ("username", text("username")),
                    ("password", text("password")),
                ],
            ))
        }
        "newBuildInfo" => Ok(new_build_info(c)),
        "newMavenBuild" | "newGradleBuild" => {
            let kind = if method == "newMavenBuild" {
                "maven"
            } else {
                "gradle"
            };
            let id = c.host.build.artifactory.create();
            Ok(object(
                kind,
                vec![
                    ("id", Value::Str(id.clone())),
                    ("tool", Value::Null),
                    ("opts", Value::Str(String::new())),
                    ("useWrapper", Value::Bool(false)),
                    ("env", env_object(&id)),
                    ("resolver", object("resolver", vec![])),
                    (
                        "deployer",
                        object("deployer", vec![("deployArtifacts", Value::Bool(true))]),
                    ),
                ],
            ))
        }
        _ => Err(not_supported(c)),
    }
}

fn env_object(id: &str) -> Value {
    object(
        "env",
        vec![
            ("id", Value::Str(id.to_owned())),
            ("capture", Value::Bool(false)),
        ],
    )
}

fn new_build_info(c: &Call<'_, '_, '_>) -> Value {
    let id = c.host.build.artifactory.create();
    let var = |k: &str| {
        c.scope
            .var(k)
            .map_or(Value::Null, |v| Value::Str(v.to_owned()))
    };
    object(
        "buildInfo",
        vec![
            ("id", Value::Str(id.clone())),
            ("name", var("JOB_NAME")),
            ("number", var("BUILD_NUMBER")),
            ("env", env_object(&id)),
        ],
    )
}

/// The build info a call collects into: its `buildInfo:` argument, or a new one.
fn target_info(c: &Call<'_, '_, '_>) -> Value {
    match c.named.get("buildInfo") {
        Some(v) if kind_of(v) == Some("buildInfo") => v.clone(),
        _ => new_build_info(c),
    }
}

fn info_id(v: &Value) -> String {
    str_of(v, "id").unwrap_or_default()
}

fn build_info(c: &mut Call<'_, '_, '_>, method: &str) -> Result<Value, StepError> {
    match method {
        "setName" | "setNumber" => {
            let key = if method == "setName" {
                "name"
            } else {
                "number"
            };
            let value = c
                .arg(0, key)
                .map_or(Value::Null, |v| Value::Str(v.to_string()));
            Ok(updated(with(c.receiver.clone(), key, value), Value::Null))
        }
        "getName" => Ok(c.receiver.get("name").cloned().unwrap_or(Value::Null)),
        "getNumber" => Ok(c.receiver.get("number").cloned().unwrap_or(Value::Null)),
        "append" => {
            let other = c
                .arg(0, "other")
                .filter(|v| kind_of(v) == Some("buildInfo"))
                .ok_or_else(|| c.fail("needs another build info"))?;
            let from = c.host.build.artifactory.get(&info_id(&other));
            c.host.build.artifactory.update(&info_id(&c.receiver), |r| {
                r.artifacts.extend(from.artifacts);
                r.dependencies.extend(from.dependencies);
                r.env.extend(from.env);
                r.pending.extend(from.pending);
            });
            Ok(Value::Null)
        }
        _ => Err(not_supported(c)),
    }
}

fn env(c: &Call<'_, '_, '_>, method: &str) -> Result<Value, StepError> {
    match method {
        "collect" => {
            collect_env(c, &info_id(&c.receiver));
            Ok(Value::Null)
        }
        _ => Err(not_supported(c)),
    }
}

/// Records the step's environment into the build info, without the variables whose
/// names look secret (the plugin's default exclusions).
fn collect_env(c: &Call<'_, '_, '_>, id: &str) {
    const EXCLUDED: &[&str] = &["password", "psw", "secret", "key", "token"];
    let vars: Vec<(String, String)> = c
        .scope
        .env
        .iter()
        .filter(|(k, _)| {
            let lower = k.to_ascii_lowercase();
            !EXCLUDED.iter().any(|e| lower.contains(e))
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    c.host.build.artifactory.update(id, |r| r.env = vars);
}

fn captures(info: &Value) -> bool {
    info.get("env")
        .and_then(|e| e.get("capture"))
        .is_some_and(Value::is_truthy)
}

/// The server a method talks to: its URL and `Authorization` header.
struct Server {
    url: String,
    auth: Option<String>,
}

fn resolve_server(c: &Call<'_, '_, '_>, v: &Value) -> Result<Server, StepError> {
    if kind_of(v) != Some("server") {
        return Err(c.fail("needs an Artifactory server (`server: Artifactory.server('ID')`)"));
    }
    let url = str_of(v, "url")
        .filter(|u| !u.is_empty())
        .ok_or_else(|| c.fail("the server has no `url`"))?
        .trim_end_matches('/')
        .to_owned();
    let build = &c.host.build;
    let auth = if let Some(id) = str_of(v, "credentialsId").filter(|s| !s.is_empty()) {
        match build.spec.credentials.get(&id) {
            Some(Credential::UsernamePassword { username, password }) => {
                build.add_secrets([password.clone()]);
                Some(basic_auth(&username, &password))
            }
            Some(Credential::Secret(token)) => {
                build.add_secrets([token.clone()]);
                Some(format!("Bearer {token}"))
            }
            Some(_) => {
                return Err(c.fail(format!(
                    "credential `{id}` must be a username/password or a secret text (an access token)"
                )));
            }
            None => return Err(c.fail(format!("credential `{id}` does not exist"))),
        }
    } else {
        match (str_of(v, "username"), str_of(v, "password")) {
            (Some(u), Some(p)) => {
                build.add_secrets([p.clone()]);
                Some(basic_auth(&u, &p))
            }
            _ => None,
        }
    };
    Ok(Server { url, auth })
}

impl Server {
    fn request(&self, method: &str, path: &str) -> HttpCall {
        let mut call = HttpCall::new(method, format!("{}/{path}", self.url));
        if let Some(a) = &self.auth {
            call = call.header("Authorization", a.clone());
        }
        call
    }
}

fn server(c: &mut Call<'_, '_, '_>, method: &str) -> Result<Value, StepError> {
    match method {
        "upload" | "download" => {
            let spec = c
                .text(0, "spec")
                .ok_or_else(|| c.fail("needs `spec:`, a files spec (JSON)"))?;
            let entries = parse_spec(&spec).map_err(|e| c.fail(e))?;
            let server = resolve_server(c, &c.receiver.clone())?;
            let info = target_info(c);
            let fail_no_op = c.arg(99, "failNoOp").is_some_and(|v| v.is_truthy());
            let count = if method == "upload" {
                upload(c, &server, &entries, &info)?
            } else {
                download(c, &server, &entries, &info)?
            };
            if count == 0 && fail_no_op {
                return Err(c.fail("no files matched the spec (failNoOp: true)"));
            }
            Ok(info)
        }
        "publishBuildInfo" => {
            let info = c
                .arg(0, "buildInfo")
                .filter(|v| kind_of(v) == Some("buildInfo"))
                .ok_or_else(|| c.fail("needs a build info"))?;
            let server = resolve_server(c, &c.receiver.clone())?;
            publish(c, &server, &info)?;
            Ok(Value::Null)
        }
        _ => Err(not_supported(c)),
    }
}

/// One entry of a files spec.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SpecEntry {
    pattern: String,
    target: String,
    props: String,
    flat: Option<bool>,
    recursive: bool,
}

fn parse_spec(text: &str) -> Result<Vec<SpecEntry>, String> {
    let json: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("the files spec is not JSON: {e}"))?;
    let files = json
        .get("files")
        .and_then(serde_json::Value::as_array)
        .ok_or("the files spec needs a `files` list")?;
    let mut out = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let text = |k: &str| match f.get(k) {
            Some(serde_json::Value::String(s)) => Some(s.clone()),
            Some(serde_json::Value::Bool(b)) => Some(b.to_string()),
            _ => None,
        };
        let flag = |k: &str| text(k).map(|s| s.eq_ignore_ascii_case("true"));
        for unsupported in [
            "regexp",
            "ant",
            "build",
            "explode",
            "aql",
            "exclusions",
            "excludePatterns",
            "sortBy",
            "limit",
            "offset",
        ] {
            if f.get(unsupported)
                .is_some_and(|v| v != &serde_json::Value::Bool(false) && v != "false")
            {
                return Err(format!(
                    "files[{i}].{unsupported} is not supported by kiln (kiln reads pattern, target, props, flat and recursive)"
                ));
            }
        }
        out.push(SpecEntry {
            pattern: text("pattern").ok_or(format!("files[{i}] needs a `pattern`"))?,
            target: text("target").unwrap_or_default(),
            props: text("props").unwrap_or_default(),
            flat: flag("flat"),
            recursive: flag("recursive").unwrap_or(true),
        });
    }
    Ok(out)
}

/// Whether `text` matches the wildcard `pattern` (`*` any run of characters, `?` one;
/// `*` stays within a path segment unless `cross` is true).
fn wildcard(pattern: &str, text: &str, cross: bool) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' && t[ti] != '/' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star.filter(|&(_, st)| cross || t[st] != '/') {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// The part of a pattern before its first wildcard, up to the last `/`.
fn base_of(pattern: &str) -> &str {
    let first = pattern.find(['*', '?']).unwrap_or(pattern.len());
    match pattern[..first].rfind('/') {
        Some(i) => &pattern[..=i],
        None => "",
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Where a file goes: into the spec's `target` when it names a directory (the file's name
/// alone when the spec is flat, `flat_by_default` unless it says, else its path `within` what
/// the pattern matched), or to `target` itself.
fn destination(e: &SpecEntry, name: &str, within: &str, flat_by_default: bool) -> String {
    if !(e.target.ends_with('/') || e.target.is_empty()) {
        return e.target.clone();
    }
    if e.flat.unwrap_or(flat_by_default) {
        format!("{}{name}", e.target)
    } else {
        format!("{}{within}", e.target)
    }
}

fn checksums(bytes: &[u8]) -> (String, String, String) {
    (
        hex(&sha1::Sha1::digest(bytes)),
        hex(&sha2::Sha256::digest(bytes)),
        hex(&<md5::Md5 as md5::Digest>::digest(bytes)),
    )
}

/// A repository path as a URL path: each segment percent-encoded.
fn encode_path(path: &str) -> String {
    path.split('/')
        .map(|seg| {
            seg.bytes()
                .map(|b| match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                        (b as char).to_string()
                    }
                    _ => format!("%{b:02X}"),
                })
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// `a=1;b=2,3` as matrix parameters (`;a=1;b=2,3`).
fn matrix(props: &str, build: &[(String, String)]) -> String {
    let mut out = String::new();
    let pairs = props
        .split(';')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .chain(build.iter().cloned());
    for (k, v) in pairs {
        out.push(';');
        out.push_str(&encode_path(&k));
        out.push('=');
        out.push_str(&v.split(',').map(encode_path).collect::<Vec<_>>().join(","));
    }
    out
}

fn http_fail(c: &Call<'_, '_, '_>, what: &str, r: &HttpReply) -> StepError {
    let body: String = r.text().chars().take(300).collect();
    c.fail(format!(
        "{what}: HTTP {} {}: {}",
        r.status,
        r.reason,
        body.trim()
    ))
}

fn upload(
    c: &mut Call<'_, '_, '_>,
    server: &Server,
    entries: &[SpecEntry],
    info: &Value,
) -> Result<usize, StepError> {
    let id = info_id(info);
    let props = vec![
        (
            "build.name".to_owned(),
            str_of(info, "name").unwrap_or_default(),
        ),
        (
            "build.number".to_owned(),
            str_of(info, "number").unwrap_or_default(),
        ),
        (
            "build.timestamp".to_owned(),
            jiff::Timestamp::now().as_millisecond().to_string(),
        ),
    ];
    let mut count = 0;
    for e in entries {
        let base = base_of(&e.pattern).to_owned();
        let pattern = e.pattern.clone();
        let recursive = e.recursive;
        let files: Vec<(String, Vec<u8>)> = c.step(move |call| {
            Box::pin(async move {
                let dir = super::workspace_path::confined(call, &base, "the upload pattern")?;
                let exec = call.executor()?;
                let listed = exec.list_files(&dir, &["**/*".to_owned()], &[]).await?;
                let mut out = Vec::new();
                for f in listed {
                    let rel = format!("{base}{}", f.path.to_string_lossy());
                    if wildcard(&pattern, &rel, recursive) {
                        let bytes = exec.read_file(&dir.join(&f.path)).await?;
                        out.push((rel, bytes));
                    }
                }
                out.sort_by(|a, b| a.0.cmp(&b.0));
                Ok(out)
            })
        })?;
        for (rel, bytes) in files {
            let name = rel.rsplit('/').next().unwrap_or(&rel).to_owned();
            let within = rel.strip_prefix(base_of(&e.pattern)).unwrap_or(&rel);
            let target = destination(e, &name, within, true);
            let (sha1, sha256, md5) = checksums(&bytes);
            c.log(&format!(
                "[Artifactory] Deploying artifact: {}/{target}",
                server.url
            ));
            let mut request = server
                .request(
                    "PUT",
                    &format!(
                        "{}{}",
                        encode_path(&target),
                        matrix(&e.props, if id.is_empty() { &[] } else { &props })
                    ),
                )
                .header("X-Checksum-Sha1", sha1.clone())
                .header("X-Checksum-Sha256", sha256.clone())
                .header("X-Checksum-Md5", md5.clone());
            request.body = Some(bytes);
            let reply = c
                .host
                .handle
                .block_on(send(request))
                .map_err(|e| c.fail(format!("uploading {rel}: {e}")))?;
            if !reply.is_success() {
                return Err(http_fail(
                    c,
                    &format!("uploading {rel} to {target}"),
                    &reply,
                ));
            }
            count += 1;
            let artifact = Artifact::of(name, target, (sha1, sha256, md5));
            c.host
                .build
                .artifactory
                .update(&id, |r| r.artifacts.push(artifact));
        }
    }
    c.log(&format!("[Artifactory] Uploaded {count} file(s)"));
    Ok(count)
}

fn download(
    c: &mut Call<'_, '_, '_>,
    server: &Server,
    entries: &[SpecEntry],
    info: &Value,
) -> Result<usize, StepError> {
    let id = info_id(info);
    let mut count = 0;
    for e in entries {
        let (repo, rest) = e
            .pattern
            .split_once('/')
            .unwrap_or((e.pattern.as_str(), "*"));
        let found: Vec<String> = if rest.contains(['*', '?']) {
            search(c, server, repo, rest, e.recursive)?
        } else {
            vec![format!("{repo}/{rest}")]
        };
        for path in found {
            let reply = c
                .host
                .handle
                .block_on(send(server.request("GET", &encode_path(&path))))
                .map_err(|err| c.fail(format!("downloading {path}: {err}")))?;
            if !reply.is_success() {
                return Err(http_fail(c, &format!("downloading {path}"), &reply));
            }
            let (sha1, sha256, md5) = checksums(&reply.body);
            let told = reply
                .headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("X-Checksum-Sha1"))
                .map(|(_, v)| v.trim().to_ascii_lowercase());
            if let Some(told) = told.filter(|t| *t != sha1) {
                return Err(c.fail(format!(
                    "downloading {path}: the content's SHA-1 {sha1} is not the server's {told}"
                )));
            }
            let within = path.split_once('/').map_or(path.as_str(), |(_, p)| p);
            let name = path.rsplit('/').next().unwrap_or(&path).to_owned();
            let local = destination(e, &name, within, false);
            c.log(&format!("[Artifactory] Downloaded {path} to {local}"));
            let body = reply.body;
            let dest = local.clone();
            c.step(move |call| {
                Box::pin(async move {
                    let file = super::workspace_path::confined(call, &dest, "the download target")?;
                    call.executor()?.write_file(&file, &body).await?;
                    Ok(())
                })
            })?;
            count += 1;
            let dep = Artifact::of(name, path, (sha1, sha256, md5));
            c.host
                .build
                .artifactory
                .update(&id, |r| r.dependencies.push(dep));
        }
    }
    c.log(&format!("[Artifactory] Downloaded {count} file(s)"));
    Ok(count)
}

/// The paths (`repo/path/name`) an AQL search finds for a wildcard pattern.
fn search(
    c: &Call<'_, '_, '_>,
    server: &Server,
    repo: &str,
    rest: &str,
    recursive: bool,
) -> Result<Vec<String>, StepError> {
    let (dir, name) = match rest.rsplit_once('/') {
        Some((d, n)) => (d.to_owned(), n.to_owned()),
        None => (".".to_owned(), rest.to_owned()),
    };
    let mut alternatives =
        vec![serde_json::json!({"path": {"$match": dir}, "name": {"$match": name}})];
    if recursive {
        let deeper = if dir == "." {
            "*".to_owned()
        } else {
            format!("{dir}/*")
        };
        alternatives
            .push(serde_json::json!({"path": {"$match": deeper}, "name": {"$match": name}}));
    }
    let query = serde_json::json!({"repo": repo, "$or": alternatives, "type": "file"});
    let mut request = server
        .request("POST", "api/search/aql")
        .header("Content-Type", "text/plain");
    request.body =
        Some(format!("items.find({query}).include(\"repo\",\"path\",\"name\")").into_bytes());
    let reply = c
        .host
        .handle
        .block_on(send(request))
        .map_err(|e| c.fail(format!("searching {repo}/{rest}: {e}")))?;
    if !reply.is_success() {
        return Err(http_fail(c, &format!("searching {repo}/{rest}"), &reply));
    }
    let json = reply.json().map_err(|e| c.fail(e))?;
    let mut out: Vec<String> = json
        .get("results")
        .and_then(serde_json::Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|i| {
                    let s = |k: &str| i.get(k).and_then(serde_json::Value::as_str);
                    let (r, p, n) = (s("repo")?, s("path")?, s("name")?);
                    Some(if p == "." {
                        format!("{r}/{n}")
                    } else {
                        format!("{r}/{p}/{n}")
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    Ok(out)
}

fn publish(c: &mut Call<'_, '_, '_>, server: &Server, info: &Value) -> Result<(), StepError> {
    let id = info_id(info);
    if captures(info) && c.host.build.artifactory.get(&id).env.is_empty() {
        collect_env(c, &id);
    }
    let recorded = c.host.build.artifactory.get(&id);
    let name = str_of(info, "name").unwrap_or_default();
    let number = str_of(info, "number").unwrap_or_default();
    let file = |a: &Artifact| {
        serde_json::json!({
            "type": a.name.rsplit_once('.').map_or("", |(_, ext)| ext),
            "sha1": a.sha1, "sha256": a.sha256, "md5": a.md5, "name": a.name, "path": a.path,
        })
    };
    let properties: serde_json::Map<String, serde_json::Value> = recorded
        .env
        .iter()
        .map(|(k, v)| {
            (
                format!("buildInfo.env.{k}"),
                serde_json::Value::String(v.clone()),
            )
        })
        .collect();
    let agent = serde_json::json!({"name": "kiln", "version": env!("CARGO_PKG_VERSION")});
    let mut body = serde_json::json!({
        "version": "1.0.1",
        "name": name,
        "number": number,
        "type": "GENERIC",
        "started": recorded.started,
        "buildAgent": agent,
        "agent": agent,
        "properties": properties,
        "modules": [{
            "id": name,
            "artifacts": recorded.artifacts.iter().map(file).collect::<Vec<_>>(),
            "dependencies": recorded.dependencies.iter().map(|d| {
                let mut v = file(d);
                if let Some(m) = v.as_object_mut() {
                    m.insert("id".to_owned(), serde_json::Value::String(d.path.clone()));
                }
                v
            }).collect::<Vec<_>>(),
        }],
    });
    if let Some(url) = c.scope.var("BUILD_URL") {
        body["url"] = serde_json::Value::String(url.to_owned());
    }
    c.log(&format!(
        "[Artifactory] Deploying build info to: {}/api/build (build {name} #{number}: {} artifact(s), {} dependency(ies))",
        server.url,
        recorded.artifacts.len(),
        recorded.dependencies.len()
    ));
    let mut request = server
        .request("PUT", "api/build")
        .header("Content-Type", "application/vnd.org.jfrog.artifactory+json");
    request.body = Some(body.to_string().into_bytes());
    let reply = c
        .host
        .handle
        .block_on(send(request))
        .map_err(|e| c.fail(format!("publishing the build info: {e}")))?;
    if !reply.is_success() {
        return Err(http_fail(c, "publishing the build info", &reply));
    }
    Ok(())
}

/// `rtMaven.resolver(...)`/`deployer(...)` set the repositories; `deployer.deployArtifacts(bi)`
/// deploys what a run kept back.
fn build_tool(c: &mut Call<'_, '_, '_>, kind: &str, method: &str) -> Result<Value, StepError> {
    match method {
        "resolver" | "deployer" => {
            let mut part = c
                .receiver
                .get(method)
                .cloned()
                .unwrap_or_else(|| object(method, vec![]));
            for key in ["server", "releaseRepo", "snapshotRepo", "repo"] {
                if let Some(v) = c.arg(99, key) {
                    part = with(part, key, v);
                }
            }
            if method == "deployer" && part.get("deployArtifacts").is_none() {
                part = with(part, "deployArtifacts", Value::Bool(true));
            }
            part = with(part, "owner", Value::Str(info_id(&c.receiver)));
            let receiver = with(c.receiver.clone(), method, part);
            Ok(updated(receiver, Value::Null))
        }
        "run" => run_build(c, kind),
        _ => Err(not_supported(c)),
    }
}

fn repos(c: &mut Call<'_, '_, '_>, kind: &str, method: &str) -> Result<Value, StepError> {
    match (kind, method) {
        ("deployer", "deployArtifacts") => {
            let info = c
                .arg(0, "buildInfo")
                .filter(|v| kind_of(v) == Some("buildInfo"))
                .ok_or_else(|| c.fail("needs the build info a run returned"))?;
            let id = info_id(&info);
            let pending = std::mem::take(
                &mut c
                    .host
                    .build
                    .artifactory
                    .0
                    .lock()
                    .infos
                    .entry(id.clone())
                    .or_default()
                    .pending,
            );
            if pending.is_empty() {
                c.log("[Artifactory] No artifacts left to deploy (the run deployed them already)");
            }
            for p in pending {
                deploy_file(c, &p, &id)?;
            }
            Ok(Value::Null)
        }
        ("deployer", "addProperty") => Err(not_supported(c)),
        _ => Err(not_supported(c)),
    }
}

/// The coordinates of a POM's project (the parent's group and version when it has none).
#[derive(Debug, PartialEq, Eq)]
struct Pom {
    group: String,
    artifact: String,
    version: String,
    packaging: String,
    modules: bool,
}

fn read_pom(text: &str) -> Result<Pom, String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(text);
    let mut stack: Vec<String> = Vec::new();
    let mut fields: BTreeMap<String, String> = BTreeMap::new();
    let mut modules = false;
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                if stack.len() == 1 && name == "modules" {
                    modules = true;
                }
                stack.push(name);
            }
            Ok(Event::End(_)) => {
                stack.pop();
            }
            Ok(Event::Text(t)) => {
                let path = stack.join("/");
                let value = t.decode().map(|s| s.trim().to_owned()).unwrap_or_default();
                if !value.is_empty() {
                    fields.entry(path).or_insert(value);
                }
            }
            Ok(Event::Eof) => break,
            Err(e) => return Err(format!("the POM is not XML: {e}")),
            _ => {}
        }
    }
    let get = |k: &str| fields.get(&format!("project/{k}")).cloned();
    Ok(Pom {
        group: get("groupId")
            .or_else(|| get("parent/groupId"))
            .ok_or("the POM has no groupId")?,
        artifact: get("artifactId").ok_or("the POM has no artifactId")?,
        version: get("version")
            .or_else(|| get("parent/version"))
            .ok_or("the POM has no version")?,
        packaging: get("packaging").unwrap_or_else(|| "jar".to_owned()),
        modules,
    })
}

/// Finds the program a build tool runs: kiln.yaml's `tools:` entry named `tool`, or the
/// program on `PATH`.
fn program(c: &Call<'_, '_, '_>, tool: Option<&str>, program: &str) -> Result<String, StepError> {
    if let Some(name) = tool.filter(|t| !t.is_empty()) {
        if let Some(t) = c
            .host
            .build
            .spec
            .services
            .tools
            .iter()
            .find(|t| t.name == name)
        {
            return Ok(t
                .home
                .join("bin")
                .join(program)
                .to_string_lossy()
                .into_owned());
        }
    }
    let path = c.scope.var("PATH").unwrap_or_default();
    if std::env::split_paths(path).any(|d| d.join(program).is_file()) {
        return Ok(program.to_owned());
    }
    Err(c.fail(format!(
        "no `{program}` was found{}: add the installation to kiln.yaml's `tools:` or put `{program}` on PATH",
        tool.map(|t| format!(" for tool '{t}'")).unwrap_or_default()
    )))
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

fn run_build(c: &mut Call<'_, '_, '_>, kind: &str) -> Result<Value, StepError> {
    let info = target_info(c);
    let id = info_id(&info);
    let receiver = c.receiver.clone();
    let tool = str_of(&receiver, "tool");
    let opts = str_of(&receiver, "opts").unwrap_or_default();
    let deployer = receiver.get("deployer").cloned().unwrap_or(Value::Null);
    let resolver = receiver.get("resolver").cloned().unwrap_or(Value::Null);
    if kind == "gradle" {
        let wrapper = receiver.get("useWrapper").is_some_and(Value::is_truthy);
        let program = if wrapper {
            "./gradlew".to_owned()
        } else {
            program(c, tool.as_deref(), "gradle")?
        };
        if deployer.get("server").is_some() || resolver.get("server").is_some() {
            c.log("[Artifactory] Resolution from and deployment to Artifactory in Gradle builds are not supported by kiln: Gradle runs with the project's own repositories, and nothing is deployed (publish with server.upload)");
        }
        let tasks = c.text(99, "tasks").unwrap_or_else(|| "build".to_owned());
        let mut command = program;
        if let Some(f) = c.text(99, "buildFile") {
            command.push_str(&format!(" -b {}", shell_quote(&f)));
        }
        if let Some(dir) = c.text(99, "rootDir") {
            command.push_str(&format!(" -p {}", shell_quote(&dir)));
        }
        if let Some(s) = c.text(99, "switches") {
            command.push_str(&format!(" {s}"));
        }
        command.push_str(&format!(" {tasks}"));
        sh(c, &command, &[])?;
        if captures(&receiver) || captures(&info) {
            collect_env(c, &id);
        }
        return Ok(info);
    }
    let pom_path = c.text(99, "pom").unwrap_or_else(|| "pom.xml".to_owned());
    let goals = c.text(99, "goals").unwrap_or_default();
    let mvn = program(c, tool.as_deref(), "mvn")?;
    let mut command = format!("{mvn} --batch-mode -f {} {goals}", shell_quote(&pom_path));
    let mut extra_env = Vec::new();
    let settings = match resolver.get("server") {
        Some(s) => Some(resolver_settings(c, s, &resolver)?),
        None => None,
    };
    if let Some((path, _)) = &settings {
        command.push_str(&format!(" -s {}", shell_quote(&path.to_string_lossy())));
    }
    if !opts.is_empty() {
        extra_env.push(("MAVEN_OPTS".to_owned(), opts));
    }
    let result = sh(c, &command, &extra_env);
    if let Some((path, _)) = &settings {
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let _ = c.step(move |call| {
            Box::pin(async move {
                call.executor()?.delete_dir(&dir).await?;
                Ok(())
            })
        });
    }
    result?;
    if captures(&receiver) || captures(&info) {
        collect_env(c, &id);
    }
    if deployer.get("server").is_some() {
        deploy_maven(c, &pom_path, &deployer, &id)?;
    }
    Ok(info)
}

/// A Maven settings file resolving through the resolver's repositories; its path.
fn resolver_settings(
    c: &mut Call<'_, '_, '_>,
    server_value: &Value,
    resolver: &Value,
) -> Result<(PathBuf, ()), StepError> {
    let server = resolve_server(c, server_value)?;
    let release = str_of(resolver, "releaseRepo").or_else(|| str_of(resolver, "repo"));
    let snapshot = str_of(resolver, "snapshotRepo").or_else(|| release.clone());
    let Some(release) = release else {
        return Err(c.fail("the resolver needs `releaseRepo:`"));
    };
    let snapshot = snapshot.unwrap_or_else(|| release.clone());
    let (user, password) = match &server.auth {
        Some(_) => credentials_of(c, server_value),
        None => (None, None),
    };
    let server_xml = |id: &str| match (&user, &password) {
        (Some(u), Some(p)) => format!(
            "<server><id>{id}</id><username>{}</username><password>{}</password></server>",
            xml_escape(u),
            xml_escape(p)
        ),
        _ => String::new(),
    };
    let repo = |id: &str, url: &str, releases: bool| {
        format!(
            "<repository><id>{id}</id><url>{url}</url><releases><enabled>{releases}</enabled></releases><snapshots><enabled>{}</enabled></snapshots></repository>",
            !releases
        )
    };
    let release_url = xml_escape(&format!("{}/{release}", server.url));
    let snapshot_url = xml_escape(&format!("{}/{snapshot}", server.url));
    let text = format!(
        "<settings><servers>{}{}</servers><mirrors><mirror><id>artifactory-release</id><mirrorOf>central</mirrorOf><url>{release_url}</url></mirror></mirrors>\
<profiles><profile><id>artifactory</id><repositories>{}{}</repositories><pluginRepositories><pluginRepository><id>artifactory-release</id><url>{release_url}</url></pluginRepository></pluginRepositories></profile></profiles>\
<activeProfiles><activeProfile>artifactory</activeProfile></activeProfiles></settings>\n",
        server_xml("artifactory-release"),
        server_xml("artifactory-snapshot"),
        repo("artifactory-release", &release_url, true),
        repo("artifactory-snapshot", &snapshot_url, false),
    );
    c.log(&format!(
        "[Artifactory] Resolving artifacts from {}/{release} (releases) and {}/{snapshot} (snapshots)",
        server.url, server.url
    ));
    let dir = c.scope.site.tmp_dir.clone();
    let path = dir
        .join(format!("artifactory{}", c.host.build.artifactory.create()))
        .join("settings.xml");
    let file = path.clone();
    c.step(move |call| {
        Box::pin(async move {
            call.executor()?.write_file(&file, text.as_bytes()).await?;
            Ok(())
        })
    })?;
    Ok((path, ()))
}

fn credentials_of(c: &Call<'_, '_, '_>, server: &Value) -> (Option<String>, Option<String>) {
    if let Some(id) = str_of(server, "credentialsId") {
        if let Some(Credential::UsernamePassword { username, password }) =
            c.host.build.spec.credentials.get(&id)
        {
            return (Some(username), Some(password));
        }
        return (None, None);
    }
    (str_of(server, "username"), str_of(server, "password"))
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Runs `command` with `sh -xc` (so the log shows it), failing on a non-zero exit.
fn sh(c: &mut Call<'_, '_, '_>, command: &str, env: &[(String, String)]) -> Result<(), StepError> {
    let argv = vec!["sh".to_owned(), "-xc".to_owned(), command.to_owned()];
    let mut scope = c.scope.clone();
    if !env.is_empty() {
        let mut vars = (*scope.env).clone();
        for (k, v) in env {
            vars.insert(k.clone(), v.clone());
        }
        scope.env = Arc::new(vars);
    }
    let build = Arc::clone(&c.host.build);
    let cwd = scope.cwd.clone();
    let done = c.host.handle.block_on(run_process(
        &build,
        &scope,
        (argv, None),
        cwd,
        Capture::Nothing,
    ))?;
    if !done.status.success() {
        return Err(c.fail(format!(
            "`{command}` failed with exit code {}",
            done.status.code()
        )));
    }
    Ok(())
}

/// Deploys the root module's POM and artifact to the deployer's repository.
fn deploy_maven(
    c: &mut Call<'_, '_, '_>,
    pom_path: &str,
    deployer: &Value,
    id: &str,
) -> Result<(), StepError> {
    let pom_rel = pom_path.to_owned();
    let pom_text = c.step(move |call| {
        Box::pin(async move {
            let file = super::workspace_path::confined(call, &pom_rel, "the POM")?;
            let exec = call.executor()?;
            if !exec.file_exists(&file).await? {
                return Ok(None);
            }
            Ok(Some(exec.read_file(&file).await?))
        })
    })?;
    let Some(pom_text) = pom_text else {
        return Err(c.fail(format!(
            "the POM `{pom_path}` is not in the workspace: there is nothing to deploy"
        )));
    };
    let pom = read_pom(&String::from_utf8_lossy(&pom_text)).map_err(|e| c.fail(e))?;
    if pom.modules {
        c.log("[Artifactory] The POM has modules: kiln deploys the root module's POM and artifact only, not the modules'");
    }
    let snapshot = pom.version.ends_with("-SNAPSHOT");
    let repo = if snapshot {
        str_of(deployer, "snapshotRepo").or_else(|| str_of(deployer, "releaseRepo"))
    } else {
        str_of(deployer, "releaseRepo")
    }
    .ok_or_else(|| {
        c.fail("the deployer needs `releaseRepo:` (and `snapshotRepo:` for snapshots)")
    })?;
    let server = deployer.get("server").cloned().unwrap_or(Value::Null);
    let dir = Path::new(pom_path).parent().unwrap_or(Path::new(""));
    let coords = format!(
        "{repo}/{}/{}/{}",
        pom.group.replace('.', "/"),
        pom.artifact,
        pom.version
    );
    let stem = format!("{}-{}", pom.artifact, pom.version);
    let mut files = vec![(
        dir.join(pom_path.rsplit('/').next().unwrap_or(pom_path)),
        format!("{coords}/{stem}.pom"),
    )];
    if pom.packaging != "pom" {
        let ext = match pom.packaging.as_str() {
            "war" | "ear" | "rar" => pom.packaging.clone(),
            _ => "jar".to_owned(),
        };
        let built = dir.join("target").join(format!("{stem}.{ext}"));
        let rel = built.to_string_lossy().into_owned();
        let exists = c.step(move |call| {
            Box::pin(async move {
                let file = super::workspace_path::confined(call, &rel, "the artifact")?;
                Ok(call.executor()?.file_exists(&file).await?)
            })
        })?;
        if exists {
            files.push((built, format!("{coords}/{stem}.{ext}")));
        } else {
            c.log(&format!(
                "[Artifactory] {} was not built: only the POM is deployed",
                built.display()
            ));
        }
    }
    let deploy_now = deployer.get("deployArtifacts").is_none_or(Value::is_truthy);
    for (local, target) in files {
        let p = Pending {
            local,
            target,
            server: server.clone(),
        };
        if deploy_now {
            deploy_file(c, &p, id)?;
        } else {
            c.host.build.artifactory.update(id, |r| r.pending.push(p));
        }
    }
    if !deploy_now {
        c.log("[Artifactory] deployArtifacts is false: the artifacts wait for deployer.deployArtifacts(buildInfo)");
    }
    Ok(())
}

fn deploy_file(c: &mut Call<'_, '_, '_>, p: &Pending, id: &str) -> Result<(), StepError> {
    let server = resolve_server(c, &p.server)?;
    let rel = p.local.to_string_lossy().into_owned();
    let bytes = c.step(move |call| {
        Box::pin(async move {
            let file = super::workspace_path::confined(call, &rel, "the artifact")?;
            Ok(call.executor()?.read_file(&file).await?)
        })
    })?;
    let (sha1, sha256, md5) = checksums(&bytes);
    c.log(&format!(
        "[Artifactory] Deploying artifact: {}/{}",
        server.url, p.target
    ));
    let mut request = server
        .request("PUT", &encode_path(&p.target))
        .header("X-Checksum-Sha1", sha1.clone())
        .header("X-Checksum-Sha256", sha256.clone())
        .header("X-Checksum-Md5", md5.clone());
    request.body = Some(bytes);
    let reply = c
        .host
        .handle
        .block_on(send(request))
        .map_err(|e| c.fail(format!("deploying {}: {e}", p.target)))?;
    if !reply.is_success() {
        return Err(http_fail(c, &format!("deploying {}", p.target), &reply));
    }
    let artifact = Artifact {
        name: p.target.rsplit('/').next().unwrap_or(&p.target).to_owned(),
        path: p.target.clone(),
        sha1,
        sha256,
        md5,
    };
    c.host
        .build
        .artifactory
        .update(id, |r| r.artifacts.push(artifact));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_as_file_specs_do() {
        assert!(wildcard("build/*.jar", "build/a.jar", true));
        assert!(wildcard("build/*.jar", "build/lib/b.jar", true));
        assert!(!wildcard("build/*.jar", "build/lib/b.jar", false));
        assert!(!wildcard("build/*.jar", "build/a.war", true));
        assert!(wildcard("a?c.txt", "abc.txt", false));
        assert_eq!(base_of("build/libs/*.jar"), "build/libs/");
        assert_eq!(base_of("*.jar"), "");
        assert_eq!(base_of("out/app.zip"), "out/");
    }

    #[test]
    fn props_become_matrix_parameters() {
        assert_eq!(
            matrix(
                "team=core;tags=a,b c",
                &[("build.name".into(), "job x".into())]
            ),
            ";team=core;tags=a,b%20c;build.name=job%20x"
        );
    }

    #[test]
    fn a_pom_gives_the_coordinates_and_its_parents_version() {
        let pom = read_pom(
            "<project><parent><groupId>org.acme</groupId><version>2.0</version></parent>\
             <artifactId>shop</artifactId><packaging>war</packaging><dependencies><dependency><groupId>x</groupId><version>9</version></dependency></dependencies></project>",
        )
        .unwrap();
        assert_eq!(
            pom,
            Pom {
                group: "org.acme".into(),
                artifact: "shop".into(),
                version: "2.0".into(),
                packaging: "war".into(),
                modules: false,
            }
        );
    }

    #[test]
    fn a_spec_refuses_what_kiln_does_not_read() {
        let spec = parse_spec(
            r#"{"files":[{"pattern":"a/*.zip","target":"r/","flat":"false","props":"p=1"}]}"#,
        )
        .unwrap();
        assert_eq!(spec[0].flat, Some(false));
        assert!(spec[0].recursive);
        let err =
            parse_spec(r#"{"files":[{"pattern":"a/(*).zip","target":"r/","regexp":"true"}]}"#)
                .unwrap_err();
        assert!(err.contains("files[0].regexp is not supported"), "{err}");
        assert!(parse_spec("{").unwrap_err().contains("not JSON"));
    }
}
