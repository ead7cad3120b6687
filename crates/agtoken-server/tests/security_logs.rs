//! Everything the server logs during a full run (tokens issued, refused with 401/403/429,
//! malformed requests, TLS) is captured by a global subscriber at TRACE level; none of it may
//! hold an app certificate, an API key, a bearer token, a JWT secret, a TLS key or an issued
//! token. Its own test binary, so the global subscriber sees every line of the run.

#[path = "support/capture.rs"]
mod capture;
#[allow(dead_code)]
#[path = "server/common.rs"]
mod common;
use capture::Capture;
#[allow(dead_code)]
#[path = "security/support.rs"]
mod support;

use serde_json::{json, Value};

use common::*;
use support::*;

const BACKEND_KEY: &str = "agtk_logs_backend_5f1e0c2a9b8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d";
const WRONG_KEY: &str = "agtk_logs_wrong_00000000000000000000000000000000000000000000000000";
const JWT_SECRET: &str = "a-jwt-secret-for-the-log-test-that-is-long-enough";

#[tokio::test]
async fn a_full_run_logs_no_secret_and_no_token() {
    let capture = Capture::install_at(tracing::Level::TRACE);

    let mut secrets: Vec<String> = vec![CERT.into(), CERT.to_lowercase(), BACKEND_KEY.into(), WRONG_KEY.into()];
    secrets.push(JWT_SECRET.into());
    let mut tokens: Vec<String> = Vec::new();

    // 1. API keys.
    let dir = temp_dir("logs-api-key");
    let settings = format!(
        r#"auth = "api_key"
rate_limit = "3/min"
[[apps.api_keys]]
name = "backend"
sha256 = "{}"
[[apps.policy]]
name = "backend-rtc"
api_keys = ["backend"]
services = ["rtc"]
channels = ["room-*"]
"#,
        sha256_hex(BACKEND_KEY)
    );
    let server = start(toml_config(&dir, &settings, "")).await;
    let key = bearer(BACKEND_KEY);
    let json_key = [("Content-Type", "application/json"), ("Authorization", key.as_str())];
    let reply =
        server.send("POST", "/fetch_rtc_token", &json_key, br#"{"uid":42,"ChannelName":"room-1","role":1}"#).await;
    assert_eq!(reply.status, 200);
    tokens.push(reply.json()["token"].as_str().unwrap().into());
    let reply = server.send("POST", "/v1/tokens", &json_key, br#"{"service":"rtc","channel":"room-2","uid":7}"#).await;
    assert_eq!(reply.status, 200);
    tokens.push(reply.json()["token"].as_str().unwrap().into());
    // refused: no key, a wrong key, policy, malformed, rate
    assert_eq!(server.post_json("/fetch_rtc_token", r#"{"uid":42,"ChannelName":"room-1"}"#).await.status, 401);
    let wrong = [("X-Api-Key", WRONG_KEY)];
    assert_eq!(server.send("GET", "/rtc/room-1/publisher/uid/42/", &wrong, b"").await.status, 401);
    assert_eq!(server.send("POST", "/v1/tokens", &json_key, br#"{"service":"rtm","user_id":"x"}"#).await.status, 403);
    assert_eq!(server.send("POST", "/v1/tokens", &json_key, b"{not json").await.status, 400);
    assert_eq!(server.send("GET", "/rtc/room-1/publisher/uid/42/", &json_key[1..], b"").await.status, 429);
    server.stop().await.unwrap();

    // 2. JWTs.
    let dir = temp_dir("logs-jwt");
    write_secret(&dir, "jwt-secret", JWT_SECRET);
    let settings = r#"auth = "jwt"
[apps.jwt]
audience = "agtoken"
hs256_secret_file = "jwt-secret"
[[apps.policy]]
name = "users"
services = ["rtc", "rtm"]
uid_claim = "sub"
"#;
    let server = start(toml_config(&dir, settings, "")).await;
    let now = now_secs();
    let good = hs256(JWT_SECRET, &json!({"sub": "42", "aud": "agtoken", "exp": now + 300}));
    let expired = hs256(JWT_SECRET, &json!({"sub": "42", "aud": "agtoken", "exp": now - 3600}));
    let forged =
        hs256("some-other-secret-that-is-long-enough-too!!", &json!({"sub": "42", "aud": "agtoken", "exp": now + 300}));
    for jwt in [&good, &expired, &forged] {
        secrets.push(jwt.clone());
        secrets.extend(jwt.split('.').map(str::to_owned));
    }
    let auth = bearer(&good);
    let reply = server.send("GET", "/rtm/42/", &[("Authorization", &auth)], b"").await;
    assert_eq!(reply.status, 200);
    tokens.push(reply.json()["rtmToken"].as_str().unwrap().into());
    assert_eq!(server.send("GET", "/rtm/43/", &[("Authorization", &auth)], b"").await.status, 403);
    for jwt in [&expired, &forged] {
        let auth = bearer(jwt);
        assert_eq!(server.send("GET", "/rtm/42/", &[("Authorization", &auth)], b"").await.status, 401);
    }
    server.stop().await.unwrap();

    // 3. TLS: a request, and a client that gives up on the handshake.
    let pair = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let key_pem = pair.signing_key.serialize_pem();
    let mut config = config();
    config.tls =
        Some(agtoken_server::tls::TlsSettings::from_pem(pair.cert.pem().as_bytes(), key_pem.as_bytes()).unwrap());
    let server = start(config).await;
    {
        // Plain HTTP to the TLS port: the handshake fails (and is logged at debug level).
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut plain = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        plain.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
        let mut buf = Vec::new();
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), plain.read_to_end(&mut buf)).await;
    }
    server.stop().await.unwrap();
    secrets.extend(key_pem.lines().filter(|l| !l.starts_with("-----")).map(str::to_owned));

    let text = capture.text();
    for secret in &secrets {
        assert!(!text.contains(secret.as_str()), "logged: {secret}");
    }
    for token in &tokens {
        assert!(!text.contains(token.as_str()), "a token was logged");
        assert!(!text.contains(&token[3..40]), "part of a token was logged");
    }

    let audit: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["target"] == "agtoken::audit")
        .collect();
    let issued: Vec<&Value> = audit.iter().filter(|v| v["decision"] == "issued").collect();
    let refused: Vec<&Value> = audit.iter().filter(|v| v["decision"] == "refused").collect();
    assert_eq!(issued.len(), 3, "{text}");
    assert_eq!(issued[0]["caller"], "key:backend");
    assert_eq!(issued[0]["rule"], "backend-rtc");
    assert_eq!(issued[0]["role"], "publisher");
    assert_eq!(issued[0]["client"], "127.0.0.1");
    assert_eq!(issued[0]["fingerprint"], agtoken_server::issue::Fingerprint(&tokens[0]).to_string());
    assert_eq!(issued[2]["caller"], "jwt:42");
    let statuses: Vec<u64> = refused.iter().map(|v| v["status"].as_u64().unwrap()).collect();
    assert_eq!(statuses, [401, 401, 403, 429, 403, 401, 401], "{refused:#?}");
    for line in &refused {
        assert!(line["reason"].as_str().is_some_and(|r| !r.is_empty()), "{line}");
        assert!(line["time"].is_null() && line["timestamp"].is_string(), "every line has its time");
    }
    assert!(refused[2]["reason"].as_str().unwrap().contains("policy rule \"backend-rtc\""));
}
