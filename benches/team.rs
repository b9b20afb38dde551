//! Capacity of one team-gateway replica, for sizing N (docs/team.md): the release `headroom`
//! binary in tokens mode between 4 client threads and the fake upstream, replaying a 10-turn
//! Claude-Code-shaped session, once on its own (local state) and once sharing state in a real
//! `redis-server`, in the same run. Reports requests per second (and the Redis run's ratio to
//! the local one), compression time and tokens saved per request (old turns hit the
//! replica's result cache, as in real conversations), and Redis round trips and bytes per
//! request.
//!
//! Run: `cargo bench --bench team` (`TEAM_BENCH_REQUESTS=600` for a longer run).

use headroom_test_support as support;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;
use support::fake_upstream::FakeUpstream;
use support::services::RedisServer;
use support::{agent_session, request, Proxy};

const THREADS: usize = 4;
const TOKEN: &str = "bench-token";

fn metric(page: &str, name: &str, label: &str) -> f64 {
    page.lines()
        .filter(|l| l.starts_with(name) && l.contains(label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn post(port: u16, body: &[u8]) -> u16 {
    let headers = [
        ("content-type", "application/json"),
        ("x-headroom-token", TOKEN),
        ("x-api-key", "sk-ant-bench"),
    ];
    request(port, "POST", "/v1/messages", &headers, body)
        .map(|r| r.status)
        .unwrap_or(0)
}

struct Run {
    rps: f64,
    compress_ms_per_req: f64,
    saved_per_req: f64,
    redis_ops_per_req: f64,
    redis_bytes_per_req: f64,
}

fn run(up: &FakeUpstream, redis: Option<&RedisServer>, requests: usize) -> Run {
    let mut yaml = format!(
        "{}auth:\n  mode: tokens\n  inject_api_key: false\n  tokens:\n    - {{ name: bench, sha256: {} }}\nmodel:\n  enabled: false\n",
        support::upstreams(&up.url()),
        support::sha256_hex(TOKEN.as_bytes())
    );
    if let Some(r) = redis {
        yaml.push_str(&format!("state:\n  redis_url: {}\n", r.url()));
    }
    let proxy = Proxy::start(&yaml);
    let bodies = Arc::new(agent_session::session(21, 10));
    // Cold pass: every block is new to this replica.
    for b in bodies.iter() {
        assert_eq!(post(proxy.port, b), 200);
    }
    let m = proxy.get("/metrics").text();
    let snapshot = |m: &str| {
        [
            metric(m, "headroom_redis_operations_total", ""),
            metric(m, "headroom_redis_bytes_total", ""),
            metric(m, "headroom_compression_duration_seconds_sum", ""),
            metric(m, "headroom_compression_tokens_total", "before")
                - metric(m, "headroom_compression_tokens_total", "after"),
        ]
    };
    let before = snapshot(&m);
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let workers: Vec<_> = (0..THREADS)
        .map(|_| {
            let (next, bodies, port) = (next.clone(), bodies.clone(), proxy.port);
            std::thread::spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= requests {
                    return;
                }
                assert_eq!(post(port, &bodies[i % bodies.len()]), 200);
            })
        })
        .collect();
    workers.into_iter().for_each(|w| w.join().unwrap());
    let elapsed = start.elapsed().as_secs_f64();
    // Let the flush of this run's savings land before reading the counters.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let after = snapshot(&proxy.get("/metrics").text());
    let per_req = |i: usize| (after[i] - before[i]) / requests as f64;
    Run {
        rps: requests as f64 / elapsed,
        compress_ms_per_req: per_req(2) * 1000.0,
        saved_per_req: per_req(3),
        redis_ops_per_req: per_req(0),
        redis_bytes_per_req: per_req(1),
    }
}

fn main() {
    let requests: usize = std::env::var("TEAM_BENCH_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let up = FakeUpstream::start();
    let redis = RedisServer::start();
    let local = run(&up, None, requests);
    let shared = run(&up, Some(&redis), requests);
    let sizes: Vec<usize> = agent_session::session(21, 10)
        .iter()
        .map(Vec::len)
        .collect();
    println!(
        "team gateway, one replica, {THREADS} client threads, {requests} requests of a 10-turn session ({}-{} KB bodies)",
        sizes.iter().min().unwrap_or(&0) / 1024,
        sizes.iter().max().unwrap_or(&0) / 1024
    );
    println!(
        "{:<22} {:>10} {:>18} {:>20} {:>16} {:>18}",
        "state", "req/s", "compress ms/req", "tokens saved/req", "redis ops/req", "redis bytes/req"
    );
    for (label, r) in [("local (no redis)", &local), ("shared in redis", &shared)] {
        println!(
            "{label:<22} {:>10.1} {:>18.2} {:>20.0} {:>16.3} {:>18.1}",
            r.rps,
            r.compress_ms_per_req,
            r.saved_per_req,
            r.redis_ops_per_req,
            r.redis_bytes_per_req
        );
    }
    println!("redis / local req/s ratio: {:.2}", shared.rps / local.rps);
}
