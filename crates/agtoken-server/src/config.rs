//! Configuration: command-line options, then environment variables (the process's, then a
//! `.env` file), then a TOML file, then defaults. Everything is validated once, at start-up;
//! a wrong value stops the server with a message naming the setting and where it came from.
//!
//! Single app (the names the existing token servers use):
//!
//! | variable | meaning |
//! |---|---|
//! | `AGORA_APP_ID` or `APP_ID` | the app id (32 hex characters) |
//! | `AGORA_APP_CERTIFICATE` or `APP_CERTIFICATE` (or the community service's `APP_CERT`) | its primary certificate |
//! | `AGORA_APP_CERTIFICATE_SECONDARY` or `APP_CERTIFICATE_SECONDARY` | optional secondary certificate (rotation) |
//! | a certificate variable + `_FILE` (`APP_CERTIFICATE_FILE`, `APP_CERT_FILE`, …) | read it from that file |
//! | `SERVER_PORT` or `PORT` | port (default 8080) |
//! | `AGTOKEN_HOST` | address to listen on (default `0.0.0.0`) |
//! | `CORS_ALLOW_ORIGIN` | `*` or a comma-separated list of origins (default `*`) |
//! | `AGTOKEN_CONFIG` | path of a TOML file (same as `--config`) |
//! | `AGTOKEN_TOKEN_VERSION` | `007` (default) or `006` |
//! | `AGTOKEN_DEFAULT_LIFETIME` / `AGTOKEN_MAX_LIFETIME` | seconds (defaults 3600 / 86400) |
//! | `AGTOKEN_COMPAT_LIFETIME` | lifetime the compatibility routes give when the request says none (default 3600; the docs' Go demo used 40) |
//! | `AGTOKEN_BODY_LIMIT` | request body limit in bytes (default 16384) |
//! | `AGTOKEN_REQUEST_TIMEOUT` | seconds (default 10) |
//! | `AGTOKEN_SHUTDOWN_GRACE` | seconds in-flight requests get after SIGTERM/SIGINT (default 30; the container image sets 8, below Docker's 10 s stop timeout) |
//! | `AGTOKEN_MAX_CONNECTIONS` | most connections open at once (default 768) |
//! | `AGTOKEN_FIRST_REQUEST_TIMEOUT` | seconds from accept to the first request (default 10) |
//! | `AGTOKEN_IDLE_TIMEOUT` | seconds a connection may idle (default 30) |
//! | `AGTOKEN_LIMITS_STORE` | `redis://HOST:PORT[/DB]` or `rediss://…`: rate limits shared by every replica |
//! | `AGTOKEN_LIMITS_STORE_PASSWORD_FILE` | a file holding its password (AUTH) |
//! | `AGTOKEN_LIMITS_STORE_CA_FILE` | PEM CA certificates to trust for `rediss://` instead of the system's |
//! | `AGTOKEN_LIMITS_STORE_FALLBACK` | `local` (default) or `refuse`: when the store does not answer |
//! | `AGTOKEN_LIMITS_STORE_TIMEOUT_MS` | deadline of one call to the store (default 100) |
//!
//! Several apps: a TOML file (see [`FileConfig`] and the crate README). With no app anywhere
//! the server runs in **demo mode** with a throwaway app id and certificate.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use agtoken::{AppCertificate, AppId, Version};
use axum::http::HeaderName;
use serde::Deserialize;

use crate::auth::{Auth, FileApiKey, FileJwt};
use crate::error::ServerError;
use crate::limit::Rate;
use crate::limit_store::{Fallback, LimitsStore};
use crate::policy::{FileRule, Rule};
use crate::secrets::read_secret_file;
use crate::tls::TlsSettings;
use crate::ServeOptions;

/// Default port, as the community token service and the docs' Docker generator use.
pub const DEFAULT_PORT: u16 = 8080;
/// Default lifetime of a token when the request gives none (1 hour).
pub const DEFAULT_LIFETIME_SECS: u32 = 3600;
/// Agora's cap: 24 hours.
pub const MAX_LIFETIME_SECS: u32 = agtoken::time::MAX_LIFETIME_SECS as u32;
/// Default request body limit.
pub const DEFAULT_BODY_LIMIT: usize = 16 * 1024;
/// Default request timeout.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Default time a client may take to send a request head (also the idle keep-alive limit).
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Default cap on open connections: three quarters of the usual open-file limit of 1,024,
/// leaving 256 descriptors for everything else (see the crate README, "Connections").
pub const DEFAULT_MAX_CONNECTIONS: usize = 768;
/// Default time from accept to the first complete request (TLS handshake included).
pub const DEFAULT_FIRST_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Default time a connection may stay open with no request in flight.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Default time given to in-flight requests after SIGINT/SIGTERM.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// One Agora app the server issues tokens for.
#[derive(Clone, Debug)]
pub struct AppConfig {
    /// The app id.
    pub app_id: AppId,
    /// The primary certificate: every token is signed with it.
    pub certificate: AppCertificate,
    /// A secondary certificate, accepted when verifying (during a rotation).
    pub secondary_certificate: Option<AppCertificate>,
    /// The token format the builder-style routes give by default (`007`, or `006` for legacy fleets).
    pub token_version: Version,
    /// Lifetime when a v1 request gives none, seconds.
    pub default_lifetime: u32,
    /// Longest lifetime a request may ask for, seconds (at most 86400).
    pub max_lifetime: u32,
    /// Lifetime the compatibility routes give when the request says none, seconds.
    pub compat_lifetime: u32,
    /// How callers authenticate (`none` unless configured).
    pub auth: Auth,
    /// What authenticated callers may get: the first rule that selects a caller decides.
    pub policy: Vec<Rule>,
    /// Per-caller rate for rules without their own.
    pub rate_limit: Option<Rate>,
}

impl AppConfig {
    /// An app with the default settings (007, 1 h default and compatibility lifetime, 24 h max).
    pub fn new(app_id: AppId, certificate: AppCertificate) -> Self {
        AppConfig {
            app_id,
            certificate,
            secondary_certificate: None,
            token_version: Version::V007,
            default_lifetime: DEFAULT_LIFETIME_SECS,
            max_lifetime: MAX_LIFETIME_SECS,
            compat_lifetime: DEFAULT_LIFETIME_SECS,
            auth: Auth::None,
            policy: Vec::new(),
            rate_limit: None,
        }
    }

    fn validate(&self, source: &str, at: &str) -> Result<(), ServerError> {
        let field = |name: &str| if at.is_empty() { name.to_owned() } else { format!("{at}.{name}") };
        if self.max_lifetime == 0 || self.max_lifetime > MAX_LIFETIME_SECS {
            return Err(ServerError::config(
                source,
                field("max_lifetime"),
                format!(
                    "must be 1..=86400 seconds (Agora ends every token 24 h after issue), got {}",
                    self.max_lifetime
                ),
            ));
        }
        for (name, value) in [("default_lifetime", self.default_lifetime), ("compat_lifetime", self.compat_lifetime)] {
            if value == 0 || value > self.max_lifetime {
                return Err(ServerError::config(
                    source,
                    field(name),
                    format!("must be 1..={} seconds (max_lifetime), got {value}", self.max_lifetime),
                ));
            }
        }
        Ok(())
    }
}

/// Which origins may call the server from a browser.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CorsOrigins {
    /// Any origin (`Access-Control-Allow-Origin: *`).
    Any,
    /// These origins only (e.g. `https://app.example.com`).
    List(Vec<String>),
}

impl CorsOrigins {
    fn parse(text: &str, source: &str, field: &str) -> Result<Self, ServerError> {
        let items: Vec<&str> = text.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
        Self::from_items(&items, source, field)
    }

    fn from_items(items: &[&str], source: &str, field: &str) -> Result<Self, ServerError> {
        if items.is_empty() {
            return Err(ServerError::config(source, field, "must be \"*\" or a list of origins"));
        }
        if items.contains(&"*") {
            if items.len() > 1 {
                return Err(ServerError::config(source, field, "\"*\" cannot be combined with other origins"));
            }
            return Ok(CorsOrigins::Any);
        }
        for origin in items {
            let ok = (origin.starts_with("http://") || origin.starts_with("https://"))
                && !origin.ends_with('/')
                && origin.bytes().all(|b| b.is_ascii_graphic());
            if !ok {
                return Err(ServerError::config(
                    source,
                    field,
                    format!("{origin:?} is not an origin (scheme://host[:port], no path, no trailing slash)"),
                ));
            }
        }
        Ok(CorsOrigins::List(items.iter().map(|s| (*s).to_owned()).collect()))
    }
}

/// The validated configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// Address to listen on.
    pub host: String,
    /// Port to listen on (0: any free port).
    pub port: u16,
    /// The apps; the first is the default app (used by the compatibility routes).
    pub apps: Vec<AppConfig>,
    /// CORS origins.
    pub cors: CorsOrigins,
    /// Request body limit in bytes.
    pub body_limit: usize,
    /// Time a request may take before it is answered 408.
    pub request_timeout: Duration,
    /// Time a client may take to send a request's head; also how long an idle keep-alive
    /// connection stays open. Slow or idle clients cannot hold connections forever.
    pub header_read_timeout: Duration,
    /// Most connections open at once (TLS handshakes included); more wait in the listen backlog.
    pub max_connections: usize,
    /// Time from accept to the first complete request head (HTTP/1) or stream (HTTP/2), the
    /// TLS handshake included; a connection that sends nothing is closed after it.
    pub first_request_timeout: Duration,
    /// Time a connection may stay open with no request in flight (HTTP/1 keep-alive, HTTP/2
    /// with no open stream, TLS after the handshake).
    pub idle_timeout: Duration,
    /// Time in-flight requests get after SIGINT/SIGTERM.
    pub shutdown_grace: Duration,
    /// Demo mode: a throwaway app that Agora does not know.
    pub demo: bool,
    /// HTTPS: the certificate chain and key, loaded.
    pub tls: Option<TlsSettings>,
    /// Requests per client address on the API routes (per replica).
    pub per_ip_rate_limit: Option<Rate>,
    /// A header that carries the client's address (set by the proxy in front; its last
    /// entry is used). Unset: the peer address.
    pub client_ip_header: Option<HeaderName>,
    /// The shared rate-limit store: the per-caller and per-address limits count once for
    /// every replica that uses it. Unset: each replica counts in its own memory.
    pub limits_store: Option<LimitsStore>,
    /// Start-up warnings (secrets files readable by others, auth without audience, …),
    /// logged when the server starts.
    pub warnings: Vec<String>,
}

impl Config {
    /// A configuration for one app, with every other setting at its default.
    pub fn single(app: AppConfig) -> Self {
        Config {
            host: "0.0.0.0".into(),
            port: DEFAULT_PORT,
            apps: vec![app],
            cors: CorsOrigins::Any,
            body_limit: DEFAULT_BODY_LIMIT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            first_request_timeout: DEFAULT_FIRST_REQUEST_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            demo: false,
            tls: None,
            per_ip_rate_limit: None,
            client_ip_header: None,
            limits_store: None,
            warnings: Vec::new(),
        }
    }

    /// Demo mode: a random app id and certificate (Agora will refuse their tokens).
    pub fn demo() -> Self {
        let app_id = AppId::new(random_hex()).expect("32 hex characters");
        let certificate = AppCertificate::new(random_hex()).expect("32 hex characters");
        let mut config = Config::single(AppConfig::new(app_id, certificate));
        config.demo = true;
        config
    }

    /// The default app.
    pub fn default_app(&self) -> &AppConfig {
        &self.apps[0]
    }

    /// Loads the configuration as `agtoken serve` does: the options, the process environment,
    /// `.env` in the current directory (if present), the TOML file of `--config` or
    /// `AGTOKEN_CONFIG` (if any).
    pub fn load(options: &ServeOptions) -> Result<Self, ServerError> {
        let (env, file) = read_sources(options)?;
        Config::from_sources(options, &env, file.as_ref().map(|(p, t)| (p.as_path(), t.as_str())))
    }

    /// Builds the configuration from explicit sources (for tests and embedding): command-line
    /// options, an environment, and the text of a TOML file with its path.
    pub fn from_sources(options: &ServeOptions, env: &Env, file: Option<(&Path, &str)>) -> Result<Self, ServerError> {
        let (file_cfg, file_name, base_dir) = parse_file(file)?;
        let mut warnings = Vec::new();

        let mut apps = Vec::new();
        if let Some(app) = app_from_env(env, &mut warnings)? {
            apps.push(app);
        }
        for (i, app) in file_cfg.apps.iter().enumerate() {
            let app = app.resolve(&file_name, &format!("apps[{i}]"), env, &base_dir, &mut warnings)?;
            if let Some(dup) = apps.iter().position(|a: &AppConfig| a.app_id == app.app_id) {
                let other = if dup == 0 && env.get_any(APP_ID_VARS).is_some() {
                    "the app of APP_ID/AGORA_APP_ID".to_owned()
                } else {
                    "another entry".to_owned()
                };
                return Err(ServerError::config(
                    &file_name,
                    format!("apps[{i}].app_id"),
                    format!("app {} is configured twice (also {other})", app.app_id),
                ));
            }
            apps.push(app);
        }
        if let Some(default) = &file_cfg.default_app {
            let pos = apps.iter().position(|a| a.app_id.as_str() == default).ok_or_else(|| {
                ServerError::config(&file_name, "default_app", format!("{default:?} is not one of the configured apps"))
            })?;
            let app = apps.remove(pos);
            apps.insert(0, app);
        }

        let demo = apps.is_empty();
        let mut config = if demo {
            let mut c = Config::demo();
            // Demo apps still take the lifetime settings of the environment.
            apply_env_lifetimes(env, &mut c.apps[0])?;
            c
        } else {
            let mut c = Config::single(apps.remove(0));
            c.apps.extend(apps);
            c
        };

        // Server settings: options > environment > file > defaults.
        config.host = resolve_host(options, env, &file_cfg);
        config.port = resolve_port(options, env, &file_cfg)?;
        if let Some(origins) = &file_cfg.cors_allow_origin {
            config.cors = match origins {
                StringOrList::One(text) => CorsOrigins::parse(text, &file_name, "cors_allow_origin")?,
                StringOrList::Many(list) => {
                    let items: Vec<&str> = list.iter().map(String::as_str).collect();
                    CorsOrigins::from_items(&items, &file_name, "cors_allow_origin")?
                }
            };
        }
        if let Some((text, src)) = env.get("CORS_ALLOW_ORIGIN") {
            config.cors = CorsOrigins::parse(text, src.describe(), "CORS_ALLOW_ORIGIN")?;
        }
        if let Some(limit) = file_cfg.body_limit_bytes {
            config.body_limit = limit;
        }
        if let Some(limit) = env_number::<usize>(env, "AGTOKEN_BODY_LIMIT")? {
            config.body_limit = limit;
        }
        if config.body_limit < 256 || config.body_limit > 16 * 1024 * 1024 {
            return Err(ServerError::config(
                "configuration",
                "body_limit_bytes",
                format!("must be 256..=16777216 bytes, got {}", config.body_limit),
            ));
        }
        if let Some(secs) = file_cfg.request_timeout_secs {
            config.request_timeout = Duration::from_secs(secs);
        }
        if let Some(secs) = env_number::<u64>(env, "AGTOKEN_REQUEST_TIMEOUT")? {
            config.request_timeout = Duration::from_secs(secs);
        }
        if config.request_timeout.is_zero() || config.request_timeout > Duration::from_secs(3600) {
            return Err(ServerError::config("configuration", "request_timeout_secs", "must be 1..=3600 seconds"));
        }
        if let Some(secs) = file_cfg.header_read_timeout_secs {
            if secs == 0 {
                return Err(ServerError::config(&file_name, "header_read_timeout_secs", "must be at least 1 second"));
            }
            config.header_read_timeout = Duration::from_secs(secs);
        }
        if let Some(secs) = file_cfg.shutdown_grace_secs {
            config.shutdown_grace = Duration::from_secs(secs);
        }
        if let Some(secs) = env_number::<u64>(env, "AGTOKEN_SHUTDOWN_GRACE")? {
            config.shutdown_grace = Duration::from_secs(secs);
        }
        if config.shutdown_grace > Duration::from_secs(3600) {
            return Err(ServerError::config(
                "configuration",
                "shutdown_grace_secs (AGTOKEN_SHUTDOWN_GRACE)",
                "must be 0..=3600 seconds",
            ));
        }
        let max =
            server_number(env, "AGTOKEN_MAX_CONNECTIONS", &file_name, "max_connections", file_cfg.max_connections)?;
        config.max_connections = max.map_or(Ok(config.max_connections), |(n, source, field)| {
            usize::try_from(n)
                .ok()
                .filter(|n| (1..=1_000_000).contains(n))
                .ok_or_else(|| ServerError::config(source, field, format!("must be 1..=1000000 connections, got {n}")))
        })?;
        for (var, key, file_value, target) in [
            (
                "AGTOKEN_FIRST_REQUEST_TIMEOUT",
                "first_request_timeout_secs",
                file_cfg.first_request_timeout_secs,
                &mut config.first_request_timeout,
            ),
            ("AGTOKEN_IDLE_TIMEOUT", "idle_timeout_secs", file_cfg.idle_timeout_secs, &mut config.idle_timeout),
        ] {
            if let Some((secs, source, field)) = server_number(env, var, &file_name, key, file_value)? {
                if !(1..=3600).contains(&secs) {
                    return Err(ServerError::config(source, field, format!("must be 1..=3600 seconds, got {secs}")));
                }
                *target = Duration::from_secs(secs);
            }
        }

        // TLS: environment over file.
        let (cert, key) = tls_paths(env, &file_cfg, &file_name, &base_dir);
        config.tls = match (cert, key) {
            (None, None) => None,
            (Some((cert, source, field)), Some((key, _, key_field))) => {
                if let Some(w) = crate::secrets::permission_warning(&key, &key_field) {
                    warnings.push(w);
                }
                Some(TlsSettings::from_files(&cert, &key).map_err(|m| ServerError::config(source, field, m))?)
            }
            (Some((_, source, field)), None) | (None, Some((_, source, field))) => {
                return Err(ServerError::config(
                    source,
                    field,
                    "TLS needs both a certificate file and a key file (tls_cert_file and tls_key_file, \
                     or AGTOKEN_TLS_CERT_FILE and AGTOKEN_TLS_KEY_FILE)",
                ))
            }
        };
        if let Some(text) = &file_cfg.per_ip_rate_limit {
            config.per_ip_rate_limit = Some(
                Rate::parse(text, file_cfg.per_ip_rate_limit_burst)
                    .map_err(|m| ServerError::config(&file_name, "per_ip_rate_limit", m))?,
            );
        } else if file_cfg.per_ip_rate_limit_burst.is_some() {
            return Err(ServerError::config(&file_name, "per_ip_rate_limit_burst", "given without per_ip_rate_limit"));
        }
        if let Some(name) = &file_cfg.client_ip_header {
            config.client_ip_header = Some(HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| {
                ServerError::config(&file_name, "client_ip_header", format!("{name:?} is not a header name"))
            })?);
        }
        config.limits_store = limits_store(env, &file_cfg, &file_name, &base_dir, &mut warnings)?;
        if config.limits_store.is_some()
            && config.per_ip_rate_limit.is_none()
            && config.apps.iter().all(|a| a.rate_limit.is_none() && a.policy.iter().all(|r| r.rate_limit.is_none()))
        {
            warnings.push(
                "limits_store is set but no rate limit is configured (per_ip_rate_limit, rate_limit): \
                 nothing is counted in it"
                    .to_owned(),
            );
        }
        for (i, app) in config.apps.iter().enumerate() {
            if app.auth.is_none() && !config.demo {
                warnings.push(format!(
                    "app {} (apps[{i}] or the environment) has auth = \"none\": anyone who reaches this server gets its tokens",
                    app.app_id
                ));
            }
        }
        config.warnings = warnings;
        Ok(config)
    }
}

/// The `limits_store` settings: environment over file. Each error names the setting.
fn limits_store(
    env: &Env,
    file_cfg: &FileConfig,
    file_name: &str,
    base_dir: &Path,
    warnings: &mut Vec<String>,
) -> Result<Option<LimitsStore>, ServerError> {
    // (value, where it came from, the setting's name there)
    let text = |var: &str, key: &str, file_value: Option<String>| -> Option<(String, String, String)> {
        match env.get(var) {
            Some((v, src)) => Some((v.trim().to_owned(), src.describe().to_owned(), var.to_owned())),
            None => file_value.map(|v| (v, file_name.to_owned(), key.to_owned())),
        }
    };
    let path = |var: &str, key: &str, file_value: &Option<PathBuf>| -> Option<(PathBuf, String, String)> {
        match env.get(var) {
            Some((v, src)) => Some((PathBuf::from(v.trim()), src.describe().to_owned(), var.to_owned())),
            None => file_value
                .as_ref()
                .map(|p| (crate::auth::resolve_path(base_dir, p), file_name.to_owned(), key.to_owned())),
        }
    };
    let url = text("AGTOKEN_LIMITS_STORE", "limits_store", file_cfg.limits_store.clone());
    let password =
        path("AGTOKEN_LIMITS_STORE_PASSWORD_FILE", "limits_store_password_file", &file_cfg.limits_store_password_file);
    let ca = path("AGTOKEN_LIMITS_STORE_CA_FILE", "limits_store_ca_file", &file_cfg.limits_store_ca_file);
    let fallback =
        text("AGTOKEN_LIMITS_STORE_FALLBACK", "limits_store_fallback", file_cfg.limits_store_fallback.clone());
    let timeout = text(
        "AGTOKEN_LIMITS_STORE_TIMEOUT_MS",
        "limits_store_timeout_ms",
        file_cfg.limits_store_timeout_ms.map(|ms| ms.to_string()),
    );
    let Some((url, source, field)) = url else {
        let given = [
            password.as_ref().map(|p| (&p.1, &p.2)),
            ca.as_ref().map(|p| (&p.1, &p.2)),
            fallback.as_ref().map(|f| (&f.1, &f.2)),
            timeout.as_ref().map(|t| (&t.1, &t.2)),
        ]
        .into_iter()
        .flatten()
        .next();
        return match given {
            Some((source, field)) => Err(ServerError::config(
                source.as_str(),
                field.as_str(),
                "given without limits_store (AGTOKEN_LIMITS_STORE)",
            )),
            None => Ok(None),
        };
    };
    let password = match &password {
        Some((path, source, field)) => Some(read_secret_file(path, source, field, warnings)?),
        None => None,
    };
    let ca_pem = match &ca {
        Some((path, source, field)) => {
            let pem = std::fs::read(path)
                .map_err(|e| ServerError::config(source, field, format!("cannot read {}: {e}", path.display())))?;
            if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
                return Err(ServerError::config(source, field, format!("{} holds no PEM certificate", path.display())));
            }
            Some(pem)
        }
        None => None,
    };
    let mut store = LimitsStore::new(&url, password.as_deref(), ca_pem.as_deref()).map_err(|m| {
        // The message never repeats the URL, which may carry a password.
        match (&ca, m.starts_with("TLS settings") || m.contains("CA file")) {
            (Some((_, ca_source, ca_field)), true) => ServerError::config(ca_source, ca_field, m),
            _ => ServerError::config(&source, &field, m),
        }
    })?;
    if let Some((text, source, field)) = fallback {
        store.fallback = Fallback::parse(&text).map_err(|m| ServerError::config(source, field, m))?;
    }
    if let Some((text, source, field)) = timeout {
        let ms: u64 = text.parse().ok().filter(|ms| (1..=10_000).contains(ms)).ok_or_else(|| {
            ServerError::config(&source, &field, format!("must be 1..=10000 milliseconds, got {text:?}"))
        })?;
        store.timeout = Duration::from_millis(ms);
    }
    Ok(Some(store))
}

const APP_ID_VARS: &[&str] = &["AGORA_APP_ID", "APP_ID"];
/// `APP_CERT` (and `APP_CERT_FILE`): the older name the community token service reads.
const CERT_VARS: &[&str] = &["AGORA_APP_CERTIFICATE", "APP_CERTIFICATE", "APP_CERT"];
const SECONDARY_VARS: &[&str] = &["AGORA_APP_CERTIFICATE_SECONDARY", "APP_CERTIFICATE_SECONDARY"];

/// A certificate from `VAR` or from the file named by `VAR_FILE` (for each name in `vars`):
/// `(variable, value, where it came from)`.
fn secret_from_env(
    env: &Env,
    vars: &[&'static str],
    warnings: &mut Vec<String>,
) -> Result<Option<(String, String, EnvSource)>, ServerError> {
    for var in vars {
        let file_var = format!("{var}_FILE");
        match (env.get(var), env.get(&file_var)) {
            (Some(_), Some((_, src))) => {
                return Err(ServerError::config(
                    src.describe(),
                    file_var.clone(),
                    format!("give {var} or {file_var}, not both"),
                ))
            }
            (Some((v, src)), None) => return Ok(Some(((*var).to_owned(), v.to_owned(), src))),
            (None, Some((path, src))) => {
                let value = read_secret_file(Path::new(path.trim()), src.describe(), &file_var, warnings)?;
                return Ok(Some((file_var, value, src)));
            }
            (None, None) => {}
        }
    }
    Ok(None)
}

fn app_from_env(env: &Env, warnings: &mut Vec<String>) -> Result<Option<AppConfig>, ServerError> {
    let id = env.get_any(APP_ID_VARS);
    let cert = secret_from_env(env, CERT_VARS, warnings)?;
    let cert = cert.as_ref().map(|(var, value, src)| (var.as_str(), value.as_str(), *src));
    let (id, cert) = match (id, cert) {
        (None, None) => {
            if let Some((var, _, src)) = secret_from_env(env, SECONDARY_VARS, warnings)? {
                return Err(ServerError::config(src.describe(), var, "is set but no app id and certificate are"));
            }
            return Ok(None);
        }
        (Some((var, _, src)), None) => {
            return Err(ServerError::config(
                src.describe(),
                var,
                "is set but AGORA_APP_CERTIFICATE/APP_CERTIFICATE (or APP_CERT) is not: both are needed",
            ))
        }
        (None, Some((var, _, src))) => {
            return Err(ServerError::config(
                src.describe(),
                var,
                "is set but AGORA_APP_ID/APP_ID is not: both are needed",
            ))
        }
        (Some(id), Some(cert)) => (id, cert),
    };
    let app_id = AppId::new(id.1.trim()).map_err(|e| {
        ServerError::config(id.2.describe(), id.0, format!("{}, got {}", rule_of(&e), shown(id.1.trim())))
    })?;
    let certificate =
        AppCertificate::new(cert.1.trim()).map_err(|e| ServerError::config(cert.2.describe(), cert.0, rule_of(&e)))?;
    let mut app = AppConfig::new(app_id, certificate);
    if let Some((var, text, src)) = secret_from_env(env, SECONDARY_VARS, warnings)? {
        app.secondary_certificate =
            Some(AppCertificate::new(text.trim()).map_err(|e| ServerError::config(src.describe(), &var, rule_of(&e)))?);
    }
    apply_env_lifetimes(env, &mut app)?;
    app.validate("environment", "")?;
    Ok(Some(app))
}

fn apply_env_lifetimes(env: &Env, app: &mut AppConfig) -> Result<(), ServerError> {
    if let Some((text, src)) = env.get("AGTOKEN_TOKEN_VERSION") {
        app.token_version = parse_version(text).ok_or_else(|| {
            ServerError::config(src.describe(), "AGTOKEN_TOKEN_VERSION", "must be \"007\" or \"006\"")
        })?;
    }
    if let Some(v) = env_number::<u32>(env, "AGTOKEN_MAX_LIFETIME")? {
        app.max_lifetime = v;
    }
    if let Some(v) = env_number::<u32>(env, "AGTOKEN_DEFAULT_LIFETIME")? {
        app.default_lifetime = v;
    }
    if let Some(v) = env_number::<u32>(env, "AGTOKEN_COMPAT_LIFETIME")? {
        app.compat_lifetime = v;
    }
    app.validate("environment", "")
}

fn env_number<T: std::str::FromStr>(env: &Env, var: &str) -> Result<Option<T>, ServerError> {
    match env.get(var) {
        None => Ok(None),
        Some((text, src)) => {
            text.trim().parse().map(Some).map_err(|_| {
                ServerError::config(src.describe(), var, format!("{text:?} is not a whole number in range"))
            })
        }
    }
}

/// The TOML text parsed, the file's name (for messages; empty without a file) and its folder
/// (relative paths in the file are relative to it).
fn parse_file(file: Option<(&Path, &str)>) -> Result<(FileConfig, String, PathBuf), ServerError> {
    let file_cfg = match file {
        None => FileConfig::default(),
        Some((path, text)) => toml::from_str::<FileConfig>(text).map_err(|e| {
            ServerError::config(path.display().to_string(), "file", e.to_string().trim_end().replace('\n', " "))
        })?,
    };
    let file_name = file.map_or_else(String::new, |(p, _)| p.display().to_string());
    let base_dir = file.and_then(|(p, _)| p.parent()).map_or_else(PathBuf::new, Path::to_path_buf);
    Ok((file_cfg, file_name, base_dir))
}

/// `--host`, else `AGTOKEN_HOST`, else the file's `host`, else `0.0.0.0`.
fn resolve_host(options: &ServeOptions, env: &Env, file_cfg: &FileConfig) -> String {
    if let Some(host) = &options.host {
        return host.clone();
    }
    if let Some((host, _)) = env.get("AGTOKEN_HOST") {
        return host.to_owned();
    }
    file_cfg.host.clone().unwrap_or_else(|| "0.0.0.0".into())
}

/// `--port`, else `SERVER_PORT`, else `PORT` (as in the community token service), else the
/// file's `port`, else 8080.
fn resolve_port(options: &ServeOptions, env: &Env, file_cfg: &FileConfig) -> Result<u16, ServerError> {
    let mut port = file_cfg.port.unwrap_or(DEFAULT_PORT);
    for var in ["PORT", "SERVER_PORT"] {
        if let Some((text, src)) = env.get(var) {
            port = text.trim().parse().map_err(|_| {
                ServerError::config(src.describe(), var, format!("{text:?} is not a port number 0..=65535"))
            })?;
        }
    }
    Ok(options.port.unwrap_or(port))
}

/// A TLS file setting: the path, where it came from, the setting's name.
type TlsPath = (PathBuf, String, String);

/// The TLS certificate and key files: `AGTOKEN_TLS_CERT_FILE`/`AGTOKEN_TLS_KEY_FILE`, else the
/// file's `tls_cert_file`/`tls_key_file`.
fn tls_paths(env: &Env, file_cfg: &FileConfig, file_name: &str, base_dir: &Path) -> (Option<TlsPath>, Option<TlsPath>) {
    let from_file = |name: &str, value: &Option<PathBuf>| {
        value.as_ref().map(|p| (crate::auth::resolve_path(base_dir, p), file_name.to_owned(), name.to_owned()))
    };
    let from_env =
        |var: &str| env.get(var).map(|(v, src)| (PathBuf::from(v.trim()), src.describe().to_owned(), var.to_owned()));
    let cert = from_env("AGTOKEN_TLS_CERT_FILE").or_else(|| from_file("tls_cert_file", &file_cfg.tls_cert_file));
    let key = from_env("AGTOKEN_TLS_KEY_FILE").or_else(|| from_file("tls_key_file", &file_cfg.tls_key_file));
    (cert, key)
}

/// Where a running server listens, as `agtoken serve` would work it out from the same options,
/// environment, `.env` and TOML file: what `agtoken healthcheck` needs, without reading any
/// secret (no app certificate, no TLS key).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// The listen address (`0.0.0.0` by default).
    pub host: String,
    /// The port.
    pub port: u16,
    /// The TLS certificate chain (PEM) when the server speaks HTTPS.
    pub tls_cert_file: Option<PathBuf>,
}

/// The process environment with `.env` in the current directory, and the TOML file of
/// `--config` or `AGTOKEN_CONFIG` (its path and text), as `serve` and `healthcheck` read them.
fn read_sources(options: &ServeOptions) -> Result<(Env, Option<(PathBuf, String)>), ServerError> {
    let env = Env::from_process_and_dotenv(Path::new(".env"))?;
    let path = options.config.clone().or_else(|| env.get("AGTOKEN_CONFIG").map(|(v, _)| PathBuf::from(v)));
    let file = match path {
        None => None,
        Some(path) => {
            let text = std::fs::read_to_string(&path)
                .map_err(|source| ServerError::ConfigFile { path: path.clone(), source })?;
            Some((path, text))
        }
    };
    Ok((env, file))
}

impl Endpoint {
    /// From the process environment, `.env` in the current directory and the TOML file of
    /// `--config` or `AGTOKEN_CONFIG`, as [`Config::load`] reads them.
    pub fn load(options: &ServeOptions) -> Result<Self, ServerError> {
        let (env, file) = read_sources(options)?;
        Endpoint::from_sources(options, &env, file.as_ref().map(|(p, t)| (p.as_path(), t.as_str())))
    }

    /// From explicit sources, as [`Config::from_sources`].
    pub fn from_sources(options: &ServeOptions, env: &Env, file: Option<(&Path, &str)>) -> Result<Self, ServerError> {
        let (file_cfg, file_name, base_dir) = parse_file(file)?;
        let (cert, _) = tls_paths(env, &file_cfg, &file_name, &base_dir);
        Ok(Endpoint {
            host: resolve_host(options, env, &file_cfg),
            port: resolve_port(options, env, &file_cfg)?,
            tls_cert_file: cert.map(|(path, _, _)| path),
        })
    }
}

/// A whole-number server setting from the environment's `var`, else the file's `key`: the
/// value, and the source and name to give in an error about it.
fn server_number(
    env: &Env,
    var: &str,
    file_name: &str,
    key: &str,
    file_value: Option<u64>,
) -> Result<Option<(u64, String, String)>, ServerError> {
    if let Some(n) = env_number::<u64>(env, var)? {
        let source = env.get(var).map_or_else(|| var.to_owned(), |(_, src)| src.describe().to_owned());
        return Ok(Some((n, source, var.to_owned())));
    }
    Ok(file_value.map(|n| (n, file_name.to_owned(), key.to_owned())))
}

fn parse_version(text: &str) -> Option<Version> {
    match text.trim() {
        "007" | "7" => Some(Version::V007),
        "006" | "6" => Some(Version::V006),
        _ => None,
    }
}

/// A value that is not a secret (an app id), as a message shows it: quoted, at most 40
/// characters, with its length.
fn shown(text: &str) -> String {
    let count = text.chars().count();
    if count <= 40 {
        format!("{text:?} ({count} characters)")
    } else {
        format!("{:?}… ({count} characters)", text.chars().take(32).collect::<String>())
    }
}

/// The rule an id or certificate broke, without its value.
fn rule_of(err: &agtoken::Error) -> String {
    match err {
        agtoken::Error::Invalid { rule, .. } => (*rule).to_owned(),
        other => other.to_string(),
    }
}

fn random_hex() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the operating system's random generator failed");
    base16ct::lower::encode_string(&bytes)
}

/// Where an environment value came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnvSource {
    /// The process environment.
    Process,
    /// The `.env` file.
    DotEnv,
}

impl EnvSource {
    /// Where a value came from, as messages name it before the variable: `environment` or
    /// `.env` (the variable is the message's field, named once).
    fn describe(self) -> &'static str {
        match self {
            EnvSource::Process => "environment",
            EnvSource::DotEnv => ".env",
        }
    }
}

/// The environment the configuration reads: the process environment over a `.env` file.
/// It is read, never written (no `set_var`).
#[derive(Clone, Debug, Default)]
pub struct Env {
    vars: HashMap<String, (String, EnvSource)>,
}

impl Env {
    /// An environment of these pairs (as if from the process).
    pub fn from_pairs<K: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (K, V)>) -> Self {
        Env { vars: pairs.into_iter().map(|(k, v)| (k.into(), (v.into(), EnvSource::Process))).collect() }
    }

    /// The process environment, over the entries of `dotenv` if that file exists.
    pub fn from_process_and_dotenv(dotenv: &Path) -> Result<Self, ServerError> {
        let mut vars = HashMap::new();
        if dotenv.exists() {
            let iter = dotenvy::from_path_iter(dotenv)
                .map_err(|e| ServerError::DotEnv { path: dotenv.to_owned(), message: e.to_string() })?;
            for item in iter {
                let (k, v) =
                    item.map_err(|e| ServerError::DotEnv { path: dotenv.to_owned(), message: e.to_string() })?;
                vars.insert(k, (v, EnvSource::DotEnv));
            }
        }
        for (k, v) in std::env::vars_os() {
            if let (Ok(k), Ok(v)) = (k.into_string(), v.into_string()) {
                vars.insert(k, (v, EnvSource::Process));
            }
        }
        Ok(Env { vars })
    }

    /// A non-empty value and where it came from.
    pub fn get(&self, var: &str) -> Option<(&str, EnvSource)> {
        self.vars.get(var).filter(|(v, _)| !v.trim().is_empty()).map(|(v, s)| (v.as_str(), *s))
    }

    fn get_any<'a>(&'a self, vars: &[&'static str]) -> Option<(&'static str, &'a str, EnvSource)> {
        vars.iter().find_map(|var| self.get(var).map(|(v, s)| (*var, v, s)))
    }
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

impl FileApp {
    fn resolve(
        &self,
        file: &str,
        at: &str,
        env: &Env,
        base_dir: &Path,
        warnings: &mut Vec<String>,
    ) -> Result<AppConfig, ServerError> {
        let app_id = AppId::new(self.app_id.trim())
            .map_err(|e| ServerError::config(file, format!("{at}.app_id"), rule_of(&e)))?;
        let mut cert =
            |inline: &Option<String>, var: &Option<String>, path: &Option<PathBuf>, name: &str, required: bool| {
                let text = match (inline, var, path) {
                    (Some(_), Some(_), _) | (Some(_), _, Some(_)) | (_, Some(_), Some(_)) => {
                        return Err(ServerError::config(
                            file,
                            format!("{at}.{name}"),
                            format!("give one of {name}, {name}_env, {name}_file"),
                        ))
                    }
                    (None, None, Some(path)) => Some(read_secret_file(
                        &crate::auth::resolve_path(base_dir, path),
                        file,
                        &format!("{at}.{name}_file"),
                        warnings,
                    )?),
                    (Some(text), None, None) => Some(text.clone()),
                    (None, Some(var), None) => match env.get(var) {
                        Some((text, _)) => Some(text.to_owned()),
                        None => {
                            return Err(ServerError::config(
                                file,
                                format!("{at}.{name}_env"),
                                format!("environment variable {var} is not set"),
                            ))
                        }
                    },
                    (None, None, None) if required => {
                        return Err(ServerError::config(
                            file,
                            format!("{at}.{name}"),
                            format!("missing (give {name}, {name}_env or {name}_file)"),
                        ))
                    }
                    (None, None, None) => None,
                };
                text.map(|t| {
                    AppCertificate::new(t.trim())
                        .map_err(|e| ServerError::config(file, format!("{at}.{name}"), rule_of(&e)))
                })
                .transpose()
            };
        let certificate = cert(
            &self.app_certificate,
            &self.app_certificate_env,
            &self.app_certificate_file,
            "app_certificate",
            true,
        )?
        .expect("required certificate");
        let secondary = cert(
            &self.secondary_certificate,
            &self.secondary_certificate_env,
            &self.secondary_certificate_file,
            "secondary_certificate",
            false,
        )?;
        let mut app = AppConfig::new(app_id, certificate);
        app.secondary_certificate = secondary;
        if let Some(v) = &self.token_version {
            app.token_version = parse_version(v).ok_or_else(|| {
                ServerError::config(
                    file,
                    format!("{at}.token_version"),
                    format!("must be \"007\" or \"006\", got {v:?}"),
                )
            })?;
        }
        if let Some(v) = self.max_lifetime_secs {
            app.max_lifetime = v;
        }
        if let Some(v) = self.default_lifetime_secs {
            app.default_lifetime = v;
        } else {
            app.default_lifetime = app.default_lifetime.min(app.max_lifetime);
        }
        if let Some(v) = self.compat_lifetime_secs {
            app.compat_lifetime = v;
        } else {
            app.compat_lifetime = app.compat_lifetime.min(app.max_lifetime);
        }
        app.validate(file, at).map_err(|e| match e {
            ServerError::Config { source_name, field, message } => {
                ServerError::Config { source_name, field: field.replace("lifetime", "lifetime_secs"), message }
            }
            other => other,
        })?;
        let source = crate::auth::AuthSource { app_id: app.app_id.as_str(), file, at, base_dir, env };
        app.auth = crate::auth::resolve(self.auth.as_deref(), &self.api_keys, self.jwt.as_ref(), &source, warnings)?;
        app.policy = crate::policy::resolve(&self.policy, &app.auth, app.max_lifetime, file, at)?;
        for rule in &app.policy {
            let shortest = app.default_lifetime.min(app.compat_lifetime);
            if let Some(max) = rule.max_lifetime.filter(|max| *max < app.default_lifetime.max(app.compat_lifetime)) {
                warnings.push(format!(
                    "{at}: policy rule {:?} allows at most {max} s but requests that name no lifetime get \
                     default_lifetime_secs = {} / compat_lifetime_secs = {}: those will be refused{}",
                    rule.name,
                    app.default_lifetime,
                    app.compat_lifetime,
                    if shortest > max { "" } else { " on some routes" }
                ));
            }
        }
        app.rate_limit = match &self.rate_limit {
            Some(text) => Some(
                Rate::parse(text, self.rate_limit_burst)
                    .map_err(|m| ServerError::config(file, format!("{at}.rate_limit"), m))?,
            ),
            None if self.rate_limit_burst.is_some() => {
                return Err(ServerError::config(file, format!("{at}.rate_limit_burst"), "given without rate_limit"))
            }
            None => None,
        };
        if app.rate_limit.is_some() && app.auth.is_none() {
            return Err(ServerError::config(
                file,
                format!("{at}.rate_limit"),
                "a per-caller limit needs authenticated callers (auth); use per_ip_rate_limit for anonymous ones",
            ));
        }
        Ok(app)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "970CA35de60c44645bbae8a215061b33";
    const CERT: &str = "5CFd2fd1755d40ecb72977518be15d3b";
    const ID2: &str = "0123456789abcdef0123456789abcdef";

    fn opts() -> ServeOptions {
        ServeOptions::default()
    }

    #[test]
    fn nothing_configured_is_demo_mode() {
        let c = Config::from_sources(&opts(), &Env::default(), None).unwrap();
        assert!(c.demo);
        assert_eq!(c.apps.len(), 1);
        assert_eq!(c.port, 8080);
        assert_eq!(c.cors, CorsOrigins::Any);
    }

    #[test]
    fn env_names_of_the_existing_servers() {
        let env = Env::from_pairs([("APP_ID", ID), ("APP_CERTIFICATE", CERT), ("PORT", "9000")]);
        let c = Config::from_sources(&opts(), &env, None).unwrap();
        assert!(!c.demo);
        assert_eq!(c.default_app().app_id.as_str(), ID);
        assert_eq!(c.port, 9000);
        let env = Env::from_pairs([
            ("AGORA_APP_ID", ID),
            ("AGORA_APP_CERTIFICATE", CERT),
            ("PORT", "9000"),
            ("SERVER_PORT", "9001"),
            ("CORS_ALLOW_ORIGIN", "https://a.example, https://b.example:8443"),
        ]);
        let c = Config::from_sources(&opts(), &env, None).unwrap();
        assert_eq!(c.port, 9001);
        assert_eq!(c.cors, CorsOrigins::List(vec!["https://a.example".into(), "https://b.example:8443".into()]));
        let o = ServeOptions { port: Some(7), host: Some("127.0.0.1".into()), ..opts() };
        let c = Config::from_sources(&o, &env, None).unwrap();
        assert_eq!((c.host.as_str(), c.port), ("127.0.0.1", 7));
    }

    #[test]
    fn a_wrong_app_id_is_named_once_and_shown() {
        let env = Env::from_pairs([("APP_ID", "xyz"), ("APP_CERTIFICATE", CERT)]);
        let msg = Config::from_sources(&opts(), &env, None).unwrap_err().to_string();
        assert_eq!(
            msg,
            "configuration: environment: APP_ID: must be 32 hexadecimal characters, got \"xyz\" (3 characters)"
        );
        let long = "970CA35de60c44645bbae8a215061b33970CA35de60c44645bbae8a215061b33";
        let env = Env::from_pairs([("AGORA_APP_ID", long), ("APP_CERTIFICATE", CERT)]);
        let msg = Config::from_sources(&opts(), &env, None).unwrap_err().to_string();
        assert_eq!(msg.matches("AGORA_APP_ID").count(), 1, "{msg}");
        assert!(msg.ends_with("got \"970CA35de60c44645bbae8a215061b33\"… (64 characters)"), "{msg}");
    }

    #[test]
    fn app_cert_is_the_community_services_name_of_the_certificate() {
        let env = Env::from_pairs([("APP_ID", ID), ("APP_CERT", CERT)]);
        let c = Config::from_sources(&opts(), &env, None).unwrap();
        assert_eq!(c.default_app().certificate.expose_secret(), CERT);
        // The newer names win; APP_CERT_FILE reads a file like the other *_FILE variables.
        let env = Env::from_pairs([("APP_ID", ID), ("APP_CERTIFICATE", CERT), ("APP_CERT", &"0".repeat(32))]);
        assert_eq!(Config::from_sources(&opts(), &env, None).unwrap().default_app().certificate.expose_secret(), CERT);
        let dir = std::env::temp_dir().join(format!("agtoken-app-cert-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("cert");
        std::fs::write(&path, format!("{CERT}\n")).unwrap();
        let env = Env::from_pairs([("APP_ID", ID.to_owned()), ("APP_CERT_FILE", path.display().to_string())]);
        let c = Config::from_sources(&opts(), &env, None).unwrap();
        assert_eq!(c.default_app().certificate.expose_secret(), CERT);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn errors_name_the_setting_and_never_the_certificate() {
        let env = Env::from_pairs([("APP_ID", ID), ("APP_CERTIFICATE", "5CFd2fd1755d40ecb72977518be15d3")]);
        let msg = Config::from_sources(&opts(), &env, None).unwrap_err().to_string();
        assert!(msg.contains("APP_CERTIFICATE") && msg.contains("32 hexadecimal"), "{msg}");
        assert!(!msg.contains("5CFd2fd1755d"), "{msg}");
        let env = Env::from_pairs([("APP_ID", ID)]);
        let msg = Config::from_sources(&opts(), &env, None).unwrap_err().to_string();
        assert!(msg.contains("APP_ID") && msg.contains("both"), "{msg}");
        let env = Env::from_pairs([("APP_ID", ID), ("APP_CERTIFICATE", CERT), ("SERVER_PORT", "80000")]);
        let msg = Config::from_sources(&opts(), &env, None).unwrap_err().to_string();
        assert!(msg.contains("SERVER_PORT"), "{msg}");
        let env = Env::from_pairs([("CORS_ALLOW_ORIGIN", "example.com")]);
        let msg = Config::from_sources(&opts(), &env, None).unwrap_err().to_string();
        assert!(msg.contains("CORS_ALLOW_ORIGIN") && msg.contains("not an origin"), "{msg}");
    }

    #[test]
    fn dotenv_is_read_below_the_process_environment() {
        let dir = std::env::temp_dir().join(format!("agtoken-dotenv-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(".env");
        std::fs::write(&path, format!("AGTOKEN_TEST_ONLY_IN_DOTENV=yes\nAPP_ID={ID}\nAPP_CERTIFICATE={CERT}\n"))
            .unwrap();
        let env = Env::from_process_and_dotenv(&path).unwrap();
        assert_eq!(env.get("AGTOKEN_TEST_ONLY_IN_DOTENV"), Some(("yes", EnvSource::DotEnv)));
        if std::env::var_os("APP_ID").is_none() {
            let c = Config::from_sources(&opts(), &env, None).unwrap();
            assert_eq!(c.default_app().app_id.as_str(), ID);
        }
        std::fs::write(&path, "BROKEN LINE WITHOUT EQUALS\n").unwrap();
        let err = Env::from_process_and_dotenv(&path).unwrap_err().to_string();
        assert!(err.contains(".env"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn toml_with_several_apps() {
        let text = format!(
            r#"
            port = 9090
            cors_allow_origin = ["https://app.example.com"]
            default_app = "{ID2}"
            [[apps]]
            app_id = "{ID}"
            app_certificate = "{CERT}"
            secondary_certificate_env = "SECOND"
            token_version = "006"
            [[apps]]
            app_id = "{ID2}"
            app_certificate_env = "CERT2"
            max_lifetime_secs = 600
            compat_lifetime_secs = 40
            "#
        );
        let env = Env::from_pairs([("SECOND", "00000000000000000000000000000000"), ("CERT2", CERT)]);
        let c = Config::from_sources(&opts(), &env, Some((Path::new("agtoken.toml"), &text))).unwrap();
        assert_eq!(c.port, 9090);
        assert_eq!(c.apps.len(), 2);
        assert_eq!(c.default_app().app_id.as_str(), ID2);
        assert_eq!(c.default_app().max_lifetime, 600);
        assert_eq!(c.default_app().default_lifetime, 600);
        assert_eq!(c.default_app().compat_lifetime, 40);
        assert_eq!(c.apps[1].token_version, Version::V006);
        assert!(c.apps[1].secondary_certificate.is_some());
    }

    #[test]
    fn shutdown_grace_from_the_environment_over_the_file() {
        let file = (Path::new("a.toml"), "shutdown_grace_secs = 20\n");
        let c = Config::from_sources(&opts(), &Env::default(), Some(file)).unwrap();
        assert_eq!(c.shutdown_grace, Duration::from_secs(20));
        let env = Env::from_pairs([("AGTOKEN_SHUTDOWN_GRACE", "8")]);
        let c = Config::from_sources(&opts(), &env, Some(file)).unwrap();
        assert_eq!(c.shutdown_grace, Duration::from_secs(8));
        let env = Env::from_pairs([("AGTOKEN_SHUTDOWN_GRACE", "soon")]);
        let msg = Config::from_sources(&opts(), &env, None).unwrap_err().to_string();
        assert!(msg.contains("AGTOKEN_SHUTDOWN_GRACE"), "{msg}");
        let env = Env::from_pairs([("AGTOKEN_SHUTDOWN_GRACE", "7200")]);
        let msg = Config::from_sources(&opts(), &env, None).unwrap_err().to_string();
        assert!(msg.contains("AGTOKEN_SHUTDOWN_GRACE") && msg.contains("0..=3600"), "{msg}");
    }

    #[test]
    fn endpoint_follows_the_precedence_of_serve_and_reads_no_secret() {
        let file_text = "host = \"127.0.0.1\"\nport = 9443\ntls_cert_file = \"tls/chain.pem\"\ntls_key_file = \"/nonexistent/key.pem\"\n\
                         [[apps]]\napp_id = \"970CA35de60c44645bbae8a215061b33\"\napp_certificate_file = \"/nonexistent/cert\"\n";
        let file = Some((Path::new("/etc/agtoken/agtoken.toml"), file_text));
        // The same sources as `serve`, but the certificate and key files are never opened.
        let e = Endpoint::from_sources(&opts(), &Env::default(), file).unwrap();
        assert_eq!(e.host, "127.0.0.1");
        assert_eq!(e.port, 9443);
        assert_eq!(e.tls_cert_file.as_deref(), Some(Path::new("/etc/agtoken/tls/chain.pem")));
        let env = Env::from_pairs([("PORT", "7000"), ("AGTOKEN_HOST", "::1"), ("AGTOKEN_TLS_CERT_FILE", "/x.pem")]);
        let e = Endpoint::from_sources(&opts(), &env, file).unwrap();
        assert_eq!((e.host.as_str(), e.port), ("::1", 7000));
        assert_eq!(e.tls_cert_file.as_deref(), Some(Path::new("/x.pem")));
        let env = Env::from_pairs([("PORT", "7000"), ("SERVER_PORT", "7001")]);
        let o = ServeOptions { host: Some("localhost".into()), ..opts() };
        let e = Endpoint::from_sources(&o, &env, None).unwrap();
        assert_eq!((e.host.as_str(), e.port, e.tls_cert_file.is_none()), ("localhost", 7001, true));
        let o = ServeOptions { port: Some(1), ..opts() };
        assert_eq!(Endpoint::from_sources(&o, &env, None).unwrap().port, 1);
        let e = Endpoint::from_sources(&opts(), &Env::default(), None).unwrap();
        assert_eq!((e.host.as_str(), e.port), ("0.0.0.0", 8080));
        let env = Env::from_pairs([("PORT", "http")]);
        let msg = Endpoint::from_sources(&opts(), &env, None).unwrap_err().to_string();
        assert!(msg.contains("PORT") && msg.contains("not a port"), "{msg}");
    }

    #[test]
    fn toml_errors_name_the_field() {
        let bad = |text: &str| {
            Config::from_sources(&opts(), &Env::default(), Some((Path::new("a.toml"), text))).unwrap_err().to_string()
        };
        let msg = bad(&format!("[[apps]]\napp_id = \"{ID}\"\napp_certificate = \"xyz\"\n"));
        assert!(msg.contains("a.toml") && msg.contains("apps[0].app_certificate"), "{msg}");
        let msg = bad(&format!("[[apps]]\napp_id = \"{ID}\"\n"));
        assert!(msg.contains("apps[0].app_certificate") && msg.contains("missing"), "{msg}");
        let msg =
            bad(&format!("[[apps]]\napp_id = \"{ID}\"\napp_certificate = \"{CERT}\"\nmax_lifetime_secs = 90000\n"));
        assert!(msg.contains("apps[0].max_lifetime_secs"), "{msg}");
        let msg = bad("prot = 1\n");
        assert!(msg.contains("unknown field") && msg.contains("prot"), "{msg}");
        let msg = bad(&format!(
            "[[apps]]\napp_id = \"{ID}\"\napp_certificate = \"{CERT}\"\n[[apps]]\napp_id = \"{ID}\"\napp_certificate = \"{CERT}\"\n"
        ));
        assert!(msg.contains("apps[1].app_id") && msg.contains("twice"), "{msg}");
    }
}
