//! The TOML file: its types ([`FileConfig`], [`FileApp`]), parsed with unknown keys refused.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::auth::{FileApiKey, FileJwt};
use crate::error::ServerError;
use crate::policy::FileRule;

/// The TOML file parsed, with what messages and relative paths need.
#[derive(Debug, Default)]
pub(super) struct FileSource {
    /// The parsed file (all `None` without a file).
    pub(super) cfg: FileConfig,
    /// The file's name for messages (empty without a file).
    pub(super) name: String,
    /// Its folder: relative paths in the file are relative to it.
    pub(super) base_dir: PathBuf,
}

impl FileSource {
    /// `path` in the file, resolved against the file's folder.
    pub(super) fn path(&self, path: &Path) -> PathBuf {
        crate::auth::resolve_path(&self.base_dir, path)
    }
}

/// Parses the TOML text of `file` (its path and text); no file gives the defaults.
pub(super) fn parse_file(file: Option<(&Path, &str)>) -> Result<FileSource, ServerError> {
    let Some((path, text)) = file else {
        return Ok(FileSource::default());
    };
    let cfg = toml::from_str::<FileConfig>(text).map_err(|e| {
        ServerError::config(path.display().to_string(), "file", e.to_string().trim_end().replace('\n', " "))
    })?;
    let base_dir = path.parent().map_or_else(PathBuf::new, Path::to_path_buf);
    Ok(FileSource { cfg, name: path.display().to_string(), base_dir })
}

/// A string or a list of strings (TOML).
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum StringOrList {
    /// `"*"` or `"https://a, https://b"`.
    One(String),
    /// `["https://a", "https://b"]`.
    Many(Vec<String>),
}

/// The TOML file.
///
/// ```toml
/// host = "0.0.0.0"
/// port = 8080
/// cors_allow_origin = ["https://app.example.com"]
/// body_limit_bytes = 16384
/// request_timeout_secs = 10
/// header_read_timeout_secs = 30
/// max_connections = 768
/// first_request_timeout_secs = 10
/// idle_timeout_secs = 30
/// shutdown_grace_secs = 30
/// default_app = "970CA35de60c44645bbae8a215061b33"   # else the first app
///
/// [[apps]]
/// app_id = "970CA35de60c44645bbae8a215061b33"
/// app_certificate_env = "MAIN_APP_CERTIFICATE"       # or app_certificate = "…"
/// secondary_certificate = "…"                         # optional
/// token_version = "007"                               # or "006"
/// default_lifetime_secs = 3600
/// max_lifetime_secs = 86400
/// compat_lifetime_secs = 3600
/// ```
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Address to listen on.
    pub host: Option<String>,
    /// Port.
    pub port: Option<u16>,
    /// `"*"`, a comma list or a list of origins.
    pub cors_allow_origin: Option<StringOrList>,
    /// Request body limit.
    pub body_limit_bytes: Option<usize>,
    /// Request timeout.
    pub request_timeout_secs: Option<u64>,
    /// Time to send a request head, and idle keep-alive limit.
    pub header_read_timeout_secs: Option<u64>,
    /// Shutdown grace period.
    pub shutdown_grace_secs: Option<u64>,
    /// Most connections open at once.
    pub max_connections: Option<u64>,
    /// Time from accept to the first complete request, TLS handshake included.
    pub first_request_timeout_secs: Option<u64>,
    /// Time a connection may stay open with no request in flight.
    pub idle_timeout_secs: Option<u64>,
    /// HTTPS: PEM certificate chain.
    pub tls_cert_file: Option<PathBuf>,
    /// HTTPS: PEM private key.
    pub tls_key_file: Option<PathBuf>,
    /// Requests per client address on the API routes, e.g. `"600/min"` (per replica).
    pub per_ip_rate_limit: Option<String>,
    /// Burst of that rate.
    pub per_ip_rate_limit_burst: Option<u32>,
    /// The header that carries the client address behind a proxy (e.g. `X-Forwarded-For`).
    pub client_ip_header: Option<String>,
    /// The shared rate-limit store, `redis://HOST:PORT[/DB]` or `rediss://…`.
    pub limits_store: Option<String>,
    /// A file holding the store's password (AUTH).
    pub limits_store_password_file: Option<PathBuf>,
    /// PEM CA certificates to trust for `rediss://` (instead of the system's roots).
    pub limits_store_ca_file: Option<PathBuf>,
    /// `"local"` (default) or `"refuse"`: what to do when the store does not answer.
    pub limits_store_fallback: Option<String>,
    /// Deadline of one call to the store, milliseconds (default 100).
    pub limits_store_timeout_ms: Option<u64>,
    /// App id of the default app.
    pub default_app: Option<String>,
    /// The apps.
    #[serde(default)]
    pub apps: Vec<FileApp>,
}

/// One `[[apps]]` entry of the TOML file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileApp {
    /// App id.
    pub app_id: String,
    /// Primary certificate, in the file.
    pub app_certificate: Option<String>,
    /// Or: the environment variable that holds it.
    pub app_certificate_env: Option<String>,
    /// Or: a file that holds it (Docker/Kubernetes secrets).
    pub app_certificate_file: Option<PathBuf>,
    /// Secondary certificate, in the file.
    pub secondary_certificate: Option<String>,
    /// Or: the environment variable that holds it.
    pub secondary_certificate_env: Option<String>,
    /// Or: a file that holds it.
    pub secondary_certificate_file: Option<PathBuf>,
    /// `"007"` or `"006"`.
    pub token_version: Option<String>,
    /// Default lifetime, seconds.
    pub default_lifetime_secs: Option<u32>,
    /// Maximum lifetime, seconds.
    pub max_lifetime_secs: Option<u32>,
    /// Lifetime of the compatibility routes, seconds.
    pub compat_lifetime_secs: Option<u32>,
    /// `"none"` (default), `"api_key"` or `"jwt"`.
    pub auth: Option<String>,
    /// `[[apps.api_keys]]`: names and SHA-256 hashes.
    #[serde(default)]
    pub api_keys: Vec<FileApiKey>,
    /// `[apps.jwt]`.
    pub jwt: Option<FileJwt>,
    /// `[[apps.policy]]` rules.
    #[serde(default)]
    pub policy: Vec<FileRule>,
    /// Per-caller rate for rules without their own, e.g. `"60/min"` (per replica).
    pub rate_limit: Option<String>,
    /// Burst of that rate.
    pub rate_limit_burst: Option<u32>,
}
