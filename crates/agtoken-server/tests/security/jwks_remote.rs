//! `auth = "jwt"` with keys fetched from the identity provider (`jwks_url`, OIDC discovery),
//! against a provider of the test's own on 127.0.0.1 (HTTP, and HTTPS with a test CA) that
//! rotates keys, fails, serves garbage, hangs, and counts the requests it gets.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hyper_util::rt::{TokioExecutor, TokioIo};
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ServerConfig};

use crate::common::*;
use crate::support::*;

const POLICY: &str =
    "[[apps.policy]]\nname = \"users\"\nservices = [\"rtc\"]\nchannels = [\"class-*\"]\nuid_claim = \"sub\"\n";
const BODY: &str = r#"{"service":"rtc","channel":"class-1","uid":42,"expire":600}"#;

/// What the provider's JWKS route answers.
#[derive(Clone)]
enum Answer {
    Keys(Value),
    Status(u16),
    Body(&'static str),
    Hang,
}

struct Idp {
    jwks: Mutex<Answer>,
    jwks_hits: AtomicUsize,
    discovery_hits: AtomicUsize,
    /// The discovery document's `issuer` (empty: none served) and `jwks_uri` base.
    issuer: Mutex<String>,
    base: Mutex<String>,
}

async fn jwks_route(State(idp): State<Arc<Idp>>) -> Response {
    idp.jwks_hits.fetch_add(1, Ordering::SeqCst);
    let answer = idp.jwks.lock().unwrap().clone();
    match answer {
        Answer::Keys(set) => ([(header::CACHE_CONTROL, "public, max-age=600")], set.to_string()).into_response(),
        Answer::Status(status) => StatusCode::from_u16(status).unwrap().into_response(),
        Answer::Body(text) => text.into_response(),
        Answer::Hang => {
            tokio::time::sleep(Duration::from_secs(30)).await;
            StatusCode::OK.into_response()
        }
    }
}

async fn discovery_route(State(idp): State<Arc<Idp>>) -> Response {
    idp.discovery_hits.fetch_add(1, Ordering::SeqCst);
    let issuer = idp.issuer.lock().unwrap().clone();
    let base = idp.base.lock().unwrap().clone();
    json!({ "issuer": issuer, "jwks_uri": format!("{base}/jwks"), "id_token_signing_alg_values_supported": ["RS256"] })
        .to_string()
        .into_response()
}

/// Starts a provider on 127.0.0.1 (HTTPS with `tls`); gives it and its base URL.
async fn start_idp(set: Value, tls: Option<Arc<ServerConfig>>) -> (Arc<Idp>, String) {
    let idp = Arc::new(Idp {
        jwks: Mutex::new(Answer::Keys(set)),
        jwks_hits: AtomicUsize::new(0),
        discovery_hits: AtomicUsize::new(0),
        issuer: Mutex::new(String::new()),
        base: Mutex::new(String::new()),
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let base = match tls {
        Some(_) => format!("https://localhost:{}", addr.port()),
        None => format!("http://127.0.0.1:{}", addr.port()),
    };
    *idp.base.lock().unwrap() = base.clone();
    let router = axum::Router::new()
        .route("/jwks", get(jwks_route))
        .route("/.well-known/openid-configuration", get(discovery_route))
        .with_state(idp.clone());
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let service = hyper_util::service::TowerToHyperService::new(router.clone());
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                match acceptor {
                    Some(acceptor) => {
                        if let Ok(stream) = acceptor.accept(stream).await {
                            let _ = builder.serve_connection(TokioIo::new(stream), service).await;
                        }
                    }
                    None => {
                        let _ = builder.serve_connection(TokioIo::new(stream), service).await;
                    }
                }
            });
        }
    });
    (idp, base)
}

/// A JWKS with one RS256 key of `kid` (the test key), or one ES256 key, and the signing key.
fn rsa_set(kid: &str) -> (Value, EncodingKey) {
    let key = EncodingKey::from_rsa_pem(RSA_KEY.as_bytes()).unwrap();
    let mut jwk =
        serde_json::to_value(jsonwebtoken::jwk::Jwk::from_encoding_key(&key, Algorithm::RS256).unwrap()).unwrap();
    jwk["kid"] = json!(kid);
    (json!({ "keys": [jwk] }), key)
}

fn es_set(kid: &str) -> (Value, EncodingKey) {
    let pair = rcgen::KeyPair::generate().unwrap(); // ECDSA P-256
    let key = EncodingKey::from_ec_pem(pair.serialize_pem().as_bytes()).unwrap();
    let mut jwk =
        serde_json::to_value(jsonwebtoken::jwk::Jwk::from_encoding_key(&key, Algorithm::ES256).unwrap()).unwrap();
    jwk["kid"] = json!(kid);
    (json!({ "keys": [jwk] }), key)
}

fn claims(iss: Option<&str>) -> Value {
    let now = now_secs();
    let mut c = json!({"sub": "42", "aud": "agtoken", "iat": now, "exp": now + 300});
    if let Some(iss) = iss {
        c["iss"] = json!(iss);
    }
    c
}

fn remote_config(name: &str, key_settings: &str, files: &[(&str, &str)]) -> agtoken_server::Config {
    let dir = temp_dir(name);
    for (file, text) in files {
        std::fs::write(dir.join(file), text).unwrap();
    }
    let settings = format!("auth = \"jwt\"\n[apps.jwt]\naudience = \"agtoken\"\n{key_settings}\n{POLICY}");
    toml_config(&dir, &settings, "")
}

async fn create(server: &Server, jwt: &str) -> Reply {
    let auth = bearer(jwt);
    server
        .send("POST", "/v1/tokens", &[("Content-Type", "application/json"), ("Authorization", &auth)], BODY.as_bytes())
        .await
}

/// Polls `/readyz` until it answers `status` with `needle` in the body (at most `secs`
/// seconds); the last answer.
async fn readyz_until(server: &Server, status: u16, needle: &str, secs: u64) -> Reply {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let reply = server.get("/readyz").await;
        if (reply.status == status && reply.body.contains(needle)) || tokio::time::Instant::now() >= deadline {
            return reply;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn metric(text: &str, line_start: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(line_start).map(|v| v.trim().parse::<u64>().unwrap()))
        .unwrap_or_else(|| panic!("no {line_start} in\n{text}"))
}

fn fetches(text: &str, outcome: &str) -> u64 {
    metric(text, &format!("agtoken_jwks_fetches_total{{app_id=\"{APP_ID}\",outcome=\"{outcome}\"}}"))
}

/// Lets the unknown-`kid` refetch interval (1 s in these tests) pass.
async fn after_refetch_interval() {
    tokio::time::sleep(Duration::from_millis(1100)).await;
}

#[tokio::test]
async fn keys_from_a_url_rotate_and_the_last_good_ones_survive_failures() {
    let (set_one, key_one) = es_set("k1");
    let (set_two, key_two) = es_set("k2");
    let (idp, base) = start_idp(set_one, None).await;
    let settings = format!("jwks_url = \"{base}/jwks\"\njwks_min_refetch_secs = 1\njwks_timeout_ms = 400");
    let server = start(remote_config("jwks-rotate", &settings, &[])).await;
    let ready = readyz_until(&server, 200, "", 10).await;
    assert_eq!(ready.status, 200, "{ready:?}");
    assert_eq!(ready.json()["jwks"][APP_ID], "ok", "{}", ready.body);

    let first = jwt(Algorithm::ES256, &key_one, Some("k1"), &claims(None));
    let second = jwt(Algorithm::ES256, &key_two, Some("k2"), &claims(None));
    let reply = create(&server, &first).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(idp.jwks_hits.load(Ordering::SeqCst), 1);

    // The provider rotates: k2 replaces k1. A k2 token makes the server refetch, and passes.
    *idp.jwks.lock().unwrap() = Answer::Keys(set_two);
    after_refetch_interval().await;
    let reply = create(&server, &second).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(idp.jwks_hits.load(Ordering::SeqCst), 2);
    // k1 is gone from the provider: refused (and within the interval, no new fetch).
    let reply = create(&server, &first).await;
    assert_eq!(reply.status, 401, "{reply:?}");
    assert!(reply.error()["message"].as_str().unwrap().contains("kid"), "{}", reply.body);
    assert_eq!(idp.jwks_hits.load(Ordering::SeqCst), 2);

    // Failures: 500, garbage, an empty set, a provider that never answers. Each is tried (an
    // unknown kid asks for a refetch) and each leaves k2 working.
    let (_, key_three) = es_set("k3");
    let third = jwt(Algorithm::ES256, &key_three, Some("k3"), &claims(None));
    for answer in [
        Answer::Status(500),
        Answer::Body("<html>not a JWKS</html>"),
        Answer::Body(r#"{"keys":[]}"#),
        Answer::Body(r#"{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB","kid":"small"}]}"#),
        Answer::Hang,
    ] {
        *idp.jwks.lock().unwrap() = answer;
        after_refetch_interval().await;
        let hits = idp.jwks_hits.load(Ordering::SeqCst);
        let reply = create(&server, &third).await;
        assert_eq!(reply.status, 401, "{reply:?}");
        assert_eq!(idp.jwks_hits.load(Ordering::SeqCst), hits + 1, "the unknown kid caused one fetch");
        let reply = create(&server, &second).await;
        assert_eq!(reply.status, 200, "the last good keys still work: {reply:?}");
    }
    let metrics = server.get("/metrics").await.body;
    assert_eq!(fetches(&metrics, "ok"), 2, "{metrics}");
    assert_eq!(fetches(&metrics, "http_error"), 1, "{metrics}");
    assert_eq!(fetches(&metrics, "invalid"), 3, "{metrics}");
    assert_eq!(fetches(&metrics, "timeout"), 1, "{metrics}");
    assert_eq!(metric(&metrics, &format!("agtoken_jwks_keys{{app_id=\"{APP_ID}\"}}")), 1);
    let last = metric(&metrics, &format!("agtoken_jwks_last_success_timestamp_seconds{{app_id=\"{APP_ID}\"}}"));
    assert!(last + 60 > now_secs() && last <= now_secs(), "{last}");
    // Ready (the kept keys serve), and says it is degraded.
    let ready = server.get("/readyz").await;
    assert_eq!(ready.status, 200, "{ready:?}");
    assert_eq!(ready.json()["jwks"][APP_ID], "stale", "{}", ready.body);
    assert!(ready.json()["degraded"].as_str().unwrap().contains("timeout"), "{}", ready.body);

    // The provider is back with k3: it is accepted, and the state is fresh again.
    *idp.jwks.lock().unwrap() = Answer::Keys(json!({"keys": [es_set_of(&key_three, "k3")]}));
    after_refetch_interval().await;
    assert_eq!(create(&server, &third).await.status, 200);
    assert_eq!(server.get("/readyz").await.json()["jwks"][APP_ID], "ok");
    server.stop().await.unwrap();
}

/// The public JWK of an ES256 signing key, with `kid`.
fn es_set_of(key: &EncodingKey, kid: &str) -> Value {
    let mut jwk =
        serde_json::to_value(jsonwebtoken::jwk::Jwk::from_encoding_key(key, Algorithm::ES256).unwrap()).unwrap();
    jwk["kid"] = json!(kid);
    jwk
}

#[tokio::test]
async fn a_flood_of_unknown_kids_costs_the_provider_one_fetch_per_interval() {
    let (set, key) = rsa_set("k1");
    let (idp, base) = start_idp(set, None).await;
    let settings = format!("jwks_url = \"{base}/jwks\"\njwks_min_refetch_secs = 5");
    let server = Arc::new(start(remote_config("jwks-flood", &settings, &[])).await);
    assert_eq!(readyz_until(&server, 200, "", 10).await.status, 200);
    let fetched = tokio::time::Instant::now();
    assert_eq!(idp.jwks_hits.load(Ordering::SeqCst), 1);
    // 400 JWTs, each with its own made-up kid (signed beforehand: signing is slow in a debug build).
    let (_, other) = es_set("x");
    let tokens: Vec<String> =
        (0..400).map(|i| jwt(Algorithm::ES256, &other, Some(&format!("bogus-{i}")), &claims(None))).collect();
    tokio::time::sleep_until(fetched + Duration::from_millis(5100)).await;

    // Two waves of 200 concurrent requests, well within the next interval.
    let started = tokio::time::Instant::now();
    for wave in tokens.chunks(200) {
        let mut tasks = Vec::new();
        for token in wave {
            let (server, token) = (server.clone(), token.clone());
            tasks.push(tokio::spawn(async move { create(&server, &token).await.status }));
        }
        for task in tasks {
            assert_eq!(task.await.unwrap(), 401);
        }
    }
    assert!(started.elapsed() < Duration::from_secs(5), "the waves took {:?}", started.elapsed());
    assert_eq!(idp.jwks_hits.load(Ordering::SeqCst), 2, "one shared refetch for the whole flood");
    // The real key still works, without a fetch.
    assert_eq!(create(&server, &jwt(Algorithm::RS256, &key, Some("k1"), &claims(None))).await.status, 200);
    assert_eq!(idp.jwks_hits.load(Ordering::SeqCst), 2);
}

/// A CA, and a server configuration for `localhost` signed by it.
fn test_tls() -> (String, Arc<ServerConfig>) {
    let (ca, chain, key) = crate::tls::test_pki();
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(chain.as_bytes()).map(Result::unwrap).collect();
    let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    (ca, Arc::new(config))
}

#[tokio::test]
async fn oidc_discovery_over_https_with_the_issuer_checked() {
    let (ca, tls) = test_tls();
    let (set, key) = rsa_set("k1");
    let (idp, base) = start_idp(set, Some(tls)).await;
    let issuer = format!("{base}/");
    *idp.issuer.lock().unwrap() = issuer.clone();
    let settings = format!("issuer = \"{issuer}\"\noidc_discovery = true\njwks_ca_file = \"ca.pem\"");
    let server = start(remote_config("jwks-discovery", &settings, &[("ca.pem", &ca)])).await;
    let ready = readyz_until(&server, 200, "", 10).await;
    assert_eq!(ready.status, 200, "{ready:?}");
    assert_eq!(idp.discovery_hits.load(Ordering::SeqCst), 1);
    let token = jwt(Algorithm::RS256, &key, Some("k1"), &claims(Some(&issuer)));
    let reply = create(&server, &token).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    admit(reply.json()["token"].as_str().unwrap(), &join("class-1", agtoken::Uid::Int(42))).unwrap();
    server.stop().await.unwrap();

    // Without the test CA, the provider's certificate is not trusted: never ready, and JWT
    // requests are 503 (the server cannot check them), naming the app.
    let settings = format!("issuer = \"{issuer}\"\noidc_discovery = true");
    let server = start(remote_config("jwks-untrusted", &settings, &[])).await;
    let ready = readyz_until(&server, 503, "TLS", 10).await;
    assert_eq!(ready.status, 503, "{ready:?}");
    let reason = ready.json()["reason"].as_str().unwrap().to_owned();
    assert!(reason.contains(APP_ID) && reason.contains("never fetched") && reason.contains("TLS"), "{reason}");
    let reply = create(&server, &token).await;
    assert_eq!(reply.status, 503, "{reply:?}");
    assert_eq!(reply.header("retry-after"), Some("5"));
    assert_eq!(reply.error()["code"], "unavailable", "{}", reply.body);
    assert!(reply.error()["message"].as_str().unwrap().contains("not available yet"), "{}", reply.body);
    server.stop().await.unwrap();

    // A discovery document of another issuer is refused.
    *idp.issuer.lock().unwrap() = "https://evil.example/".into();
    let settings = format!("issuer = \"{issuer}\"\noidc_discovery = true\njwks_ca_file = \"ca.pem\"");
    let server = start(remote_config("jwks-wrong-issuer", &settings, &[("ca.pem", &ca)])).await;
    let ready = readyz_until(&server, 503, "evil.example", 10).await;
    let reason = ready.json()["reason"].as_str().unwrap().to_owned();
    assert!(reason.contains("evil.example") && reason.contains("invalid"), "{reason}");
    assert_eq!(create(&server, &token).await.status, 503);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_provider_down_at_start_up_is_fetched_once_it_is_up() {
    // A port where nothing listens yet.
    let probe = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = probe.local_addr().unwrap().port();
    drop(probe);
    let settings = format!("jwks_url = \"http://127.0.0.1:{port}/jwks\"\njwks_min_refetch_secs = 1");
    let server = start(remote_config("jwks-late", &settings, &[])).await;
    let ready = readyz_until(&server, 503, "network_error", 5).await;
    assert_eq!(ready.status, 503);
    assert!(ready.json()["reason"].as_str().unwrap().contains("network_error"), "{}", ready.body);
    let (set, key) = rsa_set("k1");
    let token = jwt(Algorithm::RS256, &key, Some("k1"), &claims(None));
    assert_eq!(create(&server, &token).await.status, 503);

    // The provider comes up on that port: the background retries (1 s, 2 s, 4 s …) find it.
    let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    let body = set.to_string();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let body = body.clone();
            let service = hyper::service::service_fn(move |_req| {
                let body = body.clone();
                async move { Ok::<_, std::convert::Infallible>(hyper::Response::new(body)) }
            });
            tokio::spawn(hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service));
        }
    });
    let ready = readyz_until(&server, 200, "", 20).await;
    assert_eq!(ready.status, 200, "{ready:?}");
    assert_eq!(create(&server, &token).await.status, 200);
    server.stop().await.unwrap();
}

#[test]
fn remote_jwks_settings_are_checked_at_start_up() {
    let dir = temp_dir("jwks-config");
    write_secret(&dir, "certificate", CERT);
    let cases = [
        ("jwks_url = \"http://id.example.com/jwks\"", "apps[0].jwt.jwks_url", "loopback"),
        ("jwks_url = \"ftp://127.0.0.1/jwks\"", "apps[0].jwt.jwks_url", "https://"),
        ("jwks_url = \"https://u:p@id.example.com/\"", "apps[0].jwt.jwks_url", "password"),
        ("oidc_discovery = true", "apps[0].jwt.issuer", "exactly one issuer"),
        ("oidc_discovery = true\nissuer = \"http://id.example.com/\"", "apps[0].jwt.issuer", "loopback"),
        ("jwks_url = \"https://id.example.com/k\"\njwks_file = \"k.json\"", "apps[0].jwt", "exactly one key source"),
        ("jwks_url = \"https://id.example.com/k\"\njwks_min_refetch_secs = 0", "jwks_min_refetch_secs", "1 to 3600"),
        ("jwks_url = \"https://id.example.com/k\"\njwks_timeout_ms = 10", "jwks_timeout_ms", "100 to 60000"),
        ("jwks_url = \"https://id.example.com/k\"\njwks_ca_file = \"missing.pem\"", "jwks_ca_file", "cannot read"),
        ("jwks_file = \"k.json\"\njwks_timeout_ms = 1000", "apps[0].jwt.jwks_timeout_ms", "only applies"),
    ];
    for (settings, field, expected) in cases {
        let text = format!(
            "[[apps]]\napp_id = \"{APP_ID}\"\napp_certificate_file = \"certificate\"\nauth = \"jwt\"\n[apps.jwt]\naudience = \"a\"\n{settings}\n{POLICY}"
        );
        let path = dir.join("agtoken.toml");
        let e = agtoken_server::Config::from_sources(
            &agtoken_server::ServeOptions::default(),
            &agtoken_server::Env::default(),
            Some((&path, &text)),
        )
        .err()
        .unwrap_or_else(|| panic!("accepted: {settings}"))
        .to_string();
        assert!(e.contains(field) && e.contains(expected), "{settings}: {e}");
        assert!(!e.contains("u:p"), "{e}");
    }
}

/// A reload with the same JWKS settings starts from the keys in force: no 503 while a fresh
/// source would fetch, and no extra fetch from the provider.
#[tokio::test]
async fn a_reload_keeps_the_keys_of_an_unchanged_remote_jwks() {
    use agtoken_server::reload::{self, Loader};
    use agtoken_server::{run_live, AppState, LiveState};

    let (set, key) = rsa_set("r1");
    let (idp, base) = start_idp(set, None).await;
    let settings = format!("jwks_url = \"{base}/jwks\"\njwks_min_refetch_secs = 1");
    let load: Loader = Arc::new(move || Ok(remote_config("jwks-reload", &settings, &[])));
    let live = LiveState::new(AppState::new(load().unwrap()));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(run_live(listener, live.clone(), async move {
        let _ = stopped.await;
    }));
    let token = jwt(Algorithm::RS256, &key, Some("r1"), &claims(None));
    let request = format!(
        "POST /v1/tokens HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{BODY}",
        BODY.len()
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while exchange(addr, request.as_bytes()).await.status != 200 {
        assert!(tokio::time::Instant::now() < deadline, "the first fetch never succeeded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let hits = idp.jwks_hits.load(Ordering::SeqCst);
    assert_eq!(hits, 1);
    reload::reload_now(&live, &load, "test").unwrap();
    let reply = exchange(addr, request.as_bytes()).await;
    assert_eq!(reply.status, 200, "right after the reload: {reply:?}");
    assert_eq!(idp.jwks_hits.load(Ordering::SeqCst), hits, "the reload did not refetch");
    let metrics =
        exchange(addr, format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes())
            .await
            .body;
    assert_eq!(fetches(&metrics, "ok"), 1, "the counters carried over: {metrics}");
    let _ = stop.send(());
    let _ = served.await;
}
