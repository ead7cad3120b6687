//! Reloading the configuration while serving: a changed file revokes an API key (other keys
//! keep working), a broken configuration leaves the old one serving and logs the setting, a
//! Kubernetes-style symlink swap is picked up, a new TLS certificate serves new handshakes,
//! rate-limit counters of unchanged rules carry over, and a reload under concurrent load fails
//! no request.
//!
//! Its own test binary: it installs the global log subscriber (see `support/capture.rs`).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use agtoken_server::reload::{self, Loader};
use agtoken_server::{run_live, AppState, Config, Env, LiveState, ServeOptions};
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

#[path = "support/capture.rs"]
mod capture;
#[allow(dead_code)]
#[path = "server/common.rs"]
mod common;

use capture::Capture;
use common::{exchange, Reply, APP_ID, CERT};

const KEY_A: &str = "agtk_test_key_a_0000000000000000000000000000000000000000000000000000";
const KEY_B: &str = "agtk_test_key_b_1111111111111111111111111111111111111111111111111111";
const BODY: &str = r#"{"uid":42,"ChannelName":"room-1","role":1}"#;

/// The log lines of this binary (JSON, INFO and above: the load test would drown the tests
/// running beside it in hyper's TRACE lines).
fn capture() -> &'static Capture {
    static CAPTURE: OnceLock<Capture> = OnceLock::new();
    CAPTURE.get_or_init(|| Capture::install_at(tracing::Level::INFO))
}

fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("agtoken-reload-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write_private(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
}

/// The TOML text of one app whose callers use these API keys (by name); its certificate is
/// read from `certificate` next to the file. `extra` goes into the app's table.
fn toml(keys: &[(&str, &str)], extra: &str) -> String {
    let mut text = format!(
        "host = \"127.0.0.1\"\nport = 0\n[[apps]]\napp_id = \"{APP_ID}\"\napp_certificate_file = \"certificate\"\n\
         auth = \"api_key\"\n{extra}\n"
    );
    for (name, key) in keys {
        text.push_str(&format!("[[apps.api_keys]]\nname = \"{name}\"\nsha256 = \"{}\"\n", sha256_hex(key)));
    }
    text.push_str("[[apps.policy]]\nname = \"any-key\"\nservices = [\"rtc\"]\n");
    text
}

/// A loader that reads `path` (and what it names) as `serve --config path` would, with an
/// empty environment.
fn loader(path: PathBuf) -> Loader {
    Arc::new(move || {
        let text = std::fs::read_to_string(&path)
            .map_err(|source| agtoken_server::ServerError::ConfigFile { path: path.clone(), source })?;
        Config::from_sources(&ServeOptions::default(), &Env::default(), Some((&path, &text)))
    })
}

struct Served {
    addr: std::net::SocketAddr,
    live: LiveState,
    load: Loader,
    stop: Option<oneshot::Sender<()>>,
    watcher: tokio::task::JoinHandle<()>,
    _requests: mpsc::Sender<&'static str>,
}

impl Drop for Served {
    fn drop(&mut self) {
        self.watcher.abort();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Serves the configuration of `path`, watched every 50 ms.
async fn serve(path: &Path) -> Served {
    let load = loader(path.to_owned());
    let live = LiveState::new(AppState::new(load().unwrap()));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(run_live(listener, live.clone(), async move {
        let _ = stopped.await;
    }));
    let (requests, received) = mpsc::channel(1);
    let watcher = tokio::spawn(reload::watch(live.clone(), load.clone(), received, Duration::from_millis(50)));
    Served { addr, live, load, stop: Some(stop), watcher, _requests: requests }
}

async fn fetch(addr: std::net::SocketAddr, key: &str) -> Reply {
    let raw = format!(
        "POST /fetch_rtc_token HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nX-Api-Key: {key}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{BODY}",
        BODY.len()
    );
    exchange(addr, raw.as_bytes()).await
}

/// Waits up to 15 s (a loaded machine) for `key`'s answer to be `status`.
async fn wait_for_status(addr: std::net::SocketAddr, key: &str, status: u16) -> bool {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if fetch(addr, key).await.status == status {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    false
}

async fn metrics(addr: std::net::SocketAddr) -> String {
    exchange(addr, format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes()).await.body
}

#[tokio::test]
async fn a_changed_file_revokes_a_key_and_other_keys_keep_working() {
    capture();
    let dir = temp_dir("revoke");
    write_private(&dir.join("certificate"), CERT);
    let path = dir.join("agtoken.toml");
    std::fs::write(&path, toml(&[("a", KEY_A), ("b", KEY_B)], "")).unwrap();
    let served = serve(&path).await;
    assert_eq!(fetch(served.addr, KEY_A).await.status, 200);
    assert_eq!(fetch(served.addr, KEY_B).await.status, 200);

    std::fs::write(&path, toml(&[("b", KEY_B)], "")).unwrap();
    assert!(
        wait_for_status(served.addr, KEY_A, 401).await,
        "the revoked key still works after 15 s: {}",
        capture().text()
    );
    assert_eq!(fetch(served.addr, KEY_B).await.status, 200, "the kept key stops working");
    let text = metrics(served.addr).await;
    assert!(text.contains("agtoken_config_reloads_total{outcome=\"ok\"} 1\n"), "{text}");
    assert!(text.contains("agtoken_config_reloads_total{outcome=\"failed\"} 0\n"), "{text}");
    let logs = capture().text();
    assert!(logs.contains("configuration reloaded") && logs.contains("file change"), "{logs}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_broken_configuration_leaves_the_old_one_serving_and_names_the_setting() {
    capture();
    let dir = temp_dir("broken");
    write_private(&dir.join("certificate"), CERT);
    let path = dir.join("agtoken.toml");
    std::fs::write(&path, toml(&[("a", KEY_A)], "")).unwrap();
    let served = serve(&path).await;
    served.watcher.abort(); // reloads by hand here, to see each outcome
    assert_eq!(fetch(served.addr, KEY_A).await.status, 200);

    // Invalid TOML.
    std::fs::write(&path, "[[apps]\napp_id = ").unwrap();
    let err = reload::reload_now(&served.live, &served.load, "test").unwrap_err().to_string();
    assert!(err.contains("agtoken.toml") && err.contains("file"), "{err}");
    assert_eq!(fetch(served.addr, KEY_A).await.status, 200, "the old configuration stops serving");

    // A certificate file that holds no certificate: the setting is named, the content never.
    std::fs::write(&path, toml(&[("b", KEY_B)], "")).unwrap();
    write_private(&dir.join("certificate"), "not-a-certificate-3f9a");
    let err = reload::reload_now(&served.live, &served.load, "test").unwrap_err().to_string();
    assert!(err.contains("apps[0].app_certificate"), "{err}");
    assert_eq!(fetch(served.addr, KEY_A).await.status, 200, "a half-applied configuration revoked the key");
    assert_eq!(fetch(served.addr, KEY_B).await.status, 401, "a half-applied configuration added the key");

    let text = metrics(served.addr).await;
    assert!(text.contains("agtoken_config_reloads_total{outcome=\"failed\"} 2\n"), "{text}");
    let logs = capture().text();
    let failures: Vec<serde_json::Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["message"].as_str().is_some_and(|m| m.starts_with("configuration reload failed")))
        .collect();
    assert!(
        failures.iter().any(|v| v["setting"] == "apps[0].app_certificate" && v["rule"].is_string()),
        "no failure line names the setting: {logs}"
    );
    assert!(!logs.contains("not-a-certificate-3f9a") && !logs.contains(CERT), "a secret was logged");

    // Fixed: the next reload applies.
    write_private(&dir.join("certificate"), CERT);
    reload::reload_now(&served.live, &served.load, "test").unwrap();
    assert_eq!(fetch(served.addr, KEY_A).await.status, 401);
    assert_eq!(fetch(served.addr, KEY_B).await.status, 200);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Kubernetes' layout of a mounted ConfigMap: `agtoken.toml -> ..data/agtoken.toml`,
/// `..data -> ..2026_…` (a timestamped folder); an update writes a new folder and renames a
/// new `..data` symlink over the old one.
#[cfg(unix)]
#[tokio::test]
async fn a_kubernetes_symlink_swap_is_picked_up() {
    use std::os::unix::fs::symlink;
    capture();
    let dir = temp_dir("symlink");
    let version = |n: u32, text: &str| {
        let folder = dir.join(format!("..2026_12_01_00_00_0{n}"));
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.join("agtoken.toml"), text).unwrap();
        write_private(&folder.join("certificate"), CERT);
        folder.file_name().unwrap().to_owned()
    };
    let first = version(1, &toml(&[("a", KEY_A), ("b", KEY_B)], ""));
    symlink(&first, dir.join("..data")).unwrap();
    symlink("..data/agtoken.toml", dir.join("agtoken.toml")).unwrap();
    symlink("..data/certificate", dir.join("certificate")).unwrap();
    let served = serve(&dir.join("agtoken.toml")).await;
    assert_eq!(fetch(served.addr, KEY_A).await.status, 200);

    let second = version(2, &toml(&[("b", KEY_B)], ""));
    symlink(&second, dir.join("..data_tmp")).unwrap();
    std::fs::rename(dir.join("..data_tmp"), dir.join("..data")).unwrap();
    std::fs::remove_dir_all(dir.join(&first)).unwrap();
    assert!(wait_for_status(served.addr, KEY_A, 401).await, "the swap was not picked up in 15 s");
    assert_eq!(fetch(served.addr, KEY_B).await.status, 200);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn settings_that_need_a_restart_keep_their_running_values_and_are_named() {
    capture();
    let dir = temp_dir("restart");
    write_private(&dir.join("certificate"), CERT);
    let path = dir.join("agtoken.toml");
    std::fs::write(&path, toml(&[("a", KEY_A)], "")).unwrap();
    let served = serve(&path).await;
    served.watcher.abort();
    let text = toml(&[("a", KEY_A)], "").replace("port = 0", "port = 9\nmax_connections = 5\nbody_limit_bytes = 300");
    std::fs::write(&path, text).unwrap();
    let applied = reload::reload_now(&served.live, &served.load, "test").unwrap();
    assert_eq!(applied.restart_needed, vec!["port", "max_connections"]);
    let config = served.live.current().config().clone();
    assert_eq!((config.port, config.max_connections), (0, agtoken_server::config::DEFAULT_MAX_CONNECTIONS));
    assert_eq!(config.body_limit, 300, "a reloadable setting was not applied");
    assert!(capture().text().contains("need a restart"), "the log line does not name them");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn rate_limit_counters_of_unchanged_rules_carry_over() {
    capture();
    let dir = temp_dir("limits");
    write_private(&dir.join("certificate"), CERT);
    let path = dir.join("agtoken.toml");
    std::fs::write(&path, toml(&[("a", KEY_A)], "rate_limit = \"2/h\"")).unwrap();
    let served = serve(&path).await;
    served.watcher.abort();
    assert_eq!(fetch(served.addr, KEY_A).await.status, 200);
    assert_eq!(fetch(served.addr, KEY_A).await.status, 200);
    assert_eq!(fetch(served.addr, KEY_A).await.status, 429);
    // Another key added, the rate unchanged: the caller's allowance is still spent.
    std::fs::write(&path, toml(&[("a", KEY_A), ("b", KEY_B)], "rate_limit = \"2/h\"")).unwrap();
    reload::reload_now(&served.live, &served.load, "test").unwrap();
    assert_eq!(fetch(served.addr, KEY_A).await.status, 429, "the counter was reset by an unrelated change");
    assert_eq!(fetch(served.addr, KEY_B).await.status, 200);
    // A changed rate starts afresh.
    std::fs::write(&path, toml(&[("a", KEY_A), ("b", KEY_B)], "rate_limit = \"3/h\"")).unwrap();
    reload::reload_now(&served.live, &served.load, "test").unwrap();
    assert_eq!(fetch(served.addr, KEY_A).await.status, 200);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Many tasks hammer the server with two keys while the configuration is reloaded over and
/// over, then once more without key A: every answer for key B is 200, every answer for key A
/// is 200 before its revocation and 401 after, never an error or a dropped connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_under_load_fails_no_request() {
    capture();
    let dir = temp_dir("load");
    write_private(&dir.join("certificate"), CERT);
    let path = dir.join("agtoken.toml");
    let both = toml(&[("a", KEY_A), ("b", KEY_B)], "");
    std::fs::write(&path, &both).unwrap();
    let served = serve(&path).await;
    served.watcher.abort();
    let addr = served.addr;

    let running = Arc::new(AtomicBool::new(true));
    let revoked = Arc::new(AtomicBool::new(false));
    let (ok, unauthorized, failed) =
        (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut tasks = Vec::new();
    for i in 0..16 {
        let key = if i % 2 == 0 { KEY_A } else { KEY_B };
        let (running, revoked) = (running.clone(), revoked.clone());
        let (ok, unauthorized, failed) = (ok.clone(), unauthorized.clone(), failed.clone());
        tasks.push(tokio::spawn(async move {
            while running.load(Ordering::Relaxed) {
                let revoked_before = revoked.load(Ordering::SeqCst);
                let status = fetch(addr, key).await.status;
                let expected = match (key == KEY_A, revoked_before) {
                    (false, _) => status == 200,
                    // A request that started before the revocation may be answered either way.
                    (true, false) => status == 200 || status == 401,
                    (true, true) => status == 401,
                };
                match (expected, status) {
                    (true, 200) => ok.fetch_add(1, Ordering::Relaxed),
                    (true, _) => unauthorized.fetch_add(1, Ordering::Relaxed),
                    (false, _) => failed.fetch_add(1, Ordering::Relaxed),
                };
            }
        }));
    }
    // Reloads of the same configuration while the load runs, then the revocation.
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        reload::reload_now(&served.live, &served.load, "test").unwrap();
    }
    std::fs::write(&path, toml(&[("b", KEY_B)], "")).unwrap();
    reload::reload_now(&served.live, &served.load, "test").unwrap();
    revoked.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(400)).await;
    running.store(false, Ordering::Relaxed);
    for task in tasks {
        task.await.expect("no request panicked (a dropped connection reads as an error)");
    }
    let (ok, unauthorized, failed) =
        (ok.load(Ordering::Relaxed), unauthorized.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    assert_eq!(failed, 0, "{failed} requests failed ({ok} ok, {unauthorized} 401)");
    assert!(ok > 100, "too little load to mean anything: {ok} ok");
    assert!(unauthorized > 0, "the revoked key was never refused");
    let text = metrics(addr).await;
    assert!(text.contains("agtoken_config_reloads_total{outcome=\"ok\"} 21\n"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn new_tls_handshakes_use_the_reloaded_certificate() {
    use rcgen::{CertificateParams, KeyPair};
    use tokio::io::AsyncWriteExt;
    use tokio_rustls::rustls::pki_types::{pem::PemObject, CertificateDer, ServerName};
    use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};

    capture();
    let self_signed = || {
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec!["localhost".to_owned()]).unwrap().self_signed(&key).unwrap();
        (cert.pem(), key.serialize_pem())
    };
    // Whether a client that trusts only `cert_pem` completes a handshake.
    let handshake = |addr: std::net::SocketAddr, cert_pem: String| async move {
        let mut roots = RootCertStore::empty();
        roots.add(CertificateDer::from_pem_slice(cert_pem.as_bytes()).unwrap()).unwrap();
        let config = ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        match connector.connect(ServerName::try_from("localhost").unwrap(), stream).await {
            Ok(mut tls) => {
                let _ = tls.shutdown().await;
                true
            }
            Err(_) => false,
        }
    };
    let dir = temp_dir("tls");
    write_private(&dir.join("certificate"), CERT);
    let (old_cert, old_key) = self_signed();
    std::fs::write(dir.join("tls.pem"), &old_cert).unwrap();
    write_private(&dir.join("tls.key"), &old_key);
    let path = dir.join("agtoken.toml");
    let text = toml(&[("a", KEY_A)], "")
        .replace("port = 0\n", "port = 0\ntls_cert_file = \"tls.pem\"\ntls_key_file = \"tls.key\"\n");
    std::fs::write(&path, text).unwrap();
    let served = serve(&path).await;
    assert!(handshake(served.addr, old_cert.clone()).await);

    let (new_cert, new_key) = self_signed();
    write_private(&dir.join("tls.key"), &new_key);
    std::fs::write(dir.join("tls.pem"), &new_cert).unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while !handshake(served.addr, new_cert.clone()).await {
        assert!(Instant::now() < deadline, "the new certificate is not served after 15 s");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(!handshake(served.addr, old_cert).await, "the old certificate is still served");
    let _ = std::fs::remove_dir_all(&dir);
}
