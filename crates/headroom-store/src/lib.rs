//! The originals store: every block that compression shortened is kept whole under a
//! content-derived id, so the omitted parts can be retrieved later (by the model through the
//! proxy-served `headroom_retrieve` tool, by `GET /v1/retrieve/{id}`, or by `headroom retrieve`).
//!
//! Must never: block or fail the request path on a write (`put` only queues), derive an id
//! from anything but the original's bytes (markers must stay byte-identical across turns), or
//! return content stored under a different id.

mod disk;
mod local;
mod memory;
mod select;

pub use local::{LocalStore, StoreLimits};
pub use select::{select, Selected};

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// Length of an id in hex characters (48 bits: a collision among a million stored originals
/// has odds of about 1 in 500).
pub const ID_LEN: usize = 12;

/// The id of an original: the first 12 lowercase hex characters of the SHA-256 of its bytes.
/// Deterministic and content-only, so a block compressed on any turn, by any process, carries
/// the same id.
pub fn original_id(content: &str) -> String {
    let digest = Sha256::digest(content.as_bytes());
    let mut out = String::with_capacity(ID_LEN);
    for b in &digest[..ID_LEN / 2] {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    out
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Whether `s` has the shape of an id (12 lowercase hex characters); anything else is never
/// looked up (and never becomes a file name).
pub fn is_id(s: &str) -> bool {
    s.len() == ID_LEN && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

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

impl Selector {
    /// Parses `A-B` (also `A–B` as the markers print it, or a single line `A`): 1-based,
    /// inclusive, `A <= B`.
    pub fn parse_lines(spec: &str) -> Result<Selector, String> {
        let spec = spec.trim();
        let (a, b) = match spec.split_once(['-', '\u{2013}']) {
            Some((a, b)) => (a.trim(), b.trim()),
            None => (spec, spec),
        };
        let num = |s: &str| {
            s.parse::<usize>().ok().filter(|n| *n >= 1).ok_or_else(|| {
                format!("lines={spec:?}: expected A-B with 1 <= A <= B (e.g. lines=212-388)")
            })
        };
        let (first, last) = (num(a)?, num(b)?);
        if first > last {
            return Err(format!(
                "lines={spec:?}: the first line ({first}) is after the last ({last})"
            ));
        }
        Ok(Selector::Lines { first, last })
    }
}

/// What a store holds right now, for gauges and `/stats`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    pub memory_bytes: u64,
    pub memory_entries: u64,
    pub disk_bytes: u64,
    pub disk_entries: u64,
    /// Writes dropped because the write queue was full (the original stays in memory only).
    pub dropped_writes: u64,
    /// Disk writes that failed (full disk, permissions); the original stays in memory only.
    pub failed_writes: u64,
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
    /// Waits (briefly) until queued writes are stored: at shutdown, so none is lost.
    fn flush(&self) {}
    /// What the store holds, for metrics. Backends that cannot tell report zeros.
    fn stats(&self) -> StoreStats {
        StoreStats::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_twelve_hex_chars_of_the_content_only() {
        let id = original_id("hello\n");
        assert_eq!(id.len(), ID_LEN);
        assert!(is_id(&id));
        // SHA-256("hello\n") = 5891b5b522d5df08…
        assert_eq!(id, "5891b5b522d5");
        assert_eq!(original_id("hello\n"), id);
        assert_ne!(original_id("hello"), id);
        assert!(!is_id("../../etc/pa"));
        assert!(!is_id("5891B5B522D5"));
    }

    #[test]
    fn line_ranges_parse_both_dashes_and_reject_nonsense() {
        assert_eq!(
            Selector::parse_lines("212-388"),
            Ok(Selector::Lines {
                first: 212,
                last: 388
            })
        );
        assert_eq!(
            Selector::parse_lines("212\u{2013}388"),
            Ok(Selector::Lines {
                first: 212,
                last: 388
            })
        );
        assert_eq!(
            Selector::parse_lines("7"),
            Ok(Selector::Lines { first: 7, last: 7 })
        );
        for bad in ["", "0-3", "5-2", "a-b", "-3", "3-", "1-2-3"] {
            assert!(Selector::parse_lines(bad).is_err(), "{bad}");
        }
    }
}
