//! Helpers: configurations from TOML text (as `agtoken serve --config` reads them), API key
//! hashes, JWTs.

use std::path::{Path, PathBuf};

use agtoken_server::{Config, Env, ServeOptions};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::common::{APP_ID, CERT};

pub const RSA_KEY: &str = include_str!("fixtures/rsa-test-only.key.pem");
pub const RSA_PUB: &str = include_str!("fixtures/rsa-test-only.pub.pem");

/// A fresh folder for one test's files (a test certificate among them), removed when the
/// value is dropped, at the end of the test, pass or fail.
pub fn temp_dir(name: &str) -> TempDir {
    let dir = std::env::temp_dir().join(format!("agtoken-security-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    TempDir(dir)
}

/// A folder of [`temp_dir`]; a `Path` by deref.
pub struct TempDir(PathBuf);

impl std::ops::Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for TempDir {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Writes a secret file readable by its owner only.
pub fn write_secret(dir: &Path, name: &str, text: &str) {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
}

/// The configuration of `toml` (written to `dir/agtoken.toml`), whose first app is the test app
/// with its certificate read from `dir/certificate` (a secrets file).
pub fn toml_config(dir: &Path, app_settings: &str, rest: &str) -> Config {
    write_secret(dir, "certificate", &format!("{CERT}\n"));
    let text = format!(
        "host = \"127.0.0.1\"\nport = 0\n{rest}\n[[apps]]\napp_id = \"{APP_ID}\"\napp_certificate_file = \"certificate\"\n{app_settings}\n"
    );
    let path = dir.join("agtoken.toml");
    std::fs::write(&path, &text).unwrap();
    Config::from_sources(&ServeOptions::default(), &Env::default(), Some((&path, &text)))
        .unwrap_or_else(|e| panic!("{e}\n{text}"))
}

pub fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

pub fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// A JWT signed with `key` (`alg`, optional `kid`).
pub fn jwt(alg: Algorithm, key: &EncodingKey, kid: Option<&str>, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

pub fn hs256(secret: &str, claims: &Value) -> String {
    jwt(Algorithm::HS256, &EncodingKey::from_secret(secret.as_bytes()), None, claims)
}

pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// Every compatibility route that issues a token, with a valid request for it (method, path, body).
pub const COMPAT_ISSUING: &[(&str, &str, &str)] = &[
    ("POST", "/fetch_rtc_token", r#"{"uid":42,"ChannelName":"room-1","role":1}"#),
    ("POST", "/token/generate", r#"{"channelName":"room-1","uid":"42","serviceRtc":{"enable":true,"role":1}}"#),
    ("GET", "/rtc/room-1/publisher/uid/42/", ""),
    ("GET", "/rtm/42/", ""),
    ("GET", "/rte/room-1/publisher/uid/42/", ""),
    ("GET", "/rte/room-1/publisher/uid/42/42/", ""),
    ("GET", "/chat/app/", ""),
    ("GET", "/chat/account/42/", ""),
    ("POST", "/getToken", r#"{"tokenType":"rtc","channel":"room-1","role":"publisher","uid":"42","expire":600}"#),
    ("GET", "/rtc/room-1/42/1/token", ""),
    ("GET", "/chat/app/token", ""),
    ("GET", "/chat/user/42/token", ""),
    ("POST", "/v1/tokens", r#"{"service":"rtc","channel":"room-1","uid":42}"#),
    ("POST", "/v1/tokens", r#"{"structure":{"services":[{"name":"rtm","user_id":"42","privileges":{"1":0}}]}}"#),
];

/// Base64url without padding (JWT segments).
pub fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}
