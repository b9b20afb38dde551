//! The generic compressor for text no other compressor claims: runs of identical lines, or of
//! identical blocks of up to eight lines, collapse to one copy and a count. Nothing else is lost.
//!
//! Must never: change or drop a line that is not part of an exact repetition.

use super::config::GenericConfig;
use super::marker::thousands;
use super::{BlockInput, CompressError, Compressor};

pub struct GenericCompressor {
    cfg: GenericConfig,
}

impl GenericCompressor {
    pub fn new(cfg: GenericConfig) -> Self {
        GenericCompressor { cfg }
    }
}

impl Compressor for GenericCompressor {
    fn name(&self) -> &'static str {
        "generic"
    }

    fn compress(&self, input: &BlockInput<'_>) -> Result<Option<String>, CompressError> {
        Ok(collapse_repeats(input.text, self.cfg.min_repeats.max(2)))
    }
}

const MAX_BLOCK: usize = 8;

pub fn collapse_repeats(text: &str, min_repeats: usize) -> Option<String> {
    let lines: Vec<&str> = text.split('\n').collect();
    let n = lines.len();
    let mut out: Vec<String> = Vec::with_capacity(n);
    let mut changed = false;
    let mut i = 0;
    while i < n {
        // The block length with the most repeated lines starting here.
        let mut best: Option<(usize, usize)> = None; // (block len, repeats)
        for k in 1..=MAX_BLOCK.min((n - i) / 2) {
            let mut reps = 1;
            while i + (reps + 1) * k <= n
                && lines[i + reps * k..i + (reps + 1) * k] == lines[i..i + k]
            {
                reps += 1;
            }
            let worth = reps >= min_repeats && lines[i..i + k].iter().any(|l| !l.trim().is_empty());
            if worth && best.is_none_or(|(bk, br)| reps * k > br * bk) {
                best = Some((k, reps));
            }
        }
        match best {
            Some((k, reps)) => {
                out.extend(lines[i..i + k].iter().map(|l| l.to_string()));
                out.push(if k == 1 {
                    format!(
                        "[… previous line repeated {} more times …]",
                        thousands(reps - 1)
                    )
                } else {
                    format!(
                        "[… previous {k} lines repeated {} more times …]",
                        thousands(reps - 1)
                    )
                });
                changed = true;
                i += k * reps;
            }
            None => {
                out.push(lines[i].to_string());
                i += 1;
            }
        }
    }
    changed.then(|| out.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_lines_and_blocks_collapse_with_counts() {
        let text = format!(
            "start\n{}{}end",
            "same line\n".repeat(50),
            "a\nb\n".repeat(10)
        );
        let out = collapse_repeats(&text, 3).unwrap();
        assert_eq!(
            out,
            "start\nsame line\n[… previous line repeated 49 more times …]\na\nb\n[… previous 2 lines repeated 9 more times …]\nend"
        );
    }

    #[test]
    fn text_without_repeats_is_declined() {
        assert!(collapse_repeats("a\nb\nc\nd", 3).is_none());
    }
}
