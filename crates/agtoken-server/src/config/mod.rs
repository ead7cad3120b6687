//! Configuration: command-line options, then environment variables (the process's, then a
//! `.env` file), then a TOML file, then defaults. Everything is validated at start-up (a wrong
//! value stops the server with a message naming the setting and where it came from) and by the
//! same code on each reload (a wrong value keeps the configuration in force: `reload.rs`).
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

//!
//! The code, by concern: [`env`] (the environment and `.env`), [`file`] (the TOML file's
//! types), `apps`/`app_env`/`app_file` (each app, from the environment or an `[[apps]]`
//! entry), `server` (address, port, CORS, timeouts, connection bounds), `limits` (rate limits
//! and the shared store), `tls_paths` (the TLS files). [`Config::from_sources`] calls them in
//! that order.

mod app_env;
mod app_file;
mod apps;
pub mod env;
pub mod file;
pub mod files;
mod limits;
mod server;
mod tls_paths;

use std::path::{Path, PathBuf};
use std::time::Duration;

use agtoken::{AppCertificate, AppId};
use axum::http::HeaderName;

pub use apps::AppConfig;
pub use env::{Env, EnvSource};
pub use file::{FileApp, FileConfig, StringOrList};
pub use server::CorsOrigins;

use crate::error::ServerError;
use crate::limit::Rate;
use crate::limit_store::LimitsStore;
use crate::tls::TlsSettings;
use crate::ServeOptions;

/// The `.env` file `serve` reads, in the working directory.
const DOTENV: &str = ".env";

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
    /// The files this configuration was read from (the TOML file, `.env`, every secrets,
    /// key and certificate file it names): `agtoken serve` reloads when one changes.
    pub source_files: Vec<PathBuf>,
    /// What those files held when this configuration was read (see [`files::Digests`]).
    pub source_digests: files::Digests,
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
            source_files: Vec::new(),
            source_digests: files::Digests::default(),
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
        let mut config = Config::from_sources(options, &env, file.as_ref().map(|(p, t)| (p.as_path(), t.as_str())))?;
        config.source_files.push(PathBuf::from(DOTENV));
        config.source_digests = files::Digests::of(&config.source_files);
        Ok(config)
    }

    /// Builds the configuration from explicit sources (for tests and embedding): command-line
    pub fn from_sources(options: &ServeOptions, env: &Env, file: Option<(&Path, &str)>) -> Result<Self, ServerError> {
        let toml_path = file.map(|(path, _)| path);
        let file = file::parse_file(file)?;
        let mut warnings = Vec::new();
        let mut config = Config::with_apps(apps::resolve_apps(env, &file, &mut warnings)?, env)?;
        // Server settings: options > environment > file > defaults.
        config.host = server::resolve_host(options, env, &file.cfg);
        config.port = server::resolve_port(options, env, &file.cfg)?;
        config.cors = server::resolve_cors(env, &file)?;
        server::apply_http_settings(&mut config, env, &file)?;
        server::apply_connection_settings(&mut config, env, &file)?;
        config.tls = tls_paths::resolve_tls(env, &file, &mut warnings)?;
        limits::apply_limits(&mut config, env, &file, &mut warnings)?;
        for (i, app) in config.apps.iter().enumerate() {
            if app.auth.is_none() && !config.demo {
                warnings.push(format!(
                    "app {} (apps[{i}] or the environment) has auth = \"none\": anyone who reaches this server gets its tokens",
                    app.app_id
                ));
            }
        }
        config.source_files = files::source_files(env, &file, toml_path);
        config.source_digests = files::Digests::of(&config.source_files);
        config.warnings = warnings;
        Ok(config)
    }

    /// A configuration of `apps` (the first is the default), or demo mode when there is none
    /// (its throwaway app still takes the environment's lifetime settings).
    fn with_apps(mut apps: Vec<AppConfig>, env: &Env) -> Result<Self, ServerError> {
        if apps.is_empty() {
            let mut config = Config::demo();
            app_env::apply_env_lifetimes(env, &mut config.apps[0])?;
            return Ok(config);
        }
        let mut config = Config::single(apps.remove(0));
        config.apps.extend(apps);
        Ok(config)
    }
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
pub(crate) fn read_sources(options: &ServeOptions) -> Result<(Env, Option<(PathBuf, String)>), ServerError> {
    let env = Env::from_process_and_dotenv(Path::new(DOTENV))?;
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
        let file = file::parse_file(file)?;
        let (cert, _) = tls_paths::tls_paths(env, &file);
        Ok(Endpoint {
            host: server::resolve_host(options, env, &file.cfg),
            port: server::resolve_port(options, env, &file.cfg)?,
            tls_cert_file: cert.map(|(path, _, _)| path),
        })
    }
}

fn random_hex() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the operating system's random generator failed");
    base16ct::lower::encode_string(&bytes)
}

#[cfg(test)]
mod tests;
