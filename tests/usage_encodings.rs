//! The usage tap reads an answer's usage under the content encodings it knows (gzip, identity)
//! and leaves alone the ones it does not, against the real binary and the fake upstream
//! answering with the response fields each case chooses.

use headroom_test_support as support;

use std::io::Write;
use support::fake_upstream::{Behaviour, FakeUpstream};
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

#[test]
fn reads_usage_from_gzip_and_identity_answers_and_not_from_unknown_encodings() {
    let zipped = gzip(&message(21, 9));
    let unknown = message(1000, 1000);
    let plain = message(5, 1);
    let answers: Vec<(Vec<&str>, Vec<u8>)> = vec![
        (
            vec!["Content-Type: application/json", "Content-Encoding: gzip"],
            zipped,
        ),
        // Not brotli at all: a tap that read it anyway would count its 1000 tokens.
        (
            vec!["content-encoding: br", "content-type: application/json"],
            unknown,
        ),
        // The first Content-Type counts; the encoding is absent (identity).
        (
            vec![
                "Server: scripted",
                "Content-Type: application/json; charset=utf-8",
                "Content-Type: text/plain",
            ],
            plain,
        ),
    ];
    let up = FakeUpstream::start();
    let proxy = Proxy::start(&upstreams(&up.url()));
    let body = br#"{"model":"claude-sonnet-4-5","max_tokens":64,"messages":[{"role":"user","content":"What does this function return when the list is empty?"}]}"#;
    for (fields, expected) in answers {
        let fields = fields.into_iter().map(String::from).collect();
        let answer = expected.clone();
        up.set(|s| {
            s.behaviour = Behaviour::Answer {
                fields,
                body: answer,
            }
        });
        let r = proxy.post_json("/v1/messages", body);
        assert_eq!(r.status, 200);
        // The answer is passed on as the upstream sent it, encoded bytes included.
        assert_eq!(r.body, expected);
    }
    let stats = proxy.stats_when(|s| s["requests"] == 3);
    assert_eq!(stats["requests"], 3, "{stats}");
    assert_eq!(stats["upstream_usage"]["input"], 21 + 5, "{stats}");
    assert_eq!(stats["upstream_usage"]["output"], 9 + 1, "{stats}");
}
