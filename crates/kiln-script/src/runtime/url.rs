//! `new URL(spec)`: the parts of a URL as `java.net.URL` gives them (`protocol`, `host`,
//! `port`, `path`, `query`, ...). Nothing is fetched: reading a URL is refused (scripts
//! reach the network only through steps such as `httpRequest`).
//!
//! Parsed here rather than with the `url` crate because Java's answers differ from the
//! WHATWG ones that crate gives: `getPath()` of `https://h` is `""` (not `/`), an explicit
//! default port is kept (`https://h:443` has port 443), and `getPort()` is -1 when absent.

use super::types::{GException, RtResult, throw};
use rhai::Dynamic;

/// A parsed URL, with Java's parts.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct JavaUrl {
    pub spec: String,
    pub protocol: String,
    pub user_info: Option<String>,
    pub host: String,
    pub port: i64,
    pub path: String,
    pub query: Option<String>,
    pub fragment: Option<String>,
}

fn malformed<T>(message: String) -> RtResult<T> {
    throw(GException::new("java.net.MalformedURLException", message))
}

/// Parses `spec` as `new URL(spec)` does, for the protocols Java knows.
pub(crate) fn parse(spec: &str) -> RtResult<JavaUrl> {
    let Some((scheme, rest)) = spec.split_once(':') else {
        return malformed(format!("no protocol: {spec}"));
    };
    let protocol = scheme.to_ascii_lowercase();
    if !matches!(protocol.as_str(), "http" | "https" | "ftp" | "file" | "jar") {
        return malformed(format!("unknown protocol: {protocol}"));
    }
    let (rest, fragment) = match rest.split_once('#') {
        Some((r, f)) => (r, Some(f.to_string())),
        None => (rest, None),
    };
    let (rest, query) = match rest.split_once('?') {
        Some((r, q)) => (r, Some(q.to_string())),
        None => (rest, None),
    };
    let (authority, path) = match rest.strip_prefix("//") {
        Some(after) => match after.find('/') {
            Some(i) => (&after[..i], &after[i..]),
            None => (after, ""),
        },
        None => ("", rest),
    };
    let (user_info, host_port) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u.to_string()), h),
        None => (None, authority),
    };
    let (host, port) = split_port(host_port, spec)?;
    Ok(JavaUrl {
        spec: spec.to_string(),
        protocol,
        user_info,
        host: host.to_string(),
        port,
        path: path.to_string(),
        query,
        fragment,
    })
}

/// `host:port` (an IPv6 host in brackets keeps them); the port is -1 when absent.
fn split_port<'a>(host_port: &'a str, spec: &str) -> RtResult<(&'a str, i64)> {
    let colon = if host_port.starts_with('[') {
        host_port
            .find(']')
            .and_then(|end| host_port[end..].find(':').map(|i| end + i))
    } else {
        host_port.rfind(':')
    };
    let Some(colon) = colon else {
        return Ok((host_port, -1));
    };
    let digits = &host_port[colon + 1..];
    if digits.is_empty() {
        return Ok((&host_port[..colon], -1));
    }
    match digits.parse::<u16>() {
        Ok(p) => Ok((&host_port[..colon], i64::from(p))),
        Err(_) => malformed(format!("invalid port number in {spec}: {digits}")),
    }
}

impl JavaUrl {
    fn default_port(&self) -> i64 {
        match self.protocol.as_str() {
            "http" => 80,
            "https" => 443,
            "ftp" => 21,
            _ => -1,
        }
    }

    fn authority(&self) -> Option<String> {
        if self.host.is_empty() && self.user_info.is_none() {
            return None;
        }
        let mut out = String::new();
        if let Some(u) = &self.user_info {
            out.push_str(u);
            out.push('@');
        }
        out.push_str(&self.host);
        if self.port >= 0 {
            out.push_str(&format!(":{}", self.port));
        }
        Some(out)
    }

    fn file(&self) -> String {
        match &self.query {
            Some(q) => format!("{}?{q}", self.path),
            None => self.path.clone(),
        }
    }

    /// A property (`url.host`) or getter (`url.getHost()`); `None` when there is none.
    pub fn part(&self, name: &str) -> Option<Dynamic> {
        let opt = |s: &Option<String>| s.clone().map_or(Dynamic::UNIT, Dynamic::from);
        Some(match name {
            "protocol" | "getProtocol" => self.protocol.clone().into(),
            "host" | "getHost" => self.host.clone().into(),
            "port" | "getPort" => Dynamic::from_int(self.port),
            "defaultPort" | "getDefaultPort" => Dynamic::from_int(self.default_port()),
            "path" | "getPath" => self.path.clone().into(),
            "query" | "getQuery" => opt(&self.query),
            "ref" | "getRef" => opt(&self.fragment),
            "userInfo" | "getUserInfo" => opt(&self.user_info),
            "authority" | "getAuthority" => opt(&self.authority()),
            "file" | "getFile" => self.file().into(),
            "toString" | "toExternalForm" => self.spec.clone().into(),
            _ => return None,
        })
    }

    /// Whether `name` would read from the network (refused).
    pub fn is_fetch(name: &str) -> bool {
        matches!(
            name,
            "text"
                | "getText"
                | "openConnection"
                | "openStream"
                | "getContent"
                | "newReader"
                | "eachLine"
                | "readLines"
                | "withReader"
                | "bytes"
                | "getBytes"
        )
    }
}
