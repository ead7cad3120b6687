//! Builder-style requests: **one typed request per kind of token**, declared once, with its
//! fields, their types and docs. A token server reads a [`Request`] from its API's JSON (serde),
//! documents it from [`Request::INFO`] (names, types, docs: data, no web dependency here), and
//! builds it with [`Request::build`]: the server has no per-service code.
//!
//! Each request also names its subcommand and flags on the command line
//! ([`RequestInfo::command`], [`FieldInfo::flag`]); the CLI's tests hold it to them.
//!
//! Adding a kind of token is one entry in the `requests!` list below plus its arm in
//! [`Request::build`] (the compiler points at the missing arm), and its subcommand in the CLI
//! (which does not yet derive its subcommands from this list).

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
}

/// One field of a request.
#[derive(Clone, Copy, Debug)]
pub struct FieldInfo {
    /// Its name in JSON.
    pub name: &'static str,
    /// Its flag on the command line (without `--`): `agtoken chat user --user alice`.
    pub flag: &'static str,
    /// Its type.
    pub ty: FieldType,
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
        $variant:ident($request:ident) $service:literal cli: [$($command:literal),+] v006: $v006:literal {
            $( $(#[doc = $fdoc:literal])* $field:ident($flag:literal): $req:ident [$($ty:tt)+] ),* $(,)?
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
                    doc: concat!($($doc),*),
                    v006: $v006,
                    fields: &[ $( FieldInfo {
                        name: stringify!($field),
                        flag: $flag,
                        ty: field_type!($($ty)+),
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
        /// The channel name; `*` patterns are allowed.
        channel("channel"): required [String],
        /// The integer uid (0 admits any user); or give `account`.
        uid("uid"): optional [u32],
        /// The string user account; or give `uid`.
        account("account"): optional [String],
        /// The role (default subscriber: join only).
        role("role"): optional [RequestRole],
        /// Seconds the privileges last, when shorter than `expire`.
        privilege_expire("privileges-valid-for"): optional [u32],
        /// Also grant RTM login to this user id (007 only).
        rtm_user_id("with-rtm"): optional [String],
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
    Apaas(ApaasRequest) "apaas" cli: ["apaas", "room-user"] v006: false {
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
    ApaasUser(ApaasUserRequest) "apaas_user" cli: ["apaas", "user"] v006: false {
        /// The user.
        user_uuid("user"): required [String],
    }
    /// APaaS / Education: the app.
    ApaasApp(ApaasAppRequest) "apaas_app" cli: ["apaas", "app"] v006: false {}
    /// Media streaming for one channel and account.
    Streaming(StreamingRequest) "streaming" cli: ["streaming"] v006: false {
        /// The channel name.
        channel("channel"): required [String],
        /// The account.
        account("account"): required [String],
        /// `publish_mix_stream` and/or `publish_raw_stream`.
        privileges("privilege"): required [Vec<String>],
    }
    /// FCDN for one channel and account.
    Fcdn(FcdnRequest) "fcdn" cli: ["fcdn"] v006: false {
        /// The channel name.
        channel("channel"): required [String],
        /// The account.
        account("account"): required [String],
        /// `publish` and/or `play`.
        privileges("privilege"): required [Vec<String>],
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
        role("role"): optional [RequestRole],
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
        role("role"): optional [RequestRole],
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
    /// When the token ends.
    pub expiry: Expiry,
    /// Issue time (default: now).
    pub issued_at: Option<UnixTime>,
    /// Salt (default: random).
    pub salt: Option<u32>,
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
        let mut b = $builder.expires(o.expiry);
        if let Some(at) = o.issued_at {
            b = b.issued_at(at);
        }
        if let Some(salt) = o.salt {
            b = b.salt(salt);
        }
        b
    }};
}

impl Request {
    /// The lifetimes (seconds) the request names besides `expire`, by field: a server bounds
    /// them like `expire`.
    pub fn lifetimes(&self) -> Vec<(&'static str, u32)> {
        match self {
            Request::Rtc(r) => r.privilege_expire.map(|p| ("privilege_expire", p)).into_iter().collect(),
            _ => Vec::new(),
        }
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
        let secs = |s: u32| Duration::from_secs(u64::from(s));
        let token = match self {
            Request::Rtc(r) => {
                let mut b = RtcToken::builder(app_id, certificate)
                    .channel(&r.channel)
                    .uid(uid_of(r.uid, &r.account)?)
                    .role(self.role().unwrap_or(Role::Subscriber));
                if let Some(p) = r.privilege_expire {
                    b = b.privileges_expire(secs(p));
                }
                if let Some(user) = &r.rtm_user_id {
                    if v006 {
                        return Err(Error::invalid("rtm_user_id", "a 006 token holds only RTC privileges", user));
                    }
                    b = b.with_rtm(user, None);
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
            expiry: Expiry::from(Duration::from_secs(600)),
            issued_at: Some(UnixTime::from_secs(1_700_000_000)),
            salt: Some(1),
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
}
