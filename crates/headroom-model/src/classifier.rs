//! LLMLingua-2 style token classification: a keep-probability per whitespace-separated word,
//! from a model with inputs `input_ids`, `attention_mask` and output logits `[batch, seq, 2]`
//! (class 1 = keep). Text is cut into windows of at most 512 tokens at sentence ends. Never
//! decides the rate or what is forced to stay (that is the compressor's job).

use super::batch::{encode, plan_batches, SharedSession};
use super::{Device, ModelError};
use tokenizers::Tokenizer;

/// Most tokens in one window (LLMLingua-2 models are trained on 512-token chunks).
pub const MAX_WINDOW_TOKENS: usize = 512;

/// One whitespace-separated word of the input and its keep-probability (the mean over its
/// tokens' softmax probability of class 1). `start..end` are byte offsets into the input.
#[derive(Debug, Clone, PartialEq)]
pub struct WordScore {
    pub start: usize,
    pub end: usize,
    pub keep: f32,
}

pub struct TokenClassifier {
    session: SharedSession,
    tokenizer: Tokenizer,
    window_tokens: usize,
}

impl TokenClassifier {
    pub(crate) fn new(session: SharedSession, tokenizer: Tokenizer) -> Self {
        TokenClassifier {
            session,
            tokenizer,
            window_tokens: MAX_WINDOW_TOKENS,
        }
    }

    pub fn device(&self) -> Device {
        self.session.device()
    }

    /// Scores every word of `text`, in order.
    pub fn score_words(&self, text: &str) -> Result<Vec<WordScore>, ModelError> {
        let words = word_spans(text);
        if words.is_empty() {
            return Ok(Vec::new());
        }
        let windows = self.windows(text)?;
        let encodings = windows
            .iter()
            .map(|w| encode(&self.tokenizer, &text[w.clone()], self.window_tokens, true))
            .collect::<Result<Vec<_>, _>>()?;
        let mut sums = vec![0f32; words.len()];
        let mut counts = vec![0u32; words.len()];
        let lengths: Vec<usize> = encodings.iter().map(|e| e.len()).collect();
        for batch in plan_batches(&lengths, 16, 16 * MAX_WINDOW_TOKENS) {
            let rows: Vec<_> = batch.iter().map(|&i| &encodings[i]).collect();
            let out = self.session.run(&rows)?;
            let (seq, classes) = match out.shape[..] {
                [b, s, 2] if b == rows.len() => (s, 2),
                _ => {
                    return Err(ModelError::Inference(format!(
                        "token classifier output shape {:?}, expected [batch, seq, 2]",
                        out.shape
                    )))
                }
            };
            for (r, &wi) in batch.iter().enumerate() {
                let enc = &encodings[wi];
                let base = windows[wi].start;
                for (t, (&(s, e), &special)) in enc
                    .get_offsets()
                    .iter()
                    .zip(enc.get_special_tokens_mask())
                    .enumerate()
                {
                    if special == 1 || e <= s {
                        continue;
                    }
                    let at = (r * seq + t) * classes;
                    let keep = keep_probability(out.data[at], out.data[at + 1]);
                    // SentencePiece tokens (`▁word`) may start at the space before the word.
                    let first = text
                        .get(base + s..base + e)
                        .and_then(|t| t.find(|c: char| !c.is_whitespace()))
                        .map_or(base + s, |k| base + s + k);
                    if let Some(w) = word_at(&words, first) {
                        sums[w] += keep;
                        counts[w] += 1;
                    }
                }
            }
        }
        Ok(words
            .into_iter()
            .zip(sums.iter().zip(&counts))
            .map(|((start, end), (&sum, &n))| WordScore {
                start,
                end,
                keep: if n == 0 { 0.0 } else { sum / n as f32 },
            })
            .collect())
    }

    /// Byte ranges of `text`, each at most `window_tokens` tokens, cut at sentence ends where
    /// possible and at word boundaries otherwise.
    fn windows(&self, text: &str) -> Result<Vec<std::ops::Range<usize>>, ModelError> {
        let whole = self
            .tokenizer
            .encode(text, false)
            .map_err(|e| ModelError::Encode(e.to_string()))?;
        let starts: Vec<usize> = whole.get_offsets().iter().map(|o| o.0).collect();
        // Leave room for the special tokens the post-processor adds around a window.
        let budget = self.window_tokens.saturating_sub(4).max(8);
        let tokens_in = |r: &std::ops::Range<usize>| {
            starts.partition_point(|&s| s < r.end) - starts.partition_point(|&s| s < r.start)
        };
        let mut windows = Vec::new();
        let mut current: Option<std::ops::Range<usize>> = None;
        for piece in sentence_spans(text)
            .into_iter()
            .flat_map(|s| split_long(s, &tokens_in, budget, text))
        {
            current = match current {
                Some(c) if tokens_in(&(c.start..piece.end)) <= budget => Some(c.start..piece.end),
                Some(c) => {
                    windows.push(c);
                    Some(piece)
                }
                None => Some(piece),
            };
        }
        windows.extend(current);
        Ok(windows)
    }
}

fn keep_probability(drop_logit: f32, keep_logit: f32) -> f32 {
    1.0 / (1.0 + (drop_logit - keep_logit).exp())
}

/// Byte spans of whitespace-separated words.
pub fn word_spans(text: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        match (c.is_whitespace(), start) {
            (true, Some(s)) => {
                spans.push((s, i));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        spans.push((s, text.len()));
    }
    spans
}

fn word_at(words: &[(usize, usize)], byte: usize) -> Option<usize> {
    let i = words.partition_point(|&(s, _)| s <= byte).checked_sub(1)?;
    (byte < words[i].1).then_some(i)
}

/// Sentences: spans ending after `.`, `!`, `?` followed by whitespace, or at a newline.
fn sentence_spans(text: &str) -> Vec<std::ops::Range<usize>> {
    let mut spans = Vec::new();
    let mut start = 0;
    let bytes = text.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        let end_here = b == b'\n'
            || (matches!(b, b'.' | b'!' | b'?')
                && bytes.get(i + 1).is_some_and(|n| n.is_ascii_whitespace()));
        if end_here {
            spans.push(start..i + 1);
            start = i + 1;
        }
    }
    if start < text.len() {
        spans.push(start..text.len());
    }
    spans
}

/// Splits a sentence longer than `budget` tokens at word boundaries.
fn split_long(
    span: std::ops::Range<usize>,
    tokens_in: &dyn Fn(&std::ops::Range<usize>) -> usize,
    budget: usize,
    text: &str,
) -> Vec<std::ops::Range<usize>> {
    if tokens_in(&span) <= budget {
        return vec![span];
    }
    let mut out = Vec::new();
    let mut start = span.start;
    let mut last_end = span.start;
    for (s, e) in word_spans(&text[span.clone()]) {
        let (s, e) = (span.start + s, span.start + e);
        if last_end > start && tokens_in(&(start..e)) > budget {
            out.push(start..last_end);
            start = s;
        }
        last_end = e;
    }
    out.push(start..span.end);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_spans_split_on_any_whitespace() {
        let t = "a  bc\td\n e";
        let words: Vec<&str> = word_spans(t).iter().map(|&(s, e)| &t[s..e]).collect();
        assert_eq!(words, ["a", "bc", "d", "e"]);
    }

    #[test]
    fn sentences_end_at_punctuation_followed_by_space_and_at_newlines() {
        let t = "One. Two? v1.2 stays\nThree";
        let s: Vec<&str> = sentence_spans(t).into_iter().map(|r| &t[r]).collect();
        assert_eq!(s, ["One.", " Two?", " v1.2 stays\n", "Three"]);
    }

    #[test]
    fn sentences_over_the_budget_split_at_word_boundaries() {
        let text = "a b c d e f g h";
        // One token per word.
        let tokens_in = |r: &std::ops::Range<usize>| word_spans(&text[r.clone()]).len();
        let pieces: Vec<&str> = split_long(0..text.len(), &tokens_in, 3, text)
            .into_iter()
            .map(|r| &text[r])
            .collect();
        assert_eq!(pieces, ["a b c", "d e f", "g h"]);
    }

    #[test]
    fn word_lookup_maps_bytes_inside_words_only() {
        let words = word_spans("ab cd");
        assert_eq!(word_at(&words, 0), Some(0));
        assert_eq!(word_at(&words, 2), None);
        assert_eq!(word_at(&words, 4), Some(1));
    }

    #[test]
    fn keep_probability_is_softmax_of_class_one() {
        assert!((keep_probability(0.0, 0.0) - 0.5).abs() < 1e-6);
        assert!(keep_probability(0.0, 4.0) > 0.98);
    }
}
