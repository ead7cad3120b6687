//! The server's outgoing HTTP/1.1 requests: `agtoken healthcheck` (`health.rs`, `GET /readyz`)
//! and the JWT keys of an identity provider (`jwks.rs`). Both take the same steps, written
//! here once: resolve the host, connect to each address in turn until one answers, TLS with
//! the host as server name when asked, then one `GET` with `Connection: close` over hyper's
//! own connection API (a request now and then needs no connection pool). What each does with
//! the answer stays with it.
//!
//! A failure is a [`NetworkFailure`] naming the step and the host or address it was for.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::header::HeaderName;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::ClientConfig;
use tokio_rustls::TlsConnector;

/// The step of an outgoing request that failed on the network, with the host or address it
/// was for. Holds no credentials: the hosts and addresses are those of the URLs, which carry
/// none (`jwks.rs` refuses them when it reads its settings).
#[derive(Debug, thiserror::Error)]
pub(crate) enum NetworkFailure {
    /// The host name does not resolve.
    #[error("cannot resolve {host}: {source}")]
    Resolve { host: String, source: io::Error },
    /// The host name resolves to nothing.
    #[error("{host} resolves to no address")]
    NoAddress { host: String },
    /// The TCP connection failed (for the last address tried).
    #[error("cannot connect to {addr}: {source}")]
    Connect { addr: SocketAddr, source: io::Error },
    /// No TCP connection within the per-address connect timeout (for the last address tried).
    #[error("no connection to {addr} within {} ms", timeout.as_millis())]
    ConnectTimeout { addr: SocketAddr, timeout: Duration },
    /// The host is not usable as a TLS server name.
    #[error("{host:?} is not a valid TLS server name (a DNS name or an IP address)")]
    ServerName { host: String },
    /// The TLS handshake failed (e.g. a certificate that is not trusted).
    #[error("TLS handshake failed: {0}")]
    Handshake(io::Error),
    /// The HTTP exchange failed.
    #[error("HTTP: {0}")]
    Http(#[from] hyper::Error),
    /// The request could not be built.
    #[error("HTTP request: {0}")]
    Request(#[from] hyper::http::Error),
    /// The answer's body could not be read.
    #[error("reading the answer: {0}")]
    Body(Box<dyn std::error::Error + Send + Sync>),
}

/// One `GET` to send: where, and with which headers besides `Host` and `Connection: close`.
pub(crate) struct Get<'a> {
    /// Host name or IP address (without brackets): resolved, and the TLS server name.
    pub host: &'a str,
    /// TCP port.
    pub port: u16,
    /// The `Host` header (`host:port`, brackets around an IPv6 address).
    pub authority: &'a str,
    /// Path and query.
    pub path: &'a str,
    /// More headers (`User-Agent`, `Accept`).
    pub headers: &'a [(HeaderName, &'a str)],
    /// Longest wait for the TCP connection to each address; `None`: only the caller's deadline.
    pub connect_timeout: Option<Duration>,
    /// TLS with this configuration (HTTPS), or plain HTTP.
    pub tls: Option<&'a Arc<ClientConfig>>,
}

/// The HTTP connection's task, aborted when this is dropped: the answer's body is read through
/// it, so it lives as long as the caller reads, and no longer (the caller's deadline cancels it).
pub(crate) struct Connection(tokio::task::JoinHandle<()>);

impl Drop for Connection {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Sends `request`: the answer's head and its body to read, with the [`Connection`] to keep while
/// reading it.
pub(crate) async fn get(request: &Get<'_>) -> Result<(hyper::Response<Incoming>, Connection), NetworkFailure> {
    let stream = connect(request.host, request.port, request.connect_timeout).await?;
    match request.tls {
        None => send(stream, request).await,
        Some(config) => send(tls_handshake(config, request.host, stream).await?, request).await,
    }
}

/// The addresses of `host` (an IP address is its own).
async fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, NetworkFailure> {
    match host.parse::<IpAddr>() {
        Ok(ip) => Ok(vec![SocketAddr::new(ip, port)]),
        Err(_) => Ok(tokio::net::lookup_host((host, port))
            .await
            .map_err(|source| NetworkFailure::Resolve { host: host.to_owned(), source })?
            .collect()),
    }
}

/// A TCP connection (no Nagle delay: one small request, then the answer) to the first of the
/// addresses of `host` that takes one, each given at most `timeout`.
async fn connect(host: &str, port: u16, timeout: Option<Duration>) -> Result<TcpStream, NetworkFailure> {
    connect_first(host, resolve(host, port).await?, timeout).await
}

/// [`connect`] to the first of `addrs` (the addresses of `host`) that takes the connection; the
/// failure of the last one tried when none does.
async fn connect_first(
    host: &str,
    addrs: Vec<SocketAddr>,
    timeout: Option<Duration>,
) -> Result<TcpStream, NetworkFailure> {
    let mut last = NetworkFailure::NoAddress { host: host.to_owned() };
    for addr in addrs {
        let attempt = match timeout {
            None => TcpStream::connect(addr).await,
            Some(timeout) => match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
                Ok(attempt) => attempt,
                Err(_) => {
                    last = NetworkFailure::ConnectTimeout { addr, timeout };
                    continue;
                }
            },
        };
        match attempt {
            Ok(stream) => {
                // Only a latency hint: the request works without it.
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Err(source) => last = NetworkFailure::Connect { addr, source },
        }
    }
    Err(last)
}

/// The TLS handshake on `stream` with `host` as the server name (SNI, and the name the
/// configuration's verifier checks).
async fn tls_handshake(
    config: &Arc<ClientConfig>,
    host: &str,
    stream: TcpStream,
) -> Result<TlsStream<TcpStream>, NetworkFailure> {
    let name =
        ServerName::try_from(host.to_owned()).map_err(|_| NetworkFailure::ServerName { host: host.to_owned() })?;
    TlsConnector::from(config.clone()).connect(name, stream).await.map_err(NetworkFailure::Handshake)
}

/// The HTTP/1.1 exchange of `request` on `stream`.
async fn send<S>(stream: S, request: &Get<'_>) -> Result<(hyper::Response<Incoming>, Connection), NetworkFailure>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake::<_, String>(TokioIo::new(stream)).await?;
    let connection = Connection(tokio::spawn(async move {
        let _ = connection.await;
    }));
    let mut builder = hyper::Request::get(request.path)
        .header(hyper::header::HOST, request.authority)
        .header(hyper::header::CONNECTION, "close");
    for (name, value) in request.headers {
        builder = builder.header(name, *value);
    }
    let answer = sender.send_request(builder.body(String::new())?).await?;
    Ok((answer, connection))
}

#[cfg(test)]
mod tests {
    use super::*;

    use tokio_rustls::rustls::{self, RootCertStore};

    #[tokio::test]
    async fn a_host_without_addresses_is_named() {
        let e = connect_first("db.invalid", Vec::new(), None).await.unwrap_err();
        assert!(matches!(&e, NetworkFailure::NoAddress { host } if host == "db.invalid"), "{e:?}");
        assert_eq!(e.to_string(), "db.invalid resolves to no address");
    }

    #[tokio::test]
    async fn a_refused_connection_names_the_address() {
        // A loopback port nothing listens on (bound, then closed).
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        for timeout in [None, Some(Duration::from_secs(3))] {
            let e = connect("127.0.0.1", port, timeout).await.unwrap_err();
            assert!(matches!(&e, NetworkFailure::Connect { addr, .. } if addr.port() == port), "{e:?}");
            assert!(e.to_string().starts_with(&format!("cannot connect to 127.0.0.1:{port}: ")), "{e}");
        }
    }

    #[tokio::test]
    async fn a_host_that_is_no_tls_server_name_is_named() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let stream = connect("127.0.0.1", listener.local_addr().unwrap().port(), None).await.unwrap();
        let config = ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(RootCertStore::empty())
            .with_no_client_auth();
        let e = tls_handshake(&Arc::new(config), "not a host", stream).await.unwrap_err();
        assert!(matches!(&e, NetworkFailure::ServerName { host } if host == "not a host"), "{e:?}");
        assert_eq!(e.to_string(), r#""not a host" is not a valid TLS server name (a DNS name or an IP address)"#);
    }
}
