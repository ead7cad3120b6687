//! RTM tokens (signalling / real-time messaging): RTM, RTM 2 with permissions, and 006.

use std::collections::BTreeMap;

use super::{common_options, Common};
use crate::error::{Error, Result};
use crate::ids::{AppCertificate, AppId};
use crate::v006::{AccessToken006, Privilege006};
use crate::v007::{AccessToken2, Privileges, Rtm2Permissions, RtmPrivilege, Service};
use crate::validate;

/// RTM tokens.
pub struct RtmToken;

impl RtmToken {
    /// A builder for an RTM login token of `user_id`.
    pub fn builder<'a>(
        app_id: &'a AppId,
        certificate: &'a AppCertificate,
        user_id: impl Into<String>,
    ) -> RtmTokenBuilder<'a> {
        RtmTokenBuilder { common: Common::new(app_id, certificate), user_id: user_id.into(), permissions: None }
    }
}

/// Builds an RTM token: login valid as long as the token. See [`crate::build`] for the
/// shared options.
#[must_use]
pub struct RtmTokenBuilder<'a> {
    common: Common<'a>,
    user_id: String,
    permissions: Option<Rtm2Permissions>,
}

impl<'a> RtmTokenBuilder<'a> {
    common_options!();

    /// Makes an RTM 2 service (type 8) with this permission table, as the official
    /// `buildTokenWithPermissions` does.
    pub fn permissions(mut self, permissions: Rtm2Permissions) -> Self {
        self.permissions = Some(permissions);
        self
    }

    fn check_user(&self) -> Result<()> {
        self.common.check(|| validate::rtm_user_id("user_id", &self.user_id))
    }

    /// The 007 structure.
    pub fn build_token(&self) -> Result<AccessToken2> {
        self.check_user()?;
        let (issued_at, salt) = self.common.stamp();
        let login = self.common.expiry.relative_to(issued_at, "expire")?;
        let privileges = Privileges::from([(RtmPrivilege::Login.id(), login)]);
        let service = match &self.permissions {
            None => Service::Rtm { user_id: self.user_id.clone(), privileges },
            Some(p) => Service::Rtm2 { user_id: self.user_id.clone(), privileges, permissions: p.clone() },
        };
        self.common.token(issued_at, salt, &[], vec![service])
    }

    /// Builds the 007 token.
    pub fn build(&self) -> Result<String> {
        self.common.encode(&self.build_token()?)
    }

    /// The 006 structure: the user id in the channel position, uid `""`, privilege 1000.
    pub fn build_token_v006(&self) -> Result<AccessToken006> {
        self.check_user()?;
        if self.permissions.is_some() {
            return Err(Error::invalid("permissions", "RTM 2 permissions exist only in 007 tokens", ""));
        }
        let (issued_at, salt) = self.common.stamp();
        let expiry = self.common.expiry;
        let privileges = BTreeMap::from([(Privilege006::RtmLogin.id(), expiry.absolute_from(issued_at, "expire")?)]);
        self.common.token_v006(issued_at, salt, &[("expire", expiry)], self.user_id.clone(), String::new(), privileges)
    }

    /// Builds the legacy 006 token.
    pub fn build_v006(&self) -> Result<String> {
        self.build_token_v006()?.encode(self.common.certificate())
    }
}
