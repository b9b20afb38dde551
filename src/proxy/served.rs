//! Served exchanges: requests for which the proxy offers the model its `headroom_retrieve`
//! tool and answers the model's calls itself.
//!
//! Pingora's response phases cannot await a second upstream call (`response_body_filter` is
//! synchronous), so these requests leave Pingora's proxy loop in `request_filter`: the body is
//! read there (exact `Content-Length`, at most `limits.max_body_bytes`), compressed with the
//! same helper as the normal path, the tool spliced in, and the exchange run here with
//! Pingora's own upstream connector (pooled connections, the same `HttpPeer` settings and
//! upstream request head as the normal path: Host, base path, hop-by-hop stripping, key
//! injection). The upstream's answer goes to the client through
//! `headroom_retrieval`'s rewriters, round after round, and the request filter returns
//! `Ok(true)`: Pingora then only logs the request, with the usage of every round.
//!
//! What the client gets: see `headroom_retrieval::merge` (JSON) and the stream rewriters
//! (SSE). An upstream error in round 0 goes to the client as the upstream sent it; an error in
//! a continuation of a stream becomes the provider's in-stream error event (the status line
//! already went out); in a JSON exchange it goes out as it came.
//!
//! Must never: let the tool or a retrieval call reach the client; forward a request body other
//! than the compressed one plus the tool and the appended turns; hold more than one answer of
//! a JSON exchange in memory.

use super::errors::ProxyError;
use super::{Headroom, RequestCtx};
use crate::compress::ApiFormat;
use crate::usage::Usage;
use bytes::{Bytes, BytesMut};
use headroom_retrieval::answer::{self, ToolAnswer};
use headroom_retrieval::continuation::{self, Served};
use headroom_retrieval::merge::Merger;
use headroom_retrieval::tool::{self, Injection};
use headroom_retrieval::turn::{self, Turn};
use headroom_retrieval::{Api, EventStream};
use headroom_store::OriginalsStore;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora_core::connectors::http::Connector;
use pingora_core::protocols::http::client::HttpSession;
use pingora_core::upstreams::peer::HttpPeer;
use pingora_core::{Error, ErrorSource, ErrorType, Result};
use pingora_proxy::{ProxyHttp, Session};
use std::sync::Arc;
use std::time::Instant;

/// A JSON answer larger than this is passed through without being read for calls.
const MAX_JSON_ANSWER: usize = 16 * 1024 * 1024;

/// What a served exchange needs besides the request.
pub struct Plan {
    pub store: Arc<dyn OriginalsStore>,
    pub max_rounds: usize,
}

fn api_of(format: ApiFormat) -> Api {
    match format {
        ApiFormat::Anthropic => Api::Anthropic,
        ApiFormat::OpenAi => Api::OpenAi,
    }
}

/// Reads the body, compresses it, offers the tool and runs the exchange. Returns `Ok(true)`
/// (the response went out) or an error for `fail_to_proxy`.
pub async fn run(
    proxy: &Headroom,
    session: &mut Session,
    ctx: &mut Box<RequestCtx>,
    format: ApiFormat,
    plan: Plan,
) -> Result<bool> {
    let mut all = BytesMut::new();
    while let Some(chunk) = session.read_request_body().await.map_err(downstream_err)? {
        all.extend_from_slice(&chunk);
        if all.len() > ctx.snapshot.config.limits.max_body_bytes {
            // The plan saw a Content-Length within the limit; a body that outgrows it is lying.
            let err = ProxyError {
                status: 400,
                kind: "invalid_request_error",
                message: "headroom: request body longer than its Content-Length".into(),
            };
            return super::answer_error(session, ctx, err).await;
        }
    }
    ctx.outcome.bytes_in += all.len();
    let snap = ctx.snapshot.clone();
    let compressed = super::body::rewrite(
        all.freeze(),
        format,
        snap.pipeline.clone(),
        snap.compressions.clone(),
        plan.store.clone(),
        &mut ctx.outcome,
    )
    .await;
    let api = api_of(format);
    let (body, served) = match tool::inject(&compressed, api) {
        Injection::Injected(b) => (b, true),
        Injection::NoTools | Injection::ClientOwnsTool => (compressed.to_vec(), false),
    };
    ctx.outcome.bytes_out = body.len();
    let mut ex = Exchange {
        proxy,
        peer: proxy.upstream_peer(session, ctx).await?,
        head: upstream_head(proxy, session, ctx, served).await?,
        api,
        usage: Usage::default(),
        rounds: 0,
    };
    let result = if served {
        ex.served(session, ctx, body, &plan).await
    } else {
        ex.plain(session, ctx, body).await
    };
    ctx.tap.usage = ex.usage;
    result.map(|()| true)
}

/// The upstream request head, made by the same filter as the normal path's.
async fn upstream_head(
    proxy: &Headroom,
    session: &mut Session,
    ctx: &mut Box<RequestCtx>,
    served: bool,
) -> Result<RequestHeader> {
    let mut head = session.req_header().clone();
    proxy
        .upstream_request_filter(session, &mut head, ctx)
        .await?;
    head.remove_header("transfer-encoding");
    if served {
        // The proxy reads the answers it may have to rewrite: no content coding.
        head.insert_header("accept-encoding", "identity")?;
    }
    Ok(head)
}

/// One upstream answer's head and connection.
struct Answer {
    up: HttpSession,
    header: ResponseHeader,
}

impl Answer {
    fn kind(&self) -> Kind {
        let ct = self
            .header
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        let encoded = self
            .header
            .headers
            .get("content-encoding")
            .is_some_and(|v| !v.as_bytes().eq_ignore_ascii_case(b"identity"));
        if self.header.status.as_u16() != 200 || encoded {
            Kind::Other
        } else if ct.starts_with("text/event-stream") {
            Kind::Sse
        } else if super::usage::names_json(ct.as_bytes()) {
            Kind::Json
        } else {
            Kind::Other
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Json,
    Sse,
    Other,
}

struct Exchange<'a> {
    proxy: &'a Headroom,
    peer: Box<HttpPeer>,
    head: RequestHeader,
    api: Api,
    /// Every round's usage, added up (what the exchange cost).
    usage: Usage,
    rounds: usize,
}

impl Exchange<'_> {
    fn connector(&self) -> &Connector {
        &self.proxy.connector
    }

    /// Sends one request upstream and reads the answer's head.
    async fn send(&mut self, ctx: &mut RequestCtx, body: &[u8]) -> Result<Answer> {
        let upstream = ctx.upstream().name;
        crate::metrics::UPSTREAM_CALLS
            .with_label_values(&[if self.rounds == 0 {
                "client"
            } else {
                "retrieval"
            }])
            .inc();
        let mut head = self.head.clone();
        head.insert_header("content-length", body.len().to_string())?;
        let started = Instant::now();
        let (up, header) = match self.attempt(&head, body).await {
            Ok(a) => a,
            // A pooled connection the upstream closed while idle: once more on another one
            // (what Pingora's own path does for a reused connection).
            Err((e, true)) if stale(&e) => self.attempt(&head, body).await.map_err(|(e, _)| e)?,
            Err((e, _)) => return Err(e),
        };
        crate::metrics::observe_upstream_duration(upstream, started.elapsed().as_secs_f64());
        Ok(Answer { up, header })
    }

    /// One try at an exchange's request and answer head; the error says whether the
    /// connection came from the pool.
    async fn attempt(
        &self,
        head: &RequestHeader,
        body: &[u8],
    ) -> std::result::Result<(HttpSession, ResponseHeader), (Box<Error>, bool)> {
        let (mut up, reused) = self
            .connector()
            .get_http_session(&*self.peer)
            .await
            .map_err(|e| (upstream_err(e), false))?;
        up.set_read_timeout(self.peer.options.read_timeout);
        up.set_write_timeout(self.peer.options.write_timeout);
        let fail = |e| (upstream_err(e), reused);
        up.write_request_header(Box::new(head.clone()))
            .await
            .map_err(fail)?;
        up.write_request_body(Bytes::copy_from_slice(body), true)
            .await
            .map_err(fail)?;
        up.finish_request_body().await.map_err(fail)?;
        up.read_response_header().await.map_err(fail)?;
        let header = up
            .response_header()
            .cloned()
            .ok_or_else(|| fail(Error::new(ErrorType::InvalidHTTPHeader)))?;
        Ok((up, header))
    }

    /// Returns a finished upstream connection to the pool.
    async fn release(&self, mut answer: Answer) {
        if answer.up.response_done() {
            self.connector()
                .release_http_session(answer.up, &*self.peer, self.peer.options.idle_timeout)
                .await;
        } else {
            answer.up.shutdown().await;
        }
    }

    /// Reads a whole answer body (bounded); `None` past the bound.
    async fn read_all(&mut self, answer: &mut Answer, limit: usize) -> Result<Option<Vec<u8>>> {
        let mut out = Vec::new();
        while let Some(b) = answer.up.read_response_body().await.map_err(upstream_err)? {
            out.extend_from_slice(&b);
            if out.len() > limit {
                return Ok(None);
            }
        }
        Ok(Some(out))
    }

    /// No tool was offered: the answer goes to the client as it came.
    async fn plain(
        &mut self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        body: Vec<u8>,
    ) -> Result<()> {
        let answer = self.send(ctx, &body).await?;
        self.pass_through(session, ctx, answer).await
    }

    /// Streams an answer to the client unchanged.
    async fn pass_through(
        &mut self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        mut answer: Answer,
    ) -> Result<()> {
        let mut tap = tap_for(&answer.header);
        ctx.status = answer.header.status.as_u16();
        let mut head = client_head(&answer.header, session);
        let length = answer.header.headers.get("content-length").cloned();
        match length {
            Some(l) => head.insert_header("content-length", l)?,
            _ if session.req_header().version != http::Version::HTTP_10 => {
                head.insert_header("transfer-encoding", "chunked")?
            }
            _ => {}
        }
        session.write_response_header(Box::new(head), false).await?;
        while let Some(b) = answer.up.read_response_body().await.map_err(upstream_err)? {
            tap.feed(&b);
            session.write_response_body(Some(b), false).await?;
        }
        session.write_response_body(None, true).await?;
        tap.finish();
        self.add_usage(ctx, &tap);
        self.release(answer).await;
        Ok(())
    }

    /// Keeps the usage of a stream still open visible to a shutdown that cuts it.
    fn note_live(&self, ctx: &mut RequestCtx, tap: &super::usage::UsageTap) {
        if tap.usage.is_empty() {
            return;
        }
        let mut now = self.usage;
        now.input += tap.usage.input;
        now.output += tap.usage.output;
        now.cache_read += tap.usage.cache_read;
        now.cache_creation += tap.usage.cache_creation;
        ctx.live
            .get_or_insert_with(|| self.proxy.shared.streams.open())
            .set(now);
    }

    fn add_usage(&mut self, ctx: &mut RequestCtx, tap: &super::usage::UsageTap) {
        let u = tap.usage;
        if self.rounds > 0 {
            for (kind, n) in [
                ("input", u.input),
                ("output", u.output),
                ("cache_read", u.cache_read),
                ("cache_creation", u.cache_creation),
            ] {
                crate::metrics::RETRIEVAL_USAGE_TOKENS
                    .with_label_values(&[kind])
                    .inc_by(n);
            }
        }
        self.usage.input += u.input;
        self.usage.output += u.output;
        self.usage.cache_read += u.cache_read;
        self.usage.cache_creation += u.cache_creation;
        if ctx.tap.model.is_none() {
            ctx.tap.model = tap.model.clone();
        }
    }

    /// The tool was offered: answer its calls until the model answers the client.
    async fn served(
        &mut self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        body: Vec<u8>,
        plan: &Plan,
    ) -> Result<()> {
        let answer = self.send(ctx, &body).await?;
        match answer.kind() {
            Kind::Json => self.served_json(session, ctx, body, plan, answer).await,
            Kind::Sse => self.served_sse(session, ctx, body, plan, answer).await,
            Kind::Other => self.pass_through(session, ctx, answer).await,
        }
    }

    async fn served_json(
        &mut self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        mut body: Vec<u8>,
        plan: &Plan,
        mut answer: Answer,
    ) -> Result<()> {
        let mut merger = Merger::new(self.api);
        loop {
            let Some(bytes) = self.read_all(&mut answer, MAX_JSON_ANSWER).await? else {
                return Err(upstream_err(Error::explain(
                    ErrorType::ReadError,
                    "answer too large to read for retrieval calls",
                )));
            };
            let mut tap = tap_for(&answer.header);
            tap.feed(&bytes);
            tap.finish();
            self.add_usage(ctx, &tap);
            let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
            let turn = turn::read_json(self.api, &value);
            let header = answer.header.clone();
            self.release(answer).await;
            let retrieved = turn.as_ref().is_some_and(|t| !t.retrievals.is_empty());
            if let Some(t) = turn.filter(|t| t.served_by_proxy() && self.rounds < plan.max_rounds) {
                let Some(next) = self.continue_with(&body, &t, plan).await else {
                    return self
                        .send_json(session, ctx, &header, merger.finish(value))
                        .await;
                };
                merger.absorb(&value);
                body = next;
                let next_answer = self.send(ctx, &body).await?;
                if next_answer.kind() != Kind::Json {
                    return self.pass_through(session, ctx, next_answer).await;
                }
                answer = next_answer;
                continue;
            }
            let out = if retrieved || self.rounds > 0 {
                merger.finish(value)
            } else {
                bytes
            };
            return self.send_json(session, ctx, &header, out).await;
        }
    }

    async fn send_json(
        &mut self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        upstream: &ResponseHeader,
        body: Vec<u8>,
    ) -> Result<()> {
        ctx.status = upstream.status.as_u16();
        let mut head = client_head(upstream, session);
        head.remove_header("transfer-encoding");
        head.insert_header("content-length", body.len().to_string())?;
        session.write_response_header(Box::new(head), false).await?;
        session
            .write_response_body(Some(Bytes::from(body)), true)
            .await
    }

    /// Answers a turn's calls from the store; the continuation body, or `None` when the
    /// request cannot be continued.
    async fn continue_with(&mut self, body: &[u8], t: &Turn, plan: &Plan) -> Option<Vec<u8>> {
        let mut served = Vec::with_capacity(t.retrievals.len());
        for call in &t.retrievals {
            served.push(Served {
                call_id: call.call_id.clone(),
                answer: lookup(&plan.store, &call.input).await,
            });
        }
        self.rounds += 1;
        continuation::extend(body, self.api, &t.assistant, &served)
    }

    async fn served_sse(
        &mut self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        mut body: Vec<u8>,
        plan: &Plan,
        mut answer: Answer,
    ) -> Result<()> {
        ctx.status = 200;
        let mut head = client_head(&answer.header, session);
        head.remove_header("content-length");
        if session.req_header().version != http::Version::HTTP_10 {
            head.insert_header("transfer-encoding", "chunked")?;
        }
        session.write_response_header(Box::new(head), false).await?;
        let mut stream = EventStream::new(self.api);
        loop {
            let mut tap = tap_for(&answer.header);
            while let Some(b) = answer.up.read_response_body().await.map_err(upstream_err)? {
                tap.feed(&b);
                self.note_live(ctx, &tap);
                let out = stream.feed(&b);
                if !out.is_empty() {
                    session
                        .write_response_body(Some(Bytes::from(out)), false)
                        .await?;
                }
            }
            tap.finish();
            self.add_usage(ctx, &tap);
            self.release(answer).await;
            let (rest, t) = stream.end_round();
            if !rest.is_empty() {
                session
                    .write_response_body(Some(Bytes::from(rest)), false)
                    .await?;
            }
            let more = t.served_by_proxy() && self.rounds < plan.max_rounds && !stream.errored();
            let next = match more {
                true => self.continue_with(&body, &t, plan).await,
                false => None,
            };
            let Some(next) = next else {
                let out = stream.release(t.served_by_proxy());
                return session
                    .write_response_body(Some(Bytes::from(out)), true)
                    .await;
            };
            body = next;
            stream.next_round();
            let next_answer = match self.send(ctx, &body).await {
                Ok(a) => a,
                Err(e) => {
                    let err = super::errors::from_pingora(&e, ctx.upstream().name);
                    return self.stream_error(session, err).await;
                }
            };
            if next_answer.kind() != Kind::Sse {
                let status = next_answer.header.status.as_u16();
                self.release(next_answer).await;
                let err = ProxyError {
                    status,
                    kind: if status == 429 { "rate_limit_error" } else { "api_error" },
                    message: format!(
                        "headroom: the upstream answered a retrieval continuation with status {status}"
                    ),
                };
                return self.stream_error(session, Some(err)).await;
            }
            answer = next_answer;
        }
    }

    /// Ends a stream whose status line already went out with the provider's error event.
    async fn stream_error(&mut self, session: &mut Session, err: Option<ProxyError>) -> Result<()> {
        let err = err.unwrap_or(ProxyError {
            status: 502,
            kind: "api_error",
            message: "headroom: the retrieval continuation failed".into(),
        });
        let ev = match self.api {
            Api::Anthropic => format!(
                "event: error\ndata: {}\n\n",
                String::from_utf8_lossy(&err.body())
            ),
            Api::OpenAi => format!("data: {}\n\n", String::from_utf8_lossy(&err.openai_body())),
        };
        crate::metrics::REQUEST_ERRORS
            .with_label_values(&["upstream_interrupted"])
            .inc();
        session
            .write_response_body(Some(Bytes::from(ev)), true)
            .await
    }
}

/// Answers one call from the store, counting it.
async fn lookup(store: &Arc<dyn OriginalsStore>, input: &str) -> ToolAnswer {
    let a = match answer::parse_input(input) {
        Err(message) => answer::invalid(message),
        Ok(req) => {
            let found = if headroom_store::is_id(&req.id) {
                store.get(&req.id).await.ok().flatten()
            } else {
                None
            };
            answer::answer(&req, found.as_ref())
        }
    };
    crate::retrieval::record(crate::retrieval::Source::Tool, a.hit, a.bytes);
    a
}

/// The client's response head from an upstream one: hop-by-hop and framing headers dropped
/// (the caller sets the framing).
fn client_head(upstream: &ResponseHeader, session: &Session) -> ResponseHeader {
    let mut head = upstream.clone();
    for name in [
        "connection",
        "keep-alive",
        "transfer-encoding",
        "content-length",
        "trailer",
    ] {
        head.remove_header(name);
    }
    if session.req_header().version == http::Version::HTTP_10 {
        head.remove_header("transfer-encoding");
    }
    head
}

fn tap_for(h: &ResponseHeader) -> super::usage::UsageTap {
    let header = |n: &str| h.headers.get(n).and_then(|v| v.to_str().ok());
    super::usage::UsageTap::for_response(header("content-type"), header("content-encoding"))
}

/// An error that a connection closed under the request causes (worth one retry on a fresh
/// connection when the failed one was pooled).
fn stale(e: &Error) -> bool {
    matches!(
        e.etype(),
        ErrorType::ConnectionClosed | ErrorType::WriteError | ErrorType::ReadError
    )
}

fn downstream_err(mut e: Box<Error>) -> Box<Error> {
    e.esource = ErrorSource::Downstream;
    e
}

fn upstream_err(mut e: Box<Error>) -> Box<Error> {
    if e.esource == ErrorSource::Unset || e.esource == ErrorSource::Internal {
        e.esource = ErrorSource::Upstream;
    }
    e
}
