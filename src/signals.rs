//! Process signals, received from start-up on: SIGTERM and SIGINT (stop) and SIGHUP (reload).
//! One small thread owns the handlers and forwards each signal to whoever acts on it (the
//! shutdown watch, the supervisor), so a signal that arrives while the server is still starting
//! is queued, never fatal and never lost.
//!
//! Must never: do the work itself (reloading, draining): it only forwards.

use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

/// Where forwarded signals arrive.
pub struct Inbox {
    /// SIGTERM / SIGINT, as their numbers.
    pub stop: UnboundedReceiver<i32>,
    /// SIGHUP.
    pub hangup: UnboundedReceiver<()>,
}

/// Installs the handlers (before returning) and starts forwarding.
pub fn listen() -> Inbox {
    let (stop_tx, stop) = unbounded_channel();
    let (hup_tx, hangup) = unbounded_channel();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("headroom-signals".into())
        .spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                tracing::error!("cannot start the signal handler");
                let _ = ready_tx.send(());
                return;
            };
            rt.block_on(async move {
                use tokio::signal::unix::{signal, SignalKind};
                let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
                    signal(SignalKind::terminate()),
                    signal(SignalKind::interrupt()),
                    signal(SignalKind::hangup()),
                ) else {
                    tracing::error!("cannot install the SIGTERM/SIGINT/SIGHUP handlers");
                    let _ = ready_tx.send(());
                    return;
                };
                let _ = ready_tx.send(());
                loop {
                    let delivered = tokio::select! {
                        _ = term.recv() => stop_tx.send(libc::SIGTERM).is_ok(),
                        _ = int.recv() => stop_tx.send(libc::SIGINT).is_ok(),
                        _ = hup.recv() => {
                            // Nobody listening for reloads (yet) is no reason to stop.
                            let _ = hup_tx.send(());
                            true
                        }
                    };
                    if !delivered {
                        return;
                    }
                }
            });
        });
    if spawned.is_ok() {
        let _ = ready_rx.recv();
    }
    Inbox { stop, hangup }
}
