//! Secrets and prompt text after ordinary and failing requests: API keys and OAuth tokens never
//! appear in logs (at debug level too), `/stats`, `/metrics`, `/health?verbose=1` or error
//! bodies; prompt text never appears in logs at the default level.

use headroom_test_support as support;

use headroom_test_support::hardening::*;
use std::time::Duration;
use support::fake_upstream::{Behaviour, FakeUpstream};
use support::*;

const ENV_KEY: &str = "sk-ant-api03-ENVKEY-7f3a9c";
const CLIENT_KEY: &str = "sk-ant-api03-CLIENTKEY-51be02";
const OAUTH: &str = "sk-ant-oat01-OAUTHTOKEN-c0ffee";
const PROMPT: &str = "PROMPT-MARKER-the-secret-plan-is-42";

/// Every way a request can go: answered, streamed, failed upstream, refused, malformed.
/// Returns every response body the client saw.
fn exercise(proxy: &Proxy, up: &FakeUpstream) -> Vec<String> {
    let mut seen = Vec::new();
    let body = messages_body(PROMPT, false);
    let streamed = messages_body(PROMPT, true);
    let with_key = [
        ("content-type", "application/json"),
        ("x-api-key", CLIENT_KEY),
    ];
    let with_oauth = [
        ("content-type", "application/json"),
        ("authorization", &format!("Bearer {OAUTH}") as &str),
        ("anthropic-beta", "oauth-2025-04-20"),
    ];
    let bare = [("content-type", "application/json")];
    for behaviour in [
        Behaviour::Normal,
        Behaviour::Status(401),
        Behaviour::Reset,
        Behaviour::CloseMidStream(3),
    ] {
        up.set(|s| s.behaviour = behaviour.clone());
        for headers in [&with_key[..], &with_oauth[..], &bare[..]] {
            for b in [&body, &streamed] {
                if let Ok(r) = request(proxy.port, "POST", "/v1/messages", headers, b) {
                    seen.push(r.text());
                }
            }
            if let Ok(r) = request(
                proxy.port,
                "POST",
                "/v1/chat/completions",
                headers,
                b"{not json",
            ) {
                seen.push(r.text());
            }
        }
    }
    up.set(|s| s.behaviour = Behaviour::Normal);
    // Refused before forwarding: ambiguous framing, a malformed header line, a slow body.
    for wire in [
        format!("POST /v1/messages HTTP/1.1\r\nx-api-key: {CLIENT_KEY}\r\nauthorization: Bearer {OAUTH}\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n"),
        format!("POST /v1/messages HTTP/1.1\r\nx-api-key: {CLIENT_KEY}\r\nauthorization: Bearer {OAUTH}\r\nbad header line\r\n\r\n"),
        format!("POST /v1/messages HTTP/1.1\r\nx-api-key: {CLIENT_KEY}\r\nauthorization: Bearer {OAUTH}\r\ncontent-length: 1000\r\ncontent-type: application/json\r\n\r\n{{\"p\":\"{PROMPT}"),
    ] {
        let out = raw_exchange(proxy.port, wire.as_bytes(), Duration::from_secs(5));
        seen.push(String::from_utf8_lossy(&out).into_owned());
    }
    seen
}

fn assert_clean(what: &str, text: &str, secrets: &[&str]) {
    for s in secrets {
        assert!(!text.contains(s), "{s} leaked into {what}:\n{text}");
    }
}

#[test]
fn credentials_never_leave_the_request_even_at_debug_level() {
    let up = FakeUpstream::start();
    let dead = free_port();
    for (name, yaml) in [
        ("live upstream", upstreams(&up.url())),
        (
            "dead upstream",
            upstreams(&format!("http://127.0.0.1:{dead}")),
        ),
    ] {
        let proxy = Proxy::start_with_env(
            &format!("{yaml}log:\n  level: debug\ntimeouts:\n  client_read_ms: 300\n"),
            &[("ANTHROPIC_API_KEY", ENV_KEY)],
        );
        let bodies = exercise(&proxy, &up);
        assert!(
            bodies.iter().any(|b| b.contains("\"type\":\"error\"")),
            "{name}: no error body seen"
        );
        std::thread::sleep(Duration::from_millis(300));
        let secrets = [ENV_KEY, CLIENT_KEY, OAUTH];
        for b in &bodies {
            assert_clean(&format!("{name}: a response body"), b, &secrets);
        }
        assert_clean(
            &format!("{name}: /stats"),
            &proxy.get("/stats").text(),
            &secrets,
        );
        assert_clean(
            &format!("{name}: /metrics"),
            &proxy.get("/metrics").text(),
            &secrets,
        );
        assert_clean(
            &format!("{name}: /health"),
            &proxy.get("/health?verbose=1").text(),
            &secrets,
        );
        assert_clean(&format!("{name}: debug log"), &proxy.stderr(), &secrets);
    }
    // The credentials did reach the upstream: the test would be vacuous otherwise.
    assert!(up
        .requests()
        .iter()
        .any(|r| r.header("x-api-key") == Some(ENV_KEY)));
    assert!(up
        .requests()
        .iter()
        .any(|r| r.header("authorization") == Some(&format!("Bearer {OAUTH}"))));
}

#[test]
fn prompt_text_never_reaches_the_log_at_the_default_level() {
    let up = FakeUpstream::start();
    let proxy = Proxy::start(&format!(
        "{}timeouts:\n  client_read_ms: 300\n",
        upstreams(&up.url())
    ));
    exercise(&proxy, &up);
    std::thread::sleep(Duration::from_millis(300));
    let log = proxy.stderr();
    assert!(log.contains("request"), "no request lines logged: {log}");
    assert_clean("info log", &log, &[PROMPT, CLIENT_KEY, OAUTH]);
}
