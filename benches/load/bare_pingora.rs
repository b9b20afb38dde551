//! The load benchmark's baseline: a Pingora passthrough proxy that only picks the peer, built
//! from the same Pingora version and server settings (2 worker threads) as headroom. The load
//! bench runs it beside headroom so headroom's cost is stated against what Pingora itself costs.
//!
//! The load bench binary runs it in a child process of itself (`load --bare-pingora LISTEN
//! UPSTREAM`), so no extra target is built by `cargo test`. With `--timeouts` it also sets the
//! timeouts headroom sets by default (client body reads, upstream connect, read, write and
//! idle): what Pingora itself spends on them (timers armed on pending reads) then counts in
//! the floor, so a comparison shows what is headroom's own (`scripts/callgrind-requests.sh
//! pingora-timeouts`).
//!
//! Must never: do anything per request beyond choosing the upstream (and, with `--timeouts`,
//! setting those timeouts) — it is the floor.

use async_trait::async_trait;
use pingora_core::server::configuration::ServerConf;
use pingora_core::server::Server;
use pingora_core::upstreams::peer::HttpPeer;
use pingora_proxy::{ProxyHttp, Session};
use std::net::SocketAddr;
use std::time::Duration;

struct Passthrough {
    upstream: SocketAddr,
    timeouts: bool,
}

/// headroom's default `timeouts:` (conf/headroom.yaml), in milliseconds.
const CONNECT_MS: u64 = 10_000;
const UPSTREAM_READ_MS: u64 = 600_000;
const UPSTREAM_WRITE_MS: u64 = 60_000;
const CLIENT_READ_MS: u64 = 60_000;

#[async_trait]
impl ProxyHttp for Passthrough {
    type CTX = ();

    fn new_ctx(&self) {}

    async fn request_filter(
        &self,
        session: &mut Session,
        _ctx: &mut (),
    ) -> pingora_core::Result<bool> {
        if self.timeouts {
            session.set_read_timeout(Some(Duration::from_millis(CLIENT_READ_MS)));
        }
        Ok(false)
    }

    async fn upstream_peer(
        &self,
        _session: &mut Session,
        _ctx: &mut (),
    ) -> pingora_core::Result<Box<HttpPeer>> {
        let mut peer = HttpPeer::new(self.upstream, false, String::new());
        if self.timeouts {
            let o = &mut peer.options;
            o.connection_timeout = Some(Duration::from_millis(CONNECT_MS));
            o.total_connection_timeout = Some(Duration::from_millis(CONNECT_MS));
            o.read_timeout = Some(Duration::from_millis(UPSTREAM_READ_MS));
            o.write_timeout = Some(Duration::from_millis(UPSTREAM_WRITE_MS));
            o.idle_timeout = Some(Duration::from_secs(60));
        }
        Ok(Box::new(peer))
    }
}

/// Serves `listen` as a passthrough to `upstream` until killed; `timeouts`: with headroom's
/// default timeouts set.
pub fn run(listen: &str, upstream: &str, timeouts: bool) -> ! {
    let Ok(upstream) = upstream.parse::<SocketAddr>() else {
        eprintln!("bare pingora: `{upstream}` is not an address like 127.0.0.1:8080");
        std::process::exit(2);
    };
    let tag = format!("bare-pingora-{}", std::process::id());
    let conf = ServerConf {
        threads: 2,
        grace_period_seconds: Some(0),
        graceful_shutdown_timeout_seconds: Some(1),
        // headroom's timer setting: with `--timeouts` they run on tokio's timer wheel, as
        // headroom's do (without them no timer is armed per request).
        fast_timeout_to_tokio_threshold_seconds: Some(0),
        pid_file: std::env::temp_dir()
            .join(format!("{tag}.pid"))
            .display()
            .to_string(),
        upgrade_sock: std::env::temp_dir()
            .join(format!("{tag}.sock"))
            .display()
            .to_string(),
        ..ServerConf::default()
    };
    let mut server =
        Server::new_with_opt_and_conf(None::<pingora_core::server::configuration::Opt>, conf);
    server.bootstrap();
    let mut proxy = pingora_proxy::http_proxy_service(
        &server.configuration,
        Passthrough { upstream, timeouts },
    );
    proxy.add_tcp(listen);
    server.add_service(proxy);
    server.run_forever()
}
