//! Parse without trusting ([`Token`]), verify the signature ([`VerifiedToken`]), then ask
//! what Agora's edge would answer for an action at an instant ([`VerifiedToken::check`]).

use std::fmt;

use crate::error::{Error, Result};
use crate::grant::{
    holdings_006, holdings_007, shared_grants, token_end_007, Capability, Grant, Holding, Holdings, Scope,
};
use crate::ids::{AppId, CertificateSet, Uid};
use crate::time::{UnixTime, MAX_LIFETIME_SECS};
use crate::v006::{AccessToken006, ParsedAccessToken006, Privilege006, VERSION_006};
use crate::v007::{AccessToken2, ParsedAccessToken2, Service, ServiceType, VERSION_007};
use crate::wildcard;

/// Token format version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Version {
    /// AccessToken, "006" (legacy).
    V006,
    /// AccessToken2, "007".
    V007,
}

impl Version {
    /// `"006"` or `"007"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Version::V006 => VERSION_006,
            Version::V007 => VERSION_007,
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which Agora product (SDK) reports a refusal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Product {
    /// Video / voice SDK.
    Rtc,
    /// Signalling (RTM) SDK.
    Rtm,
    /// Chat SDK.
    Chat,
}

/// The error a user of an Agora SDK sees, with its documented meaning.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AgoraError {
    /// The SDK that reports it.
    pub product: Product,
    /// The numeric code.
    pub code: i32,
    /// The SDK's constant name.
    pub name: &'static str,
    /// What it means.
    pub meaning: &'static str,
}

impl AgoraError {
    /// RTC 110 `ERR_INVALID_TOKEN`.
    pub const RTC_INVALID_TOKEN: AgoraError = AgoraError {
        product: Product::Rtc,
        code: 110,
        name: "ERR_INVALID_TOKEN",
        meaning: "invalid token: malformed, wrong signature, or made for another channel or user",
    };
    /// RTC 109 `ERR_TOKEN_EXPIRED`.
    pub const RTC_TOKEN_EXPIRED: AgoraError =
        AgoraError { product: Product::Rtc, code: 109, name: "ERR_TOKEN_EXPIRED", meaning: "the token has expired" };
    /// RTC 101 `ERR_INVALID_APP_ID`.
    pub const RTC_INVALID_APP_ID: AgoraError =
        AgoraError { product: Product::Rtc, code: 101, name: "ERR_INVALID_APP_ID", meaning: "the app id is invalid" };
    /// RTC 18 / no permission: publishing without the publish privilege (co-host authentication on).
    pub const RTC_NO_PERMISSION: AgoraError = AgoraError {
        product: Product::Rtc,
        code: 110,
        name: "ERR_INVALID_TOKEN",
        meaning: "the token does not grant this privilege (co-host authentication refuses to publish)",
    };
    /// RTM login error 5 `LOGIN_ERR_INVALID_TOKEN`.
    pub const RTM_LOGIN_INVALID_TOKEN: AgoraError = AgoraError {
        product: Product::Rtm,
        code: 5,
        name: "LOGIN_ERR_INVALID_TOKEN",
        meaning: "RTM login refused: the token holds no RTM login for this user id, or is malformed",
    };
    /// RTM login error 6 `LOGIN_ERR_TOKEN_EXPIRED`.
    pub const RTM_LOGIN_TOKEN_EXPIRED: AgoraError = AgoraError {
        product: Product::Rtm,
        code: 6,
        name: "LOGIN_ERR_TOKEN_EXPIRED",
        meaning: "RTM login refused: the token has expired",
    };
    /// RTM login error 4 `LOGIN_ERR_INVALID_APP_ID`.
    pub const RTM_LOGIN_INVALID_APP_ID: AgoraError = AgoraError {
        product: Product::Rtm,
        code: 4,
        name: "LOGIN_ERR_INVALID_APP_ID",
        meaning: "RTM login refused: invalid app id",
    };
    /// Chat: token refused (HTTP 401 from the Chat server).
    pub const CHAT_TOKEN_INVALID: AgoraError = AgoraError {
        product: Product::Chat,
        code: 401,
        name: "TOKEN_INVALID",
        meaning: "Chat login refused: the token is not valid for this user",
    };
    /// Chat: token expired (HTTP 401 from the Chat server).
    pub const CHAT_TOKEN_EXPIRED: AgoraError = AgoraError {
        product: Product::Chat,
        code: 401,
        name: "TOKEN_EXPIRED",
        meaning: "Chat login refused: the token has expired",
    };
}

impl fmt::Display for AgoraError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} ({})", self.code, self.name, self.meaning)
    }
}

/// What a client does with the token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Join an RTC channel.
    JoinChannel {
        /// Channel name.
        channel: String,
        /// The uid or account the client joins with.
        uid: Uid,
    },
    /// Publish in an RTC channel (checked as with co-host authentication on).
    Publish {
        /// Channel name.
        channel: String,
        /// The uid or account.
        uid: Uid,
        /// What is published.
        media: Media,
    },
    /// Log in to RTM.
    RtmLogin {
        /// RTM user id.
        user_id: String,
    },
    /// Log in to Chat as a user.
    ChatLogin {
        /// Chat user id.
        user_id: String,
    },
    /// Call Chat server APIs as the app.
    ChatApp,
}

/// A published stream kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Media {
    /// Audio.
    Audio,
    /// Video.
    Video,
    /// Data stream.
    Data,
}

impl Action {
    /// The product whose SDK performs this action.
    pub fn product(&self) -> Product {
        match self {
            Action::JoinChannel { .. } | Action::Publish { .. } => Product::Rtc,
            Action::RtmLogin { .. } => Product::Rtm,
            Action::ChatLogin { .. } | Action::ChatApp => Product::Chat,
        }
    }

    /// The channel and packed uid a 006 token must have been signed for.
    fn identity_006(&self) -> (&str, String) {
        match self {
            Action::JoinChannel { channel, uid } | Action::Publish { channel, uid, .. } => {
                (channel.as_str(), uid.packed().into_owned())
            }
            Action::RtmLogin { user_id } | Action::ChatLogin { user_id } => (user_id.as_str(), String::new()),
            Action::ChatApp => ("", String::new()),
        }
    }
}

/// A token read from text, **not verified**: every field is readable (through accessors),
/// nothing is trusted, and nothing can be changed. Only [`Token::verify`] / [`Token::verify_for`]
/// make a [`VerifiedToken`], from the bytes that were signed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Token {
    /// An AccessToken2.
    V007(ParsedAccessToken2),
    /// A legacy AccessToken.
    V006(ParsedAccessToken006),
}

impl Token {
    /// Parses a 006 or 007 token. Never panics, whatever the input; surrounding white space
    /// is ignored.
    ///
    /// A text that is not a token but looks like one changed by copying or transport (a
    /// `Bearer ` or `token=` prefix, quotes around it, URL encoding, a `+` turned into a space,
    /// a line break inside) is refused with [`Error::Mangled`], which says what to do: it is
    /// never repaired silently.
    pub fn parse(text: &str) -> Result<Token> {
        Self::parse_exact(text.trim()).map_err(|e| mangled(text).unwrap_or(e))
    }

    fn parse_exact(text: &str) -> Result<Token> {
        if text.starts_with(VERSION_007) {
            AccessToken2::parse(text).map(Token::V007)
        } else if text.starts_with(VERSION_006) {
            AccessToken006::parse(text).map(Token::V006)
        } else {
            Err(Error::UnknownVersion { prefix: text.chars().take(3).collect() })
        }
    }

    /// The version.
    pub fn version(&self) -> Version {
        match self {
            Token::V007(_) => Version::V007,
            Token::V006(_) => Version::V006,
        }
    }

    /// The app id the token names.
    pub fn app_id(&self) -> &str {
        match self {
            Token::V007(t) => &t.structure().app_id,
            Token::V006(t) => t.app_id(),
        }
    }

    /// When the token was issued. A 006 token does not store it; the reference sets
    /// `ts` = issue + 24 h, so this is `ts - 24 h`, an estimate.
    pub fn issued_at(&self) -> UnixTime {
        match self {
            Token::V007(t) => UnixTime(u64::from(t.structure().issued_at)),
            Token::V006(t) => UnixTime(u64::from(t.ts()).saturating_sub(MAX_LIFETIME_SECS)),
        }
    }

    /// When the token as a whole stops admitting joins. 007: `issued_at + expire`, where
    /// `expire` 0 and anything over 24 h mean Agora's cap of 24 h. 006: `ts`. A privilege may
    /// end earlier: see [`VerifiedToken::grants`].
    pub fn expires_at(&self) -> UnixTime {
        match self {
            Token::V007(t) => token_end_007(t.structure().issued_at, t.structure().expire),
            Token::V006(t) => UnixTime(u64::from(t.ts())),
        }
    }

    /// Checks the signature of a 007 token against the certificates (primary first).
    /// A 006 token needs the channel and uid it was made for: use [`Token::verify_for`].
    pub fn verify(self, certificates: &CertificateSet) -> Result<VerifiedToken> {
        match &self {
            Token::V007(t) => {
                let certificate_index = t.verify_signature(certificates)?;
                Ok(VerifiedToken { token: self, certificate_index, identity_006: None })
            }
            Token::V006(_) => Err(Error::IdentityRequired),
        }
    }

    /// Checks the signature for the identity `action` uses. For a 006 token the channel and
    /// uid of the action are what was signed (or, for a wildcard token, `""`).
    pub fn verify_for(self, certificates: &CertificateSet, action: &Action) -> Result<VerifiedToken> {
        let (channel, uid) = action.identity_006();
        self.verify_claimed(certificates, channel, &uid)
    }

    /// Checks the signature of a 006 token for the channel (for an RTM token: the user account)
    /// and the packed uid (`""` for uid 0) it is claimed to be made for, the way a token server
    /// that built it knows them; where the CRC-32 in the token says the token was made for `""`
    /// instead (a wildcard token), that is what is checked. A 007 token ignores the claim.
    pub fn verify_claimed(self, certificates: &CertificateSet, channel: &str, uid: &str) -> Result<VerifiedToken> {
        let Token::V006(t) = &self else {
            return self.verify(certificates);
        };
        let (channel, uid) = claimed_identity_006(t, channel, uid);
        let certificate_index = t.verify_signature(certificates, &channel, &uid)?;
        Ok(VerifiedToken { token: self, certificate_index, identity_006: Some((channel, uid)) })
    }

    /// What this token **would admit if its signature verifies**: the grants
    /// [`VerifiedToken::grants`] gives after a successful `verify*`, computed from the
    /// unverified fields (the same code), for showing a token without its certificate. The
    /// signature is **not** checked: anyone can write these fields, so never decide anything on
    /// them; verify and use [`VerifiedToken::grants`] for that.
    ///
    /// For a 006 token, `channel` (an RTM token: the user account) and the packed `uid` are the
    /// identity it is claimed to be made for, as [`Token::verify_claimed`] takes them (where the
    /// token's CRC-32 says `""`, a wildcard, that is used); its times do not depend on them. A
    /// 007 token ignores them.
    pub fn claimed_grants(&self, channel: &str, uid: &str) -> Vec<Grant> {
        match self {
            Token::V007(t) => shared_grants(holdings_007(t.structure())),
            Token::V006(t) => {
                let (channel, uid) = claimed_identity_006(t, channel, uid);
                shared_grants(holdings_006(t, &channel, &uid))
            }
        }
    }
}

/// Why a text that failed to parse looks like a token changed by copying or transport, if it
/// does (`given` as given, surrounding white space included). Only on the error path: parsing
/// a good token pays nothing for it.
fn mangled(given: &str) -> Option<Error> {
    let text = given.trim();
    let mangled = |problem, fix| Some(Error::Mangled { problem, fix });
    let is_token = |t: &str| t.starts_with(VERSION_007) || t.starts_with(VERSION_006);
    // A prefix of at most 32 bytes before the version: `Bearer `, `token=`, `Authorization: Bearer `.
    let head: String = text.chars().take(40).collect::<String>().to_ascii_lowercase();
    if let Some(i) = head.find("bearer ") {
        if text.get(i + 7..).is_some_and(|rest| is_token(rest.trim_start())) {
            return mangled(
                "it starts with \"Bearer \" (an HTTP Authorization header value)",
                "give only the token after \"Bearer \"",
            );
        }
    }
    let quotes = ['"', '\'', '`'];
    let unquoted = text.trim_matches(quotes).trim();
    if unquoted.len() < text.len() && is_token(unquoted) {
        let first = text.chars().next();
        return if first.is_some_and(|q| quotes.contains(&q) && text.len() >= 2 && text.ends_with(q)) {
            mangled("it is in quotes", "give the token without the quotes around it")
        } else {
            mangled("it starts or ends with a quote", "give the token without quotes")
        };
    }
    if let Some(i) = text.find('=').filter(|&i| i <= 32) {
        if text.get(i + 1..).is_some_and(is_token) {
            return mangled(
                "it starts with a name and \"=\" (a query string or form field)",
                "give only the value after \"=\"",
            );
        }
    }
    // The rest are changes inside a token: it must at least start like one.
    if !is_token(text) {
        return None;
    }
    let upper = text.to_ascii_uppercase();
    if ["%2B", "%2F", "%3D"].iter().any(|code| upper.contains(code)) {
        return mangled(
            "it is URL-encoded (it contains %2B, %2F or %3D)",
            "decode it first: %2B is +, %2F is / and %3D is = (e.g. decodeURIComponent, urllib.parse.unquote)",
        );
    }
    // A `+` at the token's end became a space that the trim removed: try with trailing spaces too.
    let spaced = given.trim_start().trim_end_matches(|c: char| c.is_whitespace() && c != ' ');
    if [text, spaced].iter().any(|t| t.contains(' ') && Token::parse_exact(&t.replace(' ', "+")).is_ok()) {
        return mangled(
            "its '+' characters became spaces (URL form decoding of an unencoded token)",
            "put the + back, and URL-encode the token where it travels in a URL or form",
        );
    }
    if text.contains(char::is_whitespace) {
        return mangled(
            "it contains white space (a line break from wrapping, or a space)",
            "give the token as one word, without spaces or line breaks",
        );
    }
    None
}

/// The identity a 006 token is checked for: the claimed channel and uid, or `""` where the
/// claim does not match the CRC-32 but `""` does (a wildcard token was signed for `""`).
fn claimed_identity_006(t: &ParsedAccessToken006, channel: &str, uid: &str) -> (String, String) {
    let wildcard_or = |matches: &dyn Fn(&str) -> bool, claimed: &str| {
        if !matches(claimed) && matches("") {
            String::new()
        } else {
            claimed.to_owned()
        }
    };
    (wildcard_or(&|c| t.channel_matches(c), channel), wildcard_or(&|u| t.uid_matches(u), uid))
}

/// A token whose signature matched one of the certificates. Read-only: every fact it gives
/// comes from the signed bytes (and, for 006, the identity it was verified for).
#[derive(Clone, Debug)]
pub struct VerifiedToken {
    token: Token,
    certificate_index: usize,
    identity_006: Option<(String, String)>,
}

/// A token this library has just signed: its text and its [`VerifiedToken`], which the library
/// read from the content bytes it signed (made only by `encode_verified` of
/// [`AccessToken2`](crate::AccessToken2::encode_verified) and
/// [`AccessToken006`](crate::AccessToken006::encode_verified); nothing else can make one, or
/// pair a text with the view of another token). Its view is what a full [`Token::parse`] of the
/// text and [`Token::verify`] (006: [`Token::verify_claimed`] for the channel and uid it signs)
/// with the same certificates would give, without the decoding and the signature check that a
/// token fresh from this library does not need: a server that judges what it just built can
/// use it.
#[derive(Clone, Debug)]
pub struct SignedToken {
    text: String,
    verified: VerifiedToken,
}

impl SignedToken {
    /// Only the library's encoders make one, signing with the primary certificate (index 0).
    pub(crate) fn new(text: String, token: Token, identity_006: Option<(String, String)>) -> Self {
        SignedToken { text, verified: VerifiedToken { token, certificate_index: 0, identity_006 } }
    }

    /// The token text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// What the text holds, verified.
    pub fn verified(&self) -> &VerifiedToken {
        &self.verified
    }

    /// The token text, the view dropped.
    pub fn into_text(self) -> String {
        self.text
    }
}

/// What an admitted action may count on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Admission {
    /// Index of the certificate that signed the token (0 primary, 1 secondary).
    pub certificate_index: usize,
    /// The earliest end of the grants the action needs: the SDK fires "privilege did expire"
    /// then, and "will expire" 30 s before.
    pub expires_at: UnixTime,
}

impl VerifiedToken {
    /// The token.
    pub fn token(&self) -> &Token {
        &self.token
    }

    /// Index of the certificate that signed it (0 primary, 1 secondary).
    pub fn certificate_index(&self) -> usize {
        self.certificate_index
    }

    /// For a 006 token, the channel and packed uid it was verified for (`""` where the token
    /// is a wildcard); `None` for 007.
    pub fn identity_006(&self) -> Option<(&str, &str)> {
        self.identity_006.as_ref().map(|(c, u)| (c.as_str(), u.as_str()))
    }

    pub(crate) fn holdings(&self) -> Holdings<'_> {
        match &self.token {
            Token::V007(t) => holdings_007(t.structure()),
            Token::V006(t) => {
                let (channel, uid) = self.identity_006().unwrap_or_default();
                holdings_006(t, channel, uid)
            }
        }
    }

    /// Everything this token admits: see [`crate::grant`]. The admission check
    /// ([`VerifiedToken::check`]) is built on the same computation.
    pub fn grants(&self) -> Vec<Grant> {
        shared_grants(self.holdings())
    }

    /// The same grants as [`VerifiedToken::grants`], in the same order, computed as they are
    /// needed and borrowing their channel and user from the token: no allocation. For a server
    /// that judges each token it issues (`.into()` makes one a [`Grant`] that shares its
    /// texts).
    pub fn borrowed_grants(&self) -> impl Iterator<Item = Grant<&str>> + '_ {
        self.holdings().flat_map(Holding::grants)
    }

    /// Whether Agora would admit `action` at `now`, for an app whose id is `app_id`: whether
    /// one of the token's [grants](VerifiedToken::grants) covers it.
    ///
    /// Checks, in the edge's order: app id (101), token expiry (109), the service and the
    /// user (110 / RTM 5), channel (110), the privilege and its expiry. Errors map to what the
    /// SDK shows through [`Error::agora_error_for`].
    pub fn check(&self, app_id: &AppId, action: &Action, now: UnixTime) -> Result<Admission> {
        if self.token.app_id() != app_id.as_str() {
            return Err(Error::AppIdMismatch { token: self.token.app_id().to_owned(), expected: app_id.to_string() });
        }
        let token_expiry = self.token.expires_at();
        if now >= token_expiry {
            return Err(Error::TokenExpired { expired_at: token_expiry, now });
        }
        let expires_at = match action {
            Action::JoinChannel { channel, uid } | Action::Publish { channel, uid, .. } => {
                let needed: &[Capability] = match action {
                    Action::Publish { media: Media::Audio, .. } => &[Capability::JoinChannel, Capability::PublishAudio],
                    Action::Publish { media: Media::Video, .. } => &[Capability::JoinChannel, Capability::PublishVideo],
                    Action::Publish { media: Media::Data, .. } => &[Capability::JoinChannel, Capability::PublishData],
                    _ => &[Capability::JoinChannel],
                };
                let mut first_error = None;
                let mut rtc = self.holdings().filter(|h| h.service == Some(ServiceType::Rtc)).peekable();
                if rtc.peek().is_none() {
                    return Err(self.wrong_service("RTC", uid.to_string(), Product::Rtc));
                }
                let mut admitted = None;
                for holding in rtc {
                    let attempt = (|| {
                        channel_admits(holding.channel, channel)?;
                        uid_admits(holding.user, uid)?;
                        capabilities_live(&holding, needed, now)
                    })();
                    match attempt {
                        Ok(until) => {
                            admitted = Some(until);
                            break;
                        }
                        Err(e) => {
                            first_error.get_or_insert(e);
                        }
                    }
                }
                match (admitted, first_error) {
                    (Some(until), _) => until,
                    (None, Some(e)) => return Err(e),
                    (None, None) => unreachable!("at least one RTC holding was tried"),
                }
            }
            Action::RtmLogin { user_id } => {
                let holding = self.holdings().find(|h| {
                    matches!(h.service, Some(ServiceType::Rtm | ServiceType::Rtm2))
                        && h.user.as_ref().is_some_and(|u| u.exact() == Some(user_id.as_str()))
                });
                let Some(holding) = holding else {
                    return Err(self.wrong_service("RTM", user_id.clone(), Product::Rtm));
                };
                capabilities_live(&holding, &[Capability::RtmLogin], now)?
            }
            Action::ChatLogin { user_id } => {
                let holding = self.holdings().find(|h| {
                    h.service == Some(ServiceType::Chat)
                        && h.user.as_ref().is_some_and(|u| u.exact() == Some(user_id.as_str()))
                });
                let Some(holding) = holding else {
                    return Err(self.wrong_service("Chat user", user_id.clone(), Product::Chat));
                };
                capabilities_live(&holding, &[Capability::ChatUser], now)?
            }
            Action::ChatApp => {
                let holding = self
                    .holdings()
                    .find(|h| h.service == Some(ServiceType::Chat) && h.until(Capability::ChatApp).is_some());
                let Some(holding) = holding else {
                    return Err(self.wrong_service("Chat app", String::new(), Product::Chat));
                };
                capabilities_live(&holding, &[Capability::ChatApp], now)?
            }
        };
        Ok(Admission { certificate_index: self.certificate_index, expires_at })
    }

    fn wrong_service(&self, needed: &'static str, user: String, product: Product) -> Error {
        let holds = match &self.token {
            Token::V006(_) if product == Product::Chat => "a 006 token (Chat needs 007)".to_owned(),
            Token::V006(t) => holds_006(t),
            Token::V007(t) => holds_007(t.structure()),
        };
        Error::WrongService { needed, user, holds, product }
    }
}

/// The earliest end of `needed` in `holding`, or why one of them does not admit at `now`.
fn capabilities_live(holding: &Holding, needed: &[Capability], now: UnixTime) -> Result<UnixTime> {
    let mut earliest: Option<UnixTime> = None;
    for &capability in needed {
        let Some(until) = holding.until(capability) else {
            return Err(Error::MissingPrivilege { privilege: privilege_name(capability) });
        };
        if now >= until {
            return Err(Error::PrivilegeExpired { privilege: privilege_name(capability), expired_at: until, now });
        }
        earliest = Some(earliest.map_or(until, |e| e.min(until)));
    }
    Ok(earliest.expect("every action needs at least one capability"))
}

/// The static name of a capability an action needs (never an unnamed one).
fn privilege_name(capability: Capability) -> &'static str {
    match capability.name() {
        std::borrow::Cow::Borrowed(name) => name,
        std::borrow::Cow::Owned(_) => "unnamed privilege",
    }
}

fn holds_006(t: &ParsedAccessToken006) -> String {
    let names: Vec<&str> = t
        .privileges()
        .keys()
        .map(|k| Privilege006::from_id(*k).map_or("unknown privilege", Privilege006::name))
        .collect();
    format!("006 privileges {}", names.join(", "))
}

fn holds_007(t: &AccessToken2) -> String {
    if t.services.is_empty() {
        return "no services".into();
    }
    let names: Vec<String> = t
        .services
        .iter()
        .map(|s| match s {
            Service::Rtc { channel_name, uid, .. } => format!("RTC for channel {channel_name:?} uid {uid:?}"),
            Service::Rtm { user_id, .. } => format!("RTM for {user_id:?}"),
            Service::Rtm2 { user_id, .. } => format!("RTM2 for {user_id:?}"),
            Service::Chat { user_id, .. } => format!("Chat for {user_id:?}"),
            other => match other.service_type() {
                Some(kind) => kind.name().to_uppercase(),
                None => format!("unknown service type {}", other.type_code()),
            },
        })
        .collect();
    names.join("; ")
}

fn scope_text(scope: Option<Scope<&str>>) -> &str {
    scope.map_or("", Scope::text)
}

/// Whether the token's uid scope admits the client's uid. The digits of an integer uid and
/// a string account pack alike, but the SDK tells them apart: a token made for a string that
/// is not a plain integer cannot admit an integer uid.
fn uid_admits(scope: Option<Scope<&str>>, client: &Uid) -> Result<()> {
    let token_uid = match scope {
        Some(Scope::Any) | None => return Ok(()),
        Some(Scope::Pattern(_) | Scope::Exact(_)) => scope_text(scope),
    };
    let requested = client.packed();
    let mismatch = || Error::UidMismatch { token: format!("{token_uid:?}"), requested: client.to_string() };
    if client.is_any() {
        // uid 0: the SDK assigns a random uid, which only a wildcard token admits.
        return Err(mismatch());
    }
    if let Some(Scope::Pattern(pattern)) = scope {
        return if wildcard::matches(pattern, &requested) { Ok(()) } else { Err(mismatch()) };
    }
    let token_is_int = token_uid.parse::<u32>().is_ok_and(|n| n != 0 && n.to_string() == token_uid);
    if let Uid::Int(_) = client {
        if !token_is_int {
            return Err(Error::UidKindMismatch { token: "a string account", client: client.kind_name() });
        }
    }
    if token_uid == requested {
        Ok(())
    } else {
        Err(mismatch())
    }
}

fn channel_admits(scope: Option<Scope<&str>>, requested: &str) -> Result<()> {
    match scope {
        None => Ok(()),
        Some(scope) if scope.admits(requested) => Ok(()),
        Some(_) => Err(Error::ChannelMismatch { token: scope_text(scope).to_owned(), requested: requested.to_owned() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AppCertificate, RtcToken};

    /// A token whose base64 holds '+' and '/' (which URL encoding and form decoding change).
    fn token(v006: bool) -> String {
        token_where(v006, |t| t.contains('+') && t.contains('/'))
    }

    /// The first token (salts 1, 2, …) of which `wanted` holds.
    fn token_where(v006: bool, wanted: impl Fn(&str) -> bool) -> String {
        let app = AppId::new("970CA35de60c44645bbae8a215061b33").unwrap();
        let cert = AppCertificate::new("5CFd2fd1755d40ecb72977518be15d3b").unwrap();
        (1..20_000)
            .map(|salt| {
                let b = RtcToken::builder(&app, &cert).channel("room-1").uid(Uid::Int(42)).salt(salt);
                if v006 { b.build_v006() } else { b.build() }.unwrap()
            })
            .find(|t| wanted(t))
            .expect("some salt gives it")
    }

    #[test]
    fn a_plus_at_the_end_turned_into_a_space_is_named_too() {
        // A token ending in '+', with and without another '+' inside (the trim drops the last space).
        for inner in [false, true] {
            let t = token_where(false, |t| t.ends_with('+') && t[..t.len() - 1].contains('+') == inner);
            let given = format!("{}\n", t.replace('+', " "));
            assert_eq!(problem(&given), "its '+' characters became spaces (URL form decoding of an unencoded token)");
        }
    }

    fn problem(text: &str) -> &'static str {
        match Token::parse(text) {
            Err(Error::Mangled { problem, .. }) => problem,
            other => panic!("{text:?}: {other:?}"),
        }
    }

    #[test]
    fn copy_and_transport_mistakes_are_named() {
        for v006 in [false, true] {
            let t = token(v006);
            assert!(Token::parse(&format!("  {t}\n")).is_ok());
            assert!(problem(&format!("Bearer {t}")).contains("Bearer"));
            assert!(problem(&format!("Authorization: bearer {t}")).contains("Bearer"));
            assert!(problem(&format!("\"{t}\"")).contains("quotes"));
            assert!(problem(&format!("'{t}'")).contains("quotes"));
            assert!(problem(&format!("{t}\"")).contains("quote"));
            assert!(problem(&format!("token={t}")).contains("="));
            let encoded = t.replace('+', "%2B").replace('/', "%2F").replace('=', "%3D");
            assert!(problem(&encoded).contains("URL-encoded"));
            assert!(problem(&t.replace('/', "%2f")).contains("URL-encoded"));
            assert!(problem(&t.replace('+', " ")).contains("'+'"));
            let wrapped = format!("{}\n{}", &t[..60], &t[60..]);
            assert!(problem(&wrapped).contains("white space"));
            // The message says what to do; the error stays a format error Agora answers 110 to.
            let e = Token::parse(&format!("Bearer {t}")).unwrap_err();
            assert!(e.to_string().contains("give only the token"), "{e}");
            assert_eq!(e.concern(), crate::Concern::Format);
            assert_eq!(e.agora_error(), Some(AgoraError::RTC_INVALID_TOKEN));
        }
        // Garbage stays garbage.
        assert!(matches!(Token::parse("hello"), Err(Error::UnknownVersion { .. })));
        assert!(matches!(Token::parse("007%%%"), Err(Error::Base64 { .. })));
        assert!(matches!(Token::parse("\""), Err(Error::UnknownVersion { .. })));
        assert!(matches!(Token::parse("\"hello\""), Err(Error::UnknownVersion { .. })));
        assert!(matches!(Token::parse("hello world"), Err(Error::UnknownVersion { .. })));
    }

    #[test]
    fn claimed_grants_of_a_006_token_honour_a_wildcard_crc() {
        let app = AppId::new("970CA35de60c44645bbae8a215061b33").unwrap();
        let cert = AppCertificate::new("5CFd2fd1755d40ecb72977518be15d3b").unwrap();
        let t = RtcToken::builder(&app, &cert).channel("room-1").uid(Uid::Any).build_v006().unwrap();
        let token = Token::parse(&t).unwrap();
        let claimed = token.claimed_grants("room-1", "42");
        assert!(claimed.iter().all(|g| g.user == Some(Scope::Any)), "{claimed:?}");
        let verified = token.verify_claimed(&CertificateSet::new(cert), "room-1", "42").unwrap();
        assert_eq!(claimed, verified.grants());
    }
}
