//! Stats shared by several real proxy processes on one file, history over restarts and kill -9,
//! `/stats/history` (JSON, CSV, bad parameters), the `headroom stats` command, and a stats file
//! that cannot be written.

use headroom_test_support as support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use support::fake_upstream::FakeUpstream;
use support::*;

const BODY: &[u8] = br#"{"model":"claude-sonnet-4-5-20250929","max_tokens":5,"messages":[{"role":"user","content":"hello"}]}"#;

/// A proxy whose stats go to `stats` (shared between instances).
fn proxy_on(stats: &Path, up: &FakeUpstream) -> Proxy {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config_path = dir.path().join("headroom.yaml");
    std::fs::write(&config_path, config(port, stats, up)).unwrap();
    Proxy::spawn(dir, port, config_path, &[])
}

fn config(port: u16, stats: &Path, up: &FakeUpstream) -> String {
    format!(
        "listen: 127.0.0.1:{port}\nstats:\n  path: {}\n  flush_seconds: 1\ncompression:\n  enabled: false\n{}",
        stats.display(),
        upstreams(&up.url())
    )
}

fn file_totals(path: &Path) -> serde_json::Value {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    v["totals"].clone()
}

fn send(p: &Proxy, n: usize) {
    for _ in 0..n {
        assert_eq!(p.post_json("/v1/messages", BODY).status, 200);
    }
}

fn stop(mut p: Proxy) {
    p.signal(libc::SIGTERM);
    assert_eq!(
        p.wait_exit(Duration::from_secs(10)),
        Some(0),
        "{}",
        p.stderr()
    );
}

fn names_in(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect()
}

#[test]
fn two_instances_on_one_stats_file_sum_exactly() {
    let up = FakeUpstream::start();
    let state = tempfile::tempdir().unwrap();
    let path = state.path().join("stats.json");
    let (a, b) = (proxy_on(&path, &up), proxy_on(&path, &up));
    // Interleaved, so both flush over each other's writes several times.
    for _ in 0..5 {
        send(&a, 7);
        send(&b, 4);
        std::thread::sleep(Duration::from_millis(300));
    }
    stop(a);
    stop(b);
    let t = file_totals(&path);
    assert_eq!(t["requests"], 55, "{t}");
    assert_eq!(
        t["models"]["claude-sonnet-4-5-20250929"]["requests"], 55,
        "{t}"
    );
    assert!(names_in(state.path()).iter().all(|n| !n.contains("tmp")));
}

#[test]
fn three_instances_killed_with_sigkill_lose_nothing_older_than_one_flush() {
    let up = FakeUpstream::start();
    let state = tempfile::tempdir().unwrap();
    let path = state.path().join("stats.json");
    let proxies: Vec<Proxy> = (0..3).map(|_| proxy_on(&path, &up)).collect();
    let counts = [3, 11, 6];
    for (p, n) in proxies.iter().zip(counts) {
        send(p, n);
    }
    // Requests are recorded just after their answer went out: wait until every instance has
    // recorded its own; flush_seconds is 1: after two intervals each has written them.
    for (p, n) in proxies.iter().zip(counts) {
        let s = p.stats_when(|s| s["requests"] == n);
        assert_eq!(s["requests"], n, "{s}");
    }
    std::thread::sleep(Duration::from_millis(2500));
    for p in &proxies {
        p.signal(libc::SIGKILL);
    }
    drop(proxies);
    let t = file_totals(&path);
    assert_eq!(t["requests"], 20, "{t}");
    // The day's history bucket holds the same counts as the lifetime totals.
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let in_days: u64 = v["history"]["days"]
        .as_object()
        .unwrap()
        .values()
        .map(|d| d["requests"].as_u64().unwrap())
        .sum();
    assert_eq!(in_days, 20, "{v}");
}

#[test]
fn history_survives_kill_9_and_restart_and_serves_json_and_csv() {
    let up = FakeUpstream::start();
    let state = tempfile::tempdir().unwrap();
    let path = state.path().join("stats.json");
    let first = proxy_on(&path, &up);
    send(&first, 4);
    // Recorded just after each answer went out; written within a flush interval (1 s) after.
    let s = first.stats_when(|s| s["requests"] == 4);
    assert_eq!(s["requests"], 4, "{s}");
    std::thread::sleep(Duration::from_millis(2500));
    first.signal(libc::SIGKILL);
    drop(first);
    let second = proxy_on(&path, &up);
    send(&second, 2);
    // Requests are counted just after their response is sent: poll (with a deadline) until
    // the second instance has counted its own two on top of the first one's four.
    let hour_total = |h: &serde_json::Value| -> u64 {
        h["buckets"]
            .as_array()
            .map(|bs| bs.iter().filter_map(|b| b["requests"].as_u64()).sum())
            .unwrap_or(0)
    };
    let mut h = serde_json::Value::Null;
    let settled = support::hardening::eventually(Duration::from_secs(10), || {
        h = second.get("/stats/history?period=hour").json();
        hour_total(&h) >= 6
    });
    assert!(settled, "{h}");
    assert_eq!(hour_total(&h), 6, "{h}");
    let buckets = h["buckets"].as_array().unwrap();
    assert!(buckets
        .iter()
        .all(|b| b["start"].as_str().unwrap().ends_with(":00:00Z")));
    let d = second.get("/stats/history?period=day&format=csv");
    assert_eq!(d.status, 200);
    assert!(d.header("content-type").unwrap().starts_with("text/csv"));
    let text = d.text();
    let rows: Vec<&str> = text.lines().collect();
    assert!(rows[0].starts_with("start,requests,"), "{text}");
    let requests: u64 = rows[1..]
        .iter()
        .map(|r| r.split(',').nth(1).unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(requests, 6, "{text}");
}

#[test]
fn bad_history_parameters_get_an_anthropic_shaped_400() {
    let up = FakeUpstream::start();
    let proxy = Proxy::start(&upstreams(&up.url()));
    for q in [
        "period=week",
        "from=tuesday",
        "format=xml",
        "to=2020-01-01&from=2021-01-01",
        "x=1",
    ] {
        let r = proxy.get(&format!("/stats/history?{q}"));
        assert_eq!(r.status, 400, "{q}");
        let v = r.json();
        assert_eq!(v["type"], "error", "{q}: {v}");
        assert_eq!(v["error"]["type"], "invalid_request_error", "{q}: {v}");
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap()
                .contains("/stats/history"),
            "{v}"
        );
    }
}

#[test]
fn stats_show_estimated_dollars_per_model() {
    let up = FakeUpstream::start();
    let proxy = Proxy::start(&upstreams(&up.url()));
    send(&proxy, 2);
    let s = proxy.stats_when(|s| s["requests"] == 2);
    let m = &s["lifetime"]["models"]["claude-sonnet-4-5-20250929"];
    assert_eq!(m["requests"], 2, "{s}");
    assert_eq!(m["priced"], true, "{s}");
    let usage = &m["upstream_usage"];
    let expected = (usage["input"].as_f64().unwrap() * 3.0
        + usage["output"].as_f64().unwrap() * 15.0
        + usage["cache_read"].as_f64().unwrap() * 0.3
        + usage["cache_creation"].as_f64().unwrap() * 3.75)
        / 1e6;
    let spent = m["estimated_dollars_spent"].as_f64().unwrap();
    assert!(
        (spent - (expected * 1000.0).round() / 1000.0).abs() < 1e-9,
        "{spent} vs {expected}: {s}"
    );
    assert!(
        s["lifetime"]["estimates"].is_null() && s["estimates"].is_string(),
        "{s}"
    );
}

fn headroom_stats(config: &Path, json: bool) -> (i32, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_headroom"));
    cmd.arg("-c").arg(config).arg("stats");
    if json {
        cmd.arg("--json");
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn headroom_stats_summarises_the_file_the_config_names() {
    let up = FakeUpstream::start();
    let state = tempfile::tempdir().unwrap();
    let path = state.path().join("stats.json");
    let p = proxy_on(&path, &up);
    send(&p, 3);
    let config_path: PathBuf = p.config_path.clone();
    let keep = tempfile::tempdir().unwrap();
    let saved_config = keep.path().join("headroom.yaml");
    std::fs::copy(&config_path, &saved_config).unwrap();
    stop(p);
    let (code, out) = headroom_stats(&saved_config, true);
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    for k in ["today", "last_7_days", "lifetime"] {
        assert_eq!(v[k]["requests"], 3, "{k}: {v}");
    }
    assert_eq!(v["path"], path.display().to_string());
    let (code, table) = headroom_stats(&saved_config, false);
    assert_eq!(code, 0, "{table}");
    let lifetime = table.lines().find(|l| l.starts_with("lifetime")).unwrap();
    assert_eq!(lifetime.split_whitespace().nth(1), Some("3"), "{table}");
    assert!(table.contains("estimates"), "{table}");
    std::fs::write(&path, b"{broken").unwrap();
    let (code, out) = headroom_stats(&saved_config, false);
    assert_eq!(code, 1);
    assert!(out.contains("is not a stats file"), "{out}");
}

#[test]
fn an_unwritable_stats_file_warns_once_shows_in_health_and_leaves_no_temp_file() {
    let up = FakeUpstream::start();
    let state = tempfile::tempdir().unwrap();
    // A directory in the file's place: every write fails, whoever runs the test (root included).
    let path = state.path().join("stats.json");
    std::fs::create_dir(&path).unwrap();
    std::fs::write(path.join("keep"), b"x").unwrap();
    let p = proxy_on(&path, &up);
    for _ in 0..3 {
        send(&p, 1);
        // Past one flush interval each time: three failed writes.
        std::thread::sleep(Duration::from_millis(1300));
    }
    let h = p.get("/health?verbose=1").json();
    let err = h["stats_write_error"]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(err.contains("stats.json"), "{h}");
    let warnings = p.stderr().matches("cannot write stats file").count();
    assert_eq!(warnings, 1, "{}", p.stderr());
    let mut names = names_in(state.path());
    names.sort();
    // The lock file sits beside the stats file by design; no temp file may.
    assert_eq!(names, ["stats.json", "stats.json.lock"]);
    // The counts are kept: this run still reports them.
    assert_eq!(p.get("/stats").json()["requests"], 3);
}

#[test]
fn dashboard_and_history_are_refused_to_foreign_origins() {
    let up = FakeUpstream::start();
    let proxy = Proxy::start(&upstreams(&up.url()));
    for path in ["/dashboard", "/dashboard/data", "/stats/history"] {
        let ok = proxy.get(path);
        assert_eq!(ok.status, 200, "{path}");
        let r = request(
            proxy.port,
            "GET",
            path,
            &[("origin", "http://attacker.example")],
            b"",
        )
        .unwrap();
        assert_eq!(r.status, 403, "{path}: {}", r.text());
        assert!(!r.text().contains("tokens_before"), "{path} leaked data");
    }
    let page = proxy.get("/dashboard");
    let csp = page.header("content-security-policy").unwrap_or_default();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("connect-src 'self'"),
        "{csp}"
    );
}
