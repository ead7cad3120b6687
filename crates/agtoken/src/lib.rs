#![forbid(unsafe_code)]
#![deny(missing_docs)]
//! Agora token authentication: build, parse, verify and explain AccessToken2 (`"007"`) and
//! the legacy AccessToken (`"006"`) for every service, byte-compatible with Agora's official
//! libraries.
//!
//! ```
//! use std::time::Duration;
//! use agtoken::{Action, AppCertificate, AppId, CertificateSet, Role, RtcToken, Token, Uid, UnixTime};
//!
//! let app = AppId::new("970CA35de60c44645bbae8a215061b33")?;
//! let cert = AppCertificate::new("5CFd2fd1755d40ecb72977518be15d3b")?;
//! assert_eq!(format!("{cert:?}"), "AppCertificate(..)"); // never printed
//!
//! // Build: typed inputs, checked against Agora's documented rules.
//! let now = UnixTime::from_secs(1_700_000_000);
//! let token = RtcToken::builder(&app, &cert)
//!     .channel("room-1")
//!     .uid(Uid::Int(2882341273))
//!     .role(Role::Publisher)
//!     .valid_for(Duration::from_secs(3600))
//!     .issued_at(now)
//!     .build()?;
//! assert!(token.starts_with("007"));
//!
//! // Parse without trusting, then verify, then ask what Agora's edge would answer.
//! let parsed = Token::parse(&token)?;
//! assert_eq!(parsed.app_id(), app.as_str());
//! let verified = parsed.verify(&CertificateSet::new(cert.clone()))?;
//! let join = Action::JoinChannel { channel: "room-1".into(), uid: Uid::Int(2882341273) };
//! let admitted = verified.check(&app, &join, now.plus_secs(60))?;
//! assert_eq!(admitted.expires_at, now.plus_secs(3600));
//!
//! // A refusal says why, and which error the SDK would show.
//! let elsewhere = Action::JoinChannel { channel: "room-2".into(), uid: Uid::Int(2882341273) };
//! let refused = verified.check(&app, &elsewhere, now).unwrap_err();
//! assert_eq!(refused.agora_error().unwrap().code, 110);
//!
//! // Builders refuse what Agora would refuse.
//! let too_long = RtcToken::builder(&app, &cert).channel("x").valid_for(Duration::from_secs(90_000)).build();
//! assert!(too_long.unwrap_err().to_string().contains("24 hours"));
//! # Ok::<(), agtoken::Error>(())
//! ```
//!
//! Layout: [`v007`] and [`v006`] are the formats at the byte level (any structure the format
//! allows); [`build`] holds the builders (what is sensible); [`verify`] parses, verifies and
//! checks admission; [`spec`] is the JSON form shared by the CLI and the server.
//!
//! Cargo features: `internals` makes the crate's own zlib deflate/inflate (`agtoken::deflate`)
//! public for the benchmarks and the fuzz targets. It is **not a stable API**: it may change or
//! go away in any release, and it is hidden from the documentation.

#[macro_use]
mod macros;
pub mod build;
// Public only with the `internals` feature (benchmarks and fuzzing; not a stable API).
#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod deflate;
#[cfg(not(feature = "internals"))]
mod deflate;
pub mod error;
pub mod grant;
pub mod ids;
pub mod spec;
pub mod time;
pub mod v006;
pub mod v007;
pub mod validate;
pub mod verify;
pub mod wildcard;
mod wire;

pub use build::{
    ApaasToken, BuiltToken, ChatToken, EducationToken, FcdnToken, FpaToken, Request, RequestOptions, Role, Role006,
    RtcToken, RtmToken, StreamingToken,
};
pub use error::{Concern, Error, Result};
pub use grant::{Capability, Grant, Scope};
pub use ids::{AppCertificate, AppId, CertificateSet, Uid};
pub use time::{Clock, Expiry, FixedClock, FixedSalt, OsSalt, SaltSource, SystemClock, UnixTime};
pub use v006::AccessToken006;
pub use v007::{AccessToken2, Rtm2Permission, Rtm2Permissions, Rtm2Resource, Service, ServiceType};
pub use verify::{Action, Admission, AgoraError, Media, Product, SignedToken, Token, VerifiedToken, Version};

/// The README's Rust examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
