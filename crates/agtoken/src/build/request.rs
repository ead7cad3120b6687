//! Builder-style requests: **one typed request per kind of token**, declared once, with its
//! fields, their types and docs. A token server reads a [`Request`] from its API's JSON (serde),
//! documents it from [`Request::INFO`] (names, types, docs: data, no web dependency here), and
//! builds it with [`Request::build`]: the server has no per-service code.
//!
//! Each request also names its subcommand and flags on the command line
//! ([`RequestInfo::command`], [`FieldInfo::flag`], and where the command line spells a value
//! differently, [`FieldInfo::values`]): the CLI builds its minting subcommands from this list.
//!
//! Adding a kind of token is one entry in the `requests!` list below plus its arm in
//! [`Request::build`] (the compiler points at the missing arm); the server's API, its OpenAPI
//! document and the CLI follow without an edit.

use std::time::Duration;

use serde::Deserialize;

use super::{ApaasToken, ChatToken, FcdnToken, FpaToken, Role, RtcToken, RtmToken, StreamingToken};
use crate::error::{Error, Result};
use crate::ids::{AppCertificate, AppId, Uid};
use crate::time::{Expiry, UnixTime};
use crate::v006::AccessToken006;
use crate::v007::{AccessToken2, FcdnPrivilege, Rtm2Permissions, StreamingPrivilege};
use crate::verify::Version;

/// The type of a request field, for documentation and schemas.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldType {
    /// A string.
    Text,
    /// A whole number 0..=4294967295.
    Uint32,
    /// A whole number -32768..=32767.
    Int16,
    /// A boolean.
    Bool,
    /// `"publisher"` (or 1) / `"subscriber"` (or 2).
    Role,
    /// A list of strings.
    TextList,
    /// A lifetime: whole seconds (at least 1), or `"unlimited"` (stored as 0: for a privilege,
    /// as long as the token). See [`RequestLifetime`].
    Lifetime,
}

/// One value a field takes from a fixed set, as JSON and the command line spell it.
#[derive(Clone, Copy, Debug)]
pub struct ValueInfo {
    /// Its spelling in JSON.
    pub name: &'static str,
    /// Its spelling on the command line (`--privilege publish-mix`).
    pub flag: &'static str,
    /// What it means.
    pub doc: &'static str,
    /// Only a legacy 006 token takes it (on the command line, with `--v006`); it builds as
    /// `name`.
    pub v006_only: bool,
}

/// The values of an RTC role: JSON takes `publisher`/`subscriber` (or 1/2); the command line
/// also takes 006's deprecated `attendee` and `admin`, which grant what a publisher does.
pub const ROLE_VALUES: &[ValueInfo] = &[
    ValueInfo {
        name: "publisher",
        flag: "publisher",
        doc: "joins and publishes audio, video and data",
        v006_only: false,
    },
    ValueInfo { name: "subscriber", flag: "subscriber", doc: "joins only (audience)", v006_only: false },
    ValueInfo {
        name: "publisher",
        flag: "attendee",
        doc: "006 only (deprecated): the privileges of a publisher",
        v006_only: true,
    },
    ValueInfo {
        name: "publisher",
        flag: "admin",
        doc: "006 only (deprecated): the privileges of a publisher",
        v006_only: true,
    },
];

/// The privileges of a streaming token.
pub const STREAMING_PRIVILEGE_VALUES: &[ValueInfo] = &[
    ValueInfo { name: "publish_mix_stream", flag: "publish-mix", doc: "publish a mixed stream", v006_only: false },
    ValueInfo { name: "publish_raw_stream", flag: "publish-raw", doc: "publish a raw stream", v006_only: false },
];

/// The privileges of an FCDN token.
pub const FCDN_PRIVILEGE_VALUES: &[ValueInfo] = &[
    ValueInfo { name: "publish", flag: "publish", doc: "publish", v006_only: false },
    ValueInfo { name: "play", flag: "play", doc: "play", v006_only: false },
];

/// One field of a request.
#[derive(Clone, Copy, Debug)]
pub struct FieldInfo {
    /// Its name in JSON.
    pub name: &'static str,
    /// Its flag on the command line (without `--`): `agtoken chat user --user alice`.
    pub flag: &'static str,
    /// Its type.
    pub ty: FieldType,
    /// The values it takes, when they are a fixed set (each value of a list), with their
    /// spellings; empty otherwise.
    pub values: &'static [ValueInfo],
    /// Its default on the command line, when it differs from the request's (the command line
    /// follows Agora's docs: an RTC role defaults to publisher there).
    pub flag_default: Option<&'static str>,
    /// Whether a request must give it.
    pub required: bool,
    /// What it means.
    pub doc: &'static str,
}

/// One kind of request.
#[derive(Clone, Copy, Debug)]
pub struct RequestInfo {
    /// The value of `service` that selects it.
    pub service: &'static str,
    /// Its subcommand on the command line: `["chat", "app"]` is `agtoken chat app`.
    pub command: &'static [&'static str],
    /// Other names of the command line's first word (`education` for `apaas`).
    pub command_aliases: &'static [&'static str],
    /// What it builds.
    pub doc: &'static str,
    /// Its fields (besides `service`).
    pub fields: &'static [FieldInfo],
    /// Whether it can be built as a legacy 006 token.
    pub v006: bool,
}

/// An RTC role as requests spell it: `"publisher"` or 1, `"subscriber"` or 2.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RoleText")]
pub struct RequestRole(pub Role);

#[derive(Deserialize)]
#[serde(untagged)]
enum RoleText {
    Name(String),
    Code(u64),
}

impl TryFrom<RoleText> for RequestRole {
    type Error = String;
    fn try_from(value: RoleText) -> std::result::Result<Self, String> {
        match value {
            RoleText::Name(n) if n == "publisher" => Ok(RequestRole(Role::Publisher)),
            RoleText::Name(n) if n == "subscriber" => Ok(RequestRole(Role::Subscriber)),
            RoleText::Code(1) => Ok(RequestRole(Role::Publisher)),
            RoleText::Code(2) => Ok(RequestRole(Role::Subscriber)),
            RoleText::Name(n) => Err(format!("must be \"publisher\" (1) or \"subscriber\" (2), got {n:?}")),
            RoleText::Code(n) => Err(format!("must be \"publisher\" (1) or \"subscriber\" (2), got {n}")),
        }
    }
}

/// A lifetime as requests give it: whole seconds, or `"unlimited"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "LifetimeText")]
pub struct RequestLifetime(pub Expiry);

#[derive(Deserialize)]
#[serde(untagged)]
enum LifetimeText {
    Seconds(u64),
    Name(String),
}

impl TryFrom<LifetimeText> for RequestLifetime {
    type Error = String;
    fn try_from(value: LifetimeText) -> std::result::Result<Self, String> {
        match value {
            LifetimeText::Seconds(s) => Ok(RequestLifetime(Expiry::After(Duration::from_secs(s)))),
            LifetimeText::Name(n) if n == "unlimited" => Ok(RequestLifetime(Expiry::Unlimited)),
            LifetimeText::Name(n) => Err(format!("must be whole seconds or \"unlimited\", got {n:?}")),
        }
    }
}

macro_rules! field_type {
    (String) => {
        FieldType::Text
    };
    (u32) => {
        FieldType::Uint32
    };
    (i16) => {
        FieldType::Int16
    };
    (bool) => {
        FieldType::Bool
    };
    (RequestRole) => {
        FieldType::Role
    };
    (Vec<String>) => {
        FieldType::TextList
    };
    (RequestLifetime) => {
        FieldType::Lifetime
    };
}

/// A field's values: a role's always, else those given.
macro_rules! field_values {
    ([RequestRole]) => {
        ROLE_VALUES
    };
    ([$($t:tt)+] $values:expr) => {
        $values
    };
    ([$($t:tt)+]) => {
        &[]
    };
}

macro_rules! some {
    () => {
        None
    };
    ($value:literal) => {
        Some($value)
    };
}

macro_rules! field_rust_type {
    (required $($t:tt)+) => { $($t)+ };
    (optional $($t:tt)+) => { Option<$($t)+> };
}

macro_rules! is_required {
    (required) => {
        true
    };
    (optional) => {
        false
    };
}

macro_rules! requests {
    ($(
        $(#[doc = $doc:literal])*
        $variant:ident($request:ident) $service:literal cli: [$($command:literal),+]
            $(aliases [$($alias:literal),+])? v006: $v006:literal {
            $( $(#[doc = $fdoc:literal])*
               $field:ident($flag:literal $(= $default:literal)? $(, values = $values:expr)?): $req:ident [$($ty:tt)+]
            ),* $(,)?
        }
    )*) => {
        $(
            $(#[doc = $doc])*
            #[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
            #[serde(deny_unknown_fields)]
            pub struct $request {
                $( $(#[doc = $fdoc])* pub $field: field_rust_type!($req $($ty)+), )*
            }
        )*

        /// A builder-style request, selected by its `service` field. See the [module docs](self).
        #[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
        #[serde(tag = "service")]
        pub enum Request {
            $( $(#[doc = $doc])* #[serde(rename = $service)] $variant($request), )*
        }

        impl Request {
            /// Every kind of request, with its fields: the one description the server's API,
            /// its OpenAPI document and its policy names derive from.
            pub const INFO: &'static [RequestInfo] = &[
                $( RequestInfo {
                    service: $service,
                    command: &[$($command),+],
                    command_aliases: &[$($($alias),+)?],
                    doc: concat!($($doc),*),
                    v006: $v006,
                    fields: &[ $( FieldInfo {
                        name: stringify!($field),
                        flag: $flag,
                        ty: field_type!($($ty)+),
                        values: field_values!([$($ty)+] $($values)?),
                        flag_default: some!($($default)?),
                        required: is_required!($req),
                        doc: concat!($($fdoc),*),
                    } ),* ],
                } ),*
            ];

            /// The value of `service` of this request.
            pub fn service(&self) -> &'static str {
                match self {
                    $( Request::$variant(_) => $service, )*
                }
            }
        }
    };
}

requests! {
    /// RTC: join a channel, and publish as a publisher; optionally with RTM login.
    Rtc(RtcRequest) "rtc" cli: ["rtc"] v006: true {
        /// The channel name ("" or "*" for any channel; `*` patterns are allowed).
        channel("channel"): required [String],
        /// The integer uid, 0..=4294967295 (0 admits any user); or give the account.
        uid("uid"): optional [u32],
        /// The string user account (a different identity from an integer uid with the same
        /// digits); or give the uid.
        account("account"): optional [String],
        /// The role: a publisher may publish audio, video and data; a subscriber (audience) only
        /// joins. Default: subscriber in JSON; publisher on the command line, as in Agora's docs.
        role("role" = "publisher"): optional [RequestRole],
        /// How long every privilege without its own lasts (default: as long as the token).
        privilege_expire("privileges-valid-for"): optional [RequestLifetime],
        /// How long the join privilege lasts.
        join_expire("join-valid-for"): optional [RequestLifetime],
        /// How long the publish-audio privilege lasts.
        publish_audio_expire("publish-audio-valid-for"): optional [RequestLifetime],
        /// How long the publish-video privilege lasts.
        publish_video_expire("publish-video-valid-for"): optional [RequestLifetime],
        /// How long the publish-data-stream privilege lasts.
        publish_data_expire("publish-data-valid-for"): optional [RequestLifetime],
        /// Also grant RTM login to this user id, as buildTokenWithRtm does (007 only).
        rtm_user_id("with-rtm"): optional [String],
        /// How long that RTM login lasts (default: as long as the token).
        rtm_login_expire("rtm-valid-for"): optional [RequestLifetime],
    }
    /// RTM login for one user (service type 2).
    Rtm(RtmRequest) "rtm" cli: ["rtm"] v006: true {
        /// The RTM user id.
        user_id("user"): required [String],
    }
    /// RTM 2 login with a permission table (service type 8).
    Rtm2(Rtm2Request) "rtm2" cli: ["rtm2"] v006: false {
        /// The RTM user id.
        user_id("user"): required [String],
        /// `RESOURCE:PERMISSION:ITEM[,ITEM…]` entries, e.g. `stream_channels:read:chan-*`.
        permissions("permission"): optional [Vec<String>],
    }
    /// Chat: act as one user.
    Chat(ChatRequest) "chat" cli: ["chat", "user"] v006: false {
        /// The Chat user id.
        user_id("user"): required [String],
    }
    /// Chat: act as the app (server-side administration).
    ChatApp(ChatAppRequest) "chat_app" cli: ["chat", "app"] v006: false {}
    /// FPA: log in.
    Fpa(FpaRequest) "fpa" cli: ["fpa"] v006: false {}
    /// APaaS / Education: a user in one room, with RTM and Chat for the user.
    Apaas(ApaasRequest) "apaas" cli: ["apaas", "room-user"] aliases ["education"] v006: false {
        /// The room.
        room_uuid("room"): required [String],
        /// The user.
        user_uuid("user"): required [String],
        /// The user's role in the room.
        apaas_role("role"): required [i16],
        /// Build what the npm package builds (no room-user privilege; role 0 stored as -1).
        node_compatible("node-compatible"): optional [bool],
    }
    /// APaaS / Education: a user.
    ApaasUser(ApaasUserRequest) "apaas_user" cli: ["apaas", "user"] aliases ["education"] v006: false {
        /// The user.
        user_uuid("user"): required [String],
    }
    /// APaaS / Education: the app.
    ApaasApp(ApaasAppRequest) "apaas_app" cli: ["apaas", "app"] aliases ["education"] v006: false {}
    /// Media streaming for one channel and account.
    Streaming(StreamingRequest) "streaming" cli: ["streaming"] v006: false {
        /// The channel name.
        channel("channel"): required [String],
        /// The account.
        account("account"): required [String],
        /// The privileges to grant: `publish_mix_stream` and/or `publish_raw_stream`.
        privileges("privilege", values = STREAMING_PRIVILEGE_VALUES): required [Vec<String>],
    }
    /// FCDN for one channel and account.
    Fcdn(FcdnRequest) "fcdn" cli: ["fcdn"] v006: false {
        /// The channel name.
        channel("channel"): required [String],
        /// The account.
        account("account"): required [String],
        /// The privileges to grant: `publish` and/or `play`.
        privileges("privilege", values = FCDN_PRIVILEGE_VALUES): required [Vec<String>],
    }
    /// A conversational AI agent: RTC, RTM and the ConvoAI service.
    Convoai(ConvoaiRequest) "convoai" cli: ["convoai"] v006: false {
        /// The channel the agent joins.
        channel("channel"): required [String],
        /// The agent's integer uid; or give `account`.
        uid("uid"): optional [u32],
        /// The agent's string account; or give `uid`.
        account("account"): optional [String],
        /// The role (default publisher: an agent speaks).
        role("role" = "publisher"): optional [RequestRole],
        /// The agent's RTM user id.
        rtm_user_id("rtm-user"): required [String],
    }
    /// A speech-to-text agent: RTC, RTM and the STT service.
    Stt(SttRequest) "stt" cli: ["stt"] v006: false {
        /// The channel the agent joins.
        channel("channel"): required [String],
        /// The agent's integer uid; or give `account`.
        uid("uid"): optional [u32],
        /// The agent's string account; or give `uid`.
        account("account"): optional [String],
        /// The role (default publisher).
        role("role" = "publisher"): optional [RequestRole],
        /// The agent's RTM user id.
        rtm_user_id("rtm-user"): required [String],
    }
}

/// What [`Request::build`] makes: a 007 or a 006 structure, signed by `encode`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BuiltToken {
    /// AccessToken2.
    V007(AccessToken2),
    /// Legacy AccessToken (its `channel_name` and `uid` are what it is signed for).
    V006(AccessToken006),
}

impl BuiltToken {
    /// Signs and encodes.
    pub fn encode(&self, certificate: &AppCertificate) -> Result<String> {
        match self {
            BuiltToken::V007(t) => t.encode(certificate),
            BuiltToken::V006(t) => t.encode(certificate),
        }
    }
}

/// The options of [`Request::build`] that every request shares.
#[derive(Clone, Copy, Debug)]
pub struct RequestOptions {
    /// The format.
    pub version: Version,
    /// When the token ends; `None`: the builder's default (an hour; FPA: 24 hours, as in the
    /// reference).
    pub expiry: Option<Expiry>,
    /// Issue time (default: now).
    pub issued_at: Option<UnixTime>,
    /// Salt (default: random).
    pub salt: Option<u32>,
    /// Skip Agora's input rules, building what the majority of the official libraries builds
    /// (the builders' `unchecked()`); `false` for anything that serves tokens to others.
    pub unchecked: bool,
}

/// The uid of `uid` or `account` (exactly one).
fn uid_of(uid: Option<u32>, account: &Option<String>) -> Result<Uid> {
    match (uid, account) {
        (Some(_), Some(_)) => Err(Error::invalid("account", "give uid or account, not both", "both")),
        (Some(n), None) => Ok(Uid::Int(n)),
        (None, Some(a)) => Ok(Uid::Account(a.clone())),
        (None, None) => Err(Error::Missing { field: "uid".into() }),
    }
}

macro_rules! with_options {
    ($builder:expr, $options:expr) => {{
        let o: &RequestOptions = $options;
        let mut b = $builder;
        if let Some(expiry) = o.expiry {
            b = b.expires(expiry);
        }
        if let Some(at) = o.issued_at {
            b = b.issued_at(at);
        }
        if let Some(salt) = o.salt {
            b = b.salt(salt);
        }
        if o.unchecked {
            b = b.unchecked();
        }
        b
    }};
}

impl Request {
    /// The lifetimes (seconds) the request names besides `expire`, by field: a server bounds
    /// them like `expire`. `"unlimited"` is not among them: it lasts as long as the token.
    /// Seconds beyond `u32` read as `u32::MAX` (beyond any bound).
    pub fn lifetimes(&self) -> Vec<(&'static str, u32)> {
        let Request::Rtc(r) = self else { return Vec::new() };
        [
            ("privilege_expire", r.privilege_expire),
            ("join_expire", r.join_expire),
            ("publish_audio_expire", r.publish_audio_expire),
            ("publish_video_expire", r.publish_video_expire),
            ("publish_data_expire", r.publish_data_expire),
            ("rtm_login_expire", r.rtm_login_expire),
        ]
        .into_iter()
        .filter_map(|(field, lifetime)| match lifetime?.0 {
            Expiry::After(d) => Some((field, u32::try_from(d.as_secs()).unwrap_or(u32::MAX))),
            Expiry::Unlimited | Expiry::At(_) => None,
        })
        .collect()
    }

    /// The channel and user the request names, for logs (not for decisions: a server judges
    /// the token it built).
    pub fn subject(&self) -> (&str, String) {
        let uid_text = |uid: Option<u32>, account: &Option<String>| match (uid, account) {
            (Some(n), _) => n.to_string(),
            (None, Some(a)) => a.clone(),
            (None, None) => String::new(),
        };
        match self {
            Request::Rtc(r) => (&r.channel, uid_text(r.uid, &r.account)),
            Request::Convoai(ConvoaiRequest { channel, uid, account, .. })
            | Request::Stt(SttRequest { channel, uid, account, .. }) => (channel, uid_text(*uid, account)),
            Request::Rtm(RtmRequest { user_id }) | Request::Rtm2(Rtm2Request { user_id, .. }) => ("", user_id.clone()),
            Request::Chat(r) => ("", r.user_id.clone()),
            Request::Apaas(r) => (&r.room_uuid, r.user_uuid.clone()),
            Request::ApaasUser(r) => ("", r.user_uuid.clone()),
            Request::Streaming(StreamingRequest { channel, account, .. })
            | Request::Fcdn(FcdnRequest { channel, account, .. }) => (channel, account.clone()),
            Request::ChatApp(_) | Request::Fpa(_) | Request::ApaasApp(_) => ("", String::new()),
        }
    }

    /// The RTC role asked for, when the request has one.
    pub fn role(&self) -> Option<Role> {
        match self {
            Request::Rtc(r) => Some(r.role.map_or(Role::Subscriber, |r| r.0)),
            Request::Convoai(ConvoaiRequest { role, .. }) | Request::Stt(SttRequest { role, .. }) => {
                Some(role.map_or(Role::Publisher, |r| r.0))
            }
            _ => None,
        }
    }

    /// Builds the token with Agora's rules (strict builders).
    pub fn build(&self, app_id: &AppId, certificate: &AppCertificate, options: &RequestOptions) -> Result<BuiltToken> {
        let v006 = options.version == Version::V006;
        if v006 && !Request::INFO.iter().any(|i| i.service == self.service() && i.v006) {
            return Err(Error::invalid("version", "this token exists only as 007", self.service()));
        }
        let token = match self {
            Request::Rtc(r) => {
                let mut b = RtcToken::builder(app_id, certificate)
                    .channel(&r.channel)
                    .uid(uid_of(r.uid, &r.account)?)
                    .role(self.role().unwrap_or(Role::Subscriber));
                if let Some(p) = r.privilege_expire {
                    b = b.privileges_expire(p.0);
                }
                if let Some(p) = r.join_expire {
                    b = b.join_expires(p.0);
                }
                if let Some(p) = r.publish_audio_expire {
                    b = b.publish_audio_expires(p.0);
                }
                if let Some(p) = r.publish_video_expire {
                    b = b.publish_video_expires(p.0);
                }
                if let Some(p) = r.publish_data_expire {
                    b = b.publish_data_expires(p.0);
                }
                match (&r.rtm_user_id, r.rtm_login_expire) {
                    (Some(user), _) if v006 => {
                        return Err(Error::invalid(
                            "rtm_user_id",
                            "a 006 RTC token holds only RTC privileges: build RTM, ConvoAI or STT as 007",
                            user,
                        ));
                    }
                    (Some(user), login) => b = b.with_rtm(user, login.map(|l| l.0)),
                    (None, Some(_)) => {
                        return Err(Error::invalid(
                            "rtm_login_expire",
                            "is the lifetime of an RTM login: give the RTM user too",
                            "",
                        ))
                    }
                    (None, None) => {}
                }
                let b = with_options!(b, options);
                return if v006 {
                    b.build_token_v006().map(BuiltToken::V006)
                } else {
                    b.build_token().map(BuiltToken::V007)
                };
            }
            Request::Rtm(r) => {
                let b = with_options!(RtmToken::builder(app_id, certificate, &r.user_id), options);
                return if v006 {
                    b.build_token_v006().map(BuiltToken::V006)
                } else {
                    b.build_token().map(BuiltToken::V007)
                };
            }
            Request::Rtm2(r) => {
                let mut table = Rtm2Permissions::new();
                for entry in r.permissions.iter().flatten() {
                    table.add_entry(entry)?;
                }
                with_options!(RtmToken::builder(app_id, certificate, &r.user_id).permissions(table), options)
                    .build_token()
            }
            Request::Chat(r) => with_options!(ChatToken::user(app_id, certificate, &r.user_id), options).build_token(),
            Request::ChatApp(_) => with_options!(ChatToken::app(app_id, certificate), options).build_token(),
            Request::Fpa(_) => with_options!(FpaToken::builder(app_id, certificate), options).build_token(),
            Request::Apaas(r) => {
                let b = ApaasToken::room_user(app_id, certificate, &r.room_uuid, &r.user_uuid, r.apaas_role);
                let b = if r.node_compatible == Some(true) { b.node_compatible() } else { b };
                with_options!(b, options).build_token()
            }
            Request::ApaasUser(r) => {
                with_options!(ApaasToken::user(app_id, certificate, &r.user_uuid), options).build_token()
            }
            Request::ApaasApp(_) => with_options!(ApaasToken::app(app_id, certificate), options).build_token(),
            Request::Streaming(r) => {
                let mut b = StreamingToken::builder(app_id, certificate, &r.channel, &r.account);
                for name in &r.privileges {
                    let p = StreamingPrivilege::from_name(name).ok_or_else(|| {
                        Error::invalid("privileges", "each must be publish_mix_stream or publish_raw_stream", name)
                    })?;
                    b = b.streaming_privilege(p, None);
                }
                with_options!(b, options).build_token()
            }
            Request::Fcdn(r) => {
                let mut b = FcdnToken::builder(app_id, certificate, &r.channel, &r.account);
                for name in &r.privileges {
                    let p = FcdnPrivilege::from_name(name)
                        .ok_or_else(|| Error::invalid("privileges", "each must be publish or play", name))?;
                    b = b.fcdn_privilege(p, None);
                }
                with_options!(b, options).build_token()
            }
            Request::Convoai(ConvoaiRequest { channel, uid, account, rtm_user_id, .. })
            | Request::Stt(SttRequest { channel, uid, account, rtm_user_id, .. }) => {
                let b = RtcToken::builder(app_id, certificate)
                    .channel(channel)
                    .uid(uid_of(*uid, account)?)
                    .role(self.role().unwrap_or(Role::Publisher))
                    .with_rtm(rtm_user_id, None);
                let b = if matches!(self, Request::Convoai(_)) { b.with_convoai() } else { b.with_stt() };
                with_options!(b, options).build_token()
            }
        };
        token.map(BuiltToken::V007)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v007::Service;

    fn request(json: &str) -> std::result::Result<Request, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn info_describes_every_request_once() {
        let names: Vec<&str> = Request::INFO.iter().map(|i| i.service).collect();
        let mut unique = names.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), names.len());
        let rtc = Request::INFO.iter().find(|i| i.service == "rtc").unwrap();
        let channel = rtc.fields.iter().find(|f| f.name == "channel").unwrap();
        assert!(channel.required && channel.ty == FieldType::Text && channel.doc.contains("channel name"));
        let role = rtc.fields.iter().find(|f| f.name == "role").unwrap();
        assert!(!role.required && role.ty == FieldType::Role);
        let permissions = Request::INFO.iter().find(|i| i.service == "rtm2").unwrap().fields[1];
        assert_eq!(
            (permissions.name, permissions.ty, permissions.required),
            ("permissions", FieldType::TextList, false)
        );
    }

    #[test]
    fn requests_read_typed_and_refuse_what_does_not_apply() {
        assert_eq!(request(r#"{"service":"rtm","user_id":"u"}"#).unwrap().service(), "rtm");
        let e = request(r#"{"service":"rtm","user_id":"u","channel":"c"}"#).unwrap_err();
        assert!(e.contains("unknown field `channel`"), "{e}");
        let e = request(r#"{"service":"rtc","uid":1}"#).unwrap_err();
        assert!(e.contains("missing field `channel`"), "{e}");
        let e = request(r#"{"service":"rtc","channel":"c","uid":1,"role":"admin"}"#).unwrap_err();
        assert!(e.contains("publisher"), "{e}");
        let e = request(r#"{"service":"nope"}"#).unwrap_err();
        assert!(e.contains("unknown variant `nope`"), "{e}");
        let r = request(r#"{"service":"rtc","channel":"c","uid":1,"role":1}"#).unwrap();
        assert_eq!(r.role(), Some(Role::Publisher));
    }

    #[test]
    fn every_request_builds_its_service() {
        let app = AppId::new("970CA35de60c44645bbae8a215061b33").unwrap();
        let cert = AppCertificate::new("5CFd2fd1755d40ecb72977518be15d3b").unwrap();
        let options = RequestOptions {
            version: Version::V007,
            expiry: Some(Expiry::from(Duration::from_secs(600))),
            issued_at: Some(UnixTime::from_secs(1_700_000_000)),
            salt: Some(1),
            unchecked: false,
        };
        let cases = [
            (r#"{"service":"rtc","channel":"c","uid":1}"#, 1),
            (r#"{"service":"rtm","user_id":"u"}"#, 2),
            (r#"{"service":"rtm2","user_id":"u","permissions":["stream_channels:read:chan-*"]}"#, 8),
            (r#"{"service":"chat","user_id":"u"}"#, 5),
            (r#"{"service":"chat_app"}"#, 5),
            (r#"{"service":"fpa"}"#, 4),
            (r#"{"service":"apaas","room_uuid":"r","user_uuid":"u","apaas_role":2}"#, 7),
            (r#"{"service":"apaas_user","user_uuid":"u"}"#, 7),
            (r#"{"service":"apaas_app"}"#, 7),
            (r#"{"service":"streaming","channel":"c","account":"a","privileges":["publish_mix_stream"]}"#, 3),
            (r#"{"service":"fcdn","channel":"c","account":"a","privileges":["play"]}"#, 6),
            (r#"{"service":"convoai","channel":"c","uid":1,"rtm_user_id":"agent"}"#, 9),
            (r#"{"service":"stt","channel":"c","uid":1,"rtm_user_id":"agent"}"#, 10),
        ];
        assert_eq!(cases.len(), Request::INFO.len(), "a case per request");
        for (json, code) in cases {
            let r = request(json).unwrap();
            let BuiltToken::V007(t) = r.build(&app, &cert, &options).unwrap() else { panic!("007") };
            assert!(t.services.iter().any(|s| s.type_code() == code), "{json}: {:?}", t.services);
        }
        // 006 only where the format has the service.
        let v006 = RequestOptions { version: Version::V006, ..options };
        let built = request(r#"{"service":"rtc","channel":"c","uid":1}"#).unwrap().build(&app, &cert, &v006).unwrap();
        assert!(matches!(built, BuiltToken::V006(t) if t.channel_name == "c" && t.uid == "1"));
        let e = request(r#"{"service":"chat","user_id":"u"}"#).unwrap().build(&app, &cert, &v006).unwrap_err();
        assert!(e.to_string().contains("only as 007"), "{e}");
        let e = request(r#"{"service":"rtc","channel":"c","uid":1,"account":"a"}"#)
            .unwrap()
            .build(&app, &cert, &options)
            .unwrap_err();
        assert!(e.to_string().contains("not both"), "{e}");
        let e = request(r#"{"service":"fcdn","channel":"c","account":"a","privileges":["fly"]}"#)
            .unwrap()
            .build(&app, &cert, &options)
            .unwrap_err();
        assert!(e.to_string().contains("publish or play"), "{e}");
        let _ = Service::empty; // the structure form covers what builders do not
    }

    #[test]
    fn lifetimes_take_seconds_or_unlimited_and_the_server_bounds_the_seconds() {
        let r = request(
            r#"{"service":"rtc","channel":"c","uid":1,"join_expire":"unlimited","publish_audio_expire":60,
                "rtm_user_id":"u","rtm_login_expire":5000000000}"#,
        )
        .unwrap();
        assert_eq!(r.lifetimes(), [("publish_audio_expire", 60), ("rtm_login_expire", u32::MAX)]);
        let e = request(r#"{"service":"rtc","channel":"c","uid":1,"join_expire":"forever"}"#).unwrap_err();
        assert!(e.contains("\"unlimited\""), "{e}");
        let app = AppId::new("970CA35de60c44645bbae8a215061b33").unwrap();
        let cert = AppCertificate::new("5CFd2fd1755d40ecb72977518be15d3b").unwrap();
        let options = RequestOptions {
            version: Version::V007,
            expiry: Some(Expiry::from(Duration::from_secs(600))),
            issued_at: Some(UnixTime::from_secs(1_700_000_000)),
            salt: Some(1),
            unchecked: false,
        };
        let r = request(r#"{"service":"rtc","channel":"c","uid":1,"role":"publisher","join_expire":"unlimited","publish_audio_expire":60}"#)
            .unwrap();
        let BuiltToken::V007(t) = r.build(&app, &cert, &options).unwrap() else { panic!("007") };
        let rtc = t.services.iter().find(|s| s.type_code() == 1).unwrap();
        let privileges: Vec<(u16, u32)> = rtc.privileges().iter().map(|(k, v)| (*k, *v)).collect();
        assert!(privileges.contains(&(1, 0)) && privileges.contains(&(2, 60)), "{privileges:?}");
        let e = request(r#"{"service":"rtc","channel":"c","uid":1,"rtm_login_expire":60}"#)
            .unwrap()
            .build(&app, &cert, &options)
            .unwrap_err();
        assert!(e.to_string().contains("RTM user"), "{e}");
    }

    #[test]
    fn unchecked_skips_agoras_input_rules() {
        let app = AppId::new("970CA35de60c44645bbae8a215061b33").unwrap();
        let cert = AppCertificate::new("5CFd2fd1755d40ecb72977518be15d3b").unwrap();
        let mut options = RequestOptions {
            version: Version::V007,
            expiry: Some(Expiry::from(Duration::from_secs(600))),
            issued_at: Some(UnixTime::from_secs(1_700_000_000)),
            salt: Some(1),
            unchecked: false,
        };
        let r = request(r#"{"service":"rtc","channel":"a/b","uid":1}"#).unwrap();
        assert!(r.build(&app, &cert, &options).is_err(), "a channel with / breaks Agora's rules");
        options.unchecked = true;
        assert!(r.build(&app, &cert, &options).is_ok(), "unchecked builds it");
    }

    #[test]
    fn values_carry_both_spellings() {
        let streaming = Request::INFO.iter().find(|i| i.service == "streaming").unwrap();
        let privileges = streaming.fields.iter().find(|f| f.name == "privileges").unwrap();
        for v in privileges.values {
            assert!(StreamingPrivilege::from_name(v.name).is_some(), "{}", v.name);
        }
        assert!(privileges.values.iter().any(|v| v.flag == "publish-mix" && v.name == "publish_mix_stream"));
        let fcdn = Request::INFO.iter().find(|i| i.service == "fcdn").unwrap();
        for v in fcdn.fields.iter().find(|f| f.name == "privileges").unwrap().values {
            assert!(FcdnPrivilege::from_name(v.name).is_some(), "{}", v.name);
        }
        // Every role field has the role values; each builds as a JSON role.
        for info in Request::INFO {
            for f in info.fields.iter().filter(|f| f.ty == FieldType::Role) {
                assert_eq!(f.values.len(), ROLE_VALUES.len(), "{}", info.service);
                assert_eq!(f.flag_default, Some("publisher"), "{}", info.service);
            }
        }
        for v in ROLE_VALUES {
            let json = format!(r#"{{"service":"rtc","channel":"c","uid":1,"role":"{}"}}"#, v.name);
            assert!(request(&json).is_ok(), "{}", v.name);
        }
        assert!(ROLE_VALUES.iter().filter(|v| v.v006_only).all(|v| v.name == "publisher"));
    }
}
