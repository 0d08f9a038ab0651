//! A small client of the OCI distribution API: what kiln needs to assemble a multi-arch
//! image after one Kaniko build per platform (read each platform's manifest, PUT an image
//! index), plus blob upload and manifest PUT so tests can put minimal images in a registry.
//!
//! HTTPS by default (rustls), plain HTTP for the registries given as `insecureRegistries`
//! (such as a registry in the cluster or on 127.0.0.1). Registry token authentication (the
//! `Bearer` challenge) and Basic credentials are supported. Requests run on ureq's blocking
//! client in `spawn_blocking`: an index push is a handful of small requests.

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode, header};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Media type of an OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Media type of an OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// Media type of a Docker schema 2 manifest (what Kaniko pushes by default).
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// Errors talking to a registry.
#[derive(Debug, thiserror::Error)]
pub enum OciError {
    #[error("invalid image reference `{0}`: expected HOST[:PORT]/REPOSITORY[:TAG]")]
    Reference(String),
    #[error("request to {url} failed")]
    Http {
        url: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("{method} {url} answered {status}: {body}")]
    Status {
        method: Method,
        url: String,
        status: StatusCode,
        body: String,
    },
    #[error("registry answer from {url} is not what was expected: {message}")]
    Answer { url: String, message: String },
}

/// `host[:port]/repository[:tag]`, split.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageRef {
    pub registry: String,
    pub repository: String,
    pub tag: String,
}

impl ImageRef {
    pub fn parse(reference: &str) -> Result<ImageRef, OciError> {
        let (repo, tag) = split_tag(reference);
        let (registry, repository) = repo
            .split_once('/')
            .filter(|(host, r)| {
                !r.is_empty() && (host.contains('.') || host.contains(':') || *host == "localhost")
            })
            .ok_or_else(|| OciError::Reference(reference.to_string()))?;
        Ok(ImageRef {
            registry: registry.to_string(),
            repository: repository.to_string(),
            tag: tag.unwrap_or("latest").to_string(),
        })
    }
}

/// A content descriptor (`mediaType`, `digest`, `size`, optional `platform`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
}

/// `os/arch[/variant]` as an index records it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    pub architecture: String,
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl Platform {
    /// Parses `linux/arm64` or `linux/arm/v7`.
    pub fn parse(text: &str) -> Option<Platform> {
        let mut parts = text.split('/');
        let os = parts.next().filter(|s| !s.is_empty())?;
        let architecture = parts.next().filter(|s| !s.is_empty())?;
        let variant = parts.next().map(str::to_string);
        Some(Platform {
            architecture: architecture.to_string(),
            os: os.to_string(),
            variant,
        })
    }
}

/// An OCI image index.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageIndex {
    pub schema_version: u32,
    pub media_type: String,
    pub manifests: Vec<Descriptor>,
}

/// Username and password (or token) for one registry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

/// `sha256:HEX` of some bytes.
pub fn sha256_digest(bytes: &[u8]) -> String {
    let hash = Sha256::digest(bytes);
    let mut out = String::with_capacity(71);
    out.push_str("sha256:");
    for b in hash.iter() {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A client for one registry.
pub struct Registry {
    base: String,
    host: String,
    agent: ureq::Agent,
    credentials: Option<Credentials>,
    token: tokio::sync::Mutex<Option<String>>,
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Registry {
    /// A client for `host[:port]` over HTTPS, or plain HTTP when `insecure`.
    pub fn new(host: &str, insecure: bool, credentials: Option<Credentials>) -> Registry {
        let scheme = if insecure { "http" } else { "https" };
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(std::time::Duration::from_secs(120)))
            .build();
        Registry {
            base: format!("{scheme}://{host}"),
            host: host.to_string(),
            agent: ureq::Agent::new_with_config(config),
            credentials,
            token: tokio::sync::Mutex::new(None),
        }
    }

    /// The descriptor of the manifest `reference` (a tag or digest) of `repository`.
    pub async fn manifest_descriptor(
        &self,
        repository: &str,
        reference: &str,
    ) -> Result<Descriptor, OciError> {
        let (media_type, body) = self.get_manifest(repository, reference).await?;
        if media_type.is_empty() {
            return Err(OciError::Answer {
                url: format!("{}/v2/{repository}/manifests/{reference}", self.base),
                message: "no Content-Type".into(),
            });
        }
        Ok(Descriptor {
            media_type,
            digest: sha256_digest(&body),
            size: body.len() as u64,
            platform: None,
        })
    }

    /// The raw manifest (or index) `reference` of `repository` and its media type (without
    /// parameters; empty when the registry sent none).
    pub async fn get_manifest(
        &self,
        repository: &str,
        reference: &str,
    ) -> Result<(String, Bytes), OciError> {
        let url = format!("{}/v2/{repository}/manifests/{reference}", self.base);
        let accept = format!("{OCI_INDEX}, {OCI_MANIFEST}, {DOCKER_MANIFEST}");
        let a = self
            .send(
                Method::GET,
                &url,
                &[(header::ACCEPT, accept.as_str())],
                Bytes::new(),
            )
            .await?;
        expect(&a, StatusCode::OK, Method::GET, &url)?;
        let media_type = a
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or(v).trim().to_string())
            .unwrap_or_default();
        Ok((media_type, a.body))
    }

    /// Whether the registry has the manifest `reference` (a tag or digest) of `repository`:
    /// a HEAD request, `200` yes, `404` no, anything else an error.
    pub async fn has_manifest(&self, repository: &str, reference: &str) -> Result<bool, OciError> {
        let url = format!("{}/v2/{repository}/manifests/{reference}", self.base);
        let accept = format!("{OCI_INDEX}, {OCI_MANIFEST}, {DOCKER_MANIFEST}");
        let headers = [(header::ACCEPT, accept.as_str())];
        let a = self
            .send(Method::HEAD, &url, &headers, Bytes::new())
            .await?;
        if a.status == StatusCode::NOT_FOUND {
            return Ok(false);
        }
        expect(&a, StatusCode::OK, Method::HEAD, &url)?;
        Ok(true)
    }

    /// PUTs a manifest or index under `reference`; returns its digest.
    pub async fn put_manifest(
        &self,
        repository: &str,
        reference: &str,
        media_type: &str,
        body: Bytes,
    ) -> Result<String, OciError> {
        let url = format!("{}/v2/{repository}/manifests/{reference}", self.base);
        let digest = sha256_digest(&body);
        let a = self
            .send(
                Method::PUT,
                &url,
                &[(header::CONTENT_TYPE, media_type)],
                body,
            )
            .await?;
        expect(&a, StatusCode::CREATED, Method::PUT, &url)?;
        Ok(digest)
    }

    /// Uploads a blob (monolithic upload: POST then PUT with the digest); uploading a blob the
    /// registry has already is harmless.
    pub async fn push_blob(&self, repository: &str, bytes: Bytes) -> Result<String, OciError> {
        let digest = sha256_digest(&bytes);
        let url = format!("{}/v2/{repository}/blobs/uploads/", self.base);
        let a = self.send(Method::POST, &url, &[], Bytes::new()).await?;
        expect(&a, StatusCode::ACCEPTED, Method::POST, &url)?;
        let location = a
            .headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| OciError::Answer {
                url: url.clone(),
                message: "no Location for the upload".into(),
            })?;
        let mut put = if location.starts_with('/') {
            format!("{}{location}", self.base)
        } else {
            location.to_string()
        };
        put.push(if put.contains('?') { '&' } else { '?' });
        put.push_str(&format!("digest={digest}"));
        let a = self
            .send(
                Method::PUT,
                &put,
                &[(header::CONTENT_TYPE, "application/octet-stream")],
                bytes,
            )
            .await?;
        expect(&a, StatusCode::CREATED, Method::PUT, &put)?;
        Ok(digest)
    }

    /// Sends a request; on a `401` with a Bearer challenge, fetches a token and retries once.
    async fn send(
        &self,
        method: Method,
        url: &str,
        headers: &[(header::HeaderName, &str)],
        body: Bytes,
    ) -> Result<Answer, OciError> {
        let first = self
            .send_once(method.clone(), url, headers, body.clone())
            .await?;
        if first.status != StatusCode::UNAUTHORIZED {
            return Ok(first);
        }
        let challenge = first
            .headers
            .get(header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        if let Some(bearer) = challenge.strip_prefix("Bearer ") {
            let token = self.fetch_token(bearer).await?;
            *self.token.lock().await = Some(format!("Bearer {token}"));
        } else if let Some(c) = &self.credentials {
            *self.token.lock().await = Some(format!("Basic {}", basic(c)));
        } else {
            return Ok(first);
        }
        self.send_once(method, url, headers, body).await
    }

    async fn send_once(
        &self,
        method: Method,
        url: &str,
        headers: &[(header::HeaderName, &str)],
        body: Bytes,
    ) -> Result<Answer, OciError> {
        let mut req = Request::builder().method(method).uri(url);
        for (name, value) in headers {
            req = req.header(name, *value);
        }
        if let Some(auth) = self.token.lock().await.as_deref() {
            req = req.header(header::AUTHORIZATION, auth);
        }
        self.run(req, body).await
    }

    /// Runs one request on the blocking client.
    async fn run(&self, req: http::request::Builder, body: Bytes) -> Result<Answer, OciError> {
        let url = req.uri_ref().map(ToString::to_string).unwrap_or_default();
        let http_err = |e: Box<dyn std::error::Error + Send + Sync>| OciError::Http {
            url: url.clone(),
            source: e,
        };
        // A HEAD answer announces a Content-Length but has no body to read.
        let head = req.method_ref() == Some(&Method::HEAD);
        let agent = self.agent.clone();
        let answer = tokio::task::spawn_blocking(move || -> Result<Answer, BoxError> {
            // An empty body is sent as no body at all (no `Content-Length: 0` on a GET).
            let mut res = if body.is_empty() {
                agent.run(req.body(())?)?
            } else {
                agent.run(req.body(body.to_vec())?)?
            };
            let status = res.status();
            let headers = res.headers().clone();
            let body = if head {
                Vec::new()
            } else {
                res.body_mut().read_to_vec()?
            };
            Ok(Answer {
                status,
                headers,
                body: Bytes::from(body),
            })
        })
        .await
        .map_err(|e| http_err(Box::new(e)))?;
        answer.map_err(http_err)
    }

    /// The registry token flow: GET the realm with service and scope (Basic credentials
    /// when configured), answer `{"token": ...}` or `{"access_token": ...}`.
    async fn fetch_token(&self, challenge: &str) -> Result<String, OciError> {
        let params = parse_challenge(challenge);
        let realm = params
            .iter()
            .find(|(k, _)| k == "realm")
            .map(|(_, v)| v.clone())
            .ok_or_else(|| OciError::Answer {
                url: self.host.clone(),
                message: format!("Bearer challenge without realm: {challenge}"),
            })?;
        let query: Vec<String> = params
            .iter()
            .filter(|(k, _)| k == "service" || k == "scope")
            .map(|(k, v)| format!("{k}={}", v.replace(' ', "%20")))
            .collect();
        let url = if query.is_empty() {
            realm
        } else {
            format!("{realm}?{}", query.join("&"))
        };
        let mut req = Request::builder().method(Method::GET).uri(&url);
        if let Some(c) = &self.credentials {
            req = req.header(header::AUTHORIZATION, format!("Basic {}", basic(c)));
        }
        let answer = self.run(req, Bytes::new()).await?;
        expect(&answer, StatusCode::OK, Method::GET, &url)?;
        #[derive(Deserialize)]
        struct Token {
            token: Option<String>,
            access_token: Option<String>,
        }
        let t: Token = serde_json::from_slice(&answer.body).map_err(|e| OciError::Answer {
            url: url.clone(),
            message: e.to_string(),
        })?;
        t.token.or(t.access_token).ok_or_else(|| OciError::Answer {
            url,
            message: "no token in the answer".into(),
        })
    }
}

fn expect(a: &Answer, status: StatusCode, method: Method, url: &str) -> Result<(), OciError> {
    if a.status == status {
        return Ok(());
    }
    Err(OciError::Status {
        method,
        url: url.to_string(),
        status: a.status,
        body: String::from_utf8_lossy(&a.body).chars().take(300).collect(),
    })
}

/// `realm="x",service="y",scope="a b"` as pairs.
fn parse_challenge(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = text.trim();
    while let Some((key, after)) = rest.split_once('=') {
        let key = key.trim().trim_start_matches(',').trim().to_string();
        let (value, tail) = match after.strip_prefix('"') {
            Some(quoted) => match quoted.split_once('"') {
                Some((v, t)) => (v.to_string(), t),
                None => (quoted.to_string(), ""),
            },
            None => match after.split_once(',') {
                Some((v, t)) => (v.trim().to_string(), t),
                None => (after.trim().to_string(), ""),
            },
        };
        out.push((key, value));
        rest = tail.trim_start_matches(',');
    }
    out
}

fn basic(c: &Credentials) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", c.username, c.password))
}

/// Builds the multi-arch index of `destination` from its per-platform images (pushed by
/// the per-platform builds under [`platform_reference`](crate::platform_reference) tags) and
/// PUTs it under the destination's tag. Returns the index's digest.
pub async fn push_index(
    registry: &Registry,
    destination: &ImageRef,
    platforms: &[(Platform, String)],
) -> Result<String, OciError> {
    let mut manifests = Vec::new();
    for (platform, reference) in platforms {
        let mut d = registry
            .manifest_descriptor(&destination.repository, reference)
            .await?;
        d.platform = Some(platform.clone());
        manifests.push(d);
    }
    let index = ImageIndex {
        schema_version: 2,
        media_type: OCI_INDEX.to_string(),
        manifests,
    };
    let body = serde_json::to_vec(&index).map_err(|e| OciError::Answer {
        url: registry.host.clone(),
        message: e.to_string(),
    })?;
    registry
        .put_manifest(
            &destination.repository,
            &destination.tag,
            OCI_INDEX,
            Bytes::from(body),
        )
        .await
}

/// Splits `host:port/repo:tag` into repository and tag (a digest reference keeps no tag).
pub(crate) fn split_tag(reference: &str) -> (&str, Option<&str>) {
    let reference = reference.split('@').next().unwrap_or(reference);
    let last_slash = reference.rfind('/').map_or(0, |i| i + 1);
    match reference[last_slash..].rfind(':') {
        Some(i) => (
            &reference[..last_slash + i],
            Some(&reference[last_slash + i + 1..]),
        ),
        None => (reference, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_parse() {
        assert_eq!(
            ImageRef::parse("127.0.0.1:5000/team/app:1.0").unwrap(),
            ImageRef {
                registry: "127.0.0.1:5000".into(),
                repository: "team/app".into(),
                tag: "1.0".into()
            }
        );
        assert_eq!(ImageRef::parse("localhost/app").unwrap().tag, "latest");
        assert!(
            ImageRef::parse("app:1.0").is_err(),
            "a registry host is required"
        );
    }

    #[test]
    fn digests_and_basic_credentials() {
        assert_eq!(
            sha256_digest(b""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let c = Credentials {
            username: "user".into(),
            password: "pass".into(),
        };
        assert_eq!(basic(&c), "dXNlcjpwYXNz");
    }

    #[test]
    fn bearer_challenges_parse() {
        let p = parse_challenge(
            r#"realm="http://auth/token",service="registry",scope="repository:a/b:pull,push""#,
        );
        assert_eq!(p[0], ("realm".into(), "http://auth/token".into()));
        assert_eq!(p[2], ("scope".into(), "repository:a/b:pull,push".into()));
    }

    #[test]
    fn platforms_parse() {
        assert_eq!(
            Platform::parse("linux/arm/v7").unwrap().variant.as_deref(),
            Some("v7")
        );
        assert!(Platform::parse("linux").is_none());
    }
}
