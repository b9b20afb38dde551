//! Connects the model (when enabled and available) to the compression pipeline.
//!
//! Policy: what the user asked for explicitly (a device other than `auto`, a model or runtime
//! path) must load or the config is rejected, with the reason. Under the defaults, a machine
//! without the runtime or model files still runs the proxy: prose and code blocks are left as
//! they are, and a warning names what is missing and the command that fixes it.
//!
//! Also the only place that adapts `headroom-model`'s types to the traits the learned
//! compressors of `headroom-compress` need, and that routes inference timings into the
//! proxy's metrics. Must never: make either library crate depend on the other.

use crate::compress::text::{
    Embedding, ModelFailure, RelevanceCompressor, SentenceEmbedder, TextConfig, WordCompressor,
    WordScore, WordScorer,
};
use crate::compress::Compressor;
use crate::config::Config;
use crate::model::{
    Device, Embedder, Inference, InferenceObserver, LoadInfo, ModelConfig, ModelError, ModelKind,
    TokenClassifier,
};
use std::path::PathBuf;
use std::sync::Arc;

/// The learned compressor for prose and code, and the device it runs on.
#[derive(Clone)]
pub struct TextModel {
    pub compressor: Arc<dyn Compressor>,
    pub device: Device,
}

/// Loads the learned text compressor for this config. `Err` (with the reason) when the config
/// asked for it explicitly and it cannot be had; `Ok(None)` when it is off, or unavailable under
/// the defaults (logged). Reusing an already loaded model is the snapshot's decision.
pub fn text_model(config: &Config) -> Result<Option<TextModel>, String> {
    if !config.model.enabled {
        return Ok(None);
    }
    match load_with(&config.model, &config.compression.text) {
        Ok(loaded) => {
            tracing::info!(
                device = loaded.device.as_str(),
                model = %loaded.model.display(),
                runtime = %loaded.runtime.display(),
                "model loaded"
            );
            // Building the session touched much of ONNX Runtime's library and the binary's
            // start-up code once; let the kernel have those pages back (README "Measured").
            let exe = std::env::current_exe().unwrap_or_default();
            let released = crate::cold_pages::release(&[loaded.runtime.as_path(), exe.as_path()]);
            tracing::debug!(mapped_bytes = released, "released start-up pages");
            Ok(Some(TextModel {
                compressor: loaded.compressor,
                device: loaded.device,
            }))
        }
        Err(e) if explicitly_requested(config, &e) => Err(e.to_string()),
        Err(e) => {
            tracing::warn!(
                error = %e,
                "model unavailable: prose and code blocks pass through uncompressed (set `model.enabled: false` to silence this)"
            );
            Ok(None)
        }
    }
}

fn explicitly_requested(config: &Config, e: &ModelError) -> bool {
    matches!(e, ModelError::DeviceUnavailable { .. }) || model_required(&config.model)
}

/// Whether the config asks for a particular model setup (then failing to load it is an error
/// rather than a degraded start).
pub fn model_required(m: &crate::model::ModelConfig) -> bool {
    m.enabled
        && (m.device != Device::Auto
            || m.path.is_some()
            || m.runtime.is_some()
            || m.tokenizer.is_some())
}

/// A loaded model wrapped as the compressor the pipeline uses for prose and code.
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
    install_metrics_observer();
    let (compressor, info): (Arc<dyn Compressor>, LoadInfo) = match cfg.kind {
        ModelKind::Embedder => {
            let (embedder, info) = crate::model::load_embedder(cfg)?;
            (Arc::new(relevance_compressor(embedder, text.clone())), info)
        }
        ModelKind::TokenClassifier => {
            let (classifier, info) = crate::model::load_token_classifier(cfg)?;
            (Arc::new(word_compressor(classifier, text.clone())), info)
        }
    };
    Ok(Loaded {
        compressor,
        device: info.device,
        kind: cfg.kind,
        runtime: info.runtime,
        model: info.model,
        tokenizer: info.tokenizer,
        fallbacks: info.fallbacks,
    })
}

/// The relevance compressor (model kind `embedder`) over a loaded sentence embedder.
pub fn relevance_compressor(embedder: Embedder, config: TextConfig) -> RelevanceCompressor {
    RelevanceCompressor::new(Arc::new(ModelEmbedder(embedder)), config)
}

/// The word compressor (model kind `token_classifier`) over a loaded token classifier.
pub fn word_compressor(classifier: TokenClassifier, config: TextConfig) -> WordCompressor {
    WordCompressor::new(Arc::new(ModelWordScorer(classifier)), config)
}

/// `headroom-model`'s embedder as the compressors' [`SentenceEmbedder`].
pub struct ModelEmbedder(pub Embedder);

impl SentenceEmbedder for ModelEmbedder {
    fn max_tokens(&self) -> usize {
        self.0.max_tokens()
    }
    fn count_tokens(&self, text: &str) -> Result<usize, ModelFailure> {
        self.0.count_tokens(text).map_err(failure)
    }
    fn embed_limited(
        &self,
        texts: &[&str],
        max_tokens: usize,
    ) -> Result<Vec<Embedding>, ModelFailure> {
        self.0.embed_limited(texts, max_tokens).map_err(failure)
    }
}

/// `headroom-model`'s token classifier as the compressors' [`WordScorer`].
pub struct ModelWordScorer(pub TokenClassifier);

impl WordScorer for ModelWordScorer {
    fn score_words(&self, text: &str) -> Result<Vec<WordScore>, ModelFailure> {
        let scores = self.0.score_words(text).map_err(failure)?;
        Ok(scores
            .into_iter()
            .map(|w| WordScore {
                start: w.start,
                end: w.end,
                keep: w.keep,
            })
            .collect())
    }
}

fn failure(e: ModelError) -> ModelFailure {
    ModelFailure(e.to_string())
}

/// Feeds `headroom_model_inference_seconds` and `headroom_model_tokens_scored_total`.
struct MetricsObserver;

impl InferenceObserver for MetricsObserver {
    fn observe(&self, run: &Inference) {
        let device = run.device.as_str();
        crate::metrics::MODEL_INFERENCE
            .with_label_values(&[device])
            .observe(run.elapsed.as_secs_f64());
        crate::metrics::MODEL_TOKENS
            .with_label_values(&[device])
            .inc_by(run.tokens);
    }
}

/// Routes model timings into the proxy's metrics (once per process; later calls are no-ops).
pub fn install_metrics_observer() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        crate::model::set_inference_observer(Box::new(MetricsObserver));
    });
}
