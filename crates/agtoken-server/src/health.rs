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

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio_rustls::rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use tokio_rustls::rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use tokio_rustls::rustls::pki_types::pem::{self, PemObject};
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_rustls::rustls::{self, ClientConfig, DigitallySignedStruct, SignatureScheme};

use crate::config::Endpoint;
use crate::error::ServerError;
use crate::outbound::{self, Get, NetworkFailure};
use crate::ServeOptions;

/// Default time for the whole check.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);

/// Why the server is not healthy, or could not be checked. The message names the address
/// and, for a setting, the setting; never a secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HealthError {
    /// The settings `agtoken serve` would read are not valid (the message names the setting).
    #[error(transparent)]
    Settings(#[from] ServerError),
    /// The check's async runtime did not start.
    #[error("cannot start the async runtime: {0}")]
    Runtime(#[source] io::Error),
    /// The configured TLS certificate file cannot be read.
    #[error("cannot read {}: {source}", cert_setting(path))]
    CertificateUnreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The configured TLS certificate file holds no `CERTIFICATE` block.
    #[error("{} holds no CERTIFICATE block", cert_setting(path))]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// The first block of the configured TLS certificate file is not valid PEM.
    #[error("{} is not PEM: {source}", cert_setting(path))]
    NotPem {
        /// The file.
        path: PathBuf,
        /// Why.
        source: pem::Error,
    },
    /// rustls takes none of its safe protocol versions with this crypto provider.
    #[error("TLS versions: {0}")]
    TlsVersions(#[source] rustls::Error),
    /// Connecting, TLS and the request did not finish within the timeout.
    #[error("not ready: no answer from {url} within {} ms", timeout.as_millis())]
    NoAnswer {
        /// `http(s)://HOST:PORT/readyz`.
        url: String,
        /// The check's timeout.
        timeout: Duration,
    },
    /// The request failed: no address, no connection, TLS handshake, HTTP.
    #[error("not ready: {url}: {failure}")]
    Unreachable {
        /// `http(s)://HOST:PORT/readyz`.
        url: String,
        /// The step that failed, with its host or address.
        failure: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The server answered with another status than 200 (503 while it drains).
    #[error("not ready: {status} from {url}")]
    NotReady {
        /// `http(s)://HOST:PORT/readyz`.
        url: String,
        /// The answer's status.
        status: u16,
    },
}

/// The TLS certificate file as its messages name it: the path and the settings that give it.
fn cert_setting(path: &Path) -> String {
    format!("the TLS certificate file {} (AGTOKEN_TLS_CERT_FILE / tls_cert_file)", path.display())
}

/// Checks the server that `options` (and the environment, `.env`, the TOML file) describe.
/// `Ok` carries a line for the log (`ready: 200 from http://127.0.0.1:8080/readyz`).
pub fn check_blocking(options: &ServeOptions, timeout: Duration) -> Result<String, HealthError> {
    let endpoint = Endpoint::load(options)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(HealthError::Runtime)?;
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
    match tokio::time::timeout(timeout, get_readyz(&host, endpoint.port, &authority, tls.as_ref())).await {
        Err(_) => Err(HealthError::NoAnswer { url, timeout }),
        Ok(Err(failure)) => Err(HealthError::Unreachable { url, failure: Box::new(failure) }),
        Ok(Ok(200)) => Ok(format!("ready: 200 from {url}")),
        Ok(Ok(status)) => Err(HealthError::NotReady { url, status }),
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

/// `GET /readyz` on `host`: the answer's status.
async fn get_readyz(
    host: &str,
    port: u16,
    authority: &str,
    tls: Option<&Arc<ClientConfig>>,
) -> Result<u16, NetworkFailure> {
    let headers = [(hyper::header::USER_AGENT, "agtoken-healthcheck")];
    let get = Get { host, port, authority, path: "/readyz", headers: &headers, connect_timeout: None, tls };
    let (answer, _connection) = outbound::get(&get).await?;
    Ok(answer.status().as_u16())
}

/// A TLS client that accepts exactly the leaf certificate of the chain in `path`.
fn pinned_client(path: &Path) -> Result<Arc<ClientConfig>, HealthError> {
    let path_buf = || path.to_path_buf();
    let pem = std::fs::read(path).map_err(|source| HealthError::CertificateUnreadable { path: path_buf(), source })?;
    let leaf = CertificateDer::pem_slice_iter(&pem)
        .next()
        .ok_or_else(|| HealthError::NoCertificate { path: path_buf() })?
        .map_err(|source| HealthError::NotPem { path: path_buf(), source })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(PinnedLeaf { leaf, provider: provider.clone() });
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(HealthError::TlsVersions)?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
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
    fn a_certificate_file_that_cannot_be_pinned_is_named_with_its_settings() {
        let dir = std::env::temp_dir().join(format!("agtoken-health-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let setting = |name: &str| {
            format!("the TLS certificate file {} (AGTOKEN_TLS_CERT_FILE / tls_cert_file)", dir.join(name).display())
        };
        let missing = pinned_client(&dir.join("missing.pem")).unwrap_err();
        assert!(matches!(&missing, HealthError::CertificateUnreadable { path, .. } if path.ends_with("missing.pem")));
        assert!(missing.to_string().starts_with(&format!("cannot read {}: ", setting("missing.pem"))), "{missing}");
        std::fs::write(dir.join("empty.pem"), "no PEM here\n").unwrap();
        let empty = pinned_client(&dir.join("empty.pem")).unwrap_err();
        assert!(matches!(&empty, HealthError::NoCertificate { .. }), "{empty:?}");
        assert_eq!(empty.to_string(), format!("{} holds no CERTIFICATE block", setting("empty.pem")));
        std::fs::write(dir.join("bad.pem"), "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n").unwrap();
        let bad = pinned_client(&dir.join("bad.pem")).unwrap_err();
        assert!(matches!(&bad, HealthError::NotPem { .. }), "{bad:?}");
        assert!(bad.to_string().starts_with(&format!("{} is not PEM: ", setting("bad.pem"))), "{bad}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn no_connection_and_no_answer_are_told_apart() {
        // A loopback port nothing listens on (bound, then closed).
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let endpoint = |port| Endpoint { host: "127.0.0.1".into(), port, tls_cert_file: None };
        let refused = check(&endpoint(port), Duration::from_secs(3)).await.unwrap_err();
        let url = format!("http://127.0.0.1:{port}/readyz");
        assert!(matches!(&refused, HealthError::Unreachable { url: u, .. } if *u == url), "{refused:?}");
        assert!(refused.to_string().starts_with(&format!("not ready: {url}: cannot connect to 127.0.0.1:{port}: ")));
        // A listener that accepts and never answers.
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = silent.local_addr().unwrap().port();
        let timeout = Duration::from_millis(200);
        let late = check(&endpoint(port), timeout).await.unwrap_err();
        assert!(matches!(&late, HealthError::NoAnswer { timeout: t, .. } if *t == timeout), "{late:?}");
        assert_eq!(late.to_string(), format!("not ready: no answer from http://127.0.0.1:{port}/readyz within 200 ms"));
    }
}
