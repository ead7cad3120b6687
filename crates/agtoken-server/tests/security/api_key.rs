//! `auth = "api_key"`: keys by hash, in either header; policy by key name; every issuing route.

use agtoken::Uid;
use agtoken_server::Config;

use crate::common::*;
use crate::support::*;

const BACKEND_KEY: &str = "agtk_backend_0123456789abcdef0123456789abcdef0123456789abcdef";
const KIOSK_KEY: &str = "agtk_kiosk_fedcba9876543210fedcba9876543210fedcba9876543210";
const LIMITED_KEY: &str = "agtk_limited_00112233445566778899aabbccddeeff00112233445566";

fn app_settings(with_kiosk: bool) -> String {
    let kiosk = if with_kiosk {
        format!("[[apps.api_keys]]\nname = \"kiosk\"\nsha256 = \"{}\"\n", sha256_hex(KIOSK_KEY))
    } else {
        String::new()
    };
    format!(
        r#"
auth = "api_key"
max_lifetime_secs = 7200
default_lifetime_secs = 600
compat_lifetime_secs = 600

[[apps.api_keys]]
name = "backend"
sha256 = "{backend}"
{kiosk}
[[apps.api_keys]]
name = "limited"
sha256 = "{limited}"

[[apps.policy]]
name = "backend"
api_keys = ["backend"]
services = ["rtc", "rtm", "chat", "chat_app"]

[[apps.policy]]
name = "kiosk-viewers"
api_keys = [{viewers}]
services = ["rtc"]
channels = ["lobby-*"]
roles = ["subscriber"]
max_lifetime_secs = 600
rate_limit = "2/min"
"#,
        viewers = if with_kiosk { r#""kiosk", "limited""# } else { r#""limited""# },
        backend = sha256_hex(BACKEND_KEY),
        limited = sha256_hex(LIMITED_KEY),
    )
}

pub fn api_key_config(name: &str) -> Config {
    let dir = temp_dir(name);
    toml_config(&dir, &app_settings(true), "")
}

async fn call(server: &Server, method: &str, path: &str, body: &str, headers: &[(&str, &str)]) -> Reply {
    let mut all: Vec<(&str, &str)> = headers.to_vec();
    if !body.is_empty() {
        all.push(("Content-Type", "application/json"));
    }
    server.send(method, path, &all, body.as_bytes()).await
}

#[tokio::test]
async fn every_issuing_route_answers_401_without_a_valid_key() {
    let server = start(api_key_config("no-credentials")).await;
    let wrong = bearer("agtk_not_a_configured_key");
    for (method, path, body) in COMPAT_ISSUING {
        for headers in [vec![], vec![("Authorization", wrong.as_str())], vec![("X-Api-Key", "nope")]] {
            let reply = call(&server, method, path, body, &headers).await;
            assert_eq!(reply.status, 401, "{method} {path} {headers:?}: {reply:?}");
            assert_eq!(reply.header("www-authenticate"), Some("Bearer realm=\"agtoken\""), "{path}");
            assert!(!reply.body.contains("agtk_"), "a key was echoed: {}", reply.body);
        }
    }
    // Each route keeps its own error shape.
    let reply = call(&server, "POST", "/fetch_rtc_token", COMPAT_ISSUING[0].2, &[]).await;
    assert!(reply.json()["message"].as_str().unwrap().contains("API key required"), "{}", reply.body);
    let reply = call(&server, "POST", "/v1/tokens", COMPAT_ISSUING[12].2, &[("X-Api-Key", "nope")]).await;
    assert_eq!(reply.error()["code"], "unauthorized");
    assert_eq!(reply.error()["message"], "unknown API key");
    let reply = server.get("/chat/app/token").await;
    assert_eq!(reply.body, "API key required: send Authorization: Bearer <key> or X-Api-Key: <key>");
    let reply =
        call(&server, "POST", "/fetch_rtc_token", COMPAT_ISSUING[0].2, &[("Authorization", "Basic Zm9vOmJhcg==")])
            .await;
    assert_eq!(reply.status, 401);
    // Routes that issue nothing stay open.
    for path in ["/ping", "/healthz", "/readyz", "/openapi.json", "/"] {
        assert_eq!(server.get(path).await.status, 200, "{path}");
    }
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_removed_key_is_revoked() {
    let server = start(api_key_config("before-revocation")).await;
    let reply = call(&server, "GET", "/rtc/lobby-1/subscriber/uid/7/", "", &[("X-Api-Key", KIOSK_KEY)]).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    server.stop().await.unwrap();

    // The same configuration without the kiosk key: its holder is refused.
    let dir = temp_dir("after-revocation");
    let server = start(toml_config(&dir, &app_settings(false), "")).await;
    let reply = call(&server, "GET", "/rtc/lobby-1/subscriber/uid/7/", "", &[("X-Api-Key", KIOSK_KEY)]).await;
    assert_eq!(reply.status, 401, "{reply:?}");
    assert_eq!(reply.json()["error"], "unknown API key");
    let reply = call(&server, "GET", "/rtc/lobby-1/subscriber/uid/7/", "", &[("X-Api-Key", BACKEND_KEY)]).await;
    assert_eq!(reply.status, 200, "the other keys still work");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn within_policy_the_token_verifies() {
    let server = start(api_key_config("within-policy")).await;
    let auth = bearer(BACKEND_KEY);
    let backend = [("Authorization", auth.as_str())];
    // Every compatibility route and v1 for the backend key.
    for (method, path, body) in COMPAT_ISSUING {
        let reply = call(&server, method, path, body, &backend).await;
        assert_eq!(reply.status, 200, "{method} {path}: {reply:?}");
    }
    let reply =
        call(&server, "POST", "/fetch_rtc_token", r#"{"uid":42,"ChannelName":"room-1","role":1}"#, &backend).await;
    let token = reply.json()["token"].as_str().unwrap().to_owned();
    admit(&token, &publish("room-1", Uid::Int(42))).unwrap();

    // The kiosk key, within its rule: a subscriber token for a lobby channel.
    let kiosk = [("X-Api-Key", KIOSK_KEY)];
    let reply =
        call(&server, "POST", "/v1/tokens", r#"{"service":"rtc","channel":"lobby-1","uid":7,"expire":600}"#, &kiosk)
            .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let token = reply.json()["token"].as_str().unwrap().to_owned();
    let admission = admit(&token, &join("lobby-1", Uid::Int(7))).unwrap();
    assert_expires_in(&admission, 600);
    assert!(admit(&token, &publish("lobby-1", Uid::Int(7))).is_err(), "a subscriber token");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn policy_violations_are_403_naming_the_rule() {
    let server = start(api_key_config("violations")).await;
    let kiosk = [("X-Api-Key", KIOSK_KEY)];
    let cases = [
        (r#"{"service":"rtc","channel":"staff","uid":7,"expire":60}"#, "channel \"staff\" is not allowed"),
        (r#"{"service":"rtc","channel":"lobby-1","uid":7,"role":"publisher","expire":60}"#, "publisher"),
        (r#"{"service":"rtc","channel":"lobby-1","uid":7,"expire":3600}"#, "longer than this rule's maximum of 600 s"),
        (r#"{"service":"rtc","channel":"lobby-1","uid":0,"expire":60}"#, "any user (uid 0)"),
        (r#"{"service":"rtc","channel":"lobby-*","uid":7,"expire":60}"#, "wildcard"),
        (r#"{"service":"rtm","user_id":"7","expire":60}"#, "service rtm is not allowed"),
    ];
    // The kiosk's rule allows 2 requests a minute: a fresh server per case keeps the rate out of it.
    for (body, expected) in cases {
        let server = start(api_key_config("violation-case")).await;
        let reply = call(&server, "POST", "/v1/tokens", body, &kiosk).await;
        assert_eq!(reply.status, 403, "{body}: {reply:?}");
        assert_eq!(reply.error()["code"], "forbidden");
        let message = reply.error()["message"].as_str().unwrap().to_owned();
        assert!(message.starts_with("policy rule \"kiosk-viewers\": "), "{message}");
        assert!(message.contains(expected), "{message} (expected {expected})");
        server.stop().await.unwrap();
    }
    // Compatibility routes refuse in their own shapes.
    let reply = call(&server, "GET", "/rtc/staff/subscriber/uid/7/", "", &kiosk).await;
    assert_eq!(reply.status, 403);
    assert_eq!(reply.json()["status"], 403);
    assert!(reply.json()["error"].as_str().unwrap().contains("kiosk-viewers"));
    let reply = call(&server, "GET", "/chat/app/token", "", &kiosk).await;
    assert_eq!(reply.status, 403);
    assert!(reply.body.contains("service chat_app is not allowed"), "{}", reply.body);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn over_the_rate_is_429_with_retry_after() {
    let server = start(api_key_config("rate")).await;
    let limited = [("X-Api-Key", LIMITED_KEY)];
    for _ in 0..2 {
        let reply = call(&server, "GET", "/rtc/lobby-1/subscriber/uid/7/", "", &limited).await;
        assert_eq!(reply.status, 200, "{reply:?}");
    }
    let reply = call(&server, "GET", "/rtc/lobby-1/subscriber/uid/7/", "", &limited).await;
    assert_eq!(reply.status, 429, "{reply:?}");
    let retry: u64 = reply.header("retry-after").expect("Retry-After").parse().unwrap();
    assert!((1..=30).contains(&retry), "{retry}");
    assert!(reply.json()["error"].as_str().unwrap().contains("rate limit of 2/min per caller"), "{}", reply.body);
    let reply =
        call(&server, "POST", "/v1/tokens", r#"{"service":"rtc","channel":"lobby-1","uid":7,"expire":60}"#, &limited)
            .await;
    assert_eq!(reply.status, 429);
    assert_eq!(reply.error()["code"], "rate_limited");
    assert!(reply.header("retry-after").is_some());
    // Limits are per caller: the backend key is not affected.
    let reply = call(&server, "GET", "/rtc/lobby-1/subscriber/uid/7/", "", &[("X-Api-Key", BACKEND_KEY)]).await;
    assert_eq!(reply.status, 200);
    server.stop().await.unwrap();
}
