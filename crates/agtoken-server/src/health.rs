//! `agtoken healthcheck`: asks a running server on this host whether it is ready
//! (`GET /readyz`), for a container `HEALTHCHECK` or a probe where there is no shell and no
//! curl. It finds the server as `agtoken serve` would listen ([`Endpoint`]: `--host`/`--port`/
//! `--config`, `AGTOKEN_HOST`, `SERVER_PORT`/`PORT`, `.env`, the TOML file), reading no secret.
//!
//! - A wildcard listen address (`0.0.0.0`, `::`) is checked on loopback (`127.0.0.1`, `::1`).
//! - With TLS configured (`AGTOKEN_TLS_CERT_FILE` or `tls_cert_file`) it speaks HTTPS and
//!   trusts exactly the configured certificate: the server must present that leaf and prove
//!   it holds its key (the handshake signature is checked). The host name is not compared
//!   with the certificate's names (the check goes to loopback, not to the public name), and
//!   expiry is not checked (the server itself serves whatever it was given).
//! - Everything (connect, TLS, request, answer) must finish within the timeout.
//!
//! Ready is `200`; anything else (`503` while draining, refused connection, timeout) is not.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio_rustls::rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use tokio_rustls::rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_rustls::rustls::{self, ClientConfig, DigitallySignedStruct, SignatureScheme};
use tokio_rustls::TlsConnector;

use crate::config::Endpoint;
use crate::ServeOptions;

/// Default time for the whole check.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);

/// Why the server is not healthy, or could not be checked. The message names the address
/// and, for a setting, the setting; never a secret.
#[derive(Debug)]
pub struct HealthError(String);

impl fmt::Display for HealthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for HealthError {}

/// Why `GET /readyz` got no answer: each step of the request, with the host or address it was
/// for. `Display` follows `not ready: URL: `.
#[derive(Debug, thiserror::Error)]
enum ProbeError {
    /// The host name does not resolve.
    #[error("cannot resolve {host}: {source}")]
    Resolve { host: String, source: std::io::Error },
    /// The host name resolves to nothing.
    #[error("{host} resolves to no address")]
    NoAddress { host: String },
    /// No TCP connection to the address.
    #[error("cannot connect to {addr}: {source}")]
    Connect { addr: SocketAddr, source: std::io::Error },
    /// The host is not usable as a TLS server name.
    #[error("{host:?} is not a host name or address")]
    ServerName { host: String },
    /// The TLS handshake failed (e.g. another certificate than the configured one).
    #[error("TLS handshake failed: {0}")]
    Handshake(std::io::Error),
    /// The HTTP exchange failed.
    #[error("HTTP: {0}")]
    Http(#[from] hyper::Error),
    /// The request could not be built.
    #[error("HTTP request: {0}")]
    Request(#[from] hyper::http::Error),
}

/// Checks the server that `options` (and the environment, `.env`, the TOML file) describe.
/// `Ok` carries a line for the log (`ready: 200 from http://127.0.0.1:8080/readyz`).
pub fn check_blocking(options: &ServeOptions, timeout: Duration) -> Result<String, HealthError> {
    let endpoint = Endpoint::load(options).map_err(|e| HealthError(e.to_string()))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| HealthError(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(check(&endpoint, timeout))
}

/// Checks `endpoint` within `timeout`.
pub async fn check(endpoint: &Endpoint, timeout: Duration) -> Result<String, HealthError> {
    let tls = match &endpoint.tls_cert_file {
        Some(path) => Some(pinned_client(path)?),
        None => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let host = probe_host(&endpoint.host);
    let authority =
        if host.contains(':') { format!("[{host}]:{}", endpoint.port) } else { format!("{host}:{}", endpoint.port) };
    let url = format!("{scheme}://{authority}/readyz");
    match tokio::time::timeout(timeout, get_readyz(&host, endpoint.port, &authority, tls)).await {
        Err(_) => Err(HealthError(format!("not ready: no answer from {url} within {} ms", timeout.as_millis()))),
        Ok(Err(error)) => Err(HealthError(format!("not ready: {url}: {error}"))),
        Ok(Ok(200)) => Ok(format!("ready: 200 from {url}")),
        Ok(Ok(status)) => Err(HealthError(format!("not ready: {status} from {url}"))),
    }
}

/// The address to check: loopback for a wildcard listen address, else the address as given.
fn probe_host(listen: &str) -> String {
    let bare = listen.trim().trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) if ip.is_unspecified() => Ipv4Addr::LOCALHOST.to_string(),
        Ok(IpAddr::V6(ip)) if ip.is_unspecified() => Ipv6Addr::LOCALHOST.to_string(),
        Ok(ip) => ip.to_string(),
        Err(_) if bare.is_empty() => Ipv4Addr::LOCALHOST.to_string(),
        Err(_) => bare.to_owned(),
    }
}

async fn get_readyz(host: &str, port: u16, authority: &str, tls: Option<TlsConnector>) -> Result<u16, ProbeError> {
    let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((host, port))
            .await
            .map_err(|source| ProbeError::Resolve { host: host.to_owned(), source })?
            .collect(),
    };
    let mut last = ProbeError::NoAddress { host: host.to_owned() };
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                return match &tls {
                    None => request(stream, authority).await,
                    Some(connector) => {
                        let name = ServerName::try_from(host.to_owned())
                            .map_err(|_| ProbeError::ServerName { host: host.to_owned() })?;
                        let stream = connector.connect(name, stream).await.map_err(ProbeError::Handshake)?;
                        request(stream, authority).await
                    }
                };
            }
            Err(source) => last = ProbeError::Connect { addr, source },
        }
    }
    Err(last)
}

/// `GET /readyz` over HTTP/1.1 on `stream`; the answer's status.
async fn request<S>(stream: S, authority: &str) -> Result<u16, ProbeError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake::<_, String>(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let req = hyper::Request::get("/readyz")
        .header(hyper::header::HOST, authority)
        .header(hyper::header::USER_AGENT, "agtoken-healthcheck")
        .header(hyper::header::CONNECTION, "close")
        .body(String::new())?;
    let answer = sender.send_request(req).await?;
    Ok(answer.status().as_u16())
}

/// A TLS client that accepts exactly the leaf certificate of the chain in `path`.
fn pinned_client(path: &Path) -> Result<TlsConnector, HealthError> {
    let setting = || format!("the TLS certificate file {} (AGTOKEN_TLS_CERT_FILE / tls_cert_file)", path.display());
    let pem = std::fs::read(path).map_err(|e| HealthError(format!("cannot read {}: {e}", setting())))?;
    let leaf = CertificateDer::pem_slice_iter(&pem)
        .next()
        .ok_or_else(|| HealthError(format!("{} holds no CERTIFICATE block", setting())))?
        .map_err(|e| HealthError(format!("{} is not PEM: {e}", setting())))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(PinnedLeaf { leaf, provider: provider.clone() });
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| HealthError(format!("TLS versions: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsConnector::from(Arc::new(config)))
}

/// Trusts one certificate: the server's leaf must be byte for byte the configured one, and
/// the handshake must be signed with its key.
#[derive(Debug)]
struct PinnedLeaf {
    leaf: CertificateDer<'static>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinnedLeaf {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.leaf.as_ref() {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(rustls::CertificateError::ApplicationVerificationFailure))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_are_checked_on_loopback() {
        assert_eq!(probe_host("0.0.0.0"), "127.0.0.1");
        assert_eq!(probe_host("::"), "::1");
        assert_eq!(probe_host("[::]"), "::1");
        assert_eq!(probe_host(""), "127.0.0.1");
        assert_eq!(probe_host("127.0.0.1"), "127.0.0.1");
        assert_eq!(probe_host("[::1]"), "::1");
        assert_eq!(probe_host("localhost"), "localhost");
    }

    #[test]
    fn probe_errors_name_the_step_and_the_address() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let addr: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let e = ProbeError::Connect { addr, source: refused };
        assert!(e.to_string().starts_with("cannot connect to 127.0.0.1:9: "), "{e}");
        assert_eq!(
            ProbeError::NoAddress { host: "db.invalid".into() }.to_string(),
            "db.invalid resolves to no address"
        );
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        // A port nothing listens on (bound, then closed): the connection is refused.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let e = runtime.block_on(get_readyz("127.0.0.1", port, "127.0.0.1", None)).unwrap_err();
        assert!(matches!(&e, ProbeError::Connect { addr, .. } if addr.port() == port), "{e:?}");
    }
}
