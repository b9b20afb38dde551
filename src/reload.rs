//! SIGHUP: re-read the config file, validate it, build a new snapshot off the request path and
//! swap it in. Requests in flight keep the snapshot they started with.
//!
//! Must never: apply a config that failed validation or failed to build (the old one stays);
//! block request handling while building.

use crate::config::{Config, Overrides};
use crate::state::{Shared, Snapshot};
use std::sync::Arc;

/// Starts the reload handler on its own thread and runtime. Installs the SIGHUP handler before
/// returning, so a SIGHUP can no longer kill the process.
pub fn spawn(shared: Arc<Shared>, overrides: Overrides) {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("headroom-reload".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    tracing::error!(error = %e, "cannot start the reload handler");
                    let _ = ready_tx.send(());
                    return;
                }
            };
            rt.block_on(async move {
                use tokio::signal::unix::{signal, SignalKind};
                let mut hup = match signal(SignalKind::hangup()) {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::error!(error = %e, "cannot install the SIGHUP handler");
                        let _ = ready_tx.send(());
                        return;
                    }
                };
                let _ = ready_tx.send(());
                while hup.recv().await.is_some() {
                    let shared = shared.clone();
                    let overrides = overrides.clone();
                    // Building may load a model: keep it off this runtime's thread.
                    crate::notify::reloading();
                    let _ = tokio::task::spawn_blocking(move || reload(&shared, &overrides)).await;
                    crate::notify::ready();
                }
            });
        });
    if spawned.is_ok() {
        let _ = ready_rx.recv();
    }
}

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
    if config.threads != old.config.threads || config.log.format != old.config.log.format {
        tracing::warn!("`threads` or `log.format` changed: restart headroom to apply them");
    }
    let level = config.log.level.clone();
    match Snapshot::build(config, Some(&old)) {
        Ok(new) => {
            shared.swap(new);
            crate::logging::set_level(&level);
            tracing::info!(path = %path.display(), "config reloaded");
            note_reload(shared, true, "ok".into());
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
