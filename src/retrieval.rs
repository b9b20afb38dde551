//! Retrieval of stored originals, the same way for every caller (the `/v1/retrieve` endpoint,
//! the proxy-served `headroom_retrieve` tool, the `headroom retrieve` CLI): opening the store,
//! looking an id up, slicing it, counting it.
//!
//! Must never: log an original's content, look up anything but a well-formed id, or fail the
//! caller when the store is unavailable (that is a miss, counted).

use crate::compress::tokens;
use crate::config::Config;
use crate::store::{select, LocalStore, OriginalsStore, Selector, StoreError, StoreStats};
use std::sync::Arc;

/// Who asked for an original (a bounded metric label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Endpoint,
    Tool,
    Cli,
}

impl Source {
    pub const ALL: [Source; 3] = [Source::Endpoint, Source::Tool, Source::Cli];

    pub fn as_str(self) -> &'static str {
        match self {
            Source::Endpoint => "endpoint",
            Source::Tool => "tool",
            Source::Cli => "cli",
        }
    }
}

/// The store this config asks for, opened even when retrieval is off (it then stays empty and
/// unserved), so a reload that turns retrieval on has somewhere to keep originals. Its disk tier
/// lives in `retrieval.path`, else `originals/` beside the stats file (memory only when neither
/// is known; the directory is created on the first write).
pub fn open_store(config: &Config) -> Arc<dyn OriginalsStore> {
    let dir = originals_dir(config);
    if dir.is_none() {
        tracing::warn!("no state directory (HOME unset): originals are kept in memory only");
    }
    Arc::new(LocalStore::open(dir, &config.retrieval.limits()))
}

/// Where this config keeps originals on disk: `retrieval.path`, else `originals/` beside the
/// stats file; `None` when neither is known.
pub fn originals_dir(config: &Config) -> Option<std::path::PathBuf> {
    let stats = config
        .stats
        .path
        .clone()
        .or_else(crate::stats::default_path);
    config.retrieval.dir(stats.as_deref())
}

/// Counts one retrieval: `bytes` of content handed back on a hit.
pub fn record(source: Source, hit: bool, bytes: usize) {
    let result = if hit { "hit" } else { "miss" };
    crate::metrics::RETRIEVALS
        .with_label_values(&[source.as_str(), result])
        .inc();
    if hit {
        crate::metrics::RETRIEVAL_BYTES.inc_by(bytes as u64);
    }
}

/// A retrieved original (or the part of it a selector picked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub id: String,
    pub content: String,
    /// cl100k tokens of `content`.
    pub tokens: usize,
    pub compressor: String,
    /// Lines returned, and lines the original has.
    pub lines: usize,
    pub total_lines: usize,
    /// For a query: whether the answer was cut at the size bound.
    pub truncated: bool,
}

impl Fetched {
    /// The endpoint's answer: `{"id","content","tokens","compressor",…}`.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "id": self.id,
            "content": self.content,
            "tokens": self.tokens,
            "compressor": self.compressor,
            "lines": self.lines,
            "total_lines": self.total_lines,
            "truncated": self.truncated,
        }))
        .unwrap_or_default()
    }
}

/// Looks `id` up and slices it; counts the lookup under `source`. A store that cannot answer
/// is a miss.
pub async fn fetch(
    store: &dyn OriginalsStore,
    id: &str,
    selector: &Selector,
    source: Source,
) -> Option<Fetched> {
    let found = match store.get(id).await {
        Ok(found) => found,
        Err(StoreError::Unavailable(why)) => {
            tracing::warn!(%why, "originals store unavailable: counted as a miss");
            None
        }
    };
    let fetched = found.map(|o| {
        let part = select(&o.content, selector);
        Fetched {
            id: o.id,
            tokens: tokens::count(&part.content),
            content: part.content,
            compressor: o.compressor,
            lines: part.lines,
            total_lines: part.total_lines,
            truncated: part.truncated,
        }
    });
    record(
        source,
        fetched.is_some(),
        fetched.as_ref().map_or(0, |f| f.content.len()),
    );
    fetched
}

/// Parses the endpoint's query string: `lines=A-B` or `query=WORDS` (not both), or nothing.
pub fn parse_selector(query: &str) -> Result<Selector, String> {
    let mut selector = Selector::Whole;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = crate::stats::query::percent_decode(value)
            .ok_or_else(|| format!("`{key}`: the value is not valid percent-encoded UTF-8"))?;
        let next = match key {
            "lines" => Selector::parse_lines(&value)?,
            "query" if value.trim().is_empty() => {
                return Err("query=: give one or more words to look for".into())
            }
            "query" => Selector::Query(value),
            _ => continue,
        };
        if selector != Selector::Whole {
            return Err("give `lines=A-B` or `query=WORDS`, not both".into());
        }
        selector = next;
    }
    Ok(selector)
}

/// Store figures and retrieval counts for `/stats`; refreshes the store gauges of `/metrics`.
pub fn stats_json(store: &dyn OriginalsStore, enabled: bool) -> serde_json::Value {
    let s = store.stats();
    refresh_gauges(&s);
    let count = |source: Source, result: &str| {
        crate::metrics::RETRIEVALS
            .with_label_values(&[source.as_str(), result])
            .get()
    };
    let tokens = |kind: &str| {
        crate::metrics::RETRIEVAL_USAGE_TOKENS
            .with_label_values(&[kind])
            .get()
    };
    let by_source: serde_json::Map<String, serde_json::Value> = Source::ALL
        .iter()
        .map(|src| {
            let v = serde_json::json!({"hits": count(*src, "hit"), "misses": count(*src, "miss")});
            (src.as_str().to_string(), v)
        })
        .collect();
    serde_json::json!({
        "enabled": enabled,
        "hits": Source::ALL.iter().map(|s| count(*s, "hit")).sum::<u64>(),
        "misses": Source::ALL.iter().map(|s| count(*s, "miss")).sum::<u64>(),
        "bytes": crate::metrics::RETRIEVAL_BYTES.get(),
        "by_source": by_source,
        // Served exchanges (the retrieval tool): every upstream call and what continuations cost.
        "upstream_calls": {
            "client": crate::metrics::UPSTREAM_CALLS.with_label_values(&["client"]).get(),
            "retrieval": crate::metrics::UPSTREAM_CALLS.with_label_values(&["retrieval"]).get(),
        },
        "continuation_tokens": {
            "input": tokens("input"),
            "output": tokens("output"),
            "cache_read": tokens("cache_read"),
            "cache_creation": tokens("cache_creation"),
        },
        "store": {
            "memory_bytes": s.memory_bytes,
            "memory_entries": s.memory_entries,
            "disk_bytes": s.disk_bytes,
            "disk_entries": s.disk_entries,
            "dropped_writes": s.dropped_writes,
            "failed_writes": s.failed_writes,
        },
    })
}

/// Sets the store gauges (and catches the dropped-write counters up) from `s`.
pub fn refresh_gauges(s: &StoreStats) {
    use crate::metrics::{ORIGINALS_BYTES, ORIGINALS_DROPPED, ORIGINALS_ENTRIES};
    for (tier, bytes, entries) in [
        ("memory", s.memory_bytes, s.memory_entries),
        ("disk", s.disk_bytes, s.disk_entries),
    ] {
        ORIGINALS_BYTES
            .with_label_values(&[tier])
            .set(i64::try_from(bytes).unwrap_or(i64::MAX));
        ORIGINALS_ENTRIES
            .with_label_values(&[tier])
            .set(i64::try_from(entries).unwrap_or(i64::MAX));
    }
    for (reason, total) in [("queue_full", s.dropped_writes), ("error", s.failed_writes)] {
        let c = ORIGINALS_DROPPED.with_label_values(&[reason]);
        c.inc_by(total.saturating_sub(c.get()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_parse_from_the_query_string() {
        assert_eq!(parse_selector(""), Ok(Selector::Whole));
        assert_eq!(
            parse_selector("lines=212-388"),
            Ok(Selector::Lines {
                first: 212,
                last: 388
            })
        );
        assert_eq!(
            parse_selector("query=disk+full%21"),
            Ok(Selector::Query("disk full!".into()))
        );
        assert!(parse_selector("lines=9-3").is_err());
        assert!(parse_selector("lines=abc").is_err());
        assert!(parse_selector("query=").is_err());
        assert!(parse_selector("lines=1-2&query=x").is_err());
        assert!(parse_selector("query=%zz").is_err());
    }
}
