//! Interop with Agora's official `agora-token` npm package (the harness in `tests/interop/`,
//! see its README): tokens made by this library, for every service and every builder, are
//! parsed and signature-checked by the package's own code, and the structure it reads must be
//! the structure we built.
//!
//! Needs Node.js and npm (`npm ci` is run in `tests/interop/` when `node_modules` is missing).
//! A missing Node.js is a failure; set `AGTOKEN_SKIP_INTEROP=1` to skip this test explicitly.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use agtoken::spec;
use agtoken::v007::{FcdnPrivilege, StreamingPrivilege};
use agtoken::{
    AccessToken006, AccessToken2, ApaasToken, AppCertificate, AppId, ChatToken, EducationToken, Expiry, FcdnToken,
    FpaToken, Role, Role006, RtcToken, Rtm2Permission, Rtm2Permissions, Rtm2Resource, RtmToken, Service,
    StreamingToken, Token, Uid, UnixTime,
};
use serde_json::{json, Value};

const APP_ID: &str = "970CA35de60c44645bbae8a215061b33";
const CERT: &str = "5CFd2fd1755d40ecb72977518be15d3b";
const OTHER_CERT: &str = "0123456789abcdef0123456789abcdef";
const ISSUED: u64 = 1_700_000_000;
const SALT: u32 = 12_345_678;

/// One token for the official library, and what it must say about it.
struct Case {
    id: String,
    token: String,
    /// The certificate the official library checks the signature with.
    certificate: &'static str,
    /// The structure the official parser must read.
    structure: Value,
    /// 006: the channel and uid string the token was signed for.
    identity: Option<(String, String)>,
    signature_valid: bool,
}

fn case_007(id: &str, token: String, built: &AccessToken2) -> Case {
    // Our own parser must read what we built, too.
    let Ok(Token::V007(parsed)) = Token::parse(&token) else { panic!("{id}: not a 007 token") };
    let mut structure = serde_json::to_value(spec::describe_007(built)).unwrap();
    structure.as_object_mut().unwrap().remove("version"); // the official parser's form has none
    assert_eq!(
        spec::describe_007(parsed.structure()),
        spec::describe_007(built),
        "{id}: our parser disagrees with our builder"
    );
    Case { id: id.into(), token, certificate: CERT, structure, identity: None, signature_valid: true }
}

fn case_006(id: &str, token: String, built: &AccessToken006) -> Case {
    let privileges: serde_json::Map<String, Value> =
        built.privileges.iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
    let structure = json!({
        "app_id": built.app_id,
        "salt": built.salt,
        "ts": built.ts,
        "privileges": privileges,
        "crc_channel_name": crc32fast::hash(built.channel_name.as_bytes()),
        "crc_uid": crc32fast::hash(built.uid.as_bytes()),
    });
    // Our own parser's JSON, without the identity it cannot know, is the same.
    let Ok(Token::V006(parsed)) = Token::parse(&token) else { panic!("{id}: not a 006 token") };
    let mut ours = serde_json::to_value(spec::describe_006(&parsed, None, None)).unwrap();
    let ours_map = ours.as_object_mut().unwrap();
    ours_map.remove("channel_name");
    ours_map.remove("uid");
    ours_map.remove("version");
    assert_eq!(ours, structure, "{id}: our parser disagrees with our builder");
    Case {
        id: id.into(),
        token,
        certificate: CERT,
        structure,
        identity: Some((built.channel_name.clone(), built.uid.clone())),
        signature_valid: true,
    }
}

/// Builds with a builder (`$b`, already given issue time and salt) and records its case.
macro_rules! built {
    ($cases:ident, $id:expr, $b:expr) => {{
        let b = $b;
        let token = b.build().unwrap_or_else(|e| panic!("{}: {e}", $id));
        $cases.push(case_007($id, token, &b.build_token().unwrap()));
    }};
    ($cases:ident, $id:expr, $b:expr, v006) => {{
        let b = $b;
        let token = b.build_v006().unwrap_or_else(|e| panic!("{}: {e}", $id));
        $cases.push(case_006($id, token, &b.build_token_v006().unwrap()));
    }};
}

fn permissions() -> Rtm2Permissions {
    let mut p = Rtm2Permissions::new();
    p.add(Rtm2Resource::Users, Rtm2Permission::Read, vec!["*".into()]);
    p.add(Rtm2Resource::MessageChannels, Rtm2Permission::Write, vec!["chat-*".into(), "lobby".into()]);
    p.add(Rtm2Resource::MessageChannels, Rtm2Permission::Read, vec!["*".into()]);
    p.add(Rtm2Resource::StreamChannels, Rtm2Permission::Read, vec![]);
    p.add(Rtm2Resource::GroupChannels, Rtm2Permission::Write, vec!["g1".into(), "g2".into(), "g3".into()]);
    p.add(Rtm2Resource::ServerGroups, Rtm2Permission::Read, vec!["群组".into()]);
    p
}

/// Every builder, every service, and a raw token holding all ten service types.
fn builder_cases() -> Vec<Case> {
    let app = AppId::new(APP_ID).unwrap();
    let cert = AppCertificate::new(CERT).unwrap();
    let at = UnixTime::from_secs(ISSUED);
    let hour = Duration::from_secs(3600);
    let rtc = || RtcToken::builder(&app, &cert).issued_at(at).salt(SALT).valid_for(hour);
    let mut c = Vec::new();

    // RTC, 007.
    let uid = Uid::Int(2_882_341_273);
    let account = Uid::Account("alice@example.com".into());
    built!(c, "rtc.uid.publisher", rtc().channel("room-1").uid(uid.clone()).role(Role::Publisher));
    built!(c, "rtc.uid.subscriber", rtc().channel("room-1").uid(uid.clone()).role(Role::Subscriber));
    built!(c, "rtc.account.publisher", rtc().channel("room-1").uid(account.clone()).role(Role::Publisher));
    built!(c, "rtc.account.subscriber", rtc().channel("room-1").uid(account.clone()).role(Role::Subscriber));
    built!(c, "rtc.any_uid.wildcard_channel", rtc().channel("*").uid(Uid::Any).role(Role::Publisher));
    built!(c, "rtc.pattern", rtc().channel("1*a*2").uid(Uid::Account("*".into())));
    built!(
        c,
        "rtc.uid.privilege_expires",
        rtc()
            .channel("room !#$%&()+-:;<=.>?@[]^_{}|~,")
            .uid(uid.clone())
            .role(Role::Publisher)
            .privileges_expire(Expiry::Unlimited)
    );
    for (id, who) in [("rtc.uid_privilege", uid.clone()), ("rtc.account_privilege", account.clone())] {
        built!(
            c,
            id,
            rtc()
                .channel("room-2")
                .uid(who)
                .role(Role::Publisher)
                .join_expires(Expiry::secs(600))
                .publish_audio_expires(Expiry::secs(300))
                .publish_video_expires(Expiry::At(at.plus_secs(900)))
                .publish_data_expires(Expiry::Unlimited)
        );
    }
    built!(
        c,
        "rtc.with_rtm",
        rtc().channel("room-3").uid(account.clone()).role(Role::Publisher).with_rtm("alice", None)
    );
    let with_rtm2 = || {
        rtc()
            .channel("room-4")
            .uid(uid.clone())
            .role(Role::Publisher)
            .valid_for(Duration::from_secs(7200))
            .join_expires(Expiry::secs(3600))
            .publish_audio_expires(Expiry::secs(1800))
            .publish_video_expires(Expiry::secs(1200))
            .publish_data_expires(Expiry::secs(600))
            .with_rtm("rtm-user-1", Some(Expiry::secs(5400)))
    };
    built!(c, "rtc.with_rtm2", with_rtm2());
    built!(c, "rtc.with_rtm2.account.subscriber", with_rtm2().uid(account.clone()).role(Role::Subscriber));
    built!(c, "convoai", with_rtm2().with_convoai());
    built!(c, "stt", with_rtm2().with_stt());

    // RTM.
    let rtm = |user: &str| RtmToken::builder(&app, &cert, user.to_owned()).issued_at(at).salt(SALT).valid_for(hour);
    built!(c, "rtm", rtm("rtm-user-1"));
    built!(c, "rtm.unicode", rtm("用户-ü-🙂"));
    built!(c, "rtm2.permissions", rtm("rtm-user-2").permissions(permissions()));
    built!(c, "rtm2.empty_permissions", rtm("rtm-user-3").permissions(Rtm2Permissions::new()));

    // Chat.
    built!(c, "chat.user", ChatToken::user(&app, &cert, "chat-user").issued_at(at).salt(SALT).valid_for(hour));
    built!(c, "chat.app", ChatToken::app(&app, &cert).issued_at(at).salt(SALT).valid_for(hour));

    // FPA.
    built!(c, "fpa", FpaToken::builder(&app, &cert).issued_at(at).salt(SALT));

    // APaaS and Education.
    for role in [0i16, 1, 2, 3, -1, i16::MAX, i16::MIN] {
        let id = format!("apaas.room_user.role{role}");
        built!(
            c,
            &id,
            ApaasToken::room_user(&app, &cert, "room-uuid-1", "user-uuid-1", role)
                .issued_at(at)
                .salt(SALT)
                .valid_for(hour)
        );
    }
    built!(c, "apaas.user", ApaasToken::user(&app, &cert, "user-uuid-1").issued_at(at).salt(SALT).valid_for(hour));
    built!(c, "apaas.app", ApaasToken::app(&app, &cert).issued_at(at).salt(SALT).valid_for(hour));
    built!(
        c,
        "education.room_user",
        EducationToken::room_user(&app, &cert, "room-uuid-2", "user-uuid-2", 2)
            .issued_at(at)
            .salt(SALT)
            .valid_for(hour)
    );
    built!(c, "education.user", EducationToken::user(&app, &cert, "user-uuid-2").issued_at(at).salt(SALT));
    built!(c, "education.app", EducationToken::app(&app, &cert).issued_at(at).salt(SALT));

    // Streaming and FCDN.
    built!(
        c,
        "streaming",
        StreamingToken::builder(&app, &cert, "live-1", "streamer")
            .issued_at(at)
            .salt(SALT)
            .valid_for(hour)
            .streaming_privilege(StreamingPrivilege::PublishMixStream, None)
            .streaming_privilege(StreamingPrivilege::PublishRawStream, Some(Expiry::secs(600)))
    );
    built!(
        c,
        "fcdn",
        FcdnToken::builder(&app, &cert, "cdn-1", "viewer")
            .issued_at(at)
            .salt(SALT)
            .valid_for(hour)
            .fcdn_privilege(FcdnPrivilege::Publish, Some(Expiry::Unlimited))
            .fcdn_privilege(FcdnPrivilege::Play, None)
    );

    // A raw token with all ten service types, inserted out of order, RTC twice.
    let mut raw = AccessToken2::new(APP_ID, ISSUED as u32, 86_400, 99_999_999);
    let p = |pairs: &[(u16, u32)]| pairs.iter().copied().collect::<BTreeMap<u16, u32>>();
    raw.add_service(Service::Stt { privileges: p(&[]) })
        .add_service(Service::Rtc { channel_name: "a".into(), uid: "1".into(), privileges: p(&[(1, 600), (2, 0)]) })
        .add_service(Service::Rtm2 { user_id: "u2".into(), privileges: p(&[(1, 600)]), permissions: permissions() })
        .add_service(Service::ConvoAi { privileges: p(&[(7, 1)]) })
        .add_service(Service::Rtm { user_id: "u1".into(), privileges: p(&[(1, 0)]) })
        .add_service(Service::Streaming {
            channel_name: "s".into(),
            account: "acc".into(),
            privileges: p(&[(1, 60), (2, 120)]),
        })
        .add_service(Service::Fpa { privileges: p(&[(1, 0)]) })
        .add_service(Service::Chat { user_id: "chat ✓".into(), privileges: p(&[(1, 600), (2, 600)]) })
        .add_service(Service::Fcdn { channel_name: "f".into(), account: "".into(), privileges: p(&[(1, 1), (2, 2)]) })
        .add_service(Service::Apaas {
            room_uuid: "r".into(),
            user_uuid: "u".into(),
            role: -1,
            privileges: p(&[(1, 0), (2, 0), (3, 0)]),
        })
        .add_service(Service::Rtc { channel_name: "b".into(), uid: "".into(), privileges: p(&[(1, u32::MAX)]) });
    let token = raw.encode(&cert).unwrap();
    c.push(case_007("raw.all_ten_types", token, &raw));

    // 006 RTC by uid and by account with the four roles, and 006 RTM.
    let rtc006 = || RtcToken::builder(&app, &cert).issued_at(at).salt(SALT).privileges_expire(Expiry::secs(3600));
    for role in [Role006::Attendee, Role006::Publisher, Role006::Subscriber, Role006::Admin] {
        let code = role.code();
        built!(c, &format!("006.rtc.uid.role{code}"), rtc006().channel("room-1").uid(uid.clone()).role(role), v006);
        built!(
            c,
            &format!("006.rtc.account.role{code}"),
            rtc006().channel("room-1").uid(account.clone()).role(role),
            v006
        );
    }
    built!(c, "006.rtc.any_uid", rtc006().channel("room-1").uid(Uid::Any).role(Role::Publisher), v006);
    built!(
        c,
        "006.rtc.unlimited",
        rtc006().channel("room-1").uid(uid.clone()).privileges_expire(Expiry::Unlimited),
        v006
    );
    built!(c, "006.rtm", rtm("rtm-user-1"), v006);

    // Negative controls: signed with another certificate, checked with ours.
    let mut forged = case_007(
        "negative.007.other_certificate",
        raw.encode(&AppCertificate::new(OTHER_CERT).unwrap()).unwrap(),
        &raw,
    );
    forged.signature_valid = false;
    c.push(forged);
    let other = AppCertificate::new(OTHER_CERT).unwrap();
    let b = RtcToken::builder(&app, &other).issued_at(at).salt(SALT).channel("room-1").uid(uid.clone());
    let mut forged =
        case_006("negative.006.other_certificate", b.build_v006().unwrap(), &b.build_token_v006().unwrap());
    forged.signature_valid = false;
    c.push(forged);
    c
}

// ---- generated structures ---------------------------------------------------------------

/// A small deterministic generator (xorshift64*), so the corpus is the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn u32(&mut self) -> u32 {
        match self.below(4) {
            0 => 0,
            1 => u32::MAX,
            _ => self.next() as u32,
        }
    }
    fn text(&mut self, max_chars: u64) -> String {
        const PIECES: &[&str] = &[
            "a",
            "Z",
            "0",
            "9",
            " ",
            "*",
            "-",
            "_",
            "\0",
            "\n",
            "\"",
            "\\",
            "é",
            "ü",
            "中",
            "文",
            "🙂",
            "\u{feff}",
            "\u{7f}",
            "\u{10ffff}",
        ];
        let n = self.below(max_chars + 1);
        (0..n).map(|_| PIECES[self.below(PIECES.len() as u64) as usize]).collect()
    }
    fn privileges(&mut self) -> BTreeMap<u16, u32> {
        (0..self.below(5))
            .map(|_| (if self.below(2) == 0 { self.below(5) as u16 } else { self.next() as u16 }, self.u32()))
            .collect()
    }
    /// A permission table the official parser can represent: every resource type lists at
    /// least one permission type (it only creates a resource type when adding a permission).
    fn permissions(&mut self) -> Rtm2Permissions {
        let mut table = BTreeMap::new();
        for _ in 0..self.below(4) {
            let mut perms = BTreeMap::new();
            for _ in 0..1 + self.below(2) {
                let list = (0..self.below(4)).map(|_| self.text(10)).collect();
                perms.insert(self.below(3) as u16, list);
            }
            table.insert(if self.below(4) == 0 { self.next() as u16 } else { self.below(5) as u16 }, perms);
        }
        Rtm2Permissions(table)
    }
    fn service(&mut self) -> Service {
        let privileges = self.privileges();
        match self.below(10) {
            0 => Service::Rtc { channel_name: self.text(40), uid: self.text(12), privileges },
            1 => Service::Rtm { user_id: self.text(40), privileges },
            2 => Service::Streaming { channel_name: self.text(40), account: self.text(40), privileges },
            3 => Service::Fpa { privileges },
            4 => Service::Chat { user_id: self.text(40), privileges },
            5 => Service::Fcdn { channel_name: self.text(40), account: self.text(40), privileges },
            6 => Service::Apaas {
                room_uuid: self.text(40),
                user_uuid: self.text(40),
                role: self.next() as i16,
                privileges,
            },
            7 => Service::Rtm2 { user_id: self.text(40), privileges, permissions: self.permissions() },
            8 => Service::ConvoAi { privileges },
            _ => Service::Stt { privileges },
        }
    }
}

/// Random structures of every service type, with strings the official parser must keep as
/// they are (NUL, quotes, a leading byte-order mark, astral characters).
fn generated_cases(count: usize) -> Vec<Case> {
    let mut rng = Rng(0x5EED_0FA9_07A1);
    let cert = AppCertificate::new(CERT).unwrap();
    (0..count)
        .map(|i| {
            let mut t = AccessToken2::new(APP_ID, rng.next() as u32, rng.u32(), rng.next() as u32);
            for _ in 0..1 + rng.below(6) {
                t.add_service(rng.service());
            }
            let token = t.encode(&cert).unwrap();
            case_007(&format!("generated.{i}"), token, &t)
        })
        .collect()
}

// ---- running the official library ------------------------------------------------------

fn harness_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("interop")
}

/// Whether to run: `false` (with a loud message) only when `AGTOKEN_SKIP_INTEROP=1`.
/// Otherwise Node.js must be there, and `npm ci` installs the package when it is missing.
fn prepare() -> bool {
    if std::env::var("AGTOKEN_SKIP_INTEROP").is_ok_and(|v| v == "1") {
        eprintln!();
        eprintln!("################################################################################");
        eprintln!("## AGTOKEN_SKIP_INTEROP=1: SKIPPING the interop test against the official     ##");
        eprintln!("## agora-token npm package. Tokens were NOT checked by Agora's own code.      ##");
        eprintln!("################################################################################");
        eprintln!();
        return false;
    }
    static SETUP: Mutex<()> = Mutex::new(());
    let _guard = SETUP.lock().unwrap_or_else(|e| e.into_inner());
    let node = Command::new("node").arg("--version").output();
    assert!(
        node.as_ref().is_ok_and(|o| o.status.success()),
        "the interop test needs Node.js (`node` on PATH): {node:?}. Set AGTOKEN_SKIP_INTEROP=1 to skip it explicitly."
    );
    let dir = harness_dir();
    if !dir.join("node_modules").join("agora-token").join("package.json").exists() {
        eprintln!("interop: node_modules missing, running `npm ci` in {}", dir.display());
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .status()
            .unwrap_or_else(|e| panic!("`npm ci` could not be started ({e}); set AGTOKEN_SKIP_INTEROP=1 to skip"));
        assert!(status.success(), "`npm ci` in {} failed: {status}", dir.display());
    }
    true
}

/// Runs `node verify.cjs` over the cases; returns its answers by id.
fn run_official(cases: &[Case]) -> BTreeMap<String, Value> {
    let mut input = String::new();
    for c in cases {
        let mut line = json!({"id": c.id, "token": c.token, "app_certificate": c.certificate});
        if let Some((channel, uid)) = &c.identity {
            line["channel_name"] = json!(channel);
            line["uid"] = json!(uid);
        }
        input.push_str(&line.to_string());
        input.push('\n');
    }
    let mut child = Command::new("node")
        .arg("verify.cjs")
        .current_dir(harness_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node verify.cjs starts");
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = child.wait_with_output().expect("node verify.cjs runs");
    writer.join().unwrap().expect("stdin written");
    assert!(
        output.status.success(),
        "node verify.cjs failed: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).expect("UTF-8 output");
    let mut answers = BTreeMap::new();
    for line in stdout.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("bad output line {line:?}: {e}"));
        let id = v["id"].as_str().unwrap_or_else(|| panic!("no id in {line}")).to_owned();
        assert!(answers.insert(id.clone(), v).is_none(), "{id} answered twice");
    }
    assert_eq!(answers.len(), cases.len(), "one answer per token");
    answers
}

/// What the official library says differently from what each case expects (empty when it
/// parses every case completely, checks each signature as expected, and reads the structure
/// we built).
fn disagreements(cases: &[Case]) -> Vec<String> {
    let answers = run_official(cases);
    let mut failures = Vec::new();
    for c in cases {
        let a = &answers[&c.id];
        if a["ok"] != json!(true) {
            failures.push(format!("{}: the official library rejected it: {}", c.id, a["error"]));
            continue;
        }
        if a["signature_valid"] != json!(c.signature_valid) {
            failures
                .push(format!("{}: signature_valid is {}, expected {}", c.id, a["signature_valid"], c.signature_valid));
        }
        if a["structure"] != c.structure {
            failures.push(format!(
                "{}: structures differ\n  official: {}\n  ours:     {}",
                c.id, a["structure"], c.structure
            ));
        }
    }
    failures
}

fn check(cases: &[Case]) {
    let failures = disagreements(cases);
    assert!(failures.is_empty(), "{} of {} tokens disagree:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

#[test]
fn official_library_parses_and_verifies_every_builder_token() {
    if !prepare() {
        return;
    }
    let cases = builder_cases();
    // Every service type and every builder is covered.
    let types: std::collections::BTreeSet<u64> = cases
        .iter()
        .filter_map(|c| c.structure["services"].as_array())
        .flatten()
        .filter_map(|s| s["type"].as_u64())
        .collect();
    assert_eq!(types, (1..=10).collect(), "all ten service types");
    assert!(cases.iter().any(|c| !c.signature_valid), "a negative control is included");
    check(&cases);
}

#[test]
fn official_library_agrees_on_generated_structures() {
    if !prepare() {
        return;
    }
    check(&generated_cases(150));
}

/// The check can fail: a structure that is not what the token holds, and a signature that
/// verifies when it should not, are both reported.
#[test]
fn a_wrong_expectation_is_caught() {
    if !prepare() {
        return;
    }
    let mut cases = generated_cases(2);
    cases[0].structure["salt"] = json!(1);
    cases[1].signature_valid = false;
    let failures = disagreements(&cases);
    assert_eq!(failures.len(), 2, "{failures:?}");
    assert!(failures[0].contains("structures differ") && failures[1].contains("signature_valid"), "{failures:?}");
}
