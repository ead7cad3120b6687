//! The issuing pipeline every route goes through: [`AppState::issue`]. It is the one place
//! where a token is built for a caller, so no route can skip a check:
//!
//! 1. authentication of the caller for the app's `auth` (401), the first policy rule that
//!    selects the caller (403 when none does), the per-caller rate limit (429);
//! 2. the route's build;
//! 3. the policy, on the **built token** (parsed back: every service, channel and user in it),
//!    so a route cannot describe what it issues wrongly (403 naming the rule);
//! 4. metrics and one audit line (see [`crate::audit`]); a refusal gets one too.
//!
//! With `auth = "none"` (and in demo mode) steps 1 and 3 are skipped: no lookup, no parse, no
//! allocation beyond the audit line.

use std::fmt;
use std::sync::Arc;

use agtoken::{Role, Token, Version};
use axum::http::StatusCode;
use sha2::{Digest, Sha256};

use crate::audit::{self, Who};
use crate::auth::Caller;
use crate::guard::REQUEST;
use crate::limit::retry_after_secs;
use crate::metrics::service_index;
use crate::policy;
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
    /// The RTC role, when the token has RTC privileges.
    pub role: Option<Role>,
    /// Lifetime asked for, seconds.
    pub lifetime: u32,
}

/// A refusal: 401 (authentication), 403 (policy) or 429 (rate limit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// 401, 403 or 429.
    pub status: StatusCode,
    /// Why, for the caller (names the policy rule on a 403; never a credential).
    pub message: String,
}

impl Refusal {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Refusal { status, message: message.into() }
    }
}

/// Why [`AppState::issue`] gave no token.
pub(crate) enum IssueError<E> {
    /// Refused by authentication, policy or rate limit.
    Refused(Refusal),
    /// The route's build failed.
    Build(E),
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

/// The authenticated caller of one issue and the rule that governs it.
struct Session {
    caller: Option<Arc<Caller>>,
    rule: Option<usize>,
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Publisher => "publisher",
        Role::Subscriber => "subscriber",
    }
}

impl AppState {
    /// Issues one token: checks, `build`, checks the result, records. `meta` gives the built
    /// token's text, version and expiry (Unix seconds).
    pub(crate) fn issue<T, E>(
        &self,
        intent: &Intent<'_>,
        build: impl FnOnce() -> Result<T, E>,
        meta: impl Fn(&T) -> (&str, Version, u64),
    ) -> Result<T, IssueError<E>> {
        let Some((index, app)) = self.app_indexed(intent.app_id) else {
            // Routes only build for configured apps; refuse rather than issue unchecked.
            let refusal = Refusal::new(StatusCode::FORBIDDEN, format!("app {} is not configured", intent.app_id));
            return Err(IssueError::Refused(self.refuse(intent, None, None, refusal)));
        };
        if app.cfg.auth.is_none() {
            let built = build().map_err(IssueError::Build)?;
            let (token, version, expires_at) = meta(&built);
            let client = REQUEST.try_with(|ctx| ctx.client).ok().flatten();
            let who = Who { caller: "anonymous", client, rule: None };
            self.record_issued(&who, intent, intent.role.map(role_name), version, token, expires_at);
            return Ok(built);
        }

        let session = match self.authorize(index, app) {
            Ok(session) => session,
            Err((refusal, rule)) => {
                let caller = REQUEST.try_with(caller_id).ok().flatten();
                return Err(IssueError::Refused(self.refuse(intent, caller.as_deref(), rule, refusal)));
            }
        };
        let caller = session.caller.as_deref().expect("authenticated");
        let rule = session.rule.map(|i| &app.cfg.policy[i]);
        let built = build().map_err(IssueError::Build)?;
        let (token, version, expires_at) = meta(&built);

        let lifetime =
            intent.lifetime.max(u32::try_from(expires_at.saturating_sub(self.now().as_secs())).unwrap_or(u32::MAX));
        let parsed = Token::parse(token);
        let grants = match &parsed {
            Ok(t) => policy::grants(t, intent.channel, intent.user),
            Err(_) => Vec::new(),
        };
        let role = if grants.iter().any(|g| g.service == "rtc") {
            Some(if grants.iter().any(|g| g.publisher) { "publisher" } else { "subscriber" })
        } else {
            intent.role.map(role_name)
        };
        let verdict = match (&parsed, rule) {
            (Err(e), _) => Err(Refusal::new(StatusCode::FORBIDDEN, format!("the built token does not parse: {e}"))),
            (Ok(_), Some(rule)) => rule.check(caller, &grants, lifetime).map_err(|reason| {
                Refusal::new(StatusCode::FORBIDDEN, format!("policy rule {:?}: {reason}", rule.name))
            }),
            (Ok(_), None) => Err(Refusal::new(StatusCode::FORBIDDEN, "no policy rule")),
        };
        let client = REQUEST.try_with(|ctx| ctx.client).ok().flatten();
        let who = Who { caller: &caller.id, client, rule: rule.map(|r| r.name.as_str()) };
        if let Err(refusal) = verdict {
            self.metrics().refused();
            audit::refused(&who, intent, role, refusal.status.as_u16(), &refusal.message);
            return Err(IssueError::Refused(refusal));
        }
        self.record_issued(&who, intent, role, version, token, expires_at);
        Ok(built)
    }

    /// Step 1: authentication (cached for the request), rule selection, per-caller limit.
    /// A refusal comes with the name of the rule involved, if any.
    fn authorize(&self, index: usize, app: &App) -> Result<Session, (Refusal, Option<String>)> {
        let outcome = REQUEST.try_with(|ctx| {
            let mut cached = ctx.caller.borrow_mut();
            let authenticated = match &*cached {
                Some((i, result)) if *i == index => result.clone(),
                _ => {
                    let result = app.cfg.auth.authenticate(&ctx.credentials(), self.now().as_secs()).map(Arc::new);
                    *cached = Some((index, result.clone()));
                    result
                }
            };
            drop(cached);
            let caller = match authenticated {
                Ok(caller) => caller,
                Err(reason) => {
                    ctx.unauthenticated.set(true);
                    return Err((Refusal::new(StatusCode::UNAUTHORIZED, reason), None));
                }
            };
            let Some((rule_index, rule)) = policy::select(&app.cfg.policy, &caller) else {
                return Err((
                    Refusal::new(
                        StatusCode::FORBIDDEN,
                        format!("no policy rule of app {} applies to caller {}", app.id(), caller.id),
                    ),
                    None,
                ));
            };
            if !ctx.charged.replace(true) {
                if let Some(limiter) = app.limiter(rule_index) {
                    if let Err(wait) = limiter.check(&caller.id) {
                        let secs = retry_after_secs(wait);
                        ctx.retry_after.set(Some(secs));
                        let message = format!(
                            "policy rule {:?}: rate limit of {} per caller exceeded; retry in {secs} s",
                            rule.name,
                            limiter.rate()
                        );
                        return Err((Refusal::new(StatusCode::TOO_MANY_REQUESTS, message), Some(rule.name.clone())));
                    }
                }
            }
            Ok(Session { caller: Some(caller), rule: Some(rule_index) })
        });
        match outcome {
            Ok(result) => result,
            // No request context: this token is not being issued for an HTTP request the
            // security layer saw. Fail closed.
            Err(_) => Err((Refusal::new(StatusCode::UNAUTHORIZED, "no request context to authenticate"), None)),
        }
    }

    fn refuse(&self, intent: &Intent<'_>, caller: Option<&str>, rule: Option<String>, refusal: Refusal) -> Refusal {
        self.metrics().refused();
        let client = REQUEST.try_with(|ctx| ctx.client).ok().flatten();
        let who = Who { caller: caller.unwrap_or("-"), client, rule: rule.as_deref() };
        audit::refused(&who, intent, intent.role.map(role_name), refusal.status.as_u16(), &refusal.message);
        refusal
    }

    /// Counts an issued token and writes its audit line.
    fn record_issued(
        &self,
        who: &Who<'_>,
        intent: &Intent<'_>,
        role: Option<&'static str>,
        version: Version,
        token: &str,
        expires_at: u64,
    ) {
        for service in intent.services {
            self.metrics().issued(service_index(service), version);
        }
        audit::issued(who, intent, role, version, token, expires_at);
    }
}

/// The id of the request's caller, when it authenticated.
fn caller_id(ctx: &crate::guard::RequestCtx) -> Option<String> {
    match &*ctx.caller.borrow() {
        Some((_, Ok(caller))) => Some(caller.id.clone()),
        _ => None,
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
