//! Counters that add up: the one shape used for this run, the lifetime totals and every history
//! bucket, so any of them can be added to any other and priced the same way.
//!
//! Must never: hold prompt text or header values; grow without bound (model names are
//! sanitised and capped per set of totals).

use crate::pricing::Pricing;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Distinct model names kept in one set of totals; further ones are counted under `other`.
pub const MAX_MODELS: usize = 32;
/// The name used for requests whose model was not seen or not kept.
pub const UNKNOWN_MODEL: &str = "unknown";
const OTHER_MODEL: &str = "other";

#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct CompressorTotals {
    pub blocks: u64,
    pub tokens_before: u64,
    pub tokens_after: u64,
}

impl CompressorTotals {
    fn add(&mut self, o: &CompressorTotals) {
        self.blocks += o.blocks;
        self.tokens_before += o.tokens_before;
        self.tokens_after += o.tokens_after;
    }
}

/// Upstream usage totals: the same four counters a response reports.
pub use crate::usage::Usage as UsageTotals;

impl UsageTotals {
    pub(crate) fn add(&mut self, o: &UsageTotals) {
        self.input += o.input;
        self.output += o.output;
        self.cache_read += o.cache_read;
        self.cache_creation += o.cache_creation;
    }
}

/// What one model accounted for: enough to price savings and spend per model.
#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ModelTotals {
    pub requests: u64,
    pub tokens_before: u64,
    pub tokens_after: u64,
    pub upstream_usage: UsageTotals,
}

impl ModelTotals {
    fn add(&mut self, o: &ModelTotals) {
        self.requests += o.requests;
        self.tokens_before += o.tokens_before;
        self.tokens_after += o.tokens_after;
        self.upstream_usage.add(&o.upstream_usage);
    }
}

/// Counters that add up; the same shape for this run, the lifetime file and history buckets.
#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Totals {
    pub requests: u64,
    pub failed: u64,
    pub compressed_requests: u64,
    pub tokens_before: u64,
    pub tokens_after: u64,
    /// By compressor name.
    pub compressors: BTreeMap<String, CompressorTotals>,
    /// By detected content type (`json`, `log`, `search`, …).
    pub kinds: BTreeMap<String, CompressorTotals>,
    /// By model name as the upstream reported it (at most [`MAX_MODELS`]).
    pub models: BTreeMap<String, ModelTotals>,
    pub upstream_usage: UsageTotals,
    /// By gateway token name (`auth.tokens`; a bounded set).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub tokens: BTreeMap<String, ModelTotals>,
    /// Blocks by outcome (`compressed`, `unchanged-small`, `unchanged-no-gain`,
    /// `unchanged-unknown-format`).
    pub outcomes: BTreeMap<String, u64>,
}

/// Estimated dollars, from the price table.
#[derive(Debug, Default, Clone, Copy, PartialEq, Serialize)]
pub struct Money {
    pub saved: f64,
    pub spent: f64,
    /// Tokens saved on models the table has no price for (not in `saved`).
    pub unpriced_tokens_saved: u64,
}

impl Totals {
    pub fn is_empty(&self) -> bool {
        self == &Totals::default()
    }

    pub fn tokens_saved(&self) -> u64 {
        self.tokens_before.saturating_sub(self.tokens_after)
    }

    pub fn add(&mut self, o: &Totals) {
        self.requests += o.requests;
        self.failed += o.failed;
        self.compressed_requests += o.compressed_requests;
        self.tokens_before += o.tokens_before;
        self.tokens_after += o.tokens_after;
        for (k, v) in &o.compressors {
            entry(&mut self.compressors, k).add(v);
        }
        for (k, v) in &o.kinds {
            entry(&mut self.kinds, k).add(v);
        }
        for (k, v) in &o.models {
            self.model_entry(k).add(v);
        }
        for (k, v) in &o.tokens {
            entry(&mut self.tokens, k).add(v);
        }
        for (k, v) in &o.outcomes {
            *self.outcomes.entry(k.clone()).or_default() += v;
        }
        self.upstream_usage.add(&o.upstream_usage);
    }

    /// The entry for `model`, or `other` once [`MAX_MODELS`] names are kept.
    pub fn model_entry(&mut self, model: &str) -> &mut ModelTotals {
        let name = if self.models.contains_key(model) || self.models.len() < MAX_MODELS {
            model
        } else {
            OTHER_MODEL
        };
        entry(&mut self.models, name)
    }

    /// Dollars saved (tokens saved priced as input tokens of their model) and spent.
    pub fn money(&self, pricing: &Pricing) -> Money {
        let mut m = Money::default();
        for (name, t) in &self.models {
            let saved = t.tokens_before.saturating_sub(t.tokens_after);
            match pricing.price_for(name) {
                Some(p) => {
                    m.saved += p.saved_dollars(saved);
                    m.spent += p.spent_dollars(&t.upstream_usage);
                }
                None => m.unpriced_tokens_saved += saved,
            }
        }
        m
    }

    /// The JSON view served by `/stats` and the CLI.
    pub fn view(&self, pricing: &Pricing) -> serde_json::Value {
        let breakdown = |map: &BTreeMap<String, CompressorTotals>| {
            map.iter()
                .map(|(k, v)| {
                    let s = v.tokens_before.saturating_sub(v.tokens_after);
                    (
                        k.clone(),
                        serde_json::json!({
                            "blocks": v.blocks,
                            "tokens_before": v.tokens_before,
                            "tokens_after": v.tokens_after,
                            "tokens_saved": s,
                            "savings_percent": percent(s, v.tokens_before),
                        }),
                    )
                })
                .collect::<serde_json::Map<_, _>>()
        };
        let models: serde_json::Map<String, serde_json::Value> = self
            .models
            .iter()
            .map(|(k, v)| {
                let mut one = Totals::default();
                one.models.insert(k.clone(), v.clone());
                let money = one.money(pricing);
                (
                    k.clone(),
                    serde_json::json!({
                        "requests": v.requests,
                        "tokens_before": v.tokens_before,
                        "tokens_after": v.tokens_after,
                        "tokens_saved": v.tokens_before.saturating_sub(v.tokens_after),
                        "upstream_usage": v.upstream_usage,
                        "priced": pricing.price_for(k).is_some(),
                        "estimated_dollars_saved": round_cents(money.saved),
                        "estimated_dollars_spent": round_cents(money.spent),
                    }),
                )
            })
            .collect();
        let tokens: serde_json::Map<String, serde_json::Value> = self
            .tokens
            .iter()
            .map(|(k, v)| {
                let saved = v.tokens_before.saturating_sub(v.tokens_after);
                (
                    k.clone(),
                    serde_json::json!({
                        "requests": v.requests,
                        "tokens_before": v.tokens_before,
                        "tokens_after": v.tokens_after,
                        "tokens_saved": saved,
                        "upstream_usage": v.upstream_usage,
                    }),
                )
            })
            .collect();
        let saved = self.tokens_saved();
        let money = self.money(pricing);
        serde_json::json!({
            "auth_tokens": tokens,
            "requests": self.requests,
            "failed": self.failed,
            "compressed_requests": self.compressed_requests,
            "tokens_before": self.tokens_before,
            "tokens_after": self.tokens_after,
            "tokens_saved": saved,
            "savings_percent": percent(saved, self.tokens_before),
            "compressors": breakdown(&self.compressors),
            "content_types": breakdown(&self.kinds),
            "block_outcomes": self.outcomes,
            "models": models,
            "upstream_usage": self.upstream_usage,
            "estimated_dollars_saved": round_cents(money.saved),
            "estimated_dollars_spent": round_cents(money.spent),
            "unpriced_tokens_saved": money.unpriced_tokens_saved,
        })
    }
}

/// `part` as a percentage of `whole`, one decimal.
pub fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        (part as f64 * 1000.0 / whole as f64).round() / 10.0
    }
}

/// Dollars to a tenth of a cent (small savings stay visible).
pub fn round_cents(d: f64) -> f64 {
    (d * 1000.0).round() / 1000.0
}

/// A model name fit to be a map key: printable ASCII of a safe set, at most 64 bytes.
/// `map[key]`, created empty if missing; allocates the key only when it is new (this runs on
/// every request, several times).
fn entry<'m, V: Default>(map: &'m mut BTreeMap<String, V>, key: &str) -> &'m mut V {
    if !map.contains_key(key) {
        map.insert(key.to_string(), V::default());
    }
    map.get_mut(key).expect("inserted above")
}

pub fn model_key(raw: Option<&str>) -> String {
    let mut key = String::new();
    model_key_into(raw, &mut key);
    key
}

/// [`model_key`] written into `out` (its buffer reused).
pub fn model_key_into(raw: Option<&str>, out: &mut String) {
    let allowed_byte =
        |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b':' | b'/' | b'@');
    let allowed = |c: char| c.is_ascii() && allowed_byte(c as u8);
    out.clear();
    // The usual case, a clean name: one copy instead of a char-by-char rebuild.
    if let Some(name) = raw.filter(|r| !r.is_empty() && r.len() <= 64) {
        if name.bytes().all(allowed_byte) {
            out.push_str(name);
            return;
        }
    }
    out.extend(raw.unwrap_or("").chars().filter(|&c| allowed(c)).take(64));
    if out.is_empty() {
        out.push_str(UNKNOWN_MODEL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_keys_keep_clean_names_and_clean_the_rest() {
        assert_eq!(model_key(Some("claude-sonnet-4-5")), "claude-sonnet-4-5");
        assert_eq!(model_key(Some("org/model@v1:2.5_x")), "org/model@v1:2.5_x");
        assert_eq!(model_key(Some("gpt 4o\n")), "gpt4o");
        assert_eq!(model_key(Some("café")), "caf");
        assert_eq!(model_key(Some(&"m".repeat(70))), "m".repeat(64));
        assert_eq!(model_key(Some("  ")), UNKNOWN_MODEL);
        assert_eq!(model_key(None), UNKNOWN_MODEL);
    }

    #[test]
    fn savings_percent_is_rounded() {
        assert_eq!(percent(1, 3), 33.3);
        assert_eq!(percent(0, 0), 0.0);
    }

    #[test]
    fn model_names_are_sanitised_and_capped() {
        assert_eq!(model_key(Some("claude-sonnet-4-5")), "claude-sonnet-4-5");
        assert_eq!(model_key(Some("a\"b<script>")), "abscript");
        assert_eq!(model_key(None), UNKNOWN_MODEL);
        assert_eq!(model_key(Some(&"x".repeat(500))).len(), 64);
        let mut t = Totals::default();
        for i in 0..(MAX_MODELS + 5) {
            t.model_entry(&format!("m{i}")).requests += 1;
        }
        assert_eq!(t.models.len(), MAX_MODELS + 1);
        assert_eq!(t.models[OTHER_MODEL].requests, 5);
    }

    #[test]
    fn adding_merges_every_breakdown() {
        let mut a = Totals {
            requests: 1,
            ..Default::default()
        };
        a.kinds.entry("log".into()).or_default().tokens_before = 10;
        a.model_entry("m").upstream_usage.input = 5;
        let mut b = a.clone();
        b.add(&a);
        assert_eq!(b.requests, 2);
        assert_eq!(b.kinds["log"].tokens_before, 20);
        assert_eq!(b.models["m"].upstream_usage.input, 10);
    }
}
