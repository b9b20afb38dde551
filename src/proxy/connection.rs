//! Per-connection guard in front of Pingora's HTTP/1 session: bounds the time a client may take
//! to send request headers (`timeouts.client_read_ms`, counted from the start of each request
//! or keep-alive wait, so idle connections, partial headers and byte trickles are all cut), and
//! answers too many or too large headers with a 431 in the provider's error shape.
//!
//! Pingora's own header read only bounds each single read (60 s, reset by every byte) and
//! answers oversized headers with a bare 400; this wrapper sees the bytes before Pingora does.
//!
//! Must never: alter a byte in either direction; look at bytes past the end of the headers;
//! log header values.

use async_trait::async_trait;
use pingora_core::apps::ServerApp;
use pingora_core::protocols::raw_connect::ProxyDigest;
use pingora_core::protocols::{
    GetProxyDigest, GetSocketDigest, GetTimingDigest, Peek, Shutdown, SocketDigest, Ssl, Stream,
    TimingDigest, UniqueID, UniqueIDType,
};
use pingora_core::server::ShutdownWatch;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Header lines a request may carry (Pingora parses at most 256).
pub const MAX_HEADER_LINES: usize = 250;
/// Bytes of request line + headers a request may carry.
pub const MAX_HEADER_BYTES: usize = 256 * 1024;

/// Wraps Pingora's HTTP service so every accepted connection gets a [`HeaderDeadline`].
pub struct GuardedHttp<A> {
    inner: Arc<A>,
    client_read: Box<dyn Fn() -> Duration + Send + Sync>,
}

impl<A> GuardedHttp<A> {
    /// `client_read` gives the current header deadline (read per connection, so a reload
    /// applies to new connections).
    pub fn new(inner: A, client_read: impl Fn() -> Duration + Send + Sync + 'static) -> Self {
        GuardedHttp {
            inner: Arc::new(inner),
            client_read: Box::new(client_read),
        }
    }
}

#[async_trait]
impl<A: ServerApp + Send + Sync + 'static> ServerApp for GuardedHttp<A> {
    async fn process_new(
        self: &Arc<Self>,
        stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        super::timer_wheel::keep_armed();
        let guarded: Stream = Box::new(HeaderDeadline::new(stream, (self.client_read)()));
        self.inner.process_new(guarded, shutdown).await
    }

    async fn cleanup(&self) {
        self.inner.cleanup().await
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for, or reading, a request's headers: the deadline runs.
    Headers,
    /// Past the headers: bytes pass unwatched until the response goes out.
    Body,
    /// Refusing: the 431 is being written, then the connection reads as closed.
    Refusing,
    Closed,
}

/// A stream that enforces a deadline on each request's headers.
pub struct HeaderDeadline {
    inner: Stream,
    limit: Duration,
    phase: Phase,
    /// When this request's header read first had to wait: the deadline is `limit` after it.
    waiting_since: Option<Instant>,
    /// A timer that fires at or before the deadline, kept from one request to the next: an
    /// older timer fires early, the deadline is checked against `waiting_since`, and only then
    /// is it reset for the rest (no timer is armed per request).
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    /// Header bytes and lines seen in this request so far.
    seen_bytes: usize,
    seen_lines: usize,
    /// The last bytes seen, to find `\n\r\n` / `\n\n` across reads.
    tail: [u8; 2],
    refusal: Vec<u8>,
    refusal_sent: usize,
    /// Set by [`request_finished`] when the proxy is done with the current request.
    finished: AtomicBool,
}

impl std::fmt::Debug for HeaderDeadline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeaderDeadline")
            .field("inner", &self.inner)
            .field("limit", &self.limit)
            .field("phase", &self.phase)
            .field("waiting_since", &self.waiting_since)
            .field("armed", &self.sleep.is_some())
            .field("seen_bytes", &self.seen_bytes)
            .field("seen_lines", &self.seen_lines)
            .finish_non_exhaustive()
    }
}

impl HeaderDeadline {
    pub fn new(inner: Stream, limit: Duration) -> HeaderDeadline {
        HeaderDeadline {
            finished: AtomicBool::new(false),
            inner,
            limit,
            phase: Phase::Headers,
            waiting_since: None,
            sleep: None,
            seen_bytes: 0,
            seen_lines: 0,
            tail: [0, 0],
            refusal: Vec::new(),
            refusal_sent: 0,
        }
    }

    fn start_request(&mut self) {
        self.phase = Phase::Headers;
        self.waiting_since = None;
        self.seen_bytes = 0;
        self.seen_lines = 0;
        self.tail = [0, 0];
    }

    /// Scans bytes of the header phase; returns true when they end the headers. Jumps from line
    /// end to line end: only the two bytes before each `\n` matter.
    fn scan(&mut self, bytes: &[u8]) -> bool {
        let before = |i: usize, back: usize| -> u8 {
            // The byte `back` places before index `i`, reaching into the previous read's tail.
            match i.checked_sub(back) {
                Some(j) => bytes[j],
                None => self.tail[2 - (back - i)],
            }
        };
        let mut from = 0;
        while let Some(off) = memchr::memchr(b'\n', &bytes[from..]) {
            let i = from + off;
            self.seen_lines += 1;
            let (b1, b2) = (before(i, 1), before(i, 2));
            if b1 == b'\n' || (b2 == b'\n' && b1 == b'\r') {
                self.seen_bytes += i + 1;
                return true;
            }
            from = i + 1;
        }
        self.tail = match bytes.len() {
            0 => self.tail,
            1 => [self.tail[1], bytes[0]],
            n => [bytes[n - 2], bytes[n - 1]],
        };
        self.seen_bytes += bytes.len();
        false
    }

    fn refuse_too_large(&mut self) {
        tracing::info!(
            header_lines = self.seen_lines,
            header_bytes = self.seen_bytes,
            "refusing a request with too many or too large headers (431)"
        );
        crate::metrics::REQUEST_ERRORS
            .with_label_values(&["headers_too_large"])
            .inc();
        let err = super::ProxyError {
            status: 431,
            kind: "invalid_request_error",
            message: format!(
                "headroom: request headers too large (at most {MAX_HEADER_LINES} header lines \
                 and {MAX_HEADER_BYTES} bytes)"
            ),
        };
        let body = err.body();
        let mut out = format!(
            "HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\n\
             content-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        )
        .into_bytes();
        out.extend_from_slice(&body);
        self.refusal = out;
        self.refusal_sent = 0;
        self.phase = Phase::Refusing;
    }

    fn poll_refusal(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.refusal_sent < self.refusal.len() {
            let n = ready!(
                Pin::new(&mut self.inner).poll_write(cx, &self.refusal[self.refusal_sent..])
            )?;
            if n == 0 {
                break;
            }
            self.refusal_sent += n;
        }
        ready!(Pin::new(&mut self.inner).poll_flush(cx))?;
        self.phase = Phase::Closed;
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for HeaderDeadline {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        match this.phase {
            Phase::Closed => return Poll::Ready(Ok(())),
            Phase::Refusing => {
                // Reads as a closed connection once the 431 is out.
                let _ = ready!(this.poll_refusal(cx));
                return Poll::Ready(Ok(()));
            }
            Phase::Body if this.finished.swap(false, Ordering::AcqRel) => this.start_request(),
            Phase::Body => return Pin::new(&mut this.inner).poll_read(cx, buf),
            Phase::Headers => {}
        }
        let filled = buf.filled().len();
        if let Poll::Ready(res) = Pin::new(&mut this.inner).poll_read(cx, buf) {
            res?;
            let new = &buf.filled()[filled..];
            if new.is_empty() {
                if this.seen_bytes > 0 {
                    tracing::info!(
                        header_bytes = this.seen_bytes,
                        "client closed the connection while sending request headers"
                    );
                }
                return Poll::Ready(Ok(()));
            }
            if this.scan(&buf.filled()[filled..]) {
                this.phase = Phase::Body;
            } else if this.seen_lines > MAX_HEADER_LINES + 1 || this.seen_bytes > MAX_HEADER_BYTES {
                // Hand Pingora nothing of this request: it reads as closed after the 431.
                buf.set_filled(filled);
                this.refuse_too_large();
                let _ = ready!(this.poll_refusal(cx));
                return Poll::Ready(Ok(()));
            }
            return Poll::Ready(Ok(()));
        }
        let limit = this.limit;
        let since = *this.waiting_since.get_or_insert_with(Instant::now);
        loop {
            let sleep = this
                .sleep
                .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
            ready!(sleep.as_mut().poll(cx));
            match limit.checked_sub(since.elapsed()) {
                // Fired for an earlier request's deadline: reset for what is left of this one.
                Some(left) if !left.is_zero() => {
                    sleep.as_mut().reset(tokio::time::Instant::now() + left);
                }
                _ => {
                    this.sleep = None;
                    break;
                }
            }
        }
        if this.seen_bytes > 0 {
            tracing::info!(
                header_bytes = this.seen_bytes,
                limit_ms = limit.as_millis() as u64,
                "client too slow sending request headers; closing the connection"
            );
            crate::metrics::REQUEST_ERRORS
                .with_label_values(&["client_timeout"])
                .inc();
        }
        this.phase = Phase::Closed;
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "request headers not received within timeouts.client_read_ms",
        )))
    }
}

impl AsyncWrite for HeaderDeadline {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Called when a request has been answered in full: the connection's next read starts the
/// header deadline for the next request (keep-alive idle time counts against it). The guard is
/// the session's own stream (the outermost layer: [`GuardedHttp`] wraps what was accepted), so
/// it is reached without a lookup or a lock the workers share.
pub fn request_finished(session: &pingora_proxy::Session) {
    let guard = session
        .as_downstream()
        .stream()
        .and_then(|s| (**s).as_any().downcast_ref::<HeaderDeadline>());
    if let Some(g) = guard {
        g.finished.store(true, Ordering::Release);
    }
}

#[async_trait]
impl Shutdown for HeaderDeadline {
    async fn shutdown(&mut self) {
        self.inner.shutdown().await
    }
}

impl UniqueID for HeaderDeadline {
    fn id(&self) -> UniqueIDType {
        self.inner.id()
    }
}

impl Ssl for HeaderDeadline {}

impl GetTimingDigest for HeaderDeadline {
    fn get_timing_digest(&self) -> Vec<Option<TimingDigest>> {
        self.inner.get_timing_digest()
    }
}

impl GetProxyDigest for HeaderDeadline {
    fn get_proxy_digest(&self) -> Option<Arc<ProxyDigest>> {
        self.inner.get_proxy_digest()
    }
}

impl GetSocketDigest for HeaderDeadline {
    fn get_socket_digest(&self) -> Option<Arc<SocketDigest>> {
        self.inner.get_socket_digest()
    }
    fn set_socket_digest(&mut self, d: SocketDigest) {
        self.inner.set_socket_digest(d)
    }
}

#[async_trait]
impl Peek for HeaderDeadline {
    async fn try_peek(&mut self, buf: &mut [u8]) -> io::Result<bool> {
        self.inner.try_peek(buf).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scanner() -> HeaderDeadline {
        let (a, _b) = tokio::io::duplex(64);
        HeaderDeadline::new(Box::new(Dummy(a)), Duration::from_secs(1))
    }

    #[derive(Debug)]
    struct Dummy(tokio::io::DuplexStream);
    impl AsyncRead for Dummy {
        fn poll_read(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            Pin::new(&mut self.0).poll_read(cx, buf)
        }
    }
    impl AsyncWrite for Dummy {
        fn poll_write(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            d: &[u8],
        ) -> Poll<io::Result<usize>> {
            Pin::new(&mut self.0).poll_write(cx, d)
        }
        fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.0).poll_flush(cx)
        }
        fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.0).poll_shutdown(cx)
        }
    }
    #[async_trait]
    impl Shutdown for Dummy {
        async fn shutdown(&mut self) {}
    }
    impl UniqueID for Dummy {
        fn id(&self) -> UniqueIDType {
            0
        }
    }
    impl Ssl for Dummy {}
    impl GetTimingDigest for Dummy {
        fn get_timing_digest(&self) -> Vec<Option<TimingDigest>> {
            vec![]
        }
    }
    impl GetProxyDigest for Dummy {
        fn get_proxy_digest(&self) -> Option<Arc<ProxyDigest>> {
            None
        }
    }
    impl GetSocketDigest for Dummy {
        fn get_socket_digest(&self) -> Option<Arc<SocketDigest>> {
            None
        }
    }
    impl Peek for Dummy {}

    #[test]
    fn finds_the_end_of_headers_across_reads() {
        let mut s = scanner();
        assert!(!s.scan(b"GET / HTTP/1.1\r\nhost: a\r"));
        assert!(!s.scan(b"\n"));
        assert!(s.scan(b"\r\nbody"));
        assert_eq!(s.seen_lines, 3);
        let mut s = scanner();
        assert!(s.scan(b"GET / HTTP/1.0\n\n"));
    }
}
