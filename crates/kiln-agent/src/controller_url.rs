//! Where a dialling agent finds its controller: `tls://HOST:PORT`. The link is always TLS;
//! `tcp://HOST:PORT`, the older spelling, is read the same way (TLS over that TCP address).

use std::fmt;

/// A parsed `--connect` URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ControllerUrl {
    /// The host name or IP address the controller's certificate is checked against
    /// (IPv6 without brackets).
    pub host: String,
    pub port: u16,
}

impl ControllerUrl {
    /// Reads `tls://HOST:PORT` (or `tcp://HOST:PORT`, or a bare `HOST:PORT`); IPv6 hosts in
    /// brackets (`tls://[::1]:7777`).
    pub fn parse(url: &str) -> Result<ControllerUrl, String> {
        let rest = url
            .strip_prefix("tls://")
            .or_else(|| url.strip_prefix("tcp://"))
            .unwrap_or(url)
            .trim_end_matches('/');
        if rest.contains("://") {
            return Err(format!(
                "`{url}`: only tls://HOST:PORT is supported (the agent link is TLS)"
            ));
        }
        let expected = || format!("`{url}`: expected tls://HOST:PORT");
        let (host, port) = rest.rsplit_once(':').ok_or_else(expected)?;
        let port: u16 = port.parse().map_err(|_| expected())?;
        let host = match host.strip_prefix('[') {
            Some(inner) => inner.strip_suffix(']').ok_or_else(expected)?,
            None if host.contains(':') => return Err(expected()),
            None => host,
        };
        if host.is_empty() || port == 0 || host.contains(['/', '@', ' ']) {
            return Err(expected());
        }
        Ok(ControllerUrl {
            host: host.to_owned(),
            port,
        })
    }

    /// `HOST:PORT` for a TCP connection (IPv6 in brackets).
    pub fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// `tls://HOST:PORT`, as the agent's `--connect` takes it.
impl fmt::Display for ControllerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tls://{}", self.address())
    }
}

#[cfg(test)]
mod tests {
    use super::ControllerUrl;

    fn check(url: &str, expected: Option<&str>) {
        let got = ControllerUrl::parse(url).ok().map(|u| u.to_string());
        assert_eq!(got.as_deref(), expected, "{url}");
    }

    #[test]
    fn controller_urls() {
        check("tls://kiln.kiln.svc:7777", Some("tls://kiln.kiln.svc:7777"));
        check("tcp://kiln:7000", Some("tls://kiln:7000"));
        check("127.0.0.1:9", Some("tls://127.0.0.1:9"));
        check("tls://[::1]:7777/", Some("tls://[::1]:7777"));
        check("http://kiln:7000", None);
        check("kiln", None);
        check("tls://:7777", None);
        check("tls://kiln:0", None);
        check("tls://::1:7777", None);
        check("tls://kiln:port", None);
    }

    #[test]
    fn the_host_is_what_the_certificate_is_checked_against() {
        let url = ControllerUrl::parse("tls://[fd00::1]:7777").unwrap();
        assert_eq!(url.host, "fd00::1");
        assert_eq!(url.address(), "[fd00::1]:7777");
    }
}
