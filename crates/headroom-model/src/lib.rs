//! The learned compressor's runtime: ONNX Runtime sessions (ort, load-dynamic), tokenizers,
//! device choice and model file discovery. Owns everything that touches `libonnxruntime`.
//! Never runs on Pingora's async worker threads: inference happens on the caller's (blocking)
//! thread.
//!
//! Knows nothing of requests or compressors: callers turn an [`Embedder`] or a
//! [`TokenClassifier`] into whatever they need, and learn inference timings through an
//! [`InferenceObserver`].
//!
//! Entry points: [`load_embedder`] and [`load_token_classifier`] open the configured model;
//! [`locate_runtime`] and [`locate_model_files`] tell `headroom doctor` what would be loaded.

mod batch;
mod classifier;
mod config;
mod embedder;
mod error;
mod locate;
mod observe;
mod runtime;

pub use classifier::{word_spans, TokenClassifier, WordScore, MAX_WINDOW_TOKENS};
pub use config::{Device, ModelConfig, ModelKind};
pub use embedder::{Embedder, Embedding};
pub use error::{ModelError, SETUP_COMMAND};
pub use locate::{
    locate_model_files, locate_runtime, search_roots, DEFAULT_MODEL_DIR, RUNTIME_DIR,
};
pub use observe::{set_inference_observer, Inference, InferenceObserver};

use batch::{load_tokenizer, InputNames, SharedSession};
use std::path::PathBuf;

/// Longest sequence given to the embedder (all-MiniLM-L6-v2 was trained with 256).
const EMBEDDER_MAX_TOKENS: usize = 256;

/// Where a model came from and what it runs on.
pub struct LoadInfo {
    pub device: Device,
    pub runtime: PathBuf,
    pub model: PathBuf,
    pub tokenizer: PathBuf,
    pub fallbacks: Vec<String>,
}

fn open(
    cfg: &ModelConfig,
    expected: &'static str,
) -> Result<(SharedSession, tokenizers::Tokenizer, LoadInfo), ModelError> {
    let (model, tokenizer_path) = locate_model_files(cfg)?;
    let (env, runtime) = runtime::environment(cfg)?;
    let built = runtime::build_session(&env, &model, cfg.device, cfg.threads)?;
    let inputs = InputNames::check(&built.session, &model, expected)?;
    let tokenizer = load_tokenizer(&tokenizer_path)?;
    let info = LoadInfo {
        device: built.device,
        runtime,
        model,
        tokenizer: tokenizer_path,
        fallbacks: built.fallbacks,
    };
    Ok((
        SharedSession::new(built.session, inputs, info.device),
        tokenizer,
        info,
    ))
}

/// Loads `model.path` as a sentence embedder (regardless of `model.kind`).
pub fn load_embedder(cfg: &ModelConfig) -> Result<(Embedder, LoadInfo), ModelError> {
    let (session, tokenizer, info) = open(cfg, "sentence embedder")?;
    Ok((Embedder::new(session, tokenizer, EMBEDDER_MAX_TOKENS), info))
}

/// Loads `model.path` as an LLMLingua-2 style token classifier (regardless of `model.kind`).
pub fn load_token_classifier(cfg: &ModelConfig) -> Result<(TokenClassifier, LoadInfo), ModelError> {
    let (session, tokenizer, info) = open(cfg, "token classifier")?;
    Ok((TokenClassifier::new(session, tokenizer), info))
}
