//! Originals on Redis, and the layered store a team gateway uses: the local tiers first, then
//! Redis, so a marker made by one replica can be retrieved through any other.
//!
//! Must never: block `put` (it queues), wait on Redis past the configured timeout, or return
//! an original stored under another id.

use crate::client::{Redis, SharedError};
use async_trait::async_trait;
use headroom_store::{Original, OriginalsStore, StoreError};
use redis::Value;
use std::sync::Arc;

/// Originals kept in Redis under `prefix:orig:{id}` with a TTL, as `compressor\ncontent`.
pub struct RedisOriginals {
    redis: Arc<Redis>,
    ttl_seconds: u64,
}

impl RedisOriginals {
    pub fn new(redis: Arc<Redis>, ttl_seconds: u64) -> RedisOriginals {
        RedisOriginals {
            redis,
            ttl_seconds: ttl_seconds.max(1),
        }
    }

    fn key(&self, id: &str) -> String {
        self.redis.key(&["orig", id])
    }
}

fn encode(o: &Original) -> Vec<u8> {
    let mut v = Vec::with_capacity(o.compressor.len() + 1 + o.content.len());
    v.extend(o.compressor.bytes().filter(|b| *b != b'\n'));
    v.push(b'\n');
    v.extend_from_slice(o.content.as_bytes());
    v
}

fn decode(id: &str, bytes: &[u8]) -> Option<Original> {
    let text = std::str::from_utf8(bytes).ok()?;
    let (compressor, content) = text.split_once('\n')?;
    Some(Original {
        id: id.to_string(),
        content: Arc::from(content),
        compressor: compressor.to_string(),
    })
}

fn unavailable(e: SharedError) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

#[async_trait]
impl OriginalsStore for RedisOriginals {
    fn put(&self, original: Original) {
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.key(&original.id))
            .arg(encode(&original))
            .arg("EX")
            .arg(self.ttl_seconds);
        self.redis.enqueue(cmd);
    }

    async fn get(&self, id: &str) -> Result<Option<Original>, StoreError> {
        let mut cmd = redis::cmd("GET");
        cmd.arg(self.key(id));
        match self.redis.cmd(&cmd).await.map_err(unavailable)? {
            Value::BulkString(b) => Ok(decode(id, &b)),
            _ => Ok(None),
        }
    }
}

/// Local tiers first, then Redis; a Redis hit is copied into the local tiers.
pub struct Layered {
    local: Arc<dyn OriginalsStore>,
    shared: Arc<dyn OriginalsStore>,
}

impl Layered {
    pub fn new(local: Arc<dyn OriginalsStore>, shared: Arc<dyn OriginalsStore>) -> Layered {
        Layered { local, shared }
    }
}

#[async_trait]
impl OriginalsStore for Layered {
    fn put(&self, original: Original) {
        self.shared.put(original.clone());
        self.local.put(original);
    }

    async fn get(&self, id: &str) -> Result<Option<Original>, StoreError> {
        let local = self.local.get(id).await;
        if let Ok(Some(o)) = local {
            return Ok(Some(o));
        }
        match self.shared.get(id).await {
            Ok(Some(o)) => {
                self.local.put(o.clone());
                Ok(Some(o))
            }
            // Neither has it: a miss only if the local tier answered too.
            Ok(None) => local.map(|_| None),
            Err(e) => Err(e),
        }
    }

    fn flush(&self) {
        self.local.flush();
    }

    fn stats(&self) -> headroom_store::StoreStats {
        self.local.stats()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_round_trips_content_with_newlines() {
        let o = Original {
            id: "abc".into(),
            content: Arc::from("line 1\nline 2\n"),
            compressor: "log".into(),
        };
        assert_eq!(decode("abc", &encode(&o)), Some(o));
    }
}
