//! The `agtoken` binary, driven as a user or another program would drive it.

use std::io::{Read, Write};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

const APP_ID: &str = "970CA35de60c44645bbae8a215061b33";
const CERT: &str = "5CFd2fd1755d40ecb72977518be15d3b";

fn agtoken(args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_agtoken"));
    cmd.args(args)
        .env_remove("AGORA_APP_ID")
        .env_remove("AGORA_APP_CERTIFICATE")
        .env_remove("AGORA_APP_CERTIFICATE_SECONDARY")
        .env("APP_ID", APP_ID)
        .env("APP_CERTIFICATE", CERT)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("the binary runs");
    if let Some(input) = stdin {
        // A command that refuses its arguments exits without reading stdin: a broken pipe
        // here is that, not a failure.
        match child.stdin.take().unwrap().write_all(input.as_bytes()) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            other => other.unwrap(),
        }
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

fn last_line(o: &Output) -> String {
    stdout(o).lines().last().unwrap_or_default().to_owned()
}

fn inflate(token: &str) -> Vec<u8> {
    use base64::Engine as _;
    let z = base64::engine::general_purpose::STANDARD.decode(&token[3..]).unwrap();
    let mut out = Vec::new();
    flate2::read::ZlibDecoder::new(&z[..]).read_to_end(&mut out).unwrap();
    out
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn vectors() -> Vec<Value> {
    include_str!("../../agtoken/tests/data/public.jsonl").lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// The machine interface of the issue: `build --spec -` reproduces every vector from its
/// structure, and `inspect --json` gives back that structure.
#[test]
fn build_spec_and_inspect_json_reproduce_every_vector() {
    for v in vectors() {
        let id = v["id"].as_str().unwrap();
        let mut spec = v["structure"].clone();
        spec["version"] = v["version"].clone();
        spec["app_certificate"] = v["args"]["app_certificate"].clone();
        let out = agtoken(&["build", "--spec", "-"], Some(&spec.to_string()));
        assert!(out.status.success(), "{id}: {}", stderr(&out));
        let token = last_line(&out);
        if v["version"] == "006" {
            assert_eq!(token, v["token"].as_str().unwrap(), "{id}");
        } else {
            assert_eq!(hex(&inflate(&token)), v["content_hex"].as_str().unwrap(), "{id}");
        }

        let mut args = vec!["inspect", "--json", v["token"].as_str().unwrap()];
        let (channel, uid);
        if v["version"] == "006" {
            channel = v["structure"]["channel_name"].as_str().unwrap().to_owned();
            uid = v["structure"]["uid"].as_str().unwrap().to_owned();
            args.extend(["--channel", &channel, "--account", &uid]);
        }
        let out = agtoken(&args, None);
        assert!(out.status.success(), "{id}: {}", stderr(&out));
        let mut json: Value = serde_json::from_str(&stdout(&out)).unwrap();
        let obj = json.as_object_mut().unwrap();
        assert_eq!(obj.remove("version").unwrap(), v["version"], "{id}");
        for extra in ["issued_at_utc", "expires_at_utc", "expires_in"] {
            assert!(obj.remove(extra).is_some(), "{id}: inspect --json lacks {extra}");
        }
        assert_eq!(json, v["structure"], "{id}");
    }
}

#[test]
fn inspect_json_feeds_back_into_build_spec() {
    let token = last_line(&agtoken(&["rtc", "--channel", "room-1", "--uid", "42", "--role", "publisher"], None));
    let mut json: Value = serde_json::from_str(&stdout(&agtoken(&["inspect", "--json", &token], None))).unwrap();
    json["app_certificate"] = CERT.into();
    let rebuilt = last_line(&agtoken(&["build", "--spec", "-"], Some(&json.to_string())));
    assert_eq!(inflate(&rebuilt), inflate(&token));
}

#[test]
fn verify_exit_codes_say_admitted_refused_or_usage() {
    let token = last_line(&agtoken(
        &["rtc", "--channel", "room-1", "--uid", "42", "--role", "subscriber", "--valid-for", "10m"],
        None,
    ));
    let ok = agtoken(&["verify", &token, "--channel", "room-1", "--uid", "42"], None);
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
    assert!(stdout(&ok).contains("admitted"));

    let other_channel = agtoken(&["verify", &token, "--channel", "room-2", "--uid", "42"], None);
    assert_eq!(other_channel.status.code(), Some(1));
    assert!(stderr(&other_channel).contains("110"), "{}", stderr(&other_channel));

    let publish = agtoken(&["verify", &token, "--channel", "room-1", "--uid", "42", "--action", "publish-audio"], None);
    assert_eq!(publish.status.code(), Some(1));
    assert!(stderr(&publish).contains("publish_audio_stream"), "{}", stderr(&publish));

    let rtm = agtoken(&["verify", &token, "--user", "42"], None);
    assert_eq!(rtm.status.code(), Some(1));
    assert!(stderr(&rtm).contains("LOGIN_ERR_INVALID_TOKEN"), "{}", stderr(&rtm));

    let later =
        agtoken(&["verify", &token, "--channel", "room-1", "--uid", "42", "--at", "2100-01-01T00:00:00Z"], None);
    assert_eq!(later.status.code(), Some(1));
    assert!(stderr(&later).contains("109"), "{}", stderr(&later));

    let wrong_cert = agtoken(
        &[
            "verify",
            &token,
            "--channel",
            "room-1",
            "--uid",
            "42",
            "--app-certificate",
            "0123456789abcdef0123456789abcdef",
        ],
        None,
    );
    assert_eq!(wrong_cert.status.code(), Some(1));
    assert!(stderr(&wrong_cert).contains("signature"));

    let garbage = agtoken(&["verify", "008abc", "--channel", "room-1"], None);
    assert_eq!(garbage.status.code(), Some(1));

    let usage = agtoken(&["verify", &token, "--uid", "notanumber"], None);
    assert_eq!(usage.status.code(), Some(2));
}

#[test]
fn reproducible_builds_with_issued_at_and_salt() {
    let args = ["rtc", "--channel", "c", "--uid", "7", "--issued-at", "1700000000", "--salt", "5", "--valid-for", "1h"];
    let a = last_line(&agtoken(&args, None));
    let b = last_line(&agtoken(&args, None));
    assert_eq!(a, b);
    let c =
        last_line(&agtoken(&["rtc", "--channel", "c", "--uid", "7", "--issued-at", "1700000000", "--salt", "6"], None));
    assert_ne!(a, c);
}

#[test]
fn every_service_command_mints_a_token_that_inspects() {
    let cases: &[&[&str]] = &[
        &["rtc", "--channel", "c", "--account", "alice", "--role", "publisher", "--with-rtm", "alice"],
        &["rtc", "--channel", "c", "--uid", "9", "--v006"],
        &["rtm", "--user", "bob"],
        &["rtm", "--user", "bob", "--v006"],
        &["rtm2", "--user", "bob", "--permission", "stream_channels:read:chan-*"],
        &["chat", "user", "--user", "carol"],
        &["chat", "app"],
        &["fpa"],
        &["apaas", "room-user", "--room", "r1", "--user", "u1", "--role", "2"],
        &["apaas", "user", "--user", "u1"],
        &["apaas", "app"],
        &["education", "app"],
        &["streaming", "--channel", "c", "--account", "a", "--privilege", "publish-mix"],
        &["fcdn", "--channel", "c", "--account", "a", "--privilege", "play"],
        &["convoai", "--channel", "c", "--uid", "1", "--rtm-user", "agent"],
        &["stt", "--channel", "c", "--uid", "1", "--rtm-user", "agent"],
    ];
    for args in cases {
        let out = agtoken(args, None);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        let token = last_line(&out);
        let inspected = agtoken(&["inspect", &token], None);
        assert!(inspected.status.success(), "{args:?}");
    }
}

fn inspect_json(token: &str) -> Value {
    let out = agtoken(&["inspect", "--json", token], None);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_str(&stdout(&out)).unwrap()
}

/// The one service named `name` in an `inspect --json` structure.
fn service<'a>(structure: &'a Value, name: &str) -> &'a Value {
    let found: Vec<&Value> = structure["services"].as_array().unwrap().iter().filter(|s| s["name"] == name).collect();
    assert_eq!(found.len(), 1, "one {name} service in {structure}");
    found[0]
}

/// `apaas|education room-user` as the official Go test `Test_BuildRoomUserToken` expects (room
/// "123", user "2882341273", role 1, expire 600): the APaaS service carries exactly the room-user
/// privilege (1) = 600, RTM login and Chat user (MD5 of the user uuid) = 600. `--node-compatible`
/// gives the npm package's shape: the same token without the APaaS privilege, role 0 as -1.
#[test]
fn room_user_carries_the_room_user_privilege_unless_node_compatible() {
    for product in ["apaas", "education"] {
        let args = [product, "room-user", "--room", "123", "--user", "2882341273", "--role", "1", "--valid-for", "600"];
        let pinned = ["--issued-at", "1700000000", "--salt", "7"];
        let default = inspect_json(&last_line(&agtoken(&[&args[..], &pinned].concat(), None)));
        assert_eq!(default["app_id"], APP_ID);
        assert_eq!(default["expire"], 600);
        let apaas = service(&default, "apaas");
        assert_eq!(
            (&apaas["room_uuid"], &apaas["user_uuid"], &apaas["role"]),
            (&"123".into(), &"2882341273".into(), &1.into())
        );
        assert_eq!(apaas["privileges"], serde_json::json!({"1": 600}), "{product}");
        let rtm = service(&default, "rtm");
        assert_eq!((&rtm["user_id"], &rtm["privileges"]), (&"2882341273".into(), &serde_json::json!({"1": 600})));
        // printf 2882341273 | md5sum
        let chat = service(&default, "chat");
        assert_eq!(chat["user_id"], "6063383428a36fba3fb6030becf8094e");
        assert_eq!(chat["privileges"], serde_json::json!({"1": 600}));
        assert_eq!(default["services"].as_array().unwrap().len(), 3);

        let node = inspect_json(&last_line(&agtoken(&[&args[..], &pinned, &["--node-compatible"]].concat(), None)));
        let mut expected = default.clone();
        for s in expected["services"].as_array_mut().unwrap() {
            if s["name"] == "apaas" {
                s["privileges"] = serde_json::json!({});
            }
        }
        assert_eq!(node, expected, "{product} --node-compatible");

        // Role 0 (invisible) is kept; npm's `role || -1` stores -1.
        let zero = [product, "room-user", "--room", "r", "--user", "u", "--role", "0"];
        let kept = inspect_json(&last_line(&agtoken(&zero, None)));
        assert_eq!(service(&kept, "apaas")["role"], 0);
        let npm = inspect_json(&last_line(&agtoken(&[&zero[..], &["--node-compatible"]].concat(), None)));
        assert_eq!(service(&npm, "apaas")["role"], -1);
    }
}

/// The 16 public room-user vectors were made by the npm package: `--node-compatible`
/// reproduces each; the default differs from each by the room-user privilege (and keeps role 0).
#[test]
fn room_user_vectors_through_the_cli() {
    let mut count = 0;
    for v in vectors().into_iter().filter(|v| v["builder"].as_str().unwrap().ends_with(".room_user")) {
        let id = v["id"].as_str().unwrap();
        let a = &v["args"];
        let product = v["builder"].as_str().unwrap().split('.').next().unwrap();
        let expire = a["expire"].as_u64().unwrap();
        let owned = [
            format!("--room={}", a["room_uuid"].as_str().unwrap()),
            format!("--user={}", a["user_uuid"].as_str().unwrap()),
            format!("--role={}", a["role"]),
            format!("--valid-for={}", if expire == 0 { "unlimited".to_owned() } else { expire.to_string() }),
            format!("--issued-at={}", v["issue_ts"]),
            format!("--salt={}", v["salt"]),
            format!("--app-id={}", a["app_id"].as_str().unwrap()),
            format!("--app-certificate={}", a["app_certificate"].as_str().unwrap()),
        ];
        let mut args = vec![product, "room-user", "--unchecked"];
        args.extend(owned.iter().map(String::as_str));

        let out = agtoken(&[&args[..], &["--node-compatible"]].concat(), None);
        assert!(out.status.success(), "{id}: {}", stderr(&out));
        assert_eq!(hex(&inflate(&last_line(&out))), v["content_hex"].as_str().unwrap(), "{id}");

        let out = agtoken(&args, None);
        assert!(out.status.success(), "{id}: {}", stderr(&out));
        let mut ours = inspect_json(&last_line(&out));
        let obj = ours.as_object_mut().unwrap();
        for extra in ["version", "issued_at_utc", "expires_at_utc", "expires_in"] {
            obj.remove(extra);
        }
        let mut expected = v["structure"].clone();
        for s in expected["services"].as_array_mut().unwrap() {
            if s["name"] == "apaas" {
                s["privileges"] = serde_json::json!({ "1": expire });
                if a["role"] == 0 {
                    s["role"] = 0.into();
                }
            }
        }
        assert_eq!(ours, expected, "{id}");
        count += 1;
    }
    assert_eq!(count, 16);
}

#[test]
fn bad_input_is_a_usage_error_naming_the_field() {
    let cases: &[(&[&str], &str)] = &[
        (&["rtc", "--channel", "a/b", "--uid", "1"], "channel"),
        (&["rtc", "--channel", "c", "--valid-for", "2d"], "24 hours"),
        (&["rtc", "--channel", "c", "--valid-for", "soon"], "not a duration"),
        (&["rtc", "--channel", "c", "--app-id", "xyz"], "app_id"),
        (&["rtm", "--user", ""], "user_id"),
        (&["rtm2", "--user", "b", "--permission", "nope:read:x"], "unknown resource"),
        (&["build", "--spec", "-"], "JSON"),
    ];
    for (args, needle) in cases {
        let out = agtoken(args, Some("not json"));
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(needle), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn the_certificate_never_appears_in_any_output() {
    let token = last_line(&agtoken(&["rtc", "--channel", "c", "--uid", "1"], None));
    let runs = [
        agtoken(&["rtc", "--channel", "c", "--uid", "1", "--json"], None),
        agtoken(&["inspect", &token], None),
        agtoken(&["inspect", "--json", &token], None),
        agtoken(&["verify", &token, "--channel", "c", "--uid", "1", "--json"], None),
        agtoken(&["verify", &token, "--channel", "d", "--uid", "1"], None),
        agtoken(&["rtc", "--channel", "c", "--app-certificate", "5CFd2fd1755d40ecb72977518be15d3"], None),
    ];
    for out in runs {
        let all = format!("{}{}", stdout(&out), stderr(&out)).to_lowercase();
        assert!(!all.contains(&CERT.to_lowercase()), "{all}");
        assert!(!all.contains("5cfd2fd1755d40ecb72977518be15d3"), "{all}");
    }
}

#[test]
fn upgrade_turns_a_006_token_into_an_equivalent_007_token() {
    let old = last_line(&agtoken(
        &["rtc", "--channel", "c", "--uid", "5", "--role", "publisher", "--v006", "--valid-for", "2h"],
        None,
    ));
    assert!(old.starts_with("006"));
    let new = last_line(&agtoken(&["upgrade", &old, "--channel", "c", "--uid", "5"], None));
    assert!(new.starts_with("007"), "{new}");
    let ok = agtoken(&["verify", &new, "--channel", "c", "--uid", "5", "--action", "publish-video"], None);
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
    let wrong = agtoken(&["upgrade", &old, "--channel", "c", "--uid", "6"], None);
    assert_eq!(wrong.status.code(), Some(1));
}

#[test]
fn bench_json_reports_every_measurement() {
    let out = agtoken(&["bench", "--seconds", "0.05", "--json"], None);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let results = json["results"].as_array().unwrap();
    assert_eq!(results.len(), 4);
    assert!(results.iter().all(|r| r["ops_per_sec"].as_f64().unwrap() > 0.0));
}

#[test]
fn api_key_prints_a_fresh_key_and_only_its_hash_for_the_configuration() {
    use sha2::{Digest, Sha256};
    let first = agtoken(&["api-key", "--name", "backend"], None);
    assert!(first.status.success(), "{}", stderr(&first));
    let key = last_line(&first);
    assert!(key.starts_with("agtk_") && key.len() == 69, "{key}");
    let config = stderr(&first);
    let hash: String = Sha256::digest(key.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
    assert!(config.contains(&format!("sha256 = \"{hash}\"")), "{config}");
    assert!(config.contains("name = \"backend\""));
    assert!(!config.contains(&key), "the configuration must not hold the key itself");
    let second = last_line(&agtoken(&["api-key", "--name", "backend"], None));
    assert_ne!(key, second);
    assert_eq!(agtoken(&["api-key", "--name", "no spaces"], None).status.code(), Some(2));
}
