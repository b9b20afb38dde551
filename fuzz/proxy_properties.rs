//! Properties of the proxy's own parsers, checked by the `usage_tap` and `config` fuzz targets
//! and by `tests/fuzz_corpus_replay.rs` on the committed seed corpus. They need the `headroom`
//! crate itself, so they cannot live in `headroom-test-support` (which the headroom crate
//! depends on); both users include this one file. The compression properties are in
//! `headroom_test_support::properties`.
#![allow(dead_code)]

use headroom::config::{Config, Overrides};
use headroom::proxy::usage::UsageTap;
use std::io::Write;

/// Response shapes the tap distinguishes: (content type, content encoding, how the fuzz
/// input becomes the body).
const TAP_MODES: &[(&str, Option<&str>, Encode)] = &[
    ("text/event-stream; charset=utf-8", None, Encode::Raw),
    ("application/json", None, Encode::Raw),
    ("application/json", Some("gzip"), Encode::Gzip),
    ("application/json", Some("deflate"), Encode::Zlib),
    ("application/json", Some("gzip"), Encode::Raw),
    ("text/event-stream", Some("gzip"), Encode::Raw),
    ("text/plain", None, Encode::Raw),
];

#[derive(Clone, Copy)]
enum Encode {
    Raw,
    Gzip,
    Zlib,
}

/// `UsageTap`: never panics, and what it reads does not depend on how the body was split into
/// chunks on the wire. (Memory is bounded by the tap's own cap; the fuzzer's RSS limit checks.)
pub fn usage_tap(data: &[u8]) {
    let [mode, split, body @ ..] = data else {
        return;
    };
    let (content_type, encoding, encode) = TAP_MODES[*mode as usize % TAP_MODES.len()];
    let body = match encode {
        Encode::Raw => body.to_vec(),
        Encode::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            let _ = e.write_all(body);
            e.finish().unwrap_or_default()
        }
        Encode::Zlib => {
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
            let _ = e.write_all(body);
            e.finish().unwrap_or_default()
        }
    };
    let mut whole = UsageTap::for_response(Some(content_type), encoding);
    whole.feed(&body);
    whole.finish();
    let mut pieces = UsageTap::for_response(Some(content_type), encoding);
    for chunk in body.chunks(*split as usize % 31 + 1) {
        pieces.feed(chunk);
    }
    pieces.finish();
    assert_eq!(whole.usage, pieces.usage, "usage depends on chunking");
}

/// `Config::from_yaml`: never panics; a config it accepts serialises and parses back to the
/// same config; validation of an accepted config never panics.
pub fn config(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let Ok(mut config) = Config::from_yaml(&text, "fuzz.yaml") else {
        return;
    };
    let again = serde_saphyr::to_string(&config).expect("an accepted config serialises");
    let reparsed = Config::from_yaml(&again, "round trip")
        .unwrap_or_else(|e| panic!("serialised config does not parse back: {e}\n{again}"));
    assert_eq!(
        serde_saphyr::to_string(&reparsed).expect("serialises"),
        again,
        "round trip changed the config"
    );
    // A literal host keeps validation off DNS; the fuzzed port and everything else stay.
    config.apply_overrides(&Overrides {
        host: Some("127.0.0.1".into()),
        port: None,
    });
    let _ = config.validate();
}
