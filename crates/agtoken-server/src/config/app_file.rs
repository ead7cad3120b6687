//! One `[[apps]]` entry of the TOML file, resolved into an [`AppConfig`]: its id, its
//! certificates (inline, from a variable or from a file), lifetimes, auth, policy and rate.

use std::path::PathBuf;

use agtoken::{AppCertificate, AppId};

use super::apps::{parse_version, rule_of, AppConfig};
use super::env::Env;
use super::file::{FileApp, FileSource};
use crate::error::ServerError;
use crate::limit::Rate;
use crate::secrets::read_secret_file;

/// Where an `[[apps]]` entry is resolved: the file, the entry's place in it (`apps[0]`), the
/// environment its `*_env` settings read.
pub(super) struct AppSource<'a> {
    pub(super) file: &'a FileSource,
    pub(super) at: String,
    pub(super) env: &'a Env,
}

impl AppSource<'_> {
    /// An error about the entry's setting `name`.
    fn error(&self, name: &str, message: impl Into<String>) -> ServerError {
        ServerError::config(&self.file.name, format!("{}.{name}", self.at), message)
    }
}

/// A certificate setting given three ways: `NAME`, `NAME_env`, `NAME_file`.
struct CertificateSetting<'a> {
    name: &'static str,
    inline: &'a Option<String>,
    var: &'a Option<String>,
    path: &'a Option<PathBuf>,
}

impl FileApp {
    /// This entry as an app, every setting checked; `warnings` gets what deserves one.
    pub(super) fn resolve(&self, src: &AppSource<'_>, warnings: &mut Vec<String>) -> Result<AppConfig, ServerError> {
        let app_id = AppId::new(self.app_id.trim()).map_err(|e| src.error("app_id", rule_of(&e)))?;
        let primary = CertificateSetting {
            name: "app_certificate",
            inline: &self.app_certificate,
            var: &self.app_certificate_env,
            path: &self.app_certificate_file,
        };
        let secondary = CertificateSetting {
            name: "secondary_certificate",
            inline: &self.secondary_certificate,
            var: &self.secondary_certificate_env,
            path: &self.secondary_certificate_file,
        };
        let certificate = read_certificate(&primary, src, warnings)?.ok_or_else(|| {
            src.error("app_certificate", "missing (give app_certificate, app_certificate_env or app_certificate_file)")
        })?;
        let mut app = AppConfig::new(app_id, certificate);
        app.secondary_certificate = read_certificate(&secondary, src, warnings)?;
        self.apply_lifetimes(&mut app, src)?;
        let auth_source = crate::auth::AuthSource {
            app_id: app.app_id.as_str(),
            file: &src.file.name,
            at: &src.at,
            base_dir: &src.file.base_dir,
            env: src.env,
        };
        app.auth =
            crate::auth::resolve(self.auth.as_deref(), &self.api_keys, self.jwt.as_ref(), &auth_source, warnings)?;
        app.policy = crate::policy::resolve(&self.policy, &app.auth, app.max_lifetime, &src.file.name, &src.at)?;
        policy_lifetime_warnings(&app, &src.at, warnings);
        app.rate_limit = self.rate_limit(src)?;
        if app.rate_limit.is_some() && app.auth.is_none() {
            return Err(src.error(
                "rate_limit",
                "a per-caller limit needs authenticated callers (auth); use per_ip_rate_limit for anonymous ones",
            ));
        }
        Ok(app)
    }

    /// `token_version` and the `*_lifetime_secs` settings, checked together.
    fn apply_lifetimes(&self, app: &mut AppConfig, src: &AppSource<'_>) -> Result<(), ServerError> {
        if let Some(v) = &self.token_version {
            app.token_version = parse_version(v)
                .ok_or_else(|| src.error("token_version", format!("must be \"007\" or \"006\", got {v:?}")))?;
        }
        if let Some(v) = self.max_lifetime_secs {
            app.max_lifetime = v;
        }
        app.default_lifetime = self.default_lifetime_secs.unwrap_or(app.default_lifetime.min(app.max_lifetime));
        app.compat_lifetime = self.compat_lifetime_secs.unwrap_or(app.compat_lifetime.min(app.max_lifetime));
        // The file's settings end in `_secs`; the checks name them as the file does.
        app.validate(&src.file.name, &src.at).map_err(|e| match e {
            ServerError::Config { source_name, field, message } => {
                ServerError::Config { source_name, field: field.replace("lifetime", "lifetime_secs"), message }
            }
            other => other,
        })
    }

    /// `rate_limit` with its `rate_limit_burst`.
    fn rate_limit(&self, src: &AppSource<'_>) -> Result<Option<Rate>, ServerError> {
        match &self.rate_limit {
            Some(text) => Rate::parse(text, self.rate_limit_burst)
                .map(Some)
                .map_err(|e| ServerError::setting(&src.file.name, format!("{}.rate_limit", src.at), e)),
            None if self.rate_limit_burst.is_some() => Err(src.error("rate_limit_burst", "given without rate_limit")),
            None => Ok(None),
        }
    }
}

/// A certificate from exactly one of its three settings, or `None` when none is given.
fn read_certificate(
    setting: &CertificateSetting<'_>,
    src: &AppSource<'_>,
    warnings: &mut Vec<String>,
) -> Result<Option<AppCertificate>, ServerError> {
    let name = setting.name;
    let text = match (setting.inline, setting.var, setting.path) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) | (_, Some(_), Some(_)) => {
            return Err(src.error(name, format!("give one of {name}, {name}_env, {name}_file")))
        }
        (None, None, Some(path)) => {
            read_secret_file(&src.file.path(path), &src.file.name, &format!("{}.{name}_file", src.at), warnings)?
        }
        (Some(text), None, None) => text.clone(),
        (None, Some(var), None) => match src.env.get(var) {
            Some((text, _)) => text.to_owned(),
            None => return Err(src.error(&format!("{name}_env"), format!("environment variable {var} is not set"))),
        },
        (None, None, None) => return Ok(None),
    };
    AppCertificate::new(text.trim()).map(Some).map_err(|e| src.error(name, rule_of(&e)))
}

/// A warning for each policy rule whose `max_lifetime` is below the lifetime that requests
/// naming none get: those requests would be refused.
fn policy_lifetime_warnings(app: &AppConfig, at: &str, warnings: &mut Vec<String>) {
    let shortest = app.default_lifetime.min(app.compat_lifetime);
    let longest = app.default_lifetime.max(app.compat_lifetime);
    for rule in &app.policy {
        if let Some(max) = rule.max_lifetime.filter(|max| *max < longest) {
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
}
