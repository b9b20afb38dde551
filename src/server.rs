//! Assembles and runs the Pingora server: our config (never Pingora's argv or YAML), one
//! listener behind the connection guard, the supervisor background service (readiness, reload,
//! DNS refresh, stats flushing, log rotation) and the shutdown watch.
//!
//! Must never: start when the listen port is taken (Pingora would retry for 30 s and then leave a
//! process with no listener); linger after SIGTERM/SIGINT once idle.

use crate::config::Config;
use crate::state::{Shared, Snapshot};
use async_trait::async_trait;
use pingora_core::server::configuration::ServerConf;
use pingora_core::server::{RunArgs, Server, ShutdownSignal, ShutdownSignalWatch};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Exit code for a configuration that cannot be used (sysexits' `EX_CONFIG`).
pub const EXIT_CONFIG: u8 = 78;
/// Exit code when the listen address is taken or cannot be bound (`EX_UNAVAILABLE`).
pub const EXIT_BIND: u8 = 69;
/// Exit code for a failure while running (`EX_SOFTWARE`). Usage errors exit 2 (clap's).
pub const EXIT_RUNTIME: u8 = 70;

/// Makes SIGHUP harmless until the reload handler is installed (its default action kills).
pub fn ignore_sighup_until_ready() {
    // SAFETY: setting a signal disposition to SIG_IGN has no preconditions.
    unsafe {
        libc::signal(libc::SIGHUP, libc::SIG_IGN);
    }
}

/// Checks the listen address can be bound, with the message a user can act on.
pub fn check_bind(addr: std::net::SocketAddr) -> Result<(), String> {
    match std::net::TcpListener::bind(addr) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => Err(format!(
            "Address already in use: {addr} — another process holds the port; stop it or set HEADROOM_PROXY_PORT"
        )),
        Err(e) => Err(format!("cannot listen on {addr}: {e}")),
    }
}

/// Runs the proxy until SIGTERM/SIGINT. `config_path` is re-read on SIGHUP.
pub fn run(
    config: Config,
    config_path: Option<PathBuf>,
    overrides: crate::config::Overrides,
) -> ExitCode {
    crate::metrics::init();
    let addr = match config.listen_addr() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("headroom: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    if !addr.ip().is_loopback() {
        tracing::info!(%addr, auth = config.auth.mode.as_str(), tokens = config.auth.tokens.len(), "listening on a non-loopback address (gateway mode)");
    }
    let signals = crate::signals::listen();
    if let Err(msg) = check_bind(addr) {
        eprintln!("headroom: {msg}");
        return ExitCode::from(EXIT_BIND);
    }
    let team = match config.state.redis_url.is_some() {
        false => None,
        true => match crate::team::Team::start(&config.state) {
            Ok(team) => {
                tracing::info!(redis = team.redis.url(), "team state shared in Redis");
                Some(team)
            }
            Err(e) => {
                eprintln!("headroom: `state.redis_url`: {e}");
                return ExitCode::from(EXIT_CONFIG);
            }
        },
    };
    let snapshot = match Snapshot::build_with(
        config.clone(),
        None,
        team.as_ref().map(|t| t.result_cache()),
    ) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("headroom: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let shared = Shared::with_team(snapshot, config_path.clone(), team);

    let stats = crate::stats::global();
    match config
        .stats
        .path
        .clone()
        .or_else(crate::stats::default_path)
    {
        Some(p) => stats.open(p),
        None => tracing::warn!("no HOME: lifetime stats are not persisted"),
    }

    let mut conf = ServerConf {
        threads: config.threads,
        grace_period_seconds: Some(config.shutdown.grace_seconds),
        graceful_shutdown_timeout_seconds: Some(1),
        // Every timeout of a second or more (all of `timeouts:`) runs on tokio's timer wheel
        // rather than Pingora's shared 10 ms-tick timer: arming one is about half the
        // instructions, and no clock thread wakes the process 100 times a second while it
        // idles. The workers keep the wheel armed (see `proxy::timer_wheel::keep_armed`),
        // so arming one does not wake the parked runtime driver.
        fast_timeout_to_tokio_threshold_seconds: Some(0),
        ..ServerConf::default()
    };
    let tag = format!("headroom-{}", std::process::id());
    conf.pid_file = std::env::temp_dir()
        .join(format!("{tag}.pid"))
        .display()
        .to_string();
    conf.upgrade_sock = std::env::temp_dir()
        .join(format!("{tag}.sock"))
        .display()
        .to_string();
    let mut server =
        Server::new_with_opt_and_conf(None::<pingora_core::server::configuration::Opt>, conf);
    server.bootstrap();
    let http = pingora_proxy::http_proxy(
        &server.configuration,
        crate::proxy::Headroom::new(shared.clone()),
    );
    let header_limit = shared.clone();
    let guarded = crate::proxy::connection::GuardedHttp::new(http, move || {
        Duration::from_millis(header_limit.snapshot().config.timeouts.client_read_ms)
    });
    let mut proxy = pingora_core::services::listening::Service::new("headroom".into(), guarded);
    proxy.add_tcp(&addr.to_string());
    server.add_service(proxy);
    server.add_service(pingora_core::services::background::background_service(
        "supervisor",
        crate::supervisor::Supervisor {
            shared: shared.clone(),
            overrides,
            listen: addr,
            hangups: std::sync::Mutex::new(Some(signals.hangup)),
        },
    ));

    tracing::info!(
        %addr,
        config = config_path.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "embedded default".into()),
        anthropic = %shared.snapshot().anthropic.url.display(),
        openai = %shared.snapshot().openai.url.display(),
        compression = config.compression.enabled,
        model_device = shared.snapshot().model_device().map(|d| d.as_str()),
        "headroom listening"
    );
    let grace = Duration::from_secs(config.shutdown.grace_seconds);
    server.run(RunArgs {
        shutdown_signal: Box::new(Drain {
            shared: shared.clone(),
            grace,
            signals: std::sync::Mutex::new(Some(signals.stop)),
        }),
    });
    record_cut_requests(&shared);
    flush_state(&shared);
    ExitCode::SUCCESS
}

/// Shutdown on SIGTERM or SIGINT: stop accepting, then exit as soon as no request is in
/// flight (or when the grace period ends). A second signal exits at once.
struct Drain {
    shared: Arc<Shared>,
    grace: Duration,
    signals: std::sync::Mutex<Option<tokio::sync::mpsc::UnboundedReceiver<i32>>>,
}

#[async_trait]
impl ShutdownSignalWatch for Drain {
    async fn recv(&self) -> ShutdownSignal {
        let Some(mut signals) = self.signals.lock().ok().and_then(|mut s| s.take()) else {
            std::future::pending::<()>().await;
            return ShutdownSignal::FastShutdown;
        };
        let Some(first) = signals.recv().await else {
            std::future::pending::<()>().await;
            return ShutdownSignal::FastShutdown;
        };
        let name = if first == libc::SIGINT {
            "SIGINT"
        } else {
            "SIGTERM"
        };
        crate::notify::stopping();
        self.shared
            .draining
            .store(true, std::sync::atomic::Ordering::Release);
        tracing::info!(
            signal = name,
            in_flight = self.shared.in_flight(),
            grace_s = self.grace.as_secs(),
            "shutting down: no new connections; waiting for requests in flight"
        );
        tokio::spawn(async move {
            // The conventional 128 + signal number, so a supervisor sees which one it was.
            let Some(second) = signals.recv().await else {
                return;
            };
            let code = 128 + second;
            tracing::warn!("second signal: exiting now");
            crate::stats::global().flush();
            std::process::exit(code);
        });
        let unready = Duration::from_secs(self.shared.snapshot().config.shutdown.unready_seconds);
        if !unready.is_zero() {
            tracing::info!(
                unready_s = unready.as_secs(),
                "draining: /health/ready answers 503; still serving until the balancer notices"
            );
            tokio::time::sleep(unready).await;
        }
        let shared = self.shared.clone();
        let grace = self.grace;
        let _ = std::thread::Builder::new()
            .name("headroom-drain".into())
            .spawn(move || {
                let start = Instant::now();
                // Let the listeners see the shutdown before counting.
                std::thread::sleep(Duration::from_millis(20));
                while shared.in_flight() > 0 && start.elapsed() < grace {
                    std::thread::sleep(Duration::from_millis(20));
                }
                record_cut_requests(&shared);
                flush_state(&shared);
                std::process::exit(0);
            });
        ShutdownSignal::GracefulTerminate
    }
}

/// Writes what must survive the process: waiting access lines, lifetime stats and queued
/// originals.
fn flush_state(shared: &Shared) {
    crate::logging::batch_access_lines(false);
    crate::stats::global().flush();
    shared.originals.flush();
    if let Some(team) = shared.team() {
        team.flush_blocking();
    }
}

/// At the end of the grace period: says how many requests and streams are being cut, and
/// records the usage those streams reported so far (their logging phase will not run).
fn record_cut_requests(shared: &Shared) {
    let left = shared.in_flight();
    let cut = shared.streams.cut();
    if left == 0 && cut.is_empty() {
        tracing::info!("all requests finished; exiting");
        return;
    }
    let stats = crate::stats::global();
    for usage in &cut {
        stats.record(&crate::stats::RequestRecord {
            small_blocks: 0,
            failed: true,
            blocks: &[],
            usage: *usage,
            model: None,
            method: "",
            path: "(cut at shutdown)",
            status: 0,
            duration: Duration::ZERO,
            token: None,
        });
    }
    tracing::warn!(
        in_flight = left,
        streams_cut = cut.len(),
        input_tokens = cut.iter().map(|u| u.input).sum::<u64>(),
        output_tokens = cut.iter().map(|u| u.output).sum::<u64>(),
        "grace period over; cutting requests and streams still in flight (their usage so far is recorded)"
    );
}
