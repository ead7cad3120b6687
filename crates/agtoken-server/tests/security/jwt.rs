//! `auth = "jwt"`: HS256 secret, RS256 PEM key, ES256 JWKS file (reloaded); exp/nbf/iss/aud;
//! uid bound to `sub`; rules selected by claims.

use std::path::Path;

use agtoken::Uid;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{json, Value};

use crate::common::*;
use crate::support::*;

const SECRET: &str = "an-hs256-secret-of-more-than-32-bytes-for-tests";
const ISSUER: &str = "https://id.example.test/";

const POLICY: &str = r#"
[[apps.policy]]
name = "teachers"
claims = { role = "teacher" }
services = ["rtc", "rtm"]
channels = ["class-*"]
uid_claim = "sub"

[[apps.policy]]
name = "students"
claims = { role = ["student", "guest"] }
services = ["rtc", "rtm"]
channels = ["class-*"]
uid_claim = "sub"
roles = ["subscriber"]
max_lifetime_secs = 900
"#;

fn hs_server_config(name: &str) -> agtoken_server::Config {
    let dir = temp_dir(name);
    write_secret(&dir, "jwt-secret", SECRET);
    let settings = format!(
        "auth = \"jwt\"\ndefault_lifetime_secs = 900\ncompat_lifetime_secs = 900\n[apps.jwt]\nissuer = \"{ISSUER}\"\naudience = \"agtoken\"\nhs256_secret_file = \"jwt-secret\"\nleeway_secs = 5\n{POLICY}"
    );
    toml_config(&dir, &settings, "")
}

fn claims(sub: &str, role: &str) -> Value {
    let now = now_secs();
    json!({"sub": sub, "role": role, "iss": ISSUER, "aud": "agtoken", "iat": now, "exp": now + 300})
}

fn with(mut claims: Value, key: &str, value: Value) -> Value {
    match value {
        Value::Null => claims.as_object_mut().unwrap().remove(key),
        v => claims.as_object_mut().unwrap().insert(key.into(), v),
    };
    claims
}

async fn create(server: &Server, jwt: &str, body: &str) -> Reply {
    let auth = bearer(jwt);
    server
        .send("POST", "/v1/tokens", &[("Content-Type", "application/json"), ("Authorization", &auth)], body.as_bytes())
        .await
}

const STUDENT_RTC: &str = r#"{"service":"rtc","channel":"class-1","uid":42,"expire":600}"#;

#[tokio::test]
async fn bad_bearer_tokens_are_401() {
    let server = start(hs_server_config("jwt-401")).await;
    let now = now_secs();
    let good = claims("42", "student");
    let cases: Vec<(String, &str)> = vec![
        (hs256(SECRET, &with(good.clone(), "exp", json!(now - 60))), "expired"),
        (hs256(SECRET, &with(good.clone(), "nbf", json!(now + 120))), "not valid before"),
        (hs256("another-secret-that-is-also-long-enough!!", &good), "signature does not verify"),
        (hs256(SECRET, &with(good.clone(), "iss", json!("https://evil.example/"))), "issuer"),
        (hs256(SECRET, &with(good.clone(), "aud", json!("another-service"))), "audience"),
        (hs256(SECRET, &with(good.clone(), "aud", Value::Null)), "aud claim"),
        (hs256(SECRET, &with(good.clone(), "exp", Value::Null)), "no exp claim"),
        (hs256(SECRET, &with(good.clone(), "sub", Value::Null)), "no sub claim"),
        (jwt(Algorithm::RS256, &EncodingKey::from_rsa_pem(RSA_KEY.as_bytes()).unwrap(), None, &good), "algorithm"),
        (unsigned(&good), "not a JWT"),
        ("not.a.jwt".to_owned(), "not a JWT"),
    ];
    for (token, expected) in &cases {
        let reply = create(&server, token, STUDENT_RTC).await;
        assert_eq!(reply.status, 401, "{expected}: {reply:?}");
        let message = reply.error()["message"].as_str().unwrap().to_owned();
        assert!(message.contains(expected), "{message} (expected {expected})");
        assert!(!reply.body.contains(token.as_str()));
        assert_eq!(reply.header("www-authenticate"), Some("Bearer realm=\"agtoken\""));
    }
    // No bearer at all, or an API key header instead: 401 on every issuing route.
    for (method, path, body) in COMPAT_ISSUING {
        let ct = [("Content-Type", "application/json"), ("X-Api-Key", "whatever")];
        let reply = server.send(method, path, if body.is_empty() { &ct[1..] } else { &ct }, body.as_bytes()).await;
        assert_eq!(reply.status, 401, "{path}: {reply:?}");
    }
    // Within the leeway (5 s) an expired token still passes.
    let reply = create(&server, &hs256(SECRET, &with(good, "exp", json!(now - 2))), STUDENT_RTC).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    server.stop().await.unwrap();
}

/// A token with `"alg": "none"` and no signature.
fn unsigned(claims: &Value) -> String {
    format!("{}.{}.", base64url(br#"{"alg":"none","typ":"JWT"}"#), base64url(claims.to_string().as_bytes()))
}

#[tokio::test]
async fn within_policy_tokens_verify_and_violations_name_the_rule() {
    let server = start(hs_server_config("jwt-policy")).await;
    let student = hs256(SECRET, &claims("42", "student"));
    let reply = create(&server, &student, STUDENT_RTC).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let token = reply.json()["token"].as_str().unwrap().to_owned();
    admit(&token, &join("class-1", Uid::Int(42))).unwrap();
    assert!(admit(&token, &publish("class-1", Uid::Int(42))).is_err());
    let reply = create(&server, &student, r#"{"service":"rtm","user_id":"42"}"#).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let token = reply.json()["token"].as_str().unwrap().to_owned();
    admit(&token, &agtoken::Action::RtmLogin { user_id: "42".into() }).unwrap();
    // An array claim selects too (role "guest" is in the students' list).
    let guest = hs256(SECRET, &claims("42", "guest"));
    assert_eq!(create(&server, &guest, STUDENT_RTC).await.status, 200);

    // A teacher may publish, with an account equal to its sub.
    let teacher = hs256(SECRET, &claims("alice", "teacher"));
    let reply = create(
        &server,
        &teacher,
        r#"{"service":"rtc","channel":"class-1","account":"alice","role":"publisher","expire":3600}"#,
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let token = reply.json()["token"].as_str().unwrap().to_owned();
    admit(&token, &publish("class-1", Uid::Account("alice".into()))).unwrap();

    let cases = [
        (&student, r#"{"service":"rtc","channel":"class-1","uid":43}"#, "\"students\"", "not the caller's sub claim"),
        (&student, r#"{"service":"rtc","channel":"staff-room","uid":42}"#, "\"students\"", "channel \"staff-room\""),
        (&student, r#"{"service":"rtc","channel":"class-1","uid":42,"role":"publisher"}"#, "\"students\"", "publisher"),
        (&student, r#"{"service":"rtc","channel":"class-1","uid":42,"expire":3600}"#, "\"students\"", "900 s"),
        (&student, r#"{"service":"rtc","channel":"class-1","uid":0}"#, "\"students\"", "wildcard"),
        (&student, r#"{"service":"rtc","channel":"class-*","uid":42}"#, "\"students\"", "wildcard"),
        (&student, r#"{"service":"rtc","channel":"class-1","uid":42,"rtm_user_id":"43"}"#, "\"students\"", "rtm uid"),
        (&teacher, r#"{"service":"rtc","channel":"class-1","account":"bob"}"#, "\"teachers\"", "\"bob\""),
        (&teacher, r#"{"service":"chat","user_id":"alice"}"#, "\"teachers\"", "service chat is not allowed"),
    ];
    for (jwt, body, rule, expected) in cases {
        let reply = create(&server, jwt, body).await;
        assert_eq!(reply.status, 403, "{body}: {reply:?}");
        let message = reply.error()["message"].as_str().unwrap().to_owned();
        assert!(message.starts_with(&format!("policy rule {rule}")), "{message}");
        assert!(message.contains(expected), "{message} (expected {expected})");
    }
    // 006 tokens carry channel and uid only as CRC-32: the check uses what they were built from.
    let reply = create(&server, &student, r#"{"service":"rtc","channel":"class-1","uid":42,"version":"006"}"#).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    admit(reply.json()["token"].as_str().unwrap(), &join("class-1", Uid::Int(42))).unwrap();
    let reply = create(&server, &student, r#"{"service":"rtc","channel":"class-1","uid":43,"version":"006"}"#).await;
    assert_eq!(reply.status, 403, "{reply:?}");
    for (uid, status) in [("42", 200), ("43", 403)] {
        let body = format!(
            r#"{{"structure":{{"version":"006","channel_name":"class-1","uid":"{uid}","ts":{},"privileges":{{"1":0}}}}}}"#,
            now_secs() + 600
        );
        let reply = create(&server, &student, &body).await;
        assert_eq!(reply.status, status, "{body}: {reply:?}");
    }
    // A caller no rule selects.
    let parent = hs256(SECRET, &claims("p1", "parent"));
    let reply = create(&server, &parent, STUDENT_RTC).await;
    assert_eq!(reply.status, 403);
    assert!(reply.error()["message"].as_str().unwrap().contains("no policy rule"), "{}", reply.body);
    // A compatibility route checks the same: another uid than sub, in the route's shape.
    let auth = bearer(&student);
    let reply = server.send("GET", "/rtc/class-1/subscriber/uid/43/", &[("Authorization", &auth)], b"").await;
    assert_eq!(reply.status, 403);
    assert!(reply.json()["error"].as_str().unwrap().contains("not the caller's sub claim"), "{}", reply.body);
    let reply = server.send("GET", "/rtc/class-1/subscriber/uid/42/", &[("Authorization", &auth)], b"").await;
    assert_eq!(reply.status, 200, "{reply:?}");
    admit(reply.json()["rtcToken"].as_str().unwrap(), &join("class-1", Uid::Int(42))).unwrap();
    server.stop().await.unwrap();
}

fn pem_config(dir: &Path, key_setting: &str) -> agtoken_server::Config {
    let settings = format!(
        "auth = \"jwt\"\ndefault_lifetime_secs = 900\n[apps.jwt]\naudience = \"agtoken\"\n{key_setting}\n{POLICY}"
    );
    toml_config(dir, &settings, "")
}

#[tokio::test]
async fn rs256_with_a_pem_public_key() {
    let dir = temp_dir("jwt-rs256");
    std::fs::write(dir.join("idp.pem"), RSA_PUB).unwrap();
    let server = start(pem_config(&dir, "public_key_files = [\"idp.pem\"]")).await;
    let key = EncodingKey::from_rsa_pem(RSA_KEY.as_bytes()).unwrap();
    let good = claims("42", "student");
    let reply = create(&server, &jwt(Algorithm::RS256, &key, None, &good), STUDENT_RTC).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    admit(reply.json()["token"].as_str().unwrap(), &join("class-1", Uid::Int(42))).unwrap();
    // Algorithm confusion: HS256 "signed" with the public key's text is refused.
    let confused = hs256(RSA_PUB, &good);
    let reply = create(&server, &confused, STUDENT_RTC).await;
    assert_eq!(reply.status, 401, "{reply:?}");
    // A token whose signature was made for other claims.
    let signed = jwt(Algorithm::RS256, &key, None, &good);
    let other = jwt(Algorithm::RS256, &key, None, &claims("43", "student"));
    let forged = format!("{}.{}", other.rsplit_once('.').unwrap().0, signed.rsplit_once('.').unwrap().1);
    let reply = create(&server, &forged, r#"{"service":"rtc","channel":"class-1","uid":43}"#).await;
    assert_eq!(reply.status, 401, "{reply:?}");
    assert!(reply.error()["message"].as_str().unwrap().contains("signature"));
    server.stop().await.unwrap();
}

/// A JWKS with one ES256 key of `kid`, and the key to sign with.
fn es256_key(kid: &str) -> (Value, EncodingKey) {
    let pair = rcgen::KeyPair::generate().unwrap(); // ECDSA P-256
    let key = EncodingKey::from_ec_pem(pair.serialize_pem().as_bytes()).unwrap();
    let mut jwk =
        serde_json::to_value(jsonwebtoken::jwk::Jwk::from_encoding_key(&key, Algorithm::ES256).unwrap()).unwrap();
    jwk["kid"] = json!(kid);
    jwk["use"] = json!("sig");
    (json!({ "keys": [jwk] }), key)
}

#[tokio::test]
async fn es256_with_a_jwks_file_reloaded_when_it_changes() {
    let dir = temp_dir("jwt-jwks");
    let (set_one, key_one) = es256_key("k1");
    let (set_two, key_two) = es256_key("k2");
    std::fs::write(dir.join("jwks.json"), set_one.to_string()).unwrap();
    let server = start(pem_config(&dir, "jwks_file = \"jwks.json\"")).await;
    let good = claims("42", "student");
    let first = jwt(Algorithm::ES256, &key_one, Some("k1"), &good);
    let second = jwt(Algorithm::ES256, &key_two, Some("k2"), &good);
    assert_eq!(create(&server, &first, STUDENT_RTC).await.status, 200);
    let reply = create(&server, &second, STUDENT_RTC).await;
    assert_eq!(reply.status, 401, "{reply:?}");
    assert!(reply.error()["message"].as_str().unwrap().contains("kid"), "{}", reply.body);

    // The identity provider rotates: k2 replaces k1 on disk.
    std::fs::write(dir.join("jwks.json.tmp"), set_two.to_string()).unwrap();
    std::fs::rename(dir.join("jwks.json.tmp"), dir.join("jwks.json")).unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let reply = create(&server, &second, STUDENT_RTC).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    admit(reply.json()["token"].as_str().unwrap(), &join("class-1", Uid::Int(42))).unwrap();
    assert_eq!(create(&server, &first, STUDENT_RTC).await.status, 401, "the old key is gone");

    // A broken file keeps the keys in place.
    std::fs::write(dir.join("jwks.json"), "{ not json").unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(create(&server, &second, STUDENT_RTC).await.status, 200);
    server.stop().await.unwrap();
}
