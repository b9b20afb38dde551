//! The one Redis handle of a process: a multiplexed, self-reconnecting connection (redis-rs's
//! `ConnectionManager`: one TCP connection pipelines every caller's commands, which is the
//! pooling Redis wants), a hard timeout on every call, the circuit breaker, counters for
//! `/metrics`, and a bounded write queue drained by a background task in batches.
//!
//! Must never: let a caller wait longer than `state.timeout_ms`, block on a write (`enqueue`
//! drops and counts when the queue is full), or log the URL's password.

use crate::breaker::{Admit, Breaker, BreakerState};
use crate::config::{masked_url, StateConfig};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Cmd, Pipeline, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

#[derive(Debug, thiserror::Error)]
pub enum SharedError {
    #[error("Redis skipped: it failed {0} times in a row recently (circuit open)")]
    CircuitOpen(u32),
    #[error("Redis did not answer within {0} ms")]
    Timeout(u64),
    #[error("Redis error: {0}")]
    Redis(String),
    #[error("cannot set up Redis at {url}: {reason}")]
    Setup { url: String, reason: String },
}

/// Monotonic counters, read by `/metrics`.
#[derive(Debug, Default)]
struct Counters {
    ops: AtomicU64,
    errors: AtomicU64,
    skipped: AtomicU64,
    dropped_writes: AtomicU64,
    bytes_sent: AtomicU64,
    bytes_received: AtomicU64,
}

/// A copy of the counters.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RedisCounts {
    /// Round trips attempted (a pipeline is one).
    pub ops: u64,
    /// Round trips that failed or timed out.
    pub errors: u64,
    /// Calls refused by the open circuit without touching Redis.
    pub skipped: u64,
    /// Queued writes dropped (queue full, or Redis down when their batch ran).
    pub dropped_writes: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
}

pub struct Redis {
    manager: ConnectionManager,
    breaker: Breaker,
    threshold: u32,
    timeout: Duration,
    prefix: String,
    url: String,
    counters: Counters,
    writes: mpsc::Sender<Cmd>,
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redis").field("url", &self.url).finish()
    }
}

/// Commands sent in one pipeline by the write queue at most.
const WRITE_BATCH: usize = 128;

impl Redis {
    /// Sets up the handle without connecting (the first call connects). Must run inside a
    /// tokio runtime, which then drives the connection and the write queue.
    pub fn open(config: &StateConfig) -> Result<Arc<Redis>, SharedError> {
        let url = config.redis_url.clone().unwrap_or_default();
        let setup = |reason: String| SharedError::Setup {
            url: masked_url(&url),
            reason,
        };
        let client = redis::Client::open(url.as_str()).map_err(|e| setup(e.to_string()))?;
        let timeout = Duration::from_millis(config.timeout_ms.max(1));
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_millis(
                config.connect_timeout_ms.max(1),
            )))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(10))
            .set_max_delay(Duration::from_millis(config.connect_timeout_ms.max(1)));
        let manager = ConnectionManager::new_lazy_with_config(client, manager_config)
            .map_err(|e| setup(e.to_string()))?;
        let (tx, rx) = mpsc::channel(config.queue_entries.max(1));
        let redis = Arc::new(Redis {
            manager,
            breaker: Breaker::new(
                config.breaker_failures,
                Duration::from_millis(config.breaker_open_ms),
            ),
            threshold: config.breaker_failures.max(1),
            timeout,
            prefix: config.key_prefix.clone(),
            url: masked_url(&url),
            counters: Counters::default(),
            writes: tx,
        });
        tokio::spawn(drain_writes(Arc::downgrade(&redis), rx));
        Ok(redis)
    }

    /// `prefix:part:part…`
    pub fn key(&self, parts: &[&str]) -> String {
        let mut k = self.prefix.clone();
        for p in parts {
            k.push(':');
            k.push_str(p);
        }
        k
    }

    /// The URL with its password masked.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn breaker_state(&self) -> BreakerState {
        self.breaker.state()
    }

    pub fn counts(&self) -> RedisCounts {
        let c = &self.counters;
        RedisCounts {
            ops: c.ops.load(Ordering::Relaxed),
            errors: c.errors.load(Ordering::Relaxed),
            skipped: c.skipped.load(Ordering::Relaxed),
            dropped_writes: c.dropped_writes.load(Ordering::Relaxed),
            bytes_sent: c.bytes_sent.load(Ordering::Relaxed),
            bytes_received: c.bytes_received.load(Ordering::Relaxed),
        }
    }

    /// One command, within the timeout and through the breaker.
    pub async fn cmd(&self, cmd: &Cmd) -> Result<Value, SharedError> {
        self.admit()?;
        self.counters
            .bytes_sent
            .fetch_add(cmd.get_packed_command().len() as u64, Ordering::Relaxed);
        let mut conn = self.manager.clone();
        let outcome = tokio::time::timeout(self.timeout, cmd.query_async::<Value>(&mut conn)).await;
        self.settle(outcome).inspect(|v| self.received(v))
    }

    /// A pipeline (one round trip), within the timeout and through the breaker.
    pub async fn pipe(&self, pipe: &Pipeline) -> Result<Vec<Value>, SharedError> {
        self.admit()?;
        self.counters
            .bytes_sent
            .fetch_add(pipe.get_packed_pipeline().len() as u64, Ordering::Relaxed);
        let mut conn = self.manager.clone();
        let outcome =
            tokio::time::timeout(self.timeout, pipe.query_async::<Vec<Value>>(&mut conn)).await;
        self.settle(outcome)
            .inspect(|vs| vs.iter().for_each(|v| self.received(v)))
    }

    /// True when Redis answers a PING now (the readiness probe).
    pub async fn ping(&self) -> bool {
        matches!(
            self.cmd(&redis::cmd("PING")).await,
            Ok(Value::SimpleString(_) | Value::Okay)
        )
    }

    /// Queues a write for the background task; never waits. Dropped and counted when the queue
    /// is full.
    pub fn enqueue(&self, cmd: Cmd) {
        if self.writes.try_send(cmd).is_err() {
            self.counters.dropped_writes.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn admit(&self) -> Result<(), SharedError> {
        match self.breaker.admit() {
            Admit::Yes => {
                self.counters.ops.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Admit::No => {
                self.counters.skipped.fetch_add(1, Ordering::Relaxed);
                Err(SharedError::CircuitOpen(self.threshold))
            }
        }
    }

    fn settle<T>(
        &self,
        outcome: Result<redis::RedisResult<T>, tokio::time::error::Elapsed>,
    ) -> Result<T, SharedError> {
        let result = match outcome {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(SharedError::Redis(e.to_string())),
            Err(_) => Err(SharedError::Timeout(self.timeout.as_millis() as u64)),
        };
        match &result {
            Ok(_) => self.breaker.success(),
            Err(e) => {
                self.counters.errors.fetch_add(1, Ordering::Relaxed);
                self.breaker.failure();
                tracing::debug!(error = %e, "redis call failed");
            }
        }
        result
    }

    fn received(&self, v: &Value) {
        self.counters
            .bytes_received
            .fetch_add(value_bytes(v), Ordering::Relaxed);
    }
}

/// Payload bytes of a reply (strings and numbers; framing not counted).
fn value_bytes(v: &Value) -> u64 {
    match v {
        Value::BulkString(b) => b.len() as u64,
        Value::SimpleString(s) => s.len() as u64,
        Value::Array(vs) | Value::Set(vs) => vs.iter().map(value_bytes).sum(),
        Value::Map(kv) => kv
            .iter()
            .map(|(k, v)| value_bytes(k) + value_bytes(v))
            .sum(),
        Value::Int(_) | Value::Double(_) => 8,
        _ => 1,
    }
}

/// The write queue's task: batches queued commands into pipelines until the handle is gone.
async fn drain_writes(redis: std::sync::Weak<Redis>, mut rx: mpsc::Receiver<Cmd>) {
    let mut batch = Vec::with_capacity(WRITE_BATCH);
    while rx.recv_many(&mut batch, WRITE_BATCH).await > 0 {
        let Some(redis) = redis.upgrade() else {
            return;
        };
        let mut pipe = redis::pipe();
        for cmd in batch.drain(..) {
            pipe.add_command(cmd).ignore();
        }
        if redis.pipe(&pipe).await.is_err() {
            let n = pipe.cmd_iter().count() as u64;
            redis
                .counters
                .dropped_writes
                .fetch_add(n, Ordering::Relaxed);
        }
    }
}
