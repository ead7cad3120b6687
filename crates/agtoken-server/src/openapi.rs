//! The OpenAPI 3.0 document of every route, written by hand and rendered once.

use std::sync::LazyLock;

use serde_json::{json, Value};

static DOCUMENT: LazyLock<String> = LazyLock::new(|| document().to_string());

/// The document as JSON text.
pub fn document_text() -> &'static str {
    &DOCUMENT
}

fn json_body(schema: Value) -> Value {
    json!({"required": true, "content": {"application/json": {"schema": schema}}})
}

fn json_response(description: &str, schema: Value) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": schema}}})
}

fn text_response(description: &str) -> Value {
    json!({"description": description, "content": {"text/plain": {"schema": {"type": "string"}}}})
}

fn error_ref() -> Value {
    json!({"$ref": "#/components/schemas/Error"})
}

fn v1_errors(extra: &[(&str, &str)]) -> Value {
    let mut map = serde_json::Map::new();
    for (status, description) in [
        ("400", "malformed JSON, a wrong type, an unknown field or a number out of range"),
        ("413", "body over the limit (16 KiB by default)"),
        ("415", "Content-Type is not application/json"),
        ("422", "well-formed but against a rule (channel name, lifetime, unknown app)"),
    ]
    .iter()
    .chain(extra)
    {
        map.insert((*status).into(), json_response(description, error_ref()));
    }
    Value::Object(map)
}

fn path_param(name: &str, description: &str) -> Value {
    json!({"name": name, "in": "path", "required": true, "description": description, "schema": {"type": "string"}})
}

fn expiry_param() -> Value {
    json!({"name": "expiry", "in": "query", "required": false,
        "description": "token lifetime in seconds (default: the server's compat_lifetime, 3600 unless configured)",
        "schema": {"type": "integer", "minimum": 1, "maximum": 86400}})
}

fn community_error() -> Value {
    json_response(
        "bad parameter: {\"message\": …, \"status\": 400}, or a token the rules refuse: {\"error\": …, \"status\": 400}",
        json!({"type": "object", "properties": {"message": {"type": "string"}, "error": {"type": "string"}, "status": {"type": "integer"}}}),
    )
}

fn with_trailing_slash(paths: &mut serde_json::Map<String, Value>, path: &str, item: Value) {
    paths.insert(format!("{path}/"), item.clone());
    paths.insert(path.to_owned(), item);
}

/// The document.
pub fn document() -> Value {
    let rtc_role = path_param("role", "publisher | subscriber (also 1 | 2)");
    let tokentype = path_param("tokentype", "uid (a number; 0 admits any user) | userAccount (a string)");
    let mut paths = serde_json::Map::new();

    paths.insert("/fetch_rtc_token".into(), json!({"post": {
        "tags": ["compatibility"],
        "summary": "The docs' Go sample server: an RTC token for the default app",
        "description": "Field names are matched in any ASCII case (the docs' web client sends channelName, the Android client ChannelName). uid 0 admits any uid. role 1 publisher, 2 subscriber; 0 and 101 (deprecated) act as publisher. The lifetime is the app's compat_lifetime.",
        "requestBody": json_body(json!({"type": "object", "properties": {
            "uid": {"type": "integer", "minimum": 0, "maximum": 4294967295u32},
            "ChannelName": {"type": "string", "maxLength": 63},
            "role": {"type": "integer", "enum": [0, 1, 2, 101]}}, "required": ["ChannelName"],
            "example": {"uid": 1234, "ChannelName": "test", "role": 1}})),
        "responses": {
            "200": json_response("the token", json!({"type": "object", "properties": {"code": {"type": "string", "example": "200"}, "token": {"type": "string"}}})),
            "400": json_response("malformed JSON, wrong type, out-of-range or missing field", json!({"type": "object", "properties": {"code": {"type": "string", "example": "400"}, "message": {"type": "string"}, "field": {"type": "string", "nullable": true}}})),
            "405": json_response("any method but POST (and OPTIONS preflight)", error_ref()),
            "413": {"description": "body over the limit"}
        }}}));

    paths.insert("/token/generate".into(), json!({"post": {
        "tags": ["compatibility"],
        "summary": "The docs' Docker token generator: one 007 token holding every enabled service",
        "description": "tokenExpireTs and privilegeExpireTs are seconds from now (0: the default lifetime / as long as the token). serviceEducation is accepted as another name of serviceApaas.",
        "requestBody": json_body(json!({"type": "object", "properties": {
            "channelName": {"type": "string"}, "uid": {"type": "string"},
            "tokenExpireTs": {"type": "integer"}, "privilegeExpireTs": {"type": "integer"},
            "serviceRtc": {"type": "object", "properties": {"enable": {"type": "boolean"}, "role": {"type": "integer", "enum": [1, 2]}}},
            "serviceRtm": {"type": "object", "properties": {"enable": {"type": "boolean"}}},
            "serviceFpa": {"type": "object", "properties": {"enable": {"type": "boolean"}}},
            "serviceChat": {"type": "object", "properties": {"enableUser": {"type": "boolean"}, "enableApp": {"type": "boolean"}, "userUuid": {"type": "string"}}},
            "serviceApaas": {"type": "object", "properties": {"enableUser": {"type": "boolean"}, "enableApp": {"type": "boolean"}, "userUuid": {"type": "string"}}}},
            "example": {"channelName": "channel_name_test", "uid": "12345678", "tokenExpireTs": 3600, "privilegeExpireTs": 3600, "serviceRtc": {"enable": true, "role": 1}, "serviceRtm": {"enable": true}}})),
        "responses": {
            "200": json_response("the token", json!({"type": "object", "properties": {"code": {"type": "integer", "example": 0}, "message": {"type": "string", "example": "Success"}, "data": {"type": "object", "properties": {"token": {"type": "string"}}}}})),
            "400": json_response("code -1: bad parameters; code -2: the token could not be generated", json!({"type": "object", "properties": {"code": {"type": "integer", "enum": [-1, -2]}, "message": {"type": "string"}, "data": {"type": "string"}}}))
        }}}));

    with_trailing_slash(
        &mut paths,
        "/rtc/{channel}/{role}/{tokentype}/{uid}",
        json!({"get": {
        "tags": ["compatibility"],
        "summary": "Community token service: RTC token. When the last segment is the literal `token`, this is the Spring server's /rtc/{channel}/{uid}/{role}/token instead (plain-text answer).",
        "parameters": [path_param("channel", "channel name"), rtc_role, tokentype, path_param("uid", "uid or account"), expiry_param()],
        "responses": {"200": json_response("the token", json!({"type": "object", "properties": {"rtcToken": {"type": "string"}}})), "400": community_error()}}}),
    );
    paths.insert("/rtc/{channel}/{uid}/{role}/token".into(), json!({"get": {
        "tags": ["compatibility"],
        "summary": "The docs' Spring server: RTC token as plain text (role 1 publisher, 2 subscriber)",
        "parameters": [path_param("channel", "channel name"), path_param("uid", "a number; 0 admits any user"), path_param("role", "1 | 2")],
        "responses": {"200": text_response("the token"), "400": text_response("what is wrong")}}}));
    with_trailing_slash(
        &mut paths,
        "/rtm/{uid}",
        json!({"get": {
        "tags": ["compatibility"], "summary": "Community token service: RTM token",
        "parameters": [path_param("uid", "RTM user id (not empty, not 0)"), expiry_param()],
        "responses": {"200": json_response("the token", json!({"type": "object", "properties": {"rtmToken": {"type": "string"}}})), "400": community_error()}}}),
    );
    let rte_params = |with_rtm: bool| {
        let mut p = vec![
            path_param("channel", "channel name"),
            path_param("role", "publisher | subscriber (also 1 | 2)"),
            path_param("tokentype", "uid | userAccount"),
            path_param("rtcuid", "RTC uid or account"),
        ];
        if with_rtm {
            p.push(path_param("rtmuid", "RTM user id (default: rtcuid)"));
        }
        p.push(expiry_param());
        p
    };
    let rte_ok = json_response(
        "both tokens",
        json!({"type": "object", "properties": {"rtcToken": {"type": "string"}, "rtmToken": {"type": "string"}}}),
    );
    with_trailing_slash(
        &mut paths,
        "/rte/{channel}/{role}/{tokentype}/{rtcuid}",
        json!({"get": {
        "tags": ["compatibility"], "summary": "Community token service: RTC and RTM tokens",
        "parameters": rte_params(false), "responses": {"200": rte_ok.clone(), "400": community_error()}}}),
    );
    with_trailing_slash(
        &mut paths,
        "/rte/{channel}/{role}/{tokentype}/{rtcuid}/{rtmuid}",
        json!({"get": {
        "tags": ["compatibility"], "summary": "Community token service: RTC and RTM tokens, RTM for another user id",
        "parameters": rte_params(true), "responses": {"200": rte_ok, "400": community_error()}}}),
    );
    let chat_ok =
        json_response("the token", json!({"type": "object", "properties": {"chatToken": {"type": "string"}}}));
    with_trailing_slash(
        &mut paths,
        "/chat/app",
        json!({"get": {
        "tags": ["compatibility"], "summary": "Community token service: Chat app token",
        "parameters": [expiry_param()], "responses": {"200": chat_ok.clone(), "400": community_error()}}}),
    );
    with_trailing_slash(
        &mut paths,
        "/chat/account/{uid}",
        json!({"get": {
        "tags": ["compatibility"], "summary": "Community token service: Chat user token",
        "parameters": [path_param("uid", "Chat user id"), expiry_param()], "responses": {"200": chat_ok, "400": community_error()}}}),
    );
    paths.insert("/getToken".into(), json!({"post": {
        "tags": ["compatibility"], "summary": "Community token service: any token type",
        "requestBody": json_body(json!({"type": "object", "properties": {
            "tokenType": {"type": "string", "enum": ["rtc", "rtm", "chat"]}, "channel": {"type": "string"},
            "role": {"type": "string", "enum": ["publisher", "subscriber"]}, "uid": {"type": "string", "description": "digits: an integer uid; else an account. For chat, empty gives an app token."},
            "expire": {"type": "integer", "description": "seconds; 0 or absent: the default"}}, "required": ["tokenType"]})),
        "responses": {
            "200": json_response("the token", json!({"type": "object", "properties": {"token": {"type": "string"}}})),
            "400": json_response("what is wrong", json!({"type": "object", "properties": {"error": {"type": "string"}}}))}}}));
    paths.insert("/ping".into(), json!({"get": {"tags": ["compatibility"], "summary": "Community token service: liveness",
        "responses": {"200": json_response("pong", json!({"type": "object", "properties": {"message": {"type": "string", "example": "pong"}}}))}}}));
    paths.insert(
        "/chat/app/token".into(),
        json!({"get": {"tags": ["compatibility"], "summary": "The docs' Spring server: Chat app token as plain text",
        "responses": {"200": text_response("the token")}}}),
    );
    paths.insert("/chat/user/{user}/token".into(), json!({"get": {"tags": ["compatibility"], "summary": "The docs' Spring server: Chat user token as plain text",
        "parameters": [path_param("user", "Chat user id")], "responses": {"200": text_response("the token"), "400": text_response("what is wrong")}}}));

    paths.insert("/v1/tokens".into(), json!({"post": {
        "tags": ["v1"], "summary": "Build a token: builder style, or the full structure",
        "description": "The app certificate always comes from the server's configuration, never from the request. Lifetimes are capped by the app's max_lifetime.",
        "requestBody": json_body(json!({"oneOf": [
            {"$ref": "#/components/schemas/BuildRequest"}, {"$ref": "#/components/schemas/StructureRequest"}]})),
        "responses": {
            "200": json_response("the token", json!({"$ref": "#/components/schemas/TokenResponse"})),
            "400": v1_errors(&[])["400"].clone(), "413": v1_errors(&[])["413"].clone(),
            "415": v1_errors(&[])["415"].clone(), "422": v1_errors(&[])["422"].clone()}}}));
    paths.insert("/v1/tokens/inspect".into(), json!({"post": {
        "tags": ["v1"], "summary": "Every field of a token, with absolute times; the signature checked when the app is configured",
        "requestBody": json_body(json!({"type": "object", "required": ["token"], "properties": {
            "token": {"type": "string"}, "channel": {"type": "string", "description": "006 only: the channel it was made for"},
            "uid": {"type": "integer"}, "account": {"type": "string"}}})),
        "responses": {"200": json_response("the structure (as agtoken inspect --json) plus issued_at, expires_at (unix and RFC 3339), expires_in, expired, server_time, app_known, signature_valid (null when it cannot be checked), certificate, privilege_expiries",
            json!({"type": "object", "additionalProperties": true})), "422": json_response("not a token (code invalid_token)", error_ref())}}}));
    paths.insert("/v1/tokens/verify".into(), json!({"post": {
        "tags": ["v1"], "summary": "What Agora would answer for an action with this token",
        "requestBody": json_body(json!({"type": "object", "required": ["token", "action"], "properties": {
            "token": {"type": "string"},
            "action": {"type": "string", "enum": ["join", "publish_audio", "publish_video", "publish_data", "rtm_login", "chat_login", "chat_app"]},
            "channel": {"type": "string"}, "uid": {"type": "integer"}, "account": {"type": "string"},
            "user_id": {"type": "string", "description": "rtm_login, chat_login"},
            "at": {"oneOf": [{"type": "integer"}, {"type": "string", "format": "date-time"}], "description": "default: now"},
            "app_id": {"type": "string", "description": "the app the client initialised with (default: the token's, if configured)"}}})),
        "responses": {"200": json_response("the answer (a refusal is a 200 with admitted false)", json!({"$ref": "#/components/schemas/VerifyResponse"})),
            "400": v1_errors(&[])["400"].clone(), "422": v1_errors(&[])["422"].clone()}}}));
    paths.insert("/healthz".into(), json!({"get": {"tags": ["operations"], "summary": "Liveness",
        "responses": {"200": json_response("ok", json!({"type": "object", "properties": {"status": {"type": "string"}}}))}}}));
    paths.insert("/readyz".into(), json!({"get": {"tags": ["operations"], "summary": "Readiness: 503 once shutdown has begun, while the rate-limit store is away with fallback refuse, or while an app's JWT keys from a URL were never fetched",
        "responses": {"200": json_response("ready", json!({"type": "object"})), "503": json_response("draining", json!({"type": "object"}))}}}));
    paths.insert("/metrics".into(), json!({"get": {"tags": ["operations"], "summary": "Prometheus metrics: requests by route and status, latency histogram, tokens issued by service",
        "responses": {"200": text_response("Prometheus text format 0.0.4")}}}));
    paths.insert(
        "/openapi.json".into(),
        json!({"get": {"tags": ["operations"], "summary": "This document",
        "responses": {"200": json_response("OpenAPI 3.0", json!({"type": "object"}))}}}),
    );
    paths.insert("/".into(), json!({"get": {"tags": ["web"], "summary": "The web client (web/, embedded)",
        "parameters": [{"name": "api", "in": "query", "required": false, "schema": {"type": "string"},
            "description": "origin of another agtoken server for the page to call (that server must allow this origin with CORS_ALLOW_ORIGIN)"}],
        "responses": {"200": {"description": "HTML", "content": {"text/html": {"schema": {"type": "string"}}}}}}}));
    for (path, media, what) in [
        ("/client.js", "text/javascript", "the web client's script"),
        ("/style.css", "text/css", "the web client's style sheet"),
        ("/favicon.svg", "image/svg+xml", "the icon"),
    ] {
        paths.insert(
            path.into(),
            json!({"get": {"tags": ["web"], "summary": what,
            "responses": {"200": {"description": what, "content": {media: {"schema": {"type": "string"}}}}}}}),
        );
    }
    paths.insert("/v1/config".into(), json!({"get": {"tags": ["web"], "summary": "What a client needs to know about this server and its default app",
        "responses": {"200": json_response("settings (never a certificate)", json!({"type": "object", "properties": {
            "demo": {"type": "boolean"}, "app_id": {"type": "string"}, "token_version": {"type": "string", "enum": ["007", "006"]},
            "default_lifetime": {"type": "integer"}, "max_lifetime": {"type": "integer"}, "compat_lifetime": {"type": "integer"},
            "demo_lifetime": {"type": "integer", "nullable": true, "description": "demo mode: the lifetime the web client fills in (renewals show within a minute)"},
            "auth": {"type": "string", "enum": ["none", "api_key", "jwt"], "description": "what the default app's token routes require"},
            "server_time": {"type": "integer"}, "server_version": {"type": "string"}}}))}}}));

    let mut doc = json!({
        "openapi": "3.0.3",
        "info": {
            "title": "agtoken server",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Agora token server: the APIs of the token servers in Agora's docs (unchanged on the wire) and a v1 API. Every v1 error is {\"error\": {\"code\", \"message\", \"field\"}}; unknown routes answer 404 and wrong methods 405 in that shape; 408 when a request takes longer than the timeout; 429 is reserved for rate limits."
        },
        "tags": [
            {"name": "compatibility", "description": "Routes of the docs' servers; each keeps its own answer and error shapes"},
            {"name": "v1", "description": "The clean API"},
            {"name": "operations", "description": "Health, readiness, metrics"},
            {"name": "web", "description": "The web client and what it reads"}
        ],
        "paths": paths,
        "components": {"schemas": {
            "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "object", "required": ["code", "message", "field"], "properties": {
                "code": {"type": "string", "enum": ["invalid_json", "invalid_body", "invalid_type", "unknown_field", "out_of_range", "missing_field", "invalid_value", "unknown_app", "invalid_token", "payload_too_large", "unsupported_media_type", "not_found", "method_not_allowed", "timeout", "forbidden", "rate_limited"]},
                "message": {"type": "string"},
                "field": {"type": "string", "nullable": true, "description": "the request field, as a JSON path"}}}}},
            "BuildRequest": build_request_schema(),
            "StructureRequest": {"type": "object", "required": ["structure"], "properties": {
                "app_id": {"type": "string"},
                "structure": {"type": "object", "description": "the JSON form of agtoken inspect --json (without app_certificate); issue_ts, salt, expire (007) and ts (006) are filled in when absent",
                    "example": {"version": "007", "services": [{"name": "rtc", "channel_name": "room-1", "uid": "1234", "privileges": {"1": 3600}}]}}}},
            "TokenResponse": {"type": "object", "properties": {
                "token": {"type": "string"}, "version": {"type": "string"}, "app_id": {"type": "string"},
                "issued_at": {"type": "integer"}, "issued_at_rfc3339": {"type": "string"},
                "expires_at": {"type": "integer", "description": "when the token (or, 006, its privileges) stops admitting joins"},
                "expires_at_rfc3339": {"type": "string"}, "expires_in": {"type": "integer"},
                "server_time": {"type": "integer", "description": "the server's clock, to correct a client's"},
                "structure": {"type": "object", "description": "what the token holds, as /v1/tokens/inspect shows it"}}},
            "VerifyResponse": {"type": "object", "required": ["admitted", "server_time"], "properties": {
                "admitted": {"type": "boolean"},
                "reason": {"type": "object", "properties": {
                    "message": {"type": "string"}, "agora_code": {"type": "integer", "nullable": true},
                    "agora_name": {"type": "string", "nullable": true}, "agora_meaning": {"type": "string", "nullable": true},
                    "product": {"type": "string", "enum": ["rtc", "rtm", "chat"]}}},
                "expires_at": {"type": "integer"}, "expires_at_rfc3339": {"type": "string"},
                "certificate": {"type": "string", "enum": ["primary", "secondary"]},
                "app_id": {"type": "string"}, "checked_at": {"type": "integer"}, "server_time": {"type": "integer"}}}
        }}
    });
    add_security(&mut doc);
    doc
}

/// Every route that issues a token authenticates its caller when the app configures `auth`
/// (API key or JWT bearer) and applies the policy and rate limits: document the schemes, and
/// 401/403/429 on those routes, in each route family's error shape.
fn add_security(doc: &mut Value) {
    doc["components"]["securitySchemes"] = json!({
        "bearer": {"type": "http", "scheme": "bearer",
            "description": "An API key (auth = \"api_key\") or a JWT from the app's identity provider (auth = \"jwt\")"},
        "apiKey": {"type": "apiKey", "in": "header", "name": "X-Api-Key"}
    });
    let Some(paths) = doc["paths"].as_object_mut() else { return };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else { continue };
        for operation in item.values_mut() {
            let tags = operation["tags"].as_array().cloned().unwrap_or_default();
            let issues = tags.iter().any(|t| t == "compatibility") && path != "/ping" || path == "/v1/tokens";
            if !issues {
                continue;
            }
            // {} first: with auth = "none" (and in demo mode) the route is open.
            operation["security"] = json!([{}, {"bearer": []}, {"apiKey": []}]);
            let Some(responses) = operation["responses"].as_object_mut() else { continue };
            let shape = |description: &str| {
                if path == "/v1/tokens" {
                    json_response(description, error_ref())
                } else {
                    json!({"description": format!("{description} (in this route's own error shape)")})
                }
            };
            responses.entry("401").or_insert_with(|| shape("no valid API key or bearer token (auth configured)"));
            responses
                .entry("403")
                .or_insert_with(|| shape("a policy rule refuses this token; the message names the rule"));
            responses.entry("429").or_insert_with(|| shape("over the rate limit; Retry-After says when to retry"));
            responses.entry("503").or_insert_with(|| {
                shape("the shared rate-limit store (limits_store) does not answer and limits_store_fallback is refuse, or the app's JWT keys from its identity provider were never fetched; Retry-After says when to retry")
            });
        }
    }
}

/// The builder-style request of `POST /v1/tokens`: one schema per kind of request, generated
/// from the library's description of it (`agtoken::Request::INFO`), selected by `service`.
fn build_request_schema() -> Value {
    use agtoken::build::request::FieldType;
    let common = json!({
        "app_id": {"type": "string", "description": "a configured app (default: the default app)"},
        "version": {"type": "string", "enum": ["007", "006"], "description": "default: the app's token_version"},
        "expire": {"type": "integer", "minimum": 1, "maximum": 86400, "description": "token lifetime in seconds (default: the app's default_lifetime)"}
    });
    let variants: Vec<Value> = agtoken::Request::INFO
        .iter()
        .map(|info| {
            let mut properties = common.as_object().cloned().unwrap_or_default();
            if !info.v006 {
                properties.insert("version".into(), json!({"type": "string", "enum": ["007"], "description": "007 only"}));
            }
            properties.insert("service".into(), json!({"type": "string", "enum": [info.service]}));
            let mut required = vec![json!("service")];
            for field in info.fields {
                let schema = match field.ty {
                    FieldType::Text => json!({"type": "string"}),
                    FieldType::Uint32 => json!({"type": "integer", "minimum": 0, "maximum": 4294967295u32}),
                    FieldType::Int16 => json!({"type": "integer", "minimum": 0, "maximum": 32767}),
                    FieldType::Bool => json!({"type": "boolean"}),
                    FieldType::Role => json!({"oneOf": [{"type": "string", "enum": ["publisher", "subscriber"]}, {"type": "integer", "enum": [1, 2]}]}),
                    FieldType::TextList => json!({"type": "array", "items": {"type": "string"}}),
                };
                let mut schema = schema;
                schema["description"] = json!(field.doc);
                properties.insert(field.name.into(), schema);
                if field.required {
                    required.push(json!(field.name));
                }
            }
            json!({"type": "object", "title": info.service, "description": info.doc, "required": required,
                   "additionalProperties": false, "properties": properties})
        })
        .collect();
    json!({"oneOf": variants,
           "example": {"service": "rtc", "channel": "room-1", "uid": 1234, "role": "publisher", "expire": 3600}})
}

#[cfg(test)]
mod tests {
    #[test]
    fn document_lists_every_route() {
        let doc = super::document();
        let paths = doc["paths"].as_object().unwrap();
        for route in crate::metrics::ROUTES.iter().filter(|r| !matches!(**r, "unmatched" | "other")) {
            // The router's parameter names are generic where two APIs share a depth.
            let documented = paths.keys().any(|p| {
                let norm = |s: &str| {
                    s.split('/').map(|seg| if seg.starts_with('{') { "{}" } else { seg }).collect::<Vec<_>>().join("/")
                };
                norm(p) == norm(route)
            });
            assert!(documented, "{route} is not in openapi.json");
        }
    }
}
