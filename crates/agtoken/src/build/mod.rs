//! Builders: typed inputs, Agora's documented rules checked, the reference's semantics kept.
//!
//! Every builder shares these options (documented defaults):
//!
//! | option | default |
//! |---|---|
//! | [`expires`](RtcTokenBuilder::expires) / `valid_for` | 1 hour after issue |
//! | `issued_at` | the clock's now ([`SystemClock`] unless `clock` is given) |
//! | `salt` | drawn from the OS generator in `1..=99999999` ([`OsSalt`] unless `salts` is given) |
//! | checks | strict: Agora's rules ([`crate::validate`]); `unchecked()` builds what the official libraries would |
//!
//! Each builder makes what the official libraries' builders make; where those disagree among
//! themselves, what the majority makes (the APaaS room-user token carries the room-user
//! privilege, unlike the npm package's: see [`ApaasTokenBuilder::node_compatible`]).
//! `crates/agtoken/BUILDERS.md` compares every builder with the Go library and its unit tests,
//! and lists the libraries that differ.

mod apaas;
mod chat;
mod fpa;
pub mod request;
mod rtc;
mod rtm;
mod streaming;

pub use apaas::{ApaasToken, ApaasTokenBuilder, EducationToken};
pub use chat::{ChatToken, ChatTokenBuilder};
pub use fpa::{FpaToken, FpaTokenBuilder};
pub use request::{BuiltToken, Request, RequestOptions};
pub use rtc::{Role, Role006, RtcToken, RtcTokenBuilder};
pub use rtm::{RtmToken, RtmTokenBuilder};
pub use streaming::{FcdnToken, StreamingToken, StreamingTokenBuilder};

use std::collections::BTreeMap;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::ids::{self, AppCertificate, AppId};
use crate::time::{Clock, Expiry, OsSalt, SaltSource, SystemClock, UnixTime, MAX_LIFETIME_SECS};
use crate::v006::AccessToken006;
use crate::v007::{AccessToken2, Service};
use crate::validate;

/// The default lifetime of a token built without `expires`/`valid_for`.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);

/// Whether the builder applies Agora's documented rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Checks {
    Strict,
    Unchecked,
}

/// Options every builder shares.
#[derive(Clone)]
pub(crate) struct Common<'a> {
    app_id: &'a AppId,
    certificate: &'a AppCertificate,
    issued_at: Option<UnixTime>,
    salt: Option<u32>,
    clock: &'a dyn Clock,
    salts: &'a dyn SaltSource,
    pub(crate) checks: Checks,
    pub(crate) expiry: Expiry,
}

impl<'a> Common<'a> {
    pub(crate) fn new(app_id: &'a AppId, certificate: &'a AppCertificate) -> Self {
        Common {
            app_id,
            certificate,
            issued_at: None,
            salt: None,
            clock: &SystemClock,
            salts: &OsSalt,
            checks: Checks::Strict,
            expiry: Expiry::After(DEFAULT_LIFETIME),
        }
    }

    pub(crate) fn strict(&self) -> bool {
        self.checks == Checks::Strict
    }

    /// Applies `rule` in strict mode only.
    pub(crate) fn check(&self, rule: impl FnOnce() -> Result<()>) -> Result<()> {
        if self.strict() {
            rule()
        } else {
            Ok(())
        }
    }

    /// The issue time and salt this build uses (read once, so every field agrees).
    pub(crate) fn stamp(&self) -> (UnixTime, u32) {
        (self.issued_at.unwrap_or_else(|| self.clock.now()), self.salt.unwrap_or_else(|| self.salts.salt()))
    }

    /// Checks the app, the token lifetime and each `(field, expiry)` privilege lifetime, then
    /// assembles the 007 token with `expire` = the token lifetime.
    pub(crate) fn token(
        &self,
        issued_at: UnixTime,
        salt: u32,
        privilege_expiries: &[(&'static str, Expiry)],
        services: Vec<Service>,
    ) -> Result<AccessToken2> {
        self.check(|| {
            ids::check_app_id(self.app_id.as_str())?;
            ids::check_certificate(self.certificate.expose_secret())?;
            validate::lifetime("expire", self.expiry, issued_at)?;
            for &(field, expiry) in privilege_expiries {
                validate::lifetime(field, expiry, issued_at)?;
            }
            Ok(())
        })?;
        if services.is_empty() {
            return Err(Error::invalid("services", "a token needs at least one service", ""));
        }
        let expire = self.expiry.relative_to(issued_at, "expire")?;
        Ok(AccessToken2 {
            app_id: self.app_id.as_str().to_owned(),
            issued_at: issued_at.to_u32("issued_at")?,
            expire,
            salt,
            services,
        })
    }

    /// Checks the app id and each `(field, expiry)` privilege lifetime, then assembles the 006
    /// token as the legacy builders do: `ts` = issue time + 24 h, privileges absolute.
    /// (The 006 reference validates neither app id nor certificate; strict mode checks the id,
    /// which is stored in clear at a fixed width.)
    pub(crate) fn token_v006(
        &self,
        issued_at: UnixTime,
        salt: u32,
        privilege_expiries: &[(&'static str, Expiry)],
        channel_name: String,
        uid: String,
        privileges: BTreeMap<u16, u32>,
    ) -> Result<AccessToken006> {
        self.check(|| {
            ids::check_app_id(self.app_id.as_str())?;
            for &(field, expiry) in privilege_expiries {
                validate::lifetime(field, expiry, issued_at)?;
            }
            Ok(())
        })?;
        Ok(AccessToken006 {
            app_id: self.app_id.as_str().to_owned(),
            channel_name,
            uid,
            salt,
            ts: issued_at.plus_secs(MAX_LIFETIME_SECS).to_u32("ts")?,
            privileges,
        })
    }

    pub(crate) fn encode(&self, token: &AccessToken2) -> Result<String> {
        token.encode(self.certificate)
    }

    pub(crate) fn certificate(&self) -> &AppCertificate {
        self.certificate
    }
}

/// The options every builder has, written once.
macro_rules! common_options {
    () => {
        /// When the token stops admitting new joins: a duration after issue or an instant.
        /// Default: 1 hour after issue. Strict builders refuse more than 24 hours.
        pub fn expires(mut self, expiry: impl Into<$crate::time::Expiry>) -> Self {
            self.common.expiry = expiry.into();
            self
        }

        /// Shorthand for `expires(duration)`.
        pub fn valid_for(self, duration: std::time::Duration) -> Self {
            self.expires(duration)
        }

        /// The issue time (default: the clock's now). For reproducible tokens.
        pub fn issued_at(mut self, at: $crate::time::UnixTime) -> Self {
            self.common.issued_at = Some(at);
            self
        }

        /// The salt (default: random in 1..=99999999). For reproducible tokens.
        pub fn salt(mut self, salt: u32) -> Self {
            self.common.salt = Some(salt);
            self
        }

        /// The clock that gives the issue time.
        pub fn clock(mut self, clock: &'a dyn $crate::time::Clock) -> Self {
            self.common.clock = clock;
            self
        }

        /// The source of salts.
        pub fn salts(mut self, salts: &'a dyn $crate::time::SaltSource) -> Self {
            self.common.salts = salts;
            self
        }

        /// Skips Agora's documented rules and builds what the official libraries would (for
        /// conformance tests and legacy fleets). The format's own limits still apply.
        pub fn unchecked(mut self) -> Self {
            self.common.checks = $crate::build::Checks::Unchecked;
            self
        }
    };
}
pub(crate) use common_options;
