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

/// An error answer of a v1 route: status, a stable machine-readable `code`, a message for
/// people and the request field it concerns (`null` when it concerns no single field).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable code, e.g. `invalid_type`, `out_of_range`, `unknown_app`.
    pub code: &'static str,
    /// What is wrong, for people.
    pub message: String,
    /// The request field (a JSON path such as `structure.services[0].privileges.1`), if any.
    pub field: Option<String>,
}

impl ApiError {
    /// A new error.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        // The document lists every code (ERROR_CODES); a new one must be added there.
        debug_assert!(ERROR_CODES.contains(&code), "error code {code:?} is not in ERROR_CODES");
        ApiError { status, code, message: message.into(), field: None }
    }

    /// The same error, about `field`.
    pub fn at(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// 400 `invalid_json`: the body is not JSON.
    pub fn invalid_json(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_json", message)
    }

    /// 400 `invalid_type`: a field has the wrong JSON type.
    pub fn invalid_type(field: impl Into<String>, expected: &str) -> Self {
        let field = field.into();
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_type", format!("{field}: must be {expected}")).at(field)
    }

    /// 400 `out_of_range`: a number does not fit the field.
    pub fn out_of_range(field: impl Into<String>, rule: &str) -> Self {
        let field = field.into();
        ApiError::new(StatusCode::BAD_REQUEST, "out_of_range", format!("{field}: {rule}")).at(field)
    }

    /// 400 `unknown_field`.
    pub fn unknown_field(field: impl Into<String>, allowed: &[&str]) -> Self {
        let field = field.into();
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "unknown_field",
            format!("{field}: unknown field (expected one of: {})", allowed.join(", ")),
        )
        .at(field)
    }

    /// 422 `missing_field`.
    pub fn missing(field: impl Into<String>, why: &str) -> Self {
        let field = field.into();
        let message = if why.is_empty() { format!("{field}: required") } else { format!("{field}: required ({why})") };
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "missing_field", message).at(field)
    }

    /// 422 `invalid_value`: well-formed but against a rule.
    pub fn invalid_value(field: impl Into<String>, rule: impl std::fmt::Display) -> Self {
        let field = field.into();
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_value", format!("{field}: {rule}")).at(field)
    }

    /// 404 `not_found`.
    pub fn not_found(path: &str) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("no route for {path} (see /openapi.json)"))
    }

    /// 405 `method_not_allowed`.
    pub fn method_not_allowed(method: &str, path: &str) -> Self {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!("{method} is not allowed on {path} (see /openapi.json)"),
        )
    }

    /// 413 `payload_too_large`.
    pub fn too_large(limit: usize) -> Self {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the request body is larger than the limit of {limit} bytes"),
        )
    }

    /// 415 `unsupported_media_type`.
    pub fn unsupported_media_type(got: Option<&str>) -> Self {
        let got = got.map_or_else(|| "no Content-Type".to_owned(), |g| format!("Content-Type {g:?}"));
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("the body must be JSON with Content-Type: application/json (got {got})"),
        )
    }

    /// 408 `timeout`.
    pub fn timeout(secs: f64) -> Self {
        ApiError::new(StatusCode::REQUEST_TIMEOUT, "timeout", format!("the request took longer than {secs} s"))
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
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_value", err.to_string()).at(*field)
            }
            E::OutOfRange { field, .. } => {
                ApiError::new(StatusCode::BAD_REQUEST, "out_of_range", err.to_string()).at(*field)
            }
            E::Missing { field } => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "missing_field", err.to_string()).at(field.clone())
            }
            E::InvalidSpec { path, .. } => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_value", err.to_string()).at(path.clone())
            }
            _ => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_value", err.to_string()),
        }
    }
}

/// Every `code` an [`ApiError`] carries (checked by [`ApiError::new`] in debug builds), as the
/// document's `Error` schema lists them.
pub(crate) const ERROR_CODES: &[&str] = &[
    "invalid_json",
    "invalid_body",
    "invalid_type",
    "unknown_field",
    "out_of_range",
    "missing_field",
    "invalid_value",
    "unknown_app",
    "invalid_token",
    "payload_too_large",
    "unsupported_media_type",
    "not_found",
    "method_not_allowed",
    "timeout",
    "unauthorized",
    "forbidden",
    "rate_limited",
    "unavailable",
];

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
    code: &'a str,
    /// What is wrong, for people.
    message: &'a str,
    /// The request field, as a JSON path (`null`: no single field).
    field: Option<&'a str>,
}

fn error_code_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({"type": "string", "enum": ERROR_CODES})
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, self.body()).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        response
    }
}
