//! Agora Chat tokens: for one user, or for the app (server-side REST calls).

use super::{common_options, Common};
use crate::error::Result;
use crate::ids::{AppCertificate, AppId};
use crate::v007::{AccessToken2, ChatPrivilege, Privileges, Service};
use crate::validate;

/// Chat tokens.
pub struct ChatToken;

impl ChatToken {
    /// A user token: Chat user privilege for `user_id`.
    pub fn user<'a>(
        app_id: &'a AppId,
        certificate: &'a AppCertificate,
        user_id: impl Into<String>,
    ) -> ChatTokenBuilder<'a> {
        ChatTokenBuilder { common: Common::new(app_id, certificate), user_id: Some(user_id.into()) }
    }

    /// An app token: Chat app privilege, no user.
    pub fn app<'a>(app_id: &'a AppId, certificate: &'a AppCertificate) -> ChatTokenBuilder<'a> {
        ChatTokenBuilder { common: Common::new(app_id, certificate), user_id: None }
    }
}

/// Builds a Chat token; the privilege lasts as long as the token.
#[must_use]
pub struct ChatTokenBuilder<'a> {
    common: Common<'a>,
    user_id: Option<String>,
}

impl<'a> ChatTokenBuilder<'a> {
    common_options!();

    /// The 007 structure.
    pub fn build_token(&self) -> Result<AccessToken2> {
        if let Some(user_id) = &self.user_id {
            self.common.check(|| validate::chat_user_id("user_id", user_id))?;
        }
        let (issued_at, salt) = self.common.stamp();
        let value = self.common.expiry.relative_to(issued_at, "expire")?;
        let (user_id, privilege) = match &self.user_id {
            Some(user) => (user.clone(), ChatPrivilege::User),
            None => (String::new(), ChatPrivilege::App),
        };
        let service = Service::Chat { user_id, privileges: Privileges::from([(privilege.id(), value)]) };
        self.common.token(issued_at, salt, &[], vec![service])
    }

    /// Builds the 007 token.
    pub fn build(&self) -> Result<String> {
        self.common.encode(&self.build_token()?)
    }
}
