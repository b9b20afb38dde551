//! Three replicas sharing one Redis behind nginx round-robin: a conversation whose turns land
//! on different replicas keeps its earlier turns byte-identical (prompt-cache safe); `/stats`
//! on every replica shows the team's totals; Redis dying mid-load fails no request and sharing
//! resumes; a replica dying mid-load corrupts no request.

use super::*;
use headroom_compress::jsontree::{self, Node};
use headroom_test_support::agent_session;
use headroom_test_support::hardening::eventually;
use headroom_test_support::services::{Balancer, RedisServer};
use headroom_test_support::CUT_CHUNKED_BODY;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Team {
    redis: RedisServer,
    up: FakeUpstream,
    replicas: Vec<Proxy>,
    lb: Balancer,
}

fn team() -> Team {
    let redis = RedisServer::start();
    let up = FakeUpstream::start();
    let yaml = gateway_yaml(&up, Some(&redis.url()));
    let replicas: Vec<Proxy> = (0..3).map(|_| Proxy::start(&yaml)).collect();
    let lb = Balancer::start(&replicas.iter().map(|p| p.port).collect::<Vec<_>>());
    Team {
        redis,
        up,
        replicas,
        lb,
    }
}

/// Each message of a request body, as the exact bytes sent.
fn message_bytes(body: &[u8]) -> Vec<String> {
    let src = std::str::from_utf8(body).expect("utf-8 body");
    let root = jsontree::parse(src).expect("a JSON body");
    match root.get(src, "messages") {
        Some(Node::Array { items, .. }) => {
            items.iter().map(|m| src[m.span()].to_string()).collect()
        }
        _ => Vec::new(),
    }
}

/// This process's own request count (the run totals at the top of `/stats`).
fn own_requests(p: &Proxy) -> u64 {
    get_with_token(p, "/stats").json()["requests"]
        .as_u64()
        .unwrap_or(0)
}

fn lifetime(p: &Proxy) -> serde_json::Value {
    get_with_token(p, "/stats").json()["lifetime"].clone()
}

/// Waits until every replica's `/stats` lifetime satisfies `ok` (flushes run every second).
fn lifetime_everywhere(
    t: &Team,
    ok: impl Fn(&serde_json::Value) -> bool,
) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let all: Vec<_> = t.replicas.iter().map(lifetime).collect();
        // Each replica adds what it has not pushed yet: equal once every flush landed.
        if all.iter().all(&ok) && all.iter().all(|l| l == &all[0]) {
            return all;
        }
        assert!(
            Instant::now() < deadline,
            "lifetime totals never settled: {all:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_session_across_replicas_stays_byte_identical_and_every_replica_shows_the_team_totals() {
    let t = team();
    let bodies = agent_session::session(11, 10);
    for (n, body) in bodies.iter().enumerate() {
        let r = post_with_token(t.lb.port, "/v1/messages", body).unwrap();
        assert_eq!(r.status, 200, "turn {n}: {}", r.text());
    }
    // Each turn is recorded just after its answer went out: wait for all ten.
    let mut own: Vec<u64> = Vec::new();
    let counted = eventually(Duration::from_secs(5), || {
        own = t.replicas.iter().map(own_requests).collect();
        own.iter().sum::<u64>() == 10
    });
    assert!(counted, "the replicas did not record 10 requests: {own:?}");
    assert!(
        own.iter().all(|n| *n >= 3),
        "round robin spreads the turns: {own:?}"
    );

    let sent: Vec<Vec<u8>> = t.up.requests().into_iter().map(|r| r.body).collect();
    assert_eq!(sent.len(), 10);
    let compressed = sent.iter().zip(&bodies).filter(|(s, b)| s != b).count();
    assert!(
        compressed >= 5,
        "only {compressed} of 10 turns were compressed"
    );
    let strip = |m: &str| m.replace("\"cache_control\":{\"type\":\"ephemeral\"},", "");
    for n in 1..sent.len() {
        let (prev, cur) = (message_bytes(&sent[n - 1]), message_bytes(&sent[n]));
        assert_eq!(cur.len(), prev.len() + 2, "turn {n}");
        for (i, old) in prev.iter().enumerate() {
            // The newest block of turn N-1 loses its cache_control marker in turn N.
            assert_eq!(
                strip(&cur[i]),
                strip(old),
                "turn {n}: message {i} differs across replicas"
            );
        }
    }

    let all = lifetime_everywhere(&t, |l| l["requests"] == 10);
    let before: u64 = all[0]["tokens_before"].as_u64().unwrap();
    assert!(before > 10_000, "{}", all[0]);
    for l in &all {
        assert_eq!(l, &all[0], "every replica shows the same team totals");
    }
    assert_eq!(all[0]["auth_tokens"][TOKEN_NAME]["requests"], 10);
    let stats = get_with_token(&t.replicas[1], "/stats").json();
    assert_eq!(stats["totals_scope"], "team (shared in Redis)");
    assert_eq!(stats["today"]["requests"], 10, "{stats}");
    drop(t.redis);
}

#[test]
fn an_original_compressed_by_one_replica_is_retrieved_through_another() {
    let t = team();
    let output = std::fs::read_to_string(
        headroom_test_support::checkout().join("tests/fixtures/compress/ci_log.txt"),
    )
    .unwrap();
    let messages = vec![
        serde_json::json!({"role": "user", "content": [{"type": "text", "text": "CI is red on main, what broke?"}]}),
        serde_json::json!({"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_01", "name": "Bash", "input": {}}]}),
        serde_json::json!({"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01", "content": output}]}),
    ];
    let body = agent_session::request(&messages);
    // Straight to replica A.
    let r = post_with_token(t.replicas[0].port, "/v1/messages", &body).unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let sent: serde_json::Value = t.up.last().unwrap().json();
    let text = sent["messages"][2]["content"][0]["content"]
        .as_str()
        .unwrap()
        .to_string();
    let at = text.find(" · id ").expect("a marker with a retrieval id");
    let id: String = text[at + " · id ".len()..].chars().take(12).collect();
    // Through replica B, which never saw the block: from Redis.
    let deadline = Instant::now() + Duration::from_secs(5);
    let got = loop {
        let r = get_with_token(&t.replicas[1], &format!("/v1/retrieve/{id}"));
        if r.status == 200 {
            break r.json();
        }
        assert!(Instant::now() < deadline, "{}: {}", r.status, r.text());
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(
        got["content"].as_str().unwrap(),
        output,
        "the exact original"
    );
}

/// Sends `n` requests through the balancer, `threads` at a time; returns (status, body) of each.
fn load(port: u16, n: usize, threads: usize, stop: Arc<AtomicBool>) -> Vec<(u16, Vec<u8>)> {
    let next = Arc::new(AtomicUsize::new(0));
    let bodies = Arc::new(agent_session::session(5, 6));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (next, bodies, stop) = (next.clone(), bodies.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut out = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n || stop.load(Ordering::Relaxed) {
                        return out;
                    }
                    let body = &bodies[i % bodies.len()];
                    match post_with_token(port, "/v1/messages", body) {
                        Ok(r) => out.push((r.status, r.body)),
                        Err(e) => out.push((0, e.to_string().into_bytes())),
                    }
                    std::thread::sleep(Duration::from_millis(15));
                }
            })
        })
        .collect();
    handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect()
}

/// A whole answer: a JSON message, or an SSE stream from `message_start` to `message_stop`
/// whose every event parses.
fn is_message(body: &[u8]) -> bool {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) {
        return v["type"] == "message" && v["content"][0]["type"] == "text";
    }
    let text = String::from_utf8_lossy(body);
    text.starts_with("event: message_start")
        && text.contains("event: message_stop")
        && text
            .lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .all(|d| serde_json::from_str::<serde_json::Value>(d).is_ok())
}

#[test]
fn redis_dying_mid_load_fails_no_request_and_sharing_resumes() {
    let mut t = team();
    let stop = Arc::new(AtomicBool::new(false));
    let port = t.lb.port;
    let loader = {
        let stop = stop.clone();
        std::thread::spawn(move || load(port, 150, 2, stop))
    };
    std::thread::sleep(Duration::from_millis(800));
    t.redis.kill();
    std::thread::sleep(Duration::from_millis(1500));
    let during: Vec<u64> = t.replicas.iter().map(own_requests).collect();
    t.redis.restart();
    let results = loader.join().unwrap();
    assert_eq!(results.len(), 150);
    for (status, body) in &results {
        assert_eq!(*status, 200, "{}", String::from_utf8_lossy(body));
        assert!(is_message(body), "{}", String::from_utf8_lossy(body));
    }
    let errors: f64 = t
        .replicas
        .iter()
        .map(|p| {
            metric(
                &get_with_token(p, "/metrics").text(),
                "headroom_redis_errors_total",
            )
        })
        .sum();
    assert!(errors >= 1.0, "the Redis error counter moved");
    // The restarted Redis is empty (no persistence); what the replicas counted while it was
    // down was kept and pushed once it came back, and so was everything after.
    let after_restart = 150 - during.iter().sum::<u64>().min(150);
    let all = lifetime_everywhere(&t, |l| {
        (after_restart..=150).contains(&l["requests"].as_u64().unwrap_or(0))
    });
    assert!(
        all[0]["requests"].as_u64().unwrap() > after_restart,
        "what was counted during the outage was pushed once Redis came back: {}",
        all[0]["requests"]
    );
    let health = get_with_token(&t.replicas[0], "/health?verbose=1").json();
    assert_eq!(health["redis"]["circuit"], "closed", "{health}");
    assert_eq!(t.replicas[0].get("/health/ready").status, 200);
}

#[test]
fn a_replica_dying_mid_load_corrupts_no_request() {
    let mut t = team();
    let stop = Arc::new(AtomicBool::new(false));
    let port = t.lb.port;
    let loader = {
        let stop = stop.clone();
        std::thread::spawn(move || load(port, 120, 3, stop))
    };
    std::thread::sleep(Duration::from_millis(1000));
    let victim = t.replicas.remove(2);
    let mut victim = victim;
    let _ = victim.child.kill();
    let _ = victim.child.wait();
    let results = loader.join().unwrap();
    let ok = results.iter().filter(|(s, _)| *s == 200).count();
    for (status, body) in &results {
        // nginx retries a refused connection on the next replica; a request cut mid-flight
        // comes back as nginx's 502 or, once its answer had begun streaming, as a connection
        // closed before the stream's last chunk: never as a mangled answer that looks whole.
        let cut = *status == 0 && String::from_utf8_lossy(body).contains(CUT_CHUNKED_BODY);
        assert!(
            *status == 200 || *status == 502 || cut,
            "{status}: {}",
            String::from_utf8_lossy(body)
        );
        if *status == 200 {
            assert!(is_message(body), "{}", String::from_utf8_lossy(body));
        }
    }
    assert!(ok >= 110, "only {ok} of 120 succeeded");
    for r in t.up.requests() {
        assert!(
            serde_json::from_slice::<serde_json::Value>(&r.body).is_ok(),
            "the upstream got a corrupted body"
        );
    }
    // Survivors flushed everything they counted; the victim lost at most its last interval.
    // Their last answers are recorded just after going out: count once they are settled.
    for p in &t.replicas {
        assert!(
            p.settled_with(&[TOKEN_HEADER]),
            "{}",
            get_with_token(p, "/health?verbose=1").text()
        );
    }
    let survivors: u64 = t.replicas.iter().map(own_requests).sum();
    let upstream = t.up.requests().len() as u64;
    let all = lifetime_everywhere(&t, |l| l["requests"].as_u64().unwrap_or(0) >= survivors);
    let total = all[0]["requests"].as_u64().unwrap();
    assert!(
        total <= upstream,
        "{total} counted, {upstream} reached the upstream"
    );
}
