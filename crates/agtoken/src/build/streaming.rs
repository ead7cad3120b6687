//! Streaming (type 3) and FCDN (type 6) tokens: a channel, an account and chosen privileges.
//! The official libraries have no builder for these; the raw classes make the same structure.

use super::{common_options, Common};
use crate::error::{Error, Result};
use crate::ids::{AppCertificate, AppId};
use crate::time::Expiry;
use crate::v007::{AccessToken2, FcdnPrivilege, Privileges, Service, StreamingPrivilege};
use crate::validate;

/// Streaming tokens.
pub struct StreamingToken;

/// FCDN tokens.
pub struct FcdnToken;

#[derive(Clone, Copy)]
enum Kind {
    Streaming,
    Fcdn,
}

impl StreamingToken {
    /// A builder for `channel` and `account`.
    pub fn builder<'a>(
        app_id: &'a AppId,
        certificate: &'a AppCertificate,
        channel: impl Into<String>,
        account: impl Into<String>,
    ) -> StreamingTokenBuilder<'a> {
        StreamingTokenBuilder::new(app_id, certificate, channel.into(), account.into(), Kind::Streaming)
    }
}

impl FcdnToken {
    /// A builder for `channel` and `account`.
    pub fn builder<'a>(
        app_id: &'a AppId,
        certificate: &'a AppCertificate,
        channel: impl Into<String>,
        account: impl Into<String>,
    ) -> StreamingTokenBuilder<'a> {
        StreamingTokenBuilder::new(app_id, certificate, channel.into(), account.into(), Kind::Fcdn)
    }
}

/// Builds a Streaming or FCDN token with the privileges given (each defaulting to the token
/// expiry).
#[must_use]
pub struct StreamingTokenBuilder<'a> {
    common: Common<'a>,
    channel: String,
    account: String,
    kind: Kind,
    privileges: Vec<(u16, Option<Expiry>)>,
}

impl<'a> StreamingTokenBuilder<'a> {
    common_options!();

    fn new(app_id: &'a AppId, certificate: &'a AppCertificate, channel: String, account: String, kind: Kind) -> Self {
        StreamingTokenBuilder {
            common: Common::new(app_id, certificate),
            channel,
            account,
            kind,
            privileges: Vec::new(),
        }
    }

    /// Grants a Streaming privilege (only for a Streaming builder).
    pub fn streaming_privilege(mut self, privilege: StreamingPrivilege, expiry: Option<Expiry>) -> Self {
        self.privileges.push((privilege.id(), expiry));
        self
    }

    /// Grants an FCDN privilege (only for an FCDN builder).
    pub fn fcdn_privilege(mut self, privilege: FcdnPrivilege, expiry: Option<Expiry>) -> Self {
        self.privileges.push((privilege.id(), expiry));
        self
    }

    /// The 007 structure.
    pub fn build_token(&self) -> Result<AccessToken2> {
        self.common.check(|| {
            validate::channel_name("channel", &self.channel)?;
            validate::account("account", &self.account)
        })?;
        if self.privileges.is_empty() {
            return Err(Error::invalid("privileges", "grant at least one privilege", ""));
        }
        let (issued_at, salt) = self.common.stamp();
        let mut privileges = Privileges::new();
        let mut expiries = Vec::new();
        for &(id, expiry) in &self.privileges {
            let expiry = expiry.unwrap_or(self.common.expiry);
            privileges.insert(id, expiry.relative_to(issued_at, "privilege_expire")?);
            expiries.push(("privilege_expire", expiry));
        }
        let (channel_name, account) = (self.channel.clone(), self.account.clone());
        let service = match self.kind {
            Kind::Streaming => Service::Streaming { channel_name, account, privileges },
            Kind::Fcdn => Service::Fcdn { channel_name, account, privileges },
        };
        self.common.token(issued_at, salt, &expiries, vec![service])
    }

    /// Builds the 007 token.
    pub fn build(&self) -> Result<String> {
        self.common.encode(&self.build_token()?)
    }
}
