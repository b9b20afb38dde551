//! Every Prometheus metric the proxy exports, defined in one place (those every request writes
//! in [`per_thread`]). Label values are bounded sets (routes, statuses classes, compressor
//! names, devices): never paths, models or users.

use prometheus::{
    register_histogram_vec, register_int_counter, register_int_counter_vec, register_int_gauge_vec,
    Encoder, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, TextEncoder,
};
use std::sync::LazyLock;

mod per_thread;

pub use per_thread::{observe_upstream_duration, request_done, DURATION_BUCKETS};

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
    for result in ["ok", "error"] {
        CONFIG_RELOADS.with_label_values(&[result]).inc_by(0);
    }
    per_thread::init();
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
