//! Structured logs to stderr through `tracing`, with Pingora's `log` records bridged in. The
//! level can change on reload; the format (text or JSON) is fixed at start.
//!
//! Access lines (target `headroom::request`, one per request) are batched while the server's
//! supervisor runs: they reach stderr within [`ACCESS_LOG_FLUSH`] (or as soon as 64 KiB wait),
//! before any other line (so the order stays), and at reload, log rotation, shutdown and on a
//! panic. Only a kill the process cannot see (SIGKILL, the OOM killer) can lose that interval's
//! lines.
//!
//! Must never: print header values or prompt text (callers log sizes and names only). Pingora
//! logs whole request headers (API keys, OAuth tokens) at debug and trace, so its records are
//! capped at INFO whatever level is configured.

use crate::config::{Log, LogFormat};
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Duration;
use tracing_subscriber::layer::{Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, reload, EnvFilter, Registry};

static RELOAD: OnceLock<reload::Handle<EnvFilter, Registry>> = OnceLock::new();

/// Set once the text format is installed: request lines may then be written pre-formatted.
static TEXT: AtomicBool = AtomicBool::new(false);

/// Whether the installed log format is text (request lines are then formatted by
/// [`crate::observe`] itself, the same bytes at a fraction of the cost).
pub fn is_text() -> bool {
    TEXT.load(Ordering::Relaxed)
}

/// Moves whenever the filter can have changed (start, reload).
static LEVEL_GENERATION: AtomicU64 = AtomicU64::new(1);
/// The last answer of [`access_lines_on`]: `generation << 2 | 1` (on) or `| 2` (off).
static ACCESS_ON: AtomicU64 = AtomicU64::new(0);

/// Whether access lines (INFO, [`ACCESS_TARGET`]) are logged: tracing's own check (a
/// dispatcher lookup and the filter, about 600 instructions), asked once per filter change
/// instead of per request. An answer found while the level changed carries the older
/// generation, so the next call asks again.
pub fn access_lines_on() -> bool {
    let generation = LEVEL_GENERATION.load(Ordering::Acquire);
    let cached = ACCESS_ON.load(Ordering::Relaxed);
    if cached >> 2 == generation {
        return cached & 3 == 1;
    }
    let on = tracing::enabled!(target: "headroom::request", tracing::Level::INFO);
    ACCESS_ON.store(generation << 2 | if on { 1 } else { 2 }, Ordering::Relaxed);
    on
}

/// The target of the per-request access line.
pub const ACCESS_TARGET: &str = "headroom::request";
/// The longest an access line waits before it reaches stderr while lines are batched.
pub const ACCESS_LOG_FLUSH: Duration = Duration::from_millis(100);
/// Waiting access lines are written at once when they reach this many bytes.
const PENDING_LIMIT: usize = 64 * 1024;

/// Access lines not written yet (only while [`BATCHING`]).
static PENDING: Mutex<Vec<u8>> = Mutex::new(Vec::new());
/// On while something flushes [`PENDING`] every [`ACCESS_LOG_FLUSH`] (the supervisor).
static BATCHING: AtomicBool = AtomicBool::new(false);
/// Told when an access line starts a new batch, so the flusher sleeps while no line waits
/// (an idle proxy is not woken ten times a second).
pub static ACCESS_LINES_QUEUED: tokio::sync::Notify = tokio::sync::Notify::const_new();

/// Starts or stops batching access lines; stopping writes what waits.
pub fn batch_access_lines(on: bool) {
    BATCHING.store(on, Ordering::SeqCst);
    if !on {
        flush_access_lines();
    }
}

/// Writes the access lines waiting, if any.
pub fn flush_access_lines() {
    let mut pending = PENDING.lock().unwrap_or_else(PoisonError::into_inner);
    let _ = drain(&mut pending);
}

/// Whether access lines wait to be written.
pub fn access_lines_waiting() -> bool {
    !PENDING
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .is_empty()
}

fn drain(pending: &mut Vec<u8>) -> std::io::Result<()> {
    if pending.is_empty() {
        return Ok(());
    }
    let written = std::io::stderr().lock().write_all(pending);
    pending.clear();
    if pending.capacity() > 4 * PENDING_LIMIT {
        pending.shrink_to(PENDING_LIMIT);
    }
    written
}

/// Writes one whole log line: an access line joins the batch while batching is on; any other
/// line first writes the batch, so lines keep their order.
fn write_line(line: &[u8], access: bool) -> std::io::Result<()> {
    let mut pending = PENDING.lock().unwrap_or_else(PoisonError::into_inner);
    if access && BATCHING.load(Ordering::SeqCst) {
        let starts_batch = pending.is_empty();
        pending.extend_from_slice(line);
        if pending.len() < PENDING_LIMIT {
            if starts_batch {
                // Kept as a permit when the flusher is not waiting yet: never lost.
                ACCESS_LINES_QUEUED.notify_one();
            }
            return Ok(());
        }
        return drain(&mut pending);
    }
    drain(&mut pending)?;
    std::io::stderr().lock().write_all(line)
}

/// The writer of every log line (tracing formats a whole line, then writes it once).
#[derive(Debug, Clone, Copy)]
struct Stderr;

struct LineWriter {
    access: bool,
}

impl<'a> fmt::MakeWriter<'a> for Stderr {
    type Writer = LineWriter;

    fn make_writer(&'a self) -> LineWriter {
        LineWriter { access: false }
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> LineWriter {
        LineWriter {
            access: meta.target() == ACCESS_TARGET,
        }
    }
}

impl std::io::Write for LineWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        write_line(buf, self.access)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Our level for our crate; Pingora's internals stay at `warn` unless debugging.
fn filter_for(level: &str) -> EnvFilter {
    let quiet = !matches!(level.trim(), "debug" | "trace");
    let spec = if quiet && !level.contains('=') {
        format!("{level},pingora=warn,pingora_core=warn,pingora_proxy=warn")
    } else {
        level.to_string()
    };
    // Some directives panic or take minutes inside tracing-subscriber; validation refuses
    // them, and this keeps a config that skipped validation from taking the process down.
    if !crate::config::is_plain_log_filter(&spec) {
        return EnvFilter::new("info");
    }
    EnvFilter::try_new(spec).unwrap_or_else(|_| EnvFilter::new("info"))
}

/// True for records that may carry header values: Pingora's below INFO.
fn may_carry_header_values(meta: &tracing::Metadata<'_>) -> bool {
    meta.target().starts_with("pingora") && *meta.level() > tracing::Level::INFO
}

/// Drops Pingora's ERROR lines about clients that went away while sending request headers:
/// they are the client's doing, not the proxy's, and the connection guard logs them at INFO.
struct QuietClientGone;

impl<S: tracing::Subscriber> tracing_subscriber::layer::Filter<S> for QuietClientGone {
    fn enabled(
        &self,
        meta: &tracing::Metadata<'_>,
        _cx: &tracing_subscriber::layer::Context<'_, S>,
    ) -> bool {
        !may_carry_header_values(meta)
    }

    fn event_enabled(
        &self,
        event: &tracing::Event<'_>,
        _cx: &tracing_subscriber::layer::Context<'_, S>,
    ) -> bool {
        let meta = event.metadata();
        if *meta.level() != tracing::Level::ERROR {
            return true;
        }
        let mut text = MessageText::default();
        event.record(&mut text);
        // Records bridged from the `log` crate carry their real target in a field.
        let target = text.target.as_deref().unwrap_or(meta.target());
        !(target.starts_with("pingora") && is_client_gone(&text.message))
    }
}

#[derive(Default)]
struct MessageText {
    message: String,
    target: Option<String>,
}

impl tracing::field::Visit for MessageText {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        match field.name() {
            "log.target" => self.target = Some(value.to_string()),
            "message" => self.message.push_str(value),
            _ => {}
        }
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            use std::fmt::Write as _;
            let _ = write!(self.message, "{value:?}");
        }
    }
}

/// Pingora's wording for a downstream that closed or failed mid-headers.
fn is_client_gone(message: &str) -> bool {
    message.starts_with("Fail to proxy")
        && message.contains("Downstream")
        && (message.contains("while reading request headers")
            || message.contains("ConnectionClosed")
            || message.contains("ReadError"))
}

/// Installs the global subscriber (once per process).
pub fn init(cfg: &Log) {
    let (filter, handle) = reload::Layer::new(filter_for(&cfg.level));
    let never_headers = QuietClientGone;
    let registry = tracing_subscriber::registry().with(filter);
    let result = match cfg.format {
        LogFormat::Json => registry
            .with(
                fmt::layer()
                    .json()
                    .with_writer(Stderr)
                    .flatten_event(true)
                    .with_current_span(false)
                    .with_filter(never_headers),
            )
            .try_init(),
        LogFormat::Text => registry
            .with(
                fmt::layer()
                    .with_writer(Stderr)
                    .with_ansi(false)
                    .with_filter(never_headers),
            )
            .try_init(),
    };
    if result.is_ok() {
        let _ = RELOAD.set(handle);
        TEXT.store(cfg.format == LogFormat::Text, Ordering::Relaxed);
        LEVEL_GENERATION.fetch_add(1, Ordering::Release);
        flush_access_lines_on_panic();
    }
}

/// A panic that ends the process must not take the waiting access lines with it: the hook
/// writes them before the default report (without blocking if the panic holds the batch).
fn flush_access_lines_on_panic() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if let Ok(mut pending) = PENDING.try_lock() {
            let _ = drain(&mut pending);
        }
        previous(info);
    }));
}

/// Rotates stderr when it is a regular file larger than `max_bytes`: the file is renamed to
/// `.1` (older copies shift up to `.keep`), a fresh file takes its place and stderr (and stdout,
/// when it shared the file) is re-pointed at it. Returns whether it rotated. Does nothing when
/// stderr is a terminal, a pipe or the journal.
pub fn rotate_stderr_if_needed(max_bytes: u64, keep: u32) -> bool {
    if max_bytes == 0 {
        return false;
    }
    // Waiting access lines belong to the file being rotated out.
    flush_access_lines();
    match rotate_stderr(max_bytes, keep) {
        Ok(rotated) => rotated,
        Err(e) => {
            tracing::warn!(error = %e, "cannot rotate the log file");
            false
        }
    }
}

#[cfg(unix)]
fn rotate_stderr(max_bytes: u64, keep: u32) -> std::io::Result<bool> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
    use std::os::unix::io::AsRawFd;
    let Some(path) = stderr_path() else {
        return Ok(false);
    };
    let meta = std::fs::metadata(&path)?;
    if !meta.is_file() || meta.len() <= max_bytes {
        return Ok(false);
    }
    // SAFETY: fstat on our own stdout into a zeroed struct we own.
    let stdout_same = unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        libc::fstat(1, &mut st) == 0
            && st.st_ino as u64 == meta.ino()
            && st.st_dev as u64 == meta.dev()
    };
    for n in (1..keep.max(1)).rev() {
        let from = numbered(&path, n);
        if from.exists() {
            std::fs::rename(&from, numbered(&path, n + 1))?;
        }
    }
    if keep == 0 {
        std::fs::remove_file(&path)?;
    } else {
        std::fs::rename(&path, numbered(&path, 1))?;
    }
    let fresh = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(meta.permissions().mode() & 0o777)
        .open(&path)?;
    // SAFETY: dup2 onto our own standard descriptors; `fresh` stays open until after.
    unsafe {
        libc::dup2(fresh.as_raw_fd(), 2);
        if stdout_same {
            libc::dup2(fresh.as_raw_fd(), 1);
        }
    }
    tracing::info!(path = %path.display(), "log file rotated");
    Ok(true)
}

#[cfg(not(unix))]
fn rotate_stderr(_max_bytes: u64, _keep: u32) -> std::io::Result<bool> {
    Ok(false)
}

fn numbered(path: &std::path::Path, n: u32) -> std::path::PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(format!(".{n}"));
    s.into()
}

/// The file stderr writes to, if it is one.
fn stderr_path() -> Option<std::path::PathBuf> {
    #[cfg(target_os = "linux")]
    {
        let p = std::fs::read_link("/proc/self/fd/2").ok()?;
        p.is_absolute().then_some(p).filter(|p| p.exists())
    }
    #[cfg(target_os = "macos")]
    {
        let mut buf = vec![0u8; libc::PATH_MAX as usize];
        // SAFETY: F_GETPATH writes at most PATH_MAX bytes into the buffer we own.
        let rc = unsafe { libc::fcntl(2, libc::F_GETPATH, buf.as_mut_ptr()) };
        if rc == -1 {
            return None;
        }
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        use std::os::unix::ffi::OsStrExt;
        Some(std::path::PathBuf::from(std::ffi::OsStr::from_bytes(
            &buf[..end],
        )))
    }
    #[cfg(not(any(target_os = "linux", target_os = "macos")))]
    {
        None
    }
}

/// The text format's INFO line for `target` with `fields` already formatted: the layout
/// tracing's text formatter writes (timestamp, padded level, target), made directly — what the
/// tests compare with tracing's own line. `fields` must be what tracing would write for the
/// event's fields (values in their `Debug` form, so nothing in them needs escaping).
#[cfg(test)]
pub fn text_info_line(target: &str, fields: &str, now: std::time::SystemTime) -> String {
    let mut line = Vec::with_capacity(fields.len() + target.len() + 40);
    push_info_head(&mut line, target, now);
    line.extend_from_slice(fields.as_bytes());
    line.push(b'\n');
    String::from_utf8(line).unwrap_or_default()
}

thread_local! {
    /// This thread's access-line buffer, reused from request to request.
    static LINE: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    /// The second this thread last stamped and its `YYYY-MM-DDTHH:MM:SS.` (the line's
    /// timestamp changes only in its sub-second digits within a second).
    static STAMP: std::cell::RefCell<(u64, String)> =
        const { std::cell::RefCell::new((u64::MAX, String::new())) };
}

/// Writes a text-format INFO line for `target` as tracing's writer would (an access line joins
/// the batch), its fields appended by `fields` (what tracing would write for them), built
/// in a buffer this thread reuses.
pub fn write_text_info_with(target: &str, fields: impl FnOnce(&mut Vec<u8>)) {
    let write = |line: &mut Vec<u8>| {
        line.clear();
        push_info_head(line, target, std::time::SystemTime::now());
        fields(line);
        line.push(b'\n');
        let _ = write_line(line, target == ACCESS_TARGET);
    };
    LINE.with(|cell| match cell.try_borrow_mut() {
        Ok(mut line) => {
            write(&mut line);
            if line.capacity() > 16 * 1024 {
                *line = Vec::new();
            }
        }
        // Only a line written while one is being built (a log call inside `fields`).
        Err(_) => write(&mut Vec::new()),
    });
}

/// Timestamp, padded level and target, as tracing's text formatter starts an INFO line.
fn push_info_head(line: &mut Vec<u8>, target: &str, now: std::time::SystemTime) {
    push_timestamp_bytes(line, now);
    line.extend_from_slice(b"  INFO ");
    line.extend_from_slice(target.as_bytes());
    line.extend_from_slice(b": ");
}

/// [`push_timestamp`] into bytes, the part up to the second formatted once per second and
/// thread.
fn push_timestamp_bytes(out: &mut Vec<u8>, now: std::time::SystemTime) {
    let d = now
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = d.as_secs();
    let cached = STAMP.with(|cell| {
        let Ok(mut stamp) = cell.try_borrow_mut() else {
            return false;
        };
        if stamp.0 != secs {
            stamp.1.clear();
            push_timestamp(
                &mut stamp.1,
                std::time::UNIX_EPOCH + Duration::from_secs(secs),
            );
            // Keep `…SS.`, drop `000000Z`.
            let keep = stamp.1.len().saturating_sub(7);
            stamp.1.truncate(keep);
            stamp.0 = secs;
        }
        out.extend_from_slice(stamp.1.as_bytes());
        true
    });
    if !cached {
        let mut s = String::new();
        push_timestamp(&mut s, now);
        out.extend_from_slice(s.as_bytes());
        return;
    }
    let mut micros = d.subsec_micros();
    let mut digits = [b'0'; 6];
    for digit in digits.iter_mut().rev() {
        *digit = b'0' + (micros % 10) as u8;
        micros /= 10;
    }
    out.extend_from_slice(&digits);
    out.push(b'Z');
}

/// `YYYY-MM-DDTHH:MM:SS.ffffffZ` (UTC, microseconds), as tracing's text formatter writes it.
fn push_timestamp(out: &mut String, now: std::time::SystemTime) {
    use std::fmt::Write as _;
    let d = now
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = crate::stats::history::civil_from_days(days as i64);
    let _ = write!(
        out,
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_micros()
    );
}

/// Applies a new level after a reload.
pub fn set_level(level: &str) {
    if let Some(h) = RELOAD.get() {
        let _ = h.modify(|f| *f = filter_for(level));
        LEVEL_GENERATION.fetch_add(1, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn timestamps_are_utc_with_microseconds() {
        let at = |secs: u64, micros: u64| {
            let mut s = String::new();
            super::push_timestamp(
                &mut s,
                std::time::UNIX_EPOCH + std::time::Duration::from_micros(secs * 1_000_000 + micros),
            );
            s
        };
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(at(1_764_595_386, 123_456), "2025-12-01T13:23:06.123456Z");
        assert_eq!(at(951_782_400, 500_000), "2000-02-29T00:00:00.500000Z");
        assert_eq!(at(4_102_444_799, 999_999), "2099-12-31T23:59:59.999999Z");
    }

    #[test]
    fn cached_timestamps_equal_the_formatted_ones() {
        // Within a second, across seconds, days, a leap day and back in time, on one thread.
        let mut micros: Vec<u64> = Vec::new();
        for base in [0u64, 951_782_399, 1_764_595_386, 4_102_444_799] {
            for offset in [
                0u64,
                1,
                999_999,
                1_000_000,
                1_000_001,
                59_999_999,
                86_400_000_000,
            ] {
                micros.push(base * 1_000_000 + offset);
            }
        }
        micros.extend([1_764_595_386_123_456, 5, 1_764_595_386_000_007]);
        for m in micros {
            let at = std::time::UNIX_EPOCH + std::time::Duration::from_micros(m);
            let mut formatted = String::new();
            super::push_timestamp(&mut formatted, at);
            let mut cached = Vec::new();
            super::push_timestamp_bytes(&mut cached, at);
            assert_eq!(String::from_utf8(cached).unwrap(), formatted, "{m}");
        }
    }

    #[test]
    fn recognises_client_gone_lines_only() {
        assert!(super::is_client_gone(
            "Fail to proxy: Downstream ConnectionClosed context: while reading request headers, bytes already read: 30, downstream session type: HTTP/1.1"
        ));
        assert!(!super::is_client_gone(
            "Fail to proxy: Upstream ConnectRefused context: ..., status: 502"
        ));
    }
}
