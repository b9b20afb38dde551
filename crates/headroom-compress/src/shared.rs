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
}
