//! Upstreams: parsed URLs, addresses resolved off the request path, and refreshed.
//!
//! Must never: resolve DNS on a request path (Pingora's `HttpPeer::new` resolves with blocking
//! DNS and panics on failure, so peers are built from socket addresses resolved here).

use arc_swap::ArcSwapOption;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;

/// An upstream base URL: `http(s)://host[:port][/base/path]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamUrl {
    pub tls: bool,
    pub host: String,
    pub port: u16,
    /// Path prefix without a trailing slash (`""` for none).
    pub base_path: String,
}

impl UpstreamUrl {
    /// Parses an upstream URL. Error messages show the URL with any userinfo and query
    /// replaced, so a password never reaches a log or a terminal.
    pub fn parse(raw: &str) -> Result<UpstreamUrl, String> {
        let shown = redact(raw);
        let url = shown.as_str();
        if raw.contains('?') || raw.contains('#') {
            return Err(format!(
                "{url:?}: an upstream URL cannot carry a query string or fragment"
            ));
        }
        let (tls, rest) = if let Some(r) = raw.strip_prefix("https://") {
            (true, r)
        } else if let Some(r) = raw.strip_prefix("http://") {
            (false, r)
        } else {
            return Err(format!("{url:?} must start with https:// or http://"));
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if authority.contains('@') {
            return Err(format!(
                "{url:?}: an upstream URL cannot carry credentials (user:password@); clients send \
                 their own keys, or set ANTHROPIC_API_KEY for the proxy to add"
            ));
        }
        if authority.is_empty() {
            return Err(format!("{url:?} has no host"));
        }
        let default_port = if tls { 443 } else { 80 };
        let (host, port) = if let Some(stripped) = authority.strip_prefix('[') {
            let end = stripped
                .find(']')
                .ok_or_else(|| format!("{url:?}: unclosed [ in host"))?;
            let host = &stripped[..end];
            let port = match &stripped[end + 1..] {
                "" => default_port,
                p => p
                    .strip_prefix(':')
                    .and_then(|p| p.parse().ok())
                    .ok_or_else(|| format!("{url:?}: bad port"))?,
            };
            (host.to_string(), port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (
                    h.to_string(),
                    p.parse().map_err(|_| format!("{url:?}: bad port {p:?}"))?,
                ),
                None => (authority.to_string(), default_port),
            }
        };
        if host.is_empty() {
            return Err(format!("{url:?} has no host"));
        }
        Ok(UpstreamUrl {
            tls,
            host,
            port,
            base_path: path.trim_end_matches('/').to_string(),
        })
    }

    /// The `Host` header value for this upstream.
    pub fn host_header(&self) -> String {
        let default_port = if self.tls { 443 } else { 80 };
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == default_port {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }

    /// `scheme://host:port` for messages (never contains credentials).
    pub fn display(&self) -> String {
        format!(
            "{}://{}{}",
            if self.tls { "https" } else { "http" },
            self.host_header(),
            self.base_path
        )
    }
}

/// `raw` with userinfo replaced by `***@` and any query string by `?***`.
fn redact(raw: &str) -> String {
    let (main, query) = match raw.find(['?', '#']) {
        Some(i) => (&raw[..i], "?***"),
        None => (raw, ""),
    };
    let scheme_end = main.find("://").map(|i| i + 3).unwrap_or(0);
    let rest = &main[scheme_end..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let authority = match authority.rfind('@') {
        Some(at) => format!("***@{}", &authority[at + 1..]),
        None => authority.to_string(),
    };
    format!(
        "{}{}{}{}",
        &main[..scheme_end],
        authority,
        &rest[authority_end..],
        query
    )
}

/// An upstream with its last resolved addresses. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Upstream {
    pub name: &'static str,
    pub url: UpstreamUrl,
    /// The `Host` header value sent upstream, built once (`None` if it is not a valid value).
    pub host_value: Option<http::HeaderValue>,
    /// The address connections go to, chosen when the host resolves. Read on every request
    /// without a lock: a read lock both workers took moved its cache line between the cores
    /// twice a request.
    addr: Arc<ArcSwapOption<SocketAddr>>,
}

impl Upstream {
    pub fn new(name: &'static str, url: UpstreamUrl) -> Upstream {
        let host_value = http::HeaderValue::from_str(&url.host_header()).ok();
        let up = Upstream {
            name,
            host_value,
            url,
            addr: Arc::new(ArcSwapOption::empty()),
        };
        up.refresh();
        up
    }

    /// Resolves the host now (blocking); keeps the old addresses when resolution fails.
    pub fn refresh(&self) -> bool {
        let found: Vec<SocketAddr> = match (self.url.host.as_str(), self.url.port).to_socket_addrs()
        {
            Ok(a) => a.collect(),
            Err(e) => {
                tracing::warn!(upstream = self.name, host = %self.url.host, error = %e, "cannot resolve upstream host");
                return false;
            }
        };
        if found.is_empty() {
            return false;
        }
        // Prefer IPv4 where both exist: laptops on broken IPv6 networks are common.
        let chosen = found.iter().find(|a| a.is_ipv4()).unwrap_or(&found[0]);
        self.addr.store(Some(Arc::new(*chosen)));
        true
    }

    /// An address to connect to, if the host has ever resolved.
    pub fn addr(&self) -> Option<SocketAddr> {
        self.addr.load().as_deref().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        let u = UpstreamUrl::parse("https://api.anthropic.com").unwrap();
        assert_eq!(
            (u.tls, u.host.as_str(), u.port),
            (true, "api.anthropic.com", 443)
        );
        assert_eq!(u.host_header(), "api.anthropic.com");
        let u = UpstreamUrl::parse("http://127.0.0.1:9000/gateway/").unwrap();
        assert_eq!(
            (u.tls, u.port, u.base_path.as_str()),
            (false, 9000, "/gateway")
        );
        assert_eq!(u.host_header(), "127.0.0.1:9000");
        let u = UpstreamUrl::parse("http://[::1]:81").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 81));
        assert_eq!(u.host_header(), "[::1]:81");
        assert!(UpstreamUrl::parse("ftp://x").is_err());
        assert!(UpstreamUrl::parse("https://").is_err());
        assert!(UpstreamUrl::parse("https://user:pw@host").is_err());
        for bad in [
            "https://user:hunter2@host",
            "https://:hunter2@host:443/v1",
            "ftp://user:hunter2@host",
            "https://host/v1?key=hunter2",
        ] {
            let e = UpstreamUrl::parse(bad).unwrap_err();
            assert!(!e.contains("hunter2"), "{bad}: {e}");
        }
        let e = UpstreamUrl::parse("https://u:hunter2@host").unwrap_err();
        assert!(e.contains("credentials") && e.contains("***@host"), "{e}");
        assert!(UpstreamUrl::parse("http://h:notaport").is_err());
    }
}
