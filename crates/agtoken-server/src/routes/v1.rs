//! The v1 API: `POST /v1/tokens` (builder style or the full structure),
//! `POST /v1/tokens/inspect`, `POST /v1/tokens/verify`. JSON in, JSON out; errors are
//! `{"error": {"code", "message", "field"}}`. The shapes are documented in `/openapi.json` and
//! the crate README.

use std::time::Duration;

use agtoken::build::request::{FieldInfo, FieldType};
use agtoken::spec;
use agtoken::time::MAX_LIFETIME_SECS;
use agtoken::v006::Privilege006;
use agtoken::ServiceType;
use agtoken::{
    AccessToken2, Action, BuiltToken, Expiry, Media, Product, Request, RequestOptions, Token, Uid, UnixTime, Version,
};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::body::{self, kind, BodyRejection, Fields, Whole};
use crate::error::{ApiError, ErrorCode};
use crate::guard::Issuer;
use crate::issue::{Intent, IssueError, Minted, MintedList};
use crate::state::{App, AppState};

type ApiResult = Result<Response, ApiError>;

fn ok_json(value: &impl Serialize) -> Response {
    let text = serde_json::to_string(value).expect("a v1 answer serializes");
    let mut r = (StatusCode::OK, text).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

/// RFC 3339 (UTC) of a Unix time (`None`, sent as `null`: past year 9999).
pub(crate) fn rfc3339(secs: u64) -> Option<String> {
    let secs = i64::try_from(secs).ok()?;
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
}

/// Which of the app's certificates signed a token.
#[derive(Serialize, JsonSchema, Clone, Copy)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Certificate {
    /// The app's certificate.
    Primary,
    /// The app's second certificate (a rotation in progress).
    Secondary,
}

impl Certificate {
    fn of_index(index: usize) -> Self {
        if index == 0 {
            Certificate::Primary
        } else {
            Certificate::Secondary
        }
    }
}

/// The answer of `POST /v1/tokens`.
#[derive(Serialize, JsonSchema)]
pub(crate) struct TokenResponse<'a> {
    /// The token text.
    token: String,
    /// Its version, `007` or `006`.
    version: &'static str,
    /// The app it is for.
    app_id: &'a str,
    /// When it was issued (Unix seconds).
    issued_at: u64,
    /// `issued_at` in RFC 3339.
    issued_at_rfc3339: Option<String>,
    /// When the token (or, 006, its privileges) stops admitting joins (Unix seconds).
    expires_at: u64,
    /// `expires_at` in RFC 3339.
    expires_at_rfc3339: Option<String>,
    /// Seconds from now to `expires_at`.
    expires_in: u64,
    /// The server's clock (Unix seconds), to correct a client's.
    server_time: u64,
    /// What the token holds, as /v1/tokens/inspect shows it.
    structure: Value,
}

/// The answer of `POST /v1/tokens/inspect`: the token's structure (as `agtoken inspect
/// --json`) and what follows from it.
#[derive(Serialize, JsonSchema)]
pub(crate) struct InspectResponse {
    /// The structure: version, app_id and the version's own fields.
    #[serde(flatten)]
    structure: Map<String, Value>,
    /// When it was issued (Unix seconds).
    issued_at: u64,
    /// `issued_at` in RFC 3339.
    issued_at_rfc3339: Option<String>,
    /// When it expires (Unix seconds).
    expires_at: u64,
    /// `expires_at` in RFC 3339.
    expires_at_rfc3339: Option<String>,
    /// Seconds from now to `expires_at` (negative: expired).
    expires_in: i64,
    /// Whether it has expired.
    expired: bool,
    /// The server's clock (Unix seconds).
    server_time: u64,
    /// Whether the token's app is configured on this server.
    app_known: bool,
    /// Whether the signature is valid (`null`: it cannot be checked).
    signature_valid: Option<bool>,
    /// The certificate that signed it, when the signature is valid.
    certificate: Option<Certificate>,
    /// Why the signature could not be checked.
    #[serde(skip_serializing_if = "Option::is_none")]
    signature_note: Option<&'static str>,
    /// Every privilege with its absolute expiry.
    privilege_expiries: Vec<PrivilegeExpiry>,
}

/// One privilege of an inspected token.
#[derive(Serialize, JsonSchema)]
pub(crate) struct PrivilegeExpiry {
    /// Its service (rtc, rtm, chat, …).
    service: &'static str,
    /// Its name (`null`: a privilege this library does not know).
    privilege: Option<&'static str>,
    /// Its numeric id.
    id: u16,
    /// When it expires (Unix seconds; `null`: as long as the token).
    expires_at: Option<u64>,
    /// `expires_at` in RFC 3339.
    expires_at_rfc3339: Option<String>,
}

/// The answer of `POST /v1/tokens/verify` (a refusal is a 200 with `admitted` false).
#[derive(Serialize, JsonSchema)]
pub(crate) struct VerifyResponse<'a> {
    /// The app the token was checked for.
    app_id: &'a str,
    /// Whether Agora would admit the action.
    admitted: bool,
    /// Admitted: when the admission ends (Unix seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<u64>,
    /// Admitted: `expires_at` in RFC 3339.
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at_rfc3339: Option<String>,
    /// Admitted: the certificate that signed the token.
    #[serde(skip_serializing_if = "Option::is_none")]
    certificate: Option<Certificate>,
    /// Refused: why, and what Agora would answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<VerifyReason>,
    /// When the action was checked for (Unix seconds).
    checked_at: u64,
    /// The server's clock (Unix seconds).
    server_time: u64,
}

/// Why a verified action would be refused.
#[derive(Serialize, JsonSchema)]
pub(crate) struct VerifyReason {
    /// What is wrong, for people.
    message: String,
    /// The error code Agora's SDK reports.
    agora_code: Option<i32>,
    /// Its name in Agora's SDK.
    agora_name: Option<&'static str>,
    /// What Agora says it means.
    agora_meaning: Option<&'static str>,
    /// The product whose SDK reports it.
    product: ProductName,
}

/// A product, as the answers name it.
#[derive(Serialize, JsonSchema, Clone, Copy)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ProductName {
    /// Real-time communication.
    Rtc,
    /// Signaling (RTM).
    Rtm,
    /// Chat.
    Chat,
}

fn unknown_app(app_id: &str) -> ApiError {
    ApiError::new(ErrorCode::UnknownApp, format!("app_id: app {app_id} is not configured on this server")).at("app_id")
}

fn select_app<'s>(state: &'s AppState, app_id: Option<&str>) -> Result<&'s App, ApiError> {
    match app_id {
        None => Ok(state.default_app()),
        Some(id) => state.app(id).ok_or_else(|| unknown_app(id)),
    }
}

fn product_name(p: Product) -> ProductName {
    match p {
        Product::Rtc => ProductName::Rtc,
        Product::Rtm => ProductName::Rtm,
        Product::Chat => ProductName::Chat,
    }
}

// ---- POST /v1/tokens -----------------------------------------------------------------------

/// The fields a builder-style request shares, whatever its service.
const COMMON_FIELDS: &[&str] = &["app_id", "version", "expire"];

fn service_names() -> String {
    Request::INFO.iter().map(|i| i.service).collect::<Vec<_>>().join(", ")
}

/// Checks `map` against the library's description of its request ([`Request::INFO`]) so every
/// error names its field, then reads it as the typed [`Request`].
fn read_request(mut map: Map<String, Value>) -> Result<Request, ApiError> {
    map.retain(|_, v| !v.is_null());
    let service = match map.get("service") {
        None => {
            return Err(ApiError::missing("service", &format!("one of {}; or give \"structure\"", service_names())))
        }
        Some(Value::String(s)) => s.clone(),
        Some(other) => return Err(ApiError::invalid_type("service", &format!("a string, not {}", kind(other)))),
    };
    let Some(info) = Request::INFO.iter().find(|i| i.service == service) else {
        return Err(ApiError::invalid_value("service", format!("must be one of {}, got {service:?}", service_names())));
    };
    if let Some(extra) = map.keys().find(|k| *k != "service" && !info.fields.iter().any(|f| f.name == k.as_str())) {
        let names: Vec<&str> = info.fields.iter().map(|f| f.name).collect();
        let hint = if names.is_empty() { "it takes none".to_owned() } else { format!("it takes {}", names.join(", ")) };
        return Err(ApiError::new(
            ErrorCode::UnknownField,
            format!("{extra}: does not apply to service {service} ({hint})"),
        )
        .at(extra.clone()));
    }
    for field in info.fields {
        let Some(value) = map.get(field.name) else {
            if field.required {
                return Err(ApiError::missing(field.name, field.doc));
            }
            continue;
        };
        check_type(field, value)?;
    }
    serde_json::from_value(Value::Object(map)).map_err(|e| ApiError::invalid_value("service", e))
}

/// The JSON type of one field, as its description says.
fn check_type(field: &FieldInfo, value: &Value) -> Result<(), ApiError> {
    let name = field.name;
    let wrong = |expected: &str| Err(ApiError::invalid_type(name, &format!("{expected}, not {}", kind(value))));
    match field.ty {
        FieldType::Text if !value.is_string() => wrong("a string"),
        FieldType::Bool if !value.is_boolean() => wrong("true or false"),
        FieldType::TextList if !value.as_array().is_some_and(|a| a.iter().all(Value::is_string)) => {
            wrong("a list of strings")
        }
        FieldType::Uint32 => {
            if value.is_string() && name == "uid" {
                return wrong("a whole number 0..=4294967295 (use \"account\" for a string user account)");
            }
            body::uint_value(value, name, u64::from(u32::MAX)).map(drop)
        }
        FieldType::Int16 => body::uint_value(value, name, i16::MAX as u64).map(drop),
        FieldType::Lifetime => match value {
            Value::String(s) if s == "unlimited" => Ok(()),
            Value::String(_) => wrong("whole seconds or \"unlimited\""),
            other => body::uint_value(other, name, u64::from(u32::MAX)).map(drop),
        },
        FieldType::Role => match value {
            Value::String(s) if s == "publisher" || s == "subscriber" => Ok(()),
            Value::Number(n) if matches!(n.as_u64(), Some(1 | 2)) => Ok(()),
            other => Err(ApiError::invalid_value(
                name,
                format!("must be \"publisher\" (1) or \"subscriber\" (2), got {other}"),
            )),
        },
        _ => Ok(()),
    }
}

/// `POST /v1/tokens`: a builder-style request of any service the library describes, or a full
/// structure. The server has no per-service code: the library reads, checks and builds.
pub(crate) async fn create(
    State(state): State<AppState>,
    issuer: Issuer,
    headers: HeaderMap,
    body: Result<Whole, BodyRejection>,
) -> ApiResult {
    let state = issuer.bind(state);
    let mut map = body::v1_json(&headers, body)?;
    if map.get("structure").is_some_and(|v| !v.is_null()) {
        if let Some(other) = map.keys().find(|k| !matches!(k.as_str(), "structure" | "app_id")) {
            return Err(ApiError::new(
                ErrorCode::UnknownField,
                format!("{other}: give either \"structure\" or builder fields (service, channel, …), not both"),
            )
            .at(other.clone()));
        }
        return create_from_structure(&state, &Fields::unchecked(&map));
    }
    let f = Fields::unchecked(&map);
    let app = select_app(&state, f.str("app_id")?)?;
    let version = requested_version(&f, app)?;
    let expire = lifetime_rule(app, "expire", f.u32("expire")?.unwrap_or(app.cfg.default_lifetime))?;
    for key in COMMON_FIELDS {
        map.remove(*key);
    }
    let request = read_request(map)?;
    for (field, secs) in request.lifetimes() {
        lifetime_rule(app, field, secs)?;
    }
    let now = state.now();
    let options = RequestOptions {
        version,
        expiry: Some(Expiry::from(Duration::from_secs(expire.into()))),
        issued_at: Some(now),
        salt: Some(state.salt()),
        unchecked: false,
    };
    let service = request.service();
    let (channel, user) = request.subject();
    let intent = Intent {
        route: "/v1/tokens",
        app_id: app.id(),
        services: std::slice::from_ref(&service),
        channel,
        user: &user,
        role: request.role(),
        lifetime: expire,
    };
    let build = Box::new(|| {
        let built = request.build(&app.cfg.app_id, &app.cfg.certificate, &options);
        match built.map_err(|e| ApiError::from_library(&e))? {
            BuiltToken::V007(t) => encode_007(&t, app),
            BuiltToken::V006(t) => {
                let text = t.encode(&app.cfg.certificate).map_err(|e| ApiError::from_library(&e))?;
                let structure = structure_006(&text, &t.channel_name, &t.uid);
                Ok((text, structure, Some((t.channel_name, t.uid))))
            }
        }
    });
    issue_v1(&state, &intent, version, now, build)
}

/// The request's `version`, else the app's.
fn requested_version(f: &Fields<'_>, app: &App) -> Result<Version, ApiError> {
    match f.str("version")? {
        None => Ok(app.cfg.token_version),
        Some("007") => Ok(Version::V007),
        Some("006") => Ok(Version::V006),
        Some(other) => Err(ApiError::invalid_value("version", format!("must be \"007\" or \"006\", got {other:?}"))),
    }
}

/// A lifetime of a builder-style request: 1 second up to the app's maximum.
fn lifetime_rule(app: &App, field: &str, secs: u32) -> Result<u32, ApiError> {
    let max = app.cfg.max_lifetime;
    if secs == 0 || secs > max {
        return Err(ApiError::invalid_value(
            field,
            format!("must be 1..={max} seconds (this server's maximum lifetime), got {secs}"),
        ));
    }
    Ok(secs)
}

/// A built token, its JSON structure and, for 006, the (channel, packed uid) it was built for.
type V1Built = (String, Value, Option<(String, String)>);

fn encode_007(t: &AccessToken2, app: &App) -> Result<V1Built, ApiError> {
    let text = t.encode(&app.cfg.certificate).map_err(|e| ApiError::from_library(&e))?;
    let structure = json!(spec::describe_007(t));
    Ok((text, structure, None))
}

fn structure_006(text: &str, channel: &str, uid: &str) -> Value {
    Token::parse(text).map_or(Value::Null, |t| json!(spec::describe(&t, Some(channel), Some(uid))))
}

/// Issues through the one pipeline; the answer's `expires_at` is the earliest end among the
/// token's grants (when the client must renew), computed from the token itself.
fn issue_v1(
    state: &AppState,
    intent: &Intent<'_>,
    version: Version,
    now: UnixTime,
    build: Box<dyn FnOnce() -> Result<V1Built, ApiError> + '_>,
) -> ApiResult {
    fn minted((token, _, claimed): &V1Built) -> MintedList<'_> {
        let (channel, uid) = claimed.as_ref().map_or(("", ""), |(c, u)| (c.as_str(), u.as_str()));
        smallvec::smallvec![Minted::Text { text: token, claimed: (channel, uid) }]
    }
    let issued = state.issue(intent, build, minted).map_err(|e| match e {
        IssueError::Refused(refusal) => ApiError::new(refusal.code, refusal.message),
        IssueError::Build(e) => e,
    })?;
    let expires_at = issued.earliest;
    let (token, structure, _) = issued.value;
    let issued_at = match &structure {
        Value::Object(m) => m.get("issue_ts").and_then(Value::as_u64).unwrap_or(now.as_secs()),
        _ => now.as_secs(),
    };
    Ok(ok_json(&TokenResponse {
        token,
        version: version.as_str(),
        app_id: intent.app_id,
        issued_at,
        issued_at_rfc3339: rfc3339(issued_at),
        expires_at,
        expires_at_rfc3339: rfc3339(expires_at),
        expires_in: expires_at.saturating_sub(now.as_secs()),
        server_time: now.as_secs(),
        structure,
    }))
}

fn structure_error(e: &agtoken::Error) -> ApiError {
    let mut err = ApiError::from_library(e);
    err.message = format!("structure.{}", err.message);
    err.field = Some(match err.field.take() {
        Some(f) => format!("structure.{f}"),
        None => "structure".into(),
    });
    err
}

/// `POST /v1/tokens` with `{"structure": {...}}`: the JSON form of `agtoken inspect --json`,
/// signed with the configured certificate of its app. The server fills `issue_ts` (now),
/// `salt` (random), `expire` (the default lifetime) and, for 006, `ts` when absent, and keeps
/// every lifetime within the app's maximum.
fn create_from_structure(state: &AppState, f: &Fields<'_>) -> ApiResult {
    let mut s = match f.get("structure") {
        Some(Value::Object(m)) => m.clone(),
        Some(other) => return Err(ApiError::invalid_type("structure", &format!("an object, not {}", kind(other)))),
        None => unreachable!("checked by the caller"),
    };
    if s.contains_key("app_certificate") {
        return Err(ApiError::invalid_value(
            "structure.app_certificate",
            "the server signs with the certificate configured for the app; never send a certificate",
        ));
    }
    let app = structure_app(state, f.str("app_id")?, s.get("app_id"))?;
    s.insert("app_id".into(), json!(app.id()));
    let version = match s.get("version") {
        None => Version::V007,
        Some(Value::String(v)) if v == "007" => Version::V007,
        Some(Value::String(v)) if v == "006" => Version::V006,
        Some(other) => {
            return Err(ApiError::invalid_value(
                "structure.version",
                format!("must be \"007\" or \"006\", got {other}"),
            ))
        }
    };
    if structure_number(&s, "salt")?.is_none() {
        s.insert("salt".into(), json!(state.salt()));
    }
    let now = state.now();
    let built = match version {
        Version::V007 => structure_007(app, s, now)?,
        Version::V006 => structure_006_token(app, s, now)?,
    };
    // What the token admits is judged on the token itself (its grants) in the pipeline; the
    // request is only "a structure".
    let intent = Intent {
        route: "/v1/tokens",
        app_id: app.id(),
        services: &["structure"],
        channel: "",
        user: "",
        role: None,
        lifetime: 0,
    };
    issue_v1(state, &intent, version, now, Box::new(move || Ok(built)))
}

/// The app of a structure: its `app_id`, which must agree with the request's `app_id` (`outer`)
/// when both are given.
fn structure_app<'s>(state: &'s AppState, outer: Option<&str>, inner: Option<&Value>) -> Result<&'s App, ApiError> {
    match inner {
        Some(Value::String(inner)) => {
            if let Some(outer) = outer.filter(|outer| outer != inner) {
                return Err(ApiError::invalid_value(
                    "structure.app_id",
                    format!("{inner} differs from app_id {outer}"),
                ));
            }
            state.app(inner).ok_or_else(|| unknown_app(inner).at("structure.app_id"))
        }
        Some(other) => Err(ApiError::invalid_type("structure.app_id", &format!("a string, not {}", kind(other)))),
        None => select_app(state, outer),
    }
}

/// `structure.<key>`, a whole number `0..=4294967295` when given.
fn structure_number(s: &Map<String, Value>, key: &str) -> Result<Option<u64>, ApiError> {
    match s.get(key).filter(|v| !v.is_null()) {
        None => Ok(None),
        Some(v) => body::uint_value(v, &format!("structure.{key}"), u64::from(u32::MAX)).map(Some),
    }
}

/// A 007 structure: `issue_ts` within the last maximum lifetime and not in the future, `expire`
/// within the maximum, at least one service.
fn structure_007(app: &App, mut s: Map<String, Value>, now: UnixTime) -> Result<V1Built, ApiError> {
    let max = u64::from(app.cfg.max_lifetime);
    let issue_ts = structure_number(&s, "issue_ts")?.unwrap_or(now.as_secs());
    if issue_ts > now.as_secs() + 60 || issue_ts + max < now.as_secs() {
        return Err(ApiError::invalid_value(
            "structure.issue_ts",
            format!("must be within the last {max} seconds and not in the future (now {})", now.as_secs()),
        ));
    }
    let expire = structure_number(&s, "expire")?.unwrap_or(u64::from(app.cfg.default_lifetime));
    if expire == 0 || expire > max {
        return Err(ApiError::invalid_value(
            "structure.expire",
            format!("must be 1..={max} seconds after issue_ts (this server's maximum lifetime), got {expire}"),
        ));
    }
    s.insert("issue_ts".into(), json!(issue_ts));
    s.insert("expire".into(), json!(expire));
    if !matches!(s.get("services"), Some(Value::Array(list)) if !list.is_empty()) {
        return Err(ApiError::missing("structure.services", "a list of at least one service"));
    }
    let t = spec::read_007(&Value::Object(s).to_string()).map_err(|e| structure_error(&e))?;
    encode_007(&t, app)
}

/// A 006 structure: `ts` at most a day ahead, every privilege within the maximum lifetime.
fn structure_006_token(app: &App, mut s: Map<String, Value>, now: UnixTime) -> Result<V1Built, ApiError> {
    let max = u64::from(app.cfg.max_lifetime);
    let ts_limit = now.as_secs() + MAX_LIFETIME_SECS + 60;
    let ts = structure_number(&s, "ts")?.unwrap_or(now.as_secs() + MAX_LIFETIME_SECS);
    if ts > ts_limit {
        return Err(ApiError::invalid_value("structure.ts", format!("must be at most now + 24 h ({ts_limit})")));
    }
    s.insert("ts".into(), json!(ts));
    let t = spec::read_006(&Value::Object(s).to_string()).map_err(|e| structure_error(&e))?;
    for (id, at) in &t.privileges {
        let at = u64::from(*at);
        if at != 0 && at > now.as_secs() + max + 60 {
            return Err(ApiError::invalid_value(
                format!("structure.privileges.{id}"),
                format!("{at} is later than now + this server's maximum lifetime ({max} s)"),
            ));
        }
    }
    let text = t.encode(&app.cfg.certificate).map_err(|e| structure_error(&e))?;
    let structure = structure_006(&text, &t.channel_name, &t.uid);
    // A 006 token holds its channel and uid only as CRC-32: the pipeline verifies it for the
    // ones it was signed with.
    Ok((text, structure, Some((t.channel_name, t.uid))))
}

// ---- POST /v1/tokens/inspect ------------------------------------------------------------------

fn parse_token(f: &Fields<'_>) -> Result<(String, Result<Token, agtoken::Error>), ApiError> {
    let text = f.required_str("token", "the token text, \"006…\" or \"007…\"")?;
    Ok((text.to_owned(), Token::parse(text)))
}

/// A uid given as a number (packed as its digits, 0 as "") or a string account.
fn packed_uid(f: &Fields<'_>) -> Result<Option<String>, ApiError> {
    match (f.get("uid"), f.str("account")?) {
        (Some(_), Some(_)) => Err(ApiError::invalid_value("account", "give uid or account, not both")),
        (Some(Value::String(s)), None) => Ok(Some(s.clone())),
        (Some(_), None) => Ok(f.u32("uid")?.map(|n| Uid::Int(n).packed().into_owned())),
        (None, Some(a)) => Ok(Some(a.to_owned())),
        (None, None) => Ok(None),
    }
}

/// `POST /v1/tokens/inspect` `{"token", "channel"?, "uid"?|"account"?}`.
pub(crate) async fn inspect(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Whole, BodyRejection>,
) -> ApiResult {
    let map = body::v1_json(&headers, body)?;
    let f = Fields::new(&map, &["token", "channel", "uid", "account"])?;
    let (_, parsed) = parse_token(&f)?;
    let channel = f.str("channel")?;
    let uid = packed_uid(&f)?;
    let token = parsed.map_err(|e| ApiError::new(ErrorCode::InvalidToken, format!("token: {e}")).at("token"))?;
    let now = state.now().as_secs();
    let Ok(Value::Object(structure)) = serde_json::to_value(spec::describe(&token, channel, uid.as_deref())) else {
        unreachable!("a token's structure is a JSON object")
    };
    let issued_at = token.issued_at().as_secs();
    let expires_at = token.expires_at().as_secs();
    let app = state.app(token.app_id());
    let (valid, certificate, note) = match (app, &token) {
        (None, _) => (None, None, Some("the token's app is not configured on this server")),
        (Some(app), Token::V007(t)) => match t.verify_signature(&app.certs) {
            Ok(i) => (Some(true), Some(Certificate::of_index(i)), None),
            Err(_) => (Some(false), None, None),
        },
        (Some(app), Token::V006(t)) => match (channel, uid.as_deref()) {
            (Some(c), Some(u)) => match t.verify_signature(&app.certs, c, u) {
                Ok(i) => (Some(true), Some(Certificate::of_index(i)), None),
                Err(_) => (Some(false), None, None),
            },
            _ => (None, None, Some("a 006 token signs its channel and uid: give both to check the signature")),
        },
    };
    Ok(ok_json(&InspectResponse {
        structure,
        issued_at,
        issued_at_rfc3339: rfc3339(issued_at),
        expires_at,
        expires_at_rfc3339: rfc3339(expires_at),
        expires_in: expires_at as i64 - now as i64,
        expired: now >= expires_at,
        server_time: now,
        app_known: app.is_some(),
        signature_valid: valid,
        certificate,
        signature_note: note,
        privilege_expiries: privilege_expiries(&token),
    }))
}

/// Every privilege with its name and absolute expiry (`null`: as long as the token).
fn privilege_expiries(token: &Token) -> Vec<PrivilegeExpiry> {
    let mut list = Vec::new();
    match token {
        Token::V007(t) => {
            for s in &t.structure().services {
                let Some(kind) = s.service_type() else { continue };
                for (id, value) in s.privileges() {
                    let at = (*value != 0).then(|| u64::from(t.structure().issued_at) + u64::from(*value));
                    list.push(PrivilegeExpiry {
                        service: kind.name(),
                        privilege: kind.privilege_name(*id),
                        id: *id,
                        expires_at: at,
                        expires_at_rfc3339: at.and_then(rfc3339),
                    });
                }
            }
        }
        Token::V006(t) => {
            for (id, value) in t.privileges() {
                let at = (*value != 0).then_some(u64::from(*value));
                list.push(PrivilegeExpiry {
                    service: Privilege006::from_id(*id).map_or(ServiceType::Rtc, Privilege006::service).name(),
                    privilege: Privilege006::from_id(*id).map(Privilege006::name),
                    id: *id,
                    expires_at: at,
                    expires_at_rfc3339: at.and_then(rfc3339),
                });
            }
        }
    }
    list
}

// ---- POST /v1/tokens/verify -------------------------------------------------------------------

const ACTIONS: &str = "join, publish_audio, publish_video, publish_data, rtm_login, chat_login, chat_app";

fn parse_action(f: &Fields<'_>) -> Result<Action, ApiError> {
    let name = f.required_str("action", &format!("one of {ACTIONS}"))?;
    let rtc_identity = || -> Result<(String, Uid), ApiError> {
        let channel = f.required_str("channel", "the channel the client joins")?.to_owned();
        let uid = match (f.get("uid"), f.str("account")?) {
            (Some(_), Some(_)) => return Err(ApiError::invalid_value("account", "give uid or account, not both")),
            (Some(Value::String(_)), None) => {
                return Err(ApiError::invalid_type("uid", "a whole number (use \"account\" for a string user account)"))
            }
            (Some(_), None) => Uid::Int(f.u32("uid")?.unwrap_or(0)),
            (None, Some(a)) => Uid::Account(a.to_owned()),
            (None, None) => {
                return Err(ApiError::missing("uid", "the uid (a number) or account (a string) the client joins with"))
            }
        };
        Ok((channel, uid))
    };
    let publish = |media| rtc_identity().map(|(channel, uid)| Action::Publish { channel, uid, media });
    Ok(match name {
        "join" => {
            let (channel, uid) = rtc_identity()?;
            Action::JoinChannel { channel, uid }
        }
        "publish_audio" => publish(Media::Audio)?,
        "publish_video" => publish(Media::Video)?,
        "publish_data" => publish(Media::Data)?,
        "rtm_login" => Action::RtmLogin { user_id: f.required_str("user_id", "the RTM user id")?.to_owned() },
        "chat_login" => Action::ChatLogin { user_id: f.required_str("user_id", "the Chat user id")?.to_owned() },
        "chat_app" => Action::ChatApp,
        other => return Err(ApiError::invalid_value("action", format!("must be one of {ACTIONS}, got {other:?}"))),
    })
}

fn parse_at(f: &Fields<'_>, now: UnixTime) -> Result<UnixTime, ApiError> {
    match f.get("at") {
        None => Ok(now),
        Some(Value::String(s)) => time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
            .ok()
            .and_then(|t| u64::try_from(t.unix_timestamp()).ok())
            .map(UnixTime::from_secs)
            .ok_or_else(|| {
                ApiError::invalid_value("at", format!("{s:?} is not an RFC 3339 time (e.g. 2030-01-01T00:00:00Z)"))
            }),
        Some(v) => body::uint_value(v, "at", u64::from(u32::MAX)).map(UnixTime::from_secs),
    }
}

/// `POST /v1/tokens/verify`: what Agora would answer for an action with this token.
pub(crate) async fn verify(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Whole, BodyRejection>,
) -> ApiResult {
    let map = body::v1_json(&headers, body)?;
    let f = Fields::new(&map, &["token", "action", "channel", "uid", "account", "user_id", "at", "app_id"])?;
    // Every field's type is checked, whether or not the action reads it.
    for text in ["channel", "account", "user_id"] {
        f.str(text)?;
    }
    if !matches!(f.get("uid"), Some(Value::String(_))) {
        f.u32("uid")?;
    }
    let (_, parsed) = parse_token(&f)?;
    let action = parse_action(&f)?;
    let now = state.now();
    let at = parse_at(&f, now)?;
    let app = match f.str("app_id")? {
        Some(id) => state.app(id).ok_or_else(|| unknown_app(id))?,
        None => parsed.as_ref().ok().and_then(|t| state.app(t.app_id())).unwrap_or_else(|| state.default_app()),
    };
    let outcome = parsed.and_then(|token| {
        if token.app_id() != app.id() {
            return Err(agtoken::Error::AppIdMismatch {
                token: token.app_id().to_owned(),
                expected: app.id().to_owned(),
            });
        }
        token.verify_for(&app.certs, &action)?.check(&app.cfg.app_id, &action, at)
    });
    let mut out = VerifyResponse {
        app_id: app.id(),
        admitted: false,
        expires_at: None,
        expires_at_rfc3339: None,
        certificate: None,
        reason: None,
        checked_at: at.as_secs(),
        server_time: now.as_secs(),
    };
    match outcome {
        Ok(admission) => {
            let exp = admission.expires_at.as_secs();
            out.admitted = true;
            out.expires_at = Some(exp);
            out.expires_at_rfc3339 = rfc3339(exp);
            out.certificate = Some(Certificate::of_index(admission.certificate_index));
        }
        Err(e) => {
            let agora = e.agora_error_for(action.product());
            out.reason = Some(VerifyReason {
                message: e.to_string(),
                agora_code: agora.map(|a| a.code),
                agora_name: agora.map(|a| a.name),
                agora_meaning: agora.map(|a| a.meaning),
                product: product_name(agora.map_or(action.product(), |a| a.product)),
            });
        }
    }
    Ok(ok_json(&out))
}
