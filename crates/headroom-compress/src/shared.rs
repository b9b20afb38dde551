//! The hook to a block-result cache shared beyond this process (a team gateway's Redis), and
//! the byte form a result takes there. The pipeline asks the hook on a miss of its in-process
//! cache and offers it every result it computes. Outputs are pure functions of (block, task,
//! settings), so a shared hit is the very bytes this process would have produced; the hook is a
//! speed-up only.
//!
//! Must never: let a stored entry that does not decode exactly (another format, another crate
//! version, a truncated or foreign value) become a result — it is a miss; wait on anything (the
//! hook's implementation owns its time bound).

use super::pipeline::Cached;
use super::{Outcome, CONTENT_TYPES};
use std::sync::Arc;

/// A result cache shared between processes. Implementations bound their own time: `get`
/// returns within a few milliseconds (a miss when the store is slow or down), `put` never waits.
pub trait SharedCache: Send + Sync {
    /// The entry stored for `block` under the settings `fingerprint`, if any.
    fn get(&self, fingerprint: u64, block: u128) -> Option<Vec<u8>>;
    /// Offers an entry for storage; returns at once.
    fn put(&self, fingerprint: u64, block: u128, entry: Vec<u8>);
}

/// First line of every entry: the format and this crate's version (a replica of another
/// version might compress differently, so its entries are misses here).
const HEADER: &str = concat!("headroom-result/1 ", env!("CARGO_PKG_VERSION"));

/// An entry: header, kind, compressor, outcome, tokens before, tokens after, original id (or
/// empty), `+` with the output after the newline, or `-` for a kept original.
pub(crate) fn encode(c: &Cached) -> Vec<u8> {
    let mut out = format!(
        "{HEADER}\n{}\n{}\n{}\n{}\n{}\n{}\n",
        c.kind,
        c.compressor,
        c.outcome.as_str(),
        c.tokens_before,
        c.tokens_after,
        c.original_id.as_deref().unwrap_or(""),
    );
    match &c.output {
        Some(text) => {
            out.push_str("+\n");
            out.push_str(text);
        }
        None => out.push('-'),
    }
    out.into_bytes()
}

/// The entry back, or `None` unless it decodes exactly. `compressors` are the names this
/// pipeline's compressors carry (the entry's must be one of them).
pub(crate) fn decode(bytes: &[u8], compressors: &[&'static str]) -> Option<Cached> {
    let text = std::str::from_utf8(bytes).ok()?;
    let mut parts = text.splitn(8, '\n');
    if parts.next()? != HEADER {
        return None;
    }
    let kind = parts.next()?;
    let kind = *CONTENT_TYPES.iter().find(|k| **k == kind)?;
    let compressor = parts.next()?;
    let compressor = *compressors.iter().find(|n| **n == compressor)?;
    let outcome = parts.next()?;
    let outcome = *Outcome::ALL.iter().find(|o| o.as_str() == outcome)?;
    let tokens_before = parts.next()?.parse().ok()?;
    let tokens_after = parts.next()?.parse().ok()?;
    let original_id = match parts.next()? {
        "" => None,
        id => Some(Arc::from(id)),
    };
    let output = match parts.next()? {
        "-" => None,
        rest => Some(Arc::from(rest.strip_prefix("+\n")?)),
    };
    if output.is_none() && (outcome == Outcome::Compressed || original_id.is_some()) {
        return None;
    }
    Some(Cached {
        output,
        kind,
        compressor,
        outcome,
        tokens_before,
        tokens_after,
        original_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compressed() -> Cached {
        Cached {
            output: Some(Arc::from("line 1\n[… 40 lines omitted]\nline 42\n")),
            kind: "log",
            compressor: "log",
            outcome: Outcome::Compressed,
            tokens_before: 900,
            tokens_after: 120,
            original_id: Some(Arc::from("hr_0123abcd")),
        }
    }

    #[test]
    fn entries_round_trip_with_and_without_output() {
        let c = compressed();
        let back = decode(&encode(&c), &["log", "generic"]).expect("decodes");
        assert_eq!(back.output, c.output);
        assert_eq!(
            (back.kind, back.compressor, back.outcome),
            ("log", "log", Outcome::Compressed)
        );
        assert_eq!((back.tokens_before, back.tokens_after), (900, 120));
        assert_eq!(back.original_id, c.original_id);
        let kept = Cached {
            output: None,
            outcome: Outcome::UnchangedNoGain,
            original_id: None,
            tokens_after: 900,
            ..c
        };
        let back = decode(&encode(&kept), &["log"]).expect("decodes");
        assert!(back.output.is_none());
        assert_eq!(back.outcome, Outcome::UnchangedNoGain);
    }

    #[test]
    fn foreign_truncated_or_other_version_entries_are_misses() {
        let good = encode(&compressed());
        assert!(decode(&good, &["generic"]).is_none(), "unknown compressor");
        assert!(decode(&good[..good.len() / 3], &["log"]).is_none(), "cut");
        let other = String::from_utf8(good.clone()).unwrap().replacen(
            env!("CARGO_PKG_VERSION"),
            "0.0.0-other",
            1,
        );
        assert!(decode(other.as_bytes(), &["log"]).is_none(), "version");
        assert!(decode(b"\xff\xfe", &["log"]).is_none(), "not utf-8");
        let no_output = String::from_utf8(good)
            .unwrap()
            .split("\n+\n")
            .next()
            .unwrap()
            .to_string()
            + "\n-";
        assert!(
            decode(no_output.as_bytes(), &["log"]).is_none(),
            "compressed without output"
        );
    }

    /// A shared store in memory, counting what the pipeline asked of it.
    #[derive(Default)]
    struct Memory {
        entries: std::sync::Mutex<std::collections::HashMap<(u64, u128), Vec<u8>>>,
        hits: std::sync::atomic::AtomicUsize,
    }

    impl SharedCache for Memory {
        fn get(&self, fingerprint: u64, block: u128) -> Option<Vec<u8>> {
            let got = self
                .entries
                .lock()
                .unwrap()
                .get(&(fingerprint, block))
                .cloned();
            if got.is_some() {
                self.hits.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            got
        }
        fn put(&self, fingerprint: u64, block: u128, entry: Vec<u8>) {
            self.entries
                .lock()
                .unwrap()
                .insert((fingerprint, block), entry);
        }
    }

    #[test]
    fn a_second_pipeline_takes_the_first_ones_result_from_the_shared_cache_byte_for_byte() {
        use crate::{ApiFormat, CompressionConfig, Pipeline};
        let log = include_str!("../../../tests/fixtures/compress/ci_log.txt");
        let body = serde_json::to_vec(&serde_json::json!({
            "model": "claude-sonnet-4-5", "max_tokens": 16,
            "messages": [
                {"role": "user", "content": "why is CI red?"},
                {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "Bash", "input": {}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": log}]}
            ]
        }))
        .unwrap();
        let store = Arc::new(Memory::default());
        let a = Pipeline::new(CompressionConfig::default(), None).with_shared_cache(store.clone());
        let first = a.rewrite(&body, ApiFormat::Anthropic);
        let out_a = first.body.clone().expect("the CI log is compressed");
        assert!(!first.blocks[0].cached);
        assert_eq!(store.entries.lock().unwrap().len(), 1, "offered once");
        let b = Pipeline::new(CompressionConfig::default(), None).with_shared_cache(store.clone());
        let second = b.rewrite(&body, ApiFormat::Anthropic);
        assert_eq!(second.body, Some(out_a), "identical bytes");
        assert!(second.blocks[0].cached);
        assert_eq!(store.hits.load(std::sync::atomic::Ordering::Relaxed), 1);
        assert_eq!(
            (
                second.blocks[0].tokens_before,
                second.blocks[0].tokens_after
            ),
            (first.blocks[0].tokens_before, first.blocks[0].tokens_after)
        );
        // A corrupt shared entry is a miss: the block is compressed again, same bytes.
        for v in store.entries.lock().unwrap().values_mut() {
            v.truncate(10);
        }
        let c = Pipeline::new(CompressionConfig::default(), None).with_shared_cache(store.clone());
        let third = c.rewrite(&body, ApiFormat::Anthropic);
        assert_eq!(third.body, first.body);
        assert!(!third.blocks[0].cached);
    }
}
