//! What keeping originals costs, over the real-output corpus (tests/fixtures/realworld/): per
//! compressed block, the content id (SHA-256), the store's `put` on the request path (memory
//! insert + queue), and the disk bytes each original takes — each set against the block's
//! compression in the same run.
//!
//! Run: `cargo bench --bench retrieval` (a few seconds; no model).

use headroom::compress::{CompressionConfig, MarkerIds, Pipeline};
use headroom::store::{original_id, LocalStore, Original, OriginalsStore, StoreLimits};
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn corpus() -> Vec<(String, String, String)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/realworld");
    let mut out = Vec::new();
    for e in std::fs::read_dir(&dir).expect("corpus").flatten() {
        let p = e.path();
        let (Ok(input), Ok(task)) = (
            std::fs::read_to_string(p.join("input.txt")),
            std::fs::read_to_string(p.join("task.txt")),
        ) else {
            continue;
        };
        out.push((e.file_name().to_string_lossy().into_owned(), input, task));
    }
    out.sort();
    out
}

fn du_bytes(dir: &std::path::Path) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    let (mut len, mut blocks) = (0, 0);
    for shard in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        for f in std::fs::read_dir(shard.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            if let Ok(m) = f.metadata() {
                len += m.len();
                blocks += m.blocks() * 512;
            }
        }
    }
    (len, blocks)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let pipeline = Pipeline::new(
        CompressionConfig {
            marker_ids: MarkerIds {
                enabled: true,
                fetch_base: None,
            },
            ..CompressionConfig::default()
        },
        None,
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let store = LocalStore::open(
        Some(dir.path().into()),
        &StoreLimits {
            memory_bytes: 64 << 20,
            disk_bytes: 1 << 30,
            max_age: Duration::from_secs(7 * 86_400),
            queue: 4096,
        },
    );
    let (mut compress, mut id, mut put) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    let (mut puts, mut reputs) = (Vec::new(), Vec::new());
    let (mut blocks, mut content) = (0u32, 0u64);
    for (_, input, task) in corpus() {
        let t = Instant::now();
        let out = pipeline.compress_text(&input, task.trim());
        compress += t.elapsed();
        if !matches!(&out, Ok(o) if o.original_id.is_some()) {
            continue;
        }
        const ROUNDS: u32 = 20;
        let t = Instant::now();
        for _ in 0..ROUNDS {
            std::hint::black_box(original_id(std::hint::black_box(&input)));
        }
        id += t.elapsed() / ROUNDS;
        let original = Original {
            id: original_id(&input),
            content: input.as_str().into(),
            compressor: out.map(|o| o.compressor.to_string()).unwrap_or_default(),
        };
        let t = Instant::now();
        store.put(original.clone());
        let first = t.elapsed();
        put += first;
        puts.push(first);
        // Later turns re-send the block: the put finds it in memory.
        let t = Instant::now();
        store.put(original);
        reputs.push(t.elapsed());
        blocks += 1;
        content += input.len() as u64;
    }
    store.flush();
    let (len, allocated) = du_bytes(dir.path());
    let n = f64::from(blocks.max(1));
    let us = |d: Duration| d.as_secs_f64() * 1e6 / n;
    println!("retrieval: {blocks} compressed blocks with ids, {content} bytes of originals");
    println!(
        "  compress (first sight)  {:>9.1} µs/block",
        compress.as_secs_f64() * 1e6 / n
    );
    println!(
        "  content id (SHA-256)    {:>9.1} µs/block  ({:.4}× compress)",
        us(id),
        id.as_secs_f64() / compress.as_secs_f64()
    );
    println!(
        "  store put (request path){:>9.1} µs/block  ({:.4}× compress)",
        us(put),
        put.as_secs_f64() / compress.as_secs_f64()
    );
    println!(
        "  disk: {:.0} bytes/original in files ({:.4}× the content), {:.0} allocated ({:.3}×)",
        len as f64 / n,
        len as f64 / content.max(1) as f64,
        allocated as f64 / n,
        allocated as f64 / content.max(1) as f64
    );
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v.get(v.len() / 2).map_or(0.0, |d| d.as_secs_f64() * 1e6)
    };
    println!(
        "  store put, median       {:>9.1} µs first sight, {:.1} µs on later turns",
        median(&mut puts),
        median(&mut reputs)
    );
    let s = store.stats();
    println!(
        "  store: {} in memory, {} on disk, {} dropped",
        s.memory_entries, s.disk_entries, s.dropped_writes
    );
}
