//! The `model:` section of the YAML config.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Where inference runs. `mps` is accepted as an alias of `coreml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Device {
    #[default]
    Auto,
    Cpu,
    Cuda,
    #[serde(alias = "mps")]
    Coreml,
}

impl Device {
    pub fn as_str(self) -> &'static str {
        match self {
            Device::Auto => "auto",
            Device::Cpu => "cpu",
            Device::Cuda => "cuda",
            Device::Coreml => "coreml",
        }
    }

    /// Parses the spellings users write in YAML or `HEADROOM_LLMLINGUA_DEVICE`.
    pub fn parse(s: &str) -> Option<Device> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Some(Device::Auto),
            "cpu" => Some(Device::Cpu),
            "cuda" | "gpu" => Some(Device::Cuda),
            "coreml" | "mps" => Some(Device::Coreml),
            _ => None,
        }
    }
}

/// What kind of model `model.path` holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    /// Mean-pooled sentence embedder (all-MiniLM-L6-v2 by default): query-aware unit selection.
    #[default]
    Embedder,
    /// LLMLingua-2 style token classifier: keep-probability per token.
    TokenClassifier,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    /// Run the learned compressor for prose and code blocks.
    pub enabled: bool,
    pub device: Device,
    pub kind: ModelKind,
    /// `model.onnx`; default: the generated MiniLM under `models/`.
    pub path: Option<PathBuf>,
    /// `tokenizer.json`; default: beside `path`.
    pub tokenizer: Option<PathBuf>,
    /// `libonnxruntime.so` / `.dylib`; default: `ORT_DYLIB_PATH`, then the setup script's directory.
    pub runtime: Option<PathBuf>,
    /// Intra-op threads for ONNX Runtime.
    pub threads: usize,
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            enabled: true,
            device: Device::Auto,
            kind: ModelKind::Embedder,
            path: None,
            tokenizer: None,
            runtime: None,
            threads: 1,
        }
    }
}
