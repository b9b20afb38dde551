//! The cl100k vocabulary as counting needs it, and nothing more: the token bytes of every rank
//! (one static blob written by `build.rs` from tiktoken-rs), a flat open-addressing table from
//! bytes to rank, and the split pattern. About 2.2 MB where tiktoken-rs's `CoreBPE` kept ~13 MB
//! of heap (its decoder map and sorted token list never serve a count). Counts equal
//! tiktoken-rs's `encode_ordinary(..).len()` (tested on the real-output corpus below).
//!
//! Must never: produce token ids for sending anywhere (it only counts), allocate per token on
//! the hot path beyond one piece's merge state, or panic on any text.

use fancy_regex::Regex;

/// One length byte then the token's bytes, for every rank from 0 upwards (see `build.rs`).
static BLOB: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/cl100k.bin"));

/// cl100k's pre-tokeniser: how text is cut into pieces before byte-pair merging.
const SPLIT: &str = r"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s";

/// log2 of the table's slot count: 2^18 slots for ~100 k tokens keeps probe chains short.
const SLOT_BITS: u32 = 18;
const NO_RANK: u32 = u32::MAX;

/// The counting vocabulary, built once per process (see `tokens::count`).
pub struct Cl100k {
    /// Offset in `BLOB` of each rank's length byte.
    starts: Box<[u32]>,
    /// `rank + 1` of the token whose bytes hash here (0: empty), linear probing.
    slots: Box<[u32]>,
    split: Regex,
}

impl Cl100k {
    /// Reads the blob and builds the table; `None` if the split pattern does not compile (it
    /// is a constant, so only a changed regex crate could make that happen).
    pub fn build() -> Option<Self> {
        let split = Regex::new(SPLIT).ok()?;
        let mut starts = Vec::with_capacity(100_300);
        let mut at = 0usize;
        while at < BLOB.len() {
            starts.push(u32::try_from(at).ok()?);
            at += 1 + usize::from(BLOB[at]);
        }
        let mut slots = vec![0u32; 1 << SLOT_BITS].into_boxed_slice();
        let mask = slots.len() - 1;
        let mut vocab = Cl100k {
            starts: starts.into_boxed_slice(),
            slots: Box::new([]),
            split,
        };
        for rank in 0..vocab.starts.len() {
            let bytes = vocab.token(rank);
            let mut slot = slot_of(bytes);
            while slots[slot] != 0 {
                slot = (slot + 1) & mask;
            }
            slots[slot] = u32::try_from(rank + 1).ok()?;
        }
        vocab.slots = slots;
        Some(vocab)
    }

    /// Number of ordinary tokens in `text` (special-token text counts as plain text, as in
    /// tiktoken's `encode_ordinary`). If the split pattern gives up on a pathological input
    /// (fancy-regex's backtrack limit), the rest of the text is estimated instead of panicking.
    pub fn count(&self, text: &str) -> usize {
        let mut tokens = 0usize;
        let mut done = 0usize;
        for found in self.split.find_iter(text) {
            match found {
                Ok(m) => {
                    tokens += self.piece_tokens(m.as_str().as_bytes());
                    done = m.end();
                }
                Err(_) => return tokens + crate::tokens::estimate(&text[done..]),
            }
        }
        tokens
    }

    fn token(&self, rank: usize) -> &'static [u8] {
        let at = self.starts[rank] as usize;
        &BLOB[at + 1..at + 1 + usize::from(BLOB[at])]
    }

    fn rank(&self, bytes: &[u8]) -> u32 {
        let mask = self.slots.len() - 1;
        let mut slot = slot_of(bytes);
        loop {
            let entry = self.slots[slot];
            if entry == 0 {
                return NO_RANK;
            }
            if self.token(entry as usize - 1) == bytes {
                return entry - 1;
            }
            slot = (slot + 1) & mask;
        }
    }

    /// Tokens of one piece: one if the vocabulary has it whole, else what byte-pair merging
    /// leaves — join the adjacent pair with the lowest rank (the leftmost on a tie) until no
    /// adjacent pair is a token.
    fn piece_tokens(&self, piece: &[u8]) -> usize {
        if piece.len() <= 1 || self.rank(piece) != NO_RANK {
            return usize::from(!piece.is_empty());
        }
        // Part i is piece[cuts[i]..cuts[i + 1]]; joins[i] is the rank of parts i and i + 1 joined.
        let mut cuts: Vec<usize> = (0..=piece.len()).collect();
        let mut joins: Vec<u32> = (0..piece.len() - 1)
            .map(|i| self.rank(&piece[i..i + 2]))
            .collect();
        loop {
            let mut best = 0usize;
            for (i, &r) in joins.iter().enumerate() {
                if r < joins[best] {
                    best = i;
                }
            }
            if joins.get(best).is_none_or(|&r| r == NO_RANK) {
                break;
            }
            cuts.remove(best + 1);
            joins.remove(best);
            if best > 0 {
                joins[best - 1] = self.rank(&piece[cuts[best - 1]..cuts[best + 1]]);
            }
            if best < joins.len() {
                joins[best] = self.rank(&piece[cuts[best]..cuts[best + 2]]);
            }
        }
        cuts.len() - 1
    }
}

/// The table slot where a token's probe starts (FNV-1a, then a multiplicative spread).
fn slot_of(bytes: &[u8]) -> usize {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    (h.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - SLOT_BITS)) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn reference() -> tiktoken_rs::CoreBPE {
        tiktoken_rs::cl100k_base().expect("tiktoken-rs builds cl100k")
    }

    /// Every real program output in the corpus (`tests/fixtures/`), whole and in 4 KB windows cut
    /// on character boundaries: the lean count equals tiktoken-rs's.
    #[test]
    fn counts_equal_tiktoken_on_the_real_output_corpus() {
        let vocab = Cl100k::build().expect("vocabulary builds");
        let tik = reference();
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures");
        let mut files = Vec::new();
        let mut stack = vec![root];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir)
                .expect("fixtures readable")
                .flatten()
            {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else if let Ok(text) = std::fs::read_to_string(&path) {
                    files.push((path, text));
                }
            }
        }
        assert!(files.len() > 60, "corpus found: {} files", files.len());
        let (mut checked, mut tokens) = (0usize, 0usize);
        for (path, text) in &files {
            let want = tik.encode_ordinary(text).len();
            assert_eq!(vocab.count(text), want, "{}", path.display());
            tokens += want;
            let mut at = 0;
            while at < text.len() {
                let mut end = (at + 4096).min(text.len());
                while !text.is_char_boundary(end) {
                    end += 1;
                }
                let window = &text[at..end];
                assert_eq!(
                    vocab.count(window),
                    tik.encode_ordinary(window).len(),
                    "{} at byte {at}",
                    path.display()
                );
                checked += 1;
                at = end;
            }
        }
        assert!(
            checked > 500 && tokens > 500_000,
            "{checked} windows, {tokens} tokens"
        );
    }

    #[test]
    fn counts_equal_tiktoken_on_edge_cases() {
        let vocab = Cl100k::build().expect("vocabulary builds");
        let tik = reference();
        let long_word = "x".repeat(5000);
        let digits = "1234567890".repeat(300);
        let cases = [
            "",
            " ",
            "\n\n\n",
            "   \t  trailing   ",
            "hello world",
            "<|endoftext|> is plain text here",
            "I'm we'll they've you're IT'S",
            "naïve café 東京タワー 🦀🦀 Ünïcödé ﷽",
            "\r\n\r\n  indented\r\n\ttabs\u{a0}nbsp",
            "{\"a\": [1, 2.5e-10, null], \"b\": \"\\u00e9\"}",
            long_word.as_str(),
            digits.as_str(),
        ];
        for text in cases {
            assert_eq!(
                vocab.count(text),
                tik.encode_ordinary(text).len(),
                "{text:?}"
            );
        }
    }

    /// Pseudo-random mixes of ASCII, whitespace runs, digits, accents, CJK and emoji (a fixed
    /// seed, so a failure reproduces): the merge order, not just whole-piece lookups, must agree.
    #[test]
    fn counts_equal_tiktoken_on_generated_mixtures() {
        let vocab = Cl100k::build().expect("vocabulary builds");
        let tik = reference();
        let alphabet: Vec<char> =
            "abcXYZ019 _-.,;:'\"/\\()[]{}<>\n\r\t  éüßñ東京語🦀👍\u{300}\u{a0}"
                .chars()
                .collect();
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for case in 0..400 {
            let mut text = String::new();
            for _ in 0..(case % 97 + 1) * 3 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                text.push(alphabet[(seed % alphabet.len() as u64) as usize]);
            }
            assert_eq!(
                vocab.count(&text),
                tik.encode_ordinary(&text).len(),
                "{text:?}"
            );
        }
    }

    #[test]
    fn every_token_is_found_at_its_own_rank() {
        let vocab = Cl100k::build().expect("vocabulary builds");
        assert!(vocab.starts.len() >= 100_000);
        for rank in (0..vocab.starts.len()).step_by(97) {
            assert_eq!(vocab.rank(vocab.token(rank)) as usize, rank);
        }
        assert_eq!(vocab.rank(b"no such token \x00\x01"), NO_RANK);
    }
}
