//! The crate's errors: [`ServerError`] for starting and running the server, [`ApiError`] for
//! the answers of the v1 routes (`{"error": {"code", "message", "field"}}`).

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use schemars::JsonSchema;
use serde::Serialize;

/// Why the server could not start or stopped with an error.
///
/// `Display` gives a message a person can act on: which file, which field, which rule.
/// No variant ever holds an app certificate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// A configuration value is wrong. `source` names where it came from (an environment
    /// variable, `.env`, the TOML file or a command-line option) and `field` the setting.
    #[error("configuration: {source_name}: {field}: {message}")]
    Config {
        /// Where the value came from, e.g. `environment variable APP_ID` or `/etc/agtoken.toml`.
        source_name: String,
        /// The setting, e.g. `apps[1].app_certificate`.
        field: String,
        /// What is wrong with it (never the value of a certificate).
        message: String,
    },
    /// The configuration file could not be read.
    #[error("configuration: cannot read {path}: {source}")]
    ConfigFile {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The `.env` file exists but could not be parsed.
    #[error("configuration: {path}: {message}")]
    DotEnv {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        message: String,
    },
    /// The listening socket could not be opened.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// The I/O error.
        source: io::Error,
    },
    /// The address to listen on does not resolve.
    #[error("cannot listen on {addr}: {message}")]
    Address {
        /// The address as given.
        addr: String,
        /// Why it is not usable.
        message: String,
    },
    /// The async runtime could not start.
    #[error("cannot start the async runtime: {0}")]
    Runtime(io::Error),
    /// The signal handlers (SIGINT/SIGTERM) could not be installed.
    #[error("cannot install the shutdown signal handler: {0}")]
    Signal(io::Error),
    /// Serving failed after start-up.
    #[error("server error on {addr}: {source}")]
    Serve {
        /// The address served.
        addr: SocketAddr,
        /// The I/O error.
        source: io::Error,
    },
}

impl ServerError {
    pub(crate) fn config(source_name: impl Into<String>, field: impl Into<String>, message: impl Into<String>) -> Self {
        ServerError::Config { source_name: source_name.into(), field: field.into(), message: message.into() }
    }
}

/// A request value that could not be read: the field as the client spelled it, with its
/// object's path (`serviceRtc.role`), and what is wrong with it. `Display` is `field: problem`,
/// the form every compatibility route's message takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field, as the client spelled it (`None` until the reader places the error).
    pub field: Option<String>,
    /// What is wrong, e.g. `must be a string, not an integer`.
    pub problem: String,
}

impl FieldError {
    /// What is wrong with `field`.
    pub fn new(field: impl Into<String>, problem: impl Into<String>) -> Self {
        FieldError { field: Some(field.into()), problem: problem.into() }
    }

    /// The same error, about `field` unless it already names one (an inner field's error keeps
    /// the inner name).
    pub(crate) fn or_at(mut self, field: String) -> Self {
        self.field.get_or_insert(field);
        self
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.field {
            Some(field) => write!(f, "{field}: {}", self.problem),
            None => f.write_str(&self.problem),
        }
    }
}

impl std::error::Error for FieldError {}

impl serde::de::Error for FieldError {
    fn custom<T: std::fmt::Display>(problem: T) -> Self {
        FieldError { field: None, problem: problem.to_string() }
    }
}

/// The stable, machine-readable code of a v1 error; each code always comes with one HTTP status
/// ([`ErrorCode::status`]), and the document's `Error` schema lists [`ErrorCode::ALL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// Bad Request: the body is not JSON.
    InvalidJson,
    /// Bad Request: the body could not be read.
    InvalidBody,
    /// Bad Request: a field has the wrong JSON type.
    InvalidType,
    /// Bad Request: a field the request does not have.
    UnknownField,
    /// Bad Request: a number does not fit the field.
    OutOfRange,
    /// Unprocessable Entity: a required field is absent.
    MissingField,
    /// Unprocessable Entity: well-formed, but against a rule.
    InvalidValue,
    /// Unprocessable Entity: an `app_id` the server does not serve.
    UnknownApp,
    /// Unprocessable Entity: a token that cannot be read.
    InvalidToken,
    /// Payload Too Large: the body is over the limit.
    PayloadTooLarge,
    /// Unsupported Media Type: the body is not declared as JSON.
    UnsupportedMediaType,
    /// Not Found: no such route.
    NotFound,
    /// Method Not Allowed: the route does not take this method.
    MethodNotAllowed,
    /// Request Timeout: the request took too long.
    Timeout,
    /// Unauthorized: the caller did not authenticate.
    Unauthorized,
    /// Forbidden: the caller's policy refuses what the token would admit.
    Forbidden,
    /// Too Many Requests: a rate limit was reached.
    RateLimited,
    /// Service Unavailable: a dependency (limits store, JWKS) is unavailable.
    Unavailable,
}

impl ErrorCode {
    /// Every code, in the document's order.
    pub const ALL: [ErrorCode; 18] = [
        ErrorCode::InvalidJson,
        ErrorCode::InvalidBody,
        ErrorCode::InvalidType,
        ErrorCode::UnknownField,
        ErrorCode::OutOfRange,
        ErrorCode::MissingField,
        ErrorCode::InvalidValue,
        ErrorCode::UnknownApp,
        ErrorCode::InvalidToken,
        ErrorCode::PayloadTooLarge,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::NotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::Timeout,
        ErrorCode::Unauthorized,
        ErrorCode::Forbidden,
        ErrorCode::RateLimited,
        ErrorCode::Unavailable,
    ];

    /// The code as sent, e.g. `invalid_type`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidJson => "invalid_json",
            ErrorCode::InvalidBody => "invalid_body",
            ErrorCode::InvalidType => "invalid_type",
            ErrorCode::UnknownField => "unknown_field",
            ErrorCode::OutOfRange => "out_of_range",
            ErrorCode::MissingField => "missing_field",
            ErrorCode::InvalidValue => "invalid_value",
            ErrorCode::UnknownApp => "unknown_app",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::NotFound => "not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::Timeout => "timeout",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Unavailable => "unavailable",
        }
    }

    /// The HTTP status this code is sent with.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::InvalidJson => StatusCode::BAD_REQUEST,
            ErrorCode::InvalidBody => StatusCode::BAD_REQUEST,
            ErrorCode::InvalidType => StatusCode::BAD_REQUEST,
            ErrorCode::UnknownField => StatusCode::BAD_REQUEST,
            ErrorCode::OutOfRange => StatusCode::BAD_REQUEST,
            ErrorCode::MissingField => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::InvalidValue => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::UnknownApp => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::InvalidToken => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::Timeout => StatusCode::REQUEST_TIMEOUT,
            ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorCode::Forbidden => StatusCode::FORBIDDEN,
            ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The code of a refusal by authentication, policy or limits with this status (`forbidden`
    /// for any status that is not 401, 429 or 503).
    pub fn of_refusal(status: StatusCode) -> ErrorCode {
        match status {
            StatusCode::UNAUTHORIZED => ErrorCode::Unauthorized,
            StatusCode::TOO_MANY_REQUESTS => ErrorCode::RateLimited,
            StatusCode::SERVICE_UNAVAILABLE => ErrorCode::Unavailable,
            _ => ErrorCode::Forbidden,
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// An error answer of a v1 route: a stable machine-readable `code` (which gives the status), a
/// message for people and the request field it concerns (`null` when it concerns no single field).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// Stable code, e.g. `invalid_type`, `out_of_range`, `unknown_app`.
    pub code: ErrorCode,
    /// What is wrong, for people.
    pub message: String,
    /// The request field (a JSON path such as `structure.services[0].privileges.1`), if any.
    pub field: Option<String>,
}

impl ApiError {
    /// A new error.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError { code, message: message.into(), field: None }
    }

    /// The HTTP status (the code's).
    pub fn status(&self) -> StatusCode {
        self.code.status()
    }

    /// The same error, about `field`.
    pub fn at(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// 400 `invalid_json`: the body is not JSON.
    pub fn invalid_json(message: impl Into<String>) -> Self {
        ApiError::new(ErrorCode::InvalidJson, message)
    }

    /// 400 `invalid_type`: a field has the wrong JSON type.
    pub fn invalid_type(field: impl Into<String>, expected: &str) -> Self {
        let field = field.into();
        ApiError::new(ErrorCode::InvalidType, format!("{field}: must be {expected}")).at(field)
    }

    /// 400 `out_of_range`: a number does not fit the field.
    pub fn out_of_range(field: impl Into<String>, rule: &str) -> Self {
        let field = field.into();
        ApiError::new(ErrorCode::OutOfRange, format!("{field}: {rule}")).at(field)
    }

    /// 400 `unknown_field`.
    pub fn unknown_field(field: impl Into<String>, allowed: &[&str]) -> Self {
        let field = field.into();
        ApiError::new(
            ErrorCode::UnknownField,
            format!("{field}: unknown field (expected one of: {})", allowed.join(", ")),
        )
        .at(field)
    }

    /// 422 `missing_field`.
    pub fn missing(field: impl Into<String>, why: &str) -> Self {
        let field = field.into();
        let message = if why.is_empty() { format!("{field}: required") } else { format!("{field}: required ({why})") };
        ApiError::new(ErrorCode::MissingField, message).at(field)
    }

    /// 422 `invalid_value`: well-formed but against a rule.
    pub fn invalid_value(field: impl Into<String>, rule: impl std::fmt::Display) -> Self {
        let field = field.into();
        ApiError::new(ErrorCode::InvalidValue, format!("{field}: {rule}")).at(field)
    }

    /// 404 `not_found`.
    pub fn not_found(path: &str) -> Self {
        ApiError::new(ErrorCode::NotFound, format!("no route for {path} (see /openapi.json)"))
    }

    /// 405 `method_not_allowed`.
    pub fn method_not_allowed(method: &str, path: &str) -> Self {
        ApiError::new(ErrorCode::MethodNotAllowed, format!("{method} is not allowed on {path} (see /openapi.json)"))
    }

    /// 413 `payload_too_large`.
    pub fn too_large(limit: usize) -> Self {
        ApiError::new(ErrorCode::PayloadTooLarge, format!("the request body is larger than the limit of {limit} bytes"))
    }

    /// 415 `unsupported_media_type`.
    pub fn unsupported_media_type(got: Option<&str>) -> Self {
        let got = got.map_or_else(|| "no Content-Type".to_owned(), |g| format!("Content-Type {g:?}"));
        ApiError::new(
            ErrorCode::UnsupportedMediaType,
            format!("the body must be JSON with Content-Type: application/json (got {got})"),
        )
    }

    /// 408 `timeout`.
    pub fn timeout(secs: f64) -> Self {
        ApiError::new(ErrorCode::Timeout, format!("the request took longer than {secs} s"))
    }

    /// The JSON body.
    pub fn body(&self) -> String {
        let body =
            ErrorBody { error: ErrorDetail { code: self.code, message: &self.message, field: self.field.as_deref() } };
        serde_json::to_string(&body).expect("an error body serializes")
    }

    /// Maps an error of the token library to an answer: input-rule errors are 422 naming
    /// the field, numbers that do not fit are 400.
    pub fn from_library(err: &agtoken::Error) -> Self {
        use agtoken::Error as E;
        match err {
            E::Invalid { field, .. } | E::TooLong { field, .. } => {
                ApiError::new(ErrorCode::InvalidValue, err.to_string()).at(*field)
            }
            E::OutOfRange { field, .. } => ApiError::new(ErrorCode::OutOfRange, err.to_string()).at(*field),
            E::Missing { field } => ApiError::new(ErrorCode::MissingField, err.to_string()).at(field.clone()),
            E::InvalidSpec { path, .. } => ApiError::new(ErrorCode::InvalidValue, err.to_string()).at(path.clone()),
            _ => ApiError::new(ErrorCode::InvalidValue, err.to_string()),
        }
    }
}

/// A v1 error, and the answer of an unknown route (404), another method (405) or a timeout
/// (408): `{"error": {"code", "message", "field"}}`.
#[derive(Serialize, JsonSchema)]
#[schemars(rename = "Error")]
pub(crate) struct ErrorBody<'a> {
    /// What went wrong.
    error: ErrorDetail<'a>,
}

/// What went wrong, with a stable code.
#[derive(Serialize, JsonSchema)]
struct ErrorDetail<'a> {
    /// A stable, machine-readable code.
    #[schemars(schema_with = "error_code_schema")]
    code: ErrorCode,
    /// What is wrong, for people.
    message: &'a str,
    /// The request field, as a JSON path (`null`: no single field).
    field: Option<&'a str>,
}

fn error_code_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({"type": "string", "enum": ErrorCode::ALL.map(ErrorCode::as_str)})
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status().as_u16(), self.code, self.message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status(), self.body()).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        response
    }
}

#[cfg(test)]
mod error_code_tests {
    use super::*;

    #[test]
    fn every_code_is_listed_once_and_sent_as_its_name_with_its_status() {
        let names: std::collections::HashSet<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(names.len(), ErrorCode::ALL.len(), "two codes share a name");
        for code in ErrorCode::ALL {
            assert!(code.as_str().bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "{code}");
            assert_eq!(serde_json::to_value(code).unwrap(), serde_json::Value::from(code.as_str()));
            let error = ApiError::new(code, "m");
            assert_eq!(error.status(), code.status());
            let body: serde_json::Value = serde_json::from_str(&error.body()).unwrap();
            assert_eq!(body["error"]["code"], code.as_str());
        }
        assert_eq!(ErrorCode::of_refusal(StatusCode::UNAUTHORIZED).status(), StatusCode::UNAUTHORIZED);
        assert_eq!(ErrorCode::of_refusal(StatusCode::TOO_MANY_REQUESTS).status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(ErrorCode::of_refusal(StatusCode::SERVICE_UNAVAILABLE).status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(ErrorCode::of_refusal(StatusCode::FORBIDDEN).status(), StatusCode::FORBIDDEN);
    }
}
