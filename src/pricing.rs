//! The price table: dollars per million tokens for each model family, used to turn token counts
//! into *estimated* dollars saved and spent.
//!
//! The defaults are the providers' public list prices as published in November 2025 (Anthropic:
//! standard rates, 5-minute cache writes; OpenAI: standard tier). They are an estimate: batch,
//! priority, long-context and negotiated rates differ. Override them with a `pricing:` list in
//! the config (it replaces the whole table). A model name matches the entry with the longest
//! `prefix` it starts with; a model no entry matches is counted as unpriced, never guessed.
//!
//! Must never: do I/O or talk to the network (prices are never fetched).

use crate::usage::Usage as UsageTotals;
use serde::{Deserialize, Serialize};

/// Prices of one model family, in dollars per million tokens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelPrice {
    /// Model names starting with this belong to the family (`claude-sonnet-4` matches
    /// `claude-sonnet-4-5-20250929`).
    pub prefix: String,
    pub input: f64,
    pub cache_write: f64,
    pub cache_read: f64,
    pub output: f64,
    /// OpenAI counts cached tokens inside `prompt_tokens`; Anthropic reports them apart.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cached_in_input: bool,
}

const PER_TOKEN: f64 = 1.0 / 1_000_000.0;

impl ModelPrice {
    /// Tokens kept out of the prompt, priced as that model's input tokens.
    pub fn saved_dollars(&self, tokens_saved: u64) -> f64 {
        tokens_saved as f64 * self.input * PER_TOKEN
    }

    /// What the upstream usage cost at these prices.
    pub fn spent_dollars(&self, u: &UsageTotals) -> f64 {
        let fresh_input = if self.cached_in_input {
            u.input.saturating_sub(u.cache_read)
        } else {
            u.input
        };
        (fresh_input as f64 * self.input
            + u.cache_creation as f64 * self.cache_write
            + u.cache_read as f64 * self.cache_read
            + u.output as f64 * self.output)
            * PER_TOKEN
    }
}

/// The whole table (`pricing:` in the config is a list of [`ModelPrice`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Pricing {
    pub models: Vec<ModelPrice>,
}

impl Pricing {
    /// The entry with the longest prefix `model` starts with.
    pub fn price_for(&self, model: &str) -> Option<&ModelPrice> {
        self.models
            .iter()
            .filter(|p| !p.prefix.is_empty() && model.starts_with(p.prefix.as_str()))
            .max_by_key(|p| p.prefix.len())
    }

    /// Problems with the table, each naming the entry.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (i, p) in self.models.iter().enumerate() {
            if p.prefix.trim().is_empty() {
                out.push(format!(
                    "pricing[{i}].prefix is empty: name a model prefix such as `claude-sonnet-4`"
                ));
            }
            for (name, v) in [
                ("input", p.input),
                ("cache_write", p.cache_write),
                ("cache_read", p.cache_read),
                ("output", p.output),
            ] {
                if !v.is_finite() || v < 0.0 {
                    out.push(format!(
                        "pricing[{i}] ({}): {name} is {v}; give dollars per million tokens, 0 or more",
                        p.prefix
                    ));
                }
            }
        }
        out
    }
}

/// Anthropic reports cached tokens apart from `input_tokens`.
fn anthropic(
    prefix: &str,
    input: f64,
    cache_write: f64,
    cache_read: f64,
    output: f64,
) -> ModelPrice {
    ModelPrice {
        prefix: prefix.into(),
        input,
        cache_write,
        cache_read,
        output,
        cached_in_input: false,
    }
}

/// OpenAI bills cache writes as ordinary input and counts cached tokens inside `prompt_tokens`.
fn openai(prefix: &str, input: f64, cache_read: f64, output: f64) -> ModelPrice {
    ModelPrice {
        cached_in_input: true,
        ..anthropic(prefix, input, input, cache_read, output)
    }
}

impl Default for Pricing {
    fn default() -> Self {
        Pricing {
            models: vec![
                anthropic("claude-opus-4-5", 5.0, 6.25, 0.5, 25.0),
                anthropic("claude-opus-4", 15.0, 18.75, 1.5, 75.0),
                anthropic("claude-sonnet-4", 3.0, 3.75, 0.3, 15.0),
                anthropic("claude-haiku-4", 1.0, 1.25, 0.1, 5.0),
                anthropic("claude-3-7-sonnet", 3.0, 3.75, 0.3, 15.0),
                anthropic("claude-3-5-sonnet", 3.0, 3.75, 0.3, 15.0),
                anthropic("claude-3-5-haiku", 0.8, 1.0, 0.08, 4.0),
                anthropic("claude-3-haiku", 0.25, 0.3, 0.03, 1.25),
                openai("gpt-5", 1.25, 0.125, 10.0),
                openai("gpt-5-mini", 0.25, 0.025, 2.0),
                openai("gpt-5-nano", 0.05, 0.005, 0.4),
                openai("gpt-4.1", 2.0, 0.5, 8.0),
                openai("gpt-4.1-mini", 0.4, 0.1, 1.6),
                openai("gpt-4.1-nano", 0.1, 0.025, 0.4),
                openai("gpt-4o", 2.5, 1.25, 10.0),
                openai("gpt-4o-mini", 0.15, 0.075, 0.6),
                openai("o1", 15.0, 7.5, 60.0),
                openai("o1-mini", 1.1, 0.55, 4.4),
                openai("o3", 2.0, 0.5, 8.0),
                openai("o3-mini", 1.1, 0.55, 4.4),
                openai("o4-mini", 1.1, 0.275, 4.4),
            ],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_prefix_wins() {
        let p = Pricing::default();
        assert_eq!(
            p.price_for("claude-opus-4-5-20251101").map(|m| m.input),
            Some(5.0)
        );
        assert_eq!(
            p.price_for("claude-opus-4-1-20250805").map(|m| m.input),
            Some(15.0)
        );
        assert_eq!(
            p.price_for("gpt-4o-mini-2024-07-18").map(|m| m.input),
            Some(0.15)
        );
        assert_eq!(p.price_for("gpt-4o-2024-08-06").map(|m| m.input), Some(2.5));
        assert_eq!(p.price_for("gpt-5-mini").map(|m| m.output), Some(2.0));
        assert!(p.price_for("llama-3").is_none());
        assert!(p.price_for("").is_none());
    }

    #[test]
    fn saved_tokens_are_priced_as_input() {
        let p = Pricing::default();
        let sonnet = p.price_for("claude-sonnet-4-5").unwrap();
        // A million tokens kept out of a Sonnet prompt: $3.
        assert!((sonnet.saved_dollars(1_000_000) - 3.0).abs() < 1e-9);
        assert!((sonnet.saved_dollars(2_500) - 0.0075).abs() < 1e-12);
    }

    #[test]
    fn spend_prices_each_kind_of_token() {
        let p = Pricing::default();
        let u = UsageTotals {
            input: 1_000_000,
            output: 100_000,
            cache_read: 2_000_000,
            cache_creation: 400_000,
        };
        // Anthropic: 1M × 3 + 0.4M × 3.75 + 2M × 0.30 + 0.1M × 15 = 3 + 1.5 + 0.6 + 1.5
        let sonnet = p.price_for("claude-sonnet-4").unwrap();
        assert!((sonnet.spent_dollars(&u) - 6.6).abs() < 1e-9);
        // OpenAI: cached tokens are inside prompt_tokens, so only 0.5M are fresh input.
        let u = UsageTotals {
            input: 1_000_000,
            output: 100_000,
            cache_read: 500_000,
            cache_creation: 0,
        };
        let gpt = p.price_for("gpt-4.1").unwrap();
        // 0.5M × 2 + 0.5M × 0.5 + 0.1M × 8 = 1 + 0.25 + 0.8
        assert!((gpt.spent_dollars(&u) - 2.05).abs() < 1e-9);
    }

    #[test]
    fn bad_prices_are_named() {
        let mut p = Pricing::default();
        p.models[0].output = -1.0;
        p.models[1].prefix = " ".into();
        let problems = p.problems();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("pricing[0]") && problems[0].contains("output"));
        assert!(Pricing::default().problems().is_empty());
    }
}
