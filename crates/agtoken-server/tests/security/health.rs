//! `agtoken healthcheck` (`agtoken_server::health`): ready, not ready, HTTPS pinned to the
//! configured certificate, and the timeout.

use std::time::{Duration, Instant};

use agtoken_server::health::check;
use agtoken_server::tls::TlsSettings;
use agtoken_server::Endpoint;

use crate::common::*;
use crate::support::temp_dir;
use crate::tls::test_pki;

fn endpoint(host: &str, port: u16, tls_cert_file: Option<std::path::PathBuf>) -> Endpoint {
    Endpoint { host: host.into(), port, tls_cert_file }
}

const TIMEOUT: Duration = Duration::from_secs(3);

#[tokio::test]
async fn ready_then_draining_then_gone() {
    let server = start(config()).await;
    let port = server.addr.port();
    // The server listens on 127.0.0.1; a wildcard listen address is checked on loopback.
    for host in ["0.0.0.0", "127.0.0.1", "localhost"] {
        let line = check(&endpoint(host, port, None), TIMEOUT).await.unwrap();
        assert!(line.starts_with("ready: 200 from http://") && line.ends_with("/readyz"), "{line}");
    }
    server.state.set_ready(false);
    let err = check(&endpoint("0.0.0.0", port, None), TIMEOUT).await.unwrap_err().to_string();
    assert!(err.contains("not ready: 503"), "{err}");
    server.state.set_ready(true);
    server.stop().await.unwrap();
    let err = check(&endpoint("0.0.0.0", port, None), TIMEOUT).await.unwrap_err().to_string();
    assert!(err.contains("cannot connect") && err.contains(&port.to_string()), "{err}");
}

#[tokio::test]
async fn https_trusts_exactly_the_configured_certificate() {
    let dir = temp_dir("healthcheck-tls");
    let (_, chain, key) = test_pki();
    let (_, other_chain, _) = test_pki();
    std::fs::write(dir.join("chain.pem"), &chain).unwrap();
    std::fs::write(dir.join("other.pem"), &other_chain).unwrap();
    let mut cfg = config();
    cfg.tls = Some(TlsSettings::from_pem(chain.as_bytes(), key.as_bytes()).unwrap());
    let server = start(cfg).await;
    let port = server.addr.port();

    // The certificate names "localhost"; the check goes to 127.0.0.1 and still trusts it.
    let line = check(&endpoint("0.0.0.0", port, Some(dir.join("chain.pem"))), TIMEOUT).await.unwrap();
    assert!(line.starts_with("ready: 200 from https://127.0.0.1:"), "{line}");
    // Another certificate than the server's: refused.
    let err = check(&endpoint("0.0.0.0", port, Some(dir.join("other.pem"))), TIMEOUT).await.unwrap_err();
    assert!(err.to_string().contains("TLS handshake failed"), "{err}");
    // Plain HTTP to the HTTPS port: no HTTP answer.
    assert!(check(&endpoint("0.0.0.0", port, None), TIMEOUT).await.is_err());
    // A missing certificate file names the setting.
    let err = check(&endpoint("0.0.0.0", port, Some(dir.join("missing.pem"))), TIMEOUT).await.unwrap_err();
    assert!(err.to_string().contains("AGTOKEN_TLS_CERT_FILE") && err.to_string().contains("missing.pem"), "{err}");
    server.stop().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_server_that_never_answers_fails_within_the_timeout() {
    // Accepts connections (the kernel's backlog) and never reads or answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let started = Instant::now();
    let err = check(&endpoint("127.0.0.1", port, None), Duration::from_millis(300)).await.unwrap_err().to_string();
    let took = started.elapsed();
    assert!(err.contains("no answer") && err.contains("300 ms"), "{err}");
    assert!(took >= Duration::from_millis(300) && took < Duration::from_secs(2), "{took:?}");
    drop(listener);
}
