//! The app of the environment: `APP_ID`/`AGORA_APP_ID` with its certificate (or a `*_FILE`
//! holding it), the secondary certificate, and the `AGTOKEN_*` lifetime settings.

use std::path::Path;

use agtoken::{AppCertificate, AppId};

use super::apps::{parse_version, rule_of, shown, AppConfig};
use super::env::{env_number, Env, EnvSource};
use crate::error::ServerError;
use crate::secrets::read_secret_file;

pub(super) const APP_ID_VARS: &[&str] = &["AGORA_APP_ID", "APP_ID"];
/// `APP_CERT` (and `APP_CERT_FILE`): the older name the community token service reads.
const CERT_VARS: &[&str] = &["AGORA_APP_CERTIFICATE", "APP_CERTIFICATE", "APP_CERT"];
const SECONDARY_VARS: &[&str] = &["AGORA_APP_CERTIFICATE_SECONDARY", "APP_CERTIFICATE_SECONDARY"];
/// The `*_FILE` variants of the certificate variables.
pub(super) const CERTIFICATE_FILE_VARS: &[&str] = &[
    "AGORA_APP_CERTIFICATE_FILE",
    "APP_CERTIFICATE_FILE",
    "APP_CERT_FILE",
    "AGORA_APP_CERTIFICATE_SECONDARY_FILE",
    "APP_CERTIFICATE_SECONDARY_FILE",
];

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

pub(super) fn app_from_env(env: &Env, warnings: &mut Vec<String>) -> Result<Option<AppConfig>, ServerError> {
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

pub(super) fn apply_env_lifetimes(env: &Env, app: &mut AppConfig) -> Result<(), ServerError> {
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
