//! The request path: Pingora's `ProxyHttp` phases, top to bottom in the order a request meets
//! them. Each phase delegates to a small helper in this module's files.
//!
//! Must never: log header values or prompt text; alter a response; forward a request body that
//! differs from the client's except by intended compression.

pub mod body;
mod errors;
pub mod framing;
mod local;
pub mod routes;
pub mod usage;

use crate::state::{InFlight, Shared, Snapshot};
use async_trait::async_trait;
use body::{BodyOutcome, BufferedBody, Step};
use bytes::Bytes;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora_core::upstreams::peer::HttpPeer;
use pingora_core::{Error, ErrorType, Result};
use pingora_proxy::{FailToProxy, ProxyHttp, Session};
use routes::{Route, UpstreamKind};
use std::sync::Arc;
use std::time::{Duration, Instant};
use usage::UsageTap;

pub use errors::ProxyError;

/// The proxy service.
pub struct Headroom {
    shared: Arc<Shared>,
}

impl Headroom {
    pub fn new(shared: Arc<Shared>) -> Headroom {
        Headroom { shared }
    }
}

/// Per-request state.
pub struct RequestCtx {
    snapshot: Arc<Snapshot>,
    route: Route,
    started: Instant,
    upstream_sent: Option<Instant>,
    body: Option<BufferedBody>,
    outcome: BodyOutcome,
    tap: UsageTap,
    status: u16,
    injected_key: bool,
    _in_flight: InFlight,
}

impl RequestCtx {
    fn upstream_kind(&self) -> UpstreamKind {
        match self.route {
            Route::Upstream { kind, .. } => kind,
            _ => UpstreamKind::Anthropic,
        }
    }

    fn upstream(&self) -> &crate::upstream::Upstream {
        match self.upstream_kind() {
            UpstreamKind::Anthropic => &self.snapshot.anthropic,
            UpstreamKind::OpenAi => &self.snapshot.openai,
        }
    }
}

/// Headers that describe one hop and must not be forwarded (RFC 9110 §7.6.1).
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "upgrade",
];

#[async_trait]
impl ProxyHttp for Headroom {
    type CTX = RequestCtx;

    fn new_ctx(&self) -> RequestCtx {
        RequestCtx {
            snapshot: self.shared.snapshot(),
            route: Route::Health,
            started: Instant::now(),
            upstream_sent: None,
            body: None,
            outcome: BodyOutcome::default(),
            tap: UsageTap::default(),
            status: 0,
            injected_key: false,
            _in_flight: self.shared.enter(),
        }
    }

    /// Refuses ambiguous framing; classifies the request; answers local routes (`/health`,
    /// `/metrics`, `/stats`) itself; decides whether the body will be buffered for compression.
    async fn request_filter(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
        let timeouts = &ctx.snapshot.config.timeouts;
        session.set_read_timeout(Some(Duration::from_millis(timeouts.client_read_ms)));
        if let Some(err) = refuse_ambiguous_framing(session) {
            ctx.status = err.status;
            crate::metrics::REQUEST_ERRORS
                .with_label_values(&[error_kind(err.status)])
                .inc();
            // The rest of the connection cannot be trusted to start a new request.
            session.set_keepalive(None);
            local::respond_error(session, &err).await?;
            return Ok(true);
        }
        let req = session.req_header();
        ctx.route = routes::classify(&req.method, req.uri.path());
        match ctx.route {
            Route::Health
            | Route::Metrics
            | Route::Stats
            | Route::StatsHistory
            | Route::Dashboard
            | Route::DashboardData => {
                let query = req.uri.query().unwrap_or("").to_string();
                let route = ctx.route;
                ctx.status = local::respond(session, route, &query, &self.shared).await?;
                Ok(true)
            }
            Route::Upstream { format, .. } => {
                if let Some(limit_err) = self.plan_body(session, ctx, format) {
                    ctx.status = limit_err.status;
                    local::respond_error(session, &limit_err).await?;
                    return Ok(true);
                }
                Ok(false)
            }
        }
    }

    /// Picks the upstream by route; addresses were resolved off the request path.
    async fn upstream_peer(
        &self,
        _session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<Box<HttpPeer>> {
        let up = ctx.upstream();
        let addr = match up.addr() {
            Some(a) => Some(a),
            None => resolve_now(up.clone(), &ctx.snapshot.config.timeouts).await,
        };
        let Some(addr) = addr else {
            return Err(Error::explain(
                ErrorType::ConnectNoRoute,
                format!("cannot resolve the {} upstream host", up.name),
            ));
        };
        let url = &up.url;
        let mut peer = HttpPeer::new(addr, url.tls, url.host.clone());
        let t = &ctx.snapshot.config.timeouts;
        let o = &mut peer.options;
        o.connection_timeout = Some(Duration::from_millis(t.connect_ms));
        o.total_connection_timeout = Some(Duration::from_millis(t.connect_ms));
        o.read_timeout = Some(Duration::from_millis(t.upstream_read_ms));
        o.write_timeout = Some(Duration::from_millis(t.upstream_write_ms));
        o.idle_timeout = Some(Duration::from_secs(60));
        Ok(Box::new(peer))
    }

    /// Sets Host, drops hop-by-hop headers, injects the API key where configured, and drops
    /// `Content-Length` when the body may be rewritten (Pingora then frames it chunked).
    async fn upstream_request_filter(
        &self,
        _session: &mut Session,
        req: &mut RequestHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        let up = ctx.upstream().url.clone();
        strip_hop_by_hop(req);
        req.insert_header("host", up.host_header())?;
        if !up.base_path.is_empty() {
            let pq = req.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
            let uri: http::Uri = format!("{}{}", up.base_path, pq)
                .parse()
                .map_err(|_| Error::explain(ErrorType::InvalidHTTPHeader, "bad upstream path"))?;
            req.set_uri(uri);
        }
        if ctx.upstream_kind() == UpstreamKind::Anthropic
            && ctx.snapshot.config.auth.inject_api_key
            && !has_credentials(req)
        {
            if let Some(key) = &self.shared.api_key {
                req.insert_header("x-api-key", key.as_str())?;
                ctx.injected_key = true;
            }
        }
        if ctx.body.is_some() {
            req.remove_header("content-length");
        }
        ctx.upstream_sent = Some(Instant::now());
        Ok(())
    }

    /// Buffers bodies that may be compressed and emits the rewritten body at end of stream;
    /// every other body passes chunk by chunk.
    async fn request_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        let Some(buffered) = ctx.body.as_mut() else {
            let n = body.as_ref().map_or(0, |b| b.len());
            ctx.outcome.bytes_in += n;
            ctx.outcome.bytes_out += n;
            return Ok(());
        };
        match buffered.push(body.as_ref(), end_of_stream, &mut ctx.outcome) {
            Step::Emit(chunk) => *body = chunk,
            Step::Complete(all) => {
                let format = buffered.format;
                let snap = &ctx.snapshot;
                *body = Some(
                    body::rewrite(
                        all,
                        format,
                        snap.pipeline.clone(),
                        snap.compressions.clone(),
                        &mut ctx.outcome,
                    )
                    .await,
                );
            }
        }
        Ok(())
    }

    /// Chooses how to tap usage from the response; records upstream latency; frames the
    /// body for HTTP/1.0 clients.
    async fn response_filter(
        &self,
        session: &mut Session,
        resp: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        ctx.status = resp.status.as_u16();
        if session.req_header().version == http::Version::HTTP_10 {
            // HTTP/1.0 has no chunked coding (RFC 9112 §6.1): without Transfer-Encoding the
            // body is delimited by closing the connection, which a 1.0 client understands.
            resp.remove_header("transfer-encoding");
        }
        if let Some(sent) = ctx.upstream_sent {
            crate::metrics::UPSTREAM_DURATION
                .with_label_values(&[ctx.upstream().name])
                .observe(sent.elapsed().as_secs_f64());
        }
        let header = |n: &str| resp.headers.get(n).and_then(|v| v.to_str().ok());
        ctx.tap = UsageTap::for_response(header("content-type"), header("content-encoding"));
        Ok(())
    }

    /// Reads usage from the bytes as they pass; never changes them.
    fn response_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> Result<Option<Duration>> {
        if let Some(b) = body.as_ref() {
            ctx.tap.feed(b);
        }
        if end_of_stream {
            ctx.tap.finish();
        }
        Ok(None)
    }

    /// Answers failures with an Anthropic-shaped error body naming the upstream.
    async fn fail_to_proxy(
        &self,
        session: &mut Session,
        e: &Error,
        ctx: &mut RequestCtx,
    ) -> FailToProxy {
        let gone = FailToProxy {
            error_code: 0,
            can_reuse_downstream: false,
        };
        if let Some(sent) = session.response_written() {
            // The status line already went out (e.g. an SSE stream cut mid-way). Writing an
            // error body now would splice JSON into the stream and terminate it as if complete;
            // closing the connection is the only honest signal left.
            ctx.status = sent.status.as_u16();
            let kind = match e.esource() {
                pingora::ErrorSource::Upstream => "upstream_interrupted",
                _ => "client_disconnected",
            };
            crate::metrics::REQUEST_ERRORS
                .with_label_values(&[kind])
                .inc();
            return gone;
        }
        let upstream = ctx.upstream().url.display();
        let name = ctx.upstream().name;
        let Some(err) = errors::from_pingora(e, &format!("{name} ({upstream})")) else {
            crate::metrics::REQUEST_ERRORS
                .with_label_values(&["client_disconnected"])
                .inc();
            return gone;
        };
        crate::metrics::REQUEST_ERRORS
            .with_label_values(&[error_kind(err.status)])
            .inc();
        ctx.status = err.status;
        if local::respond_error(session, &err).await.is_err() {
            return gone;
        }
        FailToProxy {
            error_code: err.status,
            can_reuse_downstream: false,
        }
    }

    /// One log line, metrics and stats per request.
    async fn logging(&self, session: &mut Session, e: Option<&Error>, ctx: &mut RequestCtx) {
        if ctx.status == 0 {
            ctx.status = session
                .response_written()
                .map(|r| r.status.as_u16())
                .unwrap_or(0);
        }
        crate::observe::request_done(session, e, ctx);
    }
}

impl Headroom {
    /// Decides whether this request's body is buffered for compression (returns an error to
    /// answer instead when an oversize body must be refused).
    fn plan_body(
        &self,
        session: &Session,
        ctx: &mut RequestCtx,
        format: Option<crate::compress::ApiFormat>,
    ) -> Option<ProxyError> {
        let config = &ctx.snapshot.config;
        let req = session.req_header();
        let header = |n: &str| req.headers.get(n).and_then(|v| v.to_str().ok());
        let length = header("content-length").and_then(|v| v.trim().parse::<usize>().ok());
        let limit = config.limits.max_body_bytes;
        if let Some(len) = length {
            if len > limit && config.limits.reject_oversize {
                return Some(ProxyError {
                    status: 413,
                    kind: "request_too_large",
                    message: format!(
                        "headroom: request body of {len} bytes exceeds limits.max_body_bytes ({limit})"
                    ),
                });
            }
        }
        let format = format?;
        if !config.compression.enabled {
            return None;
        }
        let json =
            header("content-type").is_some_and(|ct| ct.to_ascii_lowercase().contains("json"));
        let encoded =
            header("content-encoding").is_some_and(|v| !v.eq_ignore_ascii_case("identity"));
        let has_body = length.is_some_and(|l| l > 0) || header("transfer-encoding").is_some();
        if !json || encoded || !has_body {
            return None;
        }
        if length.is_some_and(|l| l > limit) {
            // Too big to compress: streams through untouched, counted as oversize.
            ctx.outcome.oversize = true;
            return None;
        }
        ctx.body = Some(BufferedBody::new(format, limit, length));
        None
    }
}

/// The upstream has never resolved (offline at start, say): try again now, on the blocking pool,
/// within the connect timeout.
async fn resolve_now(
    up: crate::upstream::Upstream,
    t: &crate::config::Timeouts,
) -> Option<std::net::SocketAddr> {
    let limit = Duration::from_millis(t.connect_ms);
    let job = tokio::task::spawn_blocking(move || up.refresh().then(|| up.addr()).flatten());
    tokio::time::timeout(limit, job).await.ok()?.ok()?
}

fn strip_hop_by_hop(req: &mut RequestHeader) {
    let listed: Vec<String> = req
        .headers
        .get_all("connection")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty() && s != "close" && s != "keep-alive")
        .collect();
    for name in HOP_BY_HOP.iter().copied().map(str::to_string).chain(listed) {
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

/// Refuses requests whose body framing is ambiguous (see [`framing`]).
fn refuse_ambiguous_framing(session: &Session) -> Option<ProxyError> {
    let h1 = session.as_downstream().as_http1()?;
    let e = framing::check(&h1.get_headers_raw_bytes()).err()?;
    Some(ProxyError {
        status: 400,
        kind: "invalid_request_error",
        message: format!("headroom: {e}; refusing an ambiguously framed request"),
    })
}

fn has_credentials(req: &RequestHeader) -> bool {
    req.headers.contains_key("x-api-key") || req.headers.contains_key("authorization")
}

fn error_kind(status: u16) -> &'static str {
    match status {
        504 => "upstream_timeout",
        502 => "upstream_unavailable",
        413 => "body_too_large",
        408 => "client_timeout",
        400 => "bad_request",
        _ => "internal",
    }
}

/// Read access for the observation code (logs, metrics, stats).
impl RequestCtx {
    pub fn route_label(&self) -> &'static str {
        self.route.label()
    }
    pub fn status(&self) -> u16 {
        self.status
    }
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
    pub fn outcome(&self) -> &BodyOutcome {
        &self.outcome
    }
    pub fn usage(&self) -> usage::Usage {
        self.tap.usage
    }
    /// The model the upstream's response named, if it did.
    pub fn model(&self) -> Option<&str> {
        self.tap.model.as_deref()
    }
    pub fn is_local(&self) -> bool {
        !matches!(self.route, Route::Upstream { .. })
    }
    pub fn upstream_name(&self) -> &'static str {
        self.upstream().name
    }
    pub fn injected_key(&self) -> bool {
        self.injected_key
    }
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
