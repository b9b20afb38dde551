//! The originals store: every block that compression shortened is kept whole under a
//! content-derived id, so the omitted parts can be retrieved later (by the model through the
//! proxy-served `headroom_retrieve` tool, by `GET /v1/retrieve/{id}`, or by `headroom retrieve`).
//!
//! Must never: block or fail the request path on a write (`put` only queues), derive an id
//! from anything but the original's bytes (markers must stay byte-identical across turns), or
//! return content stored under a different id.

use async_trait::async_trait;
use std::sync::Arc;

/// One stored original.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Original {
    /// Content-derived handle, see [`original_id`].
    pub id: String,
    /// The block's text before compression.
    pub content: Arc<str>,
    /// The compressor that shortened it (a metric label, e.g. `log`, `code`).
    pub compressor: String,
}

/// Which part of an original a caller wants.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Selector {
    #[default]
    Whole,
    /// 1-based inclusive line range `A-B` (as the markers state them).
    Lines { first: usize, last: usize },
    /// Lines matching any of the words, with a little context.
    Query(String),
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend could not answer in time or at all; the caller treats it as a miss and
    /// counts it.
    #[error("originals store unavailable: {0}")]
    Unavailable(String),
}

/// A place originals live. Implementations: the local memory + disk tiers, and a shared
/// backend for team gateways.
#[async_trait]
pub trait OriginalsStore: Send + Sync {
    /// Queues `original` for storage. Never blocks on I/O, never fails the caller.
    fn put(&self, original: Original);
    /// The original stored under `id`, if any tier still holds it.
    async fn get(&self, id: &str) -> Result<Option<Original>, StoreError>;
}
