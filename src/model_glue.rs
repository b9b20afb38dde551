//! Connects the model (when enabled and available) to the compression pipeline.
//!
//! Policy: what the user asked for explicitly (a device other than `auto`, a model or runtime
//! path) must load or the config is rejected, with the reason. Under the defaults, a machine
//! without the runtime or model files still runs the proxy: prose and code blocks are left as
//! they are, and a warning names what is missing and the command that fixes it.

use crate::compress::Compressor;
use crate::config::Config;
use crate::model::{Device, ModelError};
use crate::state::{BuildError, Snapshot};
use std::sync::Arc;

/// The learned compressor for prose and code, and the device it runs on.
#[derive(Clone)]
pub struct TextModel {
    pub compressor: Arc<dyn Compressor>,
    pub device: Device,
}

/// The learned text compressor for this config, reusing the previous snapshot's when the model
/// settings did not change.
pub fn text_model(
    config: &Config,
    previous: Option<&Snapshot>,
) -> Result<Option<TextModel>, BuildError> {
    if !config.model.enabled {
        return Ok(None);
    }
    if let Some(prev) = previous {
        if prev.config.model == config.model
            && prev.config.compression.text == config.compression.text
        {
            return Ok(prev.text.clone());
        }
    }
    match crate::model::load_with(&config.model, &config.compression.text) {
        Ok(loaded) => {
            tracing::info!(
                device = loaded.device.as_str(),
                model = %loaded.model.display(),
                runtime = %loaded.runtime.display(),
                "model loaded"
            );
            Ok(Some(TextModel {
                compressor: loaded.compressor,
                device: loaded.device,
            }))
        }
        Err(e) if explicitly_requested(config, &e) => Err(BuildError::Model(e.to_string())),
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
