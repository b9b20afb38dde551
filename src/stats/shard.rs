//! Per-thread shares of the per-request counting. Each thread records into one shard: its plain
//! requests not yet in the totals ([`PlainRun`]) and its last requests for the dashboard. A
//! plain request then takes a lock no other worker takes and writes memory no other core
//! writes; before, every request took the one lock on the totals, and the totals' and the
//! ring's cache lines passed between the cores with each request.
//!
//! Readers take every shard's run into the totals first (`Stats::folded`) and merge the
//! shards' dashboard entries by the order they were recorded in, so what they read is what one
//! shared set of counts would hold.
//!
//! Must never: let a counted request go unread by a later reader, or lose one.

use super::recent::Ring;
use super::totals::Totals;
use crate::stats::history::Period;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Shards per `Stats`: more than the worker threads a laptop or a gateway runs, so each worker
/// has its own. Threads past this share one (correct, only contended).
pub const SHARDS: usize = 16;

/// The shard this thread records into.
pub fn index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static INDEX: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
    }
    INDEX.with(|i| *i)
}

/// One thread's share, on cache lines of its own.
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct Shard(Mutex<Share>);

impl Shard {
    pub fn lock(&self) -> Result<MutexGuard<'_, Share>, PoisonError<MutexGuard<'_, Share>>> {
        self.0.lock()
    }
}

#[derive(Debug, Default)]
pub struct Share {
    pub plain: PlainRun,
    pub recent: Ring,
}

/// Plain requests (no blocks, no gateway token: most of them) of one model in one UTC hour,
/// counted but not yet added to the totals. Consecutive plain requests nearly always share
/// both, so each adds a few integers here instead of walking five sets of totals (this run's,
/// the pending ledger's totals, hour and day, and the team's). Any other request of the same
/// thread, and every reader of the totals, adds the run first: what anyone reads, and the
/// order in which a thread's models first appear (which decides the capped model list), are
/// the same as if each request had been added on its own.
#[derive(Debug, Default)]
pub struct PlainRun {
    pub model: String,
    /// A second in the run's hour (its hour and day are the buckets it goes to).
    pub unix: i64,
    pub requests: u64,
    pub failed: u64,
    pub usage: crate::usage::Usage,
}

impl PlainRun {
    /// Whether a plain request of `model` at `unix` can join this run (an empty run takes any).
    pub fn takes(&self, model: &str, unix: i64) -> bool {
        self.requests == 0
            || (Period::Hour.start_of(self.unix) == Period::Hour.start_of(unix)
                && self.model == model)
    }

    /// Counts one plain request; the run must [take](Self::takes) it.
    pub fn count(&mut self, model: &str, unix: i64, failed: bool, usage: &crate::usage::Usage) {
        if self.requests == 0 {
            self.model.clear();
            self.model.push_str(model);
            self.unix = unix;
        }
        self.requests += 1;
        self.failed += u64::from(failed);
        self.usage.add(usage);
    }

    /// What the run adds to a set of totals.
    pub fn add_to(&self, t: &mut Totals) {
        t.requests += self.requests;
        t.failed += self.failed;
        t.upstream_usage.add(&self.usage);
        let m = t.model_entry(&self.model);
        m.requests += self.requests;
        m.upstream_usage.add(&self.usage);
    }

    /// Empties the run (its model name's buffer is kept).
    pub fn clear(&mut self) {
        self.requests = 0;
        self.failed = 0;
        self.usage = Default::default();
    }
}
