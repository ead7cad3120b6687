//! The OpenAPI 3.0 document, derived from the route table (`routes::TABLE`): each route
//! declares its operation with one of the functions here (its parameters, request body and
//! answers in its own shape), and [`document`] adds what follows from the route's declaration:
//! its path (and trailing-slash variant), its method, the security schemes and 401/403/429/503
//! of a token-issuing route, the 429/503 of the per-address limit, 413/415 of a route that
//! reads a body, and the 408 of the request timeout, each in the shape the server answers it.
//!
//! Answer schemas are never written here: each answer is a type the handler serializes, and
//! [`schema_of`] derives its schema (schemars, OpenAPI 3.0 settings) into `components.schemas`.
//! Request schemas are written: `BuildRequest` from the library's `Request::INFO`, the others
//! with the lenient reading of the originals and the refusals we make on purpose.
//!
//! Lengths: JSON Schema counts characters, Agora (and this server) count bytes. The limits
//! below are Agora's byte limits; for ASCII text the two agree.

use std::cell::RefCell;

use schemars::generate::{Contract, SchemaGenerator, SchemaSettings};
use schemars::JsonSchema;
use serde_json::{json, Map, Value};

use crate::config::Config;
use crate::error::ErrorBody;
use crate::routes::answers::{
    ChatToken, CommunityError, CommunityRefusal, FetchError, FetchRefusal, FetchToken, GenerateFailure, GenerateToken,
    Pong, RtcToken, RteTokens, RtmToken, TokenAnswer, TokenRequestError,
};
use crate::routes::ops::{Health, Readiness};
use crate::routes::v1::{InspectResponse, TokenResponse, VerifyResponse};
use crate::routes::{Body, Class, Route, TABLE};
use crate::web::WebConfig;

/// One documented operation of a route: its path in the document (`None`: the route's own
/// pattern) and the OpenAPI operation object.
pub(crate) struct Operation {
    /// The documented path, when it differs from the router's pattern (one pattern can serve
    /// two APIs, or a parameter be a fixed word in one of them).
    pub(crate) path: Option<&'static str>,
    /// The operation object.
    pub(crate) operation: Value,
    /// The schema of this route's own refusals (401, 403, 429 from `issue.rs`), and their
    /// media type; `None` for the v1 error shape.
    pub(crate) refusal: Option<(&'static str, Value)>,
}

/// What the document depends on in the configuration: the default app's maximum lifetime and
/// the configured apps (a v1 request naming another is refused). App ids are public (every
/// client app carries one); certificates never appear here.
pub(crate) struct DocSettings {
    max_lifetime: u32,
    app_ids: Vec<String>,
    /// The schemas of the answers' types, as the operations refer to them: collected into
    /// `components.schemas` once every route is documented.
    schemas: RefCell<SchemaGenerator>,
}

impl DocSettings {
    fn new(max_lifetime: u32, app_ids: Vec<String>) -> Self {
        // OpenAPI 3.0 (`nullable`, refs under #/components/schemas), for what the server sends.
        let settings = SchemaSettings::openapi3().with(|s| s.contract = Contract::Serialize);
        DocSettings { max_lifetime, app_ids, schemas: RefCell::new(settings.into_generator()) }
    }
}

/// The schema of `T` as the server serializes it: a `$ref` to its entry in
/// `components.schemas`, which the document then holds.
fn schema_of<T: JsonSchema>(l: &DocSettings) -> Value {
    l.schemas.borrow_mut().subschema_for::<T>().to_value()
}

/// The document for `config`, as JSON text.
pub fn document_text(config: &Config) -> String {
    document_for(config).to_string()
}

/// The document for the demo configuration (the default lifetimes).
pub fn document() -> Value {
    document_for(&Config::demo())
}

/// The document for `config`: every route of the table, in the table's order.
pub fn document_for(config: &Config) -> Value {
    let limits = DocSettings::new(
        config.default_app().max_lifetime,
        config.apps.iter().map(|a| a.app_id.as_str().to_owned()).collect(),
    );
    let mut paths = Map::new();
    for route in TABLE {
        for Operation { path, operation, refusal } in (route.doc)(&limits) {
            let path = path.unwrap_or(route.path);
            let operation = derived(&limits, route, operation, refusal);
            let method = route.method.as_str().to_ascii_lowercase();
            let mut variants = vec![path.to_owned()];
            if route.trailing_slash {
                variants.push(format!("{path}/"));
            }
            for variant in variants {
                let item = paths.entry(variant).or_insert_with(|| json!({}));
                item[&method] = operation.clone();
            }
        }
    }
    // The request schemas are written from the library's description (BuildRequest) and the
    // server's rules; every answer's schema is derived from its type.
    let mut schemas = limits.schemas.borrow_mut().take_definitions(true);
    schemas.insert("BuildRequest".into(), build_request_schema(&limits));
    schemas.insert("StructureRequest".into(), structure_request_schema(&limits));
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "agtoken server",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Agora token server: the APIs of the token servers in Agora's docs (unchanged on the wire) and a v1 API. Every v1 error is {\"error\": {\"code\", \"message\", \"field\"}}; unknown routes answer 404 and other methods 405 (with Allow) in that shape; 408 when a request takes longer than the timeout. Lengths are Agora's, in bytes (JSON Schema counts characters: the same for ASCII)."
        },
        "tags": [
            {"name": "compatibility", "description": "Routes of the docs' servers; each keeps its own answer and error shapes"},
            {"name": "v1", "description": "The clean API"},
            {"name": "operations", "description": "Health, readiness, metrics"},
            {"name": "web", "description": "The web client and what it reads"}
        ],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer",
                    "description": "An API key (auth = \"api_key\") or a JWT from the app's identity provider (auth = \"jwt\")"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-Api-Key"}
            }
        }
    })
}

/// Adds to `operation` what follows from the route's declaration.
fn derived(l: &DocSettings, route: &Route, mut operation: Value, refusal: Option<(&'static str, Value)>) -> Value {
    let own = |description: &str| match &refusal {
        Some((media, schema)) => content(description, media, schema.clone()),
        None => json_response(description, error_ref(l)),
    };
    let mut extra: Vec<(&str, Value)> = Vec::new();
    if route.class == Class::Issuing {
        // {} first: with auth = "none" (and in demo mode) the route is open.
        operation["security"] = json!([{}, {"bearer": []}, {"apiKey": []}]);
        extra.push((
            "401",
            own("no valid API key or bearer token (the app configures auth); WWW-Authenticate says how"),
        ));
        extra.push(("403", own("a policy rule refuses this token; the message names the rule")));
        extra.push(("429", own("over the per-caller rate limit; Retry-After says when to retry")));
        extra.push((
            "503",
            own("the app's JWT keys from its identity provider were never fetched, or the shared rate-limit store does not answer (limits_store_fallback refuse); Retry-After says when to retry"),
        ));
    }
    if route.class != Class::Open {
        extra.push((
            "429",
            json_response("over the per-address rate limit; Retry-After says when to retry", error_ref(l)),
        ));
        extra.push((
            "503",
            json_response(
                "the shared rate-limit store (limits_store) does not answer and limits_store_fallback is refuse; Retry-After says when to retry",
                error_ref(l),
            ),
        ));
    }
    if route.body != Body::None {
        extra.push((
            "413",
            json_response("body over the limit, refused before it is sent (Expect: 100-continue)", error_ref(l)),
        ));
    }
    if route.body == Body::Json {
        extra.push(("415", json_response("Content-Type is not application/json", error_ref(l))));
    }
    extra.push(("408", json_response("the request took longer than the server's request timeout", error_ref(l))));
    let responses = operation["responses"].as_object_mut().expect("every operation documents its answers");
    for (status, response) in extra {
        merge_response(responses, status, response);
    }
    operation
}

/// Adds `response` under `status`; where the route already documents that status with a body
/// of the same media type, the body is either schema (`anyOf`).
fn merge_response(responses: &mut Map<String, Value>, status: &str, response: Value) {
    let Some(existing) = responses.get_mut(status) else {
        responses.insert(status.to_owned(), response);
        return;
    };
    let Some(new_content) = response.get("content").and_then(Value::as_object) else { return };
    let content = existing.as_object_mut().expect("a response object").entry("content").or_insert_with(|| json!({}));
    for (media, body) in new_content {
        match content.get_mut(media) {
            None => {
                content[media] = body.clone();
            }
            Some(current) if current["schema"] != body["schema"] => {
                let mut either = match current["schema"].get("anyOf") {
                    Some(Value::Array(list)) => list.clone(),
                    _ => vec![current["schema"].clone()],
                };
                if !either.contains(&body["schema"]) {
                    either.push(body["schema"].clone());
                }
                current["schema"] = json!({"anyOf": either});
            }
            Some(_) => {}
        }
    }
}

fn content(description: &str, media: &str, schema: Value) -> Value {
    json!({"description": description, "content": {media: {"schema": schema}}})
}

fn json_response(description: &str, schema: Value) -> Value {
    content(description, "application/json", schema)
}

fn text_response(description: &str) -> Value {
    content(description, "text/plain", json!({"type": "string"}))
}

fn json_body(schema: Value) -> Value {
    json!({"required": true, "content": {"application/json": {"schema": schema}}})
}

fn error_ref(l: &DocSettings) -> Value {
    schema_of::<ErrorBody<'static>>(l)
}

fn one(operation: Value) -> Vec<Operation> {
    vec![Operation { path: None, operation, refusal: None }]
}

fn one_refusing(operation: Value, media: &'static str, refusal: Value) -> Vec<Operation> {
    vec![Operation { path: None, operation, refusal: Some((media, refusal)) }]
}

// ---- shared schemas ----------------------------------------------------------------------

/// Agora's channel name: 1 to 63 bytes of `a-z A-Z 0-9 space ! # $ % & ( ) + - : ; < = . > ? @
/// [ ] ^ _ { } | ~ ,` (and `*`, a pattern).
fn channel_schema() -> Value {
    json!({"type": "string", "minLength": 1, "maxLength": 63,
           "pattern": "^[a-zA-Z0-9 !#$%&()+\\-:;<=.>?@\\[\\]^_{}|~,*]+$",
           "description": "channel name: 1 to 63 bytes of a-z A-Z 0-9 space ! # $ % & ( ) + - : ; < = . > ? @ [ ] ^ _ { } | ~ ,"})
}

/// The decimal numbers 0..=4294967295, without leading zeros.
const U32_DIGITS: &str = "(0|[1-9][0-9]{0,8}|[1-3][0-9]{9}|4[01][0-9]{8}|42[0-8][0-9]{7}|429[0-3][0-9]{6}|4294[0-8][0-9]{5}|42949[0-5][0-9]{4}|429496[0-6][0-9]{3}|4294967[01][0-9]{2}|42949672[0-8][0-9]|429496729[0-5])";

/// A whole number as a JSON reader of unsigned 64-bit numbers takes it.
fn uint64() -> Value {
    json!({"type": "integer", "minimum": 0, "maximum": u64::MAX})
}

fn uint32() -> Value {
    json!({"type": "integer", "minimum": 0, "maximum": 4294967295u32})
}

/// A text of `min..=max` bytes.
fn text(min: u32, max: u32, description: &str) -> Value {
    json!({"type": "string", "minLength": min, "maxLength": max, "description": description})
}

/// A lifetime in seconds, at most the default app's maximum.
fn lifetime(l: &DocSettings, min: u32, description: &str) -> Value {
    json!({"type": "integer", "minimum": min, "maximum": l.max_lifetime, "description": description})
}

fn path_param(name: &str, schema: Value) -> Value {
    json!({"name": name, "in": "path", "required": true, "schema": schema})
}

/// A schema with `nullable` (OpenAPI 3.0): the originals (Go) read `null` as the zero value.
fn nullable(mut schema: Value) -> Value {
    schema["nullable"] = json!(true);
    // `nullable` does not widen an `enum` (OpenAPI 3.0.3): null is listed too.
    if let Some(list) = schema.get_mut("enum").and_then(Value::as_array_mut) {
        if !list.contains(&Value::Null) {
            list.push(Value::Null);
        }
    }
    schema
}

/// A configured app's id (v1 refuses any other with 422 `unknown_app`); `null` is absent.
fn app_id(l: &DocSettings, description: &str) -> Value {
    nullable(json!({"type": "string", "enum": l.app_ids, "description": description}))
}

/// Present with a value other than `null`.
fn given(name: &str) -> Value {
    json!({"required": [name], "properties": {name: {"not": {"enum": [null]}}}})
}

/// A regular expression matching `name` in any ASCII case (Go's `encoding/json` matches keys so).
fn any_case(name: &str) -> String {
    let mut re = String::from("^");
    for c in name.chars() {
        if c.is_ascii_alphabetic() {
            re.push('[');
            re.push(c.to_ascii_lowercase());
            re.push(c.to_ascii_uppercase());
            re.push(']');
        } else {
            re.push(c);
        }
    }
    re.push('$');
    re
}

/// A Go-decoded object whose keys are listed under their usual names only (other keys are
/// ignored): where a key's presence matters (a required field, a service that is enabled) JSON
/// Schema cannot say "this key in any case", so the description says it.
fn object(properties: Value) -> Value {
    json!({"type": "object", "properties": properties})
}

/// A Go-decoded object: `properties` under their usual names, the same schemas for any other
/// ASCII case of the names (`patternProperties`; each spelling given is decoded, so each must be
/// valid; null is a no-op), other keys ignored.
fn go_object(properties: Value) -> Value {
    let patterns: Map<String, Value> =
        properties.as_object().expect("an object").iter().map(|(k, v)| (any_case(k), nullable(v.clone()))).collect();
    json!({"type": "object", "properties": properties, "patternProperties": patterns})
}

// ---- 1. the docs' Go sample server -------------------------------------------------------

pub(crate) fn fetch_rtc_token(l: &DocSettings) -> Vec<Operation> {
    let answer = schema_of::<FetchError<'static>>(l);
    one_refusing(
        json!({
            "tags": ["compatibility"],
            "summary": "The docs' Go sample server: an RTC token for the default app",
            "description": "As Go's encoding/json reads the original's struct: keys in any ASCII case (the docs' web client sends channelName, the Android client ChannelName; the last of two spellings counts), null is the zero value, other keys are ignored, and what follows the first JSON value is not read. uid 0 admits any uid. role 1 publisher, 2 subscriber; 0 (absent) and 101 (deprecated) act as publisher. The lifetime is the app's compat_lifetime. Refused on purpose (400), where the original issues: a missing or empty ChannelName (its token would admit every channel).",
            "requestBody": json_body(json!({
                "allOf": [go_object(json!({
                    "uid": nullable(uint32()),
                    "role": nullable(json!({"type": "integer", "enum": [0, 1, 2, 101]}))}))],
                // The spellings the docs' clients send; the description says any case is read.
                "properties": {"ChannelName": nullable(channel_schema()), "channelName": nullable(channel_schema())},
                "anyOf": [given("ChannelName"), given("channelName")],
                "example": {"uid": 1234, "ChannelName": "test", "role": 1}})),
            "responses": {
                "200": json_response("the token", schema_of::<FetchToken<'static>>(l)),
                "400": json_response("malformed JSON, a wrong type, an out-of-range or missing field, a channel name against Agora's rules", answer.clone()),
                "413": json_response("body over the limit", answer),
            }
        }),
        "application/json",
        schema_of::<FetchRefusal<'static>>(l),
    )
}

// ---- 2. the docs' Docker token generator -------------------------------------------------

pub(crate) fn token_generate(l: &DocSettings) -> Vec<Operation> {
    let error = schema_of::<GenerateFailure<'static>>(l);
    let enable = nullable(json!({"type": "boolean"}));
    // `enable` (any case) is refused on these (the original ignores it); enableUser needs a userUuid.
    let per_kind = |name: &str| {
        let mut schema = object(json!({
            "enableUser": enable.clone(), "enableApp": enable.clone(),
            "userUuid": nullable(json!({"type": "string", "description": format!("{name} user id, 1 to 255 bytes when enableUser")})),
        }));
        schema["patternProperties"] = json!({});
        schema["patternProperties"][any_case("enable")] =
            json!({"nullable": true, "enum": [null], "description": "refused: this service is enabled per kind"});
        schema["anyOf"] = json!([
            {"not": {"required": ["enableUser"], "properties": {"enableUser": {"enum": [true]}}}},
            {"required": ["userUuid"], "properties": {"userUuid": {"type": "string", "minLength": 1, "maxLength": 255}}}
        ]);
        schema
    };
    // The original enables services with `enable` (RTC, RTM, FPA) or `enableUser`/`enableApp`
    // (Chat, APaaS); a token with none of them holds nothing.
    let enabled = |service: &str, key: &str| json!({"required": [service], "properties": {service: {"type": "object", "required": [key], "properties": {key: {"enum": [true]}}}}});
    one_refusing(
        json!({
            "tags": ["compatibility"],
            "summary": "The docs' Docker token generator: one 007 token holding every enabled service",
            "description": "As Go reads the original's struct: keys in any ASCII case (each spelling given must be valid), null as absent, other keys ignored. tokenExpireTs and privilegeExpireTs are seconds from now (0: the app's compat_lifetime / as long as the token). serviceEducation (the generator's own name) is read when serviceApaas is not given. Refused on purpose (400, code -1 or -2) where the original issues a useless or dangerous token: no service enabled, RTC without channelName, RTM without uid, Chat/APaaS enableUser without userUuid, `enable` on Chat/APaaS (which the original ignores).",
            "requestBody": json_body(json!({
                "allOf": [object(json!({
                    "channelName": nullable(json!({"type": "string"})),
                    "uid": nullable(json!({"type": "string", "description": "the user: RTC uid or account (at most 255 bytes; \"\" or \"0\": any), RTM user id (1 to 64 bytes)"})),
                    "tokenExpireTs": nullable(lifetime(l, 0, "seconds; 0: the app's compat_lifetime")),
                    "privilegeExpireTs": nullable(lifetime(l, 0, "seconds; 0: as long as the token")),
                    "serviceRtc": nullable(object(json!({"enable": enable.clone(), "role": nullable(json!({"type": "integer", "minimum": 0, "maximum": 4294967295u32, "description": "1 publisher; 2 (or 0) subscriber"}))}))),
                    "serviceRtm": nullable(object(json!({"enable": enable.clone()}))),
                    "serviceFpa": nullable(object(json!({"enable": enable.clone()}))),
                    "serviceChat": nullable(per_kind("Chat")),
                    "serviceApaas": nullable(per_kind("APaaS"))
                })),
                // serviceEducation, the generator's own name, is read when serviceApaas is not given.
                {"anyOf": [given("serviceApaas"), {"properties": {"serviceEducation": nullable(per_kind("APaaS"))}}]}],
                // At least one service enabled; RTC needs a channel name, RTM a user id.
                "anyOf": [
                    enabled("serviceRtc", "enable"), enabled("serviceRtm", "enable"), enabled("serviceFpa", "enable"),
                    enabled("serviceChat", "enableUser"), enabled("serviceChat", "enableApp"),
                    enabled("serviceApaas", "enableUser"), enabled("serviceApaas", "enableApp"),
                    {"allOf": [{"not": given("serviceApaas")}, {"anyOf": [enabled("serviceEducation", "enableUser"), enabled("serviceEducation", "enableApp")]}]}
                ],
                "not": {"anyOf": [
                    {"allOf": [enabled("serviceRtc", "enable"), {"not": {"required": ["channelName"], "properties": {
                        "channelName": channel_schema(), "uid": nullable(json!({"maxLength": 255})),
                        "serviceRtc": {"properties": {"role": nullable(json!({"enum": [0, 1, 2]}))}}}}}]},
                    {"allOf": [enabled("serviceRtm", "enable"), {"not": {"required": ["uid"], "properties": {"uid": {"type": "string", "minLength": 1, "maxLength": 64}}}}]}
                ]},
                "example": {"channelName": "channel_name_test", "uid": "12345678", "tokenExpireTs": 3600, "privilegeExpireTs": 3600, "serviceRtc": {"enable": true, "role": 1}, "serviceRtm": {"enable": true}}})),
            "responses": {
                "200": json_response("the token", schema_of::<GenerateToken<'static>>(l)),
                "400": json_response("code -1: bad parameters; code -2: the token could not be generated", error.clone()),
                "413": json_response("body over the limit", error.clone()),
            }
        }),
        "application/json",
        error,
    )
}

// ---- 3. the community token service ------------------------------------------------------

fn expiry_params(l: &DocSettings) -> Vec<Value> {
    let description = "token lifetime in seconds (default: the app's compat_lifetime); expireTime is another name of it (the first of the two counts)";
    vec![
        json!({"name": "expiry", "in": "query", "required": false, "description": description, "schema": lifetime(l, 1, "seconds")}),
        json!({"name": "expireTime", "in": "query", "required": false, "description": description, "schema": lifetime(l, 1, "seconds")}),
    ]
}

fn role_param() -> Value {
    path_param(
        "role",
        json!({"type": "string", "enum": ["publisher", "subscriber", "1", "2", "0", "101"], "description": "publisher (also 1, and 0 or 101) | subscriber (also 2)"}),
    )
}

fn rtc_uid_param(name: &str, min: u32) -> Value {
    path_param(
        name,
        json!({"type": "integer", "minimum": min, "maximum": 4294967295u32, "description": "the uid; 0 admits any user"}),
    )
}

fn community(l: &DocSettings, summary: &str, mut parameters: Vec<Value>, ok: Value) -> Value {
    parameters.extend(expiry_params(l));
    json!({"tags": ["compatibility"], "summary": summary, "parameters": parameters,
        "responses": {"200": ok, "400": json_response("a bad parameter ({\"message\", \"status\": 400}) or a token Agora's rules refuse ({\"error\", \"status\": 400})", schema_of::<CommunityError>(l))}})
}

fn community_ops(l: &DocSettings, operations: Vec<(Option<&'static str>, Value)>) -> Vec<Operation> {
    operations
        .into_iter()
        .map(|(path, operation)| Operation {
            path,
            operation,
            refusal: Some(("application/json", schema_of::<CommunityRefusal>(l))),
        })
        .collect()
}

fn rtc_token_ok(l: &DocSettings) -> Value {
    json_response("the token", schema_of::<RtcToken<'static>>(l))
}

pub(crate) fn rtc_four(l: &DocSettings) -> Vec<Operation> {
    let account = |name: &str| path_param(name, text(1, 255, "a user account, 1 to 255 bytes"));
    let mut ops = community_ops(
        l,
        vec![
            (
                Some("/rtc/{channel}/{role}/uid/{uid}"),
                community(
                    l,
                    "Community token service: RTC token for an integer uid",
                    vec![path_param("channel", channel_schema()), role_param(), rtc_uid_param("uid", 0)],
                    rtc_token_ok(l),
                ),
            ),
            (
                Some("/rtc/{channel}/{role}/userAccount/{account}"),
                community(
                    l,
                    "Community token service: RTC token for a user account",
                    vec![path_param("channel", channel_schema()), role_param(), account("account")],
                    rtc_token_ok(l),
                ),
            ),
            (
                Some("/rtc/{channel}/{role}/account/{account}"),
                community(
                    l,
                    "Community token service: RTC token for a user account (another name of userAccount)",
                    vec![path_param("channel", channel_schema()), role_param(), account("account")],
                    rtc_token_ok(l),
                ),
            ),
        ],
    );
    ops.push(Operation {
        path: Some("/rtc/{channel}/{uid}/{role}/token"),
        operation: json!({
            "tags": ["compatibility"],
            "summary": "The docs' Spring server: RTC token as plain text",
            "description": "Served by the same pattern as the community service's /rtc/{channel}/{role}/{tokentype}/{uid}: a third segment uid, userAccount or account makes it a community request (JSON answers).",
            "parameters": [path_param("channel", channel_schema()), rtc_uid_param("uid", 0),
                path_param("role", json!({"type": "string", "enum": ["1", "2", "0", "101", "publisher", "subscriber"], "description": "1 publisher (also 0, 101), 2 subscriber"}))],
            "responses": {"200": text_response("the token"), "400": text_response("what is wrong")}}),
        refusal: Some(("text/plain", json!({"type": "string"}))),
    });
    ops
}

pub(crate) fn rtm(l: &DocSettings) -> Vec<Operation> {
    community_ops(
        l,
        vec![(
            None,
            community(
                l,
                "Community token service: RTM token",
                vec![path_param(
                    "uid",
                    json!({"type": "string", "minLength": 1, "maxLength": 64, "not": {"enum": ["0"]}, "description": "RTM user id, 1 to 64 bytes, not 0"}),
                )],
                json_response("the token", schema_of::<RtmToken<'static>>(l)),
            ),
        )],
    )
}

fn rte_ok(l: &DocSettings) -> Value {
    json_response("both tokens", schema_of::<RteTokens<'static>>(l))
}

/// The RTM user id of `/rte`: 1 to 64 bytes, not `0`.
fn rtm_user(description: &str) -> Value {
    json!({"type": "string", "minLength": 1, "maxLength": 64, "not": {"enum": ["0"]}, "description": description})
}

pub(crate) fn rte(l: &DocSettings) -> Vec<Operation> {
    community_ops(
        l,
        vec![
            (
                Some("/rte/{channel}/{role}/uid/{rtcuid}"),
                community(
                    l,
                    "Community token service: RTC and RTM tokens for an integer uid (also the RTM user id)",
                    vec![path_param("channel", channel_schema()), role_param(), rtc_uid_param("rtcuid", 1)],
                    rte_ok(l),
                ),
            ),
            (
                Some("/rte/{channel}/{role}/userAccount/{rtcuid}"),
                community(
                    l,
                    "Community token service: RTC and RTM tokens for a user account (also the RTM user id)",
                    vec![
                        path_param("channel", channel_schema()),
                        role_param(),
                        path_param("rtcuid", rtm_user("the account and RTM user id, 1 to 64 bytes, not 0")),
                    ],
                    rte_ok(l),
                ),
            ),
            (
                Some("/rte/{channel}/{role}/account/{rtcuid}"),
                community(
                    l,
                    "Community token service: RTC and RTM tokens for a user account (another name of userAccount)",
                    vec![
                        path_param("channel", channel_schema()),
                        role_param(),
                        path_param("rtcuid", rtm_user("the account and RTM user id, 1 to 64 bytes, not 0")),
                    ],
                    rte_ok(l),
                ),
            ),
        ],
    )
}

pub(crate) fn rte_with_rtm(l: &DocSettings) -> Vec<Operation> {
    let rtmuid = || path_param("rtmuid", rtm_user("the RTM user id, 1 to 64 bytes, not 0"));
    community_ops(
        l,
        vec![
            (
                Some("/rte/{channel}/{role}/uid/{rtcuid}/{rtmuid}"),
                community(
                    l,
                    "Community token service: RTC token for an integer uid and RTM token for another user id",
                    vec![path_param("channel", channel_schema()), role_param(), rtc_uid_param("rtcuid", 0), rtmuid()],
                    rte_ok(l),
                ),
            ),
            (
                Some("/rte/{channel}/{role}/userAccount/{rtcuid}/{rtmuid}"),
                community(
                    l,
                    "Community token service: RTC token for a user account and RTM token for another user id",
                    vec![
                        path_param("channel", channel_schema()),
                        role_param(),
                        path_param("rtcuid", text(1, 255, "a user account")),
                        rtmuid(),
                    ],
                    rte_ok(l),
                ),
            ),
            (
                Some("/rte/{channel}/{role}/account/{rtcuid}/{rtmuid}"),
                community(
                    l,
                    "Community token service: the same (another name of userAccount)",
                    vec![
                        path_param("channel", channel_schema()),
                        role_param(),
                        path_param("rtcuid", text(1, 255, "a user account")),
                        rtmuid(),
                    ],
                    rte_ok(l),
                ),
            ),
        ],
    )
}

fn chat_ok(l: &DocSettings) -> Value {
    json_response("the token", schema_of::<ChatToken<'static>>(l))
}

pub(crate) fn chat_app(l: &DocSettings) -> Vec<Operation> {
    community_ops(l, vec![(None, community(l, "Community token service: Chat app token", vec![], chat_ok(l)))])
}

pub(crate) fn chat_account(l: &DocSettings) -> Vec<Operation> {
    community_ops(
        l,
        vec![(
            None,
            community(
                l,
                "Community token service: Chat user token",
                vec![path_param("uid", text(1, 255, "Chat user id, 1 to 255 bytes"))],
                chat_ok(l),
            ),
        )],
    )
}

/// `/getToken` and `/token/getNew`: one body, errors as JSON `{"error"}` or as plain text.
fn token_request(l: &DocSettings, summary: &str, description: &str, text_errors: bool) -> Vec<Operation> {
    let (media, error) = if text_errors {
        ("text/plain", json!({"type": "string"}))
    } else {
        ("application/json", schema_of::<TokenRequestError<'static>>(l))
    };
    let error_response = |what: &str| content(what, media, error.clone());
    let expire = nullable(lifetime(l, 0, "seconds; 0 or absent: the app's compat_lifetime"));
    let variant = |token_type: &str, extra: Value, required: &[&str]| {
        let mut properties = json!({
            "tokenType": {"type": "string", "enum": [token_type]},
            "channel": nullable(json!({"type": "string"})),
            "role": nullable(json!({"oneOf": [{"type": "string"}, uint64()]})),
            "uid": nullable(json!({"oneOf": [{"type": "string"}, uint64()]})),
            "expire": expire.clone()
        });
        for (k, v) in extra.as_object().expect("an object") {
            properties[k] = v.clone();
        }
        let mut schema = object(properties);
        let mut all: Vec<&str> = vec!["tokenType"];
        all.extend(required);
        schema["required"] = json!(all);
        schema
    };
    let rtc = variant(
        "rtc",
        json!({
            "channel": channel_schema(),
            "role": nullable(json!({"oneOf": [{"type": "string", "enum": ["", "publisher", "subscriber", "1", "2"]}, {"type": "integer", "enum": [1, 2]}], "description": "publisher (1) | subscriber (2, the default)"})),
            "uid": {"anyOf": [
                {"type": "string", "pattern": format!("^\\+?0*{U32_DIGITS}$"), "description": "digits: an integer uid (0: any user)"},
                {"type": "string", "minLength": 1, "maxLength": 255, "description": "else an account, 1 to 255 bytes"},
                uint64()]}
        }),
        &["channel", "uid"],
    );
    let rtm = variant(
        "rtm",
        json!({"uid": {"oneOf": [{"type": "string", "minLength": 1, "maxLength": 64}, uint64()]}}),
        &["uid"],
    );
    let chat = variant(
        "chat",
        json!({"uid": nullable(json!({"oneOf": [{"type": "string", "maxLength": 255, "description": "the Chat user id; empty or absent: an app token"}, uint64()]}))}),
        &[],
    );
    one_refusing(
        json!({
            "tags": ["compatibility"], "summary": summary, "description": description,
            "requestBody": json_body(json!({"oneOf": [rtc, rtm, chat],
                "example": {"tokenType": "rtc", "channel": "room-1", "role": "publisher", "uid": "1234", "expire": 3600}})),
            "responses": {
                "200": json_response("the token", schema_of::<TokenAnswer<'static>>(l)),
                "400": error_response("what is wrong (an unsupported tokenType too)"),
                "413": error_response("body over the limit")}}),
        media,
        error,
    )
}

pub(crate) fn get_token(l: &DocSettings) -> Vec<Operation> {
    token_request(
        l,
        "Community token service: any token type",
        "As Go reads the original's struct: keys in any ASCII case (each spelling given must be valid), null as absent, other keys ignored. uid and role are strings in the original; whole numbers are read as their digits (an RTC uid of digits above 4294967295 is the account of those digits: Go would truncate it to another uid). An RTM request with a channel also grants RTC join and data-stream publishing there; a chat request with an empty uid gives an app token.",
        false,
    )
}

pub(crate) fn get_new(l: &DocSettings) -> Vec<Operation> {
    token_request(
        l,
        "Community Go backend middleware: any token type (the route Agora's docs point to)",
        "The body and rules of /getToken. Errors are plain text, as Go's http.Error writes them; answers carry no-cache headers.",
        true,
    )
}

pub(crate) fn ping(l: &DocSettings) -> Vec<Operation> {
    one(json!({"tags": ["compatibility"], "summary": "Community token service: liveness",
        "responses": {"200": json_response("pong", schema_of::<Pong>(l))}}))
}

// ---- 4. the docs' Spring chat server -------------------------------------------------------

pub(crate) fn spring_chat_app(_: &DocSettings) -> Vec<Operation> {
    one_refusing(
        json!({"tags": ["compatibility"], "summary": "The docs' Spring server: Chat app token as plain text",
            "responses": {"200": text_response("the token")}}),
        "text/plain",
        json!({"type": "string"}),
    )
}

pub(crate) fn spring_chat_user(_: &DocSettings) -> Vec<Operation> {
    one_refusing(
        json!({"tags": ["compatibility"], "summary": "The docs' Spring server: Chat user token as plain text",
            "parameters": [path_param("user", text(1, 255, "Chat user id, 1 to 255 bytes"))],
            "responses": {"200": text_response("the token"), "400": text_response("what is wrong")}}),
        "text/plain",
        json!({"type": "string"}),
    )
}

// ---- v1 ------------------------------------------------------------------------------------

fn v1_error(l: &DocSettings, description: &str) -> Value {
    json_response(description, error_ref(l))
}

pub(crate) fn v1_create(l: &DocSettings) -> Vec<Operation> {
    one(json!({
        "tags": ["v1"], "summary": "Build a token: builder style, or the full structure",
        "description": "The app certificate always comes from the server's configuration, never from the request. Lifetimes are capped by the app's max_lifetime.",
        "requestBody": json_body(json!({"oneOf": [
            {"$ref": "#/components/schemas/BuildRequest"}, {"$ref": "#/components/schemas/StructureRequest"}]})),
        "responses": {
            "200": json_response("the token", schema_of::<TokenResponse<'static>>(l)),
            "400": v1_error(l, "malformed JSON, a wrong type, an unknown field or a number out of range"),
            "413": v1_error(l, "body over the limit (16 KiB by default)"),
            "422": v1_error(l, "well-formed but against a rule (channel name, lifetime, unknown app)")}}))
}

pub(crate) fn v1_inspect(l: &DocSettings) -> Vec<Operation> {
    one(json!({
        "tags": ["v1"], "summary": "Every field of a token, with absolute times; the signature checked when the app is configured",
        "description": "null is the same as absent. A token that does not parse is a 422 (invalid_token).",
        "requestBody": json_body(json!({"type": "object", "required": ["token"], "additionalProperties": false, "properties": {
            "token": {"type": "string", "description": "the token text, 006… or 007…"},
            "channel": nullable(json!({"type": "string", "description": "006 only: the channel it was made for"})),
            "uid": nullable(json!({"oneOf": [uint32(), {"type": "string"}], "description": "006 only: the uid (a number, or as text) it was made for"})),
            "account": nullable(json!({"type": "string", "description": "006 only: the account (instead of uid)"}))},
            "not": {"allOf": [given("uid"), given("account")]}})),
        "responses": {
            "200": json_response("the structure (as agtoken inspect --json) plus issued_at, expires_at (unix and RFC 3339), expires_in, expired, server_time, app_known, signature_valid (null when it cannot be checked), certificate, privilege_expiries",
                schema_of::<InspectResponse>(l)),
            "400": v1_error(l, "malformed JSON, a wrong type, an unknown field or a number out of range"),
            "413": v1_error(l, "body over the limit"),
            "422": v1_error(l, "not a token (code invalid_token)")}}))
}

pub(crate) fn v1_verify(l: &DocSettings) -> Vec<Operation> {
    let rtc = json!({"enum": ["join", "publish_audio", "publish_video", "publish_data"]});
    one(json!({
        "tags": ["v1"], "summary": "What Agora would answer for an action with this token",
        "description": "null is the same as absent. A token that does not parse, or that Agora would refuse, is a 200 with admitted false and the reason.",
        "requestBody": json_body(json!({"type": "object", "required": ["token", "action"], "additionalProperties": false, "properties": {
            "token": {"type": "string"},
            "action": {"type": "string", "enum": ["join", "publish_audio", "publish_video", "publish_data", "rtm_login", "chat_login", "chat_app"]},
            "channel": nullable(json!({"type": "string", "description": "join, publish_*: the channel"})),
            "uid": nullable(json!({"type": "integer", "minimum": 0, "maximum": 4294967295u32, "description": "join, publish_*: the uid; or account"})),
            "account": nullable(json!({"type": "string", "description": "join, publish_*: the user account; or uid"})),
            "user_id": nullable(json!({"type": "string", "description": "rtm_login, chat_login"})),
            "at": nullable(json!({"oneOf": [uint32(), {"type": "string", "format": "date-time", "pattern": "^(19[7-9][0-9]|20[0-9][0-9]|210[0-5])-"}], "description": "when (Unix seconds or RFC 3339; default: now)"})),
            "app_id": app_id(l, "the app the client initialised with (default: the token's, if configured)")},
            "not": {"allOf": [given("uid"), given("account")]},
            "anyOf": [
                {"properties": {"action": rtc}, "allOf": [given("channel"), {"anyOf": [given("uid"), given("account")]}]},
                {"properties": {"action": {"enum": ["rtm_login", "chat_login"]}}, "allOf": [given("user_id")]},
                {"properties": {"action": {"enum": ["chat_app"]}}}
            ]})),
        "responses": {"200": json_response("the answer (a refusal is a 200 with admitted false)", schema_of::<VerifyResponse<'static>>(l)),
            "400": v1_error(l, "malformed JSON, a wrong type, an unknown field or a number out of range"),
            "413": v1_error(l, "body over the limit"),
            "422": v1_error(l, "a field the action needs is missing, uid and account both given, or an unknown app")}}))
}

// ---- operations and the web client ----------------------------------------------------------

pub(crate) fn healthz(l: &DocSettings) -> Vec<Operation> {
    one(json!({"tags": ["operations"], "summary": "Liveness",
        "responses": {"200": json_response("ok", schema_of::<Health>(l))}}))
}

pub(crate) fn readyz(l: &DocSettings) -> Vec<Operation> {
    one(
        json!({"tags": ["operations"], "summary": "Readiness: 503 once shutdown has begun, while the shared rate-limit store is down with limits_store_fallback refuse, or while an app's JWT keys from a URL were never fetched",
        "responses": {"200": json_response("ready", schema_of::<Readiness>(l)),
            "503": json_response("draining or not ready", schema_of::<Readiness>(l))}}),
    )
}

pub(crate) fn metrics(_: &DocSettings) -> Vec<Operation> {
    one(
        json!({"tags": ["operations"], "summary": "Prometheus metrics: requests by route and status, latency histogram, tokens issued by service",
        "responses": {"200": text_response("Prometheus text format 0.0.4")}}),
    )
}

pub(crate) fn openapi(_: &DocSettings) -> Vec<Operation> {
    one(json!({"tags": ["operations"], "summary": "This document",
        "responses": {"200": json_response("OpenAPI 3.0", json!({"type": "object"}))}}))
}

pub(crate) fn web_config(l: &DocSettings) -> Vec<Operation> {
    one(json!({"tags": ["web"], "summary": "What a client needs to know about this server and its default app",
        "responses": {"200": json_response("settings (never a certificate)", schema_of::<WebConfig<'static>>(l))}}))
}

pub(crate) fn web_index(_: &DocSettings) -> Vec<Operation> {
    one(json!({"tags": ["web"], "summary": "The web client (web/, embedded)",
        "parameters": [{"name": "api", "in": "query", "required": false, "schema": {"type": "string"},
            "description": "origin of another agtoken server for the page to call (that server must allow this origin with CORS_ALLOW_ORIGIN)"}],
        "responses": {"200": content("HTML", "text/html", json!({"type": "string"}))}}))
}

fn asset(what: &str, media: &str) -> Vec<Operation> {
    one(
        json!({"tags": ["web"], "summary": what, "responses": {"200": content(what, media, json!({"type": "string"}))}}),
    )
}

pub(crate) fn web_client_js(_: &DocSettings) -> Vec<Operation> {
    asset("the web client's script", "text/javascript")
}

pub(crate) fn web_style_css(_: &DocSettings) -> Vec<Operation> {
    asset("the web client's style sheet", "text/css")
}

pub(crate) fn web_favicon(_: &DocSettings) -> Vec<Operation> {
    asset("the icon", "image/svg+xml")
}

fn structure_request_schema(l: &DocSettings) -> Value {
    json!({"type": "object", "required": ["structure"], "additionalProperties": false, "properties": {
        "app_id": app_id(l, "a configured app (default: the default app); structure.app_id, when given, must be the same"),
        "structure": {"type": "object", "description": "the JSON form of agtoken inspect --json (without app_certificate); issue_ts, salt, expire (007) and ts (006) are filled in when absent. What the library refuses in it is a 422 naming the field.",
            "example": {"version": "007", "services": [{"name": "rtc", "channel_name": "room-1", "uid": "1234", "privileges": {"1": 3600}}]}}}})
}

/// The builder-style request of `POST /v1/tokens`: one schema per kind of request, generated
/// from the library's description of it (`agtoken::Request::INFO`), selected by `service`.
fn build_request_schema(l: &DocSettings) -> Value {
    use agtoken::build::request::FieldType;
    // `null` is the same as absent, for every optional field.
    let common = json!({
        "app_id": app_id(l, "a configured app (default: the default app)"),
        "version": nullable(json!({"type": "string", "enum": ["007", "006"], "description": "default: the app's token_version"})),
        "expire": nullable(lifetime(l, 1, "token lifetime in seconds (default: the app's default_lifetime)"))
    });
    let variants: Vec<Value> = agtoken::Request::INFO
        .iter()
        .map(|info| {
            let mut properties = common.as_object().cloned().unwrap_or_default();
            if !info.v006 {
                properties.insert(
                    "version".into(),
                    nullable(json!({"type": "string", "enum": ["007"], "description": "007 only"})),
                );
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
                    FieldType::Lifetime => json!({"oneOf": [{"type": "integer", "minimum": 1, "maximum": 4294967295u32}, {"type": "string", "enum": ["unlimited"]}]}),
                };
                let mut schema = schema;
                schema["description"] = json!(field.doc);
                if field.required {
                    required.push(json!(field.name));
                } else {
                    schema = nullable(schema);
                }
                properties.insert(field.name.into(), schema);
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
    use super::*;

    #[test]
    fn every_route_is_documented_with_its_method() {
        let doc = document();
        let paths = doc["paths"].as_object().unwrap();
        for route in TABLE {
            let method = route.method.as_str().to_ascii_lowercase();
            let limits = DocSettings::new(86_400, vec![]);
            for op in (route.doc)(&limits) {
                let path = op.path.unwrap_or(route.path);
                assert!(paths[path][&method].is_object(), "{} {path} is not in openapi.json", route.method);
                if route.trailing_slash {
                    assert!(paths[&format!("{path}/")][&method].is_object(), "{path}/ is not in openapi.json");
                }
            }
        }
    }
}
