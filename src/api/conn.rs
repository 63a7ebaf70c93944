//! Stage `api`: what one HTTP connection may cost — how long it may take to
//! send a request head, how long it may sit idle between requests, and how
//! many connections may be open at once — and the counters that show it.
//!
//! [`Phase`] follows one connection: reading a head (from the first byte, or
//! from accept), busy with requests (no deadline: a handler's own work is
//! bounded elsewhere), or idle after a response. [`Tracked`] is the socket
//! wrapper that sees bytes arrive and holds the connection's slot under the
//! cap, so an upgraded WebSocket keeps counting until it closes.
//! `server` runs the accept loop with these; no routes here, and no JSON
//! but the one answer `error` writes in place of hyper's own bodiless
//! answers to requests it could not parse.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::Mutex;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use super::error::parse_error_answer;

/// The bounds every connection is held to. `serve` flags set them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// A request head (request line and headers) must arrive within this
    /// time of its first byte, or of the connection being accepted.
    pub header_read_timeout: Duration,
    /// A keep-alive connection with no request in progress is closed after
    /// this long without a byte either way.
    pub idle_timeout: Duration,
    /// Connections open at once (WebSockets included); one more is answered
    /// `503` and closed.
    pub max_connections: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            // Well under the usual 1024 descriptors per process, which the
            // watcher, git and file reads need too.
            max_connections: 512,
        }
    }
}

/// Why a connection was closed by the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// The request head did not arrive in time.
    Header,
    /// Idle between requests for too long.
    Idle,
}

/// Counters of the connection layer, shared by the accept loop and readers
/// of status and metrics.
#[derive(Debug, Default)]
pub struct HttpCounters {
    accepted: AtomicU64,
    header_timeouts: AtomicU64,
    idle_timeouts: AtomicU64,
    refused: AtomicU64,
    /// The cap was met and not yet left (so the log says it once per spell).
    at_cap: AtomicBool,
}

/// A copy of the counters and limits, for status and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HttpStats {
    pub open: u64,
    pub accepted: u64,
    pub header_timeouts: u64,
    pub idle_timeouts: u64,
    /// Connections answered `503` (or dropped) because the cap was met.
    pub refused: u64,
    pub max_connections: u64,
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
}

impl HttpCounters {
    pub fn stats(&self, limits: &HttpLimits, open: u64) -> HttpStats {
        HttpStats {
            open,
            accepted: self.accepted.load(Ordering::Relaxed),
            header_timeouts: self.header_timeouts.load(Ordering::Relaxed),
            idle_timeouts: self.idle_timeouts.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
            max_connections: limits.max_connections as u64,
            header_read_timeout: limits.header_read_timeout,
            idle_timeout: limits.idle_timeout,
        }
    }

    /// A connection took a slot; says once that the cap is left.
    pub fn accepted(&self) {
        self.accepted.fetch_add(1, Ordering::Relaxed);
        if self.at_cap.swap(false, Ordering::Relaxed) {
            tracing::info!("below the connection cap again; accepting new connections");
        }
    }

    /// A connection found no slot; says once per spell at the cap.
    pub fn refused(&self, max: usize) {
        self.refused.fetch_add(1, Ordering::Relaxed);
        if !self.at_cap.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                max_connections = max,
                "connection cap reached: {max} connections are open, new ones get 503 until \
                 some close (raise it with --max-connections)"
            );
        }
    }

    pub fn expired(&self, expiry: Expiry) {
        let counter = match expiry {
            Expiry::Header => &self.header_timeouts,
            Expiry::Idle => &self.idle_timeouts,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Over-cap connections answered `503` at once; beyond these, an over-cap
/// connection is closed without an answer (each answer costs a descriptor
/// for up to the header-read timeout).
const REFUSALS_IN_FLIGHT: usize = 64;

/// The connection layer of one server: its limits, its slots under the cap
/// and its counters. Shared by the accept loop and the status routes.
#[derive(Debug)]
pub struct Connections {
    pub limits: HttpLimits,
    pub counters: HttpCounters,
    slots: Arc<Semaphore>,
    refusals: Arc<Semaphore>,
}

impl Connections {
    pub fn new(limits: HttpLimits) -> Self {
        Connections {
            limits,
            counters: HttpCounters::default(),
            slots: Arc::new(Semaphore::new(limits.max_connections)),
            refusals: Arc::new(Semaphore::new(REFUSALS_IN_FLIGHT)),
        }
    }

    /// A slot for a new connection, or `None` at the cap.
    pub fn slot(&self) -> Option<OwnedSemaphorePermit> {
        Arc::clone(&self.slots).try_acquire_owned().ok()
    }

    /// A slot to answer one over-cap connection `503`, or `None` when
    /// enough of those are in flight already.
    pub fn refusal(&self) -> Option<OwnedSemaphorePermit> {
        Arc::clone(&self.refusals).try_acquire_owned().ok()
    }

    pub fn open(&self) -> u64 {
        (self.limits.max_connections - self.slots.available_permits()) as u64
    }

    pub fn stats(&self) -> HttpStats {
        self.counters.stats(&self.limits, self.open())
    }
}

impl Default for Connections {
    fn default() -> Self {
        Connections::new(HttpLimits::default())
    }
}

#[derive(Debug, Clone, Copy)]
enum State {
    /// Waiting for a request head, since this instant.
    Head(Instant),
    /// This many requests in progress.
    Busy(usize),
    /// No request in progress; the last byte moved at this instant.
    Idle(Instant),
}

/// Where one connection is, shared by its socket, its service and its
/// watchdog.
#[derive(Debug)]
pub struct Phase {
    state: Mutex<State>,
    changed: Notify,
    limits: HttpLimits,
}

impl Phase {
    /// A new connection: its head is due within the header-read timeout.
    pub fn new(limits: HttpLimits) -> Arc<Self> {
        Arc::new(Phase {
            state: Mutex::new(State::Head(Instant::now())),
            changed: Notify::new(),
            limits,
        })
    }

    /// Bytes arrived: on an idle connection that starts the next head.
    fn read_some(&self) {
        let mut state = self.state.lock();
        match *state {
            State::Idle(_) => {
                *state = State::Head(Instant::now());
                drop(state);
                self.changed.notify_one();
            }
            State::Head(_) | State::Busy(_) => {}
        }
    }

    /// Bytes left: an idle connection still flushing a response is not idle.
    fn wrote_some(&self) {
        let mut state = self.state.lock();
        if let State::Idle(_) = *state {
            *state = State::Idle(Instant::now());
        }
    }

    /// A request head was read; the connection is busy until the guard is
    /// dropped (its response is ready, or the request was abandoned).
    pub fn request(self: &Arc<Self>) -> RequestGuard {
        {
            let mut state = self.state.lock();
            *state = match *state {
                State::Busy(n) => State::Busy(n + 1),
                State::Head(_) | State::Idle(_) => State::Busy(1),
            };
        }
        self.changed.notify_one();
        RequestGuard(Arc::clone(self))
    }

    /// Resolves when the connection has outlived its current deadline.
    pub async fn expired(&self) -> Expiry {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            let deadline = match *self.state.lock() {
                State::Head(since) => {
                    Some((since + self.limits.header_read_timeout, Expiry::Header))
                }
                State::Idle(since) => Some((since + self.limits.idle_timeout, Expiry::Idle)),
                State::Busy(_) => None,
            };
            match deadline {
                None => changed.await,
                Some((at, expiry)) => {
                    tokio::select! {
                        () = &mut changed => {}
                        () = tokio::time::sleep_until(at) => {
                            if self.still_past(expiry) {
                                return expiry;
                            }
                        }
                    }
                }
            }
        }
    }

    /// Whether the deadline for `expiry` still holds (no byte or
    /// request moved it while the timer ran).
    fn still_past(&self, expiry: Expiry) -> bool {
        let now = Instant::now();
        match (*self.state.lock(), expiry) {
            (State::Head(since), Expiry::Header) => since + self.limits.header_read_timeout <= now,
            (State::Idle(since), Expiry::Idle) => since + self.limits.idle_timeout <= now,
            _ => false,
        }
    }
}

/// One request in progress on a connection.
pub struct RequestGuard(Arc<Phase>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        {
            let mut state = self.0.state.lock();
            *state = match *state {
                State::Busy(n) if n > 1 => State::Busy(n - 1),
                _ => State::Idle(Instant::now()),
            };
        }
        self.0.changed.notify_one();
    }
}

/// The socket of one accepted connection: reports traffic to its [`Phase`]
/// and holds its slot under the cap for as long as it is open (through a
/// WebSocket upgrade too). An answer hyper writes by itself to a request it
/// could not parse (400, 414, 431, with an empty body) is replaced on the
/// way out by the same status with the `{"code","message"}` body every
/// other error has ([`parse_error_answer`]).
pub struct Tracked {
    stream: TcpStream,
    phase: Arc<Phase>,
    _slot: OwnedSemaphorePermit,
    /// A replacement answer still to be sent, and how much of it was.
    pending: Option<(Vec<u8>, usize)>,
}

impl Tracked {
    pub fn new(stream: TcpStream, phase: Arc<Phase>, slot: OwnedSemaphorePermit) -> Self {
        Tracked {
            stream,
            phase,
            _slot: slot,
            pending: None,
        }
    }

    /// Sends what is left of a replacement answer.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((bytes, sent)) = &mut self.pending {
            if *sent == bytes.len() {
                self.pending = None;
                break;
            }
            match Pin::new(&mut self.stream).poll_write(cx, &bytes[*sent..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => {
                    *sent += n;
                    self.phase.wrote_some();
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Takes `len` bytes hyper asked to write as written when they are one
    /// of its own parse-error answers, and queues ours instead.
    fn replaced(&mut self, cx: &mut Context<'_>, head: &[u8]) -> Option<Poll<io::Result<usize>>> {
        let answer = parse_error_answer(head)?;
        self.pending = Some((answer, 0));
        Some(match self.poll_pending(cx) {
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            // What is left goes out on the flush hyper does next.
            _ => Poll::Ready(Ok(head.len())),
        })
    }
}

/// Whether a write may be an answer hyper makes by itself (cheap to ask of
/// every write: one prefix).
fn may_be_parse_error_answer(first: &[u8]) -> bool {
    first.starts_with(b"HTTP/1.1 4")
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.phase.read_some();
        }
        polled
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        std::task::ready!(self.poll_pending(cx))?;
        if may_be_parse_error_answer(buf)
            && let Some(polled) = self.replaced(cx, buf)
        {
            return polled;
        }
        let polled = Pin::new(&mut self.stream).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.phase.wrote_some();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        std::task::ready!(self.poll_pending(cx))?;
        let first = bufs.iter().find(|b| !b.is_empty());
        if first.is_some_and(|b| may_be_parse_error_answer(b)) {
            let head: Vec<u8> = bufs.iter().flat_map(|b| b.iter().copied()).collect();
            if let Some(polled) = self.replaced(cx, &head) {
                return polled;
            }
        }
        let polled = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.phase.wrote_some();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        std::task::ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        std::task::ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
