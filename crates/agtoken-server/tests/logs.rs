//! One log line per issued token, with a fingerprint; never the token, never the certificate.

use serde_json::Value;

// Its own test binary with a global subscriber: a thread-local one in a shared binary can
// miss events when another test registers the callsite first (tracing's interest cache).
#[path = "support/capture.rs"]
mod capture;
#[allow(dead_code)]
#[path = "server/common.rs"]
mod common;
use capture::Capture;

use common::*;

#[tokio::test]
async fn issued_tokens_are_logged_by_fingerprint_only() {
    let capture = Capture::install_at(tracing::Level::TRACE);

    let server = start(config()).await;
    let mut tokens = Vec::new();
    let reply = server.post_json("/fetch_rtc_token", r#"{"uid":42,"ChannelName":"logged","role":1}"#).await;
    tokens.push(reply.json()["token"].as_str().unwrap().to_owned());
    let reply = server.post_json("/v1/tokens", r#"{"service":"rtm","user_id":"logger"}"#).await;
    tokens.push(reply.json()["token"].as_str().unwrap().to_owned());
    let reply = server.get("/chat/user/logger/token").await;
    tokens.push(reply.body.clone());
    server.post_json("/fetch_rtc_token", r#"{"uid":"bad"}"#).await;
    server.stop().await.unwrap();

    let text = capture.text();
    assert!(!text.contains(CERT), "the certificate was logged");
    for token in &tokens {
        assert!(!text.contains(token.as_str()), "a token was logged");
        assert!(!text.contains(&token[3..40]), "part of a token was logged");
    }
    let issued: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["target"] == "agtoken::audit" && v["decision"] == "issued")
        .collect();
    assert_eq!(issued.len(), 3, "{text}");
    let first = &issued[0];
    assert_eq!(first["route"], "/fetch_rtc_token");
    assert_eq!(first["service"], "rtc");
    assert_eq!(first["channel"], "logged");
    assert_eq!(first["uid"], "42");
    assert_eq!(first["role"], "publisher");
    assert_eq!(first["caller"], "anonymous");
    // No security layer here (no auth, no per-address limit, no TLS): the peer's address still.
    assert_eq!(first["client"], "127.0.0.1", "{first}");
    assert!(first["expires_at"].as_u64().unwrap() > now().as_secs());
    let fingerprint = first["fingerprint"].as_str().unwrap();
    assert_eq!(fingerprint.len(), 8);
    assert_eq!(fingerprint, agtoken_server::issue::Fingerprint(&tokens[0]).to_string());
    assert_eq!(issued[1]["service"], "rtm");
    assert_eq!(issued[2]["route"], "/chat/user/{user}/token");
}
