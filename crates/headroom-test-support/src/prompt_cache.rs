//! A pure simulator of Anthropic prompt caching, for tests and the cost bench (and the fake
//! upstream).
//!
//! The prompt is the sequence of blocks tools → system → messages (each content block, or a
//! string content, is one block). A `cache_control` marker on a block is a breakpoint. At each
//! breakpoint the API looks for the longest prefix, ending at a block boundary up to 20 blocks
//! back, that an earlier request cached, and reads it; the rest up to the last breakpoint is
//! written to the cache; what follows the last breakpoint is plain input. Prefixes shorter than
//! `min_cacheable_tokens` are not cached. `cache_control` itself is not part of the cached
//! content (breakpoints may move between requests). Usage is reported the way the API does:
//! `input_tokens`, `cache_creation_input_tokens`, `cache_read_input_tokens`.
//!
//! Must never: look at anything but the request body, or need the network.

#![allow(dead_code)]

use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub input_tokens: u64,
    pub cache_creation_input_tokens: u64,
    pub cache_read_input_tokens: u64,
}

impl Usage {
    /// Input cost in units of one fresh input token: writes cost 1.25×, reads 0.1×.
    pub fn effective_cost(&self) -> f64 {
        self.input_tokens as f64
            + 1.25 * self.cache_creation_input_tokens as f64
            + 0.1 * self.cache_read_input_tokens as f64
    }

    pub fn total(&self) -> u64 {
        self.input_tokens + self.cache_creation_input_tokens + self.cache_read_input_tokens
    }

    pub fn add(&mut self, other: Usage) {
        self.input_tokens += other.input_tokens;
        self.cache_creation_input_tokens += other.cache_creation_input_tokens;
        self.cache_read_input_tokens += other.cache_read_input_tokens;
    }
}

const LOOKBACK_BLOCKS: usize = 20;

pub struct PromptCache {
    /// Hashes of cached prefixes.
    cached: HashSet<u64>,
    /// Token counts of blocks already seen, by content hash.
    block_tokens: HashMap<u64, u64>,
    min_cacheable_tokens: u64,
}

impl Default for PromptCache {
    fn default() -> Self {
        Self::new(1024)
    }
}

struct Block {
    hash: u64,
    tokens: u64,
    breakpoint: bool,
}

impl PromptCache {
    pub fn new(min_cacheable_tokens: u64) -> Self {
        PromptCache {
            cached: HashSet::new(),
            block_tokens: HashMap::new(),
            min_cacheable_tokens,
        }
    }

    /// Accounts one `/v1/messages` request body and returns its usage.
    pub fn request(&mut self, body: &[u8]) -> Result<Usage, String> {
        let v: Value =
            serde_json::from_slice(body).map_err(|e| format!("request is not JSON: {e}"))?;
        let blocks = self.blocks(&v);
        // Prefix hash and cumulative tokens after each block.
        let mut prefix_hash = Vec::with_capacity(blocks.len());
        let mut cum = Vec::with_capacity(blocks.len());
        let mut h = DefaultHasher::new();
        let mut total = 0u64;
        for b in &blocks {
            b.hash.hash(&mut h);
            prefix_hash.push(h.finish());
            total += b.tokens;
            cum.push(total);
        }
        let breakpoints: Vec<usize> = (0..blocks.len())
            .filter(|&i| blocks[i].breakpoint)
            .collect();
        let mut read_upto: Option<usize> = None;
        for &bp in &breakpoints {
            let lo = bp.saturating_sub(LOOKBACK_BLOCKS);
            if let Some(j) = (lo..=bp)
                .rev()
                .find(|&j| self.cached.contains(&prefix_hash[j]))
            {
                read_upto = Some(read_upto.map_or(j, |r: usize| r.max(j)));
            }
        }
        let read = read_upto.map_or(0, |j| cum[j]);
        let written_upto = breakpoints.last().copied();
        let mut creation = 0;
        if let Some(last) = written_upto {
            if cum[last] >= self.min_cacheable_tokens {
                creation = cum[last].saturating_sub(read);
            }
        }
        for &bp in &breakpoints {
            if cum[bp] >= self.min_cacheable_tokens {
                self.cached.insert(prefix_hash[bp]);
            }
        }
        Ok(Usage {
            input_tokens: total - read - creation,
            cache_creation_input_tokens: creation,
            cache_read_input_tokens: read,
        })
    }

    fn blocks(&mut self, v: &Value) -> Vec<Block> {
        let mut out = Vec::new();
        if let Some(tools) = v.get("tools").and_then(Value::as_array) {
            for t in tools {
                out.push(self.block("tool", t));
            }
        }
        match v.get("system") {
            Some(Value::String(s)) => out.push(self.block("system", &Value::String(s.clone()))),
            Some(Value::Array(parts)) => {
                for p in parts {
                    out.push(self.block("system", p));
                }
            }
            _ => {}
        }
        if let Some(messages) = v.get("messages").and_then(Value::as_array) {
            for m in messages {
                let role = m.get("role").and_then(Value::as_str).unwrap_or("");
                match m.get("content") {
                    Some(Value::Array(parts)) => {
                        for p in parts {
                            out.push(self.block(role, p));
                        }
                    }
                    Some(other) => out.push(self.block(role, other)),
                    None => {}
                }
            }
        }
        out
    }

    fn block(&mut self, role: &str, value: &Value) -> Block {
        let breakpoint = value.get("cache_control").is_some();
        let mut content = value.clone();
        if let Value::Object(map) = &mut content {
            map.remove("cache_control");
        }
        let text = content.to_string();
        let mut h = DefaultHasher::new();
        role.hash(&mut h);
        text.hash(&mut h);
        let hash = h.finish();
        let tokens = *self
            .block_tokens
            .entry(hash)
            .or_insert_with(|| count_tokens(&text) + 3);
        Block {
            hash,
            tokens,
            breakpoint,
        }
    }
}

fn count_tokens(text: &str) -> u64 {
    headroom_compress::tokens::count(text) as u64
}
