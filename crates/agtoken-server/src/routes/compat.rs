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

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use agtoken::v007::{ApaasPrivilege, ChatPrivilege, FpaPrivilege, Privileges, RtcPrivilege, RtmPrivilege};
use agtoken::{AccessToken2, ChatToken, Role, RtcToken, RtmToken, Service, SignedToken, Uid, Version};
use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::answers::{
    self, json_answer, CommunityError, CommunityMessage, CommunityRefusal, FetchRefusal, FetchToken, GenerateFailure,
    GenerateToken, Pong, RteTokens, TokenAnswer, TokenData,
};
use crate::body::go::{self, Every, FieldError, LateBool, Spelled};
use crate::body::{kind, BodyRejection, Whole};
use crate::guard::Issuer;
use crate::issue::{Intent, IssueError, Minted, Refusal};
use crate::state::{App, AppState};

const RTC: &[&str] = &["rtc"];
const RTM: &[&str] = &["rtm"];
const CHAT: &[&str] = &["chat"];
const RTM_RTC: &[&str] = &["rtm", "rtc"];

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
    match state.issue(intent, build, |b| smallvec::smallvec![b.minted()]) {
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

/// Why a requested lifetime is refused; `Display` is the message every compatibility route
/// gives (the field as the route names it).
#[derive(Debug)]
enum LifetimeError {
    /// Not a whole number of seconds (`value` as given).
    NotANumber { field: String, value: String },
    /// 0 where the route has no default for it.
    Zero { field: String },
    /// Longer than the app's maximum.
    TooLong { field: String, secs: u64, max: u32 },
}

impl fmt::Display for LifetimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LifetimeError::NotANumber { field, value } => {
                write!(f, "failed to parse {field}: {value:?} is not a whole number of seconds")
            }
            LifetimeError::Zero { field } => write!(f, "{field}: must be at least 1 second"),
            LifetimeError::TooLong { field, secs, max } => {
                write!(
                    f,
                    "{field}: {secs} seconds is longer than this server's maximum token lifetime of {max} seconds"
                )
            }
        }
    }
}

/// A lifetime from a request: `None`/0 means the app's compatibility lifetime (where the
/// original server defaulted); more than the app's maximum is an error.
fn lifetime(app: &App, asked: Option<u64>, field: &str) -> Result<u32, LifetimeError> {
    match asked {
        None | Some(0) => Ok(app.cfg.compat_lifetime),
        Some(secs) if secs > u64::from(app.cfg.max_lifetime) => {
            Err(LifetimeError::TooLong { field: field.to_owned(), secs, max: app.cfg.max_lifetime })
        }
        Some(n) => Ok(n as u32),
    }
}

// ---- 1. The docs' Go sample server ---------------------------------------------------------

/// The Go server's request struct `{"uid", "ChannelName", "role"}`, read as Go reads it
/// ([`go`]): every value given is kept, each must be valid, the last counts.
#[derive(Default, Deserialize)]
#[cfg_attr(test, derive(Debug, PartialEq))]
#[serde(default)]
struct FetchRtcTokenBody {
    uid: Every<WholeU32>,
    #[serde(rename = "ChannelName")]
    channel: Every<String>,
    role: Every<WholeU32>,
}

/// What the body of `/fetch_rtc_token` must be, as its errors say.
const FETCH_BODY: &str = "a JSON object {\"uid\": <number>, \"ChannelName\": <string>, \"role\": 1|2}";

/// A checked `/fetch_rtc_token` request.
struct FetchRtcToken {
    uid: u32,
    channel: String,
    /// The channel's key as the client sent it (see [`channel_key`]).
    channel_key: &'static str,
    role: Role,
}

/// A JSON whole number `0..=4294967295` (the Go struct's `uint32`).
#[cfg_attr(test, derive(Debug, PartialEq))]
struct WholeU32(u32);

impl<'de> Deserialize<'de> for WholeU32 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = WholeU32;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a whole number 0..=4294967295")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<WholeU32, E> {
                u32::try_from(v)
                    .map(WholeU32)
                    .map_err(|_| E::custom(format_args!("{v} is out of range 0..=4294967295")))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<WholeU32, E> {
                match u64::try_from(v) {
                    Ok(v) => self.visit_u64(v),
                    Err(_) => Err(E::custom(format_args!("{v} is negative; must be 0..=4294967295"))),
                }
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<WholeU32, E> {
                if v.fract() == 0.0 && v > u32::MAX as f64 {
                    Err(E::custom(format_args!("{v} is out of range 0..=4294967295")))
                } else {
                    Err(E::invalid_type(de::Unexpected::Float(v), &self))
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// The channel name's key as the client sent it: the docs' web client sends `channelName`, its
/// Android client `ChannelName`; any other ASCII case of it is answered as one of these or as
/// the lower-case spelling. (The library's errors name fields with static names.)
fn channel_key(sent: &str) -> &'static str {
    ["ChannelName", "channelName", "channelname", "CHANNELNAME", "Channelname"]
        .into_iter()
        .find(|k| *k == sent)
        .unwrap_or("ChannelName")
}

/// A field of `/fetch_rtc_token` as its errors name it: the channel as spelled, `uid`, `role`.
fn fetch_field(sent: &str) -> &'static str {
    if sent.eq_ignore_ascii_case("uid") {
        "uid"
    } else if sent.eq_ignore_ascii_case("role") {
        "role"
    } else {
        channel_key(sent)
    }
}

/// A refusal of `/fetch_rtc_token`, in the Go server's shape `{"code", "message", "field"}`.
struct FetchError {
    status: StatusCode,
    message: String,
    field: Option<&'static str>,
}

impl FetchError {
    fn bad(message: String, field: Option<&'static str>) -> Self {
        FetchError { status: StatusCode::BAD_REQUEST, message, field }
    }

    /// A library error, its field named as the client named it.
    fn library(e: &agtoken::Error, names: &[(&str, &'static str)]) -> Self {
        FetchError::bad(format!("Bad request. {}", rename(e, names)), field_of(e, names))
    }
}

impl IntoResponse for FetchError {
    fn into_response(self) -> Response {
        let code = self.status.as_u16().to_string();
        json_answer(self.status, &answers::FetchError { code, message: &self.message, field: self.field })
    }
}

/// `POST /fetch_rtc_token` `{"uid": 1234, "ChannelName": "x", "role": 1}` →
/// `200 {"code": "200", "token": "…"}`.
pub(crate) async fn fetch_rtc_token(
    State(state): State<AppState>,
    issuer: Issuer,
    body: Result<Whole, BodyRejection>,
) -> Response {
    let state = issuer.bind(state);
    let request = match fetch_body(body).and_then(|bytes| read_fetch(&bytes)) {
        Ok(request) => request,
        Err(e) => return e.into_response(),
    };
    let FetchRtcToken { uid, channel, channel_key, role } = request;
    let app = state.default_app();
    let lifetime = app.cfg.compat_lifetime;
    let mut uid_text = itoa::Buffer::new();
    let intent = Intent {
        route: "/fetch_rtc_token",
        app_id: app.id(),
        services: RTC,
        channel: &channel,
        user: uid_text.format(uid),
        role: Some(role),
        lifetime,
    };
    match issue(&state, &intent, || build_rtc(&state, app, &channel, Uid::Int(uid), role, lifetime)) {
        Ok(token) => json_answer(StatusCode::OK, &FetchToken { code: "200", token: &token }),
        Err(Failure::Refused(r)) => {
            json_answer(r.status(), &FetchRefusal { code: r.status().as_u16().to_string(), message: &r.message })
        }
        Err(Failure::Build(e)) => FetchError::library(&e, &[("channel", channel_key), ("uid", "uid")]).into_response(),
    }
}

/// The body's bytes, or the Go server's answer to a body over the limit (413) or unreadable.
fn fetch_body(body: Result<Whole, BodyRejection>) -> Result<Bytes, FetchError> {
    body.map(|whole| whole.0).map_err(|rejection| {
        let status = rejection.status();
        let message = match rejection {
            BodyRejection::TooLarge(limit) => format!("Request body larger than {limit} bytes."),
            BodyRejection::Unreadable(_) => format!("Bad request. {rejection}"),
        };
        FetchError { status, message, field: None }
    })
}

/// Reads the body as Go's decoder would and checks every value given.
fn read_fetch(bytes: &[u8]) -> Result<FetchRtcToken, FetchError> {
    let body = match plain_fetch_body(bytes) {
        Some(body) => body,
        None => go_fetch_body(bytes)?,
    };
    let role = fetch_role(&body.role)?;
    let (channel, channel_key) = fetch_channel(body.channel)?;
    let uid = body.uid.0.last().map_or(0, |u| u.value.0);
    Ok(FetchRtcToken { uid, channel, channel_key, role })
}

/// The body every client sends — an object whose `uid`, `ChannelName` and `role` (in any ASCII
/// case, keys without escapes) are not `null` and have their types — read in one pass over the
/// bytes; `None` for any other body, which [`go_fetch_body`] reads and names the error of. Where
/// this gives a body, it is the one [`go_fetch_body`] gives
/// (`tests::the_plain_reading_agrees_with_gos`). Why it exists: the general reading (the body's
/// entries as JSON values, then the struct from them) took 11k instructions per request, this
/// one 3.5k (the server README).
fn plain_fetch_body(bytes: &[u8]) -> Option<FetchRtcTokenBody> {
    struct Plain;
    impl<'de> Visitor<'de> for Plain {
        type Value = FetchRtcTokenBody;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(FETCH_BODY)
        }
        fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<FetchRtcTokenBody, A::Error> {
            /// Every value of a field is kept, in body order, as Go's reading keeps it.
            fn push<'de, T: Deserialize<'de>, A: de::MapAccess<'de>>(
                every: &mut Every<T>,
                key: &str,
                map: &mut A,
            ) -> Result<(), A::Error> {
                every.0.push(Spelled { field: spelled(key), value: map.next_value()? });
                Ok(())
            }
            /// The key as given; the usual spellings without an allocation.
            fn spelled(key: &str) -> Cow<'static, str> {
                match key {
                    "uid" => Cow::Borrowed("uid"),
                    "ChannelName" => Cow::Borrowed("ChannelName"),
                    "channelName" => Cow::Borrowed("channelName"),
                    "role" => Cow::Borrowed("role"),
                    other => Cow::Owned(other.to_owned()),
                }
            }
            let mut body = FetchRtcTokenBody::default();
            while let Some(key) = map.next_key::<&'de str>()? {
                if key.eq_ignore_ascii_case("uid") {
                    push(&mut body.uid, key, &mut map)?;
                } else if key.eq_ignore_ascii_case("channelname") {
                    push(&mut body.channel, key, &mut map)?;
                } else if key.eq_ignore_ascii_case("role") {
                    push(&mut body.role, key, &mut map)?;
                } else {
                    map.next_value::<de::IgnoredAny>()?;
                }
            }
            Ok(body)
        }
    }
    // Like Go's decoder (and `go::ordered_object`), what follows the object is not read.
    serde_json::Deserializer::from_slice(bytes).deserialize_map(Plain).ok()
}

/// The body read as Go's `encoding/json` reads it into the Go server's struct ([`go`]), with
/// the Go server's error for a body it refuses.
fn go_fetch_body(bytes: &[u8]) -> Result<FetchRtcTokenBody, FetchError> {
    let wrong = |field: &str, problem: &dyn fmt::Display| {
        let field = fetch_field(field);
        FetchError::bad(format!("Bad request. Wrong type or value for field {field}: {problem}"), Some(field))
    };
    // A JSON error in the value of one of the struct's keys is named after that key.
    let entries = go::ordered_object(bytes, FETCH_BODY).map_err(|e| match e.key {
        Some(key) if ["uid", "channelname", "role"].iter().any(|f| key.eq_ignore_ascii_case(f)) => {
            wrong(&key, &e.error)
        }
        _ if e.error.is_eof() => FetchError::bad(
            "Bad request. The body must be a JSON object {\"uid\", \"ChannelName\", \"role\"}.".to_owned(),
            None,
        ),
        _ => FetchError::bad(format!("Bad request. {}", e.error), None),
    })?;
    go::from_entries(entries.iter().map(|(k, v)| (k.as_str(), v))).map_err(|e| {
        // Named as Go's streaming decoder names it: the first wrong value in the body, with its
        // line and column.
        match first_wrong_value(bytes) {
            Some((key, error)) => wrong(&key, &error),
            None => wrong(e.field.as_deref().unwrap_or(""), &e.problem),
        }
    })
}

/// The first value of the body (in body order) that does not have its field's type, with its
/// key and the JSON error at its place in the body (only read when the body was refused: the
/// typed read above names the field, this adds where it is, as the Go server's decoder did).
fn first_wrong_value(bytes: &[u8]) -> Option<(String, serde_json::Error)> {
    /// Reads each value of the struct's keys as its type; the key being read is left in `.0`.
    struct FirstWrong<'k>(&'k mut Option<String>);
    impl<'de> Visitor<'de> for FirstWrong<'_> {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(FETCH_BODY)
        }
        fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            while let Some(key) = map.next_key::<String>()? {
                let folded = key.to_ascii_lowercase();
                *self.0 = Some(key);
                match folded.as_str() {
                    "channelname" => map.next_value::<Option<String>>().map(|_| ())?,
                    "uid" | "role" => map.next_value::<Option<WholeU32>>().map(|_| ())?,
                    _ => map.next_value::<de::IgnoredAny>().map(|_| ())?,
                }
            }
            *self.0 = None;
            Ok(())
        }
    }
    let mut key = None;
    let error = serde_json::Deserializer::from_slice(bytes).deserialize_map(FirstWrong(&mut key)).err()?;
    Some((key?, error))
}

/// Every role given must be valid; the last counts, and none (0) acts as publisher.
fn fetch_role(given: &Every<WholeU32>) -> Result<Role, FetchError> {
    let mut role = Role::Publisher;
    for asked in &given.0 {
        role = match asked.value.0 {
            1 | 0 | 101 => Role::Publisher,
            2 => Role::Subscriber,
            other => {
                return Err(FetchError::bad(
                    format!("Bad request. Field role must be 1 (publisher) or 2 (subscriber), got {other}."),
                    Some("role"),
                ))
            }
        };
    }
    Ok(role)
}

/// The channel name that counts (the last), with its key; every one given must be valid.
fn fetch_channel(given: Every<String>) -> Result<(String, &'static str), FetchError> {
    let mut given = given.0;
    let key = given.last().map_or("ChannelName", |c| channel_key(&c.field));
    if given.last().is_none_or(|c| c.value.is_empty()) {
        let message = format!(
            "Bad request. Field {key} is required: a token for an empty channel name would admit every channel."
        );
        return Err(FetchError::bad(message, Some(key)));
    }
    for channel in &given {
        let key = channel_key(&channel.field);
        if channel.value.is_empty() {
            let message = format!("Bad request. Field {key} is given twice, once empty: give one channel name.");
            return Err(FetchError::bad(message, Some(key)));
        }
        agtoken::validate::channel_name("channel", &channel.value)
            .map_err(|e| FetchError::library(&e, &[("channel", key)]))?;
    }
    let last = given.pop().expect("checked above");
    Ok((last.value, key))
}

// ---- 2. The docs' Docker token generator ------------------------------------------------------

/// The generator's request struct, read as Go reads it ([`go`]).
#[derive(Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct GenerateBody {
    #[serde(deserialize_with = "go::string")]
    channel_name: String,
    #[serde(deserialize_with = "go::string")]
    uid: String,
    #[serde(deserialize_with = "go::whole_u32")]
    token_expire_ts: u64,
    #[serde(deserialize_with = "go::whole_u32")]
    privilege_expire_ts: u64,
    service_rtc: RtcSwitch,
    service_rtm: Switch,
    service_fpa: Switch,
    service_chat: PerKindSwitch,
    /// The issue and some docs call it serviceApaas, the generator's source serviceEducation.
    service_apaas: Option<PerKindSwitch>,
    /// Read (as [`PerKindSwitch`]) only when `serviceApaas` is not given.
    service_education: Option<Spelled<Value>>,
}

/// `serviceRtc`.
#[derive(Default, Deserialize)]
#[serde(default)]
struct RtcSwitch {
    enable: LateBool,
    #[serde(deserialize_with = "go::whole_u32")]
    role: u64,
}

/// `serviceRtm`, `serviceFpa`.
#[derive(Default, Deserialize)]
#[serde(default)]
struct Switch {
    enable: LateBool,
}

/// `serviceChat`, `serviceApaas`: switched on per kind (user, app).
#[derive(Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct PerKindSwitch {
    #[serde(deserialize_with = "go::string")]
    user_uuid: String,
    enable_user: LateBool,
    enable_app: LateBool,
    /// Not the generator's: refused (the original ignores it), see [`GenerateBody::check_switches`].
    enable: Option<de::IgnoredAny>,
}

/// Why `/token/generate` refuses, in the generator's shape `{"code", "message", "data": ""}`:
/// code -1 for the request's parameters (and refusals), -2 for what no token can be built from.
enum GenerateError {
    Params(String),
    Build(String),
    Refused(Refusal),
    TooLarge(usize),
}

impl From<FieldError> for GenerateError {
    fn from(e: FieldError) -> Self {
        GenerateError::Params(e.to_string())
    }
}

impl From<LifetimeError> for GenerateError {
    fn from(e: LifetimeError) -> Self {
        GenerateError::Params(e.to_string())
    }
}

impl GenerateError {
    fn build(e: &agtoken::Error) -> Self {
        GenerateError::Build(e.to_string())
    }
}

impl IntoResponse for GenerateError {
    fn into_response(self) -> Response {
        let (status, code, message) = match self {
            GenerateError::Params(m) => (StatusCode::BAD_REQUEST, -1, m),
            GenerateError::Build(m) => (StatusCode::BAD_REQUEST, -2, m),
            GenerateError::Refused(r) => (r.status(), -1, r.message),
            GenerateError::TooLarge(limit) => {
                (StatusCode::PAYLOAD_TOO_LARGE, -1, format!("request body larger than {limit} bytes"))
            }
        };
        json_answer(status, &GenerateFailure { code, message: &message, data: "" })
    }
}

/// `POST /token/generate`: every enabled service in one 007 token →
/// `200 {"code": 0, "message": "Success", "data": {"token": "…"}}`.
pub(crate) async fn token_generate(
    State(state): State<AppState>,
    issuer: Issuer,
    body: Result<Whole, BodyRejection>,
) -> Response {
    let state = issuer.bind(state);
    let result = go_object(body, GenerateError::TooLarge, GenerateError::Params).and_then(|map| {
        // Go decodes every spelling of a key: each one must make a valid request.
        for variant in go::single_spelling_variants(&map) {
            generate(&state, &go::from_map(&variant)?, true)?;
        }
        generate(&state, &go::from_map(&map)?, false)
    });
    match result {
        Ok(token) => json_answer(
            StatusCode::OK,
            &GenerateToken { code: 0, message: "Success", data: TokenData { token: &token } },
        ),
        Err(e) => e.into_response(),
    }
}

/// A compatibility route's body read as a JSON object; `too_large` and `bad` make its errors.
fn go_object<E>(
    body: Result<Whole, BodyRejection>,
    too_large: impl FnOnce(usize) -> E,
    bad: impl FnOnce(String) -> E,
) -> Result<Map<String, Value>, E> {
    let bytes = match body {
        Ok(Whole(b)) => b,
        Err(BodyRejection::TooLarge(limit)) => return Err(too_large(limit)),
        Err(r) => return Err(bad(r.to_string())),
    };
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(bad(format!("the body must be a JSON object, not {}", kind(&other)))),
        Err(e) => Err(bad(format!("invalid JSON: {e}"))),
    }
}

/// The services of one generator token, with their names and the RTC role.
#[derive(Default)]
struct GeneratorServices {
    services: Vec<Service>,
    names: Vec<&'static str>,
    rtc_role: Option<Role>,
}

impl GeneratorServices {
    fn add(&mut self, name: &'static str, service: Service) {
        self.services.push(service);
        if !self.names.contains(&name) {
            self.names.push(name);
        }
    }
}

/// Checks a generator request and, unless `dry_run`, issues its token.
fn generate(state: &AppState, body: &GenerateBody, dry_run: bool) -> Result<String, GenerateError> {
    let apaas = body.apaas()?;
    body.check_switches(&apaas)?;
    let app = state.default_app();
    let lifetime = lifetime(app, Some(body.token_expire_ts), "tokenExpireTs")?;
    if body.privilege_expire_ts > u64::from(app.cfg.max_lifetime) {
        let (field, secs, max) = ("privilegeExpireTs".to_owned(), body.privilege_expire_ts, app.cfg.max_lifetime);
        return Err(LifetimeError::TooLong { field, secs, max }.into());
    }
    let privilege = body.privilege_expire_ts as u32; // 0: as long as the token, as in the original
    let mut out = GeneratorServices::default();
    body.rtc_and_rtm(&mut out, lifetime, privilege)?;
    if body.service_fpa.enable.is_on()? {
        out.add("fpa", Service::Fpa { privileges: Privileges::from([(FpaPrivilege::Login.id(), 0)]) });
    }
    per_kind_services(&mut out, &body.service_chat, "serviceChat.userUuid", lifetime, chat_service)?;
    per_kind_services(&mut out, &apaas, "serviceApaas.userUuid", lifetime, apaas_service)?;
    if out.services.is_empty() {
        return Err(GenerateError::Build(
            "no service enabled: set serviceRtc.enable, serviceRtm.enable, serviceFpa.enable, serviceChat.enableUser/enableApp or serviceApaas.enableUser/enableApp".into(),
        ));
    }
    let now = state.now();
    let issued_at =
        u32::try_from(now.as_secs()).map_err(|_| GenerateError::Build("the server clock is past 2106".into()))?;
    let GeneratorServices { services, names, rtc_role } = out;
    let token = AccessToken2 { app_id: app.id().to_owned(), issued_at, expire: lifetime, salt: state.salt(), services };
    let intent = Intent {
        route: "/token/generate",
        app_id: app.id(),
        services: &names,
        channel: &body.channel_name,
        user: &body.uid,
        role: rtc_role,
        lifetime,
    };
    let build = || Ok(Built { token: token.encode_verified(&app.certs)? });
    issue_or_check(state, &intent, dry_run, build).map_err(|f| match f {
        Failure::Refused(r) => GenerateError::Refused(r),
        Failure::Build(e) => GenerateError::build(&e),
    })
}

impl GenerateBody {
    /// `serviceApaas`, else `serviceEducation` (the generator's own name for it).
    fn apaas(&self) -> Result<PerKindSwitch, FieldError> {
        match (&self.service_apaas, &self.service_education) {
            (Some(apaas), _) => Ok(apaas.clone()),
            (None, Some(education)) => go::from_value_at(&education.value, &education.field, "serviceEducation"),
            (None, None) => Ok(PerKindSwitch::default()),
        }
    }

    /// The generator's Chat and APaaS services are switched on per kind (enableUser/enableApp);
    /// an "enable" there would be ignored by the original: refuse it rather than issue a token
    /// without the service the caller believes it asked for.
    fn check_switches(&self, apaas: &PerKindSwitch) -> Result<(), GenerateError> {
        let apaas_name = if self.service_apaas.is_some() || self.service_education.is_none() {
            "serviceApaas"
        } else {
            "serviceEducation"
        };
        for (name, service) in [("serviceChat", &self.service_chat), (apaas_name, apaas)] {
            if service.enable.is_some() {
                return Err(GenerateError::Params(format!(
                    "{name}.enable: this service is enabled per kind: set {name}.enableUser (with userUuid) and/or {name}.enableApp"
                )));
            }
        }
        Ok(())
    }

    /// RTC (which needs a channel name) and RTM, when enabled.
    fn rtc_and_rtm(&self, out: &mut GeneratorServices, lifetime: u32, privilege: u32) -> Result<(), GenerateError> {
        let (channel, uid) = (self.channel_name.as_str(), self.uid.as_str());
        if self.service_rtc.enable.is_on()? {
            if channel.is_empty() {
                return Err(GenerateError::Params(
                    "channelName: required when serviceRtc is enabled (an empty name would admit every channel)".into(),
                ));
            }
            agtoken::validate::channel_name("channelName", channel).map_err(|e| GenerateError::build(&e))?;
            if uid.len() > agtoken::validate::MAX_ACCOUNT_BYTES {
                return Err(GenerateError::Build(format!("uid: must be at most 255 bytes (got {} bytes)", uid.len())));
            }
            let role = match self.service_rtc.role {
                1 => Role::Publisher,
                0 | 2 => Role::Subscriber,
                other => {
                    return Err(GenerateError::Params(format!(
                        "serviceRtc.role: must be 1 (publisher) or 2 (subscriber), got {other}"
                    )))
                }
            };
            out.rtc_role = Some(role);
            // uid "0" stays "0" and "" is any user, exactly as the generator packs them.
            let privileges = rtc_privileges(role, privilege);
            out.add("rtc", Service::Rtc { channel_name: channel.to_owned(), uid: uid.to_owned(), privileges });
        }
        if self.service_rtm.enable.is_on()? {
            agtoken::validate::rtm_user_id("uid", uid).map_err(|e| GenerateError::build(&e))?;
            let privileges = Privileges::from([(RtmPrivilege::Login.id(), lifetime)]);
            out.add("rtm", Service::Rtm { user_id: uid.to_owned(), privileges });
        }
        Ok(())
    }
}

/// Joining, and as a publisher publishing audio, video and data, until `privilege`.
fn rtc_privileges(role: Role, privilege: u32) -> Privileges {
    let mut p = Privileges::new();
    p.insert(RtcPrivilege::JoinChannel.id(), privilege);
    if role == Role::Publisher {
        for id in [RtcPrivilege::PublishAudioStream, RtcPrivilege::PublishVideoStream, RtcPrivilege::PublishDataStream]
        {
            p.insert(id.id(), privilege);
        }
    }
    p
}

/// A Chat or APaaS service for a user (`Some`) or the app (`None`).
type PerKindService = fn(Option<&str>, u32) -> (&'static str, Service);

fn chat_service(user: Option<&str>, lifetime: u32) -> (&'static str, Service) {
    let privilege = if user.is_some() { ChatPrivilege::User } else { ChatPrivilege::App };
    let privileges = Privileges::from([(privilege.id(), lifetime)]);
    ("chat", Service::Chat { user_id: user.unwrap_or("").to_owned(), privileges })
}

fn apaas_service(user: Option<&str>, lifetime: u32) -> (&'static str, Service) {
    let privilege = if user.is_some() { ApaasPrivilege::User } else { ApaasPrivilege::App };
    let privileges = Privileges::from([(privilege.id(), lifetime)]);
    let user_uuid = user.unwrap_or("").to_owned();
    ("apaas", Service::Apaas { room_uuid: String::new(), user_uuid, role: -1, privileges })
}

/// The user and app services of a per-kind switch, when enabled; `user_field` names the user.
fn per_kind_services(
    out: &mut GeneratorServices,
    switch: &PerKindSwitch,
    user_field: &'static str,
    lifetime: u32,
    service: PerKindService,
) -> Result<(), GenerateError> {
    if switch.enable_user.is_on()? {
        agtoken::validate::chat_user_id(user_field, &switch.user_uuid).map_err(|e| GenerateError::build(&e))?;
        let (name, s) = service(Some(&switch.user_uuid), lifetime);
        out.add(name, s);
    }
    if switch.enable_app.is_on()? {
        let (name, s) = service(None, lifetime);
        out.add(name, s);
    }
    Ok(())
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
                CommunityError::Param(CommunityMessage {
                    message: format!("Error Generating {what} token: {m}"),
                    status: 400,
                }),
            ),
            Community::Build(what, m) => (
                StatusCode::BAD_REQUEST,
                CommunityError::Build(CommunityRefusal {
                    error: format!("Error Generating {what} token - {m}"),
                    status: 400,
                }),
            ),
            Community::Refused(r) => {
                let status = r.status();
                (status, CommunityError::Build(CommunityRefusal { error: r.message, status: status.as_u16() }))
            }
        };
        json_answer(status, &body)
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
fn community_lifetime(app: &App, query: Option<&str>) -> Result<u32, LifetimeError> {
    let mut first = None;
    for pair in query.unwrap_or("").split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if k != "expiry" && k != "expireTime" {
            continue;
        }
        let field = k.to_owned();
        let secs =
            v.parse::<u64>().map_err(|_| LifetimeError::NotANumber { field: field.clone(), value: v.to_owned() })?;
        if secs == 0 {
            return Err(LifetimeError::Zero { field });
        }
        first.get_or_insert(lifetime(app, Some(secs), k)?);
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

/// Why a community RTC path's user is refused.
#[derive(Debug)]
enum RtcUidError {
    /// `tokentype` `uid` with this text, which is not a whole number `0..=4294967295`.
    NotAUid(String),
    /// A `tokentype` other than `uid` or `userAccount`.
    UnknownTokenType(String),
}

impl fmt::Display for RtcUidError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RtcUidError::NotAUid(uid) => {
                write!(f, "failed to parse uid {uid:?}: must be a whole number 0..=4294967295")
            }
            RtcUidError::UnknownTokenType(t) => {
                write!(f, "unknown tokentype {t:?}: must be \"uid\" or \"userAccount\"")
            }
        }
    }
}

/// `uid` (a number; 0 = any user) or `userAccount` (a string).
fn rtc_uid(tokentype: &str, uid: &str) -> Result<Uid, RtcUidError> {
    match tokentype {
        "uid" => uid.parse::<u32>().map(Uid::Int).map_err(|_| RtcUidError::NotAUid(uid.to_owned())),
        "userAccount" | "account" => Ok(Uid::Account(uid.to_owned())),
        other => Err(RtcUidError::UnknownTokenType(other.to_owned())),
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
            json_answer(StatusCode::OK, &answers::RtcToken { rtc_token: &token })
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
    let lifetime = community_lifetime(app, query).map_err(|e| Community::Param("RTC", e.to_string()))?;
    let role = parse_role(role).ok_or_else(|| {
        Community::Param("RTC", format!("unknown role {role:?}: must be \"publisher\" or \"subscriber\" (or 1 or 2)"))
    })?;
    let uid_value = rtc_uid(tokentype, uid).map_err(|e| Community::Param("RTC", e.to_string()))?;
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
        let lifetime = community_lifetime(app, query.as_deref()).map_err(|e| Community::Param("RTM", e.to_string()))?;
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
        .map_or_else(IntoResponse::into_response, |t| json_answer(StatusCode::OK, &answers::RtmToken { rtm_token: &t }))
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
        Err(e) => return param(e.to_string()),
    };
    let Some(role) = parse_role(role) else {
        return param(format!("unknown role {role:?}: must be \"publisher\" or \"subscriber\" (or 1 or 2)"));
    };
    let uid = match rtc_uid(tokentype, rtcuid) {
        Ok(uid) => uid,
        Err(e) => return param(e.to_string()),
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
    match state.issue(&intent, build, |(rtc, rtm)| smallvec::smallvec![rtc.minted(), rtm.minted()]) {
        Ok(issued) => {
            let (rtc, rtm) = issued.value;
            json_answer(StatusCode::OK, &RteTokens { rtc_token: rtc.token.text(), rtm_token: rtm.token.text() })
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
        let lifetime = community_lifetime(app, query).map_err(|e| Community::Param("Chat", e.to_string()))?;
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
        json_answer(StatusCode::OK, &answers::ChatToken { chat_token: &t })
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
            TokenRequestRoute::GetToken => json_answer(status, &answers::TokenRequestError { error: &message }),
            TokenRequestRoute::GetNew => {
                let mut r = text_response(status, format!("{message}\n"));
                r.headers_mut().insert("x-content-type-options", HeaderValue::from_static("nosniff"));
                no_cache(r)
            }
        }
    }

    fn answer(self, token: String) -> Response {
        let r = json_answer(StatusCode::OK, &TokenAnswer { token: &token });
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
    body: Result<Whole, BodyRejection>,
) -> Response {
    let state = issuer.bind(state);
    token_request(&state, TokenRequestRoute::GetToken, body)
}

/// `POST /token/getNew`: the community Go backend middleware's token route (Agora's docs point
/// to it), same body and answer as `/getToken`; errors are plain text.
pub(crate) async fn get_new(
    State(state): State<AppState>,
    issuer: Issuer,
    body: Result<Whole, BodyRejection>,
) -> Response {
    let state = issuer.bind(state);
    token_request(&state, TokenRequestRoute::GetNew, body)
}

/// The community services' `TokenRequest` struct, read as Go reads it ([`go`]). `role` and `uid`
/// are strings in the services; a whole number (as the community service's RTC paths take) is
/// read as its digits.
#[derive(Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct TokenRequestBody {
    #[serde(deserialize_with = "go::string")]
    token_type: String,
    #[serde(deserialize_with = "go::string")]
    channel: String,
    #[serde(deserialize_with = "go::string_or_digits")]
    role: String,
    #[serde(deserialize_with = "go::string_or_digits")]
    uid: String,
    #[serde(deserialize_with = "go::whole_u32")]
    expire: u64,
}

/// Why `/getToken` or `/token/getNew` refuses (the route gives it its shape).
enum TokenRequestError {
    /// 400 with this message.
    Bad(String),
    /// 413: over this many bytes.
    TooLarge(usize),
    /// Refused by the issuing pipeline.
    Refused(Refusal),
}

impl From<FieldError> for TokenRequestError {
    fn from(e: FieldError) -> Self {
        TokenRequestError::Bad(e.to_string())
    }
}

impl From<LifetimeError> for TokenRequestError {
    fn from(e: LifetimeError) -> Self {
        TokenRequestError::Bad(e.to_string())
    }
}

impl TokenRequestError {
    fn from_failure(f: Failure) -> Self {
        match f {
            Failure::Refused(r) => TokenRequestError::Refused(r),
            Failure::Build(e) => TokenRequestError::Bad(rename(&e, &[("account", "uid"), ("rtm_user_id", "uid")])),
        }
    }
}

fn token_request(state: &AppState, route: TokenRequestRoute, body: Result<Whole, BodyRejection>) -> Response {
    let result = go_object(body, TokenRequestError::TooLarge, TokenRequestError::Bad).and_then(|map| {
        // Go decodes every spelling of a key: each one must make a valid request.
        for variant in go::single_spelling_variants(&map) {
            token_request_inner(state, route, &go::from_map(&variant)?, true)?;
        }
        token_request_inner(state, route, &go::from_map(&map)?, false)
    });
    match result {
        Ok(token) => route.answer(token),
        Err(TokenRequestError::Bad(m)) => route.error(StatusCode::BAD_REQUEST, m),
        Err(TokenRequestError::TooLarge(limit)) => {
            route.error(StatusCode::PAYLOAD_TOO_LARGE, format!("request body larger than {limit} bytes"))
        }
        Err(TokenRequestError::Refused(r)) => route.error(r.status(), r.message),
    }
}

/// Checks a `/getToken` or `/token/getNew` request and, unless `dry_run`, issues its token.
fn token_request_inner(
    state: &AppState,
    route: TokenRequestRoute,
    body: &TokenRequestBody,
    dry_run: bool,
) -> Result<String, TokenRequestError> {
    let app = state.default_app();
    let lifetime = lifetime(app, Some(body.expire), "expire")?;
    let (channel, uid) = (body.channel.as_str(), body.uid.as_str());
    let intent = |services: &'static [&'static str], channel, role| Intent {
        route: route.path(),
        app_id: app.id(),
        services,
        channel,
        user: uid,
        role,
        lifetime,
    };
    let missing_user = || TokenRequestError::Bad("invalid: missing user ID or account".into());
    let issued = match body.token_type.as_str() {
        "rtc" => {
            let role = token_request_rtc_role(channel, uid, &body.role)?;
            let uid_value = uid_of(uid);
            let build = || build_rtc(state, app, channel, uid_value, role, lifetime);
            issue_or_check(state, &intent(RTC, channel, Some(role)), dry_run, build)
        }
        "rtm" if uid.is_empty() => return Err(missing_user()),
        "rtm" if channel.is_empty() => {
            issue_or_check(state, &intent(RTM, "", None), dry_run, || build_rtm(state, app, uid, lifetime))
        }
        // As the services' RTM builder does: a channel adds RTC join + data-stream publishing
        // for the same user on that channel ("*": every channel).
        "rtm" => {
            let build = || build_rtm_with_stream(state, app, uid, channel, lifetime);
            issue_or_check(state, &intent(RTM_RTC, channel, None), dry_run, build)
        }
        "chat" => {
            let user = (!uid.is_empty()).then_some(uid);
            issue_or_check(state, &intent(CHAT, "", None), dry_run, || build_chat(state, app, user, lifetime))
        }
        _ => return Err(TokenRequestError::Bad("Unsupported tokenType".into())),
    };
    issued.map_err(TokenRequestError::from_failure)
}

/// An RTC request needs a channel and a user; its role is a word or the digits 1, 2 (none:
/// subscriber).
fn token_request_rtc_role(channel: &str, uid: &str, role: &str) -> Result<Role, TokenRequestError> {
    if channel.is_empty() {
        return Err(TokenRequestError::Bad("invalid: missing channel name".into()));
    }
    if uid.is_empty() {
        return Err(TokenRequestError::Bad("invalid: missing user ID or account".into()));
    }
    match role {
        "" | "subscriber" | "2" => Ok(Role::Subscriber),
        "publisher" | "1" => Ok(Role::Publisher),
        other => Err(TokenRequestError::Bad(format!("role: must be \"publisher\" or \"subscriber\", got {other:?}"))),
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
    json_answer(StatusCode::OK, &Pong { message: "pong" })
}

// ---- 4. The docs' Spring chat + RTC server -------------------------------------------------------

fn spring_result(result: Result<String, Failure>, names: &[(&str, &'static str)]) -> Response {
    match result {
        Ok(token) => text_response(StatusCode::OK, token),
        Err(Failure::Refused(r)) => text_response(r.status(), r.message),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Bodies of every shape the two readings must agree on: each field absent, given once or
    /// twice, in several spellings, with values of the right type, the wrong type, out of range
    /// and `null`; other keys, escapes, what follows the object, and what is not an object.
    fn bodies() -> Vec<String> {
        let uids = ["1234", "0", "4294967295", "4294967296", "-1", "1.5", "1e3", "\"12\"", "null", "true"];
        let channels = ["\"c\"", "\"\"", "\"a b\"", "\"\\u0041\\n\"", "12", "null", "[\"c\"]"];
        let roles = ["1", "2", "0", "101", "3", "null", "\"1\"", "{}"];
        let fields = |names: &[&str], values: &[&str]| {
            let mut out = vec![Vec::new()];
            for name in names {
                for value in values {
                    out.push(vec![format!("\"{name}\": {value}")]);
                }
            }
            // The same field twice, in two spellings or one.
            out.push(vec![format!("\"{}\": {}", names[0], values[0]), format!("\"{}\": {}", names[1], values[1])]);
            out.push(vec![format!("\"{}\": {}", names[0], values[1]), format!("\"{}\": {}", names[0], values[0])]);
            out
        };
        let uid = fields(&["uid", "UID", "Uid"], &uids);
        let channel = fields(&["ChannelName", "channelName", "channelname", "CHANNELNAME", "cHaNnElNaMe"], &channels);
        let role = fields(&["role", "ROLE"], &roles);
        let mut bodies = Vec::new();
        for u in &uid {
            for c in &channel {
                for r in &role {
                    let mut entries: Vec<String> = u.iter().chain(c).chain(r).cloned().collect();
                    bodies.push(format!("{{{}}}", entries.join(",")));
                    entries.reverse();
                    entries.push("\"extra\": [1, {\"uid\": 5}]".to_owned());
                    bodies.push(format!("{{ {} }}", entries.join(" ,\n")));
                }
            }
        }
        for odd in [
            r#"{"uid": 1, "ChannelName": "c", "role": 1} trailing"#,
            r#"{"uid": 1, "ChannelName": "c", "role": 1}{"uid": 2}"#,
            r#"{"\u0075id": 7, "ChannelName": "c", "role": 1}"#,
            r#"{"uid": 1, "ChannelName": "c", "role": 1, "ChannelNamé": "d"}"#,
            r#"{"uid": 1, "ChannelName": "c", "role": 1, "uid": null}"#,
            r#"{"uid": 1, "ChannelName": "c", "role": 1"#,
            r#"{"uid": 1, "ChannelName": "c", "role": tru}"#,
            r#"{"uid": 1, "ChannelName": "c",}"#,
            r#"[{"uid": 1, "ChannelName": "c"}]"#,
            r#""uid""#,
            "",
            " ",
            "null",
            "{}",
        ] {
            bodies.push(odd.to_owned());
        }
        bodies
    }

    #[test]
    fn the_plain_reading_agrees_with_gos() {
        let (mut plain, mut total) = (0, 0);
        for body in bodies() {
            total += 1;
            let Some(fast) = plain_fetch_body(body.as_bytes()) else { continue };
            plain += 1;
            match go_fetch_body(body.as_bytes()) {
                Ok(general) => assert_eq!(fast, general, "{body}"),
                Err(e) => panic!("the plain reading took {body:?}, which Go's refuses: {}", e.message),
            }
        }
        // Most bodies have a wrong value or a null somewhere (not plain); enough of them are plain.
        assert!(plain > 400 && plain < total / 2, "{plain} of {total} bodies read the plain way");
        let common = br#"{"uid": 1234, "ChannelName": "c", "role": 1}"#;
        let body = plain_fetch_body(common).expect("the docs' client's body is plain");
        assert_eq!((body.uid.0[0].value.0, body.channel.0[0].value.as_str(), body.role.0[0].value.0), (1234, "c", 1));
    }
}
