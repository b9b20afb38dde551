//! `GET /v1/retrieve/{id}` (`?lines=A-B`, `?query=WORDS`): a stored original, or a slice of it,
//! as `{"id","content","tokens","compressor",…}`. Only reached by trusted local callers (the
//! request phase refuses the rest).
//!
//! Must never: answer for an id that is not well-formed, or log the content it returns.

use super::errors::ProxyError;
use super::local::{respond_error, send};
use super::routes::UpstreamKind;
use crate::retrieval::{self, Source};
use crate::state::Shared;
use pingora_core::Result;
use pingora_proxy::Session;
use std::sync::Arc;

/// The header `headroom retrieve` sends, so its lookups are counted as `source="cli"`.
pub const CLIENT_HEADER: &str = "x-headroom-client";

/// Answers one retrieval; returns the status sent.
pub async fn respond(session: &mut Session, query: &str, shared: &Arc<Shared>) -> Result<u16> {
    let req = session.req_header();
    let id = req
        .uri
        .path()
        .trim_start_matches("/v1/retrieve/")
        .trim_end_matches('/')
        .to_string();
    let source = match req.headers.get(CLIENT_HEADER).map(|v| v.as_bytes()) {
        Some(b"cli") => Source::Cli,
        _ => Source::Endpoint,
    };
    let fail = |status: u16, kind: &'static str, message: String| ProxyError {
        status,
        kind,
        message: format!("headroom: {message}"),
    };
    let store = Some(&shared.originals).filter(|_| shared.snapshot().config.retrieval.enabled);
    let err = match (store, retrieval::parse_selector(query)) {
        (None, _) => fail(
            404,
            "not_found_error",
            "retrieval is off (`retrieval.enabled: false`): no originals are kept".into(),
        ),
        (_, Err(problem)) => fail(400, "invalid_request_error", problem),
        (Some(store), Ok(selector)) => {
            match retrieval::fetch(store.as_ref(), &id, &selector, source).await {
                Some(found) => {
                    send(session, 200, "application/json", found.to_json()).await?;
                    return Ok(200);
                }
                None => fail(
                    404,
                    "not_found_error",
                    format!(
                        "no original is stored under id {:?} (unknown, or expired after \
                         `retrieval.max_age_days`, or evicted past the store's bounds)",
                        crate::compress::marker::clip(&id, 40)
                    ),
                ),
            }
        }
    };
    respond_error(session, &err, UpstreamKind::Anthropic).await?;
    Ok(err.status)
}
