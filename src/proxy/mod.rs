//! The request path: Pingora's `ProxyHttp` phases, top to bottom in the order a request meets
//! them. Each phase delegates to a small helper in this module's files.
//!
//! Must never: log header values or prompt text; alter a response; forward a request body that
//! differs from the client's except by intended compression.

mod admit;
pub mod body;
pub mod connection;
mod errors;
pub mod framing;
mod gateway;
mod headers;
mod local;
mod plan;
mod record;
pub mod retrieve;
pub mod routes;
mod served;
mod timer_wheel;
pub mod trust;
pub mod usage;
mod usage_answer;
mod usage_json;

use crate::state::{InFlight, Shared, Snapshot};
use admit::Next;
use async_trait::async_trait;
use body::{BodyOutcome, BufferedBody, Step};
use bytes::Bytes;
use headers::strip_hop_by_hop;
pub use headers::BYPASS_HEADER;
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
    /// Upstream connections for served exchanges (pooled, like Pingora's own).
    connector: pingora_core::connectors::http::Connector,
}

impl Headroom {
    pub fn new(shared: Arc<Shared>) -> Headroom {
        Headroom {
            shared,
            connector: pingora_core::connectors::http::Connector::new(None),
        }
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
    /// The response body reached its end: the tap's last bytes are read in the logging phase,
    /// after the answer has gone out, not before its last chunk is written.
    answer_ended: bool,
    status: u16,
    injected_key: bool,
    trust: trust::Trust,
    /// The gateway token holder (`auth.mode: tokens`).
    admitted: Option<gateway::Admitted>,
    /// `x-headroom-bypass: 1`: forwarded untouched, header stripped.
    bypass: bool,
    /// The client's request carries `x-api-key` or `Authorization`.
    client_credentials: bool,
    /// The client's request carries the gateway token header (never forwarded).
    token_header: bool,
    /// The request came with an `x-headroom-bypass` header (of any value): it is stripped.
    bypass_header: bool,
    /// This response's usage so far, once it reported any (for a shutdown that cuts it).
    live: Option<Arc<crate::usage::StreamUsage>>,
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

#[async_trait]
impl ProxyHttp for Headroom {
    /// Boxed: Pingora keeps the context inside each request's future, which it moves (copies)
    /// several times per request; a pointer moves cheaper than the whole context.
    type CTX = Box<RequestCtx>;

    fn new_ctx(&self) -> Box<RequestCtx> {
        Box::new(RequestCtx {
            snapshot: self.shared.snapshot(),
            route: Route::Health,
            started: Instant::now(),
            upstream_sent: None,
            body: None,
            outcome: BodyOutcome::default(),
            tap: UsageTap::default(),
            answer_ended: false,
            status: 0,
            injected_key: false,
            trust: trust::Trust::Untrusted("not assessed"),
            admitted: None,
            bypass: false,
            client_credentials: false,
            token_header: false,
            bypass_header: false,
            live: None,
            _in_flight: self.shared.enter(),
        })
    }

    /// Refuses ambiguous framing; classifies the request; decides whether the caller is trusted
    /// (refusing foreign hosts and cross-site browser requests); answers local routes itself;
    /// plans the body. The deciding is synchronous ([`Headroom::admit`]): this phase's future,
    /// which Pingora boxes and moves per request, holds only what the answers await.
    async fn request_filter(
        &self,
        session: &mut Session,
        ctx: &mut Box<RequestCtx>,
    ) -> Result<bool> {
        match self.admit(session, ctx) {
            Next::Proxy => Ok(false),
            Next::Refuse(err) => answer_error(session, ctx, err).await,
            // Boxed: the served exchange's state is large, and inline it made every request's
            // phase future that big.
            Next::Serve(format, plan) => {
                Box::pin(served::run(self, session, ctx, format, plan)).await
            }
            Next::Local(route, query) => {
                // Boxed, like the error answers: the proxied requests' future stays small.
                let answer = Box::pin(local::respond(session, route, &query, &self.shared));
                ctx.status = answer.await?;
                Ok(true)
            }
        }
    }

    /// Picks the upstream by route; addresses were resolved off the request path.
    async fn upstream_peer(
        &self,
        _session: &mut Session,
        ctx: &mut Box<RequestCtx>,
    ) -> Result<Box<HttpPeer>> {
        let up = ctx.upstream();
        let addr = match up.addr() {
            Some(a) => Some(a),
            // Boxed: rare, and its timer would otherwise sit in every request's future.
            None => Box::pin(resolve_now(up.clone(), &ctx.snapshot.config.timeouts)).await,
        };
        let Some(addr) = addr else {
            // Upstream-sourced, so the client gets a 502 naming the upstream, not a 500.
            let mut e = Error::explain(
                ErrorType::ConnectNoRoute,
                format!("cannot resolve the {} upstream host", up.name),
            );
            e.esource = pingora::ErrorSource::Upstream;
            return Err(e);
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
        ctx: &mut Box<RequestCtx>,
    ) -> Result<()> {
        // Everything below reads the context; its two fields are set at the end (no clone of
        // the shared snapshot, whose count both workers would write).
        let kind = ctx.upstream_kind();
        let upstream = match kind {
            UpstreamKind::Anthropic => &ctx.snapshot.anthropic,
            UpstreamKind::OpenAi => &ctx.snapshot.openai,
        };
        let up = &upstream.url;
        strip_hop_by_hop(req);
        // Out first: the parsed header maps are sized to the request's own fields, so
        // replacing a field in place would grow (rehash) both of them on every request.
        req.remove_header(&http::header::HOST);
        match &upstream.host_value {
            Some(v) => req.insert_header("host", v.clone())?,
            None => req.insert_header("host", up.host_header())?,
        }
        if !up.base_path.is_empty() {
            let pq = req.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
            let uri: http::Uri = format!("{}{}", up.base_path, pq)
                .parse()
                .map_err(|_| Error::explain(ErrorType::InvalidHTTPHeader, "bad upstream path"))?;
            req.set_uri(uri);
        }
        // Looked up once, in `request_filter` (this phase runs only for upstream routes).
        if ctx.bypass_header {
            req.remove_header(&headers::BYPASS);
        }
        gateway::apply(req, ctx.admitted.as_ref(), kind, ctx.token_header);
        let mut injected = false;
        // In `local` mode the credentials upstream are the client's own (nothing swaps them;
        // `Connection` cannot list them away), read in `request_filter`.
        if kind == UpstreamKind::Anthropic
            && ctx.snapshot.config.auth.mode == headroom_team::AuthMode::Local
            && ctx.snapshot.config.auth.inject_api_key
            && ctx.trust.is_local()
            && !ctx.client_credentials
        {
            if let Some(key) = &self.shared.api_key {
                req.insert_header(headers::X_API_KEY, key.as_str())?;
                injected = true;
            }
        }
        if ctx.body.is_some() {
            req.remove_header(&http::header::CONTENT_LENGTH);
        }
        ctx.injected_key = injected;
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
        ctx: &mut Box<RequestCtx>,
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
                // Boxed: the compression's state stays out of the phase future every body
                // chunk of every request builds.
                let rewrite = Box::pin(body::rewrite(
                    all,
                    format,
                    snap.pipeline.clone(),
                    snap.compressions.clone(),
                    self.shared.originals.clone(),
                    &mut ctx.outcome,
                ));
                *body = Some(rewrite.await);
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
        ctx: &mut Box<RequestCtx>,
    ) -> Result<()> {
        ctx.status = resp.status.as_u16();
        if session.req_header().version == http::Version::HTTP_10 {
            // HTTP/1.0 has no chunked coding (RFC 9112 §6.1): without Transfer-Encoding the
            // body is delimited by closing the connection, which a 1.0 client understands.
            resp.remove_header("transfer-encoding");
        }
        if let Some(sent) = ctx.upstream_sent {
            crate::metrics::observe_upstream_duration(
                ctx.upstream().name,
                sent.elapsed().as_secs_f64(),
            );
        }
        // One pass over the answer's few fields instead of two lookups by name (each hashes
        // it); the first value under each name, as `HeaderMap::get` gives it.
        let (mut content_type, mut content_encoding) = (None, None);
        for (name, value) in resp.headers.iter() {
            let slot = if name == http::header::CONTENT_TYPE {
                &mut content_type
            } else if name == http::header::CONTENT_ENCODING {
                &mut content_encoding
            } else {
                continue;
            };
            if slot.is_none() {
                *slot = Some(value);
            }
        }
        ctx.tap =
            UsageTap::for_response(headers::text(content_type), headers::text(content_encoding));
        Ok(())
    }

    /// Reads usage from the bytes as they pass; never changes them.
    fn response_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        end_of_stream: bool,
        ctx: &mut Box<RequestCtx>,
    ) -> Result<Option<Duration>> {
        if let Some(b) = body.as_ref() {
            let before = ctx.tap.usage;
            ctx.tap.feed_bytes(b);
            if ctx.tap.usage != before {
                ctx.live
                    .get_or_insert_with(|| self.shared.streams.open())
                    .set(ctx.tap.usage);
            }
        }
        ctx.answer_ended |= end_of_stream;
        Ok(None)
    }

    /// Answers failures with an Anthropic-shaped error body naming the upstream.
    async fn fail_to_proxy(
        &self,
        session: &mut Session,
        e: &Error,
        ctx: &mut Box<RequestCtx>,
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
        if local::respond_error(session, &err, ctx.upstream_kind())
            .await
            .is_err()
        {
            return gone;
        }
        FailToProxy {
            error_code: err.status,
            can_reuse_downstream: false,
        }
    }

    /// Pingora's own error line: kept for upstream failures, dropped for clients that went away
    /// (our request line records those at INFO).
    fn suppress_error_log(&self, _session: &Session, _ctx: &Box<RequestCtx>, e: &Error) -> bool {
        let client_gone = e.esource() == &pingora::ErrorSource::Downstream
            && matches!(
                e.etype(),
                ErrorType::ConnectionClosed | ErrorType::ReadError | ErrorType::WriteError
            );
        if client_gone {
            tracing::info!(error = ?e.etype(), "client closed the connection");
        }
        client_gone
    }

    /// What Pingora's error lines say about a request: method, path and route, never the
    /// query string (it can carry keys) or any header value.
    fn request_summary(&self, session: &Session, ctx: &Box<RequestCtx>) -> String {
        let req = session.req_header();
        format!(
            "{} {} (route {})",
            req.method,
            req.uri.path(),
            ctx.route.label()
        )
    }

    /// One log line, metrics and stats per request.
    async fn logging(&self, session: &mut Session, e: Option<&Error>, ctx: &mut Box<RequestCtx>) {
        if ctx.status == 0 {
            ctx.status = session
                .response_written()
                .map(|r| r.status.as_u16())
                .unwrap_or(0);
        }
        if ctx.answer_ended {
            ctx.tap.finish();
        }
        if let Some(live) = &ctx.live {
            live.finish();
        }
        crate::observe::request_done(&ctx.finished(session.req_header(), e));
        connection::request_finished(session);
    }
}

/// The one way the proxy answers an error itself: sets the status, counts the error, sends
/// the body in the route's provider's shape. Out of line and boxed: the request path's own
/// code and future stay small for the requests that pass.
#[cold]
#[inline(never)]
fn answer_error<'a>(
    session: &'a mut Session,
    ctx: &'a mut RequestCtx,
    err: ProxyError,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<bool>> + Send + 'a>> {
    Box::pin(async move {
        ctx.status = err.status;
        crate::metrics::REQUEST_ERRORS
            .with_label_values(&[error_kind(err.status)])
            .inc();
        local::respond_error(session, &err, ctx.upstream_kind()).await?;
        Ok(true)
    })
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

fn error_kind(status: u16) -> &'static str {
    match status {
        504 => "upstream_timeout",
        502 => "upstream_unavailable",
        431 => "headers_too_large",
        413 => "body_too_large",
        403 => "forbidden",
        408 => "client_timeout",
        400 => "bad_request",
        _ => "internal",
    }
}
