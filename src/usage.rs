//! Token usage as providers report it, and the usage of streams still open (so a shutdown that
//! cuts them at the end of its grace period still records what they used).
//!
//! Must never: hold a lock across I/O; keep a finished stream's record alive.

use serde_json::Value;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// Token usage as the provider reports it (also the shape totals are kept in).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Usage {
    pub input: u64,
    pub output: u64,
    pub cache_read: u64,
    pub cache_creation: u64,
}

impl Usage {
    pub fn is_empty(&self) -> bool {
        *self == Usage::default()
    }

    /// Merges a usage object (Anthropic or OpenAI field names). Later values replace earlier
    /// ones field by field: `message_delta` carries cumulative counts.
    pub fn merge(&mut self, u: &Value) {
        let get = |k: &str| u.get(k).and_then(Value::as_u64);
        if let Some(v) = get("input_tokens").or_else(|| get("prompt_tokens")) {
            self.input = v;
        }
        if let Some(v) = get("output_tokens").or_else(|| get("completion_tokens")) {
            self.output = v;
        }
        if let Some(v) = get("cache_read_input_tokens").or_else(|| {
            u.get("prompt_tokens_details")
                .and_then(|d| d.get("cached_tokens"))
                .and_then(Value::as_u64)
        }) {
            self.cache_read = v;
        }
        if let Some(v) = get("cache_creation_input_tokens") {
            self.cache_creation = v;
        }
    }
}

/// The usage seen so far on one open response.
#[derive(Debug, Default)]
pub struct StreamUsage {
    usage: Mutex<Usage>,
    finished: AtomicBool,
}

impl StreamUsage {
    pub fn set(&self, u: Usage) {
        if let Ok(mut g) = self.usage.lock() {
            *g = u;
        }
    }

    /// The request was recorded the normal way: a cut must not count it again.
    pub fn finish(&self) {
        self.finished.store(true, Ordering::Release);
    }
}

/// Responses with usage that have not finished yet.
#[derive(Debug, Default)]
pub struct OpenStreams {
    /// Strong references: a request dropped without its logging phase (cut at shutdown) must
    /// still be found here.
    slots: Mutex<Vec<Arc<StreamUsage>>>,
}

impl OpenStreams {
    /// Starts tracking a response (called once, when it first reports usage).
    pub fn open(&self) -> Arc<StreamUsage> {
        let s = Arc::new(StreamUsage::default());
        if let Ok(mut slots) = self.slots.lock() {
            slots.retain(|o| !o.finished.load(Ordering::Acquire));
            slots.push(s.clone());
        }
        s
    }

    /// Takes the usage of every response still open, marking each finished.
    pub fn cut(&self) -> Vec<Usage> {
        let Ok(slots) = self.slots.lock() else {
            return Vec::new();
        };
        slots
            .iter()
            .filter(|s| !s.finished.swap(true, Ordering::AcqRel))
            .filter_map(|s| s.usage.lock().ok().map(|u| *u))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cut_takes_open_streams_once_and_skips_finished_ones() {
        let open = OpenStreams::default();
        let a = open.open();
        let b = open.open();
        a.set(Usage {
            input: 10,
            output: 3,
            ..Usage::default()
        });
        b.set(Usage {
            input: 7,
            ..Usage::default()
        });
        b.finish();
        // Dropped without finishing (its task was cut): still counted.
        let c = open.open();
        c.set(Usage {
            input: 1,
            ..Usage::default()
        });
        drop(c);
        let cut = open.cut();
        assert_eq!(
            cut,
            vec![
                Usage {
                    input: 10,
                    output: 3,
                    ..Usage::default()
                },
                Usage {
                    input: 1,
                    ..Usage::default()
                }
            ]
        );
        assert!(open.cut().is_empty(), "counted twice");
    }
}
