//! The shared rate-limit store: Redis, so that the per-caller and per-address limits count once
//! for a whole fleet of replicas (`limits_store = "redis://HOST:PORT[/DB]"`).
//!
//! Each decision is **one round trip**: a Lua script (EVALSHA, and EVAL when Redis answers
//! NOSCRIPT, e.g. after a restart) that runs GCRA exactly as the in-memory limiter does
//! (`governor`: emission interval `period / count`, tolerance `interval × (burst − 1)`, a refused
//! request changes nothing) on the Redis server's clock (`TIME`), so the replicas' clocks do
//! not matter. A key holds one number (the theoretical arrival time, µs) and expires when the
//! allowance is full again, so idle callers leave nothing behind.
//!
//! A Redis that is slow or away never holds a request for long, and never turns into a 5xx
//! other than the configured 503:
//!
//! - every call has a deadline (`limits_store_timeout_ms`, 100 ms by default);
//! - a failed call (error or deadline) opens a circuit breaker: for [`OPEN_FOR`] every decision
//!   is made without Redis, then one request (or a `/readyz` check) probes it; success closes the
//!   breaker, failure opens it again;
//! - a decision made without Redis follows `limits_store_fallback`: `local` (the default) counts
//!   in this replica's memory as without a store (a caller may then get up to N times the rate
//!   across N replicas), `refuse` answers 503 with `Retry-After` and `/readyz` turns 503.
//!
//! The connection is the `redis` crate's `ConnectionManager`: one multiplexed connection per
//! replica (requests are pipelined on it, no pool needed) that reconnects in the background.

use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, ConnectionAddr, IntoConnectionInfo, Script};

use crate::error::SettingError;
use crate::limit::{Limiter, Rate};
use crate::state::AppState;

/// Default deadline of one call to the store.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(100);
/// How long the store is left alone after a failure before it is probed again.
pub const OPEN_FOR: Duration = Duration::from_secs(1);
/// Prefix of every key the server writes.
const KEY_PREFIX: &str = "agtoken:rl:";

/// What a replica does when the store cannot be asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fallback {
    /// Count in this replica's memory, as without a store.
    Local,
    /// Refuse: 503 with `Retry-After`, and `/readyz` answers 503.
    Refuse,
}

impl Fallback {
    /// `"local"` or `"refuse"`.
    pub fn parse(text: &str) -> Result<Fallback, SettingError> {
        match text.trim() {
            "local" => Ok(Fallback::Local),
            "refuse" => Ok(Fallback::Refuse),
            other => Err(SettingError::Fallback { got: other.to_owned() }),
        }
    }

    /// The setting's value.
    pub fn as_str(self) -> &'static str {
        match self {
            Fallback::Local => "local",
            Fallback::Refuse => "refuse",
        }
    }
}

/// The validated `limits_store` settings. Its `Debug` and [`LimitsStore::redacted`] never show
/// a password.
#[derive(Clone)]
pub struct LimitsStore {
    client: Client,
    redacted: String,
    /// SHA-256 of the URL, password and CA certificates: tells a reload whether the store
    /// changed without keeping a second copy of the password.
    identity: [u8; 32],
    /// What to do when the store cannot be asked.
    pub fallback: Fallback,
    /// Deadline of one call.
    pub timeout: Duration,
}

impl LimitsStore {
    /// Parses and checks `url` (`redis://` or `rediss://`, host, port, optional database
    /// number), with the password (AUTH) from `password` and, for `rediss://`, the CA
    /// certificates (PEM) to trust instead of the system's roots. No connection is made. An
    /// error never holds the URL or the password.
    pub fn new(url: &str, password: Option<&str>, ca_pem: Option<&[u8]>) -> Result<LimitsStore, SettingError> {
        let url = url.trim();
        let tls = if url.starts_with("rediss://") {
            true
        } else if url.starts_with("redis://") {
            false
        } else {
            return Err(SettingError::StoreScheme);
        };
        if url.contains('#') {
            return Err(SettingError::StoreFragment);
        }
        let info = url.into_connection_info().map_err(SettingError::NotRedisUrl)?;
        let redacted = match info.addr() {
            ConnectionAddr::Tcp(host, port) | ConnectionAddr::TcpTls { host, port, .. } => {
                let scheme = if tls { "rediss" } else { "redis" };
                let host = if host.contains(':') { format!("[{host}]") } else { host.clone() };
                format!("{scheme}://{host}:{port}/{}", info.redis_settings().db())
            }
            _ => return Err(SettingError::StoreHostPort),
        };
        let info = match password {
            Some(_) if info.redis_settings().password().is_some() => return Err(SettingError::StorePasswordTwice),
            Some(password) => {
                let settings = info.redis_settings().clone().set_password(password);
                info.set_redis_settings(settings)
            }
            None => info,
        };
        let client = match (tls, ca_pem) {
            (false, Some(_)) => return Err(SettingError::StoreCaWithoutTls),
            (true, Some(pem)) => {
                Client::build_with_tls(info, redis::TlsCertificates { client_tls: None, root_cert: Some(pem.to_vec()) })
                    .map_err(SettingError::StoreTls)?
            }
            (_, None) => Client::open(info).map_err(SettingError::StoreUnusable)?,
        };
        let identity = identity(url, password, ca_pem);
        Ok(LimitsStore { client, redacted, identity, fallback: Fallback::Local, timeout: DEFAULT_TIMEOUT })
    }

    /// Whether `other` names the same store with the same credentials, fallback and timeout
    /// (a reload then keeps the connection).
    pub(crate) fn same_as(&self, other: &LimitsStore) -> bool {
        self.identity == other.identity && self.fallback == other.fallback && self.timeout == other.timeout
    }

    /// The store for logs and answers: scheme, host, port and database, never a user or password.
    pub fn redacted(&self) -> &str {
        &self.redacted
    }
}

impl fmt::Debug for LimitsStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LimitsStore")
            .field("url", &self.redacted)
            .field("fallback", &self.fallback)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// The [`LimitsStore`]'s identity: each part length-prefixed, so no two settings collide.
fn identity(url: &str, password: Option<&str>, ca_pem: Option<&[u8]>) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    for part in [Some(url.as_bytes()), password.map(str::as_bytes), ca_pem] {
        match part {
            Some(bytes) => {
                hash.update((bytes.len() as u64 + 1).to_le_bytes());
                hash.update(bytes);
            }
            None => hash.update(0u64.to_le_bytes()),
        }
    }
    hash.finalize().into()
}

/// A Redis error as text: its kind and detail (Redis errors carry no credentials).
/// Why one call to the store gave no answer. `Display` goes to the log and `/readyz` after the
/// store's redacted URL; the `redis` crate's errors name the failure, not the URL or password.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum StoreError {
    /// The connection or the command failed.
    #[error(transparent)]
    Redis(#[from] redis::RedisError),
    /// No answer within the configured deadline.
    #[error("no answer within {} ms", timeout.as_millis())]
    Timeout {
        /// The deadline (`limits_store_timeout_ms`).
        timeout: Duration,
    },
}

/// GCRA on the server's clock. KEYS[1]: the key; ARGV[1]: the emission interval (µs);
/// ARGV[2]: the burst. Answers 0 when the request is admitted (and records it), else the wait
/// in µs (and records nothing). Numbers stay below 2^53 (µs since 1970), exact in Lua's doubles.
const GCRA: &str = r"
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = interval * (tonumber(ARGV[2]) - 1)
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local earliest = tat - tolerance
if now < earliest then return earliest - now end
local next_tat = tat + interval
redis.call('SET', KEYS[1], string.format('%d', next_tat), 'PX', string.format('%d', math.ceil((next_tat - now) / 1000)))
return 0
";

/// Why the store gave no decision.
#[derive(Debug)]
pub(crate) enum Unavailable {
    /// The breaker is open after a recent failure: Redis was not asked.
    Open,
    /// The call failed or missed its deadline.
    Failed,
}

/// A circuit breaker without locks: `0` closed, else the instant (ms since `base`, plus 1)
/// until which the store is left alone. When that instant has passed, the first caller moves
/// it on by the call deadline and probes; the others keep deciding without the store.
struct Breaker {
    base: Instant,
    open_until: AtomicU64,
}

impl Breaker {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX - 1) + 1
    }

    fn admit(&self, hold: Duration) -> bool {
        let until = self.open_until.load(Ordering::Acquire);
        if until == 0 {
            return true;
        }
        let now = self.now_ms();
        if now < until {
            return false;
        }
        let hold = u64::try_from(hold.as_millis()).unwrap_or(1000) + 1;
        self.open_until.compare_exchange(until, now + hold, Ordering::AcqRel, Ordering::Acquire).is_ok()
    }

    /// Closes the breaker; true when it was open.
    fn success(&self) -> bool {
        self.open_until.swap(0, Ordering::AcqRel) != 0
    }

    /// Opens the breaker for [`OPEN_FOR`]; true when it was closed.
    fn failure(&self) -> bool {
        let until = self.now_ms() + u64::try_from(OPEN_FOR.as_millis()).unwrap_or(1000);
        self.open_until.swap(until, Ordering::AcqRel) == 0
    }

    fn is_open(&self) -> bool {
        self.open_until.load(Ordering::Acquire) != 0
    }
}

/// The store of one replica: the client, its connection (made on first use), the script, the
/// breaker, and the last error (for `/readyz`).
pub(crate) struct SharedStore {
    settings: LimitsStore,
    connection: OnceLock<ConnectionManager>,
    script: Script,
    breaker: Breaker,
    last_error: Mutex<Option<String>>,
}

impl SharedStore {
    pub(crate) fn new(settings: LimitsStore) -> SharedStore {
        // The redis crate builds its rustls client with the process's default provider: make
        // it ring, the one the server's own TLS uses (a no-op when one is already installed).
        let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
        SharedStore {
            settings,
            connection: OnceLock::new(),
            script: Script::new(GCRA),
            breaker: Breaker { base: Instant::now(), open_until: AtomicU64::new(0) },
            last_error: Mutex::new(None),
        }
    }

    /// Starts connecting in the background when called within the Tokio runtime (as the
    /// server's start-up is), so that the first requests do not spend their deadline on the
    /// TCP and TLS handshakes. Outside a runtime the connection is made on first use.
    pub(crate) fn connect_in_background(&self) {
        tracing::info!(
            store = %self.settings.redacted,
            fallback = self.settings.fallback.as_str(),
            timeout_ms = u64::try_from(self.settings.timeout.as_millis()).unwrap_or(u64::MAX),
            "rate limits are counted in this store for every replica that uses it"
        );
        if tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        if let Ok(mut conn) = self.connection() {
            tokio::spawn(async move {
                // Bounded by the manager's connection timeout and retries; the outcome is seen
                // by the first call (or `/readyz`).
                let _ = redis::cmd("PING").query_async::<String>(&mut conn).await;
            });
        }
    }

    pub(crate) fn settings(&self) -> &LimitsStore {
        &self.settings
    }

    /// Whether the last call failed (the breaker is open).
    pub(crate) fn is_down(&self) -> bool {
        self.breaker.is_open()
    }

    /// The last failure, for `/readyz`.
    pub(crate) fn last_error(&self) -> String {
        self.last_error.lock().map_or_else(|_| None, |e| e.clone()).unwrap_or_else(|| "unknown error".to_owned())
    }

    /// The connection, made on first use (needs the Tokio runtime). The manager connects
    /// lazily and reconnects in the background; each of its connection attempts is bounded.
    fn connection(&self) -> Result<ConnectionManager, StoreError> {
        if let Some(c) = self.connection.get() {
            return Ok(c.clone());
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.settings.timeout.max(Duration::from_millis(500))))
            .set_response_timeout(Some(self.settings.timeout))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(10))
            .set_max_delay(Duration::from_millis(200));
        let made = ConnectionManager::new_lazy_with_config(self.settings.client.clone(), config)?;
        Ok(self.connection.get_or_init(|| made).clone())
    }

    /// Takes one request from `key`'s allowance under `rate`: `Ok(Ok(()))` admitted,
    /// `Ok(Err(wait))` refused until then, `Err` when the store gave no answer.
    pub(crate) async fn charge(&self, key: &str, rate: Rate) -> Result<Result<(), Duration>, Unavailable> {
        if !self.breaker.admit(self.settings.timeout) {
            return Err(Unavailable::Open);
        }
        let interval = rate.period / rate.count.get();
        let interval_us = u64::try_from(interval.as_micros()).unwrap_or(u64::MAX).max(1);
        let key = format!("{KEY_PREFIX}{key}");
        let mut conn = self.connection();
        let call = async {
            let conn = conn.as_mut().map_err(|e| e.clone())?;
            let mut evalsha = redis::cmd("EVALSHA");
            evalsha.arg(self.script.get_hash()).arg(1).arg(&key).arg(interval_us).arg(rate.burst.get());
            match evalsha.query_async::<u64>(conn).await {
                Err(e) if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) => {
                    let mut eval = redis::cmd("EVAL");
                    eval.arg(GCRA).arg(1).arg(&key).arg(interval_us).arg(rate.burst.get());
                    Ok(eval.query_async::<u64>(conn).await?)
                }
                other => Ok(other?),
            }
        };
        let result = self.finish(call).await?;
        Ok(match result {
            0 => Ok(()),
            wait_us => Err(Duration::from_micros(wait_us)),
        })
    }

    /// For `/readyz`: a PING when the breaker lets one through, else the last failure.
    pub(crate) async fn check(&self) -> Result<(), (Unavailable, String)> {
        if !self.breaker.admit(self.settings.timeout) {
            return Err((Unavailable::Open, self.last_error()));
        }
        let mut conn = self.connection();
        let ping = async {
            let conn = conn.as_mut().map_err(|e| e.clone())?;
            Ok(redis::cmd("PING").query_async::<String>(conn).await?)
        };
        match self.finish(ping).await {
            Ok(_) => Ok(()),
            Err(why) => Err((why, self.last_error())),
        }
    }

    /// Runs one call with the deadline; records the outcome in the breaker (and logs a change).
    async fn finish<T>(&self, call: impl Future<Output = Result<T, StoreError>>) -> Result<T, Unavailable> {
        let outcome = match tokio::time::timeout(self.settings.timeout, call).await {
            Ok(result) => result,
            Err(_) => Err(StoreError::Timeout { timeout: self.settings.timeout }),
        };
        match outcome {
            Ok(value) => {
                if self.breaker.success() {
                    tracing::info!(store = %self.settings.redacted, "rate-limit store reachable again: limits count for the whole fleet");
                }
                Ok(value)
            }
            Err(error) => {
                let message = format!("{}: {error}", self.settings.redacted);
                if let Ok(mut last) = self.last_error.lock() {
                    *last = Some(message.clone());
                }
                if self.breaker.failure() {
                    tracing::warn!(
                        store = %self.settings.redacted,
                        error = %message,
                        fallback = self.settings.fallback.as_str(),
                        "rate-limit store unreachable: deciding without it (fallback), probing again in {} s",
                        OPEN_FOR.as_secs()
                    );
                }
                Err(Unavailable::Failed)
            }
        }
    }
}

/// A rate-limit decision.
pub(crate) enum Verdict {
    /// Admitted (and counted).
    Allowed,
    /// Refused until then.
    Wait(Duration),
    /// The store gave no answer and the fallback is `refuse`.
    Unavailable,
}

impl AppState {
    /// Takes one request from `key`'s allowance: in the shared store when one is configured
    /// (else, or when it gives no answer with fallback `local`, in this replica's memory).
    pub(crate) async fn limit<K>(&self, limiter: &Limiter<K>, key: &K) -> Verdict
    where
        K: Hash + Eq + Clone + fmt::Display,
    {
        let Some(store) = self.limits_store() else {
            return match self.limit_locally(limiter, key) {
                Ok(()) => Verdict::Allowed,
                Err(wait) => Verdict::Wait(wait),
            };
        };
        match store.charge(&limiter.store_key(key), limiter.rate()).await {
            Ok(decision) => {
                self.metrics().limit_decision(true, decision.is_ok());
                match decision {
                    Ok(()) => Verdict::Allowed,
                    Err(wait) => Verdict::Wait(wait),
                }
            }
            Err(why) => {
                if matches!(why, Unavailable::Failed) {
                    self.metrics().limits_store_error();
                }
                self.limit_without_store(store, limiter, key)
            }
        }
    }

    /// The fallback's decision when the store gave none.
    pub(crate) fn limit_without_store<K>(&self, store: &SharedStore, limiter: &Limiter<K>, key: &K) -> Verdict
    where
        K: Hash + Eq + Clone,
    {
        match store.settings().fallback {
            Fallback::Local => {
                self.metrics().limits_store_fallback(true);
                match self.limit_locally(limiter, key) {
                    Ok(()) => Verdict::Allowed,
                    Err(wait) => Verdict::Wait(wait),
                }
            }
            Fallback::Refuse => {
                self.metrics().limits_store_fallback(false);
                Verdict::Unavailable
            }
        }
    }

    /// The per-caller decision for `caller` of (app index, rule index) in `issue.rs`: the shared
    /// store's, made before the route ran (see `guard.rs`), else this replica's memory.
    pub(crate) fn charge_caller(
        &self,
        ctx: &crate::guard::RequestCtx,
        app_rule: (usize, usize),
        limiter: &Limiter<String>,
        caller: &String,
    ) -> Result<(), Duration> {
        match ctx.take_precharged() {
            Some((app, rule, decision)) if (app, rule) == app_rule => decision,
            other => {
                if let Some(store) = self.limits_store() {
                    // The store was not asked for this app and rule: the security layer
                    // authenticates for the app each route issues for, so this is a route
                    // that issues for another one. Count here, as the fallback would.
                    tracing::warn!(
                        store = %store.settings().redacted(),
                        asked = ?other.map(|(app, rule, _)| (app, rule)),
                        issuing = ?app_rule,
                        "per-caller limit decided in memory: the shared store was asked for another app or rule"
                    );
                    self.metrics().limits_store_fallback(true);
                }
                self.limit_locally(limiter, caller)
            }
        }
    }

    /// Takes one request from `key`'s allowance in this replica's memory.
    pub(crate) fn limit_locally<K: Hash + Eq + Clone>(&self, limiter: &Limiter<K>, key: &K) -> Result<(), Duration> {
        let decision = limiter.check(key);
        self.metrics().limit_decision(false, decision.is_ok());
        decision
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_and_redacted() {
        let s = LimitsStore::new("redis://:s3cret@cache.internal:6380/2", None, None).unwrap();
        assert_eq!(s.redacted(), "redis://cache.internal:6380/2");
        assert!(!format!("{s:?}").contains("s3cret"));
        let s = LimitsStore::new("rediss://user:pw@[::1]:6379", None, None).unwrap();
        assert_eq!(s.redacted(), "rediss://[::1]:6379/0");
        assert!(LimitsStore::new("redis://127.0.0.1:6379", Some("pw"), None).is_ok());
        for (bad, says) in [
            ("http://127.0.0.1:6379", "redis://"),
            ("rediss://127.0.0.1:6379#insecure", "fragment"),
            ("redis://127.0.0.1:6379/x", "Redis URL"),
            ("unix:///tmp/redis.sock", "redis://"),
        ] {
            let err = LimitsStore::new(bad, None, None).unwrap_err().to_string();
            assert!(err.contains(says), "{bad}: {err}");
        }
        let err = LimitsStore::new("redis://:pw@127.0.0.1:6379", Some("other"), None).unwrap_err();
        assert!(err.to_string().contains("password file") && !err.to_string().contains("pw@"), "{err}");
        let err = LimitsStore::new("redis://127.0.0.1:6379", None, Some(b"x")).unwrap_err();
        assert!(err.to_string().contains("rediss://"), "{err}");
    }

    #[test]
    fn store_setting_errors_are_variants_without_the_password() {
        let variant = |url: &str, password: Option<&str>, ca: Option<&[u8]>| {
            let err = LimitsStore::new(url, password, ca).unwrap_err();
            let (shown, debugged) = (err.to_string(), format!("{err:?}"));
            for secret in ["s3cret", "hunter2"] {
                assert!(!shown.contains(secret) && !debugged.contains(secret), "{url}: {shown} / {debugged}");
            }
            err
        };
        assert!(matches!(variant("http://:s3cret@127.0.0.1:6379", None, None), SettingError::StoreScheme));
        assert!(matches!(variant("rediss://:s3cret@127.0.0.1:6379#insecure", None, None), SettingError::StoreFragment));
        assert!(matches!(variant("redis://:s3cret@127.0.0.1:6379/x", None, None), SettingError::NotRedisUrl(_)));
        let twice = variant("redis://:s3cret@127.0.0.1:6379", Some("hunter2"), None);
        assert!(matches!(twice, SettingError::StorePasswordTwice));
        assert!(!twice.concerns_ca_file());
        let ca = variant("redis://:s3cret@127.0.0.1:6379", None, Some(b"x"));
        assert!(matches!(ca, SettingError::StoreCaWithoutTls) && ca.concerns_ca_file());
        let e = Fallback::parse(" later ").unwrap_err();
        assert!(matches!(&e, SettingError::Fallback { got } if got == "later"), "{e:?}");
        assert_eq!(e.to_string(), "must be \"local\" or \"refuse\", got \"later\"");
        let timeout = StoreError::Timeout { timeout: Duration::from_millis(100) };
        assert_eq!(timeout.to_string(), "no answer within 100 ms");
    }

    #[test]
    fn the_breaker_opens_then_lets_one_probe_through() {
        let b = Breaker { base: Instant::now(), open_until: AtomicU64::new(0) };
        assert!(b.admit(DEFAULT_TIMEOUT) && b.admit(DEFAULT_TIMEOUT), "closed: every call goes to the store");
        assert!(b.failure(), "closed -> open");
        assert!(!b.failure(), "already open");
        assert!(!b.admit(DEFAULT_TIMEOUT), "open: the store is left alone");
        // Pretend OPEN_FOR has passed.
        b.open_until.store(1, Ordering::Release);
        assert!(b.admit(DEFAULT_TIMEOUT), "one probe");
        assert!(!b.admit(DEFAULT_TIMEOUT), "only one probe at a time");
        assert!(b.success(), "open -> closed");
        assert!(b.admit(DEFAULT_TIMEOUT));
    }
}
