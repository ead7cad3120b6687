//! Policy: what an authenticated caller may get. An app's `[[apps.policy]]` rules are tried in
//! order; the **first rule that selects the caller** decides (no rule: refused). A rule selects
//! by API key name (`api_keys`) and/or JWT claims (`claims`, each equal to one of the given
//! values, or an array claim containing one); a rule with no selector selects every caller.
//!
//! The rule is then compared with what the built token **admits**: its grants, computed by the
//! library ([`agtoken::VerifiedToken::grants`]) from the token parsed back and verified, the same
//! computation as Agora's admission check. Never the request, never a route's idea of what it
//! built. For every grant:
//!
//! - `services`: its class must be listed: `rtc`, `rtm`, `chat` (a user), `chat_app`
//!   (app-level: administration), `fpa`, `apaas` (a user), `apaas_app`, `rtm2`, `streaming`,
//!   `fcdn`, `convoai`, `stt`, `other` (a service type this server does not know). A 006 token
//!   holding RTC privileges and RTM login has grants of both.
//! - `channels`: `*` patterns its channel (RTC channel, APaaS room, streaming/FCDN channel) must
//!   fall within;
//! - `uid_claim`: its user must be exactly this JWT claim (e.g. `"sub"`);
//! - `roles`: the RTC actions allowed: `subscriber` = join, `publisher` = join and publish
//!   audio/video/data, `admin` = the 006 administrate-channel privilege (default: publisher and
//!   subscriber);
//! - `max_lifetime_secs`: the latest end among the grants, from now (the app's maximum is
//!   checked for every token, with or without rules);
//! - `allow_wildcards`: grants for any user (uid 0, empty), any channel, or a pattern; off
//!   unless set;
//! - `allow_unnamed_privileges`: privilege ids the library cannot name; off unless set.
//!
//! A refusal (403) names the rule: `policy rule "students": channel "staff" is not allowed …`.

use std::fmt::Write as _;

use agtoken::{Capability, Grant, Scope, ServiceType, UnixTime};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::auth::{Auth, Caller};
use crate::error::{ErrorCode, ServerError};
use crate::limit::Rate;

/// Why a rule refuses what a token would admit: the grant's part the rule does not allow, with
/// the values involved. `Display` is the reason the caller reads after `policy rule "NAME": `
/// (a 403, [`PolicyRefusal::code`]); it shows the grant's service, channel, user and privilege
/// and the rule's settings, never a credential.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyRefusal {
    /// The latest grant ends after the rule's `max_lifetime_secs`.
    #[error("the token would admit {capability} for {lifetime} s, longer than this rule's maximum of {max} s")]
    TooLong {
        /// What the latest grant admits.
        capability: Capability,
        /// How long from now, seconds.
        lifetime: u64,
        /// The rule's maximum, seconds.
        max: u32,
    },
    /// A grant's service class the rule does not list.
    #[error("service {class} is not allowed (allowed: {})", allowed.join(", "))]
    ServiceNotAllowed {
        /// The grant's class (`rtc`, `chat_app`, …).
        class: &'static str,
        /// The rule's `services`.
        allowed: Vec<String>,
    },
    /// A privilege the server cannot name, without `allow_unnamed_privileges`.
    #[error(
        "{class} privilege {id} is not one this server can name, so it cannot judge what it admits \
         (allow it with allow_unnamed_privileges = true)"
    )]
    UnnamedPrivilege {
        /// The grant's class.
        class: &'static str,
        /// The privilege id.
        id: u16,
    },
    /// A channel pattern or any channel, without `allow_wildcards`.
    #[error("{class} channel {channel} admits every channel it matches: wildcard tokens are not allowed")]
    WildcardChannel {
        /// The grant's class.
        class: &'static str,
        /// The grant's channel.
        channel: Scope,
    },
    /// A channel outside the rule's `channels`.
    #[error("channel {channel} is not allowed (allowed: {})", allowed.join(", "))]
    ChannelNotAllowed {
        /// The grant's channel.
        channel: Scope,
        /// The rule's `channels`.
        allowed: Vec<String>,
    },
    /// Any user (uid 0, empty) or a user pattern, without `allow_wildcards`.
    #[error("{class} token for {}: wildcard tokens are not allowed", wildcard_user(user))]
    WildcardUser {
        /// The grant's class.
        class: &'static str,
        /// The grant's user.
        user: Scope,
    },
    /// `uid_claim` names a claim the caller's JWT does not have (as a string or whole number).
    #[error("the caller's token has no {claim} claim to bind the uid to")]
    NoUidClaim {
        /// The rule's `uid_claim`.
        claim: String,
    },
    /// A user that is not the caller's `uid_claim`.
    #[error("{class} uid/account {user} is not the caller's {claim} claim {expected:?}")]
    NotCallersUid {
        /// The grant's class.
        class: &'static str,
        /// The grant's user.
        user: Scope,
        /// The rule's `uid_claim`.
        claim: String,
        /// The claim's value.
        expected: String,
    },
    /// An RTC privilege of a role the rule does not allow.
    #[error("{capability} needs the {role} role, which this rule does not allow (roles: {allowed})")]
    RoleNotAllowed {
        /// The privilege.
        capability: Capability,
        /// `publisher`, `subscriber` or `admin`.
        role: &'static str,
        /// The rule's roles, e.g. `subscriber`.
        allowed: String,
    },
}

impl PolicyRefusal {
    /// The answer's code: always `forbidden` (403).
    pub fn code(&self) -> ErrorCode {
        ErrorCode::Forbidden
    }
}

fn wildcard_user(user: &Scope) -> String {
    if *user == Scope::Any {
        "any user (uid 0)".to_owned()
    } else {
        user.to_string()
    }
}

/// One policy rule.
#[derive(Clone, Debug)]
pub struct Rule {
    /// Named in refusals and logs.
    pub name: String,
    /// Selects callers with one of these API key names (empty: any).
    pub api_keys: Vec<String>,
    /// Selects JWT callers whose claim equals one of the values (all pairs must hold).
    pub claims: Vec<(String, Vec<Value>)>,
    /// Services that may be issued.
    pub services: Vec<String>,
    /// Channel patterns (empty: any channel).
    pub channels: Vec<String>,
    /// Every uid/account/user id must equal this JWT claim.
    pub uid_claim: Option<String>,
    /// May the caller get a publisher token (join and publish audio, video, data)?
    pub allow_publisher: bool,
    /// May the caller get a subscriber token (join only)?
    pub allow_subscriber: bool,
    /// May the caller get a 006 token with the administrate-channel privilege (101)?
    pub allow_admin: bool,
    /// May the caller get privileges this server cannot name (they admit nothing it can judge)?
    pub allow_unnamed_privileges: bool,
    /// Longest lifetime, seconds.
    pub max_lifetime: Option<u32>,
    /// May the caller get tokens for any user or a channel pattern?
    pub allow_wildcards: bool,
    /// This rule's per-caller rate (else the app's).
    pub rate_limit: Option<Rate>,
}

/// The RTC role a token's grants amount to: `publisher` when it may publish, `admin` when it may
/// administrate the channel (006), else `subscriber`; `None` without RTC grants.
pub fn rtc_role<T>(grants: &[Grant<T>]) -> Option<&'static str> {
    let rtc = || grants.iter().filter(|g| g.service == Some(ServiceType::Rtc));
    rtc().next()?;
    Some(if rtc().any(|g| g.capability == Capability::AdministrateChannel) {
        "admin"
    } else if rtc().any(|g| g.capability.is_publish()) {
        "publisher"
    } else {
        "subscriber"
    })
}

/// Whether two grants have the same class, channel and user: the very same texts (one
/// service's grants share them; their addresses are compared, not their contents, so equal
/// texts from two places are simply judged twice).
fn same_scopes<T: AsRef<str>>(a: &Grant<T>, b: &Grant<T>) -> bool {
    fn same<T: AsRef<str>>(a: &Option<Scope<T>>, b: &Option<Scope<T>>) -> bool {
        match (a, b) {
            (None, None) | (Some(Scope::Any), Some(Scope::Any)) => true,
            (Some(Scope::Exact(x)), Some(Scope::Exact(y))) | (Some(Scope::Pattern(x)), Some(Scope::Pattern(y))) => {
                std::ptr::eq(x.as_ref(), y.as_ref())
            }
            _ => false,
        }
    }
    // What the class is made of (`Grant::class`), compared without comparing texts.
    let same_class = a.service_code == b.service_code
        && a.service == b.service
        && a.capability.is_app_level() == b.capability.is_app_level();
    same_class && same(&a.channel, &b.channel) && same(&a.user, &b.user)
}

/// The first rule that selects `caller`, with its index.
pub fn select<'r>(rules: &'r [Rule], caller: &Caller) -> Option<(usize, &'r Rule)> {
    rules.iter().enumerate().find(|(_, r)| r.selects(caller))
}

fn value_matches(claim: &Value, wanted: &Value) -> bool {
    match claim {
        Value::Array(items) => items.iter().any(|item| item == wanted),
        other => other == wanted,
    }
}

/// A claim as the text a uid/account is compared with: a string, or a whole number's digits.
fn claim_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) if n.is_u64() => Some(n.to_string()),
        _ => None,
    }
}

impl Rule {
    /// Whether this rule applies to `caller`.
    pub fn selects(&self, caller: &Caller) -> bool {
        if !self.api_keys.is_empty() {
            match &caller.kind {
                crate::auth::CallerKind::ApiKey { name } if self.api_keys.contains(name) => {}
                _ => return false,
            }
        }
        self.claims.iter().all(|(name, wanted)| {
            caller.claim(name).is_some_and(|claim| wanted.iter().any(|w| value_matches(claim, w)))
        })
    }

    /// Whether the rule allows everything `grants` admit, judged at `now`; `Err` says why not
    /// (the caller gets it with the rule's name). The latest end among the grants is compared
    /// with the rule's maximum lifetime, so no grant outlives it.
    pub fn check<T: AsRef<str>>(
        &self,
        caller: &Caller,
        grants: &[Grant<T>],
        now: UnixTime,
    ) -> Result<(), PolicyRefusal> {
        if let Some(max) = self.max_lifetime {
            if let Some(latest) = grants.iter().max_by_key(|g| g.until) {
                let lifetime = latest.until.as_secs().saturating_sub(now.as_secs());
                if lifetime > u64::from(max) {
                    return Err(PolicyRefusal::TooLong { capability: latest.capability, lifetime, max });
                }
            }
        }
        let mut previous: Option<&Grant<T>> = None;
        for grant in grants {
            // The grants of one service share its class, channel and user (a publisher token:
            // four grants of one RTC service): those are judged once.
            let scopes_judged = previous.is_some_and(|p| same_scopes(p, grant));
            self.check_grant(caller, grant, scopes_judged)?;
            previous = Some(grant);
        }
        Ok(())
    }

    /// `scopes_judged`: the grant's class, channel and user passed already (an earlier grant
    /// had the very same): only its capability is judged. The order of the checks is the same
    /// either way (service, unnamed privilege, channel, user, RTC role).
    fn check_grant<T: AsRef<str>>(
        &self,
        caller: &Caller,
        grant: &Grant<T>,
        scopes_judged: bool,
    ) -> Result<(), PolicyRefusal> {
        let class = grant.class();
        if !scopes_judged && !self.services.iter().any(|s| s == class) {
            return Err(PolicyRefusal::ServiceNotAllowed { class, allowed: self.services.clone() });
        }
        if let Capability::Unnamed(id) = grant.capability {
            if !self.allow_unnamed_privileges {
                return Err(PolicyRefusal::UnnamedPrivilege { class, id });
            }
        }
        if !scopes_judged {
            self.check_scopes(caller, grant, class)?;
        }
        if grant.service == Some(ServiceType::Rtc) {
            let allowed = match grant.capability {
                Capability::JoinChannel => self.allow_subscriber || self.allow_publisher,
                c if c.is_publish() => self.allow_publisher,
                Capability::AdministrateChannel => self.allow_admin,
                _ => true, // unnamed: judged above
            };
            if !allowed {
                let role = match grant.capability {
                    Capability::AdministrateChannel => "admin",
                    Capability::JoinChannel => "subscriber",
                    _ => "publisher",
                };
                return Err(PolicyRefusal::RoleNotAllowed {
                    capability: grant.capability,
                    role,
                    allowed: self.role_names(),
                });
            }
        }
        Ok(())
    }

    /// The grant's channel and user.
    fn check_scopes<T: AsRef<str>>(
        &self,
        caller: &Caller,
        grant: &Grant<T>,
        class: &'static str,
    ) -> Result<(), PolicyRefusal> {
        if let Some(channel) = &grant.channel {
            if channel.is_wildcard() && !self.allow_wildcards {
                return Err(PolicyRefusal::WildcardChannel { class, channel: channel.as_borrowed().into() });
            }
            if !self.channels.is_empty() && !self.channels.iter().any(|p| channel.within(p)) {
                return Err(PolicyRefusal::ChannelNotAllowed {
                    channel: channel.as_borrowed().into(),
                    allowed: self.channels.clone(),
                });
            }
        }
        if let Some(user) = &grant.user {
            if user.is_wildcard() && !self.allow_wildcards {
                return Err(PolicyRefusal::WildcardUser { class, user: user.as_borrowed().into() });
            }
            if let Some(claim) = &self.uid_claim {
                let Some(expected) = caller.claim(claim).and_then(claim_text) else {
                    return Err(PolicyRefusal::NoUidClaim { claim: claim.clone() });
                };
                if user.exact() != Some(expected.as_str()) {
                    return Err(PolicyRefusal::NotCallersUid {
                        class,
                        user: user.as_borrowed().into(),
                        claim: claim.clone(),
                        expected,
                    });
                }
            }
        }
        Ok(())
    }

    fn role_names(&self) -> String {
        let roles: Vec<&str> =
            [(self.allow_publisher, "publisher"), (self.allow_subscriber, "subscriber"), (self.allow_admin, "admin")]
                .into_iter()
                .filter_map(|(on, name)| on.then_some(name))
                .collect();
        roles.join(", ")
    }
}

// ---- configuration --------------------------------------------------------------------------------

/// One `[[apps.policy]]` entry of the TOML file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRule {
    /// Name (refusals say it).
    pub name: String,
    /// Selects callers with these API key names.
    pub api_keys: Option<Vec<String>>,
    /// Selects JWT callers by claims: `{ role = "teacher", groups = ["a", "b"] }`.
    pub claims: Option<Map<String, Value>>,
    /// Services allowed (required).
    pub services: Vec<String>,
    /// Channel patterns allowed (default: any).
    pub channels: Option<Vec<String>>,
    /// uid/account/user ids must equal this JWT claim.
    pub uid_claim: Option<String>,
    /// `["publisher", "subscriber", "admin"]` (default: publisher and subscriber).
    pub roles: Option<Vec<String>>,
    /// Privilege ids the server cannot name (default false).
    pub allow_unnamed_privileges: Option<bool>,
    /// Longest lifetime, seconds (default: the app's maximum).
    pub max_lifetime_secs: Option<u32>,
    /// Any-user and channel-pattern tokens (default false).
    pub allow_wildcards: Option<bool>,
    /// Per-caller rate, e.g. `"30/min"` (default: the app's `rate_limit`).
    pub rate_limit: Option<String>,
    /// Burst of that rate.
    pub rate_limit_burst: Option<u32>,
}

/// Checks the rules of an app against its auth and lifetime.
pub(crate) fn resolve(
    rules: &[FileRule],
    auth: &Auth,
    app_max_lifetime: u32,
    file: &str,
    at: &str,
) -> Result<Vec<Rule>, ServerError> {
    let mut out: Vec<Rule> = Vec::new();
    for (i, r) in rules.iter().enumerate() {
        let here = format!("{at}.policy[{i}]");
        let err = |field: &str, message: String| ServerError::config(file, format!("{here}.{field}"), message);
        let name = r.name.trim();
        if name.is_empty() {
            return Err(err("name", "must not be empty".into()));
        }
        if out.iter().any(|o| o.name == name) {
            return Err(err("name", format!("{name:?} is used by another rule")));
        }
        let api_keys = r.api_keys.clone().unwrap_or_default();
        if !api_keys.is_empty() {
            let Auth::ApiKeys(keys) = auth else {
                return Err(err("api_keys", "selects API keys but the app's auth is not \"api_key\"".into()));
            };
            if let Some(unknown) = api_keys.iter().find(|n| !keys.iter().any(|k| k.name() == n.as_str())) {
                return Err(err("api_keys", format!("no API key is named {unknown:?}")));
            }
        }
        let mut claims = Vec::new();
        for (claim, value) in r.claims.clone().unwrap_or_default() {
            let values = match value {
                Value::Array(items) => items,
                other => vec![other],
            };
            if values.is_empty() || values.iter().any(|v| matches!(v, Value::Array(_) | Value::Object(_) | Value::Null))
            {
                return Err(err(
                    &format!("claims.{claim}"),
                    "must be a string, number, boolean or a list of those".into(),
                ));
            }
            claims.push((claim, values));
        }
        if (!claims.is_empty() || r.uid_claim.is_some()) && !matches!(auth, Auth::Jwt(_)) {
            let field = if claims.is_empty() { "uid_claim" } else { "claims" };
            return Err(err(field, "JWT claims need auth = \"jwt\"".into()));
        }
        let classes = agtoken::grant::grant_classes();
        if r.services.is_empty() {
            return Err(err("services", format!("list at least one of {}", classes.join(", "))));
        }
        if let Some(unknown) = r.services.iter().find(|s| !classes.contains(&s.as_str())) {
            return Err(err("services", format!("unknown service {unknown:?} (known: {})", classes.join(", "))));
        }
        let channels = r.channels.clone().unwrap_or_default();
        if channels.iter().any(|c| c.is_empty()) {
            return Err(err("channels", "a pattern must not be empty (use \"*\" for any channel)".into()));
        }
        let (mut allow_publisher, mut allow_subscriber, mut allow_admin) = (true, true, false);
        if let Some(roles) = &r.roles {
            allow_publisher = false;
            allow_subscriber = false;
            for role in roles {
                match role.as_str() {
                    "publisher" => allow_publisher = true,
                    "subscriber" => allow_subscriber = true,
                    "admin" => allow_admin = true,
                    other => {
                        return Err(err("roles", format!("unknown role {other:?} (publisher, subscriber, admin)")));
                    }
                }
            }
        }
        if let Some(max) = r.max_lifetime_secs {
            if max == 0 || max > app_max_lifetime {
                return Err(err(
                    "max_lifetime_secs",
                    format!("must be 1..={app_max_lifetime} seconds (the app's maximum), got {max}"),
                ));
            }
        }
        let rate_limit = match &r.rate_limit {
            Some(text) => Some(
                Rate::parse(text, r.rate_limit_burst)
                    .map_err(|e| ServerError::setting(file, format!("{here}.rate_limit"), e))?,
            ),
            None if r.rate_limit_burst.is_some() => {
                return Err(err("rate_limit_burst", "given without rate_limit".into()));
            }
            None => None,
        };
        out.push(Rule {
            name: name.to_owned(),
            api_keys,
            claims,
            services: r.services.clone(),
            channels,
            uid_claim: r.uid_claim.clone(),
            allow_publisher,
            allow_subscriber,
            allow_admin,
            allow_unnamed_privileges: r.allow_unnamed_privileges.unwrap_or(false),
            max_lifetime: r.max_lifetime_secs,
            allow_wildcards: r.allow_wildcards.unwrap_or(false),
            rate_limit,
        });
    }
    if !auth.is_none() && out.is_empty() {
        return Err(ServerError::config(
            file,
            format!("{at}.policy"),
            "auth is configured but no [[apps.policy]] rule says what callers may get: every request would be refused",
        ));
    }
    if auth.is_none() && !out.is_empty() {
        return Err(ServerError::config(
            file,
            format!("{at}.policy"),
            "policy rules need authenticated callers: set auth = \"api_key\" or \"jwt\"",
        ));
    }
    Ok(out)
}

/// `a, b, c` of the rule names (start-up log).
pub(crate) fn names(rules: &[Rule]) -> String {
    let mut s = String::new();
    for (i, r) in rules.iter().enumerate() {
        let _ = write!(s, "{}{}", if i > 0 { ", " } else { "" }, r.name);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::CallerKind;

    const NOW: UnixTime = UnixTime(1_700_000_000);

    fn rule() -> Rule {
        Rule {
            name: "students".into(),
            api_keys: vec![],
            claims: vec![("role".into(), vec![Value::from("student")])],
            services: vec!["rtc".into(), "rtm".into()],
            channels: vec!["class-*".into()],
            uid_claim: Some("sub".into()),
            allow_publisher: false,
            allow_subscriber: true,
            allow_admin: false,
            allow_unnamed_privileges: false,
            max_lifetime: Some(600),
            allow_wildcards: false,
            rate_limit: None,
        }
    }

    fn jwt(claims: &str) -> Caller {
        Caller { id: "jwt:x".into(), kind: CallerKind::Jwt { claims: serde_json::from_str(claims).unwrap() } }
    }

    fn scope(text: &str) -> Scope {
        match text {
            "" | "*" => Scope::Any,
            t if t.contains('*') => Scope::Pattern(t.into()),
            t => Scope::Exact(t.into()),
        }
    }

    fn rtc(channel: &str, user: &str, capability: Capability, secs: u64) -> Grant {
        Grant {
            service_code: 1,
            service: Some(ServiceType::Rtc),
            channel: Some(scope(channel)),
            user: Some(scope(user)),
            capability,
            until: NOW.plus_secs(secs),
        }
    }

    /// A grant of a service without a channel, for user 42, for a minute.
    fn user_grant(service: ServiceType, capability: Capability) -> Grant {
        Grant {
            service_code: service.code(),
            service: Some(service),
            channel: None,
            user: Some(scope("42")),
            capability,
            until: NOW.plus_secs(60),
        }
    }

    fn join(channel: &str, user: &str) -> Grant {
        rtc(channel, user, Capability::JoinChannel, 600)
    }

    #[test]
    fn selection_by_claims_and_keys() {
        let r = rule();
        assert!(r.selects(&jwt(r#"{"sub":"42","role":"student"}"#)));
        assert!(r.selects(&jwt(r#"{"sub":"42","role":["x","student"]}"#)));
        assert!(!r.selects(&jwt(r#"{"sub":"42","role":"teacher"}"#)));
        assert!(!r.selects(&jwt(r#"{"sub":"42"}"#)));
        let keyed = Rule { api_keys: vec!["backend".into()], claims: vec![], ..rule() };
        let backend = Caller { id: "key:backend".into(), kind: CallerKind::ApiKey { name: "backend".into() } };
        let other = Caller { id: "key:other".into(), kind: CallerKind::ApiKey { name: "other".into() } };
        assert!(keyed.selects(&backend) && !keyed.selects(&other));
        let rules = vec![keyed, rule()];
        assert_eq!(select(&rules, &backend).map(|(i, _)| i), Some(0));
        assert!(select(&rules, &other).is_none());
    }

    #[test]
    fn each_rule_refuses_with_a_reason() {
        let r = rule();
        let caller = jwt(r#"{"sub":"42","role":"student"}"#);
        assert_eq!(r.check(&caller, &[join("class-1", "42")], NOW), Ok(()));
        let rtm = user_grant(ServiceType::Rtm, Capability::RtmLogin);
        assert_eq!(r.check(&caller, &[join("class-1", "42"), rtm.clone()], NOW), Ok(()));
        let chat_app = Grant {
            service_code: 5,
            service: Some(ServiceType::Chat),
            channel: None,
            user: None,
            capability: Capability::ChatApp,
            until: NOW.plus_secs(60),
        };
        let cases: Vec<(Vec<Grant>, &str)> = vec![
            (vec![join("class-1", "43")], "not the caller's sub"),
            (vec![join("staff", "42")], "channel \"staff\" is not allowed"),
            (vec![join("class-1", "42"), rtc("class-1", "42", Capability::PublishAudio, 60)], "publisher role"),
            (vec![rtc("class-1", "42", Capability::AdministrateChannel, 60)], "admin role"),
            (vec![rtc("class-1", "42", Capability::Unnamed(5), 60)], "allow_unnamed_privileges"),
            (vec![rtc("class-1", "42", Capability::JoinChannel, 601)], "longer than this rule's maximum"),
            (vec![join("class-1", "42"), rtc("class-1", "42", Capability::Unnamed(7), 90_000)], "maximum of 600"),
            (vec![join("class-*", "42")], "wildcard"),
            (vec![join("class-1", "")], "any user"),
            (vec![join("class-1", "4*")], "wildcard"),
            (vec![chat_app], "chat_app is not allowed"),
            (vec![Grant { user: Some(scope("43")), ..rtm }], "rtm uid/account \"43\""),
        ];
        for (grants, expected) in cases {
            let e = r.check(&caller, &grants, NOW).unwrap_err().to_string();
            assert!(e.contains(expected), "{e} (expected {expected})");
        }
        let open = Rule { allow_wildcards: true, uid_claim: None, ..rule() };
        assert_eq!(open.check(&caller, &[join("class-*", "")], NOW), Ok(()));
        assert_eq!(open.check(&caller, &[join("class-a*", "")], NOW), Ok(()));
        assert!(open.check(&caller, &[join("*", "")], NOW).is_err(), "* is wider than class-*");
        assert!(open.check(&caller, &[join("", "")], NOW).is_err(), "any channel is wider than class-*");
        let publisher = Rule { allow_publisher: true, allow_subscriber: false, uid_claim: None, ..rule() };
        let publish = rtc("class-1", "42", Capability::PublishVideo, 60);
        assert_eq!(publisher.check(&caller, &[join("class-1", "42"), publish], NOW), Ok(()));
        assert_eq!(publisher.check(&caller, &[join("class-1", "42")], NOW), Ok(()), "join is part of publishing");
    }

    #[test]
    fn refusals_are_variants_with_the_values_involved() {
        let r = rule();
        let caller = jwt(r#"{"sub":"42","role":"student"}"#);
        let refuse = |grants: &[Grant]| r.check(&caller, grants, NOW).unwrap_err();
        let staff = refuse(&[join("staff", "42")]);
        assert_eq!(
            staff,
            PolicyRefusal::ChannelNotAllowed { channel: Scope::Exact("staff".into()), allowed: vec!["class-*".into()] }
        );
        assert_eq!(staff.to_string(), "channel \"staff\" is not allowed (allowed: class-*)");
        assert_eq!(
            refuse(&[join("class-1", "43")]),
            PolicyRefusal::NotCallersUid {
                class: "rtc",
                user: Scope::Exact("43".into()),
                claim: "sub".into(),
                expected: "42".into()
            }
        );
        assert_eq!(
            refuse(&[rtc("class-1", "42", Capability::JoinChannel, 601)]),
            PolicyRefusal::TooLong { capability: Capability::JoinChannel, lifetime: 601, max: 600 }
        );
        assert_eq!(
            refuse(&[rtc("class-1", "42", Capability::PublishAudio, 60)]),
            PolicyRefusal::RoleNotAllowed {
                capability: Capability::PublishAudio,
                role: "publisher",
                allowed: "subscriber".into()
            }
        );
        let anyone = refuse(&[join("class-1", "")]);
        assert_eq!(anyone, PolicyRefusal::WildcardUser { class: "rtc", user: Scope::Any });
        assert_eq!(anyone.to_string(), "rtc token for any user (uid 0): wildcard tokens are not allowed");
        assert_eq!(
            refuse(&[rtc("class-1", "42", Capability::Unnamed(5), 60)]),
            PolicyRefusal::UnnamedPrivilege { class: "rtc", id: 5 }
        );
        assert_eq!(
            refuse(&[join("class-*", "42")]),
            PolicyRefusal::WildcardChannel { class: "rtc", channel: Scope::Pattern("class-*".into()) }
        );
        let no_sub = jwt(r#"{"role":"student"}"#);
        assert_eq!(
            r.check(&no_sub, &[join("class-1", "42")], NOW),
            Err(PolicyRefusal::NoUidClaim { claim: "sub".into() })
        );
        let rtm_only = Rule { services: vec!["rtm".into()], ..rule() };
        let e = rtm_only.check(&caller, &[join("class-1", "42")], NOW).unwrap_err();
        assert_eq!(e, PolicyRefusal::ServiceNotAllowed { class: "rtc", allowed: vec!["rtm".into()] });
        assert_eq!(e.code(), ErrorCode::Forbidden);
    }

    #[test]
    fn the_scopes_one_service_shares_are_judged_once_and_every_other_grant_in_full() {
        let caller = jwt(r#"{"sub":"42","role":"student"}"#);
        let publisher = Rule { allow_publisher: true, ..rule() };
        // One service's grants share their texts (as the library's grants do).
        let join_shared = join("class-1", "42");
        let publish_shared = Grant { capability: Capability::PublishAudio, ..join_shared.clone() };
        assert!(same_scopes(&join_shared, &publish_shared));
        // Equal texts from two places are not taken as the same (judged again).
        assert!(!same_scopes(&join_shared, &join("class-1", "42")));
        assert_eq!(publisher.check(&caller, &[join_shared.clone(), publish_shared.clone()], NOW), Ok(()));
        // What the shared scopes do not cover is still judged for every grant: the capability.
        let unnamed = Grant { capability: Capability::Unnamed(9), ..join_shared.clone() };
        assert_eq!(
            publisher.check(&caller, &[join_shared.clone(), unnamed], NOW),
            Err(PolicyRefusal::UnnamedPrivilege { class: "rtc", id: 9 })
        );
        assert!(rule().check(&caller, &[join_shared.clone(), publish_shared], NOW).is_err(), "subscriber only");
        // A later grant with other texts is judged in full.
        let staff = publisher.check(&caller, &[join_shared, join("staff", "42")], NOW).unwrap_err();
        assert!(matches!(staff, PolicyRefusal::ChannelNotAllowed { .. }), "{staff}");
        // The same texts under another class (a Chat user's and the Chat app's grant) are judged
        // again: the class is part of what is shared.
        let chat_user = user_grant(ServiceType::Chat, Capability::ChatUser);
        let chat_app = Grant { capability: Capability::ChatApp, ..chat_user.clone() };
        assert!(!same_scopes(&chat_user, &chat_app));
        let chat = Rule { services: vec!["chat".into()], ..rule() };
        assert_eq!(chat.check(&caller, std::slice::from_ref(&chat_user), NOW), Ok(()));
        assert_eq!(
            chat.check(&caller, &[chat_user, chat_app], NOW),
            Err(PolicyRefusal::ServiceNotAllowed { class: "chat_app", allowed: vec!["chat".into()] })
        );
    }

    #[test]
    fn classes_and_roles_come_from_grants() {
        let app: Grant = Grant {
            service_code: 7,
            service: Some(ServiceType::Apaas),
            channel: None,
            user: None,
            capability: Capability::ApaasApp,
            until: NOW,
        };
        assert_eq!(app.class(), "apaas_app");
        assert_eq!(join("a", "1").class(), "rtc");
        let unknown = Grant { service_code: 99, service: None, capability: Capability::ServiceOnly, ..app };
        assert_eq!(unknown.class(), "other");
        assert_eq!(rtc_role(&[join("a", "1")]), Some("subscriber"));
        assert_eq!(rtc_role(&[join("a", "1"), rtc("a", "1", Capability::PublishData, 1)]), Some("publisher"));
        assert_eq!(rtc_role(&[rtc("a", "1", Capability::AdministrateChannel, 1)]), Some("admin"));
        assert_eq!(rtc_role(&[unknown]), None);
    }
}
