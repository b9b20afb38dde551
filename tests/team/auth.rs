//! Inbound auth: a non-loopback listen without an auth mode refuses to start; in tokens mode a
//! missing or unknown token gets 401 in the provider's error shape and never reaches the
//! upstream; a valid token is stripped, counted per name, and (sent as the API key) swapped
//! for the server-side key.

use super::*;
use headroom_test_support::{free_port, headroom_bin};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn a_public_listen_address_without_an_auth_mode_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("h.yaml");
    let port = free_port();
    std::fs::write(
        &config,
        format!(
            "listen: 0.0.0.0:{port}\nauth:\n  inject_api_key: false\nmodel:\n  enabled: false\n"
        ),
    )
    .unwrap();
    let out = Command::new(headroom_bin())
        .arg("-c")
        .arg(&config)
        .env("HOME", dir.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{stderr}");
    assert!(
        stderr.contains("line 1") && stderr.contains("auth.mode") && stderr.contains("passthrough"),
        "the message names the line, the key and the ways out: {stderr}"
    );
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "nothing listens"
    );
}

#[test]
fn a_public_listen_address_with_passthrough_starts_and_injects_nothing() {
    let up = FakeUpstream::start();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("h.yaml");
    let port = free_port();
    std::fs::write(
        &config,
        format!(
            "listen: 0.0.0.0:{port}\n{}auth:\n  mode: passthrough\n  inject_api_key: false\nmodel:\n  enabled: false\n",
            headroom_test_support::upstreams(&up.url())
        ),
    )
    .unwrap();
    let mut child = Command::new(headroom_bin())
        .arg("-c")
        .arg(&config)
        .env("HOME", dir.path())
        .env("ANTHROPIC_API_KEY", "sk-ant-server-must-not-leak")
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while request(port, "GET", "/health/ready", &[], b"")
        .map(|r| r.status)
        .ok()
        != Some(200)
    {
        assert!(Instant::now() < deadline, "not ready in time");
        std::thread::sleep(Duration::from_millis(50));
    }
    let body = br#"{"model":"claude-sonnet-4-5","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}"#;
    let r = request(
        port,
        "POST",
        "/v1/messages",
        &[("content-type", "application/json")],
        body,
    )
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        up.last().unwrap().header("x-api-key"),
        None,
        "no key is injected"
    );
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn missing_or_unknown_tokens_get_401_in_the_provider_shape_and_never_reach_the_upstream() {
    let up = FakeUpstream::start();
    let proxy = Proxy::start_with_env(&gateway_yaml(&up, None), &[("TEAM_UNUSED", "x")]);
    let anthropic = br#"{"model":"claude-sonnet-4-5","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}"#;
    let openai = br#"{"model":"gpt-4.1","messages":[{"role":"user","content":"hi"}]}"#;
    type Case<'a> = (&'a str, &'a [u8], Vec<(&'a str, &'a str)>);
    let cases: [Case; 4] = [
        (
            "/v1/messages",
            anthropic,
            vec![("x-api-key", "sk-ant-someone")],
        ),
        (
            "/v1/messages",
            anthropic,
            vec![("x-headroom-token", "wrong-token")],
        ),
        (
            "/v1/chat/completions",
            openai,
            vec![("authorization", "Bearer sk-someone")],
        ),
        ("/v1/chat/completions", openai, vec![]),
    ];
    for (path, body, extra) in cases {
        let mut headers = vec![("content-type", "application/json")];
        headers.extend(extra.iter().cloned());
        let r = request(proxy.port, "POST", path, &headers, body).unwrap();
        assert_eq!(r.status, 401, "{path} {extra:?}: {}", r.text());
        let v = r.json();
        if path == "/v1/messages" {
            assert_eq!(v["type"], "error", "{v}");
            assert_eq!(v["error"]["type"], "authentication_error", "{v}");
        } else {
            assert_eq!(v["error"]["type"], "authentication_error", "{v}");
            assert!(
                v["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("x-headroom-token"),
                "{v}"
            );
        }
    }
    assert!(
        up.requests().is_empty(),
        "a refused request reached the upstream"
    );
    // Local data needs a token too on a gateway.
    let raw = |extra: &str| {
        let req = format!(
            "GET /stats HTTP/1.1\r\nhost: gateway.internal\r\n{extra}connection: close\r\n\r\n"
        );
        String::from_utf8_lossy(&headroom_test_support::raw_exchange(
            proxy.port,
            req.as_bytes(),
            Duration::from_secs(5),
        ))
        .to_string()
    };
    assert!(raw("").starts_with("HTTP/1.1 403"), "{}", raw(""));
    let with_token = raw(&format!("x-headroom-token: {TOKEN}\r\n"));
    assert!(with_token.starts_with("HTTP/1.1 200"), "{with_token}");
    let m = get_with_token(&proxy, "/metrics").text();
    assert_eq!(metric(&m, "headroom_token_refused_total"), 4.0, "{m}");
}

#[test]
fn a_valid_token_is_stripped_counted_by_name_and_swapped_for_the_server_side_key() {
    let up = FakeUpstream::start();
    let proxy = Proxy::start_with_env(
        &gateway_yaml(&up, None),
        &[("ANTHROPIC_API_KEY", "sk-ant-kept-on-the-gateway")],
    );
    let body = br#"{"model":"claude-sonnet-4-5","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}"#;
    // 1. The token in its own header: the client's own key passes through.
    let r = post_with_token(proxy.port, "/v1/messages", body).unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let got = up.last().unwrap();
    assert_eq!(
        got.header("x-headroom-token"),
        None,
        "the token never goes upstream"
    );
    assert_eq!(got.header("x-api-key"), Some("sk-ant-client-own-key"));
    // 2. The token as the API key: replaced by the key the gateway keeps.
    let r = request(
        proxy.port,
        "POST",
        "/v1/messages",
        &[("content-type", "application/json"), ("x-api-key", TOKEN)],
        body,
    )
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let got = up.last().unwrap();
    assert_eq!(got.header("x-api-key"), Some("sk-ant-kept-on-the-gateway"));
    assert_eq!(got.body, body.to_vec(), "the body is untouched");
    // 3. Counted by name in /stats and /metrics; secrets nowhere.
    // Both are recorded just after their answer went out: read once they are settled.
    assert!(
        proxy.settled_with(&[TOKEN_HEADER]),
        "{}",
        get_with_token(&proxy, "/health?verbose=1").text()
    );
    let stats = get_with_token(&proxy, "/stats").json();
    assert_eq!(stats["auth_tokens"][TOKEN_NAME]["requests"], 2, "{stats}");
    assert!(stats["auth_tokens"].get("bob").is_none(), "{stats}");
    let m = get_with_token(&proxy, "/metrics").text();
    assert!(
        m.contains(&format!(
            "headroom_token_requests_total{{token=\"{TOKEN_NAME}\"}} 2"
        )),
        "{m}"
    );
    for text in [m, stats.to_string(), proxy.stderr()] {
        assert!(
            !text.contains(TOKEN) && !text.contains("sk-ant-kept"),
            "a secret leaked"
        );
    }
}

#[test]
fn ready_turns_503_on_sigterm_while_requests_are_still_served() {
    let up = FakeUpstream::start();
    let yaml = format!(
        "{}shutdown:\n  unready_seconds: 3\n",
        gateway_yaml(&up, None)
    );
    let mut proxy = Proxy::start(&yaml);
    let deadline = Instant::now() + Duration::from_secs(10);
    while proxy.get("/health/ready").status != 200 {
        assert!(
            Instant::now() < deadline,
            "never ready: {}",
            proxy.get("/health/ready").text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(proxy.get("/health/live").status, 200);
    proxy.signal(libc::SIGTERM);
    std::thread::sleep(Duration::from_millis(300));
    let ready = proxy.get("/health/ready");
    assert_eq!(ready.status, 503, "{}", ready.text());
    assert!(ready.text().contains("draining"), "{}", ready.text());
    assert_eq!(
        proxy.get("/health/live").status,
        200,
        "alive while draining"
    );
    let body = br#"{"model":"claude-sonnet-4-5","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}"#;
    let r = post_with_token(proxy.port, "/v1/messages", body).unwrap();
    assert_eq!(r.status, 200, "still serving while the balancer catches up");
    assert_eq!(
        proxy.wait_exit(Duration::from_secs(15)),
        Some(0),
        "{}",
        proxy.stderr()
    );
}
