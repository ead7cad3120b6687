//! Connections: the accept loop and the life of each connection, bounded in number and in time.
//!
//! - **Cap** (`max_connections`): the loop takes a permit of a semaphore *before* `accept` and
//!   the connection's task holds it, so at most that many connections are open (TLS handshakes
//!   included). When all are taken the loop stops accepting: new connections wait in the
//!   kernel's listen backlog (1,024) until one closes. Logged at most once per 10 s with a count;
//!   `agtoken_connection_limit_hits_total` and `agtoken_connections_open` in `/metrics`.
//! - **First request** (`first_request_timeout`): from accept, the TLS handshake and the first
//!   complete request head (HTTP/1) or stream (HTTP/2) must arrive within it, else the
//!   connection is closed. Our own timer: hyper-util's protocol detection (`auto`) reads the
//!   first bytes with none (hyper issue 3962), and hyper's header-read timer starts after it.
//! - **Idle** (`idle_timeout`): a connection with no request in flight for that long is closed,
//!   whatever its protocol (HTTP/1, HTTP/2 with no open stream, either over TLS).
//! - **Heads in time** (`header_read_timeout`, HTTP/1): a request head must be complete within
//!   it of when the server starts waiting for it, the start of serving (after the first bytes or
//!   the TLS handshake) for the first request, the end of the previous request for the next; so
//!   an HTTP/1 connection also idles at most that long. Checked by the connection's own timer,
//!   the idle one (looked at when it fires, not set again per request), and closed like an idle
//!   connection; not with hyper's `header_read_timeout`, whose timer hyper 1.x boxes, registers
//!   in tokio's timer wheel and drops again for every request (`scripts/bench-ablation.sh`).
//! - **Closing** (idle, or server shutdown): hyper's graceful shutdown (HTTP/1: close when
//!   idle; HTTP/2: GOAWAY, then a ping). A connection with nothing in flight is dropped at most
//!   1 s later, so a peer that never answers the ping cannot hold it; one with requests in
//!   flight gets up to `request_timeout` + 1 s, which is all a request may take anyway.
//! - **HTTP/2 pings**: after 20 s without a frame the server pings, and closes the connection
//!   when the ping is not answered within 10 s (a peer that vanished).
//! - **Request heads** are at most [`MAX_HEADER_BYTES`] (HTTP/1: request line and headers, else
//!   431; HTTP/2: the header list as RFC 9113 counts it, the stream refused), so a connection
//!   buffers no more than that before its request is read (hyper's own bound is about 400 KiB
//!   for HTTP/1 and 16 MiB for HTTP/2).
//! - **Protocol**: a plain connection's first bytes are peeked (left in the socket) and decide
//!   HTTP/1 or h2c; a TLS connection's ALPN decides; else hyper-util detects it (see
//!   [`Builders`] for why: 8 KiB less per connection).
//! - **HTTP/1 half-close** allowed: a client may shut its sending side after its request and
//!   still get the answer. hyper otherwise reads the socket again while each request is in
//!   flight, to see such an end, and must first make room in its read buffer, which the
//!   request's parts still share: a new 8 KiB buffer and a copy per request (1.1k of 118.5k
//!   instructions per request under callgrind).
//! - **accept errors** (out of file descriptors, …): exponential backoff from 1 ms to 1 s, reset
//!   by the next success, logged at most once per 10 s with a count; `agtoken_accept_errors_total`.
//!   Errors about the one connection (reset before accept) are retried at once.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tower::ServiceExt as _;

use crate::reload::LiveState;
use crate::state::AppState;

/// Log lines about the cap and about accept errors: at most one per this period.
pub(crate) const LOG_EVERY: Duration = Duration::from_secs(10);
/// How long a closing connection with nothing in flight may take to finish on its own.
const CLOSE_GRACE: Duration = Duration::from_secs(1);
/// Largest request head accepted, as Node.js's default: room for a JWT of the longest credential
/// read (8 KiB, `auth.rs`) beside the usual headers and cookies.
pub(crate) const MAX_HEADER_BYTES: usize = 16 * 1024;
/// (HTTP/2's SETTINGS_MAX_HEADER_LIST_SIZE is a u32.)
const MAX_HEADER_LIST_SIZE: u32 = MAX_HEADER_BYTES as u32;
/// HTTP/2: ping after this long without a frame from the peer…
const H2_PING_INTERVAL: Duration = Duration::from_secs(20);
/// …and close when the ping is not answered within this.
const H2_PING_TIMEOUT: Duration = Duration::from_secs(10);
/// File descriptors the process needs besides its connections (listener, runtime, logs, files).
const FD_RESERVE: u64 = 32;

/// Connections the kernel completes and queues for `accept` (capped by `net.core.somaxconn`).
/// Beyond the cap, new connections wait here; tokio's `TcpListener::bind` gives 128, which a
/// burst fills at once, and the kernel then drops SYNs that clients retry only after 1, 3, 7 s.
pub(crate) const LISTEN_BACKLOG: u32 = 1024;

/// A listener on `addr` with a backlog of [`LISTEN_BACKLOG`] (and `SO_REUSEADDR` on Unix, as
/// `TcpListener::bind` sets it).
pub(crate) fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// What every connection task shares.
struct Shared {
    /// The configuration in force: each connection takes its TLS acceptor when it starts, each
    /// request its router (and state) when it arrives (see `reload.rs`).
    live: LiveState,
    builders: Builders,
    first_request_timeout: Duration,
    idle_timeout: Duration,
    header_read_timeout: Duration,
    request_timeout: Duration,
}

/// Serves `state` on `listener` until `shutdown` completes (see [`crate::run`]).
pub(crate) async fn serve(
    listener: TcpListener,
    live: LiveState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    // The connection settings are the start-up ones: a reload keeps them (they need a restart).
    let state = live.current();
    let config = state.config();
    let max_connections = config.max_connections;
    if let Some(warning) = fd_limit_warning(max_connections, open_file_limit()) {
        tracing::warn!("{warning}");
    }
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        // No `header_read_timeout` here: `drive` bounds the wait for a head itself (see the
        // module's documentation).
        .half_close(true)
        .max_buf_size(MAX_HEADER_BYTES);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(H2_PING_INTERVAL)
        .keep_alive_timeout(H2_PING_TIMEOUT)
        .max_header_list_size(MAX_HEADER_LIST_SIZE);
    let shared = Arc::new(Shared {
        live: live.clone(),
        builders: Builders::new(builder),
        first_request_timeout: config.first_request_timeout,
        idle_timeout: config.idle_timeout,
        header_read_timeout: config.header_read_timeout,
        request_timeout: config.request_timeout,
    });
    let slots = Arc::new(Semaphore::new(max_connections));
    // Shutdown is announced to every connection task; all of them gone = the sender's `closed()`.
    let (stop_tx, stop_rx) = watch::channel(());
    let mut cap_log = Throttle::new(LOG_EVERY);
    let mut error_log = Throttle::new(LOG_EVERY);
    let mut backoff = Backoff::default();
    tokio::pin!(shutdown);
    'serve: loop {
        let permit = match slots.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                state.metrics().connection_limit_hit();
                if let Some(times) = cap_log.event(Instant::now()) {
                    tracing::warn!(
                        max_connections,
                        times,
                        "connection limit reached: {max_connections} connections open (max_connections); \
                         new connections wait in the listen backlog until one closes \
                         (logged at most once per {} s, times = since the last line)",
                        LOG_EVERY.as_secs()
                    );
                }
                tokio::select! {
                    biased;
                    () = &mut shutdown => break 'serve,
                    permit = slots.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
                }
            }
        };
        let (stream, peer) = loop {
            let accepted = tokio::select! {
                biased;
                () = &mut shutdown => break 'serve,
                accepted = listener.accept() => accepted,
            };
            match accepted {
                Ok(accepted) => {
                    backoff.reset();
                    break accepted;
                }
                // That one connection went away before it was accepted: nothing to wait for.
                Err(e) if is_connection_error(&e) => continue,
                Err(e) => {
                    state.metrics().accept_error();
                    let delay = backoff.next_delay();
                    if let Some(times) = error_log.event(Instant::now()) {
                        tracing::warn!(
                            error = %e,
                            times,
                            retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                            "accept failed (out of file descriptors? see max_connections and ulimit -n); \
                             retrying with backoff up to 1 s (logged at most once per {} s, times = since the last line)",
                            LOG_EVERY.as_secs()
                        );
                    }
                    tokio::select! {
                        biased;
                        () = &mut shutdown => break 'serve,
                        () = tokio::time::sleep(delay) => {}
                    }
                }
            }
        };
        let slot = Slot::new(permit, state.clone());
        let shared = shared.clone();
        let stop = stop_rx.clone();
        tokio::spawn(async move {
            let _slot = slot;
            connection(&shared, stream, peer, stop).await;
        });
    }
    drop(listener);
    state.set_ready(false);
    tracing::info!("shutting down: no new connections, draining requests in flight");
    let _ = stop_tx.send(());
    drop(stop_rx);
    stop_tx.closed().await;
    Ok(())
}

/// Holds one of the `max_connections` permits, and the open-connections gauge, while a
/// connection lives.
struct Slot {
    _permit: OwnedSemaphorePermit,
    state: AppState,
}

impl Slot {
    fn new(permit: OwnedSemaphorePermit, state: AppState) -> Slot {
        state.metrics().connection_opened();
        Slot { _permit: permit, state }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.state.metrics().connection_closed();
    }
}

/// The HTTP protocol of a connection, when it is known before hyper reads from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Protocol {
    Http1,
    Http2,
    /// Not known yet: hyper-util detects it from the first bytes.
    Detect,
}

/// HTTP/2's connection preface (RFC 9113 §3.4), what an h2c client with prior knowledge sends
/// first.
const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

impl Protocol {
    /// The protocol the first bytes received on a plain connection speak: HTTP/2 when they are
    /// its whole preface, HTTP/1 as soon as they differ from it, else not known yet (part of the
    /// preface, or nothing: the peer closed).
    fn of_first_bytes(first: &[u8]) -> Protocol {
        if !H2_PREFACE.starts_with(first) {
            Protocol::Http1
        } else if first.len() == H2_PREFACE.len() {
            Protocol::Http2
        } else {
            Protocol::Detect
        }
    }

    /// The protocol TLS's ALPN agreed on (`tls.rs` offers `h2` and `http/1.1`), if any.
    fn of_alpn(alpn: Option<&[u8]>) -> Protocol {
        match alpn {
            Some(b"h2") => Protocol::Http2,
            Some(b"http/1.1") => Protocol::Http1,
            _ => Protocol::Detect,
        }
    }
}

/// The connection builders: one per [`Protocol`], configured alike.
///
/// Why not always hyper-util's detection: it reads the first bytes itself and hands them to
/// hyper alone, as a first read of 24 bytes or fewer; hyper's next read, for the rest of the
/// request, then finds its 8 KiB buffer short of 8 KiB free and doubles it, and the connection
/// keeps 16 KiB for its life (8 MB more at 1,000 connections, under dhat). A connection whose
/// protocol is known beforehand (peeked on a plain one, ALPN on TLS) is served by a
/// one-protocol builder, which lets hyper read the first request whole.
struct Builders {
    detect: auto::Builder<TokioExecutor>,
    http1: auto::Builder<TokioExecutor>,
    http2: auto::Builder<TokioExecutor>,
}

impl Builders {
    fn new(detect: auto::Builder<TokioExecutor>) -> Builders {
        Builders { http1: detect.clone().http1_only(), http2: detect.clone().http2_only(), detect }
    }

    fn of(&self, protocol: Protocol) -> &auto::Builder<TokioExecutor> {
        match protocol {
            Protocol::Http1 => &self.http1,
            Protocol::Http2 => &self.http2,
            Protocol::Detect => &self.detect,
        }
    }
}

/// One connection, from accept to close.
async fn connection(shared: &Shared, stream: TcpStream, peer: SocketAddr, mut stop: watch::Receiver<()>) {
    let accepted = Instant::now();
    let first_deadline = accepted + shared.first_request_timeout;
    // Small answers: send them now rather than wait for more to coalesce.
    let _ = stream.set_nodelay(true);
    // TLS on or off is fixed at start-up; the certificate is the one in force now.
    let tls = shared.live.generation().tls.clone();
    match &tls {
        None => {
            // The first bytes, left in the socket for hyper (see `Builders`).
            let mut first = [0u8; H2_PREFACE.len()];
            let peek = stream.peek(&mut first);
            let Some(n) = before_first_deadline(&mut stop, first_deadline, "reading the first byte", peek).await else {
                return;
            };
            let protocol = Protocol::of_first_bytes(&first[..n]);
            drive(shared, stream, protocol, peer, accepted, first_deadline, stop).await;
        }
        // Boxed: inline, the TLS state would make every plain connection's task as large.
        Some(acceptor) => {
            Box::pin(tls_connection(shared, acceptor, stream, peer, accepted, first_deadline, stop)).await
        }
    }
}

/// `step` of a connection before its first request (the TLS handshake, the first byte), within
/// the first-request deadline; `None`, the connection to be dropped, on shutdown, an error or
/// the deadline (the last two logged at debug level).
async fn before_first_deadline<T>(
    stop: &mut watch::Receiver<()>,
    deadline: Instant,
    step: &str,
    future: impl Future<Output = io::Result<T>>,
) -> Option<T> {
    tokio::select! {
        biased;
        _ = stop.changed() => None,
        result = tokio::time::timeout_at(deadline, future) => match result {
            Ok(Ok(value)) => Some(value),
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "{step} failed");
                None
            }
            Err(_) => {
                tracing::debug!("{step} timed out (first_request_timeout)");
                None
            }
        },
    }
}

/// [`connection`] over TLS: the handshake within the first-request timeout, then HTTP.
async fn tls_connection(
    shared: &Shared,
    acceptor: &tokio_rustls::TlsAcceptor,
    stream: TcpStream,
    peer: SocketAddr,
    accepted: Instant,
    first_deadline: Instant,
    mut stop: watch::Receiver<()>,
) {
    let handshake = acceptor.accept(stream);
    let Some(stream) = before_first_deadline(&mut stop, first_deadline, "TLS handshake", handshake).await else {
        return;
    };
    let protocol = Protocol::of_alpn(stream.get_ref().1.alpn_protocol());
    drive(shared, stream, protocol, peer, accepted, first_deadline, stop).await;
}

/// Serves HTTP (`protocol`) on `io` until the peer closes, the connection idles out, or shutdown.
async fn drive<I>(
    shared: &Shared,
    io: I,
    protocol: Protocol,
    peer: SocketAddr,
    accepted: Instant,
    first_deadline: Instant,
    mut stop: watch::Receiver<()>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let activity = Arc::new(Activity::new(accepted));
    // HTTP/1 (and a protocol hyper-util has yet to detect, until a request shows HTTP/2): each
    // request head must be complete within `header_read_timeout` of when the server starts
    // waiting for it, the start of serving for the first one, the end of the previous request
    // for the next. hyper 1.x's own header-read timer starts at the same points, but is a
    // boxed timer registered and dropped again for every request.
    let head_limit = (protocol != Protocol::Http2).then_some(shared.header_read_timeout);
    let serving = Instant::now();
    let detecting = protocol == Protocol::Detect;
    let peer = axum::extract::ConnectInfo(peer);
    let live = shared.live.clone();
    let tracked = activity.clone();
    let service = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
        if detecting && req.version() == hyper::Version::HTTP_2 {
            tracked.http2.store(true, Ordering::Relaxed);
        }
        // One configuration for the whole request, whatever a reload does meanwhile.
        let generation = live.generation();
        // The security layer and the issuing routes (the audit line's client) read it.
        req.extensions_mut().insert(peer);
        let busy = Busy::new(tracked.clone());
        let call = generation.router.clone().oneshot(req);
        async move {
            let response = call.await;
            drop(busy);
            response
        }
    });
    let connection = shared.builders.of(protocol).serve_connection(TokioIo::new(io), service);
    tokio::pin!(connection);
    // When the connection was asked to close (idle or shutdown).
    let mut closing: Option<Instant> = None;
    loop {
        let now = Instant::now();
        let (first, idle) = match head_limit.filter(|_| !activity.http2.load(Ordering::Relaxed)) {
            Some(limit) => (first_deadline.min(serving + limit), shared.idle_timeout.min(limit)),
            None => (first_deadline, shared.idle_timeout),
        };
        let wake = match closing {
            None => match activity.idle_deadline(first, idle) {
                Some(deadline) if deadline <= now => {
                    tracing::debug!(
                        served = activity.served(),
                        "closing an idle connection (first_request_timeout, idle_timeout or header_read_timeout)"
                    );
                    connection.as_mut().graceful_shutdown();
                    closing = Some(now);
                    continue;
                }
                // Before the first request, `deadline` is the first-request one; a request that
                // starts and ends meanwhile makes it `idle` after its end, which is never before
                // `now + idle`: looking again by then is soon enough.
                Some(deadline) => deadline.min(now + idle),
                // Requests in flight: look again later (each ends within request_timeout).
                None => now + idle,
            },
            Some(since) => {
                let hard = since + shared.request_timeout + CLOSE_GRACE;
                let busy = activity.in_flight() > 0;
                if now >= hard || (!busy && now >= since + CLOSE_GRACE) {
                    // Dropping the connection closes the socket.
                    return;
                }
                if busy {
                    (now + CLOSE_GRACE).min(hard)
                } else {
                    since + CLOSE_GRACE
                }
            }
        };
        // Shutdown and the timer, looked at only when one of them woke the task: it wakes for
        // every request of the connection.
        let stop_or_timer = WhenWoken::new(async {
            tokio::select! {
                biased;
                _ = stop.changed(), if closing.is_none() => true,
                () = tokio::time::sleep_until(wake) => false,
            }
        });
        tokio::select! {
            biased;
            _ = connection.as_mut() => return,
            stopping = stop_or_timer => if stopping {
                connection.as_mut().graceful_shutdown();
                closing = Some(Instant::now());
            }
        }
    }
}

pin_project_lite::pin_project! {
    /// `future`, polled only the first time and when it asked to be (its waker was woken), not
    /// whenever the task that awaits it wakes for something else. A `select!` polls every branch
    /// on every wake: the connection's shutdown and timer branches cost a request about 500
    /// instructions that way (callgrind), for nothing.
    struct WhenWoken<F> {
        #[pin]
        future: F,
        flag: Arc<WakeFlag>,
        // The waker `future` is polled with: it raises `flag` and wakes the task.
        waker: Waker,
    }
}

/// Whether a [`WhenWoken`] future was woken, and the task to wake then.
struct WakeFlag {
    woken: AtomicBool,
    task: Mutex<Option<Waker>>,
}

impl Wake for WakeFlag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        if let Some(task) = self.task.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).as_ref() {
            task.wake_by_ref();
        }
    }
}

impl<F: Future> WhenWoken<F> {
    fn new(future: F) -> WhenWoken<F> {
        let flag = Arc::new(WakeFlag { woken: AtomicBool::new(true), task: Mutex::new(None) });
        WhenWoken { future, waker: Waker::from(flag.clone()), flag }
    }
}

impl<F: Future> Future for WhenWoken<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        {
            // The task to wake is recorded before the flag is read: a wake in between finds it.
            let mut task = this.flag.task.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            if !task.as_ref().is_some_and(|t| t.will_wake(cx.waker())) {
                *task = Some(cx.waker().clone());
            }
        }
        if !this.flag.woken.swap(false, Ordering::AcqRel) {
            return Poll::Pending;
        }
        this.future.poll(&mut Context::from_waker(this.waker))
    }
}

/// The requests of one connection: how many are in flight, and when the last one ended.
struct Activity {
    start: Instant,
    in_flight: AtomicUsize,
    /// Milliseconds from `start` to the end of the last request; `u64::MAX` before the first.
    last_end_ms: AtomicU64,
    served: AtomicU64,
    /// A request came over HTTP/2 (only looked for while hyper-util detects the protocol).
    http2: AtomicBool,
}

impl Activity {
    fn new(start: Instant) -> Activity {
        Activity {
            start,
            in_flight: AtomicUsize::new(0),
            last_end_ms: AtomicU64::new(u64::MAX),
            served: AtomicU64::new(0),
            http2: AtomicBool::new(false),
        }
    }

    fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    fn served(&self) -> u64 {
        self.served.load(Ordering::Relaxed)
    }

    /// When the connection counts as idle: `None` while a request is in flight; before any
    /// request, `first`; else `idle` after the last request ended.
    fn idle_deadline(&self, first: Instant, idle: Duration) -> Option<Instant> {
        if self.in_flight() > 0 {
            return None;
        }
        match self.last_end_ms.load(Ordering::Acquire) {
            u64::MAX => Some(first),
            ms => Some(self.start + Duration::from_millis(ms) + idle),
        }
    }
}

/// A request in flight on its connection, from its complete head to its response.
struct Busy(Arc<Activity>);

impl Busy {
    fn new(activity: Arc<Activity>) -> Busy {
        activity.in_flight.fetch_add(1, Ordering::AcqRel);
        Busy(activity)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        let activity = &self.0;
        let ms = u64::try_from(activity.start.elapsed().as_millis()).unwrap_or(u64::MAX - 1);
        activity.last_end_ms.store(ms, Ordering::Release);
        activity.served.fetch_add(1, Ordering::Relaxed);
        activity.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Errors of `accept` that concern only the connection being accepted.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    )
}

/// Exponential backoff: 1 ms, doubling, at most 1 s; back to 1 ms on [`Backoff::reset`].
#[derive(Debug)]
pub(crate) struct Backoff {
    next: Duration,
}

impl Backoff {
    pub(crate) const MIN: Duration = Duration::from_millis(1);
    pub(crate) const MAX: Duration = Duration::from_secs(1);

    /// The pause before the next attempt.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (delay * 2).min(Self::MAX);
        delay
    }

    /// After a success.
    pub(crate) fn reset(&mut self) {
        self.next = Self::MIN;
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { next: Self::MIN }
    }
}

/// Rate-limits a log line: at most one per `every`, reporting how many events it stands for.
#[derive(Debug)]
pub(crate) struct Throttle {
    every: Duration,
    last_line: Option<Instant>,
    events: u64,
}

impl Throttle {
    pub(crate) fn new(every: Duration) -> Throttle {
        Throttle { every, last_line: None, events: 0 }
    }

    /// Counts one event at `now`; `Some(events since the last line, this one included)` when a
    /// line is due.
    pub(crate) fn event(&mut self, now: Instant) -> Option<u64> {
        self.events += 1;
        match self.last_line {
            Some(last) if now.saturating_duration_since(last) < self.every => None,
            _ => {
                self.last_line = Some(now);
                Some(std::mem::take(&mut self.events))
            }
        }
    }
}

/// The soft limit on open files (`ulimit -n`), where the system tells it (Linux).
fn open_file_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..].split_whitespace().next()?.parse().ok()
}

/// A warning when `max_connections` cannot be reached under the open-file limit: `accept`
/// would fail (EMFILE) before the cap, and every other file the server opens with it.
fn fd_limit_warning(max_connections: usize, limit: Option<u64>) -> Option<String> {
    let limit = limit?;
    let needed = u64::try_from(max_connections).unwrap_or(u64::MAX).saturating_add(FD_RESERVE);
    (needed > limit).then(|| {
        format!(
            "max_connections = {max_connections} but the open-file limit (ulimit -n) is {limit}: accept will fail \
             with \"too many open files\" before the cap is reached; lower max_connections to at most {} or \
             raise the limit",
            limit.saturating_sub(FD_RESERVE)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A wake counter, as the waker of the task that awaits a [`WhenWoken`].
    struct Wakes(AtomicUsize);

    impl Wake for Wakes {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_when_woken_future_is_polled_first_and_then_only_when_it_was_woken() {
        let polls = AtomicUsize::new(0);
        let inner_waker: Mutex<Option<Waker>> = Mutex::new(None);
        let ready = AtomicBool::new(false);
        let inner = std::future::poll_fn(|cx| {
            polls.fetch_add(1, Ordering::SeqCst);
            *inner_waker.lock().unwrap() = Some(cx.waker().clone());
            if ready.load(Ordering::SeqCst) {
                Poll::Ready(7)
            } else {
                Poll::Pending
            }
        });
        let mut future = std::pin::pin!(WhenWoken::new(inner));
        let task = Arc::new(Wakes(AtomicUsize::new(0)));
        let waker = Waker::from(task.clone());
        let mut cx = Context::from_waker(&waker);
        assert!(future.as_mut().poll(&mut cx).is_pending());
        assert_eq!(polls.load(Ordering::SeqCst), 1, "the first poll reaches the future");
        // The task woke for something else: the future is not polled again.
        for _ in 0..3 {
            assert!(future.as_mut().poll(&mut cx).is_pending());
        }
        assert_eq!(polls.load(Ordering::SeqCst), 1);
        assert_eq!(task.0.load(Ordering::SeqCst), 0);
        // The future's own waker wakes the task, and the next poll reaches it.
        ready.store(true, Ordering::SeqCst);
        inner_waker.lock().unwrap().take().unwrap().wake();
        assert_eq!(task.0.load(Ordering::SeqCst), 1);
        assert_eq!(future.as_mut().poll(&mut cx), Poll::Ready(7));
        assert_eq!(polls.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn backoff_doubles_from_1_ms_to_1_s_and_resets() {
        let mut b = Backoff::default();
        let delays: Vec<u128> = (0..13).map(|_| b.next_delay().as_millis()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000, 1000, 1000]);
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_millis(1));
    }

    #[test]
    fn the_protocol_is_known_from_the_first_bytes_or_alpn_or_left_to_detection() {
        assert_eq!(Protocol::of_first_bytes(b"POST /fetch_rtc_token HTTP/1.1\r\n"), Protocol::Http1);
        assert_eq!(Protocol::of_first_bytes(b"G"), Protocol::Http1);
        // The first byte that differs from the preface decides, however few came.
        assert_eq!(Protocol::of_first_bytes(b"PO"), Protocol::Http1);
        assert_eq!(Protocol::of_first_bytes(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), Protocol::Http2);
        assert_eq!(Protocol::of_first_bytes(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\rX"), Protocol::Http1);
        // Part of the preface, or nothing (the peer closed): hyper-util reads on and decides.
        assert_eq!(Protocol::of_first_bytes(b"P"), Protocol::Detect);
        assert_eq!(Protocol::of_first_bytes(b"PRI * HTTP/2.0\r\n"), Protocol::Detect);
        assert_eq!(Protocol::of_first_bytes(b""), Protocol::Detect);

        assert_eq!(Protocol::of_alpn(Some(b"h2")), Protocol::Http2);
        assert_eq!(Protocol::of_alpn(Some(b"http/1.1")), Protocol::Http1);
        assert_eq!(Protocol::of_alpn(None), Protocol::Detect);
    }

    #[test]
    fn throttle_says_once_per_period_with_the_count() {
        let start = Instant::now();
        let mut t = Throttle::new(Duration::from_secs(10));
        assert_eq!(t.event(start), Some(1));
        for ms in [1, 500, 9_999] {
            assert_eq!(t.event(start + Duration::from_millis(ms)), None);
        }
        assert_eq!(t.event(start + Duration::from_secs(10)), Some(4));
        assert_eq!(t.event(start + Duration::from_secs(11)), None);
        assert_eq!(t.event(start + Duration::from_secs(25)), Some(2));
    }

    #[test]
    fn activity_deadlines() {
        let start = Instant::now();
        let first = start + Duration::from_secs(10);
        let idle = Duration::from_secs(30);
        let activity = Arc::new(Activity::new(start));
        assert_eq!(activity.idle_deadline(first, idle), Some(first));
        let busy = Busy::new(activity.clone());
        assert_eq!(activity.idle_deadline(first, idle), None);
        drop(busy);
        let deadline = activity.idle_deadline(first, idle).unwrap();
        assert!(deadline >= start + idle && deadline <= Instant::now() + idle, "{deadline:?}");
        assert_eq!(activity.served(), 1);
    }

    #[test]
    fn warns_when_the_cap_is_above_the_open_file_limit() {
        assert_eq!(fd_limit_warning(768, Some(1024)), None);
        assert_eq!(fd_limit_warning(768, None), None);
        let w = fd_limit_warning(1000, Some(1024)).unwrap();
        assert!(w.contains("max_connections = 1000") && w.contains("1024") && w.contains("at most 992"), "{w}");
        assert!(open_file_limit().is_none_or(|n| n > 0));
    }
}
