//! Request smuggling against the real binary: every ambiguous framing is refused with 400 before
//! anything reaches the upstream, the connection is closed (a smuggled second request is never
//! read), and the proxy keeps serving.

use headroom_test_support as support;

use headroom_test_support::hardening::*;
use std::time::Duration;
use support::fake_upstream::FakeUpstream;
use support::*;

/// A request whose body `0\r\n\r\n` hides a second request after it under one of the framings.
fn smuggle(framing: &str, version: &str) -> Vec<u8> {
    format!(
        "POST /v1/messages {version}\r\nhost: x\r\ncontent-type: application/json\r\n{framing}\r\n\
         0\r\n\r\nGET /smuggled HTTP/1.1\r\nhost: x\r\n\r\n"
    )
    .into_bytes()
}

#[test]
fn ambiguous_framings_are_refused_and_nothing_reaches_the_upstream() {
    let up = FakeUpstream::start();
    let proxy = Proxy::start(&upstreams(&up.url()));
    let cases: &[(&str, &str, bool)] = &[
        // (framing header lines, HTTP version, refused by headroom itself: counted in metrics)
        (
            "content-length: 48\r\ntransfer-encoding: chunked\r\n",
            "HTTP/1.1",
            true,
        ),
        (
            "transfer-encoding: chunked\r\ncontent-length: 48\r\n",
            "HTTP/1.1",
            true,
        ),
        (
            "Content-Length: 5\r\nContent-Length: 5\r\n",
            "HTTP/1.1",
            true,
        ),
        ("content-length: 5, 5\r\n", "HTTP/1.1", true),
        ("content-length: +5\r\n", "HTTP/1.1", false),
        (
            "content-length: 5\r\ncontent-length: 48\r\n",
            "HTTP/1.1",
            false,
        ),
        ("content-length: -1\r\n", "HTTP/1.1", false),
        ("transfer-encoding: gzip\r\n", "HTTP/1.1", false),
        ("transfer-encoding: chunked, gzip\r\n", "HTTP/1.1", false),
        ("transfer-encoding: chunked\r\n", "HTTP/1.0", false),
        ("transfer-encoding : chunked\r\n", "HTTP/1.1", false),
    ];
    let mut ours = 0.0;
    for (framing, version, counted) in cases {
        let out = raw_exchange(
            proxy.port,
            &smuggle(framing, version),
            Duration::from_secs(10),
        );
        let text = String::from_utf8_lossy(&out);
        assert_eq!(status_lines(&out), [400], "{framing:?} {version}: {text}");
        if *counted {
            ours += 1.0;
            let v: serde_json::Value =
                serde_json::from_str(text.split("\r\n\r\n").nth(1).unwrap_or(""))
                    .unwrap_or_default();
            assert_eq!(
                v["error"]["type"], "invalid_request_error",
                "{framing:?}: {text}"
            );
        }
        assert!(
            up.requests().is_empty(),
            "{framing:?} {version} reached the upstream: {:?}",
            up.requests()
        );
    }
    assert!(
        eventually(Duration::from_secs(5), || metric(
            &proxy.get("/metrics").text(),
            r#"headroom_request_errors_total{kind="bad_request"}"#
        ) == ours),
        "{}",
        proxy.get("/metrics").text()
    );
    let body = messages_body("plain", false);
    assert_eq!(proxy.post_json("/v1/messages", &body).status, 200);
    assert_eq!(up.requests().len(), 1);
    assert_eq!(up.last().unwrap().body, body);
}

#[test]
fn a_plain_chunked_upload_is_forwarded_with_one_framing() {
    let up = FakeUpstream::start();
    let proxy = Proxy::start(&upstreams(&up.url()));
    for path in ["/v1/messages", "/v1/messages/count_tokens"] {
        let body = messages_body("chunked upload", false);
        let (a, b) = body.split_at(body.len() / 2);
        let mut wire = format!(
            "POST {path} HTTP/1.1\r\nhost: 127.0.0.1:{}\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n",
            proxy.port
        )
        .into_bytes();
        for part in [a, b] {
            wire.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
            wire.extend_from_slice(part);
            wire.extend_from_slice(b"\r\n");
        }
        wire.extend_from_slice(b"0\r\n\r\n");
        let out = raw_exchange(proxy.port, &wire, Duration::from_secs(10));
        assert_eq!(
            status_lines(&out),
            [200],
            "{}",
            String::from_utf8_lossy(&out)
        );
        let got = up.last().unwrap();
        assert_eq!(got.body, body);
        let framings = got.headers.iter().filter(|(k, _)| {
            k.eq_ignore_ascii_case("content-length") || k.eq_ignore_ascii_case("transfer-encoding")
        });
        assert_eq!(framings.count(), 1, "{:?}", got.headers);
    }
}
