//! The published contract: Schemathesis (pinned in `deploy/requirements-ci.txt`, installed in
//! `.venv-ci/` by `.ci/run`) runs every check it has (`--checks all`) against the real server
//! on 127.0.0.1, from the server's own `/openapi.json`, and must find nothing:
//!
//! 1. in demo mode (auth none);
//! 2. with API-key auth and a policy rule, passing the key.
//!
//! Without the venv the test fails and says how to make it; `AGTOKEN_SKIP_SCHEMATHESIS=1`
//! skips it, loudly (it takes minutes). Strings are generated as ASCII (`--generation-codec ascii`): Agora's
//! limits are in bytes and JSON Schema's `maxLength` counts characters, which agree only there.
//! The number of examples per operation is bounded so a run takes a few minutes on 2 cores.
//! `tests/schemathesis.toml` says which v1 answers count as accepting a schema-valid request
//! (422: a rule JSON Schema cannot state, such as "a string that parses as a token").

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use agtoken_server::{run, AppState, Config, Env, ServeOptions};
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;

const API_KEY: &str = "agtk_contract_0123456789abcdef0123456789abcdef0123456789abcd";
const APP_ID: &str = "970CA35de60c44645bbae8a215061b33";
const CERT: &str = "5CFd2fd1755d40ecb72977518be15d3b";
/// Examples per operation in the fuzzing phase (the coverage phase adds its own boundary cases).
const MAX_EXAMPLES: &str = "25";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("..").canonicalize().expect("workspace root")
}

/// The pinned Schemathesis, or `None` when the test is skipped on purpose.
fn schemathesis() -> Option<PathBuf> {
    if std::env::var("AGTOKEN_SKIP_SCHEMATHESIS").is_ok_and(|v| v == "1") {
        eprintln!();
        eprintln!("################################################################################");
        eprintln!("## AGTOKEN_SKIP_SCHEMATHESIS=1: SKIPPING the OpenAPI contract test             ##");
        eprintln!("################################################################################");
        eprintln!();
        return None;
    }
    let tool = root().join(".venv-ci").join("bin").join("schemathesis");
    assert!(
        tool.exists(),
        "{} is missing: the contract test runs the pinned Schemathesis from .venv-ci/. Make it with \
         `python3 -m venv .venv-ci && .venv-ci/bin/pip install -r deploy/requirements-ci.txt` (as .ci/run does), \
         or set AGTOKEN_SKIP_SCHEMATHESIS=1 to skip this test explicitly",
        tool.display()
    );
    Some(tool)
}

/// A configuration with API-key auth and a policy rule for the key.
fn api_key_config(dir: &Path) -> Config {
    let hash: String = Sha256::digest(API_KEY.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
    let text = format!(
        r#"host = "127.0.0.1"
port = 0

[[apps]]
app_id = "{APP_ID}"
app_certificate = "{CERT}"
auth = "api_key"

[[apps.api_keys]]
name = "contract"
sha256 = "{hash}"

[[apps.policy]]
name = "contract"
api_keys = ["contract"]
services = ["rtc", "rtm", "chat", "chat_app"]
"#
    );
    let path = dir.join("agtoken.toml");
    std::fs::write(&path, &text).expect("write the configuration");
    Config::from_sources(&ServeOptions::default(), &Env::default(), Some((&path, &text)))
        .unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// Serves `config` on 127.0.0.1 and runs Schemathesis against it with `headers`.
fn check_contract(tool: &Path, name: &str, config: Config, headers: &[&str]) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let listener = runtime.block_on(TcpListener::bind("127.0.0.1:0")).expect("bind 127.0.0.1");
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = runtime.spawn(run(listener, AppState::new(config), async move {
        let _ = stopped.await;
    }));

    let report = std::env::temp_dir().join(format!("agtoken-contract-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&report).expect("scratch directory");
    let url = format!("http://{addr}/openapi.json");
    let mut command = Command::new(tool);
    command
        .arg("--config-file")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("schemathesis.toml"))
        .args(["run", &url, "--checks", "all", "--max-examples", MAX_EXAMPLES, "--seed", "1"])
        .args(["--generation-codec", "ascii", "--workers", "1", "--no-color", "--generation-database", "none"])
        .arg("--report-dir")
        .arg(&report)
        // Its caches (`.schemathesis/`) go to the scratch directory, not the repository.
        .current_dir(&report)
        .env("SCHEMATHESIS_TELEMETRY", "false")
        .env("NO_COLOR", "1");
    for header in headers {
        command.args(["--header", header]);
    }
    let started = Instant::now();
    let output = command.output().unwrap_or_else(|e| panic!("cannot run {}: {e}", tool.display()));
    let elapsed = started.elapsed();
    let _ = stop.send(());
    runtime.block_on(server).expect("server task").expect("server ran");
    let _ = std::fs::remove_dir_all(&report);
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    eprintln!("schemathesis ({name}) took {:.0} s", elapsed.as_secs_f64());
    assert!(output.status.success(), "Schemathesis found problems in the {name} run:\n{text}");
    assert!(
        text.contains(" generated, ") && !text.contains("Failures:") && !text.contains("Errors:"),
        "Schemathesis ({name}) did not report a clean run:\n{text}"
    );
}

#[test]
fn schemathesis_finds_nothing_in_demo_mode_and_with_an_api_key() {
    let Some(tool) = schemathesis() else { return };
    let mut demo = Config::demo();
    demo.host = "127.0.0.1".into();
    check_contract(&tool, "demo", demo, &[]);

    let dir = std::env::temp_dir().join(format!("agtoken-contract-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = api_key_config(&dir);
    check_contract(&tool, "api-key", config, &[&format!("X-Api-Key: {API_KEY}")]);
    let _ = std::fs::remove_dir_all(&dir);
}
