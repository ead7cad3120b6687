//! The issuing pipeline every route goes through: [`AppState::authorize`] before a token is
//! built (today it admits everything; caller authentication, per-caller policy and rate
//! limits slot in here), then [`AppState::record_issued`] after: metrics and one log line per
//! token with a short fingerprint, never the token or the certificate.

use std::fmt;

use agtoken::Version;
use axum::http::StatusCode;
use sha2::{Digest, Sha256};

use crate::metrics::service_index;
use crate::state::{App, AppState};

/// What a route is about to issue: the input of the policy check.
pub struct Intent<'a> {
    /// The route pattern, e.g. `/fetch_rtc_token`.
    pub route: &'static str,
    /// The app id.
    pub app_id: &'a str,
    /// Services the token will hold, e.g. `["rtc", "rtm"]`.
    pub services: &'a [&'static str],
    /// The channel (RTC), or `""`.
    pub channel: &'a str,
    /// The user: uid, account or user id as text (`"0"`/`""` for any).
    pub user: &'a str,
    /// Lifetime asked for, seconds.
    pub lifetime: u32,
}

/// A refusal of the policy check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// 401, 403 or 429.
    pub status: StatusCode,
    /// Why, for the caller.
    pub message: String,
}

/// The first 8 hex digits of the SHA-256 of a token: enough to find one token in logs,
/// useless to anyone who reads them.
pub struct Fingerprint<'a>(pub &'a str);

impl fmt::Display for Fingerprint<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digest = Sha256::digest(self.0.as_bytes());
        for b in &digest[..4] {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl AppState {
    /// Whether `intent` may be issued. Every route calls this before building.
    pub fn authorize(&self, intent: &Intent<'_>) -> Result<(), Refusal> {
        let _ = intent;
        Ok(())
    }

    /// Counts a refusal.
    pub(crate) fn record_refused(&self, intent: &Intent<'_>, refusal: &Refusal) {
        self.metrics().refused();
        tracing::info!(target: "agtoken::refused", route = intent.route, status = refusal.status.as_u16(), reason = %refusal.message);
    }

    /// Counts an issued token and logs one line for it.
    pub(crate) fn record_issued(&self, intent: &Intent<'_>, version: Version, token: &str, expires_at: u64) {
        for service in intent.services {
            self.metrics().issued(service_index(service), version);
        }
        tracing::info!(
            target: "agtoken::issued",
            route = intent.route,
            app_id = intent.app_id,
            service = %ServiceList(intent.services),
            channel = intent.channel,
            uid = intent.user,
            version = version.as_str(),
            expires_at,
            fingerprint = %Fingerprint(token),
        );
    }
}

struct ServiceList<'a>(&'a [&'static str]);

impl fmt::Display for ServiceList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("+")?;
            }
            f.write_str(s)?;
        }
        Ok(())
    }
}

/// When a token with this structure stops admitting joins (the library's rule, without
/// parsing the text again).
pub(crate) fn expires_at_007(issued_at: u32, expire: u32) -> u64 {
    let expire = match expire {
        0 => 86_400,
        e => e.min(86_400),
    };
    u64::from(issued_at) + u64::from(expire)
}

impl App {
    pub(crate) fn id(&self) -> &str {
        self.cfg.app_id.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_is_8_hex_of_sha256() {
        // sha256("abc") = ba7816bf…
        assert_eq!(Fingerprint("abc").to_string(), "ba7816bf");
    }
}
