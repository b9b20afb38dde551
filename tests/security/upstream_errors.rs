//! Unresolvable upstreams, client disconnects and the bypass header.

use super::*;

#[test]
fn an_unresolvable_upstream_is_a_502_naming_it() {
    let p = Proxy::start(
        "upstreams:\n  anthropic: http://no-such-host.invalid:9\n  openai: http://no-such-host.invalid:9\ntimeouts:\n  connect_ms: 3000\n",
    );
    let r = p.post_json("/v1/messages?beta=true&key=QUERYSECRET", body());
    assert_eq!(r.status, 502, "{}", r.text());
    let j = r.json();
    let msg = j["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("anthropic") && msg.contains("no-such-host.invalid"),
        "{msg}"
    );
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        !p.stderr().contains("QUERYSECRET"),
        "a query string reached the log"
    );
}

#[test]
fn client_disconnects_are_not_errors_in_the_log() {
    let up = FakeUpstream::start();
    up.set(|s| s.behaviour = Behaviour::Stall);
    let p = Proxy::start(&upstreams(&up.url()));
    let s = open_post(&p, body());
    std::thread::sleep(Duration::from_millis(300));
    drop(s);
    // Half a request head, then gone.
    let mut s = TcpStream::connect(("127.0.0.1", p.port)).unwrap();
    s.write_all(b"POST /v1/messages HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-le")
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    drop(s);
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        p.stderr()
            .contains("client closed the connection while sending request headers"),
        "{}",
        p.stderr()
    );
    let log = p.stderr();
    assert!(
        !log.lines().any(|l| l.contains("ERROR")),
        "a client disconnect was logged as an error:\n{log}"
    );
}

#[test]
fn bypass_header_forwards_untouched_and_is_counted() {
    let up = FakeUpstream::start();
    let p = Proxy::start(&format!(
        "{}compression:\n  min_tokens: 50\nmodel:\n  enabled: false\n",
        upstreams(&up.url())
    ));
    let log: String = (0..400)
        .map(|i| {
            format!(
                "2026-01-01T00:00:{:02} INFO worker {} processed job ok\n",
                i % 60,
                i % 7
            )
        })
        .collect();
    let msg = serde_json::json!({
        "model": "claude-sonnet-4-5", "max_tokens": 16,
        "messages": [
            {"role": "user", "content": "run it"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "Bash", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": log}]}
        ]
    });
    let bytes = serde_json::to_vec(&msg).unwrap();
    // Without the header the body is compressed (the control).
    p.post_json("/v1/messages", &bytes);
    assert!(
        up.last().unwrap().body.len() < bytes.len(),
        "control was not compressed"
    );
    let r = request(
        p.port,
        "POST",
        "/v1/messages",
        &[
            ("content-type", "application/json"),
            ("x-headroom-bypass", "1"),
        ],
        &bytes,
    )
    .unwrap();
    assert_eq!(r.status, 200);
    let got = up.last().unwrap();
    assert_eq!(got.body, bytes, "bypassed body was altered");
    assert_eq!(
        got.header("x-headroom-bypass"),
        None,
        "bypass header forwarded"
    );
    // Any other value does not bypass, and the header is still not forwarded.
    let r = request(
        p.port,
        "POST",
        "/v1/messages",
        &[
            ("content-type", "application/json"),
            ("x-headroom-bypass", "0"),
        ],
        &bytes,
    )
    .unwrap();
    assert_eq!(r.status, 200);
    let got = up.last().unwrap();
    assert!(got.body.len() < bytes.len(), "`0` bypassed compression");
    assert_eq!(
        got.header("x-headroom-bypass"),
        None,
        "bypass header forwarded"
    );
    // The count is recorded in the logging phase, just after the response is sent: wait for
    // it (with a deadline) instead of reading `/metrics` once.
    let mut metrics = String::new();
    let counted = support::hardening::eventually(Duration::from_secs(10), || {
        metrics = p.get("/metrics").text();
        metrics
            .lines()
            .any(|l| l == "headroom_bypassed_requests_total 1")
    });
    assert!(counted, "{metrics}");
}
