//! Rate limits: the per-address limit, the client-address header, and the shared store
//! (`limits_store`, environment over file).

use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::http::HeaderName;

use super::env::Env;
use super::file::FileSource;
use super::Config;
use crate::error::ServerError;
use crate::limit::Rate;
use crate::limit_store::{Fallback, LimitsStore};
use crate::secrets::read_secret_file;

/// `per_ip_rate_limit`, `client_ip_header` and the `limits_store` settings, into `config`.
pub(super) fn apply_limits(
    config: &mut Config,
    env: &Env,
    file: &FileSource,
    warnings: &mut Vec<String>,
) -> Result<(), ServerError> {
    let cfg = &file.cfg;
    if let Some(text) = &cfg.per_ip_rate_limit {
        config.per_ip_rate_limit = Some(
            Rate::parse(text, cfg.per_ip_rate_limit_burst)
                .map_err(|e| ServerError::setting(&file.name, "per_ip_rate_limit", e))?,
        );
    } else if cfg.per_ip_rate_limit_burst.is_some() {
        return Err(ServerError::config(&file.name, "per_ip_rate_limit_burst", "given without per_ip_rate_limit"));
    }
    if let Some(name) = &cfg.client_ip_header {
        config.client_ip_header = Some(HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| {
            ServerError::config(&file.name, "client_ip_header", format!("{name:?} is not a header name"))
        })?);
    }
    config.limits_store = limits_store(env, file, warnings)?;
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
    Ok(())
}

/// The `limits_store` settings: environment over file. Each error names the setting.
fn limits_store(env: &Env, file: &FileSource, warnings: &mut Vec<String>) -> Result<Option<LimitsStore>, ServerError> {
    let (file_cfg, file_name) = (&file.cfg, file.name.as_str());
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
            None => file_value.as_ref().map(|p| (file.path(p), file_name.to_owned(), key.to_owned())),
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
    let ca_pem = ca.as_ref().map(|(path, source, field)| read_ca_file(path, source, field)).transpose()?;
    let mut store = LimitsStore::new(&url, password.as_deref(), ca_pem.as_deref()).map_err(|e| {
        // The message never repeats the URL, which may carry a password.
        match (&ca, e.concerns_ca_file()) {
            (Some((_, ca_source, ca_field)), true) => ServerError::setting(ca_source, ca_field, e),
            _ => ServerError::setting(&source, &field, e),
        }
    })?;
    if let Some((text, source, field)) = fallback {
        store.fallback = Fallback::parse(&text).map_err(|e| ServerError::setting(source, field, e))?;
    }
    if let Some((text, source, field)) = timeout {
        let ms: u64 = text.parse().ok().filter(|ms| (1..=10_000).contains(ms)).ok_or_else(|| {
            ServerError::config(&source, &field, format!("must be 1..=10000 milliseconds, got {text:?}"))
        })?;
        store.timeout = Duration::from_millis(ms);
    }
    Ok(Some(store))
}

/// The PEM CA certificates of `limits_store_ca_file`: readable, with at least one certificate.
fn read_ca_file(path: &Path, source: &str, field: &str) -> Result<Vec<u8>, ServerError> {
    let pem = std::fs::read(path)
        .map_err(|e| ServerError::config(source, field, format!("cannot read {}: {e}", path.display())))?;
    if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
        return Err(ServerError::config(source, field, format!("{} holds no PEM certificate", path.display())));
    }
    Ok(pem)
}
