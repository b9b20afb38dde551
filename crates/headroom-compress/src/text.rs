//! The learned compressors for prose and code.
//!
//! [`RelevanceCompressor`] (model kind `embedder`): splits a block into units (headings and
//! paragraphs, or top-level code items), scores each against the block's task text (sentence
//! embedding of the unit's head + a lexical match over the whole unit), and keeps the most
//! relevant units within `keep_ratio` of the block, in their original order. Headings and
//! error lines are always kept; a dropped code item keeps its signature line; every run of
//! dropped units leaves one marker line. [`WordCompressor`] (kind `token_classifier`) keeps
//! the words an LLMLingua-2 style model scores highest.
//!
//! Must never: reorder or edit kept text, depend on anything but the block, its task text and
//! the configuration (results are cached by content and must match across turns), or run on
//! an async worker thread.

mod lexical;
mod scorer;
mod units;
mod words;

pub use scorer::{cosine, Embedding, ModelFailure, SentenceEmbedder, WordScore, WordScorer};
pub use units::{shape, split, Shape, Unit, UnitKind};
pub use words::WordCompressor;

use super::runs::run_is_worth_a_marker;
use super::{BlockInput, CompressError, Compressor};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// `compression.text`: settings of the learned compressors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TextConfig {
    /// Send prose and source code to the learned compressor (ignored when none is loaded).
    pub enabled: bool,
    /// Share of the block kept (in cl100k tokens for units, in words for the token
    /// classifier). 0 < keep_ratio ≤ 1.
    pub keep_ratio: f64,
    /// Most model tokens spent scoring one block; units beyond what fits are ranked by the
    /// lexical match alone. Bounds latency: MiniLM runs about 3,000-4,500 tokens/s per CPU core
    /// in fp32 and about twice that in int8 (`benches/model.rs`).
    pub score_tokens: usize,
    /// Words the token classifier always keeps (besides numbers, identifiers and paths).
    pub force_keep: Vec<String>,
}

impl Default for TextConfig {
    fn default() -> Self {
        TextConfig {
            enabled: true,
            keep_ratio: 0.5,
            score_tokens: 768,
            force_keep: Vec::new(),
        }
    }
}

impl TextConfig {
    /// Problems with these settings, phrased for `compression.text` in the config file.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if !(self.keep_ratio > 0.0 && self.keep_ratio <= 1.0) {
            out.push(format!(
                "`compression.text.keep_ratio` is {}; it must be above 0 and at most 1",
                self.keep_ratio
            ));
        }
        if self.score_tokens < MIN_HEAD_TOKENS * 2 {
            out.push(format!(
                "`compression.text.score_tokens` is {}; it must be at least {}",
                self.score_tokens,
                MIN_HEAD_TOKENS * 2
            ));
        }
        out
    }
}

/// Fewest tokens of a unit head worth embedding, and the most.
const MIN_HEAD_TOKENS: usize = 24;
const MAX_HEAD_TOKENS: usize = 96;
/// Weight of the lexical match next to the cosine similarity (both in 0..1).
const LEXICAL_WEIGHT: f32 = 0.5;
/// Blocks with fewer units than this are left alone.
const MIN_UNITS: usize = 3;

pub struct RelevanceCompressor {
    embedder: Arc<dyn SentenceEmbedder>,
    config: TextConfig,
}

impl RelevanceCompressor {
    pub fn new(embedder: Arc<dyn SentenceEmbedder>, config: TextConfig) -> Self {
        RelevanceCompressor { embedder, config }
    }

    pub fn config(&self) -> &TextConfig {
        &self.config
    }

    /// Relevance of arbitrary items (lines, JSON items, search hits) to `task`: cosine
    /// similarity of each item's head plus the lexical match, as used for units. For other
    /// compressors that want to break ties by meaning; costs one model run per call.
    pub fn relevance(&self, task: &str, items: &[&str]) -> Result<Vec<f32>, ModelFailure> {
        let lexical = lexical::scores(task, items);
        let task_emb = self.embedder.embed_limited(&[task], MAX_HEAD_TOKENS)?;
        let heads: Vec<&str> = items.iter().map(|i| head(i, MIN_HEAD_TOKENS * 2)).collect();
        let embs = self.embedder.embed_limited(&heads, MIN_HEAD_TOKENS * 2)?;
        Ok(embs
            .iter()
            .zip(&lexical)
            .map(|(e, l)| cosine(&task_emb[0], e).max(0.0) + LEXICAL_WEIGHT * l)
            .collect())
    }

    /// Relevance of every unit to `task` (higher is more relevant).
    fn scores(&self, text: &str, units: &[Unit], task: &str) -> Result<Vec<f32>, ModelFailure> {
        let contents: Vec<&str> = units.iter().map(|u| u.content(text)).collect();
        let lexical = lexical::scores(task, &contents);

        // Spend the token budget on the units with the best lexical match (all of them when
        // they fit), embedding each unit's head.
        let budget = self.config.score_tokens.max(MIN_HEAD_TOKENS * 2);
        let task_cap = (budget / 3).clamp(MIN_HEAD_TOKENS, self.embedder.max_tokens());
        let task_tokens = self.embedder.count_tokens(task)?.min(task_cap);
        let scorable: Vec<usize> = (0..units.len())
            .filter(|&i| !matches!(units[i].kind, UnitKind::Heading))
            .collect();
        let room = budget.saturating_sub(task_tokens);
        let fit = (room / MIN_HEAD_TOKENS).max(1);
        let mut chosen = scorable.clone();
        if chosen.len() > fit {
            chosen.sort_by(|&a, &b| lexical[b].total_cmp(&lexical[a]).then(a.cmp(&b)));
            chosen.truncate(fit);
            chosen.sort_unstable();
        }
        let head_tokens = (room / chosen.len().max(1)).clamp(MIN_HEAD_TOKENS, MAX_HEAD_TOKENS);

        let task_emb = self.embedder.embed_limited(&[task], task_cap)?;
        let heads: Vec<&str> = chosen
            .iter()
            .map(|&i| head(contents[i], head_tokens))
            .collect();
        let head_embs = self.embedder.embed_limited(&heads, head_tokens)?;
        let mut semantic = vec![0f32; units.len()];
        for (&i, emb) in chosen.iter().zip(&head_embs) {
            semantic[i] = cosine(&task_emb[0], emb).max(0.0);
        }
        Ok(semantic
            .iter()
            .zip(&lexical)
            .map(|(s, l)| s + LEXICAL_WEIGHT * l)
            .collect())
    }
}

/// The start of a unit, cut at a char boundary to about what `tokens` tokens cover (about four
/// bytes per token for English prose and code; the tokenizer cuts exactly).
fn head(content: &str, tokens: usize) -> &str {
    let limit = tokens * 5;
    if content.len() <= limit {
        return content;
    }
    &content[..content.floor_char_boundary(limit)]
}

impl Compressor for RelevanceCompressor {
    fn name(&self) -> &'static str {
        "text"
    }

    fn compress(&self, input: &BlockInput<'_>) -> Result<Option<String>, CompressError> {
        let text = input.text;
        let task = input.task.trim();
        if task.is_empty() {
            return Ok(None);
        }
        let shape = units::shape(text);
        let units = units::split(text, shape);
        if units.len() < MIN_UNITS {
            return Ok(None);
        }
        let scores = self
            .scores(text, &units, task)
            .map_err(|e| CompressError::Failed {
                compressor: "text",
                message: e.to_string(),
            })?;
        let marker_tokens = crate::tokens::count(&marker(shape, 2, 20)) + 1;
        let keep = select(text, &units, &scores, self.config.keep_ratio, marker_tokens);
        let out = render(text, &units, &keep, shape);
        Ok((out.len() < text.len()).then_some(out))
    }
}

/// Which units to keep: headings and units with error lines always, then the best-scoring
/// ones while the output (kept units, signatures of dropped items, one marker per dropped run)
/// stays within `keep_ratio` of the block. The best unit is kept even if it alone is larger.
/// Ties go to the earlier unit.
fn select(
    text: &str,
    units: &[Unit],
    scores: &[f32],
    keep_ratio: f64,
    marker_tokens: usize,
) -> Vec<bool> {
    let sizes: Vec<usize> = units
        .iter()
        .map(|u| crate::tokens::count(&text[u.range.clone()]))
        .collect();
    let signature_sizes: Vec<usize> = units
        .iter()
        .map(|u| match &u.kind {
            UnitKind::Item {
                signature: Some(sig),
            } => crate::tokens::count(&text[sig.clone()]),
            _ => 0,
        })
        .collect();
    let size = |i: usize| sizes[i];
    let dropped_size = |i: usize| signature_sizes[i];
    let total: usize = sizes.iter().sum();
    // 2 % slack for token merges across unit boundaries, which the per-unit counts miss.
    let budget = ((total as f64 * keep_ratio.clamp(0.0, 1.0)) as usize).saturating_sub(total / 50);
    let keep: Vec<bool> = units
        .iter()
        .map(|u| matches!(u.kind, UnitKind::Heading) || lexical::has_error_line(u.content(text)))
        .collect();
    let mut keep = keep;
    let runs = |keep: &[bool]| {
        (0..keep.len())
            .filter(|&i| !keep[i] && (i == 0 || keep[i - 1]))
            .count()
    };
    let mut used: usize = (0..units.len())
        .map(|i| if keep[i] { size(i) } else { dropped_size(i) })
        .sum::<usize>()
        + runs(&keep) * marker_tokens;
    let mut order: Vec<usize> = (0..units.len()).filter(|&i| !keep[i]).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    for (rank, i) in order.into_iter().enumerate() {
        let left_dropped = i > 0 && !keep[i - 1];
        let right_dropped = i + 1 < units.len() && !keep[i + 1];
        let grown = size(i) - dropped_size(i).min(size(i));
        let cost = match (left_dropped, right_dropped) {
            (true, true) => used + grown + marker_tokens,
            (false, false) => (used + grown).saturating_sub(marker_tokens),
            _ => used + grown,
        };
        if rank == 0 || cost <= budget {
            keep[i] = true;
            used = cost;
        }
    }
    keep
}

/// The kept units verbatim, in order; each run of dropped units becomes its code signatures
/// (if any) and one marker line.
fn render(text: &str, units: &[Unit], keep: &[bool], shape: Shape) -> String {
    let mut out = String::with_capacity(text.len() / 2);
    let mut i = 0;
    while i < units.len() {
        if keep[i] {
            out.push_str(&text[units[i].range.clone()]);
            i += 1;
            continue;
        }
        let run_start = i;
        while i < units.len() && !keep[i] {
            i += 1;
        }
        let run = &units[run_start..i];
        let last = &run[run.len() - 1];
        let has_signature = run
            .iter()
            .any(|u| matches!(u.kind, UnitKind::Item { signature: Some(_) }));
        if !has_signature {
            // The one cost rule: a run cheaper than its marker (with its id) stays as it was.
            let content: Vec<&str> = text[run[0].range.start..last.content_end].lines().collect();
            let lines = content.len();
            let units_counted = if shape == Shape::Prose { run.len() } else { 0 };
            if !run_is_worth_a_marker(&content, &marker(shape, units_counted, lines)) {
                out.push_str(&text[run[0].range.start..last.range.end]);
                continue;
            }
        }
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        let mut lines = 0usize;
        let mut signatures = 0usize;
        for u in run {
            lines += u.content(text).lines().count();
            if let UnitKind::Item {
                signature: Some(sig),
            } = &u.kind
            {
                out.push_str(text[sig.clone()].trim_end_matches('\n'));
                out.push('\n');
                lines -= 1;
                signatures += 1;
            }
        }
        let counted = match shape {
            Shape::Prose => run.len(),
            Shape::Code => signatures,
        };
        out.push_str(&marker(shape, counted, lines));
        out.push('\n');
        out.push_str(&text[last.content_end..last.range.end]);
    }
    out
}

/// The line standing for a dropped run: `units` paragraphs for prose; for code, `lines` lines
/// of which `units` were bodies below a kept signature line.
fn marker(shape: Shape, units: usize, lines: usize) -> String {
    let plural = |n: usize, one: &str, many: &str| {
        if n == 1 {
            format!("1 {one}")
        } else {
            format!("{n} {many}")
        }
    };
    match (shape, units) {
        (Shape::Prose, _) => format!("[… {} omitted …]", plural(units, "paragraph", "paragraphs")),
        (Shape::Code, 0) => format!("[… {} omitted …]", plural(lines, "line", "lines")),
        (Shape::Code, 1) => format!(
            "[… {} omitted: the body above …]",
            plural(lines, "line", "lines")
        ),
        (Shape::Code, _) => format!(
            "[… {} omitted: the bodies above …]",
            plural(lines, "line", "lines")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn select_keeps_headings_and_the_best_units_within_the_ratio() {
        let para = |w: &str| format!("{}\n\n", [w; 40].join(" "));
        let t = format!(
            "# H\n{}{}{}{}",
            para("alpha"),
            para("beta"),
            para("gamma"),
            para("delta")
        );
        let units = split(&t, Shape::Prose);
        assert_eq!(units.len(), 5);
        let scores = [0.0, 0.1, 0.9, 0.2, 0.8];
        // Each paragraph is 41 cl100k tokens of 167: two plus the heading and two markers
        // (8 each) fit in 70 % (116 less 3 slack), a third (+41, one marker less) does not.
        let keep = select(&t, &units, &scores, 0.7, 8);
        assert_eq!(keep, [true, false, true, false, true]);
    }

    #[test]
    fn select_always_keeps_units_with_error_lines() {
        let t = "one one one\n\nERROR: disk full\n\nthree three three\n\nfour four four\n";
        let units = split(t, Shape::Prose);
        let keep = select(t, &units, &[0.9, 0.0, 0.1, 0.2], 0.0, 8);
        assert_eq!(keep, [true, true, false, false]);
    }

    #[test]
    fn render_leaves_one_marker_per_dropped_run_and_keeps_spacing() {
        let b = "The second paragraph says something nobody asked about, at length.";
        let c = "So does the third one, which goes on about it for a while longer.";
        let t = format!("a\n\n{b}\n\n{c}\n\nd\n");
        let units = split(&t, Shape::Prose);
        let out = render(&t, &units, &[true, false, false, true], Shape::Prose);
        assert_eq!(out, "a\n\n[… 2 paragraphs omitted …]\n\nd\n");
        // Paragraphs cheaper than the marker (and its id) stay as they were.
        let t = "a\n\nb\n\nc\n\nd\n";
        let units = split(t, Shape::Prose);
        assert_eq!(
            render(t, &units, &[true, false, false, true], Shape::Prose),
            t
        );
    }

    #[test]
    fn render_keeps_signatures_of_dropped_code_items() {
        let t = "fn a() {\n    1\n}\n\nfn b() {\n    2\n    3\n}\n\nfn c() {}\n";
        let units = split(t, Shape::Code);
        assert_eq!(units.len(), 3);
        let out = render(t, &units, &[true, false, true], Shape::Code);
        assert_eq!(
            out,
            "fn a() {\n    1\n}\n\nfn b() {\n[… 3 lines omitted: the body above …]\n\nfn c() {}\n"
        );
    }

    #[test]
    fn config_problems_name_the_key() {
        assert!(TextConfig::default().problems().is_empty());
        let bad = TextConfig {
            keep_ratio: 0.0,
            score_tokens: 10,
            ..TextConfig::default()
        };
        let p = bad.problems();
        assert_eq!(p.len(), 2);
        assert!(p[0].contains("compression.text.keep_ratio"));
        assert!(p[1].contains("compression.text.score_tokens"));
    }

    #[test]
    fn head_cuts_at_a_char_boundary() {
        let s = "é".repeat(200);
        let h = head(&s, 24);
        assert!(h.len() <= 120 && !h.is_empty());
    }
}
