//! Inference timings reported to whoever embeds the model (the proxy feeds its Prometheus
//! histogram from here). Owns the one process-wide observer slot; never decides what is
//! measured elsewhere or blocks inference on the observer.

use crate::Device;
use std::sync::OnceLock;
use std::time::Duration;

/// One finished model run.
#[derive(Debug, Clone, Copy)]
pub struct Inference {
    pub device: Device,
    pub elapsed: Duration,
    /// Real (unpadded) tokens in the batch.
    pub tokens: u64,
}

/// Receives every finished model run. Called on the inference thread: keep it cheap.
pub trait InferenceObserver: Send + Sync {
    fn observe(&self, run: &Inference);
}

static OBSERVER: OnceLock<Box<dyn InferenceObserver>> = OnceLock::new();

/// Installs the process's observer. The first call wins (one process, one metrics
/// registry); returns `false` when one was already installed.
pub fn set_inference_observer(observer: Box<dyn InferenceObserver>) -> bool {
    OBSERVER.set(observer).is_ok()
}

pub(crate) fn report(run: Inference) {
    if let Some(o) = OBSERVER.get() {
        o.observe(&run);
    }
}
