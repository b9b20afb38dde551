//! The runtime snapshot every request reads: the config plus what is built from it (upstreams,
//! the compression pipeline, the model). Swapped atomically on reload; a request keeps the
//! snapshot it started with until it ends.
//!
//! Must never: block a request on building a snapshot (building happens at start-up and in the
//! reload task, off the request path).

use crate::compress::Pipeline;
use crate::config::Config;
use crate::model::Device;
use crate::upstream::{Upstream, UpstreamUrl};
use arc_swap::ArcSwap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Instant, SystemTime};
use tokio::sync::Semaphore;

/// Everything a request needs, built from one config.
pub struct Snapshot {
    pub config: Arc<Config>,
    pub pipeline: Arc<Pipeline>,
    pub anthropic: Upstream,
    pub openai: Upstream,
    /// Bounds compressions running at once (the blocking pool's back-pressure).
    pub compressions: Arc<Semaphore>,
    /// The loaded model, kept so a reload with the same model settings reuses it.
    pub text: Option<crate::model_glue::TextModel>,
    /// Who may get a key injected and read local data endpoints.
    pub trust: crate::proxy::trust::TrustPolicy,
    /// Who may use a shared gateway (`auth.mode`, `auth.tokens`, the server-side keys).
    pub inbound: headroom_team::Inbound,
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{0}")]
    Config(String),
    #[error("model: {0}")]
    Model(String),
}

impl Snapshot {
    /// Builds a snapshot. `previous` lets a reload keep the loaded model when model settings
    /// did not change.
    pub fn build(config: Config, previous: Option<&Snapshot>) -> Result<Snapshot, BuildError> {
        Snapshot::build_with(config, previous, None)
    }

    /// The same, with a result cache shared beyond this process (a team gateway's Redis) for
    /// a newly built pipeline.
    pub fn build_with(
        config: Config,
        previous: Option<&Snapshot>,
        shared_results: Option<Arc<dyn crate::compress::SharedCache>>,
    ) -> Result<Snapshot, BuildError> {
        let anthropic = UpstreamUrl::parse(&config.upstreams.anthropic)
            .map_err(|e| BuildError::Config(format!("`upstreams.anthropic`: {e}")))?;
        let openai = UpstreamUrl::parse(&config.upstreams.openai)
            .map_err(|e| BuildError::Config(format!("`upstreams.openai`: {e}")))?;
        let reuse = |u: &Upstream, url: &UpstreamUrl| u.url == *url;
        let anthropic = match previous {
            Some(p) if reuse(&p.anthropic, &anthropic) => p.anthropic.clone(),
            _ => Upstream::new("anthropic", anthropic),
        };
        let openai = match previous {
            Some(p) if reuse(&p.openai, &openai) => p.openai.clone(),
            _ => Upstream::new("openai", openai),
        };
        // Same model settings: keep the loaded model (loading takes seconds and memory).
        let reusable = previous.filter(|p| {
            p.config.model == config.model && p.config.compression.text == config.compression.text
        });
        let text = match reusable {
            Some(p) if config.model.enabled => p.text.clone(),
            _ => crate::model_glue::text_model(&config).map_err(BuildError::Model)?,
        };
        // Same compression settings and the same model: keep the pipeline and its result cache,
        // so a reload that changes something else costs nothing to compress again.
        let same_model = |p: &Snapshot| match (&p.text, &text) {
            (Some(a), Some(b)) => Arc::ptr_eq(&a.compressor, &b.compressor),
            (None, None) => true,
            _ => false,
        };
        let listen = config.listen_addr().map_err(BuildError::Config)?;
        let mut compression = config.compression.clone();
        compression.marker_ids = config.retrieval.markers(listen);
        let pipeline = match previous {
            Some(p) if *p.pipeline.config() == compression && same_model(p) => p.pipeline.clone(),
            _ => {
                let p = Pipeline::new(compression, text.as_ref().map(|t| t.compressor.clone()));
                Arc::new(match shared_results {
                    Some(r) => p.with_shared_cache(r),
                    None => p,
                })
            }
        };
        let compressions = Arc::new(Semaphore::new(config.limits.max_concurrent_compressions));
        let trust = crate::proxy::trust::TrustPolicy::new(
            listen,
            &config.auth.allowed_hosts,
            &config.auth.allowed_origins,
        );
        let inbound = headroom_team::Inbound::new(config.auth.mode, &config.auth.tokens, &|k| {
            std::env::var(k).ok()
        });
        Ok(Snapshot {
            trust,
            inbound,
            config: Arc::new(config),
            pipeline,
            anthropic,
            openai,
            compressions,
            text,
        })
    }
}

impl Snapshot {
    /// The device the model actually runs on, when it is loaded.
    pub fn model_device(&self) -> Option<Device> {
        self.text.as_ref().map(|t| t.device)
    }
}

/// Result of the last reload, for `/health?verbose=1`.
#[derive(Debug, Clone)]
pub struct ReloadStatus {
    pub at: SystemTime,
    pub ok: bool,
    pub message: String,
}

/// Process-wide state: the current snapshot and facts about the process.
pub struct Shared {
    current: ArcSwap<Snapshot>,
    pub config_path: Option<PathBuf>,
    pub started: Instant,
    /// `ANTHROPIC_API_KEY`, read once at start; injected only where the config says so.
    pub api_key: Option<String>,
    pub last_reload: Mutex<Option<ReloadStatus>>,
    in_flight: InFlightCounts,
    /// Responses still streaming, so a shutdown that cuts them records their usage.
    pub streams: crate::usage::OpenStreams,
    /// Originals of compressed blocks. Opened once, even with retrieval off: a reload keeps the
    /// same store, so what earlier turns stored stays retrievable.
    pub originals: Arc<dyn crate::store::OriginalsStore>,
    /// Shared team state, when `state.redis_url` is set (set once at start).
    pub team: OnceLock<Arc<crate::team::Team>>,
    /// Set on SIGTERM/SIGINT: `/health/ready` answers 503 so balancers stop sending.
    pub draining: AtomicBool,
    /// Set once the listener accepts connections.
    pub listening: AtomicBool,
}

impl Shared {
    pub fn new(snapshot: Snapshot, config_path: Option<PathBuf>) -> Arc<Shared> {
        Shared::with_team(snapshot, config_path, None)
    }

    /// With team state: originals are read local tiers first, then Redis, and written to both.
    pub fn with_team(
        snapshot: Snapshot,
        config_path: Option<PathBuf>,
        team: Option<Arc<crate::team::Team>>,
    ) -> Arc<Shared> {
        let mut originals = crate::retrieval::open_store(&snapshot.config);
        if let Some(t) = &team {
            let shared = headroom_team::RedisOriginals::new(
                t.redis.clone(),
                snapshot.config.state.originals_ttl_seconds,
            );
            originals = Arc::new(headroom_team::Layered::new(originals, Arc::new(shared)));
        }
        let team_cell = OnceLock::new();
        if let Some(t) = team {
            let _ = team_cell.set(t);
        }
        Arc::new(Shared {
            originals,
            current: ArcSwap::from_pointee(snapshot),
            config_path,
            started: Instant::now(),
            api_key: std::env::var("ANTHROPIC_API_KEY")
                .ok()
                .filter(|k| !k.trim().is_empty()),
            last_reload: Mutex::new(None),
            in_flight: InFlightCounts::default(),
            streams: crate::usage::OpenStreams::default(),
            team: team_cell,
            draining: AtomicBool::new(false),
            listening: AtomicBool::new(false),
        })
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    pub fn swap(&self, snapshot: Snapshot) {
        self.current.store(Arc::new(snapshot));
    }

    pub fn team(&self) -> Option<&Arc<crate::team::Team>> {
        self.team.get()
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    /// Requests currently being handled.
    pub fn in_flight(&self) -> usize {
        let slots = self
            .in_flight
            .slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let n: isize = slots.iter().map(|s| s.0.load(Ordering::Acquire)).sum();
        n.max(0) as usize
    }

    /// Counts a request as in flight until the guard drops.
    pub fn enter(&self) -> InFlight {
        let counts = &self.in_flight;
        let slot = THREAD_SLOT.with(|mine| {
            let mut mine = mine.borrow_mut();
            match &*mine {
                Some((id, slot)) if *id == counts.id => slot.clone(),
                _ => {
                    let slot = Arc::new(Slot::default());
                    counts
                        .slots
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(slot.clone());
                    *mine = Some((counts.id, slot.clone()));
                    slot
                }
            }
        });
        slot.0.fetch_add(1, Ordering::AcqRel);
        InFlight(slot)
    }
}

/// Requests in flight, counted per thread: one count both workers added to and took from on
/// every request moved its cache line between the cores twice a request. A guard takes from
/// the count it added to, wherever it drops, so each count is never below zero and their sum
/// is the number in flight.
struct InFlightCounts {
    /// Tells this process state's counts from another's (tests run several).
    id: u64,
    slots: Mutex<Vec<Arc<Slot>>>,
}

impl Default for InFlightCounts {
    fn default() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        InFlightCounts {
            id: NEXT.fetch_add(1, Ordering::Relaxed),
            slots: Mutex::new(Vec::new()),
        }
    }
}

/// One thread's count, on cache lines of its own.
#[repr(align(128))]
#[derive(Default)]
struct Slot(AtomicIsize);

thread_local! {
    /// The count this thread adds to, and whose it is.
    static THREAD_SLOT: std::cell::RefCell<Option<(u64, Arc<Slot>)>> =
        const { std::cell::RefCell::new(None) };
}

/// Held by each request's context; shutdown waits until none are left.
pub struct InFlight(Arc<Slot>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0 .0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(min_tokens: usize, level: &str) -> Config {
        let mut c = Config::default();
        c.model.enabled = false;
        c.upstreams.anthropic = "http://127.0.0.1:9".into();
        c.upstreams.openai = "http://127.0.0.1:9".into();
        c.compression.min_tokens = min_tokens;
        c.log.level = level.into();
        c
    }

    #[test]
    fn in_flight_counts_guards_across_threads_and_keeps_process_states_apart() {
        let dir = tempfile::tempdir().unwrap();
        let shared = |sub: &str| {
            let mut c = config(300, "info");
            c.retrieval.path = Some(dir.path().join(sub));
            Shared::new(Snapshot::build(c, None).unwrap(), None)
        };
        let (a, b) = (shared("a"), shared("b"));
        let here = [a.enter(), a.enter()];
        let other = b.enter();
        // Taken on other threads; one of this thread's guards dropped there.
        let [kept, moved] = here;
        let (from_there, a2) = (a.clone(), a.clone());
        let theirs = std::thread::spawn(move || {
            drop(moved);
            (from_there.enter(), from_there.enter())
        })
        .join()
        .unwrap();
        assert_eq!((a2.in_flight(), b.in_flight()), (3, 1));
        let again = a.enter();
        assert_eq!(a.in_flight(), 4);
        drop(theirs);
        drop((kept, other));
        assert_eq!((a.in_flight(), b.in_flight()), (1, 0));
        drop(again);
        assert_eq!(a.in_flight(), 0);
    }

    #[test]
    fn reload_keeps_the_pipeline_and_its_cache_unless_compression_changed() {
        let first = Snapshot::build(config(300, "info"), None).unwrap();
        let log_only = Snapshot::build(config(300, "debug"), Some(&first)).unwrap();
        assert!(Arc::ptr_eq(&first.pipeline, &log_only.pipeline));
        let changed = Snapshot::build(config(500, "debug"), Some(&log_only)).unwrap();
        assert!(!Arc::ptr_eq(&log_only.pipeline, &changed.pipeline));
        assert_eq!(changed.pipeline.config().min_tokens, 500);
    }

    #[test]
    fn markers_follow_the_retrieval_section() {
        let on = Snapshot::build(config(300, "info"), None).unwrap();
        let ids = &on.pipeline.config().marker_ids;
        assert!(ids.enabled && ids.fetch_base.is_none());
        let mut c = config(300, "info");
        c.retrieval.tool = false;
        let no_tool = Snapshot::build(c, Some(&on)).unwrap();
        assert!(!Arc::ptr_eq(&on.pipeline, &no_tool.pipeline));
        assert_eq!(
            no_tool.pipeline.config().marker_ids.fetch_base.as_deref(),
            Some("http://127.0.0.1:8787")
        );
        let mut c = config(300, "info");
        c.retrieval.enabled = false;
        let off = Snapshot::build(c, Some(&no_tool)).unwrap();
        assert!(!off.pipeline.config().marker_ids.enabled);
    }
}
