//! Request bodies that may be compressed: buffered whole (up to `limits.max_body_bytes`),
//! rewritten on the bounded blocking pool under the time budget, and emitted at end of stream.
//!
//! Must never: hand Pingora `None` before the end (that truncates the upstream body); block an
//! async worker thread on compression; send anything but the client's bytes when compression
//! fails, panics or runs out of time; write originals anywhere but the store's queue.

use crate::compress::{self, ApiFormat, FailureReason, Pipeline, Rewritten};
use crate::store::OriginalsStore;
use bytes::{Bytes, BytesMut};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// Extra time past the budget before the proxy stops waiting for a compression thread. The
/// pipeline keeps its own budget (blocks not started by the deadline stay as they are, finished
/// ones are kept, which keeps old turns stable for the prompt cache); this outer limit is only a
/// safety net for a block that hangs, so it is generous: past it the whole request goes out
/// untouched.
fn hang_limit(budget: Duration) -> Duration {
    budget * 2 + Duration::from_millis(100)
}

/// A body being collected for rewriting.
#[derive(Debug)]
pub struct BufferedBody {
    pub format: ApiFormat,
    limit: usize,
    buf: BytesMut,
    /// Set once the body outgrew the limit: the rest streams through untouched.
    overflowed: bool,
}

/// What the body phase did, for logs, metrics and stats.
#[derive(Debug, Default)]
pub struct BodyOutcome {
    pub bytes_in: usize,
    pub bytes_out: usize,
    pub rewritten: Option<Rewritten>,
    pub compress_time: Duration,
    pub failure: Option<FailureReason>,
    pub oversize: bool,
}

impl BufferedBody {
    pub fn new(format: ApiFormat, limit: usize, size_hint: Option<usize>) -> BufferedBody {
        BufferedBody {
            format,
            limit,
            buf: BytesMut::with_capacity(size_hint.unwrap_or(16 * 1024).min(limit)),
            overflowed: false,
        }
    }

    /// Takes one chunk. Returns what to hand Pingora now, or `None` when the body is complete
    /// and ready for [`finish`].
    pub fn push(&mut self, chunk: Option<&Bytes>, end: bool, outcome: &mut BodyOutcome) -> Step {
        let len = chunk.map_or(0, |c| c.len());
        outcome.bytes_in += len;
        if self.overflowed {
            outcome.bytes_out += len;
            return Step::Emit(chunk.cloned());
        }
        if let Some(c) = chunk {
            self.buf.extend_from_slice(c);
        }
        if self.buf.len() > self.limit {
            // Too big to compress: release what we held, stream the rest.
            self.overflowed = true;
            outcome.oversize = true;
            let held = std::mem::take(&mut self.buf).freeze();
            outcome.bytes_out += held.len();
            return Step::Emit(Some(held));
        }
        if end {
            Step::Complete(std::mem::take(&mut self.buf).freeze())
        } else {
            // Empty, not None: None would end the upstream body.
            Step::Emit(Some(Bytes::new()))
        }
    }
}

/// The body phase's decision for one chunk.
pub enum Step {
    Emit(Option<Bytes>),
    Complete(Bytes),
}

/// Rewrites a complete body off the async threads. Always returns bytes to send: the rewritten
/// body, or the original when anything goes wrong.
pub async fn rewrite(
    original: Bytes,
    format: ApiFormat,
    pipeline: Arc<Pipeline>,
    permits: Arc<Semaphore>,
    originals: Arc<dyn OriginalsStore>,
    outcome: &mut BodyOutcome,
) -> Bytes {
    // A block worth compressing has at least `min_tokens` tokens, so at least that many bytes:
    // a smaller body cannot change, and needs no trip to the blocking pool.
    if original.len() < pipeline.config().min_tokens {
        outcome.bytes_out += original.len();
        return original;
    }
    let started = Instant::now();
    let budget = Duration::from_millis(pipeline.config().budget_ms);
    // Waiting for a pool slot counts against the budget too.
    let permit = match tokio::time::timeout(budget, permits.acquire_owned()).await {
        Ok(Ok(p)) => p,
        _ => {
            outcome.failure = Some(FailureReason::Budget);
            outcome.bytes_out += original.len();
            return original;
        }
    };
    let input = original.clone();
    let job = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let r = compress::rewrite(
                &input,
                &compress::Context {
                    format,
                    pipeline: &pipeline,
                },
            );
            // Queued, never written here: the store's own thread does the disk I/O.
            for o in &r.originals {
                originals.put(o.clone());
            }
            r
        }))
    });
    let remaining = hang_limit(budget).saturating_sub(started.elapsed());
    let result = match tokio::time::timeout(remaining, job).await {
        Ok(Ok(Ok(r))) => Ok(r),
        Ok(Ok(Err(_))) | Ok(Err(_)) => Err(FailureReason::Panic),
        Err(_) => Err(FailureReason::Budget),
    };
    outcome.compress_time = started.elapsed();
    match result {
        Ok(r) => {
            let out = match &r.body {
                Some(b) => Bytes::from(b.clone()),
                None => original,
            };
            outcome.failure = r.failures.first().copied();
            outcome.bytes_out += out.len();
            outcome.rewritten = Some(r);
            out
        }
        Err(reason) => {
            outcome.failure = Some(reason);
            outcome.bytes_out += original.len();
            original
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_chunks_with_empty_bytes_until_the_end() {
        let mut b = BufferedBody::new(ApiFormat::Anthropic, 100, None);
        let mut o = BodyOutcome::default();
        match b.push(Some(&Bytes::from_static(b"{\"a\":")), false, &mut o) {
            Step::Emit(Some(x)) => assert!(x.is_empty()),
            _ => panic!("expected an empty chunk"),
        }
        match b.push(Some(&Bytes::from_static(b"1}")), true, &mut o) {
            Step::Complete(all) => assert_eq!(&all[..], b"{\"a\":1}"),
            _ => panic!("expected the whole body"),
        }
        assert_eq!(o.bytes_in, 7);
    }

    #[test]
    fn oversize_bodies_are_released_and_streamed() {
        let mut b = BufferedBody::new(ApiFormat::Anthropic, 4, None);
        let mut o = BodyOutcome::default();
        assert!(matches!(
            b.push(Some(&Bytes::from_static(b"abc")), false, &mut o),
            Step::Emit(Some(ref x)) if x.is_empty()
        ));
        assert!(matches!(
            b.push(Some(&Bytes::from_static(b"def")), false, &mut o),
            Step::Emit(Some(ref x)) if &x[..] == b"abcdef"
        ));
        assert!(matches!(
            b.push(Some(&Bytes::from_static(b"g")), true, &mut o),
            Step::Emit(Some(ref x)) if &x[..] == b"g"
        ));
        assert!(o.oversize);
        assert_eq!((o.bytes_in, o.bytes_out), (7, 7));
    }
}
