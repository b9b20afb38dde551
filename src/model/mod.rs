//! The learned compressor's runtime: ONNX Runtime sessions (ort, load-dynamic), tokenizers,
//! device choice and model file discovery. Owns everything that touches `libonnxruntime`.
//! Never runs on Pingora's async worker threads: inference happens on the caller's (blocking)
//! thread.
//!
//! Entry points: [`load`] builds the compressor the pipeline uses for prose and code;
//! [`locate_runtime`] and [`locate_model_files`] tell `headroom doctor` what would be loaded.

mod batch;
mod classifier;
mod config;
mod embedder;
mod error;
mod locate;
mod runtime;

pub use classifier::{word_spans, TokenClassifier, WordScore, MAX_WINDOW_TOKENS};
pub use config::{Device, ModelConfig, ModelKind};
pub use embedder::{cosine, Embedder, Embedding};
pub use error::{ModelError, SETUP_COMMAND};
pub use locate::{
    locate_model_files, locate_runtime, search_roots, DEFAULT_MODEL_DIR, RUNTIME_DIR,
};

use crate::compress::text::{RelevanceCompressor, TextConfig, WordCompressor};
use crate::compress::Compressor;
use batch::{load_tokenizer, InputNames, SharedSession};
use std::path::PathBuf;
use std::sync::Arc;

/// Longest sequence given to the embedder (all-MiniLM-L6-v2 was trained with 256).
const EMBEDDER_MAX_TOKENS: usize = 256;

/// A loaded model, ready to compress.
pub struct Loaded {
    pub compressor: Arc<dyn Compressor>,
    /// The device actually in use (never `Auto`).
    pub device: Device,
    pub kind: ModelKind,
    pub runtime: PathBuf,
    pub model: PathBuf,
    pub tokenizer: PathBuf,
    /// Accelerators `auto` tried and could not use, with the reason.
    pub fallbacks: Vec<String>,
}

/// Loads the configured model with the default `compression.text` settings.
pub fn load(cfg: &ModelConfig) -> Result<Loaded, ModelError> {
    load_with(cfg, &TextConfig::default())
}

/// Loads the configured model and builds its compressor with `text` settings
/// (`compression.text`). Call once per config snapshot whose `model` section changed.
pub fn load_with(cfg: &ModelConfig, text: &TextConfig) -> Result<Loaded, ModelError> {
    match cfg.kind {
        ModelKind::Embedder => {
            let (embedder, info) = load_embedder(cfg)?;
            Ok(info.into_loaded(
                Arc::new(RelevanceCompressor::new(Arc::new(embedder), text.clone())),
                ModelKind::Embedder,
            ))
        }
        ModelKind::TokenClassifier => {
            let (classifier, info) = load_token_classifier(cfg)?;
            Ok(info.into_loaded(
                Arc::new(WordCompressor::new(Arc::new(classifier), text.clone())),
                ModelKind::TokenClassifier,
            ))
        }
    }
}

/// Where a model came from and what it runs on.
pub struct LoadInfo {
    pub device: Device,
    pub runtime: PathBuf,
    pub model: PathBuf,
    pub tokenizer: PathBuf,
    pub fallbacks: Vec<String>,
}

impl LoadInfo {
    fn into_loaded(self, compressor: Arc<dyn Compressor>, kind: ModelKind) -> Loaded {
        Loaded {
            compressor,
            device: self.device,
            kind,
            runtime: self.runtime,
            model: self.model,
            tokenizer: self.tokenizer,
            fallbacks: self.fallbacks,
        }
    }
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
