//! Body planning: from the request head and the config alone, whether a body is read whole for
//! compression, streamed as it is, or refused (oversize under `limits.reject_oversize`).
//!
//! Must never: look at the body itself, or do I/O.

use super::body::BufferedBody;
use super::errors::ProxyError;
use super::headers::{text, Fields};

/// What the body phase will do with a request's body.
#[derive(Debug)]
pub enum BodyPlan {
    /// Answer this error instead of forwarding (an oversize body under `reject_oversize`).
    Refuse(ProxyError),
    /// Read it whole, compress, emit at end of stream.
    Buffer(BufferedBody),
    /// Pass it through chunk by chunk; `oversize` when it was too big to compress.
    Stream { oversize: bool },
}

/// Decides whether a request's body is buffered for compression. `format` is `None` for
/// routes whose bodies are never compressed. A body declared shorter than `min_body` bytes
/// cannot hold a block worth compressing (a block needs `min_tokens` tokens, so at least as
/// many bytes): it streams with its own `Content-Length`.
pub fn plan_body(
    fields: &Fields<'_>,
    config: &crate::config::Config,
    format: Option<crate::compress::ApiFormat>,
    min_body: usize,
) -> BodyPlan {
    let length = text(fields.content_length).and_then(|v| v.trim().parse::<usize>().ok());
    let limit = config.limits.max_body_bytes;
    let oversize = length.is_some_and(|l| l > limit);
    if oversize && config.limits.reject_oversize {
        let len = length.unwrap_or_default();
        return BodyPlan::Refuse(ProxyError {
            status: 413,
            kind: "request_too_large",
            message: format!(
                "headroom: request body of {len} bytes exceeds limits.max_body_bytes ({limit})"
            ),
        });
    }
    let Some(format) = format else {
        return BodyPlan::Stream { oversize: false };
    };
    if !config.compression.enabled {
        return BodyPlan::Stream { oversize: false };
    }
    // Most requests are small: their declared length settles it.
    if length.is_some_and(|l| l < min_body) {
        return BodyPlan::Stream { oversize: false };
    }
    let json = text(fields.content_type).is_some_and(|ct| super::usage::names_json(ct.as_bytes()));
    let encoded =
        text(fields.content_encoding).is_some_and(|v| !v.eq_ignore_ascii_case("identity"));
    let has_body = length.is_some_and(|l| l > 0) || text(fields.transfer_encoding).is_some();
    if !json || encoded || !has_body {
        return BodyPlan::Stream { oversize: false };
    }
    if oversize {
        // Too big to compress: streams through untouched, counted as oversize.
        return BodyPlan::Stream { oversize: true };
    }
    BodyPlan::Buffer(BufferedBody::new(format, limit, length))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compress::ApiFormat;

    use pingora::http::RequestHeader;

    /// The plan for a request head, its fields read as the request path reads them.
    fn plan(
        req: &RequestHeader,
        config: &crate::config::Config,
        format: Option<ApiFormat>,
        min_body: usize,
    ) -> BodyPlan {
        plan_body(&Fields::scan(&req.headers), config, format, min_body)
    }

    fn post(headers: &[(&'static str, &'static str)]) -> RequestHeader {
        let mut req = RequestHeader::build("POST", b"/v1/messages", None).unwrap();
        for (k, v) in headers {
            req.insert_header(*k, *v).unwrap();
        }
        req
    }

    /// The smallest body worth buffering in these cases (the pipeline's `min_tokens`).
    const MIN: usize = 50;

    #[test]
    fn body_plans_are_decided_from_headers_and_config_alone() {
        let config = crate::config::Config::default();
        let json = [
            ("content-type", "application/json"),
            ("content-length", "100"),
        ];
        let fmt = Some(ApiFormat::Anthropic);
        assert!(matches!(
            plan(&post(&json), &config, fmt, MIN),
            BodyPlan::Buffer(_)
        ));
        // A declared length under the smallest block worth compressing streams as it is.
        assert!(matches!(
            plan(&post(&json), &config, fmt, 101),
            BodyPlan::Stream { oversize: false }
        ));
        // Routes whose bodies are never compressed, and bodies that cannot be.
        assert!(matches!(
            plan(&post(&json), &config, None, MIN),
            BodyPlan::Stream { oversize: false }
        ));
        for headers in [
            &[("content-type", "text/plain"), ("content-length", "100")][..],
            &[
                ("content-type", "application/json"),
                ("content-length", "100"),
                ("content-encoding", "gzip"),
            ][..],
            &[
                ("content-type", "application/json"),
                ("content-length", "0"),
            ][..],
        ] {
            assert!(
                matches!(
                    plan(&post(headers), &config, fmt, MIN),
                    BodyPlan::Stream { oversize: false }
                ),
                "{headers:?}"
            );
        }
        let big = [
            ("content-type", "application/json"),
            ("content-length", "999999999"),
        ];
        assert!(matches!(
            plan(&post(&big), &config, fmt, MIN),
            BodyPlan::Stream { oversize: true }
        ));
        let mut strict = config.clone();
        strict.limits.reject_oversize = true;
        match plan(&post(&big), &strict, fmt, MIN) {
            BodyPlan::Refuse(e) => assert_eq!(e.status, 413),
            other => panic!("{other:?}"),
        }
        let mut off = config;
        off.compression.enabled = false;
        assert!(matches!(
            plan(&post(&json), &off, fmt, MIN),
            BodyPlan::Stream { oversize: false }
        ));
    }
}
