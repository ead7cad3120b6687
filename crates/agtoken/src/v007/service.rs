//! The services of an AccessToken2, typed.

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::wire::{Put, Reader};

/// Privileges of one service: privilege id → value (007: seconds after issue, `0` = no
/// limit of its own). Kept sorted by id, as the format packs them.
pub type Privileges = BTreeMap<u16, u32>;

privilege_enum!(
    /// Privileges of the RTC service (type 1).
    RtcPrivilege {
        /// Join the channel.
        JoinChannel = 1 => "join_channel",
        /// Publish an audio stream.
        PublishAudioStream = 2 => "publish_audio_stream",
        /// Publish a video stream.
        PublishVideoStream = 3 => "publish_video_stream",
        /// Publish a data stream.
        PublishDataStream = 4 => "publish_data_stream",
    }
);

privilege_enum!(
    /// Privileges of the RTM (type 2) and RTM2 (type 8) services.
    RtmPrivilege {
        /// Log in.
        Login = 1 => "login",
    }
);

privilege_enum!(
    /// Privileges of the Streaming service (type 3).
    StreamingPrivilege {
        /// Publish a mixed stream.
        PublishMixStream = 1 => "publish_mix_stream",
        /// Publish a raw stream.
        PublishRawStream = 2 => "publish_raw_stream",
    }
);

privilege_enum!(
    /// Privileges of the FPA service (type 4).
    FpaPrivilege {
        /// Log in.
        Login = 1 => "login",
    }
);

privilege_enum!(
    /// Privileges of the Chat service (type 5).
    ChatPrivilege {
        /// Act as one chat user.
        User = 1 => "user",
        /// Act as the app (server side).
        App = 2 => "app",
    }
);

privilege_enum!(
    /// Privileges of the FCDN service (type 6).
    FcdnPrivilege {
        /// Publish.
        Publish = 1 => "publish",
        /// Play.
        Play = 2 => "play",
    }
);

privilege_enum!(
    /// Privileges of the APaaS / Education service (type 7).
    ApaasPrivilege {
        /// A user in one room.
        RoomUser = 1 => "room_user",
        /// A user.
        User = 2 => "user",
        /// The app.
        App = 3 => "app",
    }
);

/// The type numbers of the services the format defines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ServiceType {
    /// 1: real-time audio and video.
    Rtc = 1,
    /// 2: real-time messaging (also used by RTM 2 builders without permissions).
    Rtm = 2,
    /// 3: media streaming.
    Streaming = 3,
    /// 4: full-path acceleration.
    Fpa = 4,
    /// 5: Agora Chat.
    Chat = 5,
    /// 6: FCDN.
    Fcdn = 6,
    /// 7: APaaS / Flexible Classroom (Education).
    Apaas = 7,
    /// 8: RTM 2 with a permission table.
    Rtm2 = 8,
    /// 9: conversational AI agent.
    ConvoAi = 9,
    /// 10: speech-to-text agent.
    Stt = 10,
}

impl ServiceType {
    /// Every known type, ascending.
    pub const ALL: [ServiceType; 10] = [
        ServiceType::Rtc,
        ServiceType::Rtm,
        ServiceType::Streaming,
        ServiceType::Fpa,
        ServiceType::Chat,
        ServiceType::Fcdn,
        ServiceType::Apaas,
        ServiceType::Rtm2,
        ServiceType::ConvoAi,
        ServiceType::Stt,
    ];

    /// The number the format stores.
    pub const fn code(self) -> u16 {
        self as u16
    }

    /// The type with this number.
    pub fn from_code(code: u16) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.code() == code)
    }

    /// The name used in JSON (`"rtc"`, `"rtm2"`, …).
    pub const fn name(self) -> &'static str {
        match self {
            ServiceType::Rtc => "rtc",
            ServiceType::Rtm => "rtm",
            ServiceType::Streaming => "streaming",
            ServiceType::Fpa => "fpa",
            ServiceType::Chat => "chat",
            ServiceType::Fcdn => "fcdn",
            ServiceType::Apaas => "apaas",
            ServiceType::Rtm2 => "rtm2",
            ServiceType::ConvoAi => "convoai",
            ServiceType::Stt => "stt",
        }
    }

    /// The type with this JSON name (`"education"` is accepted for APaaS).
    pub fn from_name(name: &str) -> Option<Self> {
        if name.eq_ignore_ascii_case("education") {
            return Some(ServiceType::Apaas);
        }
        Self::ALL.into_iter().find(|t| t.name().eq_ignore_ascii_case(name))
    }

    /// The name of this service's app-level grants (`chat_app`, `apaas_app`), for the services
    /// that have app-level privileges: a token server's rules allow them apart from user grants.
    pub const fn app_class(self) -> Option<&'static str> {
        match self {
            ServiceType::Chat => Some("chat_app"),
            ServiceType::Apaas => Some("apaas_app"),
            _ => None,
        }
    }

    /// The name of privilege `id` of this service, when the service defines it.
    pub fn privilege_name(self, id: u16) -> Option<&'static str> {
        match self {
            ServiceType::Rtc => RtcPrivilege::from_id(id).map(RtcPrivilege::name),
            ServiceType::Rtm | ServiceType::Rtm2 => RtmPrivilege::from_id(id).map(RtmPrivilege::name),
            ServiceType::Streaming => StreamingPrivilege::from_id(id).map(StreamingPrivilege::name),
            ServiceType::Fpa => FpaPrivilege::from_id(id).map(FpaPrivilege::name),
            ServiceType::Chat => ChatPrivilege::from_id(id).map(ChatPrivilege::name),
            ServiceType::Fcdn => FcdnPrivilege::from_id(id).map(FcdnPrivilege::name),
            ServiceType::Apaas => ApaasPrivilege::from_id(id).map(ApaasPrivilege::name),
            ServiceType::ConvoAi | ServiceType::Stt => None,
        }
    }
}

/// RTM 2 resource types of the permission table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Rtm2Resource {
    /// 0: message channels.
    MessageChannels = 0,
    /// 1: stream channels.
    StreamChannels = 1,
    /// 2: group channels.
    GroupChannels = 2,
    /// 3: server groups.
    ServerGroups = 3,
    /// 4: users.
    Users = 4,
}

impl Rtm2Resource {
    /// Every resource type.
    pub const ALL: [Rtm2Resource; 5] = [
        Rtm2Resource::MessageChannels,
        Rtm2Resource::StreamChannels,
        Rtm2Resource::GroupChannels,
        Rtm2Resource::ServerGroups,
        Rtm2Resource::Users,
    ];
    /// The number the format stores.
    pub const fn code(self) -> u16 {
        self as u16
    }
    /// The name used on the command line (`message_channels`, …).
    pub const fn name(self) -> &'static str {
        match self {
            Rtm2Resource::MessageChannels => "message_channels",
            Rtm2Resource::StreamChannels => "stream_channels",
            Rtm2Resource::GroupChannels => "group_channels",
            Rtm2Resource::ServerGroups => "server_groups",
            Rtm2Resource::Users => "users",
        }
    }
    /// The resource type with this name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.name() == name)
    }
}

/// RTM 2 permission types of the permission table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rtm2Permission {
    /// 0: read.
    Read = 0,
    /// 1: write.
    Write = 1,
}

impl Rtm2Permission {
    /// The number the format stores.
    pub const fn code(self) -> u16 {
        self as u16
    }
    /// `read` or `write`.
    pub const fn name(self) -> &'static str {
        match self {
            Rtm2Permission::Read => "read",
            Rtm2Permission::Write => "write",
        }
    }
    /// The permission with this name.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "read" => Some(Rtm2Permission::Read),
            "write" => Some(Rtm2Permission::Write),
            _ => None,
        }
    }
}

/// The RTM 2 permission table: resource type → permission type → resources (patterns), each
/// level sorted by number, resources in insertion order. Numbers are kept raw so that any
/// table the format can hold survives a parse and rebuild.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rtm2Permissions(pub BTreeMap<u16, BTreeMap<u16, Vec<String>>>);

impl Rtm2Permissions {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Grants `permission` on `resources` of `resource`. As in the reference, a later call for
    /// the same pair replaces the earlier list.
    pub fn add(&mut self, resource: Rtm2Resource, permission: Rtm2Permission, resources: Vec<String>) -> &mut Self {
        self.0.entry(resource.code()).or_default().insert(permission.code(), resources);
        self
    }

    /// Adds one entry written `RESOURCE:PERMISSION:ITEM[,ITEM…]` (e.g.
    /// `stream_channels:read:chan-*`), as the CLI's `--permission` and the server's `permissions`
    /// take it.
    pub fn add_entry(&mut self, entry: &str) -> Result<&mut Self> {
        let mut parts = entry.splitn(3, ':');
        let (Some(resource), Some(permission), Some(items)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(Error::invalid("permissions", "each entry is RESOURCE:PERMISSION:ITEM[,ITEM…]", entry));
        };
        let resource = Rtm2Resource::from_name(resource).ok_or_else(|| {
            Error::invalid(
                "permissions",
                "unknown resource (message_channels, stream_channels, group_channels, server_groups, users)",
                entry,
            )
        })?;
        let permission = Rtm2Permission::from_name(permission)
            .ok_or_else(|| Error::invalid("permissions", "unknown permission (read, write)", entry))?;
        Ok(self.add(resource, permission, items.split(',').map(str::to_owned).collect()))
    }

    fn encode(&self, out: &mut Vec<u8>) -> Result<()> {
        let count = |n: usize| u16::try_from(n).map_err(|_| Error::TooLong { field: "permissions", len: n });
        out.put_u16(count(self.0.len())?);
        for (&resource, perms) in &self.0 {
            out.put_u16(resource);
            out.put_u16(count(perms.len())?);
            for (&perm, list) in perms {
                out.put_u16(perm);
                out.put_u16(count(list.len())?);
                for item in list {
                    out.put_bytes("permissions", item.as_bytes())?;
                }
            }
        }
        Ok(())
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        let mut table = BTreeMap::new();
        let types = r.u16("permissions")?;
        for _ in 0..types {
            let resource = r.u16("permissions")?;
            let mut perms = BTreeMap::new();
            for _ in 0..r.u16("permissions")? {
                let perm = r.u16("permissions")?;
                let n = r.u16("permissions")? as usize;
                // Every resource takes at least its 2-byte length.
                if n * 2 > r.remaining() {
                    return Err(Error::truncated("permissions", r.position(), n * 2, r.remaining()));
                }
                let mut list = Vec::with_capacity(n);
                for _ in 0..n {
                    list.push(r.string("permissions")?);
                }
                if perms.insert(perm, list).is_some() {
                    return Err(Error::Malformed { field: "permissions", rule: "a permission type appears twice" });
                }
            }
            if table.insert(resource, perms).is_some() {
                return Err(Error::Malformed { field: "permissions", rule: "a resource type appears twice" });
            }
        }
        Ok(Rtm2Permissions(table))
    }
}

/// One service of an AccessToken2.
///
/// This is the low-level form: it holds whatever the format can (any privilege id, any
/// string), so that every token can be parsed and rebuilt. The builders decide what is
/// sensible.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Service {
    /// Type 1: RTC.
    Rtc {
        /// Channel name (or pattern; `""`/`"*"` = any).
        channel_name: String,
        /// The packed user: `""` for any, decimal digits for an integer uid, or the account.
        uid: String,
        /// Privileges.
        privileges: Privileges,
    },
    /// Type 2: RTM.
    Rtm {
        /// User id.
        user_id: String,
        /// Privileges.
        privileges: Privileges,
    },
    /// Type 3: Streaming.
    Streaming {
        /// Channel name.
        channel_name: String,
        /// Account.
        account: String,
        /// Privileges.
        privileges: Privileges,
    },
    /// Type 4: FPA.
    Fpa {
        /// Privileges.
        privileges: Privileges,
    },
    /// Type 5: Chat.
    Chat {
        /// User id (`""` for an app token).
        user_id: String,
        /// Privileges.
        privileges: Privileges,
    },
    /// Type 6: FCDN.
    Fcdn {
        /// Channel name.
        channel_name: String,
        /// Account.
        account: String,
        /// Privileges.
        privileges: Privileges,
    },
    /// Type 7: APaaS / Education.
    Apaas {
        /// Room uuid.
        room_uuid: String,
        /// User uuid.
        user_uuid: String,
        /// Role (-1 in user and app tokens; the npm builders also store a room-user role 0 as -1).
        role: i16,
        /// Privileges.
        privileges: Privileges,
    },
    /// Type 8: RTM 2 with permissions.
    Rtm2 {
        /// User id.
        user_id: String,
        /// Privileges.
        privileges: Privileges,
        /// Permission table.
        permissions: Rtm2Permissions,
    },
    /// Type 9: conversational AI agent.
    ConvoAi {
        /// Privileges.
        privileges: Privileges,
    },
    /// Type 10: speech-to-text agent.
    Stt {
        /// Privileges.
        privileges: Privileges,
    },
    /// A service type this library does not know. The format has no per-service length, so
    /// nothing after it can be read: it keeps the type and every remaining byte, and the
    /// number of services the header still declared (this one included), so that the token
    /// re-encodes to the same bytes.
    Unknown {
        /// The type number.
        service_type: u16,
        /// The bytes after the type number, to the end of the content.
        remaining: Vec<u8>,
        /// How many services the header declared from this one on.
        declared_services: u16,
    },
}

/// How a service prints (`agtoken inspect`): its name and type, then its fields, e.g.
/// `RTC (type 1)  channel "room-1"  uid "42"`; an RTM 2 permission table adds a line per entry.
impl std::fmt::Display for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = self.service_type().map_or("UNKNOWN", ServiceType::name).to_uppercase();
        write!(f, "{name} (type {})  ", self.type_code())?;
        match self {
            Service::Rtc { channel_name, uid, .. } => {
                write!(f, "channel {channel_name:?}  uid {uid:?}{}", if uid.is_empty() { " (any)" } else { "" })
            }
            Service::Rtm { user_id, .. } | Service::Chat { user_id, .. } => write!(f, "user {user_id:?}"),
            Service::Streaming { channel_name, account, .. } | Service::Fcdn { channel_name, account, .. } => {
                write!(f, "channel {channel_name:?}  account {account:?}")
            }
            Service::Apaas { room_uuid, user_uuid, role, .. } => {
                write!(f, "room {room_uuid:?}  user {user_uuid:?}  role {role}")
            }
            Service::Rtm2 { user_id, permissions, .. } => {
                write!(f, "user {user_id:?}")?;
                for (&resource, perms) in &permissions.0 {
                    let rn = Rtm2Resource::ALL.iter().find(|x| x.code() == resource).map_or("?", |x| x.name());
                    for (&permission, list) in perms {
                        let pn = [Rtm2Permission::Read, Rtm2Permission::Write]
                            .iter()
                            .find(|p| p.code() == permission)
                            .map_or("?", |p| p.name());
                        write!(f, "\n    permission {rn}({resource}):{pn}({permission}) {list:?}")?;
                    }
                }
                Ok(())
            }
            Service::Unknown { remaining, declared_services, .. } => write!(
                f,
                "type {} is unknown to this tool: {} bytes kept unread, {} service(s) declared from here",
                self.type_code(),
                remaining.len(),
                declared_services
            ),
            Service::Fpa { .. } | Service::ConvoAi { .. } | Service::Stt { .. } => Ok(()),
        }
    }
}

impl Service {
    /// The type number.
    pub fn type_code(&self) -> u16 {
        match self {
            Service::Unknown { service_type, .. } => *service_type,
            other => other.service_type().map(ServiceType::code).unwrap_or_default(),
        }
    }

    /// The known type (`None` for [`Service::Unknown`]).
    pub fn service_type(&self) -> Option<ServiceType> {
        Some(match self {
            Service::Rtc { .. } => ServiceType::Rtc,
            Service::Rtm { .. } => ServiceType::Rtm,
            Service::Streaming { .. } => ServiceType::Streaming,
            Service::Fpa { .. } => ServiceType::Fpa,
            Service::Chat { .. } => ServiceType::Chat,
            Service::Fcdn { .. } => ServiceType::Fcdn,
            Service::Apaas { .. } => ServiceType::Apaas,
            Service::Rtm2 { .. } => ServiceType::Rtm2,
            Service::ConvoAi { .. } => ServiceType::ConvoAi,
            Service::Stt { .. } => ServiceType::Stt,
            Service::Unknown { .. } => return None,
        })
    }

    /// The privileges (empty for an unknown service).
    pub fn privileges(&self) -> &Privileges {
        static EMPTY: Privileges = BTreeMap::new();
        match self {
            Service::Rtc { privileges, .. }
            | Service::Rtm { privileges, .. }
            | Service::Streaming { privileges, .. }
            | Service::Fpa { privileges }
            | Service::Chat { privileges, .. }
            | Service::Fcdn { privileges, .. }
            | Service::Apaas { privileges, .. }
            | Service::Rtm2 { privileges, .. }
            | Service::ConvoAi { privileges }
            | Service::Stt { privileges } => privileges,
            Service::Unknown { .. } => &EMPTY,
        }
    }

    /// The privileges, mutable (`None` for an unknown service).
    pub fn privileges_mut(&mut self) -> Option<&mut Privileges> {
        match self {
            Service::Rtc { privileges, .. }
            | Service::Rtm { privileges, .. }
            | Service::Streaming { privileges, .. }
            | Service::Fpa { privileges }
            | Service::Chat { privileges, .. }
            | Service::Fcdn { privileges, .. }
            | Service::Apaas { privileges, .. }
            | Service::Rtm2 { privileges, .. }
            | Service::ConvoAi { privileges }
            | Service::Stt { privileges } => Some(privileges),
            Service::Unknown { .. } => None,
        }
    }

    /// An empty service of a known type, as the raw `add_service` of the reference makes it.
    pub fn empty(service_type: ServiceType) -> Self {
        let p = Privileges::new();
        match service_type {
            ServiceType::Rtc => Service::Rtc { channel_name: String::new(), uid: String::new(), privileges: p },
            ServiceType::Rtm => Service::Rtm { user_id: String::new(), privileges: p },
            ServiceType::Streaming => {
                Service::Streaming { channel_name: String::new(), account: String::new(), privileges: p }
            }
            ServiceType::Fpa => Service::Fpa { privileges: p },
            ServiceType::Chat => Service::Chat { user_id: String::new(), privileges: p },
            ServiceType::Fcdn => Service::Fcdn { channel_name: String::new(), account: String::new(), privileges: p },
            ServiceType::Apaas => {
                Service::Apaas { room_uuid: String::new(), user_uuid: String::new(), role: -1, privileges: p }
            }
            ServiceType::Rtm2 => {
                Service::Rtm2 { user_id: String::new(), privileges: p, permissions: Rtm2Permissions::new() }
            }
            ServiceType::ConvoAi => Service::ConvoAi { privileges: p },
            ServiceType::Stt => Service::Stt { privileges: p },
        }
    }

    pub(crate) fn encode(&self, out: &mut Vec<u8>) -> Result<()> {
        out.put_u16(self.type_code());
        if let Service::Unknown { remaining, .. } = self {
            out.extend_from_slice(remaining);
            return Ok(());
        }
        out.put_privileges("privileges", self.privileges())?;
        match self {
            Service::Rtc { channel_name, uid, .. } => {
                out.put_bytes("channel_name", channel_name.as_bytes())?;
                out.put_bytes("uid", uid.as_bytes())?;
            }
            Service::Rtm { user_id, .. } | Service::Chat { user_id, .. } => {
                out.put_bytes("user_id", user_id.as_bytes())?;
            }
            Service::Streaming { channel_name, account, .. } | Service::Fcdn { channel_name, account, .. } => {
                out.put_bytes("channel_name", channel_name.as_bytes())?;
                out.put_bytes("account", account.as_bytes())?;
            }
            Service::Apaas { room_uuid, user_uuid, role, .. } => {
                out.put_bytes("room_uuid", room_uuid.as_bytes())?;
                out.put_bytes("user_uuid", user_uuid.as_bytes())?;
                out.put_i16(*role);
            }
            Service::Rtm2 { user_id, permissions, .. } => {
                out.put_bytes("user_id", user_id.as_bytes())?;
                permissions.encode(out)?;
            }
            Service::Fpa { .. } | Service::ConvoAi { .. } | Service::Stt { .. } | Service::Unknown { .. } => {}
        }
        Ok(())
    }

    /// Reads one service. `declared` is how many services the header still declares (this
    /// one included), kept by an unknown service.
    pub(crate) fn decode(r: &mut Reader<'_>, declared: u16) -> Result<Self> {
        let code = r.u16("service type")?;
        let Some(kind) = ServiceType::from_code(code) else {
            return Ok(Service::Unknown {
                service_type: code,
                remaining: r.rest().to_vec(),
                declared_services: declared,
            });
        };
        let privileges = r.privileges("privileges")?;
        Ok(match kind {
            ServiceType::Rtc => {
                Service::Rtc { privileges, channel_name: r.string("channel_name")?, uid: r.string("uid")? }
            }
            ServiceType::Rtm => Service::Rtm { privileges, user_id: r.string("user_id")? },
            ServiceType::Streaming => Service::Streaming {
                privileges,
                channel_name: r.string("channel_name")?,
                account: r.string("account")?,
            },
            ServiceType::Fpa => Service::Fpa { privileges },
            ServiceType::Chat => Service::Chat { privileges, user_id: r.string("user_id")? },
            ServiceType::Fcdn => {
                Service::Fcdn { privileges, channel_name: r.string("channel_name")?, account: r.string("account")? }
            }
            ServiceType::Apaas => Service::Apaas {
                privileges,
                room_uuid: r.string("room_uuid")?,
                user_uuid: r.string("user_uuid")?,
                role: r.i16("role")?,
            },
            ServiceType::Rtm2 => {
                Service::Rtm2 { privileges, user_id: r.string("user_id")?, permissions: Rtm2Permissions::decode(r)? }
            }
            ServiceType::ConvoAi => Service::ConvoAi { privileges },
            ServiceType::Stt => Service::Stt { privileges },
        })
    }
}
