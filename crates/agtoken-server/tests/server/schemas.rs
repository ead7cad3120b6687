//! Real answers of every route, successes, errors and refusals, validated against the schemas
//! the server publishes for them in its own `/openapi.json` (derived from the answers' types):
//! an answer type whose serialized form stops matching its schema (a hand-written schema, a
//! `#[serde]` attribute the schema does not see, a status the document does not list) fails
//! here, without the Python tools of the contract test.
//!
//! OpenAPI 3.0 schemas are JSON Schema draft 4 plus `nullable`; `nullable: true` is rewritten
//! as "or null" before validating with the `jsonschema` crate.

use agtoken_server::{Config, Env, ServeOptions};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::common::{config, now, start, Reply, Server, APP_ID, CERT};

/// `schema` with every `nullable: true` rewritten as `anyOf: [schema, {"type": "null"}]`.
fn draft4(schema: &Value) -> Value {
    match schema {
        Value::Object(map) => {
            let mut out: Map<String, Value> = map.iter().map(|(k, v)| (k.clone(), draft4(v))).collect();
            if out.remove("nullable") == Some(Value::Bool(true)) {
                return json!({"anyOf": [Value::Object(out), {"type": "null"}]});
            }
            Value::Object(out)
        }
        Value::Array(list) => Value::Array(list.iter().map(draft4).collect()),
        other => other.clone(),
    }
}

/// Checks `reply` against the document's answer for `method path` (a documented path) and its
/// status: the status must be documented, and a JSON body must match its schema.
fn check(doc: &Value, method: &str, path: &str, reply: &Reply) {
    let operation = &doc["paths"][path][method];
    assert!(operation.is_object(), "{method} {path} is not in /openapi.json");
    let status = reply.status.to_string();
    let response = &operation["responses"][&status];
    assert!(response.is_object(), "{method} {path}: status {status} is not documented; body {}", reply.body);
    let media = reply.header("content-type").unwrap_or("").split(';').next().unwrap_or("").trim().to_owned();
    let schema = &response["content"][&media]["schema"];
    assert!(schema.is_object(), "{method} {path} {status}: {media} is not documented");
    if media != "application/json" {
        return;
    }
    let mut root = draft4(schema);
    root["components"] = draft4(&doc["components"]);
    let validator = jsonschema::draft4::new(&root)
        .unwrap_or_else(|e| panic!("{method} {path} {status}: the schema does not compile: {e}\n{root:#}"));
    let body = reply.json();
    let errors: Vec<String> = validator.iter_errors(&body).map(|e| format!("{e} at {}", e.instance_path())).collect();
    assert!(
        errors.is_empty(),
        "{method} {path} {status}: {} does not match its schema:\n{}",
        reply.body,
        errors.join("\n")
    );
}

/// One request: its method, documented path, concrete path, JSON body and the status it gets
/// (so each case keeps reaching the answer it is there to check).
type Case = (&'static str, &'static str, String, Option<Value>, u16);

async fn ask(server: &Server, doc: &Value, cases: Vec<Case>) {
    ask_with(server, doc, &[], cases).await;
}

async fn ask_with(server: &Server, doc: &Value, headers: &[(&str, &str)], cases: Vec<Case>) {
    for (method, documented, path, body, expected) in cases {
        let reply = match &body {
            Some(body) => {
                let mut headers = headers.to_vec();
                headers.push(("content-type", "application/json"));
                server.send("POST", &path, &headers, body.to_string().as_bytes()).await
            }
            None => server.send("GET", &path, headers, b"").await,
        };
        assert_eq!(reply.status, expected, "{method} {path} {body:?}: {}", reply.body);
        check(doc, method, documented, &reply);
    }
}

fn get(expected: u16, documented: &'static str, path: &str) -> Case {
    ("get", documented, path.to_owned(), None, expected)
}

fn post(expected: u16, documented: &'static str, body: Value) -> Case {
    ("post", documented, documented.to_owned(), Some(body), expected)
}

#[tokio::test]
async fn every_answer_matches_its_schema_in_the_document() {
    let server = start(config()).await;
    let doc = server.get("/openapi.json").await.json();
    let token = server.post_json("/v1/tokens", r#"{"service": "rtc", "channel": "c", "uid": 5}"#).await.json();
    let token = token["token"].as_str().expect("a token").to_owned();
    let at = now().as_secs() + 600;
    let v006 = server
        .post_json(
            "/v1/tokens",
            &json!({"structure": {"version": "006", "channel_name": "c", "uid": "5", "privileges": {"1": at, "2": 0}}})
                .to_string(),
        )
        .await
        .json();
    let v006 = v006["token"].as_str().expect("a 006 token").to_owned();
    let cases = vec![
        post(200, "/fetch_rtc_token", json!({"uid": 1, "ChannelName": "c", "role": 1})),
        post(400, "/fetch_rtc_token", json!({"uid": 1})),
        post(400, "/fetch_rtc_token", json!({"uid": "one", "ChannelName": "c"})),
        post(
            200,
            "/token/generate",
            json!({"channelName": "c", "uid": "1", "serviceRtc": {"enable": true, "role": 1}}),
        ),
        post(400, "/token/generate", json!({})),
        get(200, "/rtc/{channel}/{role}/uid/{uid}", "/rtc/c/publisher/uid/5"),
        get(400, "/rtc/{channel}/{role}/uid/{uid}", "/rtc/c/owner/uid/5"),
        get(400, "/rtc/{channel}/{role}/uid/{uid}", "/rtc/c/publisher/uid/5?expiry=999999999"),
        get(200, "/rtc/{channel}/{role}/userAccount/{account}", "/rtc/c/subscriber/userAccount/bob"),
        get(200, "/rtc/{channel}/{uid}/{role}/token", "/rtc/c/5/1/token"),
        get(200, "/rtm/{uid}", "/rtm/alice"),
        get(400, "/rtm/{uid}", "/rtm/0"),
        get(200, "/rte/{channel}/{role}/uid/{rtcuid}", "/rte/c/publisher/uid/5"),
        get(200, "/rte/{channel}/{role}/uid/{rtcuid}/{rtmuid}", "/rte/c/publisher/uid/5/bob"),
        get(200, "/chat/app", "/chat/app"),
        get(200, "/chat/account/{uid}", "/chat/account/alice"),
        get(200, "/chat/app/token", "/chat/app/token"),
        post(200, "/getToken", json!({"tokenType": "rtc", "channel": "c", "uid": "1", "role": "publisher"})),
        post(400, "/getToken", json!({"tokenType": "fax"})),
        post(200, "/token/getNew", json!({"tokenType": "rtm", "uid": "alice"})),
        post(400, "/token/getNew", json!({"tokenType": "fax"})),
        get(200, "/ping", "/ping"),
        post(200, "/v1/tokens", json!({"service": "rtc", "channel": "c", "uid": 5, "role": "subscriber"})),
        post(200, "/v1/tokens", json!({"service": "rtc", "channel": "c", "uid": 5, "version": "006"})),
        post(422, "/v1/tokens", json!({"service": "rtc"})),
        post(400, "/v1/tokens", json!({"service": "rtc", "channel": "c", "uid": -1})),
        post(200, "/v1/tokens/inspect", json!({"token": token})),
        post(200, "/v1/tokens/inspect", json!({"token": v006, "channel": "c", "uid": 5})),
        post(200, "/v1/tokens/inspect", json!({"token": v006})),
        post(422, "/v1/tokens/inspect", json!({"token": "not a token"})),
        post(200, "/v1/tokens/verify", json!({"token": token, "action": "join", "channel": "c", "uid": 5})),
        post(200, "/v1/tokens/verify", json!({"token": token, "action": "join", "channel": "other", "uid": 5})),
        post(200, "/v1/tokens/verify", json!({"token": "x", "action": "rtm_login", "user_id": "a"})),
        post(422, "/v1/tokens/verify", json!({"token": token, "action": "join"})),
        get(200, "/healthz", "/healthz"),
        get(200, "/readyz", "/readyz"),
        get(200, "/v1/config", "/v1/config"),
        get(200, "/openapi.json", "/openapi.json"),
        get(200, "/metrics", "/metrics"),
    ];
    ask(&server, &doc, cases).await;
    // A v1 body that is not JSON, and one of the wrong media type.
    let reply = server.post("/v1/tokens", Some("text/plain"), "{}").await;
    check(&doc, "post", "/v1/tokens", &reply);
    assert_eq!(reply.status, 415);
    let reply = server.post("/v1/tokens", Some("application/json"), "{").await;
    check(&doc, "post", "/v1/tokens", &reply);
    assert_eq!(reply.status, 400);
    server.stop().await.unwrap();
}

/// The refusals of each family, in its own shape: an app that requires an API key, asked
/// without one (401), and with a key whose policy rule grants RTM only (403).
#[tokio::test]
async fn every_refusal_matches_its_schema_in_the_document() {
    let key = "agtk_schemas_0123456789abcdef0123456789abcdef0123456789abcdef";
    let hash: String = Sha256::digest(key.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
    let text = format!(
        "host = \"127.0.0.1\"\nport = 0\n\n[[apps]]\napp_id = \"{APP_ID}\"\napp_certificate = \"{CERT}\"\nauth = \"api_key\"\n\n[[apps.api_keys]]\nname = \"k\"\nsha256 = \"{hash}\"\n\n[[apps.policy]]\nname = \"rtm only\"\napi_keys = [\"k\"]\nservices = [\"rtm\"]\n"
    );
    let config =
        Config::from_sources(&ServeOptions::default(), &Env::default(), Some((std::path::Path::new("x.toml"), &text)))
            .unwrap_or_else(|e| panic!("{e}"));
    let server = start(config).await;
    let doc = server.get("/openapi.json").await.json();
    let cases = vec![
        post(401, "/fetch_rtc_token", json!({"uid": 1, "ChannelName": "c", "role": 1})),
        post(
            401,
            "/token/generate",
            json!({"channelName": "c", "uid": "1", "serviceRtc": {"enable": true, "role": 1}}),
        ),
        get(401, "/rtc/{channel}/{role}/uid/{uid}", "/rtc/c/publisher/uid/5"),
        get(401, "/rtc/{channel}/{uid}/{role}/token", "/rtc/c/5/1/token"),
        get(401, "/rte/{channel}/{role}/uid/{rtcuid}", "/rte/c/publisher/uid/5"),
        get(401, "/chat/app", "/chat/app"),
        post(401, "/getToken", json!({"tokenType": "rtc", "channel": "c", "uid": "1"})),
        post(401, "/token/getNew", json!({"tokenType": "rtc", "channel": "c", "uid": "1"})),
        get(401, "/chat/user/{user}/token", "/chat/user/alice/token"),
        post(401, "/v1/tokens", json!({"service": "chat_app"})),
    ];
    let forbidden: Vec<Case> = cases.iter().cloned().map(|(m, d, p, b, _)| (m, d, p, b, 403)).collect();
    ask(&server, &doc, cases).await;
    ask_with(&server, &doc, &[("x-api-key", key)], forbidden).await;
    // The key is good: an RTM token is issued.
    ask_with(&server, &doc, &[("x-api-key", key)], vec![get(200, "/rtm/{uid}", "/rtm/alice")]).await;
    server.stop().await.unwrap();
}
