//! The `compression:` section of the YAML config.

use super::text::TextConfig;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CompressionConfig {
    pub enabled: bool,
    /// Blocks with fewer tokens than this are left alone.
    pub min_tokens: usize,
    /// Per-request time budget; past it the request goes through untouched.
    pub budget_ms: u64,
    /// Results of these tools are never compressed.
    pub protect_tools: Vec<String>,
    /// The learned compressors for prose and code (see `compress::text`).
    pub text: TextConfig,
}

impl Default for CompressionConfig {
    fn default() -> Self {
        CompressionConfig {
            enabled: true,
            min_tokens: 300,
            budget_ms: 250,
            protect_tools: Vec::new(),
            text: TextConfig::default(),
        }
    }
}
