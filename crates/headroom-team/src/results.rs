//! The shared compression result cache: a block's compressed form under its content hash, so
//! a conversation whose turns land on different replicas pays for each block once. A speed-up
//! only: every replica computes the same output for the same block, so a miss (or Redis being
//! down) changes nothing but time.
//!
//! Must never: wait past the configured timeout, or be trusted for anything but a result the
//! same compression settings would produce (the key includes the settings' fingerprint).

use crate::client::Redis;
use redis::Value;
use std::sync::Arc;

pub struct SharedResults {
    redis: Arc<Redis>,
    ttl_seconds: u64,
}

impl SharedResults {
    pub fn new(redis: Arc<Redis>, ttl_seconds: u64) -> SharedResults {
        SharedResults {
            redis,
            ttl_seconds: ttl_seconds.max(1),
        }
    }

    /// `settings` fingerprints the compression settings; `block` is the block's content hash.
    fn key(&self, settings: u64, block: u128) -> String {
        self.redis.key(&[
            "result",
            &format!("{settings:016x}"),
            &format!("{block:032x}"),
        ])
    }

    /// The cached result, or `None` on a miss or when Redis is unavailable.
    pub async fn get(&self, settings: u64, block: u128) -> Option<Vec<u8>> {
        let mut cmd = redis::cmd("GET");
        cmd.arg(self.key(settings, block));
        match self.redis.cmd(&cmd).await {
            Ok(Value::BulkString(b)) => Some(b),
            _ => None,
        }
    }

    /// Queues the result for storage; never waits.
    pub fn put(&self, settings: u64, block: u128, result: &[u8]) {
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.key(settings, block))
            .arg(result)
            .arg("EX")
            .arg(self.ttl_seconds);
        self.redis.enqueue(cmd);
    }
}
