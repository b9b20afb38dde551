//! Shared set-up for the model tests: they need `scripts/setup-model.sh` to have run. Missing
//! files fail the test under CI (env `CI` set) and skip it, loudly, elsewhere.
#![allow(dead_code)]

use headroom_model::{locate_model_files, locate_runtime, Device, ModelConfig, ModelKind};
use std::path::PathBuf;

pub fn fixture(name: &str) -> PathBuf {
    crate::checkout().join("tests/fixtures/model").join(name)
}

/// The default MiniLM on the CPU with one thread.
pub fn minilm_cpu() -> ModelConfig {
    ModelConfig {
        device: Device::Cpu,
        threads: 1,
        ..ModelConfig::default()
    }
}

/// The generated tiny LLMLingua-2-format classifier.
pub fn tiny_classifier(device: Device) -> ModelConfig {
    let dir = fixture("tiny_classifier");
    ModelConfig {
        device,
        kind: ModelKind::TokenClassifier,
        path: Some(dir.join("model.onnx")),
        tokenizer: Some(dir.join("tokenizer.json")),
        threads: 1,
        ..ModelConfig::default()
    }
}

/// True when the runtime and `cfg`'s model files exist. Otherwise: panic under CI, or print
/// why the test is skipped and return false.
pub fn ready(cfg: &ModelConfig) -> bool {
    let problem = match (locate_runtime(cfg), locate_model_files(cfg)) {
        (Ok(_), Ok(_)) => return true,
        (Err(e), _) | (_, Err(e)) => e.to_string(),
    };
    let msg = format!("model test needs `scripts/setup-model.sh` to have run: {problem}");
    if std::env::var_os("CI").is_some() {
        panic!("{msg}");
    }
    eprintln!("SKIPPED: {msg}");
    false
}
