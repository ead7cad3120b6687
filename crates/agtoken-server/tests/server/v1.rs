//! The v1 API: build (builder style and structure), inspect, verify.

use std::sync::Arc;

use agtoken::{Action, Error, Token, Uid};
use agtoken_server::AppState;
use serde_json::{json, Value};

use crate::common::*;

#[tokio::test]
async fn build_rtc_builder_style() {
    let server = start(config()).await;
    let reply = server
        .post_json(
            "/v1/tokens",
            r#"{"service": "rtc", "channel": "room-1", "uid": 2882341273, "role": "publisher", "expire": 600}"#,
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let body = reply.json();
    let token = body["token"].as_str().unwrap();
    let admitted = admit(token, &publish("room-1", Uid::Int(2882341273))).unwrap();
    assert_expires_in(&admitted, 600);
    assert_eq!(body["version"], "007");
    assert_eq!(body["app_id"], APP_ID);
    assert_eq!(body["expires_at"].as_u64().unwrap(), admitted.expires_at.as_secs());
    assert_eq!(body["expires_in"], 600);
    assert!(body["server_time"].as_u64().unwrap() >= now().as_secs() - 5);
    assert!(body["expires_at_rfc3339"].as_str().unwrap().ends_with('Z'));
    let service = &body["structure"]["services"][0];
    assert_eq!((service["name"].as_str(), service["channel_name"].as_str()), (Some("rtc"), Some("room-1")));

    // Account, subscriber (the default role), 006.
    let reply = server
        .post_json("/v1/tokens", r#"{"service": "rtc", "channel": "room-1", "account": "alice", "version": "006"}"#)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let body = reply.json();
    let token = body["token"].as_str().unwrap();
    assert!(token.starts_with("006"));
    let admitted = admit(token, &join("room-1", Uid::Account("alice".into()))).unwrap();
    assert_expires_in(&admitted, 3600);
    assert!(matches!(
        admit(token, &publish("room-1", Uid::Account("alice".into()))),
        Err(Error::MissingPrivilege { .. })
    ));
    assert_eq!(body["structure"]["channel_name"], "room-1");

    // RTC with an RTM login.
    let reply = server
        .post_json(
            "/v1/tokens",
            r#"{"service": "rtc", "channel": "c", "uid": 7, "rtm_user_id": "u7", "privilege_expire": 60}"#,
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let token = reply.json()["token"].as_str().unwrap().to_owned();
    assert_expires_in(&admit(&token, &join("c", Uid::Int(7))).unwrap(), 60);
    admit(&token, &Action::RtmLogin { user_id: "u7".into() }).unwrap();
    server.stop().await.unwrap();
}

/// Each RTC privilege's lifetime, as the CLI's `--*-valid-for`: whole seconds (bounded like
/// `expire`) or "unlimited" (as long as the token); anything else is a 400 naming the field.
#[tokio::test]
async fn rtc_privilege_lifetimes_take_seconds_or_unlimited() {
    let server = start(config()).await;
    let body = json!({"service": "rtc", "channel": "c", "uid": 7, "role": "publisher", "expire": 900,
                      "privilege_expire": 300, "join_expire": "unlimited", "publish_audio_expire": 60,
                      "rtm_user_id": "u7", "rtm_login_expire": 120});
    let reply = server.post_json("/v1/tokens", &body.to_string()).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let rtc = &reply.json()["structure"]["services"][0];
    // 1 join, 2 audio, 3 video, 4 data: join lasts as long as the token (0), audio its own 60 s,
    // the others the 300 s of privilege_expire.
    assert_eq!(rtc["privileges"], json!({"1": 0, "2": 60, "3": 300, "4": 300}), "{rtc}");
    let rtm = &reply.json()["structure"]["services"][1];
    assert_eq!(rtm["privileges"], json!({"1": 120}), "{rtm}");
    let token = reply.json()["token"].as_str().unwrap().to_owned();
    assert_expires_in(&admit(&token, &join("c", Uid::Int(7))).unwrap(), 900);

    for (field, value, status) in [
        ("join_expire", json!("forever"), 400),
        ("publish_video_expire", json!(-1), 400),
        ("publish_data_expire", json!(86_401), 422),
        ("rtm_login_expire", json!(true), 400),
    ] {
        let mut body = json!({"service": "rtc", "channel": "c", "uid": 7, "rtm_user_id": "u7"});
        body[field] = value.clone();
        let reply = server.post_json("/v1/tokens", &body.to_string()).await;
        assert_eq!((reply.status, reply.error()["field"].clone()), (status, json!(field)), "{value}: {}", reply.body);
    }
    server.stop().await.unwrap();
}

#[tokio::test]
async fn build_other_services() {
    let server = start(config()).await;
    let cases: &[(&str, Action)] = &[
        (r#"{"service": "rtm", "user_id": "bob"}"#, Action::RtmLogin { user_id: "bob".into() }),
        (r#"{"service": "rtm", "user_id": "bob", "version": "006"}"#, Action::RtmLogin { user_id: "bob".into() }),
        (r#"{"service": "chat", "user_id": "bob", "expire": 100}"#, Action::ChatLogin { user_id: "bob".into() }),
        (r#"{"service": "chat_app"}"#, Action::ChatApp),
    ];
    for (request, action) in cases {
        let reply = server.post_json("/v1/tokens", request).await;
        assert_eq!(reply.status, 200, "{request}: {}", reply.body);
        admit(reply.json()["token"].as_str().unwrap(), action).unwrap_or_else(|e| panic!("{request}: {e}"));
    }
    for request in [
        r#"{"service": "fpa"}"#,
        r#"{"service": "apaas", "room_uuid": "room", "user_uuid": "u1", "apaas_role": 2}"#,
        r#"{"service": "apaas_user", "user_uuid": "u1"}"#,
        r#"{"service": "apaas_app"}"#,
    ] {
        let reply = server.post_json("/v1/tokens", request).await;
        assert_eq!(reply.status, 200, "{request}: {}", reply.body);
        let token = Token::parse(reply.json()["token"].as_str().unwrap()).unwrap();
        token.verify(&agtoken::CertificateSet::new(agtoken::AppCertificate::new(CERT).unwrap())).unwrap();
    }
    server.stop().await.unwrap();
}

#[tokio::test]
async fn build_from_structure_round_trips_inspect() {
    let server = start(config()).await;
    let reply = server
        .post_json(
            "/v1/tokens",
            r#"{"structure": {"version": "007", "expire": 900, "services": [
                {"name": "rtc", "channel_name": "room-*", "uid": "", "privileges": {"1": 900, "2": 300}},
                {"name": "rtm2", "user_id": "u1", "privileges": {"1": 900}, "permissions": {"1": {"0": ["room-*"]}}}]}}"#,
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let body = reply.json();
    let token = body["token"].as_str().unwrap().to_owned();
    // The pattern admits room-7; publish audio only for 300 s.
    assert_expires_in(&admit(&token, &join("room-7", Uid::Int(5))).unwrap(), 900);
    assert_expires_in(&admit(&token, &publish("room-7", Uid::Int(5))).unwrap(), 300);
    assert!(admit(&token, &join("hall", Uid::Int(5))).is_err());
    admit(&token, &Action::RtmLogin { user_id: "u1".into() }).unwrap();

    // inspect gives the structure back; building it again gives the same content.
    let reply = server.post_json("/v1/tokens/inspect", &json!({"token": token}).to_string()).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let inspected = reply.json();
    assert_eq!(inspected["signature_valid"], true);
    assert_eq!(inspected["certificate"], "primary");
    assert_eq!(inspected["app_known"], true);
    assert_eq!(inspected["expired"], false);
    assert_eq!(inspected["services"], body["structure"]["services"]);
    let mut again: serde_json::Map<String, Value> = serde_json::Map::new();
    for key in ["version", "app_id", "issue_ts", "expire", "salt", "services"] {
        again.insert(key.into(), inspected[key].clone());
    }
    let reply = server.post_json("/v1/tokens", &json!({"structure": again}).to_string()).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let same = reply.json()["token"].as_str().unwrap().to_owned();
    let content = |t: &str| match Token::parse(t).unwrap() {
        Token::V007(p) => p.content().to_vec(),
        Token::V006(_) => unreachable!(),
    };
    assert_eq!(content(&same), content(&token));
    server.stop().await.unwrap();
}

#[tokio::test]
async fn inspect_reports_times_and_privileges() {
    // One instant for building and inspecting: with the system clock a second could tick
    // between the two, and `expires_in` would be 119.
    let clock = agtoken::FixedClock(now());
    let server = start_state(AppState::with_sources(config(), Arc::new(clock), Arc::new(agtoken::FixedSalt(7)))).await;
    let reply = server
        .post_json("/v1/tokens", r#"{"service": "rtc", "channel": "c", "uid": 1, "role": 1, "expire": 120}"#)
        .await;
    let token = reply.json()["token"].as_str().unwrap().to_owned();
    let reply = server.post_json("/v1/tokens/inspect", &json!({"token": token}).to_string()).await;
    let body = reply.json();
    assert_eq!(body["version"], "007");
    assert_eq!(body["expires_in"].as_i64().unwrap(), 120);
    assert_eq!(body["expires_at"].as_u64().unwrap(), body["issued_at"].as_u64().unwrap() + 120);
    let privileges = body["privilege_expiries"].as_array().unwrap();
    assert_eq!(privileges.len(), 4);
    assert_eq!(privileges[0]["privilege"], "join_channel");

    // A 006 token: the signature needs the channel and uid.
    let reply =
        server.post_json("/v1/tokens", r#"{"service": "rtc", "channel": "c", "uid": 1, "version": "006"}"#).await;
    let token = reply.json()["token"].as_str().unwrap().to_owned();
    let body = server.post_json("/v1/tokens/inspect", &json!({"token": token}).to_string()).await.json();
    assert_eq!(body["signature_valid"], Value::Null);
    assert!(body["signature_note"].as_str().unwrap().contains("channel and uid"));
    let body = server
        .post_json("/v1/tokens/inspect", &json!({"token": token, "channel": "c", "uid": 1}).to_string())
        .await
        .json();
    assert_eq!(body["signature_valid"], true);
    assert_eq!(body["channel_name"], "c");

    // A token of an app this server does not know: readable, not checkable.
    let foreign = agtoken::RtcToken::builder(
        &agtoken::AppId::new("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa").unwrap(),
        &agtoken::AppCertificate::new(CERT).unwrap(),
    )
    .channel("c")
    .build()
    .unwrap();
    let body = server.post_json("/v1/tokens/inspect", &json!({"token": foreign}).to_string()).await.json();
    assert_eq!((body["app_known"].clone(), body["signature_valid"].clone()), (json!(false), Value::Null));
    server.stop().await.unwrap();
}

#[tokio::test]
async fn verify_answers_what_agora_would() {
    let server = start(config()).await;
    let reply =
        server.post_json("/v1/tokens", r#"{"service": "rtc", "channel": "c", "uid": 9, "role": "subscriber"}"#).await;
    let token = reply.json()["token"].as_str().unwrap().to_owned();
    let verify = |extra: Value| {
        let mut body = json!({"token": token});
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        body.to_string()
    };
    let ok = server.post_json("/v1/tokens/verify", &verify(json!({"action": "join", "channel": "c", "uid": 9}))).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    let ok = ok.json();
    assert_eq!(ok["admitted"], true);
    assert_eq!(ok["certificate"], "primary");
    assert!(ok.get("reason").is_none());

    let refused = server
        .post_json("/v1/tokens/verify", &verify(json!({"action": "join", "channel": "d", "uid": 9})))
        .await
        .json();
    assert_eq!(refused["admitted"], false);
    assert_eq!(refused["reason"]["agora_code"], 110);
    assert_eq!(refused["reason"]["agora_name"], "ERR_INVALID_TOKEN");
    assert_eq!(refused["reason"]["product"], "rtc");
    assert!(refused["reason"]["message"].as_str().unwrap().contains("channel"));

    let publish = server
        .post_json("/v1/tokens/verify", &verify(json!({"action": "publish_video", "channel": "c", "uid": 9})))
        .await
        .json();
    assert_eq!(publish["admitted"], false);
    assert!(publish["reason"]["message"].as_str().unwrap().contains("privilege"));

    let later = server
        .post_json(
            "/v1/tokens/verify",
            &verify(json!({"action": "join", "channel": "c", "uid": 9, "at": "2100-01-01T00:00:00Z"})),
        )
        .await;
    assert_eq!(later.status, 200, "{}", later.body);
    let later = later.json();
    assert_eq!((later["admitted"].clone(), later["reason"]["agora_code"].clone()), (json!(false), json!(109)));

    let rtm =
        server.post_json("/v1/tokens/verify", &verify(json!({"action": "rtm_login", "user_id": "9"}))).await.json();
    assert_eq!(
        (rtm["admitted"].clone(), rtm["reason"]["agora_code"].clone(), rtm["reason"]["product"].clone()),
        (json!(false), json!(5), json!("rtm"))
    );

    let garbage = server
        .post_json("/v1/tokens/verify", r#"{"token": "hello", "action": "join", "channel": "c", "uid": 1}"#)
        .await
        .json();
    assert_eq!((garbage["admitted"].clone(), garbage["reason"]["agora_code"].clone()), (json!(false), json!(110)));
    server.stop().await.unwrap();
}

#[tokio::test]
async fn several_apps_selected_by_app_id() {
    let server = start(two_apps()).await;
    let reply =
        server.post_json("/v1/tokens", &json!({"app_id": APP_ID2, "service": "rtm", "user_id": "u"}).to_string()).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let body = reply.json();
    assert_eq!(body["app_id"], APP_ID2);
    let token = body["token"].as_str().unwrap();
    // The second app's default lifetime is 300 s.
    assert_expires_in(&admit_with(token, APP_ID2, CERT2, &Action::RtmLogin { user_id: "u".into() }).unwrap(), 300);
    // Its maximum is 600 s.
    let reply = server
        .post_json(
            "/v1/tokens",
            &json!({"app_id": APP_ID2, "service": "rtm", "user_id": "u", "expire": 601}).to_string(),
        )
        .await;
    assert_eq!(reply.status, 422, "{}", reply.body);
    assert_eq!(reply.error()["field"], "expire");
    // The compatibility routes use the default app.
    let reply = server.post_json("/fetch_rtc_token", r#"{"uid":1,"ChannelName":"c","role":1}"#).await;
    admit(reply.json()["token"].as_str().unwrap(), &join("c", Uid::Int(1))).unwrap();

    // A token signed with the secondary (old) certificate still verifies, and says so.
    let old = agtoken::RtmToken::builder(
        &agtoken::AppId::new(APP_ID2).unwrap(),
        &agtoken::AppCertificate::new(CERT2_OLD).unwrap(),
        "u",
    )
    .build()
    .unwrap();
    let body = server
        .post_json("/v1/tokens/verify", &json!({"token": old, "action": "rtm_login", "user_id": "u"}).to_string())
        .await
        .json();
    assert_eq!((body["admitted"].clone(), body["certificate"].clone()), (json!(true), json!("secondary")));
    // Checked against the other app: 101 invalid app id.
    let body = server
        .post_json(
            "/v1/tokens/verify",
            &json!({"token": old, "action": "rtm_login", "user_id": "u", "app_id": APP_ID}).to_string(),
        )
        .await
        .json();
    assert_eq!(body["reason"]["agora_code"], 4);
    assert_eq!(body["reason"]["agora_name"], "LOGIN_ERR_INVALID_APP_ID");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn operations_endpoints() {
    let server = start(config()).await;
    let reply = server.get("/healthz").await;
    assert_eq!((reply.status, reply.json()["status"].clone()), (200, json!("ok")));
    let reply = server.get("/readyz").await;
    assert_eq!((reply.status, reply.json()["status"].clone()), (200, json!("ready")));
    server.post_json("/fetch_rtc_token", r#"{"uid":1,"ChannelName":"c","role":1}"#).await;
    server.post_json("/fetch_rtc_token", r#"{"uid":"x"}"#).await;
    let reply = server.get("/metrics").await;
    assert_eq!(reply.status, 200);
    assert!(reply.header("content-type").unwrap().starts_with("text/plain"));
    let text = reply.body;
    assert!(text.contains("agtoken_http_requests_total{route=\"/fetch_rtc_token\",status=\"200\"} 1"), "{text}");
    assert!(text.contains("agtoken_http_requests_total{route=\"/fetch_rtc_token\",status=\"400\"} 1"), "{text}");
    assert!(text.contains("agtoken_tokens_issued_total{service=\"rtc\",version=\"007\"} 1"), "{text}");
    assert!(text.contains("agtoken_http_request_duration_seconds_count{route=\"/fetch_rtc_token\"} 2"), "{text}");
    let reply = server.get("/openapi.json").await;
    assert_eq!(reply.status, 200);
    let doc = reply.json();
    assert_eq!(doc["openapi"], "3.0.3");
    for path in ["/fetch_rtc_token", "/token/generate", "/getToken", "/v1/tokens", "/v1/tokens/verify", "/metrics"] {
        assert!(doc["paths"].get(path).is_some(), "{path}");
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    for path in ["/fetch_rtc_token", "/v1/tokens", "/chat/app/token"] {
        let operation = doc["paths"][path].as_object().unwrap().values().next().unwrap();
        for status in ["401", "403", "429"] {
            assert!(operation["responses"].get(status).is_some(), "{path} {status}");
        }
    }
    assert!(doc["paths"]["/ping"]["get"]["responses"].get("401").is_none());
    let reply = server.get("/").await;
    assert_eq!(reply.status, 200);
    assert!(reply.header("content-type").unwrap().starts_with("text/html"));
    assert!(reply.body.contains("agtoken"));
    server.stop().await.unwrap();
}

#[tokio::test]
async fn build_006_from_structure() {
    let server = start(config()).await;
    let at = now().as_secs() + 600;
    let body = json!({"structure": {"version": "006", "channel_name": "legacy", "uid": "77", "privileges": {"1": at, "2": at}}});
    let reply = server.post_json("/v1/tokens", &body.to_string()).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let answer = reply.json();
    assert_eq!(answer["version"], "006");
    assert_eq!(answer["expires_at"].as_u64().unwrap(), at);
    let token = answer["token"].as_str().unwrap();
    assert_expires_in(&admit(token, &publish("legacy", Uid::Int(77))).unwrap(), 600);
    // A privilege beyond the app's maximum lifetime is refused, naming it.
    let body = json!({"structure": {"version": "006", "channel_name": "legacy", "uid": "77", "privileges": {"1": at + 90_000}}});
    let reply = server.post_json("/v1/tokens", &body.to_string()).await;
    assert_eq!((reply.status, reply.error()["field"].clone()), (422, json!("structure.privileges.1")));
    server.stop().await.unwrap();
}

#[tokio::test]
async fn every_kind_of_builder_request_the_library_describes_is_served() {
    let server = start(config()).await;
    let bodies = [
        json!({"service": "rtc", "channel": "room-1", "uid": 42, "role": "publisher"}),
        json!({"service": "rtm", "user_id": "alice"}),
        json!({"service": "rtm2", "user_id": "alice", "permissions": ["stream_channels:read:chan-*", "users:write:alice"]}),
        json!({"service": "chat", "user_id": "alice"}),
        json!({"service": "chat_app"}),
        json!({"service": "fpa"}),
        json!({"service": "apaas", "room_uuid": "r1", "user_uuid": "u1", "apaas_role": 2}),
        json!({"service": "apaas_user", "user_uuid": "u1"}),
        json!({"service": "apaas_app"}),
        json!({"service": "streaming", "channel": "live", "account": "cam-1", "privileges": ["publish_mix_stream"]}),
        json!({"service": "fcdn", "channel": "live", "account": "viewer", "privileges": ["play"]}),
        json!({"service": "convoai", "channel": "room-1", "uid": 9, "rtm_user_id": "agent-9"}),
        json!({"service": "stt", "channel": "room-1", "uid": 10, "rtm_user_id": "stt-10"}),
    ];
    assert_eq!(bodies.len(), agtoken::Request::INFO.len(), "one case per kind of request");
    let certs = agtoken::CertificateSet::new(agtoken::AppCertificate::new(CERT).unwrap());
    for body in bodies {
        let reply = server.post_json("/v1/tokens", &body.to_string()).await;
        assert_eq!(reply.status, 200, "{body}: {reply:?}");
        let answer = reply.json();
        let token = answer["token"].as_str().unwrap();
        let verified = Token::parse(token).unwrap().verify(&certs).unwrap();
        let service = body["service"].as_str().unwrap();
        let classes: Vec<&str> = verified.grants().iter().map(|g| g.class()).collect();
        let expected = service.strip_suffix("_user").unwrap_or(service);
        assert!(classes.contains(&expected), "{service}: grants {classes:?}");
        assert!(answer["structure"]["services"].as_array().is_some_and(|s| !s.is_empty()));
    }
    // The OpenAPI document lists the same kinds, from the same description.
    let doc = server.get("/openapi.json").await.json();
    let kinds: Vec<String> = doc["components"]["schemas"]["BuildRequest"]["oneOf"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["properties"]["service"]["enum"][0].as_str().unwrap().to_owned())
        .collect();
    let described: Vec<&str> = agtoken::Request::INFO.iter().map(|i| i.service).collect();
    assert_eq!(kinds, described);
    server.stop().await.unwrap();
}
