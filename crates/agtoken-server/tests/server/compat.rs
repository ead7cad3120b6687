//! One test per client of the docs' servers, sending what that client sends, and checking
//! the answer with the library's verifier.

use agtoken::{Action, Error, Token, Uid, Version};

use crate::common::*;

// ---- 1. the docs' Go sample server ---------------------------------------------------------

#[tokio::test]
async fn docs_web_client_fetch_rtc_token() {
    let server = start(config()).await;
    // The docs' web client: fetch(url, {method: "POST", headers: {"Content-Type": "application/json"},
    // body: JSON.stringify({uid: 0, channelName: "test", role: 1})}) from another origin.
    let reply = server
        .send(
            "POST",
            "/fetch_rtc_token",
            &[("Content-Type", "application/json"), ("Origin", "http://localhost:3000")],
            br#"{"uid":0,"channelName":"test","role":1}"#,
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(reply.header("access-control-allow-origin"), Some("*"));
    let body = reply.json();
    assert_eq!(body["code"], "200");
    let token = body["token"].as_str().unwrap();
    // uid 0: any uid may join; role 1: may publish; default compatibility lifetime 3600 s.
    let admitted = admit(token, &join("test", Uid::Int(987654))).unwrap();
    assert_expires_in(&admitted, 3600);
    admit(token, &publish("test", Uid::Int(987654))).unwrap();
    assert!(matches!(admit(token, &join("other", Uid::Int(1))), Err(Error::ChannelMismatch { .. })));
    server.stop().await.unwrap();
}

#[tokio::test]
async fn docs_android_client_fetch_rtc_token() {
    let mut cfg = config();
    cfg.apps[0].compat_lifetime = 40; // the docs' demo lifetime, so that renewals show
    let server = start(cfg).await;
    // The docs' Android client (OkHttp): JSON with ChannelName, charset in the media type.
    let reply = server
        .post("/fetch_rtc_token", Some("application/json; charset=utf-8"), r#"{"uid":1234,"ChannelName":"x","role":1}"#)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let token = reply.json()["token"].as_str().unwrap().to_owned();
    let admitted = admit(&token, &join("x", Uid::Int(1234))).unwrap();
    assert_expires_in(&admitted, 40);
    admit(&token, &publish("x", Uid::Int(1234))).unwrap();
    assert!(matches!(admit(&token, &join("x", Uid::Int(1235))), Err(Error::UidMismatch { .. })));
    assert!(matches!(admit(&token, &join("y", Uid::Int(1234))), Err(Error::ChannelMismatch { .. })));
    server.stop().await.unwrap();
}

#[tokio::test]
async fn fetch_rtc_token_roles_and_field_case() {
    let server = start(config()).await;
    // role 2: join only.
    let reply = server.post_json("/fetch_rtc_token", r#"{"UID":5,"channelname":"c","ROLE":2}"#).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let token = reply.json()["token"].as_str().unwrap().to_owned();
    admit(&token, &join("c", Uid::Int(5))).unwrap();
    assert!(matches!(admit(&token, &publish("c", Uid::Int(5))), Err(Error::MissingPrivilege { .. })));
    // 0 and 101 (deprecated) behave as publisher; a missing role is 0.
    for body in [
        r#"{"uid":5,"ChannelName":"c","role":0}"#,
        r#"{"uid":5,"ChannelName":"c","role":101}"#,
        r#"{"uid":5,"ChannelName":"c"}"#,
    ] {
        let reply = server.post_json("/fetch_rtc_token", body).await;
        assert_eq!(reply.status, 200, "{body}: {}", reply.body);
        admit(reply.json()["token"].as_str().unwrap(), &publish("c", Uid::Int(5))).unwrap();
    }
    // Unknown fields are ignored and the Content-Type does not matter, as in Go.
    let reply =
        server.post("/fetch_rtc_token", None, r#"{"uid":5,"ChannelName":"c","role":1,"extra":[1,{"a":2}]}"#).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    // CORS preflight.
    let reply = server
        .send(
            "OPTIONS",
            "/fetch_rtc_token",
            &[
                ("Origin", "http://localhost:3000"),
                ("Access-Control-Request-Method", "POST"),
                ("Access-Control-Request-Headers", "content-type"),
            ],
            b"",
        )
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("access-control-allow-origin"), Some("*"));
    assert!(reply.header("access-control-allow-methods").unwrap().contains("POST"));
    assert!(reply.header("access-control-allow-headers").unwrap().contains("content-type"));
    server.stop().await.unwrap();
}

#[tokio::test]
async fn legacy_fleet_gets_006_tokens() {
    let mut cfg = config();
    cfg.apps[0].token_version = Version::V006;
    let server = start(cfg).await;
    let reply = server.post_json("/fetch_rtc_token", r#"{"uid":1234,"ChannelName":"x","role":1}"#).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let token = reply.json()["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("006"));
    let admitted = admit(&token, &publish("x", Uid::Int(1234))).unwrap();
    assert_expires_in(&admitted, 3600);
    assert!(admit(&token, &join("x", Uid::Int(1))).is_err());
    server.stop().await.unwrap();
}

#[tokio::test]
async fn cors_origins_from_configuration() {
    let mut cfg = config();
    cfg.cors = agtoken_server::CorsOrigins::List(vec!["https://app.example.com".into()]);
    let server = start(cfg).await;
    let body = br#"{"uid":1,"ChannelName":"c","role":1}"#;
    let ok = server.send("POST", "/fetch_rtc_token", &[("Origin", "https://app.example.com")], body).await;
    assert_eq!(ok.header("access-control-allow-origin"), Some("https://app.example.com"));
    let other = server.send("POST", "/fetch_rtc_token", &[("Origin", "https://evil.example")], body).await;
    assert_eq!(other.header("access-control-allow-origin"), None);
    server.stop().await.unwrap();
}

// ---- 2. the docs' Docker token generator ------------------------------------------------------

#[tokio::test]
async fn docker_generator_rtc_and_rtm() {
    let server = start(config()).await;
    // The curl command of the generator's README.
    let reply = server
        .post_json(
            "/token/generate",
            r#"{
                "channelName": "channel_name_test",
                "uid": "12345678",
                "tokenExpireTs": 3600,
                "privilegeExpireTs": 3600,
                "serviceRtc": {"enable": true, "role": 1},
                "serviceRtm": {"enable": true}
            }"#,
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let body = reply.json();
    assert_eq!(body["code"], 0);
    assert_eq!(body["message"], "Success");
    let token = body["data"]["token"].as_str().unwrap();
    let admitted = admit(token, &publish("channel_name_test", Uid::Int(12345678))).unwrap();
    assert_expires_in(&admitted, 3600);
    admit(token, &Action::RtmLogin { user_id: "12345678".into() }).unwrap();
    assert!(admit(token, &join("channel_name_test", Uid::Int(1))).is_err());
    server.stop().await.unwrap();
}

#[tokio::test]
async fn docker_generator_every_service_in_one_token() {
    let server = start(config()).await;
    let reply = server
        .post_json(
            "/token/generate",
            r#"{"channelName": "c", "uid": "alice", "tokenExpireTs": 600, "privilegeExpireTs": 300,
                "serviceRtc": {"enable": true, "role": 2}, "serviceRtm": {"enable": true},
                "serviceFpa": {"enable": true},
                "serviceChat": {"enableUser": true, "enableApp": true, "userUuid": "alice"},
                "serviceApaas": {"enableUser": true, "enableApp": true, "userUuid": "alice"}}"#,
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let token = reply.json()["data"]["token"].as_str().unwrap().to_owned();
    // The RTC privileges last 300 s, the token 600 s.
    let admitted = admit(&token, &join("c", Uid::Account("alice".into()))).unwrap();
    assert_expires_in(&admitted, 300);
    assert!(matches!(admit(&token, &publish("c", Uid::Account("alice".into()))), Err(Error::MissingPrivilege { .. })));
    admit(&token, &Action::ChatLogin { user_id: "alice".into() }).unwrap();
    admit(&token, &Action::ChatApp).unwrap();
    let Token::V007(parsed) = Token::parse(&token).unwrap() else { panic!("007") };
    let types: Vec<u16> = parsed.structure().services.iter().map(|s| s.type_code()).collect();
    assert_eq!(types, vec![1, 2, 4, 5, 5, 7, 7]);
    assert_eq!(parsed.structure().expire, 600);
    // serviceEducation is the generator's own name for it.
    let reply =
        server.post_json("/token/generate", r#"{"serviceEducation": {"enableApp": true}, "tokenExpireTs": 60}"#).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    server.stop().await.unwrap();
}

// ---- 3. the community token service ------------------------------------------------------------

#[tokio::test]
async fn community_rtc_routes() {
    let server = start(config()).await;
    // With and without the trailing slash; role as a word or as the number the docs' Android client sends.
    for path in ["/rtc/test/publisher/uid/123/?expiry=600", "/rtc/test/1/uid/123?expiry=600"] {
        let reply = server.get(path).await;
        assert_eq!(reply.status, 200, "{path}: {}", reply.body);
        let token = reply.json()["rtcToken"].as_str().unwrap().to_owned();
        let admitted = admit(&token, &publish("test", Uid::Int(123))).unwrap();
        assert_expires_in(&admitted, 600);
    }
    let reply = server.get("/rtc/test/subscriber/userAccount/alice/").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let token = reply.json()["rtcToken"].as_str().unwrap().to_owned();
    let admitted = admit(&token, &join("test", Uid::Account("alice".into()))).unwrap();
    assert_expires_in(&admitted, 3600);
    assert!(admit(&token, &publish("test", Uid::Account("alice".into()))).is_err());
    // Channel names with characters that need percent-encoding in a path.
    let reply = server.get("/rtc/room%201%23/2/uid/0/").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    admit(reply.json()["rtcToken"].as_str().unwrap(), &join("room 1#", Uid::Int(42))).unwrap();
    server.stop().await.unwrap();
}

#[tokio::test]
async fn community_rtm_rte_chat_ping() {
    let server = start(config()).await;
    let reply = server.get("/rtm/bob/?expiry=120").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let admitted =
        admit(reply.json()["rtmToken"].as_str().unwrap(), &Action::RtmLogin { user_id: "bob".into() }).unwrap();
    assert_expires_in(&admitted, 120);

    let reply = server.get("/rte/test/publisher/uid/123/").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let body = reply.json();
    admit(body["rtcToken"].as_str().unwrap(), &publish("test", Uid::Int(123))).unwrap();
    admit(body["rtmToken"].as_str().unwrap(), &Action::RtmLogin { user_id: "123".into() }).unwrap();

    let reply = server.get("/rte/test/publisher/uid/123/bob").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    admit(reply.json()["rtmToken"].as_str().unwrap(), &Action::RtmLogin { user_id: "bob".into() }).unwrap();

    for path in ["/chat/app/", "/chat/app"] {
        let reply = server.get(path).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        admit(reply.json()["chatToken"].as_str().unwrap(), &Action::ChatApp).unwrap();
    }
    let reply = server.get("/chat/account/bob/?expiry=60").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let admitted =
        admit(reply.json()["chatToken"].as_str().unwrap(), &Action::ChatLogin { user_id: "bob".into() }).unwrap();
    assert_expires_in(&admitted, 60);

    let reply = server.get("/ping").await;
    assert_eq!((reply.status, reply.json()), (200, serde_json::json!({"message": "pong"})));
    server.stop().await.unwrap();
}

#[tokio::test]
async fn community_get_token() {
    let server = start(config()).await;
    // The curl example of the service's README.
    let reply = server
        .post_json(
            "/getToken",
            r#"{"tokenType": "rtc", "channel": "my-video-channel", "role": "publisher", "uid": "user123", "expire": 3600}"#,
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let token = reply.json()["token"].as_str().unwrap().to_owned();
    admit(&token, &publish("my-video-channel", Uid::Account("user123".into()))).unwrap();
    // Digits are an integer uid.
    let reply = server.post_json("/getToken", r#"{"tokenType": "rtc", "channel": "c", "uid": "42"}"#).await;
    admit(reply.json()["token"].as_str().unwrap(), &join("c", Uid::Int(42))).unwrap();
    let reply = server.post_json("/getToken", r#"{"tokenType": "rtm", "uid": "bob", "expire": 90}"#).await;
    let admitted = admit(reply.json()["token"].as_str().unwrap(), &Action::RtmLogin { user_id: "bob".into() }).unwrap();
    assert_expires_in(&admitted, 90);
    let reply = server.post_json("/getToken", r#"{"tokenType": "chat"}"#).await;
    admit(reply.json()["token"].as_str().unwrap(), &Action::ChatApp).unwrap();
    let reply = server.post_json("/getToken", r#"{"tokenType": "chat", "uid": "bob"}"#).await;
    admit(reply.json()["token"].as_str().unwrap(), &Action::ChatLogin { user_id: "bob".into() }).unwrap();
    server.stop().await.unwrap();
}

/// `POST /token/getNew` (the community Go backend middleware), each token type as its README's
/// client sends it; errors are Go's `http.Error`: plain text, status 400.
#[tokio::test]
async fn go_middleware_get_new() {
    let server = start(config()).await;
    let token = |reply: &Reply| {
        assert_eq!(reply.status, 200, "{reply:?}");
        assert!(reply.header("cache-control").unwrap().contains("no-store"), "{reply:?}");
        reply.json()["token"].as_str().unwrap().to_owned()
    };
    // RTC: an account, publisher; digits, no role (subscriber: join only); expire absent = 3600 s.
    let reply = server
        .post_json(
            "/token/getNew",
            r#"{"tokenType":"rtc","channel":"my-channel","role":"publisher","uid":"alice","expire":600}"#,
        )
        .await;
    let admitted = admit(&token(&reply), &publish("my-channel", Uid::Account("alice".into()))).unwrap();
    assert_expires_in(&admitted, 600);
    let reply = server.post_json("/token/getNew", r#"{"TokenType":"rtc","Channel":"c","UID":"42"}"#).await;
    let t = token(&reply);
    let admitted = admit(&t, &join("c", Uid::Int(42))).unwrap();
    assert_expires_in(&admitted, 3600);
    assert!(admit(&t, &publish("c", Uid::Int(42))).is_err(), "no role is subscriber");
    // Digits above 32 bits: the account of those digits (Go would truncate them to another uid).
    let reply = server.post_json("/token/getNew", r#"{"tokenType":"rtc","channel":"c","uid":"4294967296"}"#).await;
    admit(&token(&reply), &join("c", Uid::Account("4294967296".into()))).unwrap();
    // RTM without a channel: login only.
    let reply = server.post_json("/token/getNew", r#"{"tokenType":"rtm","uid":"bob"}"#).await;
    let t = token(&reply);
    admit(&t, &Action::RtmLogin { user_id: "bob".into() }).unwrap();
    assert!(admit(&t, &join("c", Uid::Account("bob".into()))).is_err());
    // RTM with a channel: also RTC join and data-stream publishing there, as the same user.
    let reply = server.post_json("/token/getNew", r#"{"tokenType":"rtm","uid":"bob","channel":"stream-1"}"#).await;
    let t = token(&reply);
    admit(&t, &Action::RtmLogin { user_id: "bob".into() }).unwrap();
    admit(&t, &join("stream-1", Uid::Account("bob".into()))).unwrap();
    let data =
        Action::Publish { channel: "stream-1".into(), uid: Uid::Account("bob".into()), media: agtoken::Media::Data };
    admit(&t, &data).unwrap();
    assert!(admit(&t, &publish("stream-1", Uid::Account("bob".into()))).is_err(), "no audio publishing");
    // Chat: an empty uid gives an app token, else a user token.
    let reply = server.post_json("/token/getNew", r#"{"tokenType":"chat"}"#).await;
    admit(&token(&reply), &Action::ChatApp).unwrap();
    let reply = server.post_json("/token/getNew", r#"{"tokenType":"chat","uid":"bob","expire":120}"#).await;
    let admitted = admit(&token(&reply), &Action::ChatLogin { user_id: "bob".into() }).unwrap();
    assert_expires_in(&admitted, 120);

    // Errors: plain text naming what is wrong.
    for (body, expected) in [
        (r#"{"tokenType":"video"}"#, "Unsupported tokenType"),
        (r#"{"tokenType":"rtc","uid":"42"}"#, "invalid: missing channel name"),
        (r#"{"tokenType":"rtc","channel":"c"}"#, "invalid: missing user ID or account"),
        (r#"{"tokenType":"rtm"}"#, "invalid: missing user ID or account"),
        (r#"{"tokenType":"rtc","channel":"c","uid":"1","role":"owner"}"#, "role: must be"),
        (r#"{"tokenType":"rtc","channel":"c","uid":"1","expire":"60"}"#, "expire"),
        (r#"["rtc"]"#, "the body must be a JSON object"),
        (r#"{"tokenType":"rtc""#, "invalid JSON"),
    ] {
        let reply = server.post_json("/token/getNew", body).await;
        assert_eq!(reply.status, 400, "{body}: {reply:?}");
        assert!(reply.header("content-type").unwrap().starts_with("text/plain"), "{body}: {reply:?}");
        assert!(reply.body.starts_with(expected) && reply.body.ends_with('\n'), "{body}: {:?}", reply.body);
    }
    server.stop().await.unwrap();
}

/// The community token service's `/getToken` shares the body and, like its RTM builder, adds RTC
/// data-stream publishing on a given channel to an RTM token.
#[tokio::test]
async fn get_token_rtm_with_a_channel_adds_the_data_stream() {
    let server = start(config()).await;
    let reply = server.post_json("/getToken", r#"{"tokenType":"rtm","uid":"bob","channel":"s"}"#).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let t = reply.json()["token"].as_str().unwrap().to_owned();
    admit(&t, &Action::RtmLogin { user_id: "bob".into() }).unwrap();
    let data = Action::Publish { channel: "s".into(), uid: Uid::Account("bob".into()), media: agtoken::Media::Data };
    admit(&t, &data).unwrap();
    let reply = server.post_json("/getToken", r#"{"tokenType":"video"}"#).await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json()["error"], "Unsupported tokenType", "JSON errors on /getToken");
    server.stop().await.unwrap();
}

/// `/fetch_rtc_token` names the channel field as the client spelled it.
#[tokio::test]
async fn fetch_rtc_token_messages_echo_the_clients_spelling() {
    let server = start(config()).await;
    for key in ["channelName", "ChannelName", "channelname"] {
        for value in [r#""a/b""#, r#""""#, "7"] {
            let body = format!(r#"{{"uid":1,"{key}":{value},"role":1}}"#);
            let reply = server.post_json("/fetch_rtc_token", &body).await;
            assert_eq!(reply.status, 400, "{body}: {reply:?}");
            let json = reply.json();
            assert_eq!(json["field"], key, "{body}: {json}");
            let message = json["message"].as_str().unwrap();
            assert!(message.contains(key), "{body}: {message}");
        }
    }
    server.stop().await.unwrap();
}

// ---- 4. the docs' Spring chat + RTC server -------------------------------------------------------

#[tokio::test]
async fn spring_server_plain_text_routes() {
    let server = start(config()).await;
    let reply = server.get("/rtc/test/123/1/token").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(reply.header("content-type").unwrap().starts_with("text/plain"));
    admit(&reply.body, &publish("test", Uid::Int(123))).unwrap();
    let reply = server.get("/rtc/test/123/2/token").await;
    assert!(admit(&reply.body, &publish("test", Uid::Int(123))).is_err());
    admit(&reply.body, &join("test", Uid::Int(123))).unwrap();

    let reply = server.get("/chat/app/token").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    admit(&reply.body, &Action::ChatApp).unwrap();
    let reply = server.get("/chat/user/tom/token").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let admitted = admit(&reply.body, &Action::ChatLogin { user_id: "tom".into() }).unwrap();
    assert_expires_in(&admitted, 3600);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn get_token_takes_a_numeric_role_and_the_generator_refuses_a_bare_chat_enable() {
    let server = start(config()).await;
    for (role, publishes) in [("1", true), ("2", false), ("\"1\"", true), ("\"publisher\"", true)] {
        let body = format!(r#"{{"tokenType":"rtc","channel":"room-1","uid":"42","role":{role},"expire":600}}"#);
        let reply = server.post_json("/getToken", &body).await;
        assert_eq!(reply.status, 200, "{body}: {reply:?}");
        let token = reply.json()["token"].as_str().unwrap().to_owned();
        assert!(admit(&token, &join("room-1", Uid::Int(42))).is_ok());
        assert_eq!(admit(&token, &publish("room-1", Uid::Int(42))).is_ok(), publishes, "{body}");
    }
    let reply =
        server.post_json("/getToken", r#"{"tokenType":"rtc","channel":"c","uid":"42","role":7,"expire":60}"#).await;
    assert_eq!(reply.status, 400, "{reply:?}");
    // The generator enables Chat per kind: a bare "enable" would have been ignored.
    for service in ["serviceChat", "serviceApaas"] {
        let body = format!(
            r#"{{"channelName":"c","uid":"42","serviceRtc":{{"enable":true,"role":1}},"{service}":{{"enable":true}}}}"#
        );
        let reply = server.post_json("/token/generate", &body).await;
        assert_eq!(reply.status, 400, "{body}: {reply:?}");
        let message = reply.json()["message"].as_str().unwrap().to_owned();
        assert!(message.contains(&format!("{service}.enable")) && message.contains("enableUser"), "{message}");
    }
    server.stop().await.unwrap();
}

// ---- Go's reading of keys, as the OpenAPI document states it -----------------------------------

#[tokio::test]
async fn every_spelling_of_a_key_is_read_as_go_reads_it() {
    let server = start(config()).await;
    // null leaves the field as it was (Go), so the channel given before it counts.
    let reply = server.post_json("/fetch_rtc_token", r#"{"ChannelName": "a", "channelName": null, "uid": 5}"#).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    admit(reply.json()["token"].as_str().unwrap(), &join("a", Uid::Int(5))).unwrap();
    // Go decodes every spelling: one that is not a channel name is refused, even if another counts
    // (and named as the client spelled it).
    let reply = server.post_json("/fetch_rtc_token", r#"{"channelname": "bad\u0001", "ChannelName": "a"}"#).await;
    assert_eq!(
        (reply.status, reply.json()["field"].clone()),
        (400, serde_json::json!("channelname")),
        "{}",
        reply.body
    );
    let reply = server.post_json("/fetch_rtc_token", r#"{"ChannelName": "a", "ROLE": 7, "role": 1}"#).await;
    assert_eq!(reply.status, 400, "{}", reply.body);

    // /getToken: a second spelling of uid with the wrong type is named.
    let body = r#"{"tokenType": "rtc", "channel": "c", "uid": "1234", "UID": 2.5}"#;
    let reply = server.post_json("/getToken", body).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(reply.json()["error"].as_str().unwrap().contains("UID"), "{}", reply.body);
    // ... and one that is valid on its own terms is accepted.
    let body = r#"{"tokenType": "rtc", "channel": "c", "uid": "1234", "UID": 99}"#;
    assert_eq!(server.post_json("/getToken", body).await.status, 200);

    // /token/generate: a disabled service's fields are decoded too (their types checked).
    let body = r#"{"serviceFpa": {"enable": true}, "serviceRtc": {"enable": false, "role": {}}}"#;
    let reply = server.post_json("/token/generate", body).await;
    assert_eq!((reply.status, reply.json()["code"].clone()), (400, serde_json::json!(-1)), "{}", reply.body);
    assert!(reply.body.contains("serviceRtc.role"), "{}", reply.body);

    // The community service's expiry: every value given is checked, the first counts.
    assert_eq!(server.get("/rtm/alice/?expiry=60&expireTime=abc").await.status, 400);
    assert_eq!(server.get("/rtm/alice/?expiry=60&expireTime=0").await.status, 400);
    let reply = server.get("/rtm/alice/?expiry=60&expireTime=120").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let token = reply.json()["rtmToken"].as_str().unwrap().to_owned();
    assert_expires_in(&admit(&token, &Action::RtmLogin { user_id: "alice".into() }).unwrap(), 60);
    server.stop().await.unwrap();
}
