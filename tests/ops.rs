//! Operations: /metrics (promtool, a real Prometheus), /stats across restarts, SIGHUP reloads
//! under load, /health?verbose=1.

use headroom_test_support as support;

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::fake_upstream::FakeUpstream;
use support::*;

const BODY: &[u8] =
    br#"{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hello"}]}"#;

/// A body long enough to hold a block worth compressing (bodies under `min_tokens` bytes stream
/// with their Content-Length even with compression on).
const LONGER_BODY: &[u8] = br#"{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"The deploy failed twice this morning with a timeout while pulling the base image from the registry mirror, and the retry after the mirror restart succeeded. What should we change in the pipeline so that a slow mirror does not fail the whole deploy, and how do we tell a slow mirror from a broken one in the logs?"}]}"#;

fn have(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {cmd}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn require(cmd: &str) -> bool {
    if have(cmd) {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI must have {cmd}: scripts/setup.sh installs it"
    );
    eprintln!("SKIPPED: {cmd} is not installed (scripts/setup.sh installs it)");
    false
}

#[test]
fn metrics_pass_promtool_and_cover_the_documented_families() {
    let up = FakeUpstream::start();
    let proxy = Proxy::start(&upstreams(&up.url()));
    proxy.post_json("/v1/messages", BODY);
    // The request is counted just after its answer went out: wait for it rather than race it.
    let counted_line = "headroom_requests_total{route=\"messages\",status=\"2xx\"} 1";
    let mut text = String::new();
    let counted = support::hardening::eventually(Duration::from_secs(5), || {
        text = proxy.get("/metrics").text();
        text.contains(counted_line)
    });
    assert!(counted, "{counted_line} never appeared:\n{text}");
    for family in [
        "headroom_requests_total",
        "headroom_request_duration_seconds_bucket",
        "headroom_upstream_duration_seconds_bucket",
        "headroom_compression_tokens_total",
        "headroom_upstream_usage_tokens_total",
        "headroom_config_reloads_total",
        "headroom_build_info",
    ] {
        assert!(text.contains(family), "{family} missing:\n{text}");
    }
    assert!(text.contains("le=\"0.00005\""), "50 µs bucket missing");
    assert!(text.contains("le=\"600\""), "10 min bucket missing");
    if !require("promtool") {
        return;
    }
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "promtool: {said}"
    );
}

#[test]
fn a_real_prometheus_scrapes_the_proxy() {
    if !require("prometheus") {
        return;
    }
    let up = FakeUpstream::start();
    let proxy = Proxy::start(&upstreams(&up.url()));
    for _ in 0..3 {
        proxy.post_json("/v1/messages", BODY);
    }
    let dir = tempfile::tempdir().unwrap();
    let prom_port = free_port();
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(
        &cfg,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: headroom\n    static_configs:\n      - targets: ['127.0.0.1:{}']\n",
            proxy.port
        ),
    )
    .unwrap();
    let mut prom = Command::new("prometheus")
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start prometheus");
    let query = |q: &str| -> Option<f64> {
        let path = format!("/api/v1/query?query={q}");
        let r = request(prom_port, "GET", &path, &[], b"").ok()?;
        let v: serde_json::Value = serde_json::from_slice(&r.body).ok()?;
        v["data"]["result"][0]["value"][1].as_str()?.parse().ok()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut up_ok = false;
    let mut requests = 0.0;
    while Instant::now() < deadline {
        up_ok = query("up%7Bjob%3D%22headroom%22%7D") == Some(1.0);
        requests = query("sum(headroom_requests_total)").unwrap_or(0.0);
        if up_ok && requests > 0.0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let _ = prom.kill();
    let _ = prom.wait();
    assert!(up_ok, "Prometheus never saw up{{job=\"headroom\"}} == 1");
    assert!(requests >= 3.0, "headroom_requests_total = {requests}");
}

#[test]
fn lifetime_stats_survive_sigterm_and_restart() {
    let up = FakeUpstream::start();
    let mut proxy = Proxy::start(&upstreams(&up.url()));
    for _ in 0..3 {
        proxy.post_json("/v1/messages", BODY);
    }
    proxy.signal(libc::SIGTERM);
    assert_eq!(proxy.wait_exit(Duration::from_secs(10)), Some(0));
    let (dir, port, config_path) = proxy.into_state();
    let proxy = Proxy::spawn(dir, port, config_path, &[]);
    proxy.post_json("/v1/messages", BODY);
    let s = proxy.stats_when(|s| s["requests"] == 1);
    assert_eq!(s["requests"], 1, "{s}");
    assert_eq!(s["lifetime"]["requests"], 4, "{s}");
}

#[test]
fn kill_9_loses_at_most_one_flush_interval() {
    let up = FakeUpstream::start();
    let mut proxy = Proxy::start(&upstreams(&up.url()));
    for _ in 0..5 {
        proxy.post_json("/v1/messages", BODY);
    }
    // Requests are recorded just after their answer went out: wait for all five, then
    // (flush_seconds is 1 in test configs) past one interval.
    let s = proxy.stats_when(|s| s["requests"] == 5);
    assert_eq!(s["requests"], 5, "{s}");
    std::thread::sleep(Duration::from_millis(2500));
    proxy.signal(libc::SIGKILL);
    let _ = proxy.wait_exit(Duration::from_secs(5));
    let (dir, port, config_path) = proxy.into_state();
    let proxy = Proxy::spawn(dir, port, config_path, &[]);
    let s = proxy.get("/stats").json();
    assert_eq!(s["lifetime"]["requests"], 5, "{s}");
}

#[test]
fn corrupt_stats_file_is_set_aside_not_fatal() {
    let up = FakeUpstream::start();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("stats.json"), b"\x00garbage{").unwrap();
    let port = free_port();
    let config_path = dir.path().join("headroom.yaml");
    std::fs::write(
        &config_path,
        format!(
            "listen: 127.0.0.1:{port}\nstats:\n  path: {}\n{}",
            dir.path().join("stats.json").display(),
            upstreams(&up.url())
        ),
    )
    .unwrap();
    let proxy = Proxy::spawn(dir, port, config_path, &[]);
    assert_eq!(proxy.get("/stats").json()["lifetime"]["requests"], 0);
    assert!(
        proxy.stderr().contains("stats file is corrupt"),
        "{}",
        proxy.stderr()
    );
    let names: Vec<String> = std::fs::read_dir(proxy.dir.path())
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    assert!(names.iter().any(|n| n.contains("corrupt")), "{names:?}");
}

#[test]
fn sighup_under_load_switches_behaviour_without_dropping_a_request() {
    let up = FakeUpstream::start();
    // Framing tells the two behaviours apart on the normal path (a served exchange, with the
    // retrieval tool on, sends an exact length either way).
    let base = format!("{}retrieval:\n  tool: false\n", upstreams(&up.url()));
    let proxy = Proxy::start(&format!("{base}compression:\n  enabled: true\n"));
    let listen = format!(
        "listen: 127.0.0.1:{}\nstats:\n  path: {}\n",
        proxy.port,
        proxy.dir.path().join("stats.json").display()
    );
    let write_cfg = |enabled: bool| {
        std::fs::write(
            &proxy.config_path,
            format!("{listen}{base}compression:\n  enabled: {enabled}\n"),
        )
        .unwrap();
    };
    let stop = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(AtomicUsize::new(0));
    let sent = Arc::new(AtomicUsize::new(0));
    let port = proxy.port;
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (stop, failures, sent) = (stop.clone(), failures.clone(), sent.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match request(
                        port,
                        "POST",
                        "/v1/messages",
                        &[("content-type", "application/json")],
                        LONGER_BODY,
                    ) {
                        Ok(r) if r.status == 200 => {}
                        _ => {
                            failures.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    sent.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    // Compression on: bodies are buffered and arrive chunked; off: they keep Content-Length.
    let framing_after_reload = |enabled: bool| -> bool {
        up.clear();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            // Requests that started before the swap may land late: judge the newest three.
            let reqs = up.requests();
            if reqs.len() >= 6 {
                return reqs[reqs.len() - 3..].iter().all(|r| r.chunked == enabled);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        false
    };
    let reloads = |result: &str| -> u64 {
        let text = proxy.get("/metrics").text();
        let key = format!("headroom_config_reloads_total{{result=\"{result}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&key).and_then(|v| v.trim().parse().ok()))
            .unwrap_or(0)
    };
    let wait_for = |result: &str, n: u64| {
        let deadline = Instant::now() + Duration::from_secs(10);
        while reloads(result) < n && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(reloads(result), n, "reload {result} #{n} never finished");
    };
    let mut reloads_ok = 0;
    for i in 0..20u64 {
        let enabled = i % 2 == 1;
        write_cfg(enabled);
        proxy.signal(libc::SIGHUP);
        wait_for("ok", i + 1);
        // Requests that started before the swap may still be finishing.
        std::thread::sleep(Duration::from_millis(50));
        if framing_after_reload(enabled) {
            reloads_ok += 1;
        }
        if i == 10 {
            std::fs::write(
                &proxy.config_path,
                format!("{listen}{base}compression:\n  enabld: true\n"),
            )
            .unwrap();
            proxy.signal(libc::SIGHUP);
            wait_for("error", 1);
        }
    }
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    assert_eq!(
        failures.load(Ordering::Relaxed),
        0,
        "failed requests during reloads"
    );
    assert!(
        sent.load(Ordering::Relaxed) > 100,
        "load too light: {}",
        sent.load(Ordering::Relaxed)
    );
    assert_eq!(reloads_ok, 20, "behaviour did not follow every reload");
    let metrics = proxy.get("/metrics").text();
    assert!(
        metrics.contains("headroom_config_reloads_total{result=\"error\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("headroom_config_reloads_total{result=\"ok\"} 20"),
        "{metrics}"
    );
    let health = proxy.get("/health?verbose=1").json();
    assert_eq!(health["last_reload"]["result"], "ok", "{health}");
    assert!(
        proxy.stderr().contains("enabld"),
        "invalid reload not explained"
    );
    assert_eq!(proxy.get("/health").text(), r#"{"status":"healthy"}"#);
}

#[test]
fn verbose_health_reports_version_config_and_upstreams() {
    let up = FakeUpstream::start();
    let proxy = Proxy::start(&upstreams(&up.url()));
    let h = proxy.get("/health?verbose=1").json();
    assert_eq!(h["status"], "healthy");
    assert_eq!(h["version"], env!("CARGO_PKG_VERSION"));
    assert!(h["config_path"]
        .as_str()
        .unwrap()
        .ends_with("headroom.yaml"));
    assert_eq!(h["upstreams"]["anthropic"], up.url());
    assert!(h["uptime_seconds"].is_u64());
}
