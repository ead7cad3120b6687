//! What the server logs about its rate-limit store, captured by a global subscriber at TRACE
//! level (its own test binary): the store is named without its password (given in the URL or
//! in a file), its loss and its return are each said once, and no line holds the password.

#[path = "support/capture.rs"]
mod capture;
#[allow(dead_code)]
#[path = "server/common.rs"]
mod common;
use capture::Capture;
#[allow(dead_code)]
#[path = "security/redis_server.rs"]
mod redis_server;
#[allow(dead_code)]
#[path = "security/support.rs"]
mod support;

use std::time::{Duration, Instant};

use common::*;
use redis_server::Redis;
use support::*;

const PASSWORD: &str = "redis-password-for-the-log-test-7f3a9c";
const KEY: &str = "agtk_logs_store_0123456789abcdef0123456789abcdef0123456789abcd";

async fn until_up(server: &Server) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let reply = server.get("/readyz").await;
        if reply.json()["limits_store"] == "up" {
            return;
        }
        assert!(Instant::now() < deadline, "the store did not come up within 15 s: {reply:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn the_store_is_logged_without_its_password() {
    let Some(mut redis) = Redis::start(&["--requirepass", PASSWORD]) else { return };
    let capture = Capture::install_at(tracing::Level::TRACE);

    let settings = format!(
        "auth = \"api_key\"\nrate_limit = \"100/min\"\n[[apps.api_keys]]\nname = \"backend\"\nsha256 = \"{}\"\n\
         [[apps.policy]]\nname = \"backend\"\napi_keys = [\"backend\"]\nservices = [\"rtc\"]\n",
        sha256_hex(KEY)
    );
    // One replica with the password in the URL, one with it in a file.
    let dir = temp_dir("store-logs-url");
    let in_url = format!("limits_store = \"redis://:{PASSWORD}@127.0.0.1:{}\"", redis.port);
    let first = start(toml_config(&dir, &settings, &in_url)).await;
    let dir = temp_dir("store-logs-file");
    write_secret(&dir, "redis-password", PASSWORD);
    let in_file = format!("limits_store = \"{}\"\nlimits_store_password_file = \"redis-password\"", redis.url());
    let second = start(toml_config(&dir, &settings, &in_file)).await;
    for server in [&first, &second] {
        until_up(server).await;
    }

    let headers = [("Content-Type", "application/json"), ("X-Api-Key", KEY)];
    let body = br#"{"service":"rtc","channel":"room-1","uid":42}"#;
    for server in [&first, &second] {
        assert_eq!(server.send("POST", "/v1/tokens", &headers, body).await.status, 200);
    }
    let captured = || capture.text();
    let before_kill = captured().len();
    redis.kill();
    for server in [&first, &second] {
        for _ in 0..3 {
            assert_eq!(server.send("POST", "/v1/tokens", &headers, body).await.status, 200, "fallback local");
        }
        assert_eq!(server.get("/readyz").await.json()["limits_store"], "down");
    }
    let before_restart = captured().len();
    redis.restart();
    for server in [&first, &second] {
        until_up(server).await;
        assert_eq!(server.send("POST", "/v1/tokens", &headers, body).await.status, 200);
    }
    first.stop().await.unwrap();
    second.stop().await.unwrap();

    let text = captured();
    assert!(!text.contains(PASSWORD), "the store's password was logged");
    assert!(!text.contains(KEY), "an API key was logged");
    let named = format!("redis://127.0.0.1:{}/0", redis.port);
    let lines = |from: usize, to: usize, what: &str| -> Vec<String> {
        text[from..to].lines().filter(|l| l.contains(what)).map(str::to_owned).collect()
    };
    let lost = lines(before_kill, before_restart, "rate-limit store unreachable");
    let back = lines(before_restart, text.len(), "rate-limit store reachable again");
    assert_eq!(lost.len(), 2, "once per replica, however many requests:\n{text}");
    assert!(back.len() >= 2, "{text}");
    for line in lost.iter().chain(&back) {
        assert!(line.contains(&named), "{line}");
    }
    assert!(lost.iter().all(|l| l.contains("\"fallback\":\"local\"")), "{lost:?}");
    let started: Vec<&str> = text.lines().filter(|l| l.contains("rate limits are counted in this store")).collect();
    assert_eq!(started.len(), 2, "{text}");
    assert!(started.iter().all(|l| l.contains(&named) && l.contains("\"timeout_ms\":100")), "{started:?}");
}
