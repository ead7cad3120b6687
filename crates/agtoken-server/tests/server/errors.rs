//! Bad input: each gets its status and a message that names the field. Never a 500.

use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn fetch_rtc_token_bad_input() {
    let server = start(config()).await;
    let cases: &[(&str, Option<&str>, &str)] = &[
        // (body, field named, words in the message)
        (r#"{"uid":"abc","ChannelName":"c","role":1}"#, Some("uid"), "whole number"),
        (r#"{"uid":4294967296,"ChannelName":"c","role":1}"#, Some("uid"), "out of range"),
        (r#"{"uid":-1,"ChannelName":"c","role":1}"#, Some("uid"), "negative"),
        (r#"{"uid":1.5,"ChannelName":"c","role":1}"#, Some("uid"), "whole number"),
        (r#"{"uid":1,"ChannelName":5,"role":1}"#, Some("ChannelName"), "string"),
        (r#"{"uid":1,"ChannelName":"c","role":3}"#, Some("role"), "publisher"),
        (r#"{"uid":1,"ChannelName":"c","role":"1"}"#, Some("role"), "whole number"),
        (r#"{"uid":1,"role":1}"#, Some("ChannelName"), "required"),
        (r#"{"uid":1,"ChannelName":"a/b","role":1}"#, Some("ChannelName"), "may contain only"),
        (
            &r#"{"uid":1,"ChannelName":"CHANNEL","role":1}"#.replace("CHANNEL", &"x".repeat(64)),
            Some("ChannelName"),
            "64 bytes",
        ),
        (r#"{"uid":1,"ChannelName":"c""#, None, "Bad request"),
        (r#"{uid:1}"#, None, "Bad request"),
        (r#"[1,2]"#, None, "object"),
        ("", None, "JSON object"),
    ];
    for (body, field, words) in cases {
        let reply = server.post_json("/fetch_rtc_token", body).await;
        assert_eq!(reply.status, 400, "{body}: {}", reply.body);
        let answer = reply.json();
        assert_eq!(answer["code"], "400", "{body}");
        assert_eq!(answer["field"].as_str(), *field, "{body}: {answer}");
        assert!(answer["message"].as_str().unwrap().contains(words), "{body}: {answer}");
    }
    let reply = server.get("/fetch_rtc_token").await;
    assert_eq!(reply.status, 405);
    assert_eq!(reply.error()["code"], "method_not_allowed");
    let reply = server.send("PUT", "/fetch_rtc_token", &[], b"{}").await;
    assert_eq!(reply.status, 405);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn huge_bodies_are_413_everywhere() {
    let server = start(config()).await;
    let huge = format!(r#"{{"uid":1,"ChannelName":"c","role":1,"pad":"{}"}}"#, "x".repeat(20_000));
    let posts = post_routes(&server).await;
    assert!(posts.len() >= 7, "{posts:?}");
    for path in &posts {
        let reply = server.post_json(path, &huge).await;
        assert_eq!(reply.status, 413, "{path}: {}", reply.body);
        assert!(reply.body.contains("16384"), "{path}: {}", reply.body);
    }
    let reply = server.post_json("/v1/tokens", &huge).await;
    assert_eq!(reply.error()["code"], "payload_too_large");
    // Chunked, without a Content-Length: the limit still holds.
    let mut raw = format!("POST /v1/tokens HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n", huge.len()).into_bytes();
    raw.extend_from_slice(huge.as_bytes());
    raw.extend_from_slice(b"\r\n0\r\n\r\n");
    let reply = exchange(server.addr, &raw).await;
    assert_eq!(reply.status, 413, "{}", reply.body);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn unknown_routes_and_wrong_methods() {
    let server = start(config()).await;
    for path in ["/nope", "/v1/token", "/rtc/a/b/c", "/v2/tokens", "/fetch_rtc_token/x"] {
        let reply = server.get(path).await;
        assert_eq!(reply.status, 404, "{path}");
        let error = reply.error();
        assert_eq!(error["code"], "not_found");
        assert!(error["message"].as_str().unwrap().contains(path.split('?').next().unwrap()));
    }
    for (method, path) in [
        ("GET", "/v1/tokens"),
        ("DELETE", "/v1/tokens"),
        ("POST", "/healthz"),
        ("POST", "/rtm/bob/"),
        ("GET", "/getToken"),
    ] {
        let reply = server.send(method, path, &[], b"").await;
        assert_eq!(reply.status, 405, "{method} {path}");
        assert_eq!(reply.error()["code"], "method_not_allowed");
        assert!(reply.header("allow").is_some(), "{method} {path}");
    }
    server.stop().await.unwrap();
}

#[tokio::test]
async fn v1_bad_input_names_the_field() {
    let server = start(two_apps()).await;
    let cases: &[(&str, u16, &str, Option<&str>)] = &[
        // (body, status, code, field)
        (r#"{"service": "rtc", "channel": "c", "uid": 1"#, 400, "invalid_json", None),
        (r#"[]"#, 400, "invalid_json", None),
        (r#"{"service": "rtc", "channel": "c", "uid": "abc"}"#, 400, "invalid_type", Some("uid")),
        (r#"{"service": "rtc", "channel": 7, "uid": 1}"#, 400, "invalid_type", Some("channel")),
        (r#"{"service": "rtc", "channel": "c", "uid": 4294967296}"#, 400, "out_of_range", Some("uid")),
        (r#"{"service": "rtc", "channel": "c", "uid": -3}"#, 400, "out_of_range", Some("uid")),
        (r#"{"service": "rtc", "channel": "c", "uid": 1, "expire": 99999999999}"#, 400, "out_of_range", Some("expire")),
        (r#"{"service": "rtc", "channel": "c", "uid": 1, "expire": 90000}"#, 422, "invalid_value", Some("expire")),
        (r#"{"service": "rtc", "channel": "c", "uid": 1, "expire": 0}"#, 422, "invalid_value", Some("expire")),
        (r#"{"service": "rtc", "channel": "a/b", "uid": 1}"#, 422, "invalid_value", Some("channel")),
        (r#"{"service": "rtc", "channel": "c", "account": ""}"#, 422, "invalid_value", Some("account")),
        (r#"{"service": "rtc", "channel": "c", "uid": 1, "account": "a"}"#, 422, "invalid_value", Some("account")),
        (r#"{"service": "rtc", "channel": "c"}"#, 422, "missing_field", Some("uid")),
        (r#"{"service": "rtc", "uid": 1}"#, 422, "missing_field", Some("channel")),
        (r#"{"service": "rtc", "channel": "c", "uid": 1, "role": "admin"}"#, 422, "invalid_value", Some("role")),
        (r#"{"service": "rtc", "channel": "c", "uid": 1, "chanel": "d"}"#, 400, "unknown_field", Some("chanel")),
        (r#"{"service": "rtm", "user_id": "u", "channel": "c"}"#, 400, "unknown_field", Some("channel")),
        (r#"{"service": "rtm"}"#, 422, "missing_field", Some("user_id")),
        (r#"{"service": "chat", "user_id": "u", "version": "006"}"#, 422, "invalid_value", Some("version")),
        (r#"{"service": "video"}"#, 422, "invalid_value", Some("service")),
        (r#"{}"#, 422, "missing_field", Some("service")),
        (
            r#"{"service": "rtm", "user_id": "u", "app_id": "ffffffffffffffffffffffffffffffff"}"#,
            422,
            "unknown_app",
            Some("app_id"),
        ),
        (r#"{"structure": {"services": []}}"#, 422, "missing_field", Some("structure.services")),
        (
            r#"{"structure": {"services": [{"name": "rtc", "privileges": {"x": 1}}]}}"#,
            422,
            "invalid_value",
            Some("structure.services[0].privileges.x"),
        ),
        (
            r#"{"structure": {"app_certificate": "5CFd2fd1755d40ecb72977518be15d3b", "services": [{"name": "fpa"}]}}"#,
            422,
            "invalid_value",
            Some("structure.app_certificate"),
        ),
        (
            r#"{"structure": {"expire": 86401, "services": [{"name": "fpa"}]}}"#,
            422,
            "invalid_value",
            Some("structure.expire"),
        ),
        (
            r#"{"structure": {"issue_ts": 4000000000, "services": [{"name": "fpa"}]}}"#,
            422,
            "invalid_value",
            Some("structure.issue_ts"),
        ),
        (r#"{"structure": {"services": [{"name": "fpa"}]}, "service": "rtc"}"#, 400, "unknown_field", Some("service")),
    ];
    for (body, status, code, field) in cases {
        let reply = server.post_json("/v1/tokens", body).await;
        assert_eq!(reply.status, *status, "{body}: {}", reply.body);
        let error = reply.error();
        assert_eq!(error["code"], *code, "{body}: {error}");
        assert_eq!(error["field"].as_str(), *field, "{body}: {error}");
        let message = error["message"].as_str().unwrap();
        if let Some(field) = field {
            assert!(message.contains(field), "{body}: {message}");
        }
        assert!(!message.contains("5CFd2fd1755d"), "{message}");
    }
    // The media type.
    let reply = server.post("/v1/tokens", Some("text/plain"), r#"{"service": "fpa"}"#).await;
    assert_eq!((reply.status, reply.error()["code"].clone()), (415, json!("unsupported_media_type")));
    let reply = server.post("/v1/tokens", None, r#"{"service": "fpa"}"#).await;
    assert_eq!(reply.status, 415);
    let reply = server.post("/v1/tokens", Some("application/json; charset=utf-8"), r#"{"service": "fpa"}"#).await;
    assert_eq!(reply.status, 200);

    // inspect and verify.
    let reply = server.post_json("/v1/tokens/inspect", r#"{"token": "007garbage"}"#).await;
    assert_eq!(
        (reply.status, reply.error()["code"].clone(), reply.error()["field"].clone()),
        (422, json!("invalid_token"), json!("token"))
    );
    let reply = server.post_json("/v1/tokens/inspect", r#"{}"#).await;
    assert_eq!((reply.status, reply.error()["field"].clone()), (422, json!("token")));
    let reply = server.post_json("/v1/tokens/verify", r#"{"token": "x", "action": "fly"}"#).await;
    assert_eq!((reply.status, reply.error()["field"].clone()), (422, json!("action")));
    let reply = server.post_json("/v1/tokens/verify", r#"{"token": "x", "action": "join", "channel": "c"}"#).await;
    assert_eq!((reply.status, reply.error()["field"].clone()), (422, json!("uid")));
    let reply = server
        .post_json(
            "/v1/tokens/verify",
            r#"{"token": "x", "action": "join", "channel": "c", "uid": 1, "at": "yesterday"}"#,
        )
        .await;
    assert_eq!((reply.status, reply.error()["field"].clone()), (422, json!("at")));
    server.stop().await.unwrap();
}

#[tokio::test]
async fn compat_routes_keep_their_error_shapes() {
    let server = start(config()).await;
    // The Docker generator: {"code": -1 | -2, "message", "data": ""}.
    let reply = server.post_json("/token/generate", r#"{"channelName": "c", "tokenExpireTs": "soon"}"#).await;
    assert_eq!(reply.status, 400);
    let body = reply.json();
    assert_eq!(body["code"], -1);
    assert!(body["message"].as_str().unwrap().contains("tokenExpireTs"), "{body}");
    let reply = server.post_json("/token/generate", r#"{"channelName": "c"}"#).await;
    assert_eq!((reply.status, reply.json()["code"].clone()), (400, json!(-2)));
    let reply = server.post_json("/token/generate", r#"{"channelName": "a/b", "serviceRtc": {"enable": true}}"#).await;
    assert_eq!(reply.status, 400);
    assert!(reply.json()["message"].as_str().unwrap().contains("channelName"));
    let reply = server
        .post_json("/token/generate", r#"{"channelName": "c", "tokenExpireTs": 86401, "serviceRtc": {"enable": true}}"#)
        .await;
    assert_eq!((reply.status, reply.json()["code"].clone()), (400, json!(-1)));
    let reply = server.post_json("/token/generate", "nope").await;
    assert_eq!((reply.status, reply.json()["code"].clone()), (400, json!(-1)));

    // The community service: {"message" | "error", "status": 400}.
    for (path, words) in [
        ("/rtc/c/publisher/uid/abc/", "uid"),
        ("/rtc/c/publisher/uid/4294967296/", "uid"),
        ("/rtc/c/host/uid/1/", "role"),
        ("/rtc/c/publisher/userid/1/", "tokentype"),
        ("/rtc/c/publisher/uid/1/?expiry=soon", "expiry"),
        ("/rtc/c/publisher/uid/1/?expiry=0", "expiry"),
        ("/rtc/c/publisher/uid/1/?expiry=90000", "expiry"),
        ("/rtm/0/", "RTM User ID"),
        ("/rte/c/publisher/uid/0/", "rtm user ID"),
    ] {
        let reply = server.get(path).await;
        assert_eq!(reply.status, 400, "{path}: {}", reply.body);
        let body = reply.json();
        assert_eq!(body["status"], 400);
        assert!(body["message"].as_str().unwrap().contains(words), "{path}: {body}");
    }
    let reply = server.get("/rtc/a%2Fb/publisher/uid/1/").await;
    assert_eq!(reply.status, 400);
    assert!(reply.json()["error"].as_str().unwrap().contains("channelName"), "{}", reply.body);
    let reply = server.post_json("/getToken", r#"{"tokenType": "video"}"#).await;
    assert_eq!((reply.status, reply.json()["error"].clone()), (400, json!("Unsupported tokenType")));
    let reply = server.post_json("/getToken", r#"{"tokenType": "rtc", "uid": "1"}"#).await;
    assert!(reply.json()["error"].as_str().unwrap().contains("channel"));
    let reply =
        server.post_json("/getToken", r#"{"tokenType": "rtc", "channel": "c", "uid": "1", "expire": -5}"#).await;
    assert_eq!(reply.status, 400);
    assert!(reply.json()["error"].as_str().unwrap().contains("expire"));

    // The Spring server: plain text.
    let reply = server.get("/rtc/c/abc/1/token").await;
    assert_eq!(reply.status, 400);
    assert!(reply.body.contains("uid"));
    let reply = server.get("/rtc/c/1/9/token").await;
    assert_eq!(reply.status, 400);
    assert!(reply.body.contains("role"));
    server.stop().await.unwrap();
}

#[tokio::test]
async fn slow_requests_time_out_with_408() {
    let mut cfg = config();
    cfg.request_timeout = std::time::Duration::from_millis(300);
    let server = start(cfg).await;
    // A body announced but never sent.
    let raw =
        b"POST /v1/tokens HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"se";
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut stream, raw).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n =
        tokio::time::timeout(std::time::Duration::from_secs(5), tokio::io::AsyncReadExt::read(&mut stream, &mut buf))
            .await
            .expect("answered")
            .unwrap();
    let reply = Reply::parse(&buf[..n]);
    assert_eq!(reply.status, 408);
    assert_eq!(reply.error()["code"], "timeout");
    server.stop().await.unwrap();
}

/// Arbitrary bodies and paths: never a 5xx, never a dropped connection.
#[tokio::test]
async fn arbitrary_input_never_gives_5xx() {
    let server = start(config()).await;
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let fragments: &[&str] = &[
        "{",
        "}",
        "[",
        "]",
        ",",
        ":",
        "\"",
        "\"uid\"",
        "\"ChannelName\"",
        "\"role\"",
        "\"service\"",
        "\"rtc\"",
        "\"structure\"",
        "\"services\"",
        "\"token\"",
        "\"action\"",
        "\"join\"",
        "\"channel\"",
        "\"privileges\"",
        "\"serviceRtc\"",
        "\"enable\"",
        "true",
        "null",
        "0",
        "1",
        "-1",
        "4294967296",
        "1e999",
        "1.5",
        "\"007\"",
        "\"006\"",
        "\"\\u0000\"",
        "\"é\"",
        "\"a/b\"",
        " ",
        "\"tokenType\"",
        "\"expire\"",
        "\"x\"",
    ];
    let posts = post_routes(&server).await;
    for i in 0..600 {
        let n = (next() % 24) as usize;
        let body: String = (0..n).map(|_| fragments[(next() % fragments.len() as u64) as usize]).collect();
        let path = &posts[i % posts.len()];
        let reply = server.post_json(path, &body).await;
        assert!(reply.status < 500, "{path} {body:?}: {} {}", reply.status, reply.body);
    }
    let segments =
        ["a", "0", "1", "2", "publisher", "uid", "userAccount", "token", "%FF", "%20", "é", "*", "4294967296"];
    for _ in 0..300 {
        let depth = 1 + (next() % 6) as usize;
        let mut path = String::new();
        for d in 0..depth {
            path.push('/');
            path.push_str(if d == 0 {
                ["rtc", "rtm", "rte", "chat", "v1"][(next() % 5) as usize]
            } else {
                segments[(next() % segments.len() as u64) as usize]
            });
        }
        if next() % 2 == 0 {
            path.push('/');
        }
        let reply = server.get(&path).await;
        assert!(reply.status < 500, "{path}: {} {}", reply.status, reply.body);
    }
    server.stop().await.unwrap();
}

/// Every POST route the server declares, from its own OpenAPI document (derived from its route
/// table): a new route is covered with no edit here.
async fn post_routes(server: &Server) -> Vec<String> {
    let document = server.get("/openapi.json").await.json();
    let paths = document["paths"].as_object().expect("paths");
    paths.iter().filter(|(_, item)| item.get("post").is_some()).map(|(path, _)| path.clone()).collect()
}
