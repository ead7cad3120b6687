//! HTTPS: a test CA and server certificate made with rcgen; the client trusts only that CA.

use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

use agtoken::Uid;
use agtoken_server::error::SettingError;
use agtoken_server::tls::TlsSettings;

use crate::common::*;

/// A CA certificate (PEM) and a server certificate chain + key (PEM) for `localhost`.
pub(crate) fn test_pki() -> (String, String, String) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, "agtoken test CA");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    (ca_cert.pem(), cert.pem(), key.serialize_pem())
}

fn connector(ca_pem: &str) -> TlsConnector {
    use rustls::pki_types::pem::PemObject;
    let mut roots = RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

async fn https(server: &Server, ca_pem: &str, request: &str) -> std::io::Result<Reply> {
    let stream = TcpStream::connect(server.addr).await?;
    let mut tls = connector(ca_pem).connect(ServerName::try_from("localhost").unwrap(), stream).await?;
    tls.write_all(request.as_bytes()).await?;
    let mut buf = Vec::new();
    tls.read_to_end(&mut buf).await?;
    Ok(Reply::parse(&buf))
}

#[tokio::test]
async fn serves_https_verified_against_the_test_ca() {
    let (ca, chain, key) = test_pki();
    let mut config = config();
    config.tls = Some(TlsSettings::from_pem(chain.as_bytes(), key.as_bytes()).unwrap());
    let server = start(config).await;

    let reply =
        https(&server, &ca, "GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").await.unwrap();
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.header("strict-transport-security"), Some("max-age=31536000"));

    let body = r#"{"uid":42,"ChannelName":"room-1","role":1}"#;
    let request = format!(
        "POST /fetch_rtc_token HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let reply = https(&server, &ca, &request).await.unwrap();
    assert_eq!(reply.status, 200, "{reply:?}");
    admit(reply.json()["token"].as_str().unwrap(), &publish("room-1", Uid::Int(42))).unwrap();

    // A client that trusts another CA refuses the server's certificate.
    let (other_ca, _, _) = test_pki();
    assert!(https(&server, &other_ca, "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n").await.is_err());
    // Plain HTTP on the TLS port gets no HTTP answer.
    let mut plain = TcpStream::connect(server.addr).await.unwrap();
    plain.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), plain.read_to_end(&mut buf)).await;
    assert!(!String::from_utf8_lossy(&buf).contains("200 OK"));
    server.stop().await.unwrap();
}

#[tokio::test]
async fn no_hsts_without_tls() {
    let server = start(config()).await;
    assert_eq!(server.get("/healthz").await.header("strict-transport-security"), None);
    server.stop().await.unwrap();
}

#[test]
fn tls_settings_errors_say_what_is_wrong_without_key_material() {
    let (_, chain, key) = test_pki();
    let err = TlsSettings::from_pem(b"", key.as_bytes()).unwrap_err();
    assert!(matches!(err, SettingError::NoCertificate), "{err:?}");
    assert!(err.to_string().contains("no CERTIFICATE"), "{err}");
    let err = TlsSettings::from_pem(chain.as_bytes(), b"nothing").unwrap_err();
    assert!(matches!(err, SettingError::NoPrivateKey), "{err:?}");
    assert!(err.to_string().contains("no PEM private key"), "{err}");
    // A key file that is not PEM: what the parser saw of it is not repeated.
    let body = key.lines().nth(1).unwrap();
    let garbled = key.replacen(body, &format!("{body}!"), 1);
    let err = TlsSettings::from_pem(chain.as_bytes(), garbled.as_bytes()).unwrap_err();
    assert!(matches!(err, SettingError::NoPrivateKey), "{err:?}");
    assert!(!err.to_string().contains(body) && !format!("{err:?}").contains(body), "{err:?}");
    let (_, _, other_key) = test_pki();
    let err = TlsSettings::from_pem(chain.as_bytes(), other_key.as_bytes()).unwrap_err();
    assert!(matches!(err, SettingError::TlsIdentity(_)), "{err:?}");
    let (shown, debugged) = (err.to_string(), format!("{err:?}"));
    assert!(!shown.contains("PRIVATE KEY") && !debugged.contains("PRIVATE KEY"), "{shown}");
    let other_body = other_key.lines().nth(1).unwrap();
    assert!(!shown.contains(other_body) && !debugged.contains(other_body), "{shown}");
}
