//! The crate's errors: [`ServerError`] for starting and running the server, [`SettingError`]
//! for a configuration value that cannot be used, [`ApiError`] for the answers of the v1 routes
//! (`{"error": {"code", "message", "field"}}`). Why a caller is refused has its own types next to
//! the code that decides: [`crate::auth::AuthError`], [`crate::policy::PolicyRefusal`].

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use schemars::JsonSchema;
use serde::Serialize;
use tokio_rustls::rustls;

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
    /// A configuration value that cannot be used (a key, a key file, a JWKS URL, the TLS
    /// identity, a rate, the limits store): `source_name` and `field` as in
    /// [`ServerError::Config`], `error` says why (never the value of a secret).
    #[error("configuration: {source_name}: {field}: {error}")]
    Setting {
        /// Where the value came from.
        source_name: String,
        /// The setting.
        field: String,
        /// What is wrong with it (boxed: it is the largest of the variants).
        error: Box<SettingError>,
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

    pub(crate) fn setting(source_name: impl Into<String>, field: impl Into<String>, error: SettingError) -> Self {
        ServerError::Setting { source_name: source_name.into(), field: field.into(), error: Box::new(error) }
    }
}

/// A configuration value that cannot be used: an API key hash, a JWT verification key or key
/// file, a JWKS URL, the TLS certificate and key, a rate, the rate-limit store's URL or fallback.
/// The configuration code adds where it came from and the setting's name
/// ([`ServerError::Config`]); `Display` says what is wrong with the value.
///
/// Never held, shown or debugged: a secret (an HS256 secret, a private key, a Redis password, a
/// key whose hash was expected). A variant holds the offending text only when it is not one
/// (a rate, a fallback, a public URL without credentials), or a path.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SettingError {
    /// An `[[apps.api_keys]]` hash that is not 64 hex digits (it is not shown: it may be the key).
    #[error("must be the SHA-256 of the key as 64 hex digits (printf %s \"$KEY\" | sha256sum)")]
    ApiKeyHash {
        /// The key's name.
        name: String,
    },
    /// An HS256 secret shorter than 32 bytes.
    #[error("the HS256 secret must be at least 32 bytes (RFC 7518 §3.2)")]
    Hs256SecretTooShort,
    /// `public_key_files = []`.
    #[error("public_key_files is empty")]
    NoPublicKeyFiles,
    /// An RSA key outside 2048–8192 bits.
    #[error("an RSA key of {bits} bits: RS256 needs 2048 to 8192 bits (RFC 7518 §3.3)")]
    RsaKeySize {
        /// The modulus's size.
        bits: usize,
    },
    /// An RSA public exponent `ring` does not verify with (even, 1, or over 2^33 - 1).
    #[error("an RSA key with an unusual public exponent (expected 65537)")]
    RsaExponent,
    /// An EC key that is not an uncompressed P-256 point.
    #[error("an EC key that is not an uncompressed P-256 point: ES256 needs P-256")]
    NotP256,
    /// A file that cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// A public key file that holds a private key (its content is not shown).
    #[error(
        "{} holds a PRIVATE key: give the public key only (e.g. `openssl pkey -in KEY -pubout`); \
         a signing key does not belong on the token server",
        path.display()
    )]
    PrivateKeyGiven {
        /// The file.
        path: PathBuf,
    },
    /// A PEM public key whose bytes `jsonwebtoken` cannot give.
    #[error("{}: {source}", path.display())]
    KeyBytes {
        /// The file.
        path: PathBuf,
        /// What `jsonwebtoken` said.
        source: jsonwebtoken::errors::Error,
    },
    /// A PEM RSA key that is not a public key.
    #[error("{} is not a PEM RSA public key", path.display())]
    NotRsaPublicKey {
        /// The file.
        path: PathBuf,
    },
    /// A file that holds neither a PEM RSA nor a PEM EC public key.
    #[error("{} is not a PEM RSA or EC public key", path.display())]
    NotPublicKey {
        /// The file.
        path: PathBuf,
    },
    /// A public key file whose key cannot verify JWTs ([`SettingError::RsaKeySize`],
    /// [`SettingError::RsaExponent`] or [`SettingError::NotP256`]).
    #[error("{} holds {key}", path.display())]
    UnusableKey {
        /// The file.
        path: PathBuf,
        /// Why the key cannot be used.
        key: Box<SettingError>,
    },
    /// A JWKS file that gives no key ([`SettingError::NotJwks`] or [`SettingError::NoUsableJwk`]).
    #[error("{}: {jwks}", path.display())]
    JwksFile {
        /// The file.
        path: PathBuf,
        /// Why it gives no key.
        jwks: Box<SettingError>,
    },
    /// A document that is not a JWKS.
    #[error("not a JWKS: {0}")]
    NotJwks(serde_json::Error),
    /// A JWKS without a key this server verifies with.
    #[error("holds no RS256 (RSA, 2048 bits or more) or ES256 (P-256) verification key")]
    NoUsableJwk,
    /// A JWKS (or discovery) URL that does not parse.
    #[error("{text:?} is not a URL")]
    NotAUrl {
        /// The URL as given.
        text: String,
    },
    /// A JWKS URL that is neither `https://` nor `http://`.
    #[error("{text:?} must start with https://")]
    NotHttps {
        /// The URL as given.
        text: String,
    },
    /// A JWKS URL without a host.
    #[error("{text:?} has no host")]
    NoHost {
        /// The URL as given.
        text: String,
    },
    /// A JWKS URL with a user name or password (not shown).
    #[error("must not hold a user name or password")]
    UrlCredentials,
    /// An `http://` JWKS URL to a host that is not loopback.
    #[error("{text:?}: http:// is only accepted for a loopback host (127.0.0.1, ::1, localhost); use https://")]
    HttpNotLoopback {
        /// The URL as given.
        text: String,
    },
    /// `oidc_discovery` with no issuer or several.
    #[error("oidc_discovery needs exactly one issuer (the provider's)")]
    DiscoveryIssuers,
    /// Both `jwks_url` and `oidc_discovery` (or neither).
    #[error("give jwks_url or oidc_discovery = true, not both")]
    JwksSources,
    /// A number outside its range.
    #[error("must be {range}, got {got}")]
    OutOfRange {
        /// The range and unit, e.g. `1 to 3600 seconds`.
        range: &'static str,
        /// The number given.
        got: u64,
    },
    /// A CA file whose certificates are not PEM.
    #[error("{} is not PEM certificates: {source}", path.display())]
    CaNotPem {
        /// The file.
        path: PathBuf,
        /// The PEM error.
        source: rustls::pki_types::pem::Error,
    },
    /// A CA certificate rustls does not accept as a root.
    #[error("{}: {source}", path.display())]
    CaRefused {
        /// The file.
        path: PathBuf,
        /// What rustls said.
        source: rustls::Error,
    },
    /// A CA file without a certificate.
    #[error("{} holds no PEM certificate", path.display())]
    NoCaCertificate {
        /// The file.
        path: PathBuf,
    },
    /// The TLS client for fetching JWKS cannot be set up.
    #[error("TLS: {0}")]
    ClientTls(rustls::Error),
    /// No root certificate to check an `https://` JWKS URL with.
    #[error("no system root certificates were found (install the ca-certificates package, or give jwks_ca_file)")]
    NoRootCertificates,
    /// A TLS certificate file that is not PEM.
    #[error("the certificate file is not PEM: {0}")]
    CertificateNotPem(rustls::pki_types::pem::Error),
    /// A TLS certificate file without a certificate.
    #[error("the certificate file holds no CERTIFICATE block")]
    NoCertificate,
    /// A TLS key file without a private key (what the PEM parser said is not shown: it may quote
    /// the key).
    #[error("the key file holds no PEM private key")]
    NoPrivateKey,
    /// The TLS protocol versions cannot be set.
    #[error("TLS versions: {0}")]
    TlsVersions(rustls::Error),
    /// A certificate and key that do not belong together (or that rustls refuses).
    #[error("the certificate and key do not make a TLS identity: {0}")]
    TlsIdentity(rustls::Error),
    /// A rate without `/`.
    #[error("{text:?} is not a rate: write it like \"30/min\" (or /s, /h)")]
    NotARate {
        /// The rate as given.
        text: String,
    },
    /// A rate whose count is not a whole number.
    #[error("{text:?}: {count:?} is not a whole number")]
    RateCount {
        /// The rate as given.
        text: String,
        /// The count as given.
        count: String,
    },
    /// A rate of 0.
    #[error("{text:?}: the count must be at least 1")]
    ZeroRate {
        /// The rate as given.
        text: String,
    },
    /// A rate's unit that is not seconds, minutes or hours.
    #[error("{text:?}: unknown unit {unit:?} (use s, min or h)")]
    RateUnit {
        /// The rate as given.
        text: String,
        /// The unit as given.
        unit: String,
    },
    /// A burst of 0.
    #[error("the burst must be at least 1")]
    ZeroBurst,
    /// A `limits_store_fallback` that is not `local` or `refuse`.
    #[error("must be \"local\" or \"refuse\", got {got:?}")]
    Fallback {
        /// The value as given.
        got: String,
    },
    /// A `limits_store` URL of another scheme (the URL is not shown: it may carry a password).
    #[error("must start with redis:// or rediss:// (TLS)")]
    StoreScheme,
    /// A `limits_store` URL with a fragment.
    #[error("a URL fragment is not supported (rediss://…#insecure would turn off certificate checks)")]
    StoreFragment,
    /// A `limits_store` URL the `redis` crate does not parse.
    #[error("is not a Redis URL: {0}")]
    NotRedisUrl(redis::RedisError),
    /// A `limits_store` URL without a host and port (a Unix socket).
    #[error("must name a host and port")]
    StoreHostPort,
    /// A password in the URL and a password file.
    #[error("carries a password and a password file is given too: keep it in the file only")]
    StorePasswordTwice,
    /// A CA file for a store URL that is not `rediss://`.
    #[error("a CA file is given but the URL is not rediss:// (TLS)")]
    StoreCaWithoutTls,
    /// The CA certificates the `redis` crate refuses.
    #[error("TLS settings: {0}")]
    StoreTls(redis::RedisError),
    /// A store URL the `redis` crate refuses.
    #[error("is not usable: {0}")]
    StoreUnusable(redis::RedisError),
}

impl SettingError {
    /// Whether the error is about the store's CA file rather than its URL (the configuration
    /// then names `limits_store_ca_file`).
    pub fn concerns_ca_file(&self) -> bool {
        matches!(self, SettingError::StoreCaWithoutTls | SettingError::StoreTls(_))
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
        crate::routes::answers::json_text(self.status(), self.body())
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
    }
}
