//! Hostile and faulty conditions against the real binary: web pages trying to spend the user's
//! key (foreign Host, foreign and `null` Origin, browser-only bodies, other peers), credentials
//! crossing providers, configs that must not be guessed, header slow-loris, honest errors.

use headroom_test_support as support;

use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};
use support::fake_upstream::{Behaviour, FakeUpstream};
use support::{read_response, request, upstreams, Proxy, Response};

const KEY: &str = "sk-ant-api03-INJECTED-KEY-0001";

fn body() -> &'static [u8] {
    br#"{"model":"claude-sonnet-4-5","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}"#
}

/// One request with exactly these headers (no Host added), optionally from a chosen local
/// address (e.g. 127.0.0.2 standing for another machine on the network).
fn send(
    port: u16,
    from: Option<&str>,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    let stream = match from {
        Some(ip) => {
            let sock = socket2_bind(ip);
            sock.connect(&SocketAddr::from(([127, 0, 0, 1], port)).into())
                .expect("connect from the other address");
            TcpStream::from(sock)
        }
        None => TcpStream::connect(("127.0.0.1", port)).unwrap(),
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nconnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
    let mut w = stream.try_clone().unwrap();
    w.write_all(head.as_bytes()).unwrap();
    w.write_all(body).unwrap();
    read_response(&mut BufReader::new(stream)).expect("a response")
}

fn socket2_bind(ip: &str) -> socket2::Socket {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let addr: SocketAddr = format!("{ip}:0").parse().unwrap();
    s.bind(&addr.into())
        .expect("bind the client to another loopback address");
    s
}

fn own_host(p: &Proxy) -> String {
    format!("127.0.0.1:{}", p.port)
}

/// Sends a JSON `POST /v1/messages` and leaves the connection open for the caller.
fn open_post(p: &Proxy, body: &[u8]) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", p.port)).unwrap();
    let head = format!(
        "POST /v1/messages HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        own_host(p),
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    s
}

fn start_with_key(up: &FakeUpstream, extra: &str) -> Proxy {
    Proxy::start_with_env(
        &format!("{}{extra}", upstreams(&up.url())),
        &[("ANTHROPIC_API_KEY", KEY)],
    )
}

#[test]
fn a_trusted_local_request_gets_the_key_injected() {
    let up = FakeUpstream::start();
    let p = start_with_key(&up, "");
    let host = own_host(&p);
    let r = send(
        p.port,
        None,
        "POST",
        "/v1/messages",
        &[("host", &host), ("content-type", "application/json")],
        body(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(up.last().unwrap().header("x-api-key"), Some(KEY));
}

#[test]
fn web_pages_never_get_the_key_injected() {
    let up = FakeUpstream::start();
    let p = start_with_key(&up, "");
    let host = own_host(&p);
    let refused: Vec<(&str, Vec<(&str, &str)>)> = vec![
        (
            "foreign Host (DNS rebinding)",
            vec![
                ("host", "attacker.example"),
                ("content-type", "application/json"),
            ],
        ),
        (
            "foreign Host with our port",
            vec![
                ("host", "attacker.example:8787"),
                ("origin", "http://attacker.example:8787"),
                ("content-type", "text/plain"),
            ],
        ),
        (
            "cross-site text/plain",
            vec![
                ("host", &host),
                ("origin", "http://attacker.example"),
                ("content-type", "text/plain;charset=UTF-8"),
            ],
        ),
        (
            "sandboxed iframe (Origin: null) form post",
            vec![
                ("host", &host),
                ("origin", "null"),
                ("content-type", "application/x-www-form-urlencoded"),
            ],
        ),
        (
            "multipart form",
            vec![
                ("host", &host),
                ("origin", "http://attacker.example"),
                ("content-type", "multipart/form-data; boundary=x"),
            ],
        ),
    ];
    for path in ["/v1/messages", "/v1/complete", "/anything/else"] {
        for (name, headers) in &refused {
            up.clear();
            let r = send(p.port, None, "POST", path, headers, body());
            assert_eq!(r.status, 403, "{name} on {path}: {}", r.text());
            let j = r.json();
            assert_eq!(j["type"], "error", "{name}");
            assert_eq!(j["error"]["type"], "permission_error", "{name}");
            assert!(
                up.requests().is_empty(),
                "{name} on {path} reached the upstream"
            );
        }
    }
    // A JSON request with a foreign Origin (it needed a CORS preflight) is forwarded with
    // the client's own credentials only.
    up.clear();
    let r = send(
        p.port,
        None,
        "POST",
        "/v1/messages",
        &[
            ("host", &host),
            ("origin", "http://attacker.example"),
            ("content-type", "application/json"),
        ],
        body(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(up.last().unwrap().header("x-api-key"), None);
    // Another address than loopback's own (a LAN peer, here 127.0.0.2) gets no key either.
    for path in ["/v1/messages", "/v1/models"] {
        up.clear();
        let r = send(
            p.port,
            Some("127.0.0.2"),
            "POST",
            path,
            &[
                ("host", &host),
                ("content-type", "application/json"),
                ("anthropic-version", "2023-06-01"),
            ],
            body(),
        );
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        let got = up.last().expect("forwarded");
        assert_eq!(
            got.header("x-api-key"),
            None,
            "{path} from 127.0.0.2 got the key"
        );
    }
    assert!(!p.stderr().contains(KEY), "the key reached a log line");
}

#[test]
fn local_data_endpoints_are_for_trusted_callers_and_health_stays_open() {
    let up = FakeUpstream::start();
    let p = start_with_key(&up, "");
    let host = own_host(&p);
    for path in ["/stats", "/metrics", "/health?verbose=1"] {
        let ok = send(p.port, None, "GET", path, &[("host", &host)], b"");
        assert_eq!(ok.status, 200, "{path}");
        for (from, headers) in [
            (Some("127.0.0.2"), vec![("host", host.as_str())]),
            (
                None,
                vec![
                    ("host", host.as_str()),
                    ("origin", "http://attacker.example"),
                ],
            ),
            (None, vec![("host", "rebound.attacker.example:80")]),
        ] {
            let r = send(p.port, from, "GET", path, &headers, b"");
            assert_eq!(
                r.status,
                403,
                "{path} from {from:?} {headers:?}: {}",
                r.text()
            );
        }
    }
    // Probes from anywhere, under any Host, still see the plain health document.
    let r = send(
        p.port,
        Some("127.0.0.2"),
        "GET",
        "/health",
        &[("host", "10.0.0.7:8787")],
        b"",
    );
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, r#"{"status":"healthy"}"#)
    );
}

#[test]
fn allowed_hosts_and_origins_are_honoured() {
    let up = FakeUpstream::start();
    let p = start_with_key(
        &up,
        "auth:\n  allowed_hosts: [headroom.test]\n  allowed_origins: ['http://localhost:5173']\n",
    );
    let r = send(
        p.port,
        None,
        "POST",
        "/v1/messages",
        &[
            ("host", "headroom.test"),
            ("origin", "http://localhost:5173"),
            ("content-type", "application/json"),
        ],
        body(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(up.last().unwrap().header("x-api-key"), Some(KEY));
}

#[test]
fn credentials_never_cross_providers() {
    let anthropic = FakeUpstream::start();
    let openai = FakeUpstream::start();
    let p = Proxy::start(&format!(
        "upstreams:\n  anthropic: {}\n  openai: {}\n",
        anthropic.url(),
        openai.url()
    ));
    let host = own_host(&p);
    let ant = [
        ("host", host.as_str()),
        ("x-api-key", "sk-ant-api03-client"),
        ("anthropic-version", "2023-06-01"),
    ];
    for (method, path) in [
        ("GET", "/v1/models"),
        ("GET", "/v1/models/claude-sonnet-4-5"),
        ("GET", "/v1/files"),
        ("POST", "/v1/files"),
        ("GET", "/v1/organizations/me"),
        ("POST", "/v1/complete"),
        ("POST", "/v1/messages/batches"),
        ("GET", "/v1/messages/batches/msgbatch_01/results"),
    ] {
        anthropic.clear();
        openai.clear();
        let r = send(p.port, None, method, path, &ant, b"");
        assert_eq!(r.status, 200, "{method} {path}: {}", r.text());
        assert_eq!(
            anthropic.requests().len(),
            1,
            "{method} {path} did not reach Anthropic"
        );
        assert!(
            openai.requests().is_empty(),
            "{method} {path} reached OpenAI"
        );
    }
    // OpenAI's own paths with an OpenAI key go to OpenAI.
    let oai = [
        ("host", host.as_str()),
        ("authorization", "Bearer sk-proj-client"),
    ];
    for path in ["/v1/models", "/v1/files", "/v1/embeddings"] {
        openai.clear();
        let r = send(p.port, None, "GET", path, &oai, b"");
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(openai.requests().len(), 1, "{path}");
    }
    // A credential sent to the wrong provider's path is refused, not forwarded.
    for (path, headers, shape) in [
        (
            "/v1/chat/completions",
            vec![
                ("host", host.as_str()),
                ("x-api-key", "sk-ant-api03-client"),
                ("content-type", "application/json"),
            ],
            "openai",
        ),
        (
            "/v1/embeddings",
            vec![
                ("host", host.as_str()),
                ("authorization", "Bearer sk-ant-oat01-client"),
            ],
            "openai",
        ),
        (
            "/v1/messages",
            vec![
                ("host", host.as_str()),
                ("authorization", "Bearer sk-proj-client"),
                ("content-type", "application/json"),
            ],
            "anthropic",
        ),
    ] {
        anthropic.clear();
        openai.clear();
        let r = send(p.port, None, "POST", path, &headers, body());
        assert_eq!(r.status, 400, "{path}: {}", r.text());
        let j = r.json();
        let message = if shape == "openai" {
            j["error"]["message"].as_str().unwrap().to_string()
        } else {
            assert_eq!(j["type"], "error");
            j["error"]["message"].as_str().unwrap().to_string()
        };
        assert!(message.contains("across providers"), "{message}");
        assert!(
            !message.contains("client"),
            "the credential was echoed: {message}"
        );
        assert!(
            anthropic.requests().is_empty() && openai.requests().is_empty(),
            "{path} was forwarded"
        );
    }
}

#[test]
fn an_empty_or_broken_config_is_never_taken_for_the_defaults() {
    let dir = tempfile::tempdir().unwrap();
    for text in ["", "   \n\n", "# only a comment\n---\n"] {
        let path = dir.path().join("empty.yaml");
        std::fs::write(&path, text).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_headroom"))
            .arg("-c")
            .arg(&path)
            .env("HOME", dir.path())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(78), "{text:?}: {err}");
        assert!(err.contains("empty.yaml") && err.contains("empty"), "{err}");
    }
    // On SIGHUP: empty, truncated and invalid files keep the running config.
    let up = FakeUpstream::start();
    let p = Proxy::start(&upstreams(&up.url()));
    let good = std::fs::read_to_string(&p.config_path).unwrap();
    let truncated = &good[..good.find("upstreams").unwrap() + 14];
    for (name, text) in [
        ("empty", ""),
        ("truncated", truncated),
        ("invalid", "listen: [nope\n"),
    ] {
        std::fs::write(&p.config_path, text).unwrap();
        p.signal(libc::SIGHUP);
        let deadline = Instant::now() + Duration::from_secs(5);
        while !p.stderr().contains("reload rejected") && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let health = p.get("/health?verbose=1").json();
        assert_eq!(health["last_reload"]["result"], "error", "{name}: {health}");
        up.clear();
        assert_eq!(p.post_json("/v1/messages", body()).status, 200, "{name}");
        assert_eq!(up.requests().len(), 1, "{name}: the upstream changed");
        let log = p.stderr();
        assert!(
            log.contains("ERROR") && log.contains("headroom.yaml"),
            "{name}: {log}"
        );
        std::fs::write(&p.config_path, &good).unwrap();
    }
}

#[test]
fn header_reads_are_bounded_by_client_read_ms() {
    let up = FakeUpstream::start();
    let p = Proxy::start(&format!(
        "{}timeouts:\n  client_read_ms: 400\n",
        upstreams(&up.url())
    ));
    let closed_within = |mut s: TcpStream, trickle: &[u8]| -> bool {
        s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        let start = Instant::now();
        let mut sent = 0;
        let mut buf = [0u8; 512];
        while start.elapsed() < Duration::from_secs(5) {
            if sent < trickle.len() && s.write_all(&trickle[sent..sent + 1]).is_err() {
                return true;
            }
            sent += 1;
            match s.read(&mut buf) {
                Ok(0) => return true,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
                _ => {}
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    };
    // Idle: connects and sends nothing.
    let s = TcpStream::connect(("127.0.0.1", p.port)).unwrap();
    assert!(closed_within(s, b""), "idle connection left open");
    // Partial headers, then silence.
    let mut s = TcpStream::connect(("127.0.0.1", p.port)).unwrap();
    s.write_all(b"POST /v1/messages HTTP/1.1\r\nhost: 127.0.0.1\r\n")
        .unwrap();
    assert!(closed_within(s, b""), "partial headers left open");
    // A byte every 50 ms: never silent for long, never finishing.
    let s = TcpStream::connect(("127.0.0.1", p.port)).unwrap();
    let trickle = "GET /health HTTP/1.1\r\nx-pad: ".to_string() + &"a".repeat(400);
    assert!(
        closed_within(s, trickle.as_bytes()),
        "byte trickle never cut"
    );
    // Idle keep-alive after a request is cut too, and the proxy still serves.
    let mut s = TcpStream::connect(("127.0.0.1", p.port)).unwrap();
    let host = own_host(&p);
    s.write_all(format!("GET /health HTTP/1.1\r\nhost: {host}\r\n\r\n").as_bytes())
        .unwrap();
    let r = read_response(&mut BufReader::new(s.try_clone().unwrap())).unwrap();
    assert_eq!(r.status, 200);
    assert!(closed_within(s, b""), "idle keep-alive left open");
    // A slow body upload within the per-chunk limit is unaffected by the header deadline.
    let mut s = TcpStream::connect(("127.0.0.1", p.port)).unwrap();
    let b = body();
    s.write_all(
        format!(
            "POST /v1/messages HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            b.len()
        )
        .as_bytes(),
    )
    .unwrap();
    for chunk in b.chunks(b.len() / 4 + 1) {
        std::thread::sleep(Duration::from_millis(250));
        s.write_all(chunk).unwrap();
    }
    let r = read_response(&mut BufReader::new(s)).unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
}

#[test]
fn too_many_headers_get_a_431_in_the_provider_shape_and_a_log_line() {
    let up = FakeUpstream::start();
    let p = Proxy::start(&upstreams(&up.url()));
    let mut wire = format!("POST /v1/messages HTTP/1.1\r\nhost: {}\r\n", own_host(&p));
    for i in 0..1000 {
        wire.push_str(&format!("x-h{i}: v\r\n"));
    }
    wire.push_str("content-length: 2\r\n\r\n{}");
    let out = support::raw_exchange(p.port, wire.as_bytes(), Duration::from_secs(5));
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 431"), "{text}");
    let body = &text[text.find("\r\n\r\n").unwrap() + 4..];
    let j: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(j["type"], "error");
    assert!(up.requests().is_empty());
    let deadline = Instant::now() + Duration::from_secs(3);
    while !p.stderr().contains("431") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(p.stderr().contains("431"), "{}", p.stderr());
}

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

#[test]
fn a_second_sigterm_exits_143_and_sighup_at_start_is_harmless() {
    let up = FakeUpstream::start();
    up.set(|s| s.behaviour = Behaviour::Stall);
    let mut p = Proxy::start(&format!(
        "{}shutdown:\n  grace_seconds: 30\n",
        upstreams(&up.url())
    ));
    let port = p.port;
    let host = own_host(&p);
    let _stalled = std::thread::spawn(move || {
        let b = body();
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let head = format!(
            "POST /v1/messages HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            b.len()
        );
        let _ = s.write_all(head.as_bytes());
        let _ = s.write_all(b);
        let _ = s.read_to_end(&mut Vec::new());
    });
    std::thread::sleep(Duration::from_millis(300));
    p.signal(libc::SIGTERM);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        p.wait_exit(Duration::from_millis(10)),
        None,
        "left before the grace period"
    );
    p.signal(libc::SIGTERM);
    assert_eq!(p.wait_exit(Duration::from_secs(5)), Some(143));

    // SIGHUP from the moment the program's own code runs (its first initialiser makes SIGHUP
    // ignored; /proc shows that), through start-up and while the reload handler is installed.
    // The dynamic loader's time before any program code runs cannot be covered from inside;
    // service managers send reloads only after READY=1.
    for delay_us in [0u64, 500, 2_000, 10_000, 50_000] {
        let dir = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_headroom"))
            .args(["--port", &support::free_port().to_string()])
            .env("HOME", dir.path())
            .env("HEADROOM_COMPRESSION_PROVIDER", "rules")
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !sighup_ignored(child.id()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_micros(100));
        }
        std::thread::sleep(Duration::from_micros(delay_us));
        unsafe { libc::kill(child.id() as i32, libc::SIGHUP) };
        std::thread::sleep(Duration::from_millis(300));
        let alive = child.try_wait().unwrap().is_none();
        let _ = child.kill();
        let _ = child.wait();
        assert!(
            alive,
            "SIGHUP {delay_us} µs into start-up killed the process"
        );
    }
}

/// Whether `pid` ignores SIGHUP or has a handler for it (from /proc/PID/status).
fn sighup_ignored(pid: u32) -> bool {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return false;
    };
    let bit = 1u64 << (libc::SIGHUP - 1);
    ["SigIgn:", "SigCgt:"].iter().any(|field| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
            .is_some_and(|mask| mask & bit != 0)
    })
}

#[test]
fn streams_cut_at_grace_expiry_are_logged_and_their_usage_recorded() {
    let up = FakeUpstream::start();
    up.set(|s| {
        s.event_gap = Duration::from_millis(200);
        s.deltas = 100;
    });
    let mut p = Proxy::start(&format!(
        "{}shutdown:\n  grace_seconds: 1\n",
        upstreams(&up.url())
    ));
    let b = br#"{"model":"claude-sonnet-4-5","max_tokens":16,"stream":true,"messages":[{"role":"user","content":"tell me a long story"}]}"#;
    let mut s = open_post(&p, b);
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains("message_start") {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "stream ended early");
        seen.extend_from_slice(&buf[..n]);
    }
    p.signal(libc::SIGTERM);
    assert_eq!(p.wait_exit(Duration::from_secs(10)), Some(0));
    let log = p.stderr();
    assert!(log.contains("streams_cut=1"), "{log}");
    let (dir, port, config) = p.into_state();
    let again = Proxy::spawn(dir, port, config, &[]);
    let stats = again.get("/stats").json();
    let life = &stats["lifetime"];
    assert!(
        life["upstream_usage"]["input"].as_u64().unwrap_or(0) > 0,
        "{stats}"
    );
    assert_eq!(life["failed"], 1, "{stats}");
}

#[test]
fn a_file_backed_log_is_rotated_by_size_and_keeps_a_bounded_number_of_copies() {
    let up = FakeUpstream::start();
    let p = Proxy::start(&format!(
        "{}log:\n  max_file_bytes: 4000\n  keep_files: 2\nmodel:\n  enabled: false\n",
        upstreams(&up.url())
    ));
    let rotated = |n: u32| {
        let mut s = p.stderr_path.as_os_str().to_os_string();
        s.push(format!(".{n}"));
        std::path::PathBuf::from(s)
    };
    let mut sent = 0;
    for round in 0..3 {
        for _ in 0..30 {
            assert_eq!(p.post_json("/v1/messages", body()).status, 200);
            sent += 1;
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while !rotated(round.min(1) + 1).exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(1200));
    }
    assert!(
        rotated(1).exists() && rotated(2).exists(),
        "no rotation happened"
    );
    assert!(!rotated(3).exists(), "more copies kept than keep_files");
    let live = std::fs::metadata(&p.stderr_path).unwrap().len();
    assert!(live < 40_000, "live log grew to {live} bytes");
    // The newest copies hold every request line written since the oldest kept one began.
    let all: String = [rotated(2), rotated(1), p.stderr_path.clone()]
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect();
    let lines = all
        .lines()
        .filter(|l| l.contains("headroom::request"))
        .count();
    assert!(
        lines > 0 && lines <= sent,
        "{lines} request lines for {sent} requests"
    );
    assert!(all.contains("log file rotated"), "{all}");
}
