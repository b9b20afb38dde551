//! Who may use the user's API key and the local endpoints that expose data.
//!
//! A request is *trusted local* only when all three hold: it comes from a loopback peer
//! (`127.0.0.1`, `::1`, or the loopback address the proxy listens on), its `Host` names the
//! proxy itself (`localhost`, `127.0.0.1`, `[::1]` with the listen port, or a name listed in
//! `auth.allowed_hosts`), and it carries no `Origin` other than those in `auth.allowed_origins`.
//! Only trusted-local requests get a key injected and may read `/stats`, `/metrics` and the
//! like. A foreign `Host` is refused outright (DNS-rebinding defence); a browser-only body type
//! with an `Origin` is refused on provider routes (cross-site request forgery defence).
//!
//! Must never: echo header values other than the (sanitised, truncated) Host or Origin that was
//! refused; do any I/O.

use super::errors::ProxyError;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The trust settings, built once per config snapshot.
#[derive(Debug, Clone)]
pub struct TrustPolicy {
    listen: SocketAddr,
    /// `localhost`, `127.0.0.1` and `[::1]` with the listen port, as clients write them in
    /// `Host`: the usual request's Host is one of these, matched without parsing it.
    own_exact: [String; 3],
    allowed_hosts: Vec<String>,
    allowed_origins: Vec<String>,
}

/// What the request says about where it comes from.
#[derive(Debug, Clone, Copy, Default)]
pub struct Caller<'a> {
    pub peer: Option<IpAddr>,
    pub host: Option<&'a str>,
    pub origin: Option<&'a str>,
    pub content_type: Option<&'a str>,
}

/// The decision for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// May get a key injected and read local data endpoints.
    Local,
    /// May be proxied with its own credentials, nothing more; the reason is for logs.
    Untrusted(&'static str),
}

impl Trust {
    pub fn is_local(&self) -> bool {
        matches!(self, Trust::Local)
    }
}

/// Content types a browser may send cross-origin without a CORS preflight.
const BROWSER_SIMPLE_TYPES: &[&str] = &[
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data",
];

impl TrustPolicy {
    pub fn new(
        listen: SocketAddr,
        allowed_hosts: &[String],
        allowed_origins: &[String],
    ) -> TrustPolicy {
        let port = listen.port();
        TrustPolicy {
            listen,
            own_exact: ["localhost", "127.0.0.1", "[::1]"].map(|h| format!("{h}:{port}")),
            allowed_hosts: allowed_hosts
                .iter()
                .map(|h| normalise_host(h).to_ascii_lowercase())
                .collect(),
            allowed_origins: allowed_origins
                .iter()
                .map(|o| o.trim().trim_end_matches('/').to_ascii_lowercase())
                .collect(),
        }
    }

    /// Decides a request to a provider route (`to_provider`) or a local route.
    /// `Err` is the refusal to send instead.
    pub fn assess(&self, c: &Caller<'_>, to_provider: bool) -> Result<Trust, ProxyError> {
        if let Some(host) = c.host {
            if !self.own_host(host) {
                return Err(refuse(format!(
                    "headroom: refusing a request addressed to Host `{}`: it is not this proxy's \
                     own address (localhost, 127.0.0.1 or [::1] on port {}). If you reach headroom \
                     under another name, list it in `auth.allowed_hosts`.",
                    sanitise(host),
                    self.listen.port()
                )));
            }
        }
        let foreign_origin = c.origin.is_some_and(|o| !self.allowed_origin(o));
        if foreign_origin && to_provider && browser_simple(c.content_type) {
            return Err(refuse(format!(
                "headroom: refusing a cross-site browser request from Origin `{}` with a `{}` \
                 body; API clients send JSON and no Origin. To allow a web app, list its origin \
                 in `auth.allowed_origins`.",
                sanitise(c.origin.unwrap_or_default()),
                sanitise(c.content_type.unwrap_or("(none)")),
            )));
        }
        if foreign_origin {
            return Ok(Trust::Untrusted("foreign origin"));
        }
        if c.host.is_none() {
            return Ok(Trust::Untrusted("no host header"));
        }
        if !c.peer.is_some_and(|p| self.local_peer(p)) {
            return Ok(Trust::Untrusted("non-loopback peer"));
        }
        Ok(Trust::Local)
    }

    fn local_peer(&self, peer: IpAddr) -> bool {
        let peer = match peer {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(peer),
            v4 => v4,
        };
        peer == IpAddr::V4(Ipv4Addr::LOCALHOST)
            || peer == IpAddr::V6(Ipv6Addr::LOCALHOST)
            || (self.listen.ip().is_loopback() && peer == self.listen.ip())
    }

    fn own_host(&self, raw: &str) -> bool {
        self.own_exact.iter().any(|e| e == raw) || self.own_host_parsed(raw)
    }

    fn own_host_parsed(&self, raw: &str) -> bool {
        let (name, port) = split_host_port(raw);
        let name = normalise_host(name);
        // The usual Host is already lower case: compare it as it is.
        let lower;
        let name = if name.bytes().any(|b| b.is_ascii_uppercase()) {
            lower = name.to_ascii_lowercase();
            lower.as_str()
        } else {
            name
        };
        let port_ok = match port {
            Some(p) => p == self.listen.port(),
            None => self.listen.port() == 80,
        };
        let builtin = matches!(name, "localhost" | "127.0.0.1" | "[::1]" | "::1")
            || (self.listen.ip().is_loopback() && name == self.listen.ip().to_string());
        if builtin && port_ok {
            return true;
        }
        self.allowed_hosts.iter().any(|allowed| {
            let (a_name, a_port) = split_host_port(allowed);
            a_name == name && a_port.is_none_or(|ap| Some(ap) == port)
        })
    }

    fn allowed_origin(&self, origin: &str) -> bool {
        let o = origin.trim().trim_end_matches('/').to_ascii_lowercase();
        self.allowed_origins.contains(&o)
    }
}

fn refuse(message: String) -> ProxyError {
    ProxyError {
        status: 403,
        kind: "permission_error",
        message,
    }
}

fn browser_simple(content_type: Option<&str>) -> bool {
    let Some(ct) = content_type else {
        return true;
    };
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence.is_empty() || BROWSER_SIMPLE_TYPES.contains(&essence.as_str())
}

/// Splits `name:port`, `[v6]:port`, `name`, `[v6]`.
fn split_host_port(raw: &str) -> (&str, Option<u16>) {
    let raw = raw.trim();
    if raw.starts_with('[') {
        return match raw.find(']') {
            Some(end) => {
                let port = raw[end + 1..]
                    .strip_prefix(':')
                    .and_then(|p| p.parse().ok());
                (&raw[..=end], port)
            }
            None => (raw, None),
        };
    }
    // Byte searches: `:` is ASCII, so its byte positions are character boundaries.
    let bytes = raw.as_bytes();
    match bytes.iter().rposition(|&b| b == b':') {
        Some(colon) if !bytes[..colon].contains(&b':') => match raw[colon + 1..].parse() {
            Ok(p) => (&raw[..colon], Some(p)),
            Err(_) => (raw, Some(0)),
        },
        _ => (raw, None),
    }
}

fn normalise_host(name: &str) -> &str {
    name.trim().trim_end_matches('.')
}

/// Printable ASCII only, at most 80 characters: safe to put in a message.
fn sanitise(v: &str) -> String {
    let mut s: String = v
        .chars()
        .filter(|c| c.is_ascii_graphic() || *c == ' ')
        .take(80)
        .collect();
    if v.chars().count() > 80 {
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> TrustPolicy {
        TrustPolicy::new("127.0.0.1:8787".parse().unwrap(), &[], &[])
    }

    fn caller<'a>(peer: &str, host: Option<&'a str>, origin: Option<&'a str>) -> Caller<'a> {
        Caller {
            peer: Some(peer.parse().unwrap()),
            host,
            origin,
            content_type: Some("application/json"),
        }
    }

    #[test]
    fn own_loopback_names_with_the_listen_port_are_local() {
        for host in [
            "localhost:8787",
            "127.0.0.1:8787",
            "[::1]:8787",
            "LOCALHOST:8787",
        ] {
            let t = policy().assess(&caller("127.0.0.1", Some(host), None), true);
            assert_eq!(t.unwrap(), Trust::Local, "{host}");
        }
        let t = policy().assess(&caller("::1", Some("[::1]:8787"), None), true);
        assert_eq!(t.unwrap(), Trust::Local);
    }

    #[test]
    fn the_exact_own_hosts_are_what_the_parsed_check_accepts() {
        for listen in ["127.0.0.1:8787", "[::1]:80", "0.0.0.0:9000"] {
            let p = TrustPolicy::new(listen.parse().unwrap(), &[], &[]);
            for e in &p.own_exact {
                assert!(p.own_host_parsed(e), "{listen} {e}");
            }
        }
    }

    #[test]
    fn foreign_host_is_refused_whatever_the_peer() {
        for host in [
            "attacker.example",
            "attacker.example:8787",
            "localhost:9999",
            "localhost",
            "127.0.0.1.attacker.example:8787",
        ] {
            let e = policy()
                .assess(&caller("127.0.0.1", Some(host), None), true)
                .unwrap_err();
            assert_eq!(e.status, 403, "{host}");
            assert!(e.message.contains("auth.allowed_hosts"), "{}", e.message);
        }
    }

    #[test]
    fn allowed_hosts_are_not_refused() {
        let p = TrustPolicy::new(
            "127.0.0.1:8787".parse().unwrap(),
            &["headroom.internal".into(), "gw.example:443".into()],
            &[],
        );
        for host in [
            "headroom.internal",
            "headroom.internal:8787",
            "gw.example:443",
        ] {
            let t = p.assess(&caller("127.0.0.1", Some(host), None), true);
            assert_eq!(t.unwrap(), Trust::Local, "{host}");
        }
        assert!(p
            .assess(&caller("127.0.0.1", Some("gw.example:80"), None), true)
            .is_err());
    }

    #[test]
    fn any_origin_not_listed_makes_the_request_untrusted() {
        for origin in ["http://attacker.example", "null", "http://localhost:3000"] {
            let t = policy().assess(
                &caller("127.0.0.1", Some("localhost:8787"), Some(origin)),
                true,
            );
            assert_eq!(t.unwrap(), Trust::Untrusted("foreign origin"), "{origin}");
        }
        let p = TrustPolicy::new(
            "127.0.0.1:8787".parse().unwrap(),
            &[],
            &["http://localhost:3000".into()],
        );
        let t = p.assess(
            &caller(
                "127.0.0.1",
                Some("localhost:8787"),
                Some("http://localhost:3000/"),
            ),
            true,
        );
        assert_eq!(t.unwrap(), Trust::Local);
    }

    #[test]
    fn browser_only_bodies_with_an_origin_are_refused_on_provider_routes() {
        for ct in [
            Some("text/plain;charset=UTF-8"),
            Some("application/x-www-form-urlencoded"),
            Some("multipart/form-data; boundary=x"),
            None,
        ] {
            let c = Caller {
                content_type: ct,
                ..caller("127.0.0.1", Some("localhost:8787"), Some("null"))
            };
            let e = policy().assess(&c, true).unwrap_err();
            assert_eq!(e.status, 403);
            // Without an Origin the same body is an API client's business.
            let c = Caller { origin: None, ..c };
            assert!(policy().assess(&c, true).is_ok());
        }
    }

    #[test]
    fn other_loopback_and_lan_peers_are_untrusted() {
        for peer in [
            "127.0.0.2",
            "192.168.1.20",
            "10.0.0.5",
            "::ffff:192.168.1.20",
        ] {
            let t = policy().assess(&caller(peer, Some("localhost:8787"), None), true);
            assert_eq!(t.unwrap(), Trust::Untrusted("non-loopback peer"), "{peer}");
        }
        let t = policy().assess(
            &caller("::ffff:127.0.0.1", Some("localhost:8787"), None),
            true,
        );
        assert_eq!(t.unwrap(), Trust::Local);
        // A proxy listening on 127.0.0.5 trusts callers from 127.0.0.5.
        let p = TrustPolicy::new("127.0.0.5:8787".parse().unwrap(), &[], &[]);
        let t = p.assess(&caller("127.0.0.5", Some("127.0.0.5:8787"), None), true);
        assert_eq!(t.unwrap(), Trust::Local);
    }

    #[test]
    fn refusals_never_echo_control_characters_or_long_values() {
        let host = format!("evil\u{7}{}", "a".repeat(500));
        let e = policy()
            .assess(&caller("127.0.0.1", Some(&host), None), true)
            .unwrap_err();
        assert!(!e.message.contains('\u{7}'));
        assert!(e.message.len() < 400, "{}", e.message.len());
    }
}
