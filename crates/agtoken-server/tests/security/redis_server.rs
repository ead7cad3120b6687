//! A `redis-server` of a test's own (Debian's package): a free port of 127.0.0.1, no
//! persistence, killed when dropped. Without `redis-server` a test that asks for one fails with
//! a message saying how to install it, unless `AGTOKEN_SKIP_REDIS=1` (then it is skipped, loudly).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Whether `redis-server` can run here; `false` (loudly) only with `AGTOKEN_SKIP_REDIS=1`.
pub fn redis_available() -> bool {
    let found = Command::new("redis-server").arg("--version").output().is_ok_and(|o| o.status.success());
    if found {
        return true;
    }
    if std::env::var("AGTOKEN_SKIP_REDIS").is_ok_and(|v| v == "1") {
        eprintln!();
        eprintln!("################################################################################");
        eprintln!("## AGTOKEN_SKIP_REDIS=1 and no redis-server: SKIPPING a shared rate-limit test. ##");
        eprintln!("## Limits across replicas were NOT checked.                                   ##");
        eprintln!("################################################################################");
        eprintln!();
        return false;
    }
    panic!(
        "the shared rate-limit tests need Debian's redis-server on PATH: install it with \
         `apt-get update && apt-get install -y redis-server` (or set AGTOKEN_SKIP_REDIS=1 to skip these tests explicitly)"
    );
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A `redis-server` process: no persistence, 127.0.0.1 only, killed when dropped.
pub struct Redis {
    pub port: u16,
    args: Vec<String>,
    child: Option<Child>,
}

impl Redis {
    /// A plain server on a free port, with `extra` arguments.
    pub fn start(extra: &[&str]) -> Option<Redis> {
        if !redis_available() {
            return None;
        }
        let port = free_port();
        let mut args: Vec<String> = ["--port", &port.to_string()].iter().map(|s| (*s).to_owned()).collect();
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        let mut redis = Redis { port, args, child: None };
        redis.spawn();
        Some(redis)
    }

    /// A TLS-only server (`--port 0 --tls-port P`) with `extra` arguments.
    pub fn start_tls(extra: &[String]) -> Option<Redis> {
        if !redis_available() {
            return None;
        }
        let port = free_port();
        let mut args: Vec<String> = vec!["--port".into(), "0".into(), "--tls-port".into(), port.to_string()];
        args.extend(extra.iter().cloned());
        let mut redis = Redis { port, args, child: None };
        redis.spawn();
        Some(redis)
    }

    fn spawn(&mut self) {
        let child = Command::new("redis-server")
            .args(&self.args)
            .args([
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                "--loglevel",
                "warning",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not listen on 127.0.0.1:{} within 5 s", self.port);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("running").id().to_string();
        let status = Command::new("kill").args([signal, &pid]).status().expect("kill runs");
        assert!(status.success(), "kill {signal} {pid}");
    }

    /// Stops answering (SIGSTOP): connections stay open, nothing comes back.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Gone (SIGKILL), as in a crash.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Started again on the same port (empty: no persistence).
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}
