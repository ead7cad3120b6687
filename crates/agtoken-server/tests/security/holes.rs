//! Regression tests for the policy holes found by an attacker's test of commit 05732f4: the
//! server judges what a built token *admits* (its grants, from the library), never the request.
//! Each refused case checks the 403; each issued case checks with the library's verifier that
//! the token admits nothing more than the rule allows.

use agtoken::{Action, AppCertificate, CertificateSet, Grant, Scope, Token, Uid, UnixTime};
use serde_json::{json, Value};

use crate::common::*;
use crate::support::*;

const RTM_ONLY_KEY: &str = "agtk_rtmonly_00112233445566778899aabbccddeeff0011223344556677";
const VIEWER_KEY: &str = "agtk_viewer_8899aabbccddeeff00112233445566778899aabbccddeeff";
const BACKEND_KEY: &str = "agtk_backend_ffeeddccbbaa99887766554433221100ffeeddccbbaa9988";
const SECRET: &str = "an-hs256-secret-of-more-than-32-bytes-for-tests";

fn settings(version: &str) -> String {
    format!(
        r#"
auth = "api_key"
token_version = "{version}"
max_lifetime_secs = 3600
default_lifetime_secs = 600
compat_lifetime_secs = 600

[[apps.api_keys]]
name = "rtm-only"
sha256 = "{rtm_only}"
[[apps.api_keys]]
name = "viewer"
sha256 = "{viewer}"
[[apps.api_keys]]
name = "backend"
sha256 = "{backend}"

[[apps.policy]]
name = "rtm-only"
api_keys = ["rtm-only"]
services = ["rtm"]

[[apps.policy]]
name = "viewers"
api_keys = ["viewer"]
services = ["rtc"]
channels = ["room-*"]
roles = ["subscriber"]
max_lifetime_secs = 1800

[[apps.policy]]
name = "backend"
api_keys = ["backend"]
services = ["rtc", "rtm"]
"#,
        rtm_only = sha256_hex(RTM_ONLY_KEY),
        viewer = sha256_hex(VIEWER_KEY),
        backend = sha256_hex(BACKEND_KEY),
    )
}

async fn server(name: &str, version: &str) -> Server {
    start(toml_config(&temp_dir(name), &settings(version), "")).await
}

async fn send(server: &Server, key: &str, method: &str, path: &str, body: &str) -> Reply {
    let mut headers = vec![("X-Api-Key", key)];
    if !body.is_empty() {
        headers.push(("Content-Type", "application/json"));
    }
    server.send(method, path, &headers, body.as_bytes()).await
}

fn structure(body: Value) -> String {
    json!({ "structure": body }).to_string()
}

/// The 403 of a refusal, with `expected` in its message, in whichever shape the route answers.
fn assert_refused(reply: &Reply, expected: &str) {
    assert_eq!(reply.status, 403, "{reply:?}");
    let text = reply.body.replace("\\\"", "\""); // JSON-escaped quotes, as written
    assert!(text.contains(expected), "expected {expected:?} in {}", reply.body);
    assert!(!reply.body.contains("007eJ") && !reply.body.contains("006970"), "a token in a refusal: {}", reply.body);
}

/// The grants of a returned token, verified as Agora would for the identity it names.
fn grants_of(token: &str, claimed_channel: &str, claimed_uid: &str) -> Vec<Grant> {
    let certs = CertificateSet::new(AppCertificate::new(CERT).unwrap());
    Token::parse(token).unwrap().verify_claimed(&certs, claimed_channel, claimed_uid).unwrap().grants()
}

fn latest_end(grants: &[Grant]) -> u64 {
    grants.iter().map(|g| g.until.as_secs()).max().unwrap()
}

fn issued_count(server_metrics: &str) -> u64 {
    server_metrics
        .lines()
        .filter(|l| l.starts_with("agtoken_tokens_issued_total{"))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum()
}

#[tokio::test]
async fn hole_1_a_006_structure_with_rtm_login_is_judged_for_its_rtc_privileges_too() {
    let server = server("hole-1", "007").await;
    let body = structure(json!({
        "version": "006", "channel_name": "staff-secret", "uid": "",
        "privileges": {"1": 0, "2": 0, "3": 0, "4": 0, "1000": 0}
    }));
    let reply = send(&server, RTM_ONLY_KEY, "POST", "/v1/tokens", &body).await;
    assert_refused(&reply, "forbidden"); // its 24 h is over the app's maximum, too
                                         // Within the app's maximum, the RTC grants are what the rule refuses.
    let ts = now().as_secs() + 600;
    let body = structure(json!({
        "version": "006", "channel_name": "staff-secret", "uid": "", "ts": ts,
        "privileges": {"1": ts, "2": ts, "3": ts, "4": ts, "1000": ts}
    }));
    let reply = send(&server, RTM_ONLY_KEY, "POST", "/v1/tokens", &body).await;
    assert_refused(&reply, "policy rule \"rtm-only\": service rtc is not allowed");

    // What the rule does allow still works, and the token admits only that.
    let ts = now().as_secs() + 600;
    let body = structure(json!({
        "version": "006", "channel_name": "alice", "uid": "", "ts": ts, "privileges": {"1000": ts}
    }));
    let reply = send(&server, RTM_ONLY_KEY, "POST", "/v1/tokens", &body).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let token = reply.json()["token"].as_str().unwrap().to_owned();
    let grants = grants_of(&token, "alice", "");
    assert_eq!(grants.len(), 1, "{grants:?}");
    assert_eq!(grants[0].capability, agtoken::Capability::RtmLogin);
    assert_eq!(grants[0].user, Some(Scope::Exact("alice".into())));
    assert!(admit(&token, &join("alice", Uid::Any)).is_err());
    assert!(admit(&token, &Action::RtmLogin { user_id: "alice".into() }).is_ok());
    server.stop().await.unwrap();
}

#[tokio::test]
async fn hole_1_a_jwt_student_cannot_hide_publisher_privileges_behind_rtm_login() {
    let dir = temp_dir("hole-1-jwt");
    write_secret(&dir, "jwt-secret", SECRET);
    let settings = r#"
auth = "jwt"
max_lifetime_secs = 3600
[apps.jwt]
audience = "agtoken"
hs256_secret_file = "jwt-secret"

[[apps.policy]]
name = "student"
claims = { role = "student" }
services = ["rtc", "rtm"]
channels = ["room-*"]
uid_claim = "sub"
roles = ["subscriber"]
max_lifetime_secs = 1800
"#;
    let server = start(toml_config(&dir, settings, "")).await;
    let t = now_secs();
    let jwt = hs256(SECRET, &json!({"sub": "42", "role": "student", "aud": "agtoken", "iat": t, "exp": t + 300}));
    let auth = bearer(&jwt);
    let post = |body: String| {
        let auth = auth.clone();
        let server = &server;
        async move {
            server
                .send(
                    "POST",
                    "/v1/tokens",
                    &[("Content-Type", "application/json"), ("Authorization", auth.as_str())],
                    body.as_bytes(),
                )
                .await
        }
    };
    // Channel name = the student's sub, any uid, publisher privileges and an RTM login.
    let body = structure(json!({
        "version": "006", "channel_name": "42", "uid": "",
        "privileges": {"1": 0, "2": 0, "1000": t + 60}
    }));
    let reply = post(body).await;
    assert_refused(&reply, "forbidden");
    let body = structure(json!({
        "version": "006", "channel_name": "42", "uid": "", "ts": t + 600,
        "privileges": {"1": t + 600, "2": t + 600, "1000": t + 60}
    }));
    let reply = post(body).await;
    assert_refused(&reply, "policy rule \"student\"");
    // Within the rule: a join-only 006 token for the student's own uid in a room.
    let body = structure(json!({
        "version": "006", "channel_name": "room-1", "uid": "42", "ts": t + 900, "privileges": {"1": t + 900}
    }));
    let reply = post(body).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let token = reply.json()["token"].as_str().unwrap().to_owned();
    assert!(admit(&token, &join("room-1", Uid::Int(42))).is_ok());
    assert!(admit(&token, &publish("room-1", Uid::Int(42))).is_err());
    assert!(admit(&token, &join("room-1", Uid::Int(43))).is_err());
    server.stop().await.unwrap();
}

#[tokio::test]
async fn hole_2_006_lifetimes_cannot_escape_the_app_or_rule_maximum() {
    let server = server("hole-2", "007").await;
    // Privilege 0 = "no limit of its own": the token joins until ts = now + 24 h.
    let body = structure(json!({"version": "006", "channel_name": "room-1", "uid": "42", "privileges": {"1": 0}}));
    let reply = send(&server, BACKEND_KEY, "POST", "/v1/tokens", &body).await;
    assert_refused(&reply, "maximum lifetime of 3600 s");
    // An unnamed privilege with a short time does not hide the 24 h join.
    let t = now().as_secs();
    let body = structure(json!({
        "version": "006", "channel_name": "room-1", "uid": "42", "privileges": {"1": 0, "7": t + 100}
    }));
    let reply = send(&server, BACKEND_KEY, "POST", "/v1/tokens", &body).await;
    assert_refused(&reply, "3600 s");
    // The viewers' rule maximum (1800 s) counts the latest grant too.
    let body = structure(json!({
        "version": "006", "channel_name": "room-1", "uid": "42", "ts": t + 3000, "privileges": {"1": t + 2000}
    }));
    let reply = send(&server, VIEWER_KEY, "POST", "/v1/tokens", &body).await;
    assert_refused(&reply, "longer than this rule's maximum of 1800 s");
    // Within the maximum: expires_at is the join privilege's end, and that is what the token does.
    let body =
        structure(json!({"version": "006", "channel_name": "room-1", "uid": "42", "privileges": {"1": t + 600}}));
    let reply = send(&server, BACKEND_KEY, "POST", "/v1/tokens", &body).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let token = reply.json()["token"].as_str().unwrap().to_owned();
    assert_eq!(reply.json()["expires_at"], json!(t + 600));
    assert_eq!(latest_end(&grants_of(&token, "room-1", "42")), t + 600);
    server.stop().await.unwrap();

    // The app's maximum holds with no authentication at all.
    let open = toml_config(&temp_dir("hole-2-open"), "max_lifetime_secs = 3600", "");
    let server = start(open).await;
    let body = structure(json!({"version": "006", "channel_name": "room-1", "uid": "42", "privileges": {"1": 0}}));
    let reply = server.post_json("/v1/tokens", &body).await;
    assert_refused(&reply, "maximum lifetime of 3600 s");
    assert_eq!(issued_count(&server.get("/metrics").await.body), 0);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn hole_3_a_uid_text_that_reads_as_0_is_a_wildcard_on_every_route() {
    for version in ["007", "006"] {
        let server = server(&format!("hole-3-{version}"), version).await;
        let cases = [
            ("GET", "/rtc/room-1/subscriber/uid/00/", ""),
            ("GET", "/rtc/room-1/subscriber/uid/000/", ""),
            ("GET", "/rtc/room-1/subscriber/uid/+0/", ""),
            ("GET", "/rtc/room-1/00/2/token", ""),
            ("GET", "/rte/room-1/subscriber/uid/00/7/", ""),
            (
                "POST",
                "/getToken",
                r#"{"tokenType":"rtc","channel":"room-1","role":"subscriber","uid":"00","expire":600}"#,
            ),
            (
                "POST",
                "/getToken",
                r#"{"tokenType":"rtc","channel":"room-1","role":"subscriber","uid":"+0","expire":600}"#,
            ),
            ("POST", "/token/getNew", r#"{"tokenType":"rtc","channel":"room-1","uid":"00"}"#),
        ];
        for (method, path, body) in cases {
            let reply = send(&server, VIEWER_KEY, method, path, body).await;
            assert_refused(&reply, "any user (uid 0)");
        }
        // A real uid is fine, and admits that uid only.
        let reply = send(&server, VIEWER_KEY, "GET", "/rtc/room-1/subscriber/uid/007/", "").await;
        assert_eq!(reply.status, 200, "{version}: {reply:?}");
        let token = reply.json()["rtcToken"].as_str().unwrap().to_owned();
        assert!(admit(&token, &join("room-1", Uid::Int(7))).is_ok());
        assert!(admit(&token, &join("room-1", Uid::Int(8))).is_err());
        assert!(admit(&token, &publish("room-1", Uid::Int(7))).is_err());
        server.stop().await.unwrap();
    }
}

/// `/token/getNew` goes through the same judging: what the built token admits decides.
#[tokio::test]
async fn go_middleware_route_is_judged_on_what_its_tokens_admit() {
    let server = server("get-new", "007").await;
    // An RTM token with a channel also admits RTC on it: not for an RTM-only caller.
    let with_stream = r#"{"tokenType":"rtm","uid":"bob","channel":"room-1"}"#;
    let reply = send(&server, RTM_ONLY_KEY, "POST", "/token/getNew", with_stream).await;
    assert_refused(&reply, "rtc");
    let reply = send(&server, RTM_ONLY_KEY, "POST", "/token/getNew", r#"{"tokenType":"rtm","uid":"bob"}"#).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    // A chat app token (empty uid) needs a rule that allows chat app tokens.
    let reply = send(&server, BACKEND_KEY, "POST", "/token/getNew", r#"{"tokenType":"chat"}"#).await;
    assert_refused(&reply, "chat");
    // A viewer asking for publisher on its channels is refused; subscriber is fine.
    let publisher = r#"{"tokenType":"rtc","channel":"room-1","uid":"42","role":"publisher"}"#;
    let reply = send(&server, VIEWER_KEY, "POST", "/token/getNew", publisher).await;
    assert_refused(&reply, "needs the publisher role");
    let reply =
        send(&server, VIEWER_KEY, "POST", "/token/getNew", r#"{"tokenType":"rtc","channel":"room-1","uid":"42"}"#)
            .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    // No key: 401, in the route's plain-text error shape.
    let reply = server.post_json("/token/getNew", r#"{"tokenType":"rtm","uid":"bob"}"#).await;
    assert_eq!(reply.status, 401, "{reply:?}");
    assert!(reply.header("content-type").unwrap().starts_with("text/plain"), "{reply:?}");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn hole_4_privilege_expire_cannot_outlive_the_rule_on_006_apps() {
    let server = server("hole-4", "006").await;
    let body = r#"{"service":"rtc","channel":"room-1","uid":42,"expire":1800,"privilege_expire":3600}"#;
    let reply = send(&server, VIEWER_KEY, "POST", "/v1/tokens", body).await;
    assert_refused(&reply, "longer than this rule's maximum of 1800 s");
    // Within: the answer reports when the join privilege ends, as the token does.
    let body = r#"{"service":"rtc","channel":"room-1","uid":42,"expire":600,"privilege_expire":1200}"#;
    let reply = send(&server, VIEWER_KEY, "POST", "/v1/tokens", body).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let token = reply.json()["token"].as_str().unwrap().to_owned();
    let end = latest_end(&grants_of(&token, "room-1", "42"));
    assert_eq!(reply.json()["expires_at"], json!(end), "{reply:?}");
    let admitted = admit(&token, &join("room-1", Uid::Int(42))).unwrap();
    assert_eq!(admitted.expires_at.as_secs(), end);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn hole_5_a_future_issue_ts_counts_in_the_lifetime() {
    let server = server("hole-5", "007").await;
    let t = now().as_secs();
    let rtc = |expire: u64| {
        structure(json!({
            "issue_ts": t + 60, "expire": expire,
            "services": [{"name": "rtc", "channel_name": "room-1", "uid": "42", "privileges": {"1": 0}}]
        }))
    };
    let reply = send(&server, VIEWER_KEY, "POST", "/v1/tokens", &rtc(1800)).await;
    assert_refused(&reply, "longer than this rule's maximum of 1800 s");
    let reply = send(&server, VIEWER_KEY, "POST", "/v1/tokens", &rtc(1700)).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let token = reply.json()["token"].as_str().unwrap().to_owned();
    assert!(latest_end(&grants_of(&token, "", "")) <= now().as_secs() + 1800);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn hole_6_a_subscriber_rule_admits_join_only() {
    let server = server("hole-6", "007").await;
    let t = now().as_secs();
    let body = structure(json!({
        "version": "006", "channel_name": "room-1", "uid": "42", "privileges": {"1": t + 600, "101": t + 600}
    }));
    let reply = send(&server, VIEWER_KEY, "POST", "/v1/tokens", &body).await;
    assert_refused(&reply, "administrate_channel needs the admin role");
    for unnamed in ["5", "6"] {
        let body = structure(json!({
            "expire": 600,
            "services": [{"name": "rtc", "channel_name": "room-1", "uid": "42", "privileges": {"1": 0, unnamed: 0}}]
        }));
        let reply = send(&server, VIEWER_KEY, "POST", "/v1/tokens", &body).await;
        assert_refused(&reply, "allow_unnamed_privileges");
    }
    for publish in ["2", "3", "4"] {
        let body = structure(json!({
            "expire": 600,
            "services": [{"name": "rtc", "channel_name": "room-1", "uid": "42", "privileges": {"1": 0, publish: 0}}]
        }));
        let reply = send(&server, VIEWER_KEY, "POST", "/v1/tokens", &body).await;
        assert_refused(&reply, "needs the publisher role");
    }
    server.stop().await.unwrap();
}

#[tokio::test]
async fn hole_7_rte_is_issued_as_one_or_not_at_all() {
    let server = server("hole-7", "007").await;
    // The viewers' rule allows RTC but not RTM: neither half is issued, logged or counted.
    let reply = send(&server, VIEWER_KEY, "GET", "/rte/room-1/subscriber/uid/42/", "").await;
    assert_refused(&reply, "service rtm is not allowed");
    assert_eq!(issued_count(&server.get("/metrics").await.body), 0);
    // The backend's rule allows both: both are issued and counted.
    let reply = send(&server, BACKEND_KEY, "GET", "/rte/room-1/subscriber/uid/42/", "").await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert!(admit(reply.json()["rtcToken"].as_str().unwrap(), &join("room-1", Uid::Int(42))).is_ok());
    assert_eq!(issued_count(&server.get("/metrics").await.body), 2);
    server.stop().await.unwrap();
}

#[test]
fn grants_end_is_what_the_admission_check_says() {
    // The same computation: the latest grant end is the last instant any action is admitted.
    let certs = CertificateSet::new(AppCertificate::new(CERT).unwrap());
    let app = agtoken::AppId::new(APP_ID).unwrap();
    let at = UnixTime::from_secs(1_700_000_000);
    let token = agtoken::RtcToken::builder(&app, &AppCertificate::new(CERT).unwrap())
        .channel("room-1")
        .uid(Uid::Int(42))
        .role(agtoken::Role::Publisher)
        .valid_for(std::time::Duration::from_secs(600))
        .privileges_expire(std::time::Duration::from_secs(300))
        .issued_at(at)
        .build()
        .unwrap();
    let verified = Token::parse(&token).unwrap().verify(&certs).unwrap();
    let end = latest_end(&verified.grants());
    let action = join("room-1", Uid::Int(42));
    assert!(verified.check(&app, &action, UnixTime::from_secs(end - 1)).is_ok());
    assert!(verified.check(&app, &action, UnixTime::from_secs(end)).is_err());
}

// ---- found in the same test run ---------------------------------------------------------------

#[test]
fn a_private_key_in_public_key_files_stops_start_up() {
    let dir = temp_dir("private-pem");
    std::fs::write(dir.join("idp.pem"), RSA_KEY).unwrap();
    write_secret(&dir, "certificate", &format!("{CERT}\n"));
    let text = format!(
        "host = \"127.0.0.1\"\nport = 0\n[[apps]]\napp_id = \"{APP_ID}\"\napp_certificate_file = \"certificate\"\n\
         auth = \"jwt\"\n[apps.jwt]\npublic_key_files = [\"idp.pem\"]\n\
         [[apps.policy]]\nname = \"r\"\nservices = [\"rtc\"]\n"
    );
    let path = dir.join("agtoken.toml");
    std::fs::write(&path, &text).unwrap();
    let err = agtoken_server::Config::from_sources(
        &agtoken_server::ServeOptions::default(),
        &agtoken_server::Env::default(),
        Some((&path, &text)),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("PRIVATE key") && err.contains("idp.pem"), "{err}");
    assert!(!err.contains("MII"), "key material echoed: {err}");
}

#[tokio::test]
async fn a_jwks_rewritten_with_the_same_mtime_is_reloaded() {
    let dir = temp_dir("jwks-same-mtime");
    write_secret(&dir, "jwt-secret", SECRET);
    let pair = |kid: &str| {
        let pair = rcgen::KeyPair::generate().unwrap();
        let key = jsonwebtoken::EncodingKey::from_ec_pem(pair.serialize_pem().as_bytes()).unwrap();
        let mut jwk = serde_json::to_value(
            jsonwebtoken::jwk::Jwk::from_encoding_key(&key, jsonwebtoken::Algorithm::ES256).unwrap(),
        )
        .unwrap();
        jwk["kid"] = json!(kid);
        (json!({ "keys": [jwk] }), key)
    };
    let ((one, _), (two, key_two)) = (pair("k1"), pair("k2"));
    let file = dir.join("jwks.json");
    std::fs::write(&file, one.to_string()).unwrap();
    let mtime = std::fs::metadata(&file).unwrap().modified().unwrap();
    let settings = "auth = \"jwt\"\n[apps.jwt]\naudience = \"agtoken\"\njwks_file = \"jwks.json\"\n\
                    [[apps.policy]]\nname = \"r\"\nservices = [\"fpa\"]\n";
    let server = start(toml_config(&dir, settings, "")).await;
    let t = now_secs();
    let token = jwt(
        jsonwebtoken::Algorithm::ES256,
        &key_two,
        Some("k2"),
        &json!({"sub": "a", "aud": "agtoken", "iat": t, "exp": t + 300}),
    );
    let auth = bearer(&token);
    let create = || async {
        let headers = [("Content-Type", "application/json"), ("Authorization", auth.as_str())];
        server.send("POST", "/v1/tokens", &headers, br#"{"service":"fpa"}"#).await.status
    };
    assert_eq!(create().await, 401);
    // Rewritten in place, then its modification time set back: only the content tells.
    std::fs::write(&file, two.to_string()).unwrap();
    std::fs::File::options().write(true).open(&file).unwrap().set_modified(mtime).unwrap();
    assert_eq!(std::fs::metadata(&file).unwrap().modified().unwrap(), mtime);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(create().await, 200);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn expect_100_continue_over_the_body_limit_is_413_without_continue() {
    let server = start(toml_config(&temp_dir("expect-continue"), "", "")).await;
    let request = "POST /v1/tokens HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
                   Content-Length: 1000000\r\nExpect: 100-continue\r\n\r\n";
    let reply = exchange(server.addr, request.as_bytes()).await;
    assert_eq!(reply.status, 413, "{reply:?}");
    assert_eq!(reply.error()["code"], "payload_too_large");
    // Within the limit, the body is invited and the request served.
    let body = r#"{"service":"fpa"}"#;
    let request = format!(
        "POST /v1/tokens HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    assert_eq!(exchange(server.addr, request.as_bytes()).await.status, 200);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn an_ipv4_mapped_address_is_the_same_client() {
    let dir = temp_dir("per-ip-mapped");
    let server =
        start(toml_config(&dir, "", "per_ip_rate_limit = \"1/min\"\nclient_ip_header = \"X-Forwarded-For\"")).await;
    let send = |xff: &'static str| {
        let server = &server;
        async move {
            let headers = [("Content-Type", "application/json"), ("X-Forwarded-For", xff)];
            server.send("POST", "/v1/tokens", &headers, br#"{"service":"fpa"}"#).await.status
        }
    };
    assert_eq!(send("198.51.100.7").await, 200);
    assert_eq!(send("::ffff:198.51.100.7").await, 429, "the same client in IPv6 notation");
    assert_eq!(send("::ffff:198.51.100.8").await, 200);
    assert_eq!(send("198.51.100.8").await, 429);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_token_that_inflates_past_the_cap_is_refused_on_the_open_inspect_route() {
    let server = start(toml_config(&temp_dir("inflate-cap"), "", "")).await;
    // A 1.4 KB token could once inflate to 1 MiB; now 8 KiB is the most any token may hold.
    let mut t = agtoken::AccessToken2::new(APP_ID, 1_700_000_000, 600, 1);
    t.add_service(agtoken::Service::Rtm { user_id: "x".repeat(9000), privileges: Default::default() });
    let token = t.encode(&AppCertificate::new(CERT).unwrap()).unwrap();
    assert!(token.len() < 300, "{}", token.len());
    let reply = server.post_json("/v1/tokens/inspect", &json!({ "token": token }).to_string()).await;
    assert!(reply.body.contains("size limit"), "{reply:?}");
    assert_ne!(reply.status, 200);
    server.stop().await.unwrap();
}
