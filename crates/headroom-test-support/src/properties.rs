//! Compression properties checked by the fuzz targets and by `tests/fuzz_corpus_replay.rs` on
//! the committed seed corpus. Each function takes arbitrary bytes and panics when a property fails.
#![allow(dead_code)]

use headroom_compress::diff::DiffCompressor;
use headroom_compress::generic::GenericCompressor;
use headroom_compress::json::JsonCompressor;
use headroom_compress::log::LogCompressor;
use headroom_compress::search::SearchCompressor;
use headroom_compress::{
    self as compress, jsontree, marker, ApiFormat, BlockInput, CompressionConfig,
};
use headroom_compress::{Compressor, Context, Pipeline};
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
