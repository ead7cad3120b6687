//! RTC tokens (video and voice calling, live streaming), 007 and 006, optionally with RTM,
//! ConvoAI or STT services.

use std::collections::BTreeMap;

use super::{common_options, Common};
use crate::error::Result;
use crate::ids::{AppCertificate, AppId, Uid};
use crate::time::Expiry;
use crate::v006::{AccessToken006, Privilege006};
use crate::v007::{AccessToken2, Privileges, RtcPrivilege, RtmPrivilege, Service};
use crate::validate;

/// What a user may do in an RTC channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Join and publish audio, video and data streams (role code 1). The default, as in
    /// Agora's docs ("kRolePublisher (1): (Default)").
    Publisher,
    /// Join only (role code 2): an audience member.
    Subscriber,
}

impl Role {
    /// The role code the official builders take.
    pub const fn code(self) -> u32 {
        match self {
            Role::Publisher => 1,
            Role::Subscriber => 2,
        }
    }

    /// The role of a code as the 007 reference reads it: 1 is publisher, anything else
    /// subscriber (join only).
    pub fn from_reference_code(code: u32) -> Self {
        if code == 1 {
            Role::Publisher
        } else {
            Role::Subscriber
        }
    }
}

/// The four roles of the 006 builders. Attendee, publisher and admin all get join and the
/// three publish privileges (admin does **not** get the administrate privilege 101);
/// subscriber gets join only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role006 {
    /// 0 (deprecated).
    Attendee,
    /// 1.
    Publisher,
    /// 2.
    Subscriber,
    /// 101 (deprecated).
    Admin,
}

impl Role006 {
    /// The role code.
    pub const fn code(self) -> u32 {
        match self {
            Role006::Attendee => 0,
            Role006::Publisher => 1,
            Role006::Subscriber => 2,
            Role006::Admin => 101,
        }
    }

    /// The role with this code.
    pub fn from_code(code: u32) -> Option<Self> {
        [Role006::Attendee, Role006::Publisher, Role006::Subscriber, Role006::Admin]
            .into_iter()
            .find(|r| r.code() == code)
    }
}

impl From<Role006> for Role {
    fn from(role: Role006) -> Self {
        match role {
            Role006::Subscriber => Role::Subscriber,
            Role006::Attendee | Role006::Publisher | Role006::Admin => Role::Publisher,
        }
    }
}

/// RTC tokens.
pub struct RtcToken;

impl RtcToken {
    /// A builder for an RTC token of `app_id`, signed with `certificate`.
    pub fn builder<'a>(app_id: &'a AppId, certificate: &'a AppCertificate) -> RtcTokenBuilder<'a> {
        RtcTokenBuilder {
            common: Common::new(app_id, certificate),
            channel: String::new(),
            channel_set: false,
            uid: Uid::Any,
            role: Role::Publisher,
            privileges: None,
            join: None,
            publish: [None; 3],
            rtm: None,
            extra: Vec::new(),
        }
    }
}

/// Builds an RTC token. See [`crate::build`] for the shared options and defaults.
///
/// Privilege expiries: `join` = `join_expires`, else `privileges_expire`, else the token
/// expiry; each publish privilege likewise. A publisher gets join and the three publish
/// privileges, a subscriber join only.
#[must_use]
pub struct RtcTokenBuilder<'a> {
    common: Common<'a>,
    channel: String,
    channel_set: bool,
    uid: Uid,
    role: Role,
    privileges: Option<Expiry>,
    join: Option<Expiry>,
    publish: [Option<Expiry>; 3],
    rtm: Option<(String, Option<Expiry>)>,
    extra: Vec<Service>,
}

impl<'a> RtcTokenBuilder<'a> {
    common_options!();

    /// The channel (required). `""` or `"*"` admits any channel; `*` patterns match runs.
    pub fn channel(mut self, channel: impl Into<String>) -> Self {
        self.channel = channel.into();
        self.channel_set = true;
        self
    }

    /// The user (default: [`Uid::Any`]).
    pub fn uid(mut self, uid: Uid) -> Self {
        self.uid = uid;
        self
    }

    /// The role (default: [`Role::Publisher`], as in Agora's docs; [`Role::Subscriber`] for an
    /// audience member who only joins).
    pub fn role(mut self, role: impl Into<Role>) -> Self {
        self.role = role.into();
        self
    }

    /// The expiry of every privilege not given its own.
    pub fn privileges_expire(mut self, expiry: impl Into<Expiry>) -> Self {
        self.privileges = Some(expiry.into());
        self
    }

    /// The expiry of the join privilege.
    pub fn join_expires(mut self, expiry: impl Into<Expiry>) -> Self {
        self.join = Some(expiry.into());
        self
    }

    /// The expiry of the publish-audio privilege (publishers only).
    pub fn publish_audio_expires(mut self, expiry: impl Into<Expiry>) -> Self {
        self.publish[0] = Some(expiry.into());
        self
    }

    /// The expiry of the publish-video privilege (publishers only).
    pub fn publish_video_expires(mut self, expiry: impl Into<Expiry>) -> Self {
        self.publish[1] = Some(expiry.into());
        self
    }

    /// The expiry of the publish-data-stream privilege (publishers only).
    pub fn publish_data_expires(mut self, expiry: impl Into<Expiry>) -> Self {
        self.publish[2] = Some(expiry.into());
        self
    }

    /// Adds an RTM service for `user_id`, its login valid until `expiry` (default: the
    /// token expiry), as the official `buildTokenWithRtm`/`buildTokenWithRtm2` do.
    pub fn with_rtm(mut self, user_id: impl Into<String>, login_expires: Option<Expiry>) -> Self {
        self.rtm = Some((user_id.into(), login_expires));
        self
    }

    /// Adds a conversational-AI agent service (type 9), as `ConvoAITokenBuilder` does.
    pub fn with_convoai(mut self) -> Self {
        self.extra.push(Service::ConvoAi { privileges: Privileges::new() });
        self
    }

    /// Adds a speech-to-text agent service (type 10), as `SttTokenBuilder` does.
    pub fn with_stt(mut self) -> Self {
        self.extra.push(Service::Stt { privileges: Privileges::new() });
        self
    }

    fn check_identity(&self) -> Result<()> {
        self.common.check(|| {
            if !self.channel_set {
                return Err(crate::Error::Missing { field: "channel".into() });
            }
            validate::channel_name("channel", &self.channel)?;
            if let Uid::Account(account) = &self.uid {
                validate::account("account", account)?;
            }
            if let Some((user_id, _)) = &self.rtm {
                validate::rtm_user_id("rtm_user_id", user_id)?;
            }
            Ok(())
        })
    }

    /// (privilege, expiry) pairs this role gets, in the reference's order.
    fn privilege_plan(&self) -> Vec<(RtcPrivilege, &'static str, Expiry)> {
        let default = self.privileges.unwrap_or(self.common.expiry);
        let mut plan = vec![(RtcPrivilege::JoinChannel, "join_expire", self.join.unwrap_or(default))];
        if self.role == Role::Publisher {
            let names = [
                (RtcPrivilege::PublishAudioStream, "publish_audio_expire"),
                (RtcPrivilege::PublishVideoStream, "publish_video_expire"),
                (RtcPrivilege::PublishDataStream, "publish_data_expire"),
            ];
            for ((privilege, field), expiry) in names.into_iter().zip(self.publish) {
                plan.push((privilege, field, expiry.unwrap_or(default)));
            }
        }
        plan
    }

    /// The 007 structure, before signing.
    pub fn build_token(&self) -> Result<AccessToken2> {
        self.check_identity()?;
        let (issued_at, salt) = self.common.stamp();
        let plan = self.privilege_plan();
        let mut privileges = Privileges::new();
        let mut expiries: Vec<(&'static str, Expiry)> = Vec::with_capacity(5);
        for &(privilege, field, expiry) in &plan {
            privileges.insert(privilege.id(), expiry.relative_to(issued_at, field)?);
            expiries.push((field, expiry));
        }
        let mut services =
            vec![Service::Rtc { channel_name: self.channel.clone(), uid: self.uid.packed().into_owned(), privileges }];
        if let Some((user_id, login)) = &self.rtm {
            let login = login.unwrap_or(self.common.expiry);
            expiries.push(("rtm_login_expire", login));
            let privileges =
                Privileges::from([(RtmPrivilege::Login.id(), login.relative_to(issued_at, "rtm_login_expire")?)]);
            services.push(Service::Rtm { user_id: user_id.clone(), privileges });
        }
        services.extend(self.extra.iter().cloned());
        self.common.token(issued_at, salt, &expiries, services)
    }

    /// Builds the 007 token.
    pub fn build(&self) -> Result<String> {
        let token = self.build_token()?;
        self.common.encode(&token)
    }

    /// The 006 structure, as the legacy builders make it: `ts` = issue time + 24 h,
    /// privilege values absolute. RTM, ConvoAI and STT services do not exist in 006.
    pub fn build_token_v006(&self) -> Result<AccessToken006> {
        self.check_identity()?;
        if self.rtm.is_some() || !self.extra.is_empty() {
            return Err(crate::Error::invalid(
                "services",
                "a 006 RTC token holds only RTC privileges: build RTM, ConvoAI or STT as 007",
                "",
            ));
        }
        let (issued_at, salt) = self.common.stamp();
        let mut privileges = BTreeMap::new();
        let mut expiries = Vec::with_capacity(5);
        for (privilege, field, expiry) in self.privilege_plan() {
            let id = match privilege {
                RtcPrivilege::JoinChannel => Privilege006::JoinChannel,
                RtcPrivilege::PublishAudioStream => Privilege006::PublishAudioStream,
                RtcPrivilege::PublishVideoStream => Privilege006::PublishVideoStream,
                RtcPrivilege::PublishDataStream => Privilege006::PublishDataStream,
            };
            privileges.insert(id.id(), expiry.absolute_from(issued_at, field)?);
            expiries.push((field, expiry));
        }
        let (channel, uid) = (self.channel.clone(), self.uid.packed().into_owned());
        self.common.token_v006(issued_at, salt, &expiries, channel, uid, privileges)
    }

    /// Builds the legacy 006 token.
    pub fn build_v006(&self) -> Result<String> {
        self.build_token_v006()?.encode(self.common.certificate())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Token;

    /// Agora's docs: "kRolePublisher (1): (Default)". Without `.role(…)` a token publishes.
    #[test]
    fn the_default_role_is_publisher_as_in_agoras_docs() {
        let app = AppId::new("970CA35de60c44645bbae8a215061b33").unwrap();
        let cert = AppCertificate::new("5CFd2fd1755d40ecb72977518be15d3b").unwrap();
        let b = RtcToken::builder(&app, &cert).channel("c").uid(Uid::Int(5));
        let Token::V007(t) = Token::parse(&b.build().unwrap()).unwrap() else { panic!("007") };
        let ids: Vec<u16> = t.structure().services[0].privileges().keys().copied().collect();
        assert_eq!(ids, [1, 2, 3, 4]);
        let Token::V006(t) = Token::parse(&b.build_v006().unwrap()).unwrap() else { panic!("006") };
        assert_eq!(t.privileges().keys().copied().collect::<Vec<u16>>(), [1, 2, 3, 4]);
        let b = RtcToken::builder(&app, &cert).channel("c").uid(Uid::Int(5)).role(Role::Subscriber);
        let Token::V007(t) = Token::parse(&b.build().unwrap()).unwrap() else { panic!("007") };
        assert_eq!(t.structure().services[0].privileges().keys().copied().collect::<Vec<u16>>(), [1]);
    }
}
