//! HTTPS directly in the server (rustls, ring provider; TLS 1.2 and 1.3; ALPN `h2` and
//! `http/1.1`) when a certificate chain and a private key (PEM files) are configured:
//! `tls_cert_file` / `tls_key_file` in the TOML file or `AGTOKEN_TLS_CERT_FILE` /
//! `AGTOKEN_TLS_KEY_FILE`. The handshake runs on the connection's own task, within the
//! first-request timeout (`conn.rs`); the files are read at start-up and on each reload, and new
//! handshakes use the acceptor of the configuration in force (`reload.rs`).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ServerConfig};
use tokio_rustls::TlsAcceptor;

use crate::error::SettingError;

/// A loaded TLS server configuration.
#[derive(Clone)]
pub struct TlsSettings {
    pub(crate) server_config: Arc<ServerConfig>,
    cert_file: Option<PathBuf>,
}

impl fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsSettings").field("cert_file", &self.cert_file).finish_non_exhaustive()
    }
}

impl TlsSettings {
    /// From PEM text: the certificate chain (leaf first) and the private key (PKCS#8, PKCS#1
    /// or SEC1). Errors never include key material.
    pub fn from_pem(cert_chain: &[u8], key: &[u8]) -> Result<TlsSettings, SettingError> {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_chain)
            .collect::<Result<_, _>>()
            .map_err(SettingError::CertificateNotPem)?;
        if certs.is_empty() {
            return Err(SettingError::NoCertificate);
        }
        // The parser's error may quote a line of the key file: it is dropped.
        let key = PrivateKeyDer::from_pem_slice(key).map_err(|_| SettingError::NoPrivateKey)?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(SettingError::TlsVersions)?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(SettingError::TlsIdentity)?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(TlsSettings { server_config: Arc::new(config), cert_file: None })
    }

    /// From PEM files.
    pub fn from_files(cert_file: &Path, key_file: &Path) -> Result<TlsSettings, SettingError> {
        let read =
            |path: &Path| std::fs::read(path).map_err(|source| SettingError::Read { path: path.to_owned(), source });
        let certs = read(cert_file)?;
        let key = read(key_file)?;
        let mut settings = TlsSettings::from_pem(&certs, &key)?;
        settings.cert_file = Some(cert_file.to_owned());
        Ok(settings)
    }

    pub(crate) fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.server_config.clone())
    }
}
