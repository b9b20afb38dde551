//! What a finished request leaves behind: one log line, metrics, stats. Also the verbose
//! health document.
//!
//! Must never: log header values or prompt text (only sizes, counts, names and timings).

use crate::compress::BlockReport;
use crate::metrics;
use crate::state::Shared;
use crate::usage::Usage;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

/// A finished request as plain values: what the proxy phases observed, no proxy types.
#[derive(Debug)]
pub struct Finished<'a> {
    pub method: &'a str,
    pub path: &'a str,
    /// Bounded route label.
    pub route: &'static str,
    pub status: u16,
    pub elapsed: Duration,
    pub upstream: &'static str,
    /// Answered by the proxy itself (`/health`, `/stats`, …): metrics only.
    pub local: bool,
    pub bypassed: bool,
    pub injected_key: bool,
    /// The gateway token's name, when the request came with one.
    pub token: Option<&'a str>,
    /// The model the upstream's response named.
    pub model: Option<&'a str>,
    pub usage: Usage,
    pub bytes_in: usize,
    pub bytes_out: usize,
    pub blocks: &'a [BlockReport],
    pub small_blocks: usize,
    pub compress_time: Duration,
    pub compress_failure: Option<&'static str>,
    pub oversize: bool,
    /// The error's kind when the request failed in the proxy.
    pub error: Option<String>,
}

/// Records a finished request.
pub fn request_done(r: &Finished<'_>) {
    let route = r.route;
    let status = r.status;
    let elapsed = r.elapsed;
    let usage = r.usage;
    metrics::request_done(route, status_label(status), elapsed.as_secs_f64(), &usage);

    let blocks = r.blocks;
    let small_blocks = r.small_blocks;
    if small_blocks > 0 {
        metrics::COMPRESSION_BLOCKS
            .with_label_values(&["unclassified", "unchanged-small"])
            .inc_by(small_blocks as u64);
    }
    let (mut before, mut after) = (0u64, 0u64);
    for b in blocks {
        metrics::COMPRESSION_BLOCKS
            .with_label_values(&[b.kind, b.outcome.as_str()])
            .inc();
        before += b.tokens_before as u64;
        after += b.tokens_after as u64;
        metrics::COMPRESSION_DURATION
            .with_label_values(&[b.compressor])
            .observe(b.duration.as_secs_f64());
    }
    // Most requests compress nothing: no atomic add on a counter both workers share.
    if before > 0 || after > 0 {
        metrics::TOKENS_BEFORE.inc_by(before);
        metrics::TOKENS_AFTER.inc_by(after);
    }
    if let Some(reason) = r.compress_failure {
        metrics::COMPRESSION_FAILURES
            .with_label_values(&[reason])
            .inc();
    }
    if r.oversize {
        metrics::COMPRESSION_FAILURES
            .with_label_values(&["oversize"])
            .inc();
    }
    if r.bypassed {
        metrics::BYPASSED.inc();
    }
    if r.local {
        return;
    }
    let failed = r.error.is_some() || status == 0 || status >= 500;
    crate::stats::global().record(&crate::stats::RequestRecord {
        small_blocks,
        failed,
        blocks,
        usage,
        model: r.model,
        method: r.method,
        path: r.path,
        status,
        duration: elapsed,
        token: r.token,
    });
    if let Some(name) = r.token {
        crate::team::count_token(name, before, after);
    }
    if crate::logging::is_text() {
        if crate::logging::access_lines_on() {
            crate::logging::write_text_info_with(crate::logging::ACCESS_TARGET, |line| {
                push_text_fields(line, r, before, after)
            });
        }
        return;
    }
    log_structured(r, before, after);
}

/// The request line as structured fields (JSON logs).
fn log_structured(r: &Finished<'_>, before: u64, after: u64) {
    let (status, usage, elapsed) = (r.status, r.usage, r.elapsed);
    tracing::info!(
        target: "headroom::request",
        method = r.method,
        path = r.path,
        status,
        upstream = r.upstream,
        duration_ms = duration_ms(elapsed),
        bytes_in = r.bytes_in,
        bytes_out = r.bytes_out,
        tokens_before = before,
        tokens_after = after,
        compress_ms = r.compress_time.as_millis() as u64,
        compress_failure = r.compress_failure,
        input_tokens = usage.input,
        output_tokens = usage.output,
        cache_read_tokens = usage.cache_read,
        cache_creation_tokens = usage.cache_creation,
        key_injected = r.injected_key,
        error = r.error.as_deref(),
        "request"
    );
}

fn duration_ms(elapsed: Duration) -> f64 {
    (elapsed.as_secs_f64() * 1000.0 * 100.0).round() / 100.0
}

/// The text format's request fields, written directly: the bytes tracing's text formatter
/// makes of [`log_structured`]'s fields (message, then `name=value` with values in their
/// `Debug` form, absent options left out), without its per-field machinery or `core::fmt`
/// (together about 25 k instructions per request). A test holds the two equal.
fn push_text_fields(s: &mut Vec<u8>, r: &Finished<'_>, before: u64, after: u64) {
    use crate::logline::{push_bool, push_debug_str, push_hundredths_f64, push_u64};
    let u = r.usage;
    s.extend_from_slice(b"request method=");
    push_debug_str(s, r.method);
    s.extend_from_slice(b" path=");
    push_debug_str(s, r.path);
    s.extend_from_slice(b" status=");
    push_u64(s, u64::from(r.status));
    s.extend_from_slice(b" upstream=");
    push_debug_str(s, r.upstream);
    s.extend_from_slice(b" duration_ms=");
    push_hundredths_f64(s, duration_ms(r.elapsed));
    for (name, v) in [
        (&b" bytes_in="[..], r.bytes_in as u64),
        (b" bytes_out=", r.bytes_out as u64),
        (b" tokens_before=", before),
        (b" tokens_after=", after),
        (b" compress_ms=", r.compress_time.as_millis() as u64),
    ] {
        s.extend_from_slice(name);
        push_u64(s, v);
    }
    if let Some(f) = r.compress_failure {
        s.extend_from_slice(b" compress_failure=");
        push_debug_str(s, f);
    }
    for (name, v) in [
        (&b" input_tokens="[..], u.input),
        (b" output_tokens=", u.output),
        (b" cache_read_tokens=", u.cache_read),
        (b" cache_creation_tokens=", u.cache_creation),
    ] {
        s.extend_from_slice(name);
        push_u64(s, v);
    }
    s.extend_from_slice(b" key_injected=");
    push_bool(s, r.injected_key);
    if let Some(e) = r.error.as_deref() {
        s.extend_from_slice(b" error=");
        push_debug_str(s, e);
    }
}

fn status_label(status: u16) -> &'static str {
    // Statuses clients act on get their own label; the rest are grouped by class.
    const EXACT: &[(u16, &str)] = &[
        (400, "400"),
        (401, "401"),
        (403, "403"),
        (404, "404"),
        (408, "408"),
        (413, "413"),
        (429, "429"),
        (500, "500"),
        (502, "502"),
        (503, "503"),
        (504, "504"),
        (529, "529"),
    ];
    if let Some((_, label)) = EXACT.iter().find(|(code, _)| *code == status) {
        return label;
    }
    match status / 100 {
        1 => "1xx",
        2 => "2xx",
        3 => "3xx",
        4 => "4xx",
        5 => "5xx",
        _ => "none",
    }
}

/// `GET /health?verbose=1`.
pub fn health_verbose(shared: &Arc<Shared>) -> Vec<u8> {
    let snap = shared.snapshot();
    let reload = shared.last_reload.lock().ok().and_then(|r| r.clone());
    let doc = serde_json::json!({
        "status": "healthy",
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_seconds": shared.started.elapsed().as_secs(),
        "config_path": shared.config_path.as_ref().map(|p| p.display().to_string()),
        "last_reload": reload.map(|r| serde_json::json!({
            "at_unix": r.at.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
            "result": if r.ok { "ok" } else { "error" },
            "message": r.message,
        })),
        "compression": {
            "enabled": snap.config.compression.enabled,
            "learned": snap.text.is_some(),
        },
        "model_device": snap.model_device().map(|d| d.as_str()),
        "upstreams": {
            "anthropic": snap.anthropic.url.display(),
            "openai": snap.openai.url.display(),
        },
        "in_flight": shared.in_flight(),
        "draining": shared.is_draining(),
        "auth_mode": snap.config.auth.mode.as_str(),
        "redis": shared.team().map(|t| t.health()),
        "stats_write_error": crate::stats::global().last_write_error().map(|e| serde_json::json!({
            "at_unix": e.at_unix,
            "message": e.message,
        })),
    });
    serde_json::to_vec(&doc).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// What tracing's text formatter (as `logging::init` sets it up) writes for one event.
    fn formatted(emit: impl FnOnce()) -> String {
        let out = Arc::new(Mutex::new(Vec::<u8>::new()));
        let sink = out.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .with_writer(move || Sink(sink.clone()))
            .finish();
        tracing::subscriber::with_default(subscriber, emit);
        let bytes = out.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn finished<'a>(path: &'a str, elapsed: Duration, error: Option<String>) -> Finished<'a> {
        Finished {
            method: "POST",
            path,
            route: "anthropic",
            status: 200,
            elapsed,
            upstream: "anthropic",
            local: false,
            bypassed: false,
            injected_key: true,
            token: None,
            model: Some("claude-sonnet-4-5"),
            usage: Usage {
                input: 21,
                output: 9,
                cache_read: 0,
                cache_creation: 3,
            },
            bytes_in: 150,
            bytes_out: 148,
            blocks: &[],
            small_blocks: 0,
            compress_time: Duration::from_millis(7),
            compress_failure: error.as_ref().map(|_| "timeout"),
            oversize: false,
            error,
        }
    }

    #[test]
    fn text_request_lines_are_the_bytes_the_structured_event_makes() {
        let cases = [
            finished("/v1/messages", Duration::from_micros(120), None),
            finished("/v1/messages", Duration::from_secs(2), None),
            finished(
                "/v1/m\"es\\sages\u{7f}",
                Duration::from_micros(1_234_567),
                Some("ConnectTimedout".to_string()),
            ),
            finished("", Duration::ZERO, Some(String::new())),
            finished("/v1/caf\u{e9}\t", Duration::from_nanos(4_999_999), None),
            finished("/v1/messages", Duration::from_secs(86_400 * 400), None),
        ];
        for r in &cases {
            let structured = formatted(|| log_structured(r, 1200, 300));
            let mut fields = Vec::new();
            push_text_fields(&mut fields, r, 1200, 300);
            let direct = crate::logging::text_info_line(
                "headroom::request",
                std::str::from_utf8(&fields).unwrap(),
                std::time::SystemTime::now(),
            );
            assert!(structured.contains("headroom::request"), "{structured}");
            // Everything after the timestamp is the same bytes; the timestamps have one shape.
            let stamp = "2025-12-01T13:23:06.123456Z".len();
            assert_eq!(direct[stamp..], structured[stamp..]);
            for t in [&direct[..stamp], &structured[..stamp]] {
                assert!(
                    t.len() == stamp && t.ends_with('Z') && t.as_bytes()[10] == b'T',
                    "{t}"
                );
            }
        }
    }
}
