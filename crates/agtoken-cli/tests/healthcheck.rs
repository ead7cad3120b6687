//! `agtoken healthcheck` against a real `agtoken serve` on loopback: exit 0 while it serves,
//! 1 once it is gone or on a bad option; host and port from the same flags, variables and
//! TOML file as `serve`.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const VARS: &[&str] = &[
    "AGORA_APP_ID",
    "AGORA_APP_CERTIFICATE",
    "APP_ID",
    "APP_CERTIFICATE",
    "APP_CERTIFICATE_FILE",
    "PORT",
    "SERVER_PORT",
    "AGTOKEN_HOST",
    "AGTOKEN_CONFIG",
    "AGTOKEN_TLS_CERT_FILE",
    "AGTOKEN_TLS_KEY_FILE",
];

/// The binary in `dir` (no `.env` there) with none of the server's variables but `env`.
fn agtoken(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_agtoken"));
    cmd.args(args).current_dir(dir).stdin(Stdio::null());
    for var in VARS {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().copied());
    cmd
}

fn healthcheck(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut full = vec!["healthcheck"];
    full.extend_from_slice(args);
    agtoken(dir, &full, env).output().expect("agtoken healthcheck runs")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("agtoken-healthcheck-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn exit_0_while_serving_and_1_when_gone() {
    let dir = temp_dir();
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let port_text = port.to_string();
    // Demo mode on 127.0.0.1 only.
    let server = agtoken(&dir, &["serve", "--host", "127.0.0.1", "--port", &port_text], &[])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("agtoken serve starts");
    let mut server = Server(server);
    let start = Instant::now();
    loop {
        let out = healthcheck(&dir, &["--port", &port_text, "--timeout", "1s"], &[]);
        if out.status.success() {
            assert_eq!(text(&out).trim(), format!("ready: 200 from http://127.0.0.1:{port}/readyz"));
            break;
        }
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        assert!(start.elapsed() < Duration::from_secs(20), "the server did not get ready: {}", text(&out));
        std::thread::sleep(Duration::from_millis(50));
    }

    // The same server found through the variables and the TOML file `serve` reads.
    let ok = |args: &[&str], env: &[(&str, &str)]| {
        let out = healthcheck(&dir, args, env);
        assert!(out.status.success(), "{args:?} {env:?}: {}", text(&out));
    };
    ok(&[], &[("PORT", &port_text)]);
    ok(&[], &[("SERVER_PORT", &port_text), ("PORT", "1"), ("AGTOKEN_HOST", "0.0.0.0")]);
    ok(&["--host", "localhost"], &[("PORT", &port_text)]);
    std::fs::write(dir.join("agtoken.toml"), format!("host = \"0.0.0.0\"\nport = {port}\n")).unwrap();
    ok(&["--config", "agtoken.toml"], &[]);
    ok(&[], &[("AGTOKEN_CONFIG", "agtoken.toml")]);
    std::fs::write(dir.join(".env"), format!("PORT={port}\n")).unwrap();
    ok(&[], &[]);
    std::fs::remove_file(dir.join(".env")).unwrap();

    // Exit 1, never 2 (Docker reserves it), for a bad option value of its own.
    let out = healthcheck(&dir, &["--port", &port_text, "--timeout", "soon"], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("--timeout"), "{}", text(&out));
    let out = healthcheck(&dir, &[], &[("PORT", "eighty")]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("PORT"), "{}", text(&out));

    server.0.kill().unwrap();
    server.0.wait().unwrap();
    let out = healthcheck(&dir, &["--port", &port_text], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("not ready") && text(&out).contains(&port_text), "{}", text(&out));
    let _ = std::fs::remove_dir_all(&dir);
}
