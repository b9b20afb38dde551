//! Load benchmark: the same small `/v1/messages` POSTs sent with `wrk` straight to a fast
//! upstream and through headroom, at 1 and 32 connections, in one run. Prints p50/p99 latency,
//! requests/s, the ratios, and the proxy's RSS idle and under load.
//!
//! Run: `cargo bench --bench load` (needs `wrk`; `scripts/setup.sh` installs it).
//! Env: `LOAD_SECONDS` (default 10) per measurement.

use headroom_test_support::fake_upstream;

use std::process::{Command, Stdio};
use std::time::Duration;

struct WrkResult {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: u64,
}

fn wrk(port: u16, conns: u32, seconds: u64, script: &std::path::Path) -> WrkResult {
    let threads = conns.min(2);
    let out = Command::new("wrk")
        .args([
            "-t",
            &threads.to_string(),
            "-c",
            &conns.to_string(),
            "-d",
            &format!("{seconds}s"),
            "--latency",
            "-s",
        ])
        .arg(script)
        .arg(format!("http://127.0.0.1:{port}/v1/messages"))
        .output()
        .expect("wrk runs (apt-get install wrk)");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let find = |prefix: &str| -> Option<String> {
        text.lines()
            .map(str::trim)
            .find(|l| l.starts_with(prefix))
            .map(|l| l.to_string())
    };
    let ms = |v: &str| -> f64 {
        let v = v.trim();
        if let Some(x) = v.strip_suffix("us") {
            x.parse::<f64>().unwrap_or(f64::NAN) / 1000.0
        } else if let Some(x) = v.strip_suffix("ms") {
            x.parse().unwrap_or(f64::NAN)
        } else if let Some(x) = v.strip_suffix('s') {
            x.parse::<f64>().unwrap_or(f64::NAN) * 1000.0
        } else {
            f64::NAN
        }
    };
    let pct = |p: &str| {
        find(p)
            .and_then(|l| l.split_whitespace().nth(1).map(ms))
            .unwrap_or(f64::NAN)
    };
    let rps = find("Requests/sec:")
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(f64::NAN);
    let errors = find("Non-2xx or 3xx responses:")
        .and_then(|l| l.split_whitespace().last().and_then(|v| v.parse().ok()))
        .unwrap_or(0)
        + find("Socket errors:")
            .map(|l| {
                l.split(|c: char| !c.is_ascii_digit())
                    .filter_map(|n| n.parse::<u64>().ok())
                    .sum()
            })
            .unwrap_or(0);
    WrkResult {
        rps,
        p50_ms: pct("50%"),
        p99_ms: pct("99%"),
        errors,
    }
}

fn rss_mb(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse::<f64>().ok())
            })
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

/// Starts the benchmarked binary on `port` with `extra` config, and waits until it is idle.
fn start_proxy(
    dir: &std::path::Path,
    port: u16,
    upstream: &str,
    extra: &str,
) -> std::process::Child {
    let config = dir.join("headroom.yaml");
    std::fs::write(
        &config,
        format!(
            "listen: 127.0.0.1:{port}\nupstreams:\n  anthropic: {upstream}\n  openai: {upstream}\nlog:\n  level: warn\nstats:\n  path: {}\n{extra}",
            dir.join("stats.json").display()
        ),
    )
    .unwrap();
    let proxy = Command::new(env!("CARGO_BIN_EXE_headroom"))
        .arg("-c")
        .arg(&config)
        .env("HOME", dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start headroom");
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    std::thread::sleep(Duration::from_millis(300));
    proxy
}

fn main() {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return; // `cargo test --benches` / libtest probes: nothing to list
    }
    let seconds: u64 = std::env::var("LOAD_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let up = fake_upstream::FakeUpstream::start();
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut proxy = start_proxy(dir.path(), port, &up.url(), "");
    let idle_rss = rss_mb(proxy.id());

    let body = r#"{"model":"claude-sonnet-4-5","max_tokens":256,"messages":[{"role":"user","content":"What does this function return when the list is empty?"}]}"#;
    let script = dir.path().join("post.lua");
    std::fs::write(
        &script,
        format!(
            "wrk.method = \"POST\"\nwrk.headers[\"content-type\"] = \"application/json\"\nwrk.headers[\"anthropic-version\"] = \"2023-06-01\"\nwrk.body = '{body}'\n"
        ),
    )
    .unwrap();

    println!("headroom load benchmark: small /v1/messages POSTs, {seconds}s per run, fake upstream on loopback");
    println!(
        "{:<6} {:<7} {:>10} {:>9} {:>9} {:>7}",
        "conns", "path", "req/s", "p50 ms", "p99 ms", "errors"
    );
    let mut peak_rss = idle_rss;
    for conns in [1u32, 32] {
        // Warm both paths (connection pools, page cache) before measuring.
        wrk(up.port, conns, 1, &script);
        wrk(port, conns, 1, &script);
        let direct = wrk(up.port, conns, seconds, &script);
        let sampler = {
            let pid = proxy.id();
            std::thread::spawn(move || {
                let mut peak = 0f64;
                for _ in 0..(seconds * 4) {
                    std::thread::sleep(Duration::from_millis(250));
                    peak = peak.max(rss_mb(pid));
                }
                peak
            })
        };
        let via = wrk(port, conns, seconds, &script);
        peak_rss = peak_rss.max(sampler.join().unwrap_or(0.0));
        for (name, r) in [("direct", &direct), ("proxy", &via)] {
            println!(
                "{:<6} {:<7} {:>10.0} {:>9.3} {:>9.3} {:>7}",
                conns, name, r.rps, r.p50_ms, r.p99_ms, r.errors
            );
        }
        println!(
            "{:<6} {:<7} proxy/direct req/s = {:.2}, added p50 = {:.3} ms, added p99 = {:.3} ms",
            conns,
            "ratio",
            via.rps / direct.rps,
            via.p50_ms - direct.p50_ms,
            via.p99_ms - direct.p99_ms
        );
    }
    println!("proxy RSS (default config, MiniLM model loaded): idle {idle_rss:.1} MB, peak under load {peak_rss:.1} MB");
    let _ = proxy.kill();
    let _ = proxy.wait();

    // The same proxy without the learned compressor (rule-based compression only).
    let mut proxy = start_proxy(dir.path(), port, &up.url(), "model:\n  enabled: false\n");
    println!(
        "proxy RSS (model.enabled: false): idle {:.1} MB",
        rss_mb(proxy.id())
    );
    let _ = proxy.kill();
    let _ = proxy.wait();
}
