//! Rate limits shared by several replicas through a real `redis-server` (Debian's package),
//! started by each test on a free port of 127.0.0.1 and stopped when the test ends. Without
//! `redis-server` these tests fail with a message saying how to install it, unless
//! `AGTOKEN_SKIP_REDIS=1` (then they say loudly that they were skipped).
//!
//! Each "replica" is a server of its own (its own `AppState`, its own socket) in this process.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use agtoken_server::Config;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, SanType};

use crate::common::*;
use crate::redis_server::*;
use crate::support::*;

const KEY: &str = "agtk_shared_0123456789abcdef0123456789abcdef0123456789abcdef";
const BODY: &str = r#"{"service":"rtc","channel":"room-1","uid":42}"#;
/// Every answer during an outage must come within this.
const PROMPT: Duration = Duration::from_secs(2);

// ---------------------------------------------------------------------------------------------
// Replicas.

fn caller_settings(rate: &str) -> String {
    format!(
        r#"
auth = "api_key"
[[apps.api_keys]]
name = "backend"
sha256 = "{}"
[[apps.policy]]
name = "backend"
api_keys = ["backend"]
services = ["rtc"]
rate_limit = "{rate}"
"#,
        sha256_hex(KEY)
    )
}

/// Three replicas of the configuration `top` (server settings) + `app` (first app's settings).
async fn replicas(name: &str, app: &str, top: &str) -> Vec<Server> {
    let dir = temp_dir(name);
    let config: Config = toml_config(&dir, app, top);
    let mut servers = Vec::new();
    for _ in 0..3 {
        servers.push(start(config.clone()).await);
    }
    servers
}

async fn stop_all(servers: Vec<Server>) {
    for server in servers {
        server.stop().await.unwrap();
    }
}

async fn issue(server: &Server) -> Reply {
    let headers = [("Content-Type", "application/json"), ("X-Api-Key", KEY)];
    server.send("POST", "/v1/tokens", &headers, BODY.as_bytes()).await
}

/// `n` requests spread round-robin over `servers`, each answered within [`PROMPT`] with one
/// of `allowed`; the statuses.
async fn round_robin(servers: &[Server], n: usize, allowed: &[u16]) -> Vec<u16> {
    let mut statuses = Vec::new();
    for i in 0..n {
        let started = Instant::now();
        let reply = issue(&servers[i % servers.len()]).await;
        let took = started.elapsed();
        assert!(took < PROMPT, "request {i} took {took:?}: {reply:?}");
        assert!(allowed.contains(&reply.status), "request {i}: {reply:?}");
        if reply.status != 200 {
            let retry: u64 = reply.header("retry-after").expect("Retry-After on a refusal").parse().unwrap();
            assert!(retry >= 1, "{retry}");
        }
        statuses.push(reply.status);
    }
    statuses
}

fn count(statuses: &[u16], status: u16) -> usize {
    statuses.iter().filter(|s| **s == status).count()
}

async fn readyz(server: &Server) -> Reply {
    let started = Instant::now();
    let reply = server.get("/readyz").await;
    assert!(started.elapsed() < PROMPT, "readyz took {:?}", started.elapsed());
    reply
}

/// Waits (bounded) until every replica's `/readyz` says the store is up again.
async fn until_store_up(servers: &[Server]) {
    let deadline = Instant::now() + Duration::from_secs(15);
    for server in servers {
        loop {
            let reply = readyz(server).await;
            if reply.status == 200 && reply.json()["limits_store"] == "up" {
                break;
            }
            assert!(Instant::now() < deadline, "the store did not come back within 15 s: {reply:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn metric(server: &Server, name: &str) -> f64 {
    let text = server.state.metrics_text();
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("{name} not in metrics:\n{text}"))
        .parse()
        .unwrap()
}

fn metric_sum(servers: &[Server], name: &str) -> f64 {
    servers.iter().map(|s| metric(s, name)).sum()
}

// ---------------------------------------------------------------------------------------------
// Tests.

#[tokio::test]
async fn three_replicas_admit_one_callers_limit_once() {
    let Some(redis) = Redis::start(&[]) else { return };
    let top = format!("limits_store = \"{}\"", redis.url());
    let servers = replicas("shared-caller", &caller_settings("5/h"), &top).await;
    until_store_up(&servers).await;
    let statuses = round_robin(&servers, 15, &[200, 429]).await;
    assert_eq!(count(&statuses, 200), 5, "one replica's allowance for the fleet: {statuses:?}");
    assert_eq!(&statuses[..5], &[200; 5], "the burst first");
    let allowed = r#"agtoken_rate_limit_decisions_total{store="redis",outcome="allowed"}"#;
    let refused = r#"agtoken_rate_limit_decisions_total{store="redis",outcome="refused"}"#;
    assert_eq!(metric_sum(&servers, allowed), 5.0);
    assert_eq!(metric_sum(&servers, refused), 10.0);
    assert_eq!(metric_sum(&servers, "agtoken_limits_store_errors_total"), 0.0);
    assert_eq!(metric(&servers[0], "agtoken_limits_store_up"), 1.0);
    let reply = issue(&servers[1]).await;
    assert_eq!(reply.error()["code"], "rate_limited");
    assert!(reply.error()["message"].as_str().unwrap().contains("per caller"), "{reply:?}");
    stop_all(servers).await;

    // The control: without the store, each replica counts for itself.
    let servers = replicas("local-caller", &caller_settings("5/h"), "").await;
    let statuses = round_robin(&servers, 15, &[200, 429]).await;
    assert_eq!(count(&statuses, 200), 15, "{statuses:?}");
    let local = r#"agtoken_rate_limit_decisions_total{store="local",outcome="allowed"}"#;
    assert_eq!(metric_sum(&servers, local), 15.0);
    stop_all(servers).await;
}

#[tokio::test]
async fn three_replicas_share_the_per_address_limit() {
    let Some(redis) = Redis::start(&[]) else { return };
    let top = format!("limits_store = \"{}\"\nper_ip_rate_limit = \"4/h\"", redis.url());
    let servers = replicas("shared-ip", "", &top).await;
    until_store_up(&servers).await;
    let mut statuses = Vec::new();
    for i in 0..12 {
        let reply = servers[i % 3].post_json("/v1/tokens", BODY).await;
        statuses.push(reply.status);
    }
    assert_eq!(statuses, [[200; 4].as_slice(), &[429; 8]].concat());
    stop_all(servers).await;
}

#[tokio::test]
async fn redis_outage_with_fallback_local_counts_per_replica_then_shares_again() {
    let Some(mut redis) = Redis::start(&[]) else { return };
    let top = format!("limits_store = \"{}\"\nlimits_store_fallback = \"local\"", redis.url());
    let servers = replicas("outage-local", &caller_settings("5/h"), &top).await;
    until_store_up(&servers).await;
    assert_eq!(count(&round_robin(&servers, 15, &[200, 429]).await, 200), 5);

    // Redis hangs: every call meets its deadline, the breaker stops asking, memory decides.
    redis.pause();
    let statuses = round_robin(&servers, 6, &[200, 429]).await;
    assert_eq!(statuses, [200; 6], "each replica's own allowance (2 of 5 each)");
    // Redis is gone (killed while hung).
    redis.kill();
    let statuses = round_robin(&servers, 12, &[200, 429]).await;
    assert_eq!(count(&statuses, 200), 9, "3 left on each replica: {statuses:?}");
    for server in &servers {
        let reply = readyz(server).await;
        assert_eq!(reply.status, 200, "{reply:?}");
        assert_eq!(reply.json()["limits_store"], "down");
        let degraded = reply.json()["degraded"].as_str().unwrap().to_owned();
        assert!(degraded.contains(&redis.url()) && degraded.contains("local"), "{degraded}");
        assert_eq!(server.get("/healthz").await.status, 200);
    }
    assert!(metric_sum(&servers, r#"agtoken_limits_store_fallbacks_total{fallback="local"}"#) >= 18.0);
    assert!(metric_sum(&servers, "agtoken_limits_store_errors_total") >= 3.0);
    assert_eq!(metric(&servers[0], "agtoken_limits_store_up"), 0.0);

    // Back (empty): the fleet counts once again.
    redis.restart();
    until_store_up(&servers).await;
    let statuses = round_robin(&servers, 15, &[200, 429]).await;
    assert_eq!(count(&statuses, 200), 5, "{statuses:?}");
    assert_eq!(metric(&servers[2], "agtoken_limits_store_up"), 1.0);
    stop_all(servers).await;
}

#[tokio::test]
async fn redis_outage_with_fallback_refuse_is_503_and_not_ready() {
    let Some(mut redis) = Redis::start(&[]) else { return };
    let top = format!(
        "limits_store = \"{}\"\nlimits_store_fallback = \"refuse\"\nlimits_store_timeout_ms = 50\nper_ip_rate_limit = \"1000/h\"",
        redis.url()
    );
    let servers = replicas("outage-refuse", &caller_settings("5/h"), &top).await;
    until_store_up(&servers).await;
    assert_eq!(count(&round_robin(&servers, 15, &[200, 429]).await, 200), 5);

    redis.pause();
    let statuses = round_robin(&servers, 6, &[503]).await;
    assert_eq!(statuses, [503; 6]);
    redis.kill();
    let statuses = round_robin(&servers, 9, &[503]).await;
    assert_eq!(statuses, [503; 9]);
    let reply = issue(&servers[0]).await;
    assert_eq!(reply.error()["code"], "unavailable", "{reply:?}");
    assert_eq!(reply.header("retry-after"), Some("1"));
    for server in &servers {
        let reply = readyz(server).await;
        assert_eq!(reply.status, 503, "{reply:?}");
        let reason = reply.json()["reason"].as_str().unwrap().to_owned();
        assert!(reason.contains("rate-limit store unavailable") && reason.contains(&redis.url()), "{reason}");
        assert_eq!(server.get("/healthz").await.status, 200, "the replica stays up");
    }
    assert!(metric_sum(&servers, r#"agtoken_limits_store_fallbacks_total{fallback="refuse"}"#) >= 15.0);

    redis.restart();
    until_store_up(&servers).await;
    let statuses = round_robin(&servers, 15, &[200, 429]).await;
    assert_eq!(count(&statuses, 200), 5, "{statuses:?}");
    stop_all(servers).await;
}

#[tokio::test]
async fn v1_requests_for_another_app_count_against_that_app() {
    let Some(redis) = Redis::start(&[]) else { return };
    // The first app has no auth; the second has a per-caller limit.
    let second = format!("[[apps]]\napp_id = \"{APP_ID2}\"\napp_certificate = \"{CERT2}\"\n{}", caller_settings("2/h"));
    let top = format!("limits_store = \"{}\"", redis.url());
    let servers = replicas("shared-two-apps", &second, &top).await;
    until_store_up(&servers).await;
    let headers = [("Content-Type", "application/json"), ("X-Api-Key", KEY)];
    let plain = format!(r#"{{"app_id":"{APP_ID2}","service":"rtc","channel":"room-1","uid":42}}"#);
    let structure = format!(
        r#"{{"structure":{{"app_id":"{APP_ID2}","version":"007","services":[{{"name":"rtc","channel_name":"room-1","uid":"42","privileges":{{"1":0}}}}]}}}}"#
    );
    let mut statuses = Vec::new();
    for (i, body) in [&plain, &structure, &plain, &structure, &plain, &structure].iter().enumerate() {
        statuses.push(servers[i % 3].send("POST", "/v1/tokens", &headers, body.as_bytes()).await.status);
    }
    assert_eq!(statuses, [200, 200, 429, 429, 429, 429]);
    // A repeated key counts as the route reads it (the last one): the other app's limit, in
    // Redis (its replicas' memories have admitted nobody yet, so a decision there would be 200).
    let repeated =
        format!(r#"{{"app_id":"{APP_ID}","app_id":"{APP_ID2}","service":"rtc","channel":"room-1","uid":42}}"#);
    for server in &servers {
        let reply = server.send("POST", "/v1/tokens", &headers, repeated.as_bytes()).await;
        assert_eq!(reply.status, 429, "{reply:?}");
    }
    assert_eq!(metric_sum(&servers, r#"agtoken_limits_store_fallbacks_total{fallback="local"}"#), 0.0);
    // The default app is not limited, and its requests are not charged to the other's caller.
    for server in &servers {
        assert_eq!(server.post_json("/v1/tokens", BODY).await.status, 200);
    }
    // A body over the limit is still 413 (the security layer read it to find the app).
    let big = format!(r#"{{"app_id":"{APP_ID2}","service":"rtc","channel":"{}"}}"#, "x".repeat(20_000));
    assert_eq!(servers[0].send("POST", "/v1/tokens", &headers, big.as_bytes()).await.status, 413);
    stop_all(servers).await;
}

#[tokio::test]
async fn auth_with_the_password_from_a_file_never_shown() {
    const PASSWORD: &str = "s3cret-redis-password-0123456789";
    let Some(redis) = Redis::start(&["--requirepass", PASSWORD]) else { return };
    let dir = temp_dir("redis-auth");
    write_secret(&dir, "redis-password", &format!("{PASSWORD}\n"));
    let top = format!(
        "limits_store = \"{}\"\nlimits_store_password_file = \"redis-password\"\nlimits_store_fallback = \"refuse\"",
        redis.url()
    );
    let config = toml_config(&dir, &caller_settings("2/h"), &top);
    assert!(!format!("{config:?}").contains(PASSWORD), "the configuration's Debug shows the password");
    let servers = vec![start(config.clone()).await, start(config).await];
    until_store_up(&servers).await;
    let statuses = round_robin(&servers, 4, &[200, 429]).await;
    assert_eq!(statuses, [200, 200, 429, 429]);
    assert_eq!(readyz(&servers[0]).await.json()["limits_store"], "up");
    stop_all(servers).await;

    // Without the password (or with a wrong one) Redis refuses: the store is down, and neither
    // the answers nor the metrics show a password.
    for (name, password) in [("none", None), ("wrong", Some("not-the-password"))] {
        let dir = temp_dir(&format!("redis-auth-{name}"));
        let mut top = format!("limits_store = \"{}\"\nlimits_store_fallback = \"refuse\"", redis.url());
        if let Some(p) = password {
            write_secret(&dir, "redis-password", p);
            top.push_str("\nlimits_store_password_file = \"redis-password\"");
        }
        let server = start(toml_config(&dir, &caller_settings("2/h"), &top)).await;
        let reply = issue(&server).await;
        assert_eq!(reply.status, 503, "{name}: {reply:?}");
        let ready = readyz(&server).await;
        assert_eq!(ready.status, 503, "{name}: {ready:?}");
        let reason = ready.json()["reason"].as_str().unwrap().to_owned();
        assert!(reason.contains("NOAUTH") || reason.contains("WRONGPASS") || reason.contains("auth"), "{reason}");
        for text in [reply.body, ready.body, server.state.metrics_text()] {
            assert!(!text.contains(PASSWORD) && !text.contains("not-the-password"), "{text}");
        }
        server.stop().await.unwrap();
    }
}

/// A CA, and a server certificate for 127.0.0.1 signed by it, written to `dir`: (ca, cert, key).
fn redis_pki(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, "agtoken redis test CA");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params.subject_alt_names.push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    let cert = params.signed_by(&key, &issuer).unwrap();
    let paths = (dir.join("ca.pem"), dir.join("redis.pem"), dir.join("redis.key"));
    std::fs::write(&paths.0, ca_cert.pem()).unwrap();
    std::fs::write(&paths.1, cert.pem()).unwrap();
    write_secret(dir, "redis.key", &key.serialize_pem());
    (paths.0, paths.1, paths.2)
}

#[tokio::test]
async fn rediss_verified_against_the_configured_ca() {
    if !redis_available() {
        return;
    }
    let dir = temp_dir("redis-tls");
    let (ca, cert, key) = redis_pki(&dir);
    let path = |p: &Path| p.display().to_string();
    let args = [
        "--tls-cert-file".to_owned(),
        path(&cert),
        "--tls-key-file".to_owned(),
        path(&key),
        "--tls-ca-cert-file".to_owned(),
        path(&ca),
        "--tls-auth-clients".to_owned(),
        "no".to_owned(),
    ];
    let Some(redis) = Redis::start_tls(&args) else { return };
    let url = format!("rediss://127.0.0.1:{}", redis.port);
    let top =
        format!("limits_store = \"{url}\"\nlimits_store_ca_file = \"ca.pem\"\nlimits_store_fallback = \"refuse\"");
    let config = toml_config(&dir, &caller_settings("3/h"), &top);
    let servers = vec![start(config.clone()).await, start(config).await];
    until_store_up(&servers).await;
    let statuses = round_robin(&servers, 6, &[200, 429]).await;
    assert_eq!(statuses, [200, 200, 200, 429, 429, 429]);
    let ready = readyz(&servers[1]).await;
    assert_eq!((ready.status, ready.json()["limits_store"].clone()), (200, "up".into()), "{ready:?}");
    stop_all(servers).await;

    // A replica that trusts another CA refuses the server's certificate: no decision in Redis.
    let other = temp_dir("redis-tls-other-ca");
    redis_pki(&other);
    let top = format!(
        "limits_store = \"{url}\"\nlimits_store_ca_file = \"{}\"\nlimits_store_fallback = \"refuse\"",
        path(&other.join("ca.pem"))
    );
    let server = start(toml_config(&dir, &caller_settings("3/h"), &top)).await;
    assert_eq!(issue(&server).await.status, 503);
    let ready = readyz(&server).await;
    assert_eq!(ready.status, 503, "{ready:?}");
    server.stop().await.unwrap();

    // Plain redis:// to the TLS port gets no answer either.
    let top = format!("limits_store = \"redis://127.0.0.1:{}\"\nlimits_store_fallback = \"refuse\"", redis.port);
    let server = start(toml_config(&dir, &caller_settings("3/h"), &top)).await;
    assert_eq!(issue(&server).await.status, 503);
    server.stop().await.unwrap();
}

#[test]
fn store_settings_errors_name_the_setting() {
    let bad = |top: &str| {
        let dir = temp_dir("store-settings");
        write_secret(&dir, "certificate", &format!("{CERT}\n"));
        let text = format!("{top}\n[[apps]]\napp_id = \"{APP_ID}\"\napp_certificate_file = \"certificate\"\n");
        let path = dir.join("agtoken.toml");
        agtoken_server::Config::from_sources(
            &agtoken_server::ServeOptions::default(),
            &agtoken_server::Env::default(),
            Some((&path, &text)),
        )
        .unwrap_err()
        .to_string()
    };
    for (top, setting, says) in [
        ("limits_store = \"http://127.0.0.1:6379\"", "limits_store", "redis://"),
        ("limits_store = \"redis://:hunter2@127.0.0.1:6379/x\"", "limits_store", "Redis URL"),
        ("limits_store_fallback = \"local\"", "limits_store_fallback", "without limits_store"),
        (
            "limits_store = \"redis://127.0.0.1:6379\"\nlimits_store_fallback = \"open\"",
            "limits_store_fallback",
            "refuse",
        ),
        (
            "limits_store = \"redis://127.0.0.1:6379\"\nlimits_store_timeout_ms = 0",
            "limits_store_timeout_ms",
            "1..=10000",
        ),
        (
            "limits_store = \"redis://127.0.0.1:6379\"\nlimits_store_password_file = \"missing\"",
            "limits_store_password_file",
            "cannot read",
        ),
        (
            "limits_store = \"redis://127.0.0.1:6379\"\nlimits_store_ca_file = \"certificate\"",
            "limits_store_ca_file",
            "no PEM",
        ),
    ] {
        let msg = bad(top);
        assert!(msg.contains(setting) && msg.contains(says), "{top}: {msg}");
        assert!(!msg.contains("hunter2"), "{msg}");
    }
    let env = agtoken_server::Env::from_pairs([
        ("AGTOKEN_LIMITS_STORE", "redis://127.0.0.1:1"),
        ("AGTOKEN_LIMITS_STORE_FALLBACK", "x"),
    ]);
    let msg = agtoken_server::Config::from_sources(&agtoken_server::ServeOptions::default(), &env, None)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("AGTOKEN_LIMITS_STORE_FALLBACK"), "{msg}");
    let env = agtoken_server::Env::from_pairs([("AGTOKEN_LIMITS_STORE", "redis://127.0.0.1:1")]);
    let config = agtoken_server::Config::from_sources(&agtoken_server::ServeOptions::default(), &env, None).unwrap();
    let store = config.limits_store.as_ref().unwrap();
    assert_eq!(store.redacted(), "redis://127.0.0.1:1/0");
    assert!(config.warnings.iter().any(|w| w.contains("no rate limit")), "{:?}", config.warnings);
}
