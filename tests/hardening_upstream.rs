//! Upstream faults against the real binary: resets before headers, streams cut mid-way, TLS
//! upstreams whose certificate cannot be verified. After each, the proxy is up, the client got
//! the right answer, a metric counted it and the next request works.

use headroom_test_support as support;

use headroom_test_support::hardening::*;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use support::fake_upstream::{Behaviour, FakeUpstream};
use support::*;

fn metrics(proxy: &Proxy) -> String {
    proxy.get("/metrics").text()
}

#[test]
fn reset_before_headers_is_a_502_counted_and_the_next_request_works() {
    let up = FakeUpstream::start();
    let proxy = Proxy::start(&upstreams(&up.url()));
    up.set(|s| s.behaviour = Behaviour::Reset);
    for stream in [false, true] {
        let r = proxy.post_json("/v1/messages", &messages_body("hi", stream));
        assert_eq!(r.status, 502, "{}", r.text());
        let v = r.json();
        assert_eq!(v["type"], "error");
        assert_eq!(v["error"]["type"], "api_error");
        let msg = v["error"]["message"].as_str().unwrap_or_default();
        assert!(
            msg.contains("anthropic") && msg.contains(&up.url()),
            "{msg}"
        );
    }
    // The logging phase runs after the response is written: give it a moment.
    let counted = eventually(Duration::from_secs(5), || {
        let m = metrics(&proxy);
        metric(
            &m,
            r#"headroom_request_errors_total{kind="upstream_unavailable"}"#,
        ) == 2.0
            && metric(
                &m,
                r#"headroom_requests_total{route="messages",status="502"}"#,
            ) == 2.0
    });
    assert!(counted, "{}", metrics(&proxy));
    up.set(|s| s.behaviour = Behaviour::Normal);
    let r = proxy.post_json("/v1/messages", &messages_body("hi", false));
    assert_eq!(r.status, 200, "{}", r.text());
}

/// Sends a streaming request on a raw connection and reads until the proxy closes it.
fn stream_until_close(port: u16, body: &[u8]) -> (String, ReadEnd) {
    let mut s = connect(port, Duration::from_secs(15));
    post_head(
        &mut s,
        "/v1/messages",
        &[
            "content-type: application/json",
            "connection: close",
            &format!("content-length: {}", body.len()),
        ],
    );
    s.write_all(body).unwrap();
    let (bytes, end) = read_until_close(&mut s);
    (String::from_utf8_lossy(&bytes).into_owned(), end)
}

#[test]
fn upstream_closing_mid_stream_ends_the_client_stream_unterminated_without_hanging() {
    let up = FakeUpstream::start();
    up.set(|s| {
        s.behaviour = Behaviour::CloseMidStream(4);
        s.event_gap = Duration::from_millis(30);
        s.deltas = 10;
    });
    let proxy = Proxy::start(&upstreams(&up.url()));
    let (text, end) = stream_until_close(proxy.port, &messages_body("hi", true));
    assert_eq!(end, ReadEnd::Closed, "the client was left hanging: {text}");
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("event: message_start"), "{text}");
    assert!(!text.contains("message_stop"), "{text}");
    // The cut must stay visible: no error document spliced into the event stream and no
    // terminating chunk that would make a truncated stream look complete.
    assert!(
        !text.contains("\"type\":\"error\""),
        "error body injected into the stream: {text}"
    );
    assert!(
        !text.ends_with("0\r\n\r\n"),
        "truncated stream was terminated as complete: {text}"
    );
    let counted = eventually(Duration::from_secs(5), || {
        let m = metrics(&proxy);
        metric(
            &m,
            r#"headroom_requests_total{route="messages",status="2xx"}"#,
        ) == 1.0
            && metric(
                &m,
                r#"headroom_request_errors_total{kind="upstream_interrupted"}"#,
            ) == 1.0
    });
    assert!(counted, "{}", metrics(&proxy));
    up.set(|s| s.behaviour = Behaviour::Normal);
    let (text, end) = stream_until_close(proxy.port, &messages_body("hi", true));
    assert_eq!(end, ReadEnd::Closed);
    assert!(text.contains("event: message_stop"), "{text}");
}

/// A TLS server on loopback with a self-signed certificate, written in Python (test
/// equipment). It prints its port, then one line per handshake result.
struct SelfSignedTls {
    child: Child,
    port: u16,
    lines: std::sync::mpsc::Receiver<String>,
    _dir: tempfile::TempDir,
}

impl SelfSignedTls {
    fn start() -> SelfSignedTls {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        let ok = Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=127.0.0.1",
            ])
            .args(["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("openssl runs");
        assert!(ok.success(), "openssl could not make a certificate");
        let script = r#"
import socket, ssl, sys
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(16)
print(srv.getsockname()[1], flush=True)
while True:
    conn, _ = srv.accept()
    conn.settimeout(10)
    try:
        tls = ctx.wrap_socket(conn, server_side=True)
        tls.recv(65536)
        tls.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
        tls.close()
        print("served", flush=True)
    except Exception as e:
        print("handshake failed", type(e).__name__, flush=True)
        conn.close()
"#;
        let mut child = Command::new("python3")
            .arg("-c")
            .arg(script)
            .arg(&cert)
            .arg(&key)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 runs");
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        out.read_line(&mut first).unwrap();
        let port = first.trim().parse().expect("TLS server prints its port");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in out.lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        SelfSignedTls {
            child,
            port,
            lines,
            _dir: dir,
        }
    }
}

impl Drop for SelfSignedTls {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn self_signed_https_upstream_is_a_502_that_says_tls_and_names_the_upstream() {
    let tls = SelfSignedTls::start();
    let url = format!("https://127.0.0.1:{}", tls.port);
    let proxy = Proxy::start(&upstreams(&url));
    let r = proxy.post_json("/v1/messages", &messages_body("hi", false));
    assert_eq!(r.status, 502, "{}", r.text());
    let v = r.json();
    assert_eq!(v["error"]["type"], "api_error");
    let msg = v["error"]["message"].as_str().unwrap_or_default();
    assert!(msg.contains("TLS"), "message does not say TLS: {msg}");
    assert!(msg.contains(&url) && msg.contains("anthropic"), "{msg}");
    // The server saw the handshake fail: nothing was sent over an unverified connection.
    let line = tls
        .lines
        .recv_timeout(Duration::from_secs(10))
        .expect("server saw a handshake");
    assert!(line.starts_with("handshake failed"), "{line}");
    assert!(
        eventually(Duration::from_secs(5), || metric(
            &metrics(&proxy),
            r#"headroom_request_errors_total{kind="upstream_unavailable"}"#
        ) >= 1.0),
        "{}",
        metrics(&proxy)
    );
    assert_eq!(proxy.get("/health").status, 200);
}

#[test]
fn upstream_going_silent_mid_stream_is_cut_after_upstream_read_ms() {
    let up = FakeUpstream::start();
    // The first event comes at once, the next after 3 s: longer than the 500 ms read timeout.
    up.set(|s| s.event_gap = Duration::from_secs(3));
    let proxy = Proxy::start(&format!(
        "{}timeouts:\n  upstream_read_ms: 500\n",
        upstreams(&up.url())
    ));
    let (text, end) = stream_until_close(proxy.port, &messages_body("hi", true));
    assert_eq!(end, ReadEnd::Closed, "the client was left hanging: {text}");
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("event: message_start"), "{text}");
    assert!(!text.contains("content_block_start"), "{text}");
    assert!(
        !text.contains("\"type\":\"error\""),
        "error body injected into the stream: {text}"
    );
    assert!(
        eventually(Duration::from_secs(5), || metric(
            &metrics(&proxy),
            r#"headroom_request_errors_total{kind="upstream_interrupted"}"#
        ) == 1.0),
        "{}",
        metrics(&proxy)
    );
    up.set(|s| s.event_gap = Duration::ZERO);
    let (text, _) = stream_until_close(proxy.port, &messages_body("hi", true));
    assert!(text.contains("event: message_stop"), "{text}");
}

#[test]
fn upstream_error_answers_reach_the_client_byte_identical_with_their_headers() {
    let up = FakeUpstream::start();
    let proxy = Proxy::start(&upstreams(&up.url()));
    for (code, kind) in [
        (500u16, "api_error"),
        (529, "overloaded_error"),
        (429, "rate_limit_error"),
        (400, "invalid_request_error"),
    ] {
        up.set(|s| s.behaviour = Behaviour::Status(code));
        let r = proxy.post_json("/v1/messages", &messages_body("hi", true));
        assert_eq!(r.status, code);
        let expected = format!(
            r#"{{"type":"error","error":{{"type":"{kind}","message":"fake upstream says {code}"}}}}"#
        );
        assert_eq!(r.text(), expected);
        assert_eq!(r.header("request-id"), Some("req_fake"));
        assert_eq!(r.header("content-type"), Some("application/json"));
    }
    // The upstream's own errors are answers, not proxy failures. Each answer is counted just
    // after it went out: wait until all four are, so the zero below covers every one of them.
    let recorded = eventually(Duration::from_secs(5), || {
        let m = metrics(&proxy);
        ["500", "529", "429", "400"].iter().all(|status| {
            let sample =
                format!(r#"headroom_requests_total{{route="messages",status="{status}"}}"#);
            metric(&m, &sample) == 1.0
        })
    });
    assert!(recorded, "{}", metrics(&proxy));
    let m = metrics(&proxy);
    assert_eq!(
        metric(
            &m,
            r#"headroom_request_errors_total{kind="upstream_unavailable"}"#
        ),
        0.0,
        "{m}"
    );
    up.set(|s| s.behaviour = Behaviour::Normal);
    assert_eq!(
        proxy
            .post_json("/v1/messages", &messages_body("hi", false))
            .status,
        200
    );
}
