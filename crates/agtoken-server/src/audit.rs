//! The audit log: one structured line per decision, target `agtoken::audit`, at level INFO.
//!
//! Fields: `decision` (`issued`/`refused`), `status`, `caller` (`anonymous`, `key:NAME`,
//! `jwt:SUB`), `client` (address), `route`, `app_id`, `service`, `channel`, `uid`, `role`,
//! `lifetime` (seconds), `version`, `expires_at`, `latest_end`, `fingerprint` (first 8 hex
//! digits of the token's SHA-256: enough to find one token, useless to anyone else), `rule` (the
//! policy rule that decided), `reason` (of a refusal). The time is the line's own timestamp.
//!
//! An `issued` line describes the token itself, from its grants (what it admits): `service` the
//! policy classes of its grants (`rtc+rtm`), `channel`/`uid` the first channel and user a grant
//! names (`any` for a wildcard), `role` from its RTC grants, `expires_at` the earliest end of a
//! grant and `latest_end` the latest, `lifetime` = `latest_end` − now: the line never
//! understates a token's life. A `refused` line names what was asked.
//!
//! Never in a line: the token, an app certificate, an API key, a bearer token. Refusal reasons
//! are built by this crate from checked values; they name what was wrong, never a credential.

use std::net::IpAddr;

use crate::issue::{Fingerprint, Intent, Judged};

/// `-` for an absent value (text logs stay column-friendly; JSON gets a string).
struct Opt<T>(Option<T>);

impl<T: std::fmt::Display> std::fmt::Display for Opt<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Some(v) => v.fmt(f),
            None => f.write_str("-"),
        }
    }
}

/// Who and from where.
pub(crate) struct Who<'a> {
    pub caller: &'a str,
    pub client: Option<IpAddr>,
    pub rule: Option<&'a str>,
}

/// A token was issued.
/// The line of an issued token: what it admits (from its grants), never what was asked.
/// `expires_at` is the earliest end among its grants (when the client must renew),
/// `latest_end` the latest (how long it can be used at all), `lifetime` = latest − now.
pub(crate) fn issued(who: &Who<'_>, intent: &Intent<'_>, judged: &Judged<'_>, now: u64) {
    tracing::info!(
        target: "agtoken::audit",
        decision = "issued",
        status = 200u16,
        caller = who.caller,
        client = %Opt(who.client),
        route = intent.route,
        app_id = intent.app_id,
        service = %ServiceList(&judged.classes),
        channel = judged.channel.as_str(),
        uid = judged.user.as_str(),
        role = judged.role.unwrap_or("-"),
        lifetime = judged.latest.saturating_sub(now),
        version = judged.version.as_str(),
        expires_at = judged.earliest,
        latest_end = judged.latest,
        fingerprint = %Fingerprint(judged.text),
        rule = who.rule.unwrap_or("-"),
    );
}

pub(crate) fn refused(who: &Who<'_>, intent: &Intent<'_>, role: Option<&'static str>, status: u16, reason: &str) {
    tracing::info!(
        target: "agtoken::audit",
        decision = "refused",
        status,
        caller = who.caller,
        client = %Opt(who.client),
        route = intent.route,
        app_id = intent.app_id,
        service = %ServiceList(intent.services),
        channel = intent.channel,
        uid = intent.user,
        role = role.unwrap_or("-"),
        lifetime = intent.lifetime,
        rule = who.rule.unwrap_or("-"),
        reason,
    );
}

/// A request refused before its route ran (per-address rate limit).
pub(crate) fn refused_early(route: &str, client: Option<IpAddr>, status: u16, reason: &str) {
    tracing::info!(
        target: "agtoken::audit",
        decision = "refused",
        status,
        caller = "-",
        client = %Opt(client),
        route,
        reason,
    );
}

struct ServiceList<'a>(&'a [&'static str]);

impl std::fmt::Display for ServiceList<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, s) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("+")?;
            }
            f.write_str(s)?;
        }
        Ok(())
    }
}
