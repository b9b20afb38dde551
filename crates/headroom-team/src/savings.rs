//! Savings totals and history shared by every replica: counters in Redis hashes, one per
//! bucket (lifetime, UTC hour, UTC day), raised with HINCRBY so N replicas never overwrite
//! each other. A replica flushes what it counted since its last flush as one batch under a
//! batch id; Redis applies a batch id once, so a flush retried after a lost answer never
//! counts twice.
//!
//! Must never: read-modify-write a counter, or apply one batch twice.

use crate::client::{Redis, SharedError};
use redis::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Field name → amount: the flattened counters of one bucket.
pub type Fields = BTreeMap<String, u64>;

/// Which hash a counter lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Bucket {
    Lifetime,
    /// Starting at this unix second (a multiple of 3600).
    Hour(i64),
    /// Starting at this unix second (a multiple of 86400).
    Day(i64),
}

/// How long bucket hashes live in Redis (seconds); lifetime never expires.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    pub hour_seconds: u64,
    pub day_seconds: u64,
}

/// Seconds a batch id is remembered (a retry later than this would count again).
const BATCH_ID_TTL: u64 = 7 * 86_400;

/// Applies a batch once: KEYS[1] is the batch id; for each bucket i, KEYS[i+1] is its hash and
/// ARGV holds `ttl, n, field1, amount1, … fieldn, amountn` in the same order.
const APPLY_BATCH: &str = r#"
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return 0 end
local a = 2
for k = 2, #KEYS do
  local ttl = tonumber(ARGV[a]); local n = tonumber(ARGV[a + 1]); a = a + 2
  for _ = 1, n do
    redis.call('HINCRBY', KEYS[k], ARGV[a], ARGV[a + 1]); a = a + 2
  end
  if ttl > 0 then redis.call('EXPIRE', KEYS[k], ttl) end
end
return 1
"#;

pub struct SharedSavings {
    redis: Arc<Redis>,
    retention: Retention,
}

impl SharedSavings {
    pub fn new(redis: Arc<Redis>, retention: Retention) -> SharedSavings {
        SharedSavings { redis, retention }
    }

    fn key(&self, b: Bucket) -> String {
        match b {
            Bucket::Lifetime => self.redis.key(&["savings", "lifetime"]),
            Bucket::Hour(s) => self.redis.key(&["savings", "hour", &s.to_string()]),
            Bucket::Day(s) => self.redis.key(&["savings", "day", &s.to_string()]),
        }
    }

    /// Adds every bucket's fields under `batch_id` (unique per replica and flush, e.g.
    /// `replica-uuid:seq`). `Ok(false)`: this batch was applied before (a retry).
    pub async fn add(
        &self,
        batch_id: &str,
        buckets: &BTreeMap<Bucket, Fields>,
    ) -> Result<bool, SharedError> {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(APPLY_BATCH).arg(1 + buckets.len());
        cmd.arg(self.redis.key(&["savings", "batch", batch_id]));
        for b in buckets.keys() {
            cmd.arg(self.key(*b));
        }
        cmd.arg(BATCH_ID_TTL);
        for (b, fields) in buckets {
            let ttl = match b {
                Bucket::Lifetime => 0,
                Bucket::Hour(_) => self.retention.hour_seconds,
                Bucket::Day(_) => self.retention.day_seconds,
            };
            cmd.arg(ttl).arg(fields.len());
            for (f, v) in fields {
                cmd.arg(f.as_str()).arg(*v);
            }
        }
        match self.redis.cmd(&cmd).await? {
            Value::Int(1) => Ok(true),
            Value::Int(_) => Ok(false),
            other => Err(SharedError::Redis(format!("unexpected reply {other:?}"))),
        }
    }

    /// Every field of each bucket (missing buckets are empty), and whether each of
    /// `batch_ids` was applied, in one round trip and as of one instant (MULTI/EXEC: no batch
    /// lands between the reads, so a reader adding what Redis does not have yet counts each
    /// batch exactly once).
    pub async fn read(
        &self,
        buckets: &[Bucket],
        batch_ids: &[String],
    ) -> Result<(Vec<Fields>, Vec<bool>), SharedError> {
        let mut pipe = redis::pipe();
        pipe.atomic();
        for b in buckets {
            pipe.cmd("HGETALL").arg(self.key(*b));
        }
        for id in batch_ids {
            pipe.cmd("EXISTS")
                .arg(self.redis.key(&["savings", "batch", id]));
        }
        let mut replies = self.redis.pipe(&pipe).await?;
        if replies.len() != buckets.len() + batch_ids.len() {
            return Err(SharedError::Redis(format!(
                "{} replies to {} reads",
                replies.len(),
                buckets.len() + batch_ids.len()
            )));
        }
        let applied = replies
            .split_off(buckets.len())
            .into_iter()
            .map(|v| matches!(v, Value::Int(n) if n > 0))
            .collect();
        Ok((replies.into_iter().map(fields_of).collect(), applied))
    }
}

fn fields_of(v: Value) -> Fields {
    let pairs: Vec<(Value, Value)> = match v {
        Value::Map(kv) => kv,
        Value::Array(flat) => {
            let mut it = flat.into_iter();
            let mut out = Vec::new();
            while let (Some(k), Some(v)) = (it.next(), it.next()) {
                out.push((k, v));
            }
            out
        }
        _ => Vec::new(),
    };
    pairs
        .into_iter()
        .filter_map(|(k, v)| {
            let k = redis::from_redis_value::<String>(k).ok()?;
            let v = redis::from_redis_value::<i64>(v).ok()?;
            Some((k, v.max(0) as u64))
        })
        .collect()
}
