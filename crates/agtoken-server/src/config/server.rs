//! Server and network settings: listen address and port, CORS, body limit, timeouts, the
//! connection bounds. Each reads the options, then the environment, then the TOML file.

use std::time::Duration;

use super::env::{env_number, server_number, Env};
use super::file::{FileConfig, FileSource, StringOrList};
use super::{Config, DEFAULT_PORT};
use crate::error::ServerError;
use crate::ServeOptions;

/// Which origins may call the server from a browser.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CorsOrigins {
    /// Any origin (`Access-Control-Allow-Origin: *`).
    Any,
    /// These origins only (e.g. `https://app.example.com`).
    List(Vec<String>),
}

impl CorsOrigins {
    pub(super) fn parse(text: &str, source: &str, field: &str) -> Result<Self, ServerError> {
        let items: Vec<&str> = text.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
        Self::from_items(&items, source, field)
    }

    pub(super) fn from_items(items: &[&str], source: &str, field: &str) -> Result<Self, ServerError> {
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

/// `--host`, else `AGTOKEN_HOST`, else the file's `host`, else `0.0.0.0`.
pub(super) fn resolve_host(options: &ServeOptions, env: &Env, file_cfg: &FileConfig) -> String {
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
pub(super) fn resolve_port(options: &ServeOptions, env: &Env, file_cfg: &FileConfig) -> Result<u16, ServerError> {
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

/// The CORS origins: `CORS_ALLOW_ORIGIN`, else the file's `cors_allow_origin`, else any. The
/// file's value is checked even when the environment overrides it.
pub(super) fn resolve_cors(env: &Env, file: &FileSource) -> Result<CorsOrigins, ServerError> {
    let from_file = match &file.cfg.cors_allow_origin {
        None => CorsOrigins::Any,
        Some(StringOrList::One(text)) => CorsOrigins::parse(text, &file.name, "cors_allow_origin")?,
        Some(StringOrList::Many(list)) => {
            let items: Vec<&str> = list.iter().map(String::as_str).collect();
            CorsOrigins::from_items(&items, &file.name, "cors_allow_origin")?
        }
    };
    match env.get("CORS_ALLOW_ORIGIN") {
        Some((text, src)) => CorsOrigins::parse(text, src.describe(), "CORS_ALLOW_ORIGIN"),
        None => Ok(from_file),
    }
}

/// The body limit, request timeout, header-read timeout and shutdown grace: environment over
/// file over defaults, each checked against its range.
pub(super) fn apply_http_settings(config: &mut Config, env: &Env, file: &FileSource) -> Result<(), ServerError> {
    let cfg = &file.cfg;
    if let Some(limit) = env_number::<usize>(env, "AGTOKEN_BODY_LIMIT")?.or(cfg.body_limit_bytes) {
        config.body_limit = limit;
    }
    if config.body_limit < 256 || config.body_limit > 16 * 1024 * 1024 {
        return Err(ServerError::config(
            "configuration",
            "body_limit_bytes",
            format!("must be 256..=16777216 bytes, got {}", config.body_limit),
        ));
    }
    if let Some(secs) = env_number::<u64>(env, "AGTOKEN_REQUEST_TIMEOUT")?.or(cfg.request_timeout_secs) {
        config.request_timeout = Duration::from_secs(secs);
    }
    if config.request_timeout.is_zero() || config.request_timeout > Duration::from_secs(3600) {
        return Err(ServerError::config("configuration", "request_timeout_secs", "must be 1..=3600 seconds"));
    }
    if let Some(secs) = cfg.header_read_timeout_secs {
        if secs == 0 {
            return Err(ServerError::config(&file.name, "header_read_timeout_secs", "must be at least 1 second"));
        }
        config.header_read_timeout = Duration::from_secs(secs);
    }
    if let Some(secs) = env_number::<u64>(env, "AGTOKEN_SHUTDOWN_GRACE")?.or(cfg.shutdown_grace_secs) {
        config.shutdown_grace = Duration::from_secs(secs);
    }
    if config.shutdown_grace > Duration::from_secs(3600) {
        return Err(ServerError::config(
            "configuration",
            "shutdown_grace_secs (AGTOKEN_SHUTDOWN_GRACE)",
            "must be 0..=3600 seconds",
        ));
    }
    Ok(())
}

/// The connection bounds: `max_connections`, `first_request_timeout_secs`,
/// `idle_timeout_secs` (environment over file), each checked against its range.
pub(super) fn apply_connection_settings(config: &mut Config, env: &Env, file: &FileSource) -> Result<(), ServerError> {
    let cfg = &file.cfg;
    let max = server_number(env, "AGTOKEN_MAX_CONNECTIONS", &file.name, "max_connections", cfg.max_connections)?;
    if let Some((n, source, field)) = max {
        config.max_connections = usize::try_from(n)
            .ok()
            .filter(|n| (1..=1_000_000).contains(n))
            .ok_or_else(|| ServerError::config(source, field, format!("must be 1..=1000000 connections, got {n}")))?;
    }
    for (var, key, file_value, target) in [
        (
            "AGTOKEN_FIRST_REQUEST_TIMEOUT",
            "first_request_timeout_secs",
            cfg.first_request_timeout_secs,
            &mut config.first_request_timeout,
        ),
        ("AGTOKEN_IDLE_TIMEOUT", "idle_timeout_secs", cfg.idle_timeout_secs, &mut config.idle_timeout),
    ] {
        if let Some((secs, source, field)) = server_number(env, var, &file.name, key, file_value)? {
            if !(1..=3600).contains(&secs) {
                return Err(ServerError::config(source, field, format!("must be 1..=3600 seconds, got {secs}")));
            }
            *target = Duration::from_secs(secs);
        }
    }
    Ok(())
}
