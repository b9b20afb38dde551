//! What the proxy-served retrieval tool costs, on loopback with the fake upstream:
//!
//! 1. Added latency of one retrieval round: the same compressed request (a real CI log) through
//!    the release proxy, answered directly by the fake model vs after one `headroom_retrieve`
//!    call the proxy serves itself (store lookup, continuation, one more loopback upstream
//!    call). Medians over `RETRIEVAL_ROUNDS` requests each, JSON and SSE.
//! 2. Net cost of replayed Claude-Code-shaped sessions in which the model retrieves 1 in 5
//!    compressed blocks, vs the same sessions sent directly, with Anthropic's prompt cache
//!    simulated: effective input cost = input + 1.25 × cache writes + 0.1 × cache reads over
//!    every upstream call (continuations included). Target: ≤ 0.6× direct.
//!
//! Run: `cargo bench --profile dev --bench retrieval_tool` (not run in CI). Exits 1 when the cost target is missed.

use headroom_test_support as support;
use headroom_test_support::agent_session;
use headroom_test_support::prompt_cache::PromptCache;
use headroom_test_support::scripted_model::{Ask, Script};
use serde_json::{json, Value};
use std::process::ExitCode;
use std::time::{Duration, Instant};
use support::fake_upstream::FakeUpstream;
use support::{request, upstreams, Proxy};

const SESSIONS: u64 = 5;
const TURNS: usize = 20;

fn rounds() -> usize {
    std::env::var("RETRIEVAL_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40)
}

fn ci_request(stream: bool) -> Vec<u8> {
    let log =
        std::fs::read_to_string(support::checkout().join("tests/fixtures/compress/ci_log.txt"))
            .expect("CI log fixture");
    let messages = vec![
        json!({"role": "user", "content": [{"type": "text", "text": "CI is red on main, what broke?"}]}),
        json!({"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_01", "name": "Bash", "input": {"command": "gh run view --log"}}]}),
        json!({"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01", "content": log}]}),
    ];
    let mut v: Value = serde_json::from_slice(&agent_session::request(&messages)).unwrap();
    v["stream"] = json!(stream);
    serde_json::to_vec(&v).unwrap()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn timed(proxy: &Proxy, body: &[u8], n: usize) -> Duration {
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let r = request(
            proxy.port,
            "POST",
            "/v1/messages",
            &[("content-type", "application/json")],
            body,
        )
        .expect("request");
        assert_eq!(r.status, 200, "{}", r.text());
        times.push(t.elapsed());
    }
    median(times)
}

fn latency() {
    let n = rounds();
    let plain_up = FakeUpstream::start();
    let plain = Proxy::start(&format!(
        "{}log:\n  level: warn\n",
        upstreams(&plain_up.url())
    ));
    let served_up = FakeUpstream::start();
    served_up.set(|s| s.script = Some(Script::new(Ask::Whole, "error")));
    let served = Proxy::start(&format!(
        "{}log:\n  level: warn\n",
        upstreams(&served_up.url())
    ));
    for stream in [false, true] {
        let body = ci_request(stream);
        // Warm both (compression cache, pooled connections).
        timed(&plain, &body, 3);
        timed(&served, &body, 3);
        plain_up.clear();
        served_up.clear();
        let a = timed(&plain, &body, n);
        let b = timed(&served, &body, n);
        let calls = served_up.requests().len() as f64 / n as f64;
        println!(
            "{}: no retrieval {:.2} ms, one served round {:.2} ms (+{:.2} ms, {:.2}×; {calls:.1} upstream calls per request)",
            if stream { "SSE " } else { "JSON" },
            a.as_secs_f64() * 1e3,
            b.as_secs_f64() * 1e3,
            (b.as_secs_f64() - a.as_secs_f64()) * 1e3,
            b.as_secs_f64() / a.as_secs_f64(),
        );
    }
}

/// Effective input cost of every request `up` received, in order, on a fresh simulated cache.
fn billed(up: &FakeUpstream) -> f64 {
    let mut cache = PromptCache::default();
    up.requests()
        .iter()
        .map(|r| {
            cache
                .request(&r.body)
                .map(|u| u.effective_cost())
                .unwrap_or(0.0)
        })
        .sum()
}

fn cost() -> bool {
    let (mut direct_total, mut via_total) = (0.0, 0.0);
    let (mut retrieved, mut client_requests, mut blocks) = (0usize, 0usize, 0usize);
    for seed in 1..=SESSIONS {
        let bodies = agent_session::session(seed, TURNS);
        let direct_up = FakeUpstream::start();
        for b in &bodies {
            let r = request(
                direct_up.port,
                "POST",
                "/v1/messages",
                &[("content-type", "application/json")],
                b,
            )
            .expect("direct");
            assert_eq!(r.status, 200);
        }
        let via_up = FakeUpstream::start();
        let mut script = Script::new(Ask::Whole, "error");
        script.retrieve_every = Some(5);
        via_up.set(|s| s.script = Some(script));
        let proxy = Proxy::start(&format!(
            "{}log:\n  level: warn\n",
            upstreams(&via_up.url())
        ));
        for b in &bodies {
            let r = request(
                proxy.port,
                "POST",
                "/v1/messages",
                &[("content-type", "application/json")],
                b,
            )
            .expect("via proxy");
            assert_eq!(r.status, 200, "{}", r.text());
        }
        let direct = billed(&direct_up);
        let via = billed(&via_up);
        let calls = via_up.requests().len();
        // Compressed blocks of the session: the distinct marker ids its last turn carries.
        let last = via_up.requests()[calls - 1].json()["messages"].to_string();
        let mut ids: Vec<&str> = last
            .match_indices("· id ")
            .filter_map(|(at, m)| last.get(at + m.len()..at + m.len() + 12))
            .filter(|id| id.bytes().all(|b| b.is_ascii_hexdigit()))
            .collect();
        ids.sort();
        ids.dedup();
        blocks += ids.len();
        retrieved += calls - bodies.len();
        client_requests += bodies.len();
        println!(
            "session {seed}: direct {direct:.0}, through headroom {via:.0} ({:.2}×), {} retrievals in {} turns",
            via / direct,
            calls - bodies.len(),
            bodies.len()
        );
        direct_total += direct;
        via_total += via;
    }
    let ratio = via_total / direct_total;
    println!(
        "overall: {ratio:.2}× direct with {retrieved} of {blocks} compressed blocks retrieved over {client_requests} turns (target ≤ 0.60×)"
    );
    ratio <= 0.6
}

fn main() -> ExitCode {
    // `cargo bench` passes `--bench`; nothing to parse.
    latency();
    if cost() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
