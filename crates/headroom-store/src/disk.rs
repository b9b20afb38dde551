//! The disk tier: one file per original under `<dir>/<first two hex>/<id>`, written atomically
//! (temp file, then rename), bounded in total bytes (oldest first out) and in age.
//!
//! File format: `headroom-original 1\n`, the compressor's name and `\n`, then the content's
//! bytes. A file is only believed when the SHA-256 of its content gives back its name, so a
//! partial, corrupt or foreign file is a miss (and is removed), never a panic or wrong content.
//!
//! Must never: write anywhere but under its directory, build a path from anything but a checked
//! id, or keep more bytes than its bound once a write has finished.

use super::{is_id, original_id, Original};
use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

const MAGIC: &[u8] = b"headroom-original 1\n";
const TMP: &str = "tmp";

pub struct DiskTier {
    dir: PathBuf,
    max_bytes: u64,
    max_age: Duration,
    index: Mutex<Index>,
}

/// What the tier holds: id → (file bytes, last stored), and the same by age.
#[derive(Default)]
struct Index {
    entries: HashMap<String, (u64, SystemTime)>,
    by_age: BTreeSet<(SystemTime, String)>,
    bytes: u64,
}

impl Index {
    fn add(&mut self, id: &str, size: u64, at: SystemTime) {
        self.remove(id);
        self.entries.insert(id.to_string(), (size, at));
        self.by_age.insert((at, id.to_string()));
        self.bytes += size;
    }

    fn remove(&mut self, id: &str) {
        if let Some((size, at)) = self.entries.remove(id) {
            self.by_age.remove(&(at, id.to_string()));
            self.bytes -= size;
        }
    }
}

impl DiskTier {
    /// No I/O: [`DiskTier::scan`] (on the writer thread) learns what the directory holds.
    pub fn new(dir: PathBuf, max_bytes: u64, max_age: Duration) -> DiskTier {
        DiskTier {
            dir,
            max_bytes,
            max_age,
            index: Mutex::new(Index::default()),
        }
    }

    fn path(&self, id: &str) -> PathBuf {
        self.dir.join(&id[..2]).join(id)
    }

    fn index(&self) -> std::sync::MutexGuard<'_, Index> {
        self.index.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// (bytes, files) held.
    pub fn usage(&self) -> (u64, u64) {
        let ix = self.index();
        (ix.bytes, ix.entries.len() as u64)
    }

    /// Learns what a previous run left: removes stray temp files, then applies the bounds.
    pub fn scan(&self) {
        let _ = fs::remove_dir_all(self.dir.join(TMP));
        let Ok(shards) = fs::read_dir(&self.dir) else {
            return;
        };
        let mut found = Vec::new();
        for shard in shards.flatten() {
            let Ok(files) = fs::read_dir(shard.path()) else {
                continue;
            };
            for f in files.flatten() {
                let name = f.file_name();
                let Some(id) = name.to_str().filter(|n| is_id(n)) else {
                    continue;
                };
                if let Ok(meta) = f.metadata() {
                    let at = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
                    found.push((id.to_string(), meta.len(), at));
                }
            }
        }
        {
            let mut ix = self.index();
            for (id, size, at) in found {
                ix.add(&id, size, at);
            }
        }
        self.enforce_bounds();
    }

    /// The original stored under `id`, when its file is there, young enough and intact.
    pub fn read(&self, id: &str) -> Option<Original> {
        if !is_id(id) {
            return None;
        }
        let path = self.path(id);
        let meta = fs::metadata(&path).ok()?;
        let age = meta
            .modified()
            .ok()
            .and_then(|m| SystemTime::now().duration_since(m).ok())
            .unwrap_or_default();
        if age > self.max_age {
            self.discard(id);
            return None;
        }
        let bytes = fs::read(&path).ok()?;
        match parse(id, &bytes) {
            Some(o) => Some(o),
            None => {
                self.discard(id);
                None
            }
        }
    }

    /// Stores `original` (or, when its file is already there, marks it as stored now), then
    /// removes the oldest files past the bounds.
    pub fn write(&self, original: &Original) -> io::Result<()> {
        if !is_id(&original.id) {
            return Ok(());
        }
        let size = (MAGIC.len() + original.compressor.len() + 1 + original.content.len()) as u64;
        if size > self.max_bytes {
            return Ok(());
        }
        let path = self.path(&original.id);
        let now = SystemTime::now();
        let known = self.index().entries.contains_key(&original.id);
        if known && touch(&path, now).is_ok() {
            self.index().add(&original.id, size, now);
            return Ok(());
        }
        let tmp_dir = self.dir.join(TMP);
        fs::create_dir_all(&tmp_dir)?;
        fs::create_dir_all(path.parent().unwrap_or(&self.dir))?;
        let tmp = tmp_dir.join(format!("{}.{}", original.id, std::process::id()));
        let written = (|| {
            let mut f = fs::File::create(&tmp)?;
            f.write_all(MAGIC)?;
            f.write_all(original.compressor.replace('\n', " ").as_bytes())?;
            f.write_all(b"\n")?;
            f.write_all(original.content.as_bytes())?;
            f.sync_data()?;
            drop(f);
            fs::rename(&tmp, &path)
        })();
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        self.index().add(&original.id, size, now);
        self.enforce_bounds();
        Ok(())
    }

    /// Removes files older than the age bound, then the oldest until under the byte bound.
    pub fn enforce_bounds(&self) {
        let cutoff = SystemTime::now().checked_sub(self.max_age);
        loop {
            let victim = {
                let ix = self.index();
                let Some((at, id)) = ix.by_age.first() else {
                    break;
                };
                let expired = cutoff.is_some_and(|c| *at < c);
                if !expired && ix.bytes <= self.max_bytes {
                    break;
                }
                id.clone()
            };
            self.discard(&victim);
        }
    }

    fn discard(&self, id: &str) {
        let _ = fs::remove_file(self.path(id));
        self.index().remove(id);
    }
}

fn touch(path: &Path, at: SystemTime) -> io::Result<()> {
    fs::File::options().write(true).open(path)?.set_modified(at)
}

/// Reads a file's bytes back into an original, if they are whole and belong to `id`.
fn parse(id: &str, bytes: &[u8]) -> Option<Original> {
    let rest = bytes.strip_prefix(MAGIC)?;
    let nl = rest.iter().position(|b| *b == b'\n')?;
    let compressor = std::str::from_utf8(&rest[..nl]).ok()?;
    let content = std::str::from_utf8(&rest[nl + 1..]).ok()?;
    (original_id(content) == id).then(|| Original {
        id: id.to_string(),
        content: content.into(),
        compressor: compressor.to_string(),
    })
}
