//! The per-address rate limit (before the route runs), and the client address behind a proxy.

use crate::common::*;
use crate::support::*;

#[tokio::test]
async fn per_address_limit_is_429_with_retry_after() {
    let dir = temp_dir("per-ip");
    let server = start(toml_config(&dir, "", "per_ip_rate_limit = \"3/min\"")).await;
    let body = r#"{"service":"rtc","channel":"room-1","uid":42}"#;
    for _ in 0..3 {
        assert_eq!(server.post_json("/v1/tokens", body).await.status, 200);
    }
    let reply = server.post_json("/v1/tokens", body).await;
    assert_eq!(reply.status, 429, "{reply:?}");
    let retry: u64 = reply.header("retry-after").expect("Retry-After").parse().unwrap();
    assert!((1..=20).contains(&retry), "{retry}");
    assert_eq!(reply.error()["code"], "rate_limited");
    assert!(reply.error()["message"].as_str().unwrap().contains("per client address"));
    // Compatibility and verify routes count against the same address.
    assert_eq!(server.get("/rtc/room-1/publisher/uid/42/").await.status, 429);
    assert_eq!(server.post_json("/v1/tokens/verify", "{}").await.status, 429);
    // Operations and the web client do not.
    for path in ["/healthz", "/readyz", "/metrics", "/", "/ping"] {
        assert_eq!(server.get(path).await.status, 200, "{path}");
    }
    let metrics = server.get("/metrics").await.body;
    assert!(metrics.contains("status=\"429\""), "429s are counted");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn behind_a_proxy_the_configured_header_names_the_client() {
    let dir = temp_dir("per-ip-proxy");
    let server =
        start(toml_config(&dir, "", "per_ip_rate_limit = \"1/min\"\nclient_ip_header = \"X-Forwarded-For\"")).await;
    let send = |xff: &'static str| {
        let server = &server;
        async move {
            server
                .send(
                    "POST",
                    "/v1/tokens",
                    &[("Content-Type", "application/json"), ("X-Forwarded-For", xff)],
                    br#"{"service":"fpa"}"#,
                )
                .await
                .status
        }
    };
    // The last entry is the one the proxy appended: a client cannot pick its own bucket.
    assert_eq!(send("203.0.113.9, 198.51.100.1").await, 200);
    assert_eq!(send("203.0.113.10, 198.51.100.1").await, 429);
    assert_eq!(send("198.51.100.2").await, 200);
    server.stop().await.unwrap();
}
