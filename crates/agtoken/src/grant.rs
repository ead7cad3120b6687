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

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use crate::time::{UnixTime, MAX_LIFETIME_SECS};
use crate::v006::{ParsedAccessToken006, Privilege006};
use crate::v007::{
    AccessToken2, ApaasPrivilege, ChatPrivilege, FcdnPrivilege, FpaPrivilege, Privileges, RtcPrivilege, RtmPrivilege,
    Service, ServiceType, StreamingPrivilege,
};
use crate::wildcard;

/// Which channels, or which users, a grant is for.
///
/// `T` holds the text. [`VerifiedToken::grants`](crate::VerifiedToken::grants) shares it
/// (`Arc<str>`, the default: a token's grants repeat one holding's channel and user for each
/// privilege); [`VerifiedToken::borrowed_grants`](crate::VerifiedToken::borrowed_grants)
/// borrows it from the token (`&str`); `.into()` makes such a scope a shared one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scope<T = Arc<str>> {
    /// Exactly this one.
    Exact(T),
    /// Every value this `*` pattern matches (e.g. `room-*`).
    Pattern(T),
    /// Any value (a wildcard token: empty or `*` channel, uid 0).
    Any,
}

impl<'a> Scope<&'a str> {
    /// The scope of an RTC channel or uid (and of the channel-like fields of other services
    /// whose matching the library does not model): `""` and `"*"` are any, a text with `*` a
    /// pattern, anything else exact.
    pub(crate) fn borrowed_wildcard_aware(text: &'a str) -> Self {
        if wildcard::is_wildcard(text) {
            Scope::Any
        } else if text.contains('*') {
            Scope::Pattern(text)
        } else {
            Scope::Exact(text)
        }
    }

    /// The exact value or the pattern; `""` for any.
    pub(crate) fn text(self) -> &'a str {
        match self {
            Scope::Exact(text) | Scope::Pattern(text) => text,
            Scope::Any => "",
        }
    }
}

impl<T: AsRef<str>> Scope<T> {
    /// Whether `value` is within this scope.
    pub fn admits(&self, value: &str) -> bool {
        match self {
            Scope::Exact(text) => text.as_ref() == value,
            Scope::Pattern(pattern) => wildcard::matches(pattern.as_ref(), value),
            Scope::Any => true,
        }
    }

    /// Whether every value this scope admits is also admitted by the `*` pattern `pattern`.
    /// (A pattern scope is within `pattern` when `pattern` matches its text with each `*`
    /// taken literally: every `*` of the scope then falls inside a `*` of `pattern`.)
    pub fn within(&self, pattern: &str) -> bool {
        match self {
            Scope::Exact(text) | Scope::Pattern(text) => wildcard::matches(pattern, text.as_ref()),
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
            Scope::Exact(text) => Some(text.as_ref()),
            _ => None,
        }
    }

    /// The same scope, borrowing its text.
    pub fn as_borrowed(&self) -> Scope<&str> {
        match self {
            Scope::Exact(text) => Scope::Exact(text.as_ref()),
            Scope::Pattern(text) => Scope::Pattern(text.as_ref()),
            Scope::Any => Scope::Any,
        }
    }
}

impl From<Scope<&str>> for Scope {
    fn from(scope: Scope<&str>) -> Scope {
        match scope {
            Scope::Exact(text) => Scope::Exact(text.into()),
            Scope::Pattern(text) => Scope::Pattern(text.into()),
            Scope::Any => Scope::Any,
        }
    }
}

impl<T: AsRef<str>> fmt::Display for Scope<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Exact(text) => write!(f, "{:?}", text.as_ref()),
            Scope::Pattern(pattern) => write!(f, "pattern {:?}", pattern.as_ref()),
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
///
/// `T` holds the channel's and the user's text, as in [`Scope`]: shared (`Arc<str>`, the
/// default) or borrowed from the token (`&str`, from
/// [`VerifiedToken::borrowed_grants`](crate::VerifiedToken::borrowed_grants)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Grant<T = Arc<str>> {
    /// The service type number (`1` RTC, `2` RTM, …; a type this library does not know too).
    pub service_code: u16,
    /// The service, when this library knows its type.
    pub service: Option<ServiceType>,
    /// The channel (or room) it is for, when the service has one.
    pub channel: Option<Scope<T>>,
    /// The user it is for, when the service has one (`None` for app-level grants).
    pub user: Option<Scope<T>>,
    /// What it admits.
    pub capability: Capability,
    /// When it stops admitting (exclusive: admitted while `now < until`).
    pub until: UnixTime,
}

impl<T> Grant<T> {
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

impl From<Grant<&str>> for Grant {
    fn from(grant: Grant<&str>) -> Grant {
        Grant {
            service_code: grant.service_code,
            service: grant.service,
            channel: grant.channel.map(Scope::from),
            user: grant.user.map(Scope::from),
            capability: grant.capability,
            until: grant.until,
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

/// The grants of one service instance (the unit the admission check tries in turn),
/// borrowing from the token: computing them allocates nothing.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Holding<'a> {
    pub service_code: u16,
    pub service: Option<ServiceType>,
    pub channel: Option<Scope<&'a str>>,
    pub user: Option<Scope<&'a str>>,
    held: Held<'a>,
}

/// Where a holding's capabilities come from.
#[derive(Clone, Copy, Debug)]
enum Held<'a> {
    /// Every privilege of a 007 service (of a type this library knows: `kind`); a value is
    /// seconds after `issued_at`, capped by `end`, the token's end.
    V007 { kind: Option<ServiceType>, privileges: &'a Privileges, issued_at: u32, end: UnixTime },
    /// The privileges of a 006 token that belong to `service` (RTC, or RTM login); a value is
    /// an absolute time, capped by `end`, the token's `ts`.
    V006 { service: ServiceType, privileges: &'a BTreeMap<u16, u32>, end: UnixTime },
}

impl<'a> Holding<'a> {
    /// Its capabilities and their ends, in privilege-id order; none for a service with no
    /// privilege (or of a type this library does not know).
    pub fn capabilities(&self) -> impl Iterator<Item = (Capability, UnixTime)> + 'a {
        let held = self.held;
        let privileges = match held {
            Held::V007 { privileges, .. } | Held::V006 { privileges, .. } => privileges,
        };
        privileges.iter().filter_map(move |(&id, &value)| match held {
            Held::V007 { kind: None, .. } => None,
            Held::V007 { kind: Some(kind), issued_at, end, .. } => {
                let until = if value == 0 { end } else { end.min(UnixTime(u64::from(issued_at) + u64::from(value))) };
                Some((Capability::of_007(kind, id), until))
            }
            Held::V006 { service, end, .. } => {
                let (of, capability) = Capability::of_006(id);
                let until = if value == 0 { end } else { end.min(UnixTime(u64::from(value))) };
                // RTM login in the RTM part, everything else in the RTC part.
                ((of == ServiceType::Rtm) == (service == ServiceType::Rtm)).then_some((capability, until))
            }
        })
    }

    /// The end of `capability` in this holding, if it has it.
    pub fn until(&self, capability: Capability) -> Option<UnixTime> {
        self.capabilities().find(|(c, _)| *c == capability).map(|(_, until)| until)
    }

    /// The token's end (a grant's end when its privilege has no time of its own).
    fn end(&self) -> UnixTime {
        match self.held {
            Held::V007 { end, .. } | Held::V006 { end, .. } => end,
        }
    }

    /// Its grants: one per capability, or one [`Capability::ServiceOnly`] grant until the
    /// token's end when it has none.
    pub fn grants(self) -> impl Iterator<Item = Grant<&'a str>> {
        let mut capabilities = self.capabilities().peekable();
        let service_only = capabilities.peek().is_none().then_some((Capability::ServiceOnly, self.end()));
        service_only.into_iter().chain(capabilities).map(move |(capability, until)| Grant {
            service_code: self.service_code,
            service: self.service,
            channel: self.channel,
            user: self.user,
            capability,
            until,
        })
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

/// The holding of one service of a 007 token that ends at `end` (its [`token_end_007`]).
fn holding_007<'a>(s: &'a Service, issued_at: u32, end: UnixTime) -> Holding<'a> {
    let exact = |s: &'a str| Some(Scope::Exact(s));
    let aware = |s: &'a str| Some(Scope::borrowed_wildcard_aware(s));
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
            let app_only = privileges.keys().all(|&id| id == ApaasPrivilege::App.id()) && !privileges.is_empty();
            let room = (!room_uuid.is_empty()).then_some(Scope::Exact(room_uuid.as_str()));
            (room, if app_only && user_uuid.is_empty() { None } else { aware(user_uuid) })
        }
        _ => (None, None),
    };
    let held = Held::V007 { kind: service, privileges: s.privileges(), issued_at, end };
    Holding { service_code: s.type_code(), service, channel, user, held }
}

/// The holdings of a token, in order: a 007 token's services, or a 006 token's RTC and RTM
/// parts ([`holdings_006`]).
pub(crate) enum Holdings<'a> {
    V007 { services: std::slice::Iter<'a, Service>, issued_at: u32, end: UnixTime },
    V006(std::array::IntoIter<Option<Holding<'a>>, 2>),
}

impl<'a> Iterator for Holdings<'a> {
    type Item = Holding<'a>;

    fn next(&mut self) -> Option<Holding<'a>> {
        match self {
            Holdings::V007 { services, issued_at, end } => services.next().map(|s| holding_007(s, *issued_at, *end)),
            Holdings::V006(parts) => parts.by_ref().flatten().next(),
        }
    }
}

/// The holdings of a 007 structure, one per service, in the structure's order.
pub(crate) fn holdings_007(t: &AccessToken2) -> Holdings<'_> {
    Holdings::V007 { services: t.services.iter(), issued_at: t.issued_at, end: token_end_007(t.issued_at, t.expire) }
}

/// The holdings of a 006 token verified for `channel` and packed `uid`: RTC for them (with
/// every privilege but RTM login), and RTM login for the account signed as the channel.
pub(crate) fn holdings_006<'a>(t: &'a ParsedAccessToken006, channel: &'a str, uid: &'a str) -> Holdings<'a> {
    let end = UnixTime(u64::from(t.ts()));
    let part = |service: ServiceType, channel, user| Holding {
        service_code: service.code(),
        service: Some(service),
        channel,
        user,
        held: Held::V006 { service, privileges: t.privileges(), end },
    };
    let rtc = part(
        ServiceType::Rtc,
        Some(Scope::borrowed_wildcard_aware(channel)),
        Some(Scope::borrowed_wildcard_aware(uid)),
    );
    let rtm = part(ServiceType::Rtm, None, Some(Scope::Exact(channel)));
    let has_rtm = rtm.capabilities().next().is_some();
    // An RTM-only 006 token has no RTC part; an empty token is an RTC token without privileges.
    let has_rtc = rtc.capabilities().next().is_some() || !has_rtm;
    Holdings::V006([has_rtc.then_some(rtc), has_rtm.then_some(rtm)].into_iter())
}

/// The grants of `holdings`, their texts shared: each holding's channel and user are made
/// once and shared by its grants.
pub(crate) fn shared_grants<'a>(holdings: impl Iterator<Item = Holding<'a>>) -> Vec<Grant> {
    let mut out = Vec::new();
    for holding in holdings {
        let channel = holding.channel.map(Scope::from);
        let user = holding.user.map(Scope::from);
        out.extend(holding.grants().map(|g| Grant {
            service_code: g.service_code,
            service: g.service,
            channel: channel.clone(),
            user: user.clone(),
            capability: g.capability,
            until: g.until,
        }));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes() {
        assert_eq!(Scope::borrowed_wildcard_aware(""), Scope::Any);
        assert_eq!(Scope::borrowed_wildcard_aware("*"), Scope::Any);
        assert_eq!(Scope::borrowed_wildcard_aware("room-*"), Scope::Pattern("room-*"));
        assert_eq!(Scope::borrowed_wildcard_aware("room-1"), Scope::Exact("room-1"));
        // Borrowed texts judge as shared ones.
        for scope in [Scope::Pattern("room-*"), Scope::Exact("room-1"), Scope::Any] {
            let shared: Scope = scope.into();
            assert_eq!(shared.as_borrowed(), scope);
            for value in ["room-1", "room-9", "staff"] {
                assert_eq!(shared.admits(value), scope.admits(value), "{scope} {value}");
            }
        }
        assert!(Scope::Pattern("room-*").admits("room-9"));
        assert!(!Scope::Pattern("room-*").admits("staff"));
        assert!(Scope::Pattern("room-a*").within("room-*"));
        assert!(!Scope::Pattern("*").within("room-*"));
        assert!(!Scope::<&str>::Any.within("room-*"));
        assert!(Scope::<&str>::Any.within("*"));
        assert!(Scope::Exact("room-1").within("room-*"));
        assert!(!Scope::Exact("staff").within("room-*"));
        let shared: Scope = Scope::Pattern("room-*".into());
        assert!(shared.admits("room-9") && !shared.admits("staff") && shared.is_wildcard());
        let shared: Scope = Scope::Exact("room-1").into();
        assert_eq!(shared.exact(), Some("room-1"));
        assert_eq!(Scope::borrowed_wildcard_aware("room-*").text(), "room-*");
        assert_eq!(Scope::borrowed_wildcard_aware("*").text(), "");
    }

    /// A 006 token's parts: RTC (every privilege but RTM login) and RTM login, an RTM-only
    /// token without an RTC part, an empty token as RTC without privileges.
    #[test]
    fn the_parts_of_a_006_token() {
        let cert = crate::AppCertificate::new("5CFd2fd1755d40ecb72977518be15d3b").unwrap();
        let parts = |privileges: &[(u16, u32)]| {
            let t = crate::AccessToken006 {
                app_id: "970CA35de60c44645bbae8a215061b33".into(),
                channel_name: "room".into(),
                uid: "42".into(),
                salt: 1,
                ts: 5000,
                privileges: privileges.iter().copied().collect(),
            };
            let parsed = crate::AccessToken006::parse(&t.encode(&cert).unwrap()).unwrap();
            holdings_006(&parsed, "room", "42")
                .map(|h| (h.service, h.channel, h.user, h.capabilities().collect::<Vec<_>>()))
                .map(|(s, c, u, caps)| (s, c.map(|c| c.text().to_owned()), u.map(|u| u.text().to_owned()), caps))
                .collect::<Vec<_>>()
        };
        let rtc = Some(ServiceType::Rtc);
        let rtm = Some(ServiceType::Rtm);
        let (room, uid) = (Some("room".to_owned()), Some("42".to_owned()));
        assert_eq!(
            parts(&[(1, 0), (2, 3000), (1000, 0)]),
            vec![
                (
                    rtc,
                    room.clone(),
                    uid.clone(),
                    vec![(Capability::JoinChannel, UnixTime(5000)), (Capability::PublishAudio, UnixTime(3000))]
                ),
                (rtm, None, room.clone(), vec![(Capability::RtmLogin, UnixTime(5000))]),
            ]
        );
        assert_eq!(
            parts(&[(1000, 9000)]),
            vec![(rtm, None, room.clone(), vec![(Capability::RtmLogin, UnixTime(5000))])]
        );
        assert_eq!(parts(&[]), vec![(rtc, room, uid, vec![])]);
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
        let h: Vec<Holding<'_>> = holdings_007(&t).collect();
        assert_eq!(
            h[0].capabilities().collect::<Vec<_>>(),
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
