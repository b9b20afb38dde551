//! What two replicas on one real `redis-server` share beyond totals: the savings history
//! (`/stats/history`, `/dashboard/data`) read from Redis, flagged when it falls back to the
//! replica's own; the compression result cache (a block compressed on A is a shared hit on B,
//! byte-identical); and a SIGHUP that changes `state.*` keeping the running connection, with
//! a WARN saying a restart is needed.

use super::*;
use headroom_test_support::agent_session;
use headroom_test_support::hardening::eventually;
use headroom_test_support::services::RedisServer;
use std::io::{Read, Write};
use std::time::Duration;

/// A Claude Code-shaped turn whose tool result is a real CI log (compressed by the log
/// compressor).
fn ci_turn(question: &str) -> Vec<u8> {
    let output = std::fs::read_to_string(
        headroom_test_support::checkout().join("tests/fixtures/compress/ci_log.txt"),
    )
    .unwrap();
    let messages = vec![
        serde_json::json!({"role": "user", "content": [{"type": "text", "text": question}]}),
        serde_json::json!({"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_01", "name": "Bash", "input": {}}]}),
        serde_json::json!({"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01", "content": output}]}),
    ];
    agent_session::request(&messages)
}

/// One inline command to Redis, answered as raw RESP.
fn redis_raw(port: u16, command: &str) -> String {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    s.write_all(format!("{command}\r\n").as_bytes()).unwrap();
    let mut buf = vec![0u8; 65536];
    let n = s.read(&mut buf).unwrap_or(0);
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

fn hour_requests(doc: &serde_json::Value) -> u64 {
    doc["buckets"]
        .as_array()
        .map(|bs| bs.iter().filter_map(|b| b["requests"].as_u64()).sum())
        .unwrap_or(0)
}

fn model_requests(doc: &serde_json::Value, model: &str) -> u64 {
    doc["buckets"]
        .as_array()
        .map(|bs| {
            bs.iter()
                .filter_map(|b| b["models"][model]["requests"].as_u64())
                .sum()
        })
        .unwrap_or(0)
}

#[test]
fn history_on_replica_b_includes_traffic_through_a_and_says_when_it_is_only_its_own() {
    let mut redis = RedisServer::start();
    let up = FakeUpstream::start();
    let yaml = gateway_yaml(&up, Some(&redis.url()));
    let (a, b) = (Proxy::start(&yaml), Proxy::start(&yaml));
    let body = ci_turn("CI is red on main, what broke?");
    let model = serde_json::from_slice::<serde_json::Value>(&body).unwrap()["model"]
        .as_str()
        .unwrap()
        .to_string();
    for _ in 0..4 {
        assert_eq!(
            post_with_token(a.port, "/v1/messages", &body)
                .unwrap()
                .status,
            200
        );
    }
    // A pushes every flush interval (1 s): B's history settles on A's four requests.
    let mut doc = serde_json::Value::Null;
    let settled = eventually(Duration::from_secs(15), || {
        doc = get_with_token(&b, "/stats/history?period=hour").json();
        hour_requests(&doc) >= 4
    });
    assert!(settled, "B's history never showed A's traffic: {doc}");
    assert_eq!(hour_requests(&doc), 4, "{doc}");
    assert_eq!(doc["scope"], "team", "{doc}");
    assert_eq!(
        model_requests(&doc, &model),
        4,
        "per model, as the local history: {doc}"
    );
    let saved: u64 = doc["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|b| b["tokens_saved"].as_u64())
        .sum();
    assert!(saved > 1000, "A's savings are in B's buckets: {doc}");
    let by_type = doc["buckets"][0]["content_types"].clone();
    assert!(
        by_type.as_object().is_some_and(|o| !o.is_empty()),
        "per content type too: {doc}"
    );

    let csv = get_with_token(&b, "/stats/history?period=day&format=csv");
    assert_eq!(csv.header("x-headroom-scope"), Some("team"));
    let text = csv.text();
    let requests: u64 = text
        .lines()
        .skip(1)
        .filter_map(|r| r.split(',').nth(1)?.parse::<u64>().ok())
        .sum();
    assert_eq!(requests, 4, "{text}");
    let dash = get_with_token(&b, "/dashboard/data").json();
    assert_eq!(dash["scope"], "team", "{dash}");
    let dash_hours: u64 = dash["hours"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|h| h["requests"].as_u64())
        .sum();
    assert_eq!(dash_hours, 4, "{dash}");
    assert_eq!(dash["lifetime"]["requests"], 4, "{dash}");

    // Redis gone: B answers from its own history (it served nothing), and says so.
    redis.kill();
    let r = get_with_token(&b, "/stats/history?period=hour");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-headroom-scope"), Some("replica"));
    let own = r.json();
    assert_eq!(own["scope"], "replica", "{own}");
    assert!(
        own["scope_note"]
            .as_str()
            .unwrap()
            .contains("Redis is unavailable"),
        "{own}"
    );
    assert_eq!(hour_requests(&own), 0, "{own}");
    assert_eq!(
        get_with_token(&b, "/dashboard/data").json()["scope"],
        "replica"
    );
}

#[test]
fn a_block_compressed_on_replica_a_is_a_shared_cache_hit_on_b_with_identical_bytes() {
    let redis = RedisServer::start();
    let up = FakeUpstream::start();
    let yaml = gateway_yaml(&up, Some(&redis.url()));
    let (a, b) = (Proxy::start(&yaml), Proxy::start(&yaml));
    let body = ci_turn("Why did the release job fail?");
    assert_eq!(
        post_with_token(a.port, "/v1/messages", &body)
            .unwrap()
            .status,
        200
    );
    let via_a = up.last().unwrap().body;
    assert!(via_a.len() < body.len(), "A compressed the block");
    let page_a = get_with_token(&a, "/metrics").text();
    assert_eq!(
        metric(&page_a, "headroom_shared_results_total{result=\"hit\"}"),
        0.0
    );
    assert!(metric(&page_a, "headroom_shared_results_total{result=\"stored\"}") >= 1.0);
    // A's write is queued: wait until Redis holds the result, then ask B.
    let stored = eventually(Duration::from_secs(5), || {
        let keys = redis_raw(redis.port, "KEYS headroom:result:*");
        keys.starts_with('*') && !keys.starts_with("*0")
    });
    assert!(stored, "A's result never reached Redis");

    assert_eq!(
        post_with_token(b.port, "/v1/messages", &body)
            .unwrap()
            .status,
        200
    );
    let via_b = up.last().unwrap().body;
    assert_eq!(via_b, via_a, "B sent exactly the bytes A sent");
    let page_b = get_with_token(&b, "/metrics").text();
    assert!(
        metric(&page_b, "headroom_shared_results_total{result=\"hit\"}") >= 1.0,
        "{page_b}"
    );
    assert_eq!(
        metric(&page_b, "headroom_shared_results_total{result=\"stored\"}"),
        0.0,
        "B compressed nothing itself"
    );
}

#[test]
fn sighup_changing_state_keeps_the_running_redis_and_warns_that_a_restart_is_needed() {
    let redis = RedisServer::start();
    let up = FakeUpstream::start();
    let p = Proxy::start(&gateway_yaml(&up, Some(&redis.url())));
    let before = get_with_token(&p, "/health?verbose=1").json();
    let url = before["redis"]["url"].as_str().unwrap().to_string();
    let config = std::fs::read_to_string(&p.config_path).unwrap();
    let moved = config.replace(&redis.url(), "redis://127.0.0.1:1/0");
    assert_ne!(moved, config);
    std::fs::write(&p.config_path, moved).unwrap();
    p.signal(libc::SIGHUP);
    let warned = eventually(Duration::from_secs(10), || {
        p.stderr()
            .contains("`state` changed: restart headroom to apply it")
    });
    assert!(warned, "{}", p.stderr());
    let after = get_with_token(&p, "/health?verbose=1").json();
    assert_eq!(after["redis"]["url"], url.as_str(), "{after}");
    assert!(
        after["last_reload"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("restart")),
        "{after}"
    );
    // Still sharing through the Redis it started with.
    let body = ci_turn("What broke after the reload?");
    assert_eq!(
        post_with_token(p.port, "/v1/messages", &body)
            .unwrap()
            .status,
        200
    );
    assert_eq!(
        get_with_token(&p, "/stats").json()["totals_scope"],
        "team (shared in Redis)"
    );
    // The next flush lands in the Redis the process started with, not the configured one.
    let mut keys = String::new();
    let pushed = eventually(Duration::from_secs(10), || {
        keys = redis_raw(redis.port, "KEYS headroom:savings:lifetime");
        keys.contains("headroom:savings:lifetime")
    });
    assert!(pushed, "{keys}");
    assert_eq!(p.get("/health/ready").status, 200);
}
