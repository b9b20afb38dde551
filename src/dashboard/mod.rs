//! `GET /dashboard` (one self-contained page: inline CSS and JS, hand-drawn SVG, no external
//! asset of any kind) and `GET /dashboard/data`, the JSON document the page polls.
//!
//! Must never: load or link anything off the machine; put header values, query strings or
//! prompt text in the data (the page shows counts, names, timings and statuses only).

use crate::state::Shared;
use crate::stats::history::{Period, DAY, HOUR};
use crate::stats::persist::{now_unix, Ledger};
use crate::stats::query::Scope;
use crate::stats::Stats;
use std::time::UNIX_EPOCH;

/// The page, served as is.
pub const PAGE: &str = include_str!("page.html");

/// What the page may load: itself, inline code, and `/dashboard/data` from the same origin.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'unsafe-inline'; \
style-src 'unsafe-inline'; img-src data:; connect-src 'self'; base-uri 'none'; form-action 'none'; \
frame-ancestors 'none'";

/// Hourly buckets sent to the page: enough for "today" in any time zone, the last 7 days and
/// the 24-hour chart.
const HOURS_SENT: i64 = 8 * 24;
/// Daily buckets sent for the 30-day chart.
const DAYS_SENT: i64 = 30;

/// The `[from, to)` of the hourly and of the daily buckets the page shows.
pub fn ranges(now: i64) -> ((i64, i64), (i64, i64)) {
    let hour_end = Period::Hour.start_of(now) + HOUR;
    let day_end = Period::Day.start_of(now) + DAY;
    (
        (hour_end - HOURS_SENT * HOUR, hour_end),
        (day_end - DAYS_SENT * DAY, day_end),
    )
}

/// The document behind the page, over `ledger` (the team's on a gateway with Redis, said in
/// `scope`).
pub fn data(shared: &Shared, stats: &Stats, ledger: &Ledger, scope: Scope) -> Vec<u8> {
    let snap = shared.snapshot();
    let pricing = &snap.config.pricing;
    let now = now_unix();
    let bucket = |(start, t): (i64, &crate::stats::Totals)| {
        let m = t.money(pricing);
        serde_json::json!({
            "start_unix": start,
            "requests": t.requests,
            "tokens_before": t.tokens_before,
            "tokens_after": t.tokens_after,
            "dollars_saved": m.saved,
            "dollars_spent": m.spent,
        })
    };
    let (hour_range, day_range) = ranges(now);
    let hours: Vec<_> = ledger
        .history
        .range(Period::Hour, hour_range.0, hour_range.1)
        .map(bucket)
        .collect();
    let days: Vec<_> = ledger
        .history
        .range(Period::Day, day_range.0, day_range.1)
        .map(bucket)
        .collect();
    let reload = shared.last_reload.lock().ok().and_then(|r| r.clone());
    let doc = serde_json::json!({
        "now_unix": now,
        "scope": scope.label(),
        "scope_note": scope.note(),
        "lifetime": ledger.totals.view(pricing),
        "hours": hours,
        "days": days,
        "recent": stats.recent(),
        "health": {
            "version": env!("CARGO_PKG_VERSION"),
            "uptime_seconds": shared.started.elapsed().as_secs(),
            "model_device": snap.model_device().map(|d| d.as_str()),
            "compression_enabled": snap.config.compression.enabled,
            "last_reload": reload.map(|r| serde_json::json!({
                "at_unix": r.at.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
                "result": if r.ok { "ok" } else { "error" },
            })),
            "stats_write_error": stats.last_write_error().map(|e| e.message),
        },
    });
    serde_json::to_vec(&doc).unwrap_or_default()
}
