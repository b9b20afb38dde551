//! Misbehaving clients against the real binary: disconnects mid-upload and mid-stream (nothing
//! half-sent upstream, no leaked descriptors or memory), slow-loris headers and bodies,
//! pipelined requests, HTTP/1.0.

use headroom_test_support as support;

use headroom_test_support::hardening::*;
use std::io::{BufRead, BufReader, Write};
use std::time::Duration;
use support::fake_upstream::FakeUpstream;
use support::*;

/// Requests in flight other than the one asking (`/health` itself counts).
fn busy(proxy: &Proxy) -> u64 {
    let v = proxy.get("/health?verbose=1").json();
    v["in_flight"].as_u64().unwrap_or(0).saturating_sub(1)
}

/// Starts an upload of `declared` bytes, sends `sent` of them, and drops the connection.
fn abandon_upload(
    port: u16,
    path: &str,
    content_type: &str,
    marker: &str,
    declared: usize,
    sent: usize,
) {
    let mut s = connect(port, Duration::from_secs(5));
    post_head(
        &mut s,
        path,
        &[
            &format!("content-type: {content_type}"),
            &format!("content-length: {declared}"),
        ],
    );
    let mut body = format!("{{\"model\":\"m\",\"marker\":\"{marker}\",\"messages\":[{{\"role\":\"user\",\"content\":\"")
        .into_bytes();
    body.resize(sent, b'a');
    let _ = s.write_all(&body);
    // Let the proxy start on the body before the client vanishes.
    std::thread::sleep(Duration::from_millis(5));
}

/// Starts a streamed answer, reads its first event, and drops the connection.
fn abandon_stream(port: u16) {
    let body = messages_body("stream then vanish", true);
    let mut s = connect(port, Duration::from_secs(10));
    post_head(
        &mut s,
        "/v1/messages",
        &[
            "content-type: application/json",
            &format!("content-length: {}", body.len()),
        ],
    );
    s.write_all(&body).unwrap();
    let mut r = BufReader::new(s);
    let mut line = String::new();
    while r.read_line(&mut line).unwrap_or(0) > 0 {
        if line.starts_with("event: message_start") {
            return;
        }
        line.clear();
    }
    panic!("stream ended before its first event");
}

#[test]
fn abandoned_uploads_never_reach_the_upstream_complete_and_leak_nothing() {
    let up = FakeUpstream::start();
    let proxy = Proxy::start(&upstreams(&up.url()));
    let pid = proxy.child.id();
    let round = |n: usize| {
        std::thread::scope(|s| {
            for t in 0..4 {
                let port = proxy.port;
                s.spawn(move || {
                    for i in 0..n {
                        // Buffered (JSON on /v1/messages) and streamed-through (other types).
                        let (path, ct) = match i % 3 {
                            0 => ("/v1/messages", "application/json"),
                            1 => ("/v1/chat/completions", "application/json"),
                            _ => ("/v1/messages", "application/octet-stream"),
                        };
                        abandon_upload(
                            port,
                            path,
                            ct,
                            &format!("abandoned-{t}-{i}"),
                            1 << 20,
                            64 * 1024,
                        );
                    }
                });
            }
        });
    };
    round(10);
    assert!(
        eventually(Duration::from_secs(10), || busy(&proxy) == 0),
        "requests stuck in flight"
    );
    let (fd0, rss0) = (fd_count(pid), rss_kib(pid));
    round(60);
    assert!(
        eventually(Duration::from_secs(10), || busy(&proxy) == 0),
        "requests stuck in flight"
    );
    assert!(
        eventually(Duration::from_secs(10), || fd_count(pid) <= fd0 + 4),
        "descriptors grew from {fd0} to {}",
        fd_count(pid)
    );
    let rss1 = rss_kib(pid);
    eprintln!(
        "abandoned uploads: fds {fd0} -> {}, RSS {rss0} KiB -> {rss1} KiB",
        fd_count(pid)
    );
    assert!(
        rss1 < rss0 + 32 * 1024,
        "RSS grew from {rss0} KiB to {rss1} KiB over 240 abandoned uploads"
    );
    // A truncated upload must never be completed (e.g. by a terminating chunk) and forwarded.
    for r in up.requests() {
        assert!(
            !String::from_utf8_lossy(&r.body).contains("abandoned-"),
            "a truncated upload reached the upstream as a complete request ({} bytes)",
            r.body.len()
        );
    }
    let m = proxy.get("/metrics").text();
    assert!(
        metric(
            &m,
            r#"headroom_request_errors_total{kind="client_disconnected"}"#
        ) >= 1.0,
        "{m}"
    );
    assert_eq!(
        proxy
            .post_json("/v1/messages", &messages_body("after", false))
            .status,
        200
    );
}

#[test]
fn abandoned_streams_cancel_the_upstream_request_and_leak_nothing() {
    let up = FakeUpstream::start();
    // A long answer: 40 events 100 ms apart take 4 s; an abandoned one must not run on.
    up.set(|s| {
        s.event_gap = Duration::from_millis(100);
        s.deltas = 40;
    });
    let proxy = Proxy::start(&upstreams(&up.url()));
    let pid = proxy.child.id();
    let round = |n: usize| {
        std::thread::scope(|s| {
            for _ in 0..8 {
                let port = proxy.port;
                s.spawn(move || (0..n).for_each(|_| abandon_stream(port)));
            }
        });
    };
    round(1);
    assert!(
        eventually(Duration::from_secs(2), || busy(&proxy) == 0),
        "abandoned streams still in flight: the upstream request was not cancelled"
    );
    let (fd0, rss0) = (fd_count(pid), rss_kib(pid));
    round(12);
    assert!(
        eventually(Duration::from_secs(2), || busy(&proxy) == 0),
        "abandoned streams still in flight: the upstream request was not cancelled"
    );
    assert!(
        eventually(Duration::from_secs(5), || fd_count(pid) <= fd0 + 4),
        "descriptors grew from {fd0} to {}",
        fd_count(pid)
    );
    let rss1 = rss_kib(pid);
    eprintln!(
        "abandoned streams: fds {fd0} -> {}, RSS {rss0} KiB -> {rss1} KiB",
        fd_count(pid)
    );
    assert!(
        rss1 < rss0 + 32 * 1024,
        "RSS grew from {rss0} KiB to {rss1} KiB"
    );
    let m = proxy.get("/metrics").text();
    assert!(
        metric(
            &m,
            r#"headroom_request_errors_total{kind="client_disconnected"}"#
        ) >= 96.0,
        "{m}"
    );
    up.set(|s| s.event_gap = Duration::ZERO);
    let r = proxy.post_json("/v1/messages", &messages_body("after", true));
    assert!(r.text().contains("event: message_stop"), "{}", r.text());
}

#[test]
fn slow_loris_bodies_are_cut_after_client_read_ms() {
    let up = FakeUpstream::start();
    let proxy = Proxy::start(&format!(
        "{}timeouts:\n  client_read_ms: 400\n",
        upstreams(&up.url())
    ));
    let mut conns = Vec::new();
    for (i, ct) in ["application/json", "text/plain"]
        .iter()
        .cycle()
        .take(6)
        .enumerate()
    {
        let mut s = connect(proxy.port, Duration::from_secs(10));
        post_head(
            &mut s,
            "/v1/messages",
            &[&format!("content-type: {ct}"), "content-length: 1000"],
        );
        s.write_all(format!("{{\"loris\":{i},").as_bytes()).unwrap();
        conns.push(s);
    }
    // Meanwhile other clients are served.
    assert_eq!(
        proxy
            .post_json("/v1/messages", &messages_body("others", false))
            .status,
        200
    );
    for mut s in conns {
        let (bytes, end) = read_until_close(&mut s);
        assert_eq!(
            end,
            ReadEnd::Closed,
            "slow body kept open: {}",
            String::from_utf8_lossy(&bytes)
        );
        let statuses = status_lines(&bytes);
        assert!(
            statuses.is_empty() || statuses == [408],
            "{}",
            String::from_utf8_lossy(&bytes)
        );
    }
    assert!(up
        .requests()
        .iter()
        .all(|r| !r.body.starts_with(b"{\"loris\"")));
    assert!(eventually(Duration::from_secs(5), || busy(&proxy) == 0));
    let m = proxy.get("/metrics").text();
    assert!(
        metric(
            &m,
            r#"headroom_request_errors_total{kind="client_timeout"}"#
        ) + metric(
            &m,
            r#"headroom_request_errors_total{kind="client_disconnected"}"#
        ) >= 6.0,
        "{m}"
    );
}

/// Pingora reads request headers with its own fixed 60 s idle timeout per read;
/// `timeouts.client_read_ms` applies from the body on. A stalled header costs one idle
/// connection for a minute and nothing else.
#[test]
fn slow_loris_headers_are_closed_and_do_not_starve_other_clients() {
    let up = FakeUpstream::start();
    let proxy = Proxy::start(&format!(
        "{}timeouts:\n  client_read_ms: 400\n",
        upstreams(&up.url())
    ));
    let mut conns: Vec<_> = (0..50)
        .map(|_| {
            let mut s = connect(proxy.port, Duration::from_secs(75));
            s.write_all(b"POST /v1/messages HTTP/1.1\r\nhost: x\r\ncontent-ty")
                .unwrap();
            s
        })
        .collect();
    for _ in 0..20 {
        assert_eq!(
            proxy
                .post_json("/v1/messages", &messages_body("others", false))
                .status,
            200
        );
    }
    for s in conns.iter_mut() {
        let (bytes, end) = read_until_close(s);
        assert_eq!(
            end,
            ReadEnd::Closed,
            "stalled header kept open: {}",
            String::from_utf8_lossy(&bytes)
        );
    }
    assert_eq!(up.requests().len(), 20);
}

#[test]
fn pipelined_requests_are_answered_in_order_or_closed_never_merged() {
    let up = FakeUpstream::start();
    let proxy = Proxy::start(&upstreams(&up.url()));
    let a = messages_body("first pipelined", false);
    let b = messages_body("second pipelined", false);
    let mut wire = Vec::new();
    for (body, last) in [(&a, false), (&b, true)] {
        wire.extend_from_slice(
            format!(
                "POST /v1/messages HTTP/1.1\r\nhost: 127.0.0.1:{}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{}\r\n",
                proxy.port,
                body.len(),
                if last { "connection: close\r\n" } else { "" }
            )
            .as_bytes(),
        );
        wire.extend_from_slice(body);
    }
    let mut s = connect(proxy.port, Duration::from_secs(10));
    s.write_all(&wire).unwrap();
    let (bytes, end) = read_until_close(&mut s);
    assert_eq!(end, ReadEnd::Closed, "{}", String::from_utf8_lossy(&bytes));
    let statuses = status_lines(&bytes);
    let got: Vec<Vec<u8>> = up.requests().into_iter().map(|r| r.body).collect();
    eprintln!(
        "pipelined: statuses {statuses:?}, upstream saw {} requests",
        got.len()
    );
    // Either both are answered in order, or the first is and the connection closes (RFC 9112
    // §9.3.2 lets a server close; the client retries). Never a merged or partial request.
    assert!(statuses == [200, 200] || statuses == [200], "{statuses:?}");
    assert_eq!(
        got.len(),
        statuses.len(),
        "upstream saw {} requests",
        got.len()
    );
    assert_eq!(got[0], a);
    if got.len() == 2 {
        assert_eq!(got[1], b);
    }
    assert_eq!(proxy.post_json("/v1/messages", &b).status, 200);
}

#[test]
fn http_1_0_requests_are_proxied_and_answered_in_http_1_0_framing() {
    let up = FakeUpstream::start();
    let proxy = Proxy::start(&upstreams(&up.url()));
    let out = raw_exchange(
        proxy.port,
        b"GET /health HTTP/1.0\r\n\r\n",
        Duration::from_secs(10),
    );
    let text = String::from_utf8_lossy(&out);
    assert!(
        text.starts_with("HTTP/1.") && text.contains(" 200 "),
        "{text}"
    );
    assert!(text.ends_with(r#"{"status":"healthy"}"#), "{text}");
    for stream in [false, true] {
        let body = messages_body("from an old client", stream);
        let mut wire = format!(
            "POST /v1/messages HTTP/1.0\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        wire.extend_from_slice(&body);
        let out = raw_exchange(proxy.port, &wire, Duration::from_secs(10));
        let text = String::from_utf8_lossy(&out);
        assert!(text.contains(" 200 "), "{text}");
        // HTTP/1.0 has no chunked coding: the body is delimited by length or by close.
        assert!(
            !text
                .to_ascii_lowercase()
                .contains("transfer-encoding: chunked"),
            "{text}"
        );
        let expect = if stream {
            "event: message_stop"
        } else {
            "fake answer"
        };
        assert!(text.contains(expect), "{text}");
        assert_eq!(up.last().unwrap().body, body);
    }
}

#[test]
fn a_keep_alive_wait_gets_the_whole_header_deadline_after_an_earlier_timer_fires() {
    let up = FakeUpstream::start();
    let proxy = Proxy::start(&format!(
        "{}timeouts:\n  client_read_ms: 600\n",
        upstreams(&up.url())
    ));
    let mut s = connect(proxy.port, Duration::from_secs(10));
    // The first header read waits 300 ms: its timer is due 600 ms after the connection opened.
    std::thread::sleep(Duration::from_millis(300));
    let body = messages_body("first", false);
    let length = format!("content-length: {}", body.len());
    let fields = [
        "content-type: application/json",
        "anthropic-version: 2023-06-01",
        &length,
    ];
    post_head(&mut s, "/v1/messages", &fields);
    s.write_all(&body).unwrap();
    let answer = read_response(&mut BufReader::new(&mut s)).unwrap();
    assert_eq!(answer.status, 200);
    let waiting = std::time::Instant::now();
    // Half a second in, the older timer has fired; the wait for this request's headers must
    // still be open until its own 600 ms are up.
    std::thread::sleep(Duration::from_millis(450));
    s.write_all(b"POST /v1/messages HTTP/1.1\r\nhost: 127.0.0.1\r\n")
        .unwrap();
    let (bytes, end) = read_until_close(&mut s);
    assert_eq!(end, ReadEnd::Closed, "{}", String::from_utf8_lossy(&bytes));
    assert!(bytes.is_empty(), "{}", String::from_utf8_lossy(&bytes));
    assert!(
        waiting.elapsed() >= Duration::from_millis(590),
        "closed {:?} into a 600 ms deadline",
        waiting.elapsed()
    );
    assert_eq!(up.requests().len(), 1);
}

#[test]
fn an_idle_proxy_runs_no_clock_thread_and_is_rarely_woken() {
    let up = FakeUpstream::start();
    let proxy = Proxy::start(&upstreams(&up.url()));
    // Upstream reads, the pooled connection's idle wait and keep-alive header waits all arm
    // timeouts.
    for _ in 0..5 {
        assert_eq!(
            proxy
                .post_json("/v1/messages", &messages_body("timers", false))
                .status,
            200
        );
    }
    let names = thread_names(proxy.child.id());
    assert!(!names.is_empty());
    assert!(
        !names.iter().any(|n| n == "Timer thread"),
        "a 10 ms clock thread runs: {names:?}"
    );
    // Idle: nothing ticks faster than the stats flush (1 s in these tests). A 10 ms clock or
    // a 100 ms log flusher would wake it hundreds of times in these 3 s.
    std::thread::sleep(Duration::from_millis(500));
    let before = context_switches(proxy.child.id());
    std::thread::sleep(Duration::from_secs(3));
    let woken = context_switches(proxy.child.id()) - before;
    assert!(woken <= 40, "woken {woken} times in 3 idle seconds");
}
