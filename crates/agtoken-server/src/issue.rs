//! The issuing pipeline every route goes through: [`AppState::issue`]. It is the one place
//! where a token is built for a caller, so no route can skip a check:
//!
//! 1. authentication of the caller for the app's `auth` (401), the first policy rule that
//!    selects the caller (403 when none does), the per-caller rate limit (429);
//! 2. the route's build (one token, or several that are answered together, as on `/rte`);
//! 3. every built token is **verified** with the app's certificates and its grants, what it
//!    admits, computed by the library ([`agtoken::VerifiedToken::grants`]) are judged: no grant
//!    may outlive the app's maximum lifetime (every mode), and the policy rule must allow every
//!    grant (403 naming the rule). A route cannot describe what it issues wrongly: the token
//!    speaks for itself. A token the library signed for the route comes with the library's
//!    verified view of it, read from the bytes it signed ([`agtoken::SignedToken`], equal to a
//!    full parse and verify of its text: tested in the library); any other text is parsed back
//!    and verified here (a 006 token for the channel and uid the route built it for);
//! 4. only when every token of the answer passed: metrics and one audit line per token, with
//!    what it admits (services, channel, user, role, the earliest and the latest end). A refusal
//!    gets one line, and nothing is counted as issued.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use agtoken::{Grant, Role, Scope, SignedToken, Token, UnixTime, VerifiedToken, Version};
use axum::http::StatusCode;
use sha2::{Digest, Sha256};
use smallvec::SmallVec;

use crate::audit::{self, Who};
use crate::auth::{AuthError, Caller};
use crate::error::ErrorCode;
use crate::limit::retry_after_secs;
use crate::metrics::service_index;
use crate::policy::{self, Rule};
use crate::state::{App, AppState};

/// What a route was asked to issue: named in the audit line of a refusal that comes before any
/// token exists (authentication, rule selection, rate limit, a build error).
pub struct Intent<'a> {
    /// The route pattern, e.g. `/fetch_rtc_token`.
    pub route: &'static str,
    /// The app id.
    pub app_id: &'a str,
    /// Services asked for, e.g. `["rtc", "rtm"]`.
    pub services: &'a [&'static str],
    /// The channel asked for (RTC), or `""`.
    pub channel: &'a str,
    /// The user asked for, as sent.
    pub user: &'a str,
    /// The RTC role asked for.
    pub role: Option<Role>,
    /// Lifetime asked for, seconds.
    pub lifetime: u32,
}

/// The tokens of one answer (one, or two as on `/rte`), inline: no allocation per request.
pub(crate) type MintedList<'a> = SmallVec<[Minted<'a>; 2]>;

/// One token a route built.
pub(crate) enum Minted<'a> {
    /// Signed by the library with the app's certificates ([`agtoken::AccessToken2::encode_verified`]):
    /// its text comes with the library's verified view of it, read from the bytes it signed, so
    /// judging it needs no parse-back. Only the library makes a [`SignedToken`]: a route cannot
    /// make one up, nor pair a text with another token's view.
    Signed(&'a SignedToken),
    /// Only the text, parsed back and verified here with the app's certificates; for a 006
    /// token, with the channel (RTM: the user account) and packed uid (`""` for uid 0) it was
    /// built for, since the token holds only their CRC-32. A wrong claim fails the signature
    /// check, so a route cannot make a token look narrower.
    Text {
        /// The token text.
        text: &'a str,
        /// (channel, packed uid) for 006; ignored for 007.
        claimed: (&'a str, &'a str),
    },
}

/// What [`AppState::issue`] gives back: the route's value and when its tokens' grants end.
pub(crate) struct Issued<T> {
    /// What the route built.
    pub value: T,
    /// The earliest end among the grants: when a client must renew (the SDK's
    /// "privilege will expire" comes 30 s before). This is what responses report.
    pub earliest: u64,
}

/// What one verified token admits, summed up for the audit line and the metrics.
pub(crate) struct Judged<'a> {
    pub text: &'a str,
    pub version: Version,
    /// Policy classes (`rtc`, `chat_app`, …), each once, in grant order.
    pub classes: SmallVec<[&'static str; 4]>,
    /// Metrics indices of its services, each once.
    pub services: SmallVec<[usize; 4]>,
    /// The first channel and user a grant names (none: `-` in the audit line), borrowed from
    /// the token the library signed, or owned when the token was parsed back here.
    pub channel: Option<Scope<Cow<'a, str>>>,
    pub user: Option<Scope<Cow<'a, str>>>,
    pub role: Option<&'static str>,
    pub earliest: u64,
    pub latest: u64,
}

impl<'a> Judged<'a> {
    /// `keep` makes a text of the grants one the judgement can keep.
    fn new<'g>(
        text: &'a str,
        version: Version,
        grants: &[Grant<&'g str>],
        token_end: UnixTime,
        keep: impl Fn(&'g str) -> Cow<'a, str>,
    ) -> Self {
        let kept = |scope: Scope<&'g str>| match scope {
            Scope::Exact(text) => Scope::Exact(keep(text)),
            Scope::Pattern(text) => Scope::Pattern(keep(text)),
            Scope::Any => Scope::Any,
        };
        let mut classes = SmallVec::new();
        let mut services = SmallVec::new();
        for g in grants {
            let class = g.class();
            if !classes.contains(&class) {
                classes.push(class);
            }
            let service = service_index(g.service);
            if !services.contains(&service) {
                services.push(service);
            }
        }
        let earliest = grants.iter().map(|g| g.until).min().unwrap_or(token_end).as_secs();
        let latest = grants.iter().map(|g| g.until).max().unwrap_or(token_end).as_secs();
        Judged {
            text,
            version,
            classes,
            services,
            channel: grants.iter().find_map(|g| g.channel).map(kept),
            user: grants.iter().find_map(|g| g.user).map(kept),
            role: policy::rtc_role(grants),
            earliest,
            latest,
        }
    }
}

/// A refusal: 401 (authentication), 403 (policy), 429 (rate limit) or 503 (the app's JWT keys
/// from a URL were never fetched). The code comes from the typed reason ([`AuthError::code`],
/// [`policy::PolicyRefusal::code`]), not from the route that answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// `unauthorized`, `forbidden`, `rate_limited` or `unavailable`.
    pub code: ErrorCode,
    /// Why, for the caller (names the policy rule on a 403; never a credential).
    pub message: String,
}

impl Refusal {
    pub(crate) fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Refusal { code, message: message.into() }
    }

    /// The HTTP status: 401, 403, 429 or 503 (the code's).
    pub fn status(&self) -> StatusCode {
        self.code.status()
    }
}

impl From<AuthError> for Refusal {
    fn from(error: AuthError) -> Self {
        Refusal::new(error.code(), error.to_string())
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

impl Fingerprint<'_> {
    /// The 8 hex digits, written in `out`.
    pub fn encode<'o>(&self, out: &'o mut [u8; 8]) -> &'o str {
        let digest = Sha256::digest(self.0.as_bytes());
        // 4 bytes are 8 hex digits: `out` always fits.
        base16ct::lower::encode_str(&digest[..4], out).unwrap_or_default()
    }
}

impl fmt::Display for Fingerprint<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.encode(&mut [0u8; 8]))
    }
}

/// The authenticated caller of one issue and the rule that governs it.
struct Session {
    caller: Arc<Caller>,
    rule: usize,
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Publisher => "publisher",
        Role::Subscriber => "subscriber",
    }
}

impl AppState {
    /// Issues the tokens of one answer: checks, `build`, judges every built token (`minted`
    /// lists them), records. Either every token is returned and recorded, or none.
    pub(crate) fn issue<T, E>(
        &self,
        intent: &Intent<'_>,
        build: impl FnOnce() -> Result<T, E>,
        minted: impl Fn(&T) -> MintedList<'_>,
    ) -> Result<Issued<T>, IssueError<E>> {
        let Some((index, app)) = self.app_indexed(intent.app_id) else {
            // Routes only build for configured apps; refuse rather than issue unchecked.
            let refusal = Refusal::new(ErrorCode::Forbidden, format!("app {} is not configured", intent.app_id));
            return Err(IssueError::Refused(self.refuse(intent, None, None, refusal)));
        };
        let session = if app.cfg.auth.is_none() {
            None
        } else {
            match self.authorize(index, app) {
                Ok(session) => Some(session),
                Err((refusal, rule)) => {
                    let caller = self.request().and_then(caller_id);
                    return Err(IssueError::Refused(self.refuse(intent, caller.as_deref(), rule, refusal)));
                }
            }
        };
        let rule = session.as_ref().map(|s| &app.cfg.policy[s.rule]);
        let caller = session.as_ref().map(|s| &*s.caller);
        let built = build().map_err(IssueError::Build)?;
        let now = self.now();
        let tokens = minted(&built);
        let mut judged: SmallVec<[Judged<'_>; 2]> = SmallVec::new();
        for token in &tokens {
            match judge(app, caller.zip(rule), token, now) {
                Ok(j) => judged.push(j),
                Err(refusal) => {
                    let who = self.who(caller, rule);
                    self.metrics().refused();
                    audit::refused(
                        &who,
                        intent,
                        intent.role.map(role_name),
                        refusal.status().as_u16(),
                        &refusal.message,
                    );
                    return Err(IssueError::Refused(refusal));
                }
            }
        }
        let who = self.who(caller, rule);
        let mut earliest = u64::MAX;
        for j in &judged {
            for service in &j.services {
                self.metrics().issued(*service, j.version);
            }
            audit::issued(&who, intent, j, now.as_secs());
            earliest = earliest.min(j.earliest);
        }
        // They borrow `built` (a `SmallVec` is dropped at the end of the scope, not before).
        drop(judged);
        drop(tokens);
        Ok(Issued { value: built, earliest })
    }

    fn who<'s>(&self, caller: Option<&'s Caller>, rule: Option<&'s Rule>) -> Who<'s> {
        let client = self.client();
        Who { caller: caller.map_or("anonymous", |c| c.id.as_str()), client, rule: rule.map(|r| r.name.as_str()) }
    }

    /// Step 1: authentication (cached for the request), rule selection, per-caller limit.
    /// A refusal comes with the name of the rule involved, if any.
    fn authorize(&self, index: usize, app: &App) -> Result<Session, (Refusal, Option<String>)> {
        let outcome = self.request().map(|ctx| {
            let mut cached = ctx.caller();
            let authenticated = match &*cached {
                Some((i, result)) if *i == index => result.clone(),
                _ => {
                    let result = app.cfg.auth.authenticate(&ctx.credentials(), self.now().as_secs());
                    *cached = Some((index, result.clone()));
                    result
                }
            };
            drop(cached);
            let caller = match authenticated {
                Ok(caller) => caller,
                Err(error) => {
                    if error.code() == ErrorCode::Unavailable {
                        ctx.retry_after(crate::jwks::RETRY_AFTER_SECS);
                    } else {
                        ctx.challenge();
                    }
                    return Err((error.into(), None));
                }
            };
            let Some((rule_index, rule)) = policy::select(&app.cfg.policy, &caller) else {
                return Err((
                    Refusal::new(
                        ErrorCode::Forbidden,
                        format!("no policy rule of app {} applies to caller {}", app.id(), caller.id),
                    ),
                    None,
                ));
            };
            if !ctx.charge_once() {
                if let Some(limiter) = app.limiter(rule_index) {
                    if let Err(wait) = self.charge_caller(ctx, (index, rule_index), limiter, &caller.id) {
                        let secs = retry_after_secs(wait);
                        ctx.retry_after(secs);
                        let message = format!(
                            "policy rule {:?}: rate limit of {} per caller exceeded; retry in {secs} s",
                            rule.name,
                            limiter.rate()
                        );
                        return Err((Refusal::new(ErrorCode::RateLimited, message), Some(rule.name.clone())));
                    }
                }
            }
            Ok(Session { caller, rule: rule_index })
        });
        match outcome {
            Some(result) => result,
            // No request context: this token is not being issued for an HTTP request the
            // security layer saw. Fail closed.
            None => Err((AuthError::NoRequestContext.into(), None)),
        }
    }

    fn refuse(&self, intent: &Intent<'_>, caller: Option<&str>, rule: Option<String>, refusal: Refusal) -> Refusal {
        self.metrics().refused();
        let client = self.client();
        let who = Who { caller: caller.unwrap_or("-"), client, rule: rule.as_deref() };
        audit::refused(&who, intent, intent.role.map(role_name), refusal.status().as_u16(), &refusal.message);
        refusal
    }
}

/// Step 3 for one token: parse it back, verify it with the app's certificates, and judge what
/// it admits against the app's maximum lifetime and the caller's rule.
fn judge<'t>(
    app: &App,
    policy: Option<(&Caller, &Rule)>,
    token: &Minted<'t>,
    now: UnixTime,
) -> Result<Judged<'t>, Refusal> {
    match token {
        Minted::Signed(signed) => judge_verified(app, policy, signed.text(), signed.verified(), now, Cow::Borrowed),
        Minted::Text { text, claimed } => {
            let parsed = Token::parse(text)
                .and_then(|t| t.verify_claimed(&app.certs, claimed.0, claimed.1))
                .map_err(|e| forbidden(format!("the token built for this request cannot be judged: {e}")))?;
            judge_verified(app, policy, text, &parsed, now, |t: &str| Cow::Owned(t.to_owned()))
        }
    }
}

fn forbidden(message: String) -> Refusal {
    Refusal::new(ErrorCode::Forbidden, message)
}

/// Judges `verified`, the view of `text`, by its grants (borrowed from it: nothing is allocated
/// for a token of up to eight grants); `keep` makes the texts the judgement names its own.
fn judge_verified<'t, 'v>(
    app: &App,
    policy: Option<(&Caller, &Rule)>,
    text: &'t str,
    verified: &'v VerifiedToken,
    now: UnixTime,
    keep: impl Fn(&'v str) -> Cow<'t, str>,
) -> Result<Judged<'t>, Refusal> {
    if verified.token().app_id() != app.id() {
        return Err(forbidden(format!("the token built for this request is for app {}", verified.token().app_id())));
    }
    // Pushed from `for_each` rather than collected: the grants' nested iterators (services,
    // their privileges) are then folded from the inside instead of asked for one item at a time.
    let mut grants: SmallVec<[Grant<&str>; 8]> = SmallVec::new();
    verified.borrowed_grants().for_each(|grant| grants.push(grant));
    let judged = Judged::new(text, verified.token().version(), &grants, verified.token().expires_at(), keep);
    let max = u64::from(app.cfg.max_lifetime);
    if let Some(latest) = grants.iter().max_by_key(|g| g.until) {
        let lifetime = latest.until.as_secs().saturating_sub(now.as_secs());
        if lifetime > max {
            return Err(forbidden(format!(
                "the token would admit {} for {lifetime} s, longer than app {}'s maximum lifetime of {max} s",
                latest.capability,
                app.id()
            )));
        }
    }
    if let Some((caller, rule)) = policy {
        rule.check(caller, &grants, now)
            .map_err(|reason| Refusal::new(reason.code(), format!("policy rule {:?}: {reason}", rule.name)))?;
    }
    Ok(judged)
}

/// The id of the request's caller, when it authenticated.
fn caller_id(ctx: &crate::guard::RequestCtx) -> Option<String> {
    match &*ctx.caller() {
        Some((_, Ok(caller))) => Some(caller.id.clone()),
        _ => None,
    }
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
