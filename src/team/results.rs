//! The compression pipeline's shared result cache on a team gateway: `headroom_compress`'s
//! [`SharedCache`] hook answered from Redis (`headroom_team::SharedResults`), so a block one
//! replica compressed costs nothing on the others. Counted in
//! `headroom_shared_results_total{result}`.
//!
//! Must never: keep a compression thread waiting past `state.timeout_ms` (plus a few
//! milliseconds of scheduling) for Redis, or block on a write (writes are queued).

use headroom_compress::SharedCache;
use headroom_team::SharedResults;
use prometheus::{register_int_counter_vec, IntCounterVec};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

static SHARED_RESULTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "headroom_shared_results_total",
        "Shared (Redis) compression result cache, asked on a miss of the in-process cache: hit, miss (absent, Redis down or too slow), stored (results offered)",
        &["result"]
    )
    .expect("metric registers once")
});

/// Extra wait over the Redis call's own timeout, for the hop to the team runtime and back.
const HOP_MARGIN: Duration = Duration::from_millis(5);

pub struct RedisResultCache {
    runtime: tokio::runtime::Handle,
    results: Arc<SharedResults>,
    wait: Duration,
}

impl RedisResultCache {
    pub fn new(
        runtime: tokio::runtime::Handle,
        results: Arc<SharedResults>,
        timeout_ms: u64,
    ) -> RedisResultCache {
        for label in ["hit", "miss", "stored"] {
            SHARED_RESULTS.with_label_values(&[label]);
        }
        RedisResultCache {
            runtime,
            results,
            wait: Duration::from_millis(timeout_ms.max(1)) + HOP_MARGIN,
        }
    }
}

impl SharedCache for RedisResultCache {
    /// Runs on a compression (blocking-pool) thread: the read runs on the team runtime and this
    /// thread waits for it at most `wait`.
    fn get(&self, fingerprint: u64, block: u128) -> Option<Vec<u8>> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let results = self.results.clone();
        self.runtime.spawn(async move {
            let _ = tx.send(results.get(fingerprint, block).await);
        });
        let got = rx.recv_timeout(self.wait).ok().flatten();
        SHARED_RESULTS
            .with_label_values(&[if got.is_some() { "hit" } else { "miss" }])
            .inc();
        got
    }

    fn put(&self, fingerprint: u64, block: u128, entry: Vec<u8>) {
        self.results.put(fingerprint, block, &entry);
        SHARED_RESULTS.with_label_values(&["stored"]).inc();
    }
}
