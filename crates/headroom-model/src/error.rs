//! Errors of the learned compressor's runtime, written for the person at the keyboard: each says
//! what was looked for, where, and the command that fixes it.

use std::path::PathBuf;

/// The command that puts the runtime library and the default model in place.
pub const SETUP_COMMAND: &str = "scripts/setup-model.sh";

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error(
        "ONNX Runtime library not found. Looked at:\n{}\nFix: run `{SETUP_COMMAND}` in the headroom checkout, \
         or `pip install onnxruntime` and set ORT_DYLIB_PATH (or `model.runtime`) to its \
         onnxruntime/capi/libonnxruntime.* file",
        bullet_list(.looked)
    )]
    RuntimeNotFound { looked: Vec<String> },

    #[error("could not load ONNX Runtime from {path}: {message}")]
    RuntimeLoad { path: PathBuf, message: String },

    #[error(
        "{what} not found. Looked at:\n{}\nFix: run `{SETUP_COMMAND}` (it builds models/minilm/), or set `model.path` \
         and `model.tokenizer`",
        bullet_list(.looked)
    )]
    ModelFilesNotFound {
        what: &'static str,
        looked: Vec<String>,
    },

    #[error("device `{device}` is not available: {reason}")]
    DeviceUnavailable {
        device: &'static str,
        reason: String,
    },

    #[error("could not load the model {path}: {message}")]
    Session { path: PathBuf, message: String },

    #[error("model {path} does not look like a {expected}: {message}")]
    ModelShape {
        path: PathBuf,
        expected: &'static str,
        message: String,
    },

    #[error("could not load the tokenizer {path}: {message}")]
    Tokenizer { path: PathBuf, message: String },

    #[error("tokenizing failed: {0}")]
    Encode(String),

    #[error("inference failed: {0}")]
    Inference(String),
}

fn bullet_list(items: &[String]) -> String {
    items
        .iter()
        .map(|i| format!("  - {i}"))
        .collect::<Vec<_>>()
        .join("\n")
}
