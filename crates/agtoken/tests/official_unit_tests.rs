//! The expectations of the official libraries' own builder unit tests (AgoraIO/Tools,
//! `DynamicKey/AgoraDynamicKey/go/src/*/…_test.go`, with the same mock data), run against our
//! builders: build, then parse the token back (as those tests do) and check its fields and
//! privileges. Where the official libraries disagree among themselves, the majority's
//! expectation is tested here and the difference is listed in `crates/agtoken/BUILDERS.md`.
//!
//! Where the Go test only reads `Privileges[id]` (0 when absent), these tests compare the whole
//! privilege map, which is stricter (the C++ tests count privileges, e.g. `TestRoomUserToken`).

use std::collections::BTreeMap;
use std::time::Duration;

use agtoken::v007::Privileges;
use agtoken::{
    AccessToken2, ApaasToken, AppCertificate, AppId, CertificateSet, ChatToken, EducationToken, Expiry, FpaToken, Role,
    Role006, RtcToken, Rtm2Permission, Rtm2Permissions, Rtm2Resource, RtmToken, Service, ServiceType, Token, Uid,
    UnixTime,
};

// The official tests' mock data.
const APP_ID: &str = "970CA35de60c44645bbae8a215061b33";
const CERT: &str = "5CFd2fd1755d40ecb72977518be15d3b";
const CHANNEL: &str = "7d72365eb983485397e3e3f9d460bdda";
const UID: u32 = 2882341273;
const UID_STR: &str = "2882341273";
const ROOM_UUID: &str = "123";
const EXPIRE: u64 = 600;
/// `printf 2882341273 | md5sum`: the Chat user id of a room-user token for user uuid 2882341273.
const MD5_OF_UID_STR: &str = "6063383428a36fba3fb6030becf8094e";

fn creds() -> (AppId, AppCertificate) {
    (AppId::new(APP_ID).unwrap(), AppCertificate::new(CERT).unwrap())
}

fn secs(s: u64) -> Expiry {
    Expiry::After(Duration::from_secs(s))
}

/// Parses a 007 token as the official tests do (`accessToken.Parse(token)`), after checking
/// its signature.
fn parse_007(token: &str) -> AccessToken2 {
    let parsed = Token::parse(token).expect("a token");
    parsed.clone().verify(&CertificateSet::new(AppCertificate::new(CERT).unwrap())).expect("signed with CERT");
    match parsed {
        Token::V007(t) => t.structure().clone(),
        Token::V006(_) => panic!("expected a 007 token"),
    }
}

/// The services of one type (`GetServices(type)` in Go).
fn services(token: &AccessToken2, kind: ServiceType) -> Vec<&Service> {
    token.services.iter().filter(|s| s.service_type() == Some(kind)).collect()
}

/// The only service of one type.
fn only(token: &AccessToken2, kind: ServiceType) -> &Service {
    let found = services(token, kind);
    assert_eq!(found.len(), 1, "one {kind:?} service in {token:?}");
    found[0]
}

fn privileges(pairs: &[(u16, u64)]) -> Privileges {
    pairs.iter().map(|&(id, value)| (id, value as u32)).collect()
}

// ---- APaaS / Education (apaastokenbuilder_test.go, educationtokenbuilder_test.go) ------------

/// `Test_BuildRoomUserToken`: app id, expire, room uuid, user uuid, role; the APaaS room-user
/// privilege (1), the RTM login and the Chat user privilege all equal the expire (600).
fn assert_go_room_user_token(token: &str) {
    let t = parse_007(token);
    assert_eq!(t.app_id, APP_ID);
    assert_eq!(u64::from(t.expire), EXPIRE);
    let Service::Apaas { room_uuid, user_uuid, role, privileges: p } = only(&t, ServiceType::Apaas) else {
        unreachable!()
    };
    assert_eq!((room_uuid.as_str(), user_uuid.as_str(), *role), (ROOM_UUID, UID_STR, 1));
    // C++ TestRoomUserToken: exactly one privilege, the room user's, for the token's lifetime.
    assert_eq!(p, &privileges(&[(1, EXPIRE)]));
    let Service::Rtm { user_id, privileges: p } = only(&t, ServiceType::Rtm) else { unreachable!() };
    assert_eq!((user_id.as_str(), p), (UID_STR, &privileges(&[(1, EXPIRE)])));
    let Service::Chat { user_id, privileges: p } = only(&t, ServiceType::Chat) else { unreachable!() };
    assert_eq!((user_id.as_str(), p), (MD5_OF_UID_STR, &privileges(&[(1, EXPIRE)])));
    assert_eq!(t.services.len(), 3);
}

#[test]
fn apaas_room_user_token_as_the_go_test_expects() {
    let (app, cert) = creds();
    let token = ApaasToken::room_user(&app, &cert, ROOM_UUID, UID_STR, 1).valid_for(Duration::from_secs(EXPIRE));
    assert_go_room_user_token(&token.build().unwrap());
}

#[test]
fn education_room_user_token_as_the_go_test_expects() {
    let (app, cert) = creds();
    let token = EducationToken::room_user(&app, &cert, ROOM_UUID, UID_STR, 1).valid_for(Duration::from_secs(EXPIRE));
    assert_go_room_user_token(&token.build().unwrap());
}

/// The room-user privilege follows the token's lifetime, whatever it is (Go passes `expire`).
#[test]
fn room_user_privilege_is_the_token_lifetime() {
    let (app, cert) = creds();
    for lifetime in [1, 59, 3600, 86_400] {
        let t = parse_007(&ApaasToken::room_user(&app, &cert, "r", "u", 2).expires(secs(lifetime)).build().unwrap());
        assert_eq!(u64::from(t.expire), lifetime);
        assert_eq!(only(&t, ServiceType::Apaas).privileges(), &privileges(&[(1, lifetime)]), "{lifetime}");
    }
    // An instant is turned into seconds after issue, like every other privilege.
    let issued = UnixTime::from_secs(1_700_000_000);
    let t = parse_007(
        &ApaasToken::room_user(&app, &cert, "r", "u", 2)
            .issued_at(issued)
            .expires(Expiry::At(issued.plus_secs(1234)))
            .build()
            .unwrap(),
    );
    assert_eq!(only(&t, ServiceType::Apaas).privileges(), &privileges(&[(1, 1234)]));
}

/// Role 0 (invisible) is stored as 0, as Go, Python, Java, C++… store what they are given;
/// only the npm package's `role || -1` turns it into -1 (the `node_compatible` shape).
#[test]
fn room_user_role_zero_is_kept_unless_node_compatible() {
    let (app, cert) = creds();
    let role = |node: bool| {
        let b = ApaasToken::room_user(&app, &cert, ROOM_UUID, UID_STR, 0).valid_for(Duration::from_secs(EXPIRE));
        let t = parse_007(&if node { b.node_compatible() } else { b }.build().unwrap());
        let Service::Apaas { role, .. } = only(&t, ServiceType::Apaas) else { unreachable!() };
        *role
    };
    assert_eq!(role(false), 0);
    assert_eq!(role(true), -1);
}

/// `node_compatible` is the npm package's shape: no APaaS privilege, the RTM and Chat services
/// unchanged, the token otherwise identical.
#[test]
fn node_compatible_room_user_drops_only_the_room_user_privilege() {
    let (app, cert) = creds();
    let b = || {
        ApaasToken::room_user(&app, &cert, ROOM_UUID, UID_STR, 3)
            .valid_for(Duration::from_secs(EXPIRE))
            .issued_at(UnixTime::from_secs(1_700_000_000))
            .salt(42)
    };
    let default = b().build_token().unwrap();
    let node = b().node_compatible().build_token().unwrap();
    assert_eq!(only(&default, ServiceType::Apaas).privileges(), &privileges(&[(1, EXPIRE)]));
    assert!(only(&node, ServiceType::Apaas).privileges().is_empty());
    let mut patched = node.clone();
    for service in &mut patched.services {
        if let Service::Apaas { privileges, .. } = service {
            privileges.insert(1, EXPIRE as u32);
        }
    }
    assert_eq!(patched, default);
}

/// `Test_BuildUserToken` and `Test_BuildAppToken`: every official library builds these alike,
/// and `node_compatible` does not change them.
#[test]
fn apaas_user_and_app_tokens_as_the_go_tests_expect() {
    let (app, cert) = creds();
    let valid = Duration::from_secs(EXPIRE);
    for node in [false, true] {
        let user = ApaasToken::user(&app, &cert, UID_STR).valid_for(valid);
        let t = parse_007(&if node { user.node_compatible() } else { user }.build().unwrap());
        assert_eq!((t.app_id.as_str(), u64::from(t.expire)), (APP_ID, EXPIRE));
        let Service::Apaas { room_uuid, user_uuid, role, privileges: p } = only(&t, ServiceType::Apaas) else {
            unreachable!()
        };
        assert_eq!((room_uuid.as_str(), user_uuid.as_str(), *role), ("", UID_STR, -1));
        assert_eq!(p, &privileges(&[(2, EXPIRE)]));
        assert_eq!(t.services.len(), 1);

        let app_token = EducationToken::app(&app, &cert).valid_for(valid);
        let t = parse_007(&if node { app_token.node_compatible() } else { app_token }.build().unwrap());
        let Service::Apaas { room_uuid, user_uuid, role, privileges: p } = only(&t, ServiceType::Apaas) else {
            unreachable!()
        };
        assert_eq!((room_uuid.as_str(), user_uuid.as_str(), *role), ("", "", -1));
        assert_eq!(p, &privileges(&[(3, EXPIRE)]));
        assert_eq!(u64::from(t.expire), EXPIRE);
    }
}

// ---- RTC 007 (rtctokenbuilder_test.go) --------------------------------------------------------

fn rtc_service(t: &AccessToken2) -> (&str, &str, &Privileges) {
    let Service::Rtc { channel_name, uid, privileges } = only(t, ServiceType::Rtc) else { unreachable!() };
    (channel_name, uid, privileges)
}

/// `Test_BuildTokenWithUid_Role*`, `Test_BuildTokenWithUserAccount_Role*`: publisher gets join
/// and the three publish privileges at `privilegeExpire`; subscriber gets join only.
#[test]
fn rtc_roles_as_the_go_tests_expect() {
    let (app, cert) = creds();
    for uid in [Uid::Int(UID), Uid::Account(UID_STR.into())] {
        for role in [Role::Publisher, Role::Subscriber] {
            let token = RtcToken::builder(&app, &cert)
                .channel(CHANNEL)
                .uid(uid.clone())
                .role(role)
                .expires(secs(EXPIRE))
                .privileges_expire(secs(EXPIRE))
                .build()
                .unwrap();
            let t = parse_007(&token);
            assert_eq!((t.app_id.as_str(), u64::from(t.expire)), (APP_ID, EXPIRE));
            let expected = match role {
                Role::Publisher => privileges(&[(1, EXPIRE), (2, EXPIRE), (3, EXPIRE), (4, EXPIRE)]),
                Role::Subscriber => privileges(&[(1, EXPIRE)]),
            };
            assert_eq!(rtc_service(&t), (CHANNEL, UID_STR, &expected), "{uid:?} {role:?}");
            assert_eq!(t.services.len(), 1);
        }
    }
}

/// `Test_BuildTokenWithUidAndPrivilege`, `Test_BuildTokenWithUserAccountAndPrivilege`: each of
/// the four privileges with its own value (the Go test passes 600 for each; distinct values
/// here show which goes where).
#[test]
fn rtc_with_per_privilege_expiries_as_the_go_tests_expect() {
    let (app, cert) = creds();
    for uid in [Uid::Int(UID), Uid::Account(UID_STR.into())] {
        let token = RtcToken::builder(&app, &cert)
            .channel(CHANNEL)
            .uid(uid)
            .role(Role::Publisher)
            .expires(secs(EXPIRE))
            .join_expires(secs(600))
            .publish_audio_expires(secs(500))
            .publish_video_expires(secs(400))
            .publish_data_expires(secs(300))
            .build()
            .unwrap();
        let t = parse_007(&token);
        assert_eq!(u64::from(t.expire), EXPIRE);
        assert_eq!(rtc_service(&t), (CHANNEL, UID_STR, &privileges(&[(1, 600), (2, 500), (3, 400), (4, 300)])));
    }
}

/// `BuildTokenWithRtm` (RTM login at the token expire, not the privilege expire) and
/// `BuildTokenWithRtm2` (RTM login at its own expire).
#[test]
fn rtc_with_rtm_as_the_go_builders_do() {
    let (app, cert) = creds();
    let b = || {
        RtcToken::builder(&app, &cert)
            .channel(CHANNEL)
            .uid(Uid::Account(UID_STR.into()))
            .role(Role::Subscriber)
            .expires(secs(900))
            .privileges_expire(secs(EXPIRE))
    };
    let t = parse_007(&b().with_rtm(UID_STR, None).build().unwrap());
    assert_eq!(rtc_service(&t).2, &privileges(&[(1, EXPIRE)]));
    let Service::Rtm { user_id, privileges: p } = only(&t, ServiceType::Rtm) else { unreachable!() };
    assert_eq!((user_id.as_str(), p), (UID_STR, &privileges(&[(1, 900)])));

    let t = parse_007(&b().with_rtm("rtm-user", Some(secs(300))).build().unwrap());
    let Service::Rtm { user_id, privileges: p } = only(&t, ServiceType::Rtm) else { unreachable!() };
    assert_eq!((user_id.as_str(), p), ("rtm-user", &privileges(&[(1, 300)])));
}

/// `convoaitokenbuilder_test.go` / `stttokenbuilder_test.go`: RTC (publisher: four privileges;
/// subscriber: join only), RTM login, and one agent service with no privileges.
#[test]
fn convoai_and_stt_as_the_go_tests_expect() {
    let (app, cert) = creds();
    for kind in [ServiceType::ConvoAi, ServiceType::Stt] {
        for role in [Role::Publisher, Role::Subscriber] {
            let b = RtcToken::builder(&app, &cert)
                .channel(CHANNEL)
                .uid(Uid::Account(UID_STR.into()))
                .role(role)
                .expires(secs(EXPIRE))
                .join_expires(secs(EXPIRE))
                .publish_audio_expires(secs(EXPIRE))
                .publish_video_expires(secs(EXPIRE))
                .publish_data_expires(secs(EXPIRE))
                .with_rtm(UID_STR, Some(secs(EXPIRE)));
            let b = if kind == ServiceType::ConvoAi { b.with_convoai() } else { b.with_stt() };
            let t = parse_007(&b.build().unwrap());
            assert_eq!((t.app_id.as_str(), u64::from(t.expire)), (APP_ID, EXPIRE));
            let expected = match role {
                Role::Publisher => privileges(&[(1, EXPIRE), (2, EXPIRE), (3, EXPIRE), (4, EXPIRE)]),
                Role::Subscriber => privileges(&[(1, EXPIRE)]),
            };
            assert_eq!(rtc_service(&t), (CHANNEL, UID_STR, &expected));
            let Service::Rtm { user_id, privileges: p } = only(&t, ServiceType::Rtm) else { unreachable!() };
            assert_eq!((user_id.as_str(), p), (UID_STR, &privileges(&[(1, EXPIRE)])));
            assert!(only(&t, kind).privileges().is_empty(), "{kind:?}");
            assert_eq!(t.services.len(), 3);
        }
    }
}

// ---- RTM, Chat, FPA ---------------------------------------------------------------------------

/// `rtmtokenbuilder_test.go` `Test_BuildToken`: user "test_user", expire 900, login 900.
/// `BuildTokenWithPermissions`: an RTM2 service (type 8) with the table and the same login.
#[test]
fn rtm_as_the_go_test_expects() {
    let (app, cert) = creds();
    let t = parse_007(&RtmToken::builder(&app, &cert, "test_user").expires(secs(900)).build().unwrap());
    assert_eq!((t.app_id.as_str(), t.expire), (APP_ID, 900));
    let Service::Rtm { user_id, privileges: p } = only(&t, ServiceType::Rtm) else { unreachable!() };
    assert_eq!((user_id.as_str(), p), ("test_user", &privileges(&[(1, 900)])));

    let mut table = Rtm2Permissions::new();
    table.add(Rtm2Resource::StreamChannels, Rtm2Permission::Read, vec!["stream-a".into()]);
    let t = parse_007(
        &RtmToken::builder(&app, &cert, "test_user").permissions(table.clone()).expires(secs(900)).build().unwrap(),
    );
    let Service::Rtm2 { user_id, privileges: p, permissions } = only(&t, ServiceType::Rtm2) else { unreachable!() };
    assert_eq!((user_id.as_str(), p, permissions), ("test_user", &privileges(&[(1, 900)]), &table));
    assert!(services(&t, ServiceType::Rtm).is_empty());
}

/// `chatTokenBuilder_test.go`: user token (user id, privilege 1 = expire) and app token
/// (privilege 2 = expire).
#[test]
fn chat_as_the_go_tests_expect() {
    let (app, cert) = creds();
    let t = parse_007(&ChatToken::user(&app, &cert, UID_STR).expires(secs(EXPIRE)).build().unwrap());
    assert_eq!((t.app_id.as_str(), u64::from(t.expire)), (APP_ID, EXPIRE));
    let Service::Chat { user_id, privileges: p } = only(&t, ServiceType::Chat) else { unreachable!() };
    assert_eq!((user_id.as_str(), p), (UID_STR, &privileges(&[(1, EXPIRE)])));

    let t = parse_007(&ChatToken::app(&app, &cert).expires(secs(EXPIRE)).build().unwrap());
    let Service::Chat { user_id, privileges: p } = only(&t, ServiceType::Chat) else { unreachable!() };
    assert_eq!((user_id.as_str(), p), ("", &privileges(&[(2, EXPIRE)])));
}

/// `fpatokenbuilder_test.go`: the token lasts 24 h, the login privilege is 0 (no limit of its own).
#[test]
fn fpa_as_the_go_test_expects() {
    let (app, cert) = creds();
    let t = parse_007(&FpaToken::builder(&app, &cert).build().unwrap());
    assert_eq!((t.app_id.as_str(), t.expire), (APP_ID, 24 * 3600));
    assert_eq!(only(&t, ServiceType::Fpa).privileges(), &privileges(&[(1, 0)]));
}

// ---- 006 (RtcTokenBuilder_test.go, RtmTokenBuilder_test.go) ----------------------------------

const EXPIRED_TS: u64 = 1446455471;

fn parse_006(token: &str) -> (u32, BTreeMap<u16, u32>, agtoken::v006::ParsedAccessToken006) {
    match Token::parse(token).expect("a token") {
        Token::V006(t) => (t.ts(), t.privileges().clone(), t),
        Token::V007(_) => panic!("expected a 006 token"),
    }
}

/// `Test_RtcTokenBuilder`: uid 0, subscriber: join = expiredTs, no publish privilege. The Go
/// source (and C++, Java, Node, Deno, Python) gives attendee, publisher and admin the three
/// publish privileges too; Ruby gives them to subscriber instead of attendee (BUILDERS.md).
#[test]
fn rtc_006_roles_as_the_go_builder_does() {
    let (app, cert) = creds();
    let issued = UnixTime::from_secs(EXPIRED_TS - 3600);
    for role in [Role006::Attendee, Role006::Publisher, Role006::Subscriber, Role006::Admin] {
        let token = RtcToken::builder(&app, &cert)
            .channel(CHANNEL)
            .uid(Uid::Any)
            .role(role)
            .issued_at(issued)
            .privileges_expire(Expiry::At(UnixTime::from_secs(EXPIRED_TS)))
            .build_v006()
            .unwrap();
        assert!(token.starts_with(&format!("006{APP_ID}")));
        let (ts, p, parsed) = parse_006(&token);
        // The Go builder sets ts = now + 24 h.
        assert_eq!(u64::from(ts), EXPIRED_TS - 3600 + 86_400);
        let expected = if role == Role006::Subscriber {
            privileges(&[(1, EXPIRED_TS)])
        } else {
            privileges(&[(1, EXPIRED_TS), (2, EXPIRED_TS), (3, EXPIRED_TS), (4, EXPIRED_TS)])
        };
        assert_eq!(p, expected, "{role:?}");
        assert!(parsed.channel_matches(CHANNEL));
    }
}

/// `Test_RtmTokenBuilder`: user "test_user", privilege 1000 (RTM login) = expiredTs; the user
/// account is signed in the channel position.
#[test]
fn rtm_006_as_the_go_test_expects() {
    let (app, cert) = creds();
    let token = RtmToken::builder(&app, &cert, "test_user")
        .issued_at(UnixTime::from_secs(EXPIRED_TS - 3600))
        .expires(Expiry::At(UnixTime::from_secs(EXPIRED_TS)))
        .build_v006()
        .unwrap();
    let (_, p, parsed) = parse_006(&token);
    assert_eq!(p, privileges(&[(1000, EXPIRED_TS)]));
    assert!(parsed.channel_matches("test_user"));
}
