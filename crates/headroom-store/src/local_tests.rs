use super::*;
use crate::original_id;
use std::time::SystemTime;

fn limits(memory: u64, disk: u64) -> StoreLimits {
    StoreLimits {
        memory_bytes: memory,
        disk_bytes: disk,
        max_age: Duration::from_secs(7 * 24 * 3600),
        queue: 1024,
    }
}

/// Real text: this crate's own sources, cut into distinct blocks of about `size` bytes.
fn blocks(size: usize, count: usize) -> Vec<Original> {
    let src = [
        include_str!("disk.rs"),
        include_str!("local.rs"),
        include_str!("memory.rs"),
        include_str!("select.rs"),
    ]
    .concat();
    (0..count)
        .map(|i| {
            let mut content = format!("block {i}\n");
            while content.len() < size {
                content.push_str(&src[..(size - content.len()).min(src.len())]);
            }
            Original {
                id: original_id(&content),
                content: content.into(),
                compressor: "code".into(),
            }
        })
        .collect()
}

fn files_bytes(dir: &std::path::Path) -> u64 {
    let mut total = 0;
    for shard in std::fs::read_dir(dir).unwrap().flatten() {
        if shard.file_name() == "tmp" {
            continue;
        }
        for f in std::fs::read_dir(shard.path()).unwrap().flatten() {
            total += f.metadata().unwrap().len();
        }
    }
    total
}

#[test]
fn a_flood_of_large_blocks_stays_under_both_caps() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStore::open(Some(dir.path().into()), &limits(1 << 20, 3 << 20));
    let all = blocks(100_000, 120);
    for o in &all {
        store.put(o.clone());
    }
    store.flush();
    let s = store.stats();
    assert!(s.memory_bytes <= 1 << 20, "{s:?}");
    assert!(s.disk_bytes <= 3 << 20, "{s:?}");
    assert!(files_bytes(dir.path()) <= 3 << 20);
    assert_eq!(s.dropped_writes, 0);
    // The newest blocks are still there, the oldest were evicted from both tiers.
    assert!(store.get_blocking(&all[119].id).is_some());
    assert!(store.get_blocking(&all[0].id).is_none());
    assert!(s.disk_entries >= 20 && s.memory_entries >= 5, "{s:?}");
}

#[test]
fn a_full_queue_drops_and_counts_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let mut l = limits(64 << 20, 1 << 30);
    l.queue = 1;
    let store = LocalStore::open(Some(dir.path().into()), &l);
    let all = blocks(200_000, 150);
    for o in &all {
        store.put(o.clone());
    }
    store.flush();
    let s = store.stats();
    assert!(s.dropped_writes > 0, "{s:?}");
    assert_eq!(s.dropped_writes + s.disk_entries, 150, "{s:?}");
    // Dropped writes are still in memory.
    assert!(all.iter().all(|o| store.get_blocking(&o.id).is_some()));
}

#[tokio::test]
async fn a_new_store_on_the_same_dir_finds_what_the_last_one_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let o = blocks(5_000, 1).remove(0);
    {
        let store = LocalStore::open(Some(dir.path().into()), &limits(1 << 20, 1 << 20));
        store.put(o.clone());
        store.flush();
    }
    let restarted = LocalStore::open(Some(dir.path().into()), &limits(1 << 20, 1 << 20));
    let got = restarted.get(&o.id).await.unwrap();
    assert_eq!(got, Some(o.clone()));
    restarted.flush();
    assert_eq!(restarted.stats().disk_entries, 1);
}

#[tokio::test]
async fn corrupt_and_truncated_files_are_misses() {
    let dir = tempfile::tempdir().unwrap();
    let all = blocks(5_000, 3);
    let store = LocalStore::open(Some(dir.path().into()), &limits(1 << 20, 1 << 20));
    for o in &all {
        store.put(o.clone());
    }
    store.flush();
    let path = |id: &str| dir.path().join(&id[..2]).join(id);
    let bytes = std::fs::read(path(&all[0].id)).unwrap();
    std::fs::write(path(&all[0].id), &bytes[..bytes.len() / 2]).unwrap();
    std::fs::write(path(&all[1].id), b"\xff\xfe not a stored original").unwrap();
    let mut flipped = std::fs::read(path(&all[2].id)).unwrap();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    std::fs::write(path(&all[2].id), flipped).unwrap();
    let fresh = LocalStore::open(Some(dir.path().into()), &limits(1 << 20, 1 << 20));
    for o in &all {
        assert_eq!(fresh.get(&o.id).await.unwrap(), None);
        assert!(!path(&o.id).exists(), "a bad file is removed");
    }
    assert_eq!(fresh.get("../../../etc").await.unwrap(), None);
}

#[tokio::test]
async fn originals_older_than_the_age_bound_expire() {
    let dir = tempfile::tempdir().unwrap();
    let all = blocks(5_000, 2);
    let store = LocalStore::open(Some(dir.path().into()), &limits(1 << 20, 1 << 20));
    for o in &all {
        store.put(o.clone());
    }
    store.flush();
    let eight_days = Duration::from_secs(8 * 24 * 3600);
    let old = SystemTime::now() - eight_days;
    let path = dir.path().join(&all[0].id[..2]).join(&all[0].id);
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(old)
        .unwrap();
    // A restart learns the file's age: the expired one is gone, the young one stays.
    let fresh = LocalStore::open(Some(dir.path().into()), &limits(1 << 20, 1 << 20));
    fresh.flush();
    assert!(!path.exists());
    assert_eq!(fresh.get(&all[0].id).await.unwrap(), None);
    assert_eq!(fresh.get(&all[1].id).await.unwrap(), Some(all[1].clone()));
    assert_eq!(fresh.stats().disk_entries, 1);
}

#[test]
fn the_cli_reads_the_disk_tier_without_a_store() {
    let dir = tempfile::tempdir().unwrap();
    let o = blocks(3_000, 1).remove(0);
    let store = LocalStore::open(Some(dir.path().into()), &limits(1 << 20, 1 << 20));
    store.put(o.clone());
    store.flush();
    let age = Duration::from_secs(3600);
    assert_eq!(LocalStore::read_dir(dir.path().into(), &o.id, age), Some(o));
    assert_eq!(
        LocalStore::read_dir(dir.path().into(), "000000000000", age),
        None
    );
}
