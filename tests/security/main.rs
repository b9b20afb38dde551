//! Hostile and faulty conditions against the real binary: web pages trying to spend the user's
//! key (foreign Host, foreign and `null` Origin, browser-only bodies, other peers), credentials
//! crossing providers, configs that must not be guessed, header slow-loris, honest errors.

use headroom_test_support as support;

use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};
use support::fake_upstream::{Behaviour, FakeUpstream};
use support::{read_response, request, upstreams, Proxy, Response};

pub const KEY: &str = "sk-ant-api03-INJECTED-KEY-0001";

pub fn body() -> &'static [u8] {
    br#"{"model":"claude-sonnet-4-5","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}"#
}

/// One request with exactly these headers (no Host added), optionally from a chosen local
/// address (e.g. 127.0.0.2 standing for another machine on the network).
pub fn send(
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

pub fn socket2_bind(ip: &str) -> socket2::Socket {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let addr: SocketAddr = format!("{ip}:0").parse().unwrap();
    s.bind(&addr.into())
        .expect("bind the client to another loopback address");
    s
}

pub fn own_host(p: &Proxy) -> String {
    format!("127.0.0.1:{}", p.port)
}

/// Sends a JSON `POST /v1/messages` and leaves the connection open for the caller.
pub fn open_post(p: &Proxy, body: &[u8]) -> TcpStream {
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

pub fn start_with_key(up: &FakeUpstream, extra: &str) -> Proxy {
    Proxy::start_with_env(
        &format!("{}{extra}", upstreams(&up.url())),
        &[("ANTHROPIC_API_KEY", KEY)],
    )
}

mod config;
mod connection;
mod lifecycle;
mod providers;
mod trust;
mod upstream_errors;
