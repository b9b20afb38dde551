//! The local store: the memory tier in front of the disk tier, with one background thread that
//! does every disk write, fed by a bounded queue.
//!
//! Must never: block `put` on I/O or on a full queue (a write that does not fit is dropped and
//! counted; the original stays in memory), or panic on what it finds on disk.

use super::disk::DiskTier;
use super::memory::MemoryTier;
use super::{is_id, Original, OriginalsStore, StoreError, StoreStats};
use async_trait::async_trait;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Bounds of a [`LocalStore`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreLimits {
    pub memory_bytes: u64,
    pub disk_bytes: u64,
    pub max_age: Duration,
    /// Originals waiting for the disk writer; past this, writes are dropped and counted.
    pub queue: usize,
}

enum Job {
    Write(Original),
    Flush(SyncSender<()>),
}

/// The longest a shutdown waits for queued writes.
const FLUSH_LIMIT: Duration = Duration::from_secs(5);

/// How often the writer removes expired files when idle.
const EXPIRY_SWEEP: Duration = Duration::from_secs(60);

/// Memory + disk; see the module docs.
pub struct LocalStore {
    memory: Mutex<MemoryTier>,
    disk: Option<Arc<DiskTier>>,
    queue: Option<SyncSender<Job>>,
    dropped: AtomicU64,
    failed: Arc<AtomicU64>,
}

impl LocalStore {
    /// A store whose disk tier lives in `dir` (`None`: memory only). Starts the writer thread,
    /// which first learns what earlier runs left in `dir`.
    pub fn open(dir: Option<PathBuf>, limits: &StoreLimits) -> LocalStore {
        let failed = Arc::new(AtomicU64::new(0));
        let (disk, queue) = match dir {
            Some(dir) => {
                let disk = Arc::new(DiskTier::new(dir, limits.disk_bytes, limits.max_age));
                let (tx, rx) = mpsc::sync_channel(limits.queue.max(1));
                let (writer, failures) = (disk.clone(), failed.clone());
                let spawned = std::thread::Builder::new()
                    .name("headroom-originals".into())
                    .spawn(move || write_loop(&writer, &rx, &failures));
                match spawned {
                    Ok(_) => (Some(disk), Some(tx)),
                    Err(_) => (Some(disk), None),
                }
            }
            None => (None, None),
        };
        LocalStore {
            memory: Mutex::new(MemoryTier::new(limits.memory_bytes)),
            disk,
            queue,
            dropped: AtomicU64::new(0),
            failed,
        }
    }

    fn memory(&self) -> std::sync::MutexGuard<'_, MemoryTier> {
        self.memory.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The lookup without async: memory, then disk (inline I/O: for the CLI and tests).
    pub fn get_blocking(&self, id: &str) -> Option<Original> {
        if !is_id(id) {
            return None;
        }
        if let Some(o) = self.memory().get(id) {
            return Some(o);
        }
        let found = self.disk.as_ref()?.read(id)?;
        self.memory().insert(found.clone());
        Some(found)
    }

    /// Reads the disk tier in `dir` without starting a writer (the CLI's fallback when no
    /// proxy answers).
    pub fn read_dir(dir: PathBuf, id: &str, max_age: Duration) -> Option<Original> {
        DiskTier::new(dir, u64::MAX, max_age).read(id)
    }
}

fn write_loop(disk: &DiskTier, jobs: &Receiver<Job>, failed: &AtomicU64) {
    disk.scan();
    loop {
        match jobs.recv_timeout(EXPIRY_SWEEP) {
            Ok(Job::Write(o)) => {
                if disk.write(&o).is_err() {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
            Ok(Job::Flush(done)) => {
                let _ = done.send(());
            }
            Err(RecvTimeoutError::Timeout) => disk.enforce_bounds(),
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

#[async_trait]
impl OriginalsStore for LocalStore {
    fn put(&self, original: Original) {
        if !is_id(&original.id) {
            return;
        }
        // Already in memory: it was queued for disk when it arrived.
        if self.memory().insert(original.clone()) {
            return;
        }
        if let Some(q) = &self.queue {
            match q.try_send(Job::Write(original)) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    async fn get(&self, id: &str) -> Result<Option<Original>, StoreError> {
        if !is_id(id) {
            return Ok(None);
        }
        if let Some(o) = self.memory().get(id) {
            return Ok(Some(o));
        }
        let Some(disk) = self.disk.clone() else {
            return Ok(None);
        };
        let found = read_off_thread(disk, id.to_string()).await?;
        if let Some(o) = &found {
            self.memory().insert(o.clone());
        }
        Ok(found)
    }

    /// Waits until every write queued so far is on disk, or [`FLUSH_LIMIT`] passed.
    fn flush(&self) {
        if let Some(q) = &self.queue {
            let (tx, rx) = mpsc::sync_channel(1);
            if q.send(Job::Flush(tx)).is_ok() {
                let _ = rx.recv_timeout(FLUSH_LIMIT);
            }
        }
    }

    fn stats(&self) -> StoreStats {
        let (memory_bytes, memory_entries) = {
            let m = self.memory();
            (m.bytes(), m.len() as u64)
        };
        let (disk_bytes, disk_entries) = self.disk.as_ref().map_or((0, 0), |d| d.usage());
        StoreStats {
            memory_bytes,
            memory_entries,
            disk_bytes,
            disk_entries,
            dropped_writes: self.dropped.load(Ordering::Relaxed),
            failed_writes: self.failed.load(Ordering::Relaxed),
        }
    }
}

#[cfg(feature = "tokio")]
async fn read_off_thread(disk: Arc<DiskTier>, id: String) -> Result<Option<Original>, StoreError> {
    if tokio::runtime::Handle::try_current().is_err() {
        return Ok(disk.read(&id));
    }
    tokio::task::spawn_blocking(move || disk.read(&id))
        .await
        .map_err(|e| StoreError::Unavailable(format!("disk read did not finish: {e}")))
}

#[cfg(not(feature = "tokio"))]
async fn read_off_thread(disk: Arc<DiskTier>, id: String) -> Result<Option<Original>, StoreError> {
    Ok(disk.read(&id))
}

#[cfg(test)]
#[path = "local_tests.rs"]
mod tests;
