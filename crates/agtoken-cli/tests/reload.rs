//! `agtoken serve --check-config` exit codes, and `agtoken serve` reloading its configuration
//! on SIGHUP (a revoked API key gets 401 at once, the other keeps working, a broken
//! configuration is refused while the old one serves on). Real processes on loopback.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

const APP_ID: &str = "970CA35de60c44645bbae8a215061b33";
const CERT: &str = "5CFd2fd1755d40ecb72977518be15d3b";
const KEY_A: &str = "agtk_cli_reload_key_a_00000000000000000000000000000000000000000000";
const KEY_B: &str = "agtk_cli_reload_key_b_11111111111111111111111111111111111111111111";

/// The server's variables, removed so the test's own environment cannot leak in.
const VARS: &[&str] = &[
    "AGORA_APP_ID",
    "AGORA_APP_CERTIFICATE",
    "APP_ID",
    "APP_CERTIFICATE",
    "APP_CERT",
    "APP_CERTIFICATE_FILE",
    "PORT",
    "SERVER_PORT",
    "AGTOKEN_HOST",
    "AGTOKEN_CONFIG",
    "AGTOKEN_TLS_CERT_FILE",
    "AGTOKEN_TLS_KEY_FILE",
];

fn agtoken(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_agtoken"));
    cmd.args(args).current_dir(dir).stdin(Stdio::null());
    for var in VARS {
        cmd.env_remove(var);
    }
    cmd
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("agtoken-cli-reload-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write_private(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
}

fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// One app with these API keys (by name), its certificate in `dir/certificate`.
fn write_config(dir: &Path, port: u16, keys: &[(&str, &str)]) {
    let mut text = format!(
        "host = \"127.0.0.1\"\nport = {port}\n[[apps]]\napp_id = \"{APP_ID}\"\napp_certificate_file = \"certificate\"\n\
         auth = \"api_key\"\n"
    );
    for (name, key) in keys {
        text.push_str(&format!("[[apps.api_keys]]\nname = \"{name}\"\nsha256 = \"{}\"\n", sha256_hex(key)));
    }
    text.push_str("[[apps.policy]]\nname = \"any-key\"\nservices = [\"rtc\"]\n");
    // Written beside and renamed over, as deployment tools do.
    std::fs::write(dir.join("agtoken.toml.new"), text).unwrap();
    std::fs::rename(dir.join("agtoken.toml.new"), dir.join("agtoken.toml")).unwrap();
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn check_config_exits_0_with_a_summary_or_1_with_the_error_serve_gives() {
    let dir = temp_dir("check");
    write_private(&dir.join("certificate"), CERT);
    write_config(&dir, 8080, &[("a", KEY_A)]);
    let out = agtoken(&dir, &["serve", "--config", "agtoken.toml", "--check-config"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let summary = String::from_utf8_lossy(&out.stdout);
    assert_eq!(summary.lines().count(), 1, "{summary}");
    assert!(summary.starts_with("configuration OK: 1 app (default 970CA35de60c44645bbae8a215061b33)"), "{summary}");
    assert!(summary.contains("auth api_key") && summary.contains("http on 127.0.0.1:8080"), "{summary}");
    assert!(!summary.contains(CERT) && !stderr(&out).contains(CERT), "the certificate was printed");

    // The same sources as serve: the environment's port wins over the file's.
    let out =
        agtoken(&dir, &["serve", "--config", "agtoken.toml", "--check-config"]).env("PORT", "9000").output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("127.0.0.1:9000"), "{}", stderr(&out));

    // A certificate file that holds no certificate: exit 1 and serve's own message.
    write_private(&dir.join("certificate"), "xyz");
    let check = agtoken(&dir, &["serve", "--config", "agtoken.toml", "--check-config"]).output().unwrap();
    assert_eq!(check.status.code(), Some(1), "{}", stderr(&check));
    assert!(check.stdout.is_empty());
    assert!(stderr(&check).contains("apps[0].app_certificate"), "{}", stderr(&check));
    let serve = agtoken(&dir, &["serve", "--config", "agtoken.toml"]).output().unwrap();
    assert_eq!(serve.status.code(), Some(1));
    assert_eq!(stderr(&check), stderr(&serve), "--check-config and serve disagree");

    // Invalid TOML, and a file that is not there.
    std::fs::write(dir.join("agtoken.toml"), "[[apps]\n").unwrap();
    let out = agtoken(&dir, &["serve", "--config", "agtoken.toml", "--check-config"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("agtoken.toml"), "{}", stderr(&out));
    let out = agtoken(&dir, &["serve", "--config", "missing.toml", "--check-config"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("missing.toml"), "{}", stderr(&out));
    let _ = std::fs::remove_dir_all(&dir);
}

/// The status of `POST /fetch_rtc_token` with `key` (0 when the connection failed).
fn fetch(addr: SocketAddr, key: &str) -> u16 {
    let body = r#"{"uid":42,"ChannelName":"room-1","role":1}"#;
    let request = format!(
        "POST /fetch_rtc_token HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nX-Api-Key: {key}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else { return 0 };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    if stream.write_all(request.as_bytes()).is_err() {
        return 0;
    }
    let mut reply = String::new();
    let _ = stream.read_to_string(&mut reply);
    reply.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn hangup(server: &Server) {
    let status = Command::new("kill").arg("-HUP").arg(server.0.id().to_string()).status().unwrap();
    assert!(status.success());
}

/// Polls until `key` gets `status`, for up to 10 s.
fn wait_for(addr: SocketAddr, key: &str, status: u16) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if fetch(addr, key) == status {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[cfg(unix)]
#[test]
fn sighup_revokes_a_key_and_a_broken_configuration_is_refused() {
    let dir = temp_dir("sighup");
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    write_private(&dir.join("certificate"), CERT);
    write_config(&dir, port, &[("a", KEY_A), ("b", KEY_B)]);
    let log = std::fs::File::create(dir.join("server.log")).unwrap();
    let child = agtoken(&dir, &["serve", "--config", "agtoken.toml", "--log-json"])
        .env("RUST_LOG", "info")
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let mut server = Server(child);
    assert!(wait_for(addr, KEY_A, 200), "the server did not start");
    assert_eq!(fetch(addr, KEY_B), 200);

    // Revoked, then SIGHUP: refused from the next request on.
    write_config(&dir, port, &[("b", KEY_B)]);
    hangup(&server);
    assert!(wait_for(addr, KEY_A, 401), "the revoked key still works");
    assert_eq!(fetch(addr, KEY_B), 200);

    // A broken configuration: refused, the running one serves on, the log names the setting.
    write_private(&dir.join("certificate"), "not-a-certificate");
    write_config(&dir, port, &[("a", KEY_A), ("b", KEY_B)]);
    hangup(&server);
    let log_path = dir.join("server.log");
    let deadline = Instant::now() + Duration::from_secs(10);
    let failure = loop {
        let text = std::fs::read_to_string(&log_path).unwrap();
        if let Some(line) = text.lines().find(|l| l.contains("configuration reload failed")) {
            break line.to_owned();
        }
        assert!(Instant::now() < deadline, "no failed reload logged: {text}");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(failure.contains("apps[0].app_certificate"), "{failure}");
    assert!(!failure.contains("not-a-certificate"), "{failure}");
    assert_eq!(fetch(addr, KEY_A), 401, "the broken configuration was applied");
    assert_eq!(fetch(addr, KEY_B), 200);
    assert!(server.0.try_wait().unwrap().is_none(), "the server exited");
    assert!(std::fs::read_to_string(&log_path).unwrap().contains("SIGHUP received"));
    let _ = std::fs::remove_dir_all(&dir);
}
