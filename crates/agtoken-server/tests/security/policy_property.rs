//! Property: whatever a caller asks, on any issuing route, every token the server returns admits
//! only what the caller's rule allows, as judged by the library's admission check (Agora's
//! answer) at sampled instants: issue time, +1 s, each grant's end ± 1 s, and +24 h.
//!
//! Random rules (one API key each) × random requests on every issuing route, and random 006/007
//! structures on `/v1/tokens`, against two servers (007 and 006 apps). The oracle restates the
//! rule independently of the server's policy code: a service the rule lists, a channel its
//! patterns match, publishing only with the publisher role, nothing admitted past the rule's (or
//! the app's) maximum lifetime, and no wildcard (two channels, two users, or uid 0) unless the
//! rule allows wildcards.

use std::collections::BTreeSet;
use std::sync::Arc;

use agtoken::{Action, AppCertificate, AppId, CertificateSet, Media, Token, Uid, UnixTime};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config as ProptestConfig, TestRunner};
use serde_json::{json, Value};

use crate::common::*;
use crate::support::*;

const APP_MAX: u64 = 3600;
const CHANNELS: &[&str] = &["room-1", "room-2", "lobby-1", "staff", "", "*", "room-*"];
const UID_TEXTS: &[&str] = &["42", "0", "00", "+0", "7", "alice", ""];
const SERVICES: &[&str] = &["rtc", "rtm", "chat", "chat_app", "fpa", "apaas", "apaas_app", "rtm2"];

#[derive(Clone, Debug)]
struct RuleSpec {
    services: Vec<&'static str>,
    channels: Vec<&'static str>,
    roles: Option<Vec<&'static str>>,
    max_lifetime: Option<u64>,
    allow_wildcards: bool,
    allow_unnamed: bool,
}

impl RuleSpec {
    fn max(&self) -> u64 {
        self.max_lifetime.unwrap_or(APP_MAX)
    }
    fn allows_role(&self, role: &str) -> bool {
        self.roles.as_ref().map_or(role != "admin", |r| r.contains(&role))
    }
    fn toml(&self, i: usize) -> String {
        let list = |items: &[&str]| items.iter().map(|s| format!("{s:?}")).collect::<Vec<_>>().join(", ");
        let mut out = format!(
            "[[apps.policy]]\nname = \"r{i}\"\napi_keys = [\"k{i}\"]\nservices = [{}]\nallow_wildcards = {}\nallow_unnamed_privileges = {}\n",
            list(&self.services),
            self.allow_wildcards,
            self.allow_unnamed
        );
        if !self.channels.is_empty() {
            out += &format!("channels = [{}]\n", list(&self.channels));
        }
        if let Some(roles) = &self.roles {
            out += &format!("roles = [{}]\n", list(roles));
        }
        if let Some(max) = self.max_lifetime {
            out += &format!("max_lifetime_secs = {max}\n");
        }
        out
    }
}

fn rule_spec() -> impl Strategy<Value = RuleSpec> {
    (
        proptest::sample::subsequence(SERVICES.to_vec(), 1..=SERVICES.len()),
        prop_oneof![Just(vec![]), proptest::sample::subsequence(vec!["room-*", "room-1", "lobby-*", "*"], 1..=2)],
        prop_oneof![
            Just(None),
            proptest::sample::subsequence(vec!["publisher", "subscriber", "admin"], 1..=3).prop_map(Some)
        ],
        prop_oneof![Just(None), proptest::sample::select(vec![60u64, 600, 1800, 3600]).prop_map(Some)],
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(services, channels, roles, max_lifetime, allow_wildcards, allow_unnamed)| RuleSpec {
            services,
            channels,
            roles,
            max_lifetime,
            allow_wildcards,
            allow_unnamed,
        })
}

fn key(i: usize) -> String {
    format!("agtk_property_key_{i:02}_0123456789abcdef0123456789abcdef01234567")
}

/// One request: method, path, body.
type Request = (String, String, String);

fn channel() -> impl Strategy<Value = &'static str> {
    proptest::sample::select(CHANNELS.to_vec())
}
fn uid_text() -> impl Strategy<Value = &'static str> {
    proptest::sample::select(UID_TEXTS.to_vec())
}
fn role_text() -> impl Strategy<Value = &'static str> {
    proptest::sample::select(vec!["publisher", "subscriber", "1", "2", "101"])
}
fn lifetime() -> impl Strategy<Value = u64> {
    proptest::sample::select(vec![30u64, 60, 600, 1800, 3600, 5000])
}

/// A privilege map of ids (named and unnamed) → values relative to `now` (0: no limit).
fn privileges(ids: Vec<u16>, relative: bool) -> impl Strategy<Value = Vec<(u16, i64)>> {
    proptest::collection::vec(
        (proptest::sample::select(ids), proptest::sample::select(vec![0i64, 30, 600, 1800, 3700, 90_000])),
        1..4,
    )
    .prop_map(move |mut v| {
        v.sort_by_key(|p| p.0);
        v.dedup_by_key(|p| p.0);
        if !relative {
            v.iter_mut().for_each(|p| p.1 = p.1.min(90_000));
        }
        v
    })
}

fn request(now: u64) -> impl Strategy<Value = Request> {
    let get = |path: String| ("GET".to_owned(), path, String::new());
    let post = |path: &str, body: Value| ("POST".to_owned(), path.to_owned(), body.to_string());
    let service_007 = (
        proptest::sample::select(vec!["rtc", "rtm", "chat", "apaas", "rtm2", "fpa", "streaming"]),
        channel(),
        uid_text(),
        privileges(vec![1, 2, 3, 4, 5, 6], true),
    )
        .prop_map(|(name, channel, uid, privileges)| {
            let privileges: serde_json::Map<String, Value> =
                privileges.into_iter().map(|(id, v)| (id.to_string(), json!(v))).collect();
            match name {
                "rtc" => json!({"name": "rtc", "channel_name": channel, "uid": uid, "privileges": privileges}),
                "apaas" => json!({"name": "apaas", "room_uuid": channel, "user_uuid": uid, "role": 1, "privileges": privileges}),
                "streaming" => json!({"name": "streaming", "channel_name": channel, "account": uid, "privileges": privileges}),
                "fpa" => json!({"name": "fpa", "privileges": privileges}),
                other => json!({"name": other, "user_id": uid, "privileges": privileges}),
            }
        });
    prop_oneof![
        (channel(), 0u32..50, role_text()).prop_map(move |(c, uid, role)| post(
            "/fetch_rtc_token",
            json!({"channelName": c, "uid": uid, "role": role.parse::<u32>().unwrap_or(1)})
        )),
        (channel(), role_text(), uid_text(), lifetime())
            .prop_map(move |(c, role, uid, e)| get(format!("/rtc/{c}/{role}/uid/{uid}/?expiry={e}"))),
        (channel(), role_text(), uid_text()).prop_map(move |(c, role, uid)| get(format!("/rtc/{c}/{role}/userAccount/{uid}/"))),
        (channel(), uid_text(), role_text()).prop_map(move |(c, uid, role)| get(format!("/rtc/{c}/{uid}/{role}/token"))),
        (channel(), role_text(), uid_text(), uid_text())
            .prop_map(move |(c, role, uid, rtm)| get(format!("/rte/{c}/{role}/uid/{uid}/{rtm}/"))),
        uid_text().prop_map(move |u| get(format!("/rtm/{u}/"))),
        Just(get("/chat/app/".into())),
        uid_text().prop_map(move |u| get(format!("/chat/account/{u}/"))),
        Just(get("/chat/app/token".into())),
        uid_text().prop_map(move |u| get(format!("/chat/user/{u}/token"))),
        (proptest::sample::select(vec!["rtc", "rtm", "chat"]), channel(), uid_text(), role_text(), lifetime())
            .prop_map(move |(t, c, uid, role, e)| post(
                "/getToken",
                json!({"tokenType": t, "channel": c, "uid": uid, "role": role, "expire": e})
            )),
        (channel(), uid_text(), any::<bool>(), any::<bool>(), 1u32..3).prop_map(move |(c, uid, rtm, chat, role)| post(
            "/token/generate",
            json!({"channelName": c, "uid": uid, "serviceRtc": {"enable": true, "role": role},
                   "serviceRtm": {"enable": rtm}, "serviceChat": {"enableUser": chat}})
        )),
        (channel(), 0u32..50, role_text(), lifetime(), proptest::option::of(lifetime())).prop_map(
            move |(c, uid, role, e, p)| {
                let mut body = json!({"service": "rtc", "channel": c, "uid": uid, "role": role.parse::<u32>().map_or(json!(role), |_| json!(role)), "expire": e});
                if let Some(p) = p {
                    body["privilege_expire"] = json!(p);
                }
                if role == "101" {
                    body["role"] = json!("publisher");
                }
                post("/v1/tokens", body)
            }
        ),
        (proptest::sample::select(vec!["rtm", "chat", "chat_app", "fpa"]), uid_text(), lifetime()).prop_map(
            move |(s, u, e)| post("/v1/tokens", json!({"service": s, "user_id": u, "expire": e}))
        ),
        (proptest::collection::vec(service_007, 1..3), proptest::sample::select(vec![-120i64, 0, 30, 60]), lifetime())
            .prop_map(move |(services, offset, expire)| post(
                "/v1/tokens",
                json!({"structure": {"issue_ts": (now as i64 + offset), "expire": expire, "services": services}})
            )),
        (channel(), uid_text(), proptest::sample::select(vec![0i64, 60, 600, 3600, 86_400]), privileges(vec![1, 2, 3, 4, 7, 101, 1000], false))
            .prop_map(move |(c, uid, ts, privileges)| {
                let privileges: serde_json::Map<String, Value> = privileges
                    .into_iter()
                    .map(|(id, v)| (id.to_string(), json!(if v == 0 { 0 } else { now as i64 + v })))
                    .collect();
                let mut s = json!({"version": "006", "channel_name": c, "uid": uid, "privileges": privileges});
                if ts != 0 {
                    s["ts"] = json!(now as i64 + ts);
                }
                post("/v1/tokens", json!({"structure": s}))
            }),
    ]
}

/// The tokens in a 200 answer, whatever its shape.
fn tokens_of(reply: &Reply) -> Vec<String> {
    match serde_json::from_str::<Value>(&reply.body) {
        Ok(v) => ["token", "rtcToken", "rtmToken", "chatToken"]
            .iter()
            .filter_map(|k| v[k].as_str().map(str::to_owned))
            .collect(),
        Err(_) => vec![reply.body.clone()],
    }
}

fn actions() -> Vec<Action> {
    let mut out = Vec::new();
    let uids = [
        Uid::Int(42),
        Uid::Int(7),
        Uid::Int(999),
        Uid::Int(0),
        Uid::Account("alice".into()),
        Uid::Account("zz".into()),
    ];
    for channel in ["room-1", "room-2", "lobby-1", "staff", "zz-elsewhere", "42", "alice", "7"] {
        for uid in &uids {
            out.push(Action::JoinChannel { channel: channel.into(), uid: uid.clone() });
            for media in [Media::Audio, Media::Video, Media::Data] {
                out.push(Action::Publish { channel: channel.into(), uid: uid.clone(), media });
            }
        }
    }
    for user in ["42", "7", "alice", "zz", "00", "room-1", "staff", "", "*"] {
        out.push(Action::RtmLogin { user_id: user.into() });
        out.push(Action::ChatLogin { user_id: user.into() });
    }
    out.push(Action::ChatApp);
    out
}

/// Checks one token against the rule; returns how many admissions were looked at.
fn judge(token: &str, app: (&str, &str), rule: &RuleSpec, issued: u64, actions: &[Action]) -> Result<usize, String> {
    let certs = CertificateSet::new(AppCertificate::new(app.1).unwrap());
    let app_id = AppId::new(app.0).unwrap();
    let mut instants: BTreeSet<u64> = [issued, issued + 1, issued + 86_400].into();
    let mut admitted = Vec::new();
    for action in actions {
        let Ok(verified) = Token::parse(token).unwrap().verify_for(&certs, action) else { continue };
        for g in verified.grants() {
            let end = g.until.as_secs();
            instants.extend([end.saturating_sub(1), end, end + 1]);
        }
        for &at in &instants {
            if verified.check(&app_id, action, UnixTime::from_secs(at)).is_ok() {
                admitted.push((action.clone(), at));
            }
        }
    }
    let fail = |what: String| Err(format!("{what}\n  rule {rule:?}\n  token {token}"));
    let mut rtc_channels = BTreeSet::new();
    let mut rtc_users = BTreeSet::new();
    for (action, at) in &admitted {
        // Agora's edge would admit it at `at`: the rule must allow all of that.
        if *at >= issued + rule.max() + 2 {
            return fail(format!("{action:?} admitted at +{} s, past the maximum of {} s", at - issued, rule.max()));
        }
        match action {
            Action::JoinChannel { channel, uid } | Action::Publish { channel, uid, .. } => {
                if !rule.services.contains(&"rtc") {
                    return fail(format!("{action:?} admitted, rtc not allowed"));
                }
                if !rule.channels.is_empty() && !rule.channels.iter().any(|p| agtoken::wildcard::matches(p, channel)) {
                    return fail(format!("{action:?}: channel outside the rule's patterns"));
                }
                if matches!(action, Action::Publish { .. }) && !rule.allows_role("publisher") {
                    return fail(format!("{action:?}: publishing without the publisher role"));
                }
                if !rule.allows_role("publisher") && !rule.allows_role("subscriber") {
                    return fail(format!("{action:?}: joining with neither role allowed"));
                }
                if uid.is_any() && !rule.allow_wildcards {
                    return fail(format!("{action:?}: a token for any user without allow_wildcards"));
                }
                rtc_channels.insert(channel.clone());
                rtc_users.insert(uid.to_string());
            }
            Action::RtmLogin { .. } => {
                if !rule.services.iter().any(|s| *s == "rtm" || *s == "rtm2") {
                    return fail(format!("{action:?} admitted, rtm not allowed"));
                }
            }
            Action::ChatLogin { .. } => {
                if !rule.services.contains(&"chat") {
                    return fail(format!("{action:?} admitted, chat not allowed"));
                }
            }
            Action::ChatApp => {
                if !rule.services.contains(&"chat_app") {
                    return fail(format!("{action:?} admitted, chat_app not allowed"));
                }
            }
        }
    }
    if !rule.allow_wildcards && (rtc_channels.len() > 1 || rtc_users.len() > 1) {
        return fail(format!(
            "one token admits channels {rtc_channels:?} and users {rtc_users:?} without allow_wildcards"
        ));
    }
    Ok(admitted.len())
}

#[test]
fn every_issued_token_admits_only_what_its_rule_allows() {
    let cases: u32 = std::env::var("AGTOKEN_POLICY_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(1000);
    let runtime = Arc::new(tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap());
    let mut rule_runner = TestRunner::default();
    let rules: Vec<RuleSpec> = (0..12).map(|_| rule_spec().new_tree(&mut rule_runner).unwrap().current()).collect();
    let actions = actions();
    let started = std::time::Instant::now();
    // (requests, issued tokens, admissions checked)
    let stats = std::cell::Cell::new((0usize, 0usize, 0usize));
    for version in ["007", "006"] {
        let keys: String = (0..rules.len())
            .map(|i| format!("[[apps.api_keys]]\nname = \"k{i}\"\nsha256 = \"{}\"\n", sha256_hex(&key(i))))
            .collect();
        let policy: String = rules.iter().enumerate().map(|(i, r)| r.toml(i)).collect();
        let settings = format!(
            "auth = \"api_key\"\ntoken_version = \"{version}\"\nmax_lifetime_secs = {APP_MAX}\n\
             default_lifetime_secs = 600\ncompat_lifetime_secs = 600\n{keys}{policy}"
        );
        let config = toml_config(&temp_dir(&format!("policy-property-{version}")), &settings, "");
        let server = runtime.block_on(start(config));
        let now = now_secs();
        let mut runner =
            TestRunner::new(ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() });
        let strategy = (0..rules.len(), request(now));
        let result = runner.run(&strategy, |(i, (method, path, body))| {
            let k = key(i);
            let mut headers = vec![("X-Api-Key", k.as_str())];
            if !body.is_empty() {
                headers.push(("Content-Type", "application/json"));
            }
            let reply = runtime.block_on(server.send(&method, &path, &headers, body.as_bytes()));
            let issued = now_secs();
            stats.set((stats.get().0 + 1, stats.get().1, stats.get().2));
            prop_assert!(reply.status < 500, "{method} {path} {body}: {reply:?}");
            if reply.status != 200 {
                return Ok(());
            }
            for token in tokens_of(&reply) {
                let checked = judge(&token, (APP_ID, CERT), &rules[i], issued.saturating_sub(1), &actions)
                    .map_err(|e| TestCaseError::fail(format!("{method} {path} {body}: {e}")))?;
                let (r, t, c) = stats.get();
                stats.set((r, t + 1, c + checked));
            }
            Ok(())
        });
        runtime.block_on(server.stop()).unwrap();
        if let Err(e) = result {
            panic!("{e}");
        }
    }
    let stats = stats.get();
    eprintln!(
        "policy property: {} requests, {} tokens issued, {} admissions checked, {:.1} s",
        stats.0,
        stats.1,
        stats.2,
        started.elapsed().as_secs_f64()
    );
    assert!(stats.1 > 0, "no request was issued a token: the property checked nothing");
}
