//! Connections are bounded in number (`max_connections`) and in time (`first_request_timeout`
//! from accept, `idle_timeout` with no request in flight), for HTTP/1, h2c and TLS; a normal
//! client is served once idle ones are gone; `accept` errors back off. Real sockets on 127.0.0.1.
//!
//! The last two tests run the server in a child process (this test binary again, with
//! `AGTOKEN_CONN_CHILD` set, under `ulimit -n`), so that its open-file limit is the one of the
//! issue's reproduction without touching the limit of this process.

#[allow(dead_code)]
#[path = "server/common.rs"]
mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use agtoken_server::{Config, Env, ServeOptions};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use common::*;

const SECOND: Duration = Duration::from_secs(1);

/// Short timeouts for tests: 1 s to the first request, 1 s idle; hyper's header-read timer at
/// 30 s, so that what closes connections here is ours.
fn short_timeouts() -> Config {
    let mut c = config();
    c.first_request_timeout = SECOND;
    c.idle_timeout = SECOND;
    c.header_read_timeout = Duration::from_secs(30);
    c
}

/// Reads until the peer closes (EOF or an error such as a reset); the time it took, or `None`
/// if it is still open after `limit`. What was read is appended to `seen`.
async fn closed_within<S: AsyncRead + Unpin>(stream: &mut S, limit: Duration, seen: &mut Vec<u8>) -> Option<Duration> {
    let start = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        let left = limit.checked_sub(start.elapsed())?;
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => return Some(start.elapsed()),
            Ok(Ok(n)) => seen.extend_from_slice(&buf[..n]),
        }
    }
}

/// Reads one HTTP/1 response (head and `Content-Length` body) from a keep-alive connection.
async fn read_response<S: AsyncRead + Unpin>(stream: &mut S) -> Reply {
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await.expect("answer").unwrap();
        assert!(n > 0, "closed before a whole answer: {:?}", String::from_utf8_lossy(&raw));
        raw.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&raw);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned()))
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0);
            if body.len() >= length {
                return Reply::parse(&raw);
            }
        }
    }
}

fn assert_closed_in(what: &str, took: Option<Duration>, at_least: Duration, at_most: Duration) {
    let took = took.unwrap_or_else(|| panic!("{what}: still open after {at_most:?}"));
    assert!(took >= at_least, "{what}: closed after {took:?}, before {at_least:?}");
    assert!(took <= at_most, "{what}: closed after {took:?}");
}

fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("no {name} in {text}"))
        .parse()
        .unwrap()
}

// ---- time ---------------------------------------------------------------------------------

#[tokio::test]
async fn a_connection_without_a_complete_first_request_is_closed_after_first_request_timeout() {
    let server = start(short_timeouts()).await;
    let cases: [(&str, &[u8]); 3] = [
        ("nothing at all", b""),
        ("one byte", b"G"),
        ("half a request head (slowloris)", b"GET /healthz HTTP/1.1\r\nHost: x\r\n"),
    ];
    let mut tasks = Vec::new();
    for (what, bytes) in cases {
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        stream.write_all(bytes).await.unwrap();
        tasks.push(tokio::spawn(async move {
            let took = closed_within(&mut stream, Duration::from_secs(5), &mut Vec::new()).await;
            assert_closed_in(what, took, Duration::from_millis(800), Duration::from_millis(3500));
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    server.stop().await.unwrap();
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_idle_timeout() {
    let mut cfg = short_timeouts();
    cfg.first_request_timeout = Duration::from_secs(30);
    let server = start(cfg).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    // Served, kept alive, served again: a connection in use is not idle.
    for _ in 0..3 {
        stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
        assert_eq!(read_response(&mut stream).await.status, 200);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let took = closed_within(&mut stream, Duration::from_secs(5), &mut Vec::new()).await;
    // 500 ms of the second already passed.
    assert_closed_in("idle HTTP/1 keep-alive", took, Duration::from_millis(300), Duration::from_millis(3000));
    server.stop().await.unwrap();
}

#[tokio::test]
async fn http1_heads_are_due_within_header_read_timeout_and_http2_is_not_bound_by_it() {
    let mut cfg = short_timeouts();
    cfg.first_request_timeout = Duration::from_secs(30);
    cfg.idle_timeout = Duration::from_secs(30);
    cfg.header_read_timeout = SECOND;
    let server = start(cfg).await;
    let mut tasks = Vec::new();
    // The first head, begun and never finished; a request served, then half of the next head;
    // a request served, then nothing (HTTP/1 idles at most header_read_timeout).
    let cases: [(&str, &[u8], &[u8]); 3] = [
        ("half of the first head", b"GET /healthz HTTP/1.1\r\nHost: x\r\n", b""),
        ("half of the second head", b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", b"GET /healthz HTTP/1.1\r\n"),
        ("nothing after a request", b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", b""),
    ];
    for (what, first, then) in cases {
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        stream.write_all(first).await.unwrap();
        if first.ends_with(b"\r\n\r\n") {
            assert_eq!(read_response(&mut stream).await.status, 200, "{what}");
        }
        stream.write_all(then).await.unwrap();
        tasks.push(tokio::spawn(async move {
            let took = closed_within(&mut stream, Duration::from_secs(5), &mut Vec::new()).await;
            // One second, and up to the one-second grace of a closing connection.
            assert_closed_in(what, took, Duration::from_millis(800), Duration::from_millis(3500));
        }));
    }
    // HTTP/2 after a request: only idle_timeout (30 s) applies.
    let mut h2 = TcpStream::connect(server.addr).await.unwrap();
    h2.write_all(&h2_get_healthz()).await.unwrap();
    let mut seen = h2_answer_on_stream_1(&mut h2).await;
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(closed_within(&mut h2, Duration::from_millis(500), &mut seen).await, None, "h2c closed");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_request_in_flight_is_not_idle() {
    let server = start(short_timeouts()).await;
    let body = br#"{"service": "rtc", "channel": "slow", "uid": 5, "role": "publisher"}"#;
    let head = format!(
        "POST /v1/tokens HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body[..10]).await.unwrap();
    // Twice the idle timeout and the first-request timeout, with the body half sent.
    tokio::time::sleep(Duration::from_secs(2)).await;
    stream.write_all(&body[10..]).await.unwrap();
    let reply = read_reply(&mut stream).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    server.stop().await.unwrap();
}

// ---- number -------------------------------------------------------------------------------

#[tokio::test]
async fn the_cap_holds_and_a_client_is_served_within_a_second_once_idle_ones_close() {
    let mut cfg = config();
    cfg.max_connections = 50;
    let server = start(cfg).await;
    let mut idle = Vec::new();
    for _ in 0..60 {
        idle.push(TcpStream::connect(server.addr).await.unwrap());
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while metric(&server.state.metrics_text(), "agtoken_connections_open") < 50 {
        assert!(Instant::now() < deadline, "{}", server.state.metrics_text());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A normal client: connected (the kernel's backlog), but not served while 50 are open.
    let mut client = TcpStream::connect(server.addr).await.unwrap();
    client.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut buf = [0u8; 64];
    assert!(
        tokio::time::timeout(Duration::from_millis(500), client.read(&mut buf)).await.is_err(),
        "served beyond the cap"
    );
    let metrics = server.state.metrics_text();
    assert_eq!(metric(&metrics, "agtoken_connections_open"), 50, "{metrics}");
    assert!(metric(&metrics, "agtoken_connection_limit_hits_total") >= 1, "{metrics}");
    // The idle clients leave: the waiting client is served within a second.
    let left = Instant::now();
    drop(idle);
    let reply = read_reply(&mut client).await;
    assert_eq!(reply.status, 200);
    assert!(left.elapsed() < SECOND, "served {:?} after the idle clients left", left.elapsed());
    // /metrics over HTTP: the gauge and the counter.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let text = server.get("/metrics").await.body;
        assert!(metric(&text, "agtoken_connection_limit_hits_total") >= 1, "{text}");
        assert_eq!(metric(&text, "agtoken_accept_errors_total"), 0, "{text}");
        // This request's own connection is the only one left.
        if metric(&text, "agtoken_connections_open") == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "{text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.stop().await.unwrap();
}

#[tokio::test]
async fn idle_connections_beyond_the_cap_are_closed_and_a_waiting_client_is_served() {
    let mut cfg = short_timeouts();
    cfg.max_connections = 50;
    let server = start(cfg).await;
    let opened = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..60 {
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        tasks.push(tokio::spawn(async move {
            closed_within(&mut stream, Duration::from_secs(6), &mut Vec::new()).await.map(|_| opened.elapsed())
        }));
    }
    // A client arrives while 50 idle connections fill the cap: it waits for them to be closed
    // (1 s), then is served at once.
    let mut client = TcpStream::connect(server.addr).await.unwrap();
    client.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
    let reply = read_reply(&mut client).await;
    assert_eq!(reply.status, 200);
    let served = opened.elapsed();
    assert!(served >= Duration::from_millis(800) && served < Duration::from_millis(2500), "served after {served:?}");
    let mut closed: Vec<Duration> = Vec::new();
    for task in tasks {
        closed.push(task.await.unwrap().expect("every idle connection is closed by the server"));
    }
    closed.sort();
    // The first 50 after about 1 s; the 10 that waited in the backlog about 1 s after that.
    assert!(closed[0] >= Duration::from_millis(800), "{closed:?}");
    assert!(closed[49] < Duration::from_millis(3500), "{closed:?}");
    assert!(closed[59] < Duration::from_millis(5500), "{closed:?}");
    // Nothing idle is left: a new client is served at once.
    let start = Instant::now();
    assert_eq!(server.get("/healthz").await.status, 200);
    assert!(start.elapsed() < SECOND);
    server.stop().await.unwrap();
}

// ---- HTTP/2 (h2c, prior knowledge) --------------------------------------------------------

const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const H2_EMPTY_SETTINGS: &[u8] = &[0, 0, 0, 4, 0, 0, 0, 0, 0];

/// `(type, flags, stream, payload)` of each frame in `bytes` (the last one's payload may be cut).
fn h2_frames_with_payload(bytes: &[u8]) -> Vec<(u8, u8, u32, &[u8])> {
    let mut frames = Vec::new();
    let mut rest = bytes;
    while rest.len() >= 9 {
        let len = usize::from(rest[0]) << 16 | usize::from(rest[1]) << 8 | usize::from(rest[2]);
        let stream = u32::from_be_bytes([rest[5], rest[6], rest[7], rest[8]]) & 0x7fff_ffff;
        let end = (9 + len).min(rest.len());
        frames.push((rest[3], rest[4], stream, &rest[9..end]));
        rest = &rest[end..];
    }
    frames
}

/// `(type, flags, stream)` of each frame in `bytes`.
fn h2_frames(bytes: &[u8]) -> Vec<(u8, u8, u32)> {
    h2_frames_with_payload(bytes).into_iter().map(|(kind, flags, stream, _)| (kind, flags, stream)).collect()
}

const GOAWAY: u8 = 7;
const HEADERS: u8 = 1;

/// The preface, SETTINGS and `GET /healthz` on stream 1 (HPACK: `:method GET`, `:scheme http`,
/// `:path` and `:authority` literal).
fn h2_get_healthz() -> Vec<u8> {
    let mut block = vec![0x82, 0x86, 0x04, 8];
    block.extend_from_slice(b"/healthz");
    block.extend_from_slice(&[0x01, 1, b'x']);
    let mut request = [H2_PREFACE, H2_EMPTY_SETTINGS].concat();
    request.extend_from_slice(&[0, 0, u8::try_from(block.len()).unwrap(), HEADERS, 0x5, 0, 0, 0, 1]);
    request.extend_from_slice(&block);
    request
}

/// Reads HTTP/2 frames until the HEADERS of an answer on stream 1; all that was read.
async fn h2_answer_on_stream_1<S: AsyncRead + Unpin>(stream: &mut S) -> Vec<u8> {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !h2_frames(&seen).iter().any(|f| f.0 == HEADERS && f.2 == 1) {
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await.expect("an answer").unwrap();
        assert!(n > 0, "closed before answering: {:?}", h2_frames(&seen));
        seen.extend_from_slice(&buf[..n]);
    }
    seen
}

#[tokio::test]
async fn h2c_connections_idle_before_or_after_a_request_are_closed() {
    let mut cfg = short_timeouts();
    cfg.idle_timeout = Duration::from_secs(2);
    let server = start(cfg).await;

    // The preface and SETTINGS, then nothing: closed after first_request_timeout (1 s), with a GOAWAY.
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(&[H2_PREFACE, H2_EMPTY_SETTINGS].concat()).await.unwrap();
    let mut seen = Vec::new();
    let took = closed_within(&mut stream, Duration::from_secs(5), &mut seen).await;
    assert_closed_in("h2c preface only", took, Duration::from_millis(800), Duration::from_millis(3500));
    assert!(h2_frames(&seen).iter().any(|f| f.0 == GOAWAY), "{:?}", h2_frames(&seen));

    // Only half of the preface: closed too.
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(&H2_PREFACE[..10]).await.unwrap();
    let took = closed_within(&mut stream, Duration::from_secs(5), &mut Vec::new()).await;
    assert_closed_in("half an h2c preface", took, Duration::from_millis(800), Duration::from_millis(3500));

    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(&h2_get_healthz()).await.unwrap();
    let mut seen = h2_answer_on_stream_1(&mut stream).await;
    let answered = Instant::now();
    let took = closed_within(&mut stream, Duration::from_secs(6), &mut seen).await.map(|_| answered.elapsed());
    // Idle from the answer: closed after idle_timeout (2 s), not at the first-request timeout.
    assert_closed_in("h2c idle after a request", took, Duration::from_millis(1700), Duration::from_millis(4500));
    assert!(h2_frames(&seen).iter().any(|f| f.0 == GOAWAY), "{:?}", h2_frames(&seen));
    server.stop().await.unwrap();
}

// ---- request heads ------------------------------------------------------------------------

/// A header of `len` bytes of value: well under the 16 KiB head limit, or over it.
fn big_header(len: usize) -> String {
    "a".repeat(len)
}

#[tokio::test]
async fn http1_request_heads_over_16_kib_are_refused_with_431() {
    let server = start(config()).await;
    for (value_len, expected) in [(12 * 1024, 200), (17 * 1024, 431), (300 * 1024, 431)] {
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        let head = format!("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: {}\r\n\r\n", big_header(value_len));
        // The server may answer and close before reading all of a too-large head.
        let _ = stream.write_all(head.as_bytes()).await;
        let reply = read_response(&mut stream).await;
        assert_eq!(reply.status, expected, "a header value of {value_len} bytes");
    }
    server.stop().await.unwrap();
}

/// An HPACK literal header field without indexing, new name (RFC 7541 §6.2.2), no Huffman.
fn hpack_literal(name: &str, value: &str) -> Vec<u8> {
    fn integer(out: &mut Vec<u8>, mut n: usize) {
        // 7-bit prefix, H bit 0.
        if n < 127 {
            out.push(n as u8);
            return;
        }
        out.push(127);
        n -= 127;
        while n >= 128 {
            out.push((n % 128) as u8 | 0x80);
            n /= 128;
        }
        out.push(n as u8);
    }
    let mut out = vec![0x00];
    integer(&mut out, name.len());
    out.extend_from_slice(name.as_bytes());
    integer(&mut out, value.len());
    out.extend_from_slice(value.as_bytes());
    out
}

/// Sends GET /healthz on stream 1 with one padding header of `value_len` bytes (split into
/// HEADERS and CONTINUATION frames of at most 16 KiB) and returns the frames read until the
/// stream's answer (HEADERS or RST_STREAM on stream 1) or a GOAWAY.
async fn h2_get_with_padding(addr: std::net::SocketAddr, value_len: usize) -> (Vec<(u8, u8, u32)>, Vec<u8>) {
    const CONTINUATION: u8 = 9;
    const RST_STREAM: u8 = 3;
    let mut block = vec![0x82, 0x86, 0x04, 8];
    block.extend_from_slice(b"/healthz");
    block.extend_from_slice(&[0x01, 1, b'x']);
    block.extend_from_slice(&hpack_literal("x-padding", &big_header(value_len)));
    let mut request = [H2_PREFACE, H2_EMPTY_SETTINGS].concat();
    let chunks: Vec<&[u8]> = block.chunks(16 * 1024).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        let kind = if i == 0 { HEADERS } else { CONTINUATION };
        let mut flags = if i == 0 { 0x1 } else { 0 }; // END_STREAM on the HEADERS frame
        if i == chunks.len() - 1 {
            flags |= 0x4; // END_HEADERS
        }
        let len = chunk.len().to_be_bytes();
        request.extend_from_slice(&[len[5], len[6], len[7], kind, flags, 0, 0, 0, 1]);
        request.extend_from_slice(chunk);
    }
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let _ = stream.write_all(&request).await;
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let frames = h2_frames(&seen);
        if frames.iter().any(|f| (f.0 == HEADERS || f.0 == RST_STREAM) && f.2 == 1 || f.0 == GOAWAY) {
            return (frames, seen);
        }
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await.expect("an answer");
        match n {
            Ok(n) if n > 0 => seen.extend_from_slice(&buf[..n]),
            _ => return (h2_frames(&seen), seen),
        }
    }
}

#[tokio::test]
async fn h2_header_lists_over_16_kib_are_refused() {
    let server = start(config()).await;
    // Under the limit: answered (a HEADERS frame on stream 1 whose block starts with :status 200,
    // HPACK static index 8).
    let (frames, bytes) = h2_get_with_padding(server.addr, 12 * 1024).await;
    let answer = h2_frame_payload(&bytes, HEADERS, 1).unwrap_or_else(|| panic!("no answer: {frames:?}"));
    assert_eq!(answer.first(), Some(&0x88), "status 200 expected, frames {frames:?}");
    // Over: refused: never a 200 (a 431 answer, a reset stream or a GOAWAY).
    for value_len in [17 * 1024, 40 * 1024] {
        let (frames, bytes) = h2_get_with_padding(server.addr, value_len).await;
        if let Some(answer) = h2_frame_payload(&bytes, HEADERS, 1) {
            assert_ne!(answer.first(), Some(&0x88), "{value_len} bytes were served: {frames:?}");
        } else {
            assert!(frames.iter().any(|f| f.0 == 3 || f.0 == GOAWAY), "{value_len} bytes: {frames:?}");
        }
    }
    server.stop().await.unwrap();
}

/// The payload of the first frame of `kind` on `stream` in `bytes`.
fn h2_frame_payload(bytes: &[u8], kind: u8, stream: u32) -> Option<Vec<u8>> {
    h2_frames_with_payload(bytes).into_iter().find(|f| f.0 == kind && f.2 == stream).map(|f| f.3.to_vec())
}

// ---- TLS ----------------------------------------------------------------------------------

mod tls {
    use std::sync::Arc;

    use rcgen::{CertificateParams, KeyPair};
    use tokio_rustls::rustls::pki_types::{pem::PemObject, CertificateDer, ServerName};
    use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};
    use tokio_rustls::TlsConnector;

    /// A self-signed certificate for `localhost` (PEM) and its key (PEM).
    pub fn self_signed() -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec!["localhost".to_owned()]).unwrap().self_signed(&key).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    pub async fn connect(
        addr: std::net::SocketAddr,
        cert_pem: &str,
    ) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
        connect_offering(addr, cert_pem, &[]).await
    }

    /// [`connect`], offering the ALPN protocols `alpn`.
    pub async fn connect_offering(
        addr: std::net::SocketAddr,
        cert_pem: &str,
        alpn: &[&[u8]],
    ) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
        let mut roots = RootCertStore::empty();
        roots.add(CertificateDer::from_pem_slice(cert_pem.as_bytes()).unwrap()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        TlsConnector::from(Arc::new(config))
            .connect(ServerName::try_from("localhost").unwrap(), stream)
            .await
            .expect("TLS handshake")
    }
}

#[tokio::test]
async fn tls_connections_idle_after_the_handshake_or_a_request_are_closed() {
    let (cert, key) = tls::self_signed();
    let mut cfg = short_timeouts();
    cfg.idle_timeout = Duration::from_secs(2);
    cfg.tls = Some(agtoken_server::tls::TlsSettings::from_pem(cert.as_bytes(), key.as_bytes()).unwrap());
    let server = start(cfg).await;

    // No handshake at all.
    let mut raw = TcpStream::connect(server.addr).await.unwrap();
    let took = closed_within(&mut raw, Duration::from_secs(5), &mut Vec::new()).await;
    assert_closed_in("TLS port, nothing sent", took, Duration::from_millis(800), Duration::from_millis(3500));

    // A handshake, then nothing: the first-request timeout counts from accept.
    let connected = Instant::now();
    let mut stream = tls::connect(server.addr, &cert).await;
    let took = closed_within(&mut stream, Duration::from_secs(5), &mut Vec::new()).await.map(|_| connected.elapsed());
    assert_closed_in("idle after the TLS handshake", took, Duration::from_millis(800), Duration::from_millis(3500));

    // A request over TLS, kept alive, then idle: closed after idle_timeout (2 s).
    let mut stream = tls::connect(server.addr, &cert).await;
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n").await.unwrap();
    let reply = read_response(&mut stream).await;
    assert_eq!(reply.status, 200);
    let took = closed_within(&mut stream, Duration::from_secs(6), &mut Vec::new()).await;
    assert_closed_in("idle TLS keep-alive", took, Duration::from_millis(1700), Duration::from_millis(4500));
    server.stop().await.unwrap();
}

// ---- the protocol of a connection ---------------------------------------------------------

/// The server decides a plain connection's protocol from its first bytes, left in the socket
/// (HTTP/1 as soon as they differ from HTTP/2's preface), and a TLS connection's from ALPN; when
/// neither tells yet (part of the preface so far, no ALPN), hyper-util reads on and decides. Each
/// way serves its protocol.
#[tokio::test]
async fn each_protocol_is_served_whether_its_first_bytes_or_alpn_tell_it_or_not() {
    let (cert, key) = tls::self_signed();
    let server = start(config()).await;
    // POST /fetch_rtc_token, less its first byte.
    let body = r#"{"uid":7,"ChannelName":"c","role":1}"#;
    let fetch = format!(
        "OST /fetch_rtc_token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );

    // HTTP/1, the request whole at once (decided at once), and with its first byte alone ("P" is
    // also the preface's: not decided until more comes).
    for pause in [None, Some(Duration::from_millis(150))] {
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        stream.write_all(b"P").await.unwrap();
        if let Some(pause) = pause {
            tokio::time::sleep(pause).await;
        }
        stream.write_all(fetch.as_bytes()).await.unwrap();
        let reply = read_response(&mut stream).await;
        assert_eq!(reply.status, 200, "HTTP/1, pause {pause:?}: {}", reply.body);
        assert!(reply.body.contains("\"token\":\"007"), "{}", reply.body);
    }

    // h2c with prior knowledge: the preface at once, and cut in two.
    for cut in [None, Some(10)] {
        let request = h2_get_healthz();
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        if let Some(cut) = cut {
            stream.write_all(&request[..cut]).await.unwrap();
            tokio::time::sleep(Duration::from_millis(150)).await;
            stream.write_all(&request[cut..]).await.unwrap();
        } else {
            stream.write_all(&request).await.unwrap();
        }
        h2_answer_on_stream_1(&mut stream).await;
    }
    server.stop().await.unwrap();

    // TLS: ALPN h2, ALPN http/1.1, and none (HTTP/1, then HTTP/2, detected).
    let mut cfg = config();
    cfg.tls = Some(agtoken_server::tls::TlsSettings::from_pem(cert.as_bytes(), key.as_bytes()).unwrap());
    let server = start(cfg).await;
    let mut stream = tls::connect_offering(server.addr, &cert, &[b"h2"]).await;
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    stream.write_all(&h2_get_healthz()).await.unwrap();
    h2_answer_on_stream_1(&mut stream).await;
    for alpn in [&[&b"http/1.1"[..]][..], &[]] {
        let mut stream = tls::connect_offering(server.addr, &cert, alpn).await;
        stream.write_all(format!("P{fetch}").as_bytes()).await.unwrap();
        let reply = read_response(&mut stream).await;
        assert_eq!(reply.status, 200, "TLS, ALPN {alpn:?}: {}", reply.body);
    }
    let mut stream = tls::connect(server.addr, &cert).await;
    stream.write_all(&h2_get_healthz()).await.unwrap();
    h2_answer_on_stream_1(&mut stream).await;
    server.stop().await.unwrap();
}

// ---- configuration ------------------------------------------------------------------------

fn load(env: &[(&str, &str)], file: &str) -> Result<Config, String> {
    let env = Env::from_pairs(env.iter().copied());
    Config::from_sources(&ServeOptions::default(), &env, Some((Path::new("agtoken.toml"), file)))
        .map_err(|e| e.to_string())
}

#[test]
fn connection_settings_from_the_environment_and_the_file() {
    let c = load(&[], "").unwrap();
    assert_eq!(
        (c.max_connections, c.first_request_timeout, c.idle_timeout, c.header_read_timeout),
        (768, Duration::from_secs(10), Duration::from_secs(30), Duration::from_secs(30))
    );
    let file = "max_connections = 100\nfirst_request_timeout_secs = 5\nidle_timeout_secs = 60\n";
    let c = load(&[], file).unwrap();
    assert_eq!((c.max_connections, c.first_request_timeout, c.idle_timeout.as_secs()), (100, 5 * SECOND, 60));
    let env =
        [("AGTOKEN_MAX_CONNECTIONS", "2000"), ("AGTOKEN_FIRST_REQUEST_TIMEOUT", "3"), ("AGTOKEN_IDLE_TIMEOUT", "90")];
    let c = load(&env, file).unwrap();
    assert_eq!((c.max_connections, c.first_request_timeout, c.idle_timeout.as_secs()), (2000, 3 * SECOND, 90));
}

#[test]
fn wrong_connection_settings_name_the_setting() {
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a [&'a str]);
    let cases: [Case; 8] = [
        (&[("AGTOKEN_MAX_CONNECTIONS", "0")], "", &["AGTOKEN_MAX_CONNECTIONS", "1..=1000000", "got 0"]),
        (&[("AGTOKEN_MAX_CONNECTIONS", "lots")], "", &["AGTOKEN_MAX_CONNECTIONS", "\"lots\""]),
        (&[], "max_connections = 0\n", &["agtoken.toml", "max_connections", "1..=1000000"]),
        (&[], "max_connections = 2000000\n", &["max_connections", "got 2000000"]),
        (&[("AGTOKEN_IDLE_TIMEOUT", "0")], "", &["AGTOKEN_IDLE_TIMEOUT", "1..=3600 seconds"]),
        (&[], "idle_timeout_secs = 7200\n", &["agtoken.toml", "idle_timeout_secs", "1..=3600 seconds"]),
        (&[("AGTOKEN_FIRST_REQUEST_TIMEOUT", "-1")], "", &["AGTOKEN_FIRST_REQUEST_TIMEOUT", "\"-1\""]),
        (&[], "first_request_timeout_secs = 0\n", &["agtoken.toml", "first_request_timeout_secs", "got 0"]),
    ];
    for (env, file, words) in cases {
        let err = load(env, file).unwrap_err();
        for word in words {
            assert!(err.contains(word), "{env:?} {file:?}: {err}");
        }
    }
}

// ---- the issue's reproduction, in a child process under `ulimit -n` ------------------------

const CHILD_VAR: &str = "AGTOKEN_CONN_CHILD";
/// Set: the child server logs plain text lines (as to a file or pipe) instead of JSON.
const CHILD_TEXT_LOG_VAR: &str = "AGTOKEN_CONN_CHILD_TEXT_LOG";

/// Not a test of its own: the server of the two tests below, run in a child process (it
/// returns at once otherwise). `serve_blocking` with the environment the parent gives, JSON
/// logs on stdout (text with [`CHILD_TEXT_LOG_VAR`]), until SIGTERM.
#[test]
fn child_server() {
    if std::env::var_os(CHILD_VAR).is_none() {
        return;
    }
    let log_json = std::env::var_os(CHILD_TEXT_LOG_VAR).is_none();
    let options = ServeOptions { host: Some("127.0.0.1".into()), port: Some(0), log_json, ..Default::default() };
    agtoken_server::serve_blocking(options).expect("the child server runs");
}

/// The soft limit on open files of this process (Linux).
fn open_file_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..].split_whitespace().next()?.parse().ok()
}

struct ChildServer {
    child: Child,
    addr: std::net::SocketAddr,
    lines: Arc<Mutex<Vec<String>>>,
}

impl ChildServer {
    /// This test binary, running only `child_server`, with `ulimit -n {fd_limit}` and `env`.
    fn start(fd_limit: u32, env: &[(&str, &str)]) -> ChildServer {
        let exe = std::env::current_exe().unwrap();
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(format!("ulimit -n {fd_limit} && exec \"$0\" --exact child_server --nocapture --test-threads=1"))
            .arg(exe)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env(CHILD_VAR, "1")
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = command.spawn().expect("sh runs the child server");
        let stdout = child.stdout.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let address = match serde_json::from_str::<serde_json::Value>(&line) {
                    Ok(v) if v["message"] == "agtoken server listening" => v["address"].as_str().map(str::to_owned),
                    Ok(_) => None,
                    // A text line: `… agtoken server listening address=127.0.0.1:PORT …`.
                    Err(_) if line.contains("agtoken server listening") => line
                        .split(' ')
                        .find_map(|field| field.strip_prefix("address="))
                        .map(|a| a.trim_matches('"').to_owned()),
                    Err(_) => None,
                };
                if let Some(addr) = address.and_then(|a| a.parse().ok()) {
                    let _ = addr_tx.send(addr);
                }
                sink.lock().unwrap().push(line);
            }
        });
        let addr = addr_rx.recv_timeout(Duration::from_secs(20)).expect("the child server listens");
        ChildServer { child, addr, lines }
    }

    fn count(&self, message_part: &str) -> usize {
        self.lines.lock().unwrap().iter().filter(|l| l.contains(message_part)).count()
    }

    /// Waits up to 5 s for a line (logs are written every 50 ms); how many there are.
    fn wait_for(&self, message_part: &str) -> usize {
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.count(message_part) == 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.count(message_part)
    }

    /// SIGTERM, and its exit status.
    fn stop(mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("the child server did not stop on SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `n` idle connections (blocking sockets: this runs on a plain thread).
fn open_idle(addr: std::net::SocketAddr, n: usize) -> Vec<std::net::TcpStream> {
    (0..n).map(|_| std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect")).collect()
}

/// One `GET path` with `Connection: close`: the status and the time the answer took.
fn get_timed(addr: std::net::SocketAddr, path: &str, limit: Duration) -> (Reply, Duration) {
    let start = Instant::now();
    let reply = exchange(addr, &format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"), limit);
    (reply, start.elapsed())
}

/// Sends `request` (a whole HTTP/1.1 request with `Connection: close`) on a new connection and
/// reads the answer to its end, within `limit`.
fn exchange(addr: std::net::SocketAddr, request: &str, limit: Duration) -> Reply {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect_timeout(&addr, limit).expect("connect");
    stream.set_read_timeout(Some(limit)).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut raw = Vec::new();
    let line = request.lines().next().unwrap_or_default();
    stream.read_to_end(&mut raw).unwrap_or_else(|e| panic!("no answer to {line} within {limit:?}: {e}"));
    Reply::parse(&raw)
}

/// The issue: with the usual limit of 1,024 open files, 1,100 idle connections from one
/// client made every other request time out for about 55 s while `accept failed` was logged
/// about 20 times a second. Now: the default cap (768) keeps the server below the limit (no
/// accept error), one line says the cap was reached, a request that arrives behind the idle
/// connections is served when they are closed, and one after they are gone at once.
#[test]
fn eleven_hundred_idle_connections_under_ulimit_1024() {
    const IDLE: usize = 1_100;
    if open_file_limit().is_some_and(|n| n < 1_300) {
        eprintln!("skipped: this process may open only {:?} files, the test needs 1,300", open_file_limit());
        return;
    }
    let server = ChildServer::start(1024, &[("AGTOKEN_FIRST_REQUEST_TIMEOUT", "2")]);
    let idle = open_idle(server.addr, IDLE);
    // Behind 768 accepted idle connections and 332 in the backlog: served once the server
    // closes them (2 s after accept).
    let (reply, took) = get_timed(server.addr, "/healthz", Duration::from_secs(10));
    assert_eq!(reply.status, 200);
    assert!(took < Duration::from_millis(3500), "served after {took:?}");
    drop(idle);
    // The idle client is gone: served within a second.
    let (reply, took) = get_timed(server.addr, "/metrics", Duration::from_secs(5));
    assert_eq!(reply.status, 200);
    assert!(took < SECOND, "served after {took:?}");
    assert!(metric(&reply.body, "agtoken_connection_limit_hits_total") >= 1, "{}", reply.body);
    assert_eq!(metric(&reply.body, "agtoken_accept_errors_total"), 0, "{}", reply.body);
    assert_eq!(server.count("accept failed"), 0);
    let cap_lines = server.wait_for("connection limit reached");
    assert!((1..=2).contains(&cap_lines), "{cap_lines} cap lines: {:?}", server.lines.lock().unwrap());
    assert!(server.stop().success());
}

/// With a cap above the open-file limit, `accept` fails with EMFILE: the server warns at
/// start-up, backs off (1 ms doubling to 1 s) instead of retrying every 50 ms, logs one line
/// (not 20 a second), and serves again within about a second once descriptors are free.
#[test]
fn accept_errors_back_off_and_are_logged_once() {
    let server = ChildServer::start(
        128,
        &[("AGTOKEN_MAX_CONNECTIONS", "1000"), ("AGTOKEN_FIRST_REQUEST_TIMEOUT", "60"), ("AGTOKEN_IDLE_TIMEOUT", "60")],
    );
    assert_eq!(server.wait_for("open-file limit (ulimit -n) is 128"), 1, "{:?}", server.lines.lock().unwrap());
    let idle = open_idle(server.addr, 200);
    // Out of descriptors for 3 s.
    std::thread::sleep(Duration::from_secs(3));
    let failed_lines = server.wait_for("accept failed");
    let closed = Instant::now();
    drop(idle);
    let (reply, _) = get_timed(server.addr, "/metrics", Duration::from_secs(5));
    let served = closed.elapsed();
    assert_eq!(reply.status, 200);
    // At most the last backoff (1 s) after descriptors are free.
    assert!(served < Duration::from_millis(2500), "served {served:?} after the idle connections closed");
    let errors = metric(&reply.body, "agtoken_accept_errors_total");
    // 1+2+…+512 ms, then once a second: about 13 in 3 s (60 with the old fixed 50 ms pause).
    assert!((1..=20).contains(&errors), "{errors} accept errors in about 3 s");
    assert_eq!(failed_lines, 1, "{:?}", server.lines.lock().unwrap());
    assert!(server.stop().success());
}

/// The server's own plain-text log (stdout to a pipe or file, the default away from a terminal)
/// writes the audit line of a token without `tracing`'s dispatch (`logging::write_plain`): in a
/// real process, the line of a token is whole, with every field in order.
#[test]
fn a_plain_text_log_has_the_audit_line_of_each_token() {
    let server = ChildServer::start(1024, &[(CHILD_TEXT_LOG_VAR, "1")]);
    let post = |body: &str| {
        let request = format!(
            "POST /fetch_rtc_token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        exchange(server.addr, &request, SECOND * 5)
    };
    let reply = post(r#"{"uid": 42, "ChannelName": "plain log", "role": 2}"#);
    assert_eq!(reply.status, 200, "{}", reply.body);
    let token = serde_json::from_str::<serde_json::Value>(&reply.body).unwrap()["token"].as_str().unwrap().to_owned();
    assert_eq!(server.wait_for("decision=issued"), 1, "{:?}", server.lines.lock().unwrap());
    let lines = server.lines.lock().unwrap().clone();
    let issued = lines.iter().find(|l| l.contains("decision=issued")).unwrap();
    let (stamp, rest) = issued.split_once(' ').unwrap();
    assert_eq!(stamp.len(), 27, "{issued}");
    let fields: Vec<&str> = rest.split(' ').filter(|f| !f.is_empty()).collect();
    assert_eq!(fields[..2], ["INFO", "agtoken::audit:"], "{issued}");
    let names: Vec<&str> = fields[2..].iter().map(|f| f.split_once('=').map_or(*f, |(name, _)| name)).collect();
    // The channel's value has a space, so it is quoted and its second word is no field.
    assert_eq!(
        names,
        [
            "decision",
            "status",
            "caller",
            "client",
            "route",
            "app_id",
            "service",
            "channel",
            "log\"",
            "uid",
            "role",
            "lifetime",
            "version",
            "expires_at",
            "latest_end",
            "fingerprint",
            "rule"
        ],
        "{issued}"
    );
    assert!(issued.contains(" channel=\"plain log\" uid=42 role=subscriber "), "{issued}");
    assert!(issued.contains(" caller=anonymous client=127.0.0.1 route=/fetch_rtc_token "), "{issued}");
    let fingerprint = agtoken_server::issue::Fingerprint(&token).to_string();
    assert!(issued.ends_with(&format!(" fingerprint={fingerprint} rule=-")), "{issued}");
    assert!(!lines.iter().any(|l| l.contains(&token[3..40])), "a token was logged");
    assert!(server.stop().success());
}
