//! Structured logs to stderr through `tracing`, with Pingora's `log` records bridged in. The
//! level can change on reload; the format (text or JSON) is fixed at start.
//!
//! Must never: print header values or prompt text (callers log sizes and names only). Pingora
//! logs whole request headers (API keys, OAuth tokens) at debug and trace, so its records are
//! capped at INFO whatever level is configured.

use crate::config::{Log, LogFormat};
use std::sync::OnceLock;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::layer::{Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, reload, EnvFilter, Registry};

static RELOAD: OnceLock<reload::Handle<EnvFilter, Registry>> = OnceLock::new();

/// Our level for our crate; Pingora's internals stay at `warn` unless debugging.
fn filter_for(level: &str) -> EnvFilter {
    let quiet = !matches!(level.trim(), "debug" | "trace");
    let spec = if quiet && !level.contains('=') {
        format!("{level},pingora=warn,pingora_core=warn,pingora_proxy=warn")
    } else {
        level.to_string()
    };
    // Some directives panic or take minutes inside tracing-subscriber; validation refuses
    // them, and this keeps a config that skipped validation from taking the process down.
    if !crate::config::is_plain_log_filter(&spec) {
        return EnvFilter::new("info");
    }
    EnvFilter::try_new(spec).unwrap_or_else(|_| EnvFilter::new("info"))
}

/// True for records that may carry header values: Pingora's below INFO.
fn may_carry_header_values(meta: &tracing::Metadata<'_>) -> bool {
    meta.target().starts_with("pingora") && *meta.level() > tracing::Level::INFO
}

/// Installs the global subscriber (once per process).
pub fn init(cfg: &Log) {
    let (filter, handle) = reload::Layer::new(filter_for(&cfg.level));
    let never_headers = filter_fn(|meta| !may_carry_header_values(meta));
    let registry = tracing_subscriber::registry().with(filter);
    let result = match cfg.format {
        LogFormat::Json => registry
            .with(
                fmt::layer()
                    .json()
                    .with_writer(std::io::stderr)
                    .flatten_event(true)
                    .with_current_span(false)
                    .with_filter(never_headers),
            )
            .try_init(),
        LogFormat::Text => registry
            .with(
                fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_ansi(false)
                    .with_filter(never_headers),
            )
            .try_init(),
    };
    if result.is_ok() {
        let _ = RELOAD.set(handle);
    }
}

/// Applies a new level after a reload.
pub fn set_level(level: &str) {
    if let Some(h) = RELOAD.get() {
        let _ = h.modify(|f| *f = filter_for(level));
    }
}
