//! Header hygiene on the way upstream: hop-by-hop headers (and those a client lists in
//! `Connection`) removed, credentials recognised, the bypass header named.
//!
//! Must never: remove framing or credential headers, whatever `Connection` lists.

use http::{HeaderMap, HeaderName, HeaderValue};
use pingora::http::RequestHeader;

/// Request header that asks the proxy to forward this request untouched.
pub const BYPASS_HEADER: &str = "x-headroom-bypass";

// Header names the request path looks up, as names: a lookup by `&str` parses the name again
// on every call (a few hundred instructions each, several per request).
pub(crate) const BYPASS: HeaderName = HeaderName::from_static(BYPASS_HEADER);
pub(crate) const X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");
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

/// The request fields the request path reads, found in one pass over the request's fields: a
/// lookup by name hashes the name, and the path used to make a dozen lookups per request. Each
/// is the first value under its name, as `HeaderMap::get` gives it.
#[derive(Debug, Default, Clone, Copy)]
pub struct Fields<'a> {
    pub host: Option<&'a HeaderValue>,
    pub origin: Option<&'a HeaderValue>,
    pub content_type: Option<&'a HeaderValue>,
    pub content_length: Option<&'a HeaderValue>,
    pub content_encoding: Option<&'a HeaderValue>,
    pub transfer_encoding: Option<&'a HeaderValue>,
    pub x_api_key: Option<&'a HeaderValue>,
    pub authorization: Option<&'a HeaderValue>,
    pub anthropic_version: Option<&'a HeaderValue>,
    pub anthropic_beta: Option<&'a HeaderValue>,
    pub bypass: Option<&'a HeaderValue>,
    pub token: Option<&'a HeaderValue>,
}

impl<'a> Fields<'a> {
    pub fn scan(headers: &'a HeaderMap) -> Fields<'a> {
        let mut f = Fields::default();
        for (name, value) in headers {
            // A match on the name's text compiles to a switch on its length and a comparison.
            let slot = match name.as_str() {
                "host" => &mut f.host,
                "origin" => &mut f.origin,
                "content-type" => &mut f.content_type,
                "content-length" => &mut f.content_length,
                "content-encoding" => &mut f.content_encoding,
                "transfer-encoding" => &mut f.transfer_encoding,
                "x-api-key" => &mut f.x_api_key,
                "authorization" => &mut f.authorization,
                "anthropic-version" => &mut f.anthropic_version,
                "anthropic-beta" => &mut f.anthropic_beta,
                BYPASS_HEADER => &mut f.bypass,
                headroom_team::inbound::TOKEN_HEADER => &mut f.token,
                _ => continue,
            };
            slot.get_or_insert(value);
        }
        f
    }

    /// Whether the request carries its own credentials.
    pub fn has_credentials(&self) -> bool {
        self.x_api_key.is_some() || self.authorization.is_some()
    }
}

/// A field's value as text (`None`: absent or not visible ASCII).
pub fn text(v: Option<&HeaderValue>) -> Option<&str> {
    v.and_then(|v| v.to_str().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_the_first_value_of_each_name_read_in_one_pass() {
        let mut req = RequestHeader::build("POST", b"/v1/messages", None).unwrap();
        for (k, v) in [
            ("Host", "127.0.0.1:8787"),
            ("X-Api-Key", "sk-ant-1"),
            ("x-api-key", "sk-ant-2"),
            ("Content-Type", "application/json"),
            ("content-length", "12"),
            ("anthropic-version", "2023-06-01"),
            ("x-headroom-bypass", "1"),
            ("x-content-length", "99"),
            ("origin", "http://localhost:3000"),
        ] {
            req.append_header(k, v).unwrap();
        }
        let f = Fields::scan(&req.headers);
        // What the hashed lookups gave for every name the path reads.
        for (got, name) in [
            (f.host, "host"),
            (f.origin, "origin"),
            (f.content_type, "content-type"),
            (f.content_length, "content-length"),
            (f.content_encoding, "content-encoding"),
            (f.transfer_encoding, "transfer-encoding"),
            (f.x_api_key, "x-api-key"),
            (f.authorization, "authorization"),
            (f.anthropic_version, "anthropic-version"),
            (f.anthropic_beta, "anthropic-beta"),
            (f.bypass, BYPASS_HEADER),
            (f.token, headroom_team::inbound::TOKEN_HEADER),
        ] {
            assert_eq!(got, req.headers.get(name), "{name}");
        }
        assert_eq!(text(f.x_api_key), Some("sk-ant-1"));
        assert!(f.has_credentials());
        assert!(
            !Fields::scan(&RequestHeader::build("GET", b"/", None).unwrap().headers)
                .has_credentials()
        );
    }

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
