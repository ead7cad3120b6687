//! The container image, for real: `scripts/build-image.sh` builds `agtoken:local` (the release
//! binary, then the runtime stage of the public Dockerfile on a distroless-like base made from
//! this machine's Debian packages), and the test runs it as a deployment would:
//!
//! - `--network host --read-only`, no tmpfs, the app certificate as a read-only secret file of
//!   mode 0444 at `/run/secrets/app-certificate` (`APP_CERTIFICATE_FILE`), on 127.0.0.1;
//! - the process runs as uid/gid 65532 (read from `/proc/PID/status` on the host);
//! - `/healthz` answers, `POST /v1/tokens` issues a token that the library verifies and that
//!   `agtoken verify`, run from the same image, admits;
//! - the image's own HEALTHCHECK (`agtoken healthcheck`, with `--health-interval 1s`) turns the
//!   container `healthy`;
//! - `docker stop` (Docker's default 10 s) under load ends with exit code 0, well before the 10 s;
//! - its log has no secrets-file warning (the mount is read-only), no certificate, no token;
//!   the same file mounted writable does get the warning.
//!
//! And `deploy/systemd/agtoken.service`, unchanged, under systemd 252 as PID 1 of a Debian 12
//! container (`scripts/systemd-test-image.sh`), with the binary of the image, a drop-in for
//! `APP_ID` and the port, and the certificate as a root-only 0400 file that the unit loads with
//! `LoadCredential=`: the service starts as a dynamic user, reads the certificate from
//! `$CREDENTIALS_DIRECTORY` without a warning, issues a token the library verifies, and stops
//! under load with result `success` and exit status 0.
//!
//! Needs a running Docker engine (`.ci/run` installs docker.io and starts dockerd with
//! `--bridge=none --iptables=false`; containers here use the host network only), Debian's
//! libc6, libgcc-s1, netbase and ca-certificates (the base image is made from their files) and
//! debootstrap with Debian's mirror (the systemd image). `AGTOKEN_SKIP_CONTAINER=1` skips both
//! tests, loudly; otherwise a missing engine fails them.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use agtoken::{Action, AppCertificate, AppId, CertificateSet, Token, Uid, UnixTime};

const IMAGE: &str = "agtoken:local";
const APP_ID: &str = "970CA35de60c44645bbae8a215061b33";
const CERT: &str = "5CFd2fd1755d40ecb72977518be15d3b";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("..").canonicalize().expect("workspace root")
}

fn docker(args: &[&str]) -> Output {
    Command::new("docker").args(args).stdin(Stdio::null()).output().unwrap_or_else(|e| {
        panic!("cannot run docker ({e}): install docker.io, or set AGTOKEN_SKIP_CONTAINER=1 to skip this test")
    })
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

fn both(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

fn inspect(container: &str, format: &str) -> String {
    stdout(&docker(&["inspect", "--format", format, container]))
}

/// Whether to run: `false` (loudly) only when `AGTOKEN_SKIP_CONTAINER=1`; otherwise a Docker
/// engine must answer.
fn prepare() -> bool {
    if std::env::var("AGTOKEN_SKIP_CONTAINER").is_ok_and(|v| v == "1") {
        eprintln!();
        eprintln!("################################################################################");
        eprintln!("## AGTOKEN_SKIP_CONTAINER=1: SKIPPING the container image test.               ##");
        eprintln!("## The image was NOT built, run, health-checked or stopped.                   ##");
        eprintln!("################################################################################");
        eprintln!();
        return false;
    }
    let info = Command::new("docker").args(["info", "--format", "{{.ServerVersion}}"]).output();
    assert!(
        info.as_ref().is_ok_and(|o| o.status.success()),
        "the container test needs a running Docker engine: `apt-get install -y docker.io`, then \
         `dockerd --bridge=none --iptables=false &` (as .ci/run does), or set AGTOKEN_SKIP_CONTAINER=1 \
         to skip it explicitly. docker info: {}",
        info.as_ref().map_or_else(|e| e.to_string(), both)
    );
    true
}

/// A container removed when the test ends, however it ends.
struct Container(String);

impl Drop for Container {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["rm", "-f", &self.0]).stdout(Stdio::null()).stderr(Stdio::null()).status();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// One HTTP/1.1 request on a new connection (`Connection: close`): status and body.
fn http(addr: SocketAddr, method: &str, path: &str, body: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut raw = String::new();
    stream.read_to_string(&mut raw)?;
    let status = raw.get(9..12).and_then(|s| s.parse().ok()).ok_or_else(|| std::io::Error::other(raw.clone()))?;
    let body = raw.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    Ok((status, body))
}

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "{what}: not within {} s", limit.as_secs());
        std::thread::sleep(Duration::from_millis(20));
    }
    start.elapsed()
}

/// Writes the certificate to a fresh folder with mode 0444, as Docker and Compose secrets are.
fn secret_file() -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("agtoken-container-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("app-certificate");
    std::fs::write(&path, format!("{CERT}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444)).unwrap();
    path
}

/// `docker run -d` of the image on the host network, read-only, with the secret mounted as
/// given (`:ro` or not); returns the container and how long `docker run` took.
fn run_server(name: &str, port: u16, secret: &Path, mount_options: &str) -> Container {
    let mount = format!("{}:/run/secrets/app-certificate{mount_options}", secret.display());
    let port_env = format!("PORT={port}");
    let app_env = format!("APP_ID={APP_ID}");
    let out = docker(&[
        "run",
        "-d",
        "--name",
        name,
        "--network",
        "host",
        "--read-only",
        "--health-interval",
        "1s",
        "--health-timeout",
        "3s",
        "-e",
        &app_env,
        "-e",
        "APP_CERTIFICATE_FILE=/run/secrets/app-certificate",
        "-e",
        "AGTOKEN_HOST=127.0.0.1",
        "-e",
        &port_env,
        "-v",
        &mount,
        IMAGE,
    ]);
    assert!(out.status.success(), "docker run: {}", both(&out));
    Container(name.to_owned())
}

/// Builds the image once for both tests: the release binary (in CI nothing else builds
/// release) and `agtoken:local`.
fn build_image() {
    static BUILT: OnceLock<bool> = OnceLock::new();
    let built = BUILT.get_or_init(|| {
        let started = Instant::now();
        let status = Command::new(root().join("scripts").join("build-image.sh"))
            .env("IMAGE", IMAGE)
            .current_dir(root())
            .stdin(Stdio::null())
            .status()
            .expect("scripts/build-image.sh starts");
        eprintln!("container: image built in {:.0} s ({status})", started.elapsed().as_secs_f64());
        status.success()
    });
    assert!(built, "scripts/build-image.sh failed (its output is above)");
}

/// POSTs of `/fetch_rtc_token` on 4 threads, one connection each, until `stop` turns true (20 s
/// at most); `served` counts the answers.
fn load(addr: SocketAddr, stop: &Arc<AtomicBool>, served: &Arc<AtomicUsize>) -> Vec<std::thread::JoinHandle<()>> {
    (0..4)
        .map(|_| {
            let (stop, served) = (stop.clone(), served.clone());
            std::thread::spawn(move || {
                let body = r#"{"uid":7,"ChannelName":"load","role":1}"#;
                let until = Instant::now() + Duration::from_secs(20);
                while !stop.load(Ordering::Relaxed) && Instant::now() < until {
                    if let Ok((200, _)) = http(addr, "POST", "/fetch_rtc_token", body) {
                        served.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect()
}

/// A token for uid 42 in room-1 from `POST /v1/tokens`, checked by the library against the
/// test certificate.
fn token_verified(addr: SocketAddr) -> String {
    let (code, body) =
        http(addr, "POST", "/v1/tokens", r#"{"service":"rtc","channel":"room-1","uid":42,"role":"publisher"}"#)
            .expect("POST /v1/tokens");
    assert_eq!(code, 200, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    let token = answer["token"].as_str().expect("token").to_owned();
    let certs = CertificateSet::new(AppCertificate::new(CERT).unwrap());
    let verified = Token::parse(&token).unwrap().verify(&certs).expect("signed with the secret file's certificate");
    let now = UnixTime::from_system_time(std::time::SystemTime::now());
    let join = Action::JoinChannel { channel: "room-1".into(), uid: Uid::Int(42) };
    verified.check(&AppId::new(APP_ID).unwrap(), &join, now).expect("admitted");
    token
}

#[test]
fn image_runs_read_only_as_non_root_issues_tokens_and_stops_cleanly() {
    if !prepare() {
        return;
    }
    build_image();

    // What the image says about itself.
    let user = stdout(&docker(&["image", "inspect", "--format", "{{.Config.User}}", IMAGE]));
    assert_eq!(user, "65532:65532");
    let entrypoint = stdout(&docker(&["image", "inspect", "--format", "{{json .Config.Entrypoint}}", IMAGE]));
    assert_eq!(entrypoint, r#"["/usr/local/bin/agtoken"]"#);
    let health = stdout(&docker(&["image", "inspect", "--format", "{{json .Config.Healthcheck.Test}}", IMAGE]));
    assert!(health.contains("healthcheck"), "{health}");
    let size: u64 = stdout(&docker(&["image", "inspect", "--format", "{{.Size}}", IMAGE])).parse().unwrap();
    eprintln!("container: {IMAGE} is {:.1} MiB", size as f64 / 1048576.0);
    assert!(size < 64 * 1024 * 1024, "the image holds more than the binary and its libraries: {size} bytes");

    let secret = secret_file();
    let port = free_port();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let name = format!("agtoken-test-{}", std::process::id());
    let _ = docker(&["rm", "-f", &name]);
    let run_started = Instant::now();
    let container = run_server(&name, port, &secret, ":ro");
    wait_for("GET /healthz", Duration::from_secs(30), || {
        http(addr, "GET", "/healthz", "").is_ok_and(|(s, b)| s == 200 && b.contains("ok"))
    });
    eprintln!("container: /healthz answered {} ms after `docker run -d` began", run_started.elapsed().as_millis());

    // Non-root, for real: the process's ids as the kernel has them.
    let pid = inspect(&name, "{{.State.Pid}}");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the container's process");
    for key in ["Uid:", "Gid:"] {
        let line = status.lines().find(|l| l.starts_with(key)).unwrap();
        assert!(line.split_whitespace().skip(1).all(|id| id == "65532"), "{line}");
    }
    let rss = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap_or("VmRSS: ?").to_owned();
    eprintln!("container: server process {rss}");

    // A token, verified by the library and by `agtoken verify` from the same image.
    let token = token_verified(addr);
    let app_env = format!("APP_ID={APP_ID}");
    let cert_env = format!("APP_CERTIFICATE={CERT}");
    let out = docker(&[
        "run",
        "--rm",
        "--network",
        "host",
        "--read-only",
        "-e",
        &app_env,
        "-e",
        &cert_env,
        IMAGE,
        "verify",
        &token,
        "--channel",
        "room-1",
        "--uid",
        "42",
    ]);
    assert!(out.status.success() && both(&out).contains("admitted"), "agtoken verify in the image: {}", both(&out));

    // The image's HEALTHCHECK.
    let healthy = wait_for("health status healthy", Duration::from_secs(30), || {
        inspect(&name, "{{.State.Health.Status}}") == "healthy"
    });
    eprintln!("container: healthy {} ms later", healthy.as_millis());
    let probe = inspect(&name, "{{json .State.Health.Log}}");
    assert!(probe.contains("ready: 200 from http://127.0.0.1:"), "{probe}");

    // `docker stop` (SIGTERM, SIGKILL after Docker's default 10 s) under load: exit code 0.
    let stop_load = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicUsize::new(0));
    let load = load(addr, &stop_load, &served);
    wait_for("load under way", Duration::from_secs(10), || served.load(Ordering::Relaxed) > 200);
    let stop_started = Instant::now();
    let out = docker(&["stop", &name]);
    let took = stop_started.elapsed();
    stop_load.store(true, Ordering::Relaxed);
    for thread in load {
        thread.join().unwrap();
    }
    assert!(out.status.success(), "docker stop: {}", both(&out));
    eprintln!(
        "container: stopped in {} ms under load ({} requests served)",
        took.as_millis(),
        served.load(Ordering::Relaxed)
    );
    assert_eq!(inspect(&name, "{{.State.ExitCode}}"), "0", "exit code after docker stop");
    assert_eq!(inspect(&name, "{{.State.OOMKilled}}"), "false");
    assert!(took < Duration::from_secs(9), "docker stop took {took:?}: the drain is too close to the SIGKILL");

    let logs = both(&docker(&["logs", &name]));
    assert!(logs.contains("SIGTERM received") && logs.contains("stopped"), "{logs}");
    assert!(!logs.contains("secrets file"), "no permission warning for a read-only 0444 secret:\n{logs}");
    assert!(!logs.contains(CERT), "the certificate is never logged");
    assert!(!logs.contains(&token), "tokens are never logged");
    drop(container);

    // The same 0444 file on a writable mount: others could read it on the host, so it warns.
    let rw_name = format!("{name}-rw");
    let rw = run_server(&rw_name, free_port(), &secret, "");
    wait_for("the warning", Duration::from_secs(20), || both(&docker(&["logs", &rw_name])).contains("listening"));
    let logs = both(&docker(&["logs", &rw_name]));
    assert!(
        logs.contains("secrets file /run/secrets/app-certificate (APP_CERTIFICATE_FILE) has mode 0444"),
        "a writable mount keeps the warning:\n{logs}"
    );
    drop(rw);
    let _ = std::fs::remove_dir_all(secret.parent().unwrap());
}

fn exec(container: &str, args: &[&str]) -> Output {
    let mut full = vec!["exec", container];
    full.extend_from_slice(args);
    docker(&full)
}

#[test]
fn systemd_unit_runs_for_real_with_its_credential() {
    if !prepare() {
        return;
    }
    build_image();
    let status = Command::new(root().join("scripts").join("systemd-test-image.sh"))
        .current_dir(root())
        .stdin(Stdio::null())
        .status()
        .expect("scripts/systemd-test-image.sh starts");
    assert!(status.success(), "scripts/systemd-test-image.sh failed: {status}");

    // What systemd gets: the image's binary, the unit as it is, a drop-in, the credential.
    let dir = std::env::temp_dir().join(format!("agtoken-systemd-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("credentials")).unwrap();
    std::fs::create_dir_all(dir.join("agtoken.service.d")).unwrap();
    let copy = format!("agtoken-bin-{}", std::process::id());
    let _ = docker(&["rm", "-f", &copy]);
    assert!(docker(&["create", "--name", &copy, IMAGE]).status.success());
    let binary = dir.join("agtoken");
    let out = docker(&["cp", &format!("{copy}:/usr/local/bin/agtoken"), binary.to_str().unwrap()]);
    let _ = docker(&["rm", "-f", &copy]);
    assert!(out.status.success(), "docker cp: {}", both(&out));
    {
        use std::os::unix::fs::PermissionsExt;
        let cert = dir.join("credentials").join("app-certificate");
        std::fs::write(&cert, format!("{CERT}\n")).unwrap();
        std::fs::set_permissions(&cert, std::fs::Permissions::from_mode(0o400)).unwrap();
    }
    let port = free_port();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    std::fs::write(
        dir.join("agtoken.service.d").join("test.conf"),
        format!("[Service]\nEnvironment=APP_ID={APP_ID} PORT={port} AGTOKEN_HOST=127.0.0.1\n"),
    )
    .unwrap();
    let unit = root().join("deploy").join("systemd").join("agtoken.service");
    let mounts = [
        format!("{}:/usr/local/bin/agtoken:ro", binary.display()),
        format!("{}:/etc/systemd/system/agtoken.service:ro", unit.display()),
        format!("{}:/etc/systemd/system/agtoken.service.d:ro", dir.join("agtoken.service.d").display()),
        format!("{}:/etc/agtoken/credentials:ro", dir.join("credentials").display()),
    ];

    // systemd as PID 1: its own cgroup namespace, the capabilities it uses (this sandbox has no
    // CAP_SYS_RESOURCE to give), no seccomp or AppArmor profile in its way, and `/` shared so
    // that the credentials it mounts for the service propagate (Docker makes `/` a slave).
    let name = format!("agtoken-systemd-{}", std::process::id());
    let _ = docker(&["rm", "-f", &name]);
    let mut args: Vec<&str> = vec![
        "run",
        "-d",
        "--name",
        &name,
        "--network",
        "host",
        "--cgroupns=private",
        "--cap-add=ALL",
        "--cap-drop=SYS_RESOURCE",
        "--security-opt",
        "seccomp=unconfined",
        "--security-opt",
        "apparmor=unconfined",
        "-e",
        "container=docker",
    ];
    for mount in &mounts {
        args.extend(["-v", mount.as_str()]);
    }
    args.extend([
        "--entrypoint",
        "/bin/sh",
        "agtoken-systemd-test:local",
        "-c",
        "mount --make-rshared / && exec /sbin/init",
    ]);
    let out = docker(&args);
    assert!(out.status.success(), "docker run (systemd): {}", both(&out));
    let container = Container(name.clone());
    wait_for("systemd up", Duration::from_secs(60), || {
        let state = stdout(&exec(&name, &["systemctl", "is-system-running"]));
        state == "running" || state == "degraded"
    });

    let out = exec(&name, &["systemctl", "start", "agtoken"]);
    assert!(out.status.success(), "systemctl start agtoken: {}", both(&out));
    let journal = || both(&exec(&name, &["journalctl", "-u", "agtoken", "--no-pager", "-o", "cat"]));
    let started = Instant::now();
    while !http(addr, "GET", "/healthz", "").is_ok_and(|(s, _)| s == 200) {
        assert!(started.elapsed() < Duration::from_secs(20), "the service did not answer:\n{}", journal());
        std::thread::sleep(Duration::from_millis(20));
    }

    // A dynamic user (systemd's range 61184-65519), the certificate from the credential.
    let pid = stdout(&exec(&name, &["systemctl", "show", "-p", "MainPID", "--value", "agtoken"]));
    let status = stdout(&exec(&name, &["cat", &format!("/proc/{pid}/status")]));
    let uid = status.lines().find(|l| l.starts_with("Uid:")).expect("Uid line").split_whitespace().nth(1).unwrap();
    let uid: u32 = uid.parse().unwrap();
    assert!((61184..=65519).contains(&uid), "not a dynamic user: {uid}");
    let env = stdout(&exec(&name, &["systemctl", "show", "-p", "Environment", "agtoken"]));
    assert!(env.contains("APP_CERTIFICATE_FILE=/run/credentials/agtoken.service/app-certificate"), "{env}");
    token_verified(addr);

    let stop_load = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicUsize::new(0));
    let load = load(addr, &stop_load, &served);
    wait_for("load under way", Duration::from_secs(10), || served.load(Ordering::Relaxed) > 200);
    let out = exec(&name, &["systemctl", "stop", "agtoken"]);
    stop_load.store(true, Ordering::Relaxed);
    for thread in load {
        thread.join().unwrap();
    }
    assert!(out.status.success(), "systemctl stop: {}", both(&out));
    let result = stdout(&exec(&name, &["systemctl", "show", "-p", "Result", "-p", "ExecMainStatus", "agtoken"]));
    assert!(result.contains("Result=success") && result.contains("ExecMainStatus=0"), "{result}\n{}", journal());
    eprintln!(
        "systemd: served {} requests under load, stopped: {}",
        served.load(Ordering::Relaxed),
        result.replace('\n', " ")
    );

    let log = journal();
    assert!(log.contains("agtoken server listening") && log.contains("\"stopped\""), "{log}");
    assert!(!log.contains("secrets file"), "no permission warning for a systemd credential:\n{log}");
    assert!(!log.contains(CERT), "the certificate is never logged");
    drop(container);
    let _ = std::fs::remove_dir_all(&dir);
}
