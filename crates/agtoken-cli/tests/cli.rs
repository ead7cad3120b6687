//! The `agtoken` binary, driven as a user or another program would drive it.

use std::io::{Read, Write};
use std::process::{Command, Output, Stdio};

use serde_json::{json, Value};

const APP_ID: &str = "970CA35de60c44645bbae8a215061b33";
const CERT: &str = "5CFd2fd1755d40ecb72977518be15d3b";

fn agtoken(args: &[&str], stdin: Option<&str>) -> Output {
    agtoken_env(args, stdin, &[("APP_ID", Some(APP_ID)), ("APP_CERTIFICATE", Some(CERT))])
}

/// The binary with only these credential variables set (`None`: unset).
fn agtoken_env(args: &[&str], stdin: Option<&str>, env: &[(&str, Option<&str>)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_agtoken"));
    cmd.args(args);
    for var in [
        "AGORA_APP_ID",
        "AGORA_APP_CERTIFICATE",
        "AGORA_APP_CERTIFICATE_SECONDARY",
        "APP_ID",
        "APP_CERTIFICATE",
        "APP_CERT",
        "PORT",
        "SERVER_PORT",
    ] {
        cmd.env_remove(var);
    }
    for (var, value) in env {
        if let Some(value) = value {
            cmd.env(var, value);
        }
    }
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
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
        for extra in [
            "issued_at_utc",
            "expires_at_utc",
            "expires_in",
            "earliest_end",
            "earliest_end_utc",
            "latest_end",
            "latest_end_utc",
        ] {
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
        // Both read at the same instant: `expires_in` is relative to it.
        let default = inspect_json_at(&last_line(&agtoken(&[&args[..], &pinned].concat(), None)), "1700000100");
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

        let node = inspect_json_at(
            &last_line(&agtoken(&[&args[..], &pinned, &["--node-compatible"]].concat(), None)),
            "1700000100",
        );
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
        for extra in [
            "version",
            "issued_at_utc",
            "expires_at_utc",
            "expires_in",
            "earliest_end",
            "earliest_end_utc",
            "latest_end",
            "latest_end_utc",
        ] {
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
        (&["rtc", "--channel", "c", "--app-id", "xyz"], "--app-id: must be 32 hexadecimal characters (got \"xyz\")"),
        (&["rtm", "--user", ""], "--user: must not be empty"),
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

/// Agora's docs: "kRolePublisher (1): (Default)". Without --role, rtc, convoai and stt tokens
/// publish; --role subscriber joins only.
#[test]
fn the_default_role_is_publisher() {
    for v006 in [false, true] {
        let mut args = vec!["rtc", "--channel", "x", "--uid", "5"];
        if v006 {
            args.push("--v006");
        }
        let token = last_line(&agtoken(&args, None));
        let publish = ["verify", &token, "--channel", "x", "--uid", "5", "--action", "publish-video"];
        let out = agtoken(&publish, None);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        let subscriber = last_line(&agtoken(&[&args[..], &["--role", "subscriber"]].concat(), None));
        let out = agtoken(&["verify", &subscriber, "--channel", "x", "--uid", "5", "--action", "publish-video"], None);
        assert_eq!(out.status.code(), Some(1), "{args:?} --role subscriber: {}", stderr(&out));
    }
    let help = stdout(&agtoken(&["rtc", "--help"], None));
    assert!(help.contains("[default: publisher]"), "{help}");
}

/// Messages name the flag to change and say what to type, never a library (Rust) name.
#[test]
fn messages_speak_in_flags() {
    let cases: &[(&[&str], &str)] = &[
        (&["rtc", "--channel", "c", "--valid-for", "0"], "--valid-for: 0 would be stored as 0"),
        (&["rtc", "--channel", "c", "--valid-for", "0"], "give --valid-for unlimited for that"),
        (&["rtc", "--channel", "c", "--join-valid-for", "0s"], "give --join-valid-for unlimited for that"),
        (&["rtc", "--channel", "c", "--privileges-valid-for", "0"], "give --privileges-valid-for unlimited"),
        (&["rtm", "--user", "u", "--valid-for", "0"], "give --valid-for unlimited"),
        (&["rtc", "--channel", "c", "--expires-at", "2020-01-01T00:00:00Z"], "--expires-at: "),
        (&["rtc", "--channel", "a/b"], "--channel: may contain only"),
        (&["rtc", "--channel", "c", "--account", ""], "--account: must not be empty"),
        (&["rtc", "--channel", "c", "--with-rtm", ""], "--with-rtm: must not be empty"),
        (&["convoai", "--channel", "c", "--rtm-user", ""], "--rtm-user: must not be empty"),
        (&["apaas", "room-user", "--room", "", "--user", "u", "--role", "1"], "--room: must not be empty"),
        (&["chat", "user", "--user", ""], "--user: must not be empty"),
    ];
    for (args, needle) in cases {
        let out = agtoken(args, None);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains(needle), "{args:?}: {err}");
        for rust in ["Expiry::", "Uid::", "expire:", "user_id", "rtm_user_id", "room_uuid"] {
            assert!(!err.contains(rust), "{args:?} names {rust}: {err}");
        }
    }
}

/// `inspect --json | build --spec -` signs with the certificate every command uses when the
/// spec has none: the flag, AGORA_APP_CERTIFICATE, APP_CERTIFICATE.
#[test]
fn build_spec_takes_the_certificate_of_every_command() {
    let token = last_line(&agtoken(&["rtc", "--channel", "room-1", "--uid", "42"], None));
    let spec = stdout(&agtoken(&["inspect", "--json", &token], None));
    for env in [[("AGORA_APP_CERTIFICATE", Some(CERT))], [("APP_CERTIFICATE", Some(CERT))], [("APP_CERT", Some(CERT))]]
    {
        let out = agtoken_env(&["build", "--spec", "-"], Some(&spec), &env);
        assert!(out.status.success(), "{env:?}: {}", stderr(&out));
        assert_eq!(inflate(&last_line(&out)), inflate(&token), "{env:?}");
    }
    let out = agtoken_env(&["build", "--spec", "-", "--app-certificate", CERT], Some(&spec), &[]);
    assert_eq!(inflate(&last_line(&out)), inflate(&token), "{}", stderr(&out));
    // The spec's own certificate wins over the environment.
    let mut own: Value = serde_json::from_str(&spec).unwrap();
    own["app_certificate"] = CERT.into();
    let out = agtoken_env(
        &["build", "--spec", "-"],
        Some(&own.to_string()),
        &[("APP_CERTIFICATE", Some("0123456789abcdef0123456789abcdef"))],
    );
    assert_eq!(inflate(&last_line(&out)), inflate(&token), "{}", stderr(&out));
    let out = agtoken_env(&["build", "--spec", "-"], Some(&spec), &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("app_certificate: missing") && err.contains("--app-certificate"), "{err}");
    assert!(err.contains("AGORA_APP_CERTIFICATE"), "{err}");
}

/// `build --spec` names the field of a wrong spec by its path and says the rule (exit 2); a
/// field the structure does not have is refused rather than ignored.
#[test]
fn build_spec_names_the_path_of_a_wrong_field() {
    let token = last_line(&agtoken(&["rtm", "--user", "alice"], None));
    let mut spec: Value = serde_json::from_str(&stdout(&agtoken(&["inspect", "--json", &token], None))).unwrap();
    spec["app_certificate"] = CERT.into();
    let cases = [
        (
            "/services/0/channel_name",
            json!("c"),
            "services[0].channel_name: rtm service has no such field (its fields: user_id)",
        ),
        ("/services/0/privileges/join", json!(60), "services[0].privileges.join: privilege ids are numbers 0..=65535"),
        ("/expire", json!("1h"), "expire: must be a whole number 0..=4294967295, not string \"1h\""),
        ("/expires", json!(60), "expires: not a field of this structure"),
    ];
    for (pointer, value, needle) in cases {
        let mut wrong = spec.clone();
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        wrong.pointer_mut(parent).unwrap().as_object_mut().unwrap().insert(key.into(), value);
        let out = agtoken(&["build", "--spec", "-"], Some(&wrong.to_string()));
        assert_eq!(out.status.code(), Some(2), "{pointer}: {}", stderr(&out));
        assert!(stderr(&out).contains(needle), "{pointer}: {}", stderr(&out));
    }
    // The unchanged spec builds the same token.
    let out = agtoken(&["build", "--spec", "-"], Some(&spec.to_string()));
    assert_eq!(inflate(&last_line(&out)), inflate(&token), "{}", stderr(&out));
}

/// `upgrade` asks for everything it needs in one message, and needs nothing a wildcard 006
/// token does not hold.
#[test]
fn upgrade_asks_for_the_whole_identity_at_once() {
    let old = last_line(&agtoken(&["rtc", "--channel", "c", "--uid", "5", "--v006"], None));
    let out = agtoken(&["upgrade", &old], None);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("--channel") && err.contains("--uid") && err.contains("--account"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    let out = agtoken(&["upgrade", &old, "--channel", "c"], None);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("--uid") && !err.contains("--channel"), "{err}");
    let out = agtoken(&["upgrade", &old, "--uid", "5"], None);
    assert!(stderr(&out).contains("--channel") && !stderr(&out).contains("--uid"), "{}", stderr(&out));
    assert!(agtoken(&["upgrade", &old, "--channel", "c", "--uid", "5"], None).status.success());

    // Made for any uid: --uid is not needed, and the 007 token keeps "any".
    let any = last_line(&agtoken(&["rtc", "--channel", "c", "--v006"], None));
    let out = agtoken(&["upgrade", &any, "--channel", "c"], None);
    assert!(out.status.success(), "{}", stderr(&out));
    let new = last_line(&out);
    let ok = agtoken(&["verify", &new, "--channel", "c", "--uid", "77"], None);
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
}

#[test]
fn uid_values_say_the_range_and_the_alternative() {
    let cases = [("-1", "not negative"), ("abc", "not a whole number"), ("4294967296", "too large")];
    for (uid, why) in cases {
        for command in [&["rtc", "--channel", "c"][..], &["verify", "007x", "--channel", "c"][..]] {
            let out = agtoken(&[command, &["--uid", uid]].concat(), None);
            assert_eq!(out.status.code(), Some(2), "{uid}");
            let err = stderr(&out);
            assert!(err.contains(why) && err.contains("0..=4294967295") && err.contains("--account"), "{uid}: {err}");
            assert!(!err.contains("unexpected argument"), "{uid}: {err}");
        }
    }
    // A Java int uid above 2^31 arrives negative: the message says which uid it is.
    assert!(stderr(&agtoken(&["rtc", "--channel", "c", "--uid", "-1"], None)).contains("4294967295"));
    assert!(agtoken(&["rtc", "--channel", "c", "--uid", "4294967295"], None).status.success());
}

#[test]
fn a_mistyped_command_suggests_the_closest_one() {
    let cases: &[(&[&str], &str)] = &[
        (&["rct"], "'rtc'"),
        (&["verfy"], "'verify'"),
        (&["inpsect"], "'inspect'"),
        (&["chat", "usr"], "'user'"),
        (&["apaas", "room-usr"], "'room-user'"),
    ];
    for (args, suggestion) in cases {
        let out = agtoken(args, None);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = stderr(&out);
        assert!(err.contains(&format!("a similar subcommand exists: {suggestion}")), "{args:?}: {err}");
    }
    let err = stderr(&agtoken(&["rct"], None));
    assert!(!err.contains("rtm2") && !err.contains("chat"), "{err}");
    assert_eq!(agtoken(&["zzzzzzzz"], None).status.code(), Some(2));
}

/// Instants read alike everywhere: RFC 3339, the Unix seconds, and an age in at most two units.
#[test]
fn refusals_show_times_as_every_other_message() {
    let token = last_line(&agtoken(
        &["rtc", "--channel", "c", "--uid", "1", "--issued-at", "2020-01-01T00:00:00Z", "--valid-for", "1h"],
        None,
    ));
    // 3 years of 365.25 days, 16 days and 5 hours later.
    let at = (1_577_840_400u64 + 3 * 31_557_600 + 16 * 86_400 + 5 * 3600).to_string();
    let out = agtoken(&["verify", &token, "--channel", "c", "--uid", "1", "--at", &at], None);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("token expired at 2020-01-01T01:00:00Z (1577840400, 3y 16d ago)"), "{err}");
    let json = agtoken(&["verify", &token, "--channel", "c", "--uid", "1", "--at", &at, "--json"], None);
    let reason: Value = serde_json::from_str(&stdout(&json)).unwrap();
    assert!(reason["reason"].as_str().unwrap().contains("2020-01-01T01:00:00Z (1577840400, 3y 16d ago)"));

    let publish = last_line(&agtoken(
        &["rtc", "--channel", "c", "--uid", "1", "--issued-at", "1700000000", "--publish-audio-valid-for", "10m"],
        None,
    ));
    let out = agtoken(
        &["verify", &publish, "--channel", "c", "--uid", "1", "--action", "publish-audio", "--at", "1700000700"],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("publish_audio_stream expired at 2023-11-14T22:23:20Z (1700000600, 1m 40s ago)"), "{err}");
    let inspected = stdout(&agtoken(&["inspect", &publish, "--at", "1700000000"], None));
    assert!(inspected.contains("(1700000600, in 10m)"), "{inspected}");
    assert!(!inspected.contains("years") && !inspected.contains("days"), "{inspected}");
}

/// The headline is what the token admits: the earliest end (renew by then) and the latest.
#[test]
fn inspect_headlines_what_the_token_admits() {
    let pinned = ["--issued-at", "1700000000", "--salt", "1"];
    let old = last_line(&agtoken(
        &[&["rtc", "--channel", "room-1", "--uid", "42", "--v006", "--valid-for", "10m"][..], &pinned].concat(),
        None,
    ));
    let out = stdout(&agtoken(&["inspect", &old, "--at", "1700000000"], None));
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[2].starts_with("admits       rtc: join_channel, publish_audio_stream"), "{out}");
    assert_eq!(
        lines[3], "valid until  2023-11-14T22:23:20Z (1700000600, in 10m): everything it admits ends then",
        "{out}"
    );
    // The 24 h `ts` is still shown, as the token's own end, below.
    assert!(out.contains("token end    2023-11-15T22:13:20Z (1700086400, in 1d) (ts"), "{out}");
    let json = inspect_json_at(&old, "1700000000");
    assert_eq!(
        (json["earliest_end"].as_u64(), json["latest_end"].as_u64()),
        (Some(1_700_000_600), Some(1_700_000_600))
    );

    let new = last_line(&agtoken(
        &[&["rtc", "--channel", "room-1", "--uid", "42", "--join-valid-for", "10m", "--with-rtm", "a"][..], &pinned]
            .concat(),
        None,
    ));
    let out = stdout(&agtoken(&["inspect", &new, "--at", "1700000000"], None));
    assert!(out.contains("admits       rtc: join_channel, publish_audio_stream, publish_video_stream, publish_data_stream; rtm: rtm_login"), "{out}");
    assert!(
        out.contains("earliest end 2023-11-14T22:23:20Z (1700000600, in 10m): join_channel ends first (renew by then)"),
        "{out}"
    );
    assert!(out.contains("latest end   2023-11-14T23:13:20Z (1700003600, in 1h): the last"), "{out}");
    let json = inspect_json_at(&new, "1700000000");
    assert_eq!(json["earliest_end_utc"], "2023-11-14T22:23:20Z");
    assert_eq!(json["latest_end_utc"], "2023-11-14T23:13:20Z");
}

fn inspect_json_at(token: &str, at: &str) -> Value {
    let out = agtoken(&["inspect", "--json", token, "--at", at], None);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_str(&stdout(&out)).unwrap()
}

/// Checking a 006 token against an identity it was not made for is a refusal: exit 1, as verify.
#[test]
fn inspect_of_a_006_token_for_another_identity_exits_1() {
    let old = last_line(&agtoken(&["rtc", "--channel", "room-1", "--uid", "42", "--v006"], None));
    let ok = agtoken(&["inspect", &old, "--channel", "room-1", "--uid", "42"], None);
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
    for (args, what) in [
        (&["--channel", "room-2", "--uid", "42"][..], "channel \"room-2\""),
        (&["--channel", "room-1", "--uid", "43"][..], "uid \"43\""),
        (&["--account", "alice"][..], "account \"alice\""),
    ] {
        for json in [false, true] {
            let mut all = vec!["inspect", old.as_str()];
            all.extend(args);
            if json {
                all.push("--json");
            }
            let out = agtoken(&all, None);
            assert_eq!(out.status.code(), Some(1), "{all:?}");
            let err = stderr(&out);
            assert!(err.contains(&format!("not made for {what}")) && err.contains("110"), "{all:?}: {err}");
            assert!(!stdout(&out).is_empty(), "the fields are still shown");
        }
    }
    // A wildcard 006 token (made for any uid) admits any uid.
    let any = last_line(&agtoken(&["rtc", "--channel", "room-1", "--v006"], None));
    let out = agtoken(&["inspect", &any, "--channel", "room-1", "--uid", "43"], None);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("uid          any"), "{}", stdout(&out));
}

/// Tokens mangled on the way (an Authorization header, quotes, URL encoding, a + turned into a
/// space) are recognised and the message says what to do.
#[test]
fn copy_paste_mistakes_get_a_hint() {
    let token = (1..200)
        .map(|salt| last_line(&agtoken(&["rtc", "--channel", "c", "--uid", "1", "--salt", &salt.to_string()], None)))
        .find(|t| t.contains('+') && t.contains('/'))
        .unwrap();
    let encoded = token.replace('+', "%2B").replace('/', "%2F").replace('=', "%3D");
    let cases = [
        (format!("Bearer {token}"), "give only the token after \"Bearer \""),
        (format!("\"{token}\""), "without the quotes"),
        (format!("'{token}'"), "without the quotes"),
        (encoded, "decode it first: %2B is +, %2F is / and %3D is ="),
        (token.replace('+', " "), "put the + back"),
    ];
    for (text, hint) in &cases {
        for command in ["inspect", "verify"] {
            let out = agtoken(&[command, text, "--channel", "c", "--uid", "1"], None);
            assert_eq!(out.status.code(), Some(1), "{command} {text}");
            let err = stderr(&out);
            assert!(err.contains(hint), "{command} {text}: {err}");
        }
    }
    assert_eq!(agtoken(&["inspect", &format!("  {token}\n")], None).status.code(), Some(0));
}

#[test]
fn help_serve_documents_the_environment_and_demo_mode() {
    let out = agtoken(&["help", "serve"], None);
    assert!(out.status.success());
    let help = stdout(&out);
    for needle in [
        "AGORA_APP_ID, APP_ID",
        "AGORA_APP_CERTIFICATE, APP_CERTIFICATE, APP_CERT",
        "_FILE",
        "APP_CERTIFICATE_FILE",
        "SERVER_PORT (wins), PORT",
        "CORS_ALLOW_ORIGIN",
        ".env",
        "AGTOKEN_CONFIG",
        "AGTOKEN_TOKEN_VERSION",
        "AGTOKEN_TLS_CERT_FILE",
        "Demo mode",
    ] {
        assert!(help.contains(needle), "{needle}: {help}");
    }
    assert!(stdout(&agtoken(&["serve", "-h"], None)).contains("agtoken help serve"));
}

/// Start-up problems say what to do: a wrong app id named once with its value, a busy port
/// with the address and the way out.
#[test]
fn serve_start_up_errors_say_what_to_do() {
    let out = agtoken_env(&["serve"], None, &[("APP_ID", Some("xyz")), ("APP_CERTIFICATE", Some(CERT))]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("environment: APP_ID: must be 32 hexadecimal characters, got \"xyz\" (3 characters)"),
        "{err}"
    );
    assert_eq!(err.matches("APP_ID").count(), 1, "{err}");

    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    let env = [("APP_ID", Some(APP_ID)), ("APP_CERT", Some(CERT))];
    let out = agtoken_env(&["serve", "--host", "127.0.0.1", "--port", &port], None, &env);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains(&format!("cannot listen on 127.0.0.1:{port}")), "{err}");
    assert!(err.contains("--port") && err.contains("PORT") && err.contains("stop that process"), "{err}");
    assert!(!err.to_lowercase().contains(&CERT.to_lowercase()), "{err}");
    drop(busy);
}
