//! Properties checked by the fuzz targets and by `tests/fuzz_corpus_replay.rs` on the committed
//! seed corpus. Each function takes arbitrary bytes and panics when a property fails.
#![allow(dead_code)]

use headroom::compress::diff::DiffCompressor;
use headroom::compress::generic::GenericCompressor;
use headroom::compress::json::JsonCompressor;
use headroom::compress::log::LogCompressor;
use headroom::compress::search::SearchCompressor;
use headroom::compress::{self, jsontree, marker, ApiFormat, BlockInput, CompressionConfig};
use headroom::compress::{Compressor, Context, Pipeline};
use headroom::config::{Config, Overrides};
use headroom::proxy::usage::UsageTap;
use std::io::Write;
use std::sync::OnceLock;

/// One pipeline for the whole run (building one loads tokenizers). A generous budget keeps the
/// result a function of the input alone; a low `min_tokens` lets small inputs reach the
/// compressors.
fn pipeline() -> &'static Pipeline {
    static PIPELINE: OnceLock<Pipeline> = OnceLock::new();
    PIPELINE.get_or_init(|| {
        Pipeline::new(
            CompressionConfig {
                min_tokens: 16,
                budget_ms: 60_000,
                ..CompressionConfig::default()
            },
            None,
        )
    })
}

/// `compress::rewrite`: never panics; never "fixes" a body that is not JSON; a rewritten body
/// is valid JSON and differs from the input only inside string values (keys, numbers,
/// punctuation and whitespace are byte-identical).
/// Returns whether the body was rewritten.
pub fn rewrite(data: &[u8]) -> bool {
    let Some((&selector, body)) = data.split_first() else {
        return false;
    };
    let format = if selector & 1 == 0 {
        ApiFormat::Anthropic
    } else {
        ApiFormat::OpenAi
    };
    let ctx = Context {
        format,
        pipeline: pipeline(),
    };
    let result = compress::rewrite(body, &ctx);
    let Some(out) = result.body else {
        return false;
    };
    let input_is_json = serde_json::from_slice::<serde_json::Value>(body).is_ok();
    assert!(input_is_json, "a body that is not JSON was rewritten");
    if let Err(e) = serde_json::from_slice::<serde_json::Value>(&out) {
        panic!("rewritten body is not JSON: {e}");
    }
    assert_eq!(
        skeleton(body),
        skeleton(&out),
        "bytes outside string values changed"
    );
    true
}

/// A JSON text with every string *value* replaced by `""`; object keys, numbers, literals,
/// punctuation and whitespace are kept byte for byte. Expects valid JSON.
pub fn skeleton(json: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(json.len());
    let mut i = 0;
    while i < json.len() {
        if json[i] != b'"' {
            out.push(json[i]);
            i += 1;
            continue;
        }
        let start = i;
        i += 1;
        while i < json.len() && json[i] != b'"' {
            i += if json[i] == b'\\' { 2 } else { 1 };
        }
        let end = (i + 1).min(json.len());
        let next = json[end..]
            .iter()
            .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
        if next == Some(&b':') {
            out.extend_from_slice(&json[start..end]);
        } else {
            out.extend_from_slice(b"\"\"");
        }
        i = end;
    }
    out
}

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

/// The rule-based compressors with their default configuration, by selector.
fn compressors() -> &'static [Box<dyn Compressor>] {
    static ALL: OnceLock<Vec<Box<dyn Compressor>>> = OnceLock::new();
    ALL.get_or_init(|| {
        let c = CompressionConfig::default();
        vec![
            Box::new(JsonCompressor::new(c.json.clone())),
            Box::new(LogCompressor::new(c.log.clone())),
            Box::new(SearchCompressor::new(c.search.clone())),
            Box::new(DiffCompressor::new(c.diff.clone())),
            Box::new(GenericCompressor::new(c.generic.clone())),
        ]
    })
}

/// Each rule-based compressor (first byte picks one; `\0` separates the task from the block):
/// never panics, is a pure function of its input (the same block compresses to the same bytes
/// every time, which prompt caching relies on), and the log compressor keeps every error-level
/// line verbatim. A selector past the compressors fuzzes the span-recording JSON parser, which
/// must never accept what `serde_json` rejects.
pub fn compressor(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let all = compressors();
    let index = selector as usize % (all.len() + 1);
    if index == all.len() {
        if jsontree::parse(&text).is_ok() {
            assert!(
                serde_json::from_str::<serde_json::Value>(&text).is_ok(),
                "jsontree accepted what serde_json rejects"
            );
        }
        return;
    }
    let (task, block) = text.split_once('\0').unwrap_or(("why did it fail", &text));
    let input = BlockInput { text: block, task };
    let c = &all[index];
    let first = c.compress(&input);
    let second = c.compress(&input);
    match (&first, &second) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "{} is not deterministic", c.name()),
        (Err(_), Err(_)) => {}
        _ => panic!(
            "{} is not deterministic: {first:?} then {second:?}",
            c.name()
        ),
    }
    if let (Ok(Some(out)), "log") = (&first, c.name()) {
        for line in block
            .lines()
            .filter(|l| marker::is_error_level(l) && l.len() <= 200)
        {
            assert!(
                out.contains(line),
                "log dropped an error-level line: {line:?}"
            );
        }
    }
}
