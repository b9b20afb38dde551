//! Token counting: an exact cl100k count (the lean vocabulary of `cl100k.rs`, built once per
//! process, offline) for the final never-inflate comparison, and a cheap estimate for gating and
//! routing.
//!
//! Must never: load anything from the network, or be called in a loop over a whole body when
//! an estimate would do.

use crate::cl100k::Cl100k;
use std::sync::LazyLock;

static CL100K: LazyLock<Option<Cl100k>> = LazyLock::new(Cl100k::build);

/// Exact cl100k token count (falls back to the estimate if the vocabulary could not be built).
pub fn count(text: &str) -> usize {
    match CL100K.as_ref() {
        Some(vocab) => vocab.count(text),
        None => estimate(text),
    }
}

/// Builds the vocabulary now, so the first request does not pay for it.
pub fn warm_up() {
    let _ = count("warm up");
}

/// A fast approximation of the cl100k count, within about ±25 % on logs, JSON and code:
/// a letter run costs one token plus one per 10 letters, digits one per 3 (cl100k splits digit
/// runs in threes), a punctuation run one per 2 bytes, a run of spaces or indentation one
/// (a single space joins the next word), other bytes of multi-byte characters about half each.
pub fn estimate(text: &str) -> usize {
    #[derive(PartialEq, Clone, Copy)]
    enum Run {
        None,
        Letters,
        Digits,
        Punct,
        Space,
    }
    let mut tokens = 0usize;
    let mut run = Run::None;
    let mut len = 0usize;
    let close = |run: Run, len: usize| -> usize {
        match run {
            Run::None => 0,
            Run::Letters => 1 + len / 10,
            Run::Digits => len.div_ceil(3),
            Run::Punct => len.div_ceil(2),
            // One space is part of the next token; longer runs are a token of their own.
            Run::Space => usize::from(len > 1),
        }
    };
    for &b in text.as_bytes() {
        let class = match b {
            b'a'..=b'z' | b'A'..=b'Z' => Run::Letters,
            b'0'..=b'9' => Run::Digits,
            b' ' | b'\t' => Run::Space,
            0x80..=0xFF => Run::Letters,
            _ => Run::Punct,
        };
        if class == run {
            len += if b >= 0x80 { 3 } else { 1 };
        } else {
            tokens += close(run, len);
            run = class;
            len = if b >= 0x80 { 3 } else { 1 };
        }
    }
    tokens + close(run, len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_count_matches_known_cl100k_values() {
        assert_eq!(count("hello world"), 2);
        assert_eq!(count(""), 0);
    }

    #[test]
    fn estimate_is_within_a_factor_of_two_on_mixed_text() {
        let samples = [
            "2024-05-01T12:00:01.123Z INFO  api::handler request_id=4f3a2b1c path=/v1/users status=200 took=12ms",
            r#"{"id": 12345, "name": "acme-widgets", "full_name": "acme/acme-widgets", "private": false}"#,
            "src/compress/json.rs:120:    let rows = select_rows(&table, config.max_rows);",
            "The quick brown fox jumps over the lazy dog, then explains why the build failed.",
        ];
        for s in samples {
            let text = s.repeat(20);
            let (e, c) = (estimate(&text), count(&text));
            assert!(
                e * 2 >= c && e <= c * 2,
                "estimate {e} vs exact {c} for {s}"
            );
        }
    }
}
