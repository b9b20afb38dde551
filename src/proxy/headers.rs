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
static HOP_BY_HOP: std::sync::LazyLock<[http::HeaderName; 8]> = std::sync::LazyLock::new(|| {
    [
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "upgrade",
    ]
    .map(http::HeaderName::from_static)
});

pub fn strip_hop_by_hop(req: &mut RequestHeader) {
    // Most requests carry none of these: look before removing (a removal rebuilds names).
    let listed: Vec<String> = req
        .headers
        .get_all(http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty() && s != "close" && s != "keep-alive")
        .collect();
    // One pass over the names the request has (comparing names is cheap; each lookup by name
    // hashes it), then removal of those found.
    let found = req
        .headers
        .keys()
        .any(|k| HOP_BY_HOP.iter().any(|h| h == k));
    if found {
        for name in HOP_BY_HOP.iter() {
            if req.headers.contains_key(name) {
                req.remove_header(name);
            }
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
}
