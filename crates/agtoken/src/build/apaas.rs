//! APaaS / Flexible Classroom ("Education") tokens.
//!
//! The room-user token follows the majority of Agora's official libraries (Go, Python, Java,
//! Kotlin, C++, C#, PHP, Ruby, Dart, Rust, Lua): the APaaS service carries the room-user
//! privilege (1) valid for the token's lifetime, and the role is stored as given. The npm `agora-token`
//! package and the Deno port omit that privilege and store role 0 as -1 (JavaScript's
//! `role || -1`); [`ApaasTokenBuilder::node_compatible`] builds their shape, for byte-equality
//! with tokens made by Node. `crates/agtoken/BUILDERS.md` compares every builder with the
//! official libraries.

use md5::{Digest, Md5};

use super::{common_options, Common};
use crate::error::Result;
use crate::ids::{AppCertificate, AppId};
use crate::v007::{AccessToken2, ApaasPrivilege, ChatPrivilege, Privileges, RtmPrivilege, Service};
use crate::validate;

/// APaaS tokens.
pub struct ApaasToken;

/// Education tokens are APaaS tokens (the official builders share one implementation).
pub type EducationToken = ApaasToken;

enum Kind {
    RoomUser { room_uuid: String, user_uuid: String, role: i16 },
    User { user_uuid: String },
    App,
}

impl ApaasToken {
    /// A room-user token, as the official libraries build it (all but Node's and Deno's):
    /// APaaS(room, user, role) with the room-user privilege, RTM login for the user, and the
    /// Chat user privilege for the lower-case hex MD5 of the user uuid, each valid as long as
    /// the token. The role is stored as given (the official docs number them 0 invisible,
    /// 1 teacher, 2 student, 3 assistant, 4 observer). [`ApaasTokenBuilder::node_compatible`]
    /// gives the npm package's shape instead.
    pub fn room_user<'a>(
        app_id: &'a AppId,
        certificate: &'a AppCertificate,
        room_uuid: impl Into<String>,
        user_uuid: impl Into<String>,
        role: i16,
    ) -> ApaasTokenBuilder<'a> {
        let kind = Kind::RoomUser { room_uuid: room_uuid.into(), user_uuid: user_uuid.into(), role };
        ApaasTokenBuilder::new(app_id, certificate, kind)
    }

    /// A user token: APaaS user privilege.
    pub fn user<'a>(
        app_id: &'a AppId,
        certificate: &'a AppCertificate,
        user_uuid: impl Into<String>,
    ) -> ApaasTokenBuilder<'a> {
        ApaasTokenBuilder::new(app_id, certificate, Kind::User { user_uuid: user_uuid.into() })
    }

    /// An app token: APaaS app privilege.
    pub fn app<'a>(app_id: &'a AppId, certificate: &'a AppCertificate) -> ApaasTokenBuilder<'a> {
        ApaasTokenBuilder::new(app_id, certificate, Kind::App)
    }
}

/// Builds an APaaS token; privileges last as long as the token.
#[must_use]
pub struct ApaasTokenBuilder<'a> {
    common: Common<'a>,
    kind: Kind,
    node_compatible: bool,
}

fn md5_hex(text: &str) -> String {
    base16ct::lower::encode_string(&Md5::digest(text.as_bytes()))
}

impl<'a> ApaasTokenBuilder<'a> {
    common_options!();

    fn new(app_id: &'a AppId, certificate: &'a AppCertificate, kind: Kind) -> Self {
        ApaasTokenBuilder { common: Common::new(app_id, certificate), kind, node_compatible: false }
    }

    /// Builds the room-user token as the npm `agora-token` package (and the Deno port) does,
    /// for byte-equality with tokens made by Node: the APaaS service without the room-user
    /// privilege, and role 0 stored as -1. The other official libraries, and this builder by
    /// default, grant the privilege and keep role 0. No effect on user and app tokens, which
    /// every official library builds alike.
    pub fn node_compatible(mut self) -> Self {
        self.node_compatible = true;
        self
    }

    /// The 007 structure.
    pub fn build_token(&self) -> Result<AccessToken2> {
        let (issued_at, salt) = self.common.stamp();
        let value = self.common.expiry.relative_to(issued_at, "expire")?;
        let one = |id: u16| Privileges::from([(id, value)]);
        let services = match &self.kind {
            Kind::RoomUser { room_uuid, user_uuid, role } => {
                self.common.check(|| {
                    validate::chat_user_id("room_uuid", room_uuid)?;
                    validate::rtm_user_id("user_uuid", user_uuid)
                })?;
                let (role, privileges) = if self.node_compatible {
                    // npm: `new ServiceApaas(room, user, role)` with `role || -1`, no privilege.
                    (if *role == 0 { -1 } else { *role }, Privileges::new())
                } else {
                    (*role, one(ApaasPrivilege::RoomUser.id()))
                };
                vec![
                    Service::Apaas { room_uuid: room_uuid.clone(), user_uuid: user_uuid.clone(), role, privileges },
                    Service::Rtm { user_id: user_uuid.clone(), privileges: one(RtmPrivilege::Login.id()) },
                    Service::Chat { user_id: md5_hex(user_uuid), privileges: one(ChatPrivilege::User.id()) },
                ]
            }
            Kind::User { user_uuid } => {
                self.common.check(|| validate::chat_user_id("user_uuid", user_uuid))?;
                vec![Service::Apaas {
                    room_uuid: String::new(),
                    user_uuid: user_uuid.clone(),
                    role: -1,
                    privileges: one(ApaasPrivilege::User.id()),
                }]
            }
            Kind::App => vec![Service::Apaas {
                room_uuid: String::new(),
                user_uuid: String::new(),
                role: -1,
                privileges: one(ApaasPrivilege::App.id()),
            }],
        };
        self.common.token(issued_at, salt, &[], services)
    }

    /// Builds the 007 token.
    pub fn build(&self) -> Result<String> {
        self.common.encode(&self.build_token()?)
    }
}
