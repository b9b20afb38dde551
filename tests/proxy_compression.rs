//! Compression through the real proxy: what the fake upstream receives, and what users pay
//! with Anthropic's prompt cache simulated by the fake upstream.

use headroom_test_support as support;
use headroom_test_support::agent_session;

use serde_json::{json, Value};
use support::fake_upstream::FakeUpstream;
use support::*;

fn fixture(name: &str) -> String {
    std::fs::read_to_string(agent_session::fixture_dir().join(format!("{name}.txt"))).unwrap()
}

/// The byte span of the first JSON string literal in `body` whose value is `text`.
fn string_span(body: &[u8], text: &str) -> std::ops::Range<usize> {
    let literal = serde_json::to_string(text).unwrap();
    let at = body
        .windows(literal.len())
        .position(|w| w == literal.as_bytes())
        .expect("tool output literal present");
    at..at + literal.len()
}

#[test]
fn large_tool_result_arrives_compressed_and_the_rest_byte_identical() {
    let up = FakeUpstream::start();
    let proxy = Proxy::start(&upstreams(&up.url()));
    let output = fixture("ci_log");
    let messages = vec![
        json!({"role": "user", "content": [{"type": "text", "text": "CI is red on main, what broke?"}]}),
        json!({"role": "assistant", "content": [
            {"type": "tool_use", "id": "toolu_01", "name": "Bash", "input": {"command": "gh run view --log"}}
        ]}),
        json!({"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01", "content": output}]}),
    ];
    let body = agent_session::request(&messages);
    let r = proxy.post_json("/v1/messages", &body);
    assert_eq!(r.status, 200, "{}", r.text());
    let mut got = up.last().unwrap();
    // The retrieval tool is the one other change: appended to `tools`, always the same bytes.
    let tool = format!(
        ",{}",
        headroom_retrieval::tool::definition(headroom_retrieval::Api::Anthropic)
    );
    let at = got
        .body
        .windows(tool.len())
        .position(|w| w == tool.as_bytes())
        .expect("retrieval tool appended");
    got.body.drain(at..at + tool.len());
    assert!(
        got.body.len() * 2 < body.len(),
        "{} -> {} bytes",
        body.len(),
        got.body.len()
    );
    let span = string_span(&body, &output);
    let tail = body.len() - span.end;
    assert_eq!(
        &got.body[..span.start],
        &body[..span.start],
        "bytes before the block changed"
    );
    assert_eq!(
        &got.body[got.body.len() - tail..],
        &body[span.end..],
        "bytes after the block changed"
    );
    let sent: Value = serde_json::from_slice(&got.body).expect("valid JSON upstream");
    let compressed = sent["messages"][2]["content"][0]["content"]
        .as_str()
        .unwrap();
    for needle in std::fs::read_to_string(agent_session::fixture_dir().join("ci_log.needles"))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
    {
        assert!(compressed.contains(needle), "needle lost: {needle}");
    }
    let stats = proxy.stats_when(|s| s["requests"] == 1);
    assert!(stats["tokens_saved"].as_u64().unwrap() > 0, "{stats}");
    let metrics = proxy.get("/metrics").text();
    assert!(
        metrics.contains("headroom_compression_tokens_total{stage=\"before\"}"),
        "{metrics}"
    );
}

#[test]
fn old_turns_reach_the_upstream_unchanged_across_a_session() {
    let up = FakeUpstream::start();
    let proxy = Proxy::start(&upstreams(&up.url()));
    let bodies = agent_session::session(7, 12);
    let mut received: Vec<Value> = Vec::new();
    for body in &bodies {
        let r = proxy.post_json("/v1/messages", body);
        assert_eq!(r.status, 200);
        let mut v: Value = serde_json::from_slice(&up.last().unwrap().body).unwrap();
        agent_session::strip_cache_control(&mut v);
        received.push(v);
    }
    let total_in: usize = bodies.iter().map(Vec::len).sum();
    let total_out: usize = up.requests().iter().map(|r| r.body.len()).sum();
    assert!(
        total_out < total_in,
        "session not compressed: {total_in} -> {total_out}"
    );
    for n in 1..received.len() {
        let before = received[n - 1]["messages"].as_array().unwrap();
        let now = received[n]["messages"].as_array().unwrap();
        assert_eq!(
            &now[..before.len()],
            &before[..],
            "turn {n} changed earlier messages"
        );
    }
}

/// Effective input cost the way the API bills it: input + 1.25 × cache writes + 0.1 × reads.
fn session_cost(proxy_port: u16, bodies: &[Vec<u8>]) -> f64 {
    let mut cost = 0.0;
    for body in bodies {
        let r = request(
            proxy_port,
            "POST",
            "/v1/messages",
            &[("content-type", "application/json")],
            body,
        )
        .unwrap();
        assert_eq!(r.status, 200);
        let text = r.text();
        let start = text
            .lines()
            .find_map(|l| {
                l.strip_prefix("data: ")
                    .filter(|d| d.contains("message_start"))
            })
            .expect("message_start event");
        let u = &serde_json::from_str::<Value>(start).unwrap()["message"]["usage"];
        let n = |k: &str| u[k].as_u64().unwrap() as f64;
        cost += n("input_tokens")
            + 1.25 * n("cache_creation_input_tokens")
            + 0.1 * n("cache_read_input_tokens");
    }
    cost
}

#[test]
fn replayed_sessions_cost_less_through_the_proxy_and_never_more() {
    let mut direct_total = 0.0;
    let mut proxy_total = 0.0;
    for seed in [3u64, 11, 19] {
        let bodies = agent_session::session(seed, 20);
        // Fresh caches for each side.
        let direct_up = FakeUpstream::start();
        direct_up.set(|s| s.prompt_cache = true);
        let via_up = FakeUpstream::start();
        via_up.set(|s| s.prompt_cache = true);
        let direct = session_cost(direct_up.port, &bodies);
        let proxy = Proxy::start(&upstreams(&via_up.url()));
        let through = session_cost(proxy.port, &bodies);
        println!(
            "session {seed}: direct {direct:.0}, through headroom {through:.0}, ratio {:.2}",
            through / direct
        );
        assert!(
            through <= direct,
            "session {seed} costs more through the proxy"
        );
        direct_total += direct;
        proxy_total += through;
    }
    println!("overall ratio {:.2}", proxy_total / direct_total);
    assert!(proxy_total < direct_total);
}

fn model_fixture(name: &str) -> String {
    std::fs::read_to_string(
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/model/").to_string() + name,
    )
    .unwrap()
}

/// A request whose tool result is `output`, asked about with `task`.
fn read_result_request(task: &str, output: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "model": "claude-sonnet-4-5",
        "max_tokens": 1024,
        "messages": [
            {"role": "user", "content": task},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "Read", "input": {"file_path": "/repo/file"}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": output}]}
        ]
    }))
    .unwrap()
}

#[test]
fn prose_and_code_results_shrink_through_the_model_with_their_answers_kept() {
    let up = FakeUpstream::start();
    // A generous budget: this is about what the model keeps, not how fast a loaded machine
    // runs it (past the budget a block goes through untouched, by design).
    let proxy = Proxy::start(&format!(
        "{}compression:\n  budget_ms: 10000\n",
        upstreams(&up.url())
    ));
    let health = proxy.get("/health?verbose=1").json();
    if health["model_device"].is_null() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have the model: scripts/setup-model.sh; {}",
            proxy.stderr()
        );
        eprintln!("SKIPPED: no model (run scripts/setup-model.sh)");
        return;
    }
    assert_eq!(health["model_device"], "cpu");
    let cases = [
        (
            "How do I rotate the TLS certificate without restarting the gateway?",
            model_fixture("operations_guide.md"),
            "To rotate the TLS certificate without restarting the gateway, upload",
        ),
        (
            "Why does moving stock between warehouse locations get refused?",
            model_fixture("inventory.py"),
            "def transfer(self, sku: str, source: str, destination: str, quantity: int) -> None:",
        ),
    ];
    for (task, output, answer) in cases {
        let body = read_result_request(task, &output);
        assert_eq!(proxy.post_json("/v1/messages", &body).status, 200);
        let sent: Value = serde_json::from_slice(&up.last().unwrap().body).unwrap();
        let got = sent["messages"][2]["content"][0]["content"]
            .as_str()
            .unwrap();
        assert!(
            got.len() * 10 < output.len() * 7,
            "{} -> {} bytes: {}",
            output.len(),
            got.len(),
            proxy.stderr()
        );
        assert!(got.contains(answer), "answer lost:\n{got}");
    }
}

#[test]
fn without_a_usable_runtime_default_settings_start_degraded_and_explicit_ones_refuse() {
    let up = FakeUpstream::start();
    let missing = [("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so.1.32.0")];
    let proxy = Proxy::start_with_env(&upstreams(&up.url()), &missing);
    let health = proxy.get("/health?verbose=1").json();
    assert!(health["model_device"].is_null(), "{health}");
    let log = proxy.stderr();
    assert!(log.contains("model unavailable"), "{log}");
    assert!(
        log.contains("/nonexistent/libonnxruntime.so.1.32.0"),
        "{log}"
    );
    // Rule-based compression still works.
    let body = read_result_request("what failed?", &fixture("ci_log"));
    assert_eq!(proxy.post_json("/v1/messages", &body).status, 200);
    assert!(up.last().unwrap().body.len() * 2 < body.len());

    // Asking for a device explicitly makes a missing runtime a start-up error.
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.yaml");
    std::fs::write(
        &cfg,
        format!("listen: 127.0.0.1:{}\nmodel:\n  device: cpu\n", free_port()),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_headroom"))
        .arg("-c")
        .arg(&cfg)
        .env("ORT_DYLIB_PATH", missing[0].1)
        .env("HOME", dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("ONNX Runtime") && err.contains("setup-model.sh"),
        "{err}"
    );
}

#[test]
fn blocks_are_counted_by_content_type_and_outcome_in_metrics_and_stats() {
    let up = FakeUpstream::start();
    let proxy = Proxy::start(&format!(
        "{}model:\n  enabled: false\ncompression:\n  budget_ms: 10000\n",
        upstreams(&up.url())
    ));
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/realworld/log_dpkg_large");
    let output = std::fs::read_to_string(dir.join("input.txt")).unwrap();
    let task = std::fs::read_to_string(dir.join("task.txt")).unwrap();
    let body = serde_json::to_vec(&json!({
        "model": "claude-sonnet-4-5",
        "max_tokens": 64,
        "messages": [
            {"role": "user", "content": task},
            {"role": "assistant", "content": [
                {"type": "tool_use", "id": "t1", "name": "Bash", "input": {"command": "cargo build"}},
                {"type": "tool_use", "id": "t2", "name": "Bash", "input": {"command": "pwd"}}
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "t1", "content": output},
                {"type": "tool_result", "tool_use_id": "t2", "content": "/home/user/project"}
            ]}
        ]
    }))
    .unwrap();
    assert_eq!(proxy.post_json("/v1/messages", &body).status, 200);
    let stats = proxy.stats_when(|s| s["requests"] == 1);
    let outcomes = &stats["block_outcomes"];
    // Small: the question itself and the `pwd` result; the log is compressed.
    assert_eq!(outcomes["unchanged-small"], 2, "{stats}");
    assert_eq!(outcomes["compressed"], 1, "{stats}");
    let seen: u64 = outcomes
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(seen, 3, "{stats}");
    let metrics = proxy.get("/metrics").text();
    let value = |needle: &str| -> f64 {
        metrics
            .lines()
            .find(|l| l.starts_with(needle))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(-1.0)
    };
    assert_eq!(
        value(
            r#"headroom_compression_blocks_total{content_type="unclassified",outcome="unchanged-small"}"#
        ),
        2.0,
        "{metrics}"
    );
    let big: f64 = metrics
        .lines()
        .filter(|l| {
            l.starts_with("headroom_compression_blocks_total{") && !l.contains("unclassified")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(big, 1.0, "{metrics}");
    assert_eq!(
        value(r#"headroom_compression_blocks_total{content_type="log",outcome="compressed"}"#),
        1.0,
        "{metrics}"
    );
}
