//! Conformance against the vectors produced by Agora's official libraries
//! (`tests/data/public.jsonl`; see `tests/data/VECTORS.md`).
//!
//! - 006 tokens are reproduced byte for byte; 007 tokens after zlib inflation (the deflate
//!   step may differ, see VECTORS.md), with the signature.
//! - Raw vectors are rebuilt from both their call arguments (insertion order) and their
//!   parsed structure (packed order).
//! - Builder vectors go through our builders: `unchecked` reproduces every one; strict
//!   builders either reproduce it or refuse it, exactly when it breaks a documented rule
//!   (the rules are restated here, independently of `validate.rs`).
//! - Every reference token parses into the vector's structure and verifies.

use std::collections::BTreeSet;
use std::io::Read;

use agtoken::spec;
use agtoken::{
    Action, ApaasToken, AppCertificate, AppId, CertificateSet, ChatToken, EducationToken, Error, Expiry, FpaToken,
    Role, Role006, RtcToken, Rtm2Permission, Rtm2Permissions, Rtm2Resource, RtmToken, Token, Uid, UnixTime,
};
use serde_json::Value;

fn vectors() -> Vec<Value> {
    let text = include_str!("data/public.jsonl");
    let all: Vec<Value> =
        text.lines().filter(|l| !l.trim().is_empty()).map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(all.len(), 411, "the public vector set has 411 vectors");
    all
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_else(|| panic!("{key} is not a string in {v}"))
}

fn n(v: &Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or_else(|| panic!("{key} is not a number in {v}"))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Inflates a 007 token with an independent zlib (flate2), not our own inflater.
fn inflate_007(token: &str) -> Vec<u8> {
    use base64::Engine as _;
    let compressed = base64::engine::general_purpose::STANDARD.decode(&token[3..]).expect("base64");
    let mut out = Vec::new();
    flate2::read::ZlibDecoder::new(&compressed[..]).read_to_end(&mut out).expect("a valid zlib stream");
    out
}

/// Asserts `ours` reproduces the reference token of `v`.
fn assert_reproduces(v: &Value, ours: &str, how: &str) {
    let id = s(v, "id");
    if s(v, "version") == "006" {
        assert_eq!(ours, s(v, "token"), "{id} ({how}): 006 token differs");
    } else {
        assert!(ours.starts_with("007"), "{id} ({how})");
        let content = inflate_007(ours);
        assert_eq!(hex(&content), s(v, "content_hex"), "{id} ({how}): inflated content differs");
        assert_eq!(hex(&content[2..34]), s(v, "signature_hex"), "{id} ({how}): signature differs");
    }
}

fn app(v: &Value) -> (AppId, AppCertificate) {
    let a = &v["args"];
    (AppId::unchecked(s(a, "app_id")).unwrap(), AppCertificate::unchecked(s(a, "app_certificate")))
}

#[test]
fn every_token_is_rebuilt_from_its_structure() {
    for v in vectors() {
        let mut spec = v["structure"].clone();
        spec["version"] = v["version"].clone();
        spec["app_certificate"] = v["args"]["app_certificate"].clone();
        let ours = spec::build(&spec.to_string()).unwrap_or_else(|e| panic!("{}: {e}", s(&v, "id")));
        assert_reproduces(&v, &ours, "structure");
    }
}

#[test]
fn raw_vectors_are_rebuilt_from_their_calls_in_insertion_order() {
    let mut count = 0;
    for v in vectors().into_iter().filter(|v| s(v, "builder") == "raw") {
        let mut spec = v["args"].clone();
        spec["version"] = v["version"].clone();
        if s(&v, "version") == "007" {
            spec["issue_ts"] = v["issue_ts"].clone();
        } else if spec["uid"].is_null() {
            spec["uid"] = spec["account"].clone();
        }
        let ours = spec::build(&spec.to_string()).unwrap_or_else(|e| panic!("{}: {e}", s(&v, "id")));
        assert_reproduces(&v, &ours, "raw calls");
        count += 1;
    }
    assert_eq!(count, 80);
}

#[test]
fn every_reference_token_parses_into_its_structure_and_verifies() {
    for v in vectors() {
        let id = s(&v, "id");
        let token = Token::parse(s(&v, "token")).unwrap_or_else(|e| panic!("{id}: {e}"));
        let (app_id, cert) = app(&v);
        let st = &v["structure"];
        let (channel, uid) = (st["channel_name"].as_str(), st["uid"].as_str());
        let mut json = serde_json::to_value(spec::describe(&token, channel, uid)).unwrap();
        assert_eq!(json["version"], v["version"], "{id}");
        json.as_object_mut().unwrap().remove("version");
        assert_eq!(&json, st, "{id}: parsed structure differs");
        assert_eq!(token.app_id(), app_id.as_str());
        let certs = CertificateSet::new(cert);
        let verified = match &token {
            Token::V007(_) => token.clone().verify(&certs),
            Token::V006(_) => {
                assert!(matches!(token.clone().verify(&certs), Err(Error::IdentityRequired)), "{id}");
                let action = Action::JoinChannel {
                    channel: channel.unwrap().to_owned(),
                    uid: Uid::Account(uid.unwrap().to_owned()),
                };
                token.clone().verify_for(&certs, &action)
            }
        };
        assert_eq!(verified.unwrap_or_else(|e| panic!("{id}: {e}")).certificate_index(), 0);
        // The signature check must be able to fail: another certificate, then the real one as secondary.
        let other = AppCertificate::unchecked("0123456789abcdef0123456789abcdef");
        let both =
            CertificateSet::with_secondary(other.clone(), AppCertificate::unchecked(s(&v["args"], "app_certificate")));
        if let Token::V007(_) = &token {
            assert!(matches!(token.clone().verify(&CertificateSet::new(other)), Err(Error::InvalidSignature { .. })));
            assert_eq!(token.clone().verify(&both).unwrap().certificate_index(), 1, "{id}");
        }
    }
}

// ---- builder vectors -------------------------------------------------------------------

/// Documented rules, restated: which fields an input breaks.
struct Rules {
    broken: BTreeSet<&'static str>,
    issued_at: u64,
}

impl Rules {
    fn new(issued_at: u64) -> Self {
        Rules { broken: BTreeSet::new(), issued_at }
    }
    fn channel(&mut self, field: &'static str, c: &str) {
        let allowed = |ch: char| ch.is_ascii_alphanumeric() || " !#$%&()+-:;<=.>?@[]^_{}|~,*".contains(ch);
        if c.len() >= 64 || !c.chars().all(allowed) {
            self.broken.insert(field);
        }
    }
    fn bytes(&mut self, field: &'static str, value: &str, max: usize) {
        if value.is_empty() || value.len() > max {
            self.broken.insert(field);
        }
    }
    /// 007: seconds after issue; 0 = unlimited; over 86400 refused.
    fn relative(&mut self, field: &'static str, secs: u64) {
        if secs > 86400 {
            self.broken.insert(field);
        }
    }
    /// 006: absolute; 0 = unlimited; before issue or more than 24 h after refused.
    fn absolute(&mut self, field: &'static str, at: u64) {
        if at != 0 && (at <= self.issued_at || at - self.issued_at > 86400) {
            self.broken.insert(field);
        }
    }
}

fn rel(secs: u64) -> Expiry {
    if secs == 0 {
        Expiry::Unlimited
    } else {
        Expiry::secs(secs)
    }
}

fn abs(at: u64) -> Expiry {
    if at == 0 {
        Expiry::Unlimited
    } else {
        Expiry::At(UnixTime::from_secs(at))
    }
}

/// Runs builder vector `v` with strict rules or unchecked; returns the token or the error.
fn run_builder(v: &Value, strict: bool, rules: &mut Rules) -> agtoken::Result<String> {
    let a = &v["args"];
    let (app_id, cert) = app(v);
    let issued = UnixTime::from_secs(rules.issued_at);
    let salt = n(v, "salt") as u32;
    let builder = s(v, "builder");
    macro_rules! finish {
        ($b:expr, $build:ident) => {{
            let b = $b.issued_at(issued).salt(salt);
            if strict {
                b.$build()
            } else {
                b.unchecked().$build()
            }
        }};
    }
    if s(v, "version") == "006" {
        let at = n(a, "privilege_expired_ts");
        return match builder {
            "rtc.uid" | "rtc.account" => {
                let uid = if builder == "rtc.uid" {
                    Uid::Int(n(a, "uid") as u32)
                } else {
                    Uid::Account(s(a, "account").into())
                };
                rules.channel("channel", s(a, "channel_name"));
                if let Uid::Account(acc) = &uid {
                    rules.bytes("account", acc, 255);
                }
                let role = Role006::from_code(n(a, "role_code") as u32).expect("a 006 role");
                rules.absolute("join_expire", at);
                if role != Role006::Subscriber {
                    for f in ["publish_audio_expire", "publish_video_expire", "publish_data_expire"] {
                        rules.absolute(f, at);
                    }
                }
                let b = RtcToken::builder(&app_id, &cert)
                    .channel(s(a, "channel_name"))
                    .uid(uid)
                    .role(role)
                    .privileges_expire(abs(at));
                finish!(b, build_v006)
            }
            "rtm" => {
                rules.bytes("user_id", s(a, "user_account"), 64);
                rules.absolute("expire", at);
                finish!(RtmToken::builder(&app_id, &cert, s(a, "user_account")).expires(abs(at)), build_v006)
            }
            other => panic!("unexpected 006 builder {other}"),
        };
    }
    match builder {
        "rtc.uid" | "rtc.account" | "rtc.with_rtm" | "rtc.uid_privilege" | "rtc.account_privilege" => {
            let uid = if builder.ends_with("uid") || builder == "rtc.uid_privilege" {
                Uid::Int(n(a, "uid") as u32)
            } else {
                Uid::Account(s(a, "account").into())
            };
            rules.channel("channel", s(a, "channel_name"));
            if let Uid::Account(acc) = &uid {
                rules.bytes("account", acc, 255);
            }
            let token_expire = n(a, "token_expire");
            rules.relative("expire", token_expire);
            let mut b =
                RtcToken::builder(&app_id, &cert).channel(s(a, "channel_name")).uid(uid).expires(rel(token_expire));
            if builder.ends_with("_privilege") {
                let fields = [
                    ("join_channel_privilege_expire", "join_expire"),
                    ("pub_audio_privilege_expire", "publish_audio_expire"),
                    ("pub_video_privilege_expire", "publish_video_expire"),
                    ("pub_data_stream_privilege_expire", "publish_data_expire"),
                ];
                for (arg, field) in fields {
                    rules.relative(field, n(a, arg));
                }
                b = b
                    .role(Role::Publisher)
                    .join_expires(rel(n(a, fields[0].0)))
                    .publish_audio_expires(rel(n(a, fields[1].0)))
                    .publish_video_expires(rel(n(a, fields[2].0)))
                    .publish_data_expires(rel(n(a, fields[3].0)));
            } else {
                let role = Role::from_reference_code(n(a, "role_code") as u32);
                let p = n(a, "privilege_expire");
                rules.relative("join_expire", p);
                if role == Role::Publisher {
                    for f in ["publish_audio_expire", "publish_video_expire", "publish_data_expire"] {
                        rules.relative(f, p);
                    }
                }
                b = b.role(role).privileges_expire(rel(p));
            }
            if builder == "rtc.with_rtm" {
                rules.bytes("rtm_user_id", s(a, "account"), 64);
                rules.relative("rtm_login_expire", token_expire);
                b = b.with_rtm(s(a, "account"), None);
            }
            finish!(b, build)
        }
        "rtc.with_rtm2" | "convoai" | "stt" => {
            let uid = match (a["rtc_uid"].as_u64(), a["rtc_account"].as_str()) {
                (Some(u), _) => Uid::Int(u as u32),
                (None, Some(acc)) => {
                    rules.bytes("account", acc, 255);
                    Uid::Account(acc.into())
                }
                _ => panic!("no rtc uid"),
            };
            rules.channel("channel", s(a, "channel_name"));
            let role = Role::from_reference_code(n(a, "role_code") as u32);
            rules.relative("expire", n(a, "rtc_token_expire"));
            rules.relative("join_expire", n(a, "join_channel_privilege_expire"));
            if role == Role::Publisher {
                rules.relative("publish_audio_expire", n(a, "pub_audio_privilege_expire"));
                rules.relative("publish_video_expire", n(a, "pub_video_privilege_expire"));
                rules.relative("publish_data_expire", n(a, "pub_data_stream_privilege_expire"));
            }
            rules.bytes("rtm_user_id", s(a, "rtm_user_id"), 64);
            rules.relative("rtm_login_expire", n(a, "rtm_token_expire"));
            let mut b = RtcToken::builder(&app_id, &cert)
                .channel(s(a, "channel_name"))
                .uid(uid)
                .role(role)
                .expires(rel(n(a, "rtc_token_expire")))
                .join_expires(rel(n(a, "join_channel_privilege_expire")))
                .publish_audio_expires(rel(n(a, "pub_audio_privilege_expire")))
                .publish_video_expires(rel(n(a, "pub_video_privilege_expire")))
                .publish_data_expires(rel(n(a, "pub_data_stream_privilege_expire")))
                .with_rtm(s(a, "rtm_user_id"), Some(rel(n(a, "rtm_token_expire"))));
            if builder == "convoai" {
                b = b.with_convoai();
            } else if builder == "stt" {
                b = b.with_stt();
            }
            finish!(b, build)
        }
        "rtm" | "rtm.permissions" => {
            rules.bytes("user_id", s(a, "user_id"), 64);
            rules.relative("expire", n(a, "expire"));
            let mut b = RtmToken::builder(&app_id, &cert, s(a, "user_id")).expires(rel(n(a, "expire")));
            if builder == "rtm.permissions" {
                let mut table = Rtm2Permissions::new();
                for call in a["permissions"].as_array().unwrap() {
                    let resource = Rtm2Resource::ALL[n(call, "resource_type") as usize];
                    let permission =
                        if n(call, "permission_type") == 0 { Rtm2Permission::Read } else { Rtm2Permission::Write };
                    let list =
                        call["resources"].as_array().unwrap().iter().map(|r| r.as_str().unwrap().to_owned()).collect();
                    table.add(resource, permission, list);
                }
                b = b.permissions(table);
            }
            finish!(b, build)
        }
        "chat.user" => {
            rules.bytes("user_id", s(a, "user_id"), 255);
            rules.relative("expire", n(a, "expire"));
            finish!(ChatToken::user(&app_id, &cert, s(a, "user_id")).expires(rel(n(a, "expire"))), build)
        }
        "chat.app" => {
            rules.relative("expire", n(a, "expire"));
            finish!(ChatToken::app(&app_id, &cert).expires(rel(n(a, "expire"))), build)
        }
        "fpa" => finish!(FpaToken::builder(&app_id, &cert), build),
        "apaas.room_user" | "education.room_user" => {
            rules.bytes("room_uuid", s(a, "room_uuid"), 255);
            rules.bytes("user_uuid", s(a, "user_uuid"), 64);
            rules.relative("expire", n(a, "expire"));
            let b = if builder.starts_with("apaas") { ApaasToken::room_user } else { EducationToken::room_user };
            let role = a["role"].as_i64().expect("apaas role") as i16;
            // These vectors were made by the npm package: its shape is `node_compatible` (see
            // `room_user_by_default_adds_the_room_user_privilege_to_the_npm_vectors` below).
            let b = b(&app_id, &cert, s(a, "room_uuid"), s(a, "user_uuid"), role).node_compatible();
            finish!(b.expires(rel(n(a, "expire"))), build)
        }
        "apaas.user" | "education.user" => {
            rules.bytes("user_uuid", s(a, "user_uuid"), 255);
            rules.relative("expire", n(a, "expire"));
            finish!(ApaasToken::user(&app_id, &cert, s(a, "user_uuid")).expires(rel(n(a, "expire"))), build)
        }
        "apaas.app" | "education.app" => {
            rules.relative("expire", n(a, "expire"));
            finish!(ApaasToken::app(&app_id, &cert).expires(rel(n(a, "expire"))), build)
        }
        other => panic!("unexpected 007 builder {other}"),
    }
}

#[test]
fn every_builder_vector_is_reproduced_unchecked_and_refused_strictly_only_when_it_breaks_a_rule() {
    let (mut reproduced, mut refused, mut total) = (0, 0, 0);
    for v in vectors().into_iter().filter(|v| s(v, "builder") != "raw") {
        total += 1;
        let id = s(&v, "id").to_owned();
        let issued_at = n(&v, "clock_ms") / 1000;
        let mut rules = Rules::new(issued_at);
        let ours = run_builder(&v, false, &mut rules).unwrap_or_else(|e| panic!("{id} unchecked: {e}"));
        assert_reproduces(&v, &ours, "unchecked builder");
        let mut rules = Rules::new(issued_at);
        let strict = run_builder(&v, true, &mut rules);
        if rules.broken.is_empty() {
            let ours = strict.unwrap_or_else(|e| panic!("{id}: strict builder refused a valid input: {e}"));
            assert_reproduces(&v, &ours, "strict builder");
            reproduced += 1;
        } else {
            match strict {
                Err(Error::Invalid { field, rule, .. }) => {
                    assert!(
                        rules.broken.contains(field),
                        "{id}: refused {field} ({rule}), expected one of {:?}",
                        rules.broken
                    );
                    refused += 1;
                }
                Err(other) => panic!("{id}: expected a rule error on {:?}, got {other}", rules.broken),
                Ok(_) => panic!("{id}: strict builder accepted an input that breaks {:?}", rules.broken),
            }
        }
    }
    assert_eq!(total, 331);
    // Both outcomes are exercised by the corpus.
    assert!(reproduced > 100 && refused > 50, "reproduced {reproduced}, refused {refused}");
}

/// The default room-user builder follows the majority of the official libraries (Go, Python,
/// Java, Kotlin, C++, C#, PHP, Ruby, Dart, Rust, Lua), not the npm package that made the 16
/// room-user vectors. Decoding both, the only difference is that the APaaS service's privilege map gains
/// the room-user privilege `{1: expire}`, and (npm's `role || -1`) that a role of 0 stays 0
/// instead of becoming -1. Everything else, the RTM and Chat services included, is identical.
#[test]
fn room_user_by_default_adds_the_room_user_privilege_to_the_npm_vectors() {
    let (mut count, mut role_zero) = (0, 0);
    for v in vectors().into_iter().filter(|v| s(v, "builder").ends_with(".room_user")) {
        let id = s(&v, "id");
        let a = &v["args"];
        let (app_id, cert) = app(&v);
        let role = a["role"].as_i64().expect("apaas role") as i16;
        let expire = n(a, "expire");
        let b = if s(&v, "builder").starts_with("apaas") { ApaasToken::room_user } else { EducationToken::room_user };
        let ours = b(&app_id, &cert, s(a, "room_uuid"), s(a, "user_uuid"), role)
            .issued_at(UnixTime::from_secs(n(&v, "issue_ts")))
            .salt(n(&v, "salt") as u32)
            .expires(rel(expire))
            .unchecked()
            .build()
            .unwrap_or_else(|e| panic!("{id}: {e}"));
        let parsed = Token::parse(&ours).unwrap_or_else(|e| panic!("{id}: {e}"));
        parsed.clone().verify(&CertificateSet::new(cert.clone())).unwrap_or_else(|e| panic!("{id}: {e}"));
        let mut ours = serde_json::to_value(spec::describe(&parsed, None, None)).unwrap();
        ours.as_object_mut().unwrap().remove("version");

        let npm = &v["structure"];
        assert_ne!(&ours, npm, "{id}: the default builder must differ from npm");
        let mut expected = npm.clone();
        let apaas: Vec<&mut Value> =
            expected["services"].as_array_mut().unwrap().iter_mut().filter(|sv| sv["name"] == "apaas").collect();
        assert_eq!(apaas.len(), 1, "{id}: one APaaS service");
        let service = apaas.into_iter().next().unwrap();
        assert_eq!(service["privileges"], serde_json::json!({}), "{id}: npm grants no APaaS privilege");
        service["privileges"] = serde_json::json!({ "1": expire });
        if role == 0 {
            assert_eq!(service["role"], -1, "{id}: npm stores role 0 as -1");
            service["role"] = 0.into();
            role_zero += 1;
        } else {
            assert_eq!(service["role"], role, "{id}");
        }
        assert_eq!(ours, expected, "{id}: default builder vs npm vector plus the room-user privilege");
        count += 1;
    }
    assert_eq!(count, 16);
    assert_eq!(role_zero, 2, "both role-0 vectors are exercised");
}

/// Our deflate must not make tokens longer than the reference's on average (the size
/// target): rebuild every 007 vector and compare the token strings' total length.
#[test]
fn our_007_tokens_are_no_longer_on_average_than_the_reference() {
    let (mut ours, mut reference, mut count) = (0usize, 0usize, 0usize);
    for v in vectors().into_iter().filter(|v| s(v, "version") == "007") {
        let mut spec = v["structure"].clone();
        spec["version"] = v["version"].clone();
        spec["app_certificate"] = v["args"]["app_certificate"].clone();
        ours += spec::build(&spec.to_string()).unwrap().len();
        reference += s(&v, "token").len();
        count += 1;
    }
    assert_eq!(count, 312);
    eprintln!("average token length: ours {:.1}, reference {:.1}", ours as f64 / 312.0, reference as f64 / 312.0);
    assert!(ours <= reference, "ours {ours} > reference {reference} characters over 312 tokens");
}
