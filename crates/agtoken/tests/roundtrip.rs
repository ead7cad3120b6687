//! Property tests.
//!
//! - **Round trips**: any structure the format can hold (all ten service types, RTM2
//!   permission tables, repeated services of one type, any privilege map, any UTF-8 text)
//!   encodes, parses back to the same structure (services in packed order: stable sort by
//!   type), and its signature verifies with its certificate and with no other. The JSON spec
//!   form round-trips too. 006 likewise. The builders' tokens admit exactly the action they
//!   were built for, at issue time, and refuse another channel, another user and a later time
//!   with the specific error.
//! - **Hostile input**: parsing arbitrary strings, arbitrary base64, arbitrary zlib streams and
//!   mutated valid tokens returns `Ok` or `Err` and never panics; a mutated token that still
//!   parses verifies exactly when the signed bytes and the signature are unchanged.
//!
//! Independent oracles where it matters: zlib via flate2 (not the crate's own deflate), the
//! packed order via a stable sort written here, the signature via HMAC written here.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::time::Duration;

use agtoken::spec;
use agtoken::v007::ParsedAccessToken2;
use agtoken::v007::{FcdnPrivilege, StreamingPrivilege};
use agtoken::{
    AccessToken006, AccessToken2, Action, ApaasToken, AppCertificate, AppId, CertificateSet, ChatToken, Error, Expiry,
    FcdnToken, FpaToken, Grant, Media, Product, Role, RtcToken, Rtm2Permission, Rtm2Permissions, Rtm2Resource,
    RtmToken, Service, StreamingToken, Token, Uid, UnixTime,
};
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::json;
use sha2::Sha256;

const APP_ID: &str = "970CA35de60c44645bbae8a215061b33";
const CERT: &str = "5CFd2fd1755d40ecb72977518be15d3b";
const OTHER_CERT: &str = "0123456789abcdef0123456789abcdef";
const DAY: u64 = 86_400;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

// ---- helpers ---------------------------------------------------------------------------

/// `prop_assert!(matches!(value, pattern))`, showing the value when it does not match.
macro_rules! prop_assert_matches {
    ($value:expr, $pattern:pat $(if $guard:expr)?) => {{
        let value = &$value;
        prop_assert!(matches!(value, $pattern $(if $guard)?), "{:?} does not match {}", value, stringify!($pattern));
    }};
}

fn zlib(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// Inflates a 007 token with flate2, not the crate's own inflater.
fn inflate_007(token: &str) -> Vec<u8> {
    let compressed = B64.decode(&token[3..]).expect("our tokens are base64");
    let mut out = Vec::new();
    flate2::read::ZlibDecoder::new(&compressed[..]).read_to_end(&mut out).expect("our tokens are zlib");
    out
}

fn token_007(content: &[u8]) -> String {
    format!("007{}", B64.encode(zlib(content)))
}

/// The format's signature, computed here from `format.md`.
fn reference_signature(certificate: &str, issued_at: u32, salt: u32, signing_info: &[u8]) -> Vec<u8> {
    let hmac = |key: &[u8], msg: &[u8]| {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap();
        mac.update(msg);
        mac.finalize().into_bytes().to_vec()
    };
    let k1 = hmac(&issued_at.to_le_bytes(), certificate.as_bytes());
    let key = hmac(&salt.to_le_bytes(), &k1);
    hmac(&key, signing_info)
}

/// Services as the format packs them: stable sort by type code.
fn packed(t: &AccessToken2) -> AccessToken2 {
    let mut out = t.clone();
    out.services.sort_by_key(Service::type_code); // `sort_by_key` is stable
    out
}

fn certs(cert: &str) -> CertificateSet {
    CertificateSet::new(AppCertificate::unchecked(cert))
}

fn parse_007(token: &str) -> ParsedAccessToken2 {
    match Token::parse(token) {
        Ok(Token::V007(p)) => p,
        other => panic!("expected a 007 token, got {other:?}"),
    }
}

/// A certificate that is not `cert`.
fn other_than(cert: &str) -> String {
    if cert == OTHER_CERT {
        CERT.to_owned()
    } else {
        OTHER_CERT.to_owned()
    }
}

// ---- strategies ------------------------------------------------------------------------

/// Any UTF-8 text, mostly short, sometimes a few hundred characters; biased towards the
/// characters tokens usually hold (and `*`, which the verifier treats specially).
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-zA-Z0-9_*-]{0,12}",
        3 => prop::collection::vec(any::<char>(), 0..12).prop_map(String::from_iter),
        1 => prop::collection::vec(any::<char>(), 0..300).prop_map(String::from_iter),
    ]
}

fn privileges() -> impl Strategy<Value = BTreeMap<u16, u32>> {
    prop_oneof![
        // The ids the services define, and values around the interesting edges.
        prop::collection::btree_map(
            1u16..=4,
            prop_oneof![Just(0u32), 1u32..=86_400, Just(u32::MAX), any::<u32>()],
            0..4
        ),
        prop::collection::btree_map(any::<u16>(), any::<u32>(), 0..6),
    ]
}

fn permissions() -> impl Strategy<Value = Rtm2Permissions> {
    prop::collection::btree_map(
        prop_oneof![0u16..=4, any::<u16>()],
        prop::collection::btree_map(prop_oneof![0u16..=1, any::<u16>()], prop::collection::vec(text(), 0..4), 0..3),
        0..4,
    )
    .prop_map(Rtm2Permissions)
}

/// A service of any of the ten types, any fields the format can hold.
fn service() -> impl Strategy<Value = Service> {
    prop_oneof![
        (text(), text(), privileges()).prop_map(|(channel_name, uid, privileges)| Service::Rtc {
            channel_name,
            uid,
            privileges
        }),
        (text(), privileges()).prop_map(|(user_id, privileges)| Service::Rtm { user_id, privileges }),
        (text(), text(), privileges()).prop_map(|(channel_name, account, privileges)| Service::Streaming {
            channel_name,
            account,
            privileges
        }),
        privileges().prop_map(|privileges| Service::Fpa { privileges }),
        (text(), privileges()).prop_map(|(user_id, privileges)| Service::Chat { user_id, privileges }),
        (text(), text(), privileges()).prop_map(|(channel_name, account, privileges)| Service::Fcdn {
            channel_name,
            account,
            privileges
        }),
        (text(), text(), any::<i16>(), privileges()).prop_map(|(room_uuid, user_uuid, role, privileges)| {
            Service::Apaas { room_uuid, user_uuid, role, privileges }
        }),
        (text(), privileges(), permissions()).prop_map(|(user_id, privileges, permissions)| Service::Rtm2 {
            user_id,
            privileges,
            permissions
        }),
        privileges().prop_map(|privileges| Service::ConvoAi { privileges }),
        privileges().prop_map(|privileges| Service::Stt { privileges }),
    ]
}

fn app_id() -> impl Strategy<Value = String> {
    prop_oneof![3 => "[0-9a-fA-F]{32}", 1 => text()]
}

fn certificate() -> impl Strategy<Value = String> {
    prop_oneof![3 => "[0-9a-fA-F]{32}", 1 => text()]
}

/// Any 007 structure: 0 to 8 services in any order, so types repeat and are out of order.
fn access_token2() -> impl Strategy<Value = AccessToken2> {
    (app_id(), any::<u32>(), any::<u32>(), any::<u32>(), prop::collection::vec(service(), 0..8)).prop_map(
        |(app_id, issued_at, expire, salt, services)| AccessToken2 { app_id, issued_at, expire, salt, services },
    )
}

/// A 006 app id: the format stores exactly 32 bytes in clear.
fn app_id_006() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[0-9a-fA-F]{32}",
        1 => "[ -~]{32}",
        1 => "[\u{80}-\u{7ff}]{16}",
    ]
}

fn access_token006() -> impl Strategy<Value = AccessToken006> {
    (
        app_id_006(),
        text(),
        text(),
        any::<u32>(),
        any::<u32>(),
        prop::collection::btree_map(any::<u16>(), any::<u32>(), 0..7),
    )
        .prop_map(|(app_id, channel_name, uid, salt, ts, privileges)| AccessToken006 {
            app_id,
            channel_name,
            uid,
            salt,
            ts,
            privileges,
        })
}

/// Agora's channel character set (no `*`: patterns are tested elsewhere).
const CHANNEL_CHARS: &[char] = &[
    'a', 'b', 'z', 'A', 'Q', 'Z', '0', '1', '9', ' ', '!', '#', '$', '%', '&', '(', ')', '+', '-', ':', ';', '<', '=',
    '.', '>', '?', '@', '[', ']', '^', '_', '{', '}', '|', '~', ',',
];

fn channel() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9_-]{1,63}",
        prop::collection::vec(prop::sample::select(CHANNEL_CHARS), 1..=63).prop_map(String::from_iter),
    ]
}

/// 1 to `max` characters, none of them `*` (a `*` in a user field is a pattern).
fn user_text(max_chars: usize) -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::string::string_regex(&format!("[a-zA-Z0-9_@.-]{{1,{max_chars}}}")).unwrap(),
        prop::collection::vec(any::<char>().prop_filter("not a pattern", |c| *c != '*'), 1..=max_chars)
            .prop_map(String::from_iter),
    ]
}

fn uid() -> impl Strategy<Value = Uid> {
    prop_oneof![
        3 => (1..=u32::MAX).prop_map(Uid::Int),
        3 => user_text(63).prop_map(Uid::Account), // at most 252 bytes: within 255
        1 => Just(Uid::Any),
    ]
}

/// A lifetime Agora accepts: 1 s to 24 h.
fn lifetime() -> impl Strategy<Value = u64> {
    prop_oneof![1u64..=DAY, Just(1), Just(DAY)]
}

/// An issue time whose 24-hour horizon still fits the formats' u32 fields.
fn issue_time() -> impl Strategy<Value = u64> {
    prop_oneof![1_600_000_000u64..=2_000_000_000, 1u64..=(u32::MAX as u64 - 2 * DAY)]
}

// ---- 007: structure → token → structure ------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_access_token2_round_trips_and_verifies(t in access_token2(), cert in certificate()) {
        let certificate = AppCertificate::unchecked(cert.clone());
        let token = t.encode(&certificate).expect("every generated structure fits the format");
        prop_assert!(token.starts_with("007"));

        // The content, inflated independently, is signed as format.md says.
        let content = inflate_007(&token);
        prop_assert_eq!(&content, &t.content(&certificate).unwrap());
        prop_assert_eq!(&content[..2], &[32u8, 0][..]);
        let signing_info = t.signing_info().unwrap();
        prop_assert_eq!(&content[34..], &signing_info[..]);
        prop_assert_eq!(&content[2..34], &reference_signature(&cert, t.issued_at, t.salt, &signing_info)[..]);

        // Parse gives the same structure, services in packed order.
        let parsed = parse_007(&token);
        prop_assert_eq!(parsed.structure(), &packed(&t));
        prop_assert_eq!(parsed.unknown_services().count(), 0);
        prop_assert_eq!(parsed.signing_info(), &signing_info[..]);
        prop_assert_eq!(parsed.content(), &content);
        // The raw-content parser agrees.
        prop_assert_eq!(&ParsedAccessToken2::from_content(content.clone()).unwrap(), &parsed);

        // Verifies with its certificate, with no other; found as the secondary too.
        let parsed = Token::parse(&token).unwrap();
        prop_assert_eq!(parsed.clone().verify(&certs(&cert)).unwrap().certificate_index(), 0);
        // What it would admit unverified is what it admits verified (the identity is ignored).
        prop_assert_eq!(parsed.claimed_grants("x", "y"), parsed.clone().verify(&certs(&cert)).unwrap().grants());
        // The borrowed grants are the same grants, in the same order.
        let verified = parsed.clone().verify(&certs(&cert)).unwrap();
        prop_assert_eq!(verified.borrowed_grants().map(Into::into).collect::<Vec<Grant>>(), verified.grants());
        let other = other_than(&cert);
        prop_assert_matches!(parsed.clone().verify(&certs(&other)), Err(Error::InvalidSignature { certificates: 1 }));
        let both = CertificateSet::with_secondary(AppCertificate::unchecked(other), certificate.clone());
        prop_assert_eq!(parsed.clone().verify(&both).unwrap().certificate_index(), 1);

        // Re-encoding the parsed structure gives the same content.
        prop_assert_eq!(parse_007(&token).structure().content(&certificate).unwrap(), content);
    }

    #[test]
    fn any_access_token2_round_trips_through_its_json_form(t in access_token2(), cert in certificate()) {
        let json = serde_json::to_value(spec::describe_007(&t)).unwrap();
        // Through text.
        prop_assert_eq!(&spec::read_007(&json.to_string()).unwrap(), &packed(&t));

        // `build --spec` from that JSON makes the same token content.
        let mut spec_in = json.clone();
        spec_in["version"] = json!("007");
        spec_in["app_certificate"] = json!(cert);
        let built = spec::build(&spec_in.to_string()).unwrap();
        let certificate = AppCertificate::unchecked(cert);
        prop_assert_eq!(inflate_007(&built), t.content(&certificate).unwrap());

        // And `inspect --json` of that token is the JSON again.
        let inspected = serde_json::to_value(spec::describe(&Token::parse(&built).unwrap(), None, None)).unwrap();
        prop_assert_eq!(&inspected["version"], &json!("007"));
        prop_assert_eq!(inspected, json);
    }

    /// A service type the library does not know is kept with its bytes, packed last when its
    /// type is the highest, and the token still verifies (the signature covers those bytes).
    #[test]
    fn an_unknown_trailing_service_is_kept_and_verifies(
        mut t in access_token2(),
        service_type in 11u16..,
        remaining in prop::collection::vec(any::<u8>(), 0..64),
        declared_services in 1u16..=3,
    ) {
        let unknown = Service::Unknown { service_type, remaining, declared_services };
        t.services.push(unknown.clone());
        let token = t.encode(&AppCertificate::unchecked(CERT)).unwrap();
        let parsed = parse_007(&token);
        prop_assert_eq!(parsed.structure(), &packed(&t));
        prop_assert_eq!(parsed.unknown_services().collect::<Vec<_>>(), vec![&unknown]);
        prop_assert!(parsed.verify_signature(&certs(CERT)).is_ok());
        let json = serde_json::to_string(&spec::describe_007(&t)).unwrap();
        prop_assert_eq!(&spec::read_007(&json).unwrap(), &packed(&t));
    }

    /// Whatever the token and the action, the admission check answers; it never panics.
    #[test]
    fn admission_check_answers_for_any_token_and_action(
        t in access_token2(),
        action in action(),
        now in any::<u32>(),
    ) {
        let token = t.encode(&AppCertificate::unchecked(CERT)).unwrap();
        let parsed = Token::parse(&token).unwrap();
        let _ = parsed.issued_at();
        let _ = parsed.expires_at();
        let verified = parsed.verify(&certs(CERT)).unwrap();
        let app = AppId::unchecked(t.app_id.clone()).unwrap();
        if let Err(e) = verified.check(&app, &action, UnixTime::from_secs(now.into())) {
            let _ = e.to_string();
            let _ = e.agora_error_for(action.product());
        }
    }
}

fn action() -> impl Strategy<Value = Action> {
    let any_uid = prop_oneof![any::<u32>().prop_map(Uid::Int), text().prop_map(Uid::Account), Just(Uid::Any)];
    let media = prop::sample::select(vec![Media::Audio, Media::Video, Media::Data]);
    prop_oneof![
        (text(), any_uid.clone()).prop_map(|(channel, uid)| Action::JoinChannel { channel, uid }),
        (text(), any_uid, media).prop_map(|(channel, uid, media)| Action::Publish { channel, uid, media }),
        text().prop_map(|user_id| Action::RtmLogin { user_id }),
        text().prop_map(|user_id| Action::ChatLogin { user_id }),
        Just(Action::ChatApp),
    ]
}

#[test]
fn strings_at_the_format_limit_round_trip_and_one_byte_more_is_an_error() {
    let cert = AppCertificate::unchecked(CERT);
    let mut t = AccessToken2::new(APP_ID, 1_700_000_000, 600, 1);
    let longest = "é".repeat(65_534 / 2) + "x"; // 65535 bytes, multi-byte characters
    assert_eq!(longest.len(), 65_535);
    t.add_service(Service::Rtm { user_id: longest.clone(), privileges: BTreeMap::from([(1, 600)]) });
    // The format holds it, and the content parses back...
    let content = t.content(&cert).unwrap();
    assert_eq!(ParsedAccessToken2::from_content(content).unwrap().structure(), &t);
    // ...but a token text that inflates past MAX_CONTENT_BYTES is refused: no parse is an amplifier.
    let token = t.encode(&cert).unwrap();
    let err = Token::parse(&token).unwrap_err();
    assert!(matches!(&err, Error::Inflate { reason } if reason.contains("size limit")), "{err}");

    let mut too_long = t.clone();
    too_long.services[0] = Service::Rtm { user_id: longest + "x", privileges: BTreeMap::new() };
    assert!(matches!(too_long.encode(&cert), Err(Error::TooLong { field: "user_id", len: 65_536 })));
}

// ---- 006 -------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_access_token006_round_trips_and_verifies_for_its_identity(t in access_token006(), cert in certificate()) {
        let certificate = AppCertificate::unchecked(cert.clone());
        let token = t.encode(&certificate).unwrap();
        prop_assert!(token.starts_with("006"));
        prop_assert_eq!(&token[3..35], t.app_id.as_str());
        let Ok(Token::V006(p)) = Token::parse(&token) else {
            return Err(TestCaseError::fail(format!("not parsed as 006: {token}")));
        };
        prop_assert_eq!(p.app_id(), &t.app_id);
        prop_assert_eq!(p.salt(), t.salt);
        prop_assert_eq!(p.ts(), t.ts);
        prop_assert_eq!(p.privileges(), &t.privileges);
        prop_assert_eq!(p.crc_channel_name(), crc32fast::hash(t.channel_name.as_bytes()));
        prop_assert_eq!(p.crc_uid(), crc32fast::hash(t.uid.as_bytes()));
        prop_assert_eq!(&p.with_identity(&t.channel_name, &t.uid), &t);

        prop_assert_eq!(p.verify_signature(&certs(&cert), &t.channel_name, &t.uid), Ok(0));
        // What it would admit unverified, for its identity, is what it admits verified.
        let token_006 = Token::V006(p.clone());
        prop_assert_eq!(
            token_006.claimed_grants(&t.channel_name, &t.uid),
            token_006.clone().verify_claimed(&certs(&cert), &t.channel_name, &t.uid).unwrap().grants()
        );
        let verified = token_006.clone().verify_claimed(&certs(&cert), &t.channel_name, &t.uid).unwrap();
        prop_assert_eq!(verified.borrowed_grants().map(Into::into).collect::<Vec<Grant>>(), verified.grants());
        prop_assert_eq!(
            p.verify_signature(&certs(&other_than(&cert)), &t.channel_name, &t.uid),
            Err(Error::InvalidSignature { certificates: 1 })
        );
        let other_channel = format!("{}#", t.channel_name);
        if crc32fast::hash(other_channel.as_bytes()) != p.crc_channel_name() {
            let r = p.verify_signature(&certs(&cert), &other_channel, &t.uid);
            prop_assert_matches!(r, Err(Error::ChannelMismatch { .. }));
        }
        let other_uid = format!("{}7", t.uid);
        if crc32fast::hash(other_uid.as_bytes()) != p.crc_uid() {
            let r = p.verify_signature(&certs(&cert), &t.channel_name, &other_uid);
            prop_assert_matches!(r, Err(Error::UidMismatch { .. }));
        }

        // JSON: inspect (with the identity) → build gives the same token.
        let json = serde_json::to_value(spec::describe_006(&p, Some(&t.channel_name), Some(&t.uid))).unwrap();
        prop_assert_eq!(&spec::read_006(&json.to_string()).unwrap(), &t);
        let mut spec_in = json;
        spec_in["version"] = json!("006");
        spec_in["app_certificate"] = json!(cert);
        prop_assert_eq!(spec::build(&spec_in.to_string()).unwrap(), token);
    }

    #[test]
    fn a_006_app_id_that_is_not_32_bytes_is_refused(t in access_token006(), app_id in text()) {
        prop_assume!(app_id.len() != 32);
        let t = AccessToken006 { app_id, ..t };
        prop_assert_matches!(t.encode(&AppCertificate::unchecked(CERT)), Err(Error::Invalid { field: "app_id", .. }));
    }
}

// ---- builders → parse → verify → admission ----------------------------------------------

#[derive(Debug, Clone)]
struct RtcCase {
    channel: String,
    uid: Uid,
    role: Role,
    issued: u64,
    lifetime: u64,
    privileges: Option<u64>,
    join: Option<u64>,
    publish_audio: Option<u64>,
    rtm: Option<String>,
    salt: u32,
}

fn rtc_case() -> impl Strategy<Value = RtcCase> {
    (
        (channel(), uid(), prop::sample::select(vec![Role::Publisher, Role::Subscriber])),
        (issue_time(), lifetime(), prop::option::of(lifetime()), prop::option::of(lifetime())),
        (prop::option::of(lifetime()), prop::option::of(user_text(16)), 1u32..=99_999_999),
    )
        .prop_map(|((channel, uid, role), (issued, lifetime, privileges, join), (publish_audio, rtm, salt))| {
            RtcCase { channel, uid, role, issued, lifetime, privileges, join, publish_audio, rtm, salt }
        })
}

/// A different client identity of the same kind, and the error the check must give for it.
fn other_uid(uid: &Uid) -> Uid {
    match uid {
        Uid::Int(n) => Uid::Int(if *n == u32::MAX { 1 } else { n + 1 }),
        Uid::Account(a) => Uid::Account(format!("{a}x")),
        Uid::Any => Uid::Int(12345),
    }
}

fn join(channel: &str, uid: &Uid) -> Action {
    Action::JoinChannel { channel: channel.to_owned(), uid: uid.clone() }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn rtc_builder_tokens_admit_their_join_and_refuse_others(c in rtc_case()) {
        let app = AppId::new(APP_ID).unwrap();
        let cert = AppCertificate::new(CERT).unwrap();
        let issued = UnixTime::from_secs(c.issued);
        let mut b = RtcToken::builder(&app, &cert)
            .channel(c.channel.clone())
            .uid(c.uid.clone())
            .role(c.role)
            .valid_for(Duration::from_secs(c.lifetime))
            .issued_at(issued)
            .salt(c.salt);
        if let Some(p) = c.privileges {
            b = b.privileges_expire(Expiry::secs(p));
        }
        if let Some(j) = c.join {
            b = b.join_expires(Expiry::secs(j));
        }
        if let Some(a) = c.publish_audio {
            b = b.publish_audio_expires(Expiry::secs(a));
        }
        if let Some(user) = &c.rtm {
            b = b.with_rtm(user.clone(), None);
        }
        let token = b.build().expect("valid inputs are accepted");

        // The structure is what was asked for.
        let default = c.privileges.unwrap_or(c.lifetime);
        let join_after = c.join.unwrap_or(default);
        let audio_after = c.publish_audio.unwrap_or(default);
        let mut want = BTreeMap::from([(1u16, join_after as u32)]);
        if c.role == Role::Publisher {
            want.extend([(2, audio_after as u32), (3, default as u32), (4, default as u32)]);
        }
        let parsed = parse_007(&token);
        prop_assert_eq!(parsed.structure().issued_at as u64, c.issued);
        prop_assert_eq!(parsed.structure().expire as u64, c.lifetime);
        prop_assert_eq!(parsed.structure().salt, c.salt);
        prop_assert_eq!(
            &parsed.structure().services[0],
            &Service::Rtc { channel_name: c.channel.clone(), uid: c.uid.packed().into_owned(), privileges: want }
        );
        prop_assert_eq!(parsed.structure().services.len(), 1 + usize::from(c.rtm.is_some()));

        let verified = Token::parse(&token).unwrap().verify(&certs(CERT)).unwrap();
        let forged = Token::parse(&token).unwrap().verify(&certs(OTHER_CERT));
        prop_assert_matches!(forged, Err(Error::InvalidSignature { .. }));
        let token_end = c.issued + c.lifetime;
        let join_end = c.issued + join_after.min(c.lifetime);

        // Admitted at issue time and up to the last second.
        let me = join(&c.channel, &c.uid);
        let admitted = verified.check(&app, &me, issued).unwrap();
        prop_assert_eq!(admitted.expires_at, UnixTime::from_secs(join_end));
        prop_assert_eq!(admitted.certificate_index, 0);
        prop_assert!(verified.check(&app, &me, UnixTime::from_secs(join_end - 1)).is_ok());

        // Another channel.
        let r = verified.check(&app, &join(&format!("{}x", c.channel), &c.uid), issued);
        prop_assert_matches!(r, Err(Error::ChannelMismatch { .. }));
        prop_assert_eq!(r.unwrap_err().agora_error().unwrap().code, 110);

        // Another user: refused, unless the token was made for any user.
        let r = verified.check(&app, &join(&c.channel, &other_uid(&c.uid)), issued);
        match &c.uid {
            Uid::Any => prop_assert!(r.is_ok(), "{:?}", r),
            _ => prop_assert_matches!(r, Err(Error::UidMismatch { .. })),
        }
        if let Uid::Account(a) = &c.uid {
            // An integer uid never matches a token made for a non-numeric account.
            if a.parse::<u32>().map_or(true, |n| n == 0 || n.to_string() != *a) {
                let r = verified.check(&app, &join(&c.channel, &Uid::Int(7)), issued);
                prop_assert_matches!(r, Err(Error::UidKindMismatch { .. }));
            }
        }

        // Later: the join privilege, then the token.
        if join_end < token_end {
            let r = verified.check(&app, &me, UnixTime::from_secs(join_end));
            prop_assert_matches!(r, Err(Error::PrivilegeExpired { privilege: "join_channel", .. }));
        }
        let r = verified.check(&app, &me, UnixTime::from_secs(token_end));
        prop_assert!(
            matches!(r, Err(Error::TokenExpired { expired_at, .. }) if expired_at == UnixTime::from_secs(token_end)),
            "{:?}", r
        );
        prop_assert_eq!(r.unwrap_err().agora_error().unwrap().code, 109);

        // Another app.
        let other_app = AppId::new("0123456789abcdef0123456789abcdef").unwrap();
        prop_assert_matches!(verified.check(&other_app, &me, issued), Err(Error::AppIdMismatch { .. }));

        // Publishing: a publisher may, a subscriber may not.
        let publish = Action::Publish { channel: c.channel.clone(), uid: c.uid.clone(), media: Media::Audio };
        let r = verified.check(&app, &publish, issued);
        match c.role {
            Role::Publisher => prop_assert_eq!(
                r.unwrap().expires_at,
                UnixTime::from_secs(c.issued + join_after.min(audio_after).min(c.lifetime))
            ),
            Role::Subscriber => prop_assert!(
                matches!(r, Err(Error::MissingPrivilege { privilege: "publish_audio_stream" })), "{:?}", r
            ),
        }

        // RTM login: only with an RTM service, only for its user.
        match &c.rtm {
            Some(user) => {
                let login = Action::RtmLogin { user_id: user.clone() };
                let admitted = verified.check(&app, &login, issued).unwrap();
                prop_assert_eq!(admitted.expires_at, UnixTime::from_secs(token_end));
                let r = verified.check(&app, &Action::RtmLogin { user_id: format!("{user}x") }, issued);
                prop_assert_matches!(r, Err(Error::WrongService { product: Product::Rtm, .. }));
            }
            None => {
                let r = verified.check(&app, &Action::RtmLogin { user_id: "u".into() }, issued);
                prop_assert_matches!(r, Err(Error::WrongService { product: Product::Rtm, .. }));
            }
        }
    }

    #[test]
    fn rtc_builder_006_tokens_admit_their_join_and_refuse_others(c in rtc_case()) {
        let app = AppId::new(APP_ID).unwrap();
        let cert = AppCertificate::new(CERT).unwrap();
        let issued = UnixTime::from_secs(c.issued);
        let mut b = RtcToken::builder(&app, &cert)
            .channel(c.channel.clone())
            .uid(c.uid.clone())
            .role(c.role)
            .issued_at(issued)
            .salt(c.salt)
            .privileges_expire(Expiry::secs(c.lifetime));
        if let Some(j) = c.join {
            b = b.join_expires(Expiry::secs(j));
        }
        let token = b.build_v006().expect("valid inputs are accepted");
        let join_end = c.issued + c.join.unwrap_or(c.lifetime);
        let token_end = c.issued + DAY;

        let Ok(Token::V006(p)) = Token::parse(&token) else {
            return Err(TestCaseError::fail("not a 006 token"));
        };
        prop_assert_eq!(p.ts() as u64, token_end);
        prop_assert_eq!(p.privileges()[&1] as u64, join_end);
        prop_assert_eq!(p.privileges().len(), if c.role == Role::Publisher { 4 } else { 1 });

        let me = join(&c.channel, &c.uid);
        let verified = Token::parse(&token).unwrap().verify_for(&certs(CERT), &me).unwrap();
        prop_assert_eq!(verified.check(&app, &me, issued).unwrap().expires_at, UnixTime::from_secs(join_end));
        let r = Token::parse(&token).unwrap().verify_for(&certs(OTHER_CERT), &me);
        prop_assert_matches!(r, Err(Error::InvalidSignature { .. }));

        // Another channel: its CRC differs, so the signature cannot be checked for it.
        let r = Token::parse(&token).unwrap().verify_for(&certs(CERT), &join(&format!("{}x", c.channel), &c.uid));
        prop_assert_matches!(r, Err(Error::ChannelMismatch { .. }));
        let r = Token::parse(&token).unwrap().verify_for(&certs(CERT), &join(&c.channel, &other_uid(&c.uid)));
        match &c.uid {
            Uid::Any => prop_assert!(r.is_ok(), "{:?}", r),
            _ => prop_assert_matches!(r, Err(Error::UidMismatch { .. })),
        }

        // Later.
        let r = verified.check(&app, &me, UnixTime::from_secs(join_end));
        if join_end < token_end {
            prop_assert_matches!(r, Err(Error::PrivilegeExpired { privilege: "join_channel", .. }));
        } else {
            prop_assert_matches!(r, Err(Error::TokenExpired { .. }));
        }
        let r = verified.check(&app, &me, UnixTime::from_secs(token_end));
        prop_assert_matches!(r, Err(Error::TokenExpired { .. }));
    }

    #[test]
    fn rtm_builder_tokens_admit_their_login_and_refuse_others(
        user in user_text(16),
        issued in issue_time(),
        lifetime in lifetime(),
        table in prop::option::of(prop::collection::vec(
            (prop::sample::select(Rtm2Resource::ALL.to_vec()),
             prop::sample::select(vec![Rtm2Permission::Read, Rtm2Permission::Write]),
             prop::collection::vec(text(), 0..3)),
            0..4,
        )),
        salt in 1u32..=99_999_999,
    ) {
        let app = AppId::new(APP_ID).unwrap();
        let cert = AppCertificate::new(CERT).unwrap();
        let at = UnixTime::from_secs(issued);
        let mut permissions = None;
        if let Some(calls) = &table {
            let mut p = Rtm2Permissions::new();
            for (resource, permission, list) in calls {
                p.add(*resource, *permission, list.clone());
            }
            permissions = Some(p);
        }
        let mut b = RtmToken::builder(&app, &cert, user.clone())
            .valid_for(Duration::from_secs(lifetime))
            .issued_at(at)
            .salt(salt);
        if let Some(p) = &permissions {
            b = b.permissions(p.clone());
        }
        let token = b.build().unwrap();
        let parsed = parse_007(&token);
        let login = BTreeMap::from([(1u16, lifetime as u32)]);
        let want = match &permissions {
            None => Service::Rtm { user_id: user.clone(), privileges: login },
            Some(p) => Service::Rtm2 { user_id: user.clone(), privileges: login, permissions: p.clone() },
        };
        prop_assert_eq!(&parsed.structure().services, &vec![want]);

        let verified = Token::parse(&token).unwrap().verify(&certs(CERT)).unwrap();
        let me = Action::RtmLogin { user_id: user.clone() };
        prop_assert_eq!(verified.check(&app, &me, at).unwrap().expires_at, UnixTime::from_secs(issued + lifetime));
        let r = verified.check(&app, &Action::RtmLogin { user_id: format!("{user}x") }, at);
        prop_assert_matches!(r, Err(Error::WrongService { product: Product::Rtm, .. }));
        prop_assert_eq!(r.unwrap_err().agora_error_for(Product::Rtm).unwrap().code, 5);
        let r = verified.check(&app, &me, UnixTime::from_secs(issued + lifetime));
        prop_assert_matches!(r, Err(Error::TokenExpired { .. }));
        let r = verified.check(&app, &join("room", &Uid::Int(1)), at);
        prop_assert_matches!(r, Err(Error::WrongService { product: Product::Rtc, .. }));

        // 006 RTM: the user id is signed in the channel position.
        if permissions.is_none() {
            let token = RtmToken::builder(&app, &cert, user.clone())
                .valid_for(Duration::from_secs(lifetime)).issued_at(at).salt(salt).build_v006().unwrap();
            let verified = Token::parse(&token).unwrap().verify_for(&certs(CERT), &me).unwrap();
            prop_assert_eq!(verified.check(&app, &me, at).unwrap().expires_at, UnixTime::from_secs(issued + lifetime));
            let r = verified.check(&app, &me, UnixTime::from_secs(issued + lifetime));
            prop_assert_matches!(r, Err(Error::PrivilegeExpired { .. } | Error::TokenExpired { .. }));
            let other = Action::RtmLogin { user_id: format!("{user}x") };
            let r = Token::parse(&token).unwrap().verify_for(&certs(CERT), &other);
            prop_assert_matches!(r, Err(Error::ChannelMismatch { .. }));
        }
    }

    #[test]
    fn chat_builder_tokens_admit_their_login_and_refuse_others(
        user in user_text(63),
        issued in issue_time(),
        lifetime in lifetime(),
        salt in 1u32..=99_999_999,
    ) {
        let app = AppId::new(APP_ID).unwrap();
        let cert = AppCertificate::new(CERT).unwrap();
        let at = UnixTime::from_secs(issued);
        let end = UnixTime::from_secs(issued + lifetime);

        let token = ChatToken::user(&app, &cert, user.clone())
            .valid_for(Duration::from_secs(lifetime)).issued_at(at).salt(salt).build().unwrap();
        prop_assert_eq!(
            &parse_007(&token).structure().services.clone(),
            &vec![Service::Chat { user_id: user.clone(), privileges: BTreeMap::from([(1, lifetime as u32)]) }]
        );
        let verified = Token::parse(&token).unwrap().verify(&certs(CERT)).unwrap();
        let me = Action::ChatLogin { user_id: user.clone() };
        prop_assert_eq!(verified.check(&app, &me, at).unwrap().expires_at, end);
        let r = verified.check(&app, &Action::ChatLogin { user_id: format!("{user}x") }, at);
        prop_assert_matches!(r, Err(Error::WrongService { product: Product::Chat, .. }));
        let r = verified.check(&app, &me, end);
        prop_assert_matches!(r, Err(Error::TokenExpired { .. }));
        let r = verified.check(&app, &Action::ChatApp, at);
        prop_assert_matches!(r, Err(Error::WrongService { product: Product::Chat, .. }));

        let token = ChatToken::app(&app, &cert)
            .valid_for(Duration::from_secs(lifetime)).issued_at(at).salt(salt).build().unwrap();
        let verified = Token::parse(&token).unwrap().verify(&certs(CERT)).unwrap();
        prop_assert_eq!(verified.check(&app, &Action::ChatApp, at).unwrap().expires_at, end);
        let r = verified.check(&app, &me, at);
        prop_assert_matches!(r, Err(Error::WrongService { product: Product::Chat, .. }));
        let r = verified.check(&app, &Action::ChatApp, end);
        prop_assert_matches!(r, Err(Error::TokenExpired { .. }));
    }
}

// ---- wildcard patterns against an independent matcher -----------------------------------

/// `*` = any run of bytes, everything else itself: a plain dynamic-programming matcher.
fn glob_oracle(pattern: &[u8], value: &[u8]) -> bool {
    // m[j] = pattern[..i] matches value[..j]
    let mut m = vec![false; value.len() + 1];
    m[0] = true;
    for &p in pattern {
        let mut next = vec![false; value.len() + 1];
        if p == b'*' {
            let mut any = false;
            for j in 0..=value.len() {
                any |= m[j];
                next[j] = any;
            }
        } else {
            for j in 1..=value.len() {
                next[j] = m[j - 1] && value[j - 1] == p;
            }
        }
        m = next;
    }
    m[value.len()]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn wildcard_patterns_match_as_an_independent_matcher_says(pattern in "[ab*]{0,10}", value in "[ab]{0,12}") {
        let expected = glob_oracle(pattern.as_bytes(), value.as_bytes());
        prop_assert_eq!(agtoken::wildcard::matches(&pattern, &value), expected);
    }

    /// A token made for a channel pattern and an account pattern admits exactly the joins the
    /// patterns match (`""`/`"*"` admit everyone).
    #[test]
    fn pattern_tokens_admit_what_the_patterns_match(
        channel_pattern in "[ab*]{0,8}",
        account_pattern in "[ab*]{1,8}",
        channel in "[ab]{0,10}",
        account in "[ab]{1,10}",
    ) {
        let app = AppId::new(APP_ID).unwrap();
        let cert = AppCertificate::new(CERT).unwrap();
        let at = UnixTime::from_secs(1_700_000_000);
        let token = RtcToken::builder(&app, &cert)
            .channel(channel_pattern.clone())
            .uid(Uid::Account(account_pattern.clone()))
            .issued_at(at)
            .build()
            .unwrap();
        let verified = Token::parse(&token).unwrap().verify(&certs(CERT)).unwrap();
        let r = verified.check(&app, &join(&channel, &Uid::Account(account.clone())), at);
        let channel_ok = channel_pattern.is_empty() || glob_oracle(channel_pattern.as_bytes(), channel.as_bytes());
        let account_ok = account_pattern == "*" || glob_oracle(account_pattern.as_bytes(), account.as_bytes());
        match (channel_ok, account_ok) {
            (true, true) => prop_assert!(r.is_ok(), "{:?}", r),
            (false, _) => prop_assert_matches!(r, Err(Error::ChannelMismatch { .. })),
            (true, false) => prop_assert_matches!(r, Err(Error::UidMismatch { .. })),
        }
    }
}

// ---- builders and time on any input: an answer, never a panic ----------------------------

/// Any expiry, including durations and instants far outside what the formats can hold.
fn any_expiry() -> impl Strategy<Value = Expiry> {
    prop_oneof![
        4 => (1u64..=DAY).prop_map(Expiry::secs),
        1 => Just(Expiry::Unlimited),
        1 => (0u64..=200_000).prop_map(Expiry::secs),
        1 => any::<u64>().prop_map(Expiry::secs),
        1 => any::<u64>().prop_map(|s| Expiry::At(UnixTime::from_secs(s))),
        1 => Just(Expiry::After(Duration::MAX)),
    ]
}

fn any_issue_time() -> impl Strategy<Value = u64> {
    prop_oneof![6 => issue_time(), 1 => any::<u64>(), 1 => Just(u32::MAX as u64), 1 => Just(u64::MAX)]
}

#[derive(Debug, Clone)]
enum Built {
    Rtc {
        channel: String,
        uid: Uid,
        publisher: bool,
        expiries: [Option<Expiry>; 4],
        rtm: Option<(String, Option<Expiry>)>,
        agents: u8,
    },
    Rtm {
        user: String,
        permissions: Option<Rtm2Permissions>,
    },
    ChatUser(String),
    ChatApp,
    Fpa,
    ApaasRoomUser(String, String, i16),
    ApaasUser(String),
    ApaasApp,
    Streaming {
        fcdn: bool,
        channel: String,
        account: String,
        privileges: Vec<(u8, Option<Expiry>)>,
    },
}

fn built() -> impl Strategy<Value = Built> {
    let uid = prop_oneof![any::<u32>().prop_map(Uid::Int), text().prop_map(Uid::Account), Just(Uid::Any)];
    prop_oneof![
        (
            text(),
            uid,
            any::<bool>(),
            [
                prop::option::of(any_expiry()),
                prop::option::of(any_expiry()),
                prop::option::of(any_expiry()),
                prop::option::of(any_expiry())
            ],
            prop::option::of((text(), prop::option::of(any_expiry()))),
            0u8..4,
        )
            .prop_map(|(channel, uid, publisher, expiries, rtm, agents)| Built::Rtc {
                channel,
                uid,
                publisher,
                expiries,
                rtm,
                agents
            }),
        (text(), prop::option::of(permissions())).prop_map(|(user, permissions)| Built::Rtm { user, permissions }),
        text().prop_map(Built::ChatUser),
        Just(Built::ChatApp),
        Just(Built::Fpa),
        (text(), text(), any::<i16>()).prop_map(|(r, u, role)| Built::ApaasRoomUser(r, u, role)),
        text().prop_map(Built::ApaasUser),
        Just(Built::ApaasApp),
        (any::<bool>(), text(), text(), prop::collection::vec((0u8..2, prop::option::of(any_expiry())), 0..3))
            .prop_map(|(fcdn, channel, account, privileges)| Built::Streaming { fcdn, channel, account, privileges }),
    ]
}

/// Whatever a builder made parses, verifies, and is the structure `build_token` describes.
fn check_built(token: agtoken::Result<String>, structure: agtoken::Result<AccessToken2>) -> Result<(), TestCaseError> {
    match (token, structure) {
        (Ok(token), Ok(structure)) => {
            let parsed = parse_007(&token);
            prop_assert_eq!(parsed.structure(), &packed(&structure));
            prop_assert!(parsed.verify_signature(&certs(CERT)).is_ok());
        }
        (Err(a), Err(b)) => prop_assert_eq!(a, b),
        (a, b) => prop_assert!(false, "build and build_token disagree: {:?} / {:?}", a, b),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn time_conversions_never_panic(secs in prop_oneof![any::<u64>(), Just(u64::MAX), Just(i64::MAX as u64)]) {
        let t = UnixTime::from_secs(secs);
        let back = UnixTime::from_system_time(t.to_system_time());
        if secs <= i64::MAX as u64 {
            prop_assert_eq!(back, t);
        } else {
            prop_assert!(back <= t);
        }
        let _ = t.plus_secs(secs).to_string();
    }

    /// Strict or unchecked, any input: the builders answer `Ok` or `Err`, never panic, and
    /// what they build is what `build_token` says.
    #[test]
    fn builders_answer_any_input(
        b in built(),
        issued in any_issue_time(),
        expiry in any_expiry(),
        strict in any::<bool>(),
        salt in any::<u32>(),
    ) {
        let app = AppId::new(APP_ID).unwrap();
        let cert = AppCertificate::new(CERT).unwrap();
        let at = UnixTime::from_secs(issued);
        // Sets the shared options, builds, checks; gives the builder back.
        macro_rules! go {
            ($builder:expr) => {{
                let mut b = $builder.issued_at(at).salt(salt).expires(expiry);
                if !strict {
                    b = b.unchecked();
                }
                check_built(b.build(), b.build_token())?;
                b
            }};
        }
        match b {
            Built::Rtc { channel, uid, publisher, expiries, rtm, agents } => {
                let role = if publisher { Role::Publisher } else { Role::Subscriber };
                let mut r = RtcToken::builder(&app, &cert).channel(channel).uid(uid).role(role);
                let [p, j, a, v] = expiries;
                if let Some(e) = p {
                    r = r.privileges_expire(e);
                }
                if let Some(e) = j {
                    r = r.join_expires(e);
                }
                if let Some(e) = a {
                    r = r.publish_audio_expires(e);
                }
                if let Some(e) = v {
                    r = r.publish_video_expires(e);
                }
                if let Some((user, login)) = rtm {
                    r = r.with_rtm(user, login);
                }
                if agents & 1 != 0 {
                    r = r.with_convoai();
                }
                if agents & 2 != 0 {
                    r = r.with_stt();
                }
                let r = go!(r);
                match (r.build_v006(), r.build_token_v006()) {
                    (Ok(token), Ok(t)) => {
                        let Ok(Token::V006(p)) = Token::parse(&token) else {
                            return Err(TestCaseError::fail("not a 006 token"));
                        };
                        prop_assert_eq!(p.verify_signature(&certs(CERT), &t.channel_name, &t.uid), Ok(0));
                    }
                    (Err(a), Err(b)) => prop_assert_eq!(a, b),
                    (a, b) => prop_assert!(false, "{:?} / {:?}", a, b),
                }
            }
            Built::Rtm { user, permissions } => {
                let mut r = RtmToken::builder(&app, &cert, user);
                if let Some(p) = permissions {
                    r = r.permissions(p);
                }
                let r = go!(r);
                let _ = r.build_v006();
            }
            Built::ChatUser(user) => {
                let _ = go!(ChatToken::user(&app, &cert, user));
            }
            Built::ChatApp => {
                let _ = go!(ChatToken::app(&app, &cert));
            }
            Built::Fpa => {
                let _ = go!(FpaToken::builder(&app, &cert));
            }
            Built::ApaasRoomUser(room, user, role) => {
                let _ = go!(ApaasToken::room_user(&app, &cert, room, user, role));
            }
            Built::ApaasUser(user) => {
                let _ = go!(ApaasToken::user(&app, &cert, user));
            }
            Built::ApaasApp => {
                let _ = go!(ApaasToken::app(&app, &cert));
            }
            Built::Streaming { fcdn: true, channel, account, privileges } => {
                let mut s = FcdnToken::builder(&app, &cert, channel, account);
                for (p, e) in privileges {
                    s = s.fcdn_privilege([FcdnPrivilege::Publish, FcdnPrivilege::Play][p as usize], e);
                }
                let _ = go!(s);
            }
            Built::Streaming { fcdn: false, channel, account, privileges } => {
                let mut s = StreamingToken::builder(&app, &cert, channel, account);
                for (p, e) in privileges {
                    let p = [StreamingPrivilege::PublishMixStream, StreamingPrivilege::PublishRawStream][p as usize];
                    s = s.streaming_privilege(p, e);
                }
                let _ = go!(s);
            }
        }
    }
}

// ---- hostile input: never a panic -------------------------------------------------------

/// One edit of a byte string.
#[derive(Debug, Clone)]
enum Mutation {
    Flip(Index, u8),
    Insert(Index, u8),
    Delete(Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<Index>(), 1u8..).prop_map(|(i, mask)| Mutation::Flip(i, mask)),
        1 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        1 => any::<Index>().prop_map(Mutation::Delete),
    ]
}

fn mutate(bytes: &mut Vec<u8>, mutations: &[Mutation]) {
    for m in mutations {
        match *m {
            Mutation::Flip(ref i, mask) if !bytes.is_empty() => {
                let i = i.index(bytes.len());
                bytes[i] ^= mask;
            }
            Mutation::Insert(ref i, b) => {
                let i = i.index(bytes.len() + 1);
                bytes.insert(i, b);
            }
            Mutation::Delete(ref i) if !bytes.is_empty() => {
                let i = i.index(bytes.len());
                bytes.remove(i);
            }
            _ => {}
        }
    }
}

/// Everything a caller may do with a parsed token, to shake out panics behind the parser.
fn exercise(token: &Token) {
    let _ = token.version();
    let _ = token.app_id();
    let _ = token.issued_at();
    let _ = token.expires_at();
    let _ = serde_json::to_string(&spec::describe(token, Some("c"), Some("1"))).unwrap();
    let _ = token.clone().verify(&certs(CERT));
    let _ = token.clone().verify_for(&certs(CERT), &join("c", &Uid::Int(1)));
    if let Token::V007(p) = token {
        let _ = p.unknown_services().count();
        let _ = p.structure().encode(&AppCertificate::unchecked(CERT));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn parse_never_panics_on_any_string(s in any::<String>()) {
        if let Ok(t) = Token::parse(&s) {
            exercise(&t);
        }
    }

    #[test]
    fn parse_never_panics_on_a_version_and_any_text(
        version in prop::sample::select(vec!["006", "007", " 007", "007 ", "00", ""]),
        rest in prop_oneof!["[A-Za-z0-9+/=]{0,200}", any::<String>(), "[A-Za-z0-9]{32}[A-Za-z0-9+/=]{0,120}"],
    ) {
        if let Ok(t) = Token::parse(&format!("{version}{rest}")) {
            exercise(&t);
        }
    }

    #[test]
    fn parse_never_panics_on_base64_of_any_bytes(
        version in prop::sample::select(vec!["006", "007"]),
        app_id in prop_oneof![Just(String::new()), Just(APP_ID.to_owned()), "[ -~]{32}"],
        bytes in prop::collection::vec(any::<u8>(), 0..300),
        pad in any::<bool>(),
    ) {
        let mut body = B64.encode(&bytes);
        if !pad {
            body = body.trim_end_matches('=').to_owned();
        }
        let app_id = if version == "006" { app_id } else { String::new() };
        if let Ok(t) = Token::parse(&format!("{version}{app_id}{body}")) {
            exercise(&t);
        }
    }

    #[test]
    fn parse_never_panics_on_zlib_of_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        if let Ok(t) = Token::parse(&token_007(&bytes)) {
            exercise(&t);
        }
        if let Ok(p) = ParsedAccessToken2::from_content(bytes) {
            exercise(&Token::V007(p));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Content that looks like a token header (signature, app id, counts), then anything.
    #[test]
    fn parse_never_panics_on_plausible_content(
        sig_len in prop_oneof![Just(32u16), 0u16..40],
        app_id in app_id(),
        header in any::<[u8; 12]>(),
        count in prop_oneof![0u16..=12, any::<u16>()],
        tail in prop::collection::vec(prop_oneof![0u8..=12, any::<u8>()], 0..200),
    ) {
        let mut content = sig_len.to_le_bytes().to_vec();
        content.extend(std::iter::repeat_n(0xab, sig_len as usize));
        content.extend((app_id.len() as u16).to_le_bytes());
        content.extend(app_id.as_bytes());
        content.extend(header);
        content.extend(count.to_le_bytes());
        content.extend(tail);
        if let Ok(t) = Token::parse(&token_007(&content)) {
            exercise(&t);
        }
    }

    /// Mutated content of a valid 007 token: parses or not, and verifies exactly when the
    /// signed bytes and the signature are those that were signed.
    #[test]
    fn a_mutated_007_token_verifies_only_if_its_signed_bytes_are_intact(
        t in access_token2(),
        // No mutation at all now and then: the intact token must verify.
        mutations in prop::collection::vec(mutation(), 0..4),
    ) {
        let cert = AppCertificate::unchecked(CERT);
        let original = t.content(&cert).unwrap();
        let (signature, signing_info) = (&original[2..34], &original[34..]);
        let mut content = original.clone();
        mutate(&mut content, &mutations);
        let token = token_007(&content);
        if let Ok(parsed) = Token::parse(&token) {
            exercise(&parsed);
            let Token::V007(p) = &parsed else { return Err(TestCaseError::fail("007 parsed as 006")) };
            let intact = p.signing_info() == signing_info && p.signature() == signature;
            let verified = parsed.clone().verify(&certs(CERT));
            prop_assert_eq!(verified.is_ok(), intact, "content {:?} → {:?}", content, verified.err());
            if intact {
                prop_assert_eq!(&content, &original);
            }
        }
        // The same content, given raw.
        if let Ok(p) = ParsedAccessToken2::from_content(content.clone()) {
            let intact = p.signing_info() == signing_info && p.signature() == signature;
            prop_assert_eq!(p.verify_signature(&certs(CERT)).is_ok(), intact);
        }
    }

    /// Mutated text of a valid 007 token (base64 and zlib layers): never a panic, and a
    /// token that verifies carries exactly the signed content.
    #[test]
    fn a_mutated_007_text_verifies_only_if_its_content_is_intact(
        t in access_token2(),
        mutations in prop::collection::vec(mutation(), 1..3),
    ) {
        let cert = AppCertificate::unchecked(CERT);
        let original = t.content(&cert).unwrap();
        let mut text = t.encode(&cert).unwrap().into_bytes();
        mutate(&mut text, &mutations);
        let text = String::from_utf8_lossy(&text);
        if let Ok(parsed) = Token::parse(&text) {
            exercise(&parsed);
            if let Token::V007(p) = &parsed {
                if p.verify_signature(&certs(CERT)).is_ok() {
                    prop_assert_eq!(p.content(), &original);
                }
            }
        }
    }

    /// Mutated content of a valid 006 token: verifies for the original identity exactly when
    /// every parsed field is the original's.
    #[test]
    fn a_mutated_006_token_verifies_only_if_it_is_intact(
        t in access_token006(),
        mutations in prop::collection::vec(mutation(), 0..4),
    ) {
        let cert = AppCertificate::unchecked(CERT);
        let token = t.encode(&cert).unwrap();
        let original = match Token::parse(&token) {
            Ok(Token::V006(p)) => p,
            other => return Err(TestCaseError::fail(format!("{other:?}"))),
        };
        let mut content = B64.decode(&token[35..]).unwrap();
        mutate(&mut content, &mutations);
        let mutated = format!("006{}{}", t.app_id, B64.encode(&content));
        if let Ok(parsed) = Token::parse(&mutated) {
            exercise(&parsed);
            let Token::V006(p) = &parsed else { return Err(TestCaseError::fail("006 parsed as 007")) };
            let ok = p.verify_signature(&certs(CERT), &t.channel_name, &t.uid).is_ok();
            prop_assert_eq!(ok, *p == original, "{:?}", p);
        }
    }
}

// ---- encode_verified: the view that comes with a fresh token is the full parse and verify ----

/// Everything a verified token tells, for comparing two of them.
fn view(v: &agtoken::VerifiedToken) -> impl PartialEq + std::fmt::Debug {
    (
        v.token().clone(),
        v.certificate_index(),
        v.identity_006().map(|(c, u)| (c.to_owned(), u.to_owned())),
        v.grants(),
        v.token().app_id().to_owned(),
        v.token().expires_at(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// `AccessToken2::encode_verified` gives the text `encode` gives (signed with the primary),
    /// and the view a full `Token::parse` + `verify` of that text gives: same token, grants,
    /// expiry, app id and certificate index, with or without a secondary certificate.
    #[test]
    fn encode_verified_007_is_parse_and_verify(t in access_token2(), cert in certificate(), secondary in any::<bool>()) {
        let primary = AppCertificate::unchecked(cert.clone());
        let set = if secondary {
            CertificateSet::with_secondary(primary.clone(), AppCertificate::unchecked(other_than(&cert)))
        } else {
            CertificateSet::new(primary.clone())
        };
        let signed = t.encode_verified(&set).expect("every generated structure fits the format");
        prop_assert_eq!(signed.text(), t.encode(&primary).unwrap());
        let full = Token::parse(signed.text()).unwrap().verify(&set).unwrap();
        prop_assert_eq!(view(signed.verified()), view(&full));
        prop_assert_eq!(signed.into_text(), t.encode(&primary).unwrap());
    }

    /// `AccessToken006::encode_verified` likewise, against `verify_claimed` for the channel and
    /// uid the token signs.
    #[test]
    fn encode_verified_006_is_parse_and_verify_claimed(t in access_token006(), cert in certificate(), secondary in any::<bool>()) {
        let primary = AppCertificate::unchecked(cert.clone());
        let set = if secondary {
            CertificateSet::with_secondary(primary.clone(), AppCertificate::unchecked(other_than(&cert)))
        } else {
            CertificateSet::new(primary.clone())
        };
        let signed = t.encode_verified(&set).expect("a 32-byte app id fits the format");
        prop_assert_eq!(signed.text(), t.encode(&primary).unwrap());
        let full = Token::parse(signed.text()).unwrap().verify_claimed(&set, &t.channel_name, &t.uid).unwrap();
        prop_assert_eq!(view(signed.verified()), view(&full));
        prop_assert_eq!(signed.verified().identity_006(), Some((t.channel_name.as_str(), t.uid.as_str())));
    }
}

/// The builders' tokens, signed by `encode_verified`, against the full parse and verify.
#[test]
fn encode_verified_of_builder_tokens_is_parse_and_verify() {
    let app = AppId::new(APP_ID).unwrap();
    let cert = AppCertificate::new(CERT).unwrap();
    let set = CertificateSet::with_secondary(cert.clone(), AppCertificate::new(OTHER_CERT).unwrap());
    let builder = RtcToken::builder(&app, &cert)
        .channel("room-1")
        .uid(Uid::Int(42))
        .role(Role::Publisher)
        .valid_for(Duration::from_secs(3600))
        .issued_at(UnixTime::from_secs(1_700_000_000))
        .salt(7);
    let signed = builder.build_token().unwrap().encode_verified(&set).unwrap();
    assert_eq!(signed.text(), builder.build().unwrap());
    let full = Token::parse(signed.text()).unwrap().verify(&set).unwrap();
    assert_eq!(view(signed.verified()), view(&full));
    assert!(!signed.verified().grants().is_empty());

    let signed = builder.build_token_v006().unwrap().encode_verified(&set).unwrap();
    assert_eq!(signed.text(), builder.build_v006().unwrap());
    let full = Token::parse(signed.text()).unwrap().verify_claimed(&set, "room-1", "42").unwrap();
    assert_eq!(view(signed.verified()), view(&full));
    assert_eq!(signed.verified().identity_006(), Some(("room-1", "42")));
}
