//! The APIs of the token servers in Agora's docs, unchanged on the wire, so that their
//! clients need no change:
//!
//! 1. the docs' Go sample server: `POST /fetch_rtc_token`;
//! 2. the docs' Docker token generator: `POST /token/generate`;
//! 3. the community token service: `GET /rtc/…`, `/rtm/…`, `/rte/…`, `/chat/app/`,
//!    `/chat/account/…`, `POST /getToken`, `GET /ping`;
//! 4. the docs' Spring chat + RTC server: `GET /rtc/:channel/:uid/:role/token`,
//!    `/chat/app/token`, `/chat/user/:user/token` (plain-text answers).
//!
//! They all use the default app. Where the originals hand out something dangerous (a token
//! for every channel when the channel name is missing) or silently wrong (an expired token for
//! `expiry=0`), these refuse with the original's error shape instead.

use std::cell::Cell;
use std::fmt;
use std::time::Duration;

use agtoken::v007::{ApaasPrivilege, ChatPrivilege, FpaPrivilege, Privileges, RtcPrivilege, RtmPrivilege};
use agtoken::{AccessToken2, ChatToken, Role, RtcToken, RtmToken, Service, SignedToken, Uid, Version};
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::{json, Map, Value};

use crate::body::{get_ci, kind};
use crate::guard::Issuer;
use crate::issue::{Intent, IssueError, Minted, Refusal};
use crate::state::{App, AppState};

const RTC: &[&str] = &["rtc"];
const RTM: &[&str] = &["rtm"];
const CHAT: &[&str] = &["chat"];
const RTM_RTC: &[&str] = &["rtm", "rtc"];

fn json_response(status: StatusCode, body: String) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

fn text_response(status: StatusCode, body: String) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    r
}

/// What a token build produced: the text with the library's verified view of it (what the
/// policy judges; for 006, for the channel, RTM: the account, and packed uid it signs).
struct Built {
    token: SignedToken,
}

impl Built {
    fn minted(&self) -> Minted<'_> {
        Minted::Signed(&self.token)
    }
}

/// Builds an RTC token of the default app's version, valid `lifetime` seconds.
fn build_rtc(
    state: &AppState,
    app: &App,
    channel: &str,
    uid: Uid,
    role: Role,
    lifetime: u32,
) -> agtoken::Result<Built> {
    let now = state.now();
    let builder = RtcToken::builder(&app.cfg.app_id, &app.cfg.certificate)
        .channel(channel)
        .uid(uid)
        .role(role)
        .valid_for(Duration::from_secs(lifetime.into()))
        .issued_at(now)
        .salt(state.salt());
    Ok(match app.cfg.token_version {
        Version::V007 => Built { token: builder.build_token()?.encode_verified(&app.certs)? },
        Version::V006 => Built { token: builder.build_token_v006()?.encode_verified(&app.certs)? },
    })
}

fn build_rtm(state: &AppState, app: &App, user_id: &str, lifetime: u32) -> agtoken::Result<Built> {
    let now = state.now();
    let builder = RtmToken::builder(&app.cfg.app_id, &app.cfg.certificate, user_id)
        .valid_for(Duration::from_secs(lifetime.into()))
        .issued_at(now)
        .salt(state.salt());
    Ok(match app.cfg.token_version {
        Version::V007 => Built { token: builder.build_token()?.encode_verified(&app.certs)? },
        // A 006 RTM token signs the user account in place of the channel, and no uid.
        Version::V006 => Built { token: builder.build_token_v006()?.encode_verified(&app.certs)? },
    })
}

/// Chat tokens exist only as 007.
fn build_chat(state: &AppState, app: &App, user_id: Option<&str>, lifetime: u32) -> agtoken::Result<Built> {
    let now = state.now();
    let builder = match user_id {
        Some(user) => ChatToken::user(&app.cfg.app_id, &app.cfg.certificate, user),
        None => ChatToken::app(&app.cfg.app_id, &app.cfg.certificate),
    };
    let t = builder.valid_for(Duration::from_secs(lifetime.into())).issued_at(now).salt(state.salt()).build_token()?;
    Ok(Built { token: t.encode_verified(&app.certs)? })
}

/// The issuing pipeline (authentication, policy, rate limit, build, audit: `issue.rs`).
/// `Err` carries either a refusal or a build error.
fn issue(
    state: &AppState,
    intent: &Intent<'_>,
    build: impl FnOnce() -> agtoken::Result<Built>,
) -> Result<String, Failure> {
    match state.issue(intent, build, |b| vec![b.minted()]) {
        Ok(issued) => Ok(issued.value.token.into_text()),
        Err(IssueError::Refused(refusal)) => Err(Failure::Refused(refusal)),
        Err(IssueError::Build(e)) => Err(Failure::Build(e)),
    }
}

/// [`issue`], or with `dry_run` only the build (its checks), with nothing issued or recorded.
fn issue_or_check(
    state: &AppState,
    intent: &Intent<'_>,
    dry_run: bool,
    build: impl FnOnce() -> agtoken::Result<Built>,
) -> Result<String, Failure> {
    if dry_run {
        return build().map(|built| built.token.into_text()).map_err(Failure::Build);
    }
    issue(state, intent, build)
}

enum Failure {
    Refused(Refusal),
    Build(agtoken::Error),
}

/// The library's field names, as each compatibility API names them.
fn rename(err: &agtoken::Error, names: &[(&str, &'static str)]) -> String {
    err.clone().with_field_names(names).to_string()
}

fn field_of(err: &agtoken::Error, names: &[(&str, &'static str)]) -> Option<&'static str> {
    let field = err.input_field()?;
    names.iter().find(|(from, _)| *from == field).map(|(_, to)| *to)
}

/// A lifetime from a request: `None`/0 means the app's compatibility lifetime (where the
/// original server defaulted); more than the app's maximum is an error.
fn lifetime(app: &App, asked: Option<u64>, field: &str) -> Result<u32, String> {
    match asked {
        None | Some(0) => Ok(app.cfg.compat_lifetime),
        Some(n) if n > u64::from(app.cfg.max_lifetime) => Err(format!(
            "{field}: {n} seconds is longer than this server's maximum token lifetime of {} seconds",
            app.cfg.max_lifetime
        )),
        Some(n) => Ok(n as u32),
    }
}

// ---- 1. The docs' Go sample server ---------------------------------------------------------

/// `{"uid", "ChannelName", "role"}`, keys in any ASCII case, as Go's decoder reads them.
#[derive(Default)]
struct FetchRequest {
    uid: Option<u64>,
    /// Every channel name given (keys in any case) with its key as the client spelled it (for
    /// messages, see [`channel_key`]), in order: the last counts, each must be valid.
    channels: Vec<(&'static str, String)>,
    /// Every role given, in order: the last counts, each must be valid.
    roles: Vec<u64>,
}

/// The channel name's key as the client sent it: the docs' web client sends `channelName`, its
/// Android client `ChannelName`; any other ASCII case of it is answered as one of these or as
/// the lower-case spelling.
fn channel_key(sent: &str) -> &'static str {
    ["ChannelName", "channelName", "channelname", "CHANNELNAME", "Channelname"]
        .into_iter()
        .find(|k| *k == sent)
        .unwrap_or("ChannelName")
}

enum FetchKey {
    Uid,
    Channel(&'static str),
    Role,
    Other,
}

impl<'de> serde::Deserialize<'de> for FetchKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = FetchKey;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: de::Error>(self, k: &str) -> Result<FetchKey, E> {
                Ok(if k.eq_ignore_ascii_case("uid") {
                    FetchKey::Uid
                } else if k.eq_ignore_ascii_case("channelname") {
                    FetchKey::Channel(channel_key(k))
                } else if k.eq_ignore_ascii_case("role") {
                    FetchKey::Role
                } else {
                    FetchKey::Other
                })
            }
        }
        d.deserialize_identifier(KeyVisitor)
    }
}

/// A JSON whole number `0..=4294967295`, or `null`.
struct U32Field(Option<u64>);

impl<'de> serde::Deserialize<'de> for U32Field {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = U32Field;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a whole number 0..=4294967295")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<U32Field, E> {
                if v <= u64::from(u32::MAX) {
                    Ok(U32Field(Some(v)))
                } else {
                    Err(E::custom(format_args!("{v} is out of range 0..=4294967295")))
                }
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<U32Field, E> {
                if v >= 0 {
                    self.visit_u64(v as u64)
                } else {
                    Err(E::custom(format_args!("{v} is negative; must be 0..=4294967295")))
                }
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<U32Field, E> {
                if v.fract() == 0.0 && v > u32::MAX as f64 {
                    Err(E::custom(format_args!("{v} is out of range 0..=4294967295")))
                } else {
                    Err(E::invalid_type(de::Unexpected::Float(v), &self))
                }
            }
            fn visit_unit<E: de::Error>(self) -> Result<U32Field, E> {
                Ok(U32Field(None))
            }
        }
        d.deserialize_any(V)
    }
}

struct FetchSeed<'a> {
    field: &'a Cell<Option<&'static str>>,
}

impl<'de> DeserializeSeed<'de> for FetchSeed<'_> {
    type Value = FetchRequest;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<FetchRequest, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for FetchSeed<'_> {
    type Value = FetchRequest;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object {\"uid\": <number>, \"ChannelName\": <string>, \"role\": 1|2}")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<FetchRequest, A::Error> {
        let mut req = FetchRequest::default();
        while let Some(key) = map.next_key::<FetchKey>()? {
            // A later duplicate wins, as in Go, where `null` leaves the field as it was.
            match key {
                FetchKey::Uid => {
                    self.field.set(Some("uid"));
                    if let Some(uid) = map.next_value::<U32Field>()?.0 {
                        req.uid = Some(uid);
                    }
                    self.field.set(None);
                }
                FetchKey::Channel(key) => {
                    self.field.set(Some(key));
                    req.channels.extend(map.next_value::<Option<String>>()?.map(|c| (key, c)));
                    self.field.set(None);
                }
                FetchKey::Role => {
                    self.field.set(Some("role"));
                    req.roles.extend(map.next_value::<U32Field>()?.0);
                    self.field.set(None);
                }
                FetchKey::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(req)
    }
}

fn fetch_error(message: String, field: Option<&str>) -> Response {
    json_response(StatusCode::BAD_REQUEST, json!({"code": "400", "message": message, "field": field}).to_string())
}

/// `POST /fetch_rtc_token` `{"uid": 1234, "ChannelName": "x", "role": 1}` →
/// `200 {"code": "200", "token": "…"}`.
pub(crate) async fn fetch_rtc_token(
    State(state): State<AppState>,
    issuer: Issuer,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let state = issuer.bind(state);
    let bytes = match body {
        Ok(b) => b,
        Err(rejection) => {
            let status = rejection.status();
            let limit = state.config().body_limit;
            let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
                format!("Request body larger than {limit} bytes.")
            } else {
                format!("Bad request. {rejection}")
            };
            let body = json!({"code": status.as_u16().to_string(), "message": message, "field": null});
            return json_response(status, body.to_string());
        }
    };
    let field = Cell::new(None);
    // Like Go's json.Decoder: the first JSON value counts, anything after it is not read.
    let mut de = serde_json::Deserializer::from_slice(&bytes);
    let req = match (FetchSeed { field: &field }).deserialize(&mut de) {
        Ok(req) => req,
        Err(e) => {
            let message = match field.get() {
                Some(f) => format!("Bad request. Wrong type or value for field {f}: {e}"),
                None if e.is_eof() => {
                    "Bad request. The body must be a JSON object {\"uid\", \"ChannelName\", \"role\"}.".to_owned()
                }
                None => format!("Bad request. {e}"),
            };
            return fetch_error(message, field.get());
        }
    };
    // Every spelling given is checked; the last one counts.
    let mut role = Role::Publisher; // 0 (absent) acts as publisher
    for asked in &req.roles {
        role = match asked {
            1 | 0 | 101 => Role::Publisher,
            2 => Role::Subscriber,
            other => {
                return fetch_error(
                    format!("Bad request. Field role must be 1 (publisher) or 2 (subscriber), got {other}."),
                    Some("role"),
                )
            }
        };
    }
    let channel_key = req.channels.last().map_or("ChannelName", |(key, _)| key);
    let Some(channel) = req.channels.last().map(|(_, c)| c).filter(|c| !c.is_empty()) else {
        return fetch_error(
            format!(
                "Bad request. Field {channel_key} is required: a token for an empty channel name would admit every channel."
            ),
            Some(channel_key),
        );
    };
    for (key, earlier) in &req.channels {
        if earlier.is_empty() {
            return fetch_error(
                format!("Bad request. Field {key} is given twice, once empty: give one channel name."),
                Some(key),
            );
        }
        if let Err(e) = agtoken::validate::channel_name("channel", earlier) {
            let names = [("channel", *key)];
            return fetch_error(format!("Bad request. {}", rename(&e, &names)), field_of(&e, &names));
        }
    }
    let uid = req.uid.unwrap_or(0) as u32;
    let app = state.default_app();
    let lifetime = app.cfg.compat_lifetime;
    let uid_text = uid.to_string();
    let intent = Intent {
        route: "/fetch_rtc_token",
        app_id: app.id(),
        services: RTC,
        channel,
        user: &uid_text,
        role: Some(role),
        lifetime,
    };
    match issue(&state, &intent, || build_rtc(&state, app, channel, Uid::Int(uid), role, lifetime)) {
        Ok(token) => {
            let mut body = String::with_capacity(token.len() + 32);
            body.push_str("{\"code\":\"200\",\"token\":\"");
            body.push_str(&token); // base64 and digits: nothing to escape
            body.push_str("\"}");
            json_response(StatusCode::OK, body)
        }
        Err(Failure::Refused(r)) => {
            json_response(r.status, json!({"code": r.status.as_u16().to_string(), "message": r.message}).to_string())
        }
        Err(Failure::Build(e)) => {
            let names = [("channel", channel_key), ("uid", "uid")];
            fetch_error(format!("Bad request. {}", rename(&e, &names)), field_of(&e, &names))
        }
    }
}

// ---- 2. The docs' Docker token generator ------------------------------------------------------

fn generate_error(code: i32, message: String) -> Response {
    json_response(StatusCode::BAD_REQUEST, json!({"code": code, "message": message, "data": ""}).to_string())
}

/// Reads a field as Go's decoder would for the generator's `Request` struct: a key in any ASCII
/// case, `null` as absent, and when a key comes in several spellings each one is decoded (so
/// each must have the field's type; the exact spelling is the one used).
struct GoFields<'a>(&'a Map<String, Value>, &'static str);

impl<'a> GoFields<'a> {
    fn get(&self, key: &str) -> Option<&'a Value> {
        get_ci(self.0, key)
    }
    /// Every non-null spelling of `key`, with its name.
    fn spellings(&self, key: &str) -> impl Iterator<Item = (&'a String, &'a Value)> + '_ {
        let key = key.to_owned();
        self.0.iter().filter(move |(k, v)| k.eq_ignore_ascii_case(&key) && !v.is_null())
    }
    fn path(&self, key: &str) -> String {
        if self.1.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.1)
        }
    }
    /// Checks every spelling of `key` with `check`, naming the spelling that fails.
    fn check_spellings(&self, key: &str, check: impl Fn(&str, &Value) -> Result<(), String>) -> Result<(), String> {
        self.spellings(key).try_for_each(|(name, value)| check(&self.path(name), value))
    }
    fn string(&self, key: &str) -> Result<&'a str, String> {
        self.check_spellings(key, |name, v| match v {
            Value::String(_) => Ok(()),
            v => Err(format!("{name}: must be a string, not {}", kind(v))),
        })?;
        Ok(self.get(key).and_then(Value::as_str).unwrap_or(""))
    }
    fn boolean(&self, key: &str) -> Result<bool, String> {
        self.check_spellings(key, |name, v| match v {
            Value::Bool(_) => Ok(()),
            v => Err(format!("{name}: must be true or false, not {}", kind(v))),
        })?;
        Ok(self.get(key).and_then(Value::as_bool).unwrap_or(false))
    }
    fn number(&self, key: &str) -> Result<u64, String> {
        self.check_spellings(key, |name, v| {
            crate::body::uint_value(v, name, u64::from(u32::MAX)).map(drop).map_err(|e| e.message)
        })?;
        match self.get(key) {
            None => Ok(0),
            Some(v) => crate::body::uint_value(v, &self.path(key), u64::from(u32::MAX)).map_err(|e| e.message),
        }
    }
    /// A string, or a whole number read as its digits.
    fn string_or_digits(&self, key: &str) -> Result<String, String> {
        self.check_spellings(key, |name, v| match v {
            Value::String(_) => Ok(()),
            Value::Number(n) if n.is_u64() => Ok(()),
            v => Err(format!("{name}: must be a string or a whole number, not {}", kind(v))),
        })?;
        Ok(match self.get(key) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => String::new(),
        })
    }
    fn object(&self, key: &str) -> Result<GoFields<'a>, String> {
        static EMPTY: std::sync::LazyLock<Map<String, Value>> = std::sync::LazyLock::new(Map::new);
        let name: &'static str = match key {
            "serviceRtc" => "serviceRtc",
            "serviceRtm" => "serviceRtm",
            "serviceFpa" => "serviceFpa",
            "serviceChat" => "serviceChat",
            "serviceApaas" => "serviceApaas",
            _ => "serviceEducation",
        };
        self.check_spellings(key, |name, v| match v {
            Value::Object(_) => Ok(()),
            v => Err(format!("{name}: must be an object, not {}", kind(v))),
        })?;
        match self.get(key) {
            None => Ok(GoFields(&EMPTY, name)),
            Some(Value::Object(m)) => Ok(GoFields(m, name)),
            Some(v) => Err(format!("{key}: must be an object, not {}", kind(v))),
        }
    }
}

/// Go decodes every spelling of a key (the last one in the body counts), so each must be valid.
/// These are the copies of `body` that keep one spelling of a key given in several (in `body`
/// or an object in it), one copy per other spelling; a request is served only when every copy
/// would be. (The copies are few: one per extra spelling.)
fn single_spelling_variants(body: &Map<String, Value>) -> Vec<Map<String, Value>> {
    let mut variants = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    for key in body.keys() {
        let folded = key.to_ascii_lowercase();
        if seen.contains(&folded) {
            continue;
        }
        seen.push(folded);
        let spellings: Vec<&String> =
            body.iter().filter(|(k, v)| k.eq_ignore_ascii_case(key) && !v.is_null()).map(|(k, _)| k).collect();
        if spellings.len() > 1 {
            for keep in &spellings {
                let mut copy = body.clone();
                copy.retain(|k, _| !k.eq_ignore_ascii_case(key) || k == *keep);
                variants.push(copy);
            }
        }
    }
    for (key, value) in body {
        if let Value::Object(inner) = value {
            for inner_variant in single_spelling_variants(inner) {
                let mut copy = body.clone();
                copy.insert(key.clone(), Value::Object(inner_variant));
                variants.push(copy);
            }
        }
    }
    variants
}

/// `POST /token/generate`: every enabled service in one 007 token →
/// `200 {"code": 0, "message": "Success", "data": {"token": "…"}}`.
pub(crate) async fn token_generate(
    State(state): State<AppState>,
    issuer: Issuer,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let state = issuer.bind(state);
    let bytes = match body {
        Ok(b) => b,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            let limit = state.config().body_limit;
            let body = json!({"code": -1, "message": format!("request body larger than {limit} bytes"), "data": ""});
            return json_response(StatusCode::PAYLOAD_TOO_LARGE, body.to_string());
        }
        Err(rejection) => return generate_error(-1, rejection.to_string()),
    };
    let map = match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => map,
        Ok(other) => return generate_error(-1, format!("the body must be a JSON object, not {}", kind(&other))),
        Err(e) => return generate_error(-1, format!("invalid JSON: {e}")),
    };
    let checked =
        single_spelling_variants(&map).iter().try_for_each(|variant| generate(&state, variant, true).map(drop));
    match checked.and_then(|()| generate(&state, &map, false)) {
        Ok(token) => json_response(
            StatusCode::OK,
            json!({"code": 0, "message": "Success", "data": {"token": token}}).to_string(),
        ),
        Err((code, message, status)) => {
            json_response(status, json!({"code": code, "message": message, "data": ""}).to_string())
        }
    }
}

type GenerateError = (i32, String, StatusCode);

/// Reads and checks a generator request and, unless `dry_run`, issues its token.
fn generate(state: &AppState, map: &Map<String, Value>, dry_run: bool) -> Result<String, GenerateError> {
    let params = |m: String| (-1, m, StatusCode::BAD_REQUEST);
    let f = GoFields(map, "");
    let channel = f.string("channelName").map_err(params)?;
    let uid = f.string("uid").map_err(params)?;
    let token_expire = f.number("tokenExpireTs").map_err(params)?;
    let privilege_expire = f.number("privilegeExpireTs").map_err(params)?;
    let rtc = f.object("serviceRtc").map_err(params)?;
    let rtm = f.object("serviceRtm").map_err(params)?;
    let fpa = f.object("serviceFpa").map_err(params)?;
    let chat = f.object("serviceChat").map_err(params)?;
    // The issue and some docs call it serviceApaas, the generator's source serviceEducation.
    let apaas = if f.get("serviceApaas").is_some() { f.object("serviceApaas") } else { f.object("serviceEducation") }
        .map_err(params)?;

    // Every field is read (its type checked) whether or not its service is enabled, as Go
    // decodes them all; the rules on values apply to the services enabled.
    let rtc_role_asked = rtc.number("role").map_err(params)?;
    for service in [&chat, &apaas] {
        service.string("userUuid").map_err(params)?;
    }
    // The generator's Chat and APaaS services are switched on per kind (enableUser/enableApp);
    // an "enable" there would be ignored by the original: refuse it rather than issue a token
    // without the service the caller believes it asked for.
    for service in [&chat, &apaas] {
        let name = service.1;
        if service.get("enable").is_some() {
            return Err(params(format!(
                "{name}.enable: this service is enabled per kind: set {name}.enableUser (with userUuid) and/or {name}.enableApp"
            )));
        }
    }
    let app = state.default_app();
    let lifetime = lifetime(app, Some(token_expire), "tokenExpireTs").map_err(params)?;
    if privilege_expire > u64::from(app.cfg.max_lifetime) {
        return Err(params(format!(
            "privilegeExpireTs: {privilege_expire} seconds is longer than this server's maximum token lifetime of {} seconds",
            app.cfg.max_lifetime
        )));
    }
    let privilege = privilege_expire as u32; // 0: as long as the token, as in the original

    let mut services = Vec::new();
    let mut names: Vec<&'static str> = Vec::new();
    let mut rtc_role = None;
    let gen = |m: String| (-2, m, StatusCode::BAD_REQUEST);
    if rtc.boolean("enable").map_err(params)? {
        if channel.is_empty() {
            return Err(params(
                "channelName: required when serviceRtc is enabled (an empty name would admit every channel)".into(),
            ));
        }
        agtoken::validate::channel_name("channelName", channel).map_err(|e| gen(e.to_string()))?;
        if uid.len() > agtoken::validate::MAX_ACCOUNT_BYTES {
            return Err(gen(format!("uid: must be at most 255 bytes (got {} bytes)", uid.len())));
        }
        let role = match rtc_role_asked {
            1 => Role::Publisher,
            0 | 2 => Role::Subscriber,
            other => {
                return Err(params(format!("serviceRtc.role: must be 1 (publisher) or 2 (subscriber), got {other}")))
            }
        };
        rtc_role = Some(role);
        let mut p = Privileges::new();
        p.insert(RtcPrivilege::JoinChannel.id(), privilege);
        if role == Role::Publisher {
            for id in
                [RtcPrivilege::PublishAudioStream, RtcPrivilege::PublishVideoStream, RtcPrivilege::PublishDataStream]
            {
                p.insert(id.id(), privilege);
            }
        }
        // uid "0" stays "0" and "" is any user, exactly as the generator packs them.
        services.push(Service::Rtc { channel_name: channel.to_owned(), uid: uid.to_owned(), privileges: p });
        names.push("rtc");
    }
    if rtm.boolean("enable").map_err(params)? {
        agtoken::validate::rtm_user_id("uid", uid).map_err(|e| gen(e.to_string()))?;
        let p = Privileges::from([(RtmPrivilege::Login.id(), lifetime)]);
        services.push(Service::Rtm { user_id: uid.to_owned(), privileges: p });
        names.push("rtm");
    }
    if fpa.boolean("enable").map_err(params)? {
        services.push(Service::Fpa { privileges: Privileges::from([(FpaPrivilege::Login.id(), 0)]) });
        names.push("fpa");
    }
    if chat.boolean("enableUser").map_err(params)? {
        let user = chat.string("userUuid").map_err(params)?;
        agtoken::validate::chat_user_id("serviceChat.userUuid", user).map_err(|e| gen(e.to_string()))?;
        let p = Privileges::from([(ChatPrivilege::User.id(), lifetime)]);
        services.push(Service::Chat { user_id: user.to_owned(), privileges: p });
        names.push("chat");
    }
    if chat.boolean("enableApp").map_err(params)? {
        let p = Privileges::from([(ChatPrivilege::App.id(), lifetime)]);
        services.push(Service::Chat { user_id: String::new(), privileges: p });
        if !names.contains(&"chat") {
            names.push("chat");
        }
    }
    if apaas.boolean("enableUser").map_err(params)? {
        let user = apaas.string("userUuid").map_err(params)?;
        agtoken::validate::chat_user_id("serviceApaas.userUuid", user).map_err(|e| gen(e.to_string()))?;
        let p = Privileges::from([(ApaasPrivilege::User.id(), lifetime)]);
        services.push(Service::Apaas { room_uuid: String::new(), user_uuid: user.to_owned(), role: -1, privileges: p });
        names.push("apaas");
    }
    if apaas.boolean("enableApp").map_err(params)? {
        let p = Privileges::from([(ApaasPrivilege::App.id(), lifetime)]);
        services.push(Service::Apaas { room_uuid: String::new(), user_uuid: String::new(), role: -1, privileges: p });
        if !names.contains(&"apaas") {
            names.push("apaas");
        }
    }
    if services.is_empty() {
        return Err(gen(
            "no service enabled: set serviceRtc.enable, serviceRtm.enable, serviceFpa.enable, serviceChat.enableUser/enableApp or serviceApaas.enableUser/enableApp".into(),
        ));
    }
    let now = state.now();
    let issued_at = u32::try_from(now.as_secs()).map_err(|_| gen("the server clock is past 2106".into()))?;
    let token = AccessToken2 { app_id: app.id().to_owned(), issued_at, expire: lifetime, salt: state.salt(), services };
    let intent = Intent {
        route: "/token/generate",
        app_id: app.id(),
        services: &names,
        channel,
        user: uid,
        role: rtc_role,
        lifetime,
    };
    let build = || Ok(Built { token: token.encode_verified(&app.certs)? });
    match issue_or_check(state, &intent, dry_run, build) {
        Ok(t) => Ok(t),
        Err(Failure::Refused(r)) => Err((-1, r.message, r.status)),
        Err(Failure::Build(e)) => Err(gen(e.to_string())),
    }
}

// ---- 3. The community token service ------------------------------------------------------------

/// The community service's error answers: parameter errors say `message`, build errors `error`.
enum Community {
    Param(&'static str, String),
    Build(&'static str, String),
    Refused(Refusal),
}

impl IntoResponse for Community {
    fn into_response(self) -> Response {
        let (status, body) = match self {
            Community::Param(what, m) => (
                StatusCode::BAD_REQUEST,
                json!({"message": format!("Error Generating {what} token: {m}"), "status": 400}),
            ),
            Community::Build(what, m) => (
                StatusCode::BAD_REQUEST,
                json!({"error": format!("Error Generating {what} token - {m}"), "status": 400}),
            ),
            Community::Refused(r) => (r.status, json!({"error": r.message, "status": r.status.as_u16()})),
        };
        json_response(status, body.to_string())
    }
}

fn community_issue(
    state: &AppState,
    what: &'static str,
    intent: &Intent<'_>,
    build: impl FnOnce() -> agtoken::Result<Built>,
) -> Result<String, Community> {
    issue(state, intent, build).map_err(|f| match f {
        Failure::Refused(r) => Community::Refused(r),
        Failure::Build(e) => Community::Build(what, rename(&e, &[("channel", "channelName"), ("account", "uid")])),
    })
}

/// `?expiry=` seconds (the community service's query parameter; `expireTime` is another name
/// of it): the first given counts, and every one given must be a valid lifetime.
fn community_lifetime(app: &App, query: Option<&str>) -> Result<u32, String> {
    let mut first = None;
    for pair in query.unwrap_or("").split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if k != "expiry" && k != "expireTime" {
            continue;
        }
        let asked =
            v.parse::<u64>().map_err(|_| format!("failed to parse {k}: {v:?} is not a whole number of seconds"))?;
        if asked == 0 {
            return Err(format!("{k}: must be at least 1 second"));
        }
        let secs = lifetime(app, Some(asked), k)?;
        first.get_or_insert(secs);
    }
    Ok(first.unwrap_or(app.cfg.compat_lifetime))
}

fn parse_role(text: &str) -> Option<Role> {
    match text {
        "publisher" | "1" | "0" | "101" => Some(Role::Publisher),
        "subscriber" | "2" => Some(Role::Subscriber),
        _ => None,
    }
}

/// `uid` (a number; 0 = any user) or `userAccount` (a string).
fn rtc_uid(tokentype: &str, uid: &str) -> Result<Uid, String> {
    match tokentype {
        "uid" => uid
            .parse::<u32>()
            .map(Uid::Int)
            .map_err(|_| format!("failed to parse uid {uid:?}: must be a whole number 0..=4294967295")),
        "userAccount" | "account" => Ok(Uid::Account(uid.to_owned())),
        other => Err(format!("unknown tokentype {other:?}: must be \"uid\" or \"userAccount\"")),
    }
}

fn path_error(what: &'static str, rejection: PathRejection) -> Community {
    Community::Param(what, rejection.body_text())
}

/// `GET /rtc/:channel/:role/:tokentype/:uid/` (community) and `GET /rtc/:channel/:uid/:role/token`
/// (Spring): same depth. The third segment decides: the community's is a token type (`uid`,
/// `userAccount`, `account`), which the Spring's (a role: `1`, `2`, `publisher`, …) never is, so no
/// request is valid for both. A community request for an account named `token`
/// (`/rtc/ch/publisher/userAccount/token/`) stays a community request; a last segment `token`
/// after anything else is the Spring route (and gets the Spring route's error when invalid).
pub(crate) async fn rtc_four(
    State(state): State<AppState>,
    issuer: Issuer,
    path: Result<Path<(String, String, String, String)>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Response {
    let state = issuer.bind(state);
    let Path((a, b, c, d)) = match path {
        Ok(p) => p,
        Err(rejection) => return path_error("RTC", rejection).into_response(),
    };
    let community_tokentype = matches!(c.as_str(), "uid" | "userAccount" | "account");
    if d == "token" && !community_tokentype {
        return spring_rtc(&state, &a, &b, &c);
    }
    community_rtc(&state, "/rtc/{a}/{b}/{c}/{d}", &a, &b, &c, &d, query.as_deref())
        .map_or_else(IntoResponse::into_response, |token| {
            json_response(StatusCode::OK, json!({"rtcToken": token}).to_string())
        })
}

fn community_rtc(
    state: &AppState,
    route: &'static str,
    channel: &str,
    role: &str,
    tokentype: &str,
    uid: &str,
    query: Option<&str>,
) -> Result<String, Community> {
    let app = state.default_app();
    let lifetime = community_lifetime(app, query).map_err(|m| Community::Param("RTC", m))?;
    let role = parse_role(role).ok_or_else(|| {
        Community::Param("RTC", format!("unknown role {role:?}: must be \"publisher\" or \"subscriber\" (or 1 or 2)"))
    })?;
    let uid_value = rtc_uid(tokentype, uid).map_err(|m| Community::Param("RTC", m))?;
    let intent = Intent { route, app_id: app.id(), services: RTC, channel, user: uid, role: Some(role), lifetime };
    community_issue(state, "RTC", &intent, || build_rtc(state, app, channel, uid_value, role, lifetime))
}

/// `GET /rtm/:uid/` → `{"rtmToken"}`.
pub(crate) async fn rtm(
    State(state): State<AppState>,
    issuer: Issuer,
    path: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Response {
    let state = issuer.bind(state);
    let Path(uid) = match path {
        Ok(p) => p,
        Err(rejection) => return path_error("RTM", rejection).into_response(),
    };
    let result = (|| {
        let app = state.default_app();
        let lifetime = community_lifetime(app, query.as_deref()).map_err(|m| Community::Param("RTM", m))?;
        if uid.is_empty() || uid == "0" {
            return Err(Community::Param("RTM", format!("invalid RTM User ID: {uid:?}")));
        }
        let intent = Intent {
            route: "/rtm/{uid}",
            app_id: app.id(),
            services: RTM,
            channel: "",
            user: &uid,
            role: None,
            lifetime,
        };
        community_issue(&state, "RTM", &intent, || build_rtm(&state, app, &uid, lifetime))
    })();
    result
        .map_or_else(IntoResponse::into_response, |t| json_response(StatusCode::OK, json!({"rtmToken": t}).to_string()))
}

/// `GET /rte/:channel/:role/:tokentype/:rtcuid/` → `{"rtcToken", "rtmToken"}`.
pub(crate) async fn rte(
    State(state): State<AppState>,
    issuer: Issuer,
    path: Result<Path<(String, String, String, String)>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Response {
    let state = issuer.bind(state);
    match path {
        Ok(Path((channel, role, tokentype, rtcuid))) => {
            rte_both(&state, &channel, &role, &tokentype, &rtcuid, None, query.as_deref())
        }
        Err(rejection) => path_error("RTC and RTM", rejection).into_response(),
    }
}

/// channel, role, tokentype, rtcuid, rtmuid.
type RtePathWithRtm = (String, String, String, String, String);

/// `GET /rte/:channel/:role/:tokentype/:rtcuid/:rtmuid/` → `{"rtcToken", "rtmToken"}`.
pub(crate) async fn rte_with_rtm(
    State(state): State<AppState>,
    issuer: Issuer,
    path: Result<Path<RtePathWithRtm>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Response {
    let state = issuer.bind(state);
    match path {
        Ok(Path((channel, role, tokentype, rtcuid, rtmuid))) => {
            rte_both(&state, &channel, &role, &tokentype, &rtcuid, Some(&rtmuid), query.as_deref())
        }
        Err(rejection) => path_error("RTC and RTM", rejection).into_response(),
    }
}

/// Both tokens are built, judged and recorded as one: either the answer carries both, or
/// neither is issued.
fn rte_both(
    state: &AppState,
    channel: &str,
    role: &str,
    tokentype: &str,
    rtcuid: &str,
    rtmuid: Option<&str>,
    query: Option<&str>,
) -> Response {
    let param = |m: String| Community::Param("RTC and RTM", m).into_response();
    let rtm_user = match rtmuid {
        Some(u) => u,
        None if rtcuid != "0" => rtcuid,
        None => "",
    };
    if rtm_user.is_empty() || rtm_user == "0" {
        return param("failed to parse rtm user ID. Cannot be empty or \"0\"".into());
    }
    let app = state.default_app();
    let lifetime = match community_lifetime(app, query) {
        Ok(l) => l,
        Err(m) => return param(m),
    };
    let Some(role) = parse_role(role) else {
        return param(format!("unknown role {role:?}: must be \"publisher\" or \"subscriber\" (or 1 or 2)"));
    };
    let uid = match rtc_uid(tokentype, rtcuid) {
        Ok(uid) => uid,
        Err(m) => return param(m),
    };
    let intent = Intent {
        route: "/rte/{channel}/{role}/{tokentype}/{rtcuid}",
        app_id: app.id(),
        services: &["rtc", "rtm"],
        channel,
        user: rtcuid,
        role: Some(role),
        lifetime,
    };
    let build = || -> agtoken::Result<(Built, Built)> {
        let rtc = build_rtc(state, app, channel, uid, role, lifetime)?;
        Ok((rtc, build_rtm(state, app, rtm_user, lifetime)?))
    };
    match state.issue(&intent, build, |(rtc, rtm)| vec![rtc.minted(), rtm.minted()]) {
        Ok(issued) => {
            let (rtc, rtm) = issued.value;
            json_response(
                StatusCode::OK,
                json!({"rtcToken": rtc.token.text(), "rtmToken": rtm.token.text()}).to_string(),
            )
        }
        Err(IssueError::Refused(r)) => Community::Refused(r).into_response(),
        Err(IssueError::Build(e)) => {
            let names = [("channel", "channelName"), ("account", "uid")];
            Community::Build("RTC and RTM", rename(&e, &names)).into_response()
        }
    }
}

/// `GET /chat/app/` → `{"chatToken"}`.
pub(crate) async fn chat_app(State(state): State<AppState>, issuer: Issuer, RawQuery(query): RawQuery) -> Response {
    let state = issuer.bind(state);
    community_chat(&state, None, query.as_deref())
}

/// `GET /chat/account/:uid/` → `{"chatToken"}`.
pub(crate) async fn chat_account(
    State(state): State<AppState>,
    issuer: Issuer,
    path: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Response {
    let state = issuer.bind(state);
    match path {
        Ok(Path(uid)) => community_chat(&state, Some(&uid), query.as_deref()),
        Err(rejection) => path_error("Chat", rejection).into_response(),
    }
}

fn community_chat(state: &AppState, user: Option<&str>, query: Option<&str>) -> Response {
    let app = state.default_app();
    let result = (|| {
        let lifetime = community_lifetime(app, query).map_err(|m| Community::Param("Chat", m))?;
        let route = if user.is_some() { "/chat/account/{uid}" } else { "/chat/app" };
        let intent = Intent {
            route,
            app_id: app.id(),
            services: CHAT,
            channel: "",
            user: user.unwrap_or(""),
            role: None,
            lifetime,
        };
        community_issue(state, "Chat", &intent, || build_chat(state, app, user, lifetime))
    })();
    result.map_or_else(IntoResponse::into_response, |t| {
        json_response(StatusCode::OK, json!({"chatToken": t}).to_string())
    })
}

/// The two routes with the community services' `TokenRequest` body
/// `{"tokenType", "channel", "role", "uid", "expire"}` → `{"token"}`: the community token
/// service's `POST /getToken` (errors as JSON `{"error"}`) and the community Go backend
/// middleware's `POST /token/getNew` (errors as Go's `http.Error`: plain text, 400).
#[derive(Clone, Copy)]
enum TokenRequestRoute {
    GetToken,
    GetNew,
}

impl TokenRequestRoute {
    fn path(self) -> &'static str {
        match self {
            TokenRequestRoute::GetToken => "/getToken",
            TokenRequestRoute::GetNew => "/token/getNew",
        }
    }

    fn error(self, status: StatusCode, message: String) -> Response {
        match self {
            TokenRequestRoute::GetToken => json_response(status, json!({"error": message}).to_string()),
            TokenRequestRoute::GetNew => {
                let mut r = text_response(status, format!("{message}\n"));
                r.headers_mut().insert("x-content-type-options", HeaderValue::from_static("nosniff"));
                no_cache(r)
            }
        }
    }

    fn answer(self, token: String) -> Response {
        let r = json_response(StatusCode::OK, json!({"token": token}).to_string());
        match self {
            TokenRequestRoute::GetToken => r,
            TokenRequestRoute::GetNew => no_cache(r),
        }
    }
}

/// The Go middleware's `NoCache` headers: a token must not be kept by a cache on the way.
fn no_cache(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-cache, no-store, must-revalidate"));
    h.insert(header::EXPIRES, HeaderValue::from_static("-1"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    r
}

/// `POST /getToken` `{"tokenType", "channel", "role", "uid", "expire"}` → `{"token"}`.
pub(crate) async fn get_token(
    State(state): State<AppState>,
    issuer: Issuer,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let state = issuer.bind(state);
    token_request(&state, TokenRequestRoute::GetToken, body)
}

/// `POST /token/getNew`: the community Go backend middleware's token route (Agora's docs point
/// to it), same body and answer as `/getToken`; errors are plain text.
pub(crate) async fn get_new(
    State(state): State<AppState>,
    issuer: Issuer,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let state = issuer.bind(state);
    token_request(&state, TokenRequestRoute::GetNew, body)
}

fn token_request(state: &AppState, route: TokenRequestRoute, body: Result<Bytes, BytesRejection>) -> Response {
    let bytes = match body {
        Ok(b) => b,
        Err(r) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return route.error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request body larger than {} bytes", state.config().body_limit),
            )
        }
        Err(r) => return route.error(StatusCode::BAD_REQUEST, r.to_string()),
    };
    let map = match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => map,
        Ok(other) => {
            return route
                .error(StatusCode::BAD_REQUEST, format!("the body must be a JSON object, not {}", kind(&other)))
        }
        Err(e) => return route.error(StatusCode::BAD_REQUEST, format!("invalid JSON: {e}")),
    };
    let checked = single_spelling_variants(&map)
        .iter()
        .try_for_each(|variant| token_request_inner(state, route, variant, true).map(drop));
    match checked.and_then(|()| token_request_inner(state, route, &map, false)) {
        Ok(token) => route.answer(token),
        Err((status, m)) => route.error(status, m),
    }
}

/// Reads and checks a `/getToken` or `/token/getNew` request and, unless `dry_run`, issues its token.
fn token_request_inner(
    state: &AppState,
    route: TokenRequestRoute,
    map: &Map<String, Value>,
    dry_run: bool,
) -> Result<String, (StatusCode, String)> {
    let bad = |m: String| (StatusCode::BAD_REQUEST, m);
    let f = GoFields(map, "");
    let token_type = f.string("tokenType").map_err(bad)?;
    let channel = f.string("channel").map_err(bad)?;
    // Strings in the service; a whole number (as the community service's RTC paths take) is read
    // as its digits.
    let role = f.string_or_digits("role").map_err(bad)?;
    let role = role.as_str();
    let uid = f.string_or_digits("uid").map_err(bad)?;
    let expire = f.number("expire").map_err(bad)?;
    let app = state.default_app();
    let lifetime = lifetime(app, Some(expire), "expire").map_err(bad)?;
    let refused = |f: Failure| match f {
        Failure::Refused(r) => (r.status, r.message),
        Failure::Build(e) => bad(rename(&e, &[("account", "uid"), ("rtm_user_id", "uid")])),
    };
    let intent = |services: &'static [&'static str], channel: &'static str, role| Intent {
        route: route.path(),
        app_id: app.id(),
        services,
        channel,
        user: "",
        role,
        lifetime,
    };
    match token_type {
        "rtc" => {
            if channel.is_empty() {
                return Err(bad("invalid: missing channel name".into()));
            }
            if uid.is_empty() {
                return Err(bad("invalid: missing user ID or account".into()));
            }
            let role = match role {
                "" | "subscriber" | "2" => Role::Subscriber,
                "publisher" | "1" => Role::Publisher,
                other => return Err(bad(format!("role: must be \"publisher\" or \"subscriber\", got {other:?}"))),
            };
            let uid_value = uid_of(&uid);
            let intent = Intent { channel, user: &uid, ..intent(RTC, "", Some(role)) };
            let build = || build_rtc(state, app, channel, uid_value, role, lifetime);
            issue_or_check(state, &intent, dry_run, build).map_err(refused)
        }
        "rtm" => {
            if uid.is_empty() {
                return Err(bad("invalid: missing user ID or account".into()));
            }
            if channel.is_empty() {
                let intent = Intent { user: &uid, ..intent(RTM, "", None) };
                issue_or_check(state, &intent, dry_run, || build_rtm(state, app, &uid, lifetime)).map_err(refused)
            } else {
                // As the services' RTM builder does: a channel adds RTC join + data-stream
                // publishing for the same user on that channel ("*": every channel).
                let intent = Intent { channel, user: &uid, ..intent(RTM_RTC, "", None) };
                let build = || build_rtm_with_stream(state, app, &uid, channel, lifetime);
                issue_or_check(state, &intent, dry_run, build).map_err(refused)
            }
        }
        "chat" => {
            let user = (!uid.is_empty()).then_some(uid.as_str());
            let intent = Intent { user: &uid, ..intent(CHAT, "", None) };
            issue_or_check(state, &intent, dry_run, || build_chat(state, app, user, lifetime)).map_err(refused)
        }
        _ => Err(bad("Unsupported tokenType".into())),
    }
}

/// The services' rule for `uid`: a number is an integer uid (0 = any user; any spelling that
/// reads as a number, `+0` and `00` too, so a wildcard cannot hide as an account), anything else
/// an account. Digits above 4294967295 are an account too: Go would truncate them to another
/// uid, and the account of those digits is what such a client can join with.
fn uid_of(uid: &str) -> Uid {
    uid.parse::<u32>().map_or_else(|_| Uid::Account(uid.to_owned()), Uid::Int)
}

/// An RTM login for `user` plus RTC join and data-stream publishing on `channel` for the same
/// user (the community services' `rtmtokenbuilder2.BuildToken(…, channel)`). 007 only.
fn build_rtm_with_stream(
    state: &AppState,
    app: &App,
    user: &str,
    channel: &str,
    lifetime: u32,
) -> agtoken::Result<Built> {
    if app.cfg.token_version == Version::V006 {
        return Err(agtoken::Error::Invalid {
            field: "channel",
            rule: "an RTM token with a stream channel exists only as AccessToken2 (this app issues 006 tokens)",
            value: channel.to_owned(),
        });
    }
    let mut token = RtcToken::builder(&app.cfg.app_id, &app.cfg.certificate)
        .channel(channel)
        .uid(Uid::Account(user.to_owned()))
        .role(Role::Subscriber)
        .with_rtm(user, None)
        .valid_for(Duration::from_secs(lifetime.into()))
        .issued_at(state.now())
        .salt(state.salt())
        .build_token()?;
    for service in &mut token.services {
        if let Service::Rtc { privileges, .. } = service {
            if let Some(&join) = privileges.get(&RtcPrivilege::JoinChannel.id()) {
                privileges.insert(RtcPrivilege::PublishDataStream.id(), join);
            }
        }
    }
    Ok(Built { token: token.encode_verified(&app.certs)? })
}

/// `GET /ping` → `{"message": "pong"}`.
pub(crate) async fn ping() -> Response {
    json_response(StatusCode::OK, r#"{"message":"pong"}"#.to_owned())
}

// ---- 4. The docs' Spring chat + RTC server -------------------------------------------------------

fn spring_result(result: Result<String, Failure>, names: &[(&str, &'static str)]) -> Response {
    match result {
        Ok(token) => text_response(StatusCode::OK, token),
        Err(Failure::Refused(r)) => text_response(r.status, r.message),
        Err(Failure::Build(e)) => text_response(StatusCode::BAD_REQUEST, rename(&e, names)),
    }
}

fn spring_rtc(state: &AppState, channel: &str, uid: &str, role: &str) -> Response {
    let app = state.default_app();
    let Ok(uid_value) = uid.parse::<u32>() else {
        return text_response(StatusCode::BAD_REQUEST, format!("uid: {uid:?} is not a whole number 0..=4294967295"));
    };
    let role = match role {
        "1" | "0" | "101" | "publisher" => Role::Publisher,
        "2" | "subscriber" => Role::Subscriber,
        other => {
            return text_response(
                StatusCode::BAD_REQUEST,
                format!("role: must be 1 (publisher) or 2 (subscriber), got {other:?}"),
            )
        }
    };
    let lifetime = app.cfg.compat_lifetime;
    let intent = Intent {
        route: "/rtc/{a}/{b}/{c}/{d}",
        app_id: app.id(),
        services: RTC,
        channel,
        user: uid,
        role: Some(role),
        lifetime,
    };
    let result = issue(state, &intent, || build_rtc(state, app, channel, Uid::Int(uid_value), role, lifetime));
    spring_result(result, &[("channel", "channelName")])
}

/// `GET /chat/app/token` → the token as plain text.
pub(crate) async fn spring_chat_app(State(state): State<AppState>, issuer: Issuer) -> Response {
    let state = issuer.bind(state);
    let app = state.default_app();
    let lifetime = app.cfg.compat_lifetime;
    let intent = Intent {
        route: "/chat/app/token",
        app_id: app.id(),
        services: CHAT,
        channel: "",
        user: "",
        role: None,
        lifetime,
    };
    spring_result(issue(&state, &intent, || build_chat(&state, app, None, lifetime)), &[])
}

/// `GET /chat/user/:user/token` → the token as plain text.
pub(crate) async fn spring_chat_user(
    State(state): State<AppState>,
    issuer: Issuer,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    let state = issuer.bind(state);
    let Path(user) = match path {
        Ok(p) => p,
        Err(rejection) => return text_response(StatusCode::BAD_REQUEST, rejection.body_text()),
    };
    let app = state.default_app();
    let lifetime = app.cfg.compat_lifetime;
    let intent = Intent {
        route: "/chat/user/{user}/token",
        app_id: app.id(),
        services: CHAT,
        channel: "",
        user: &user,
        role: None,
        lifetime,
    };
    spring_result(issue(&state, &intent, || build_chat(&state, app, Some(&user), lifetime)), &[("user_id", "user")])
}
