//! Savings totals: this run's, and lifetime totals that survive restarts in a state file
//! written atomically (temp file + rename) every few seconds when changed and at shutdown.
//!
//! Must never: crash on a corrupt or unreadable state file (it is set aside with a warning);
//! record credentials or prompt text.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct CompressorTotals {
    pub blocks: u64,
    pub tokens_before: u64,
    pub tokens_after: u64,
}

#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct UsageTotals {
    pub input: u64,
    pub output: u64,
    pub cache_read: u64,
    pub cache_creation: u64,
}

/// Counters that add up; the same shape for this run and for the lifetime file.
#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Totals {
    pub requests: u64,
    pub failed: u64,
    pub compressed_requests: u64,
    pub tokens_before: u64,
    pub tokens_after: u64,
    pub compressors: BTreeMap<String, CompressorTotals>,
    pub upstream_usage: UsageTotals,
}

impl Totals {
    fn add(&mut self, o: &Totals) {
        self.requests += o.requests;
        self.failed += o.failed;
        self.compressed_requests += o.compressed_requests;
        self.tokens_before += o.tokens_before;
        self.tokens_after += o.tokens_after;
        for (k, v) in &o.compressors {
            let e = self.compressors.entry(k.clone()).or_default();
            e.blocks += v.blocks;
            e.tokens_before += v.tokens_before;
            e.tokens_after += v.tokens_after;
        }
        self.upstream_usage.input += o.upstream_usage.input;
        self.upstream_usage.output += o.upstream_usage.output;
        self.upstream_usage.cache_read += o.upstream_usage.cache_read;
        self.upstream_usage.cache_creation += o.upstream_usage.cache_creation;
    }

    fn view(&self) -> serde_json::Value {
        let saved = self.tokens_before.saturating_sub(self.tokens_after);
        let per: serde_json::Map<String, serde_json::Value> = self
            .compressors
            .iter()
            .map(|(k, v)| {
                let s = v.tokens_before.saturating_sub(v.tokens_after);
                (
                    k.clone(),
                    serde_json::json!({
                        "blocks": v.blocks,
                        "tokens_before": v.tokens_before,
                        "tokens_after": v.tokens_after,
                        "tokens_saved": s,
                        "savings_percent": percent(s, v.tokens_before),
                    }),
                )
            })
            .collect();
        serde_json::json!({
            "requests": self.requests,
            "failed": self.failed,
            "compressed_requests": self.compressed_requests,
            "tokens_before": self.tokens_before,
            "tokens_after": self.tokens_after,
            "tokens_saved": saved,
            "savings_percent": percent(saved, self.tokens_before),
            "compressors": per,
            "upstream_usage": self.upstream_usage,
        })
    }
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        (part as f64 * 1000.0 / whole as f64).round() / 10.0
    }
}

/// The lifetime file's content.
#[derive(Debug, Default, Serialize, Deserialize)]
struct StateFile {
    version: u32,
    totals: Totals,
}

/// One finished request, as recorded.
#[derive(Debug, Default)]
pub struct RequestRecord<'a> {
    pub failed: bool,
    pub blocks: &'a [crate::compress::BlockReport],
    pub usage: crate::proxy::usage::Usage,
}

pub struct Stats {
    started: Instant,
    run: Mutex<Totals>,
    /// Lifetime totals as loaded at start (this run is added on top).
    base: Mutex<Totals>,
    path: Mutex<Option<PathBuf>>,
    dirty: AtomicBool,
}

static GLOBAL: LazyLock<Stats> = LazyLock::new(Stats::new);

/// The process-wide stats.
pub fn global() -> &'static Stats {
    &GLOBAL
}

impl Default for Stats {
    fn default() -> Self {
        Stats::new()
    }
}

impl Stats {
    pub fn new() -> Stats {
        Stats {
            started: Instant::now(),
            run: Mutex::new(Totals::default()),
            base: Mutex::new(Totals::default()),
            path: Mutex::new(None),
            dirty: AtomicBool::new(false),
        }
    }

    pub fn record(&self, r: &RequestRecord<'_>) {
        let Ok(mut t) = self.run.lock() else { return };
        t.requests += 1;
        if r.failed {
            t.failed += 1;
        }
        let mut changed = false;
        for b in r.blocks {
            t.tokens_before += b.tokens_before as u64;
            t.tokens_after += b.tokens_after as u64;
            let e = t.compressors.entry(b.compressor.to_string()).or_default();
            e.blocks += 1;
            e.tokens_before += b.tokens_before as u64;
            e.tokens_after += b.tokens_after as u64;
            changed |= b.tokens_after < b.tokens_before;
        }
        if changed {
            t.compressed_requests += 1;
        }
        t.upstream_usage.input += r.usage.input;
        t.upstream_usage.output += r.usage.output;
        t.upstream_usage.cache_read += r.usage.cache_read;
        t.upstream_usage.cache_creation += r.usage.cache_creation;
        self.dirty.store(true, Ordering::Release);
    }

    /// This run's and lifetime totals.
    pub fn snapshot(&self) -> (Totals, Totals) {
        let run = self.run.lock().map(|t| t.clone()).unwrap_or_default();
        let mut life = self.base.lock().map(|t| t.clone()).unwrap_or_default();
        life.add(&run);
        (run, life)
    }

    pub fn render_json(&self) -> Vec<u8> {
        let (run, life) = self.snapshot();
        let mut v = run.view();
        if let Some(o) = v.as_object_mut() {
            o.insert(
                "uptime_seconds".into(),
                self.started.elapsed().as_secs().into(),
            );
            o.insert("lifetime".into(), life.view());
        }
        serde_json::to_vec_pretty(&v).unwrap_or_default()
    }

    /// Loads lifetime totals from `path` (setting a corrupt file aside) and remembers the path.
    pub fn open(&self, path: PathBuf) {
        let base = load(&path);
        if let Ok(mut b) = self.base.lock() {
            *b = base;
        }
        if let Ok(mut p) = self.path.lock() {
            *p = Some(path);
        }
    }

    /// Writes lifetime totals if they changed since the last write.
    pub fn flush(&self) {
        if !self.dirty.swap(false, Ordering::AcqRel) {
            return;
        }
        let Some(path) = self.path.lock().ok().and_then(|p| p.clone()) else {
            return;
        };
        let (_, life) = self.snapshot();
        if let Err(e) = write_atomic(&path, &life) {
            self.dirty.store(true, Ordering::Release);
            tracing::warn!(path = %path.display(), error = %e, "cannot write stats file");
        }
    }

    /// Flushes every `period` on a plain thread for the life of the process.
    pub fn spawn_flusher(&'static self, period: Duration) {
        let _ = std::thread::Builder::new()
            .name("headroom-stats".into())
            .spawn(move || loop {
                std::thread::sleep(period);
                self.flush();
            });
    }
}

fn load(path: &Path) -> Totals {
    let text = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Totals::default(),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot read stats file; starting from zero");
            return Totals::default();
        }
    };
    match serde_json::from_slice::<StateFile>(&text) {
        Ok(s) => s.totals,
        Err(e) => {
            let stamp = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            let aside = path.with_extension(format!("corrupt-{stamp}.json"));
            let moved = std::fs::rename(path, &aside).is_ok();
            tracing::warn!(
                path = %path.display(),
                set_aside = moved.then(|| aside.display().to_string()),
                error = %e,
                "stats file is corrupt; set aside, starting from zero"
            );
            Totals::default()
        }
    }
}

fn write_atomic(path: &Path, totals: &Totals) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let body = serde_json::to_vec_pretty(&StateFile {
        version: 1,
        totals: totals.clone(),
    })
    .map_err(std::io::Error::other)?;
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&body)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

/// The default state file: `~/Library/Application Support/headroom/stats.json` on macOS,
/// `$XDG_STATE_HOME/headroom/stats.json` (or `~/.local/state/...`) elsewhere.
pub fn default_path() -> Option<PathBuf> {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    if cfg!(target_os = "macos") {
        return home.map(|h| h.join("Library/Application Support/headroom/stats.json"));
    }
    let state = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| home.map(|h| h.join(".local/state")))?;
    Some(state.join("headroom/stats.json"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compress::BlockReport;

    fn block(before: usize, after: usize) -> BlockReport {
        BlockReport {
            kind: "json",
            compressor: "json",
            tokens_before: before,
            tokens_after: after,
            outcome: headroom_compress::Outcome::Compressed,
            duration: Duration::ZERO,
            cached: false,
        }
    }

    #[test]
    fn lifetime_totals_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s/stats.json");
        let a = Stats::new();
        a.open(path.clone());
        a.record(&RequestRecord {
            blocks: &[block(1000, 100)],
            ..Default::default()
        });
        a.flush();
        let b = Stats::new();
        b.open(path.clone());
        b.record(&RequestRecord {
            failed: true,
            ..Default::default()
        });
        let (run, life) = b.snapshot();
        assert_eq!(run.requests, 1);
        assert_eq!(
            (
                life.requests,
                life.failed,
                life.tokens_before,
                life.tokens_after
            ),
            (2, 1, 1000, 100)
        );
        assert_eq!(life.compressors["json"].blocks, 1);
    }

    #[test]
    fn corrupt_file_is_set_aside() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stats.json");
        std::fs::write(&path, b"{not json").unwrap();
        let s = Stats::new();
        s.open(path.clone());
        assert_eq!(s.snapshot().1, Totals::default());
        assert!(!path.exists());
        let aside: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(aside.len(), 1);
    }

    #[test]
    fn savings_percent_is_rounded() {
        assert_eq!(percent(1, 3), 33.3);
        assert_eq!(percent(0, 0), 0.0);
    }
}
