//! Who may use the key and the local endpoints: trusted local callers, web pages, allowed hosts and origins.

use super::*;

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
