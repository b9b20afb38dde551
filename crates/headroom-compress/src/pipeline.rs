//! The pipeline for one config snapshot: the compressors, the result cache, and the per-request
//! loop that walks a body, gates blocks by size, routes them by content, guards each compressor
//! (panics, errors, the time budget, never-inflate) and splices the results into the original
//! bytes.
//!
//! A miss of the in-process cache asks the shared cache ([`super::shared`]), when one is set,
//! before compressing.
//!
//! Must never: re-serialise the body, let a compressor's panic escape, hold the cache lock while
//! compressing, or let a block's output depend on anything but (block, task, config).

use super::cache::Lru;
use super::code::CodeCompressor;
use super::detect::{detect, Kind};
use super::diagnostics::DiagnosticsCompressor;
use super::generic::{collapse_repeats, GenericCompressor};
use super::git::GitCompressor;
use super::html::HtmlCompressor;
use super::json::JsonCompressor;
use super::jsontree::{self, decode_str, encode_str};
use super::log::LogCompressor;
use super::markdown::DocumentCompressor;
use super::marker_ids::tag;
use super::search::SearchCompressor;
use super::shared::{self, SharedCache};
use super::tabular::TableCompressor;
use super::walk::walk;
use super::{
    tokens, ApiFormat, BlockInput, BlockReport, CompressError, CompressionConfig, Compressor,
    FailureReason, Original, Outcome, Rewritten,
};
use headroom_store::original_id;
use std::ops::Range;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use xxhash_rust::xxh3::{xxh3_64, Xxh3};

/// Built once per config snapshot; shared by every request using that snapshot.
pub struct Pipeline {
    config: CompressionConfig,
    /// The learned compressor for prose and code, when the model is enabled and loaded.
    text: Option<Arc<dyn Compressor>>,
    json: JsonCompressor,
    log: LogCompressor,
    search: SearchCompressor,
    generic: GenericCompressor,
    code: CodeCompressor,
    git: GitCompressor,
    document: DocumentCompressor,
    html: HtmlCompressor,
    diagnostics: DiagnosticsCompressor,
    table: TableCompressor,
    fingerprint: u64,
    cache: Mutex<Lru<Cached>>,
    /// Results shared with other processes (a team gateway's Redis), asked on a local miss.
    shared: Option<Arc<dyn SharedCache>>,
}

/// What [`Pipeline::compress_text`] did with one text.
#[derive(Debug, Clone)]
pub struct BlockOutcome {
    /// The compressed text, or `None` when the original is kept.
    pub output: Option<String>,
    pub kind: &'static str,
    pub compressor: &'static str,
    pub tokens_before: usize,
    pub tokens_after: usize,
    /// What happened: one of [`Outcome`]'s labels.
    pub outcome: Outcome,
    /// The id the output's markers carry (with `marker_ids` on).
    pub original_id: Option<String>,
}

/// A remembered block result.
#[derive(Clone)]
pub(crate) struct Cached {
    pub(crate) output: Option<Arc<str>>,
    pub(crate) kind: &'static str,
    pub(crate) compressor: &'static str,
    pub(crate) outcome: Outcome,
    pub(crate) tokens_before: usize,
    pub(crate) tokens_after: usize,
    /// The id the output's markers carry, when ids are on and a marker was tagged.
    pub(crate) original_id: Option<Arc<str>>,
}

impl Pipeline {
    /// Builds the pipeline; the first call in a process also builds the cl100k BPE (about a
    /// tenth of a second), so no request pays for it.
    pub fn new(config: CompressionConfig, text: Option<Arc<dyn Compressor>>) -> Self {
        tokens::warm_up();
        let mut id = serde_json::to_vec(&config).unwrap_or_default();
        id.extend_from_slice(text.as_ref().map_or("none", |t| t.name()).as_bytes());
        // Not serialised with the config, but it changes every tagged block's bytes.
        id.extend_from_slice(&serde_json::to_vec(&config.marker_ids).unwrap_or_default());
        Pipeline {
            json: JsonCompressor::new(config.json.clone()),
            log: LogCompressor::new(config.log.clone()),
            search: SearchCompressor::new(config.search.clone()),
            generic: GenericCompressor::new(config.generic.clone()),
            code: CodeCompressor,
            git: GitCompressor::new(config.diff.clone()),
            document: DocumentCompressor,
            html: HtmlCompressor,
            diagnostics: DiagnosticsCompressor,
            table: TableCompressor,
            fingerprint: xxh3_64(&id),
            cache: Mutex::new(Lru::new(config.cache_entries)),
            shared: None,
            config,
            text,
        }
    }

    /// Asks `cache` on every miss of the in-process cache and offers it every new result.
    pub fn with_shared_cache(mut self, cache: Arc<dyn SharedCache>) -> Self {
        self.shared = Some(cache);
        self
    }

    pub fn config(&self) -> &CompressionConfig {
        &self.config
    }

    pub fn has_text_compressor(&self) -> bool {
        self.text.is_some()
    }

    /// How many block results the cache holds.
    pub fn cached_blocks(&self) -> usize {
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// A hash of everything in the config that can change a block's output.
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    /// The compressor for a content kind, if that kind is compressed under this config.
    fn route(&self, kind: Kind) -> Option<&dyn Compressor> {
        let c = &self.config;
        match kind {
            Kind::Json if c.json.enabled => Some(&self.json),
            Kind::Log if c.log.enabled => Some(&self.log),
            Kind::Search if c.search.enabled => Some(&self.search),
            Kind::Diff if c.diff.enabled => Some(&self.git),
            Kind::GitLog | Kind::GitShow if c.diff.enabled => Some(&self.git),
            Kind::Code => Some(&self.code),
            Kind::Prose | Kind::Markdown => Some(&self.document),
            Kind::Html => Some(&self.html),
            Kind::Diagnostics if c.log.enabled => Some(&self.diagnostics),
            Kind::Table if c.json.enabled => Some(&self.table),
            Kind::Text if c.generic.enabled => Some(&self.generic),
            _ => None,
        }
    }

    fn cache_key(&self, text: &str, task: &str) -> u128 {
        let mut h = Xxh3::new();
        h.update(&(text.len() as u64).to_le_bytes());
        h.update(text.as_bytes());
        h.update(&(task.len() as u64).to_le_bytes());
        h.update(task.as_bytes());
        h.update(&self.fingerprint.to_le_bytes());
        h.digest128()
    }

    fn cache_get(&self, key: u128) -> Option<Cached> {
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
    }

    fn cache_put(&self, key: u128, value: Cached) {
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, value);
    }

    /// The shared cache's entry for a block, kept locally too; `None` unless it decodes.
    fn shared_get(&self, key: u128) -> Option<Cached> {
        let bytes = self.shared.as_ref()?.get(self.fingerprint, key)?;
        let text = self.text.as_ref().map_or("none", |t| t.name());
        let names = [
            self.json.name(),
            self.log.name(),
            self.search.name(),
            self.generic.name(),
            self.code.name(),
            self.git.name(),
            self.document.name(),
            self.html.name(),
            self.diagnostics.name(),
            self.table.name(),
            "generic",
            "none",
            text,
        ];
        let hit = shared::decode(&bytes, &names)?;
        self.cache_put(key, hit.clone());
        Some(hit)
    }

    /// See [`super::rewrite`].
    pub fn rewrite(&self, body: &[u8], format: ApiFormat) -> Rewritten {
        let mut result = Rewritten::unchanged();
        if !self.config.enabled {
            return result;
        }
        let Ok(src) = std::str::from_utf8(body) else {
            result.failures.push(FailureReason::NotJson);
            return result;
        };
        let Ok(root) = jsontree::parse(src) else {
            result.failures.push(FailureReason::NotJson);
            return result;
        };
        let started = Instant::now();
        let deadline = started + Duration::from_millis(self.config.budget_ms);
        let found = walk(src, &root, format, &self.config.protect_tools);
        let mut edits: Vec<(Range<usize>, String)> = Vec::new();
        let mut over_budget = false;
        for cand in &found.candidates {
            let text = decode_str(src, &cand.span);
            if !catch_unwind(AssertUnwindSafe(|| self.big_enough(&text))).unwrap_or(false) {
                result.small_blocks += 1;
                continue;
            }
            let task = found.tasks.get(cand.task).map_or("", String::as_str);
            let key = self.cache_key(&text, task);
            let t0 = Instant::now();
            let (entry, cached) = match self.cache_get(key) {
                Some(hit) => (hit, true),
                None => {
                    if Instant::now() >= deadline {
                        over_budget = true;
                        continue;
                    }
                    if let Some(hit) = self.shared_get(key) {
                        (hit, true)
                    } else {
                        match self.compress_block(&text, task) {
                            Ok(entry) => {
                                self.cache_put(key, entry.clone());
                                if let Some(s) = &self.shared {
                                    s.put(self.fingerprint, key, shared::encode(&entry));
                                }
                                (entry, false)
                            }
                            Err(reason) => {
                                result.failures.push(reason);
                                continue;
                            }
                        }
                    }
                }
            };
            if let Some(out) = &entry.output {
                edits.push((cand.span.clone(), encode_str(out)));
                if let Some(id) = &entry.original_id {
                    result.originals.push(Original {
                        id: id.to_string(),
                        content: Arc::from(text.as_ref()),
                        compressor: entry.compressor.to_string(),
                    });
                }
            }
            result.blocks.push(BlockReport {
                kind: entry.kind,
                compressor: entry.compressor,
                tokens_before: entry.tokens_before,
                tokens_after: entry.tokens_after,
                outcome: entry.outcome,
                duration: t0.elapsed(),
                cached,
                location: format!("{} ({})", cand.location, cand.role),
            });
        }
        if over_budget {
            result.failures.push(FailureReason::Budget);
        }
        if !edits.is_empty() {
            result.body = Some(splice(body, &edits));
            result.replaced = edits.into_iter().map(|(span, _)| span).collect();
        }
        result
    }

    /// Compresses one block's text the way [`super::rewrite`] would (no cache, no gate). For
    /// the CLI, tests and benches.
    pub fn compress_text(&self, text: &str, task: &str) -> Result<BlockOutcome, FailureReason> {
        self.compress_block(text, task).map(|c| BlockOutcome {
            output: c.output.map(|s| s.to_string()),
            kind: c.kind,
            compressor: c.compressor,
            tokens_before: c.tokens_before,
            tokens_after: c.tokens_after,
            outcome: c.outcome,
            original_id: c.original_id.map(|s| s.to_string()),
        })
    }

    /// The `min_tokens` gate: estimate first, count exactly only near the threshold.
    fn big_enough(&self, text: &str) -> bool {
        let min = self.config.min_tokens;
        if min == 0 {
            return true;
        }
        let est = tokens::estimate(text);
        if est * 2 < min {
            false
        } else if est >= min * 2 {
            true
        } else {
            tokens::count(text) >= min
        }
    }

    /// Compresses one block under `catch_unwind` (detection, compression and counting alike),
    /// applying never-inflate.
    fn compress_block(&self, text: &str, task: &str) -> Result<Cached, FailureReason> {
        catch_unwind(AssertUnwindSafe(|| {
            self.compress_block_unguarded(text, task)
        }))
        .unwrap_or(Err(FailureReason::Panic))
    }

    fn compress_block_unguarded(&self, text: &str, task: &str) -> Result<Cached, FailureReason> {
        let kind = detect(text);
        let unchanged = |compressor: &'static str, tokens: usize, outcome: Outcome| Cached {
            output: None,
            outcome,
            kind: kind.as_str(),
            compressor,
            tokens_before: tokens,
            tokens_after: tokens,
            original_id: None,
        };
        let Some(compressor) = self.route(kind) else {
            return Ok(unchanged(
                "none",
                tokens::estimate(text),
                Outcome::UnchangedUnknownFormat,
            ));
        };
        let input = BlockInput { text, task };
        let ran = (|| {
            let mut first = compressor.compress(&input)?;
            // Prose without structure to select by goes to the learned compressor, if loaded.
            if first.is_none() && kind == Kind::Prose && self.config.text.enabled {
                if let Some(text) = &self.text {
                    if let Some(out) = text.compress(&input)? {
                        return Ok(Some((out, text.name())));
                    }
                }
            }
            first = first.filter(|out| out.len() < text.len());
            // Text the specialised compressor declined may still hold exact repetitions.
            if first.is_none()
                && self.config.generic.enabled
                && !matches!(kind, Kind::Json | Kind::Text)
            {
                return Ok(
                    collapse_repeats(text, self.config.generic.min_repeats.max(2))
                        .map(|s| (s, "generic")),
                );
            }
            Ok::<_, CompressError>(first.map(|s| (s, compressor.name())))
        })();
        let produced = match ran {
            Err(CompressError::Budget) => return Err(FailureReason::Budget),
            Err(CompressError::Failed { .. }) => return Err(FailureReason::Error),
            Ok(p) => p,
        };
        let Some((out, name)) = produced else {
            return Ok(unchanged(
                compressor.name(),
                tokens::estimate(text),
                Outcome::UnchangedNoGain,
            ));
        };
        // Ids go in before the savings check, so what they cost counts against the block.
        let (out, original_id) = self.tag_markers(out, text);
        // Never inflate. Exact BPE counting runs at a few MB/s, so when the estimates differ by
        // more than twice the estimator's worst error the estimates decide (and are reported);
        // only close calls pay for exact counts.
        // Big blocks (exact counting costs ~10 ms per 100 KB, more than compressing them) are
        // decided by estimates too when the estimated saving clears the threshold by a margin.
        let min_saved = self.config.min_savings_percent.min(100) as usize;
        let (est_before, est_after) = (tokens::estimate(text), tokens::estimate(&out));
        let clear_margin = text.len() > EXACT_COUNT_MAX_BYTES
            && est_after * 100 <= est_before * (100 - (min_saved + ESTIMATE_MARGIN).min(100));
        let (before, after) = if est_after * 2 <= est_before || clear_margin {
            (est_before, est_after)
        } else {
            (tokens::count(text), tokens::count(&out))
        };
        // A saving below the threshold is not worth what the agent loses.
        if after >= before || (before - after) * 100 < before * min_saved {
            return Ok(unchanged(name, before, Outcome::UnchangedNoGain));
        }
        Ok(Cached {
            output: Some(Arc::from(out)),
            outcome: Outcome::Compressed,
            kind: kind.as_str(),
            compressor: name,
            tokens_before: before,
            tokens_after: after,
            original_id,
        })
    }

    /// With `marker_ids` on: the output with the block's id in its first marker (see
    /// [`super::marker_ids`]), and that id when any marker carries it.
    fn tag_markers(&self, out: String, text: &str) -> (String, Option<Arc<str>>) {
        let ids = &self.config.marker_ids;
        if !ids.enabled {
            return (out, None);
        }
        let id = original_id(text);
        match tag(&out, text, &id, ids) {
            Some(tagged) => (tagged, Some(Arc::from(id))),
            None => (out, None),
        }
    }
}

/// Blocks up to this size always get exact counts when the estimate is a close call.
const EXACT_COUNT_MAX_BYTES: usize = 64 * 1024;
/// Percentage points above `min_savings_percent` that let estimates decide for big blocks.
const ESTIMATE_MARGIN: usize = 15;

/// Copies `body` with each span replaced by its new bytes. Spans are ascending and disjoint.
fn splice(body: &[u8], edits: &[(Range<usize>, String)]) -> Vec<u8> {
    let grown: usize = edits.iter().map(|(_, s)| s.len()).sum();
    let mut out = Vec::with_capacity(body.len().min(grown + body.len()));
    let mut at = 0;
    for (span, replacement) in edits {
        out.extend_from_slice(&body[at..span.start]);
        out.extend_from_slice(replacement.as_bytes());
        at = span.end;
    }
    out.extend_from_slice(&body[at..]);
    out
}
