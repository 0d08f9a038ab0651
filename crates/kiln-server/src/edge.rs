//! The checks at the HTTP edge that come before authentication: the `Host` a request names
//! (DNS rebinding) and where a state-changing request comes from (cross-site requests from
//! web pages, which a browser sends without asking anyone).

use crate::{ApiError, AppState};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::Response;
use std::net::Ipv6Addr;

/// The host names the server answers to.
///
/// Always allowed: IP addresses (a DNS-rebinding page reaches the server under a name its
/// attacker controls, never under an address), `localhost` and its subdomains. Besides them:
/// `server.external_url`'s host and `server.allowed_hosts` (a name, `.example.com` for it and
/// its subdomains, or `*` for any name).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllowedHosts {
    names: Vec<String>,
    any: bool,
}

impl AllowedHosts {
    pub fn new(external_url: Option<&str>, allowed: &[String]) -> AllowedHosts {
        let mut names: Vec<String> = allowed.iter().map(|h| h.to_ascii_lowercase()).collect();
        if let Some(host) = external_url.and_then(url_host) {
            names.push(host);
        }
        let any = names.iter().any(|n| n == "*");
        AllowedHosts { names, any }
    }

    /// Whether `host` (a `Host` header's value, port included or not) is one of ours.
    pub fn allows(&self, host: &str) -> bool {
        let name = strip_port(host).trim_end_matches('.').to_ascii_lowercase();
        if self.any || is_ip_literal(&name) || is_localhost(&name) {
            return true;
        }
        self.names
            .iter()
            .any(|allowed| match allowed.strip_prefix('.') {
                Some(domain) => name == domain || name.ends_with(allowed.as_str()),
                None => name == *allowed,
            })
    }
}

/// The middleware: 421 for a host the server does not answer to, 403 for a cross-site
/// request that would change state.
pub async fn guard(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let settings = state.settings();
    if let Some(host) = request_host(&request)
        && !settings.allowed_hosts.allows(host)
    {
        tracing::warn!(host = %host, "request for an unknown host refused");
        return Err(ApiError::MisdirectedHost(format!(
            "kiln does not answer to host `{}`; add it to `server.allowed_hosts` or set \
             `server.external_url`",
            strip_port(host)
        )));
    }
    if changes_state(request.method())
        && let Err(why) = same_origin(request.headers(), &settings.external_url)
    {
        tracing::warn!(method = %request.method(), path = %request.uri().path(), "cross-origin request refused");
        return Err(ApiError::Forbidden(why));
    }
    Ok(next.run(request).await)
}

/// The host a request names: HTTP/2's authority or HTTP/1's `Host` header.
fn request_host(request: &Request) -> Option<&str> {
    if let Some(authority) = request.uri().authority() {
        return Some(authority.as_str());
    }
    request.headers().get(header::HOST)?.to_str().ok()
}

fn changes_state(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Whether a state-changing request may proceed: what browsers say in `Sec-Fetch-Site`, else
/// `Origin` compared with the request's own host and the external URL; a request with neither
/// does not come from a browser page (the CLI, forges' webhooks, curl).
fn same_origin(headers: &HeaderMap, external_url: &str) -> Result<(), String> {
    let text = |name| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = text("sec-fetch-site") {
        return match site {
            "same-origin" | "none" => Ok(()),
            other => Err(format!(
                "cross-origin request refused (`Sec-Fetch-Site: {other}`): kiln takes changes \
                 from its own pages and from clients that are not browsers"
            )),
        };
    }
    let Some(origin) = text(header::ORIGIN.as_str()) else {
        return Ok(());
    };
    let origin_host = origin.split_once("://").map(|(_, rest)| rest);
    let own_host = text(header::HOST.as_str());
    let external = external_url.split_once("://").map(|(_, rest)| rest);
    match origin_host {
        Some(h) if Some(h) == own_host || Some(h) == external => Ok(()),
        _ => Err(format!(
            "cross-origin request refused (`Origin: {origin}`): kiln takes changes from its own \
             pages and from clients that are not browsers"
        )),
    }
}

/// The host of an `http://` or `https://` URL, lower-case, without port.
fn url_host(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = strip_port(authority);
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

/// `name:8080` -> `name`, `[::1]:8080` -> `[::1]`; a bare IPv6 address stays whole.
fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.split_inclusive(']').next().unwrap_or(host);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            name
        }
        _ => host,
    }
}

fn is_ip_literal(name: &str) -> bool {
    if let Some(inner) = name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) {
        return inner.parse::<Ipv6Addr>().is_ok();
    }
    name.parse::<std::net::IpAddr>().is_ok()
}

fn is_localhost(name: &str) -> bool {
    name == "localhost" || name.ends_with(".localhost")
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn check_host(allowed: &AllowedHosts, host: &str, expected: bool) {
        assert_eq!(allowed.allows(host), expected, "host {host}");
    }

    #[test]
    fn hosts_are_loopback_names_addresses_and_configured_names() {
        let hosts = AllowedHosts::new(
            Some("https://CI.example.com:8443/kiln"),
            &[".corp.test".into(), "kiln.kiln.svc".into()],
        );
        for (host, ok) in [
            ("localhost:8080", true),
            ("LOCALHOST", true),
            ("app.localhost", true),
            ("127.0.0.1:8080", true),
            ("10.1.2.3", true),
            ("[::1]:8080", true),
            ("ci.example.com", true),
            ("ci.example.com:8443", true),
            ("ci.example.com.", true),
            ("corp.test", true),
            ("a.b.corp.test:80", true),
            ("kiln.kiln.svc:8080", true),
            ("evil.example", false),
            ("example.com", false),
            ("xcorp.test", false),
            ("127.0.0.1.evil.example", false),
            ("localhost.evil.example", false),
            ("[not-an-address]", false),
        ] {
            check_host(&hosts, host, ok);
        }
        check_host(
            &AllowedHosts::new(None, &["*".into()]),
            "anything.test",
            true,
        );
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, HeaderValue::from_static(v));
        }
        map
    }

    #[test]
    fn state_changes_come_from_the_same_origin_or_no_browser() {
        let ext = "https://ci.example.com";
        for (pairs, ok) in [
            (&[][..], true),
            (&[("sec-fetch-site", "same-origin")][..], true),
            (&[("sec-fetch-site", "none")][..], true),
            (&[("sec-fetch-site", "cross-site")][..], false),
            (&[("sec-fetch-site", "same-site")][..], false),
            (
                &[
                    ("origin", "http://127.0.0.1:8080"),
                    ("host", "127.0.0.1:8080"),
                ][..],
                true,
            ),
            (
                &[("origin", "https://ci.example.com"), ("host", "10.0.0.1")][..],
                true,
            ),
            (
                &[
                    ("origin", "http://evil.example"),
                    ("host", "127.0.0.1:8080"),
                ][..],
                false,
            ),
            (
                &[
                    ("origin", "http://127.0.0.1:9999"),
                    ("host", "127.0.0.1:8080"),
                ][..],
                false,
            ),
            (&[("origin", "null"), ("host", "127.0.0.1:8080")][..], false),
        ] {
            assert_eq!(same_origin(&headers(pairs), ext).is_ok(), ok, "{pairs:?}");
        }
    }
}
