//! headroom-shared against a real `redis-server` (started per test on a free loopback port, no
//! persistence): originals shared between two handles (two replicas), read-through layering,
//! exactly-once savings batches, the shared result cache, and fail-fast while Redis is down.

use headroom_store::{Original, OriginalsStore, StoreError};
use headroom_team::{
    BreakerState, Bucket, Fields, Layered, Redis, RedisOriginals, Retention, SharedResults,
    SharedSavings, StateConfig,
};
use headroom_test_support::services::RedisServer;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn config(url: &str) -> StateConfig {
    StateConfig {
        redis_url: Some(url.into()),
        timeout_ms: 200,
        breaker_open_ms: 300,
        ..StateConfig::default()
    }
}

fn original(id: &str, content: &str) -> Original {
    Original {
        id: id.into(),
        content: Arc::from(content),
        compressor: "log".into(),
    }
}

/// Real text to store: this crate's own source.
fn real_text() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/savings.rs")).unwrap()
}

async fn eventually<F, Fut, T>(mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "condition not met within 5 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn an_original_put_by_one_replica_is_read_by_another() {
    let server = RedisServer::start();
    let a = RedisOriginals::new(Redis::open(&config(&server.url())).unwrap(), 60);
    let b = RedisOriginals::new(Redis::open(&config(&server.url())).unwrap(), 60);
    let text = real_text();
    a.put(original("id-1", &text));
    let got = eventually(|| async { b.get("id-1").await.unwrap() }).await;
    assert_eq!(&*got.content, text.as_str());
    assert_eq!(got.compressor, "log");
    assert_eq!(b.get("id-other").await.unwrap(), None);
}

/// The local tier: a map (what "store"'s memory tier does, minus eviction).
#[derive(Default)]
struct MapStore(Mutex<HashMap<String, Original>>);

#[async_trait::async_trait]
impl OriginalsStore for MapStore {
    fn put(&self, o: Original) {
        self.0.lock().unwrap().insert(o.id.clone(), o);
    }
    async fn get(&self, id: &str) -> Result<Option<Original>, StoreError> {
        Ok(self.0.lock().unwrap().get(id).cloned())
    }
}

#[tokio::test]
async fn layered_reads_local_first_then_redis_and_keeps_serving_when_redis_dies() {
    let mut server = RedisServer::start();
    let redis_a = Redis::open(&config(&server.url())).unwrap();
    let redis_b = Redis::open(&config(&server.url())).unwrap();
    let local_b = Arc::new(MapStore::default());
    let a = Layered::new(
        Arc::new(MapStore::default()),
        Arc::new(RedisOriginals::new(redis_a, 60)),
    );
    let b = Layered::new(
        local_b.clone(),
        Arc::new(RedisOriginals::new(redis_b.clone(), 60)),
    );
    a.put(original("made-on-a", "first\nsecond\n"));
    b.put(original("made-on-b", "kept locally too\n"));
    let got = eventually(|| async { b.get("made-on-a").await.ok().flatten() }).await;
    assert_eq!(&*got.content, "first\nsecond\n");
    assert!(
        local_b.0.lock().unwrap().contains_key("made-on-a"),
        "a Redis hit fills the local tier"
    );

    server.kill();
    let t0 = Instant::now();
    for _ in 0..20 {
        let o = b
            .get("made-on-b")
            .await
            .unwrap()
            .expect("local tier still answers");
        assert_eq!(&*o.content, "kept locally too\n");
        assert!(
            b.get("never-stored").await.is_err(),
            "a miss while Redis is down is reported"
        );
    }
    assert!(redis_b.counts().errors >= 1, "{:?}", redis_b.counts());
    assert!(
        redis_b.counts().skipped >= 1,
        "the open circuit skips Redis: {:?}",
        redis_b.counts()
    );
    assert_eq!(redis_b.breaker_state(), BreakerState::Open);
    // 40 lookups, each bounded by the 200 ms timeout or skipped by the breaker: far from 40 × 200 ms.
    assert!(
        t0.elapsed() < Duration::from_secs(4),
        "took {:?}",
        t0.elapsed()
    );

    server.restart();
    b.put(original("after-restart", "back\n"));
    let got = eventually(|| async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        redis_b_get(&redis_b, "after-restart").await
    })
    .await;
    assert_eq!(&*got.content, "back\n");
    assert_eq!(redis_b.breaker_state(), BreakerState::Closed);
}

async fn redis_b_get(redis: &Arc<Redis>, id: &str) -> Option<Original> {
    let store = RedisOriginals::new(redis.clone(), 60);
    // The write queue re-puts nothing by itself: put again once Redis is back.
    store.put(original(id, "back\n"));
    store.get(id).await.ok().flatten()
}

fn fields(pairs: &[(&str, u64)]) -> Fields {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

#[tokio::test]
async fn savings_batches_from_many_replicas_add_up_and_a_retried_batch_counts_once() {
    let server = RedisServer::start();
    let retention = Retention {
        hour_seconds: 3600 * 24,
        day_seconds: 86_400 * 30,
    };
    let replicas: Vec<SharedSavings> = (0..3)
        .map(|_| SharedSavings::new(Redis::open(&config(&server.url())).unwrap(), retention))
        .collect();
    let hour = 1_764_576_000;
    let mut tasks = Vec::new();
    for (r, savings) in replicas.into_iter().enumerate() {
        tasks.push(tokio::spawn(async move {
            for seq in 0..50 {
                let mut b = BTreeMap::new();
                b.insert(
                    Bucket::Lifetime,
                    fields(&[
                        ("requests", 1),
                        ("tokens_before", 1000),
                        ("tokens_after", 100),
                    ]),
                );
                b.insert(
                    Bucket::Hour(hour),
                    fields(&[("requests", 1), ("models|claude-sonnet-4-5|requests", 1)]),
                );
                let id = format!("replica-{r}:{seq}");
                assert!(savings.add(&id, &b).await.unwrap());
                if seq == 7 {
                    assert!(
                        !savings.add(&id, &b).await.unwrap(),
                        "a retried batch is not applied again"
                    );
                }
            }
            savings
        }));
    }
    let mut any = None;
    for t in tasks {
        any = Some(t.await.unwrap());
    }
    // Read with the batch ids a replica checks: applied ones and one never sent.
    let ids = ["replica-0:49", "replica-2:0", "replica-1:50"].map(String::from);
    let (read, applied) = any
        .unwrap()
        .read(
            &[Bucket::Lifetime, Bucket::Hour(hour), Bucket::Day(0)],
            &ids,
        )
        .await
        .unwrap();
    assert_eq!(applied, [true, true, false], "which batches Redis holds");
    assert_eq!(
        read[0],
        fields(&[
            ("requests", 150),
            ("tokens_before", 150_000),
            ("tokens_after", 15_000)
        ])
    );
    assert_eq!(
        read[1],
        fields(&[
            ("requests", 150),
            ("models|claude-sonnet-4-5|requests", 150)
        ])
    );
    assert!(read[2].is_empty());
}

#[tokio::test]
async fn a_result_cached_by_one_replica_is_found_by_another() {
    let server = RedisServer::start();
    let a = SharedResults::new(Redis::open(&config(&server.url())).unwrap(), 60);
    let redis_b = Redis::open(&config(&server.url())).unwrap();
    let b = SharedResults::new(redis_b.clone(), 60);
    let block = u128::from_str_radix("0123456789abcdef0123456789abcdef", 16).unwrap();
    assert_eq!(b.get(7, block).await, None);
    a.put(7, block, real_text().as_bytes());
    let got = eventually(|| async { b.get(7, block).await }).await;
    assert_eq!(got, real_text().into_bytes());
    assert_eq!(b.get(8, block).await, None, "other settings, other key");
    let c = redis_b.counts();
    assert!(
        c.bytes_received >= real_text().len() as u64 && c.ops >= 3,
        "{c:?}"
    );
}

#[tokio::test]
async fn an_unreachable_redis_fails_fast_without_a_server_at_all() {
    let port = headroom_test_support::free_port();
    let redis = Redis::open(&config(&format!("redis://127.0.0.1:{port}"))).unwrap();
    let t0 = Instant::now();
    assert!(!redis.ping().await);
    assert!(!redis.ping().await);
    assert!(!redis.ping().await);
    assert!(!redis.ping().await, "skipped by the open circuit");
    assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
    assert!(redis.counts().skipped >= 1);
}
