//! The stats file on disk: lifetime totals and history, shared by every instance that points
//! at the same path. A flush adds one process's delta under an exclusive `flock` on a sidecar
//! `<file>.lock`: read, add, write a temp file, fsync, rename, unlock. So N instances sum
//! exactly and a crash loses at most the delta of one flush interval of one instance.
//!
//! Must never: leave a temp file behind; crash on a corrupt or unreadable file (a corrupt one
//! is set aside with a warning and counting starts fresh).

use super::history::History;
use super::totals::Totals;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Format 1 held `totals` only; 2 adds `history`. Both read.
const VERSION: u32 = 2;

/// What the file holds.
#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Ledger {
    pub version: u32,
    pub totals: Totals,
    pub history: History,
}

impl Ledger {
    pub fn is_empty(&self) -> bool {
        self.totals.is_empty() && self.history.is_empty()
    }

    pub fn add(&mut self, o: &Ledger) {
        self.totals.add(&o.totals);
        self.history.add(&o.history);
    }
}

pub fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Reads the file as it is; a missing file is an empty ledger, a corrupt one is set aside.
pub fn load(path: &Path) -> Ledger {
    match read(path) {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot read stats file; starting from zero");
            Ledger::default()
        }
    }
}

fn read(path: &Path) -> std::io::Result<Ledger> {
    let text = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Ledger::default()),
        Err(e) => return Err(e),
    };
    match serde_json::from_slice::<Ledger>(&text) {
        Ok(l) => Ok(l),
        Err(e) => {
            let aside = path.with_extension(format!("corrupt-{}.json", now_unix()));
            let moved = std::fs::rename(path, &aside).is_ok();
            tracing::warn!(
                path = %path.display(),
                set_aside = moved.then(|| aside.display().to_string()),
                error = %e,
                "stats file is corrupt; set aside, starting from zero"
            );
            Ok(Ledger::default())
        }
    }
}

/// Adds `delta` to the file under the lock and returns what the file now holds.
pub fn merge_into(path: &Path, delta: &Ledger, now: i64) -> std::io::Result<Ledger> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let _lock = FileLock::exclusive(&lock_path(path))?;
    let mut ledger = read(path)?;
    ledger.add(delta);
    ledger.version = VERSION;
    ledger.history.prune(now);
    write_atomic(path, &ledger)?;
    Ok(ledger)
}

fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    path.with_file_name(name)
}

fn write_atomic(path: &Path, ledger: &Ledger) -> std::io::Result<()> {
    let body = serde_json::to_vec(ledger).map_err(std::io::Error::other)?;
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let written = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&body)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written?;
    // Make the rename itself durable.
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// An exclusive `flock`, released when dropped (and by the kernel if the process dies).
struct FileLock(std::fs::File);

impl FileLock {
    fn exclusive(path: &Path) -> std::io::Result<FileLock> {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)?;
        loop {
            // SAFETY: flock on a descriptor this struct owns for its whole life.
            let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) };
            if rc == 0 {
                return Ok(FileLock(f));
            }
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        // SAFETY: as above; closing the file would release it too.
        unsafe {
            libc::flock(self.0.as_raw_fd(), libc::LOCK_UN);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delta(requests: u64) -> Ledger {
        let mut l = Ledger::default();
        l.totals.requests = requests;
        l.history.record(now_unix(), &l.totals.clone());
        l
    }

    #[test]
    fn merges_add_deltas_and_leave_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stats.json");
        merge_into(&path, &delta(2), now_unix()).unwrap();
        let l = merge_into(&path, &delta(3), now_unix()).unwrap();
        assert_eq!(l.totals.requests, 5);
        assert_eq!(load(&path).totals.requests, 5);
        assert_eq!(l.history.days.values().map(|t| t.requests).sum::<u64>(), 5);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(names.iter().all(|n| !n.contains("tmp")), "{names:?}");
    }

    #[test]
    fn threads_merging_at_once_sum_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stats.json");
        let workers: Vec<_> = (0..4)
            .map(|_| {
                let path = path.clone();
                std::thread::spawn(move || {
                    for _ in 0..25 {
                        merge_into(&path, &delta(1), now_unix()).unwrap();
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().unwrap();
        }
        assert_eq!(load(&path).totals.requests, 100);
    }

    #[test]
    fn a_write_that_fails_at_the_rename_removes_its_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        // A non-empty directory where the file should be: create, write and fsync of the temp
        // file succeed, the rename over it fails.
        let path = dir.path().join("stats.json");
        std::fs::create_dir(&path).unwrap();
        std::fs::write(path.join("keep"), b"x").unwrap();
        assert!(write_atomic(&path, &delta(1)).is_err());
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, vec!["stats.json".to_string()]);
    }

    #[test]
    fn version_1_files_still_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stats.json");
        std::fs::write(&path, br#"{"version":1,"totals":{"requests":7}}"#).unwrap();
        assert_eq!(load(&path).totals.requests, 7);
    }
}
