//! Header hygiene on the way upstream: hop-by-hop headers (and those a client lists in
//! `Connection`) removed, credentials recognised, the bypass header named.
//!
//! Must never: remove framing or credential headers, whatever `Connection` lists.

use http::header::AUTHORIZATION;
use http::HeaderName;
use pingora::http::RequestHeader;

/// Request header that asks the proxy to forward this request untouched.
pub const BYPASS_HEADER: &str = "x-headroom-bypass";

// Header names the request path looks up, as names: a lookup by `&str` parses the name again
// on every call (a few hundred instructions each, several per request).
pub(crate) const BYPASS: HeaderName = HeaderName::from_static(BYPASS_HEADER);
pub(crate) const X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");
pub(crate) const ANTHROPIC_VERSION: HeaderName = HeaderName::from_static("anthropic-version");
pub(crate) const ANTHROPIC_BETA: HeaderName = HeaderName::from_static("anthropic-beta");
pub(crate) const TOKEN: HeaderName = HeaderName::from_static(headroom_team::inbound::TOKEN_HEADER);

/// Headers that describe one hop and must not be forwarded (RFC 9110 §7.6.1).
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "upgrade",
];

fn is_hop_by_hop(name: &HeaderName) -> bool {
    // A match on the name's text compiles to a switch on its length and one comparison.
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "upgrade"
    )
}

pub fn strip_hop_by_hop(req: &mut RequestHeader) {
    // Most requests carry none of these: one pass over the names the request has, and nothing
    // else unless one is found (a lookup by name hashes it; a removal rebuilds names).
    if !req.headers.keys().any(is_hop_by_hop) {
        return;
    }
    let listed: Vec<String> = req
        .headers
        .get_all(http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty() && s != "close" && s != "keep-alive")
        .collect();
    for name in HOP_BY_HOP {
        if req.headers.contains_key(name) {
            req.remove_header(name);
        }
    }
    for name in listed {
        // Never strip framing or credentials even if a client lists them in Connection.
        if matches!(
            name.as_str(),
            "content-length" | "transfer-encoding" | "host" | "x-api-key" | "authorization"
        ) {
            continue;
        }
        req.remove_header(&name);
    }
}

/// Whether the request carries its own credentials.
pub fn has_credentials(req: &RequestHeader) -> bool {
    req.headers.contains_key(X_API_KEY) || req.headers.contains_key(AUTHORIZATION)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_hop_by_hop_and_connection_listed_headers() {
        let mut req = RequestHeader::build("POST", b"/v1/messages", None).unwrap();
        req.insert_header("connection", "keep-alive, x-trace")
            .unwrap();
        req.insert_header("x-trace", "1").unwrap();
        req.insert_header("keep-alive", "timeout=5").unwrap();
        req.insert_header("te", "trailers").unwrap();
        req.insert_header("x-api-key", "k").unwrap();
        req.insert_header("anthropic-version", "2023-06-01")
            .unwrap();
        strip_hop_by_hop(&mut req);
        for gone in ["connection", "x-trace", "keep-alive", "te"] {
            assert!(!req.headers.contains_key(gone), "{gone} kept");
        }
        assert!(req.headers.contains_key("x-api-key"));
        assert!(req.headers.contains_key("anthropic-version"));
    }

    #[test]
    fn every_hop_by_hop_name_is_recognised_and_no_other() {
        for name in HOP_BY_HOP {
            assert!(is_hop_by_hop(&HeaderName::from_static(name)), "{name}");
            let mut req = RequestHeader::build("POST", b"/v1/messages", None).unwrap();
            req.insert_header(name, "x").unwrap();
            req.insert_header("x-api-key", "k").unwrap();
            strip_hop_by_hop(&mut req);
            assert!(!req.headers.contains_key(name), "{name} kept");
            assert!(req.headers.contains_key("x-api-key"));
        }
        for name in [
            "host",
            "content-length",
            "transfer-encoding",
            "x-connection",
            "tes",
        ] {
            assert!(!is_hop_by_hop(&HeaderName::from_static(name)), "{name}");
        }
    }

    #[test]
    fn a_connection_list_alone_is_honoured() {
        // `Connection` itself is hop-by-hop, so the names it lists are still removed.
        let mut req = RequestHeader::build("POST", b"/v1/messages", None).unwrap();
        req.insert_header("connection", "X-Trace, host").unwrap();
        req.insert_header("x-trace", "1").unwrap();
        req.insert_header("host", "api.anthropic.com").unwrap();
        strip_hop_by_hop(&mut req);
        assert!(!req.headers.contains_key("connection"));
        assert!(!req.headers.contains_key("x-trace"));
        assert!(req.headers.contains_key("host"));
    }
}
