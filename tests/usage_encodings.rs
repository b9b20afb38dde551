//! The usage tap reads an answer's usage under the content encodings it knows (gzip, identity)
//! and leaves alone the ones it does not, against the real binary and an upstream that answers
//! with scripted response heads.

use headroom_test_support as support;

use std::io::{Read, Write};
use std::net::TcpListener;
use support::*;

const MESSAGE: &str = r#"{"id":"msg_01","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[{"type":"text","text":"An empty list gives None."}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":INPUT,"output_tokens":OUTPUT,"cache_read_input_tokens":0,"cache_creation_input_tokens":0}}"#;

fn message(input: u64, output: u64) -> Vec<u8> {
    MESSAGE
        .replace("INPUT", &input.to_string())
        .replace("OUTPUT", &output.to_string())
        .into_bytes()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// Answers each connection's one request with the next scripted answer (head fields, body),
/// then closes it.
fn scripted_upstream(answers: Vec<(Vec<&'static str>, Vec<u8>)>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for (fields, body) in answers {
            let Ok((mut s, _)) = listener.accept() else {
                return;
            };
            // The request: its head, then a body of its Content-Length or up to the last chunk.
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            loop {
                let n = s.read(&mut buf).unwrap_or(0);
                got.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&got).to_ascii_lowercase();
                let Some(end) = text.find("\r\n\r\n") else {
                    if n == 0 {
                        break;
                    }
                    continue;
                };
                let length = text[..end]
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse::<usize>().ok());
                let complete = match length {
                    Some(len) => got.len() >= end + 4 + len,
                    None => text.ends_with("0\r\n\r\n"),
                };
                if complete || n == 0 {
                    break;
                }
            }
            let mut head = String::from("HTTP/1.1 200 OK\r\n");
            for f in fields {
                head.push_str(f);
                head.push_str("\r\n");
            }
            head.push_str(&format!(
                "Content-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            ));
            let _ = s.write_all(head.as_bytes());
            let _ = s.write_all(&body);
        }
    });
    url
}

#[test]
fn reads_usage_from_gzip_and_identity_answers_and_not_from_unknown_encodings() {
    let zipped = gzip(&message(21, 9));
    let unknown = message(1000, 1000);
    let plain = message(5, 1);
    let answers = vec![
        (
            vec!["Content-Type: application/json", "Content-Encoding: gzip"],
            zipped.clone(),
        ),
        // Not brotli at all: a tap that read it anyway would count its 1000 tokens.
        (
            vec!["content-encoding: br", "content-type: application/json"],
            unknown.clone(),
        ),
        // The first Content-Type counts; the encoding is absent (identity).
        (
            vec![
                "Server: scripted",
                "Content-Type: application/json; charset=utf-8",
                "Content-Type: text/plain",
            ],
            plain.clone(),
        ),
    ];
    let url = scripted_upstream(answers);
    let proxy = Proxy::start(&upstreams(&url));
    let body = br#"{"model":"claude-sonnet-4-5","max_tokens":64,"messages":[{"role":"user","content":"What does this function return when the list is empty?"}]}"#;
    for expected in [&zipped, &unknown, &plain] {
        let r = proxy.post_json("/v1/messages", body);
        assert_eq!(r.status, 200);
        // The answer is passed on as the upstream sent it, encoded bytes included.
        assert_eq!(&r.body, expected);
    }
    let stats = proxy.stats_when(|s| s["requests"] == 3);
    assert_eq!(stats["requests"], 3, "{stats}");
    assert_eq!(stats["upstream_usage"]["input"], 21 + 5, "{stats}");
    assert_eq!(stats["upstream_usage"]["output"], 9 + 1, "{stats}");
}
