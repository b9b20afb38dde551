//! Bounded soak on loopback: the release `headroom` binary between 32 keep-alive clients and the
//! fake upstream for `SOAK_SECONDS` (default 120), mixing streamed and plain answers, small and
//! ~300 KB compressible bodies (tool-result logs and JSON listings), on both API routes, with a
//! SIGHUP reload every `SOAK_RELOAD_SECONDS` (default 5). Reports unexpected errors, latency
//! percentiles per kind of request, RSS half-way vs at the end, and descriptors before vs after.
//! Exits 1 when an acceptance bound is missed (any unexpected error, RSS growth ≥ 10 % over the
//! second half, descriptor growth).
//!
//! Run: `cargo bench --bench soak` (`SOAK_SECONDS=30 cargo bench --bench soak` for a short one).

use headroom_test_support as support;

use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::fake_upstream::FakeUpstream;
use support::{read_response, Proxy};

const CONNECTIONS: usize = 32;

fn env_secs(name: &str, default: u64) -> Duration {
    Duration::from_secs(
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default),
    )
}

/// The kinds of request in the mix, with their share (out of 100).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Kind {
    SmallJson,
    SmallStream,
    LargeJson,
    LargeStream,
    OpenAiSmall,
    OpenAiLarge,
}

const MIX: &[(Kind, u32)] = &[
    (Kind::SmallJson, 45),
    (Kind::SmallStream, 20),
    (Kind::LargeJson, 15),
    (Kind::LargeStream, 5),
    (Kind::OpenAiSmall, 10),
    (Kind::OpenAiLarge, 5),
];

fn pick(n: u64) -> Kind {
    let mut r = (n % 100) as u32;
    for (k, share) in MIX {
        if r < *share {
            return *k;
        }
        r -= share;
    }
    Kind::SmallJson
}

/// ~300 KB of tool output an agent would send: a build log with a few errors and a JSON
/// listing, varied by `seed` so not every request is the same.
fn large_tool_result(seed: usize) -> String {
    let mut log = String::new();
    let mut i = 0;
    while log.len() < 200_000 {
        let level = if i % 997 == seed % 997 {
            "ERROR"
        } else {
            "INFO"
        };
        log.push_str(&format!(
            "2026-03-0{}T10:{:02}:{:02}.{:03}Z {level} build-worker-{} compiled crate_{} in {} ms\n",
            seed % 9 + 1,
            i / 3600 % 60,
            i / 60 % 60,
            i % 1000,
            i % 8,
            i % 211,
            (i * 37 + seed) % 900
        ));
        i += 1;
    }
    let rows: Vec<serde_json::Value> = (0..700)
        .map(|r| {
            serde_json::json!({
                "id": r, "path": format!("src/mod_{}/file_{r}.rs", r % 17),
                "status": if (r + seed).is_multiple_of(53) { "failed" } else { "ok" },
                "lines": (r * 31 + seed) % 2000, "owner": format!("team-{}", r % 5)
            })
        })
        .collect();
    format!(
        "{log}\n{}",
        serde_json::to_string_pretty(&rows).unwrap_or_default()
    )
}

fn anthropic_body(tool_output: &str, stream: bool, n: u64) -> Vec<u8> {
    serde_json::json!({
        "model": "claude-sonnet-4-5",
        "max_tokens": 256,
        "stream": stream,
        "messages": [
            {"role": "user", "content": format!("why did the build fail? (request {n})")},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "bash", "input": {"command": "make"}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": tool_output}]},
        ]
    })
    .to_string()
    .into_bytes()
}

fn openai_body(tool_output: &str, n: u64) -> Vec<u8> {
    serde_json::json!({
        "model": "gpt-fake",
        "messages": [
            {"role": "user", "content": format!("summarise the run (request {n})")},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "run", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": tool_output},
        ]
    })
    .to_string()
    .into_bytes()
}

struct Bodies {
    large: Vec<String>,
}

impl Bodies {
    fn request(&self, kind: Kind, n: u64) -> (&'static str, Vec<u8>) {
        let large = &self.large[n as usize % self.large.len()];
        let small = "exit status 0\nall 12 tests passed\n";
        match kind {
            Kind::SmallJson => ("/v1/messages", anthropic_body(small, false, n)),
            Kind::SmallStream => ("/v1/messages", anthropic_body(small, true, n)),
            Kind::LargeJson => ("/v1/messages", anthropic_body(large, false, n)),
            Kind::LargeStream => ("/v1/messages", anthropic_body(large, true, n)),
            Kind::OpenAiSmall => ("/v1/chat/completions", openai_body(small, n)),
            Kind::OpenAiLarge => ("/v1/chat/completions", openai_body(large, n)),
        }
    }
}

/// One keep-alive client connection.
struct Client {
    port: u16,
    conn: Option<BufReader<TcpStream>>,
}

impl Client {
    fn send(&mut self, path: &str, body: &[u8]) -> std::io::Result<support::Response> {
        if self.conn.is_none() {
            let s = TcpStream::connect(("127.0.0.1", self.port))?;
            s.set_nodelay(true)?;
            s.set_read_timeout(Some(Duration::from_secs(30)))?;
            self.conn = Some(BufReader::new(s));
        }
        let conn = self.conn.as_mut().expect("connected");
        let mut wire = format!(
            "POST {path} HTTP/1.1\r\nhost: soak\r\ncontent-type: application/json\r\nx-api-key: soak-key\r\nanthropic-version: 2023-06-01\r\ncontent-length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        wire.extend_from_slice(body);
        let result = conn
            .get_mut()
            .write_all(&wire)
            .and_then(|_| read_response(conn));
        let keep = matches!(&result, Ok(r) if !r.header("connection").is_some_and(|v| v.eq_ignore_ascii_case("close")));
        if !keep {
            self.conn = None;
        }
        result
    }
}

fn check(kind: Kind, r: &support::Response) -> Result<(), String> {
    if r.status != 200 {
        return Err(format!(
            "{kind:?}: status {} {}",
            r.status,
            r.text().chars().take(200).collect::<String>()
        ));
    }
    let text = r.text();
    let expect = match kind {
        Kind::SmallStream | Kind::LargeStream => "event: message_stop",
        Kind::OpenAiSmall | Kind::OpenAiLarge => "chat.completion",
        _ => "fake answer",
    };
    if text.contains(expect) {
        Ok(())
    } else {
        Err(format!("{kind:?}: answer lacks {expect:?}"))
    }
}

#[derive(Default)]
struct Tally {
    latencies: Vec<(Kind, Duration)>,
    errors: Vec<String>,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else to parse.
    let duration = env_secs("SOAK_SECONDS", 120);
    let reload_every = env_secs("SOAK_RELOAD_SECONDS", 5);
    let up = FakeUpstream::start();
    let yaml = |timeout_ms: u64| {
        format!(
            "{}log:\n  level: warn\ntimeouts:\n  client_read_ms: {timeout_ms}\n",
            support::upstreams(&up.url())
        )
    };
    let proxy = Proxy::start(&yaml(60_000));
    let pid = proxy.child.id();
    let base = std::fs::read_to_string(&proxy.config_path).expect("config");
    let bodies = Arc::new(Bodies {
        large: (0..8).map(large_tool_result).collect(),
    });
    eprintln!(
        "soak: {CONNECTIONS} connections for {}s, SIGHUP every {}s, large bodies ~{} KB; proxy pid {pid}",
        duration.as_secs(),
        reload_every.as_secs(),
        anthropic_body(&bodies.large[0], false, 0).len() / 1024
    );
    let fd_idle = fd_count(pid);
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let started = Instant::now();
    let workers: Vec<_> = (0..CONNECTIONS)
        .map(|t| {
            let (stop, done, tally, bodies) =
                (stop.clone(), done.clone(), tally.clone(), bodies.clone());
            let port = proxy.port;
            std::thread::spawn(move || {
                let mut client = Client { port, conn: None };
                let mut local = Tally::default();
                let mut n = t as u64 * 7919;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let kind = pick(n.wrapping_mul(2654435761) >> 7);
                    let (path, body) = bodies.request(kind, n);
                    let t0 = Instant::now();
                    match client
                        .send(path, &body)
                        .map_err(|e| format!("{kind:?}: {e}"))
                        .and_then(|r| check(kind, &r))
                    {
                        Ok(()) => local.latencies.push((kind, t0.elapsed())),
                        Err(e) => local.errors.push(e),
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                }
                let mut all = tally.lock().expect("tally");
                all.latencies.extend(local.latencies);
                all.errors.extend(local.errors);
            })
        })
        .collect();

    // Sample RSS and descriptors every second; send SIGHUP on schedule (alternating a value so
    // each reload really changes the config).
    let mut samples: Vec<(Duration, u64, usize)> = Vec::new();
    let mut reloads = 0u64;
    let mut next_reload = reload_every;
    // Stall detection: seconds with no completed request, and how late this sampler itself woke
    // (a late sampler means the whole machine stalled, not the proxy).
    let (mut idle_run, mut longest_idle, mut last_done, mut max_lag) =
        (0u32, 0u32, 0u64, Duration::ZERO);
    while started.elapsed() < duration {
        let slept = Instant::now();
        std::thread::sleep(Duration::from_secs(1));
        max_lag = max_lag.max(slept.elapsed().saturating_sub(Duration::from_secs(1)));
        let t = started.elapsed();
        samples.push((t, rss_kib(pid), fd_count(pid)));
        let now_done = done.load(Ordering::Relaxed);
        idle_run = if now_done == last_done {
            idle_run + 1
        } else {
            0
        };
        longest_idle = longest_idle.max(idle_run);
        last_done = now_done;
        if t >= next_reload {
            let timeout = if reloads.is_multiple_of(2) {
                60_001
            } else {
                60_000
            };
            let text = base.replace(
                "client_read_ms: 60000",
                &format!("client_read_ms: {timeout}"),
            );
            std::fs::write(&proxy.config_path, text).expect("rewrite config");
            proxy.signal(libc::SIGHUP);
            reloads += 1;
            next_reload += reload_every;
        }
        if samples.len().is_multiple_of(10) {
            eprintln!(
                "  t={:>4}s requests={:>8} rss={} KiB fds={}",
                t.as_secs(),
                done.load(Ordering::Relaxed),
                rss_kib(pid),
                fd_count(pid)
            );
        }
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = w.join();
    }
    let elapsed = started.elapsed();
    std::thread::sleep(Duration::from_secs(2));
    let fd_after = fd_count(pid);
    let alive = proxy_alive(pid);

    let tally = tally.lock().expect("tally");
    let total = tally.latencies.len() + tally.errors.len();
    println!(
        "\n== soak: {} s, {CONNECTIONS} connections, {reloads} SIGHUP reloads ==",
        elapsed.as_secs()
    );
    println!(
        "requests: {total} ({:.0}/s), unexpected errors: {}",
        total as f64 / elapsed.as_secs_f64(),
        tally.errors.len()
    );
    for e in tally.errors.iter().take(10) {
        println!("  error: {e}");
    }
    println!(
        "{:<14} {:>8} {:>10} {:>10} {:>10}",
        "kind", "count", "p50 ms", "p99 ms", "max ms"
    );
    let mut kinds: Vec<Kind> = MIX.iter().map(|(k, _)| *k).collect();
    kinds.sort();
    let mut all: Vec<Duration> = tally.latencies.iter().map(|(_, d)| *d).collect();
    all.sort();
    for k in kinds {
        let mut v: Vec<Duration> = tally
            .latencies
            .iter()
            .filter(|(kk, _)| *kk == k)
            .map(|(_, d)| *d)
            .collect();
        v.sort();
        println!(
            "{:<14} {:>8} {:>10} {:>10} {:>10}",
            format!("{k:?}"),
            v.len(),
            ms(percentile(&v, 0.5)),
            ms(percentile(&v, 0.99)),
            ms(percentile(&v, 1.0))
        );
    }
    println!(
        "{:<14} {:>8} {:>10} {:>10} {:>10}",
        "all",
        all.len(),
        ms(percentile(&all, 0.5)),
        ms(percentile(&all, 0.99)),
        ms(percentile(&all, 1.0))
    );

    let at = |frac: f64| {
        let t = elapsed.mul_f64(frac);
        samples
            .iter()
            .rev()
            .find(|(s, _, _)| *s <= t)
            .or(samples.first())
            .copied()
            .unwrap_or((Duration::ZERO, 0, 0))
    };
    let (t_mid, rss_mid, fd_mid) = at(0.5);
    let (t_end, rss_end, fd_end) = at(1.0);
    let (t_start, _, fd_start) = at(0.05);
    let growth = (rss_end as f64 - rss_mid as f64) / rss_mid.max(1) as f64 * 100.0;
    println!(
        "RSS: {rss_mid} KiB at {}s, {rss_end} KiB at {}s: growth {growth:+.1} %",
        t_mid.as_secs(),
        t_end.as_secs()
    );
    println!(
        "fds: idle {fd_idle}; under load {fd_start} at {}s, {fd_mid} at {}s, {fd_end} at {}s; after clients closed {fd_after}",
        t_start.as_secs(),
        t_mid.as_secs(),
        t_end.as_secs()
    );
    let metrics = support::request(proxy.port, "GET", "/metrics", &[], b"")
        .map(|r| r.text())
        .unwrap_or_default();
    let reloads_ok = metrics
        .lines()
        .find_map(|l| l.strip_prefix("headroom_config_reloads_total{result=\"ok\"} "))
        .unwrap_or("?")
        .to_string();
    println!(
        "reloads counted by the proxy: ok={reloads_ok} (sent {reloads}); proxy alive: {alive}"
    );
    let sample = |name: &str| {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let before = sample("headroom_compression_tokens_total{stage=\"before\"}");
    let after = sample("headroom_compression_tokens_total{stage=\"after\"}");
    println!(
        "compression: {before:.0} tokens in compressed blocks became {after:.0} ({:.1} % saved)",
        if before > 0.0 {
            (1.0 - after / before) * 100.0
        } else {
            0.0
        }
    );
    println!(
        "stalls: longest run without a completed request {longest_idle} s; sampler woke up to {} ms late",
        max_lag.as_millis()
    );
    let log = proxy.stderr();
    let noisy: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("WARN") || l.contains("ERROR"))
        .collect();
    println!("proxy log: {} WARN/ERROR lines", noisy.len());
    for l in noisy.iter().take(5) {
        println!("  {}", l.chars().take(240).collect::<String>());
    }

    let mut failed = Vec::new();
    if !tally.errors.is_empty() {
        failed.push("unexpected errors");
    }
    if growth >= 10.0 {
        failed.push("RSS grew by 10 % or more over the second half");
    }
    // Under the same load the count must not creep; once clients leave, what remains beyond the
    // idle count is the upstream keep-alive pool (at most one per client connection).
    if fd_end > fd_start + 2 || fd_after > fd_idle + CONNECTIONS {
        failed.push("descriptors grew");
    }
    if !alive {
        failed.push("proxy died");
    }
    if reloads_ok != reloads.to_string() {
        failed.push("not every SIGHUP was a successful reload");
    }
    if failed.is_empty() {
        println!("verdict: PASS");
    } else {
        println!("verdict: FAIL ({})", failed.join(", "));
        std::process::exit(1);
    }
}

fn proxy_alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/status"))
            .unwrap_or_default()
            .contains("State:\tZ")
}

fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}
