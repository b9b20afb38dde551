//! The request head's checks, in the order `request_filter` runs them: framing, route, trust,
//! gateway admission, credentials, the body plan. Synchronous: the phase awaits only the
//! answer they choose.
//!
//! Must never: let a request through that a check refused, or do I/O.

use super::plan::{plan_body, BodyPlan};
use super::routes::{self, ProviderHints, Route};
use super::{framing, gateway, headers, local, served, trust, Headroom, ProxyError, RequestCtx};
use pingora_proxy::Session;
use std::time::Duration;

/// What `request_filter` does once [`Headroom::admit`] has read the request head.
pub(super) enum Next {
    /// Proxy it (the body plan is in the context).
    Proxy,
    /// Answer this error.
    Refuse(ProxyError),
    /// Run it as a served exchange.
    Serve(crate::compress::ApiFormat, served::Plan),
    /// Answer a local route; its query string.
    Local(Route, String),
}

impl Headroom {
    /// Whether this request is a served exchange (see [`served`]): the retrieval tool is on,
    /// retrieval is enabled, and the body has an exact length (it is read before the upstream
    /// request goes out). `None`: the normal path.
    fn served_plan(&self, fields: &headers::Fields<'_>, ctx: &RequestCtx) -> Option<served::Plan> {
        let r = &ctx.snapshot.config.retrieval;
        if !(r.enabled && r.tool && r.max_rounds > 0) {
            return None;
        }
        if fields.content_length.is_none() || fields.transfer_encoding.is_some() {
            return None;
        }
        let store = self.shared.originals.clone();
        Some(served::Plan {
            store,
            max_rounds: r.max_rounds as usize,
        })
    }
    /// Everything `request_filter` decides from the request head, without awaiting.
    pub(super) fn admit(&self, session: &mut Session, ctx: &mut RequestCtx) -> Next {
        let timeouts = &ctx.snapshot.config.timeouts;
        session.set_read_timeout(Some(Duration::from_millis(timeouts.client_read_ms)));
        let req = session.req_header();
        let fields = headers::Fields::scan(&req.headers);
        if let Some(err) = refuse_ambiguous_framing(session, &fields) {
            // The rest of the connection cannot be trusted to start a new request.
            session.set_keepalive(None);
            return Next::Refuse(err);
        }
        let hints = ProviderHints::from_fields(&fields);
        ctx.route = routes::classify(&req.method, req.uri.path(), hints);
        let query = req.uri.query().unwrap_or("");
        let open_health = matches!(ctx.route, Route::Live | Route::Ready)
            || (ctx.route == Route::Health && !local::query_flag(query, "verbose"));
        let gateway_mode = ctx.snapshot.config.auth.mode != headroom_team::AuthMode::Local;
        if !open_health {
            let caller = trust::Caller {
                peer: session
                    .client_addr()
                    .and_then(|a| a.as_inet())
                    .map(|a| a.ip()),
                host: headers::text(fields.host)
                    .or_else(|| req.uri.authority().map(|a| a.as_str())),
                origin: headers::text(fields.origin),
                content_type: headers::text(fields.content_type),
            };
            let to_provider = matches!(ctx.route, Route::Upstream { .. });
            match ctx.snapshot.trust.assess(&caller, to_provider) {
                Ok(t) => ctx.trust = t,
                // A gateway is reached under names of its own and never injects this machine's
                // key; its callers prove themselves with tokens instead.
                Err(_) if gateway_mode => ctx.trust = trust::Trust::Untrusted("gateway caller"),
                Err(err) => return Next::Refuse(err),
            }
        }
        match ctx.route {
            Route::Upstream { kind, format, .. } => {
                match gateway::admit(&ctx.snapshot.inbound, &fields, kind) {
                    Ok(a) => ctx.admitted = a,
                    Err(err) => return Next::Refuse(err),
                }
                let swapped = ctx
                    .admitted
                    .as_ref()
                    .is_some_and(|a| a.replaces_credentials());
                if let Some(err) = routes::credential_conflict(kind, &fields) {
                    if !swapped {
                        return Next::Refuse(err);
                    }
                }
                ctx.client_credentials = fields.has_credentials();
                ctx.token_header = fields.token.is_some();
                let bypass = fields.bypass;
                ctx.bypass_header = bypass.is_some();
                ctx.bypass =
                    bypass.is_some_and(|v| matches!(v.as_bytes(), b"1" | b"true" | b"yes"));
                let format = if ctx.bypass { None } else { format };
                let min_body = ctx.snapshot.pipeline.config().min_tokens;
                match plan_body(&fields, &ctx.snapshot.config, format, min_body) {
                    BodyPlan::Refuse(err) => return Next::Refuse(err),
                    BodyPlan::Buffer(b) => match self.served_plan(&fields, ctx) {
                        Some(plan) => return Next::Serve(b.format, plan),
                        None => ctx.body = Some(b),
                    },
                    BodyPlan::Stream { oversize } => ctx.outcome.oversize = oversize,
                }
                Next::Proxy
            }
            route
                if (route.exposes_data() || !open_health)
                    && !ctx.trust.is_local()
                    && !gateway::token_holder(&ctx.snapshot.inbound, &fields) =>
            {
                Next::Refuse(ProxyError {
                    status: 403,
                    kind: "permission_error",
                    message: format!(
                        "headroom: {} is only served to local clients (from 127.0.0.1 or ::1, \
                         addressed to this proxy, without a foreign Origin)",
                        route.label()
                    ),
                })
            }
            route => Next::Local(route, query.to_string()),
        }
    }
}

/// Refuses requests whose body framing is ambiguous (see [`framing`]). Without a
/// `Transfer-Encoding` the parsed fields hold every `Content-Length`, so the raw lines are read
/// only beside one.
fn refuse_ambiguous_framing(session: &Session, fields: &headers::Fields) -> Option<ProxyError> {
    let h1 = session.as_downstream().as_http1()?;
    let verdict = match (fields.transfer_encoding, fields.content_length) {
        (None, None) => return None,
        (None, Some(_)) => framing::check_lengths(
            session
                .req_header()
                .headers
                .get_all(http::header::CONTENT_LENGTH)
                .iter()
                .map(|v| v.as_bytes()),
        ),
        (Some(_), _) => framing::check(&h1.get_headers_raw_bytes()),
    };
    let e = verdict.err()?;
    Some(ProxyError {
        status: 400,
        kind: "invalid_request_error",
        message: format!("headroom: {e}; refusing an ambiguously framed request"),
    })
}
