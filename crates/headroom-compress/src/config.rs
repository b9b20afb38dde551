//! The `compression:` section of the YAML config: global switches, gating, the time budget and
//! one sub-section per compressor. Every struct rejects unknown keys and fills in defaults, so a
//! typo is an error and an empty section means "defaults".
//!
//! Must never: hold runtime state (this is a plain, serialisable snapshot).

use super::marker_ids::MarkerIds;
use super::text::TextConfig;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CompressionConfig {
    pub enabled: bool,
    /// Blocks with fewer tokens than this are left alone.
    pub min_tokens: usize,
    /// A block whose compression saves less than this share of its tokens goes through unchanged.
    pub min_savings_percent: u32,
    /// Per-request time budget; past it the remaining blocks go through untouched.
    pub budget_ms: u64,
    /// Results of these tools are never compressed.
    pub protect_tools: Vec<String>,
    /// How many compressed block results to remember (LRU, keyed by content hash).
    pub cache_entries: usize,
    pub json: JsonConfig,
    pub log: LogConfig,
    pub search: SearchConfig,
    pub diff: DiffConfig,
    pub generic: GenericConfig,
    /// Routing of prose and source code to the learned text compressor (when one is loaded).
    pub text: TextConfig,
    /// Retrieval ids in markers: set by the proxy from `retrieval:` (not a YAML key here).
    #[serde(skip)]
    pub marker_ids: MarkerIds,
}

impl Default for CompressionConfig {
    fn default() -> Self {
        CompressionConfig {
            enabled: true,
            min_tokens: 300,
            min_savings_percent: 15,
            budget_ms: 250,
            protect_tools: Vec::new(),
            cache_entries: 2048,
            json: JsonConfig::default(),
            log: LogConfig::default(),
            search: SearchConfig::default(),
            diff: DiffConfig::default(),
            generic: GenericConfig::default(),
            text: TextConfig::default(),
            marker_ids: MarkerIds::default(),
        }
    }
}

/// JSON listings: arrays of similar objects become tables; above `max_rows` rows are selected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JsonConfig {
    pub enabled: bool,
    /// Rows kept per table (first, last, anomalies, task matches); the rest become a count.
    pub max_rows: usize,
    /// Rows that must be kept (errors, task matches) may push a table up to this many rows.
    pub max_rows_hard: usize,
    /// Arrays with fewer objects than this stay JSON (minified).
    pub min_table_rows: usize,
}

impl Default for JsonConfig {
    fn default() -> Self {
        JsonConfig {
            enabled: true,
            max_rows: 12,
            max_rows_hard: 60,
            min_table_rows: 4,
        }
    }
}

/// Logs: lines clustered by template; error-level lines always kept with context.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub enabled: bool,
    /// Lines kept before and after every error-level line.
    pub context_lines: usize,
    /// Templates seen at most this often are kept verbatim.
    pub rare_template_max: usize,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            enabled: true,
            context_lines: 2,
            rare_template_max: 2,
        }
    }
}

/// Search results (grep / rg): identical matches grouped, big files trimmed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SearchConfig {
    pub enabled: bool,
    /// Matches with identical text seen at least this often become one summary line.
    pub group_min: usize,
    /// Above this many matches in total, each file keeps only `per_file` matches.
    pub max_matches: usize,
    pub per_file: usize,
}

impl Default for SearchConfig {
    fn default() -> Self {
        SearchConfig {
            enabled: true,
            group_min: 4,
            max_matches: 40,
            per_file: 2,
        }
    }
}

/// Unified diffs: changed lines kept, long context runs trimmed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DiffConfig {
    pub enabled: bool,
    /// Unchanged lines kept next to each change.
    pub context_lines: usize,
}

impl Default for DiffConfig {
    fn default() -> Self {
        DiffConfig {
            enabled: true,
            context_lines: 1,
        }
    }
}

/// Anything else: runs of identical lines or blocks collapse to one copy and a count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GenericConfig {
    pub enabled: bool,
    /// A line or block repeated at least this many times in a row is collapsed.
    pub min_repeats: usize,
}

impl Default for GenericConfig {
    fn default() -> Self {
        GenericConfig {
            enabled: true,
            min_repeats: 3,
        }
    }
}
