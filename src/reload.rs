//! A reload (SIGHUP, delivered by the supervisor): re-read the config file, validate it, build a
//! new snapshot off the request path and swap it in. Requests in flight keep the snapshot they started with.
//!
//! Must never: apply a config that failed validation or failed to build (the old one stays);
//! block request handling while building.

use crate::config::{Config, Overrides};
use crate::state::{Shared, Snapshot};

/// One reload. Returns whether the new config is in effect.
pub fn reload(shared: &Shared, overrides: &Overrides) -> bool {
    let Some(path) = shared.config_path.clone() else {
        tracing::info!("SIGHUP: running on the embedded default config; nothing to reload");
        note_reload(
            shared,
            true,
            "embedded default config: nothing to reload".into(),
        );
        return true;
    };
    let old = shared.snapshot();
    let config = match Config::load(&path, overrides) {
        Ok(c) => c,
        Err(e) => {
            for p in &e.problems {
                tracing::error!(path = %path.display(), problem = %p, "reload rejected; keeping the current config");
            }
            note_reload(shared, false, e.to_string());
            return false;
        }
    };
    if config.listen != old.config.listen {
        tracing::warn!(old = %old.config.listen, new = %config.listen, "`listen` changed: restart headroom to apply it; other settings apply now");
    }
    let state_changed = config.state != old.config.state;
    if state_changed {
        // The Redis handle, its runtime and the shared tiers are built once at start; swapping
        // them under in-flight requests would split one process's state over two Redis. Keep
        // them, and say so.
        tracing::warn!(
            redis = shared.team().map(|t| t.redis.url()).unwrap_or("none"),
            "`state` changed: restart headroom to apply it; this process keeps its current Redis connection and `state` settings, other settings apply now"
        );
    }
    if config.threads != old.config.threads || config.log.format != old.config.log.format {
        tracing::warn!("`threads` or `log.format` changed: restart headroom to apply them");
    }
    let level = config.log.level.clone();
    let shared_results = shared.team().map(|t| t.result_cache());
    match Snapshot::build_with(config, Some(&old), shared_results) {
        Ok(new) => {
            shared.swap(new);
            crate::logging::set_level(&level);
            tracing::info!(path = %path.display(), "config reloaded");
            let message = match state_changed {
                true => "ok; `state` changed: restart headroom to apply it",
                false => "ok",
            };
            note_reload(shared, true, message.into());
            true
        }
        Err(e) => {
            tracing::error!(error = %e, "reload rejected; keeping the current config");
            note_reload(shared, false, e.to_string());
            false
        }
    }
}

/// Records a reload's result for `/health?verbose=1` and the metric.
pub fn note_reload(shared: &Shared, ok: bool, message: String) {
    crate::metrics::CONFIG_RELOADS
        .with_label_values(&[if ok { "ok" } else { "error" }])
        .inc();
    if let Ok(mut r) = shared.last_reload.lock() {
        *r = Some(crate::state::ReloadStatus {
            at: std::time::SystemTime::now(),
            ok,
            message,
        });
    }
}
