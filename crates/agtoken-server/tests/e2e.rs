//! The web client in a real browser: starts the server (demo mode with the default settings),
//! two more for the cross-origin checks and one whose app requires an API key, then runs
//! `node tests/e2e/e2e.mjs` (playwright-core driving Debian's headless Chromium), which joins
//! with nothing typed but the channel and uid and sees the renewal within a minute, decodes the
//! token, checks a refusal, field errors and the status on a phone-sized screen, retries and
//! re-join while the token server fails, the console, CORS and the API key field, and leaves
//! screenshots in `tests/e2e/artifacts/`.
//!
//! Needs `/usr/bin/chromium` (`apt-get install chromium`) and Node.js; runs `npm ci` in
//! `tests/e2e` when `node_modules` is missing. `AGTOKEN_SKIP_E2E=1` skips it, loudly.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use agtoken_server::{run, AppState, Config, Env, ServeOptions};
use tokio::net::TcpListener;
use tokio::sync::watch;

const CHROMIUM: &str = "/usr/bin/chromium";
/// The browser part takes about 30 s; this only stops a hung run.
const LIMIT: Duration = Duration::from_secs(120);

fn e2e_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("..").join("tests").join("e2e")
}

/// A configuration read from these environment variables only (no process environment, no
/// `.env`, no file), as `agtoken serve` would read them.
fn config(vars: &[(&str, &str)]) -> Config {
    Config::from_sources(&ServeOptions::default(), &Env::from_pairs(vars.iter().copied()), None)
        .expect("a valid configuration")
}

/// A server whose (only) app requires an API key, as `agtoken serve --config` would read it
/// (the TOML is not written anywhere): one rule lets the key get RTC tokens. The key is made
/// now, as `agtoken api-key` makes them.
fn api_key_config() -> (Config, String) {
    let (key, sha256) = agtoken_server::auth::generate_api_key();
    let toml = format!(
        r#"
[[apps]]
app_id = "970CA35de60c44645bbae8a215061b33"
app_certificate = "5CFd2fd1755d40ecb72977518be15d3b"
auth = "api_key"
compat_lifetime_secs = 600

[[apps.api_keys]]
name = "e2e"
sha256 = "{sha256}"

[[apps.policy]]
name = "e2e"
api_keys = ["e2e"]
services = ["rtc"]
"#
    );
    let path = Path::new("e2e-api-key.toml");
    let config = Config::from_sources(&ServeOptions::default(), &Env::default(), Some((path, &toml)))
        .expect("a valid API key configuration");
    assert!(!config.demo && config.default_app().auth.kind() == "api_key");
    (config, key)
}

/// Whether to run: `false` (with a loud message) only when `AGTOKEN_SKIP_E2E=1`. Otherwise
/// Chromium and Node.js must be there, and `npm ci` installs playwright-core when missing.
fn prepare(dir: &Path) -> bool {
    if std::env::var("AGTOKEN_SKIP_E2E").is_ok_and(|v| v == "1") {
        eprintln!();
        eprintln!("################################################################################");
        eprintln!("## AGTOKEN_SKIP_E2E=1: SKIPPING the browser test of the web client.           ##");
        eprintln!("## The page, renewals and CORS were NOT checked in a browser.                 ##");
        eprintln!("################################################################################");
        eprintln!();
        return false;
    }
    assert!(
        Path::new(CHROMIUM).exists(),
        "the web client's browser test needs Debian's Chromium at {CHROMIUM}: install it with \
         `apt-get update && apt-get install -y chromium` (or set AGTOKEN_SKIP_E2E=1 to skip this test explicitly)"
    );
    let node = Command::new("node").arg("--version").output();
    assert!(
        node.as_ref().is_ok_and(|o| o.status.success()),
        "the browser test needs Node.js (`node` on PATH): {node:?}. Set AGTOKEN_SKIP_E2E=1 to skip it explicitly."
    );
    if !dir.join("node_modules").join("playwright-core").join("package.json").exists() {
        eprintln!("e2e: node_modules missing, running `npm ci` in {}", dir.display());
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(dir)
            .status()
            .unwrap_or_else(|e| panic!("`npm ci` could not be started ({e}); set AGTOKEN_SKIP_E2E=1 to skip"));
        assert!(status.success(), "`npm ci` in {} failed: {status}", dir.display());
    }
    true
}

/// Runs `node e2e.mjs args…` (with `envs`) with a time limit; returns (success, stdout + stderr).
fn run_browser_test(dir: &Path, args: &[String], envs: &[(&str, &str)]) -> (bool, String) {
    let mut child = Command::new("node")
        .arg(dir.join("e2e.mjs"))
        .args(args)
        .envs(envs.iter().copied())
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node starts");
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for node") {
            break Some(status);
        }
        if start.elapsed() > LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let text = format!("{}{}", out.join().unwrap_or_default(), err.join().unwrap_or_default());
    match status {
        Some(s) => (s.success(), text),
        None => (false, format!("{text}\nthe browser test did not finish within {} s and was killed", LIMIT.as_secs())),
    }
}

#[test]
fn web_client_in_headless_chromium() {
    let dir = e2e_dir();
    if !prepare(&dir) {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("tokio");
    let (stop, stopped) = watch::channel(false);

    // Bind first: the page's origin goes into the CORS settings of the API server.
    let (page, api, blocked, keyed) = rt.block_on(async {
        let bind = || async { TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0") };
        (bind().await, bind().await, bind().await, bind().await)
    });
    let page_origin = format!("http://{}", page.local_addr().unwrap());
    let api_origin = format!("http://{}", api.local_addr().unwrap());
    let blocked_origin = format!("http://{}", blocked.local_addr().unwrap());
    let keyed_origin = format!("http://{}", keyed.local_addr().unwrap());

    // The page's server: demo mode with the defaults, as `agtoken serve` starts with no
    // configuration (/fetch_rtc_token gives 3600 s; the page fills in /v1/config's demo lifetime).
    let main = config(&[]);
    assert!(main.demo, "no app configured: demo mode");
    // An API server on another origin that allows the page's origin, and one that does not.
    let cors = config(&[("CORS_ALLOW_ORIGIN", page_origin.as_str())]);
    let no_cors = config(&[("CORS_ALLOW_ORIGIN", "https://elsewhere.example")]);
    let (with_key, api_key) = api_key_config();

    let mut servers = Vec::new();
    for (listener, config) in [(page, main), (api, cors), (blocked, no_cors), (keyed, with_key)] {
        let mut stopped = stopped.clone();
        let shutdown = async move {
            let _ = stopped.wait_for(|s| *s).await;
        };
        servers.push(rt.spawn(run(listener, AppState::new(config), shutdown)));
    }

    let args = vec![
        format!("{page_origin}/"),
        format!("{page_origin}/?api={api_origin}"),
        format!("{page_origin}/?api={blocked_origin}"),
        format!("{keyed_origin}/"),
    ];
    let started = Instant::now();
    let (ok, output) = run_browser_test(&dir, &args, &[("AGTOKEN_E2E_API_KEY", api_key.as_str())]);
    eprintln!("{output}");
    eprintln!("e2e: browser test took {:.1} s", started.elapsed().as_secs_f64());

    let _ = stop.send(true);
    rt.block_on(async {
        for server in servers {
            let result = tokio::time::timeout(Duration::from_secs(10), server).await;
            assert!(matches!(result, Ok(Ok(Ok(())))), "a server did not stop cleanly: {result:?}");
        }
    });
    assert!(ok, "the browser test failed (screenshots in {}):\n{output}", dir.join("artifacts").display());
}
