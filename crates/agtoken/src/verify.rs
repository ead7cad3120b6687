//! Parse without trusting ([`Token`]), verify the signature ([`VerifiedToken`]), then ask
//! what Agora's edge would answer for an action at an instant ([`VerifiedToken::check`]).

use std::fmt;

use crate::error::{Error, Result};
use crate::ids::{AppId, CertificateSet, Uid};
use crate::time::{UnixTime, MAX_LIFETIME_SECS};
use crate::v006::{AccessToken006, ParsedAccessToken006, Privilege006, VERSION_006};
use crate::v007::{AccessToken2, ChatPrivilege, ParsedAccessToken2, RtcPrivilege, RtmPrivilege, Service, VERSION_007};
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

/// A token read from text, **not verified**: every field is readable, nothing is trusted.
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
    pub fn parse(text: &str) -> Result<Token> {
        let text = text.trim();
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
            Token::V007(t) => &t.token.app_id,
            Token::V006(t) => &t.app_id,
        }
    }

    /// When the token was issued. A 006 token does not store it; the reference sets
    /// `ts` = issue + 24 h, so this is `ts - 24 h`, an estimate.
    pub fn issued_at(&self) -> UnixTime {
        match self {
            Token::V007(t) => UnixTime(t.token.issued_at as u64),
            Token::V006(t) => UnixTime((t.ts as u64).saturating_sub(MAX_LIFETIME_SECS)),
        }
    }

    /// When the token as a whole stops admitting joins. 007: `issued_at + expire`, where
    /// `expire` 0 and anything over 24 h mean Agora's cap of 24 h. 006: `ts`.
    pub fn expires_at(&self) -> UnixTime {
        match self {
            Token::V007(t) => {
                let expire = match t.token.expire as u64 {
                    0 => MAX_LIFETIME_SECS,
                    e => e.min(MAX_LIFETIME_SECS),
                };
                UnixTime(t.token.issued_at as u64 + expire)
            }
            Token::V006(t) => UnixTime(t.ts as u64),
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
        let Token::V006(t) = &self else {
            return self.verify(certificates);
        };
        let (channel, uid) = action.identity_006();
        // A wildcard token was signed for "" in place of the channel or uid.
        let channel = if t.channel_matches(channel) {
            channel
        } else if t.channel_matches("") {
            ""
        } else {
            channel
        };
        let uid = if t.uid_matches(&uid) {
            uid
        } else if t.uid_matches("") {
            String::new()
        } else {
            uid
        };
        let certificate_index = t.verify_signature(certificates, channel, &uid)?;
        let identity = (channel.to_owned(), uid);
        Ok(VerifiedToken { token: self, certificate_index, identity_006: Some(identity) })
    }
}

/// A token whose signature matched one of the certificates.
#[derive(Clone, Debug)]
pub struct VerifiedToken {
    token: Token,
    certificate_index: usize,
    identity_006: Option<(String, String)>,
}

/// What an admitted action may count on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Admission {
    /// Index of the certificate that signed the token (0 primary, 1 secondary).
    pub certificate_index: usize,
    /// The earliest of the token's and the relevant privileges' expiries: the SDK fires
    /// "privilege did expire" then, and "will expire" 30 s before.
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

    /// Whether Agora would admit `action` at `now`, for an app whose id is `app_id`.
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
        let privilege_expiry = match &self.token {
            Token::V007(t) => check_007(&t.token, action, now)?,
            Token::V006(t) => self.check_006(t, action, now)?,
        };
        let expires_at = privilege_expiry.map_or(token_expiry, |p| p.min(token_expiry));
        Ok(Admission { certificate_index: self.certificate_index, expires_at })
    }

    fn check_006(&self, t: &ParsedAccessToken006, action: &Action, now: UnixTime) -> Result<Option<UnixTime>> {
        let (channel, uid) = action.identity_006();
        if let Some((signed_channel, signed_uid)) = &self.identity_006 {
            if !signed_channel.is_empty() && signed_channel != channel {
                return Err(Error::ChannelMismatch { token: signed_channel.clone(), requested: channel.to_owned() });
            }
            if !signed_uid.is_empty() && *signed_uid != uid {
                return Err(Error::UidMismatch { token: format!("{signed_uid:?}"), requested: format!("{uid:?}") });
            }
        }
        let needed: &[Privilege006] = match action {
            Action::JoinChannel { .. } => &[Privilege006::JoinChannel],
            Action::Publish { media, .. } => match media {
                Media::Audio => &[Privilege006::JoinChannel, Privilege006::PublishAudioStream],
                Media::Video => &[Privilege006::JoinChannel, Privilege006::PublishVideoStream],
                Media::Data => &[Privilege006::JoinChannel, Privilege006::PublishDataStream],
            },
            Action::RtmLogin { .. } => &[Privilege006::RtmLogin],
            Action::ChatLogin { user_id } => {
                return Err(Error::WrongService {
                    needed: "Chat",
                    user: user_id.clone(),
                    holds: "a 006 token (Chat needs 007)".into(),
                    product: Product::Chat,
                })
            }
            Action::ChatApp => {
                return Err(Error::WrongService {
                    needed: "Chat",
                    user: String::new(),
                    holds: "a 006 token (Chat needs 007)".into(),
                    product: Product::Chat,
                })
            }
        };
        let mut earliest: Option<UnixTime> = None;
        for privilege in needed {
            let Some(&value) = t.privileges.get(&privilege.id()) else {
                if *privilege == Privilege006::RtmLogin
                    || (*privilege == Privilege006::JoinChannel
                        && t.privileges.contains_key(&Privilege006::RtmLogin.id()))
                {
                    let (needed, product) = if *privilege == Privilege006::RtmLogin {
                        ("RTM", Product::Rtm)
                    } else {
                        ("RTC", Product::Rtc)
                    };
                    return Err(Error::WrongService { needed, user: uid_text(action), holds: holds_006(t), product });
                }
                return Err(Error::MissingPrivilege { privilege: privilege.name() });
            };
            if value != 0 {
                let at = UnixTime(value as u64);
                if now >= at {
                    return Err(Error::PrivilegeExpired { privilege: privilege.name(), expired_at: at, now });
                }
                earliest = Some(earliest.map_or(at, |e: UnixTime| e.min(at)));
            }
        }
        Ok(earliest)
    }
}

fn uid_text(action: &Action) -> String {
    match action {
        Action::JoinChannel { uid, .. } | Action::Publish { uid, .. } => uid.to_string(),
        Action::RtmLogin { user_id } | Action::ChatLogin { user_id } => user_id.clone(),
        Action::ChatApp => String::new(),
    }
}

fn holds_006(t: &ParsedAccessToken006) -> String {
    let names: Vec<&str> = t
        .privileges
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

/// Whether the token's packed uid admits the client's uid. The digits of an integer uid and
/// a string account pack alike, but the SDK tells them apart: a token made for a string that
/// is not a plain integer cannot admit an integer uid.
fn uid_admits(token_uid: &str, client: &Uid) -> Result<()> {
    if wildcard::is_wildcard(token_uid) {
        return Ok(());
    }
    let requested = client.packed();
    let mismatch = || Error::UidMismatch { token: format!("{token_uid:?}"), requested: client.to_string() };
    if client.is_any() {
        // uid 0: the SDK assigns a random uid, which only a wildcard token admits.
        return Err(mismatch());
    }
    if token_uid.contains('*') {
        return if wildcard::matches(token_uid, &requested) { Ok(()) } else { Err(mismatch()) };
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

fn channel_admits(token_channel: &str, requested: &str) -> Result<()> {
    let ok = wildcard::is_wildcard(token_channel)
        || if token_channel.contains('*') {
            wildcard::matches(token_channel, requested)
        } else {
            token_channel == requested
        };
    if ok {
        Ok(())
    } else {
        Err(Error::ChannelMismatch { token: token_channel.to_owned(), requested: requested.to_owned() })
    }
}

/// The expiry of privilege `id` in `privileges` (007: relative; 0 = none of its own).
fn privilege_live(
    t: &AccessToken2,
    privileges: &crate::v007::Privileges,
    id: u16,
    name: &'static str,
    now: UnixTime,
) -> Result<Option<UnixTime>> {
    let Some(&value) = privileges.get(&id) else {
        return Err(Error::MissingPrivilege { privilege: name });
    };
    if value == 0 {
        return Ok(None);
    }
    let at = UnixTime(t.issued_at as u64 + value as u64);
    if now >= at {
        return Err(Error::PrivilegeExpired { privilege: name, expired_at: at, now });
    }
    Ok(Some(at))
}

fn check_007(t: &AccessToken2, action: &Action, now: UnixTime) -> Result<Option<UnixTime>> {
    match action {
        Action::JoinChannel { channel, uid } | Action::Publish { channel, uid, .. } => {
            let rtc: Vec<&Service> = t.services.iter().filter(|s| matches!(s, Service::Rtc { .. })).collect();
            if rtc.is_empty() {
                return Err(Error::WrongService {
                    needed: "RTC",
                    user: uid.to_string(),
                    holds: holds_007(t),
                    product: Product::Rtc,
                });
            }
            let mut first_error = None;
            for service in rtc {
                let Service::Rtc { channel_name, uid: token_uid, privileges } = service else { continue };
                let attempt = (|| {
                    channel_admits(channel_name, channel)?;
                    uid_admits(token_uid, uid)?;
                    let join = RtcPrivilege::JoinChannel;
                    let mut earliest = privilege_live(t, privileges, join.id(), join.name(), now)?;
                    if let Action::Publish { media, .. } = action {
                        let p = match media {
                            Media::Audio => RtcPrivilege::PublishAudioStream,
                            Media::Video => RtcPrivilege::PublishVideoStream,
                            Media::Data => RtcPrivilege::PublishDataStream,
                        };
                        let publish = privilege_live(t, privileges, p.id(), p.name(), now)?;
                        earliest = match (earliest, publish) {
                            (Some(a), Some(b)) => Some(a.min(b)),
                            (a, b) => a.or(b),
                        };
                    }
                    Ok(earliest)
                })();
                match attempt {
                    Ok(expiry) => return Ok(expiry),
                    Err(e) => {
                        first_error.get_or_insert(e);
                    }
                }
            }
            Err(first_error.expect("at least one RTC service was tried"))
        }
        Action::RtmLogin { user_id } => {
            let service = t.services.iter().find_map(|s| match s {
                Service::Rtm { user_id: u, privileges } | Service::Rtm2 { user_id: u, privileges, .. }
                    if u == user_id =>
                {
                    Some(privileges)
                }
                _ => None,
            });
            let Some(privileges) = service else {
                return Err(Error::WrongService {
                    needed: "RTM",
                    user: user_id.clone(),
                    holds: holds_007(t),
                    product: Product::Rtm,
                });
            };
            privilege_live(t, privileges, RtmPrivilege::Login.id(), "rtm_login", now)
        }
        Action::ChatLogin { user_id } => {
            let service = t.services.iter().find_map(|s| match s {
                Service::Chat { user_id: u, privileges } if u == user_id => Some(privileges),
                _ => None,
            });
            let Some(privileges) = service else {
                return Err(Error::WrongService {
                    needed: "Chat user",
                    user: user_id.clone(),
                    holds: holds_007(t),
                    product: Product::Chat,
                });
            };
            privilege_live(t, privileges, ChatPrivilege::User.id(), "chat_user", now)
        }
        Action::ChatApp => {
            let service = t.services.iter().find_map(|s| match s {
                Service::Chat { privileges, .. } if privileges.contains_key(&ChatPrivilege::App.id()) => {
                    Some(privileges)
                }
                _ => None,
            });
            let Some(privileges) = service else {
                return Err(Error::WrongService {
                    needed: "Chat app",
                    user: String::new(),
                    holds: holds_007(t),
                    product: Product::Chat,
                });
            };
            privilege_live(t, privileges, ChatPrivilege::App.id(), "chat_app", now)
        }
    }
}
