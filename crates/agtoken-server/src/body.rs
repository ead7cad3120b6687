//! Reading request bodies: the size limit, the content type, JSON, and fields with errors
//! that name them. The compatibility routes read theirs as Go does: [`go`].

pub(crate) mod go;

use std::fmt;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt as _, LengthLimitError, Limited};
use serde_json::{Map, Value};

use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;

/// A request body read whole, at most the body limit (`body_limit`, read per request: a reload
/// applies at once). The one way the routes read a body. (axum's `Bytes` with its
/// `DefaultBodyLimit` layer puts the limit in every request's extensions and boxes the body
/// to read it: 0.8k–1.3k instructions of a request under callgrind.)
pub(crate) struct Whole(pub(crate) Bytes);

/// Why a body could not be read whole.
#[derive(Debug)]
pub(crate) enum BodyRejection {
    /// Longer than the limit (the limit).
    TooLarge(usize),
    /// The connection failed while it came (the error).
    Unreadable(String),
}

impl BodyRejection {
    /// 413 or 400.
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            BodyRejection::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            BodyRejection::Unreadable(_) => StatusCode::BAD_REQUEST,
        }
    }
}

impl fmt::Display for BodyRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BodyRejection::TooLarge(limit) => write!(f, "the body is larger than {limit} bytes"),
            BodyRejection::Unreadable(error) => write!(f, "Failed to buffer the request body: {error}"),
        }
    }
}

impl From<BodyRejection> for ApiError {
    fn from(rejection: BodyRejection) -> ApiError {
        match rejection {
            BodyRejection::TooLarge(limit) => ApiError::too_large(limit),
            BodyRejection::Unreadable(_) => {
                ApiError::new(ErrorCode::InvalidBody, format!("the body could not be read: {rejection}"))
            }
        }
    }
}

impl IntoResponse for BodyRejection {
    fn into_response(self) -> Response {
        ApiError::from(self).into_response()
    }
}

impl FromRequest<AppState> for Whole {
    type Rejection = BodyRejection;

    async fn from_request(req: Request, state: &AppState) -> Result<Whole, BodyRejection> {
        let limit = state.config().body_limit;
        match Limited::new(req.into_body(), limit).collect().await {
            Ok(collected) => Ok(Whole(collected.to_bytes())),
            Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(BodyRejection::TooLarge(limit)),
            Err(e) => Err(BodyRejection::Unreadable(e.to_string())),
        }
    }
}

/// The body as bytes, or the error for a body over the limit (413) or unreadable (400).
pub(crate) fn bytes(body: Result<Whole, BodyRejection>) -> Result<Bytes, ApiError> {
    body.map(|whole| whole.0).map_err(ApiError::from)
}

/// Whether the request says its body is JSON (`application/json`, `application/*+json`).
pub(crate) fn is_json(headers: &HeaderMap) -> Result<(), ApiError> {
    let value = headers.get(header::CONTENT_TYPE);
    let text = value.and_then(|v| v.to_str().ok());
    let mime = text.map(|t| t.split(';').next().unwrap_or("").trim().to_ascii_lowercase());
    match mime.as_deref() {
        Some("application/json") => Ok(()),
        Some(m) if m.starts_with("application/") && m.ends_with("+json") => Ok(()),
        _ => Err(ApiError::unsupported_media_type(text.or(value.map(|_| "<not text>")))),
    }
}

/// A v1 body: within the limit, declared JSON, a JSON object.
pub(crate) fn v1_json(headers: &HeaderMap, body: Result<Whole, BodyRejection>) -> Result<Map<String, Value>, ApiError> {
    let bytes = bytes(body)?;
    is_json(headers)?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::invalid_json("the body is empty: send a JSON object"));
    }
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(ApiError::invalid_json(format!("the body must be a JSON object, not {}", kind(&other)))),
        Err(e) => Err(ApiError::invalid_json(format!("the body is not valid JSON: {e}"))),
    }
}

/// The JSON type of a value, in words.
pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_u64() || n.is_i64() => "an integer",
        Value::Number(_) => "a fractional number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The fields of a JSON object, read strictly: unknown fields are refused, `null` counts as
/// absent, and every error names its field (prefixed with `prefix`, e.g. `structure.`).
pub(crate) struct Fields<'a> {
    map: &'a Map<String, Value>,
    prefix: String,
}

impl<'a> Fields<'a> {
    pub(crate) fn new(map: &'a Map<String, Value>, allowed: &[&str]) -> Result<Self, ApiError> {
        if let Some(unknown) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(ApiError::unknown_field(unknown.clone(), allowed));
        }
        Ok(Fields { map, prefix: String::new() })
    }

    /// The fields of `map` without the check for unknown ones (the caller checks them itself).
    pub(crate) fn unchecked(map: &'a Map<String, Value>) -> Self {
        Fields { map, prefix: String::new() }
    }

    pub(crate) fn name(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    pub(crate) fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    pub(crate) fn str(&self, key: &str) -> Result<Option<&'a str>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(ApiError::invalid_type(self.name(key), &format!("a string, not {}", kind(other)))),
        }
    }

    pub(crate) fn required_str(&self, key: &str, why: &str) -> Result<&'a str, ApiError> {
        self.str(key)?.ok_or_else(|| ApiError::missing(self.name(key), why))
    }

    /// A whole number `0..=max`.
    pub(crate) fn uint(&self, key: &str, max: u64) -> Result<Option<u64>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => uint_value(v, &self.name(key), max).map(Some),
        }
    }

    pub(crate) fn u32(&self, key: &str) -> Result<Option<u32>, ApiError> {
        Ok(self.uint(key, u64::from(u32::MAX))?.map(|n| n as u32))
    }
}

/// Why a JSON value is not a whole number `0..=max`: the rule, without the field (the caller
/// names it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NumberProblem {
    /// Not a whole number at all; says what it must be (`a whole number 0..=9, not a string`).
    Type(String),
    /// A whole number outside the range (`12 is out of range 0..=9`).
    Range(String),
}

impl std::fmt::Display for NumberProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NumberProblem::Type(expected) => write!(f, "must be {expected}"),
            NumberProblem::Range(rule) => f.write_str(rule),
        }
    }
}

/// A whole number `0..=max` from a JSON value.
pub(crate) fn whole_number(v: &Value, max: u64) -> Result<u64, NumberProblem> {
    let Value::Number(n) = v else {
        return Err(NumberProblem::Type(format!("a whole number 0..={max}, not {}", kind(v))));
    };
    if let Some(u) = n.as_u64() {
        if u <= max {
            return Ok(u);
        }
        return Err(NumberProblem::Range(format!("{u} is out of range 0..={max}")));
    }
    if let Some(i) = n.as_i64() {
        return Err(NumberProblem::Range(format!("{i} is negative; must be 0..={max}")));
    }
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && f > max as f64 => {
            Err(NumberProblem::Range(format!("{n} is out of range 0..={max}")))
        }
        _ => Err(NumberProblem::Type(format!("a whole number 0..={max}, not {n}"))),
    }
}

/// A whole number `0..=max` from a JSON value, or the v1 error naming `field`.
pub(crate) fn uint_value(v: &Value, field: &str, max: u64) -> Result<u64, ApiError> {
    whole_number(v, max).map_err(|problem| match problem {
        NumberProblem::Type(expected) => ApiError::invalid_type(field, &expected),
        NumberProblem::Range(rule) => ApiError::out_of_range(field, &rule),
    })
}
