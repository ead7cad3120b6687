//! The apps: [`AppConfig`], and the list of them from the environment's app and the TOML
//! file's `[[apps]]` (duplicates refused, `default_app` first).

use agtoken::{AppCertificate, AppId, Version};

use super::app_env::{app_from_env, APP_ID_VARS};
use super::app_file::AppSource;
use super::env::Env;
use super::file::FileSource;
use super::{DEFAULT_LIFETIME_SECS, MAX_LIFETIME_SECS};
use crate::auth::Auth;
use crate::error::ServerError;
use crate::limit::Rate;
use crate::policy::Rule;

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

    pub(super) fn validate(&self, source: &str, at: &str) -> Result<(), ServerError> {
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

/// The configured apps: the environment's app first, then the file's `[[apps]]` in order,
/// then `default_app` moved to the front. Empty: demo mode.
pub(super) fn resolve_apps(
    env: &Env,
    file: &FileSource,
    warnings: &mut Vec<String>,
) -> Result<Vec<AppConfig>, ServerError> {
    let mut apps = Vec::new();
    if let Some(app) = app_from_env(env, warnings)? {
        apps.push(app);
    }
    for (i, entry) in file.cfg.apps.iter().enumerate() {
        let app = entry.resolve(&AppSource { file, at: format!("apps[{i}]"), env }, warnings)?;
        if let Some(dup) = apps.iter().position(|a: &AppConfig| a.app_id == app.app_id) {
            let other = if dup == 0 && env.get_any(APP_ID_VARS).is_some() {
                "the app of APP_ID/AGORA_APP_ID"
            } else {
                "another entry"
            };
            return Err(ServerError::config(
                &file.name,
                format!("apps[{i}].app_id"),
                format!("app {} is configured twice (also {other})", app.app_id),
            ));
        }
        apps.push(app);
    }
    if let Some(default) = &file.cfg.default_app {
        let pos = apps.iter().position(|a| a.app_id.as_str() == default).ok_or_else(|| {
            ServerError::config(&file.name, "default_app", format!("{default:?} is not one of the configured apps"))
        })?;
        let app = apps.remove(pos);
        apps.insert(0, app);
    }
    Ok(apps)
}

pub(super) fn parse_version(text: &str) -> Option<Version> {
    match text.trim() {
        "007" | "7" => Some(Version::V007),
        "006" | "6" => Some(Version::V006),
        _ => None,
    }
}

/// A value that is not a secret (an app id), as a message shows it: quoted, at most 40
/// characters, with its length.
pub(super) fn shown(text: &str) -> String {
    let count = text.chars().count();
    if count <= 40 {
        format!("{text:?} ({count} characters)")
    } else {
        format!("{:?}… ({count} characters)", text.chars().take(32).collect::<String>())
    }
}

/// The rule an id or certificate broke, without its value.
pub(super) fn rule_of(err: &agtoken::Error) -> String {
    match err {
        agtoken::Error::Invalid { rule, .. } => (*rule).to_owned(),
        other => other.to_string(),
    }
}
