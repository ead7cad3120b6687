//! Caller authentication, per app: `auth = "none" | "api_key" | "jwt"`.
//!
//! - **API keys.** The configuration holds only the SHA-256 of each key (hex), with a name.
//!   A key is sent as `Authorization: Bearer <key>` or `X-Api-Key: <key>`; the server hashes
//!   what it gets and compares it with every configured hash in constant time (`subtle`).
//!   Why SHA-256 and not a password hash (argon2, bcrypt): the keys are machine-made with
//!   256 bits of entropy ([`generate_api_key`]), so guessing from a leaked hash is hopeless
//!   whatever the hash's cost; a slow hash only protects low-entropy secrets such as passwords
//!   and would cost tens of milliseconds of CPU on every request. Revoking a key = removing its
//!   line: the server reloads (`reload.rs`).
//! - **JWT bearer tokens** from the app's identity provider: HS256 with a shared secret, or
//!   RS256/ES256 with PEM public keys, a JWKS file on disk (re-read when its content changes,
//!   looked at at most once a second) or a JWKS fetched from the provider ([`crate::jwks`]).
//!   Signatures are checked with `ring`; `jsonwebtoken` parses headers, PEM and JWKS; the
//!   claims are checked here (`KeyMaterial` says why). The algorithm is fixed by the
//!   key, never taken from the token alone (no `none`, no HS256 with a public key). `exp` is
//!   required, `nbf` honoured, both with a small leeway (default 30 s) against the server's
//!   clock; `iss`/`aud` are required when configured; `sub` is required (it names the caller).
//!
//! Error messages say what is wrong with the credential, never the credential.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::crypto::rust_crypto;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Header};
use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use subtle::{ConditionallySelectable, ConstantTimeEq};

use crate::config::{Env, StringOrList};
use crate::error::{ErrorCode, ServerError, SettingError};
use crate::jwks::{RemoteJwks, RemoteSettings, RETRY_AFTER_SECS};

/// Default leeway for `exp`/`nbf`, seconds.
pub const DEFAULT_LEEWAY_SECS: u64 = 30;
/// Largest leeway accepted.
pub const MAX_LEEWAY_SECS: u64 = 300;
/// Longest credential read from a header (a JWT with many claims stays far below).
const MAX_CREDENTIAL_BYTES: usize = 8192;

/// Why a request's credential proves no caller (a 401), or why it cannot be checked yet (a
/// 503). `Display` is the answer's message: it says what is wrong with the credential and never
/// repeats it (no API key, no JWT, no claim value).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// A credential header over [`MAX_CREDENTIAL_BYTES`].
    #[error("the {header} header is longer than {MAX_CREDENTIAL_BYTES} bytes")]
    HeaderTooLong {
        /// `Authorization` or `X-Api-Key`.
        header: &'static str,
    },
    /// A credential header that is not UTF-8.
    #[error("the {header} header is not text")]
    HeaderNotText {
        /// `Authorization` or `X-Api-Key`.
        header: &'static str,
    },
    /// A credential header that is empty (or only spaces).
    #[error("the {header} header is empty")]
    HeaderEmpty {
        /// `Authorization` or `X-Api-Key`.
        header: &'static str,
    },
    /// An `Authorization` header of another scheme than `Bearer`, or without a credential.
    #[error("the Authorization header must be \"Bearer <credential>\"")]
    NotBearer,
    /// No API key sent to an app with `auth = "api_key"`.
    #[error("API key required: send Authorization: Bearer <key> or X-Api-Key: <key>")]
    ApiKeyRequired,
    /// An API key whose hash is not configured.
    #[error("unknown API key")]
    UnknownApiKey,
    /// No bearer token sent to an app with `auth = "jwt"`.
    #[error("bearer token required: send Authorization: Bearer <JWT>")]
    BearerRequired,
    /// A bearer token whose header does not parse.
    #[error("the bearer token is not a JWT")]
    NotAJwt,
    /// A JWT whose parts are not base64url.
    #[error("the bearer token is not a valid JWT")]
    InvalidJwt,
    /// A JWT whose claims are not a JSON object with distinct names.
    #[error("the bearer token is not a valid JWT (its claims must be a JSON object, each name once)")]
    InvalidClaims,
    /// A JWT whose `kid` names no configured key of its algorithm.
    #[error("no configured key has the JWT's key id (kid)")]
    UnknownKeyId,
    /// A JWT of an algorithm no configured key verifies.
    #[error("the JWT's algorithm {alg:?} is not accepted")]
    AlgorithmNotAccepted {
        /// The JWT header's `alg`.
        alg: Algorithm,
    },
    /// A signature that no candidate key verifies.
    #[error("the JWT's signature does not verify")]
    BadSignature,
    /// A required claim that is absent (or, for `iss`/`aud`, not a string or strings).
    #[error("the JWT has no {claim} claim")]
    MissingClaim {
        /// `iss`, `aud`, `exp` or `sub`.
        claim: &'static str,
    },
    /// An `iss` that is not configured.
    #[error("the JWT's issuer (iss) is not accepted")]
    IssuerNotAccepted,
    /// An `aud` that names no configured audience.
    #[error("the JWT's audience (aud) is not accepted")]
    AudienceNotAccepted,
    /// An `exp` or `nbf` that is not a number.
    #[error("the JWT's {claim} claim is not a number")]
    ClaimNotANumber {
        /// `exp` or `nbf`.
        claim: &'static str,
    },
    /// A JWT past its `exp` (plus the leeway).
    #[error("the JWT expired at {exp} (server time {now}, leeway {leeway} s)")]
    Expired {
        /// The `exp` claim.
        exp: u64,
        /// The server's Unix time.
        now: u64,
        /// The configured leeway, seconds.
        leeway: u64,
    },
    /// A JWT before its `nbf` (minus the leeway).
    #[error("the JWT is not valid before {nbf} (server time {now}, leeway {leeway} s)")]
    NotYetValid {
        /// The `nbf` claim.
        nbf: u64,
        /// The server's Unix time.
        now: u64,
        /// The configured leeway, seconds.
        leeway: u64,
    },
    /// The app's JWT keys come from a URL and were never fetched: a 503 with `Retry-After`.
    #[error("the JWT keys of app {app_id} are not available yet ({url}: {why}); retry in {RETRY_AFTER_SECS} s")]
    KeysUnavailable {
        /// The app.
        app_id: String,
        /// The configured URL (`jwks_url` or the discovery document's).
        url: String,
        /// The last fetch's failure, or that the first has not finished.
        why: String,
    },
    /// A token built outside a request the security layer saw: refused (fail closed).
    #[error("no request context to authenticate")]
    NoRequestContext,
}

impl AuthError {
    /// The answer's code: `unavailable` (503) while JWT keys from a URL were never fetched,
    /// else `unauthorized` (401, with a `WWW-Authenticate` challenge).
    pub fn code(&self) -> ErrorCode {
        match self {
            AuthError::KeysUnavailable { .. } => ErrorCode::Unavailable,
            _ => ErrorCode::Unauthorized,
        }
    }
}

/// How an app's callers authenticate.
#[derive(Clone, Default)]
pub enum Auth {
    /// Anyone may ask (development; demo mode).
    #[default]
    None,
    /// Named API keys, stored as SHA-256 hashes.
    ApiKeys(Vec<ApiKey>),
    /// JWT bearer tokens.
    Jwt(Arc<JwtAuth>),
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::None => f.write_str("None"),
            Auth::ApiKeys(keys) => {
                f.debug_tuple("ApiKeys").field(&keys.iter().map(ApiKey::name).collect::<Vec<_>>()).finish()
            }
            Auth::Jwt(jwt) => jwt.fmt(f),
        }
    }
}

/// One API key: its name (in logs and policy rules) and the SHA-256 of the key.
#[derive(Clone)]
pub struct ApiKey {
    sha256: [u8; 32],
    /// The caller it authenticates (`key:NAME`), made once: every request with the key gets it.
    caller: Arc<Caller>,
}

impl ApiKey {
    /// A key from its name and the hex SHA-256 of the key.
    pub fn from_hex(name: &str, sha256_hex: &str) -> Result<ApiKey, SettingError> {
        let mut sha256 = [0u8; 32];
        match base16ct::mixed::decode(sha256_hex.trim(), &mut sha256) {
            Ok(decoded) if decoded.len() == 32 => Ok(ApiKey::new(name, sha256)),
            _ => Err(SettingError::ApiKeyHash { name: name.to_owned() }),
        }
    }

    /// A key from its name and the key itself (tests, embedding).
    pub fn from_key(name: &str, key: &str) -> ApiKey {
        ApiKey::new(name, Sha256::digest(key.as_bytes()).into())
    }

    fn new(name: &str, sha256: [u8; 32]) -> ApiKey {
        let caller = Caller { id: format!("key:{name}"), kind: CallerKind::ApiKey { name: name.to_owned() } };
        ApiKey { sha256, caller: Arc::new(caller) }
    }

    /// The key's name.
    pub fn name(&self) -> &str {
        match &self.caller.kind {
            CallerKind::ApiKey { name } => name,
            _ => unreachable!("an API key's caller is of kind ApiKey"),
        }
    }

    /// SHA-256 of the key's text.
    pub fn sha256(&self) -> &[u8; 32] {
        &self.sha256
    }
}

/// A new random API key (`agtk_` + 64 hex digits: 256 bits) and the hex SHA-256 to configure.
pub fn generate_api_key() -> (String, String) {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system's random generator failed");
    let key = format!("agtk_{}", hex(&bytes));
    let hash = hex(&Sha256::digest(key.as_bytes()));
    (key, hash)
}

fn hex(bytes: &[u8]) -> String {
    base16ct::lower::encode_string(bytes)
}

/// Who asked, once authenticated.
#[derive(Clone, Debug)]
pub struct Caller {
    /// Stable id, in logs and as the rate-limit key: `anonymous`, `key:NAME` or `jwt:SUB`.
    pub id: String,
    /// How the caller authenticated.
    pub kind: CallerKind,
}

/// How a caller authenticated.
#[derive(Clone, Debug)]
pub enum CallerKind {
    /// No authentication configured.
    Anonymous,
    /// An API key, by name.
    ApiKey {
        /// The key's name.
        name: String,
    },
    /// A JWT: its verified claims.
    Jwt {
        /// The claims (`sub`, `iss`, … and the provider's own).
        claims: Map<String, Value>,
    },
}

impl Caller {
    /// The caller of an app without authentication.
    pub fn anonymous() -> Caller {
        Caller { id: "anonymous".into(), kind: CallerKind::Anonymous }
    }

    /// A JWT claim (a top-level name, else a dotted path such as `realm_access.roles`).
    pub fn claim(&self, name: &str) -> Option<&Value> {
        let CallerKind::Jwt { claims } = &self.kind else { return None };
        if let Some(v) = claims.get(name) {
            return Some(v);
        }
        let mut parts = name.split('.');
        let mut value = claims.get(parts.next()?)?;
        for part in parts {
            value = value.as_object()?.get(part)?;
        }
        Some(value)
    }
}

/// The credential headers of a request (raw; nothing is decoded until needed).
#[derive(Clone, Copy, Debug, Default)]
pub struct Credentials<'a> {
    /// `Authorization`.
    pub authorization: Option<&'a [u8]>,
    /// `X-Api-Key`.
    pub api_key: Option<&'a [u8]>,
}

fn credential_text<'a>(bytes: &'a [u8], header: &'static str) -> Result<&'a str, AuthError> {
    if bytes.len() > MAX_CREDENTIAL_BYTES {
        return Err(AuthError::HeaderTooLong { header });
    }
    let text = std::str::from_utf8(bytes).map_err(|_| AuthError::HeaderNotText { header })?.trim();
    if text.is_empty() {
        return Err(AuthError::HeaderEmpty { header });
    }
    Ok(text)
}

fn bearer(bytes: &[u8]) -> Result<&str, AuthError> {
    let text = credential_text(bytes, "Authorization")?;
    match text.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") && !rest.trim().is_empty() => Ok(rest.trim()),
        _ => Err(AuthError::NotBearer),
    }
}

impl Auth {
    /// Whether callers are not authenticated.
    pub fn is_none(&self) -> bool {
        matches!(self, Auth::None)
    }

    /// `none`, `api_key` or `jwt`.
    pub fn kind(&self) -> &'static str {
        match self {
            Auth::None => "none",
            Auth::ApiKeys(_) => "api_key",
            Auth::Jwt(_) => "jwt",
        }
    }

    /// The caller these credentials prove, or why not: a 401 (never echoes the credential), or
    /// a 503 while an app's JWT keys from a URL were never fetched ([`AuthError::code`]). `now`
    /// is the server's Unix time (JWT `exp`/`nbf`).
    pub fn authenticate(&self, credentials: &Credentials<'_>, now: u64) -> Result<Arc<Caller>, AuthError> {
        match self {
            Auth::None => Ok(Arc::new(Caller::anonymous())),
            Auth::ApiKeys(keys) => api_key_caller(keys, credentials),
            Auth::Jwt(jwt) => {
                let authorization = credentials.authorization.ok_or(AuthError::BearerRequired)?;
                jwt.verify(bearer(authorization)?, now).map(Arc::new)
            }
        }
    }
}

fn api_key_caller(keys: &[ApiKey], credentials: &Credentials<'_>) -> Result<Arc<Caller>, AuthError> {
    let presented = match (credentials.api_key, credentials.authorization) {
        (Some(key), _) => credential_text(key, "X-Api-Key")?,
        (None, Some(authorization)) => bearer(authorization)?,
        (None, None) => return Err(AuthError::ApiKeyRequired),
    };
    let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
    // Every configured hash is compared, in constant time, whatever matches.
    let mut found = u32::MAX;
    for (i, key) in keys.iter().enumerate() {
        found.conditional_assign(&(i as u32), digests_equal(&key.sha256, &digest));
    }
    match keys.get(found as usize) {
        Some(key) => Ok(key.caller.clone()),
        None => Err(AuthError::UnknownApiKey),
    }
}

/// Whether two digests are equal, in constant time: the differences of all their bytes are OR-ed
/// together (no early exit) and the result is compared once with `subtle` (whose comparison of
/// two slices puts an optimisation barrier on every byte: ~400 instructions per key).
fn digests_equal(a: &[u8; 32], b: &[u8; 32]) -> subtle::Choice {
    let difference = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    difference.ct_eq(&0)
}

// ---- JWT ---------------------------------------------------------------------------------------

/// JWT verification settings and keys of one app.
pub struct JwtAuth {
    issuers: Vec<String>,
    audiences: Vec<String>,
    leeway: u64,
    keys: JwtKeys,
}

enum JwtKeys {
    /// HS256 secret, or PEM public keys: fixed at start-up.
    Fixed(Arc<Vec<VerifyKey>>),
    /// A JWKS file, re-read when it changes.
    Jwks(JwksFile),
    /// A JWKS fetched from the identity provider (`jwks_url` or OIDC discovery).
    Remote(Arc<RemoteJwks>),
}

/// One verification key: its `kid` (if any), the one algorithm it verifies, and the key
/// itself in the form `ring` verifies with.
pub(crate) struct VerifyKey {
    kid: Option<String>,
    alg: Algorithm,
    material: KeyMaterial,
}

/// Why `ring` and not `jsonwebtoken`'s verification: its `rust_crypto` backend (the pure-Rust
/// `rsa` and `p256` crates) spent 300–460 µs per RS256/ES256 check, ten times everything else
/// a request costs; `ring` (already built for TLS, assembly for RSA and P-256) does the same
/// checks in tens of µs, and `aws_lc_rs` would add a C/cmake build for no further gain here.
/// `jsonwebtoken` still parses headers, PEM files and JWKS documents.
enum KeyMaterial {
    Hmac(ring::hmac::Key),
    /// RSA modulus and exponent, big-endian (checked at load: 2048–8192 bits).
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
    },
    /// A P-256 public point, uncompressed (`04 || x || y`).
    P256(Vec<u8>),
}

impl VerifyKey {
    fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        use ring::signature::{self as sig, RsaPublicKeyComponents, UnparsedPublicKey};
        match &self.material {
            KeyMaterial::Hmac(key) => ring::hmac::verify(key, message, signature).is_ok(),
            KeyMaterial::Rsa { n, e } => {
                RsaPublicKeyComponents { n, e }.verify(&sig::RSA_PKCS1_2048_8192_SHA256, message, signature).is_ok()
            }
            KeyMaterial::P256(point) => {
                UnparsedPublicKey::new(&sig::ECDSA_P256_SHA256_FIXED, point).verify(message, signature).is_ok()
            }
        }
    }

    fn rsa(kid: Option<String>, n: Vec<u8>, e: Vec<u8>) -> Result<VerifyKey, SettingError> {
        let n = strip_zeros(n);
        let e = strip_zeros(e);
        let bits = n.first().map_or(0, |top| (n.len() - 1) * 8 + (8 - top.leading_zeros() as usize));
        if !(2048..=8192).contains(&bits) {
            return Err(SettingError::RsaKeySize { bits });
        }
        // ring accepts odd exponents from 3 to 2^33 - 1 (65537 in practice).
        if e.is_empty() || e.len() > 5 || e.last().is_some_and(|b| b & 1 == 0) || e == [1] {
            return Err(SettingError::RsaExponent);
        }
        Ok(VerifyKey { kid, alg: Algorithm::RS256, material: KeyMaterial::Rsa { n, e } })
    }

    fn p256(kid: Option<String>, point: Vec<u8>) -> Result<VerifyKey, SettingError> {
        if point.len() != 65 || point[0] != 4 {
            return Err(SettingError::NotP256);
        }
        Ok(VerifyKey { kid, alg: Algorithm::ES256, material: KeyMaterial::P256(point) })
    }
}

fn strip_zeros(mut bytes: Vec<u8>) -> Vec<u8> {
    let zeros = bytes.iter().take_while(|b| **b == 0).count();
    bytes.drain(..zeros);
    bytes
}

struct JwksFile {
    path: PathBuf,
    state: Mutex<JwksState>,
}

struct JwksState {
    keys: Arc<Vec<VerifyKey>>,
    /// SHA-256 of the loaded file's bytes: a rewrite with the same modification time (same
    /// second, or a copy that keeps times) is still seen.
    digest: [u8; 32],
    checked: Instant,
    /// The digest of a version that failed to load (warned about once).
    failed: Option<[u8; 32]>,
}

/// How often the JWKS file is looked at.
const JWKS_CHECK_INTERVAL: Duration = Duration::from_secs(1);

impl fmt::Debug for JwtAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys = match &self.keys {
            JwtKeys::Fixed(keys) => format!("{} fixed key(s)", keys.len()),
            JwtKeys::Jwks(file) => format!("JWKS {}", file.path.display()),
            JwtKeys::Remote(remote) => format!("JWKS from {}", remote.source_text()),
        };
        f.debug_struct("Jwt")
            .field("issuers", &self.issuers)
            .field("audiences", &self.audiences)
            .field("leeway", &self.leeway)
            .field("keys", &keys)
            .finish()
    }
}

/// Where the JWT keys come from.
pub enum JwtKeySource {
    /// An HS256 shared secret (at least 32 bytes).
    Hs256Secret(String),
    /// PEM public keys: RSA keys verify RS256, P-256 keys ES256.
    PemFiles(Vec<PathBuf>),
    /// A JWKS file (RSA → RS256, EC P-256 → ES256, or the key's own `alg` of those two).
    JwksFile(PathBuf),
    /// A JWKS fetched from a URL, given or found by OIDC discovery (see [`crate::jwks`]).
    Remote(RemoteSettings),
}

/// The verified claims of a JWT, as a JSON object whose names are all distinct: a repeated
/// name is refused rather than resolved (RFC 7519 §4 lets a parser do either; two parsers
/// that resolve it differently would see two different tokens).
struct Claims(Map<String, Value>);

impl<'de> Deserialize<'de> for Claims {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Claims;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object of claims")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut access: A) -> Result<Claims, A::Error> {
                let mut map = Map::new();
                while let Some((name, value)) = access.next_entry::<String, Value>()? {
                    if map.contains_key(&name) {
                        return Err(serde::de::Error::custom("a claim name is repeated"));
                    }
                    map.insert(name, value);
                }
                Ok(Claims(map))
            }
        }
        deserializer.deserialize_map(Visit)
    }
}

/// Whether a claim (`iss` or `aud`: a string or an array of strings) names one of `accepted`.
/// `None` when the claim is absent or of another type (the claim counts as missing), as in
/// `jsonwebtoken`'s validation, which this replaces.
fn names_one_of(claim: Option<&Value>, accepted: &[String]) -> Option<bool> {
    match claim? {
        Value::String(s) => Some(accepted.iter().any(|a| a == s)),
        Value::Array(items) => {
            let mut names = Vec::with_capacity(items.len());
            for item in items {
                names.push(item.as_str()?);
            }
            Some(names.iter().any(|n| accepted.iter().any(|a| a == n)))
        }
        _ => None,
    }
}

impl JwtAuth {
    /// Verification with these keys, accepted issuers and audiences (empty: not checked) and
    /// leeway. Fails when a key cannot be read.
    pub fn new(
        source: JwtKeySource,
        issuers: Vec<String>,
        audiences: Vec<String>,
        leeway: u64,
    ) -> Result<JwtAuth, SettingError> {
        let keys = match source {
            JwtKeySource::Hs256Secret(secret) => {
                if secret.len() < 32 {
                    return Err(SettingError::Hs256SecretTooShort);
                }
                let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
                JwtKeys::Fixed(Arc::new(vec![VerifyKey {
                    kid: None,
                    alg: Algorithm::HS256,
                    material: KeyMaterial::Hmac(key),
                }]))
            }
            JwtKeySource::PemFiles(paths) => {
                if paths.is_empty() {
                    return Err(SettingError::NoPublicKeyFiles);
                }
                let mut keys = Vec::new();
                for path in paths {
                    let pem = read(&path)?;
                    if pem.windows(b"PRIVATE KEY".len()).any(|w| w == b"PRIVATE KEY") {
                        return Err(SettingError::PrivateKeyGiven { path });
                    }
                    let key = if let Ok(key) = DecodingKey::from_rsa_pem(&pem) {
                        let der = match key.try_get_as_bytes() {
                            Ok(der) => der,
                            Err(source) => return Err(SettingError::KeyBytes { path, source }),
                        };
                        let Ok((n, e)) =
                            (rust_crypto::DEFAULT_PROVIDER.key_utils.rsa_pub_components_from_public_key)(der)
                        else {
                            return Err(SettingError::NotRsaPublicKey { path });
                        };
                        VerifyKey::rsa(None, n, e)
                    } else if let Ok(key) = DecodingKey::from_ec_pem(&pem) {
                        match key.try_get_as_bytes() {
                            Ok(point) => VerifyKey::p256(None, point.to_vec()),
                            Err(source) => return Err(SettingError::KeyBytes { path, source }),
                        }
                    } else {
                        return Err(SettingError::NotPublicKey { path });
                    };
                    match key {
                        Ok(key) => keys.push(key),
                        Err(key) => return Err(SettingError::UnusableKey { path, key: Box::new(key) }),
                    }
                }
                JwtKeys::Fixed(Arc::new(keys))
            }
            JwtKeySource::JwksFile(path) => {
                let text = read(&path)?;
                let keys = match keys_of_jwks(&text) {
                    Ok(keys) => keys,
                    Err(jwks) => return Err(SettingError::JwksFile { path, jwks: Box::new(jwks) }),
                };
                JwtKeys::Jwks(JwksFile {
                    path,
                    state: Mutex::new(JwksState {
                        keys: Arc::new(keys),
                        digest: Sha256::digest(&text).into(),
                        checked: Instant::now(),
                        failed: None,
                    }),
                })
            }
            JwtKeySource::Remote(settings) => JwtKeys::Remote(Arc::new(RemoteJwks::new(settings))),
        };
        Ok(JwtAuth { issuers, audiences, leeway, keys })
    }

    /// The JWKS fetched from the identity provider, if that is where the keys come from.
    pub(crate) fn remote(&self) -> Option<&Arc<RemoteJwks>> {
        match &self.keys {
            JwtKeys::Remote(remote) => Some(remote),
            _ => None,
        }
    }

    /// Before a synchronous [`Auth::authenticate`]: with keys from a URL, a JWT whose `kid` is
    /// not among them (a rotation at the provider) waits for a refetch, which is rate-limited
    /// and shared with concurrent requests (see [`crate::jwks`]). Anything else returns at once.
    pub(crate) async fn prepare(&self, credentials: &Credentials<'_>) {
        let Some(remote) = self.remote() else { return };
        let Some(token) = credentials.authorization.and_then(|a| bearer(a).ok()) else { return };
        let Ok(header) = jsonwebtoken::decode_header(token) else { return };
        if !matches!(header.alg, Algorithm::RS256 | Algorithm::ES256) {
            return;
        }
        let known = remote.keys().is_some_and(|keys| {
            keys.iter().any(|k| k.alg == header.alg && (header.kid.is_none() || k.kid == header.kid))
        });
        if !known {
            remote.refresh_for_unknown_kid().await;
        }
    }

    /// The current keys: for a JWKS file, re-read when its content changed (looked at at most
    /// once a second). A file that fails to load leaves the previous keys in place.
    fn current_file_keys(file: &JwksFile) -> Arc<Vec<VerifyKey>> {
        let mut state = file.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if state.checked.elapsed() >= JWKS_CHECK_INTERVAL {
            state.checked = Instant::now();
            if let Ok(text) = std::fs::read(&file.path) {
                let digest: [u8; 32] = Sha256::digest(&text).into();
                if digest != state.digest && Some(digest) != state.failed {
                    match keys_of_jwks(&text) {
                        Ok(keys) => {
                            tracing::info!(path = %file.path.display(), keys = keys.len(), "JWKS reloaded");
                            state.keys = Arc::new(keys);
                            state.digest = digest;
                            state.failed = None;
                        }
                        Err(e) => {
                            tracing::warn!(
                                path = %file.path.display(),
                                error = %e,
                                "JWKS file changed but cannot be loaded; keeping the previous keys"
                            );
                            state.failed = Some(digest);
                        }
                    }
                }
            }
        }
        state.keys.clone()
    }

    /// Verifies `token` (algorithm, signature, iss, aud, exp, nbf, sub) and returns its caller,
    /// or what is wrong (a 401), or that keys from a URL were never fetched (a 503).
    fn verify(&self, token: &str, now: u64) -> Result<Caller, AuthError> {
        let keys = self.current_keys()?;
        self.verify_with(&keys, token, now)
    }

    /// The keys in force, or a 503 while keys from a URL were never fetched.
    fn current_keys(&self) -> Result<Arc<Vec<VerifyKey>>, AuthError> {
        match &self.keys {
            JwtKeys::Fixed(keys) => Ok(keys.clone()),
            JwtKeys::Jwks(file) => Ok(Self::current_file_keys(file)),
            JwtKeys::Remote(remote) => remote.keys().ok_or_else(|| remote.unavailable()),
        }
    }

    /// The keys that may have signed a JWT with this header: its algorithm, and its `kid` when
    /// both the JWT and the key have one.
    fn candidates<'k>(keys: &'k [VerifyKey], header: &'k Header) -> impl Iterator<Item = &'k VerifyKey> + 'k {
        keys.iter().filter(move |k| {
            k.alg == header.alg
                && match (&header.kid, &k.kid) {
                    (Some(a), Some(b)) => a == b,
                    _ => true,
                }
        })
    }

    /// Whether `token`'s signature verifies with one of the current keys of its algorithm and
    /// `kid`, and nothing else (no claim is looked at): the cryptographic part of
    /// [`Auth::authenticate`] alone, for measurements (`examples/jwt_cost.rs`).
    pub fn signature_verifies(&self, token: &str) -> bool {
        let Ok(keys) = self.current_keys() else { return false };
        let Ok(header) = jsonwebtoken::decode_header(token) else { return false };
        let Some((message, signature)) = token.rsplit_once('.') else { return false };
        let Ok(signature) = URL_SAFE_NO_PAD.decode(signature) else { return false };
        let verified = Self::candidates(&keys, &header).any(|k| k.verifies(message.as_bytes(), &signature));
        verified
    }

    fn verify_with(&self, keys: &[VerifyKey], token: &str, now: u64) -> Result<Caller, AuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::NotAJwt)?;
        // decode_header checked there are three parts; split as it does (from the right).
        let (message, signature) = token.rsplit_once('.').ok_or(AuthError::InvalidJwt)?;
        let (_, payload) = message.rsplit_once('.').ok_or(AuthError::InvalidJwt)?;
        let mut candidates = Self::candidates(keys, &header).peekable();
        if candidates.peek().is_none() {
            return Err(match &header.kid {
                Some(_) if keys.iter().any(|k| k.alg == header.alg) => AuthError::UnknownKeyId,
                _ => AuthError::AlgorithmNotAccepted { alg: header.alg },
            });
        }
        let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| AuthError::InvalidJwt)?;
        if !candidates.any(|key| key.verifies(message.as_bytes(), &signature)) {
            return Err(AuthError::BadSignature);
        }
        let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| AuthError::InvalidJwt)?;
        let Claims(claims) = serde_json::from_slice(&payload).map_err(|_| AuthError::InvalidClaims)?;
        for (claim, accepted) in [("iss", &self.issuers), ("aud", &self.audiences)] {
            if accepted.is_empty() {
                continue;
            }
            match names_one_of(claims.get(claim), accepted) {
                None => return Err(AuthError::MissingClaim { claim }),
                Some(false) if claim == "iss" => return Err(AuthError::IssuerNotAccepted),
                Some(false) => return Err(AuthError::AudienceNotAccepted),
                Some(true) => {}
            }
        }
        let time = |claim: &'static str| -> Result<Option<f64>, AuthError> {
            match claims.get(claim) {
                None => Ok(None),
                Some(v) => v.as_f64().map(Some).ok_or(AuthError::ClaimNotANumber { claim }),
            }
        };
        let now_f = now as f64;
        let leeway = self.leeway as f64;
        let exp = time("exp")?.ok_or(AuthError::MissingClaim { claim: "exp" })?;
        if now_f >= exp + leeway {
            return Err(AuthError::Expired { exp: exp as u64, now, leeway: self.leeway });
        }
        if let Some(nbf) = time("nbf")? {
            if now_f + leeway < nbf {
                return Err(AuthError::NotYetValid { nbf: nbf as u64, now, leeway: self.leeway });
            }
        }
        let subject = match claims.get("sub") {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            _ => return Err(AuthError::MissingClaim { claim: "sub" }),
        };
        Ok(Caller { id: format!("jwt:{subject}"), kind: CallerKind::Jwt { claims } })
    }
}

/// The verification keys of a JWKS document: RSA keys verify RS256, EC P-256 keys ES256 (or
/// the key's own `alg` when it is one of those two); encryption keys and other types are
/// skipped. An error when none is left.
pub(crate) fn keys_of_jwks(text: &[u8]) -> Result<Vec<VerifyKey>, SettingError> {
    let set: JwkSet = serde_json::from_slice(text).map_err(SettingError::NotJwks)?;
    let mut keys = Vec::new();
    for jwk in &set.keys {
        if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
            continue;
        }
        let kid = jwk.common.key_id.clone();
        let key = match (&jwk.algorithm, jwk.common.key_algorithm) {
            (AlgorithmParameters::RSA(rsa), None | Some(KeyAlgorithm::RS256)) => {
                let (Ok(n), Ok(e)) = (URL_SAFE_NO_PAD.decode(&rsa.n), URL_SAFE_NO_PAD.decode(&rsa.e)) else {
                    continue;
                };
                VerifyKey::rsa(kid, n, e)
            }
            (AlgorithmParameters::EllipticCurve(ec), None | Some(KeyAlgorithm::ES256))
                if ec.curve == EllipticCurve::P256 =>
            {
                let (Ok(x), Ok(y)) = (URL_SAFE_NO_PAD.decode(&ec.x), URL_SAFE_NO_PAD.decode(&ec.y)) else {
                    continue;
                };
                if x.len() != 32 || y.len() != 32 {
                    continue;
                }
                VerifyKey::p256(kid, [&[4u8][..], &x, &y].concat())
            }
            _ => continue, // other key types and algorithms are not accepted
        };
        // A key that is too small (or otherwise unusable) is skipped like an unknown type.
        if let Ok(key) = key {
            keys.push(key);
        }
    }
    if keys.is_empty() {
        return Err(SettingError::NoUsableJwk);
    }
    Ok(keys)
}

/// The bytes of a key file.
fn read(path: &Path) -> Result<Vec<u8>, SettingError> {
    std::fs::read(path).map_err(|source| SettingError::Read { path: path.to_owned(), source })
}

// ---- configuration --------------------------------------------------------------------------------

/// One `[[apps.api_keys]]` entry.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileApiKey {
    /// The key's name (logs, policy rules).
    pub name: String,
    /// SHA-256 of the key, 64 hex digits.
    pub sha256: String,
}

/// The `[apps.jwt]` table.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileJwt {
    /// Accepted `iss` (one or a list).
    pub issuer: Option<StringOrList>,
    /// Accepted `aud` (one or a list).
    pub audience: Option<StringOrList>,
    /// Leeway for `exp`/`nbf`, seconds (default 30).
    pub leeway_secs: Option<u64>,
    /// HS256 secret, in the file (prefer `_file` or `_env`).
    pub hs256_secret: Option<String>,
    /// Or: the environment variable that holds it.
    pub hs256_secret_env: Option<String>,
    /// Or: a file that holds it.
    pub hs256_secret_file: Option<PathBuf>,
    /// PEM public keys (RS256 for RSA keys, ES256 for P-256 keys).
    pub public_key_files: Option<Vec<PathBuf>>,
    /// A JWKS file, re-read when it changes.
    pub jwks_file: Option<PathBuf>,
    /// A JWKS URL (`https://`, or `http://` to a loopback host), fetched and cached.
    pub jwks_url: Option<String>,
    /// Find the JWKS URL by OIDC discovery from the (one) `issuer`.
    pub oidc_discovery: Option<bool>,
    /// Extra CA certificates (PEM) trusted for `jwks_url`/discovery, besides the system's.
    pub jwks_ca_file: Option<PathBuf>,
    /// Least time between two fetches caused by unknown `kid`s, seconds (default 10).
    pub jwks_min_refetch_secs: Option<u64>,
    /// Time allowed for one fetch (connect, TLS, answer), milliseconds (default 5000).
    pub jwks_timeout_ms: Option<u64>,
}

fn list(value: &Option<StringOrList>) -> Vec<String> {
    match value {
        None => Vec::new(),
        Some(StringOrList::One(s)) => vec![s.clone()],
        Some(StringOrList::Many(v)) => v.clone(),
    }
}

/// Where relative paths in the TOML file are resolved from.
pub(crate) fn resolve_path(base: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_owned()
    } else {
        base.join(path)
    }
}

/// What [`resolve`] needs from the TOML file around an app.
pub(crate) struct AuthSource<'a> {
    pub app_id: &'a str,
    pub file: &'a str,
    pub at: &'a str,
    pub base_dir: &'a Path,
    pub env: &'a Env,
}

/// The app's `auth`, `api_keys` and `jwt` settings, checked.
pub(crate) fn resolve(
    kind: Option<&str>,
    api_keys: &[FileApiKey],
    jwt: Option<&FileJwt>,
    src: &AuthSource<'_>,
    warnings: &mut Vec<String>,
) -> Result<Auth, ServerError> {
    let (file, at) = (src.file, src.at);
    let err = |field: &str, message: String| ServerError::config(file, format!("{at}.{field}"), message);
    let setting = |field: &str, error: SettingError| ServerError::setting(file, format!("{at}.{field}"), error);
    let kind = kind.unwrap_or("none");
    if kind != "api_key" && !api_keys.is_empty() {
        return Err(err("api_keys", format!("given but auth is {kind:?} (set auth = \"api_key\")")));
    }
    if kind != "jwt" && jwt.is_some() {
        return Err(err("jwt", format!("given but auth is {kind:?} (set auth = \"jwt\")")));
    }
    match kind {
        "none" => Ok(Auth::None),
        "api_key" => {
            if api_keys.is_empty() {
                return Err(err("api_keys", "auth = \"api_key\" needs at least one [[apps.api_keys]] entry".into()));
            }
            let mut keys: Vec<ApiKey> = Vec::new();
            for (i, k) in api_keys.iter().enumerate() {
                let name = k.name.trim();
                if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic()) {
                    return Err(err(&format!("api_keys[{i}].name"), "must be non-empty, printable, no spaces".into()));
                }
                if keys.iter().any(|other| other.name() == name) {
                    return Err(err(&format!("api_keys[{i}].name"), format!("{name:?} is used twice")));
                }
                let key =
                    ApiKey::from_hex(name, &k.sha256).map_err(|e| setting(&format!("api_keys[{i}].sha256"), e))?;
                if keys.iter().any(|other| other.sha256 == key.sha256) {
                    return Err(err(&format!("api_keys[{i}].sha256"), "the same key is configured twice".into()));
                }
                keys.push(key);
            }
            Ok(Auth::ApiKeys(keys))
        }
        "jwt" => {
            let Some(jwt) = jwt else {
                return Err(err("jwt", "auth = \"jwt\" needs an [apps.jwt] table".into()));
            };
            let leeway = jwt.leeway_secs.unwrap_or(DEFAULT_LEEWAY_SECS);
            if leeway > MAX_LEEWAY_SECS {
                return Err(err("jwt.leeway_secs", format!("must be at most {MAX_LEEWAY_SECS} seconds, got {leeway}")));
            }
            let secret_given =
                jwt.hs256_secret.is_some() || jwt.hs256_secret_env.is_some() || jwt.hs256_secret_file.is_some();
            let discovery = jwt.oidc_discovery == Some(true);
            let sources = usize::from(secret_given)
                + usize::from(jwt.public_key_files.is_some())
                + usize::from(jwt.jwks_file.is_some())
                + usize::from(jwt.jwks_url.is_some())
                + usize::from(discovery);
            if sources != 1 {
                return Err(err(
                    "jwt",
                    "give exactly one key source: hs256_secret (or hs256_secret_env / hs256_secret_file), \
                     public_key_files, jwks_file, jwks_url or oidc_discovery = true"
                        .into(),
                ));
            }
            let remote = jwt.jwks_url.is_some() || discovery;
            for (given, name) in [
                (jwt.jwks_ca_file.is_some(), "jwks_ca_file"),
                (jwt.jwks_min_refetch_secs.is_some(), "jwks_min_refetch_secs"),
                (jwt.jwks_timeout_ms.is_some(), "jwks_timeout_ms"),
            ] {
                if given && !remote {
                    return Err(err(&format!("jwt.{name}"), "only applies with jwks_url or oidc_discovery".into()));
                }
            }
            let source = if secret_given {
                let secret = match (&jwt.hs256_secret, &jwt.hs256_secret_env, &jwt.hs256_secret_file) {
                    (Some(s), None, None) => s.clone(),
                    (None, Some(var), None) => match src.env.get(var) {
                        Some((v, _)) => v.to_owned(),
                        None => {
                            return Err(err("jwt.hs256_secret_env", format!("environment variable {var} is not set")))
                        }
                    },
                    (None, None, Some(path)) => crate::secrets::read_secret_file(
                        &resolve_path(src.base_dir, path),
                        file,
                        &format!("{at}.jwt.hs256_secret_file"),
                        warnings,
                    )?,
                    _ => {
                        return Err(err(
                            "jwt.hs256_secret",
                            "give one of hs256_secret, hs256_secret_env, hs256_secret_file".into(),
                        ))
                    }
                };
                JwtKeySource::Hs256Secret(secret)
            } else if let Some(paths) = &jwt.public_key_files {
                JwtKeySource::PemFiles(paths.iter().map(|p| resolve_path(src.base_dir, p)).collect())
            } else if let Some(path) = &jwt.jwks_file {
                JwtKeySource::JwksFile(resolve_path(src.base_dir, path))
            } else {
                let issuers = list(&jwt.issuer);
                let ca_file = jwt.jwks_ca_file.as_ref().map(|p| resolve_path(src.base_dir, p));
                let settings = crate::jwks::RemoteSettings::resolve(
                    src.app_id,
                    jwt.jwks_url.as_deref(),
                    discovery.then_some(issuers.as_slice()),
                    ca_file.as_deref(),
                    jwt.jwks_min_refetch_secs,
                    jwt.jwks_timeout_ms,
                )
                .map_err(|(field, e)| setting(&format!("jwt.{field}"), e))?;
                JwtKeySource::Remote(settings)
            };
            let field = match &source {
                JwtKeySource::Hs256Secret(_) => "jwt.hs256_secret",
                JwtKeySource::PemFiles(_) => "jwt.public_key_files",
                JwtKeySource::JwksFile(_) => "jwt.jwks_file",
                JwtKeySource::Remote(_) => "jwt.jwks_url",
            };
            let auth =
                JwtAuth::new(source, list(&jwt.issuer), list(&jwt.audience), leeway).map_err(|e| setting(field, e))?;
            if auth.audiences.is_empty() {
                warnings.push(format!(
                    "{at}.jwt: no audience configured: any JWT of this issuer/key is accepted, \
                     including ones minted for other services"
                ));
            }
            Ok(Auth::Jwt(Arc::new(auth)))
        }
        other => Err(err("auth", format!("must be \"none\", \"api_key\" or \"jwt\", got {other:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds<'a>(authorization: Option<&'a str>, api_key: Option<&'a str>) -> Credentials<'a> {
        Credentials { authorization: authorization.map(str::as_bytes), api_key: api_key.map(str::as_bytes) }
    }

    #[test]
    fn digests_are_equal_only_when_every_byte_is() {
        let digest: [u8; 32] = Sha256::digest(b"k-one").into();
        assert!(bool::from(digests_equal(&digest, &digest)));
        for i in 0..32 {
            for bit in [0x01, 0x80] {
                let mut other = digest;
                other[i] ^= bit;
                assert!(!bool::from(digests_equal(&digest, &other)), "byte {i}, bit {bit:#x}");
            }
        }
    }

    #[test]
    fn api_keys_by_hash_in_either_header() {
        let auth = Auth::ApiKeys(vec![ApiKey::from_key("backend", "k-one"), ApiKey::from_key("ops", "k-two")]);
        let c = auth.authenticate(&creds(Some("Bearer k-two"), None), 0).unwrap();
        assert_eq!(c.id, "key:ops");
        let c = auth.authenticate(&creds(None, Some("k-one")), 0).unwrap();
        assert_eq!(c.id, "key:backend");
        let again = auth.authenticate(&creds(Some("bearer   k-one "), None), 0).unwrap();
        assert_eq!(again.id, "key:backend");
        assert!(matches!(&again.kind, CallerKind::ApiKey { name } if name == "backend"));
        // The key's caller is made once, with the key, not per request.
        assert!(Arc::ptr_eq(&c, &again));
        for (a, k) in [(None, None), (Some("Bearer k-three"), None), (Some("Basic k-one"), None), (None, Some(""))] {
            let e = auth.authenticate(&creds(a, k), 0).unwrap_err();
            assert_eq!(e.code(), ErrorCode::Unauthorized);
            assert!(!e.to_string().contains("k-"), "{e}");
        }
    }

    #[test]
    fn api_key_refusals_are_variants_that_never_show_the_key() {
        let auth = Auth::ApiKeys(vec![ApiKey::from_key("backend", "agtk_right-key")]);
        let refuse = |a: Option<&str>, k: Option<&str>| auth.authenticate(&creds(a, k), 0).unwrap_err();
        let cases = [
            (refuse(None, None), AuthError::ApiKeyRequired),
            (refuse(Some("Bearer agtk_wrong-key"), None), AuthError::UnknownApiKey),
            (refuse(None, Some("agtk_wrong-key")), AuthError::UnknownApiKey),
            (refuse(Some("Basic agtk_wrong-key"), None), AuthError::NotBearer),
            (refuse(None, Some("  ")), AuthError::HeaderEmpty { header: "X-Api-Key" }),
            (
                refuse(Some(&"a".repeat(MAX_CREDENTIAL_BYTES + 1)), None),
                AuthError::HeaderTooLong { header: "Authorization" },
            ),
        ];
        for (got, expected) in cases {
            assert_eq!(got, expected);
            assert_eq!(got.code(), ErrorCode::Unauthorized);
            let (shown, debugged) = (got.to_string(), format!("{got:?}"));
            assert!(!shown.contains("wrong-key") && !debugged.contains("wrong-key"), "{shown} / {debugged}");
        }
        let not_text = Credentials { authorization: None, api_key: Some(b"agtk_\xff") };
        assert_eq!(auth.authenticate(&not_text, 0).unwrap_err(), AuthError::HeaderNotText { header: "X-Api-Key" });
        // A hash that is not 64 hex digits (e.g. the key itself pasted in its place) is not shown.
        let e = ApiKey::from_hex("backend", "agtk_the-key-itself").err().unwrap();
        assert!(matches!(&e, SettingError::ApiKeyHash { name } if name == "backend"), "{e:?}");
        assert!(!e.to_string().contains("the-key-itself") && !format!("{e:?}").contains("the-key-itself"));
    }

    #[test]
    fn generated_keys_match_their_hash() {
        let (key, hash) = generate_api_key();
        assert!(key.starts_with("agtk_") && key.len() == 69);
        let auth = Auth::ApiKeys(vec![ApiKey::from_hex("gen", &hash).unwrap()]);
        assert!(auth.authenticate(&creds(None, Some(&key)), 0).is_ok());
        assert!(ApiKey::from_hex("x", "abc").is_err());
    }

    #[test]
    fn debug_never_shows_secrets() {
        let jwt = JwtAuth::new(
            JwtKeySource::Hs256Secret("a-very-long-shared-secret-of-40-bytes!!".into()),
            vec![],
            vec![],
            30,
        )
        .unwrap();
        let text = format!("{:?}", Auth::Jwt(Arc::new(jwt)));
        assert!(!text.contains("shared-secret"), "{text}");
        let e = JwtAuth::new(JwtKeySource::Hs256Secret("short-secret".into()), vec![], vec![], 30).err().unwrap();
        assert!(matches!(e, SettingError::Hs256SecretTooShort), "{e:?}");
        assert!(!e.to_string().contains("short-secret") && !format!("{e:?}").contains("short-secret"));
    }

    fn hs256_jwt(header: &str, claims: &str) -> String {
        let message = format!("{}.{}", URL_SAFE_NO_PAD.encode(header), URL_SAFE_NO_PAD.encode(claims));
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, SECRET.as_bytes());
        let tag = ring::hmac::sign(&key, message.as_bytes());
        format!("{message}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    }

    const SECRET: &str = "a-very-long-shared-secret-of-40-bytes!!";

    #[test]
    fn iss_and_aud_are_checked_as_strings_or_arrays() {
        let jwt = JwtAuth::new(
            JwtKeySource::Hs256Secret(SECRET.into()),
            vec!["https://id.example/".into()],
            vec!["agtoken".into(), "other".into()],
            30,
        )
        .unwrap();
        let header = r#"{"alg":"HS256","typ":"JWT"}"#;
        let check =
            |claims: &str| jwt.verify(&hs256_jwt(header, claims), 1_000).map(|c| c.id).map_err(|e| e.to_string());
        let ok = |rest: &str| format!(r#"{{"sub":"a","exp":2000,{rest}}}"#);
        assert_eq!(check(&ok(r#""iss":"https://id.example/","aud":"agtoken""#)).unwrap(), "jwt:a");
        assert!(check(&ok(r#""iss":["x","https://id.example/"],"aud":["y","other"]"#)).is_ok());
        let cases = [
            (ok(r#""iss":"https://id.example/","aud":[]"#), "audience (aud) is not accepted"),
            (ok(r#""iss":"https://id.example/","aud":"nope""#), "audience (aud) is not accepted"),
            (ok(r#""iss":"https://id.example/","aud":5"#), "no aud claim"),
            (ok(r#""iss":"https://id.example/","aud":["agtoken",5]"#), "no aud claim"),
            (ok(r#""iss":"https://id.example/","aud":null"#), "no aud claim"),
            (ok(r#""aud":"agtoken""#), "no iss claim"),
            (ok(r#""iss":"https://evil.example/","aud":"agtoken""#), "issuer (iss) is not accepted"),
            (ok(r#""iss":"https://id.example/","aud":"agtoken","sub":"b""#), "each name once"),
            (r#"["not","an","object"]"#.to_owned(), "not a valid JWT"),
        ];
        for (claims, expected) in cases {
            let e = check(&claims).unwrap_err();
            assert!(e.contains(expected), "{claims}: {e}");
        }
        // A signature over other bytes, and one that is not base64url.
        let good = hs256_jwt(header, &ok(r#""iss":"https://id.example/","aud":"agtoken""#));
        let (message, _) = good.rsplit_once('.').unwrap();
        let other = hs256_jwt(header, &ok(r#""iss":"https://id.example/","aud":"other""#));
        let forged = format!("{message}.{}", other.rsplit_once('.').unwrap().1);
        assert!(check_token(&jwt, &forged).contains("signature does not verify"));
        assert!(check_token(&jwt, &format!("{message}.*")).contains("not a valid JWT"));
    }

    fn check_token(jwt: &JwtAuth, token: &str) -> String {
        jwt.verify(token, 1_000).map(|c| c.id).unwrap_or_else(|e| e.to_string())
    }

    #[test]
    fn jwt_refusals_are_variants_that_never_show_the_token() {
        let jwt = JwtAuth::new(
            JwtKeySource::Hs256Secret(SECRET.into()),
            vec!["https://id.example/".into()],
            vec!["agtoken".into()],
            30,
        )
        .unwrap();
        let auth = Auth::Jwt(Arc::new(jwt));
        let header = r#"{"alg":"HS256","typ":"JWT"}"#;
        let claims = |rest: &str| format!(r#"{{"iss":"https://id.example/","aud":"agtoken",{rest}}}"#);
        let refuse = |token: &str| {
            let bearer = format!("Bearer {token}");
            let e = auth.authenticate(&creds(Some(&bearer), None), 1_000).unwrap_err();
            // The token, its signature and its claims' values are never in the message.
            let (message, _) = token.rsplit_once('.').unwrap_or((token, ""));
            for part in [token, message, SECRET, "secret-subject"] {
                assert!(!e.to_string().contains(part) && !format!("{e:?}").contains(part), "{e}");
            }
            e
        };
        let expired = hs256_jwt(header, &claims(r#""sub":"secret-subject","exp":900"#));
        assert_eq!(refuse(&expired), AuthError::Expired { exp: 900, now: 1_000, leeway: 30 });
        assert_eq!(refuse(&expired).to_string(), "the JWT expired at 900 (server time 1000, leeway 30 s)");
        let early = hs256_jwt(header, &claims(r#""sub":"secret-subject","exp":2000,"nbf":1100"#));
        assert_eq!(refuse(&early), AuthError::NotYetValid { nbf: 1100, now: 1_000, leeway: 30 });
        let no_sub = hs256_jwt(header, &claims(r#""exp":2000"#));
        assert_eq!(refuse(&no_sub), AuthError::MissingClaim { claim: "sub" });
        let no_exp = hs256_jwt(header, &claims(r#""sub":"secret-subject""#));
        assert_eq!(refuse(&no_exp), AuthError::MissingClaim { claim: "exp" });
        let text_exp = hs256_jwt(header, &claims(r#""sub":"secret-subject","exp":"soon""#));
        assert_eq!(refuse(&text_exp), AuthError::ClaimNotANumber { claim: "exp" });
        let rs256 = hs256_jwt(r#"{"alg":"RS256"}"#, &claims(r#""sub":"secret-subject","exp":2000"#));
        assert_eq!(refuse(&rs256), AuthError::AlgorithmNotAccepted { alg: Algorithm::RS256 });
        let good = hs256_jwt(header, &claims(r#""sub":"secret-subject","exp":2000"#));
        let (message, _) = good.rsplit_once('.').unwrap();
        let forged = format!("{message}.{}", URL_SAFE_NO_PAD.encode([7u8; 32]));
        assert_eq!(refuse(&forged), AuthError::BadSignature);
        assert_eq!(refuse("secret-subject.not-a.jwt"), AuthError::NotAJwt);
        let e = auth.authenticate(&creds(None, Some("whatever")), 1_000).unwrap_err();
        assert_eq!(e, AuthError::BearerRequired);
        assert_eq!(e.to_string(), "bearer token required: send Authorization: Bearer <JWT>");
        assert_eq!(e.code(), ErrorCode::Unauthorized);
        let unavailable = AuthError::KeysUnavailable {
            app_id: "app".into(),
            url: "https://id.example/jwks".into(),
            why: "the first fetch has not finished".into(),
        };
        assert_eq!(unavailable.code(), ErrorCode::Unavailable);
    }

    #[test]
    fn weak_or_foreign_keys_are_refused_at_load() {
        let e = VerifyKey::rsa(None, vec![0xc5; 128], vec![1, 0, 1]).err().unwrap();
        assert!(matches!(e, SettingError::RsaKeySize { bits: 1024 }), "{e:?}");
        assert!(e.to_string().contains("1024 bits") && e.to_string().contains("2048"), "{e}");
        assert!(VerifyKey::rsa(None, [vec![0], vec![0xc5; 256]].concat(), vec![1, 0, 1]).is_ok());
        let even = VerifyKey::rsa(None, vec![0xc5; 256], vec![2]).err().unwrap();
        assert!(matches!(even, SettingError::RsaExponent), "even exponent: {even:?}");
        let e = VerifyKey::p256(None, vec![4; 97]).err().unwrap();
        assert!(matches!(e, SettingError::NotP256) && e.to_string().contains("P-256"), "{e}");
        let set = r#"{"keys":[{"kty":"RSA","n":"xcXF","e":"AQAB","kid":"tiny"}]}"#;
        let e = keys_of_jwks(set.as_bytes()).err().unwrap();
        assert!(matches!(e, SettingError::NoUsableJwk) && e.to_string().contains("no RS256"), "{e}");
        assert!(matches!(keys_of_jwks(b"[]"), Err(SettingError::NotJwks(_))));
    }

    #[test]
    fn key_files_errors_name_the_file_and_never_a_private_key() {
        let dir = std::env::temp_dir().join(format!("agtoken-auth-keys-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let private = dir.join("private.pem");
        let body = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC-private-body";
        std::fs::write(&private, format!("-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n")).unwrap();
        let e = JwtAuth::new(JwtKeySource::PemFiles(vec![private.clone()]), vec![], vec![], 30).err().unwrap();
        assert!(matches!(&e, SettingError::PrivateKeyGiven { path } if *path == private), "{e:?}");
        assert!(!e.to_string().contains("private-body") && !format!("{e:?}").contains("private-body"), "{e}");
        let missing = dir.join("missing.pem");
        let e = JwtAuth::new(JwtKeySource::PemFiles(vec![missing.clone()]), vec![], vec![], 30).err().unwrap();
        assert!(matches!(&e, SettingError::Read { path, .. } if *path == missing), "{e:?}");
        assert!(matches!(
            JwtAuth::new(JwtKeySource::PemFiles(vec![]), vec![], vec![], 30),
            Err(SettingError::NoPublicKeyFiles)
        ));
        let jwks = dir.join("jwks.json");
        std::fs::write(&jwks, r#"{"keys":[]}"#).unwrap();
        let e = JwtAuth::new(JwtKeySource::JwksFile(jwks.clone()), vec![], vec![], 30).err().unwrap();
        assert!(
            matches!(&e, SettingError::JwksFile { path, jwks: inner } if *path == jwks && matches!(**inner, SettingError::NoUsableJwk)),
            "{e:?}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn claims_by_name_or_dotted_path() {
        let claims: Map<String, Value> = serde_json::from_str(
            r#"{"sub":"alice","https://example.com/role":"teacher","realm_access":{"roles":["a","b"]}}"#,
        )
        .unwrap();
        let c = Caller { id: "jwt:alice".into(), kind: CallerKind::Jwt { claims } };
        assert_eq!(c.claim("https://example.com/role").unwrap(), "teacher");
        assert_eq!(c.claim("realm_access.roles").unwrap()[1], "b");
        assert!(c.claim("realm_access.nope").is_none());
    }
}
