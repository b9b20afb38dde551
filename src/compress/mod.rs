//! The compression pipeline: walks an Anthropic or OpenAI request body, picks the blocks worth
//! compressing, routes each to a compressor by content, and splices the results back into the
//! original bytes. Everything outside a compressed string value stays byte-identical.
//!
//! Must never: change `system`, `tools`, assistant turns or unknown block types; inflate a block;
//! panic or fail a request (any failure means the original bytes go through).

pub mod cli;
mod config;
pub mod text;

pub use config::CompressionConfig;

use std::sync::Arc;
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
    pub tokens_before: usize,
    pub tokens_after: usize,
    pub duration: Duration,
    pub cached: bool,
}

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

/// Built once per config snapshot; shared by every request using that snapshot.
pub struct Pipeline {
    config: CompressionConfig,
    /// The learned compressor for prose and code, when the model is enabled and loaded.
    text: Option<Arc<dyn Compressor>>,
}

impl Pipeline {
    pub fn new(config: CompressionConfig, text: Option<Arc<dyn Compressor>>) -> Self {
        Pipeline { config, text }
    }

    pub fn config(&self) -> &CompressionConfig {
        &self.config
    }

    pub fn has_text_compressor(&self) -> bool {
        self.text.is_some()
    }
}

/// Per-request inputs to [`rewrite`].
pub struct Context<'a> {
    pub format: ApiFormat,
    pub pipeline: &'a Pipeline,
}

/// Rewrites a request body. Identity until the compressors land.
pub fn rewrite(body: &[u8], ctx: &Context<'_>) -> Rewritten {
    let _ = (body, ctx.format, ctx.pipeline.config());
    Rewritten::unchanged()
}
