//! JWT keys fetched from the identity provider: `jwks_url`, or OIDC discovery (`issuer` →
//! `{issuer}/.well-known/openid-configuration` → `jwks_uri`; the document's `issuer` must equal
//! the configured one, as OpenID Connect Discovery §4.3 requires).
//!
//! - **Caching.** The keys are kept for the answer's `Cache-Control: max-age`, clamped to
//!   [`MIN_TTL`]–[`MAX_TTL`] ([`DEFAULT_TTL`] without one; `no-store`/`no-cache` count as the
//!   minimum), then fetched again in the background.
//! - **Rotation.** A JWT whose `kid` is not among the keys waits for a refetch, at most one per
//!   `jwks_min_refetch_secs` (default [`DEFAULT_MIN_REFETCH`]) whatever the reason, and requests
//!   that arrive meanwhile share that one fetch: a flood of made-up `kid`s costs the provider at
//!   most one request per interval.
//! - **Failures** (connection, TLS, timeout, an HTTP status other than 200, a body that is not a
//!   JWKS or holds no usable key, more than [`MAX_BODY_BYTES`]) keep the last good keys, with a
//!   warning in the log and `agtoken_jwks_fetches_total{outcome=…}`; when the keys are due (or
//!   missing) the background fetch retries after 1 s, 2 s, 4 s … up to [`MAX_RETRY`].
//! - **Start-up.** The server does not wait for the provider: it starts, fetches in the
//!   background, and until the first fetch succeeds `/readyz` answers 503 naming the app and the
//!   error, and JWT requests to that app get 503 + `Retry-After` (not 401: the caller's token
//!   may be fine; the server cannot check it yet).
//! - **Transport.** HTTPS verified against the system's root certificates (plus `jwks_ca_file`)
//!   through rustls; `http://` only to a loopback host (127.0.0.0/8, ::1, `localhost`), for a
//!   provider on the same machine or a test. Redirects are not followed. Every fetch has a
//!   deadline (`jwks_timeout_ms`, default [`DEFAULT_TIMEOUT`]; the connection must be up within
//!   [`CONNECT_TIMEOUT`] of it).
//!
//! The HTTP client (`outbound.rs`, shared with `agtoken healthcheck`) is hyper's own connection
//! API over tokio-rustls with `rustls-native-certs` (already built for `rediss://`): a fetch
//! every few minutes needs no connection pool, so `reqwest` or `hyper-util`'s pooled client and
//! `hyper-rustls` would only add crates to the build.

use std::fmt;
use std::net::IpAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http_body_util::BodyExt as _;
use hyper::Uri;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::CertificateDer;
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};

use crate::auth::{keys_of_jwks, AuthError, VerifyKey};
use crate::error::SettingError;
use crate::outbound::{self, Get, NetworkFailure};

/// Cache time when the answer has no `Cache-Control: max-age`.
pub const DEFAULT_TTL: Duration = Duration::from_secs(300);
/// Shortest cache time honoured.
pub const MIN_TTL: Duration = Duration::from_secs(60);
/// Longest cache time honoured.
pub const MAX_TTL: Duration = Duration::from_secs(24 * 3600);
/// Default least time between two fetches caused by unknown `kid`s.
pub const DEFAULT_MIN_REFETCH: Duration = Duration::from_secs(10);
/// Default deadline of one fetch.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest time to set up the TCP connection (within the fetch's deadline).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Largest answer read (discovery document or JWKS).
pub const MAX_BODY_BYTES: usize = 512 * 1024;
/// Longest wait between background retries after failures.
pub const MAX_RETRY: Duration = Duration::from_secs(60);
/// `Retry-After` of a 503 while the keys were never fetched.
pub const RETRY_AFTER_SECS: u64 = 5;

/// How a fetch ended (the `outcome` label of `agtoken_jwks_fetches_total`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Keys fetched.
    Ok,
    /// An HTTP status other than 200 (redirects included).
    HttpError,
    /// Not a JWKS (or discovery document), no usable key, or the wrong issuer.
    Invalid,
    /// More than [`MAX_BODY_BYTES`].
    TooLarge,
    /// The deadline passed.
    Timeout,
    /// DNS, TCP, TLS or HTTP protocol failure.
    Network,
}

impl Outcome {
    /// Every outcome, in label order.
    pub const ALL: [Outcome; 6] =
        [Outcome::Ok, Outcome::HttpError, Outcome::Invalid, Outcome::TooLarge, Outcome::Timeout, Outcome::Network];

    /// The metrics label.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::HttpError => "http_error",
            Outcome::Invalid => "invalid",
            Outcome::TooLarge => "too_large",
            Outcome::Timeout => "timeout",
            Outcome::Network => "network_error",
        }
    }
}

/// Why a fetch of the JWKS (or of the discovery document) failed: [`JwksFetchError::outcome`] is
/// its metrics label, `Display` goes to the log and `/readyz`. The URLs it shows hold no
/// credentials (refused when they are read, [`Target::parse`]).
#[derive(Debug, thiserror::Error)]
pub(crate) enum JwksFetchError {
    /// DNS, TCP, TLS or the HTTP exchange failed.
    #[error("{url}: {failure}")]
    Network { url: String, failure: NetworkFailure },
    /// An answer other than 200 (a redirect is not followed).
    #[error("{url}: HTTP status {}{}", status.as_u16(), if status.is_redirection() { " (redirects are not followed)" } else { "" })]
    HttpStatus { url: String, status: hyper::StatusCode },
    /// An answer over [`MAX_BODY_BYTES`].
    #[error("{url}: the answer is larger than {MAX_BODY_BYTES} bytes")]
    TooLarge { url: String },
    /// No complete answer within the fetch's deadline.
    #[error("no complete answer within {} ms", timeout.as_millis())]
    Timeout { timeout: Duration },
    /// A JWKS that is not one, or holds no usable key.
    #[error("{url}: {error}")]
    NoKeys { url: String, error: SettingError },
    /// A discovery document that is not JSON with `issuer` and `jwks_uri`.
    #[error("{url} is not an OpenID discovery document with jwks_uri: {error}")]
    NotDiscovery { url: String, error: serde_json::Error },
    /// A discovery document of another issuer than the configured one.
    #[error("{url} names issuer {found:?}, not the configured {configured:?}")]
    WrongIssuer { url: String, found: String, configured: String },
    /// A discovery document whose `jwks_uri` is not a URL this server fetches.
    #[error("{url}: jwks_uri {error}")]
    BadJwksUri { url: String, error: SettingError },
}

impl JwksFetchError {
    /// The `outcome` label of `agtoken_jwks_fetches_total`.
    pub(crate) fn outcome(&self) -> Outcome {
        match self {
            JwksFetchError::Network { .. } => Outcome::Network,
            JwksFetchError::HttpStatus { .. } => Outcome::HttpError,
            JwksFetchError::TooLarge { .. } => Outcome::TooLarge,
            JwksFetchError::Timeout { .. } => Outcome::Timeout,
            JwksFetchError::NoKeys { .. }
            | JwksFetchError::NotDiscovery { .. }
            | JwksFetchError::WrongIssuer { .. }
            | JwksFetchError::BadJwksUri { .. } => Outcome::Invalid,
        }
    }
}

/// A parsed `http(s)://` URL to fetch.
#[derive(Clone)]
struct Target {
    text: String,
    https: bool,
    host: String,
    port: u16,
    authority: String,
    path: String,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Target {
    /// `https://…`, or `http://…` to a loopback host; no user name or password.
    fn parse(text: &str) -> Result<Target, SettingError> {
        let uri: Uri = text.trim().parse().map_err(|_| SettingError::NotAUrl { text: text.to_owned() })?;
        // Before any error that shows the URL: a password in it is not shown.
        if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
            return Err(SettingError::UrlCredentials);
        }
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(SettingError::NotHttps { text: text.to_owned() }),
        };
        let authority = uri.authority().ok_or_else(|| SettingError::NoHost { text: text.to_owned() })?;
        let host = authority.host().trim_start_matches('[').trim_end_matches(']').to_owned();
        if !https && !is_loopback(&host) {
            return Err(SettingError::HttpNotLoopback { text: text.to_owned() });
        }
        Ok(Target {
            text: text.trim().to_owned(),
            https,
            port: authority.port_u16().unwrap_or(if https { 443 } else { 80 }),
            authority: authority.as_str().to_owned(),
            host,
            path: uri.path_and_query().map_or("/", |p| p.as_str()).to_owned(),
        })
    }
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost") || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Where the keys come from.
#[derive(Clone)]
enum Source {
    Url(Target),
    Discovery { issuer: String, document: Target },
}

/// The validated settings of one app's remote JWKS.
#[derive(Clone)]
pub struct RemoteSettings {
    app_id: String,
    source: Source,
    tls: Arc<ClientConfig>,
    min_refetch: Duration,
    timeout: Duration,
}

impl RemoteSettings {
    /// Checks the `[apps.jwt]` settings of a remote JWKS: `jwks_url`, or `discovery` with the
    /// configured issuers (exactly one). An error names the setting (below `jwt.`) and the rule.
    pub(crate) fn resolve(
        app_id: &str,
        jwks_url: Option<&str>,
        discovery: Option<&[String]>,
        ca_file: Option<&Path>,
        min_refetch_secs: Option<u64>,
        timeout_ms: Option<u64>,
    ) -> Result<RemoteSettings, (&'static str, SettingError)> {
        let source = match (jwks_url, discovery) {
            (Some(url), None) => Source::Url(Target::parse(url).map_err(|e| ("jwks_url", e))?),
            (None, Some([issuer])) => {
                let document = format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/'));
                let document = Target::parse(&document).map_err(|e| ("issuer", e))?;
                Source::Discovery { issuer: issuer.clone(), document }
            }
            (None, Some(_)) => return Err(("issuer", SettingError::DiscoveryIssuers)),
            _ => return Err(("jwks_url", SettingError::JwksSources)),
        };
        let min_refetch = match min_refetch_secs {
            None => DEFAULT_MIN_REFETCH,
            Some(secs @ 1..=3600) => Duration::from_secs(secs),
            Some(got) => {
                return Err(("jwks_min_refetch_secs", SettingError::OutOfRange { range: "1 to 3600 seconds", got }))
            }
        };
        let timeout = match timeout_ms {
            None => DEFAULT_TIMEOUT,
            Some(ms @ 100..=60_000) => Duration::from_millis(ms),
            Some(got) => return Err(("jwks_timeout_ms", SettingError::OutOfRange { range: "100 to 60000 ms", got })),
        };
        let https = match &source {
            Source::Url(target) | Source::Discovery { document: target, .. } => target.https,
        };
        let tls = tls_config(ca_file, https).map_err(|e| ("jwks_ca_file", e))?;
        Ok(RemoteSettings { app_id: app_id.to_owned(), source, tls, min_refetch, timeout })
    }
}

/// TLS for fetching keys: the system's roots (`rustls-native-certs`: the OS store, or
/// `SSL_CERT_FILE`/`SSL_CERT_DIR`) plus the certificates of `ca_file`. An error when neither
/// gives a root and the URL is `https://`.
fn tls_config(ca_file: Option<&Path>, https: bool) -> Result<Arc<ClientConfig>, SettingError> {
    let mut roots = RootCertStore::empty();
    // Unreadable entries of the system store are skipped, as every TLS client does.
    let (_added, _skipped) = roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    if let Some(path) = ca_file {
        let pem = std::fs::read(path).map_err(|source| SettingError::Read { path: path.to_owned(), source })?;
        let mut any = false;
        for cert in CertificateDer::pem_slice_iter(&pem) {
            let cert = cert.map_err(|source| SettingError::CaNotPem { path: path.to_owned(), source })?;
            roots.add(cert).map_err(|source| SettingError::CaRefused { path: path.to_owned(), source })?;
            any = true;
        }
        if !any {
            return Err(SettingError::NoCaCertificate { path: path.to_owned() });
        }
    }
    if roots.is_empty() && https {
        return Err(SettingError::NoRootCertificates);
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(SettingError::ClientTls)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Counters of one remote JWKS, for `/metrics`.
#[derive(Default)]
pub(crate) struct JwksStats {
    fetches: [AtomicU64; Outcome::ALL.len()],
    /// Unix time of the last successful fetch (0: never).
    last_success: AtomicU64,
    keys: AtomicU64,
}

impl JwksStats {
    /// Fetches so far, by outcome (in [`Outcome::ALL`] order).
    pub(crate) fn fetches(&self) -> impl Iterator<Item = (Outcome, u64)> + '_ {
        Outcome::ALL.iter().zip(&self.fetches).map(|(o, c)| (*o, c.load(Relaxed)))
    }

    /// Unix time of the last successful fetch, if any.
    pub(crate) fn last_success(&self) -> Option<u64> {
        Some(self.last_success.load(Relaxed)).filter(|t| *t > 0)
    }

    /// Keys held.
    pub(crate) fn keys(&self) -> u64 {
        self.keys.load(Relaxed)
    }
}

struct State {
    keys: Option<Arc<Vec<VerifyKey>>>,
    digest: [u8; 32],
    /// The JWKS URL found by discovery (or the configured one).
    jwks_uri: Option<Target>,
    /// Bumped after every fetch, so that requests that waited for one do not start another.
    generation: u64,
    last_attempt: Option<Instant>,
    next_refresh: Instant,
    failures: u32,
    last_error: Option<String>,
}

/// One app's keys from the identity provider.
pub struct RemoteJwks {
    settings: RemoteSettings,
    state: Mutex<State>,
    /// Held while fetching: concurrent refreshes wait for the one in flight.
    fetching: tokio::sync::Mutex<()>,
    stats: JwksStats,
    background: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// How `/readyz` sees one remote JWKS.
pub(crate) enum Readiness {
    /// Keys held, the last fetch succeeded.
    Fresh,
    /// Keys held, but the last fetch failed (the keys are kept): the reason.
    Stale(String),
    /// No key was ever fetched: the reason.
    Missing(String),
}

impl RemoteJwks {
    pub(crate) fn new(settings: RemoteSettings) -> RemoteJwks {
        let jwks_uri = match &settings.source {
            Source::Url(target) => Some(target.clone()),
            Source::Discovery { .. } => None,
        };
        RemoteJwks {
            settings,
            state: Mutex::new(State {
                keys: None,
                digest: [0; 32],
                jwks_uri,
                generation: 0,
                last_attempt: None,
                next_refresh: Instant::now(),
                failures: 0,
                last_error: None,
            }),
            fetching: tokio::sync::Mutex::new(()),
            stats: JwksStats::default(),
            background: Mutex::new(None),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The app this JWKS belongs to.
    pub(crate) fn app_id(&self) -> &str {
        &self.settings.app_id
    }

    /// The configured URL (`jwks_url`, or the discovery document's).
    pub(crate) fn source_text(&self) -> String {
        match &self.settings.source {
            Source::Url(target) => target.text.clone(),
            Source::Discovery { document, .. } => document.text.clone(),
        }
    }

    pub(crate) fn stats(&self) -> &JwksStats {
        &self.stats
    }

    /// The keys, once fetched.
    pub(crate) fn keys(&self) -> Option<Arc<Vec<VerifyKey>>> {
        self.lock().keys.clone()
    }

    /// The 503 of a JWT request while no key was ever fetched.
    pub(crate) fn unavailable(&self) -> AuthError {
        let why = self.lock().last_error.clone().unwrap_or_else(|| "the first fetch has not finished".to_owned());
        AuthError::KeysUnavailable { app_id: self.settings.app_id.clone(), url: self.source_text(), why }
    }

    pub(crate) fn readiness(&self) -> Readiness {
        let state = self.lock();
        match (&state.keys, &state.last_error) {
            (Some(_), None) => Readiness::Fresh,
            (Some(_), Some(e)) => Readiness::Stale(e.clone()),
            (None, e) => Readiness::Missing(e.clone().unwrap_or_else(|| "the first fetch has not finished".into())),
        }
    }

    /// After a reload: when `old` fetched from the same place, this source starts from its keys,
    /// schedule and counters, so a reload neither refetches nor answers 503 while the first fetch
    /// of a fresh source runs.
    pub(crate) fn inherit(&self, old: &RemoteJwks) {
        if old.settings.app_id != self.settings.app_id || old.source_text() != self.source_text() {
            return;
        }
        {
            let from = old.lock();
            let mut to = self.lock();
            to.keys = from.keys.clone();
            to.digest = from.digest;
            to.jwks_uri = from.jwks_uri.clone();
            to.next_refresh = from.next_refresh;
            to.last_attempt = from.last_attempt;
            to.failures = from.failures;
            to.last_error = from.last_error.clone();
        }
        for (to, from) in self.stats.fetches.iter().zip(&old.stats.fetches) {
            to.store(from.load(Relaxed), Relaxed);
        }
        self.stats.last_success.store(old.stats.last_success.load(Relaxed), Relaxed);
        self.stats.keys.store(old.stats.keys.load(Relaxed), Relaxed);
    }

    /// Starts the background fetches (first at once, then as the cache time and failures
    /// say), unless running. Without a tokio runtime nothing starts: fetches then happen only
    /// when a JWT needs them.
    pub(crate) fn start(self: &Arc<Self>) {
        if tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        let mut background = self.background.lock().unwrap_or_else(|p| p.into_inner());
        if background.as_ref().is_some_and(|task| !task.is_finished()) {
            return;
        }
        let weak: Weak<RemoteJwks> = Arc::downgrade(self);
        *background = Some(tokio::spawn(async move {
            loop {
                let next = match weak.upgrade() {
                    Some(jwks) => jwks.lock().next_refresh,
                    None => return,
                };
                if next > Instant::now() {
                    tokio::time::sleep_until(next.into()).await;
                    continue; // a refresh meanwhile may have moved it
                }
                let Some(jwks) = weak.upgrade() else { return };
                jwks.refresh(true).await;
            }
        }));
    }

    /// A refetch for a JWT of an unknown `kid` (or while no key was ever fetched): at most one
    /// per `jwks_min_refetch_secs` since the last attempt, shared with concurrent callers.
    pub(crate) async fn refresh_for_unknown_kid(&self) {
        self.refresh(false).await;
    }

    async fn refresh(&self, scheduled: bool) {
        let seen = self.lock().generation;
        let _fetching = self.fetching.lock().await;
        {
            let state = self.lock();
            if state.generation != seen {
                return; // fetched while this one waited
            }
            if !scheduled && state.last_attempt.is_some_and(|t| t.elapsed() < self.settings.min_refetch) {
                return;
            }
        }
        self.lock().last_attempt = Some(Instant::now());
        let result = tokio::time::timeout(self.settings.timeout, self.fetch(scheduled))
            .await
            .unwrap_or_else(|_| Err(JwksFetchError::Timeout { timeout: self.settings.timeout }));
        let outcome = result.as_ref().map_or_else(JwksFetchError::outcome, |_| Outcome::Ok);
        self.stats.fetches[Outcome::ALL.iter().position(|o| *o == outcome).unwrap_or(0)].fetch_add(1, Relaxed);
        let mut state = self.lock();
        state.generation += 1;
        match result {
            Ok((keys, digest, ttl)) => {
                let changed = digest != state.digest;
                if changed {
                    tracing::info!(
                        app_id = self.settings.app_id.as_str(),
                        url = %self.source_text(),
                        keys = keys.len(),
                        cache_secs = ttl.as_secs(),
                        "JWKS fetched"
                    );
                } else {
                    tracing::debug!(app_id = self.settings.app_id.as_str(), "JWKS unchanged");
                }
                if state.last_error.is_some() {
                    tracing::info!(app_id = self.settings.app_id.as_str(), "JWKS fetch works again");
                }
                self.stats.keys.store(keys.len() as u64, Relaxed);
                self.stats.last_success.store(unix_now(), Relaxed);
                state.keys = Some(Arc::new(keys));
                state.digest = digest;
                state.failures = 0;
                state.last_error = None;
                state.next_refresh = Instant::now() + ttl;
            }
            Err(error) => {
                tracing::warn!(
                    app_id = self.settings.app_id.as_str(),
                    url = %self.source_text(),
                    outcome = outcome.as_str(),
                    error = %error,
                    kept_keys = state.keys.as_ref().map_or(0, |k| k.len()),
                    "JWKS fetch failed; keeping the previous keys"
                );
                state.last_error = Some(format!("{}: {error}", outcome.as_str()));
                // A failed refetch for an unknown kid leaves cached keys as fresh as they were:
                // the background retries sooner only when they are due or missing.
                if scheduled || state.keys.is_none() {
                    let backoff = Duration::from_secs(1u64 << state.failures.min(6)).min(MAX_RETRY);
                    state.failures += 1;
                    state.next_refresh = Instant::now() + backoff;
                }
            }
        }
    }

    /// One refresh: discovery when needed (the first time, and on scheduled refreshes), then
    /// the JWKS. Gives the keys, the digest of the document and how long to keep it.
    async fn fetch(&self, scheduled: bool) -> Result<(Vec<VerifyKey>, [u8; 32], Duration), JwksFetchError> {
        let known = self.lock().jwks_uri.clone();
        let jwks_uri = match &self.settings.source {
            Source::Url(target) => target.clone(),
            Source::Discovery { issuer, document } => match known.filter(|_| !scheduled) {
                Some(uri) => uri,
                None => {
                    let uri = self.discover(issuer, document).await?;
                    self.lock().jwks_uri = Some(uri.clone());
                    uri
                }
            },
        };
        let (body, max_age) = get(&jwks_uri, &self.settings.tls).await?;
        let keys = keys_of_jwks(&body).map_err(|error| JwksFetchError::NoKeys { url: jwks_uri.text.clone(), error })?;
        Ok((keys, Sha256::digest(&body).into(), cache_time(max_age)))
    }

    async fn discover(&self, issuer: &str, document: &Target) -> Result<Target, JwksFetchError> {
        #[derive(Deserialize)]
        struct Discovery {
            issuer: String,
            jwks_uri: String,
        }
        let (body, _) = get(document, &self.settings.tls).await?;
        let found: Discovery = serde_json::from_slice(&body)
            .map_err(|error| JwksFetchError::NotDiscovery { url: document.text.clone(), error })?;
        if found.issuer != issuer {
            return Err(JwksFetchError::WrongIssuer {
                url: document.text.clone(),
                found: found.issuer,
                configured: issuer.to_owned(),
            });
        }
        Target::parse(&found.jwks_uri).map_err(|error| JwksFetchError::BadJwksUri { url: document.text.clone(), error })
    }
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// How long to keep a document: its `max-age` clamped to [`MIN_TTL`]–[`MAX_TTL`], else
/// [`DEFAULT_TTL`].
pub(crate) fn cache_time(max_age: Option<u64>) -> Duration {
    max_age.map_or(DEFAULT_TTL, |secs| Duration::from_secs(secs).clamp(MIN_TTL, MAX_TTL))
}

/// The `max-age` of a `Cache-Control` value, in seconds; `no-store`/`no-cache` count as 0.
pub(crate) fn max_age(cache_control: &str) -> Option<u64> {
    let mut found = None;
    for directive in cache_control.split(',') {
        let directive = directive.trim();
        let (name, value) = directive.split_once('=').unwrap_or((directive, ""));
        let name = name.trim().to_ascii_lowercase();
        match name.as_str() {
            "no-store" | "no-cache" => return Some(0),
            "max-age" => found = value.trim().trim_matches('"').parse::<u64>().ok().or(found),
            _ => {}
        }
    }
    found
}

/// `GET target`: the body (at most [`MAX_BODY_BYTES`]) and the `max-age` of a 200 answer.
async fn get(target: &Target, tls: &Arc<ClientConfig>) -> Result<(Vec<u8>, Option<u64>), JwksFetchError> {
    let network = |failure: NetworkFailure| JwksFetchError::Network { url: target.text.clone(), failure };
    let headers = [
        (hyper::header::USER_AGENT, concat!("agtoken/", env!("CARGO_PKG_VERSION"))),
        (hyper::header::ACCEPT, "application/json"),
    ];
    let get = Get {
        host: &target.host,
        port: target.port,
        authority: &target.authority,
        path: &target.path,
        headers: &headers,
        connect_timeout: Some(CONNECT_TIMEOUT),
        tls: target.https.then_some(tls),
    };
    // `_connection` lives until the body is read.
    let (answer, _connection) = outbound::get(&get).await.map_err(network)?;
    let status = answer.status();
    if status != hyper::StatusCode::OK {
        return Err(JwksFetchError::HttpStatus { url: target.text.clone(), status });
    }
    let too_large = || JwksFetchError::TooLarge { url: target.text.clone() };
    let length = answer.headers().get(hyper::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok());
    if length.and_then(|v| v.parse::<u64>().ok()).is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(too_large());
    }
    let max_age = answer.headers().get_all(hyper::header::CACHE_CONTROL).iter().filter_map(|v| v.to_str().ok()).fold(
        None,
        |found: Option<u64>, value| match (found, max_age(value)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        },
    );
    let body = http_body_util::Limited::new(answer.into_body(), MAX_BODY_BYTES).collect().await.map_err(|e| {
        match e.downcast_ref::<http_body_util::LengthLimitError>() {
            Some(_) => too_large(),
            None => network(NetworkFailure::Body(e)),
        }
    })?;
    Ok((body.to_bytes().to_vec(), max_age))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_control_max_age_is_clamped() {
        assert_eq!(max_age("public, max-age=3600, must-revalidate"), Some(3600));
        assert_eq!(max_age("Max-Age=\"120\""), Some(120));
        assert_eq!(max_age("no-store"), Some(0));
        assert_eq!(max_age("public"), None);
        assert_eq!(cache_time(Some(3600)), Duration::from_secs(3600));
        assert_eq!(cache_time(Some(0)), MIN_TTL);
        assert_eq!(cache_time(Some(10 * 24 * 3600)), MAX_TTL);
        assert_eq!(cache_time(None), DEFAULT_TTL);
    }

    #[test]
    fn fetch_errors_give_their_outcome_label() {
        let url = "https://id.example.com/jwks".to_owned();
        let redirect = JwksFetchError::HttpStatus { url: url.clone(), status: hyper::StatusCode::FOUND };
        assert_eq!(redirect.outcome(), Outcome::HttpError);
        assert_eq!(redirect.to_string(), "https://id.example.com/jwks: HTTP status 302 (redirects are not followed)");
        let large = JwksFetchError::TooLarge { url: url.clone() };
        assert_eq!(large.outcome(), Outcome::TooLarge);
        assert_eq!(large.to_string(), format!("{url}: the answer is larger than {MAX_BODY_BYTES} bytes"));
        let timeout = JwksFetchError::Timeout { timeout: Duration::from_millis(250) };
        assert_eq!(
            (timeout.outcome(), timeout.to_string().as_str()),
            (Outcome::Timeout, "no complete answer within 250 ms")
        );
        let no_keys = JwksFetchError::NoKeys { url: url.clone(), error: SettingError::NoUsableJwk };
        assert_eq!(no_keys.outcome(), Outcome::Invalid);
        let issuer = JwksFetchError::WrongIssuer {
            url: url.clone(),
            found: "https://evil/".into(),
            configured: "https://id/".into(),
        };
        assert_eq!(issuer.outcome(), Outcome::Invalid);
        let network =
            JwksFetchError::Network { url, failure: NetworkFailure::NoAddress { host: "id.example.com".into() } };
        assert_eq!(
            (network.outcome(), network.to_string().as_str()),
            (Outcome::Network, "https://id.example.com/jwks: id.example.com resolves to no address")
        );
    }

    #[test]
    fn urls_are_https_or_loopback_http() {
        assert!(Target::parse("https://id.example.com/.well-known/jwks.json").unwrap().https);
        for ok in ["http://127.0.0.1:8080/jwks", "http://[::1]/jwks", "http://localhost:9/k"] {
            let t = Target::parse(ok).unwrap();
            assert!(!t.https, "{ok}");
        }
        let e = Target::parse("http://id.example.com/jwks").err().unwrap();
        assert!(matches!(&e, SettingError::HttpNotLoopback { text } if text == "http://id.example.com/jwks"));
        assert!(e.to_string().contains("loopback") && e.to_string().contains("https://"), "{e}");
        assert!(matches!(Target::parse("ftp://x/y"), Err(SettingError::NotHttps { .. })));
        // A password in the URL is refused without being shown, whatever else is wrong.
        for url in ["https://user:s3cret@id.example.com/", "ftp://user:s3cret@x/y", "http://u:s3cret@example.com/"] {
            let e = Target::parse(url).err().unwrap();
            assert!(matches!(e, SettingError::UrlCredentials), "{url}: {e:?}");
            assert!(!e.to_string().contains("s3cret") && !format!("{e:?}").contains("s3cret"), "{e}");
            assert!(e.to_string().contains("password"), "{e}");
        }
        let t = Target::parse("https://id.example.com:8443/a/b?c=d").unwrap();
        assert_eq!((t.host.as_str(), t.port, t.path.as_str()), ("id.example.com", 8443, "/a/b?c=d"));
    }
}
