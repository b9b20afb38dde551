//! Header reads, header limits and honest upstream errors.

use super::*;

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

/// The header deadline runs from each keep-alive wait, not from the first: waits that are each
/// shorter than `client_read_ms` but add up to more keep the connection serving.
#[test]
fn each_keep_alive_wait_gets_its_own_header_deadline() {
    let up = FakeUpstream::start();
    let p = Proxy::start(&format!(
        "{}timeouts:\n  client_read_ms: 600\n",
        upstreams(&up.url())
    ));
    let host = own_host(&p);
    let mut s = TcpStream::connect(("127.0.0.1", p.port)).unwrap();
    let mut reader = BufReader::new(s.try_clone().unwrap());
    for i in 0..5 {
        if i > 0 {
            std::thread::sleep(Duration::from_millis(300));
        }
        s.write_all(format!("GET /health HTTP/1.1\r\nhost: {host}\r\n\r\n").as_bytes())
            .unwrap();
        let r = read_response(&mut reader).expect("the connection still serves");
        assert_eq!(r.status, 200, "request {i}");
    }
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
