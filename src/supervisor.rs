//! The proxy's periodic and signal-driven work, as one Pingora background service: readiness
//! (`READY=1` once the listener accepts), config reload on SIGHUP, upstream DNS refresh, stats
//! flushing, writing batched access lines and log rotation. The server owns it and stops it at
//! shutdown.
//!
//! Must never: block its runtime (all blocking work goes to the blocking pool); stop on a
//! failed step (each one logs and the loop goes on).

use crate::config::Overrides;
use crate::state::Shared;
use async_trait::async_trait;
use pingora_core::server::ShutdownWatch;
use pingora_core::services::background::BackgroundService;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc::UnboundedReceiver;

/// Stops batching access lines (writing what waits) when the loop ends, however it ends.
struct StopBatching;

impl Drop for StopBatching {
    fn drop(&mut self) {
        crate::logging::batch_access_lines(false);
    }
}

/// How often upstream host names are resolved again.
const DNS_REFRESH: Duration = Duration::from_secs(60);

pub struct Supervisor {
    pub shared: Arc<Shared>,
    pub overrides: Overrides,
    pub listen: SocketAddr,
    pub hangups: Mutex<Option<UnboundedReceiver<()>>>,
}

#[async_trait]
impl BackgroundService for Supervisor {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let Some(mut hangups) = self.hangups.lock().ok().and_then(|mut h| h.take()) else {
            return;
        };
        wait_until_listening(self.listen).await;
        self.shared
            .listening
            .store(true, std::sync::atomic::Ordering::Release);
        let flush_every =
            || Duration::from_secs(self.shared.snapshot().config.stats.flush_seconds.max(1));
        let mut dns = tokio::time::interval(DNS_REFRESH);
        dns.tick().await;
        let mut flush = Box::pin(tokio::time::sleep(flush_every()));
        // When the batch that waits is due to be written: set when its first line comes.
        let mut access_due: Option<std::pin::Pin<Box<tokio::time::Sleep>>> = None;
        // Access lines are batched only while this loop writes them out.
        crate::logging::batch_access_lines(true);
        let _stop_batching = StopBatching;
        loop {
            tokio::select! {
                _ = crate::logging::ACCESS_LINES_QUEUED.notified(), if access_due.is_none() => {
                    access_due = Some(Box::pin(tokio::time::sleep(crate::logging::ACCESS_LOG_FLUSH)));
                }
                _ = async { if let Some(due) = access_due.as_mut() { due.await } }, if access_due.is_some() => {
                    access_due = None;
                    if crate::logging::access_lines_waiting() {
                        let _ = tokio::task::spawn_blocking(crate::logging::flush_access_lines)
                            .await;
                    }
                }
                Some(()) = hangups.recv() => {
                    // Lines of requests before the reload go out before it.
                    let _ = tokio::task::spawn_blocking(crate::logging::flush_access_lines).await;
                    crate::notify::reloading();
                    let (shared, overrides) = (self.shared.clone(), self.overrides.clone());
                    // Building may load a model: off this runtime's thread.
                    let _ = tokio::task::spawn_blocking(move || {
                        crate::reload::reload(&shared, &overrides)
                    })
                    .await;
                    crate::notify::ready();
                }
                _ = dns.tick() => {
                    let shared = self.shared.clone();
                    let _ = tokio::task::spawn_blocking(move || {
                        let snap = shared.snapshot();
                        snap.anthropic.refresh();
                        snap.openai.refresh();
                    })
                    .await;
                }
                _ = &mut flush => {
                    let log = self.shared.snapshot().config.log.clone();
                    let _ = tokio::task::spawn_blocking(move || {
                        crate::stats::global().flush();
                        crate::logging::rotate_stderr_if_needed(log.max_file_bytes, log.keep_files)
                    })
                    .await;
                    if let Some(team) = self.shared.team() {
                        team.flush().await;
                    }
                    flush = Box::pin(tokio::time::sleep(flush_every()));
                }
                _ = shutdown.changed() => return,
            }
        }
    }
}

/// Sends `READY=1` once the listener accepts connections.
async fn wait_until_listening(listen: SocketAddr) {
    let mut probe = listen;
    if probe.ip().is_unspecified() {
        probe.set_ip(match probe {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    for _ in 0..500 {
        if tokio::net::TcpStream::connect(probe).await.is_ok() {
            crate::notify::ready();
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tracing::warn!(addr = %listen, "listener did not accept connections within 5 s");
}
