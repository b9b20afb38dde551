//! The LLMLingua-2 path (`model.kind: token_classifier`): keep the words a token classifier
//! scores at or above the `keep_ratio` quantile, plus numbers, identifiers, paths and the
//! configured `force_keep` words. Kept words keep their order; a gap that held a line break
//! keeps one.
//!
//! Using a real LLMLingua-2 model (its weights are CC-BY-NC-SA, so headroom does not ship
//! them): on a machine with internet access,
//!
//! ```text
//! pip install "optimum[exporters]" onnxruntime
//! optimum-cli export onnx --task token-classification \
//!     --model microsoft/llmlingua-2-xlm-roberta-large-meetingbank llmlingua2/
//! ```
//!
//! then point `model.path` at `llmlingua2/model.onnx`, `model.tokenizer` at
//! `llmlingua2/tokenizer.json` and set `model.kind: token_classifier` (or
//! `HEADROOM_COMPRESSION_PROVIDER=llmlingua`). The export has the inputs `input_ids` and
//! `attention_mask` and the output `logits` `[batch, seq, 2]` this module expects.

use super::TextConfig;
use super::{WordScore, WordScorer};
use crate::{BlockInput, CompressError, Compressor};
use std::sync::Arc;

pub struct WordCompressor {
    classifier: Arc<dyn WordScorer>,
    config: TextConfig,
}

impl WordCompressor {
    pub fn new(classifier: Arc<dyn WordScorer>, config: TextConfig) -> Self {
        WordCompressor { classifier, config }
    }

    /// The kept words of `text`, joined by a space or, where the dropped gap held one, a line
    /// break.
    pub fn compress_text(&self, text: &str) -> Result<String, CompressError> {
        let scores = self
            .classifier
            .score_words(text)
            .map_err(|e| CompressError::Failed {
                compressor: "llmlingua",
                message: e.to_string(),
            })?;
        let keep = choose(
            text,
            &scores,
            self.config.keep_ratio,
            &self.config.force_keep,
        );
        Ok(join(text, &scores, &keep))
    }
}

impl Compressor for WordCompressor {
    fn name(&self) -> &'static str {
        "llmlingua"
    }

    fn compress(&self, input: &BlockInput<'_>) -> Result<Option<String>, CompressError> {
        let out = self.compress_text(input.text)?;
        Ok((out.len() < input.text.len()).then_some(out))
    }
}

/// Keep the words whose probability is at least the `ceil(rate * n)`-th highest, and every
/// forced word.
fn choose(text: &str, scores: &[WordScore], rate: f64, force: &[String]) -> Vec<bool> {
    if scores.is_empty() {
        return Vec::new();
    }
    let mut sorted: Vec<f32> = scores.iter().map(|w| w.keep).collect();
    sorted.sort_by(|a, b| b.total_cmp(a));
    let k = ((rate.clamp(0.0, 1.0) * scores.len() as f64).ceil() as usize).clamp(1, scores.len());
    let threshold = sorted[k - 1];
    scores
        .iter()
        .map(|w| w.keep >= threshold || is_forced(&text[w.start..w.end], force))
        .collect()
}

/// Numbers, identifiers (`snake_case`, `camelCase`, `a::b`, `f()`), paths and URLs, and the
/// configured words (compared without surrounding punctuation) are never dropped.
pub fn is_forced(word: &str, force: &[String]) -> bool {
    let bare = word.trim_matches(|c: char| c.is_ascii_punctuation() && !matches!(c, '/' | '_'));
    if force.iter().any(|f| f == word || f == bare) {
        return true;
    }
    let has_digit = word.chars().any(|c| c.is_ascii_digit());
    let path_like = word.contains('/') || word.contains('\\') || word.contains("::");
    let identifier = bare.contains('_')
        || word.contains("()")
        || (bare.chars().next().is_some_and(char::is_lowercase)
            && bare.chars().any(char::is_uppercase))
        || file_name_like(bare);
    has_digit || path_like || identifier
}

/// `main.rs`, `config.yaml`: a dot followed by a short alphanumeric extension.
fn file_name_like(word: &str) -> bool {
    match word.rsplit_once('.') {
        Some((stem, ext)) => {
            !stem.is_empty()
                && (1..=5).contains(&ext.len())
                && ext.chars().all(|c| c.is_ascii_alphanumeric())
                && ext.chars().any(|c| c.is_ascii_lowercase())
        }
        None => false,
    }
}

fn join(text: &str, scores: &[WordScore], keep: &[bool]) -> String {
    let mut out = String::with_capacity(text.len() / 2);
    let mut prev_end: Option<usize> = None;
    for (w, _) in scores.iter().zip(keep).filter(|(_, &k)| k) {
        if let Some(p) = prev_end {
            out.push(if text[p..w.start].contains('\n') {
                '\n'
            } else {
                ' '
            });
        }
        out.push_str(&text[w.start..w.end]);
        prev_end = Some(w.end);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ws(text: &str, keeps: &[f32]) -> Vec<WordScore> {
        text.split_whitespace()
            .zip(keeps)
            .map(|(word, &keep)| {
                let start = word.as_ptr() as usize - text.as_ptr() as usize;
                WordScore {
                    start,
                    end: start + word.len(),
                    keep,
                }
            })
            .collect()
    }

    #[test]
    fn keeps_the_top_share_and_forced_words_in_order() {
        let t = "alpha beta gamma delta 42 epsilon";
        let s = ws(t, &[0.9, 0.1, 0.8, 0.2, 0.0, 0.3]);
        let keep = choose(t, &s, 0.3, &[]);
        assert_eq!(join(t, &s, &keep), "alpha gamma 42");
    }

    #[test]
    fn line_breaks_in_dropped_gaps_survive_as_one_newline() {
        let t = "keep drop\n\ndrop keep";
        let s = ws(t, &[0.9, 0.1, 0.1, 0.9]);
        let keep = choose(t, &s, 0.5, &[]);
        assert_eq!(join(t, &s, &keep), "keep\nkeep");
    }

    #[test]
    fn identifiers_paths_and_configured_words_are_forced() {
        for w in [
            "/var/log",
            "read_timeout",
            "parseConfig",
            "foo()",
            "main.rs",
            "v2",
            "a::b",
        ] {
            assert!(is_forced(w, &[]), "{w}");
        }
        for w in ["The", "server,", "crashed."] {
            assert!(!is_forced(w, &[]), "{w}");
        }
        assert!(is_forced("NOTE:", &["NOTE".to_string()]));
    }
}
