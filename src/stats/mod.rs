//! Savings totals: this run's, lifetime totals and history shared through a stats file, and
//! the last requests served. Every few seconds (when something changed) and at shutdown this
//! process adds what it counted since its last flush to the file (see [`persist`]), so several
//! instances on one file sum exactly.
//!
//! Must never: crash on a corrupt or unreadable state file (it is set aside with a warning);
//! record credentials, header values or prompt text; warn about a failing write more than
//! once per [`WARN_EVERY`].

pub mod history;
pub mod persist;
pub mod query;
pub mod recent;
pub mod report;
mod shard;
pub mod totals;

use crate::pricing::Pricing;
use history::{Period, DAY};
use persist::Ledger;
use recent::RecentRequest;
use shard::{PlainRun, Shard};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
pub use totals::Totals;

/// A stats file that cannot be written is warned about at most this often.
pub const WARN_EVERY: Duration = Duration::from_secs(600);

/// One finished request, as recorded.
#[derive(Debug, Default)]
pub struct RequestRecord<'a> {
    pub failed: bool,
    pub blocks: &'a [crate::compress::BlockReport],
    /// Blocks below `compression.min_tokens`, never looked at.
    pub small_blocks: usize,
    pub usage: crate::proxy::usage::Usage,
    /// The model the upstream named in its response.
    pub model: Option<&'a str>,
    pub method: &'a str,
    pub path: &'a str,
    pub status: u16,
    pub duration: Duration,
    /// The gateway token the request came with (`auth.mode: tokens`), by its name.
    pub token: Option<&'a str>,
}

impl RequestRecord<'_> {
    /// No blocks and no gateway token: it adds only itself, its failure and usage, under its
    /// model (see [`shard::PlainRun`]).
    fn is_plain(&self) -> bool {
        self.blocks.is_empty() && self.small_blocks == 0 && self.token.is_none()
    }

    /// What this request adds to any set of totals.
    fn totals(&self, model: &str) -> Totals {
        let mut t = Totals {
            requests: 1,
            failed: u64::from(self.failed),
            ..Default::default()
        };
        let mut changed = false;
        for b in self.blocks {
            let (before, after) = (b.tokens_before as u64, b.tokens_after as u64);
            t.tokens_before += before;
            t.tokens_after += after;
            for (map, key) in [(&mut t.compressors, b.compressor), (&mut t.kinds, b.kind)] {
                let e = map.entry(key.to_string()).or_default();
                e.blocks += 1;
                e.tokens_before += before;
                e.tokens_after += after;
            }
            changed |= b.changed();
            *t.outcomes
                .entry(b.outcome.as_str().to_string())
                .or_default() += 1;
        }
        if self.small_blocks > 0 {
            t.outcomes
                .insert("unchanged-small".into(), self.small_blocks as u64);
        }
        t.compressed_requests = u64::from(changed);
        t.upstream_usage = totals::UsageTotals {
            input: self.usage.input,
            output: self.usage.output,
            cache_read: self.usage.cache_read,
            cache_creation: self.usage.cache_creation,
        };
        let per_model = totals::ModelTotals {
            requests: 1,
            tokens_before: t.tokens_before,
            tokens_after: t.tokens_after,
            upstream_usage: t.upstream_usage,
        };
        if let Some(name) = self.token {
            t.tokens.insert(name.to_string(), per_model.clone());
        }
        *t.model_entry(model) = per_model;
        t
    }
}

#[derive(Debug, Default)]
struct Counts {
    run: Totals,
    /// The file as of this process's last successful flush.
    base: Ledger,
    /// Taken out of `pending` by the flush under way.
    flushing: Ledger,
    /// Counted since the last flush.
    pending: Ledger,
    /// Counted since the last push to the team's shared totals (`state.redis_url` set).
    team: Option<Ledger>,
}

impl Counts {
    /// Adds a shard's plain requests to the totals and empties its run.
    fn take_plain(&mut self, p: &mut PlainRun) {
        if p.requests == 0 {
            return;
        }
        self.add_with(p.unix, |t| p.add_to(t));
        p.clear();
    }

    /// Adds one request's totals everywhere they count.
    fn add(&mut self, unix: i64, delta: &Totals) {
        self.add_with(unix, |t| t.add(delta));
    }

    /// Applies `add` to every set of totals something recorded at `unix` counts in: this run's,
    /// the pending ledger's totals and history, and the team's when shared.
    fn add_with(&mut self, unix: i64, add: impl Fn(&mut Totals)) {
        add(&mut self.run);
        add(&mut self.pending.totals);
        self.pending.history.record_with(unix, &add);
        if let Some(team) = self.team.as_mut() {
            add(&mut team.totals);
            team.history.record_with(unix, &add);
        }
    }
}

/// The last stats-file write that failed, for `/health?verbose=1`.
#[derive(Debug, Clone, PartialEq)]
pub struct WriteError {
    pub at_unix: i64,
    pub message: String,
}

#[derive(Debug, Default)]
struct WriteState {
    error: Option<WriteError>,
    last_warned: Option<Instant>,
}

pub struct Stats {
    started: Instant,
    /// Lock order: `counts` before any shard.
    counts: Mutex<Counts>,
    /// Per-thread plain runs and dashboard entries (see [`shard`]).
    shards: Box<[Shard]>,
    path: Mutex<Option<PathBuf>>,
    /// One flush at a time (the flusher thread and shutdown may race).
    flush_lock: Mutex<()>,
    dirty: AtomicBool,
    write: Mutex<WriteState>,
    /// The stats file's modification time when this process last read or wrote it.
    file_mtime: Mutex<Option<SystemTime>>,
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

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Stats {
    pub fn new() -> Stats {
        Stats {
            started: Instant::now(),
            counts: Mutex::new(Counts::default()),
            shards: (0..shard::SHARDS).map(|_| Shard::default()).collect(),
            path: Mutex::new(None),
            flush_lock: Mutex::new(()),
            dirty: AtomicBool::new(false),
            write: Mutex::new(WriteState::default()),
            file_mtime: Mutex::new(None),
        }
    }

    pub fn record(&self, r: &RequestRecord<'_>) {
        self.record_at(r, unix_ms());
    }

    fn record_at(&self, r: &RequestRecord<'_>, at_ms: u64) {
        let unix = (at_ms / 1000) as i64;
        let order = self.started.elapsed().as_nanos() as u64;
        let here = &self.shards[shard::index()];
        let Ok(mut own) = here.lock() else {
            return;
        };
        // The dashboard's entry: the oldest one's text buffers are reused once the ring is full.
        let mut recent = own.recent.reuse_oldest();
        totals::model_key_into(r.model, &mut recent.model);
        let plain = r.is_plain();
        let (mut tokens_before, mut tokens_after) = (0, 0);
        if !plain || !own.plain.takes(&recent.model, unix) {
            // This thread's run goes into the totals first (keeping the order in which models
            // first appear), taking the locks in their order.
            drop(own);
            let Ok(mut c) = self.counts.lock() else {
                return;
            };
            let Ok(mut again) = here.lock() else {
                return;
            };
            c.take_plain(&mut again.plain);
            if !plain {
                let delta = r.totals(&recent.model);
                c.add(unix, &delta);
                (tokens_before, tokens_after) = (delta.tokens_before, delta.tokens_after);
            }
            own = again;
        }
        if plain {
            own.plain.count(&recent.model, unix, r.failed, &r.usage);
        }
        recent::display_method_into(r.method, &mut recent.method);
        recent::display_path_into(r.path, &mut recent.path);
        recent.at_unix_ms = at_ms;
        recent.order = order;
        recent.status = r.status;
        recent.duration_ms = (r.duration.as_secs_f64() * 100_000.0).round() / 100.0;
        recent.tokens_before = tokens_before;
        recent.tokens_after = tokens_after;
        own.recent.push(recent);
        // Set under the shard's lock, so a flush that cleared it either took this request or
        // sees it set again. Read first: a flag already set is not written (its cache line
        // stays shared between the cores).
        if !self.dirty.load(Ordering::Acquire) {
            self.dirty.store(true, Ordering::Release);
        }
    }

    /// The counts with every request counted so far in their totals.
    fn folded(&self) -> Option<std::sync::MutexGuard<'_, Counts>> {
        let mut c = self.counts.lock().ok()?;
        for shard in self.shards.iter() {
            if let Ok(mut s) = shard.lock() {
                c.take_plain(&mut s.plain);
            }
        }
        Some(c)
    }

    /// This run's and lifetime totals.
    pub fn snapshot(&self) -> (Totals, Totals) {
        let Some(c) = self.folded() else {
            return Default::default();
        };
        let mut life = c.base.totals.clone();
        life.add(&c.flushing.totals);
        life.add(&c.pending.totals);
        (c.run.clone(), life)
    }

    /// Lifetime totals and history: the file as last seen plus what this process has not
    /// written yet.
    pub fn ledger(&self) -> Ledger {
        let Some(c) = self.folded() else {
            return Ledger::default();
        };
        let mut l = c.base.clone();
        l.add(&c.flushing);
        l.add(&c.pending);
        l
    }

    /// From now on, also count what the team's shared totals have not been sent yet.
    pub fn share_with_team(&self) {
        if let Some(mut c) = self.folded() {
            c.team.get_or_insert_with(Ledger::default);
        }
    }

    /// What the team's shared totals have not been sent yet, emptied (empty when not shared).
    pub fn take_team_pending(&self) -> Ledger {
        let Some(mut c) = self.folded() else {
            return Ledger::default();
        };
        c.team.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// A copy of what the team's shared totals have not been sent yet.
    pub fn team_pending(&self) -> Ledger {
        let Some(c) = self.folded() else {
            return Ledger::default();
        };
        c.team.clone().unwrap_or_default()
    }

    /// The last requests served, newest first.
    pub fn recent(&self) -> Vec<RecentRequest> {
        let mut all = Vec::new();
        for shard in self.shards.iter() {
            if let Ok(s) = shard.lock() {
                // Newest first within a shard, so the stable sort keeps ties in that order.
                all.extend(s.recent.iter().rev().cloned());
            }
        }
        all.sort_by_key(|r| std::cmp::Reverse(r.order));
        all.truncate(recent::RECENT);
        all
    }

    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// `GET /stats`: this run at the top level, plus today, the last 7 days (UTC) and lifetime.
    pub fn render_json(&self, pricing: &Pricing) -> Vec<u8> {
        self.render_json_over(&self.ledger(), pricing, "this proxy")
    }

    /// `GET /stats` with today, the last 7 days and lifetime taken from `ledger` (the team's
    /// shared totals on a gateway); `scope` says whose totals they are.
    pub fn render_json_over(&self, ledger: &Ledger, pricing: &Pricing, scope: &str) -> Vec<u8> {
        let run = self.snapshot().0;
        let mut v = run.view(pricing);
        let mut summary = summary(ledger, persist::now_unix(), pricing);
        if let serde_json::Value::Object(s) = &mut summary {
            s.insert("totals_scope".into(), scope.into());
        }
        if let (Some(o), serde_json::Value::Object(s)) = (v.as_object_mut(), summary) {
            o.insert("uptime_seconds".into(), self.uptime().as_secs().into());
            o.extend(s);
        }
        serde_json::to_vec_pretty(&v).unwrap_or_default()
    }

    /// Loads lifetime totals from `path` (setting a corrupt file aside) and remembers the path.
    pub fn open(&self, path: PathBuf) {
        let base = persist::load(&path);
        if let Ok(mut c) = self.counts.lock() {
            c.base = base;
        }
        self.remember_mtime(&path);
        if let Ok(mut p) = self.path.lock() {
            *p = Some(path);
        }
    }

    /// Adds what this process counted since its last flush to the file, if anything.
    pub fn flush(&self) {
        let Ok(_one) = self.flush_lock.lock() else {
            return;
        };
        let Some(path) = self.path.lock().ok().and_then(|p| p.clone()) else {
            return;
        };
        if !self.dirty.swap(false, Ordering::AcqRel) {
            self.follow_other_writers(&path);
            return;
        }
        let delta = match self.folded() {
            Some(mut c) => {
                let d = std::mem::take(&mut c.pending);
                c.flushing = d.clone();
                d
            }
            None => return,
        };
        let result = persist::merge_into(&path, &delta, persist::now_unix());
        let Ok(mut c) = self.counts.lock() else {
            return;
        };
        let flushed = std::mem::take(&mut c.flushing);
        match result {
            Ok(file) => {
                c.base = file;
                drop(c);
                self.remember_mtime(&path);
                self.note_write(&path, None);
            }
            Err(e) => {
                c.pending.add(&flushed);
                drop(c);
                self.dirty.store(true, Ordering::Release);
                self.note_write(&path, Some(e));
            }
        }
    }

    /// With nothing of its own to write, an instance still picks up what others wrote, so its
    /// `/stats` and dashboard show the shared totals.
    fn follow_other_writers(&self, path: &std::path::Path) {
        let now = std::fs::metadata(path).and_then(|m| m.modified()).ok();
        let seen = self.file_mtime.lock().ok().and_then(|m| *m);
        if now.is_none() || now == seen {
            return;
        }
        let file = persist::load(path);
        if let Ok(mut c) = self.counts.lock() {
            c.base = file;
        }
        self.remember_mtime(path);
    }

    fn remember_mtime(&self, path: &std::path::Path) {
        if let Ok(mut m) = self.file_mtime.lock() {
            *m = std::fs::metadata(path).and_then(|m| m.modified()).ok();
        }
    }

    fn note_write(&self, path: &std::path::Path, err: Option<std::io::Error>) {
        let Ok(mut w) = self.write.lock() else { return };
        match err {
            None => {
                if w.error.take().is_some() {
                    tracing::info!(path = %path.display(), "stats file written again");
                }
                w.last_warned = None;
            }
            Some(e) => {
                let due = w.last_warned.is_none_or(|t| t.elapsed() >= WARN_EVERY);
                if due {
                    tracing::warn!(
                        path = %path.display(),
                        error = %e,
                        "cannot write stats file; counts are kept in memory and retried"
                    );
                    w.last_warned = Some(Instant::now());
                }
                w.error = Some(WriteError {
                    at_unix: persist::now_unix(),
                    message: format!("{}: {e}", path.display()),
                });
            }
        }
    }

    /// The last failed write of the stats file, while writes keep failing.
    pub fn last_write_error(&self) -> Option<WriteError> {
        self.write.lock().ok().and_then(|w| w.error.clone())
    }
}

/// Today and the last 7 days (UTC days, today included) and lifetime, as JSON views.
pub fn summary(ledger: &Ledger, now: i64, pricing: &Pricing) -> serde_json::Value {
    let today = Period::Day.start_of(now);
    let end = today + DAY;
    serde_json::json!({
        "today": ledger.history.sum(Period::Day, today, end).view(pricing),
        "last_7_days": ledger.history.sum(Period::Day, today - 6 * DAY, end).view(pricing),
        "lifetime": ledger.totals.view(pricing),
        "estimates": "dollar figures are estimates from the price table (pricing: in the config)",
    })
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
mod tests;
