//! Every Prometheus metric the proxy exports, defined in one place. Label values are bounded
//! sets (routes, statuses classes, compressor names, devices): never paths, models or users.

use prometheus::{
    register_histogram_vec, register_int_counter, register_int_counter_vec, register_int_gauge_vec,
    Encoder, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, TextEncoder,
};
use std::sync::LazyLock;

/// Buckets from 50 µs to 10 min, roughly ×2.5 apart.
const DURATION_BUCKETS: &[f64] = &[
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 5.0, 10.0, 25.0, 60.0, 150.0, 300.0, 600.0,
];

/// Children of the per-request metrics, remembered per worker thread by their label values.
/// Those are `&'static str` from bounded sets (routes, status labels, upstream names), so
/// their address and length find a child without hashing the labels and taking the vector's
/// lock on every request (as `with_label_values` does). Children are never removed here.
struct Children<T> {
    known: std::cell::RefCell<Vec<(LabelKey, T)>>,
}

/// Two label values by address and length.
type LabelKey = [(usize, usize); 2];

impl<T: Clone> Children<T> {
    const fn new() -> Self {
        Children {
            known: std::cell::RefCell::new(Vec::new()),
        }
    }

    fn with(&self, labels: [&'static str; 2], get: impl FnOnce() -> T, use_it: impl FnOnce(&T)) {
        let key = labels.map(|l| (l.as_ptr() as usize, l.len()));
        let Ok(mut known) = self.known.try_borrow_mut() else {
            return use_it(&get());
        };
        if let Some((_, child)) = known.iter().find(|(k, _)| *k == key) {
            return use_it(child);
        }
        let child = get();
        use_it(&child);
        known.push((key, child));
    }
}

thread_local! {
    static REQUEST_CHILDREN: Children<IntCounter> = const { Children::new() };
    static DURATION_CHILDREN: Children<prometheus::Histogram> = const { Children::new() };
    static UPSTREAM_CHILDREN: Children<prometheus::Histogram> = const { Children::new() };
}

/// `headroom_requests_total{route,status}` += 1.
pub fn count_request(route: &'static str, status: &'static str) {
    REQUEST_CHILDREN.with(|c| {
        c.with(
            [route, status],
            || REQUESTS.with_label_values(&[route, status]),
            |m| m.inc(),
        )
    });
}

/// One `headroom_request_duration_seconds{route}` observation.
pub fn observe_request_duration(route: &'static str, seconds: f64) {
    DURATION_CHILDREN.with(|c| {
        c.with(
            [route, ""],
            || REQUEST_DURATION.with_label_values(&[route]),
            |m| m.observe(seconds),
        )
    });
}

/// One `headroom_upstream_duration_seconds{upstream}` observation.
pub fn observe_upstream_duration(upstream: &'static str, seconds: f64) {
    UPSTREAM_CHILDREN.with(|c| {
        c.with(
            [upstream, ""],
            || UPSTREAM_DURATION.with_label_values(&[upstream]),
            |m| m.observe(seconds),
        )
    });
}

pub static REQUESTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "headroom_requests_total",
        "Requests handled, by route and response status.",
        &["route", "status"]
    )
    .expect("metric registers once")
});

pub static REQUEST_DURATION: LazyLock<HistogramVec> = LazyLock::new(|| {
    register_histogram_vec!(
        "headroom_request_duration_seconds",
        "Time from request start to the last response byte, by route.",
        &["route"],
        DURATION_BUCKETS.to_vec()
    )
    .expect("metric registers once")
});

pub static UPSTREAM_DURATION: LazyLock<HistogramVec> = LazyLock::new(|| {
    register_histogram_vec!(
        "headroom_upstream_duration_seconds",
        "Time from sending the request upstream to its response headers, by upstream.",
        &["upstream"],
        DURATION_BUCKETS.to_vec()
    )
    .expect("metric registers once")
});

pub static UPSTREAM_CALLS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "headroom_upstream_calls_total",
        "Requests sent upstream by exchanges that offer the retrieval tool, by purpose (client: \
         the client's request, retrieval: a continuation after the proxy answered the tool).",
        &["purpose"]
    )
    .expect("metric registers once")
});

pub static RETRIEVAL_USAGE_TOKENS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "headroom_retrieval_usage_tokens_total",
        "Tokens the upstream reported for retrieval continuations (what retrievals cost), by kind.",
        &["kind"]
    )
    .expect("metric registers once")
});

pub static COMPRESSION_TOKENS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "headroom_compression_tokens_total",
        "Tokens of the blocks considered for compression, before and after.",
        &["stage"]
    )
    .expect("metric registers once")
});

pub static COMPRESSION_DURATION: LazyLock<HistogramVec> = LazyLock::new(|| {
    register_histogram_vec!(
        "headroom_compression_duration_seconds",
        "Time spent compressing one block, by compressor.",
        &["compressor"],
        DURATION_BUCKETS.to_vec()
    )
    .expect("metric registers once")
});

pub static COMPRESSION_FAILURES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "headroom_compression_failures_total",
        "Requests or blocks forwarded untouched because compression could not run, by reason.",
        &["reason"]
    )
    .expect("metric registers once")
});

pub static MODEL_INFERENCE: LazyLock<HistogramVec> = LazyLock::new(|| {
    register_histogram_vec!(
        "headroom_model_inference_seconds",
        "ONNX Runtime inference time per batch, by device.",
        &["device"],
        DURATION_BUCKETS.to_vec()
    )
    .expect("metric registers once")
});

pub static MODEL_TOKENS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "headroom_model_tokens_scored_total",
        "Tokens run through the model, by device.",
        &["device"]
    )
    .expect("metric registers once")
});

pub static UPSTREAM_USAGE: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "headroom_upstream_usage_tokens_total",
        "Token usage reported by the upstream, by kind (input, output, cache_read, cache_creation).",
        &["kind"]
    )
    .expect("metric registers once")
});

pub static CONFIG_RELOADS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "headroom_config_reloads_total",
        "Config reloads on SIGHUP, by result.",
        &["result"]
    )
    .expect("metric registers once")
});

pub static BUILD_INFO: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    register_int_gauge_vec!(
        "headroom_build_info",
        "Always 1; the labels say which build is running.",
        &["version"]
    )
    .expect("metric registers once")
});

pub static REQUEST_ERRORS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "headroom_request_errors_total",
        "Requests that failed in the proxy, by kind.",
        &["kind"]
    )
    .expect("metric registers once")
});

pub static COMPRESSION_BLOCKS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "headroom_compression_blocks_total",
        "Blocks seen in request bodies, by detected content type and outcome (compressed, \
         unchanged-small, unchanged-no-gain, unchanged-unknown-format).",
        &["content_type", "outcome"]
    )
    .expect("metric registers once")
});

pub static BYPASSED: LazyLock<IntCounter> = LazyLock::new(|| {
    register_int_counter!(
        "headroom_bypassed_requests_total",
        "Requests forwarded untouched because they carried `x-headroom-bypass: 1`."
    )
    .expect("metric registers once")
});

pub static RETRIEVALS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "headroom_retrievals_total",
        "Lookups of stored originals, by source (endpoint, tool, cli) and result (hit, miss).",
        &["source", "result"]
    )
    .expect("metric registers once")
});

pub static RETRIEVAL_BYTES: LazyLock<IntCounter> = LazyLock::new(|| {
    register_int_counter!(
        "headroom_retrieval_bytes_total",
        "Bytes of original content handed back by retrievals."
    )
    .expect("metric registers once")
});

pub static ORIGINALS_BYTES: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    register_int_gauge_vec!(
        "headroom_originals_store_bytes",
        "Bytes the originals store holds, by tier (memory, disk).",
        &["tier"]
    )
    .expect("metric registers once")
});

pub static ORIGINALS_ENTRIES: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    register_int_gauge_vec!(
        "headroom_originals_store_entries",
        "Originals the store holds, by tier (memory, disk).",
        &["tier"]
    )
    .expect("metric registers once")
});

pub static ORIGINALS_DROPPED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "headroom_originals_dropped_writes_total",
        "Originals not written to disk (they stay in memory only), by reason (queue_full, error).",
        &["reason"]
    )
    .expect("metric registers once")
});

/// `headroom_compression_tokens_total` by stage, looked up once (it is counted on every request).
pub static TOKENS_BEFORE: LazyLock<IntCounter> =
    LazyLock::new(|| COMPRESSION_TOKENS.with_label_values(&["before"]));
pub static TOKENS_AFTER: LazyLock<IntCounter> =
    LazyLock::new(|| COMPRESSION_TOKENS.with_label_values(&["after"]));

/// Usage kinds, in the order of [`USAGE_BY_KIND`].
pub const USAGE_KINDS: [&str; 4] = ["input", "output", "cache_read", "cache_creation"];

/// `headroom_upstream_usage_tokens_total` by kind, looked up once.
pub static USAGE_BY_KIND: LazyLock<[IntCounter; 4]> =
    LazyLock::new(|| USAGE_KINDS.map(|k| UPSTREAM_USAGE.with_label_values(&[k])));

/// Touches every metric so each appears in `/metrics` from the first scrape.
pub fn init() {
    BUILD_INFO
        .with_label_values(&[env!("CARGO_PKG_VERSION")])
        .set(1);
    for purpose in ["client", "retrieval"] {
        UPSTREAM_CALLS.with_label_values(&[purpose]).inc_by(0);
    }
    for kind in ["input", "output", "cache_read", "cache_creation"] {
        RETRIEVAL_USAGE_TOKENS.with_label_values(&[kind]).inc_by(0);
    }
    TOKENS_BEFORE.inc_by(0);
    TOKENS_AFTER.inc_by(0);
    for counter in USAGE_BY_KIND.iter() {
        counter.inc_by(0);
    }
    for result in ["ok", "error"] {
        CONFIG_RELOADS.with_label_values(&[result]).inc_by(0);
    }
    LazyLock::force(&REQUESTS);
    LazyLock::force(&REQUEST_DURATION);
    LazyLock::force(&UPSTREAM_DURATION);
    LazyLock::force(&COMPRESSION_DURATION);
    LazyLock::force(&COMPRESSION_FAILURES);
    LazyLock::force(&MODEL_INFERENCE);
    LazyLock::force(&MODEL_TOKENS);
    LazyLock::force(&REQUEST_ERRORS);
    LazyLock::force(&BYPASSED);
    for source in ["endpoint", "tool", "cli"] {
        for result in ["hit", "miss"] {
            RETRIEVALS.with_label_values(&[source, result]).inc_by(0);
        }
    }
    RETRIEVAL_BYTES.inc_by(0);
    for reason in ["queue_full", "error"] {
        ORIGINALS_DROPPED.with_label_values(&[reason]).inc_by(0);
    }
    for tier in ["memory", "disk"] {
        ORIGINALS_BYTES.with_label_values(&[tier]).set(0);
        ORIGINALS_ENTRIES.with_label_values(&[tier]).set(0);
    }
    for kind in crate::compress::CONTENT_TYPES {
        for outcome in crate::compress::Outcome::ALL {
            COMPRESSION_BLOCKS
                .with_label_values(&[kind, outcome.as_str()])
                .inc_by(0);
        }
    }
}

/// The text exposition of every registered metric.
pub fn render() -> Vec<u8> {
    let mut out = Vec::with_capacity(16 * 1024);
    let families = prometheus::gather();
    if TextEncoder::new().encode(&families, &mut out).is_err() {
        out.clear();
    }
    out
}
