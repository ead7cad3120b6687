//! A server on a real socket and a minimal HTTP/1.1 client that sends exactly the bytes a
//! test gives it (so each test can send what a given client sends, malformed input included).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use agtoken::{Action, Admission, AppCertificate, AppId, CertificateSet, FixedSalt, Token, Uid, UnixTime};
use agtoken_server::{run, AppConfig, AppState, Config};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const APP_ID: &str = "970CA35de60c44645bbae8a215061b33";
pub const CERT: &str = "5CFd2fd1755d40ecb72977518be15d3b";
pub const APP_ID2: &str = "0123456789abcdef0123456789ABCDEF";
pub const CERT2: &str = "00112233445566778899aabbccddeeff";
pub const CERT2_OLD: &str = "ffeeddccbbaa99887766554433221100";

pub fn app() -> AppConfig {
    AppConfig::new(AppId::new(APP_ID).unwrap(), AppCertificate::new(CERT).unwrap())
}

pub fn config() -> Config {
    let mut c = Config::single(app());
    c.host = "127.0.0.1".into();
    c.port = 0;
    c
}

/// The default app plus a second one with a secondary certificate.
pub fn two_apps() -> Config {
    let mut c = config();
    let mut second = AppConfig::new(AppId::new(APP_ID2).unwrap(), AppCertificate::new(CERT2).unwrap());
    second.secondary_certificate = Some(AppCertificate::new(CERT2_OLD).unwrap());
    second.max_lifetime = 600;
    second.default_lifetime = 300;
    c.apps.push(second);
    c
}

pub struct Server {
    pub addr: SocketAddr,
    pub state: AppState,
    stop: Option<oneshot::Sender<()>>,
    handle: JoinHandle<io::Result<()>>,
}

pub async fn start(config: Config) -> Server {
    start_state(AppState::new(config)).await
}

pub async fn start_state(state: AppState) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let handle = tokio::spawn(run(listener, state.clone(), async move {
        let _ = stopped.await;
    }));
    Server { addr, state, stop: Some(stop), handle }
}

/// A server whose salts are fixed (for tests that compare token bytes).
#[allow(dead_code)]
pub async fn start_fixed_salt(config: Config) -> Server {
    start_state(AppState::with_sources(config, Arc::new(agtoken::SystemClock), Arc::new(FixedSalt(7)))).await
}

impl Server {
    pub fn begin_shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    pub async fn stop(mut self) -> io::Result<()> {
        self.begin_shutdown();
        tokio::time::timeout(Duration::from_secs(10), self.handle).await.expect("run returns").expect("no panic")
    }

    pub async fn post(&self, path: &str, content_type: Option<&str>, body: &str) -> Reply {
        let mut headers = vec![];
        if let Some(ct) = content_type {
            headers.push(("Content-Type", ct));
        }
        self.send("POST", path, &headers, body.as_bytes()).await
    }

    pub async fn post_json(&self, path: &str, body: &str) -> Reply {
        self.post(path, Some("application/json"), body).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send("GET", path, &[], b"").await
    }

    pub async fn send(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n", self.addr);
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        if !body.is_empty() || method == "POST" {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        let mut raw = head.into_bytes();
        raw.extend_from_slice(body);
        exchange(self.addr, &raw).await
    }
}

/// Writes `raw`, reads the answer to the end.
pub async fn exchange(addr: SocketAddr, raw: &[u8]) -> Reply {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(raw).await.unwrap();
    read_reply(&mut stream).await
}

pub async fn read_reply(stream: &mut TcpStream) -> Reply {
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut buf))
        .await
        .expect("answer within 10 s")
        .unwrap();
    Reply::parse(&buf)
}

#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn parse(raw: &[u8]) -> Reply {
        let text = String::from_utf8_lossy(raw);
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no header end in {text:?}"));
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap();
        let status = status_line.split(' ').nth(1).unwrap().parse().unwrap();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let chunked = headers.iter().any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
        let body = if chunked { dechunk(body) } else { body.to_owned() };
        Reply { status, headers, body }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }

    /// The v1 error object.
    pub fn error(&self) -> Value {
        self.json()["error"].clone()
    }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.push_str(&rest[..size]);
        body = &rest[size + 2..];
    }
    out
}

pub fn now() -> UnixTime {
    UnixTime::from_system_time(std::time::SystemTime::now())
}

/// Checks `token` as Agora's edge would, for the app `app_id` with `cert`.
pub fn admit_with(token: &str, app_id: &str, cert: &str, action: &Action) -> agtoken::Result<Admission> {
    let certs = CertificateSet::new(AppCertificate::new(cert).unwrap());
    Token::parse(token)?.verify_for(&certs, action)?.check(&AppId::new(app_id).unwrap(), action, now())
}

pub fn admit(token: &str, action: &Action) -> agtoken::Result<Admission> {
    admit_with(token, APP_ID, CERT, action)
}

pub fn join(channel: &str, uid: Uid) -> Action {
    Action::JoinChannel { channel: channel.into(), uid }
}

pub fn publish(channel: &str, uid: Uid) -> Action {
    Action::Publish { channel: channel.into(), uid, media: agtoken::Media::Audio }
}

/// `expires_at` is `secs` from now (give or take the test's own run time).
pub fn assert_expires_in(admission: &Admission, secs: u64) {
    let expected = now().as_secs() + secs;
    let got = admission.expires_at.as_secs();
    assert!(got + 5 >= expected && got <= expected, "expires at {got}, expected about {expected}");
}
