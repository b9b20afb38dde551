//! Routes the proxy answers itself: `/health` (`?verbose=1` for details), `/metrics`, `/stats`,
//! `/stats/history`, `/dashboard` (+ `/dashboard/data`), and error responses.
//!
//! Must never: expose credentials, header values or prompt text.

use super::errors::ProxyError;
use super::routes::{Route, UpstreamKind};
use crate::state::Shared;
use crate::stats::history::Period;
use crate::stats::persist::Ledger;
use crate::stats::query::Scope;
use bytes::Bytes;
use pingora::http::ResponseHeader;
use pingora_core::Result;
use pingora_proxy::Session;
use std::sync::Arc;

/// The exact body of `GET /health`.
pub const HEALTHY: &[u8] = br#"{"status":"healthy"}"#;

/// Answers a local route; returns the status sent.
pub async fn respond(
    session: &mut Session,
    route: Route,
    query: &str,
    shared: &Arc<Shared>,
) -> Result<u16> {
    let (content_type, body): (&str, Vec<u8>) = match route {
        Route::Health if query_flag(query, "verbose") => {
            ("application/json", crate::observe::health_verbose(shared))
        }
        Route::Health | Route::Live => ("application/json", HEALTHY.to_vec()),
        Route::Ready => {
            let (status, body) = readiness(shared).await;
            send(session, status, "application/json", body).await?;
            return Ok(status);
        }
        Route::Metrics => {
            crate::retrieval::refresh_gauges(&shared.originals.stats());
            if let Some(team) = shared.team() {
                team.sync_metrics();
            }
            (
                "text/plain; version=0.0.4; charset=utf-8",
                crate::metrics::render(),
            )
        }
        Route::Stats => ("application/json", stats_with_retrieval(shared).await),
        Route::Retrieve => return super::retrieve::respond(session, query, shared).await,
        Route::StatsHistory => {
            let now = crate::stats::persist::now_unix();
            match crate::stats::query::HistoryQuery::parse(query, now) {
                Ok(q) => {
                    let ranges = [(q.period, q.from, q.to)];
                    let (ledger, scope) = history_source(shared, now, &ranges).await;
                    let (ct, body) = q.render(&ledger, &shared.snapshot().config.pricing, scope);
                    let header = ("x-headroom-scope", scope.label());
                    send_with(session, 200, ct, &[header], body).await?;
                    return Ok(200);
                }
                Err(message) => {
                    let err = ProxyError {
                        status: 400,
                        kind: "invalid_request_error",
                        message: format!("headroom: /stats/history: {message}"),
                    };
                    respond_error(session, &err, UpstreamKind::Anthropic).await?;
                    return Ok(400);
                }
            }
        }
        Route::Dashboard => {
            let page = crate::dashboard::PAGE.as_bytes().to_vec();
            let csp = (
                "content-security-policy",
                crate::dashboard::CONTENT_SECURITY_POLICY,
            );
            send_with(session, 200, "text/html; charset=utf-8", &[csp], page).await?;
            return Ok(200);
        }
        Route::DashboardData => {
            let now = crate::stats::persist::now_unix();
            let (hours, days) = crate::dashboard::ranges(now);
            let ranges = [
                (Period::Hour, hours.0, hours.1),
                (Period::Day, days.0, days.1),
            ];
            let (ledger, scope) = history_source(shared, now, &ranges).await;
            (
                "application/json",
                crate::dashboard::data(shared, crate::stats::global(), &ledger, scope),
            )
        }
        Route::Upstream { .. } => return Ok(0),
    };
    send(session, 200, content_type, body).await?;
    Ok(200)
}

/// The buckets behind `/stats/history` and the dashboard: the team's from Redis on a gateway
/// (this replica's own, flagged, when Redis cannot answer now), else this proxy's.
async fn history_source(
    shared: &Arc<Shared>,
    now: i64,
    ranges: &[(Period, i64, i64)],
) -> (Ledger, Scope) {
    let Some(team) = shared.team() else {
        return (crate::stats::global().ledger(), Scope::Local);
    };
    match team.history(now, ranges).await {
        Some(ledger) => (ledger, Scope::Team),
        None => (crate::stats::global().ledger(), Scope::ReplicaFallback),
    }
}

/// `GET /stats`: the team's shared totals on a gateway with Redis (this replica's own when
/// Redis cannot answer now, said in `totals_scope`), else this proxy's.
async fn stats_json(shared: &Arc<Shared>) -> Vec<u8> {
    let pricing = &shared.snapshot().config.pricing;
    let stats = crate::stats::global();
    let Some(team) = shared.team() else {
        return stats.render_json(pricing);
    };
    match team.ledger(crate::stats::persist::now_unix()).await {
        Some(ledger) => stats.render_json_over(&ledger, pricing, "team (shared in Redis)"),
        None => stats.render_json_over(
            &stats.ledger(),
            pricing,
            "this replica only: Redis is unavailable",
        ),
    }
}

/// `GET /health/ready`: 200 once listening with the config and model loaded and Redis
/// reached (when configured); 503 while draining after SIGTERM, so balancers stop sending.
async fn readiness(shared: &Arc<Shared>) -> (u16, Vec<u8>) {
    use std::sync::atomic::Ordering;
    let snap = shared.snapshot();
    let mut problems: Vec<&str> = Vec::new();
    if shared.is_draining() {
        problems.push("draining");
    }
    if !shared.listening.load(Ordering::Acquire) {
        problems.push("not listening yet");
    }
    if snap.config.model.enabled && snap.text.is_none() {
        problems.push("model not loaded");
    }
    let redis = match shared.team() {
        None => "not configured",
        Some(t) if t.reachable().await => "reachable",
        // Once a replica has reached Redis, losing it is not a reason to take the replica out
        // of rotation: every replica shares that Redis, so all would go unready at once while
        // each can still serve on its local tiers. It is reported, not failed.
        Some(t) if t.was_reached() => "unreachable (serving on local tiers)",
        Some(_) => {
            problems.push("redis unreachable");
            "unreachable"
        }
    };
    let ready = problems.is_empty();
    let doc = serde_json::json!({
        "status": if ready { "ready" } else { "not_ready" },
        "problems": problems,
        "redis": redis,
    });
    (
        if ready { 200 } else { 503 },
        serde_json::to_vec(&doc).unwrap_or_default(),
    )
}

/// `/stats`: the savings document with a `retrieval` section (store figures, retrievals).
async fn stats_with_retrieval(shared: &Arc<Shared>) -> Vec<u8> {
    let doc = stats_json(shared).await;
    let Ok(serde_json::Value::Object(mut o)) = serde_json::from_slice(&doc) else {
        return doc;
    };
    o.insert(
        "retrieval".into(),
        crate::retrieval::stats_json(
            shared.originals.as_ref(),
            shared.snapshot().config.retrieval.enabled,
        ),
    );
    serde_json::to_vec_pretty(&o).unwrap_or(doc)
}

/// Sends an error in the shape of the provider the route belongs to.
pub async fn respond_error(
    session: &mut Session,
    err: &ProxyError,
    provider: UpstreamKind,
) -> Result<()> {
    send(
        session,
        err.status,
        "application/json",
        err.body_for(provider.error_shape()),
    )
    .await
}

pub(super) async fn send(
    session: &mut Session,
    status: u16,
    content_type: &str,
    body: Vec<u8>,
) -> Result<()> {
    send_with(session, status, content_type, &[], body).await
}

async fn send_with(
    session: &mut Session,
    status: u16,
    content_type: &str,
    extra: &[(&'static str, &'static str)],
    body: Vec<u8>,
) -> Result<()> {
    let head_only = session.req_header().method == http::Method::HEAD;
    let mut resp = ResponseHeader::build(status, Some(4 + extra.len()))?;
    for (k, v) in extra {
        resp.insert_header(*k, *v)?;
    }
    resp.insert_header("content-type", content_type)?;
    resp.insert_header("content-length", body.len().to_string())?;
    resp.insert_header("cache-control", "no-store")?;
    session
        .write_response_header(Box::new(resp), head_only)
        .await?;
    if !head_only {
        session
            .write_response_body(Some(Bytes::from(body)), true)
            .await?;
    }
    Ok(())
}

pub(super) fn query_flag(query: &str, name: &str) -> bool {
    query.split('&').any(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, "1"));
        k == name && !matches!(v, "0" | "false" | "no")
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_query_flags() {
        assert!(super::query_flag("verbose=1", "verbose"));
        assert!(super::query_flag("a=b&verbose", "verbose"));
        assert!(!super::query_flag("verbose=0", "verbose"));
        assert!(!super::query_flag("", "verbose"));
    }
}
