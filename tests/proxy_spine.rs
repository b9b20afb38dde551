//! The proxy spine against the real binary and a fake upstream on loopback.

use headroom_test_support as support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};
use support::fake_upstream::{Behaviour, FakeUpstream};
use support::*;

fn messages_body(stream: bool) -> Vec<u8> {
    format!(
        "{{\"model\": \"claude-sonnet-4-5\",\n  \"max_tokens\":1024, \"stream\": {stream},\n \"messages\":[{{\"role\":\"user\",\"content\":\"caf\\u00e9 \\\"quoted\\\" — ünïcode\"}}]}}"
    )
    .into_bytes()
}

#[test]
fn health_answers_exactly_healthy_to_curl() {
    let up = FakeUpstream::start();
    let proxy = Proxy::start(&upstreams(&up.url()));
    let out = std::process::Command::new("curl")
        .args([
            "-s",
            "-i",
            &format!("http://127.0.0.1:{}/health", proxy.port),
        ])
        .output()
        .expect("curl runs");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        text.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{text}"
    );
    assert!(text.ends_with("\r\n\r\n{\"status\":\"healthy\"}"), "{text}");
    assert!(
        up.requests().is_empty(),
        "health must not reach the upstream"
    );
}

#[test]
fn forwards_unchanged_bodies_byte_identical() {
    let up = FakeUpstream::start();
    let proxy = Proxy::start(&upstreams(&up.url()));
    let body = messages_body(false);
    let r = proxy.post_json("/v1/messages", &body);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["content"][0]["text"], "fake answer");
    let got = up.last().unwrap();
    assert_eq!(sha256_hex(&got.body), sha256_hex(&body));
    assert_eq!(got.path, "/v1/messages");
    assert_eq!(
        got.header("host"),
        Some(format!("127.0.0.1:{}", up.port).as_str())
    );
}

#[test]
fn unbuffered_routes_keep_content_length() {
    let up = FakeUpstream::start();
    let proxy = Proxy::start(&upstreams(&up.url()));
    let body = br#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#;
    let r = proxy.post_json("/v1/messages/count_tokens", body);
    assert_eq!(r.status, 200);
    assert!(r.json()["input_tokens"].as_u64().unwrap() > 0);
    let got = up.last().unwrap();
    assert!(!got.chunked);
    assert_eq!(
        got.header("content-length"),
        Some(body.len().to_string().as_str())
    );
    assert_eq!(got.body, body);
}

#[test]
fn bodies_too_small_to_compress_keep_content_length_and_larger_ones_are_buffered() {
    let up = FakeUpstream::start();
    let proxy = Proxy::start(&upstreams(&up.url()));
    // Under `min_tokens` (300) bytes no block can be worth compressing: no buffering.
    let small = messages_body(false);
    assert!(small.len() < 300);
    assert_eq!(proxy.post_json("/v1/messages", &small).status, 200);
    let got = up.last().unwrap();
    assert!(!got.chunked);
    assert_eq!(
        got.header("content-length"),
        Some(small.len().to_string().as_str())
    );
    assert_eq!(got.body, small);
    // A larger one is buffered for compression (and, unchanged, still arrives byte-identical).
    let text = "the mirror timed out while pulling the base image; ".repeat(12);
    let large = format!(
        r#"{{"model":"m","max_tokens":5,"messages":[{{"role":"user","content":"{text}"}}]}}"#
    )
    .into_bytes();
    assert_eq!(proxy.post_json("/v1/messages", &large).status, 200);
    let got = up.last().unwrap();
    // With the retrieval tool on, the body is read before the upstream request goes out, so
    // it leaves with its exact length.
    assert!(!got.chunked, "a body read first keeps an exact length");
    assert_eq!(
        got.header("content-length"),
        Some(large.len().to_string().as_str())
    );
    assert_eq!(got.body, large);
    // Without the tool, the normal path buffers in the body phase and frames it chunked.
    let proxy = Proxy::start(&format!(
        "{}retrieval:\n  tool: false\n",
        upstreams(&up.url())
    ));
    assert_eq!(proxy.post_json("/v1/messages", &large).status, 200);
    let got = up.last().unwrap();
    assert!(got.chunked, "a body that may be rewritten goes out chunked");
    assert_eq!(got.body, large);
}

#[test]
fn routes_openai_paths_to_the_openai_upstream() {
    let anthropic = FakeUpstream::start();
    let openai = FakeUpstream::start();
    let proxy = Proxy::start(&format!(
        "upstreams:\n  anthropic: {}\n  openai: {}\n",
        anthropic.url(),
        openai.url()
    ));
    let body = br#"{"model":"gpt-x","messages":[{"role":"user","content":"hi"}]}"#;
    assert_eq!(proxy.post_json("/v1/chat/completions", body).status, 200);
    assert_eq!(proxy.post_json("/v1/responses", body).status, 200);
    assert_eq!(proxy.get("/v1/models").status, 200);
    assert_eq!(proxy.post_json("/v1/messages", body).status, 200);
    assert_eq!(proxy.get("/some/other/path?x=1").status, 200);
    let o: Vec<String> = openai.requests().iter().map(|r| r.path.clone()).collect();
    let a: Vec<String> = anthropic
        .requests()
        .iter()
        .map(|r| r.path.clone())
        .collect();
    assert_eq!(o, ["/v1/chat/completions", "/v1/responses", "/v1/models"]);
    assert_eq!(a, ["/v1/messages", "/some/other/path?x=1"]);
}

#[test]
fn streams_sse_events_without_buffering() {
    let up = FakeUpstream::start();
    up.set(|s| {
        s.event_gap = Duration::from_millis(250);
        s.deltas = 6;
    });
    let proxy = Proxy::start(&upstreams(&up.url()));
    let body = messages_body(true);
    let mut s = TcpStream::connect(("127.0.0.1", proxy.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        s,
        "POST /v1/messages HTTP/1.1\r\nhost: 127.0.0.1:{}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        proxy.port,
        body.len()
    )
    .unwrap();
    s.write_all(&body).unwrap();
    let started = Instant::now();
    let mut r = BufReader::new(s);
    let mut first_event_at = None;
    let mut text = String::new();
    let mut line = String::new();
    while r.read_line(&mut line).unwrap_or(0) > 0 {
        if first_event_at.is_none() && line.starts_with("event: message_start") {
            first_event_at = Some(started.elapsed());
        }
        text.push_str(&line);
        line.clear();
    }
    let total = started.elapsed();
    let first = first_event_at.expect("message_start arrives");
    // 10 events 250 ms apart: the first must arrive long before the last was sent.
    assert!(
        total >= Duration::from_millis(2000),
        "stream took {total:?}"
    );
    assert!(first < total / 3, "first event at {first:?} of {total:?}");
    for ev in [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ] {
        assert!(
            text.contains(&format!("event: {ev}")),
            "{ev} missing: {text}"
        );
    }
}

#[test]
fn taps_usage_from_json_and_sse_into_stats() {
    let up = FakeUpstream::start();
    let proxy = Proxy::start(&upstreams(&up.url()));
    let body = messages_body(false);
    proxy.post_json("/v1/messages", &body);
    let streamed = messages_body(true);
    let r = proxy.post_json("/v1/messages", &streamed);
    assert_eq!(r.status, 200);
    let expected_input = (body.len() / 4 + streamed.len() / 4) as u64;
    let stats = proxy.stats_when(|s| s["requests"] == 2);
    assert_eq!(stats["upstream_usage"]["input"], expected_input, "{stats}");
    // JSON answer: 2 output tokens; SSE: message_delta says deltas + 1 = 4.
    assert_eq!(stats["upstream_usage"]["output"], 6, "{stats}");
    assert_eq!(stats["requests"], 2);
    let metrics = proxy.get("/metrics").text();
    assert!(
        metrics.contains(&format!(
            "headroom_upstream_usage_tokens_total{{kind=\"input\"}} {expected_input}"
        )),
        "{metrics}"
    );
}

#[test]
fn injects_api_key_only_when_missing_and_enabled() {
    let up = FakeUpstream::start();
    let key = "sk-ant-test-SECRET-123";
    let proxy = Proxy::start_with_env(&upstreams(&up.url()), &[("ANTHROPIC_API_KEY", key)]);
    let body = messages_body(false);
    proxy.post_json("/v1/messages", &body);
    assert_eq!(up.last().unwrap().header("x-api-key"), Some(key));
    request(
        proxy.port,
        "POST",
        "/v1/messages",
        &[
            ("content-type", "application/json"),
            ("authorization", "Bearer oauth-token-XYZ"),
        ],
        &body,
    )
    .unwrap();
    let last = up.last().unwrap();
    assert_eq!(last.header("x-api-key"), None);
    assert_eq!(last.header("authorization"), Some("Bearer oauth-token-XYZ"));
    request(
        proxy.port,
        "POST",
        "/v1/messages",
        &[
            ("content-type", "application/json"),
            ("x-api-key", "client-key"),
            ("anthropic-version", "2023-06-01"),
            ("anthropic-beta", "prompt-caching-2024-07-31"),
        ],
        &body,
    )
    .unwrap();
    let last = up.last().unwrap();
    assert_eq!(last.header("x-api-key"), Some("client-key"));
    assert_eq!(last.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(
        last.header("anthropic-beta"),
        Some("prompt-caching-2024-07-31")
    );
    // Secrets never reach logs, stats or metrics.
    std::thread::sleep(Duration::from_millis(100));
    for text in [
        proxy.stderr(),
        proxy.get("/stats").text(),
        proxy.get("/metrics").text(),
    ] {
        for secret in [key, "oauth-token-XYZ", "client-key"] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
    }

    let off = Proxy::start_with_env(
        &format!("{}auth:\n  inject_api_key: false\n", upstreams(&up.url())),
        &[("ANTHROPIC_API_KEY", key)],
    );
    off.post_json("/v1/messages", &body);
    assert_eq!(up.last().unwrap().header("x-api-key"), None);
}

#[test]
fn upstream_down_is_a_502_in_anthropic_shape() {
    let dead = free_port();
    let proxy = Proxy::start(&upstreams(&format!("http://127.0.0.1:{dead}")));
    let r = proxy.post_json("/v1/messages", &messages_body(false));
    assert_eq!(r.status, 502, "{}", r.text());
    let v = r.json();
    assert_eq!(v["type"], "error");
    assert_eq!(v["error"]["type"], "api_error");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("anthropic"),
        "{v}"
    );
    // The proxy is still up.
    assert_eq!(proxy.get("/health").status, 200);
}

#[test]
fn stalled_upstream_is_a_504() {
    let up = FakeUpstream::start();
    up.set(|s| s.behaviour = Behaviour::Stall);
    let proxy = Proxy::start(&format!(
        "{}timeouts:\n  upstream_read_ms: 400\n",
        upstreams(&up.url())
    ));
    let started = Instant::now();
    let r = proxy.post_json("/v1/messages", &messages_body(false));
    assert_eq!(r.status, 504, "{}", r.text());
    assert_eq!(r.json()["error"]["type"], "timeout_error");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn upstream_errors_pass_through_untouched() {
    let up = FakeUpstream::start();
    let proxy = Proxy::start(&upstreams(&up.url()));
    for code in [500u16, 529, 429] {
        up.set(|s| s.behaviour = Behaviour::Status(code));
        let r = proxy.post_json("/v1/messages", &messages_body(false));
        assert_eq!(r.status, code);
        assert!(r.text().contains(&format!("fake upstream says {code}")));
    }
}

#[test]
fn taken_port_exits_69_with_a_clear_message() {
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_headroom"))
        .args(["proxy", "--host", "127.0.0.1", "--port", &port.to_string()])
        .env_remove("HEADROOM_PROXY_PORT")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(69));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("Address already in use: 127.0.0.1:{port}")),
        "{err}"
    );
    assert!(err.contains("HEADROOM_PROXY_PORT"), "{err}");
}

#[test]
fn sigterm_lets_an_open_stream_finish_then_exits_0() {
    let up = FakeUpstream::start();
    up.set(|s| {
        s.event_gap = Duration::from_millis(150);
        s.deltas = 8;
    });
    let mut proxy = Proxy::start(&upstreams(&up.url()));
    let port = proxy.port;
    let body = messages_body(true);
    let client = std::thread::spawn(move || {
        request(
            port,
            "POST",
            "/v1/messages",
            &[("content-type", "application/json")],
            &body,
        )
    });
    std::thread::sleep(Duration::from_millis(400));
    proxy.signal(libc::SIGTERM);
    let r = client.join().unwrap().expect("stream completes");
    assert_eq!(r.status, 200);
    assert!(r.text().contains("event: message_stop"), "{}", r.text());
    assert_eq!(
        proxy.wait_exit(Duration::from_secs(10)),
        Some(0),
        "{}",
        proxy.stderr()
    );
}

#[test]
fn idle_proxy_exits_promptly_on_sigterm_and_sigint() {
    let up = FakeUpstream::start();
    for sig in [libc::SIGTERM, libc::SIGINT] {
        let mut proxy = Proxy::start(&upstreams(&up.url()));
        proxy.signal(sig);
        // launchd kills after 20 s; an idle proxy must be long gone by then.
        assert_eq!(
            proxy.wait_exit(Duration::from_secs(5)),
            Some(0),
            "{}",
            proxy.stderr()
        );
    }
}

#[test]
fn check_validates_configs() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.yaml");
    std::fs::write(&good, "listen: 127.0.0.1:8787\n").unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "listen: 127.0.0.1:8787\nmodel:\n  device: gpu\n").unwrap();
    let run = |p: &std::path::Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_headroom"))
            .arg("check")
            .arg("-c")
            .arg(p)
            .output()
            .unwrap()
    };
    assert_eq!(run(&good).status.code(), Some(0));
    let out = run(&bad);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("line 3") && err.contains("model.device"),
        "{err}"
    );
}

#[test]
fn oversize_bodies_stream_through_or_get_413() {
    let up = FakeUpstream::start();
    let proxy = Proxy::start(&format!(
        "{}limits:\n  max_body_bytes: 1000\n",
        upstreams(&up.url())
    ));
    let big = format!(
        "{{\"model\":\"m\",\"messages\":[{{\"role\":\"user\",\"content\":\"{}\"}}]}}",
        "x".repeat(5000)
    );
    let r = proxy.post_json("/v1/messages", big.as_bytes());
    assert_eq!(r.status, 200);
    assert_eq!(up.last().unwrap().body, big.as_bytes());
    let strict = Proxy::start(&format!(
        "{}limits:\n  max_body_bytes: 1000\n  reject_oversize: true\n",
        upstreams(&up.url())
    ));
    let r = strict.post_json("/v1/messages", big.as_bytes());
    assert_eq!(r.status, 413);
    assert_eq!(r.json()["error"]["type"], "request_too_large");
}

#[test]
fn curl_large_upload_with_expect_100_continue_arrives_whole() {
    let up = FakeUpstream::start();
    let proxy = Proxy::start(&upstreams(&up.url()));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("body.json");
    // Not compressible (unique words), larger than curl's 1 KiB Expect threshold.
    let text: String = (0..20_000).map(|i| format!("w{i} ")).collect();
    let body = serde_json::to_vec(&serde_json::json!({
        "model": "m", "max_tokens": 5,
        "messages": [{"role": "user", "content": text}]
    }))
    .unwrap();
    std::fs::write(&file, &body).unwrap();
    let out = std::process::Command::new("curl")
        .args([
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-H",
            "content-type: application/json",
            "-H",
            "Expect: 100-continue",
            "--data-binary",
        ])
        .arg(format!("@{}", file.display()))
        .arg(format!("http://127.0.0.1:{}/v1/messages", proxy.port))
        .output()
        .expect("curl runs");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "200",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = up.last().unwrap();
    assert_eq!(sha256_hex(&got.body), sha256_hex(&body));
}

#[test]
fn test_ports_are_never_ones_a_bind_to_port_zero_is_given() {
    // A bind to port 0 (a fake upstream's) is given ports from the kernel's ephemeral range:
    // a proxy's port from below it cannot be taken between its pick and the proxy's bind.
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap();
    let ephemeral_low: u16 = range.split_whitespace().next().unwrap().parse().unwrap();
    let ports: Vec<u16> = (0..50).map(|_| free_port()).collect();
    assert!(ports.iter().all(|&p| p < ephemeral_low), "{ports:?}");
    let distinct: std::collections::BTreeSet<_> = ports.iter().collect();
    assert_eq!(distinct.len(), ports.len(), "{ports:?}");
    let up = FakeUpstream::start();
    assert!(up.port >= ephemeral_low, "{}", up.port);
}

#[test]
fn another_server_on_the_port_is_not_taken_for_the_proxy() {
    // The fake upstream answers every request with 200, `/health` too. A proxy told to listen
    // on its port cannot bind it and exits: starting it must fail, not talk to the upstream.
    let up = FakeUpstream::start();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("headroom.yaml");
    std::fs::write(
        &config,
        format!("listen: 127.0.0.1:{}\n{}", up.port, upstreams(&up.url())),
    )
    .unwrap();
    let started = std::panic::catch_unwind(|| Proxy::spawn(dir, up.port, config, &[]));
    let Err(panic) = started else {
        panic!("a proxy was taken as started on a port another server holds");
    };
    let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(message.contains("exited early"), "{message}");
    assert!(message.contains("Address already in use"), "{message}");
}
