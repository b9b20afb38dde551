//! The compression pipeline: walks an Anthropic or OpenAI request body, picks the blocks worth
//! compressing, routes each to a compressor by content, and splices the results back into the
//! original bytes. Everything outside a compressed string value stays byte-identical.
//!
//! Must never: change `system`, `tools`, assistant turns or unknown block types; inflate a block;
//! panic or fail a request (any failure means the original bytes go through).

mod cache;
mod cl100k;
pub mod code;
mod config;
pub mod detect;
pub mod diagnostics;
pub mod diff;
pub mod generic;
pub mod git;
pub mod html;
pub mod json;
pub mod jsonmap;
pub mod jsontree;
pub mod lines;
pub mod log;
pub mod markdown;
pub mod marker;
pub mod marker_ids;
mod pipeline;
pub mod runs;
pub mod search;
pub mod shared;
mod table;
pub mod tabular;
pub mod template;
pub mod text;
pub mod tokens;
mod walk;

pub use text::TextConfig;

pub use config::{
    CompressionConfig, DiffConfig, GenericConfig, JsonConfig, LogConfig, SearchConfig,
};
/// The stored form of a compressed block's original (see `headroom-store`).
pub use headroom_store::Original;
pub use marker_ids::MarkerIds;
pub use pipeline::{BlockOutcome, Pipeline};
pub use shared::SharedCache;

use std::time::Duration;

/// Which wire format the body is in (decided by the route).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiFormat {
    Anthropic,
    OpenAi,
}

impl ApiFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            ApiFormat::Anthropic => "anthropic",
            ApiFormat::OpenAi => "openai",
        }
    }
}

/// One block's text handed to a compressor, with the task text that led to it.
#[derive(Debug, Clone, Copy)]
pub struct BlockInput<'a> {
    pub text: &'a str,
    /// The user text that led to this block (the nearest preceding user message with text).
    pub task: &'a str,
}

/// A compressor turns one block's text into a shorter text, or declines (`Ok(None)`).
/// Implementations are pure functions of their input and their configuration.
pub trait Compressor: Send + Sync {
    /// Stable name, used as a metric label and in `headroom compress` summaries.
    fn name(&self) -> &'static str;
    fn compress(&self, input: &BlockInput<'_>) -> Result<Option<String>, CompressError>;
}

#[derive(Debug, thiserror::Error)]
pub enum CompressError {
    #[error("compressor {compressor} failed: {message}")]
    Failed {
        compressor: &'static str,
        message: String,
    },
    #[error("time budget exceeded")]
    Budget,
}

/// What happened to one block.
#[derive(Debug, Clone)]
pub struct BlockReport {
    /// Content kind detected (`json`, `log`, `search`, `diff`, `code`, `prose`, `text`).
    pub kind: &'static str,
    pub compressor: &'static str,
    /// cl100k token counts: estimated (within about ±25 %) when the result is under half the
    /// original, or the block is over 64 KB and the estimated saving clears
    /// `min_savings_percent` by 15 points; exact otherwise (exact BPE counting is too slow to
    /// run on every big block).
    pub tokens_before: usize,
    pub tokens_after: usize,
    /// Whether the block was compressed, and if not why not.
    pub outcome: Outcome,
    pub duration: Duration,
    pub cached: bool,
    /// Where the block sits, e.g. `messages[3].content[0].content (tool_result)`.
    pub location: String,
}

impl BlockReport {
    /// Whether the block was replaced (otherwise it was kept: declined or nothing gained).
    pub fn changed(&self) -> bool {
        self.tokens_after < self.tokens_before
    }
}

/// What happened to one block, as a bounded label set for metrics and stats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    Compressed,
    /// Below `compression.min_tokens`: never looked at (counted in [`Rewritten::small_blocks`]).
    UnchangedSmall,
    /// A compressor ran but saved less than `compression.min_savings_percent`.
    UnchangedNoGain,
    /// No compressor handles the detected content type.
    UnchangedUnknownFormat,
}

impl Outcome {
    pub const ALL: [Outcome; 4] = [
        Outcome::Compressed,
        Outcome::UnchangedSmall,
        Outcome::UnchangedNoGain,
        Outcome::UnchangedUnknownFormat,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Compressed => "compressed",
            Outcome::UnchangedSmall => "unchanged-small",
            Outcome::UnchangedNoGain => "unchanged-no-gain",
            Outcome::UnchangedUnknownFormat => "unchanged-unknown-format",
        }
    }
}

/// Every content-type label a [`BlockReport::kind`] can carry.
pub const CONTENT_TYPES: [&str; 13] = [
    "json",
    "diff",
    "search",
    "log",
    "code",
    "prose",
    "text",
    "diagnostics",
    "git_log",
    "git_show",
    "html",
    "markdown",
    "table",
];

/// Why a request (or block) went through untouched although compression was attempted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureReason {
    NotJson,
    Panic,
    Budget,
    Error,
}

impl FailureReason {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureReason::NotJson => "not_json",
            FailureReason::Panic => "panic",
            FailureReason::Budget => "budget",
            FailureReason::Error => "error",
        }
    }
}

/// The result of [`rewrite`]. `body == None` means "send the client's bytes unchanged".
#[derive(Debug, Default)]
pub struct Rewritten {
    pub body: Option<Vec<u8>>,
    pub blocks: Vec<BlockReport>,
    pub failures: Vec<FailureReason>,
    /// Byte spans of the input (JSON string values, quotes included) that were replaced, in order.
    pub replaced: Vec<std::ops::Range<usize>>,
    /// Blocks below `compression.min_tokens`, passed through without a look.
    pub small_blocks: usize,
    /// With `marker_ids` on: the original of every compressed block whose markers name it, in
    /// body order (the proxy stores them for retrieval).
    pub originals: Vec<Original>,
}

impl Rewritten {
    pub fn unchanged() -> Self {
        Rewritten::default()
    }
    pub fn tokens_before(&self) -> usize {
        self.blocks.iter().map(|b| b.tokens_before).sum()
    }
    pub fn tokens_after(&self) -> usize {
        self.blocks.iter().map(|b| b.tokens_after).sum()
    }
}

/// Per-request inputs to [`rewrite`].
pub struct Context<'a> {
    pub format: ApiFormat,
    pub pipeline: &'a Pipeline,
}

/// Rewrites a request body: every compressible block is replaced by its compressed form when
/// that is smaller; all other bytes are copied unchanged. Never panics; bounded by
/// `compression.budget_ms` (blocks not started before the deadline stay as they are, except
/// those whose result is already cached).
pub fn rewrite(body: &[u8], ctx: &Context<'_>) -> Rewritten {
    ctx.pipeline.rewrite(body, ctx.format)
}
