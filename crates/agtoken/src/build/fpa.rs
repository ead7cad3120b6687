//! FPA (full-path acceleration) tokens.

use super::{common_options, Common};
use crate::error::Result;
use crate::ids::{AppCertificate, AppId};
use crate::time::{Expiry, MAX_LIFETIME_SECS};
use crate::v007::{AccessToken2, FpaPrivilege, Privileges, Service};

/// FPA tokens.
pub struct FpaToken;

impl FpaToken {
    /// A builder. As in the reference, the token lasts 24 hours unless `expires` says
    /// otherwise, and the login privilege has no limit of its own.
    pub fn builder<'a>(app_id: &'a AppId, certificate: &'a AppCertificate) -> FpaTokenBuilder<'a> {
        let mut common = Common::new(app_id, certificate);
        common.expiry = Expiry::secs(MAX_LIFETIME_SECS);
        FpaTokenBuilder { common }
    }
}

/// Builds an FPA token.
#[must_use]
pub struct FpaTokenBuilder<'a> {
    common: Common<'a>,
}

impl<'a> FpaTokenBuilder<'a> {
    common_options!();

    /// The 007 structure.
    pub fn build_token(&self) -> Result<AccessToken2> {
        let (issued_at, salt) = self.common.stamp();
        let service = Service::Fpa { privileges: Privileges::from([(FpaPrivilege::Login.id(), 0)]) };
        self.common.token(issued_at, salt, &[], vec![service])
    }

    /// Builds the 007 token.
    pub fn build(&self) -> Result<String> {
        self.common.encode(&self.build_token()?)
    }
}
