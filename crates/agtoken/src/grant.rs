//! What a verified token **admits**: its grants, the one meaning of a token.
//!
//! A grant is one capability (join, publish audio, RTM login, Chat app, …) for a channel (or
//! any channel, or a pattern) and a user (or any user, or a pattern), until an instant. Every
//! decision about a token is made from its grants: [`crate::VerifiedToken::check`] admits an
//! action only when a grant covers it, and a token server's policy compares the grants of the
//! token it built with its rules, so the two cannot disagree.
//!
//! - **When a grant ends**: the earliest of the token's own end (007: `issued_at + expire`,
//!   with `expire` 0 or above 24 h meaning Agora's 24 h cap; 006: `ts`) and its privilege's
//!   time (007: seconds after issue; 006: absolute), where a privilege value of 0 means "no
//!   limit of its own".
//! - **006 tokens** hold channel and uid only as CRC-32, so their grants exist for the identity
//!   they were verified for ([`crate::Token::verify_for`]). A 006 token holding RTC privileges and
//!   RTM login (1000) has grants of both: RTC for the channel and uid, RTM login for the user
//!   account signed in the channel field.
//! - **Privilege ids the library cannot name** give [`Capability::Unnamed`] grants: they admit
//!   nothing [`crate::VerifiedToken::check`] can judge, and a policy should refuse them unless a
//!   rule allows them explicitly. A service with no privileges gives one
//!   [`Capability::ServiceOnly`] grant, so that the service is still seen.
//! - RTM 2 permission tables are not grants: the RTM 2 service gives its login grant; the table
//!   is in the structure ([`crate::Service::Rtm2`]).

use std::fmt;
use std::sync::Arc;

use crate::time::{UnixTime, MAX_LIFETIME_SECS};
use crate::v006::{ParsedAccessToken006, Privilege006};
use crate::v007::{
    AccessToken2, ApaasPrivilege, ChatPrivilege, FcdnPrivilege, FpaPrivilege, Privileges, RtcPrivilege, RtmPrivilege,
    Service, ServiceType, StreamingPrivilege,
};
use crate::wildcard;

/// Which channels, or which users, a grant is for. The text is shared (`Arc<str>`): a token's
/// grants repeat one holding's channel and user for each privilege.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Exactly this one.
    Exact(Arc<str>),
    /// Every value this `*` pattern matches (e.g. `room-*`).
    Pattern(Arc<str>),
    /// Any value (a wildcard token: empty or `*` channel, uid 0).
    Any,
}

impl Scope {
    /// The scope of an RTC channel or uid (and of the channel-like fields of other services
    /// whose matching the library does not model): `""` and `"*"` are any, a text with `*` a
    /// pattern, anything else exact.
    pub(crate) fn wildcard_aware(text: &str) -> Scope {
        if wildcard::is_wildcard(text) {
            Scope::Any
        } else if text.contains('*') {
            Scope::Pattern(text.into())
        } else {
            Scope::Exact(text.into())
        }
    }

    /// Whether `value` is within this scope.
    pub fn admits(&self, value: &str) -> bool {
        match self {
            Scope::Exact(text) => **text == *value,
            Scope::Pattern(pattern) => wildcard::matches(pattern, value),
            Scope::Any => true,
        }
    }

    /// Whether every value this scope admits is also admitted by the `*` pattern `pattern`.
    /// (A pattern scope is within `pattern` when `pattern` matches its text with each `*`
    /// taken literally: every `*` of the scope then falls inside a `*` of `pattern`.)
    pub fn within(&self, pattern: &str) -> bool {
        match self {
            Scope::Exact(text) | Scope::Pattern(text) => wildcard::matches(pattern, text),
            Scope::Any => pattern.bytes().all(|b| b == b'*') && !pattern.is_empty(),
        }
    }

    /// Whether this scope admits more than one value.
    pub fn is_wildcard(&self) -> bool {
        !matches!(self, Scope::Exact(_))
    }

    /// The exact value, when the scope is one value.
    pub fn exact(&self) -> Option<&str> {
        match self {
            Scope::Exact(text) => Some(text),
            _ => None,
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Exact(text) => write!(f, "{text:?}"),
            Scope::Pattern(pattern) => write!(f, "pattern {pattern:?}"),
            Scope::Any => f.write_str("any"),
        }
    }
}

/// What a grant lets its holder do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Capability {
    /// RTC: join the channel.
    JoinChannel,
    /// RTC: publish audio.
    PublishAudio,
    /// RTC: publish video.
    PublishVideo,
    /// RTC: publish a data stream.
    PublishData,
    /// RTC (006 only, privilege 101): administrate the channel.
    AdministrateChannel,
    /// RTM or RTM 2 (006: privilege 1000): log in.
    RtmLogin,
    /// Chat: act as one user.
    ChatUser,
    /// Chat: act as the app (server-side administration).
    ChatApp,
    /// Streaming: publish a mixed stream.
    StreamingPublishMix,
    /// Streaming: publish a raw stream.
    StreamingPublishRaw,
    /// FPA: log in.
    FpaLogin,
    /// FCDN: publish.
    FcdnPublish,
    /// FCDN: play.
    FcdnPlay,
    /// APaaS / Education: a user in one room.
    ApaasRoomUser,
    /// APaaS / Education: a user.
    ApaasUser,
    /// APaaS / Education: the app.
    ApaasApp,
    /// The service is present with no privilege at all (e.g. the ConvoAI and STT services, or
    /// a Node-shaped APaaS room-user token): whatever Agora's service makes of it.
    ServiceOnly,
    /// A privilege id this library cannot name: it admits nothing the library can judge.
    Unnamed(u16),
}

impl Capability {
    /// A short name, as messages show it (`join_channel`, `rtm_login`, `chat_app`, …;
    /// `privilege_<id>` for an unnamed one).
    pub fn name(self) -> std::borrow::Cow<'static, str> {
        let name = match self {
            Capability::JoinChannel => "join_channel",
            Capability::PublishAudio => "publish_audio_stream",
            Capability::PublishVideo => "publish_video_stream",
            Capability::PublishData => "publish_data_stream",
            Capability::AdministrateChannel => "administrate_channel",
            Capability::RtmLogin => "rtm_login",
            Capability::ChatUser => "chat_user",
            Capability::ChatApp => "chat_app",
            Capability::StreamingPublishMix => "publish_mix_stream",
            Capability::StreamingPublishRaw => "publish_raw_stream",
            Capability::FpaLogin => "fpa_login",
            Capability::FcdnPublish => "fcdn_publish",
            Capability::FcdnPlay => "fcdn_play",
            Capability::ApaasRoomUser => "apaas_room_user",
            Capability::ApaasUser => "apaas_user",
            Capability::ApaasApp => "apaas_app",
            Capability::ServiceOnly => "service_only",
            Capability::Unnamed(id) => return format!("privilege_{id}").into(),
        };
        name.into()
    }

    /// Whether this acts as the app rather than as one user (Chat app, APaaS app).
    pub fn is_app_level(self) -> bool {
        matches!(self, Capability::ChatApp | Capability::ApaasApp)
    }

    /// Whether this is RTC publishing (audio, video or data).
    pub fn is_publish(self) -> bool {
        matches!(self, Capability::PublishAudio | Capability::PublishVideo | Capability::PublishData)
    }

    /// What privilege `id` of a 007 service of type `service` admits.
    fn of_007(service: ServiceType, id: u16) -> Capability {
        let named = match service {
            ServiceType::Rtc => RtcPrivilege::from_id(id).map(|p| match p {
                RtcPrivilege::JoinChannel => Capability::JoinChannel,
                RtcPrivilege::PublishAudioStream => Capability::PublishAudio,
                RtcPrivilege::PublishVideoStream => Capability::PublishVideo,
                RtcPrivilege::PublishDataStream => Capability::PublishData,
            }),
            ServiceType::Rtm | ServiceType::Rtm2 => RtmPrivilege::from_id(id).map(|_| Capability::RtmLogin),
            ServiceType::Streaming => StreamingPrivilege::from_id(id).map(|p| match p {
                StreamingPrivilege::PublishMixStream => Capability::StreamingPublishMix,
                StreamingPrivilege::PublishRawStream => Capability::StreamingPublishRaw,
            }),
            ServiceType::Fpa => FpaPrivilege::from_id(id).map(|_| Capability::FpaLogin),
            ServiceType::Chat => ChatPrivilege::from_id(id).map(|p| match p {
                ChatPrivilege::User => Capability::ChatUser,
                ChatPrivilege::App => Capability::ChatApp,
            }),
            ServiceType::Fcdn => FcdnPrivilege::from_id(id).map(|p| match p {
                FcdnPrivilege::Publish => Capability::FcdnPublish,
                FcdnPrivilege::Play => Capability::FcdnPlay,
            }),
            ServiceType::Apaas => ApaasPrivilege::from_id(id).map(|p| match p {
                ApaasPrivilege::RoomUser => Capability::ApaasRoomUser,
                ApaasPrivilege::User => Capability::ApaasUser,
                ApaasPrivilege::App => Capability::ApaasApp,
            }),
            ServiceType::ConvoAi | ServiceType::Stt => None,
        };
        named.unwrap_or(Capability::Unnamed(id))
    }

    /// What privilege `id` of a 006 token admits, and in which service.
    fn of_006(id: u16) -> (ServiceType, Capability) {
        let service = Privilege006::from_id(id).map_or(ServiceType::Rtc, Privilege006::service);
        (service, Self::named_006(id))
    }

    fn named_006(id: u16) -> Capability {
        match Privilege006::from_id(id) {
            Some(Privilege006::JoinChannel) => Capability::JoinChannel,
            Some(Privilege006::PublishAudioStream) => Capability::PublishAudio,
            Some(Privilege006::PublishVideoStream) => Capability::PublishVideo,
            Some(Privilege006::PublishDataStream) => Capability::PublishData,
            Some(Privilege006::AdministrateChannel) => Capability::AdministrateChannel,
            Some(Privilege006::RtmLogin) => Capability::RtmLogin,
            None => Capability::Unnamed(id),
        }
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// One thing a verified token admits. See the [module docs](self).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    /// The service type number (`1` RTC, `2` RTM, …; a type this library does not know too).
    pub service_code: u16,
    /// The service, when this library knows its type.
    pub service: Option<ServiceType>,
    /// The channel (or room) it is for, when the service has one.
    pub channel: Option<Scope>,
    /// The user it is for, when the service has one (`None` for app-level grants).
    pub user: Option<Scope>,
    /// What it admits.
    pub capability: Capability,
    /// When it stops admitting (exclusive: admitted while `now < until`).
    pub until: UnixTime,
}

impl Grant {
    /// What a token server's rules call this grant: the service's name (`rtc`, `rtm`, …), its
    /// app-level class for app-level grants (`chat_app`, `apaas_app`), `other` for a service
    /// type this library does not know. [`grant_classes`] lists them all.
    pub fn class(&self) -> &'static str {
        match self.service {
            Some(kind) if self.capability.is_app_level() => kind.app_class().unwrap_or(kind.name()),
            Some(kind) => kind.name(),
            None => "other",
        }
    }
}

/// Every [`Grant::class`], in service-type order, `other` last.
pub fn grant_classes() -> Vec<&'static str> {
    let mut out = Vec::new();
    for kind in ServiceType::ALL {
        out.push(kind.name());
        out.extend(kind.app_class());
    }
    out.push("other");
    out
}

/// The grants of one service instance (the unit the admission check tries in turn).
#[derive(Clone, Debug)]
pub(crate) struct Holding {
    pub service_code: u16,
    pub service: Option<ServiceType>,
    pub channel: Option<Scope>,
    pub user: Option<Scope>,
    /// Capability and its end, in privilege-id order; empty for a service with no privilege.
    pub capabilities: Vec<(Capability, UnixTime)>,
}

impl Holding {
    /// The end of `capability` in this holding, if it has it.
    pub fn until(&self, capability: Capability) -> Option<UnixTime> {
        self.capabilities.iter().find(|(c, _)| *c == capability).map(|(_, until)| *until)
    }

    fn push_grants(&self, token_end: UnixTime, out: &mut Vec<Grant>) {
        let grant = |capability, until| Grant {
            service_code: self.service_code,
            service: self.service,
            channel: self.channel.clone(),
            user: self.user.clone(),
            capability,
            until,
        };
        if self.capabilities.is_empty() {
            out.push(grant(Capability::ServiceOnly, token_end));
        }
        out.extend(self.capabilities.iter().map(|&(c, until)| grant(c, until)));
    }
}

/// When a 007 token as a whole ends: `issued_at + expire`, with 0 and anything above 24 h
/// meaning Agora's cap of 24 h.
pub fn token_end_007(issued_at: u32, expire: u32) -> UnixTime {
    let expire = match u64::from(expire) {
        0 => MAX_LIFETIME_SECS,
        e => e.min(MAX_LIFETIME_SECS),
    };
    UnixTime(u64::from(issued_at) + expire)
}

fn capabilities_007(
    service: ServiceType,
    privileges: &Privileges,
    issued_at: u32,
    end: UnixTime,
) -> Vec<(Capability, UnixTime)> {
    privileges
        .iter()
        .map(|(&id, &value)| {
            let until = if value == 0 { end } else { end.min(UnixTime(u64::from(issued_at) + u64::from(value))) };
            (Capability::of_007(service, id), until)
        })
        .collect()
}

/// The holdings of a 007 structure, one per service, in the structure's order.
pub(crate) fn holdings_007(t: &AccessToken2) -> Vec<Holding> {
    let end = token_end_007(t.issued_at, t.expire);
    let exact = |s: &str| Some(Scope::Exact(s.into()));
    let aware = |s: &str| Some(Scope::wildcard_aware(s));
    t.services
        .iter()
        .map(|s| {
            let service = s.service_type();
            let (channel, user) = match s {
                Service::Rtc { channel_name, uid, .. } => (aware(channel_name), aware(uid)),
                // RTM and Chat compare user ids exactly: no wildcard.
                Service::Rtm { user_id, .. } | Service::Rtm2 { user_id, .. } => (None, exact(user_id)),
                Service::Chat { user_id, privileges } => {
                    let app_only = privileges.keys().all(|&id| id == ChatPrivilege::App.id()) && !privileges.is_empty();
                    (None, if app_only && user_id.is_empty() { None } else { exact(user_id) })
                }
                Service::Streaming { channel_name, account, .. } | Service::Fcdn { channel_name, account, .. } => {
                    (aware(channel_name), aware(account))
                }
                Service::Apaas { room_uuid, user_uuid, privileges, .. } => {
                    let app_only =
                        privileges.keys().all(|&id| id == ApaasPrivilege::App.id()) && !privileges.is_empty();
                    let room = (!room_uuid.is_empty()).then(|| Scope::Exact(room_uuid.as_str().into()));
                    (room, if app_only && user_uuid.is_empty() { None } else { aware(user_uuid) })
                }
                _ => (None, None),
            };
            let capabilities = match service {
                Some(kind) => capabilities_007(kind, s.privileges(), t.issued_at, end),
                None => Vec::new(),
            };
            Holding { service_code: s.type_code(), service, channel, user, capabilities }
        })
        .collect()
}

/// The holdings of a 006 token verified for `channel` and packed `uid`: RTC for them (with
/// every privilege but RTM login), and RTM login for the account signed as the channel.
pub(crate) fn holdings_006(t: &ParsedAccessToken006, channel: &str, uid: &str) -> Vec<Holding> {
    let end = UnixTime(u64::from(t.ts()));
    let mut rtc = Holding {
        service_code: ServiceType::Rtc.code(),
        service: Some(ServiceType::Rtc),
        channel: Some(Scope::wildcard_aware(channel)),
        user: Some(Scope::wildcard_aware(uid)),
        capabilities: Vec::new(),
    };
    let mut rtm: Option<Holding> = None;
    for (&id, &value) in t.privileges() {
        let until = if value == 0 { end } else { end.min(UnixTime(u64::from(value))) };
        match Capability::of_006(id) {
            (ServiceType::Rtm, capability) => {
                rtm = Some(Holding {
                    service_code: ServiceType::Rtm.code(),
                    service: Some(ServiceType::Rtm),
                    channel: None,
                    user: Some(Scope::Exact(channel.into())),
                    capabilities: vec![(capability, until)],
                });
            }
            (_, capability) => rtc.capabilities.push((capability, until)),
        }
    }
    // An RTM-only 006 token has no RTC part; an empty token is an RTC token without privileges.
    let mut out = Vec::with_capacity(2);
    if !rtc.capabilities.is_empty() || rtm.is_none() {
        out.push(rtc);
    }
    out.extend(rtm);
    out
}

/// Flattens holdings into grants.
pub(crate) fn grants_of(holdings: &[Holding], token_end: UnixTime) -> Vec<Grant> {
    let mut out = Vec::with_capacity(holdings.iter().map(|h| h.capabilities.len().max(1)).sum());
    for h in holdings {
        h.push_grants(token_end, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes() {
        assert_eq!(Scope::wildcard_aware(""), Scope::Any);
        assert_eq!(Scope::wildcard_aware("*"), Scope::Any);
        assert_eq!(Scope::wildcard_aware("room-*"), Scope::Pattern("room-*".into()));
        assert_eq!(Scope::wildcard_aware("room-1"), Scope::Exact("room-1".into()));
        assert!(Scope::Pattern("room-*".into()).admits("room-9"));
        assert!(!Scope::Pattern("room-*".into()).admits("staff"));
        assert!(Scope::Pattern("room-a*".into()).within("room-*"));
        assert!(!Scope::Pattern("*".into()).within("room-*"));
        assert!(!Scope::Any.within("room-*"));
        assert!(Scope::Any.within("*"));
        assert!(Scope::Exact("room-1".into()).within("room-*"));
        assert!(!Scope::Exact("staff".into()).within("room-*"));
    }

    #[test]
    fn token_end_caps_at_24_hours() {
        assert_eq!(token_end_007(100, 0), UnixTime(100 + 86_400));
        assert_eq!(token_end_007(100, 600), UnixTime(700));
        assert_eq!(token_end_007(100, u32::MAX), UnixTime(100 + 86_400));
    }

    #[test]
    fn privilege_zero_means_the_token_end() {
        let mut t = AccessToken2::new("a", 1000, 600, 1);
        let privileges = Privileges::from([(1, 0), (2, 100), (3, 5000), (9, 0)]);
        t.add_service(Service::Rtc { channel_name: "c".into(), uid: "".into(), privileges });
        let h = holdings_007(&t);
        assert_eq!(
            h[0].capabilities,
            vec![
                (Capability::JoinChannel, UnixTime(1600)),
                (Capability::PublishAudio, UnixTime(1100)),
                (Capability::PublishVideo, UnixTime(1600)),
                (Capability::Unnamed(9), UnixTime(1600)),
            ]
        );
        assert_eq!(h[0].user, Some(Scope::Any));
    }
}
