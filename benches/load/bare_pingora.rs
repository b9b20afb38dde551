//! The load benchmark's baseline: a Pingora passthrough proxy that only picks the peer, built
//! from the same Pingora version and server settings (2 worker threads) as headroom. The load
//! bench runs it beside headroom so headroom's cost is stated against what Pingora itself costs.
//!
//! The load bench binary runs it in a child process of itself (`load --bare-pingora LISTEN
//! UPSTREAM`), so no extra target is built by `cargo test`.
//!
//! Must never: do anything per request beyond choosing the upstream — it is the floor.

use async_trait::async_trait;
use pingora_core::server::configuration::ServerConf;
use pingora_core::server::Server;
use pingora_core::upstreams::peer::HttpPeer;
use pingora_proxy::{ProxyHttp, Session};
use std::net::SocketAddr;

struct Passthrough {
    upstream: SocketAddr,
}

#[async_trait]
impl ProxyHttp for Passthrough {
    type CTX = ();

    fn new_ctx(&self) {}

    async fn upstream_peer(
        &self,
        _session: &mut Session,
        _ctx: &mut (),
    ) -> pingora_core::Result<Box<HttpPeer>> {
        Ok(Box::new(HttpPeer::new(self.upstream, false, String::new())))
    }
}

/// Serves `listen` as a passthrough to `upstream` until killed.
pub fn run(listen: &str, upstream: &str) -> ! {
    let Ok(upstream) = upstream.parse::<SocketAddr>() else {
        eprintln!("bare pingora: `{upstream}` is not an address like 127.0.0.1:8080");
        std::process::exit(2);
    };
    let tag = format!("bare-pingora-{}", std::process::id());
    let conf = ServerConf {
        threads: 2,
        grace_period_seconds: Some(0),
        graceful_shutdown_timeout_seconds: Some(1),
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
    let mut proxy =
        pingora_proxy::http_proxy_service(&server.configuration, Passthrough { upstream });
    proxy.add_tcp(listen);
    server.add_service(proxy);
    server.run_forever()
}
