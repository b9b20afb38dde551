//! Token counting: an exact cl100k count (tiktoken-rs, built once, offline) for the final
//! never-inflate comparison, and a cheap estimate for gating and routing.
//!
//! Must never: load anything from the network, or be called in a loop over a whole body when
//! an estimate would do.

use std::sync::LazyLock;
use tiktoken_rs::CoreBPE;

static CL100K: LazyLock<Option<CoreBPE>> = LazyLock::new(|| tiktoken_rs::cl100k_base().ok());

/// Exact cl100k token count (falls back to the estimate if the BPE could not be built).
pub fn count(text: &str) -> usize {
    match CL100K.as_ref() {
        Some(bpe) => bpe.encode_ordinary(text).len(),
        None => estimate(text),
    }
}

/// Builds the BPE now (it takes a while the first time), so the first request does not pay.
pub fn warm_up() {
    let _ = count("warm up");
}

/// A fast approximation of the cl100k count: letters cost one token per ~4 (a new word starts a
/// new token), digits one per 3, each punctuation byte one, runs of spaces mostly merge.
pub fn estimate(text: &str) -> usize {
    let mut tokens = 0usize;
    let mut run = 0usize; // length of the current letter run
    let mut digits = 0usize;
    let mut spaces = 0usize;
    let flush = |run: &mut usize, digits: &mut usize, tokens: &mut usize| {
        if *run > 0 {
            *tokens += (*run).div_ceil(5);
            *run = 0;
        }
        if *digits > 0 {
            *tokens += (*digits).div_ceil(3);
            *digits = 0;
        }
    };
    for &b in text.as_bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' => {
                if digits > 0 {
                    flush(&mut run, &mut digits, &mut tokens);
                }
                if spaces > 1 {
                    tokens += 1;
                }
                spaces = 0;
                run += 1;
            }
            b'0'..=b'9' => {
                if run > 0 {
                    flush(&mut run, &mut digits, &mut tokens);
                }
                if spaces > 1 {
                    tokens += 1;
                }
                spaces = 0;
                digits += 1;
            }
            b' ' => {
                flush(&mut run, &mut digits, &mut tokens);
                spaces += 1;
            }
            0x80..=0xBF => {
                // UTF-8 continuation bytes: count half a token each, roughly.
                flush(&mut run, &mut digits, &mut tokens);
                run += 2;
            }
            _ => {
                flush(&mut run, &mut digits, &mut tokens);
                if spaces > 1 {
                    tokens += 1;
                }
                spaces = 0;
                tokens += 1;
            }
        }
    }
    flush(&mut run, &mut digits, &mut tokens);
    tokens
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
            assert!(e * 2 >= c && e <= c * 2, "estimate {e} vs exact {c} for {s}");
        }
    }
}
