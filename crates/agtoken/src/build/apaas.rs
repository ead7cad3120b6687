//! APaaS / Flexible Classroom ("Education") tokens.

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
    /// A room-user token: APaaS(room, user, role) without privileges, RTM login for the user,
    /// and Chat user privilege for the lower-case hex MD5 of the user uuid, as the reference does.
    /// A role of 0 is stored as -1, as the reference does.
    pub fn room_user<'a>(
        app_id: &'a AppId,
        certificate: &'a AppCertificate,
        room_uuid: impl Into<String>,
        user_uuid: impl Into<String>,
        role: i16,
    ) -> ApaasTokenBuilder<'a> {
        let kind = Kind::RoomUser { room_uuid: room_uuid.into(), user_uuid: user_uuid.into(), role };
        ApaasTokenBuilder { common: Common::new(app_id, certificate), kind }
    }

    /// A user token: APaaS user privilege.
    pub fn user<'a>(
        app_id: &'a AppId,
        certificate: &'a AppCertificate,
        user_uuid: impl Into<String>,
    ) -> ApaasTokenBuilder<'a> {
        ApaasTokenBuilder { common: Common::new(app_id, certificate), kind: Kind::User { user_uuid: user_uuid.into() } }
    }

    /// An app token: APaaS app privilege.
    pub fn app<'a>(app_id: &'a AppId, certificate: &'a AppCertificate) -> ApaasTokenBuilder<'a> {
        ApaasTokenBuilder { common: Common::new(app_id, certificate), kind: Kind::App }
    }
}

/// Builds an APaaS token; privileges last as long as the token.
#[must_use]
pub struct ApaasTokenBuilder<'a> {
    common: Common<'a>,
    kind: Kind,
}

fn md5_hex(text: &str) -> String {
    Md5::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

impl<'a> ApaasTokenBuilder<'a> {
    common_options!();

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
                vec![
                    Service::Apaas {
                        room_uuid: room_uuid.clone(),
                        user_uuid: user_uuid.clone(),
                        role: if *role == 0 { -1 } else { *role },
                        privileges: Privileges::new(),
                    },
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
