//! Hostile and unusual request bodies against the real binary: whatever the proxy cannot or
//! should not compress reaches the upstream byte-identical (never "fixed"), and bodies over
//! `limits.max_body_bytes` stream through without being held in memory (or get 413).

use headroom_test_support as support;

use headroom_test_support::hardening::*;
use std::io::Write;
use std::time::Duration;
use support::fake_upstream::FakeUpstream;
use support::*;

fn post(proxy: &Proxy, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Response {
    request(proxy.port, "POST", path, headers, body).expect("request through proxy")
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// Peak resident memory of a process so far, in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn bodies_that_cannot_be_compressed_reach_the_upstream_byte_identical() {
    let up = FakeUpstream::start();
    let proxy = Proxy::start(&upstreams(&up.url()));
    let mut deep = "[".repeat(10_000).into_bytes();
    deep.extend_from_slice(&"]".repeat(10_000).into_bytes());
    let mut deep_object = Vec::new();
    for _ in 0..10_000 {
        deep_object.extend_from_slice(b"{\"messages\":");
    }
    deep_object.extend_from_slice(b"null");
    deep_object.extend_from_slice(&b"}".repeat(10_000));
    let mut invalid_utf8 = messages_body("before \u{e9} after", false);
    let at = invalid_utf8.iter().position(|&b| b == 0xc3).unwrap();
    invalid_utf8[at] = 0xff;
    let json = "application/json";
    let valid = messages_body(&"tool output line\n".repeat(2000), false);
    let cases: Vec<(&str, &str, Option<&str>, Vec<u8>)> = vec![
        (
            "malformed JSON",
            json,
            None,
            br#"{"model":"m","messages":[{"role":"user","content":"x"}"#.to_vec(),
        ),
        (
            "trailing garbage",
            json,
            None,
            [valid.clone(), b"}}garbage".to_vec()].concat(),
        ),
        ("not an object", json, None, b"[1,2,3]".to_vec()),
        ("invalid UTF-8", json, None, invalid_utf8),
        ("10,000-deep arrays", json, None, deep),
        ("10,000-deep objects", json, None, deep_object),
        (
            "duplicate keys",
            json,
            None,
            br#"{"messages":[],"messages":[{"role":"user","content":"x"}]}"#.to_vec(),
        ),
        (
            "lone surrogate escape",
            json,
            None,
            br#"{"messages":[{"role":"user","content":"\ud800"}]}"#.to_vec(),
        ),
        ("text/plain", "text/plain", None, valid.clone()),
        (
            "octet-stream",
            "application/octet-stream",
            None,
            valid.clone(),
        ),
        (
            "form",
            "application/x-www-form-urlencoded",
            None,
            b"a=1&b=%7B%7D".to_vec(),
        ),
        (
            "multipart",
            "multipart/form-data; boundary=xyz",
            None,
            b"--xyz\r\ncontent-disposition: form-data; name=\"f\"\r\n\r\n{}\r\n--xyz--\r\n"
                .to_vec(),
        ),
        ("gzip JSON", json, Some("gzip"), gzip(&valid)),
        (
            "br JSON",
            json,
            Some("br"),
            b"\x8b\x02\x80not really brotli\x03".to_vec(),
        ),
    ];
    let mut sent = 0.0;
    for path in ["/v1/messages", "/v1/chat/completions"] {
        for (name, ct, encoding, body) in &cases {
            let mut headers = vec![("content-type", *ct)];
            if let Some(e) = encoding {
                headers.push(("content-encoding", e));
            }
            let r = post(&proxy, path, &headers, body);
            assert_eq!(r.status, 200, "{name} on {path}: {}", r.text());
            sent += 1.0;
            let got = up.last().expect("upstream got the request");
            assert_eq!(
                sha256_hex(&got.body),
                sha256_hex(body),
                "{name} on {path} was altered"
            );
            assert_eq!(got.header("content-encoding"), *encoding, "{name}");
        }
    }
    let counted = eventually(Duration::from_secs(5), || {
        let m = proxy.get("/metrics").text();
        metric(
            &m,
            r#"headroom_requests_total{route="messages",status="2xx"}"#,
        ) + metric(
            &m,
            r#"headroom_requests_total{route="chat_completions",status="2xx"}"#,
        ) == sent
    });
    assert!(counted, "{}", proxy.get("/metrics").text());
    assert_eq!(proxy.get("/health").status, 200);
}

#[test]
fn a_single_20_mb_string_is_forwarded_byte_identical() {
    let up = FakeUpstream::start();
    let proxy = Proxy::start(&upstreams(&up.url()));
    let body = messages_body(&"0123456789abcdef".repeat(20 * 1024 * 1024 / 16), false);
    assert!(body.len() > 20 * 1024 * 1024);
    let r = proxy.post_json("/v1/messages", &body);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(sha256_hex(&up.last().unwrap().body), sha256_hex(&body));
    assert_eq!(
        proxy
            .post_json("/v1/messages", &messages_body("next", false))
            .status,
        200
    );
}

/// 64 MiB of compressible JSON with the default 32 MiB limit.
fn big_body() -> Vec<u8> {
    let line = "2026-01-01T00:00:00Z INFO worker-7 processed item ok\\n";
    let mut body = br#"{"model":"m","messages":[{"role":"user","content":""#.to_vec();
    while body.len() < 64 * 1024 * 1024 {
        body.extend_from_slice(line.as_bytes());
    }
    body.extend_from_slice(br#""}]}"#);
    body
}

#[test]
fn a_64_mb_body_over_the_limit_streams_through_without_being_buffered() {
    let up = FakeUpstream::start();
    let proxy = Proxy::start(&upstreams(&up.url()));
    let pid = proxy.child.id();
    proxy.post_json("/v1/messages", &messages_body("warm up", false));
    let peak0 = peak_rss_kib(pid);
    let body = big_body();
    let r = proxy.post_json("/v1/messages", &body);
    assert_eq!(r.status, 200, "{}", r.text());
    let got = up.last().unwrap();
    assert_eq!(sha256_hex(&got.body), sha256_hex(&body));
    assert_eq!(
        got.header("content-length"),
        Some(body.len().to_string().as_str())
    );
    let peak1 = peak_rss_kib(pid);
    eprintln!("64 MiB passthrough: peak RSS {peak0} KiB -> {peak1} KiB");
    assert!(
        peak1 < peak0 + 16 * 1024,
        "peak RSS grew from {peak0} KiB to {peak1} KiB: the body was held"
    );
    assert!(
        eventually(Duration::from_secs(5), || metric(
            &proxy.get("/metrics").text(),
            r#"headroom_compression_failures_total{reason="oversize"}"#
        ) == 1.0),
        "{}",
        proxy.get("/metrics").text()
    );
    assert_eq!(
        proxy
            .post_json("/v1/messages", &messages_body("next", false))
            .status,
        200
    );
}

#[test]
fn a_chunked_upload_over_the_limit_is_held_only_up_to_the_limit() {
    let up = FakeUpstream::start();
    let proxy = Proxy::start(&format!(
        "{}limits:\n  max_body_bytes: 1048576\n",
        upstreams(&up.url())
    ));
    let pid = proxy.child.id();
    proxy.post_json("/v1/messages", &messages_body("warm up", false));
    let peak0 = peak_rss_kib(pid);
    let body = big_body();
    let mut s = connect(proxy.port, Duration::from_secs(60));
    post_head(
        &mut s,
        "/v1/messages",
        &[
            "content-type: application/json",
            "transfer-encoding: chunked",
            "connection: close",
        ],
    );
    for chunk in body.chunks(256 * 1024) {
        s.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
            .unwrap();
        s.write_all(chunk).unwrap();
        s.write_all(b"\r\n").unwrap();
    }
    s.write_all(b"0\r\n\r\n").unwrap();
    let (out, _) = read_until_close(&mut s);
    assert_eq!(
        status_lines(&out),
        [200],
        "{}",
        String::from_utf8_lossy(&out)
    );
    assert_eq!(sha256_hex(&up.last().unwrap().body), sha256_hex(&body));
    let peak1 = peak_rss_kib(pid);
    eprintln!("64 MiB chunked passthrough (1 MiB limit): peak RSS {peak0} KiB -> {peak1} KiB");
    assert!(
        peak1 < peak0 + 16 * 1024,
        "peak RSS grew from {peak0} KiB to {peak1} KiB"
    );
}

#[test]
fn a_64_mb_body_gets_413_before_it_is_read_when_oversize_is_rejected() {
    let up = FakeUpstream::start();
    let proxy = Proxy::start(&format!(
        "{}limits:\n  reject_oversize: true\n",
        upstreams(&up.url())
    ));
    let pid = proxy.child.id();
    let peak0 = peak_rss_kib(pid);
    let body = big_body();
    let mut s = connect(proxy.port, Duration::from_secs(30));
    post_head(
        &mut s,
        "/v1/messages",
        &[
            "content-type: application/json",
            &format!("content-length: {}", body.len()),
        ],
    );
    // The answer depends on the headers alone; the body need not (and may not) be read.
    let mut writer = s.try_clone().unwrap();
    let pusher = std::thread::spawn(move || {
        let _ = writer.write_all(&body);
    });
    let (out, end) = read_until_close(&mut s);
    let text = String::from_utf8_lossy(&out);
    assert_eq!(status_lines(&out), [413], "{text}");
    assert!(text.contains("request_too_large"), "{text}");
    assert_eq!(end, ReadEnd::Closed, "{text}");
    drop(s);
    pusher.join().unwrap();
    assert!(
        up.requests().is_empty(),
        "a rejected body reached the upstream"
    );
    let peak1 = peak_rss_kib(pid);
    assert!(
        peak1 < peak0 + 16 * 1024,
        "peak RSS grew from {peak0} KiB to {peak1} KiB"
    );
    assert_eq!(
        proxy
            .post_json("/v1/messages", &messages_body("small", false))
            .status,
        200
    );
}
