//! The metrics every proxied request writes — `headroom_requests_total`,
//! `headroom_request_duration_seconds`, `headroom_upstream_duration_seconds` and
//! `headroom_upstream_usage_tokens_total` — counted per thread and summed when scraped.
//!
//! The prometheus crate's own counters and histograms are atomics every thread adds to: with
//! both workers writing them, each request's ~11 additions moved cache lines between the cores.
//! Here a thread adds to counts of its own, behind a lock only a scrape also takes.
//!
//! Must never: lose a count (a thread's counts outlive the thread), or expose other names,
//! labels, buckets or values than the prometheus crate's own counters and histograms would.

use crate::usage::Usage;
use prometheus::core::{Collector, Desc};
use prometheus::proto;
use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

/// Buckets from 50 µs to 10 min, roughly ×2.5 apart (every duration histogram's).
pub const DURATION_BUCKETS: [f64; 22] = [
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 5.0, 10.0, 25.0, 60.0, 150.0, 300.0, 600.0,
];

/// Usage kinds, as the `kind` label names them.
const USAGE_KINDS: [&str; 4] = ["input", "output", "cache_read", "cache_creation"];

/// One histogram's observations: per-bucket counts (not cumulative; the last slot is above
/// every bound), their sum and count.
#[derive(Debug, Clone, Default)]
struct Hist {
    buckets: [u64; DURATION_BUCKETS.len() + 1],
    sum: f64,
    count: u64,
}

impl Hist {
    fn observe(&mut self, v: f64) {
        // As prometheus does: the first bound the value is not above (NaN lands above all).
        let i = DURATION_BUCKETS
            .iter()
            .position(|b| v <= *b)
            .unwrap_or(DURATION_BUCKETS.len());
        self.buckets[i] += 1;
        self.sum += v;
        self.count += 1;
    }

    fn add(&mut self, other: &Hist) {
        for (a, b) in self.buckets.iter_mut().zip(other.buckets) {
            *a += b;
        }
        self.sum += other.sum;
        self.count += other.count;
    }
}

/// Label values are `&'static str` from bounded sets: found by address and length, without
/// hashing; merged by their text when scraped.
trait Labels: Copy {
    fn same(self, other: Self) -> bool;
}

impl Labels for &'static str {
    fn same(self, other: Self) -> bool {
        std::ptr::eq(self, other)
    }
}

impl Labels for (&'static str, &'static str) {
    fn same(self, other: Self) -> bool {
        self.0.same(other.0) && self.1.same(other.1)
    }
}

/// One thread's counts.
#[derive(Debug, Default)]
struct Counts {
    requests: Vec<((&'static str, &'static str), u64)>,
    durations: Vec<(&'static str, Hist)>,
    upstream: Vec<(&'static str, Hist)>,
    /// Tokens by kind, in [`USAGE_KINDS`] order.
    usage: [u64; 4],
}

fn entry<K: Labels, T: Default>(list: &mut Vec<(K, T)>, label: K) -> &mut T {
    let at = match list.iter().position(|(l, _)| l.same(label)) {
        Some(at) => at,
        None => {
            list.push((label, T::default()));
            list.len() - 1
        }
    };
    &mut list[at].1
}

/// A thread's counts on a cache line pair of their own.
#[repr(align(128))]
#[derive(Debug, Default)]
struct Shard(Mutex<Counts>);

impl Shard {
    fn with(&self, f: impl FnOnce(&mut Counts)) {
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// Every thread's shard, for the scrape.
static SHARDS: Mutex<Vec<Arc<Shard>>> = Mutex::new(Vec::new());

thread_local! {
    static MINE: Arc<Shard> = register();
}

/// Counts made by threads being torn down (their own shard is gone), shared by them all.
static LATE: LazyLock<Arc<Shard>> = LazyLock::new(register);

fn register() -> Arc<Shard> {
    let shard = Arc::new(Shard::default());
    SHARDS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(shard.clone());
    shard
}

fn with_mine(f: impl FnOnce(&mut Counts)) {
    let mut f = Some(f);
    let _ = MINE.try_with(|s| f.take().map(|f| s.with(f)));
    if let Some(f) = f {
        LATE.with(f);
    }
}

impl Counts {
    fn request(
        &mut self,
        route: &'static str,
        status: &'static str,
        seconds: f64,
        usage: [u64; 4],
    ) {
        *entry(&mut self.requests, (route, status)) += 1;
        entry(&mut self.durations, route).observe(seconds);
        for (total, v) in self.usage.iter_mut().zip(usage) {
            *total += v;
        }
    }

    fn upstream(&mut self, name: &'static str, seconds: f64) {
        entry(&mut self.upstream, name).observe(seconds);
    }
}

/// A finished request: `headroom_requests_total{route,status}` += 1, one
/// `headroom_request_duration_seconds{route}` observation, and the usage the upstream reported
/// added to `headroom_upstream_usage_tokens_total{kind}`.
pub fn request_done(route: &'static str, status: &'static str, seconds: f64, usage: &Usage) {
    let by_kind = [
        usage.input,
        usage.output,
        usage.cache_read,
        usage.cache_creation,
    ];
    with_mine(|c| c.request(route, status, seconds, by_kind))
}

/// One `headroom_upstream_duration_seconds{upstream}` observation.
pub fn observe_upstream_duration(upstream: &'static str, seconds: f64) {
    with_mine(|c| c.upstream(upstream, seconds))
}

/// The four families as collected from every shard.
struct PerThread {
    descs: [Desc; 4],
}

const REQUESTS: (&str, &str) = (
    "headroom_requests_total",
    "Requests handled, by route and response status.",
);
const REQUEST_DURATION: (&str, &str) = (
    "headroom_request_duration_seconds",
    "Time from request start to the last response byte, by route.",
);
const UPSTREAM_DURATION: (&str, &str) = (
    "headroom_upstream_duration_seconds",
    "Time from sending the request upstream to its response headers, by upstream.",
);
const UPSTREAM_USAGE: (&str, &str) = (
    "headroom_upstream_usage_tokens_total",
    "Token usage reported by the upstream, by kind (input, output, cache_read, cache_creation).",
);

fn desc((name, help): (&str, &str), labels: &[&str]) -> Desc {
    Desc::new(
        name.to_string(),
        help.to_string(),
        labels.iter().map(|l| l.to_string()).collect(),
        Default::default(),
    )
    .expect("a valid metric name and labels")
}

fn labels(pairs: &[(&str, &str)]) -> Vec<proto::LabelPair> {
    pairs
        .iter()
        .map(|(name, value)| {
            let mut l = proto::LabelPair::default();
            l.set_name(name.to_string());
            l.set_value(value.to_string());
            l
        })
        .collect()
}

fn family(
    (name, help): (&str, &str),
    kind: proto::MetricType,
    metrics: Vec<proto::Metric>,
) -> proto::MetricFamily {
    let mut f = proto::MetricFamily::default();
    f.set_name(name.to_string());
    f.set_help(help.to_string());
    f.set_field_type(kind);
    f.set_metric(metrics);
    f
}

fn counter(pairs: &[(&str, &str)], value: u64) -> proto::Metric {
    let mut c = proto::Counter::default();
    c.set_value(value as f64);
    let mut m = proto::Metric::from_label(labels(pairs));
    m.set_counter(c);
    m
}

fn histogram(pairs: &[(&str, &str)], h: &Hist) -> proto::Metric {
    let mut p = proto::Histogram::default();
    p.set_sample_sum(h.sum);
    p.set_sample_count(h.count);
    let mut cumulative = 0;
    let buckets = DURATION_BUCKETS
        .iter()
        .zip(h.buckets)
        .map(|(bound, n)| {
            cumulative += n;
            let mut b = proto::Bucket::default();
            b.set_cumulative_count(cumulative);
            b.set_upper_bound(*bound);
            b
        })
        .collect();
    p.set_bucket(buckets);
    let mut m = proto::Metric::from_label(labels(pairs));
    m.set_histogram(p);
    m
}

impl Collector for PerThread {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<proto::MetricFamily> {
        let shards = SHARDS
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        families(&shards)
    }
}

/// The four families, summed over `shards`.
fn families(shards: &[Arc<Shard>]) -> Vec<proto::MetricFamily> {
    let mut requests: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    let mut durations: BTreeMap<&str, Hist> = BTreeMap::new();
    let mut upstream: BTreeMap<&str, Hist> = BTreeMap::new();
    let mut usage = [0u64; 4];
    for shard in shards {
        shard.with(|c| {
            for (labels, n) in &c.requests {
                *requests.entry(*labels).or_default() += n;
            }
            for (route, h) in &c.durations {
                durations.entry(route).or_default().add(h);
            }
            for (name, h) in &c.upstream {
                upstream.entry(name).or_default().add(h);
            }
            for (total, v) in usage.iter_mut().zip(c.usage) {
                *total += v;
            }
        });
    }
    use proto::MetricType::{COUNTER, HISTOGRAM};
    vec![
        family(
            REQUESTS,
            COUNTER,
            requests
                .iter()
                .map(|((r, s), n)| counter(&[("route", r), ("status", s)], *n))
                .collect(),
        ),
        family(
            REQUEST_DURATION,
            HISTOGRAM,
            durations
                .iter()
                .map(|(r, h)| histogram(&[("route", r)], h))
                .collect(),
        ),
        family(
            UPSTREAM_DURATION,
            HISTOGRAM,
            upstream
                .iter()
                .map(|(u, h)| histogram(&[("upstream", u)], h))
                .collect(),
        ),
        family(
            UPSTREAM_USAGE,
            COUNTER,
            USAGE_KINDS
                .iter()
                .zip(usage)
                .map(|(k, n)| counter(&[("kind", k)], n))
                .collect(),
        ),
    ]
}

static REGISTERED: LazyLock<()> = LazyLock::new(|| {
    let collector = PerThread {
        descs: [
            desc(REQUESTS, &["route", "status"]),
            desc(REQUEST_DURATION, &["route"]),
            desc(UPSTREAM_DURATION, &["upstream"]),
            desc(UPSTREAM_USAGE, &["kind"]),
        ],
    };
    prometheus::register(Box::new(collector)).expect("the per-thread metrics register once");
});

/// Registers the four families with the default registry (once).
pub fn init() {
    LazyLock::force(&REGISTERED);
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

    fn text(families: &[proto::MetricFamily]) -> String {
        let mut out = Vec::new();
        prometheus::Encoder::encode(&prometheus::TextEncoder::new(), families, &mut out)
            .expect("encodes");
        String::from_utf8(out).expect("text")
    }

    /// Requests as (route, status, seconds, usage): durations exact in binary, so any order of
    /// adding them gives the same sum; on bounds, between them, and above them all.
    const SEEN: [(&str, &str, f64, [u64; 4]); 6] = [
        ("messages", "2xx", 0.000244140625, [21, 9, 0, 0]),
        ("messages", "2xx", 0.5, [1200, 80, 9000, 0]),
        ("messages", "529", 1.0, [0; 4]),
        ("chat_completions", "2xx", 0.0009765625, [19, 10, 6, 0]),
        ("messages", "2xx", 700.0, [5, 1, 0, 300]),
        ("health", "2xx", 0.00005, [0; 4]),
    ];

    #[test]
    fn shards_sum_to_what_the_prometheus_crates_own_metrics_expose() {
        let reference = Registry::new();
        let requests = IntCounterVec::new(Opts::new(REQUESTS.0, REQUESTS.1), &["route", "status"])
            .expect("valid");
        let buckets = || DURATION_BUCKETS.to_vec();
        let durations = HistogramVec::new(
            HistogramOpts::new(REQUEST_DURATION.0, REQUEST_DURATION.1).buckets(buckets()),
            &["route"],
        )
        .expect("valid");
        let upstream = HistogramVec::new(
            HistogramOpts::new(UPSTREAM_DURATION.0, UPSTREAM_DURATION.1).buckets(buckets()),
            &["upstream"],
        )
        .expect("valid");
        let usage = IntCounterVec::new(Opts::new(UPSTREAM_USAGE.0, UPSTREAM_USAGE.1), &["kind"])
            .expect("valid");
        for c in [&requests, &usage] {
            reference.register(Box::new(c.clone())).expect("registers");
        }
        for h in [&durations, &upstream] {
            reference.register(Box::new(h.clone())).expect("registers");
        }
        for k in USAGE_KINDS {
            usage.with_label_values(&[k]).inc_by(0);
        }
        // Three threads, each recording into a shard of its own, every request three times.
        let shards: Vec<Arc<Shard>> = (0..3).map(|_| Arc::new(Shard::default())).collect();
        std::thread::scope(|scope| {
            for shard in &shards {
                scope.spawn(move || {
                    for (route, status, seconds, used) in SEEN {
                        shard.with(|c| c.request(route, status, seconds, used));
                        if route != "health" {
                            shard.with(|c| c.upstream("anthropic", seconds / 2.0));
                        }
                    }
                });
            }
        });
        for _ in &shards {
            for (route, status, seconds, used) in SEEN {
                requests.with_label_values(&[route, status]).inc();
                durations.with_label_values(&[route]).observe(seconds);
                for (k, n) in USAGE_KINDS.iter().zip(used) {
                    usage.with_label_values(&[k]).inc_by(n);
                }
                if route != "health" {
                    upstream
                        .with_label_values(&["anthropic"])
                        .observe(seconds / 2.0);
                }
            }
        }
        let ours = Registry::new();
        struct Fixed(Vec<Arc<Shard>>, [Desc; 4]);
        impl Collector for Fixed {
            fn desc(&self) -> Vec<&Desc> {
                self.1.iter().collect()
            }
            fn collect(&self) -> Vec<proto::MetricFamily> {
                families(&self.0)
            }
        }
        let descs = [
            desc(REQUESTS, &["route", "status"]),
            desc(REQUEST_DURATION, &["route"]),
            desc(UPSTREAM_DURATION, &["upstream"]),
            desc(UPSTREAM_USAGE, &["kind"]),
        ];
        ours.register(Box::new(Fixed(shards, descs)))
            .expect("registers");
        let expected = text(&reference.gather());
        assert!(expected.contains(r#"headroom_requests_total{route="messages",status="2xx"} 9"#));
        assert!(
            expected.contains(r#"headroom_upstream_usage_tokens_total{kind="cache_read"} 27018"#)
        );
        assert_eq!(text(&ours.gather()), expected);
    }

    #[test]
    fn a_threads_counts_outlive_it_and_reach_the_default_registry() {
        super::init();
        let route: &'static str = "per-thread-test-route";
        for _ in 0..2 {
            std::thread::spawn(move || {
                let usage = Usage {
                    input: 3,
                    ..Usage::default()
                };
                request_done(route, "2xx", 0.01, &usage);
                observe_upstream_duration("per-thread-test-upstream", 0.002);
            })
            .join()
            .expect("the thread ran");
        }
        request_done(route, "2xx", 0.01, &Usage::default());
        let rendered = String::from_utf8(crate::metrics::render()).expect("text");
        assert!(
            rendered.contains(&format!(
                r#"headroom_requests_total{{route="{route}",status="2xx"}} 3"#
            )),
            "{rendered}"
        );
        assert!(rendered.contains(&format!(
            r#"headroom_request_duration_seconds_count{{route="{route}"}} 3"#
        )));
        assert!(rendered.contains(
            r#"headroom_upstream_duration_seconds_bucket{upstream="per-thread-test-upstream",le="0.0025"} 2"#
        ));
        assert_eq!(
            rendered
                .matches("# TYPE headroom_requests_total counter")
                .count(),
            1
        );
    }
}
