//! Wiring of the team gateway into the proxy: the Redis-backed shared state (built when
//! `state.redis_url` is set), pushing this replica's savings to the shared buckets every flush
//! interval, reading the team's totals and history back for `/stats`, `/stats/history` and the
//! dashboard, the pipeline's shared result cache (`results`), readiness, and the team metrics
//! (Redis health, per-token usage). The logic lives in `headroom-team`; this is glue.
//!
//! Must never: make a request wait on Redis past `state.timeout_ms` (every call runs on the
//! team runtime under the client's timeout), lose or double-count a flush (a batch keeps its id
//! until Redis confirms it), or label a metric with anything but a configured token name.

mod results;

use crate::stats::history::{Period, DAY, DAY_RETENTION_DAYS, HOUR_RETENTION_DAYS};
use crate::stats::persist::Ledger;
use crate::stats::Totals;
use headroom_team::{Bucket, Fields, Redis, Retention, SharedResults, SharedSavings, StateConfig};
use prometheus::{
    register_int_counter, register_int_counter_vec, register_int_gauge, IntCounter, IntCounterVec,
    IntGauge,
};
use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

static REDIS_ERRORS: LazyLock<IntCounter> = LazyLock::new(|| {
    register_int_counter!(
        "headroom_redis_errors_total",
        "Redis calls that failed or timed out (the proxy kept serving on its local tiers)"
    )
    .expect("metric registers once")
});
static REDIS_OPS: LazyLock<IntCounter> = LazyLock::new(|| {
    register_int_counter!(
        "headroom_redis_operations_total",
        "Redis round trips attempted"
    )
    .expect("metric registers once")
});
static REDIS_SKIPPED: LazyLock<IntCounter> = LazyLock::new(|| {
    register_int_counter!(
        "headroom_redis_skipped_total",
        "Redis calls skipped while the circuit breaker was open"
    )
    .expect("metric registers once")
});
static REDIS_DROPPED: LazyLock<IntCounter> = LazyLock::new(|| {
    register_int_counter!(
        "headroom_redis_dropped_writes_total",
        "Queued Redis writes dropped (queue full or Redis down)"
    )
    .expect("metric registers once")
});
static REDIS_BYTES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "headroom_redis_bytes_total",
        "Bytes sent to and payload bytes received from Redis",
        &["direction"]
    )
    .expect("metric registers once")
});
static REDIS_UP: LazyLock<IntGauge> = LazyLock::new(|| {
    register_int_gauge!(
        "headroom_redis_up",
        "1 while Redis's circuit is closed, 0 while it is open or probing"
    )
    .expect("metric registers once")
});
static TEAM_FLUSHES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "headroom_team_flushes_total",
        "Pushes of this replica's savings to the shared totals",
        &["result"]
    )
    .expect("metric registers once")
});
static TOKEN_REQUESTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "headroom_token_requests_total",
        "Requests by gateway token name (auth.tokens)",
        &["token"]
    )
    .expect("metric registers once")
});
static TOKEN_SAVED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "headroom_token_tokens_saved_total",
        "Input tokens compression saved, by gateway token name",
        &["token"]
    )
    .expect("metric registers once")
});
static TOKEN_REFUSED: LazyLock<IntCounter> = LazyLock::new(|| {
    register_int_counter!(
        "headroom_token_refused_total",
        "Requests refused with 401 for a missing or unknown gateway token"
    )
    .expect("metric registers once")
});

/// Counts one request of a configured token (names come from the config: a bounded set).
pub fn count_token(name: &str, before: u64, after: u64) {
    TOKEN_REQUESTS.with_label_values(&[name]).inc();
    TOKEN_SAVED
        .with_label_values(&[name])
        .inc_by(before.saturating_sub(after));
}

pub fn count_refused() {
    TOKEN_REFUSED.inc();
}

/// One push of savings: its id (replica and sequence number) and its buckets.
type Batch = (String, BTreeMap<Bucket, Fields>);

/// The shared state of a team gateway.
pub struct Team {
    /// Drives the Redis connection and the write queue; every Redis call runs here.
    runtime: tokio::runtime::Runtime,
    pub redis: Arc<Redis>,
    savings: Arc<SharedSavings>,
    pub results: Arc<SharedResults>,
    /// `results` as the compression pipeline's shared cache hook.
    result_cache: Arc<results::RedisResultCache>,
    replica: String,
    /// The batch being pushed: its id and buckets, kept until Redis confirms it.
    batch: Mutex<(u64, Option<Batch>)>,
    /// Redis answered at least once since start (readiness needs it once, not always).
    reached: std::sync::atomic::AtomicBool,
}

impl Team {
    /// Sets up the Redis handle (no connection yet: Redis may come up after the proxy).
    pub fn start(config: &StateConfig) -> Result<Arc<Team>, String> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("headroom-team")
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the team runtime: {e}"))?;
        let redis = runtime
            .block_on(async { Redis::open(config) })
            .map_err(|e| e.to_string())?;
        let retention = Retention {
            hour_seconds: (HOUR_RETENTION_DAYS * DAY) as u64,
            day_seconds: (DAY_RETENTION_DAYS * DAY) as u64,
        };
        let replica = format!(
            "{}-{}-{}",
            std::env::var("HOSTNAME").unwrap_or_else(|_| "replica".into()),
            std::process::id(),
            crate::stats::persist::now_unix()
        );
        crate::stats::global().share_with_team();
        LazyLock::force(&REDIS_ERRORS);
        let results = Arc::new(SharedResults::new(
            redis.clone(),
            config.results_ttl_seconds,
        ));
        Ok(Arc::new(Team {
            savings: Arc::new(SharedSavings::new(redis.clone(), retention)),
            result_cache: Arc::new(results::RedisResultCache::new(
                runtime.handle().clone(),
                results.clone(),
                config.timeout_ms,
            )),
            results,
            redis,
            runtime,
            replica,
            batch: Mutex::new((0, None)),
            reached: std::sync::atomic::AtomicBool::new(false),
        }))
    }

    /// The shared result cache, for the compression pipeline.
    pub fn result_cache(&self) -> Arc<dyn headroom_compress::SharedCache> {
        self.result_cache.clone()
    }

    /// Runs `f` on the team runtime and waits for it (the Redis timeout bounds it).
    async fn on_runtime<T: Send + 'static>(
        &self,
        f: impl std::future::Future<Output = T> + Send + 'static,
    ) -> Option<T> {
        self.runtime.spawn(f).await.ok()
    }

    /// Pushes what this replica counted since its last push. A failed push keeps its batch
    /// (same id) for the next call, so the team totals get every record exactly once.
    pub async fn flush(&self) -> bool {
        let (id, buckets) = {
            let Ok(mut b) = self.batch.lock() else {
                return false;
            };
            if b.1.is_none() {
                let pending = crate::stats::global().take_team_pending();
                if pending.is_empty() {
                    return true;
                }
                b.0 += 1;
                b.1 = Some((format!("{}:{}", self.replica, b.0), buckets_of(&pending)));
            }
            match &b.1 {
                Some(batch) => batch.clone(),
                None => return true,
            }
        };
        let savings = self.savings.clone();
        let pushed = self
            .on_runtime(async move { savings.add(&id, &buckets).await })
            .await;
        let ok = matches!(pushed, Some(Ok(_)));
        TEAM_FLUSHES
            .with_label_values(&[if ok { "ok" } else { "error" }])
            .inc();
        if ok {
            if let Ok(mut b) = self.batch.lock() {
                b.1 = None;
            }
        }
        ok
    }

    /// The same, from a thread outside any runtime (shutdown).
    pub fn flush_blocking(&self) {
        let deadline = Duration::from_secs(2);
        let _ = self.runtime.block_on(async {
            tokio::time::timeout(deadline, async {
                while !self.flush().await {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            })
            .await
        });
    }

    /// The team's lifetime totals and the last 8 UTC days, plus what this replica has not
    /// pushed yet; `None` when Redis cannot answer now.
    pub async fn ledger(&self, now: i64) -> Option<Ledger> {
        let today = Period::Day.start_of(now);
        self.ledger_of(Vec::new(), (0..8).map(|i| today - i * DAY).collect())
            .await
    }

    /// The team's buckets of each `(period, from, to)`: those starting in `[from, to)` that
    /// Redis can still hold (at most the retention, at most [`MAX_BUCKETS_READ`] a range), the
    /// lifetime totals, and what this replica has not pushed yet; `None` when Redis cannot
    /// answer now.
    pub async fn history(&self, now: i64, ranges: &[(Period, i64, i64)]) -> Option<Ledger> {
        let (mut hours, mut days) = (Vec::new(), Vec::new());
        for (period, from, to) in ranges {
            let (kept, into) = match period {
                Period::Hour => (HOUR_RETENTION_DAYS * DAY, &mut hours),
                Period::Day => (DAY_RETENTION_DAYS * DAY, &mut days),
            };
            let last = (*to).min(period.start_of(now) + period.seconds());
            let first = period.start_of((*from).max(now - kept));
            into.extend(
                (0..MAX_BUCKETS_READ)
                    .map(|i| first + i * period.seconds())
                    .take_while(|s| *s < last),
            );
        }
        self.ledger_of(hours, days).await
    }

    /// The lifetime bucket and the given hour and day buckets from Redis, in one round trip,
    /// plus this replica's unpushed counts (so a replica's own traffic shows at once).
    async fn ledger_of(&self, hours: Vec<i64>, days: Vec<i64>) -> Option<Ledger> {
        let mut wanted = vec![Bucket::Lifetime];
        wanted.extend(hours.iter().map(|h| Bucket::Hour(*h)));
        wanted.extend(days.iter().map(|d| Bucket::Day(*d)));
        // What this replica has not pushed, taken before the read and under the batch lock (a
        // flush moves the pending counts into a new batch under it): the batch being sent, if
        // any, and the pending counts, which the next batch id will carry.
        let (batch, pending, next_id) = {
            let b = self.batch.lock().ok()?;
            let next_id = format!("{}:{}", self.replica, b.0 + 1);
            (b.1.clone(), crate::stats::global().team_pending(), next_id)
        };
        let mut ids: Vec<String> = batch.iter().map(|(id, _)| id.clone()).collect();
        ids.push(next_id);
        let savings = self.savings.clone();
        let (read, applied) = self
            .on_runtime(async move { savings.read(&wanted, &ids).await })
            .await?
            .ok()?;
        let mut ledger = Ledger::default();
        let mut it = read.into_iter();
        ledger.totals = totals_of(&it.next().unwrap_or_default());
        for (hour, fields) in hours.into_iter().zip(it.by_ref()) {
            if !fields.is_empty() {
                ledger.history.hours.insert(hour, totals_of(&fields));
            }
        }
        for (day, fields) in days.into_iter().zip(it) {
            if !fields.is_empty() {
                ledger.history.days.insert(day, totals_of(&fields));
            }
        }
        // Unpushed counts are recent, so inside every range read; readers select their range.
        ledger.add(&not_in_redis(batch.as_ref(), &pending, &applied)?);
        Some(ledger)
    }

    /// Redis answers a PING now.
    pub async fn reachable(&self) -> bool {
        let redis = self.redis.clone();
        let up = self
            .on_runtime(async move { redis.ping().await })
            .await
            .unwrap_or(false);
        if up {
            self.reached
                .store(true, std::sync::atomic::Ordering::Release);
        }
        up
    }

    /// Redis answered at least once since this process started.
    pub fn was_reached(&self) -> bool {
        self.reached.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Brings the Redis counters of `/metrics` up to date.
    pub fn sync_metrics(&self) {
        let c = self.redis.counts();
        let raise = |m: &IntCounter, v: u64| m.inc_by(v.saturating_sub(m.get()));
        raise(&REDIS_ERRORS, c.errors);
        raise(&REDIS_OPS, c.ops);
        raise(&REDIS_SKIPPED, c.skipped);
        raise(&REDIS_DROPPED, c.dropped_writes);
        raise(&REDIS_BYTES.with_label_values(&["sent"]), c.bytes_sent);
        raise(
            &REDIS_BYTES.with_label_values(&["received"]),
            c.bytes_received,
        );
        REDIS_UP.set(i64::from(
            self.redis.breaker_state() == headroom_team::BreakerState::Closed,
        ));
    }

    /// `/health?verbose=1`'s `redis` object.
    pub fn health(&self) -> serde_json::Value {
        let c = self.redis.counts();
        serde_json::json!({
            "url": self.redis.url(),
            "circuit": self.redis.breaker_state().as_str(),
            "errors": c.errors,
            "operations": c.ops,
            "skipped": c.skipped,
            "dropped_writes": c.dropped_writes,
        })
    }
}

/// Most buckets one history read asks Redis for (92 days of hours is 2,208).
pub const MAX_BUCKETS_READ: i64 = 2_400;

/// Separator of flattened field paths (never part of a model, compressor or token name).
const SEP: char = '|';

/// `Totals` as `path|to|counter → amount` (zeros left out).
pub fn flatten(t: &Totals) -> Fields {
    fn walk(prefix: &str, v: &serde_json::Value, out: &mut Fields) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, v) in m {
                    let p = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}{SEP}{k}")
                    };
                    walk(&p, v, out);
                }
            }
            serde_json::Value::Number(n) => {
                if let Some(n) = n.as_u64().filter(|n| *n > 0) {
                    out.insert(prefix.to_string(), n);
                }
            }
            _ => {}
        }
    }
    let mut out = Fields::new();
    if let Ok(v) = serde_json::to_value(t) {
        walk("", &v, &mut out);
    }
    out
}

/// The inverse of [`flatten`]; unknown paths are ignored.
pub fn totals_of(fields: &Fields) -> Totals {
    fn insert(at: &mut serde_json::Map<String, serde_json::Value>, parts: &[&str], n: u64) {
        match parts {
            [] => {}
            [last] => {
                at.insert(last.to_string(), n.into());
            }
            [dir, rest @ ..] => {
                let next = at
                    .entry(dir.to_string())
                    .or_insert_with(|| serde_json::Value::Object(Default::default()));
                if let Some(m) = next.as_object_mut() {
                    insert(m, rest, n);
                }
            }
        }
    }
    let mut root = serde_json::Map::new();
    for (path, n) in fields {
        let parts: Vec<&str> = path.split(SEP).collect();
        insert(&mut root, &parts, *n);
    }
    serde_json::from_value(serde_json::Value::Object(root)).unwrap_or_default()
}

fn buckets_of(l: &Ledger) -> BTreeMap<Bucket, Fields> {
    let mut out = BTreeMap::new();
    out.insert(Bucket::Lifetime, flatten(&l.totals));
    for (h, t) in &l.history.hours {
        out.insert(Bucket::Hour(*h), flatten(t));
    }
    for (d, t) in &l.history.days {
        out.insert(Bucket::Day(*d), flatten(t));
    }
    out
}

/// What of a replica's unpushed counts (the batch being sent, the pending counts that the
/// next batch id carries) Redis did not hold at the read, given `applied` for those ids in
/// that order: whatever Redis applied by then is in the read already, so a flush running
/// meanwhile neither doubles nor drops a replica's counts.
fn not_in_redis(batch: Option<&Batch>, pending: &Ledger, applied: &[bool]) -> Option<Ledger> {
    let (batch_left, pending_applied) = match (batch, applied) {
        (Some((_, buckets)), [false, p]) => (Some(buckets), *p),
        (Some(_), [true, p]) | (None, [p]) => (None, *p),
        _ => return None,
    };
    let mut out = batch_left.map(ledger_of).unwrap_or_default();
    if !pending_applied {
        out.add(pending);
    }
    Some(out)
}

fn ledger_of(buckets: &BTreeMap<Bucket, Fields>) -> Ledger {
    let mut l = Ledger::default();
    for (b, f) in buckets {
        match b {
            Bucket::Lifetime => l.totals = totals_of(f),
            Bucket::Hour(h) => {
                l.history.hours.insert(*h, totals_of(f));
            }
            Bucket::Day(d) => {
                l.history.days.insert(*d, totals_of(f));
            }
        }
    }
    l
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flush_during_a_read_neither_doubles_nor_drops_unpushed_counts() {
        let with = |requests| {
            let mut l = Ledger::default();
            l.totals.requests = requests;
            l
        };
        let sent = with(5);
        let batch: Batch = ("r:3".into(), buckets_of(&sent));
        let pending = with(2);
        let requests = |applied: &[bool], batch: Option<&Batch>| {
            not_in_redis(batch, &pending, applied).map(|l| l.totals.requests)
        };
        // Nothing landed by the read: both are added.
        assert_eq!(requests(&[false, false], Some(&batch)), Some(7));
        // The batch landed (Redis counts its 5): only the pending 2.
        assert_eq!(requests(&[true, false], Some(&batch)), Some(2));
        // Both landed, the pending counts as the next batch: Redis has everything.
        assert_eq!(requests(&[true, true], Some(&batch)), Some(0));
        // No batch in flight; the pending counts went out as the next one, or did not.
        assert_eq!(requests(&[true], None), Some(0));
        assert_eq!(requests(&[false], None), Some(2));
        // Replies that do not match the ids asked: no figure rather than a wrong one.
        assert_eq!(requests(&[false], Some(&batch)), None);
    }

    #[test]
    fn totals_survive_flattening_model_names_with_dots_included() {
        let mut t = Totals {
            requests: 3,
            tokens_before: 9000,
            tokens_after: 1200,
            ..Default::default()
        };
        let m = t.model_entry("gpt-4.1-mini");
        m.requests = 2;
        m.upstream_usage.input = 77;
        t.outcomes.insert("compressed".into(), 4);
        t.tokens.insert("alice".into(), Default::default());
        t.tokens.get_mut("alice").unwrap().requests = 1;
        let f = flatten(&t);
        assert_eq!(f.get("models|gpt-4.1-mini|upstream_usage|input"), Some(&77));
        assert_eq!(totals_of(&f), t);
        let mut twice = t.clone();
        twice.add(&t);
        let mut doubled = f.clone();
        doubled.values_mut().for_each(|v| *v *= 2);
        assert_eq!(totals_of(&doubled), twice, "adding fields is adding totals");
    }
}
