//! Policy: what an authenticated caller may get. An app's `[[apps.policy]]` rules are tried in
//! order; the **first rule that selects the caller** decides (no rule: refused). A rule selects
//! by API key name (`api_keys`) and/or JWT claims (`claims`, each equal to one of the given
//! values, or an array claim containing one); a rule with no selector selects every caller.
//!
//! The rule then allows, for every service in the token about to be issued (checked on the
//! built token itself, so a route cannot describe it wrongly):
//!
//! - `services`: `rtc`, `rtm`, `chat` (a user), `chat_app` (app-level: administration),
//!   `fpa`, `apaas` (a user), `apaas_app`, `rtm2`, `streaming`, `fcdn`, `convoai`, `stt`;
//! - `channels`: `*` patterns the RTC channel (and APaaS room, streaming/FCDN channel) must match;
//! - `uid_claim`: every uid, account and user id in the token must equal this JWT claim
//!   (e.g. `"sub"`);
//! - `roles`: `publisher` and/or `subscriber`;
//! - `max_lifetime_secs`;
//! - `allow_wildcards`: tokens for any user (uid 0 / empty) or a channel pattern (`*`);
//!   off unless set.
//!
//! A refusal (403) names the rule: `policy rule "students": channel "staff" is not allowed …`.

use std::fmt::Write as _;

use agtoken::{Service, Token};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::auth::{Auth, Caller};
use crate::error::ServerError;
use crate::limit::Rate;

/// The service names rules use.
pub const SERVICES: &[&str] = &[
    "rtc",
    "rtm",
    "chat",
    "chat_app",
    "fpa",
    "apaas",
    "apaas_app",
    "rtm2",
    "streaming",
    "fcdn",
    "convoai",
    "stt",
    "other",
];

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
    /// May the caller get a publisher token?
    pub allow_publisher: bool,
    /// May the caller get a subscriber token?
    pub allow_subscriber: bool,
    /// Longest lifetime, seconds.
    pub max_lifetime: Option<u32>,
    /// May the caller get tokens for any user or a channel pattern?
    pub allow_wildcards: bool,
    /// This rule's per-caller rate (else the app's).
    pub rate_limit: Option<Rate>,
}

/// One thing a token grants, as the policy sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant<'a> {
    /// A name of [`SERVICES`].
    pub service: &'static str,
    /// The channel (or room), if the service has one.
    pub channel: Option<&'a str>,
    /// The user (uid text, account, user id), if the service has one; `""` = any user.
    pub user: Option<&'a str>,
    /// RTC: publish privileges.
    pub publisher: bool,
}

fn publishes(privileges: impl IntoIterator<Item = u16>) -> bool {
    privileges.into_iter().any(|id| (2..=4).contains(&id))
}

/// What a parsed token grants. A 006 token stores its channel and uid only as CRC-32, so those
/// come from the route (`channel`, `user`), which built the token from them.
pub fn grants<'a>(token: &'a Token, channel: &'a str, user: &'a str) -> Vec<Grant<'a>> {
    let g = |service, channel, user, publisher| Grant { service, channel, user, publisher };
    match token {
        Token::V006(t) => {
            if t.privileges.contains_key(&1000) {
                vec![g("rtm", None, Some(user), false)]
            } else {
                vec![g("rtc", Some(channel), Some(user), publishes(t.privileges.keys().copied()))]
            }
        }
        Token::V007(t) => t
            .token
            .services
            .iter()
            .map(|s| match s {
                Service::Rtc { channel_name, uid, privileges } => {
                    g("rtc", Some(channel_name.as_str()), Some(uid.as_str()), publishes(privileges.keys().copied()))
                }
                Service::Rtm { user_id, .. } => g("rtm", None, Some(user_id.as_str()), false),
                Service::Rtm2 { user_id, .. } => g("rtm2", None, Some(user_id.as_str()), false),
                Service::Chat { user_id, .. } if user_id.is_empty() => g("chat_app", None, None, false),
                Service::Chat { user_id, .. } => g("chat", None, Some(user_id.as_str()), false),
                Service::Apaas { user_uuid, .. } if user_uuid.is_empty() => g("apaas_app", None, None, false),
                Service::Apaas { room_uuid, user_uuid, .. } => {
                    g("apaas", (!room_uuid.is_empty()).then_some(room_uuid.as_str()), Some(user_uuid.as_str()), false)
                }
                Service::Streaming { channel_name, account, .. } => {
                    g("streaming", Some(channel_name.as_str()), Some(account.as_str()), false)
                }
                Service::Fcdn { channel_name, account, .. } => {
                    g("fcdn", Some(channel_name.as_str()), Some(account.as_str()), false)
                }
                Service::Fpa { .. } => g("fpa", None, None, false),
                Service::ConvoAi { .. } => g("convoai", None, None, false),
                Service::Stt { .. } => g("stt", None, None, false),
                _ => g("other", None, None, false),
            })
            .collect(),
    }
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

    /// Whether the rule allows `grants` valid for `lifetime` seconds; `Err` says why not (the
    /// caller gets it with the rule's name).
    pub fn check(&self, caller: &Caller, grants: &[Grant<'_>], lifetime: u32) -> Result<(), String> {
        if let Some(max) = self.max_lifetime {
            if lifetime > max {
                return Err(format!("a lifetime of {lifetime} s is longer than this rule's maximum of {max} s"));
            }
        }
        for grant in grants {
            if !self.services.iter().any(|s| s == grant.service) {
                return Err(format!(
                    "service {} is not allowed (allowed: {})",
                    grant.service,
                    self.services.join(", ")
                ));
            }
            if let Some(channel) = grant.channel {
                let pattern = channel.is_empty() || channel.contains('*');
                if pattern && !self.allow_wildcards {
                    return Err(format!(
                        "channel {channel:?} is a wildcard (every channel it matches): wildcard tokens are not allowed"
                    ));
                }
                if !self.channels.is_empty() && !self.channels.iter().any(|p| agtoken::wildcard::matches(p, channel)) {
                    return Err(format!("channel {channel:?} is not allowed (allowed: {})", self.channels.join(", ")));
                }
            }
            if let Some(user) = grant.user {
                let any_user = user.is_empty() || (grant.service == "rtc" && user == "0") || user.contains('*');
                if any_user && !self.allow_wildcards {
                    let what = if user.is_empty() || user == "0" {
                        "any user (uid 0)".to_owned()
                    } else {
                        format!("{user:?}")
                    };
                    return Err(format!("{} token for {what}: wildcard tokens are not allowed", grant.service));
                }
                if let Some(claim) = &self.uid_claim {
                    let expected = caller.claim(claim).and_then(claim_text);
                    match expected {
                        None => return Err(format!("the caller's token has no {claim} claim to bind the uid to")),
                        Some(expected) if expected != user => {
                            return Err(format!(
                                "{} uid/account {user:?} is not the caller's {claim} claim {expected:?}",
                                grant.service
                            ))
                        }
                        Some(_) => {}
                    }
                }
            }
            if grant.service == "rtc" {
                if grant.publisher && !self.allow_publisher {
                    return Err("the publisher role is not allowed".into());
                }
                if !grant.publisher && !self.allow_subscriber {
                    return Err("the subscriber role is not allowed".into());
                }
            }
        }
        Ok(())
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
    /// `["publisher", "subscriber"]` (default: both).
    pub roles: Option<Vec<String>>,
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
            if let Some(unknown) = api_keys.iter().find(|n| !keys.iter().any(|k| &k.name == *n)) {
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
        if r.services.is_empty() {
            return Err(err("services", format!("list at least one of {}", SERVICES.join(", "))));
        }
        if let Some(unknown) = r.services.iter().find(|s| !SERVICES.contains(&s.as_str())) {
            return Err(err("services", format!("unknown service {unknown:?} (known: {})", SERVICES.join(", "))));
        }
        let channels = r.channels.clone().unwrap_or_default();
        if channels.iter().any(|c| c.is_empty()) {
            return Err(err("channels", "a pattern must not be empty (use \"*\" for any channel)".into()));
        }
        let (mut allow_publisher, mut allow_subscriber) = (true, true);
        if let Some(roles) = &r.roles {
            allow_publisher = false;
            allow_subscriber = false;
            for role in roles {
                match role.as_str() {
                    "publisher" => allow_publisher = true,
                    "subscriber" => allow_subscriber = true,
                    other => {
                        return Err(err("roles", format!("unknown role {other:?} (publisher, subscriber)")));
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
            Some(text) => Some(Rate::parse(text, r.rate_limit_burst).map_err(|m| err("rate_limit", m))?),
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
            max_lifetime: Some(600),
            allow_wildcards: false,
            rate_limit: None,
        }
    }

    fn jwt(claims: &str) -> Caller {
        Caller { id: "jwt:x".into(), kind: CallerKind::Jwt { claims: serde_json::from_str(claims).unwrap() } }
    }

    fn rtc<'a>(channel: &'a str, user: &'a str, publisher: bool) -> Grant<'a> {
        Grant { service: "rtc", channel: Some(channel), user: Some(user), publisher }
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
        assert_eq!(r.check(&caller, &[rtc("class-1", "42", false)], 600), Ok(()));
        let cases: Vec<(Vec<Grant<'_>>, u32, &str)> = vec![
            (vec![rtc("class-1", "43", false)], 60, "not the caller's sub"),
            (vec![rtc("staff", "42", false)], 60, "channel \"staff\" is not allowed"),
            (vec![rtc("class-1", "42", true)], 60, "publisher"),
            (vec![rtc("class-1", "42", false)], 601, "longer than this rule's maximum"),
            (vec![rtc("class-*", "42", false)], 60, "wildcard"),
            (vec![rtc("class-1", "0", false)], 60, "any user"),
            (vec![rtc("class-1", "", false)], 60, "any user"),
            (vec![Grant { service: "chat_app", channel: None, user: None, publisher: false }], 60, "chat_app"),
        ];
        for (grants, lifetime, expected) in cases {
            let e = r.check(&caller, &grants, lifetime).unwrap_err();
            assert!(e.contains(expected), "{e} (expected {expected})");
        }
        let open = Rule { allow_wildcards: true, uid_claim: None, ..rule() };
        assert_eq!(open.check(&caller, &[rtc("class-*", "", false)], 60), Ok(()));
        assert!(open.check(&caller, &[rtc("*", "", false)], 60).is_err(), "* is wider than class-*");
    }
}
